//! Istio's repository at a release tag, read without cloning it: a depth-1 fetch of the tag
//! with `--filter=blob:none` brings only commit and trees; the few files we read are fetched
//! one by one when read (partial clone), so a release costs kilobytes, not Istio's history.

use std::path::{Path, PathBuf};

use crate::source::git::{Network, git};
use crate::{Error, Reporter, Result};

use super::IstioVersion;

/// A fetched release tag in a scratch bare repository.
#[derive(Debug)]
pub struct IstioTag {
    git_dir: PathBuf,
    /// The URL fetched from (after the mirror rewrite).
    pub url: String,
    pub version: IstioVersion,
    /// The commit the tag points to.
    pub commit: String,
    net: Network,
}

impl IstioTag {
    /// Fetch tag `version` of `url` into a new bare repository at `git_dir` (which must not
    /// exist or be empty). `url` is used as given: apply `Network::url` before.
    pub fn fetch(
        git_dir: &Path,
        url: &str,
        version: IstioVersion,
        net: &Network,
        r: &Reporter,
    ) -> Result<Self> {
        crate::preflight::require_git(r)?;
        git(Path::new("."))
            .args(["init", "-q", "--bare"])
            .arg(git_dir)
            .read(r)?;
        git(git_dir)
            .args(["remote", "add", "origin", url])
            .read(r)?;
        // Make the repository a partial clone of origin before fetching with a filter: git
        // 2.17-2.27 refuse `fetch --filter` otherwise, and only 2.28 (git 01bbbbd9da) writes
        // these settings itself. Repository format 1 makes every git read the extension.
        for (key, value) in [
            ("core.repositoryFormatVersion", "1"),
            ("extensions.partialClone", "origin"),
            ("remote.origin.promisor", "true"),
        ] {
            git(git_dir).args(["config", key, value]).read(r)?;
        }
        let tag = version.tag();
        let what = format!("tag {tag}");
        net.retry(&what, url, r, || {
            git(git_dir)
                .args([
                    "fetch",
                    "-q",
                    "--depth",
                    "1",
                    "--filter=blob:none",
                    "--no-tags",
                ])
                .args(["origin", &format!("refs/tags/{tag}")])
                .read(r)
        })?;
        let commit = git(git_dir)
            .args(["rev-parse", "--verify", "FETCH_HEAD^{commit}"])
            .read(r)?;
        Ok(IstioTag {
            git_dir: git_dir.to_path_buf(),
            url: url.to_string(),
            version,
            commit,
            net: net.clone(),
        })
    }

    /// The bytes of `path` at the tag (fetching its blob now).
    pub fn read(&self, path: &str, r: &Reporter) -> Result<Vec<u8>> {
        let spec = format!("{}:{path}", self.commit);
        let oid = git(&self.git_dir)
            .args(["rev-parse", "--verify", "--quiet", &spec])
            .read(r)
            .map_err(|_| {
                Error::failed(format!(
                    "{path} does not exist at tag {} of {}",
                    self.version, self.url
                ))
            })?;
        let what = format!("{path} at tag {}", self.version);
        self.net.retry(&what, &self.url, r, || {
            git(&self.git_dir)
                .args(["cat-file", "blob", &oid])
                .read_bytes(r)
        })
    }
}
