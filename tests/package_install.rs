//! Install our package for real: with rpm into an empty root, and with dnf from a
//! createrepo_c repository (gzip metadata, as EL7's yum needs) the way a VM would.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use support::{Fixture, have, run};

#[test]
fn rpm_installs_it_and_verifies_clean() {
    if !have("rpm") {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let root = fx.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(Command::new("rpm")
        .arg("-i")
        .arg("--root")
        .arg(&root)
        .arg("--nodeps")
        .arg(&rpm));
    let verify = |root: &Path| {
        Command::new("rpm")
            .args(["-V", "--nodeps", "--root"])
            .arg(root)
            .arg("istio-proxy")
            .output()
            .unwrap()
    };
    let clean = verify(&root);
    assert!(
        clean.status.success(),
        "rpm -V: {}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(clean.stdout.is_empty());
    assert_eq!(
        std::fs::read(root.join("var/lib/istio/envoy/sidecar.env")).unwrap(),
        std::fs::read(&fx.sidecar_env).unwrap()
    );

    // rpm -V does check: an edit of the config file is reported (as a config file).
    let env = root.join("var/lib/istio/envoy/sidecar.env");
    std::fs::write(&env, "ISTIO_EDITED=1\n").unwrap();
    let edited = verify(&root);
    assert!(!edited.status.success());
    let report = String::from_utf8_lossy(&edited.stdout);
    assert!(
        report.contains(" c /var/lib/istio/envoy/sidecar.env"),
        "{report}"
    );
}

/// The sidecar's setup chowns /var/lib/istio/envoy to istio-proxy
/// (istio/istio@1.6.14:tools/packaging/rpm/istio/istio.spec, %pre pilot-agent). The package
/// owns no directory, so a reinstall, an upgrade and an erase leave that owner alone and
/// `rpm -V` stays clean.
#[test]
fn reinstall_and_upgrade_keep_the_sidecars_directory_owner() {
    if !have("rpm") {
        return;
    }
    let fx = Fixture::new();
    let first = fx.package(&[]);
    let second = fx.package(&["--release", "2"]);
    let root = fx.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let rpm = |args: &[&str], package: Option<&Path>| {
        let mut cmd = Command::new("rpm");
        cmd.args(args).arg("--root").arg(&root);
        if let Some(p) = package {
            cmd.arg(p);
        }
        cmd.output().unwrap()
    };
    let verify_clean = |when: &str| {
        let out = rpm(&["-V", "--nodeps", "istio-proxy"], None);
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "rpm -V after {when}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dirs = [root.join("var/lib/istio"), root.join("var/lib/istio/envoy")];
    let owners = || -> Vec<(u32, u32)> {
        dirs.iter()
            .map(|d| {
                let m = std::fs::metadata(d).unwrap();
                assert!(m.is_dir(), "{}", d.display());
                (m.uid(), m.gid())
            })
            .collect()
    };

    let installed = rpm(&["-i", "--nodeps"], Some(&first));
    assert!(installed.status.success(), "{installed:?}");
    // rpm made the parent directories, and its database owns exactly the three files.
    assert_eq!(owners(), [(0, 0), (0, 0)]);
    let owned = rpm(&["-qa", "--qf", "[%{FILENAMES}\n]"], None);
    assert_eq!(
        String::from_utf8_lossy(&owned.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "/usr/local/bin/envoy",
            "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
            "/var/lib/istio/envoy/sidecar.env",
        ],
        "{owned:?}"
    );
    verify_clean("install");

    // What the sidecar's setup does, with ids no package uses.
    let sidecar = (4242, 4343);
    for dir in &dirs {
        std::os::unix::fs::chown(dir, Some(sidecar.0), Some(sidecar.1)).unwrap();
    }
    verify_clean("the chown");

    let again = rpm(&["-U", "--nodeps", "--replacepkgs"], Some(&first));
    assert!(again.status.success(), "{again:?}");
    assert_eq!(owners(), [sidecar, sidecar], "after a reinstall");
    verify_clean("a reinstall");

    let upgraded = rpm(&["-U", "--nodeps"], Some(&second));
    assert!(upgraded.status.success(), "{upgraded:?}");
    let version = rpm(&["-q", "istio-proxy"], None);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "istio-proxy-1.6.14-2.el7.x86_64"
    );
    assert_eq!(owners(), [sidecar, sidecar], "after an upgrade");
    verify_clean("an upgrade");

    // Erasing the proxy leaves the sidecar's directory (and its owner) in place.
    let erased = rpm(&["-e", "--nodeps", "istio-proxy"], None);
    assert!(erased.status.success(), "{erased:?}");
    assert!(!root.join("usr/local/bin/envoy").exists());
    assert_eq!(owners(), [sidecar, sidecar], "after an erase");
}

#[test]
fn dnf_installs_it_from_a_createrepo_repository() {
    if !have("dnf") || !have("createrepo_c") || !have("rpmbuild") {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let repo = fx.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::copy(&rpm, repo.join(rpm.file_name().unwrap())).unwrap();
    let stub = support::glibc_stub_rpm(fx.path());
    std::fs::copy(&stub, repo.join(stub.file_name().unwrap())).unwrap();
    run(Command::new("createrepo_c")
        .args(["-q", "--general-compress-type=gz"])
        .arg(&repo));

    let root = fx.path().join("installroot");
    std::fs::create_dir(&root).unwrap();
    run(Command::new("dnf")
        .args(["-y", "-q", "--releasever", "7", "--disablerepo=*"])
        .arg("--installroot")
        .arg(&root)
        .arg(format!(
            "--setopt=cachedir={}",
            fx.path().join("cache").display()
        ))
        .arg(format!("--repofrompath=fixture,file://{}", repo.display()))
        .args([
            "--enablerepo=fixture",
            "--nogpgcheck",
            "--setopt=install_weak_deps=False",
        ])
        .args(["install", "istio-proxy"]));

    let installed = run(Command::new("rpm").args(["-qa", "--root"]).arg(&root));
    assert!(
        installed.contains("istio-proxy-1.6.14-1.el7.x86_64"),
        "{installed}"
    );
    assert!(
        installed.contains("glibc-stub"),
        "dnf resolved the glibc requires: {installed}"
    );
    run(Command::new("rpm")
        .args(["-V", "--root"])
        .arg(&root)
        .arg("istio-proxy"));
    let envoy = root.join("usr/local/bin/envoy");
    let out = run(&mut Command::new(&envoy));
    assert!(
        out.contains("envoy  version"),
        "the installed binary runs: {out}"
    );
}
