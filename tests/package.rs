//! `proxy-rpm package` checked by Debian's rpm 4.18 tools and the rpm crate's own parser.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use sha2::{Digest, Sha256};
use support::{Fixture, have, run};

fn qf(rpm: &std::path::Path, format: &str) -> String {
    run(Command::new("rpm").args(["-qp", "--qf", format]).arg(rpm))
}

#[test]
fn rpm_reads_our_package_like_rpmbuilds() {
    if !have("rpm") {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    assert_eq!(
        rpm.file_name().unwrap(),
        "istio-proxy-1.6.14-1.el7.x86_64.rpm"
    );

    let checked = run(Command::new("rpm").args(["-Kv"]).arg(&rpm));
    for digest in [
        "Header SHA1 digest: OK",
        "MD5 digest: OK",
        "Header SHA256 digest: OK",
    ] {
        assert!(checked.contains(digest), "{digest} missing in:\n{checked}");
    }
    assert!(
        !checked.contains("BAD") && !checked.contains("NOT OK"),
        "{checked}"
    );

    let fields = qf(
        &rpm,
        "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{PAYLOADCOMPRESSOR}|%{PAYLOADFLAGS}|%{FILEDIGESTALGO}|%{PAYLOADFORMAT}",
    );
    assert_eq!(
        fields,
        "istio-proxy|1.6.14|1.el7|x86_64|ASL 2.0|xz|2|8|cpio"
    );

    let configs = run(Command::new("rpm").args(["-qp", "--configfiles"]).arg(&rpm));
    assert_eq!(configs.trim(), "/var/lib/istio/envoy/sidecar.env");

    // --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
    let dump = run(Command::new("rpm").args(["-qp", "--dump"]).arg(&rpm));
    let rows: BTreeMap<&str, Vec<&str>> = dump
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0], f)
        })
        .collect();
    let expect = [
        ("/usr/local/bin/envoy", &fx.envoy, "0100755", "0"),
        (
            "/var/lib/istio/envoy/sidecar.env",
            &fx.sidecar_env,
            "0100644",
            "1",
        ),
        (
            "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
            &fx.bootstrap,
            "0100644",
            "0",
        ),
    ];
    for (path, input, mode, config) in expect {
        let row = &rows[path];
        let bytes = std::fs::read(input).unwrap();
        assert_eq!(row[1], bytes.len().to_string(), "{path} size");
        assert_eq!(row[3], hex::encode(Sha256::digest(&bytes)), "{path} digest");
        assert_eq!(row[4], mode, "{path} mode");
        assert_eq!((row[5], row[6]), ("root", "root"), "{path} owner");
        assert_eq!(row[7], config, "{path} config flag");
    }
    // Exactly the three files, no directory: Istio's own spec
    // (istio/istio@1.6.14:tools/packaging/rpm/proxy/istio-proxy.spec) owns none.
    assert_eq!(rows.len(), 3, "{dump}");
    let listed = run(Command::new("rpm").args(["-qlp"]).arg(&rpm));
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "/usr/local/bin/envoy",
            "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
            "/var/lib/istio/envoy/sidecar.env",
        ]
    );
}

#[test]
fn a_spec_with_dirs_still_owns_them() {
    if !have("rpm") {
        return;
    }
    let fx = Fixture::new();
    let builtin =
        std::fs::read_to_string(support::repo_root().join("specs/istio-proxy.toml")).unwrap();
    let spec = fx.path().join("with-dirs.toml");
    std::fs::write(
        &spec,
        format!(
            "{builtin}\n[[dirs]]\npath = \"/var/lib/istio\"\nmode = \"0750\"\ngroup = \"adm\"\n"
        ),
    )
    .unwrap();
    let rpm = fx.package(&["--spec", spec.to_str().unwrap()]);
    let dump = run(Command::new("rpm").args(["-qp", "--dump"]).arg(&rpm));
    let dir = dump
        .lines()
        .find(|l| l.starts_with("/var/lib/istio "))
        .unwrap_or_else(|| panic!("no owned directory in:\n{dump}"));
    let f: Vec<&str> = dir.split(' ').collect();
    assert_eq!((f[4], f[5], f[6]), ("040750", "root", "adm"), "{dir}");
    assert_eq!(dump.lines().count(), 4, "{dump}");
}

#[test]
fn payload_unpacks_to_identical_files() {
    if !have("rpm2cpio") || !have("cpio") {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let root = fx.path().join("unpacked");
    std::fs::create_dir(&root).unwrap();
    run(Command::new("sh")
        .current_dir(&root)
        .args(["-ec", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"])
        .arg(&rpm));
    for (inside, input) in [
        ("usr/local/bin/envoy", &fx.envoy),
        ("var/lib/istio/envoy/sidecar.env", &fx.sidecar_env),
        (
            "var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
            &fx.bootstrap,
        ),
    ] {
        assert_eq!(
            std::fs::read(root.join(inside)).unwrap(),
            std::fs::read(input).unwrap(),
            "{inside}"
        );
    }
    // The unpacked Envoy stand-in still runs.
    let out = run(&mut Command::new(root.join("usr/local/bin/envoy")));
    assert!(out.contains("envoy  version"));
}

#[test]
fn rpm_crate_parses_and_checks_digests() {
    let fx = Fixture::new();
    let path = fx.package(&["--compression", "gzip"]);
    let pkg = rpm::Package::open(&path).unwrap();
    let report = pkg.check_digests().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.has_header_digest() && report.has_payload_digest());
    assert_eq!(
        pkg.metadata.get_payload_compressor().unwrap(),
        rpm::CompressionType::Gzip
    );
    let files = pkg.metadata.get_file_paths().unwrap();
    assert_eq!(files.len(), 3);
    // 9 is EL7 rpmbuild's gzip level.
    assert_eq!(
        pkg.metadata
            .header
            .get_entry_data_as_string(rpm::IndexTag::RPMTAG_PAYLOADFLAGS)
            .unwrap(),
        "9"
    );
}

#[test]
fn rpmlint_finds_no_errors() {
    if !have("rpmlint") {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let out = Command::new("rpmlint")
        .arg("-c")
        .arg(support::repo_root().join("tests/rpmlint.toml"))
        .arg(&rpm)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Warnings we accept, and why (errors we accept are filtered in tests/rpmlint.toml):
    let accepted = [
        // Envoy keeps its symbols for crash stack traces; Istio ships it unstripped.
        "unstripped-binary-or-object",
        // The changelog is about the packaging, not one Istio version.
        "no-version-in-last-changelog",
        // Istio ships no documentation or man page with the proxy.
        "no-documentation",
        // "ASL 2.0" is the license name EL7 packages use; rpmlint 2 wants SPDX.
        "invalid-license",
    ];
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(": E: ")).collect();
    assert!(errors.is_empty(), "rpmlint errors:\n{text}");
    assert!(
        text.contains(" 0 errors"),
        "rpmlint summary missing:\n{text}"
    );
    for warning in text.lines().filter(|l| l.contains(": W: ")) {
        assert!(
            accepted
                .iter()
                .any(|a| warning.contains(&format!(": W: {a}"))),
            "a warning nobody accepted: {warning}"
        );
    }
}

#[test]
fn reproducible_whatever_the_thread_count() {
    let fx = Fixture::new();
    let mut digests = Vec::new();
    for threads in ["1", "2", "4"] {
        let out = fx
            .package_cmd(&["--threads", threads])
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rpm = String::from_utf8(out.stdout).unwrap();
        let bytes = std::fs::read(rpm.trim()).unwrap();
        digests.push(hex::encode(Sha256::digest(&bytes)));
        std::fs::remove_file(rpm.trim()).unwrap();
    }
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[1], digests[2]);
}

#[test]
fn source_date_epoch_fixes_times_and_host() {
    if !have("rpm") {
        return;
    }
    let fx = Fixture::new();
    let out = fx
        .package_cmd(&[])
        .env("SOURCE_DATE_EPOCH", "1600000000")
        .output()
        .unwrap();
    assert!(out.status.success());
    let rpm = String::from_utf8(out.stdout).unwrap();
    let rpm = std::path::Path::new(rpm.trim());
    assert_eq!(qf(rpm, "%{BUILDTIME} %{BUILDHOST}"), "1600000000 localhost");
    // Inputs written just now are newer than the epoch: clamped to it.
    assert_eq!(qf(rpm, "[%{FILEMTIMES} ]"), "1600000000 ".repeat(3));
}

#[test]
fn release_and_dist_overrides_name_the_file() {
    let fx = Fixture::new();
    let rpm = fx.package(&["--release", "3", "--dist", "el7_9"]);
    assert_eq!(
        rpm.file_name().unwrap(),
        "istio-proxy-1.6.14-3.el7_9.x86_64.rpm"
    );
}

#[test]
fn our_package_passes_proxy_rpm_verify() {
    let fx = Fixture::new();
    for compression in ["xz", "gzip"] {
        let rpm = fx.package(&["--compression", compression]);
        let out = Command::new(support::bin())
            .arg("verify")
            .arg(&rpm)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{compression}: {text}");
        assert!(!text.contains("FAIL") && !text.contains("WARN"), "{text}");
        for check in ["md5", "sha1", "sha256", "files", "el7-rpmlib", "elf"] {
            assert!(
                text.contains(&format!("PASS  {check}")),
                "{check} in {text}"
            );
        }
        std::fs::remove_file(&rpm).unwrap();
    }
}
