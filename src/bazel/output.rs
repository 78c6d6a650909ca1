//! Copying Bazel's output out of the output base: `bazel-bin/…` is a symlink to a read-only
//! file that the next build may replace, so the artifact gets its own copy.

use std::fs::{File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::IoContext;
use crate::{Error, Result};

/// Copy `from` (following symlinks) to `to` with mode 0755, atomically: a temp file in the
/// destination directory renamed into place, so `to` is never half written.
pub fn copy_output(from: &Path, to: &Path) -> Result<()> {
    let mut source = File::open(from).map_err(|e| {
        Error::failed(format!(
            "Bazel reported success but left no {}: {e}",
            from.display()
        ))
    })?;
    if !source.metadata().at(from)?.is_file() {
        return Err(Error::failed(format!(
            "{}: not a regular file",
            from.display()
        )));
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
    std::io::copy(&mut source, temp.as_file_mut()).at(temp.path())?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(0o755))
        .at(temp.path())?;
    temp.as_file().sync_all().at(temp.path())?;
    temp.persist(to).map_err(|e| e.error).at(to)?;
    Ok(())
}
