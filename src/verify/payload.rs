//! One streaming pass over the payload: the compressed bytes feed the MD5 (header+payload) and
//! the payload digest, the decompressed bytes feed the cpio walk, which compares every entry
//! with the header's file arrays and hands each ELF to the EL7 checks. Nothing is held whole
//! in memory; an ELF is spooled to a temporary file because reading it needs random access.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read, Write};

use rpm::IndexTag;

use super::el7;
use super::hash::{Hasher, HashingReader, algo_name};
use super::read::{HeaderFile, RpmFile, read_up_to};
use super::report::{Check, Status};
use crate::elf::{ElfInfo, is_elf};
use crate::{Error, Result};

const CHUNK: usize = 64 * 1024;
/// At most this many problems are spelled out in the `files` check's reason.
const SHOWN_PROBLEMS: usize = 8;

/// What the pass computed, for the digest checks, and the checks it made itself.
pub struct Scan {
    /// MD5 over header and payload, as RPMSIGTAG_MD5 covers.
    pub md5: Vec<u8>,
    pub compressed_size: u64,
    /// (algorithm, hex) over the compressed payload, when the header carries PAYLOADDIGEST.
    pub payload_digest: Option<(u32, String)>,
    /// Uncompressed size and, when the header carries PAYLOADDIGESTALT, its digest.
    pub uncompressed: Option<(u64, Option<String>)>,
    /// `payload`, `files`, then one `elf` check per ELF file.
    pub checks: Vec<Check>,
}

fn check(name: &str, status: Status, reason: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        subject: None,
        status,
        reason: reason.into(),
    }
}

/// Which decoder reads a compressor's output; `None` when verify has none for it.
enum Codec {
    Xz,
    Lzma,
    Gzip,
    Bzip2,
}

fn codec(name: &str) -> Option<Codec> {
    match name {
        "xz" => Some(Codec::Xz),
        "lzma" => Some(Codec::Lzma),
        "gzip" => Some(Codec::Gzip),
        "bzip2" => Some(Codec::Bzip2),
        _ => None,
    }
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
    let compressor = rpm.compressor().to_string();
    let mut uncompressed = None;

    match codec(&compressor) {
        None => {
            let why = format!("cannot decode a {compressor} payload; its files were not compared");
            checks.push(check("payload", Status::Warn, why));
        }
        Some(codec) => {
            let decoder: Box<dyn Read + '_> = match codec {
                Codec::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(&mut raw)),
                Codec::Lzma => {
                    let stream = liblzma::stream::Stream::new_lzma_decoder(u64::MAX)
                        .map_err(|e| Error::failed(format!("lzma decoder: {e}")))?;
                    Box::new(liblzma::read::XzDecoder::new_stream(&mut raw, stream))
                }
                Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut raw)),
                Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(&mut raw)),
            };
            let alt = rpm
                .has(IndexTag::RPMTAG_PAYLOADSHA256ALT)
                .then(|| Hasher::for_rpm_algo(digest_algo))
                .flatten();
            let mut plain = HashingReader::new(decoder, alt.into_iter().collect());
            let files = rpm.files();
            let outcome = match &files {
                Ok(files) => walk(&mut plain, files, rpm.file_digest_algo()),
                Err(e) => Err(WalkError::Header(e.clone())),
            };
            let drained = plain.drain();
            let size = plain.count;
            let alt_hex = plain.hashers.pop().map(Hasher::finish_hex);
            match (outcome, drained) {
                (Ok(walked), Ok(_)) => {
                    checks.push(check(
                        "payload",
                        Status::Pass,
                        format!(
                            "{compressor} decodes to a {size}-byte cpio archive of {} entries",
                            walked.entries
                        ),
                    ));
                    checks.push(walked.files_check(rpm.file_digest_algo()));
                    checks.extend(walked.elf_checks);
                    uncompressed = Some((size, alt_hex));
                }
                (Ok(walked), Err(e)) => {
                    checks.push(check(
                        "payload",
                        Status::Fail,
                        format!("{compressor} stream fails after the cpio trailer: {e}"),
                    ));
                    checks.push(walked.files_check(rpm.file_digest_algo()));
                    checks.extend(walked.elf_checks);
                }
                (Err(WalkError::Header(e)), _) => {
                    checks.push(check("files", Status::Fail, e));
                }
                (Err(WalkError::Io { entries, error }), _) => {
                    checks.push(check(
                        "payload",
                        Status::Fail,
                        format!(
                            "{compressor} payload does not decode as a cpio archive \
                             (after {entries} entries): {error}"
                        ),
                    ));
                    checks.push(check(
                        "files",
                        Status::Fail,
                        "not compared: the payload could not be read to its end",
                    ));
                }
            }
        }
    }
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
        checks,
    })
}

enum WalkError {
    Header(String),
    Io { entries: usize, error: io::Error },
}

#[derive(Default)]
struct Walked {
    entries: usize,
    problems: Vec<String>,
    elf_checks: Vec<Check>,
    compared: usize,
}

impl Walked {
    fn files_check(&self, algo: u32) -> Check {
        if self.problems.is_empty() {
            return check(
                "files",
                Status::Pass,
                format!(
                    "{} payload files match the header: names, modes, owners named, sizes, link \
                     targets and {} digests",
                    self.compared,
                    algo_name(algo)
                ),
            );
        }
        let mut reason = self
            .problems
            .iter()
            .take(SHOWN_PROBLEMS)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if self.problems.len() > SHOWN_PROBLEMS {
            reason.push_str(&format!(
                "; and {} more",
                self.problems.len() - SHOWN_PROBLEMS
            ));
        }
        check("files", Status::Fail, reason)
    }
}

/// Walk the cpio archive, comparing each entry with the header file it names.
fn walk(
    plain: &mut impl Read,
    files: &[HeaderFile],
    algo: u32,
) -> std::result::Result<Walked, WalkError> {
    let mut walked = Walked::default();
    let by_path: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let mut seen = vec![false; files.len()];
    // Hard links: rpm writes the data with the last link only; the others wait for it (or,
    // from writers that put the data first, find its digest in `hashed`).
    let mut waiting: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut hashed: HashMap<u32, Option<String>> = HashMap::new();
    let io_err = |entries, error| WalkError::Io { entries, error };

    loop {
        let mut entry =
            cpio::NewcReader::new(&mut *plain).map_err(|e| io_err(walked.entries, e))?;
        if entry.entry().is_trailer() {
            entry.finish().map_err(|e| io_err(walked.entries, e))?;
            break;
        }
        walked.entries += 1;
        let (name, mode, size, nlink, ino) = {
            let e = entry.entry();
            (
                e.name().to_string(),
                e.mode(),
                e.file_size(),
                e.nlink(),
                e.ino(),
            )
        };
        let path = payload_path(&name);
        let Some(&index) = by_path.get(path.as_str()) else {
            walked
                .problems
                .push(format!("{path} is in the payload but not in the header"));
            entry.finish().map_err(|e| io_err(walked.entries, e))?;
            continue;
        };
        let want = &files[index];
        if std::mem::replace(&mut seen[index], true) {
            walked
                .problems
                .push(format!("{path} is in the payload twice"));
        }
        walked.compared += 1;
        if want.is_ghost() {
            walked.problems.push(format!(
                "{path} is a %ghost in the header but has payload data"
            ));
        }
        // cpio's uid/gid numbers are the build host's (rpm 4.18 writes 0); rpm installs by the
        // header's names, so those are what must be there.
        if want.user.is_empty() || want.group.is_empty() {
            walked
                .problems
                .push(format!("{path}: the header names no owner user or group"));
        }
        if mode != u32::from(want.mode) {
            walked.problems.push(format!(
                "{path}: mode 0{mode:o} in the payload, 0{:o} in the header",
                want.mode
            ));
        }
        if want.is_regular() && size == 0 && nlink > 1 && want.size > 0 {
            match hashed.get(&ino) {
                Some(digest) => compare_digest(&mut walked, want, digest.as_deref(), algo),
                None => waiting.entry(ino).or_default().push(index),
            }
            entry.finish().map_err(|e| io_err(walked.entries, e))?;
            continue;
        }
        if (want.is_regular() || want.is_symlink()) && u64::from(size) != want.size {
            walked.problems.push(format!(
                "{path}: {size} bytes in the payload, {} in the header",
                want.size
            ));
        }
        if want.is_symlink() {
            let mut target = Vec::new();
            (&mut entry)
                .take(64 * 1024)
                .read_to_end(&mut target)
                .map_err(|e| io_err(walked.entries, e))?;
            let target = String::from_utf8_lossy(&target);
            if target != want.linkto {
                walked.problems.push(format!(
                    "{path}: links to {target} in the payload, {} in the header",
                    want.linkto
                ));
            }
        } else if want.is_regular() {
            let content = read_content(&mut entry, algo).map_err(|e| io_err(walked.entries, e))?;
            let mut links = waiting.remove(&ino).unwrap_or_default();
            links.push(index);
            for i in links {
                compare_digest(&mut walked, &files[i], content.digest.as_deref(), algo);
            }
            if nlink > 1 {
                hashed.insert(ino, content.digest.clone());
            }
            if let Some(elf) = content.elf {
                walked.elf_checks.push(elf_check(&path, elf));
            }
        } else if size != 0 {
            walked.problems.push(format!(
                "{path}: a non-regular file with {size} bytes of payload data"
            ));
        }
        entry.finish().map_err(|e| io_err(walked.entries, e))?;
    }

    for (i, file) in files.iter().enumerate() {
        if !seen[i] && !file.is_ghost() {
            walked.problems.push(format!(
                "{} is in the header but not in the payload",
                file.path
            ));
        }
    }
    for indexes in waiting.values() {
        for &i in indexes {
            walked.problems.push(format!(
                "{}: a hard link whose data never comes in the payload",
                files[i].path
            ));
        }
    }
    Ok(walked)
}

fn compare_digest(walked: &mut Walked, file: &HeaderFile, digest: Option<&str>, algo: u32) {
    if digest == Some(file.digest.to_ascii_lowercase().as_str()) {
        return;
    }
    walked.problems.push(format!(
        "{}: {} of the payload data is {}, the header says {}",
        file.path,
        algo_name(algo),
        digest.unwrap_or("not computable"),
        if file.digest.is_empty() {
            "nothing"
        } else {
            &file.digest
        }
    ));
}

/// rpm's payload names are relative ("./usr/bin/x"); the header's are absolute.
fn payload_path(name: &str) -> String {
    let rest = name.strip_prefix('.').unwrap_or(name);
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

struct Content {
    digest: Option<String>,
    elf: Option<std::result::Result<Option<ElfInfo>, String>>,
}

/// Hash a regular file's data; an ELF is also copied to a temporary file and read.
fn read_content(entry: &mut impl Read, algo: u32) -> io::Result<Content> {
    let mut hasher = Hasher::for_rpm_algo(algo);
    let mut buf = vec![0u8; CHUNK];
    let first = read_up_to(entry, &mut buf[..4])?;
    let mut spool = if is_elf(&buf[..first]) {
        Some(tempfile::NamedTempFile::new()?)
    } else {
        None
    };
    let mut n = first;
    while n > 0 {
        if let Some(h) = &mut hasher {
            h.update(&buf[..n]);
        }
        if let Some(tmp) = &mut spool {
            tmp.write_all(&buf[..n])?;
        }
        n = entry.read(&mut buf)?;
    }
    let elf = match spool {
        None => None,
        Some(mut tmp) => {
            tmp.flush()?;
            Some(ElfInfo::read(tmp.path()).map_err(|e| match e {
                Error::Elf { message, .. } => message,
                other => other.to_string(),
            }))
        }
    };
    Ok(Content {
        digest: hasher.map(Hasher::finish_hex),
        elf,
    })
}

fn elf_check(path: &str, elf: std::result::Result<Option<ElfInfo>, String>) -> Check {
    let (status, reason) = match elf {
        Ok(Some(info)) => el7::elf_verdict(&info),
        Ok(None) => (
            Status::Fail,
            "starts like an ELF but is not one".to_string(),
        ),
        Err(e) => (Status::Fail, format!("unreadable ELF: {e}")),
    };
    Check {
        name: "elf".into(),
        subject: Some(path.to_string()),
        status,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names_become_header_paths() {
        assert_eq!(payload_path("./usr/bin/envoy"), "/usr/bin/envoy");
        assert_eq!(payload_path("/etc/x"), "/etc/x");
        assert_eq!(payload_path("etc/x"), "/etc/x");
    }

    fn header_file(path: &str, mode: u16, data: &[u8]) -> HeaderFile {
        HeaderFile {
            path: path.into(),
            mode,
            size: data.len() as u64,
            user: "root".into(),
            group: "root".into(),
            digest: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)),
            linkto: String::new(),
            flags: 0,
            mtime: 0,
            inode: 1,
            rdev: 0,
        }
    }

    fn archive(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let linked: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(i, &(name, mode, data))| (name, mode, data, i as u32 + 1, 1))
            .collect();
        linked_archive(&linked)
    }

    /// Entries as (name, mode, data, ino, nlink).
    fn linked_archive(entries: &[(&str, u32, &[u8], u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(name, mode, data, ino, nlink) in entries {
            let mut w = cpio::newc::Builder::new(name)
                .ino(ino)
                .mode(mode)
                .nlink(nlink)
                .write(&mut out, data.len() as u32);
            w.write_all(data).unwrap();
            w.finish().unwrap();
        }
        cpio::newc::trailer(&mut out).unwrap();
        out
    }

    #[test]
    fn hard_links_share_the_data_entry_in_either_order() {
        let files = vec![
            header_file("/a", 0o100644, b"shared\n"),
            header_file("/b", 0o100644, b"shared\n"),
        ];
        for order in [["./a", "./b"], ["./b", "./a"]] {
            // rpm's way: empty placeholders first, data with the last link.
            let data = linked_archive(&[
                (order[0], 0o100644, b"", 7, 2),
                (order[1], 0o100644, b"shared\n", 7, 2),
            ]);
            let walked = walk(&mut &data[..], &files, 8).ok().unwrap();
            assert!(walked.problems.is_empty(), "{:?}", walked.problems);
            // Data first, placeholder after.
            let data = linked_archive(&[
                (order[0], 0o100644, b"shared\n", 7, 2),
                (order[1], 0o100644, b"", 7, 2),
            ]);
            let walked = walk(&mut &data[..], &files, 8).ok().unwrap();
            assert!(walked.problems.is_empty(), "{:?}", walked.problems);
        }
        // A placeholder whose data never comes is named.
        let data = linked_archive(&[("./a", 0o100644, b"", 7, 2), ("./b", 0o100644, b"x", 8, 1)]);
        let walked = walk(&mut &data[..], &files, 8).ok().unwrap();
        let all = walked.problems.join("\n");
        assert!(
            all.contains("/a: a hard link whose data never comes"),
            "{all}"
        );
    }

    #[test]
    fn a_matching_archive_has_no_problems() {
        let files = vec![header_file("/etc/a", 0o100644, b"hello\n")];
        let data = archive(&[("./etc/a", 0o100644, b"hello\n")]);
        let walked = walk(&mut &data[..], &files, 8).ok().unwrap();
        assert!(walked.problems.is_empty(), "{:?}", walked.problems);
        assert_eq!(walked.entries, 1);
    }

    #[test]
    fn mismatches_missing_and_extra_files_are_named() {
        let files = vec![
            header_file("/etc/a", 0o100644, b"hello\n"),
            header_file("/etc/missing", 0o100644, b""),
        ];
        let data = archive(&[
            ("./etc/a", 0o100755, b"HELLO\n"),
            ("./etc/extra", 0o100644, b"x"),
        ]);
        let walked = walk(&mut &data[..], &files, 8).ok().unwrap();
        let all = walked.problems.join("\n");
        assert!(
            all.contains("/etc/a: mode 0100755 in the payload, 0100644"),
            "{all}"
        );
        assert!(
            all.contains("/etc/a: SHA256 of the payload data is"),
            "{all}"
        );
        assert!(
            all.contains("/etc/extra is in the payload but not in the header"),
            "{all}"
        );
        assert!(
            all.contains("/etc/missing is in the header but not in the payload"),
            "{all}"
        );
    }
}
