//! The istio-sidecar package for real: installed with its istio-proxy into a Debian minbase
//! root by rpm 4.18, so its scriptlets run (user, directories, link, unit scriptlets), upgraded
//! from 1.6.13, erased; Istio's start script run in that root; its unit checked by
//! systemd-analyze; its header compared with rpmbuild's (sidecar_package/compare.rs).

#[path = "sidecar_package/compare.rs"]
mod compare;
mod support;
mod support_root;
mod support_rpm;
mod support_sidecar;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use support_root::{Root, owner_mode};
use support_sidecar::{Inputs, el7_names_rpm, no_upstream};

/// A root with the CentOS 7 names and a recording systemctl, ready for our packages.
fn prepared_root() -> Option<Root> {
    let root = Root::new()?;
    root.stand_in_systemctl();
    let names = el7_names_rpm(root.path.parent().unwrap());
    ok(&root.rpm(&[&"-i", &names]), "install the CentOS 7 names");
    Some(root)
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn install_makes_user_dirs_and_link_and_verifies_clean_then_erase_removes_it() {
    let Some(root) = prepared_root() else { return };
    let before = root.listing();
    let inputs = Inputs::new("1.6.14");
    let (proxy, sidecar) = (inputs.proxy(), inputs.sidecar(&[]));
    // One transaction, no --nodeps: rpm orders istio-proxy first, as the sidecar requires it.
    ok(&root.rpm(&[&"-i", &sidecar, &proxy]), "install both");

    // The user and group (system ids, no login, home /var/lib/istio). The root's ids have no
    // names on the host: compare numbers.
    let (uid, gid) = root.ids("istio-proxy").expect("user istio-proxy");
    assert_eq!(root.gid("istio-proxy"), Some(gid));
    assert!(uid < 1000 && gid < 1000, "system ids: {uid}:{gid}");
    let passwd = root.passwd("istio-proxy").unwrap();
    assert_eq!(
        (passwd[5].as_str(), passwd[6].as_str()),
        ("/var/lib/istio", "/sbin/nologin")
    );

    // Directories with upstream's owners; istio-proxy's own files stay root's.
    assert_eq!(owner_mode(&root.join("/var/lib/istio")), (0, 0, 0o40755));
    for dir in [
        "/var/lib/istio/envoy",
        "/var/lib/istio/proxy",
        "/var/lib/istio/config",
        "/var/log/istio",
        "/etc/certs",
    ] {
        assert_eq!(owner_mode(&root.join(dir)), (uid, gid, 0o40755), "{dir}");
    }
    assert_eq!(
        owner_mode(&root.join("/var/lib/istio/envoy/sidecar.env")),
        (0, 0, 0o100644)
    );
    let mesh = root.join("/var/lib/istio/config/mesh");
    assert_eq!(owner_mode(&mesh), (uid, gid, 0o100644));
    assert_eq!(std::fs::read(&mesh).unwrap(), b"");
    assert_eq!(
        std::fs::read_link(root.join("/etc/istio")).unwrap(),
        Path::new("/var/lib/istio")
    );
    assert_eq!(
        owner_mode(&root.join("/usr/local/bin/pilot-agent")),
        (0, 0, 0o102755)
    );
    assert_eq!(
        owner_mode(&root.join("/usr/local/bin/istio-start.sh")),
        (0, 0, 0o100755)
    );
    assert_eq!(
        owner_mode(&root.join("/usr/lib/systemd/system/istio.service")),
        (0, 0, 0o100644)
    );
    let version = support::run(root.chroot("/usr/local/bin/pilot-agent").arg("version"));
    assert_eq!(version, "pilot-agent fixture version\n");
    // %systemd_post on a first install: preset, nothing started.
    assert_eq!(root.systemctl_calls(), ["preset istio.service"]);
    root.verify_clean(&["istio-proxy", "istio-sidecar"], "install");

    // A reinstall keeps the user (no second line) and the checks clean.
    ok(&root.rpm(&[&"-U", &"--replacepkgs", &sidecar]), "reinstall");
    let passwd = std::fs::read_to_string(root.join("/etc/passwd")).unwrap();
    assert_eq!(passwd.matches("istio-proxy:").count(), 1, "{passwd}");
    root.verify_clean(&["istio-proxy", "istio-sidecar"], "a reinstall");
    let _ = root.systemctl_calls();

    // Erase both in one transaction: %systemd_preun then %systemd_postun, and nothing of
    // ours is left but the two directories istio-proxy's files sat in: it owns no directory
    // (specs/istio-proxy.toml), and the sidecar goes first, while they still hold its files.
    ok(
        &root.rpm(&[&"-e", &"istio-sidecar", &"istio-proxy"]),
        "erase both",
    );
    assert_eq!(
        root.systemctl_calls(),
        [
            "--no-reload disable istio.service",
            "stop istio.service",
            "daemon-reload"
        ]
    );
    let after = root.listing();
    let added: Vec<&String> = after
        .iter()
        .filter(|p| !before.contains(p))
        // rpm's database, our stand-ins' logs, useradd's backups of shadow files.
        .filter(|p| !p.starts_with("root/.rpmdb") && !p.starts_with("var/tmp/"))
        .filter(|p| !(p.starts_with("etc/") && p.ends_with('-')))
        .collect();
    assert_eq!(
        added,
        ["var/lib/istio", "var/lib/istio/envoy"],
        "left after erase"
    );
    assert_eq!(
        std::fs::read_dir(root.join("/var/lib/istio/envoy"))
            .unwrap()
            .count(),
        0
    );
    // The user stays (a package never removes an account whose files may remain).
    assert_eq!(root.ids("istio-proxy"), Some((uid, gid)));
}

#[test]
fn upgrade_from_1_6_13_keeps_edits_and_user_and_runs_unit_scriptlets_in_order() {
    let Some(root) = prepared_root() else { return };
    let old = Inputs::new("1.6.13");
    let new = Inputs::new("1.6.14");
    ok(
        &root.rpm(&[&"-i", &old.proxy(), &old.sidecar(&[])]),
        "install 1.6.13",
    );
    let ids = root.ids("istio-proxy").unwrap();
    assert_eq!(root.systemctl_calls(), ["preset istio.service"]);
    let env = root.join("/var/lib/istio/envoy/sidecar.env");
    std::fs::write(&env, "ISTIO_SERVICE_CIDR=10.20.0.0/16 # edited on the VM\n").unwrap();

    // The sidecar pins its istio-proxy: upgrading the proxy alone is refused.
    let alone = root.rpm(&[&"-U", &new.proxy()]);
    assert!(!alone.status.success());
    let why = String::from_utf8_lossy(&alone.stderr);
    assert!(
        why.contains("istio-proxy = 1.6.13-1.el7 is needed by"),
        "{why}"
    );

    ok(
        &root.rpm(&[&"-U", &new.proxy(), &new.sidecar(&[])]),
        "upgrade both",
    );
    let q = root.rpm(&[&"-q", &"istio-proxy", &"istio-sidecar"]);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        "istio-proxy-1.6.14-1.el7.x86_64\nistio-sidecar-1.6.14-1.el7.x86_64\n"
    );
    // %config(noreplace): the edit stays, the new file lands beside it.
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        "ISTIO_SERVICE_CIDR=10.20.0.0/16 # edited on the VM\n"
    );
    assert_eq!(
        std::fs::read(root.join("/var/lib/istio/envoy/sidecar.env.rpmnew")).unwrap(),
        std::fs::read(&new.sidecar_env).unwrap()
    );
    // The same user, once; the directories still its.
    assert_eq!(root.ids("istio-proxy"), Some(ids));
    let passwd = std::fs::read_to_string(root.join("/etc/passwd")).unwrap();
    assert_eq!(passwd.matches("istio-proxy:").count(), 1);
    assert_eq!(
        owner_mode(&root.join("/var/lib/istio/envoy")),
        (ids.0, ids.1, 0o40755)
    );
    // The ghost both releases list stays; the link too.
    let mesh = root.join("/var/lib/istio/config/mesh");
    assert_eq!(owner_mode(&mesh), (ids.0, ids.1, 0o100644));
    assert!(root.join("/etc/istio").is_symlink());
    // New %post with $1=2 (no preset), then the old package's %preun with $1=1 (nothing) and
    // %postun with $1=1: reload, then try-restart.
    assert_eq!(
        root.systemctl_calls(),
        ["daemon-reload", "try-restart istio.service"]
    );
    root.verify_clean(&["istio-sidecar"], "the upgrade");
    // istio-proxy's only report is the edited config file.
    let v = root.rpm(&[&"-V", &"istio-proxy"]);
    let report = String::from_utf8_lossy(&v.stdout);
    assert_eq!(report.lines().count(), 1, "{report}");
    assert!(
        report.ends_with(" c /var/lib/istio/envoy/sidecar.env\n"),
        "{report}"
    );
}

#[test]
fn istio_start_sets_up_iptables_then_runs_the_proxy_as_istio_proxy() {
    if let Some(why) = no_upstream() {
        eprintln!("SKIP: {why}");
        return;
    }
    let Some(root) = prepared_root() else { return };
    let inputs = Inputs::new("1.6.14");
    assert!(inputs.upstream);
    ok(
        &root.rpm(&[&"-i", &inputs.proxy(), &inputs.sidecar(&[])]),
        "install",
    );
    let (uid, _) = root.ids("istio-proxy").unwrap();
    // hostname answers for the VM; it only prints, nothing is contacted.
    root.executable(
        "/usr/bin/hostname",
        "#!/bin/sh\necho \"$*\" >> /var/tmp/hostname.log\n\
         case \"$1\" in --all-ip-addresses) echo '192.0.2.7 2001:db8::7 ';; -s) echo vm-7;; esac\n",
    );
    std::fs::write(
        root.join("/var/lib/istio/envoy/cluster.env"),
        "ISTIO_INBOUND_PORTS=8080\nISTIO_NAMESPACE=vmns\nISTIO_SERVICE=ratings\n\
         ISTIO_AGENT_FLAGS=\"--concurrency 2\"\n",
    )
    .unwrap();

    let out = root
        .chroot("/usr/local/bin/istio-start.sh")
        .output()
        .unwrap();
    ok(&out, "istio-start.sh");
    // As root: clean, then set up iptables, with sidecar.env's CIDR and cluster.env's ports.
    let calls = String::from_utf8_lossy(&out.stdout);
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("pilot-agent uid=0 arg=istio-clean-iptables "),
        "{calls:?}"
    );
    assert!(
        calls[1].starts_with("pilot-agent uid=0 arg=istio-iptables "),
        "{calls:?}"
    );
    assert!(
        calls[1].contains(" ISTIO_SERVICE_CIDR=10.0.0.0/8 ISTIO_INBOUND_PORTS=8080 "),
        "{calls:?}"
    );
    // Then su to istio-proxy, whose output goes to /var/log/istio (its directory).
    let log = std::fs::read_to_string(root.join("/var/log/istio/istio.log")).unwrap();
    let expected = format!(
        "pilot-agent uid={uid} arg=proxy arg=--concurrency arg=2 INSTANCE_IP=192.0.2.7 \
         POD_NAME=vm-7 POD_NAMESPACE=vmns "
    );
    assert!(log.starts_with(&expected), "{log}");
    assert!(
        log.contains("PROXY_CONFIG=|serviceCluster: ratings|controlPlaneAuthPolicy: MUTUAL_TLS|discoveryAddress: istiod.istio-system.svc:15012|"),
        "{log}"
    );
    let owner = std::fs::metadata(root.join("/var/log/istio/istio.log"))
        .unwrap()
        .uid();
    assert_eq!(owner, uid, "written by istio-proxy");
    let hostname = std::fs::read_to_string(root.join("/var/tmp/hostname.log")).unwrap();
    assert_eq!(hostname, "--all-ip-addresses\n-s\n");
}

#[test]
fn systemd_analyze_verifies_the_packaged_unit() {
    if !support::have("systemd-analyze") {
        return;
    }
    let Some(root) = prepared_root() else { return };
    let inputs = Inputs::new("1.6.14");
    if !inputs.upstream {
        eprintln!(
            "note: {}; checking the stand-in unit",
            no_upstream().unwrap_or_default()
        );
    }
    ok(
        &root.rpm(&[&"-i", &inputs.proxy(), &inputs.sidecar(&[])]),
        "install",
    );
    // The targets the unit's default dependencies and [Install] name, as stubs: the root
    // has no systemd of its own.
    for target in [
        "sysinit.target",
        "basic.target",
        "shutdown.target",
        "multi-user.target",
    ] {
        std::fs::write(
            root.join(&format!("/usr/lib/systemd/system/{target}")),
            "[Unit]\nDescription=stub for systemd-analyze\n",
        )
        .unwrap();
    }
    let verify = || {
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.path.display()))
            .arg("/usr/lib/systemd/system/istio.service")
            .output()
            .unwrap()
    };
    let out = verify();
    ok(&out, "systemd-analyze verify");
    assert!(out.stderr.is_empty() && out.stdout.is_empty(), "{out:?}");

    // It does check: without its ExecStart program the unit is refused.
    let start = root.join("/usr/local/bin/istio-start.sh");
    std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = verify();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("istio-start.sh is not executable"),
        "{out:?}"
    );
}

#[test]
fn proxy_rpm_verify_passes_the_sidecar() {
    let inputs = Inputs::new("1.6.14");
    let rpm = inputs.sidecar(&[]);
    let (code, stdout, stderr) = support_rpm::verify(&[&rpm]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn inputs_are_named_when_missing_doubled_or_unused() {
    let inputs = Inputs::new("1.6.14");
    let run = |args: &[&str]| {
        let out = Command::new(support::bin())
            .current_dir(support::repo_root())
            .args([
                "package",
                "--version",
                "1.6.14",
                "--builtin-spec",
                "istio-sidecar",
                "--out",
            ])
            .arg(inputs.dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let agent = format!("pilot-agent={}", inputs.pilot_agent.display());
    let start = format!("istio-start={}", inputs.istio_start.display());
    let unit = format!("istio-service={}", inputs.istio_service.display());

    let (success, err) = run(&["--input", &agent, "--input", &start]);
    assert!(!success);
    let line = include_str!("../specs/istio-sidecar.toml")
        .lines()
        .position(|l| l.contains("/usr/lib/systemd/system/istio.service"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "specs/istio-sidecar.toml:{line}: /usr/lib/systemd/system/istio.service: source \
             istio-service is not given: pass --input istio-service=PATH"
        )),
        "{err}"
    );

    let (success, err) = run(&[
        "--input", &agent, "--input", &start, "--input", &unit, "--input", &agent,
    ]);
    assert!(!success);
    assert!(
        err.contains(
            "--input pilot-agent: input pilot-agent is already given by --input pilot-agent"
        ),
        "{err}"
    );

    let script = format!("pilot-agent={}", inputs.istio_start.display());
    let (success, err) = run(&["--input", &script, "--input", &start, "--input", &unit]);
    assert!(!success);
    assert!(
        err.contains("--input pilot-agent is not an ELF file"),
        "{err}"
    );

    let (success, err) = run(&[
        "--input",
        &agent,
        "--input",
        &start,
        "--input",
        &unit,
        "--envoy",
        inputs.envoy.to_str().unwrap(),
    ]);
    assert!(success, "{err}");
    assert!(
        err.contains(
            "warning: --envoy: specs/istio-sidecar.toml packages nothing from input envoy"
        ),
        "{err}"
    );
}
