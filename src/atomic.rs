//! Files are never half-written: every output goes to a temporary file in the destination's
//! directory, is synced, and is renamed into place.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Write `bytes` to `path` with `mode`, unless `path` already holds exactly them with that
/// mode. Returns whether anything was written.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<bool> {
    let current_mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777);
    if current_mode.is_ok_and(|m| m == mode) && fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).at(tmp.path())?;
    finish(tmp, path, mode)?;
    Ok(true)
}

/// Copy the open file `from` to `to` with `mode`.
pub fn copy(from: &mut File, to: &Path, mode: u32) -> Result<()> {
    let mut tmp = temp_beside(to)?;
    std::io::copy(from, tmp.as_file_mut()).at(tmp.path())?;
    finish(tmp, to, mode)
}

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    fs::create_dir_all(&dir).at(&dir)?;
    tempfile::NamedTempFile::new_in(&dir).at(&dir)
}

fn finish(tmp: tempfile::NamedTempFile, path: &Path, mode: u32) -> Result<()> {
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.sh");
        assert!(write(&path, b"a\n", 0o755).unwrap());
        assert!(!write(&path, b"a\n", 0o755).unwrap());
        assert!(write(&path, b"a\n", 0o644).unwrap());
        assert!(write(&path, b"b\n", 0o644).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"b\n");
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn copies_with_the_mode_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::write(&from, b"payload").unwrap();
        let to = dir.path().join("out/to");
        copy(&mut File::open(&from).unwrap(), &to, 0o755).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"payload");
        assert_eq!(
            fs::metadata(&to).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 1);
    }
}
