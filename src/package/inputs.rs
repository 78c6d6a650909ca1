//! From spec + command line to the list of package entries: every input checked (present,
//! regular, under 4 GiB), the `elf = true` executables (Envoy, pilot-agent) checked against
//! CentOS 7 (x86_64, glibc ≤ 2.17), ELF and script dependencies read, and times fixed by
//! `SOURCE_DATE_EPOCH` for reproducible output.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::given::flag_for;
use super::{FileRecord, PackageOptions, file_flags};
use crate::elf::{ElfInfo, ElfKind};
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::spec::Spec;

/// Build time, host and the mtime ceiling: fixed when `SOURCE_DATE_EPOCH` is set.
pub struct Clock {
    pub build_time: u32,
    pub build_host: String,
    /// File mtimes are clamped to this (rpm's `%clamp_mtime_to_source_date_epoch`).
    pub clamp: Option<u32>,
}

impl Clock {
    pub fn from_env() -> Result<Clock> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(value) => {
                let epoch: u32 = value.trim().parse().map_err(|_| {
                    Error::input(format!(
                        "SOURCE_DATE_EPOCH={value:?}: must be seconds since 1970 (e.g. $(git log -1 --format=%ct))"
                    ))
                })?;
                Ok(Clock {
                    build_time: epoch,
                    build_host: "localhost".to_string(),
                    clamp: Some(epoch),
                })
            }
            Err(_) => Ok(Clock {
                build_time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or(0),
                build_host: hostname(),
                clamp: None,
            }),
        }
    }

    fn mtime(&self, actual: i64) -> u32 {
        let actual = actual.clamp(0, i64::from(u32::MAX)) as u32;
        match self.clamp {
            Some(max) => actual.min(max),
            None => actual,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The package entries, sorted by path, and the architecture read from the `elf = true` files.
pub struct Gathered {
    pub files: Vec<FileRecord>,
    pub arch: String,
}

pub fn gather(
    spec: &Spec,
    opts: &PackageOptions,
    clock: &Clock,
    reporter: &Reporter,
) -> Result<Gathered> {
    let given = opts.given()?;
    let used = spec.input_names();
    for (name, input) in &given {
        if !used.contains(&name.as_str()) {
            reporter.warn(format!(
                "{}: {} packages nothing from input {name} (its inputs: {}); ignored",
                input.flag,
                spec.path.display(),
                used.join(", ")
            ));
        }
    }
    let build_mtime = clock.clamp.unwrap_or(clock.build_time);
    let mut files = Vec::new();
    let mut arch = None;
    for dir in &spec.dirs {
        files.push(FileRecord {
            path: dir.path.clone(),
            mode: 0o040000 | u32::from(dir.mode),
            user: dir.user.clone(),
            group: dir.group.clone(),
            size: 0,
            mtime: build_mtime,
            flags: 0,
            digest: String::new(),
            color: 0,
            source: None,
            requires: Vec::new(),
            provides: Vec::new(),
        });
    }
    for file in &spec.files {
        let record = FileRecord {
            path: file.path.clone(),
            mode: 0o100000 | u32::from(file.mode),
            user: file.user.clone(),
            group: file.group.clone(),
            size: 0,
            mtime: build_mtime,
            flags: file_flags(file.config, file.ghost),
            digest: String::new(),
            color: 0,
            source: None,
            requires: Vec::new(),
            provides: Vec::new(),
        };
        let Some(name) = &file.source else {
            files.push(record); // a ghost: no content
            continue;
        };
        let input = given.get(name).ok_or_else(|| {
            spec.error_at(
                file.line,
                format!(
                    "{}: source {name} is not given: pass {}",
                    file.path,
                    flag_for(name)
                ),
            )
        })?;
        let source = input.describe(name);
        let path = &input.path;
        let meta = std::fs::metadata(path)
            .map_err(|e| spec.input_error(file, &source, path, &e.to_string()))?;
        if !meta.is_file() {
            return Err(spec.input_error(file, &source, path, "not a regular file"));
        }
        let size = u32::try_from(meta.len()).map_err(|_| {
            spec.input_error(
                file,
                &source,
                path,
                "over 4 GiB; CentOS 7 would need rpmlib(LargeFiles), which rpm 4.11 lacks",
            )
        })?;
        let executable = file.mode & 0o111 != 0;
        let elf = ElfInfo::read(path)?;
        if file.elf {
            // Every one is checked to be x86_64, so they agree.
            arch = Some(check_executable(
                path,
                &input.flag,
                elf.as_ref(),
                opts.allow_newer_glibc,
                reporter,
            )?);
        }
        let (requires, provides, color) = match &elf {
            Some(info) => (
                info.rpm_requires(executable),
                info.rpm_provides(),
                if info.is_64bit { 2 } else { 1 },
            ),
            None if executable => (
                script_interpreter(path)?.into_iter().collect(),
                Vec::new(),
                0,
            ),
            None => (Vec::new(), Vec::new(), 0),
        };
        files.push(FileRecord {
            size,
            mtime: clock.mtime(meta.mtime()),
            color,
            source: Some(path.clone()),
            requires,
            provides,
            ..record
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let arch = arch.ok_or_else(|| {
        Error::input(format!(
            "{}: no file is marked `elf = true`, so the architecture is unknown; mark the \
             package's main executable",
            spec.path.display()
        ))
    })?;
    Ok(Gathered { files, arch })
}

/// What rpmbuild's script dependency generator (fileattrs/script.attr, `exeonly`, running
/// script.req) requires for an executable script: the absolute interpreter of its `#!` line,
/// or the program `#!/usr/bin/env /abs/prog` names (`/bin/bash` for istio-start.sh, as
/// tests/sidecar_package/compare.rs checks against rpmbuild).
fn script_interpreter(path: &Path) -> Result<Option<String>> {
    let mut first = Vec::with_capacity(256);
    let file = std::fs::File::open(path).at(path)?;
    BufReader::new(file.take(4096))
        .read_until(b'\n', &mut first)
        .at(path)?;
    let line = String::from_utf8_lossy(&first);
    let Some(rest) = line.trim_end_matches(['\n', '\r']).strip_prefix("#!") else {
        return Ok(None);
    };
    let mut words = rest.split_whitespace();
    let program = words.next().unwrap_or("");
    let program = if program.ends_with("/bin/env") {
        words.next().unwrap_or("")
    } else {
        program
    };
    Ok(program.starts_with('/').then(|| program.to_string()))
}

/// An `elf = true` input must be an x86_64 ELF executable that needs nothing above glibc 2.17
/// (CentOS 7 would fail at start with "version `GLIBC_2.18' not found"). Returns its arch.
fn check_executable(
    path: &Path,
    flag: &str,
    elf: Option<&ElfInfo>,
    allow_newer_glibc: bool,
    reporter: &Reporter,
) -> Result<String> {
    let bad = |message: String| Error::Elf {
        path: path.to_path_buf(),
        message,
    };
    let Some(info) = elf else {
        return Err(bad(format!(
            "{flag} is not an ELF file; give the binary built for CentOS 7"
        )));
    };
    let runnable = info.kind == ElfKind::Executable
        || (info.kind == ElfKind::SharedObject && info.interpreter.is_some());
    if !info.is_x86_64() || !runnable {
        return Err(bad(format!(
            "{flag} is a {}, not an x86_64 ELF executable",
            info.describe()
        )));
    }
    let newer = info.newer_than_el7();
    if !newer.is_empty() {
        let list: Vec<String> = newer.iter().map(ToString::to_string).collect();
        let message = format!(
            "{flag} needs symbol versions CentOS 7 lacks: {}",
            list.join("; ")
        );
        if !allow_newer_glibc {
            return Err(bad(format!(
                "{message}. Build it in the CentOS 7 builder image (proxy-rpm compile), or pass \
                 --allow-newer-glibc to package it anyway"
            )));
        }
        reporter.warn(format!(
            "{}: {message}; packaging anyway (--allow-newer-glibc): it will not start on CentOS 7",
            path.display()
        ));
    }
    Ok("x86_64".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_interpreters_are_script_reqs() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("#!/bin/bash\necho\n", Some("/bin/bash")),
            ("#! /bin/sh -e\n", Some("/bin/sh")),
            (
                "#!/usr/bin/env /usr/bin/python3\n",
                Some("/usr/bin/python3"),
            ),
            ("#!/usr/bin/env bash\n", None),
            ("#!bash\n", None),
            ("echo no shebang\n", None),
            ("", None),
        ];
        for (i, (text, want)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("s{i}"));
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                script_interpreter(&path).unwrap().as_deref(),
                want,
                "{text:?}"
            );
        }
    }
}
