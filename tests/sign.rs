//! `proxy-rpm sign`: signatures rpm verifies, next to every digest, by keys CentOS 7's rpm 4.11
//! can verify; the keys it cannot are refused before any file is touched.

mod support;
mod support_repo;

use std::path::Path;
use std::process::Command;

use support::{Fixture, bin, have, run};
use support_repo::{
    Gpg, Key, after_signature, fails, rpm_checksig, sign, signature_entry, signature_tags,
};

const RSA: u32 = 268;
const DSA: u32 = 267;
const SHA1: u32 = 269;
const SHA256: u32 = 273;
const SIZE: u32 = 1000;
const PGP: u32 = 1002;
const MD5: u32 = 1004;
const GPG: u32 = 1005;
const PAYLOADSIZE: u32 = 1007;

fn tools() -> bool {
    have("gpg") && have("rpmkeys")
}

fn sign_cmd(rpm: &Path, key: &Key) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("sign")
        .arg(rpm)
        .arg("--key")
        .arg(&key.secret)
        .env_remove("PROXY_RPM_SIGN_PASSPHRASE");
    cmd
}

/// Every check `rpm -Kv` (4.18) makes passes, the two signatures included.
fn assert_all_ok(report: &str, kind: &str, key: &Key) {
    for line in [
        format!(
            "Header V4 {kind}/SHA256 Signature, key ID {}: OK",
            key.short_id()
        ),
        format!(
            "    V4 {kind}/SHA256 Signature, key ID {}: OK",
            key.short_id()
        ),
        "Header SHA256 digest: OK".into(),
        "Header SHA1 digest: OK".into(),
        "Payload SHA256 digest: OK".into(),
        "MD5 digest: OK".into(),
    ] {
        assert!(report.contains(&line), "missing {line:?} in:\n{report}");
    }
}

#[test]
fn signed_package_verifies_and_keeps_every_digest() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let gpg = Gpg::new();
    let key = gpg.rsa("rsa@localhost");
    let before_tags = signature_tags(&rpm);
    let before_rest = after_signature(&rpm);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rpm).unwrap().permissions());

    sign(&rpm, &key);

    let (ok, report) = rpm_checksig(&key.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &key);
    // Header and payload are untouched: only the signature header grew.
    assert_eq!(after_signature(&rpm), before_rest);
    let mut expected = before_tags.clone();
    expected.extend([RSA, PGP]);
    expected.sort();
    assert_eq!(signature_tags(&rpm), expected);
    assert_eq!(
        before_tags,
        [SHA1, SHA256, SIZE, MD5, PAYLOADSIZE],
        "what the package had"
    );
    let after_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rpm).unwrap().permissions());
    assert_eq!(after_mode, mode, "file mode kept");
    let left: Vec<_> = std::fs::read_dir(rpm.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file left: {left:?}");

    // Without the key, rpm says the signature cannot be checked (it is there, NOKEY).
    let other = gpg.rsa("other@localhost");
    let (_, report) = rpm_checksig(&other.public, &rpm);
    assert!(report.contains("NOKEY"), "{report}");
}

/// The signature packet is the kind rpm 4.11 parses: old-format packet header, v4, binary
/// document, RSA, SHA-256, issuer key ID present.
#[test]
fn signature_packets_are_v4_rsa_sha256_with_issuer() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let gpg = Gpg::new();
    let key = gpg.rsa("packet@localhost");
    sign(&rpm, &key);
    for tag in [RSA, PGP] {
        let packet = signature_entry(&rpm, tag);
        assert_eq!(
            packet[0], 0x89,
            "old-format signature packet, 2-byte length"
        );
        let len = u16::from_be_bytes([packet[1], packet[2]]) as usize;
        assert_eq!(len + 3, packet.len(), "one packet, nothing after it");
        let body = &packet[3..];
        assert_eq!(body[0], 4, "v4 signature");
        assert_eq!(body[1], 0x00, "signature of a binary document");
        assert_eq!(body[2], 1, "RSA");
        assert_eq!(body[3], 8, "SHA-256");
        let dump = gpg_list_packets(&gpg, &packet);
        assert!(
            dump.contains(&format!("issuer key ID {}", key.id)),
            "{dump}"
        );
        assert!(dump.contains("sig created"), "{dump}");
    }
}

fn gpg_list_packets(gpg: &Gpg, packet: &[u8]) -> String {
    let file = gpg.path().join("packet.sig");
    std::fs::write(&file, packet).unwrap();
    run(gpg.cmd().arg("--list-packets").arg(&file))
}

/// rpmsign (4.18, with gpg) writes the header signature only; we write the same tag plus the
/// header+payload one EL7's `rpm -K` reports as `pgp`. Same key ID, both verify.
#[test]
fn tags_compared_with_rpmsign() {
    if !tools() || !have("rpmsign") {
        return;
    }
    let fx = Fixture::new();
    let ours = fx.package(&[]);
    let theirs = fx.path().join("rpmsign.rpm");
    std::fs::copy(&ours, &theirs).unwrap();
    let gpg = Gpg::new();
    let key = gpg.rsa("rpmsign@localhost");
    sign(&ours, &key);
    run(Command::new("rpmsign")
        .env("GNUPGHOME", gpg.path())
        .args(["--define", "__gpg /usr/bin/gpg"])
        .arg("--define")
        .arg(format!("_gpg_name {}", key.fpr))
        .arg("--addsign")
        .arg(&theirs));

    let our_tags = signature_tags(&ours);
    let their_tags = signature_tags(&theirs);
    let extra: Vec<u32> = our_tags
        .iter()
        .filter(|t| !their_tags.contains(t))
        .copied()
        .collect();
    let missing: Vec<u32> = their_tags
        .iter()
        .filter(|t| !our_tags.contains(t))
        .copied()
        .collect();
    assert_eq!(missing, Vec::<u32>::new(), "every tag rpmsign writes");
    assert_eq!(extra, [PGP], "plus only the header+payload signature");
    assert_eq!(after_signature(&ours), after_signature(&theirs));
    let query = |rpm: &Path| {
        run(Command::new("rpm")
            .args(["-qp", "--nosignature", "--qf", "%{RSAHEADER:pgpsig}"])
            .arg(rpm))
    };
    let (ours_sig, theirs_sig) = (query(&ours), query(&theirs));
    let key_id = format!("Key ID {}", key.id.to_lowercase());
    assert!(
        ours_sig.starts_with("RSA/SHA256, ") && ours_sig.ends_with(&key_id),
        "{ours_sig}"
    );
    assert!(
        theirs_sig.starts_with("RSA/") && theirs_sig.ends_with(&key_id),
        "{theirs_sig}"
    );
    for rpm in [&ours, &theirs] {
        let (ok, report) = rpm_checksig(&key.public, rpm);
        assert!(ok, "{report}");
    }
}

#[test]
fn library_api_signs_a_foreign_package() {
    if !tools() || !have("rpmbuild") {
        return;
    }
    // An rpmbuild package (its own header layout, gzip payload) through the pipeline's API.
    let dir = tempfile::tempdir().unwrap();
    let stub = support::glibc_stub_rpm(dir.path());
    let gpg = Gpg::new();
    let key = gpg.rsa("api@localhost");
    let signing = proxy_rpm::sign::SigningKey::load(&key.secret).unwrap();
    assert_eq!(signing.key_id(), key.id.to_lowercase());
    assert_eq!(signing.fingerprint(), key.fpr.to_lowercase());
    proxy_rpm::sign::sign_file(&stub, &signing, &proxy_rpm::Reporter::silent()).unwrap();
    let (ok, report) = rpm_checksig(&key.public, &stub);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &key);
}

#[test]
fn large_payload_is_streamed_and_signed() {
    if !tools() {
        return;
    }
    // An Envoy stand-in with 3 MiB of incompressible data after its ELF contents, so the payload
    // spans several read buffers.
    let fx = Fixture::new();
    let mut elf = std::fs::read(&fx.envoy).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    elf.extend((0..3 << 20).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    let big = fx.path().join("envoy-big");
    std::fs::write(&big, elf).unwrap();
    std::fs::set_permissions(&big, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out =
        run(&mut fx.package_cmd_with(&big, &fx.out, &["--compression", "gzip", "--level", "1"]));
    let rpm = Path::new(out.trim()).to_path_buf();
    assert!(std::fs::metadata(&rpm).unwrap().len() > 3 << 20);
    let gpg = Gpg::new();
    let key = gpg.rsa("big@localhost");
    sign(&rpm, &key);
    let (ok, report) = rpm_checksig(&key.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &key);
}

#[test]
fn passphrase_comes_from_the_environment_only() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let original = std::fs::read(&rpm).unwrap();
    let gpg = Gpg::new();
    let phrase = "correct horse battery";
    let key = gpg.generate(
        "pass@localhost",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign",
        Some(phrase),
    );

    let err = fails(&mut sign_cmd(&rpm, &key));
    assert!(
        err.contains("protected by a passphrase") && err.contains("PROXY_RPM_SIGN_PASSPHRASE"),
        "{err}"
    );
    assert_eq!(std::fs::read(&rpm).unwrap(), original, "nothing changed");

    let err = fails(sign_cmd(&rpm, &key).env("PROXY_RPM_SIGN_PASSPHRASE", "wrong guess"));
    assert!(err.contains("does not unlock the key"), "{err}");
    assert!(
        !err.contains("wrong guess"),
        "the passphrase is never printed: {err}"
    );
    assert_eq!(std::fs::read(&rpm).unwrap(), original, "nothing changed");

    let out = Command::new(bin())
        .arg("-v")
        .arg("sign")
        .arg(&rpm)
        .arg("--key")
        .arg(&key.secret)
        .args(["--passphrase-env", "MY_SIGNING_PASSPHRASE"])
        .env("MY_SIGNING_PASSPHRASE", phrase)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains(phrase),
        "the passphrase is never printed: {all}"
    );
    let (ok, report) = rpm_checksig(&key.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &key);
}

/// A refused key leaves the package exactly as it was, and says why in EL7 terms.
fn refused(fx: &Fixture, key: &Key) -> String {
    let rpm = fx.package(&[]);
    let original = std::fs::read(&rpm).unwrap();
    let mut cmd = sign_cmd(&rpm, key);
    let err = fails(&mut cmd);
    assert_eq!(std::fs::read(&rpm).unwrap(), original, "package untouched");
    assert!(
        err.contains(&format!("--key {}", key.secret.display())),
        "names the key: {err}"
    );
    err
}

#[test]
fn eddsa_key_is_refused_with_the_el7_reason() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let gpg = Gpg::new();
    let key = gpg.generate(
        "ed@localhost",
        "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign",
        None,
    );
    let err = refused(&fx, &key);
    assert!(
        err.contains("EdDSA") && err.contains("rpm 4.11 cannot verify EdDSA or ECDSA"),
        "{err}"
    );
}

#[test]
fn ecdsa_key_is_refused() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let gpg = Gpg::new();
    let key = gpg.generate(
        "ecdsa@localhost",
        "Key-Type: ECDSA\nKey-Curve: nistp256\nKey-Usage: sign",
        None,
    );
    let err = refused(&fx, &key);
    assert!(err.contains("primary key is ECDSA"), "{err}");
}

#[test]
fn signing_subkeys_are_refused() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let gpg = Gpg::new();
    // The usual modern layout: a certify-only primary and a signing subkey.
    let key = gpg.generate(
        "sub@localhost",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: cert\nSubkey-Type: RSA\nSubkey-Length: 2048\nSubkey-Usage: sign",
        None,
    );
    let err = refused(&fx, &key);
    assert!(
        err.contains("signing is left to a subkey")
            && err.contains("verifies only signatures made by the primary key"),
        "{err}"
    );

    // The same certificate exported with only its subkeys' secrets.
    let subkeys_only = Key {
        secret: gpg.path().join("subkeys-only.asc"),
        ..key.clone()
    };
    std::fs::write(
        &subkeys_only.secret,
        run(gpg
            .cmd()
            .args(["--armor", "--export-secret-subkeys", &key.fpr])),
    )
    .unwrap();
    let err = refused(&fx, &subkeys_only);
    assert!(err.contains("no secret for the primary key"), "{err}");

    // A public key is not a signing key.
    let public = Key {
        secret: key.public.clone(),
        ..key
    };
    let err = refused(&fx, &public);
    assert!(err.contains("is a public key"), "{err}");
}

/// A primary key that signs, with a signing subkey too: we sign with the primary (gpg would
/// pick the subkey, which EL7 could not verify).
#[test]
fn primary_key_signs_even_with_a_signing_subkey() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let gpg = Gpg::new();
    let key = gpg.generate(
        "both@localhost",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 2048\nSubkey-Usage: sign",
        None,
    );
    let out = sign_cmd(&rpm, &key).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not its signing subkey"), "{stderr}");
    let (ok, report) = rpm_checksig(&key.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &key);
}

#[test]
fn dsa_key_writes_the_dsa_and_gpg_tags() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let gpg = Gpg::new();
    let key = gpg.generate(
        "dsa@localhost",
        "Key-Type: DSA\nKey-Length: 2048\nKey-Usage: sign",
        None,
    );
    sign(&rpm, &key);
    let tags = signature_tags(&rpm);
    assert!(tags.contains(&DSA) && tags.contains(&GPG), "{tags:?}");
    assert!(!tags.contains(&RSA) && !tags.contains(&PGP), "{tags:?}");
    let (ok, report) = rpm_checksig(&key.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "DSA", &key);
}

#[test]
fn damaged_package_is_not_signed() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    support_repo::tamper(&rpm);
    let damaged = std::fs::read(&rpm).unwrap();
    let gpg = Gpg::new();
    let key = gpg.rsa("damaged@localhost");
    let err = fails(&mut sign_cmd(&rpm, &key));
    assert!(
        err.contains("MD5 digest")
            && err.contains("payload SHA256 digest")
            && err.contains("not signing it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&rpm).unwrap(), damaged, "left as it was");
    let left = std::fs::read_dir(rpm.parent().unwrap()).unwrap().count();
    assert_eq!(left, 1, "no temporary file left");

    let not_rpm = fx.path().join("not.rpm");
    std::fs::write(&not_rpm, b"hello").unwrap();
    let out = sign_cmd(&not_rpm, &key).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "unreadable RPM: exit 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable RPM"));
}

#[test]
fn signing_again_replaces_the_signature() {
    if !tools() {
        return;
    }
    let fx = Fixture::new();
    let rpm = fx.package(&[]);
    let gpg = Gpg::new();
    let first = gpg.rsa("first@localhost");
    let second = gpg.rsa("second@localhost");
    sign(&rpm, &first);
    let out = sign_cmd(&rpm, &second).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replacing its existing signature"));
    let tags = signature_tags(&rpm);
    assert_eq!(tags.iter().filter(|t| **t == RSA).count(), 1, "{tags:?}");
    let (ok, report) = rpm_checksig(&second.public, &rpm);
    assert!(ok, "{report}");
    assert_all_ok(&report, "RSA", &second);
    let (_, report) = rpm_checksig(&first.public, &rpm);
    assert!(
        report.contains("NOKEY"),
        "the first signature is gone: {report}"
    );
}
