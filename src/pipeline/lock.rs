//! One build per work dir: an advisory lock on `WORKDIR/.lock`, held for the whole run and
//! released by the kernel when the process ends, however it ends (no stale locks after a kill).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Held while a build runs in this work dir.
#[derive(Debug)]
pub struct WorkdirLock {
    _file: File,
    pub path: PathBuf,
}

impl WorkdirLock {
    /// Take the lock, or fail naming the process that holds it.
    pub fn acquire(workdir: &Path) -> Result<WorkdirLock> {
        std::fs::create_dir_all(workdir).at(workdir)?;
        let path = workdir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::input(format!(
                    "{}: another proxy-rpm build (pid {}) is using this work dir; wait for it, \
                     stop it, or pass another --workdir",
                    workdir.display(),
                    if holder.is_empty() { "unknown" } else { holder }
                )));
            }
            Err(TryLockError::Error(e)) => return Err(e).at(&path),
        }
        file.set_len(0).at(&path)?;
        file.seek(SeekFrom::Start(0)).at(&path)?;
        writeln!(file, "{}", std::process::id()).at(&path)?;
        file.flush().at(&path)?;
        Ok(WorkdirLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = WorkdirLock::acquire(dir.path()).unwrap();
        let err = WorkdirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(held);
        WorkdirLock::acquire(dir.path()).unwrap();
    }
}
