//! Istio release → the istio/proxy commit it pins. Two sources must agree: a built-in table
//! (so that it works offline) and `istio.deps` at the release tag of the Istio repository.
//! What else differs between release lines is in their profiles ([`profile`]).

mod deps;
pub mod profile;
mod table;
mod tag;
mod version;

use std::process::ExitCode;

use crate::error::IoContext;
use crate::source::git::{Network, NetworkArgs};
use crate::{Error, Reporter, Result};

pub use deps::{is_commit_sha, proxy_pin};
pub use profile::{PackagingFile, Profile, Release};
pub use table::{newest, pins, readme_table, supported};
pub use tag::IstioTag;
pub use version::IstioVersion;

pub const DEFAULT_ISTIO_REPO: &str = "https://github.com/istio/istio";

#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    #[arg(help = version_help())]
    pub version: String,
    #[command(flatten)]
    pub flags: ResolveFlags,
}

/// How to find a release's pin; shared by `resolve`, `prepare` and `build`.
#[derive(clap::Args, Clone, Debug)]
pub struct ResolveFlags {
    /// Istio repository: istio.deps at the release tag must confirm the pin (and `prepare`
    /// reads Istio's packaging files there).
    #[arg(long, value_name = "URL", default_value = DEFAULT_ISTIO_REPO)]
    pub istio_repo: String,
    /// Build this istio/proxy commit instead of the release's pin (full 40-digit hash).
    #[arg(long, value_name = "SHA")]
    pub proxy_sha: Option<String>,
    /// Use only the built-in table of pins; do not read istio.deps from the Istio repository.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub net: NetworkArgs,
}

impl ResolveFlags {
    /// The options for `version` as typed by the user (parsed strictly).
    pub fn options(&self, version: &str) -> Result<ResolveOptions> {
        Ok(ResolveOptions {
            version: version.parse()?,
            istio_repo: self.istio_repo.clone(),
            proxy_sha: self.proxy_sha.clone(),
            offline: self.offline,
            net: self.net.network(),
        })
    }
}

/// What `resolve` needs, without clap.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    pub version: IstioVersion,
    /// Before the mirror rewrite.
    pub istio_repo: String,
    pub proxy_sha: Option<String>,
    pub offline: bool,
    pub net: Network,
}

impl ResolveOptions {
    /// Defaults: GitHub's istio/istio, checked online, no override.
    pub fn new(version: IstioVersion) -> Self {
        ResolveOptions {
            version,
            istio_repo: DEFAULT_ISTIO_REPO.to_string(),
            proxy_sha: None,
            offline: false,
            net: Network::default(),
        }
    }
}

/// An Istio release and the istio/proxy commit to build for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub version: IstioVersion,
    /// Full lowercase commit hash.
    pub proxy_sha: String,
    pub source: PinSource,
}

/// Where a pin came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// The built-in table and istio.deps at the tag of this repository (URL as fetched) agree.
    Verified { istio_repo: String },
    /// The built-in table alone (`--offline`).
    BuiltIn,
    /// `--proxy-sha`, instead of the release's pin.
    Override,
}

impl PinSource {
    /// A word for manifests and messages.
    pub fn name(&self) -> &'static str {
        match self {
            PinSource::Verified { .. } => "verified",
            PinSource::BuiltIn => "built-in",
            PinSource::Override => "override",
        }
    }
}

/// The closing line of `proxy-rpm --help`: which releases it builds.
pub fn supported_help() -> String {
    format!("Supported Istio releases: {}.", table::ranges())
}

/// The help of a VERSION argument: the releases there are to choose from.
pub fn version_help() -> String {
    format!("Istio release, e.g. {} ({})", newest(), supported())
}

/// The profile of a supported release and its row of the built-in table, or a one-line error
/// naming the supported releases.
pub fn lookup(version: IstioVersion) -> Result<(&'static Profile, &'static Release)> {
    let profile = profile::of(version);
    if let Some(found) = profile.and_then(|p| Some((p, p.release(version)?))) {
        return Ok(found);
    }
    let why = match profile {
        Some(_) => "is not a release this tool knows",
        None => "is outside the release lines this tool builds",
    };
    Err(Error::input(format!(
        "Istio {version} {why}; {}",
        supported()
    )))
}

/// The built-in pin of a supported release, or a one-line error naming the supported ones.
pub fn builtin_pin(version: IstioVersion) -> Result<&'static str> {
    Ok(lookup(version)?.1.proxy.as_str())
}

/// The istio/proxy commit to build for `opts.version`.
pub fn resolve(opts: &ResolveOptions, r: &Reporter) -> Result<Pin> {
    let version = opts.version;
    let table_sha = builtin_pin(version)?;
    let pin = |sha: &str, source| Pin {
        version,
        proxy_sha: sha.to_string(),
        source,
    };
    if let Some(sha) = &opts.proxy_sha {
        let sha = sha.to_ascii_lowercase();
        if !is_commit_sha(&sha) {
            return Err(Error::input(format!(
                "--proxy-sha {sha:?} is not a full 40-digit commit hash"
            )));
        }
        r.warn(format!(
            "building istio/proxy {sha} (--proxy-sha) instead of Istio {version}'s pin {table_sha}"
        ));
        return Ok(pin(&sha, PinSource::Override));
    }
    if opts.offline {
        return Ok(pin(table_sha, PinSource::BuiltIn));
    }

    let url = opts.net.url(&opts.istio_repo);
    let scratch = tempfile::Builder::new()
        .prefix("proxy-rpm-resolve-")
        .tempdir()
        .at(std::env::temp_dir())?;
    let step = r.step(&format!("read istio.deps at tag {version} of {url}"));
    let tag = IstioTag::fetch(
        &scratch.path().join("istio.git"),
        &url,
        version,
        &opts.net,
        r,
    )?;
    let deps = tag.read("istio.deps", r)?;
    let repo_sha = proxy_pin(&deps)
        .map_err(|e| Error::failed(format!("istio.deps at tag {version} of {url}: {e}")))?;
    step.finish("done");
    if repo_sha != table_sha {
        return Err(Error::failed(format!(
            "Istio {version}: the built-in table pins istio/proxy {table_sha}, but istio.deps at \
             tag {version} of {url} pins {repo_sha}; check --istio-repo and --git-mirror, or \
             choose one with --proxy-sha"
        )));
    }
    Ok(pin(table_sha, PinSource::Verified { istio_repo: url }))
}

impl ResolveArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let opts = self.flags.options(&self.version)?;
        let pin = resolve(&opts, reporter)?;
        let how = match &pin.source {
            PinSource::Verified { istio_repo } => {
                format!("built-in table and istio.deps of {istio_repo} agree")
            }
            PinSource::BuiltIn => "built-in table, not checked online".to_string(),
            PinSource::Override => "--proxy-sha".to_string(),
        };
        reporter.info(format!(
            "Istio {} → istio/proxy {} ({how})",
            pin.version, pin.proxy_sha
        ));
        println!("{}", pin.proxy_sha);
        Ok(ExitCode::SUCCESS)
    }
}
