//! Copying Bazel's output out of the output base: `bazel-bin/…` is a symlink to a read-only
//! file that the next build may replace, so the artifact gets its own copy.

use std::fs::File;
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
    crate::atomic::copy(&mut source, to, 0o755)
}
