//! Install our package for real: with rpm into an empty root, and with dnf from a
//! createrepo_c repository (gzip metadata, as EL7's yum needs) the way a VM would.

mod support;

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
