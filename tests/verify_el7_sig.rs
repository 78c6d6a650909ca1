//! `verify` on signatures and on what they cover, held to what CentOS 7's rpm 4.11.3 and yum
//! 3.4.3 check (rpm-software-management/rpm@rpm-4.11.3-release, file:function; yum's
//! rpmUtils/miscutils.py checkSig). As in verify_el7.rs, each test says what EL7 does with the
//! shape and where its source decides it. Packages come from rpmbuild and rpmsign 4.18
//! (`--rpmv3` writes the v3 header+payload signatures), edited with support_rpm/parts.rs.

mod support_rpm;

use std::process::Command;

use rpm::IndexData;
use support_rpm::parts::{self, Parts};
use support_rpm::{Gpg, Scratch, Spec, all_of, assert_status, rpm_k_with_key, status_of, verdict};

/// The `signature` lines, as (status, reason).
fn signature_lines(out: &str) -> Vec<(&str, &str)> {
    all_of(out, "signature")
}

/// A package rpmsign signed with `--rpmv3` by `digest`, its RSA header signature removed so
/// that the v3 PGP (header+payload) signature is its only one; and the key to check it with.
fn pgp_only(s: &Scratch, gpg: &Gpg, name: &str, digest: Option<&str>) -> (Parts, String) {
    let signer = gpg.key(&format!("{name} <{name}@example.com>"), "rsa2048");
    let key = gpg.export(&signer, &s.path(&format!("{name}.asc")));
    let base = s.rpmbuild(&Spec::new(name));
    gpg.rpmsign_v3(&base, &signer, digest);
    let mut p = Parts::of(&base);
    for tag in [parts::SIG_RSA, parts::SIG_PGP] {
        assert!(
            p.get_sig(tag).is_some(),
            "rpmsign --rpmv3 wrote no tag {tag}"
        );
    }
    p.remove_sig(parts::SIG_RSA);
    (p, key.to_string_lossy().into_owned())
}

// yum's gpgcheck reads the package with no verify flags (checkSig: `ts.setVSFlags(0)`), so
// lib/package.c rpmpkgRead, finding no DSA or RSA tag, takes the PGP one: it starts an MD5
// digest before reading the header (`fdInitDigest(fd, PGPHASHALGO_MD5, 0)`), reads the
// payload to the end and verifies with a copy of it. `rpm -K` verifies it too
// (lib/rpmchecksig.c rpmpkgVerifySigs adds the signature's hash to its payload digests). A
// package signed only so passes `--key`; the same with its header changed does not.
#[test]
fn a_package_signed_only_by_a_v3_pgp_md5_signature_verifies_with_its_key() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let (mut p, key) = pgp_only(&s, &gpg, "pgpmd5", Some("md5"));
    let rpm = p.write(&s.path("pgpmd5.rpm"));
    // rpm 4.18 checks the assembled package's v3 signature with the key too.
    let checked = rpm_k_with_key(s.dir.path(), key.as_ref(), &rpm);
    assert!(
        checked.contains("V4 RSA/MD5 Signature") && !checked.contains("BAD"),
        "{checked}"
    );
    assert!(
        !checked.contains("Header V4"),
        "still an RSA header signature: {checked}"
    );

    let (code, out) = verdict(&rpm, &["--key", &key]);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "signature", "PASS");
    assert!(
        reason.contains("RSA/MD5") && reason.contains("PGP tag, header+payload"),
        "{reason}"
    );
    assert_eq!(signature_lines(&out).len(), 1, "{out}");
    // Without a key there is nothing to say about a signature EL7 can check.
    let (code, out) = verdict(&rpm, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(status_of(&out, "signature").is_none(), "{out}");

    // A changed summary with every digest recomputed: only the signature can tell.
    p.set(
        parts::SUMMARY,
        IndexData::I18NString(vec!["A changed summary".into()]),
    )
    .redigest();
    let tampered = p.write(&s.path("pgpmd5-tampered.rpm"));
    let checked = rpm_k_with_key(s.dir.path(), key.as_ref(), &tampered);
    assert!(
        checked.contains("Signature, key ID") && checked.contains("BAD"),
        "{checked}"
    );
    let (code, out) = verdict(&tampered, &["--key", &key]);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(reason.contains("does not verify"), "{reason}");
    for check in ["md5", "sha1", "files"] {
        assert_status(&out, check, "PASS");
    }
}

// The same with gpg's own choice of hash (SHA512 here) or SHA1: rpmpkgRead has only its MD5
// digest for a PGP tag, so `rpmDigestBundleDupCtx` finds no context for the signature's hash,
// rpmVerifySignature says "BAD PARAMETERS" and yum refuses the package ("Problem opening
// package"); `rpm -K` alone would accept it. Under the GPG tag (1005) rpmpkgRead digests SHA1
// instead (`fdInitDigest(fd, PGPHASHALGO_SHA1, 0)`), so the SHA1 packet passes there.
#[test]
fn a_v3_signature_by_a_hash_rpmpkgread_does_not_start_fails_with_the_key() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let (p, key) = pgp_only(&s, &gpg, "pgpsha", None);
    let rpm = p.write(&s.path("pgpsha.rpm"));
    let (code, out) = verdict(&rpm, &["--key", &key]);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(
        reason.contains("verifies with the primary key") && reason.contains("only with MD5"),
        "{reason}"
    );
    let (code, out) = verdict(&rpm, &[]);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "signature", "WARN");
    assert!(reason.contains("yum's gpgcheck"), "{reason}");

    let (mut p, key) = pgp_only(&s, &gpg, "gpgsha1", Some("sha1"));
    let pgp = p.write(&s.path("pgpsha1.rpm"));
    let (code, out) = verdict(&pgp, &["--key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(assert_status(&out, "signature", "FAIL").contains("only with MD5"));
    let bytes = p.get_sig(parts::SIG_PGP).cloned().unwrap();
    p.remove_sig(parts::SIG_PGP).set_sig(parts::SIG_GPG, bytes);
    let gpg_tag = p.write(&s.path("gpgsha1.rpm"));
    let (code, out) = verdict(&gpg_tag, &["--key", &key]);
    assert_eq!(code, 0, "{out}");
    assert!(assert_status(&out, "signature", "PASS").contains("GPG tag, header+payload"));
}

// rpmsign --rpmv3 as it comes: the RSA header signature and the PGP one, same key and hash.
// rpm -i and yum check the RSA one (rpmpkgRead prefers DSA, then RSA); `rpm -K` checks both,
// each with the best signature's hash (rpmpkgVerifySigs). Both must verify.
#[test]
fn rsa_and_pgp_signatures_from_rpmsign_rpmv3_both_verify() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Both <both@example.com>", "rsa2048");
    let other = gpg.key("Other <other@example.com>", "rsa2048");
    let key = gpg.export(&signer, &s.path("both.asc"));
    let wrong = gpg.export(&other, &s.path("other.asc"));
    let rpm = s.rpmbuild(&Spec::new("both"));
    gpg.rpmsign_v3(&rpm, &signer, None);
    let key = key.to_string_lossy().into_owned();

    let (code, out) = verdict(&rpm, &["--key", &key]);
    assert_eq!(code, 0, "{out}");
    let lines = signature_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|(status, _)| *status == "PASS"), "{out}");
    assert!(
        lines[0].1.contains("RSA tag, header") && lines[1].1.contains("PGP tag, header+payload")
    );

    let (code, out) = verdict(&rpm, &["--key", &wrong.to_string_lossy()]);
    assert_eq!(code, 1, "{out}");
    let lines = signature_lines(&out);
    assert!(lines.iter().all(|(status, _)| *status == "FAIL"), "{out}");
}

// What the SHA1 covers: `rpm_header_magic` and the immutable region (lib/package.c
// rpmpkgRead and lib/rpmchecksig.c readFile hash headerGet(RPMTAG_HEADERIMMUTABLE), which
// lib/header.c copyTdEntry rebuilds from the region's entries and data), not the header as
// stored. An entry after the region (INSTALLTIME, as rpm adds to installed headers) changes
// the stored header but not the SHA1; rpm 4.11 loads it (lib/header.c headerImport, "dribble
// entries"). MD5 covers the header as stored (fdInitDigest before the header is read).
// rpm 4.18 refuses such a header outright ("region 63: tag number mismatch").
#[test]
fn the_sha1_covers_the_immutable_region_only() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("dribble"));
    let mut p = Parts::of(&base);
    p.redigest();
    let header = p.header_with_dribble(parts::INSTALLTIME, 4, 1, &1_700_000_000u32.to_be_bytes());
    let rpm = p.write_with_header(&s.path("dribble.rpm"), &header);

    let (code, out) = verdict(&rpm, &[]);
    assert_eq!(code, 0, "{out}");
    assert_status(&out, "sha1", "PASS");
    assert_status(&out, "sha256", "PASS");
    assert_status(&out, "md5", "PASS");
    let reason = assert_status(&out, "header-region", "WARN");
    assert!(reason.contains("tags 1008"), "{reason}");
    let refused = Command::new("rpm").arg("-qp").arg(&rpm).output().unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("tag number mismatch"),
        "{refused:?}"
    );

    // The SHA1 of the whole stored header is what rpm 4.11 does not compute: BAD there.
    let whole = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&header));
    p.set_sig(parts::SIG_SHA1, IndexData::StringTag(whole));
    let rpm = p.write_with_header(&s.path("dribble-whole.rpm"), &header);
    let (code, out) = verdict(&rpm, &[]);
    assert_eq!(code, 1, "{out}");
    assert_status(&out, "sha1", "FAIL");
}

// An entry after the region with a tag the region has replaces it when rpm 4.11 loads the
// header (headerImport: "Dribble entries replace duplicate region entries"): the SHA1 and any
// header signature still verify, and rpm 4.11 installs a NAME no digest covers. verify read
// the region's, so it fails this by policy.
#[test]
fn an_unsigned_entry_replacing_a_signed_one_fails_by_policy() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("replaced"));
    let mut p = Parts::of(&base);
    p.redigest();
    let header = p.header_with_dribble(parts::NAME, 6, 1, b"other\0");
    let rpm = p.write_with_header(&s.path("replaced.rpm"), &header);
    let (code, out) = verdict(&rpm, &[]);
    assert_eq!(code, 1, "{out}");
    assert_status(&out, "sha1", "PASS");
    let reason = assert_status(&out, "header-region", "FAIL");
    assert!(
        reason.contains("tags 1000") && reason.contains("policy"),
        "{reason}"
    );
}

// rpm 4.11 is built with NSS: rpmio/digest_nss.c getHashType maps MD5, MD2, SHA1, SHA224,
// SHA256, SHA384 and SHA512 and nothing else, so a signature made with RIPEMD160 gets no
// digest context and cannot be checked (rpm -K: BAD). Verify with the key fails it, naming
// the hash.
#[test]
fn a_signature_made_with_a_hash_nss_lacks_fails_with_the_key() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("ripe <ripe@example.com>", "rsa2048");
    let key = gpg.export(&signer, &s.path("ripe.asc"));
    let key = key.to_string_lossy().into_owned();
    // rpmsign 4.18 refuses RIPEMD160 ("Unsupported PGP hash algorithm 3"): gpg signs the
    // header (its whole stored form is its immutable region here) and the parts helper puts
    // the signature in the RSA tag. With SHA256 the same way, it passes: the signature is
    // sound, only its hash is what EL7 lacks.
    let base = s.rpmbuild(&Spec::new("ripe"));
    let signed_by = |digest: &str| {
        let mut p = Parts::of(&base);
        let header = s.path(&format!("header-{digest}"));
        std::fs::write(&header, p.header_bytes()).unwrap();
        let sig = gpg.detach_sign(&signer, &header, digest);
        p.set_sig(parts::SIG_RSA, IndexData::Bin(sig));
        p.write(&s.path(&format!("ripe-{digest}.rpm")))
    };
    let rpm = signed_by("RIPEMD160");
    let (code, out) = verdict(&rpm, &["--key", &key]);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature", "FAIL");
    assert!(
        reason.contains("no RIPEMD160 digest") && reason.contains("getHashType"),
        "{reason}"
    );

    let rpm = signed_by("SHA256");
    let (code, out) = verdict(&rpm, &["--key", &key]);
    assert_eq!(code, 0, "{out}");
    assert_status(&out, "signature", "PASS");
}
