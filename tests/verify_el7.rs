//! `verify` on packages shaped where CentOS 7's rpm 4.11.3 and a stricter checker could
//! disagree. Each test says what rpm 4.11.3 does with the shape and where its source decides
//! it (rpm-software-management/rpm@rpm-4.11.3-release, file:function), and asserts that verdict:
//! FAIL only for what 4.11.3 refuses, WARN for what it accepts but a careful publisher would
//! not ship. Shapes come from Debian's rpmbuild 4.18 and rpmsign where they can; the others are
//! assembled from those packages' parts with the rpm crate (support_rpm/parts.rs).

mod support_rpm;

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rpm::IndexData;
use support_rpm::parts::{self, Parts};
use support_rpm::{Gpg, Scratch, Spec, assert_status, require_tool, rpm_k_ok, status_of, verify};

/// Exit code and stdout of `verify FILE`.
fn verdict(rpm: &Path) -> (i32, String) {
    support_rpm::verdict(rpm, &[])
}

/// `tool ARGS` with `data` on stdin: the compressors as a publisher would run them.
fn pipe(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    require_tool(tool);
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// An rpmbuild package with an uncompressed payload (`w.ufdio`), and that payload.
fn uncompressed(s: &Scratch, name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let rpm = s.rpmbuild(&Spec::new(name).payload("w.ufdio"));
    let cpio = Parts::of(&rpm).payload;
    assert!(cpio.starts_with(b"070701"), "rpmbuild wrote no plain cpio");
    (rpm, cpio)
}

/// `base`'s parts with the payload replaced by `payload` (decoding to `plain`) under
/// `compressor`, digests recomputed.
fn repacked(
    s: &Scratch,
    base: &Path,
    name: &str,
    compressor: &str,
    payload: Vec<u8>,
    plain: &[u8],
) -> std::path::PathBuf {
    let mut p = Parts::of(base);
    p.set(
        parts::PAYLOADCOMPRESSOR,
        IndexData::StringTag(compressor.into()),
    );
    p.payload = payload;
    p.payload_digests(plain).redigest();
    p.write(&s.path(name))
}

// rpm 4.11.3 opens the payload as "r." + PAYLOADCOMPRESSOR, "gzip" when the tag is absent
// (lib/rpmte.c rpmtePayload); rpmio/rpmio.c Fdopen gives "gzip" to gzdio, i.e. zlib's gzread,
// and zlib reads data without the gzip magic unchanged (zlib 1.2.7 gzread.c gz_look, CentOS
// 7's zlib). So a plain cpio payload installs on EL7.
#[test]
fn an_uncompressed_payload_without_a_compressor_tag_passes() {
    let s = Scratch::new();
    let (rpm, _) = uncompressed(&s, "plainpay");
    assert!(
        Parts::of(&rpm).get(parts::PAYLOADCOMPRESSOR).is_none(),
        "rpmbuild named a compressor"
    );
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "payload", "PASS");
    assert!(
        reason.contains("uncompressed") && reason.contains("zlib"),
        "{reason}"
    );
    assert_status(&out, "files", "PASS");
    assert_status(&out, "elf /usr/bin/plainpay-elf", "PASS");
    assert!(!out.contains("FAIL") && !out.contains("WARN"), "{out}");
}

// The same payload under a header that says gzip: the same zlib read, so EL7 installs it; the
// wrong label is a warning.
#[test]
fn an_uncompressed_payload_labelled_gzip_passes_with_a_warning() {
    let s = Scratch::new();
    let (base, cpio) = uncompressed(&s, "gzlabel");
    let rpm = repacked(&s, &base, "gzlabel.rpm", "gzip", cpio.clone(), &cpio);
    rpm_k_ok(&rpm);
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "payload", "WARN");
    assert!(
        reason.contains("says gzip but it is not compressed"),
        "{reason}"
    );
    assert_status(&out, "files", "PASS");
    assert_status(&out, "md5", "PASS");
    assert_status(&out, "sha1", "PASS");
    assert_status(&out, "el7-compressor", "PASS");
}

// Compressed payloads read as 4.11.3 reads them:
// - gzip: gzread goes on to the next gzip member and ignores trailing garbage after one
//   (zlib 1.2.7 gzread.c gz_look, "trailing garbage");
// - xz and lzma: both open lzma_auto_decoder(&strm, 100<<20, 0) (rpmio/rpmio.c
//   lzopen_internal), so either format decodes under either name, only the first stream is
//   read (no LZMA_CONCATENATED; lzread stops at LZMA_STREAM_END), and a stream needing more
//   than 100 MiB to decode fails;
// - bzip2: BZ2_bzread reads the first stream only (rpmio/rpmio.c bzdRead), as pbzip2's
//   multi-stream output shows.
// The installer reads the cpio archive to its trailer (lib/fsm.c rpmPackageFilesInstall), so
// an archive cut by the end of the first stream fails to unpack.
#[test]
fn compressed_streams_decode_as_rpm_4_11_reads_them() {
    let s = Scratch::new();
    let (base, cpio) = uncompressed(&s, "streams");
    let (a, b) = cpio.split_at(cpio.len() / 2);
    let two = |tool: &str, args: &[&str]| {
        let mut out = pipe(tool, args, a);
        out.extend(pipe(tool, args, b));
        out
    };
    let mut gzip_members = two("gzip", &["-c"]);
    gzip_members.extend(b"trailing garbage");
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("gzmembers", "gzip", gzip_members, "PASS"),
        ("xzaslzma", "lzma", pipe("xz", &["-c"], &cpio), "PASS"),
        (
            "lzmaasxz",
            "xz",
            pipe("xz", &["-c", "--format=lzma"], &cpio),
            "PASS",
        ),
        ("xzstreams", "xz", two("xz", &["-c"]), "FAIL"),
        ("bzstreams", "bzip2", two("bzip2", &["-c"]), "FAIL"),
        (
            "bigdict",
            "xz",
            pipe("xz", &["-c", "--lzma2=preset=1,dict=192MiB"], &cpio),
            "FAIL",
        ),
    ];
    for (name, compressor, payload, want) in cases {
        let rpm = repacked(
            &s,
            &base,
            &format!("{name}.rpm"),
            compressor,
            payload,
            &cpio,
        );
        let (code, out) = verdict(&rpm);
        let reason = assert_status(&out, "payload", want);
        assert!(reason.starts_with(compressor), "{name}: {reason}");
        if want == "PASS" {
            assert_eq!(code, 0, "{name}: {out}");
            assert_status(&out, "files", "PASS");
        } else {
            assert_eq!(code, 1, "{name}: {out}");
            assert_status(&out, "files", "FAIL");
        }
        if name == "bigdict" {
            assert!(reason.contains("100 MiB"), "{reason}");
        }
    }
}

// A compressor name Fdopen does not match leaves the descriptor as it is (rpmio/rpmio.c
// Fdopen: `if (iof == NULL) return fd;`): plain cpio under any other name installs.
#[test]
fn an_unknown_compressor_over_plain_cpio_warns() {
    let s = Scratch::new();
    let (base, cpio) = uncompressed(&s, "oddname");
    let rpm = repacked(&s, &base, "oddname.rpm", "identity", cpio.clone(), &cpio);
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "el7-compressor", "WARN");
    assert!(reason.contains("no identity reader"), "{reason}");
    let reason = assert_status(&out, "payload", "PASS");
    assert!(reason.contains("plain cpio"), "{reason}");
}

// No MD5 and no SHA1: lib/package.c rpmpkgRead finds no digest or signature to check ("Any
// digests or signatures to check?") and reads the package; lib/rpmchecksig.c
// rpmpkgVerifySigs checks nothing and prints OK. EL7 installs it: warnings, not failures.
#[test]
fn no_md5_and_no_sha1_is_accepted_with_warnings() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("nodigests"));
    let mut p = Parts::of(&base);
    p.remove_sig(parts::SIG_MD5).remove_sig(parts::SIG_SHA1);
    let rpm = p.write(&s.path("nodigests.rpm"));
    rpm_k_ok(&rpm);
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "md5", "WARN");
    assert!(reason.contains("no MD5 and no SHA1"), "{reason}");
    assert_status(&out, "sha1", "WARN");
    assert_status(&out, "sha256", "PASS");
    assert!(!out.contains("FAIL"), "{out}");
}

// Only a header signature (rpmsign's RSA, tag 268), no digests: rpmpkgRead prefers DSA, then
// RSA over any digest (lib/package.c) and `rpm -K` checks what is there
// (lib/rpmchecksig.c rpmpkgVerifySigs). It installs; with the key it verifies.
#[test]
fn a_header_only_signature_without_digests_verifies_with_its_key() {
    let s = Scratch::new();
    let gpg = Gpg::new();
    let signer = gpg.key("Header <header@example.com>", "rsa2048");
    let base = s.rpmbuild(&Spec::new("sigonly"));
    gpg.rpmsign(&base, &signer);
    let key = gpg.export(&signer, &s.path("sigonly.asc"));
    let mut p = Parts::of(&base);
    assert!(
        p.get_sig(parts::SIG_RSA).is_some(),
        "rpmsign wrote no RSA tag"
    );
    p.remove_sig(parts::SIG_MD5)
        .remove_sig(parts::SIG_SHA1)
        .remove_sig(parts::SIG_SHA256);
    let rpm = p.write(&s.path("sigonly.rpm"));

    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    assert_status(&out, "md5", "WARN");
    assert_status(&out, "sha1", "WARN");
    assert!(status_of(&out, "signature").is_none(), "{out}");
    let (code, out, err) = verify(&[&rpm, &OsStr::new("--key"), &key]);
    assert_eq!(code, 0, "{out}{err}");
    let reason = assert_status(&out, "signature", "PASS");
    assert!(reason.contains("RSA"), "{reason}");
}

// What rpm 4.11.3 never compares: SIZE is only logged (lib/signature.c rpmReadSignature →
// printSize); SHA256 (273) and PAYLOADDIGEST (5092) came with rpm 4.14 and 4.11 ignores them
// (`rpm -K` skips unknown tags: lib/rpmchecksig.c rpmpkgVerifySigs `default: continue`);
// PAYLOADSIZE feeds progress only (lib/psm.c rpmpsmStage); file sizes are read from FILESIZES
// only (lib/rpmfi.c rpmfiPopulate), LONGFILESIZES being a tag it knows (lib/rpmtag.h).
#[test]
fn what_rpm_4_11_never_compares_only_warns() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("unchecked"));
    let mut p = Parts::of(&base);
    p.set(
        parts::PAYLOADDIGEST,
        IndexData::StringArray(vec!["00".repeat(32)]),
    );
    let Some(IndexData::Int32(sizes)) = p.get(parts::FILESIZES).cloned() else {
        panic!("no FILESIZES");
    };
    p.remove(parts::FILESIZES).set(
        parts::LONGFILESIZES,
        IndexData::Int64(sizes.into_iter().map(u64::from).collect()),
    );
    p.redigest();
    let Some(IndexData::Int32(size)) = p.get_sig(parts::SIG_SIZE).cloned() else {
        panic!("no SIZE");
    };
    p.set_sig(parts::SIG_SIZE, IndexData::Int32(vec![size[0] + 1]))
        .set_sig(parts::SIG_SHA256, IndexData::StringTag("ab".repeat(32)))
        .set_sig(parts::SIG_PAYLOADSIZE, IndexData::Int32(vec![7]));
    let rpm = p.write(&s.path("unchecked.rpm"));

    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    for check in [
        "size",
        "sha256",
        "payload-digest",
        "payload-size",
        "el7-size-tags",
    ] {
        let reason = assert_status(&out, check, "WARN");
        assert!(reason.contains("rpm 4.11"), "{check}: {reason}");
    }
    for check in ["md5", "sha1", "payload", "files", "payload-digest-alt"] {
        assert_status(&out, check, "PASS");
    }
}

// No files: the installer opens the payload only `if (rpmfiFC(fi) > 0 …)` (lib/psm.c
// rpmpsmStage, PSM_PROCESS), so an empty or unreadable payload installs.
#[test]
fn a_package_without_files_needs_no_readable_payload() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("nofiles").no_files());
    let (code, out) = verdict(&base);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "payload", "PASS");
    assert!(reason.contains("of 0 entries"), "{reason}");
    assert_status(&out, "files", "PASS");

    for (name, payload) in [("empty", &b""[..]), ("junk", &b"not a payload"[..])] {
        let mut p = Parts::of(&base);
        p.payload = payload.to_vec();
        p.payload_digests(payload).redigest();
        let rpm = p.write(&s.path(&format!("nofiles-{name}.rpm")));
        let (code, out) = verdict(&rpm);
        assert_eq!(code, 0, "{name}: {out}");
        let reason = assert_status(&out, "payload", "WARN");
        assert!(
            reason.contains("never reads the payload"),
            "{name}: {reason}"
        );
        assert_status(&out, "files", "PASS");
        assert_status(&out, "md5", "PASS");
    }
}

// rpmbuild 4.18 writes a v3 lead (major 3); lib/rpmlead.c rpmLeadCheck takes major 3 and 4
// with signature type 5 (RPMSIGTYPE_HEADERSIG) and refuses anything else. No digest covers
// the lead.
#[test]
fn leads_are_judged_by_rpm_lead_check() {
    let s = Scratch::new();
    let rpm = s.rpmbuild(&Spec::new("leads"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    assert!(
        assert_status(&out, "lead", "PASS").contains("RPM 3.0 lead"),
        "{out}"
    );
    for (name, at, value, want) in [
        ("v4.rpm", 4, 4, "PASS"),
        ("v2.rpm", 4, 2, "FAIL"),
        ("sigtype.rpm", 79, 1, "FAIL"),
    ] {
        let edited = s.edited(&rpm, name, |b| b[at] = value);
        let (code, out) = verdict(&edited);
        assert_status(&out, "lead", want);
        assert_eq!(code, i32::from(want == "FAIL"), "{name}: {out}");
    }
}

// lib/signature.c rpmReadSignature refuses more than 32 tags or 8192 data bytes ("sigh tags:
// BAD", "sigh data: BAD"); rpm 4.18 reads both.
#[test]
fn a_signature_header_beyond_rpm_4_11s_limits_fails() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("bigsig"));
    let mut p = Parts::of(&base);
    p.set_sig(parts::SIG_RESERVEDSPACE, IndexData::Bin(vec![0; 8200]));
    let rpm = p.write(&s.path("bigdata.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature-header", "FAIL");
    assert!(reason.contains("8192"), "{reason}");

    let mut p = Parts::of(&base);
    for tag in 2000..2030 {
        p.set_sig(tag, IndexData::Int32(vec![tag]));
    }
    let rpm = p.write(&s.path("manytags.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "signature-header", "FAIL");
    assert!(reason.contains("at most 32 tags"), "{reason}");
}

// An algorithm rpm 4.11 does not know (SHA3-256, 12) falls back to MD5 (lib/rpmfi.c
// rpmfiPopulate: "what to do with unknown digest algorithms?"), so every file with data fails
// its digest on install (lib/fsm.c expandRegular).
#[test]
fn a_file_digest_algorithm_rpm_4_11_lacks_fails() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("sha3"));
    let mut p = Parts::of(&base);
    p.set(parts::FILEDIGESTALGO, IndexData::Int32(vec![12]));
    p.redigest();
    let rpm = p.write(&s.path("sha3.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "el7-file-digests", "FAIL");
    assert!(reason.contains("SHA3-256"), "{reason}");
    let reason = assert_status(&out, "files", "WARN");
    assert!(reason.contains("cannot compute"), "{reason}");
}

// The installer takes the header's permission bits (lib/fsm.c fsmMapAttrs, CPIO_MAP_MODE)
// and installs; a digest mismatch aborts it (lib/fsm.c expandRegular, CPIOERR_DIGEST_MISMATCH).
#[test]
fn files_rpm_4_11_installs_anyway_warn_and_bad_digests_fail() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("filemix"));
    let p = Parts::of(&base);
    let Some(IndexData::Int16(modes)) = p.get(parts::FILEMODES).cloned() else {
        panic!("no FILEMODES");
    };
    let script = modes
        .iter()
        .position(|&m| m == 0o100755)
        .expect("a 0755 file");
    let mut modes = modes;
    modes[script] = 0o100700;
    let mut p = Parts::of(&base);
    p.set(parts::FILEMODES, IndexData::Int16(modes)).redigest();
    let rpm = p.write(&s.path("mode.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "files", "WARN");
    assert!(
        reason.contains("in the payload, 0100700 in the header"),
        "{reason}"
    );

    let mut p = Parts::of(&base);
    let Some(IndexData::StringArray(mut digests)) = p.get(parts::FILEDIGESTS).cloned() else {
        panic!("no FILEDIGESTS");
    };
    let conf = digests.iter().position(|d| !d.is_empty()).unwrap();
    digests[conf] = "0".repeat(64);
    p.set(parts::FILEDIGESTS, IndexData::StringArray(digests))
        .redigest();
    let rpm = p.write(&s.path("digest.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "files", "FAIL");
    assert!(reason.contains("the header says 0000"), "{reason}");
}

// lib/transaction.c checkProblems: badArch / badOs (rpmMachineScore, no case) against what
// rpmrc.in's arch_compat reaches from x86_64; other architectures cannot run there at all.
#[test]
fn package_architectures_rpm_4_11_installs_on_x86_64() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("arches"));
    for (arch, os, want) in [
        ("noarch", "linux", "PASS"),
        ("i686", "linux", "PASS"),
        ("AMD64", "Linux", "PASS"),
        ("aarch64", "linux", "FAIL"),
        ("ppc64le", "linux", "FAIL"),
        ("x86_64", "darwin", "FAIL"),
    ] {
        let mut p = Parts::of(&base);
        p.set(parts::ARCH, IndexData::StringTag(arch.into()))
            .set(parts::OS, IndexData::StringTag(os.into()))
            .redigest();
        let rpm = p.write(&s.path(&format!("{arch}-{os}.rpm")));
        let (code, out) = verdict(&rpm);
        let reason = assert_status(&out, "el7-arch", want);
        assert_eq!(code, i32::from(want == "FAIL"), "{arch}/{os}: {out}");
        if want == "FAIL" {
            assert!(
                reason.contains(if os == "darwin" { os } else { arch }),
                "{reason}"
            );
        }
    }
}

// lib/signature.c verifySHA1Digest compares the lowercase hex it computes with the tag as a
// string (`rstreq`): the right digest in uppercase fails on EL7.
#[test]
fn an_uppercase_sha1_fails_as_in_rpm_4_11() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("upsha1"));
    let mut p = Parts::of(&base);
    let Some(IndexData::StringTag(sha1)) = p.get_sig(parts::SIG_SHA1).cloned() else {
        panic!("no SHA1");
    };
    p.set_sig(parts::SIG_SHA1, IndexData::StringTag(sha1.to_uppercase()));
    let rpm = p.write(&s.path("upsha1.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 1, "{out}");
    assert_status(&out, "sha1", "FAIL");
    assert_status(&out, "md5", "PASS");
}

// rpm 4.11 has no rich dependencies: "(a or b)" is a plain name to it. Required, nothing
// provides it and the install stops (lib/depends.c unsatisfiedDepends; tests/verify.rs); as a
// conflict it matches nothing and has no effect. rpmbuild also requires
// rpmlib(RichDependencies), which 4.11 lacks; without that requirement the conflict alone
// installs.
#[test]
fn a_rich_conflict_alone_only_warns() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("richconf").conflicts("(foo or bar)"));
    let (code, out) = verdict(&base);
    assert_eq!(code, 1, "{out}");
    assert_status(&out, "el7-rpmlib", "FAIL");

    let mut p = Parts::of(&base);
    p.remove_require("rpmlib(RichDependencies)").redigest();
    let rpm = p.write(&s.path("richconf.rpm"));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    assert_status(&out, "el7-rpmlib", "PASS");
    let reason = assert_status(&out, "el7-rich-deps", "WARN");
    assert!(reason.contains("Conflicts: (foo or bar)"), "{reason}");
}

// No FILEDIGESTS tag at all: lib/rpmfi.c rpmfiPopulate leaves `fi->digests` NULL when
// headerGet finds none, rpmfiFDigestIndex then gives NULL, and lib/fsm.c expandRegular only
// compares `if (st->st_size > 0 && fidigest)`: rpm 4.11 installs the data unchecked. A warning.
#[test]
fn no_file_digests_at_all_installs_unchecked_with_a_warning() {
    let s = Scratch::new();
    let base = s.rpmbuild(&Spec::new("nodigests"));
    let mut p = Parts::of(&base);
    p.remove(parts::FILEDIGESTS).redigest();
    let rpm = p.write(&s.path("nodigests.rpm"));
    rpm_k_ok(&rpm);
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "files", "WARN");
    assert!(reason.contains("no FILEDIGESTS"), "{reason}");
    assert!(reason.contains("rpm 4.11 installs it anyway"), "{reason}");
}

// rpm 4.11 tells a source package by its header: lib/headerutil.c headerIsSource is "no
// SOURCERPM"; lib/package.c rpmpkgRead adds SOURCEPACKAGE to one with a source lead and gives
// a binary lead without SOURCERPM a "(none)" one. `rpm -i` hands a source package to
// rpmInstallSource (lib/rpminstall.c rpmInstall), which unpacks its spec and sources into
// %_specdir and %_sourcedir (lib/psm.c rpmInstallSourcePackage): no package is installed.
// verify judges binary packages for CentOS 7 machines, so it fails one by policy.
#[test]
fn a_source_package_fails_by_policy_as_rpm_4_11_tells_it() {
    let s = Scratch::new();
    let srpm = s.rpmbuild_source(&Spec::new("srcpkg"));
    let (code, out) = verdict(&srpm);
    assert_eq!(code, 1, "{out}");
    let reason = assert_status(&out, "lead", "FAIL");
    assert!(
        reason.contains("policy") && reason.contains("rpmInstallSource"),
        "{reason}"
    );

    let base = s.rpmbuild(&Spec::new("binlead"));
    let mut p = Parts::of(&base);
    p.remove(parts::SOURCERPM).redigest();
    let (code, out) = verdict(&p.write(&s.path("nosourcerpm.rpm")));
    assert_eq!(code, 0, "{out}");
    assert_status(&out, "lead", "PASS");
    p.set(parts::SOURCEPACKAGE, IndexData::Int32(vec![1]))
        .redigest();
    let (code, out) = verdict(&p.write(&s.path("sourcepackage.rpm")));
    assert_eq!(code, 1, "{out}");
    assert!(assert_status(&out, "lead", "FAIL").contains("source package"));
}

// A file that starts like an ELF but does not read as one is data to rpm 4.11, which installs
// it (nothing in lib/fsm.c looks inside files); verify cannot judge it as a program: a warning.
#[test]
fn an_unreadable_elf_only_warns() {
    let s = Scratch::new();
    let junk = s.path("junk.elf");
    std::fs::write(&junk, b"\x7fELF, cut short").unwrap();
    let rpm = s.rpmbuild(&Spec::new("junkelf").elf(&junk));
    let (code, out) = verdict(&rpm);
    assert_eq!(code, 0, "{out}");
    let reason = assert_status(&out, "elf /usr/bin/junkelf-elf", "WARN");
    assert!(reason.contains("rpm 4.11 installs it"), "{reason}");
}
