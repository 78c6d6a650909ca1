//! What `prepare` writes besides the tree: Istio's packaging files, our Bazel settings and the
//! `prepare.json` manifest. They are written with `crate::atomic::write`, which leaves a file
//! alone when its content is already right (so a rerun changes nothing).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::release::IstioVersion;

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

#[cfg(test)]
mod tests {
    use super::*;

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
