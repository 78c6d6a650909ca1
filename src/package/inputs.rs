//! From spec + command line to the list of package entries: every input checked (present,
//! regular, under 4 GiB), the Envoy checked against CentOS 7 (x86_64, glibc ≤ 2.17), ELF
//! dependencies read, and times fixed by `SOURCE_DATE_EPOCH` for reproducible output.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{FileRecord, PackageOptions, config_flags};
use crate::elf::{ElfInfo, ElfKind};
use crate::error::{Error, Result};
use crate::report::Reporter;
use crate::spec::{Source, Spec};

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

/// The package entries, sorted by path, and the architecture read from the Envoy ELF.
pub struct Gathered {
    pub files: Vec<FileRecord>,
    pub arch: String,
}

fn input_path(opts: &PackageOptions, source: Source) -> &Path {
    match source {
        Source::Envoy => &opts.envoy,
        Source::SidecarEnv => &opts.sidecar_env,
        Source::Bootstrap => &opts.bootstrap,
    }
}

pub fn gather(
    spec: &Spec,
    opts: &PackageOptions,
    clock: &Clock,
    reporter: &Reporter,
) -> Result<Gathered> {
    let mut files = Vec::new();
    let mut arch = None;
    for dir in &spec.dirs {
        files.push(FileRecord {
            path: dir.path.clone(),
            mode: 0o040000 | u32::from(dir.mode),
            user: dir.user.clone(),
            group: dir.group.clone(),
            size: 0,
            mtime: clock.clamp.unwrap_or(clock.build_time),
            flags: 0,
            digest: String::new(),
            color: 0,
            source: None,
            requires: Vec::new(),
            provides: Vec::new(),
        });
    }
    for file in &spec.files {
        let input = input_path(opts, file.source);
        let meta =
            std::fs::metadata(input).map_err(|e| spec.input_error(file, input, &e.to_string()))?;
        if !meta.is_file() {
            return Err(spec.input_error(file, input, "not a regular file"));
        }
        let size = u32::try_from(meta.len()).map_err(|_| {
            spec.input_error(
                file,
                input,
                "over 4 GiB; CentOS 7 would need rpmlib(LargeFiles), which rpm 4.11 lacks",
            )
        })?;
        let executable = file.mode & 0o111 != 0;
        let elf = ElfInfo::read(input)?;
        if file.source == Source::Envoy {
            arch = Some(check_envoy(
                input,
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
            None => (Vec::new(), Vec::new(), 0),
        };
        files.push(FileRecord {
            path: file.path.clone(),
            mode: 0o100000 | u32::from(file.mode),
            user: file.user.clone(),
            group: file.group.clone(),
            size,
            mtime: clock.mtime(meta.mtime()),
            flags: config_flags(file.config),
            digest: String::new(),
            color,
            source: Some(PathBuf::from(input)),
            requires,
            provides,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let arch = arch.ok_or_else(|| {
        Error::input(format!(
            "{}: the spec packages no file from the envoy input, so the architecture is unknown",
            spec.path.display()
        ))
    })?;
    Ok(Gathered { files, arch })
}

/// The Envoy must be an x86_64 ELF executable that needs nothing above glibc 2.17 (CentOS 7
/// would fail at start with "version `GLIBC_2.18' not found").
fn check_envoy(
    path: &Path,
    elf: Option<&ElfInfo>,
    allow_newer_glibc: bool,
    reporter: &Reporter,
) -> Result<String> {
    let bad = |message: String| Error::Elf {
        path: path.to_path_buf(),
        message,
    };
    let Some(info) = elf else {
        return Err(bad(
            "--envoy is not an ELF file; give the Envoy binary built for CentOS 7".into(),
        ));
    };
    let runnable = info.kind == ElfKind::Executable
        || (info.kind == ElfKind::SharedObject && info.interpreter.is_some());
    if !info.is_x86_64() || !runnable {
        return Err(bad(format!(
            "--envoy is a {}, not an x86_64 ELF executable",
            info.describe()
        )));
    }
    let newer = info.newer_than_el7();
    if !newer.is_empty() {
        let list: Vec<String> = newer.iter().map(ToString::to_string).collect();
        let message = format!(
            "--envoy needs symbol versions CentOS 7 lacks: {}",
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
