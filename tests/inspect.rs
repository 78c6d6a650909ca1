//! `proxy-rpm inspect` against rpm itself: the file list must equal `rpm -qp --dump`, the
//! dependency lists `rpm -qp --requires/--provides/--conflicts`, on the same packages.

mod support;
mod support_rpm;
mod support_sidecar;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use support_rpm::{Gpg, Scratch, Spec, assert_status, proxy_rpm, require_tool, verify};

fn inspect(rpm: &Path) -> String {
    let out = proxy_rpm(&[OsStr::new("inspect"), rpm.as_os_str()]);
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rpm_query(rpm: &Path, args: &[&str]) -> Vec<String> {
    require_tool("rpm");
    let out = Command::new("rpm")
        .arg("-qp")
        .args(args)
        .arg(rpm)
        .output()
        .expect("run rpm");
    assert!(
        out.status.success(),
        "rpm -qp {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The indented lines under a section heading that starts with `title`.
fn section(text: &str, title: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l[2..].to_string())
        .filter(|l| l != "(none)")
        .collect()
}

fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(": ")?;
            (name.trim_end() == label).then_some(value)
        })
        .unwrap_or_else(|| panic!("no {label} in:\n{text}"))
}

fn assert_like_rpm(rpm: &Path) {
    let text = inspect(rpm);
    let files = section(&text, "Files");
    let dump = rpm_query(rpm, &["--dump"]);
    assert!(!dump.is_empty());
    assert_eq!(
        files, dump,
        "inspect's file list differs from rpm -qp --dump"
    );
    for (title, flag) in [("Provides:", "--provides"), ("Conflicts:", "--conflicts")] {
        assert_eq!(section(&text, title), rpm_query(rpm, &[flag]), "{title}");
    }
    // Requires as `rpm -qp --requires`, each with the scriptlet words of rpm's own `deptype`.
    let words = [
        "pretrans",
        "pre",
        "post",
        "preun",
        "postun",
        "posttrans",
        "verify",
        "interp",
    ];
    let want: Vec<String> = rpm_query(
        rpm,
        &["--qf", "[%{REQUIRENEVRS}|%{REQUIREFLAGS:deptype}\n]"],
    )
    .into_iter()
    .map(|line| {
        let (dep, types) = line.split_once('|').unwrap();
        let mut kept: Vec<&str> = types.split(',').filter(|t| words.contains(t)).collect();
        kept.sort_by_key(|t| words.iter().position(|w| w == t));
        if kept.is_empty() {
            dep.to_string()
        } else {
            format!("{dep} [{}]", kept.join(","))
        }
    })
    .collect();
    assert_eq!(section(&text, "Requires:"), want, "Requires");
    let nevra = rpm_query(rpm, &["--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}"]);
    assert_eq!(field(&text, "NEVRA"), nevra[0]);
    let summary = rpm_query(rpm, &["--qf", "%{SUMMARY}"]);
    assert_eq!(field(&text, "Summary"), summary[0]);
    let size = rpm_query(rpm, &["--qf", "%{SIZE}"]);
    assert_eq!(field(&text, "Size"), format!("{} (installed)", size[0]));
}

#[test]
fn file_list_and_dependencies_match_rpm_for_sha256_and_md5_packages() {
    let s = Scratch::new();
    let sha = s.rpmbuild(&Spec::new("dumpsha").conflicts("oldthing < 2.0"));
    assert_like_rpm(&sha);
    let md5 = s.rpmbuild(&Spec::new("dumpmd5").file_digest_algo(1));
    assert_like_rpm(&md5);
    let md5_text = inspect(&md5);
    assert_eq!(field(&md5_text, "File digests"), "MD5");
    // A directory has no digest; rpm --dump pads it with zeros of the algorithm's length.
    let dir = section(&md5_text, "Files")
        .into_iter()
        .find(|l| l.starts_with("/usr/share/dumpmd5/empty "))
        .unwrap();
    assert!(
        dir.contains(&format!(" {} 040755 ", "0".repeat(32))),
        "{dir}"
    );
}

#[test]
fn shows_payload_digests_scriptlets_and_conflicts() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("show").conflicts("oldthing < 2.0"));
    let text = inspect(&rpm);
    assert_eq!(field(&text, "NEVRA"), "show-1.0-1.x86_64");
    assert_eq!(field(&text, "Payload"), "cpio, xz-compressed, level 2");
    assert_eq!(field(&text, "File digests"), "SHA256");
    let digests = field(&text, "Digests");
    for d in [
        "SIZE",
        "MD5 (header+payload)",
        "SHA1 (header)",
        "SHA256 (header)",
    ] {
        assert!(digests.contains(d), "{digests}");
    }
    assert_eq!(field(&text, "Signature"), "(none)");
    assert_eq!(section(&text, "Conflicts:"), ["oldthing < 2.0"]);
    let scripts = section(&text, "Scriptlets:");
    assert_eq!(scripts[0], "%pre (/bin/sh), 3 lines:");
    assert_eq!(scripts[1].trim(), "echo \"installing show\"");
    assert!(
        scripts.iter().any(|l| l.starts_with("%postun (/bin/sh)")),
        "{scripts:?}"
    );
    let size = std::fs::metadata(&rpm).unwrap().len();
    assert_eq!(field(&text, "Package size"), size.to_string());
}

#[test]
fn a_signed_package_shows_its_signature_and_the_same_files() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Shown <shown@example.com>", "rsa2048");
    let rpm = s.rpmbuild(&Spec::new("shownsig"));
    gpg.rpmsign(&rpm, &signer);
    assert_like_rpm(&rpm);
    let text = inspect(&rpm);
    let sig = field(&text, "Signature");
    assert!(
        sig.contains("RSA/") && sig.contains(&signer.to_lowercase()),
        "{sig}"
    );
}

#[test]
fn a_file_that_is_not_an_rpm_is_unreadable() {
    let s = Scratch::new();
    let text = s.path("plain.txt");
    std::fs::write(&text, "plain text").unwrap();
    let out = proxy_rpm(&[OsStr::new("inspect"), text.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain.txt") && err.contains("not an RPM"),
        "{err}"
    );
}

#[test]
fn an_uncompressed_payload_shows_no_compressor_like_rpm() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("plain").payload("w.ufdio"));
    assert_eq!(
        rpm_query(&rpm, &["--qf", "%{PAYLOADCOMPRESSOR}"]),
        ["(none)"]
    );
    let text = inspect(&rpm);
    assert_eq!(
        field(&text, "Payload"),
        "cpio, no compressor named (read as gzip)"
    );
    assert_like_rpm(&rpm);
}

/// The %ghost files rpm lists (`fflags` has `g`), as inspect shows them: path mode owner group.
fn rpm_ghosts(rpm: &Path) -> Vec<String> {
    rpm_query(
        rpm,
        &[
            "--qf",
            "[%{FILENAMES} 0%{FILEMODES:octal} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}\\n]",
        ],
    )
    .into_iter()
    .filter_map(|l| {
        let (file, flags) = l.rsplit_once(' ')?;
        flags.contains('g').then(|| file.to_string())
    })
    .collect()
}

// A `%post -p /usr/bin/python3`: rpmbuild records the interpreter and requires it for %post
// ([post,interp] in rpm's deptype words); the %ghost log file is listed apart.
#[test]
fn scriptlet_interpreters_requirement_contexts_and_ghosts_show_like_rpm() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("py3show").post("/usr/bin/python3", "print('hi')"));
    assert_like_rpm(&rpm);
    let text = inspect(&rpm);
    let scripts = section(&text, "Scriptlets:");
    assert!(
        scripts.contains(&"%post (/usr/bin/python3), 1 lines:".to_string()),
        "{scripts:?}"
    );
    assert!(
        rpm_query(&rpm, &["--scripts"])
            .contains(&"postinstall scriptlet (using /usr/bin/python3):".to_string())
    );
    let requires = section(&text, "Requires:");
    assert!(
        requires.contains(&"/usr/bin/python3 [post,interp]".to_string()),
        "{requires:?}"
    );
    let ghosts = section(&text, "Ghost files");
    assert_eq!(ghosts, rpm_ghosts(&rpm));
    assert_eq!(ghosts.len(), 1, "{ghosts:?}");
    assert!(ghosts[0].starts_with("/var/log/py3show.log "), "{ghosts:?}");
}

// The istio-sidecar package as `package --builtin-spec istio-sidecar` writes it: its four /bin/sh
// scriptlets, its Requires(pre)/(post…) and its istio-proxy-owned directories and %ghost, as
// rpm reads them; and verify passes every scriptlet.
#[test]
fn the_sidecar_package_shows_its_scriptlets_requirements_and_ghost() {
    let inputs = support_sidecar::Inputs::new("1.6.14");
    let rpm = inputs.sidecar(&[]);
    assert_like_rpm(&rpm);
    let text = inspect(&rpm);
    let scripts = section(&text, "Scriptlets:");
    for name in ["%pre", "%post", "%preun", "%postun"] {
        let head = format!("{name} (/bin/sh), ");
        assert!(scripts.iter().any(|l| l.starts_with(&head)), "{scripts:?}");
    }
    let requires = section(&text, "Requires:");
    for dep in ["shadow-utils [pre]", "systemd [post,preun,postun]", "bash"] {
        assert!(requires.contains(&dep.to_string()), "{requires:?}");
    }
    assert_eq!(
        section(&text, "Ghost files"),
        ["/var/lib/istio/config/mesh 0100644 istio-proxy istio-proxy"]
    );
    let envoy_dir = section(&text, "Files")
        .into_iter()
        .find(|l| l.starts_with("/var/lib/istio/envoy "))
        .unwrap();
    assert!(
        envoy_dir.contains(" 040755 istio-proxy istio-proxy "),
        "{envoy_dir}"
    );

    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    for name in ["%pre", "%post", "%preun", "%postun"] {
        let reason = assert_status(&out, &format!("el7-scriptlet {name}"), "PASS");
        assert!(
            reason.contains("/bin/sh, which every CentOS 7 has"),
            "{reason}"
        );
    }
    let reason = assert_status(&out, "el7-scriptlet %pre", "PASS");
    assert!(
        reason.contains("Requires(pre): ") && reason.contains("shadow-utils"),
        "{reason}"
    );
    let owners = assert_status(&out, "owners", "PASS");
    assert!(
        owners.contains("istio-proxy:istio-proxy")
            && owners.contains("/var/lib/istio/config/mesh istio-proxy:istio-proxy"),
        "{owners}"
    );
}
