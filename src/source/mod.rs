//! The work directory a build starts from: istio/proxy at the pinned commit, Istio's packaging
//! files at the release tag, and the Bazel settings Istio's RPM build added, without editing a
//! tracked file of the tree (so `git status` stays clean and the stamp says "Clean").
//!
//! Layout of `DIR`: `src/istio-proxy/` (the tree), `files/` (Istio's files), `bazel/` (our
//! bazelrc and workspace-status script), `logs/prepare.log`, `prepare.json` (the manifest).
//! A build that packages a given Envoy compiles nothing, so it skips the tree: then only
//! Istio's packaging files are fetched, and istio/proxy is never contacted.

pub mod files;
pub mod git;
mod tree;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::IoContext;
use crate::release::{self, IstioTag, Pin, Profile, ResolveFlags};
use crate::{Reporter, Result};

pub use files::{FetchedFile, Manifest, Repositories};
pub use git::{Network, NetworkArgs};
pub use tree::{Checkout, TreeAction, checkout};

pub const DEFAULT_PROXY_REPO: &str = "https://github.com/istio/proxy";
/// Where the istio/proxy tree goes, relative to the work dir.
pub const TREE_DIR: &str = "src/istio-proxy";

#[derive(clap::Args, Debug)]
pub struct PrepareArgs {
    #[arg(help = release::version_help())]
    pub version: String,
    /// Work directory (created if missing); the tree goes to DIR/src/istio-proxy.
    #[arg(long, value_name = "DIR")]
    pub workdir: PathBuf,
    /// Replace a tree at another commit, or discard local changes in it.
    #[arg(long)]
    pub force: bool,
    /// istio/proxy repository to fetch the pinned commit from.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PROXY_REPO)]
    pub proxy_repo: String,
    #[command(flatten)]
    pub resolve: ResolveFlags,
}

/// What `prepare` needs, without clap. The version and commit come from the `Pin`.
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub workdir: PathBuf,
    /// Fetch the istio/proxy tree; false when nothing will compile (`build --envoy-binary`).
    pub fetch_tree: bool,
    pub force: bool,
    /// Before the mirror rewrite.
    pub proxy_repo: String,
    /// Before the mirror rewrite; the packaging files are read from it at the release tag.
    pub istio_repo: String,
    pub net: Network,
    /// Where git's output goes; `DIR/logs/prepare.log` if unset.
    pub log: Option<PathBuf>,
}

impl PrepareOptions {
    /// Defaults: GitHub's repositories, no `--force`.
    pub fn new(workdir: impl Into<PathBuf>) -> Self {
        PrepareOptions {
            workdir: workdir.into(),
            fetch_tree: true,
            force: false,
            proxy_repo: DEFAULT_PROXY_REPO.to_string(),
            istio_repo: release::DEFAULT_ISTIO_REPO.to_string(),
            net: Network::default(),
            log: None,
        }
    }
}

/// A prepared work directory; all paths are absolute.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub workdir: PathBuf,
    /// istio/proxy at the pin: the Bazel workspace.
    pub tree: PathBuf,
    /// What prepare did to the tree; `None` when it was not fetched (`fetch_tree` false).
    pub tree_action: Option<TreeAction>,
    /// Istio's packaging files, under their names at the tag (the release profile's).
    pub files_dir: PathBuf,
    pub sidecar_env: PathBuf,
    /// `envoy_bootstrap_v2.json` (1.6) or `envoy_bootstrap.json` (1.7): the profile says.
    pub envoy_bootstrap: PathBuf,
    pub files_fetched: bool,
    /// To pass with `bazel --bazelrc=…` (cxxopts and our workspace-status command).
    pub bazelrc: PathBuf,
    pub workspace_status: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// Where `prepare` writes the bazelrc the compile stage passes with `--bazelrc`.
pub fn bazelrc_path(workdir: &Path) -> PathBuf {
    workdir.join("bazel").join("proxy-rpm.bazelrc")
}

/// The stage: make `opts.workdir` hold everything the compile and package stages need for `pin`.
pub fn prepare(opts: &PrepareOptions, pin: &Pin, r: &Reporter) -> Result<Prepared> {
    let (profile, _) = release::lookup(pin.version)?;
    crate::preflight::require_git(r)?; // before anything is written
    fs::create_dir_all(&opts.workdir).at(&opts.workdir)?;
    let workdir = fs::canonicalize(&opts.workdir).at(&opts.workdir)?;
    let tree_path = workdir.join(TREE_DIR);
    let files_dir = workdir.join(files::FILES_DIR);
    let bazel_dir = workdir.join("bazel");
    let manifest_path = workdir.join("prepare.json");
    let log = opts
        .log
        .clone()
        .unwrap_or_else(|| workdir.join("logs").join("prepare.log"));
    let previous = Manifest::load(&manifest_path);
    let sha = &pin.proxy_sha;

    let (tree_action, proxy_used) = if opts.fetch_tree {
        let proxy_url = opts.net.url(&opts.proxy_repo);
        let step = r.step(&format!("istio/proxy {}", short(sha)));
        let action = tree::ensure(&tree_path, &proxy_url, sha, opts.force, &opts.net, &log, r)?;
        step.finish(action.done());
        let used = git::git(&tree_path)
            .args(["remote", "get-url", "origin"])
            .read(r)
            .unwrap_or(proxy_url);
        (Some(action), Some(used))
    } else {
        r.info(format!(
            "istio/proxy {}: not fetched (a given Envoy: nothing to compile)",
            short(sha)
        ));
        (None, None)
    };

    let reusable = previous
        .filter(|m| m.version == pin.version && m.files_intact(&workdir))
        .map(|m| (m.repositories.istio, m.istio_commit, m.files));
    let files_fetched = reusable.is_none();
    let (istio_used, istio_commit, fetched) = match reusable {
        Some(previous) => previous,
        None => {
            let step = r.step(&format!("Istio {} packaging files", pin.version));
            let fetched = fetch_packaging_files(opts, pin, profile, &workdir, &files_dir, r)?;
            step.finish("fetched");
            fetched
        }
    };

    let workspace_status = bazel_dir.join("workspace-status.sh");
    let bazelrc = bazelrc_path(&workdir);
    crate::atomic::write(
        &workspace_status,
        files::workspace_status(pin.version, sha).as_bytes(),
        0o755,
    )?;
    crate::atomic::write(
        &bazelrc,
        files::bazelrc(pin.version, sha, &workspace_status).as_bytes(),
        0o644,
    )?;

    let manifest = Manifest {
        version: pin.version,
        proxy_sha: sha.clone(),
        pin_source: pin.source.name().to_string(),
        tree: tree_action.map(|_| TREE_DIR.to_string()),
        repositories: Repositories {
            istio: istio_used,
            proxy: proxy_used,
        },
        istio_commit,
        files: fetched,
    };
    crate::atomic::write(&manifest_path, &manifest.to_json(), 0o644)?;

    Ok(Prepared {
        sidecar_env: files_dir.join(&profile.file("sidecar-env").name),
        envoy_bootstrap: files_dir.join(&profile.file("bootstrap").name),
        workdir,
        tree: tree_path,
        tree_action,
        files_dir,
        files_fetched,
        bazelrc,
        workspace_status,
        manifest_path,
        manifest,
    })
}

/// Read the packaging files of `profile` at the release tag (all of them before writing any),
/// then write them into `files_dir`. Returns the URL used, the tag's commit and the manifest
/// entries.
fn fetch_packaging_files(
    opts: &PrepareOptions,
    pin: &Pin,
    profile: &Profile,
    workdir: &Path,
    files_dir: &Path,
    r: &Reporter,
) -> Result<(String, String, Vec<FetchedFile>)> {
    let url = opts.net.url(&opts.istio_repo);
    let scratch = tempfile::Builder::new()
        .prefix(".istio-")
        .tempdir_in(workdir)
        .at(workdir)?;
    let tag = IstioTag::fetch(
        &scratch.path().join("istio.git"),
        &url,
        pin.version,
        &opts.net,
        r,
    )?;
    let mut contents = Vec::new();
    for name in profile.file_names() {
        let source = files::source_path(profile, name);
        let bytes = tag.read(&source, r)?;
        contents.push((source, name, bytes));
    }
    let mut fetched = Vec::new();
    for (source, name, bytes) in contents {
        crate::atomic::write(&files_dir.join(name), &bytes, 0o644)?;
        fetched.push(FetchedFile {
            source,
            path: files::relative_path(name),
            sha256: files::sha256(&bytes),
        });
    }
    Ok((url, tag.commit, fetched))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

impl PrepareArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let resolve_opts = self.resolve.options(&self.version)?;
        let pin = release::resolve(&resolve_opts, reporter)?;
        let opts = PrepareOptions {
            workdir: self.workdir,
            fetch_tree: true,
            force: self.force,
            proxy_repo: self.proxy_repo,
            istio_repo: self.resolve.istio_repo,
            net: resolve_opts.net,
            log: None,
        };
        let prepared = prepare(&opts, &pin, reporter)?;
        summarize(&prepared, reporter);
        println!("{}", prepared.workdir.display());
        Ok(ExitCode::SUCCESS)
    }
}

fn summarize(p: &Prepared, r: &Reporter) {
    let m = &p.manifest;
    r.info(format!(
        "prepared Istio {} in {}",
        m.version,
        p.workdir.display()
    ));
    let tree = match p.tree_action {
        Some(TreeAction::Fetched) => "fetched (one commit, shallow)",
        Some(TreeAction::InPlace) => "already in place, untouched",
        Some(TreeAction::Reset) => "local changes discarded",
        None => "not fetched: nothing to compile",
    };
    r.info(format!(
        "  istio/proxy {} ({}) in {}: {tree}",
        m.proxy_sha,
        m.pin_source,
        p.tree.display()
    ));
    let files = if p.files_fetched {
        "fetched"
    } else {
        "unchanged"
    };
    r.info(format!(
        "  packaging files from {} at {}: {files}",
        m.repositories.istio, m.version
    ));
    for f in &m.files {
        r.info(format!("    {}  sha256 {}", f.path, f.sha256));
    }
    r.info(format!("  bazelrc: {}", p.bazelrc.display()));
    r.info(format!("  manifest: {}", p.manifest_path.display()));
}
