//! A sidecar repository as a VM sees it: istio-proxy, istio-sidecar and a package providing
//! the CentOS 7 names they require, all signed by `proxy-rpm sign`, published by
//! `scripts/publish-yum-repo.sh` and served over HTTP on 127.0.0.1; and dnf working on a
//! Debian minbase root (support_root), so the sidecar's scriptlets really run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::support_repo::{Dnf, Gpg, HttpServer, Key, publish, repo_tools, sign};
use crate::support_root::Root;
use crate::support_sidecar::{Inputs, el7_names_rpm};

/// The host tools a published sidecar repository and dnf need.
pub fn tools() -> bool {
    repo_tools(&["curl", "cc"])
}

/// One published version of both packages.
pub struct SidecarRepo {
    pub inputs: Inputs,
    pub dir: TempDir,
    pub gpg: Gpg,
    pub key: Key,
    /// The signed packages: istio-proxy, istio-sidecar, el7-names.
    pub proxy: PathBuf,
    pub sidecar: PathBuf,
    pub names: PathBuf,
    /// The repository directory the server serves.
    pub repo: PathBuf,
    pub server: HttpServer,
}

impl SidecarRepo {
    /// Build, sign and publish `version` with `--sign-key` and `--base-url` of the server.
    pub fn publish(version: &str) -> SidecarRepo {
        let inputs = Inputs::new(version);
        let dir = tempfile::Builder::new()
            .prefix("sidecar-repo-")
            .tempdir()
            .unwrap();
        let gpg = Gpg::new();
        let key = gpg.rsa("vm-repo@localhost");
        let signed = dir.path().join("signed");
        std::fs::create_dir(&signed).unwrap();
        // Signed copies: the unsigned originals stay in the inputs' output directory.
        let copy_signed = |rpm: &Path| {
            let to = signed.join(rpm.file_name().unwrap());
            std::fs::copy(rpm, &to).unwrap();
            sign(&to, &key);
            to
        };
        let proxy = copy_signed(&inputs.proxy());
        let sidecar = copy_signed(&inputs.sidecar(&[]));
        let names = copy_signed(&el7_names_rpm(dir.path()));
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let server = HttpServer::start(&repo, &dir.path().join("http.log"));
        publish(
            &gpg,
            &repo,
            &[&proxy, &sidecar, &names],
            &["--sign-key", &key.fpr, "--base-url", &server.url()],
        );
        SidecarRepo {
            inputs,
            dir,
            gpg,
            key,
            proxy,
            sidecar,
            names,
            repo,
            server,
        }
    }

    /// The .repo file the publish script wrote.
    pub fn repo_file(&self) -> String {
        std::fs::read_to_string(self.repo.join("istio-proxy.repo")).unwrap()
    }

    /// dnf installing into `root` (a support_root copy), with the published .repo file.
    pub fn dnf(&self, root: &Root) -> Dnf {
        let dnf = dnf_for(root);
        dnf.add_repo("istio-proxy", &self.repo_file());
        dnf
    }
}

/// dnf installing into `root`, with no repository yet: its cache beside the root.
pub fn dnf_for(root: &Root) -> Dnf {
    Dnf::at(root.path.clone(), root.path.with_file_name("dnf-cache"))
}
