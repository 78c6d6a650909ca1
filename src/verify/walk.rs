//! The cpio walk: every payload entry compared with the header file it names, each difference
//! weighed the way rpm 4.11.3's installer weighs it (rpm@rpm-4.11.3-release lib/fsm.c
//! rpmPackageFilesInstall). What makes it abort the install is a failure; what it installs
//! anyway (taking the header's word or the payload's) is a warning.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use super::el7;
use super::hash::{Hasher, algo_name};
use super::read::{HeaderFile, read_up_to};
use super::report::{Check, Status};
use crate::Error;
use crate::elf::{ElfInfo, is_elf};

const CHUNK: usize = 64 * 1024;
/// At most this many problems are spelled out in the `files` check's reason.
const SHOWN_PROBLEMS: usize = 8;

pub fn check(name: &str, status: Status, reason: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        subject: None,
        status,
        reason: reason.into(),
    }
}

pub enum WalkError {
    Header(String),
    Io { entries: usize, error: io::Error },
}

#[derive(Default)]
pub struct Walked {
    pub entries: usize,
    /// (Fail or Warn, what).
    pub problems: Vec<(Status, String)>,
    pub elf_checks: Vec<Check>,
    compared: usize,
}

impl Walked {
    fn fail(&mut self, what: String) {
        self.problems.push((Status::Fail, what));
    }

    fn warn(&mut self, what: String) {
        self.problems.push((Status::Warn, what));
    }

    /// The `files` check; `no_files` when the header lists none, since rpm 4.11 then never
    /// opens the payload (lib/psm.c rpmpsmStage, PSM_PROCESS: `if (rpmfiFC(fi) > 0 …)`).
    /// `algo` is `None` when the header has no FILEDIGESTS (see [`walk`]).
    pub fn files_check(&self, algo: Option<u32>, no_files: bool) -> Check {
        if self.problems.is_empty() {
            return check(
                "files",
                Status::Pass,
                format!(
                    "{} payload files match the header: names, modes, owners named, sizes, link \
                     targets and {} digests",
                    self.compared,
                    algo.map_or("no".to_string(), algo_name)
                ),
            );
        }
        let mut problems: Vec<&(Status, String)> = self.problems.iter().collect();
        problems.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
        let mut status = problems[0].0;
        let mut reason = problems
            .iter()
            .take(SHOWN_PROBLEMS)
            .map(|(_, what)| what.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if problems.len() > SHOWN_PROBLEMS {
            reason.push_str(&format!("; and {} more", problems.len() - SHOWN_PROBLEMS));
        }
        if no_files {
            status = Status::Warn;
            reason.push_str(" (the header lists no files, so rpm 4.11 never reads the payload)");
        } else if status == Status::Warn {
            reason.push_str(" (rpm 4.11 installs it anyway)");
        }
        check("files", status, reason)
    }
}

/// Walk the cpio archive, comparing each entry with the header file it names. `algo` is the
/// header's file digest algorithm, `None` when the header has no FILEDIGESTS at all: rpm 4.11
/// then has no digests to compare (lib/rpmfi.c rpmfiPopulate leaves `fi->digests` NULL, and
/// lib/fsm.c expandRegular compares only when rpmfiFDigestIndex gives one), so the data of such
/// a package installs unchecked: a warning, not a failure.
pub fn walk(
    plain: &mut impl Read,
    files: &[HeaderFile],
    algo: Option<u32>,
) -> std::result::Result<Walked, WalkError> {
    let mut walked = Walked::default();
    let mut unchecked_data = false;
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
            // mapFind finds no header file: CPIOERR_UNMAPPED_FILE ends the install.
            walked.fail(format!("{path} is in the payload but not in the header"));
            entry.finish().map_err(|e| io_err(walked.entries, e))?;
            continue;
        };
        let want = &files[index];
        if std::mem::replace(&mut seen[index], true) {
            // The second copy is mapped to the same file and installed over the first.
            walked.warn(format!("{path} is in the payload twice"));
        }
        walked.compared += 1;
        if want.is_ghost() {
            walked.warn(format!(
                "{path} is a %ghost in the header but has payload data"
            ));
        }
        // cpio's uid/gid numbers are the build host's (rpm 4.18 writes 0); rpm installs by the
        // header's names (fsm.c fsmMapAttrs), root when there is none.
        if want.user.is_empty() || want.group.is_empty() {
            walked.warn(format!("{path}: the header names no owner user or group"));
        }
        // fsmMapAttrs (CPIO_MAP_MODE) installs the header's permission bits on the payload's
        // file type.
        if mode != u32::from(want.mode) {
            walked.warn(format!(
                "{path}: mode 0{mode:o} in the payload, 0{:o} in the header",
                want.mode
            ));
        }
        if want.is_regular() && size == 0 && nlink > 1 && want.size > 0 {
            match (algo, hashed.get(&ino)) {
                (None, _) => {}
                (Some(algo), Some(digest)) => {
                    compare_digest(&mut walked, want, digest.as_deref(), algo, Status::Warn)
                }
                (Some(_), None) => waiting.entry(ino).or_default().push(index),
            }
            entry.finish().map_err(|e| io_err(walked.entries, e))?;
            continue;
        }
        // The installer writes what the cpio entry holds (fsm.c expandRegular reads st_size);
        // a wrong header size only misleads `rpm -V` and the disk space check.
        if (want.is_regular() || want.is_symlink()) && u64::from(size) != want.size {
            walked.warn(format!(
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
            // The link made is the payload's (fsmSymlink on the data read from the archive).
            if target != want.linkto {
                walked.warn(format!(
                    "{path}: links to {target} in the payload, {} in the header",
                    want.linkto
                ));
            }
        } else if want.is_regular() {
            let content = read_content(&mut entry, algo).map_err(|e| io_err(walked.entries, e))?;
            let mut links = waiting.remove(&ino).unwrap_or_default();
            links.push(index);
            unchecked_data |= algo.is_none() && size > 0;
            for i in links.into_iter().filter(|_| algo.is_some()) {
                let severity = if i == index && size > 0 {
                    Status::Fail
                } else {
                    Status::Warn
                };
                // An empty file with no header digest is what rpm itself may write.
                if size == 0 && files[i].digest.is_empty() {
                    continue;
                }
                compare_digest(
                    &mut walked,
                    &files[i],
                    content.digest.as_deref(),
                    algo.unwrap_or_default(),
                    severity,
                );
            }
            if nlink > 1 {
                hashed.insert(ino, content.digest.clone());
            }
            if let Some(elf) = content.elf {
                walked.elf_checks.push(elf_check(&path, elf));
            }
        } else if size != 0 {
            // rpmcpioHeaderRead skips to the entry's end before reading the next header.
            walked.warn(format!(
                "{path}: a non-regular file with {size} bytes of payload data"
            ));
        }
        entry.finish().map_err(|e| io_err(walked.entries, e))?;
    }

    if unchecked_data {
        walked.warn(
            "the header has no FILEDIGESTS: rpm 4.11 installs the file data without comparing it \
             with anything"
                .to_string(),
        );
    }
    for (i, file) in files.iter().enumerate() {
        if !seen[i] && !file.is_ghost() {
            // Nothing in rpmPackageFilesInstall looks for header files the payload never
            // brought: rpm 4.11 installs without them and `rpm -V` reports them missing.
            walked.warn(format!(
                "{} is in the header but not in the payload",
                file.path
            ));
        }
    }
    for indexes in waiting.values() {
        for &i in indexes {
            // checkHardLinks: CPIOERR_MISSING_HARDLINK ends the install.
            walked.fail(format!(
                "{}: a hard link whose data never comes in the payload",
                files[i].path
            ));
        }
    }
    Ok(walked)
}

/// A header digest against the payload data's. fsm.c expandRegular compares only the entry
/// that carries the data, and only when it has some (st_size > 0), aborting on a mismatch
/// (CPIOERR_DIGEST_MISMATCH); an empty header digest counts as zeros (rpmfi.c rpmfiPopulate),
/// so it mismatches too. The other names of a hard link are not compared: `severity` says
/// which case this is.
fn compare_digest(
    walked: &mut Walked,
    file: &HeaderFile,
    digest: Option<&str>,
    algo: u32,
    severity: Status,
) {
    let Some(digest) = digest else {
        walked.warn(format!(
            "{}: verify cannot compute {} digests, so the data was not compared",
            file.path,
            algo_name(algo)
        ));
        return;
    };
    if digest == file.digest.to_ascii_lowercase() {
        return;
    }
    walked.problems.push((
        severity,
        format!(
            "{}: {} of the payload data is {digest}, the header says {}",
            file.path,
            algo_name(algo),
            if file.digest.is_empty() {
                "nothing"
            } else {
                &file.digest
            }
        ),
    ));
}

/// rpm's payload names are relative ("./usr/bin/x"); the header's are absolute.
pub fn payload_path(name: &str) -> String {
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
fn read_content(entry: &mut impl Read, algo: Option<u32>) -> io::Result<Content> {
    let mut hasher = algo.and_then(Hasher::for_rpm_algo);
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
    // rpm 4.11 installs any data; what verify cannot read it cannot judge as a program.
    let unjudged = "rpm 4.11 installs it, verify cannot tell whether it runs on EL7";
    let (status, reason) = match elf {
        Ok(Some(info)) => el7::elf_verdict(&info),
        Ok(None) => (
            Status::Warn,
            format!("starts like an ELF but is not one: {unjudged}"),
        ),
        Err(e) => (Status::Warn, format!("unreadable ELF ({e}): {unjudged}")),
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

    fn problems(walked: &Walked, status: Status) -> String {
        walked
            .problems
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, p)| p.as_str())
            .collect::<Vec<_>>()
            .join("\n")
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
            let walked = walk(&mut &data[..], &files, Some(8)).ok().unwrap();
            assert!(walked.problems.is_empty(), "{:?}", walked.problems);
            // Data first, placeholder after.
            let data = linked_archive(&[
                (order[0], 0o100644, b"shared\n", 7, 2),
                (order[1], 0o100644, b"", 7, 2),
            ]);
            let walked = walk(&mut &data[..], &files, Some(8)).ok().unwrap();
            assert!(walked.problems.is_empty(), "{:?}", walked.problems);
        }
        // A placeholder whose data never comes fails, as checkHardLinks does.
        let data = linked_archive(&[("./a", 0o100644, b"", 7, 2), ("./b", 0o100644, b"x", 8, 1)]);
        let walked = walk(&mut &data[..], &files, Some(8)).ok().unwrap();
        let fails = problems(&walked, Status::Fail);
        assert!(
            fails.contains("/a: a hard link whose data never comes"),
            "{fails}"
        );
    }

    #[test]
    fn a_matching_archive_has_no_problems() {
        let files = vec![header_file("/etc/a", 0o100644, b"hello\n")];
        let data = archive(&[("./etc/a", 0o100644, b"hello\n")]);
        let walked = walk(&mut &data[..], &files, Some(8)).ok().unwrap();
        assert!(walked.problems.is_empty(), "{:?}", walked.problems);
        assert_eq!(walked.entries, 1);
        assert_eq!(walked.files_check(Some(8), false).status, Status::Pass);
    }

    #[test]
    fn what_rpm_4_11_refuses_fails_and_what_it_installs_warns() {
        let files = vec![
            header_file("/etc/a", 0o100644, b"hello\n"),
            header_file("/etc/missing", 0o100644, b""),
            header_file("/etc/mode", 0o100644, b"m"),
        ];
        let data = archive(&[
            ("./etc/a", 0o100644, b"HELLO\n"),
            ("./etc/extra", 0o100644, b"x"),
            ("./etc/mode", 0o100755, b"m"),
        ]);
        let walked = walk(&mut &data[..], &files, Some(8)).ok().unwrap();
        let fails = problems(&walked, Status::Fail);
        assert!(
            fails.contains("/etc/a: SHA256 of the payload data is"),
            "{fails}"
        );
        assert!(
            fails.contains("/etc/extra is in the payload but not in the header"),
            "{fails}"
        );
        let warns = problems(&walked, Status::Warn);
        assert!(
            warns.contains("/etc/mode: mode 0100755 in the payload, 0100644"),
            "{warns}"
        );
        assert!(
            warns.contains("/etc/missing is in the header but not in the payload"),
            "{warns}"
        );
        let files_check = walked.files_check(Some(8), false);
        assert_eq!(files_check.status, Status::Fail);
        // Failures are named first.
        assert!(
            files_check.reason.starts_with("/etc/"),
            "{}",
            files_check.reason
        );
        assert!(
            !files_check.reason.starts_with("/etc/mode"),
            "{}",
            files_check.reason
        );
        // Without header files rpm 4.11 never reads the payload: nothing fails.
        assert_eq!(walked.files_check(Some(8), true).status, Status::Warn);

        let only_warnings = archive(&[
            ("./etc/a", 0o100600, b"hello\n"),
            ("./etc/mode", 0o100644, b"m"),
        ]);
        let walked = walk(&mut &only_warnings[..], &files, Some(8)).ok().unwrap();
        let check = walked.files_check(Some(8), false);
        assert_eq!(check.status, Status::Warn, "{}", check.reason);
        assert!(
            check.reason.contains("installs it anyway"),
            "{}",
            check.reason
        );
    }

    #[test]
    fn empty_files_are_not_digest_checked() {
        let mut empty = header_file("/etc/empty", 0o100644, b"");
        empty.digest = String::new();
        let data = archive(&[("./etc/empty", 0o100644, b"")]);
        let walked = walk(&mut &data[..], &[empty.clone()], Some(8))
            .ok()
            .unwrap();
        assert!(walked.problems.is_empty(), "{:?}", walked.problems);
        // Data where the header has no digest: rpm compares with zeros and fails.
        empty.size = 1;
        let data = archive(&[("./etc/empty", 0o100644, b"x")]);
        let walked = walk(&mut &data[..], &[empty], Some(8)).ok().unwrap();
        assert!(problems(&walked, Status::Fail).contains("the header says nothing"));
    }
}
