//! The integrity checks, recomputed: the sections parse within rpm 4.11's limits, and SIZE, the
//! MD5 (header+payload), SHA1 and SHA256 (header's immutable region) digests and the newer
//! payload digests agree with what the package declares.
//!
//! Only what rpm 4.11.3 itself checks fails (rpm@rpm-4.11.3-release): `rpm -K` checks MD5 and
//! SHA1 and nothing else of these (lib/rpmchecksig.c rpmpkgVerifySigs skips other tags), and
//! installing checks the header by SHA1 or a header signature (lib/package.c rpmpkgRead).
//! SIZE, SHA256, the payload digests and PAYLOADSIZE are never compared there: a mismatch is
//! a warning.

use rpm::{IndexSignatureTag, IndexTag};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::hash::algo_name;
use super::payload::Scan;
use super::read::RpmFile;
use super::report::{Report, Status};

/// rpm 4.11 refuses a signature header of more tags or data bytes than this
/// (lib/signature.c rpmReadSignature: `il > 32`, `dl > 8192`).
const SIG_MAX_TAGS: u64 = 32;
const SIG_MAX_DATA: u64 = 8192;
/// … and a main header beyond these (lib/package.c rpmpkgReadHeader: hdrchkTags, hdrchkData
/// in lib/header_internal.h).
const HEADER_MAX_TAGS: u64 = 0xffff;
const HEADER_MAX_DATA: u64 = 0x00ff_ffff;

/// The lead, signature header and header parsed (or `RpmFile::open` would have failed); say
/// what they hold, what the header's signed region leaves out, and fail a source package.
pub fn structure(rpm: &RpmFile, report: &mut Report) {
    let lead = &rpm.metadata.lead;
    // lib/rpmlead.c rpmLeadCheck refuses these leads.
    if !(3..=4).contains(&lead.major()) {
        report.fail(
            "lead",
            format!("lead format {}: rpm 4.11 reads 3 and 4", lead.major()),
        );
    } else if lead.signature_type() != 5 {
        report.fail(
            "lead",
            format!(
                "lead signature type {}: rpm 4.11 reads only 5 (a header-style signature)",
                lead.signature_type()
            ),
        );
    } else if rpm.is_source() {
        report.fail(
            "lead",
            "a source package: rpm 4.11 reads it but does not install it as a package, it \
             unpacks its sources and spec for rpmbuild (lib/rpminstall.c rpmInstall → \
             rpmInstallSource, lib/psm.c rpmInstallSourcePackage); verify judges binary \
             packages for CentOS 7 machines, so this fails by policy",
        );
    } else {
        report.pass(
            "lead",
            format!(
                "RPM {}.{} lead of a binary package",
                lead.major(),
                lead.minor()
            ),
        );
    }
    let (sig_tags, sig_data) = rpm.sig_counts;
    let sig_entries = rpm.metadata.signature.get_all_entries().map(|e| e.len());
    if sig_tags > SIG_MAX_TAGS || sig_data > SIG_MAX_DATA {
        report.fail(
            "signature-header",
            format!(
                "{sig_tags} tags and {sig_data} data bytes: rpm 4.11 reads at most \
                 {SIG_MAX_TAGS} tags and {SIG_MAX_DATA} bytes (sigh tags/data: BAD)"
            ),
        );
    } else {
        match sig_entries {
            Ok(n) => report.pass(
                "signature-header",
                format!("{n} tags, {} bytes", rpm.header_start - 96),
            ),
            Err(e) => report.fail("signature-header", format!("entries do not read: {e}")),
        }
    }
    let (tags, data) = rpm.header_counts;
    if tags > HEADER_MAX_TAGS || data > HEADER_MAX_DATA {
        report.fail(
            "header",
            format!(
                "{tags} tags and {data} data bytes: rpm 4.11 reads at most {HEADER_MAX_TAGS} \
                 tags and {HEADER_MAX_DATA} bytes (hdr tags/data: BAD)"
            ),
        );
        return;
    }
    match (&rpm.region, rpm.metadata.get_nevra()) {
        // lib/package.c headerVerify: rpm 4.11 reads no header whose region is malformed.
        (Err(e), _) => report.fail("header", format!("rpm 4.11 refuses the header: {e}")),
        (Ok(_), Ok(nevra)) => report.pass(
            "header",
            format!("{nevra}, {} bytes", rpm.header_bytes.len()),
        ),
        (Ok(_), Err(e)) => report.fail("header", format!("no name, version, release or arch: {e}")),
    }
    region(rpm, report);
}

/// What the header SHA1 and header signatures leave out. rpm 4.11 loads entries after the
/// immutable region and lets them replace region entries of the same tag (lib/header.c
/// headerImport, "Dribble entries replace duplicate region entries"); rpm 4.18 refuses such a
/// package ("region 63: tag number mismatch").
fn region(rpm: &RpmFile, report: &mut Report) {
    let tags = |t: &[u32]| t.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    match &rpm.region {
        Err(_) => {}
        Ok(None) => report.warn(
            "header-region",
            "no immutable region: rpm 4.11 reads it as a legacy header, which no digest or \
             header signature covers",
        ),
        Ok(Some(r)) if r.outside.is_empty() => report.pass(
            "header-region",
            format!(
                "all {} entries are in the immutable region the SHA1 and header signatures cover",
                r.entries
            ),
        ),
        Ok(Some(r)) if r.replacing.is_empty() => report.warn(
            "header-region",
            format!(
                "entries after the immutable region, which no digest or signature covers \
                 (tags {}): rpm 4.11 reads them, rpm 4.18 refuses the package",
                tags(&r.outside)
            ),
        ),
        Ok(Some(r)) => report.fail(
            "header-region",
            format!(
                "entries after the immutable region replace signed ones (tags {}): rpm 4.11 \
                 installs the unsigned values, verify judged the signed ones, so this fails by \
                 policy",
                tags(&r.replacing)
            ),
        ),
    }
}

/// SIZE (or LONGSIZE) as the signature header declares it: header plus compressed payload.
pub fn declared_size(rpm: &RpmFile) -> Option<u64> {
    rpm.sig_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .or_else(|| {
            rpm.sig_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .map(u64::from)
        })
}

/// Why the file looks cut short, when it is shorter than SIZE says header and payload are.
pub fn truncation(rpm: &RpmFile) -> Option<String> {
    let size = declared_size(rpm)?;
    let have = rpm.file_size - rpm.header_start;
    (have < size).then(|| {
        format!("truncated: SIZE says header and payload take {size} bytes, the file has {have}")
    })
}

pub fn digests(rpm: &RpmFile, scan: &Scan, report: &mut Report) {
    let actual = rpm.header_bytes.len() as u64 + scan.compressed_size;
    // rpm 4.11 only logs SIZE (lib/signature.c rpmReadSignature → printSize, at debug level).
    match declared_size(rpm) {
        Some(size) if size == actual => report.pass(
            "size",
            format!("header and payload are {size} bytes, as SIZE says"),
        ),
        Some(size) => report.warn(
            "size",
            format!(
                "header and payload are {actual} bytes, SIZE says {size} (rpm 4.11 does not \
                 compare them)"
            ),
        ),
        None => report.warn("size", "no SIZE tag in the signature header"),
    }

    let has_sha1 = rpm.has_sig(IndexSignatureTag::RPMSIGTAG_SHA1);
    match rpm.sig_binary(IndexSignatureTag::RPMSIGTAG_MD5) {
        Some(want) if want == scan.md5.as_slice() => {
            report.pass("md5", "MD5 digest of header+payload matches")
        }
        // `rpm -K` reports "MD5 digest: BAD" and NOT OK; installing never reads MD5 (rpm -i
        // runs with %__vsflags 0xf0000, RPMVSF_NOMD5 among them: macros.in, lib/rpminstall.c).
        Some(want) => report.fail(
            "md5",
            format!(
                "MD5 digest of header+payload is {}, the signature header says {} (`rpm -K` \
                 reports it BAD)",
                hex::encode(&scan.md5),
                hex::encode(want)
            ),
        ),
        None if has_sha1 => report.warn(
            "md5",
            "no MD5 digest: EL7 `rpm -K` will not check the payload",
        ),
        // rpmpkgRead then has no digest to check and reads the package (lib/package.c:
        // "Any digests or signatures to check?"); `rpm -K` checks nothing and says OK.
        None => report.warn(
            "md5",
            "no MD5 and no SHA1 digest: rpm 4.11 installs it with nothing to check, and \
             `rpm -K` checks neither payload nor header",
        ),
    }

    // Installing checks SHA1 when there is no header signature (lib/package.c rpmpkgRead,
    // RPMSIGTAG_SHA1), and `rpm -K` always: a mismatch fails both. Both hash the immutable
    // region (region.rs); without one, rpmpkgRead has no digest context and fails it ("Verify
    // signature: BAD PARAMETERS").
    let want_sha1 = rpm.sig_string(IndexSignatureTag::RPMSIGTAG_SHA1);
    if want_sha1.is_some() && matches!(rpm.region, Ok(None)) {
        report.fail(
            "sha1",
            "a SHA1 digest but no immutable region for rpm 4.11 to compute it over",
        );
    } else {
        let sha1 = hex::encode(Sha1::digest(rpm.signed_header()));
        header_digest(report, "sha1", "SHA1", &sha1, want_sha1, Status::Fail);
    }
    if !has_sha1 {
        report.warn(
            "sha1",
            "no SHA1 header digest: rpm 4.11 checks the header on install by SHA1 or a signature",
        );
    }
    // SHA256 (tag 273) came with rpm 4.14, which hashes the region as 4.11 does SHA1
    // (rpm@rpm-4.14.0-release lib/package.c updateHdrDigests); 4.11 never reads it.
    let sha256 = hex::encode(Sha256::digest(rpm.signed_header()));
    let want256 = rpm.sig_string(IndexSignatureTag::RPMSIGTAG_SHA256);
    header_digest(report, "sha256", "SHA256", &sha256, want256, Status::Warn);
    if want256.is_none() {
        report.pass(
            "sha256",
            "no SHA256 header digest (rpm 4.11 does not use one)",
        );
    }

    payload_digests(rpm, scan, report);
}

fn header_digest(
    report: &mut Report,
    check: &str,
    name: &str,
    actual: &str,
    want: Option<&str>,
    mismatch: Status,
) {
    // rpm 4.11 compares SHA1 as a string with its own lowercase hex (lib/signature.c
    // verifySHA1Digest: `rstreq(SHA1, sig)`); the others it never compares.
    let same = |want: &str| match mismatch {
        Status::Fail => want == actual,
        _ => want.eq_ignore_ascii_case(actual),
    };
    match want {
        Some(want) if same(want) => report.pass(
            check,
            format!("{name} digest of the header's immutable region matches"),
        ),
        Some(want) => {
            let unused = if mismatch == Status::Warn {
                " (rpm 4.11 does not check it; newer rpm does)"
            } else {
                ""
            };
            report.push(
                check,
                mismatch,
                format!(
                    "{name} digest of the header's immutable region is {actual}, the signature header says \
                     {want}{unused}"
                ),
            )
        }
        None => {}
    }
}

fn payload_digests(rpm: &RpmFile, scan: &Scan, report: &mut Report) {
    let first = |tag| rpm.strings(tag).first().map(|s| s.to_string());
    match (first(IndexTag::RPMTAG_PAYLOADSHA256), &scan.payload_digest) {
        (None, _) => report.pass(
            "payload-digest",
            "no payload digest tag (rpm 4.14+; rpm 4.11 does not use one)",
        ),
        (Some(want), Some((algo, actual))) if want.eq_ignore_ascii_case(actual) => report.pass(
            "payload-digest",
            format!(
                "{} digest of the compressed payload matches",
                algo_name(*algo)
            ),
        ),
        // PAYLOADDIGEST (5092) came with rpm 4.14; 4.11 does not know the tag.
        (Some(want), Some((algo, actual))) => report.warn(
            "payload-digest",
            format!(
                "{} digest of the compressed payload is {actual}, the header says {want} (rpm \
                 4.11 does not check it; newer rpm does)",
                algo_name(*algo)
            ),
        ),
        (Some(_), None) => report.warn(
            "payload-digest",
            "the payload digest's algorithm is one verify does not compute",
        ),
    }
    let Some((size, alt)) = &scan.uncompressed else {
        return;
    };
    if let (Some(want), Some(actual)) = (first(IndexTag::RPMTAG_PAYLOADSHA256ALT), alt) {
        if want.eq_ignore_ascii_case(actual) {
            report.pass(
                "payload-digest-alt",
                "digest of the uncompressed payload matches",
            );
        } else {
            report.warn(
                "payload-digest-alt",
                format!(
                    "digest of the uncompressed payload is {actual}, the header says {want} \
                     (rpm 4.11 does not check it)"
                ),
            );
        }
    }
    let declared = rpm
        .sig_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|| {
            rpm.sig_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .map(u64::from)
        });
    match declared {
        Some(want) if want == *size => report.pass(
            "payload-size",
            format!("the uncompressed payload is {size} bytes, as PAYLOADSIZE says"),
        ),
        // rpm 4.11 uses it (as ARCHIVESIZE) for progress only (lib/psm.c rpmpsmStage).
        Some(want) => report.warn(
            "payload-size",
            format!(
                "the uncompressed payload is {size} bytes, PAYLOADSIZE says {want} (rpm 4.11 \
                 uses it for progress only)"
            ),
        ),
        None => {}
    }
}

/// Who owns the files and which are %ghost, for the reader: rpm 4.11 sets owners by these
/// names (lib/fsm.c fsmMapAttrs, root with a warning for a name the system lacks) and
/// creates no %ghost from the payload.
pub fn owners(rpm: &RpmFile, report: &mut Report) {
    let Ok(files) = rpm.files() else {
        return;
    };
    if files.is_empty() {
        report.pass("owners", "no files");
        return;
    }
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &files {
        *counts.entry(format!("{}:{}", f.user, f.group)).or_default() += 1;
    }
    let owners: Vec<String> = counts.iter().map(|(o, n)| format!("{o} ({n})")).collect();
    let ghosts: Vec<String> = files
        .iter()
        .filter(|f| f.is_ghost())
        .map(|f| format!("{} {}:{}", f.path, f.user, f.group))
        .collect();
    let ghosts = if ghosts.is_empty() {
        "no %ghost files".to_string()
    } else {
        format!("%ghost (not in the payload): {}", ghosts.join(", "))
    };
    report.pass("owners", format!("owners {}; {ghosts}", owners.join(", ")));
}
