//! `proxy-rpm verify` on packages made by Debian's rpmbuild and rpmsign: what passes, what
//! fails and with which reason, and which files are unreadable (exit 2).

mod support_rpm;

use std::ffi::OsStr;

use support_rpm::parts::Parts;
use support_rpm::{Gpg, Scratch, Spec, assert_status, status_of, verify};

#[test]
fn an_xz_package_with_a_static_elf_passes() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("good"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    for check in [
        "lead",
        "signature-header",
        "header",
        "size",
        "md5",
        "sha1",
        "sha256",
        "payload-digest",
        "payload-size",
        "payload",
        "files",
        "elf /usr/bin/good-elf",
        "el7-arch",
        "el7-compressor",
        "el7-rpmlib",
        "el7-rich-deps",
        "el7-size-tags",
        "el7-file-digests",
    ] {
        assert_status(&out, check, "PASS");
    }
    assert!(!out.contains("FAIL") && !out.contains("WARN"), "{out}");
    let files = assert_status(&out, "files", "PASS");
    assert!(files.contains("SHA256"), "{files}");
    assert!(out.contains("PASSED  "), "{out}");
}

#[test]
fn json_output_is_one_document_with_every_check() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("json"));
    let (code, out, err) = verify(&[&rpm, &OsStr::new("--json")]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["target"], "el7");
    assert_eq!(doc["passed"], true);
    let file = &doc["files"][0];
    assert_eq!(file["path"], rpm.to_str().unwrap());
    assert_eq!(file["readable"], true);
    let checks = file["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{out}");
    let elf = checks
        .iter()
        .find(|c| c["name"] == "elf")
        .expect("an elf check");
    assert_eq!(elf["subject"], "/usr/bin/json-elf");
    assert!(checks.iter().any(|c| c["name"] == "md5"));
}

#[test]
fn gzip_lzma_and_bzip2_payloads_decode() {
    let s = Scratch::new();
    for (name, payload, compressor) in [
        ("gz", "w9.gzdio", "gzip"),
        ("lz", "w6.lzdio", "lzma"),
        ("bz", "w9.bzdio", "bzip2"),
    ] {
        let rpm = s.rpmbuild(&Spec::new(name).payload(payload));
        let (code, out, err) = verify(&[&rpm]);
        assert_eq!(code, 0, "{out}{err}");
        let reason = assert_status(&out, "payload", "PASS");
        assert!(reason.starts_with(compressor), "{reason}");
        assert_status(&out, "files", "PASS");
        // rpm 4.18 asks for rpmlib(PayloadIsLzma) <= 4.4.6-1; 4.11's 4.4.2-1 is in that range.
        assert_status(&out, "el7-rpmlib", "PASS");
        assert_status(&out, "el7-compressor", "PASS");
    }
}

#[test]
fn a_zstd_payload_fails_on_compressor_and_rpmlib() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("zst").payload("w19.zstdio"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "el7-compressor", "FAIL");
    assert!(reason.contains("zstd"), "{reason}");
    let reason = assert_status(&out, "el7-rpmlib", "FAIL");
    assert!(reason.contains("rpmlib(PayloadIsZstd)"), "{reason}");
    assert!(out.contains("FAILED  "), "{out}");
}

#[test]
fn a_rich_dependency_fails() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("rich").requires("(bash or busybox)"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "el7-rich-deps", "FAIL");
    assert!(reason.contains("Requires: (bash or busybox)"), "{reason}");
    // rpmbuild also records the rpmlib() feature, which 4.11 lacks.
    let reason = assert_status(&out, "el7-rpmlib", "FAIL");
    assert!(reason.contains("rpmlib(RichDependencies)"), "{reason}");
}

#[test]
fn an_elf_built_against_debian_glibc_fails_naming_the_version() {
    let s = Scratch::new();
    let elf = s.debian_elf();
    let rpm = s.rpmbuild(&Spec::new("newglibc").elf(&elf));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "elf /usr/bin/newglibc-elf", "FAIL");
    assert!(reason.contains("GLIBC_2.34"), "{reason}");
    assert!(reason.contains("__libc_start_main"), "{reason}");
    assert!(reason.contains("2.17"), "{reason}");
    // The rest of the package is fine: only the ELF fails.
    assert_eq!(out.matches("FAIL  ").count(), 1, "{out}");
}

#[test]
fn a_corrupt_payload_byte_fails_naming_the_digests() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("paycorrupt"));
    let bad = s.edited(&rpm, "bad.rpm", |b| {
        let i = b.len() - b.len() / 3;
        b[i] ^= 0x55;
    });
    let (code, out, err) = verify(&[&bad]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "md5", "FAIL");
    assert!(
        reason.starts_with("MD5 digest of header+payload is"),
        "{reason}"
    );
    // rpm 4.11 does not know PAYLOADDIGEST (rpm 4.14): only a warning; the MD5 fails.
    let reason = assert_status(&out, "payload-digest", "WARN");
    assert!(
        reason.contains("SHA256 digest of the compressed payload"),
        "{reason}"
    );
    // The header is untouched.
    assert_status(&out, "sha1", "PASS");
    assert_status(&out, "sha256", "PASS");
}

#[test]
fn a_corrupt_header_byte_fails_naming_the_digests() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("hdrcorrupt"));
    let bad = s.edited(&rpm, "bad.rpm", |b| {
        let needle = b"A hdrcorrupt test package";
        let i = b
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("summary in the header");
        b[i] = b'B';
    });
    let (code, out, err) = verify(&[&bad]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "sha1", "FAIL");
    assert!(
        reason.starts_with("SHA1 digest of the header's immutable region is"),
        "{reason}"
    );
    // SHA256 (tag 273, rpm 4.14) is one rpm 4.11 never reads: a warning; SHA1 fails.
    let reason = assert_status(&out, "sha256", "WARN");
    assert!(
        reason.starts_with("SHA256 digest of the header's immutable region is"),
        "{reason}"
    );
    assert_status(&out, "md5", "FAIL");
    // The payload is untouched.
    assert_status(&out, "payload-digest", "PASS");
    assert_status(&out, "files", "PASS");
}

#[test]
fn truncated_files_are_unreadable() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("trunc"));
    let len = std::fs::metadata(&rpm).unwrap().len() as usize;
    for (name, keep) in [
        ("in-payload.rpm", len - 100),
        ("in-header.rpm", 2000),
        ("in-lead.rpm", 50),
    ] {
        let cut = s.edited(&rpm, name, |b| b.truncate(keep));
        let (code, out, err) = verify(&[&cut]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(&*cut.to_string_lossy()), "{err}");
        assert!(err.contains("truncated"), "{name}: {err}");
    }
}

#[test]
fn a_file_that_is_not_an_rpm_is_unreadable() {
    let s = Scratch::new();
    let text = s.path("notes.rpm");
    std::fs::write(&text, "this is not a package\n".repeat(20)).unwrap();
    let (code, out, err) = verify(&[&text]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("notes.rpm") && err.contains("not an RPM"),
        "{err}"
    );

    let (code, out, _) = verify(&[&text, &OsStr::new("--json")]);
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["files"][0]["readable"], false);
    assert!(
        doc["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not an RPM")
    );

    let (code, _, err) = verify(&[&s.path("missing.rpm")]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn several_files_exit_with_the_worst_outcome() {
    let s = Scratch::new();
    let good = s.rpmbuild(&Spec::new("one"));
    let zstd = s.rpmbuild(&Spec::new("two").payload("w19.zstdio"));
    let junk = s.path("junk.rpm");
    std::fs::write(&junk, b"junk").unwrap();
    let (code, out, _) = verify(&[&good, &zstd]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("PASSED  ") && out.contains("FAILED  "),
        "{out}"
    );
    let (code, out, _) = verify(&[&good, &junk, &zstd]);
    assert_eq!(code, 2, "{out}");
    // The readable ones are still reported.
    assert_eq!(out.matches("PASS  el7-compressor").count(), 1, "{out}");
    assert_eq!(out.matches("FAIL  el7-compressor").count(), 1, "{out}");
}

#[test]
fn an_rsa_signature_verifies_with_its_key_and_fails_with_another() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Signer <signer@example.com>", "rsa2048");
    let other = gpg.key("Other <other@example.com>", "rsa2048");
    let rpm = s.rpmbuild(&Spec::new("signed"));
    let unsigned = s.edited(&rpm, "unsigned.rpm", |_| {});
    gpg.rpmsign(&rpm, &signer);
    let key = gpg.export(&signer, &s.path("signer.asc"));
    let other_key = gpg.export(&other, &s.path("other.asc"));

    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &key]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "signature", "PASS");
    assert!(
        reason.contains("RSA") && reason.contains("primary key"),
        "{reason}"
    );
    assert!(reason.contains(&signer.to_lowercase()), "{reason}");

    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &other_key]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(reason.contains("does not verify"), "{reason}");

    let (code, out, _) = verify(&[&unsigned, &OsStr::new("--key"), &key]);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(
        reason.contains("no RSA, DSA, PGP or GPG signature"),
        "{reason}"
    );

    // A key file that is not a key is the user's mistake, not the package's.
    let junk = s.path("junk.asc");
    std::fs::write(&junk, "not a key").unwrap();
    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &junk]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--key") && err.contains("junk.asc"), "{err}");

    // Without --key a signature EL7 can check is not a finding.
    let (code, out, _) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}");
    assert!(status_of(&out, "signature").is_none(), "{out}");
}

// rpm 4.11.3 parses RSA and DSA signature packets only: for any other key algorithm
// rpmio/digest_nss.c pgpSignatureNew expects -1 MPIs, rpmio/rpmpgp.c pgpPrtSigParams finds the
// packet malformed, and lib/package.c rpmpkgRead, which reads the RSA tag on every install,
// fails the package ("skipping package … with unverifiable signature"). Key or no key.
#[test]
fn an_ed25519_signature_makes_rpm_4_11_refuse_the_package() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Edwards <ed@example.com>", "ed25519");
    let rpm = s.rpmbuild(&Spec::new("edsigned"));
    gpg.rpmsign(&rpm, &signer);
    let key = gpg.export(&signer, &s.path("ed.asc"));

    for args in [vec![&rpm as &dyn AsRef<OsStr>, &"--key", &key], vec![&rpm]] {
        let (code, out, err) = verify(&args);
        assert_eq!(code, 1, "{out}{err}");
        let reason = assert_status(&out, "signature", "FAIL");
        assert!(
            reason.contains("EdDSA") && reason.contains("refuses to read the package"),
            "{reason}"
        );
    }
}

#[test]
fn a_subkey_signature_is_unverifiable_on_el7() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let (primary, subkey) = gpg.key_with_signing_subkey("Sub <sub@example.com>");
    let rpm = s.rpmbuild(&Spec::new("subsigned"));
    gpg.rpmsign(&rpm, &format!("{subkey}!"));
    let key = gpg.export(&primary, &s.path("sub.asc"));

    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &key]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(
        reason.contains("subkey") && reason.contains("unverifiable on EL7"),
        "{reason}"
    );
    assert!(reason.contains(&subkey.to_lowercase()), "{reason}");
}

#[test]
fn a_dsa_signature_verifies_with_its_key_and_fails_with_another() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Dsa <dsa@example.com>", "dsa2048");
    let other = gpg.key("Other <other@example.com>", "dsa2048");
    let rpm = s.rpmbuild(&Spec::new("dsasigned"));
    gpg.rpmsign(&rpm, &signer);
    let key = gpg.export(&signer, &s.path("dsa.asc"));
    let wrong = gpg.export(&other, &s.path("other.asc"));

    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &key]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "signature", "PASS");
    assert!(
        reason.contains("DSA") && reason.contains("primary key"),
        "{reason}"
    );

    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &wrong]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(reason.contains("does not verify"), "{reason}");

    // EL7 can verify DSA, so without --key it is no finding.
    let (code, out, _) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}");
    assert!(status_of(&out, "signature").is_none(), "{out}");
}

// rpm 4.11.3 computes MD5, SHA1, SHA224, SHA256, SHA384 and SHA512 file digests
// (rpmio/digest_nss.c getHashType; lib/rpmfi.c rpmfiPopulate keeps any algorithm
// rpmDigestLength knows), so rpmbuild's MD5 and SHA512 choices both install.
#[test]
fn file_digest_algorithms_md5_and_sha512_pass() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("md5files").file_digest_algo(1));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    assert_status(&out, "el7-file-digests", "PASS");
    let reason = assert_status(&out, "files", "PASS");
    assert!(reason.contains("MD5"), "{reason}");

    let rpm = s.rpmbuild(&Spec::new("sha512files").file_digest_algo(10));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "el7-file-digests", "PASS");
    assert!(reason.contains("SHA512"), "{reason}");
    let reason = assert_status(&out, "files", "PASS");
    assert!(reason.contains("SHA512"), "{reason}");
}

// rpm 4.11 runs a scriptlet with its PROG tag's program, /bin/sh when there is none, and its
// embedded Lua for <lua> (lib/rpmscript.c rpmScriptFromTag, rpmScriptRun); any other program
// is execv'd (runExtScript) and fails the scriptlet when the machine lacks it.
#[test]
fn scriptlets_by_interpreters_every_el7_has_pass() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("shell"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "el7-scriptlet %pre", "PASS");
    assert!(
        reason.contains("/bin/sh, which every CentOS 7 has (bash)")
            && reason.contains("Requires(pre): /bin/sh"),
        "{reason}"
    );
    assert_status(&out, "el7-scriptlet %postun", "PASS");
    let owners = assert_status(&out, "owners", "PASS");
    assert!(
        owners.contains("nobody:nogroup (1)") && owners.contains("/var/log/shell.log root:root"),
        "{owners}"
    );

    let rpm = s.rpmbuild(&Spec::new("luapost").post("<lua>", "print('hi')"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "el7-scriptlet %post", "PASS");
    assert!(reason.contains("embedded Lua"), "{reason}");
}

// /usr/bin/python3 is not on a minimal CentOS 7 but CentOS 7.9's base repository has it
// (python3, since 7.7): fine when the package requires it, as rpmbuild makes it (Requires(post):
// /usr/bin/python3), for yum then installs python3 first. Without that requirement, or for an
// interpreter no CentOS 7 package has, the scriptlet cannot run there.
#[test]
fn a_scriptlet_interpreter_el7_lacks_fails() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("py3").post("/usr/bin/python3", "print('hi')"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "el7-scriptlet %post", "PASS");
    assert!(
        reason.contains("python3 package, which it requires")
            && reason.contains("Requires(post): /usr/bin/python3"),
        "{reason}"
    );

    let mut p = Parts::of(&rpm);
    p.remove_require("/usr/bin/python3").redigest();
    let bare = p.write(&s.path("py3-bare.rpm"));
    let (code, out, err) = verify(&[&bare]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "el7-scriptlet %post", "FAIL");
    assert!(reason.contains("does not require it"), "{reason}");
    assert_status(&out, "el7-scriptlet %pre", "PASS");

    let rpm = s.rpmbuild(&Spec::new("py311").post("/usr/bin/python3.11", "print('hi')"));
    let (code, out, err) = verify(&[&rpm]);
    assert_eq!(code, 1, "{out}{err}");
    let reason = assert_status(&out, "el7-scriptlet %post", "FAIL");
    assert!(
        reason.contains("no CentOS 7 package provides it"),
        "{reason}"
    );
    assert_eq!(out.matches("FAIL  ").count(), 1, "{out}");
}
