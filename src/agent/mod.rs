//! pilot-agent, the sidecar's agent (it sets up the iptables redirect and runs Envoy): built
//! with Go from istio/istio at the release tag, in the builder container (or on this host with
//! `--engine none`), the way Istio's own build does it (see [`stamp`]; what differs between
//! release lines, the Go series and build tags, comes from the release profile), then checked
//! for CentOS 7 (see [`check`]). The `agent` stage of `proxy-rpm build --sidecar`.
//!
//! Layout: `WORKDIR/src/istio` (istio/istio at the tag, shallow), `WORKDIR/out/pilot-agent`,
//! Go's module and build caches under `CACHE/go/`, kept between runs so that a rerun resumes
//! from them and a rebuild needs no network.

mod el7;
mod stamp;

use std::path::{Path, PathBuf};

use crate::container::Engine;
use crate::container::args::{GO_PASS_ENV, Mount};
use crate::container::job::Job;
use crate::error::IoContext;
use crate::release::IstioVersion;
use crate::source::{Checkout, Manifest, Network, TreeAction};
use crate::{Error, Reporter, Result};

pub use el7::check;
pub use stamp::{HUB, LDFLAGS, PACKAGE, Stamp, VERSION_PACKAGE, go_args, go_env};

/// Where the istio/istio tree goes, relative to the work dir.
pub const TREE_DIR: &str = "src/istio";

/// Everything the Go build needs; the pipeline fills it from `build`'s arguments.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub workdir: PathBuf,
    pub cache_dir: PathBuf,
    /// `None`: Go on this host (`--engine none`).
    pub engine: Option<Engine>,
    /// The builder image (ignored on the host).
    pub image: String,
    pub version: IstioVersion,
    /// Go build tags (`-tags=…`), as the release's profile says Istio's Makefile gives them.
    pub tags: Vec<String>,
    /// The Go series the release builds with ("1.14"), shown by plans.
    pub go: String,
    /// Before the mirror rewrite.
    pub istio_repo: String,
    pub net: Network,
    /// Replace a tree at another commit or with local changes.
    pub force: bool,
    pub log: PathBuf,
}

/// The paths a build uses, absolute: the same strings inside the container and outside.
#[derive(Clone, Debug)]
struct Layout {
    workdir: PathBuf,
    cache_dir: PathBuf,
    tree: PathBuf,
    output: PathBuf,
    gopath: PathBuf,
    gocache: PathBuf,
    /// `$HOME` inside the container, shared with compile's.
    home: PathBuf,
}

impl Layout {
    fn of(workdir: &Path, cache_dir: &Path) -> Layout {
        let go = cache_dir.join("go");
        Layout {
            tree: workdir.join(TREE_DIR),
            output: workdir.join("out").join("pilot-agent"),
            gopath: go.join("path"),
            gocache: go.join("build"),
            home: cache_dir.join("home"),
            workdir: workdir.to_path_buf(),
            cache_dir: cache_dir.to_path_buf(),
        }
    }
}

/// What the stage made.
#[derive(Clone, Debug)]
pub struct Built {
    pub path: PathBuf,
    pub stamp: Stamp,
    /// What the CentOS 7 check found ("static x86_64 executable").
    pub elf: String,
    pub tree: TreeAction,
}

/// The commit the release tag points to, as `prepare` recorded it in `WORKDIR/prepare.json`;
/// the tree must be at exactly that commit.
pub fn tag_commit(workdir: &Path, version: IstioVersion) -> Result<String> {
    let path = workdir.join("prepare.json");
    match Manifest::load(&path) {
        Some(m) if m.version == version && !m.istio_commit.is_empty() => Ok(m.istio_commit),
        _ => Err(Error::input(format!(
            "{}: no record of the commit of Istio's tag {version}; run `proxy-rpm prepare \
             {version} --workdir {}` first",
            path.display(),
            workdir.display()
        ))),
    }
}

/// Fetch istio/istio at the tag (unless it is there), build pilot-agent, check it.
pub fn build(opts: &AgentOptions, commit: &str, r: &Reporter) -> Result<Built> {
    for dir in [&opts.workdir, &opts.cache_dir] {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let workdir = std::fs::canonicalize(&opts.workdir).at(&opts.workdir)?;
    let cache_dir = std::fs::canonicalize(&opts.cache_dir).at(&opts.cache_dir)?;
    let layout = Layout::of(&workdir, &cache_dir);

    let tag = opts.version.tag();
    let label = format!("tag {tag}");
    let url = opts.net.url(&opts.istio_repo);
    let step = r.step(&format!("istio/istio {tag}"));
    let tree = crate::source::checkout(
        &Checkout {
            name: "istio/istio",
            tree: &layout.tree,
            url: &url,
            fetch: &format!("refs/tags/{tag}"),
            commit,
            label: Some(&label),
            force: opts.force,
        },
        &opts.net,
        &opts.log,
        r,
    )?;
    step.finish(tree.done());

    for dir in [
        layout.output.parent().unwrap_or(&workdir),
        &layout.gopath,
        &layout.gocache,
        &layout.home,
    ] {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let stamp = Stamp::release(opts.version, commit);
    let ran = job(opts, &layout, &stamp).run(r, |line, step| {
        // `go: downloading MODULE VERSION`: the only progress Go reports.
        if line.starts_with("go: ") {
            step.message(line.to_string());
        }
    });
    let step = ran.map_err(|stop| {
        let hint = format!(
            "rerun to resume from Go's caches in {} (log: {})",
            layout.gocache.parent().unwrap_or(&cache_dir).display(),
            opts.log.display()
        );
        stop.into_error("pilot-agent build", "go", &hint)
    })?;
    let elf = check(&layout.output)?;
    step.finish("done");
    Ok(Built {
        path: layout.output,
        stamp,
        elf,
        tree,
    })
}

/// What `build` would do, for `--dry-run` plans: the fetch, the Go command, the output. The
/// commit is `None` before `prepare` has recorded it.
pub fn plan(opts: &AgentOptions, commit: Option<&str>) -> Result<Vec<String>> {
    let layout = Layout::of(&opts.workdir, &opts.cache_dir);
    let tag = opts.version.tag();
    let shown = commit.map_or_else(|| format!("<commit of tag {tag}>"), str::to_string);
    let stamp = Stamp::release(opts.version, &shown);
    Ok(vec![
        format!(
            "git fetch --depth 1 {} refs/tags/{tag} -> {} (at {shown})",
            opts.net.url(&opts.istio_repo),
            layout.tree.display()
        ),
        format!(
            "Go {} as Istio {} builds it{}:",
            opts.go,
            opts.version,
            match opts.tags.is_empty() {
                true => String::new(),
                false => format!(" (-tags={})", opts.tags.join(",")),
            }
        ),
        job(opts, &layout, &stamp).plan()?.display(),
        format!(
            "-> {} (checked: x86_64, static or GLIBC <= 2.17)",
            layout.output.display()
        ),
    ])
}

/// `go build` in the tree, on the host or in the builder container: the work and cache dirs
/// mounted, `HOME` in the cache dir, the proxy and Go module variables passed by name.
fn job(opts: &AgentOptions, layout: &Layout, stamp: &Stamp) -> Job {
    Job {
        purpose: "agent",
        engine: opts.engine.clone(),
        image: opts.image.clone(),
        workdir: layout.workdir.clone(),
        mounts: [&layout.workdir, &layout.cache_dir]
            .into_iter()
            .map(|path| Mount {
                path: path.clone(),
                read_only: false,
            })
            .collect(),
        dir: layout.tree.clone(),
        env: go_env(&layout.gopath, &layout.gocache),
        container_env: vec![("HOME".into(), layout.home.to_string_lossy().into_owned())],
        pass_env: GO_PASS_ENV,
        program: "go".into(),
        args: go_args(&layout.output, stamp, &opts.tags),
        log: opts.log.clone(),
    }
}
