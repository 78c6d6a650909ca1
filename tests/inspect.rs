//! `proxy-rpm inspect` against rpm itself: the file list must equal `rpm -qp --dump`, the
//! dependency lists `rpm -qp --requires/--provides/--conflicts`, on the same packages.

mod support_rpm;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use support_rpm::{Gpg, Scratch, Spec, proxy_rpm, require_tool};

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
    for (title, flag) in [
        ("Requires:", "--requires"),
        ("Provides:", "--provides"),
        ("Conflicts:", "--conflicts"),
    ] {
        assert_eq!(section(&text, title), rpm_query(rpm, &[flag]), "{title}");
    }
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
