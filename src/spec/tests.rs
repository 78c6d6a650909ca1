//! The spec reader against good and bad specs, and the shipped specs.

use super::*;

const GOOD: &str = r#"
name = "istio-proxy"
release = "1"
dist = "el7"
license = "ASL 2.0"
url = "https://github.com/istio/proxy"
summary = "s"
description = "d"

[[dirs]]
path = "/var/lib/istio"
mode = "0755"

[[files]]
path = "/usr/local/bin/envoy"
source = "envoy"
mode = "0755"
"#;

fn err(text: &str) -> String {
    Spec::parse(Path::new("spec.toml"), text)
        .unwrap_err()
        .to_string()
}

#[test]
fn shipped_spec_is_valid() {
    let spec =
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/istio-proxy.toml")).unwrap();
    assert_eq!(spec.name, "istio-proxy");
    assert_eq!(spec.files.len(), 3);
    // istio/istio@1.6.14:tools/packaging/rpm/proxy/istio-proxy.spec owns no directory.
    assert!(spec.dirs.is_empty(), "{:?}", spec.dirs);
    assert!(Spec::builtin().dirs.is_empty());
    let env = spec
        .files
        .iter()
        .find(|f| f.path.ends_with("sidecar.env"))
        .unwrap();
    assert_eq!(env.config, Config::Noreplace);
    assert_eq!(env.mode, 0o644);
}

#[test]
fn good_spec_parses() {
    let spec = Spec::parse(Path::new("s.toml"), GOOD).unwrap();
    assert_eq!(spec.files[0].mode, 0o755);
    assert_eq!(spec.files[0].line, 15);
    assert_eq!(spec.group, "Unspecified");
}

#[test]
fn unknown_key_names_line() {
    let e = err(&format!("{GOOD}colour = \"blue\"\n"));
    assert!(e.contains("spec.toml:18:") && e.contains("colour"), "{e}");
}

#[test]
fn escapes_duplicates_and_modes_name_lines() {
    let e = err(&GOOD.replace("/usr/local/bin/envoy", "/usr/../etc/passwd"));
    assert!(e.contains("spec.toml:15:") && e.contains("\"..\""), "{e}");
    let e = err(&GOOD.replace("/usr/local/bin/envoy", "/var/lib/istio"));
    assert!(
        e.contains("spec.toml:15:")
            && e.contains("duplicate destination /var/lib/istio (first at line 11)"),
        "{e}"
    );
    let e = err(&GOOD.replace(
        "mode = \"0755\"\n\n[[files]]",
        "mode = \"0759\"\n\n[[files]]",
    ));
    assert!(e.contains("spec.toml:12:") && e.contains("0759"), "{e}");
    let e = err(&GOOD.replace("usr/local", "usr//local"));
    assert!(e.contains("empty component"), "{e}");
    let e = err(&GOOD.replace("\"/usr/local/bin/envoy\"", "\"usr/bin/envoy\""));
    assert!(e.contains("absolute"), "{e}");
    let e = err(&GOOD.replace("\"envoy\"", "\"Pilot Agent\""));
    assert!(
        e.contains("spec.toml:16:") && e.contains("Pilot Agent"),
        "{e}"
    );
}

#[test]
fn shipped_sidecar_spec_is_valid() {
    let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/istio-sidecar.toml"))
        .unwrap();
    assert_eq!(spec.name, "istio-sidecar");
    assert_eq!(
        spec.input_names(),
        ["istio-service", "istio-start", "pilot-agent"]
    );
    let agent = spec
        .files
        .iter()
        .find(|f| f.path == "/usr/local/bin/pilot-agent")
        .unwrap();
    // istio/istio@1.6.14:tools/packaging/rpm/istio/istio.spec: %attr(2755,root,root).
    assert_eq!((agent.mode, agent.elf), (0o2755, true));
    let mesh = spec.files.iter().find(|f| f.ghost).unwrap();
    assert_eq!(mesh.path, "/var/lib/istio/config/mesh");
    assert_eq!(
        (mesh.user.as_str(), mesh.source.as_deref()),
        ("istio-proxy", None)
    );
    let whens: Vec<ScriptWhen> = spec.scripts.iter().map(|s| s.when).collect();
    assert_eq!(whens, ScriptWhen::ALL);
    assert!(spec.scripts.iter().all(|s| s.interpreter == "/bin/sh"));
    let proxy = &spec.requires[0];
    assert_eq!(proxy.version_for("1.6.14", "1.el7"), "1.6.14-1.el7");
    assert_eq!(proxy.op, Some(Op::Equal));
    let pre: Vec<&str> = spec
        .requires
        .iter()
        .filter(|r| r.when == [ScriptWhen::Pre])
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(pre, ["shadow-utils"]);
    assert_eq!(Spec::builtin_sidecar().files.len(), spec.files.len());
}

#[test]
fn requires_scripts_and_ghosts_are_checked_with_lines() {
    let with = |extra: &str| format!("{GOOD}{extra}");
    let e = err(&with("\n[[requires]]\nname = \"a b\"\n"));
    assert!(e.contains("spec.toml:20:") && e.contains("one word"), "{e}");
    let e = err(&with("\n[[requires]]\nname = \"x\"\nversion = \"== 1\"\n"));
    assert!(e.contains("spec.toml:21:") && e.contains("operator"), "{e}");
    let e = err(&with(
        "\n[[requires]]\nname = \"x\"\nversion = \"= %{dist}\"\n",
    ));
    assert!(e.contains("only %{version} and %{release}"), "{e}");
    let e = err(&with(
        "\n[[requires]]\nname = \"x\"\nwhen = [\"posttrans\"]\n",
    ));
    assert!(
        e.contains("spec.toml:21:") && e.contains("posttrans"),
        "{e}"
    );
    let e = err(&with(
        "\n[scripts.pre]\ninterpreter = \"sh\"\nbody = \"true\"\n",
    ));
    assert!(e.contains("spec.toml:20:") && e.contains("absolute"), "{e}");
    let e = err(&with("\n[scripts.posttrans]\nbody = \"true\"\n"));
    assert!(e.contains("posttrans"), "{e}");
    let e = err(&with("\n[scripts.post]\nbody = \"\"\"\n\n\"\"\"\n"));
    assert!(e.contains("%post body is empty"), "{e}");
    let e = err(&with("\n[[files]]\npath = \"/var/x\"\nmode = \"0644\"\n"));
    assert!(
        e.contains("spec.toml:20:") && e.contains("needs a `source`"),
        "{e}"
    );
    let e = err(&with(
        "\n[[files]]\npath = \"/var/x\"\nsource = \"envoy\"\nmode = \"0644\"\nghost = true\n",
    ));
    assert!(
        e.contains("spec.toml:21:") && e.contains("drop `source`"),
        "{e}"
    );
    let e = err(&with(
        "\n[[files]]\npath = \"/var/x\"\nmode = \"0644\"\nghost = true\nuser = \"a:b\"\n",
    ));
    assert!(
        e.contains("spec.toml:20:") && e.contains("owner \"a:b\""),
        "{e}"
    );

    let spec = Spec::parse(
        Path::new("s.toml"),
        &with(
            "\n[[requires]]\nname = \"systemd\"\nwhen = [\"postun\", \"post\"]\n\
             \n[scripts.postun]\nbody = \"\"\"\nexit 0\n\n\"\"\"\n",
        ),
    )
    .unwrap();
    assert_eq!(
        spec.requires[0].when,
        [ScriptWhen::Post, ScriptWhen::Postun]
    );
    assert_eq!(spec.requires[0].line, 20);
    // Trailing blank lines go, as rpmbuild strips them.
    assert_eq!(spec.scripts[0].body, "exit 0");
    assert_eq!(spec.scripts[0].line, 24);
}

#[test]
fn dates_are_noon_utc() {
    assert_eq!(parse_date("1970-01-01").unwrap(), 12 * 3600);
    assert_eq!(parse_date("2020-11-24").unwrap(), 1_606_219_200);
    assert!(parse_date("2020-13-01").is_err());
}
