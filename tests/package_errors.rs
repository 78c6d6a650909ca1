//! Every bad input to `proxy-rpm package` gets a one-line error naming it, a non-zero exit,
//! nothing on stdout and nothing left in --out.

mod support;

use std::process::Command;

use support::Fixture;

fn with_envoy(fx: &Fixture, envoy: &std::path::Path, extra: &[&str]) -> Command {
    fx.package_cmd_with(envoy, &fx.out, extra)
}

#[test]
fn envoy_needing_new_glibc_is_refused_with_the_versions() {
    let fx = Fixture::new();
    let new = support::new_glibc_elf(fx.path());
    let err = fx.package_fails(&mut with_envoy(&fx, &new, &[]));
    assert!(err.contains("symbol versions CentOS 7 lacks"), "{err}");
    assert!(
        err.contains("GLIBC_2.34 from libc.so.6 (EL7 has up to 2.17)"),
        "{err}"
    );
    assert!(err.contains("__libc_start_main"), "names the symbol: {err}");
    assert!(
        err.contains("--allow-newer-glibc"),
        "says how to override: {err}"
    );
}

#[test]
fn allow_newer_glibc_packages_with_a_warning() {
    let fx = Fixture::new();
    let new = support::new_glibc_elf(fx.path());
    let out = with_envoy(&fx, &new, &["--allow-newer-glibc"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("will not start on CentOS 7"),
        "{err}"
    );
    let rpm = String::from_utf8(out.stdout).unwrap();
    assert!(std::path::Path::new(rpm.trim()).is_file());
}

#[test]
fn envoy_that_is_not_elf_is_refused() {
    let fx = Fixture::new();
    let script = fx.path().join("envoy.sh");
    std::fs::write(&script, "#!/bin/sh\necho envoy\n").unwrap();
    let err = fx.package_fails(&mut with_envoy(&fx, &script, &[]));
    assert!(
        err.contains("envoy.sh: --envoy is not an ELF file"),
        "{err}"
    );
}

#[test]
fn envoy_for_another_architecture_is_refused() {
    let fx = Fixture::new();
    let mut bytes = std::fs::read(&fx.envoy).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let arm = fx.path().join("envoy-arm");
    std::fs::write(&arm, bytes).unwrap();
    let err = fx.package_fails(&mut with_envoy(&fx, &arm, &[]));
    assert!(
        err.contains(
            "--envoy is a 64-bit aarch64 shared object or PIE, not an x86_64 ELF executable"
        ),
        "{err}"
    );
}

#[test]
fn shared_library_as_envoy_is_refused() {
    let fx = Fixture::new();
    let lib = support::compile(
        fx.path(),
        "libx.so",
        "int x(void){return 0;}",
        &["-shared", "-fPIC"],
    );
    let err = fx.package_fails(&mut with_envoy(&fx, &lib, &[]));
    assert!(err.contains("not an x86_64 ELF executable"), "{err}");
}

#[test]
fn zstd_is_refused_because_el7_cannot_read_it() {
    let fx = Fixture::new();
    let err = fx.package_fails(&mut fx.package_cmd(&["--compression", "zstd"]));
    assert!(
        err.contains("CentOS 7's rpm 4.11 cannot read zstd payloads")
            && err.contains("rpmlib(PayloadIsZstd)"),
        "{err}"
    );
}

#[test]
fn bad_levels_versions_and_out_dirs_are_named() {
    let fx = Fixture::new();
    let err = fx.package_fails(&mut fx.package_cmd(&["--level", "12"]));
    assert!(err.contains("--level 12: xz levels are 0 to 9"), "{err}");
    let err = fx.package_fails(&mut fx.package_cmd(&["--compression", "gzip", "--level", "0"]));
    assert!(err.contains("--level 0: gzip levels are 1 to 9"), "{err}");
    let err = fx.package_fails(&mut fx.package_cmd(&["--release", "1-2"]));
    assert!(
        err.contains("--release: release \"1-2\" may only contain"),
        "{err}"
    );

    let missing = fx.path().join("no-such-dir");
    let mut cmd = fx.package_cmd_with(&fx.envoy, &missing, &[]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-dir: not a directory; create it first"),
        "{err}"
    );
    assert!(!missing.exists());
}

#[test]
fn missing_input_names_the_spec_line() {
    let fx = Fixture::new();
    std::fs::remove_file(&fx.sidecar_env).unwrap();
    let err = fx.package_fails(&mut fx.package_cmd(&[]));
    let line = include_str!("../specs/istio-proxy.toml")
        .lines()
        .position(|l| l.contains("/var/lib/istio/envoy/sidecar.env"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "specs/istio-proxy.toml:{line}: /var/lib/istio/envoy/sidecar.env: source sidecar-env (--sidecar-env) is {}",
            fx.sidecar_env.display()
        )),
        "{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn bad_spec_names_its_line() {
    let fx = Fixture::new();
    let spec = fx.path().join("bad.toml");
    let text = include_str!("../specs/istio-proxy.toml").replace(
        "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
        "/var/lib/istio/../../etc/passwd",
    );
    std::fs::write(&spec, &text).unwrap();
    let line = text.lines().position(|l| l.contains("etc/passwd")).unwrap() + 1;
    let err = fx.package_fails(&mut fx.package_cmd(&["--spec", spec.to_str().unwrap()]));
    assert!(
        err.contains(&format!("bad.toml:{line}: path")) && err.contains("\"..\""),
        "{err}"
    );

    std::fs::write(&spec, format!("{text}\n[extras]\nx = 1\n")).unwrap();
    let err = fx.package_fails(&mut fx.package_cmd(&["--spec", spec.to_str().unwrap()]));
    assert!(err.contains("bad.toml:") && err.contains("extras"), "{err}");
}
