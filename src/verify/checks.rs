//! The integrity checks `rpm -K` makes, recomputed: the sections parse, SIZE matches, and the
//! MD5 (header+payload), SHA1 and SHA256 (header) digests and the newer payload digests agree
//! with what the package declares.

use rpm::{IndexSignatureTag, IndexTag};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::hash::algo_name;
use super::payload::Scan;
use super::read::RpmFile;
use super::report::Report;
use crate::{Error, Result};

/// The lead, signature header and header parsed (or `RpmFile::open` would have failed); say
/// what they hold and fail a source package.
pub fn structure(rpm: &RpmFile, report: &mut Report) {
    let lead = &rpm.metadata.lead;
    if rpm.is_source() {
        report.fail(
            "lead",
            "a source package: CentOS 7 installs binary packages",
        );
    } else if !(3..=4).contains(&lead.major()) {
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
    let sig_tags = rpm.metadata.signature.get_all_entries().map(|e| e.len());
    match sig_tags {
        Ok(n) => report.pass(
            "signature-header",
            format!("{n} tags, {} bytes", rpm.header_start - 96),
        ),
        Err(e) => report.fail("signature-header", format!("entries do not read: {e}")),
    }
    match rpm.metadata.get_nevra() {
        Ok(nevra) => report.pass(
            "header",
            format!("{nevra}, {} bytes", rpm.header_bytes.len()),
        ),
        Err(e) => report.fail("header", format!("no name, version, release or arch: {e}")),
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

/// A file shorter than its declared size is truncated: unreadable, not merely failing.
pub fn truncation(rpm: &RpmFile) -> Result<()> {
    if let Some(size) = declared_size(rpm) {
        let have = rpm.file_size - rpm.header_start;
        if have < size {
            return Err(Error::Unreadable {
                path: rpm.path.clone(),
                message: format!(
                    "truncated: SIZE says header and payload take {size} bytes, the file has {have}"
                ),
            });
        }
    }
    Ok(())
}

pub fn digests(rpm: &RpmFile, scan: &Scan, report: &mut Report) {
    let actual = rpm.header_bytes.len() as u64 + scan.compressed_size;
    match declared_size(rpm) {
        Some(size) if size == actual => report.pass(
            "size",
            format!("header and payload are {size} bytes, as SIZE says"),
        ),
        Some(size) => report.fail(
            "size",
            format!("header and payload are {actual} bytes, SIZE says {size}"),
        ),
        None => report.warn("size", "no SIZE tag in the signature header"),
    }

    let has_sha1 = rpm.has_sig(IndexSignatureTag::RPMSIGTAG_SHA1);
    match rpm.sig_binary(IndexSignatureTag::RPMSIGTAG_MD5) {
        Some(want) if want == scan.md5.as_slice() => {
            report.pass("md5", "MD5 digest of header+payload matches")
        }
        Some(want) => report.fail(
            "md5",
            format!(
                "MD5 digest of header+payload is {}, the signature header says {}",
                hex::encode(&scan.md5),
                hex::encode(want)
            ),
        ),
        None if has_sha1 => report.warn(
            "md5",
            "no MD5 digest: EL7 `rpm -K` will not check the payload",
        ),
        None => report.fail(
            "md5",
            "no MD5 and no SHA1 digest: EL7 `rpm -K` will not check the payload, nor the header",
        ),
    }

    let sha1 = hex::encode(Sha1::digest(&rpm.header_bytes));
    header_digest(
        report,
        "sha1",
        "SHA1",
        &sha1,
        rpm.sig_string(IndexSignatureTag::RPMSIGTAG_SHA1),
    );
    if !has_sha1 {
        report.warn(
            "sha1",
            "no SHA1 header digest: rpm 4.11 checks the header on install by SHA1 or a signature",
        );
    }
    let sha256 = hex::encode(Sha256::digest(&rpm.header_bytes));
    let want256 = rpm.sig_string(IndexSignatureTag::RPMSIGTAG_SHA256);
    header_digest(report, "sha256", "SHA256", &sha256, want256);
    if want256.is_none() {
        report.pass(
            "sha256",
            "no SHA256 header digest (rpm 4.11 does not use one)",
        );
    }

    payload_digests(rpm, scan, report);
}

fn header_digest(report: &mut Report, check: &str, name: &str, actual: &str, want: Option<&str>) {
    match want {
        Some(want) if want.eq_ignore_ascii_case(actual) => {
            report.pass(check, format!("{name} digest of the header matches"))
        }
        Some(want) => report.fail(
            check,
            format!("{name} digest of the header is {actual}, the signature header says {want}"),
        ),
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
        (Some(want), Some((algo, actual))) => report.fail(
            "payload-digest",
            format!(
                "{} digest of the compressed payload is {actual}, the header says {want}",
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
            report.fail(
                "payload-digest-alt",
                format!("digest of the uncompressed payload is {actual}, the header says {want}"),
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
        Some(want) => report.fail(
            "payload-size",
            format!("the uncompressed payload is {size} bytes, PAYLOADSIZE says {want}"),
        ),
        None => {}
    }
}
