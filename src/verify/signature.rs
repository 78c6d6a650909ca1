//! Signatures as rpm 4.11.3 sees them (rpm@rpm-4.11.3-release). It reads four tags: RSA (268)
//! and DSA (267) sign the header's immutable region, PGP (1002) and GPG (1005) the header and
//! compressed payload as stored. Who reads which:
//! - `rpm -i` checks the header only (%__vsflags 0xf0000 plus RPMVSF_NEEDPAYLOAD, macros.in
//!   and lib/rpminstall.c), by DSA, else RSA, else SHA1 (lib/package.c rpmpkgRead);
//! - yum's gpgcheck reads the package with no flags (yum rpmUtils/miscutils.py checkSig,
//!   `ts.setVSFlags(0)`): rpmpkgRead then takes DSA, RSA, GPG, PGP, first found, and digests
//!   a GPG-signed package only with SHA1 and a PGP-signed one only with MD5 (`fdInitDigest`),
//!   so a header+payload signature by any other hash has no digest context ("Verify
//!   signature: BAD PARAMETERS") and yum refuses the package;
//! - `rpm -K` checks every tag (lib/rpmchecksig.c rpmpkgVerifySigs) with the digests of the
//!   best signature's hash, SHA1 for the header, and MD5 (PGP, MD5) and SHA1 (GPG) for header
//!   and payload.
//!
//! A signature only verifies with a primary key: 4.11's keyring knows keys by their primary
//! key ID. The cryptography is the OpenPGP library's (the one the rpm crate signs with).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use rpm::IndexSignatureTag;

use super::packet::{SigPacket, parse_packet};
use super::read::RpmFile;
use super::report::{Report, Status};
use crate::{Error, Result};

const MD5: u8 = 1;
const SHA1: u8 = 2;

/// One signature tag rpm 4.11 reads.
pub struct Found<'a> {
    pub tag: &'static str,
    /// Over header and payload (PGP, GPG) rather than the header's region (RSA, DSA).
    pub with_payload: bool,
    pub bytes: &'a [u8],
}

/// The signature tags rpm 4.11 reads, in rpmpkgRead's order of preference.
pub fn signatures(rpm: &RpmFile) -> Vec<Found<'_>> {
    [
        ("DSA", IndexSignatureTag::RPMSIGTAG_DSA, false),
        ("RSA", IndexSignatureTag::RPMSIGTAG_RSA, false),
        ("GPG", IndexSignatureTag::RPMSIGTAG_GPG, true),
        ("PGP", IndexSignatureTag::RPMSIGTAG_PGP, true),
    ]
    .into_iter()
    .filter_map(|(tag, id, with_payload)| {
        rpm.sig_binary(id).map(|bytes| Found {
            tag,
            with_payload,
            bytes,
        })
    })
    .collect()
}

/// The `signature` checks, one per tag. Without a key, only what stops EL7 checking a
/// signature is reported (FAIL where rpm 4.11 refuses the package outright, else WARN); with
/// one, every tag must verify with its primary key the way EL7 checks it.
pub fn check(rpm: &RpmFile, key: Option<&Path>, report: &mut Report) -> Result<()> {
    let found = signatures(rpm);
    if found.is_empty() {
        if let Some(key) = key {
            let extra = if rpm.has_sig(IndexSignatureTag::RPMSIGTAG_OPENPGP) {
                " (it has only an rpm 6 OPENPGP signature, which rpm 4.11 ignores)"
            } else {
                ""
            };
            report.fail(
                "signature",
                format!(
                    "no RSA, DSA, PGP or GPG signature for {} to verify{extra}",
                    key.display()
                ),
            );
        }
        return Ok(());
    }
    let packets: Vec<_> = found.iter().map(|f| parse_packet(f.bytes)).collect();
    let best_hash = packets
        .first()
        .and_then(|p| p.as_ref().ok())
        .map(|p| p.hash_algo);
    let public = match key {
        Some(path) => Some(load_key(path)?),
        None => None,
    };
    let missing = if key.is_some() {
        Status::Fail
    } else {
        Status::Warn
    };
    for (i, (sig, packet)) in found.iter().zip(&packets).enumerate() {
        let what = if sig.with_payload {
            format!("the {} (header+payload) signature", sig.tag)
        } else {
            format!("the {} header signature", sig.tag)
        };
        let packet = match packet {
            Ok(p) if p.el7_parses() => p,
            other => {
                let why = match other {
                    Ok(p) => format!("{p}: rpm 4.11 cannot parse {} signatures", p.algorithm()),
                    Err(e) => format!("{what} is not an OpenPGP signature rpm 4.11 reads: {e}"),
                };
                // RSA and DSA are read on every install: rpmpkgRead fails the package
                // ("skipping package … with unverifiable signature"). PGP and GPG only by
                // `rpm -K`, and by yum's gpgcheck when they are all there is.
                if sig.with_payload {
                    report.push(
                        "signature",
                        missing,
                        format!("{why}; `rpm -K` fails on it, installing does not read it"),
                    );
                } else {
                    report.fail(
                        "signature",
                        format!("{why}, so rpm 4.11 refuses to read the package at all"),
                    );
                }
                continue;
            }
        };
        let problems = el7_problems(rpm, &found, best_hash, i, packet);
        let (Some(path), Some(public)) = (key, &public) else {
            if !problems.is_empty() {
                report.warn("signature", format!("{packet}: {}", problems.join("; ")));
            }
            continue;
        };
        let (status, reason) = match verify(rpm, sig, public) {
            Err(_) if made_by_subkey(public, packet) => (
                Status::Fail,
                format!(
                    "{packet} was made by a subkey of {}: rpm 4.11 verifies only primary-key \
                     signatures, so it is unverifiable on EL7",
                    path.display()
                ),
            ),
            Err(e) => (
                Status::Fail,
                format!(
                    "{packet} ({} tag) does not verify with the primary key in {}: {e}",
                    sig.tag,
                    path.display()
                ),
            ),
            Ok(()) if problems.is_empty() => (
                Status::Pass,
                format!(
                    "{packet} ({} tag, {}) verifies with the primary key in {}",
                    sig.tag,
                    if sig.with_payload {
                        "header+payload"
                    } else {
                        "header"
                    },
                    path.display()
                ),
            ),
            Ok(()) => (
                Status::Fail,
                format!(
                    "{packet} verifies with the primary key in {}, but {}",
                    path.display(),
                    problems.join("; ")
                ),
            ),
        };
        report.push("signature", status, reason);
    }
    Ok(())
}

/// Why EL7 cannot check the `i`th signature (in rpmpkgRead's order) even with its key.
fn el7_problems(
    rpm: &RpmFile,
    found: &[Found],
    best_hash: Option<u8>,
    i: usize,
    packet: &SigPacket,
) -> Vec<String> {
    let sig = &found[i];
    let mut problems = Vec::new();
    let md5_tag = rpm.has_sig(IndexSignatureTag::RPMSIGTAG_MD5);
    if !NSS_HASHES.contains(&packet.hash_algo) {
        problems.push(format!(
            "rpm 4.11 computes no {} digest (rpmio/digest_nss.c getHashType knows MD5, MD2, \
             SHA1, SHA224, SHA256, SHA384 and SHA512), so it cannot check this signature",
            packet.hash()
        ));
    } else if let Some(why) = rpm_k_digest(found, best_hash, md5_tag, sig, packet) {
        problems.push(why);
    }
    // yum's pick is the first tag; a header+payload one needs the digest rpmpkgRead started.
    if i == 0 && sig.with_payload && packet.hash_algo != payload_digest(sig.tag) {
        problems.push(format!(
            "yum's gpgcheck digests a {}-signed package only with {} (lib/package.c \
             rpmpkgRead), so it refuses this one",
            sig.tag,
            if sig.tag == "PGP" { "MD5" } else { "SHA1" }
        ));
    }
    problems
}

/// The OpenPGP hash algorithms rpm 4.11's NSS backend has a digest for (rpmio/digest_nss.c
/// getHashType: MD5 1, SHA1 2, MD2 5, SHA256 8, SHA384 9, SHA512 10, SHA224 11); any other
/// gets no digest context, and the signature cannot be checked.
const NSS_HASHES: [u8; 7] = [1, 2, 5, 8, 9, 10, 11];

/// The digest rpmpkgRead starts before reading a package whose best signature is this tag.
fn payload_digest(tag: &str) -> u8 {
    if tag == "PGP" { MD5 } else { SHA1 }
}

/// Why `rpm -K` has no digest context for this signature, if it has none: it computes the
/// best signature's hash over both parts, SHA1 over the header, MD5 over header+payload when
/// there is a PGP or MD5 tag and SHA1 when there is a GPG one.
fn rpm_k_digest(
    found: &[Found],
    best: Option<u8>,
    md5_tag: bool,
    sig: &Found,
    packet: &SigPacket,
) -> Option<String> {
    let hash = packet.hash_algo;
    let has = |tag: &str| found.iter().any(|f| f.tag == tag);
    let computed = Some(hash) == best
        || if sig.with_payload {
            (hash == MD5 && (has("PGP") || md5_tag)) || (hash == SHA1 && has("GPG"))
        } else {
            hash == SHA1
        };
    (!computed).then(|| {
        format!(
            "`rpm -K` computes no {} digest for it beside the best signature's (lib/rpmchecksig.c \
             rpmpkgVerifySigs), so it reports it BAD",
            packet.hash()
        )
    })
}

/// Check one signature with the key file's primary key, over what EL7 hashes for its tag:
/// the immutable region, or the header as stored and the payload, streamed.
fn verify(rpm: &RpmFile, sig: &Found, public: &SignedPublicKey) -> std::result::Result<(), String> {
    let signature = DetachedSignature::from_bytes(sig.bytes).map_err(|e| e.to_string())?;
    let key = &public.primary_key;
    if !sig.with_payload {
        return signature
            .signature
            .verify(key, rpm.signed_header())
            .map_err(|e| e.to_string());
    }
    let payload = File::open(&rpm.path)
        .and_then(|mut f| {
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(rpm.payload_start))?;
            Ok(f)
        })
        .map_err(|e| format!("{}: {e}", rpm.path.display()))?;
    let data = (&rpm.header_bytes[..]).chain(BufReader::with_capacity(64 * 1024, payload));
    signature
        .signature
        .verify(key, data)
        .map_err(|e| e.to_string())
}

/// Whether the packet names a subkey of the key file as its issuer.
fn made_by_subkey(public: &SignedPublicKey, packet: &SigPacket) -> bool {
    public.public_subkeys.iter().any(|sub| {
        let fingerprint = hex::encode(sub.key.fingerprint().as_bytes());
        let key_id = hex::encode(sub.key.legacy_key_id());
        packet.issuer_fingerprint.as_deref() == Some(fingerprint.as_str())
            || packet.issuer_key_id.as_deref() == Some(key_id.as_str())
    })
}

fn load_key(path: &Path) -> Result<SignedPublicKey> {
    let bad = |e: String| {
        Error::input(format!(
            "--key {}: not an ASCII-armored OpenPGP public key ({e}); export one with `gpg \
             --armor --export KEYID`",
            path.display()
        ))
    };
    let armored = std::fs::read_to_string(path)
        .map_err(|e| Error::input(format!("--key {}: {e}", path.display())))?;
    let (public, _) = SignedPublicKey::from_string(&armored).map_err(|e| bad(e.to_string()))?;
    Ok(public)
}
