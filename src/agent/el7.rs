//! The checks a pilot-agent must pass before it is packaged for CentOS 7, the same as Envoy's:
//! an x86_64 executable, and either static (Go without cgo links no C library at all) or
//! needing nothing above glibc 2.17 (a cgo build made on a newer system would fail at start
//! with "version `GLIBC_2.18' not found").

use std::path::Path;

use crate::elf::{ElfInfo, ElfKind};
use crate::{Error, Result};

/// Check `path`; the answer describes what passed ("static x86_64 executable"). A failure is
/// one line naming the binary and, for a too new glibc, the version and a symbol needing it.
pub fn check(path: &Path) -> Result<String> {
    let bad = |message: String| Error::Elf {
        path: path.to_path_buf(),
        message,
    };
    let Some(info) = ElfInfo::read(path)? else {
        return Err(bad(
            "pilot-agent is not an ELF file; give a pilot-agent built for linux/amd64".into(),
        ));
    };
    let runnable = info.kind == ElfKind::Executable
        || (info.kind == ElfKind::SharedObject && info.interpreter.is_some());
    if !info.is_x86_64() || !runnable {
        return Err(bad(format!(
            "pilot-agent is a {}, not an x86_64 executable; build it with GOOS=linux GOARCH=amd64",
            info.describe()
        )));
    }
    if info.interpreter.is_none() && info.needed.is_empty() {
        return Ok("static x86_64 executable".to_string());
    }
    let newer: Vec<String> = info
        .newer_than_el7()
        .iter()
        .map(|n| n.to_string())
        .collect();
    if !newer.is_empty() {
        return Err(bad(format!(
            "pilot-agent needs {}, so it will not start on CentOS 7; build it with \
             CGO_ENABLED=0 (static), as Istio does",
            newer.join("; ")
        )));
    }
    Ok(format!(
        "dynamic x86_64 executable within CentOS 7's glibc 2.17 (needs {})",
        info.needed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_built_here_needs_a_newer_glibc_and_is_refused() {
        let exe = std::env::current_exe().unwrap();
        let err = check(&exe).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: pilot-agent needs GLIBC_2.", exe.display())),
            "{err}"
        );
        assert!(err.contains("(EL7 has up to 2.17), needed by "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn a_script_is_not_an_elf() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("pilot-agent");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = check(&script).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "pilot-agent is not an ELF file; give a pilot-agent built for linux/amd64"
            ),
            "{err}"
        );
    }
}
