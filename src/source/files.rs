//! What `prepare` writes besides the tree: Istio's packaging files, our Bazel settings and the
//! `prepare.json` manifest. Every file is written to a temporary name beside it and renamed,
//! and left alone when its content is already right (so a rerun changes nothing).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::IoContext;
use crate::release::IstioVersion;
use crate::{Error, Result};

/// Istio's packaging files, fetched at the release tag into `DIR/files/` under their own names.
pub const PACKAGING_DIR: &str = "tools/packaging/common";
pub const PACKAGING_FILES: &[&str] = &["sidecar.env", "envoy_bootstrap_v2.json"];

/// The C++ options Istio's RPM build added for CentOS 7's devtoolset (see EL7.md).
pub const CXXOPTS: &str =
    "--cxxopt -D_GLIBCXX_USE_CXX11_ABI=1 --cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1";

/// `DIR/prepare.json`: what was prepared, from where, and the hash of each fetched file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: IstioVersion,
    pub proxy_sha: String,
    /// "verified", "built-in" or "override" (see `release::PinSource`).
    pub pin_source: String,
    pub repositories: Repositories,
    /// The commit Istio's release tag points to.
    pub istio_commit: String,
    pub files: Vec<FetchedFile>,
}

/// The URLs actually fetched from (after any `--git-mirror` rewrite).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repositories {
    pub istio: String,
    pub proxy: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedFile {
    /// Path in the Istio repository.
    pub source: String,
    /// Path relative to the work directory.
    pub path: String,
    pub sha256: String,
}

impl Manifest {
    /// The manifest at `path`, or `None` if there is none or it is not ours to trust.
    pub fn load(path: &Path) -> Option<Manifest> {
        let bytes = fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("manifest serializes");
        json.push(b'\n');
        json
    }

    /// True if the files it lists are in `workdir` with the recorded content.
    pub fn files_intact(&self, workdir: &Path) -> bool {
        self.files.len() == PACKAGING_FILES.len()
            && self
                .files
                .iter()
                .all(|f| fs::read(workdir.join(&f.path)).is_ok_and(|b| sha256(&b) == f.sha256))
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The bazelrc the compile stage passes with `--bazelrc`, so that no tracked file is edited.
pub fn bazelrc(version: IstioVersion, pin: &str, status_script: &Path) -> String {
    format!(
        "# Written by proxy-rpm prepare for Istio {version} (istio/proxy {pin}).\n\
         # CentOS 7's devtoolset builds with the old string ABI unless told otherwise.\n\
         build {CXXOPTS}\n\
         # Stamp the pin without running git in the tree (see the script).\n\
         build --workspace_status_command={}\n",
        shell_words::quote(&status_script.to_string_lossy())
    )
}

/// Our workspace-status script: the pin, and "Clean" because the tree is exactly the pin.
pub fn workspace_status(version: IstioVersion, pin: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by proxy-rpm prepare for Istio {version}: Bazel's stamp values.\n\
         echo \"BUILD_SCM_REVISION {pin}\"\n\
         echo \"BUILD_SCM_STATUS Clean\"\n"
    )
}

/// Write `bytes` to `path` through a temporary file in the same directory, unless `path`
/// already holds exactly them with `mode`. Returns whether anything was written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<bool> {
    let current_mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777);
    if current_mode.is_ok_and(|m| m == mode) && fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    let dir = parent(path)?;
    fs::create_dir_all(&dir).at(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).at(&dir)?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(true)
}

fn parent(path: &Path) -> Result<PathBuf> {
    path.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::failed(format!("{} has no parent directory", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.sh");
        assert!(write_atomic(&path, b"a\n", 0o755).unwrap());
        assert!(!write_atomic(&path, b"a\n", 0o755).unwrap());
        assert!(write_atomic(&path, b"a\n", 0o644).unwrap());
        assert!(write_atomic(&path, b"b\n", 0o644).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"b\n");
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn bazel_settings_name_the_pin() {
        let v = IstioVersion::new(1, 6, 14);
        let rc = bazelrc(v, "abc", Path::new("/w/bazel/status.sh"));
        assert!(rc.contains(
            "build --cxxopt -D_GLIBCXX_USE_CXX11_ABI=1 --cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1\n"
        ));
        assert!(rc.contains("build --workspace_status_command=/w/bazel/status.sh\n"));
        let rc = bazelrc(v, "abc", Path::new("/my work/status.sh"));
        assert!(rc.contains("build --workspace_status_command='/my work/status.sh'\n"));
        let script = workspace_status(v, "abc");
        assert!(script.contains("echo \"BUILD_SCM_REVISION abc\"\n"));
        assert!(script.contains("echo \"BUILD_SCM_STATUS Clean\"\n"));
    }
}
