//! One streaming pass over the payload: the compressed bytes feed the MD5 (header+payload) and
//! the payload digest, the bytes decoded as rpm 4.11 decodes them (decode.rs) feed the cpio
//! walk (walk.rs), which compares every entry with the header's file arrays and hands each
//! ELF to the EL7 checks. Nothing is held whole in memory.

use std::io::BufReader;

use rpm::IndexTag;

use super::decode::{Codec, Decoder};
use super::hash::{Hasher, HashingReader};
use super::read::RpmFile;
use super::report::Status;
use super::walk::{WalkError, check, walk};
use crate::{Error, Result};

const CHUNK: usize = 64 * 1024;

/// What the pass computed, for the digest checks, and the checks it made itself.
pub struct Scan {
    /// MD5 over header and payload, as RPMSIGTAG_MD5 covers.
    pub md5: Vec<u8>,
    pub compressed_size: u64,
    /// (algorithm, hex) over the compressed payload, when the header carries PAYLOADDIGEST.
    pub payload_digest: Option<(u32, String)>,
    /// Uncompressed size and, when the header carries PAYLOADDIGESTALT, its digest.
    pub uncompressed: Option<(u64, Option<String>)>,
    /// Whether the payload decoded to a cpio archive read to its trailer, as rpm reads it.
    pub decoded: bool,
    /// `payload`, `files`, then one `elf` check per ELF file.
    pub checks: Vec<super::report::Check>,
}

pub fn scan(rpm: &RpmFile) -> Result<Scan> {
    let file = rpm.payload_reader()?;
    let mut md5 = Hasher::for_rpm_algo(1).expect("md5");
    md5.update(&rpm.header_bytes);
    let mut hashers = vec![md5];
    let digest_algo = rpm.u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO).unwrap_or(8);
    let wants_digest = rpm.has(IndexTag::RPMTAG_PAYLOADSHA256);
    if wants_digest && let Some(h) = Hasher::for_rpm_algo(digest_algo) {
        hashers.push(h);
    }
    let mut raw = HashingReader::new(BufReader::with_capacity(CHUNK, file), hashers);
    let mut checks = Vec::new();
    let named = rpm.string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR);
    let compressor = rpm.compressor().to_string();
    let codec = Codec::for_name(&compressor);
    let files = rpm.files();
    let no_files = matches!(&files, Ok(f) if f.is_empty());
    // No FILEDIGESTS at all: nothing to compare the data with (see `walk`).
    let algo = rpm
        .has(IndexTag::RPMTAG_FILEDIGESTS)
        .then(|| rpm.file_digest_algo());
    let mut uncompressed = None;
    let mut decoded = false;

    let decoder = Decoder::new(codec, &mut raw)
        .map_err(|e| Error::failed(format!("payload decoder: {e}")))?;
    let alt = rpm
        .has(IndexTag::RPMTAG_PAYLOADSHA256ALT)
        .then(|| Hasher::for_rpm_algo(digest_algo))
        .flatten();
    let mut plain = HashingReader::new(decoder, alt.into_iter().collect());
    let outcome = match &files {
        Ok(files) => walk(&mut plain, files, algo),
        Err(e) => Err(WalkError::Header(e.clone())),
    };
    let drained = plain.drain();
    let size = plain.count;
    let transparent = plain.get_ref().transparent();
    let how = payload_name(&compressor, named.is_some(), codec, transparent);
    let alt_hex = plain.hashers.pop().map(Hasher::finish_hex);
    // rpm 4.11 never opens the payload of a package without files (lib/psm.c rpmpsmStage,
    // PSM_PROCESS: `if (rpmfiFC(fi) > 0 …)`), so nothing there can stop it installing.
    let unread = if no_files {
        " (the header lists no files, so rpm 4.11 never reads the payload)"
    } else {
        ""
    };
    match (outcome, drained) {
        (Ok(walked), drained) => {
            decoded = true;
            let archive = format!("a {size}-byte cpio archive of {} entries", walked.entries);
            let decodes = if transparent || codec == Codec::Plain {
                format!("{how}: {archive}")
            } else {
                format!("{how} decodes to {archive}")
            };
            let (status, reason) = match &drained {
                // zlib reads it, but the header's label is wrong.
                Ok(_) if transparent && named.is_some() => (
                    Status::Warn,
                    format!("{decodes}; the header says gzip but it is not compressed"),
                ),
                Ok(_) => (Status::Pass, decodes),
                // The installer stops at the cpio trailer (lib/fsm.c rpmPackageFilesInstall).
                Err(e) => (
                    Status::Warn,
                    format!(
                        "{how} fails after the cpio trailer, where rpm 4.11 stops reading: {e}"
                    ),
                ),
            };
            checks.push(check("payload", status, reason));
            checks.push(walked.files_check(algo, no_files));
            checks.extend(walked.elf_checks);
            if drained.is_ok() {
                uncompressed = Some((size, alt_hex));
            }
        }
        (Err(WalkError::Header(e)), _) => {
            checks.push(check("files", Status::Fail, e));
        }
        (Err(WalkError::Io { entries, error }), _) => {
            let status = if no_files { Status::Warn } else { Status::Fail };
            checks.push(check(
                "payload",
                status,
                format!(
                    "{how} does not decode as a cpio archive (after {entries} entries): \
                     {error}{unread}"
                ),
            ));
            if no_files {
                checks.push(check("files", Status::Pass, "the header lists no files"));
            } else {
                checks.push(check(
                    "files",
                    Status::Fail,
                    "not compared: the payload could not be read to its end",
                ));
            }
        }
    }
    drop(plain);
    raw.drain().map_err(|e| Error::Unreadable {
        path: rpm.path.clone(),
        message: e.to_string(),
    })?;
    let compressed_size = raw.count;
    let payload_digest = if wants_digest && raw.hashers.len() == 2 {
        raw.hashers.pop().map(|h| (digest_algo, h.finish_hex()))
    } else {
        None
    };
    let md5 = raw.hashers.pop().expect("md5 hasher").finish();
    Ok(Scan {
        md5,
        compressed_size,
        payload_digest,
        uncompressed,
        decoded,
        checks,
    })
}

/// The payload as rpm 4.11 reads it, for the `payload` check's reason.
fn payload_name(compressor: &str, named: bool, codec: Codec, transparent: bool) -> String {
    match codec {
        Codec::Gzip if transparent => format!(
            "uncompressed payload, read through zlib unchanged as rpm 4.11 reads it{}",
            if named {
                ""
            } else {
                " (no compressor named, so it opens it as gzip)"
            }
        ),
        Codec::Plain => format!(
            "{compressor} payload, which rpm 4.11 reads as plain cpio (it has no {compressor} \
             reader)"
        ),
        Codec::Gzip | Codec::Bzip2 | Codec::Lzma => format!("{compressor} payload"),
    }
}
