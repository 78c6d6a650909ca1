//! What `prepare` writes besides the tree: Istio's packaging files, our Bazel settings and the
//! `prepare.json` manifest. They are written with `crate::atomic::write`, which leaves a file
//! alone when its content is already right (so a rerun changes nothing).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::release::{IstioVersion, Profile, profile};

/// Where the packaging files go, relative to the work dir. Which files they are (istio-proxy's
/// sidecar.env and bootstrap template, istio-sidecar's start script and systemd unit, packaged
/// unchanged as Istio's deb does) and where Istio keeps them is the release profile's
/// `packaging` (`envoy_bootstrap_v2.json` in 1.6, `envoy_bootstrap.json` in 1.7).
pub const FILES_DIR: &str = "files";

/// `files/NAME`: where prepare puts packaging file `name`, relative to the work dir.
pub fn relative_path(name: &str) -> String {
    format!("{FILES_DIR}/{name}")
}

/// The path in istio/istio of a packaging file of `profile`.
pub fn source_path(profile: &Profile, name: &str) -> String {
    format!("{}/{name}", profile.packaging_dir)
}

/// The C++ options Istio's RPM build added for CentOS 7's devtoolset (see EL7.md): the same two
/// lines of tools/packaging/rpm/proxy/bazelrc at every 1.6 and 1.7 tag of istio/istio.
pub const CXXOPTS: &str =
    "--cxxopt -D_GLIBCXX_USE_CXX11_ABI=1 --cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1";

/// `DIR/prepare.json`: what was prepared, from where, and the hash of each fetched file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: IstioVersion,
    pub proxy_sha: String,
    /// "verified", "built-in" or "override" (see `release::PinSource`).
    pub pin_source: String,
    /// The istio/proxy tree, relative to the work dir; `null` when none was fetched because
    /// nothing compiles (`build --envoy-binary`).
    #[serde(default)]
    pub tree: Option<String>,
    pub repositories: Repositories,
    /// The commit Istio's release tag points to.
    pub istio_commit: String,
    pub files: Vec<FetchedFile>,
}

/// The URLs actually fetched from (after any `--git-mirror` rewrite).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repositories {
    pub istio: String,
    /// `null` when the tree was not fetched.
    pub proxy: Option<String>,
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

    /// True if it lists the packaging files of its release's profile, and they are in
    /// `workdir` with the recorded content.
    pub fn files_intact(&self, workdir: &Path) -> bool {
        let Some(profile) = profile::of(self.version) else {
            return false;
        };
        let listed: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let wanted: Vec<String> = profile
            .file_names()
            .into_iter()
            .map(relative_path)
            .collect();
        listed == wanted
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
