//! `proxy-rpm doctor`: every preflight at once, so that a user knows before starting whether
//! an hours-long build can finish here. One line per check on stderr (ok / warn / FAIL, then
//! what was found and what is needed); exit status 1 when anything fails.

mod downloads;
mod network;
mod resources;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::container::{self, Engine, EngineChoice, EngineKind, ImageOptions};
use crate::preflight::{self, GIT_MINIMUM};
use crate::release::DEFAULT_ISTIO_REPO;
use crate::source::{DEFAULT_PROXY_REPO, Network};
use crate::{Error, Reporter, Result};

pub use downloads::{Endpoint, GoDownloads, dockerfile_urls, go_downloads};
pub use network::Target;
pub use resources::{DISK_NEEDED, MEMORY_PER_JOB, free_space};

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Container engine to check (default: as `build` picks it); `none` for builds on this host.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// The builder image the build will use (default: the built-in CentOS 7 image).
    #[arg(long)]
    pub image: Option<String>,
    /// The Istio release the build is for: a release whose profile needs a builder image
    /// variant (1.7: centos7-python3-gn) also has that variant's downloads probed.
    #[arg(long, value_name = "VERSION")]
    pub release: Option<String>,
    /// Where Bazel's output base and repository cache go (default: ~/.cache/proxy-rpm).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Bazel jobs the build will run (default: one per core).
    #[arg(long)]
    pub jobs: Option<u32>,
    /// Istio repository the build reads from.
    #[arg(long, value_name = "URL", default_value = DEFAULT_ISTIO_REPO)]
    pub istio_repo: String,
    /// istio/proxy repository the build fetches from.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PROXY_REPO)]
    pub proxy_repo: String,
    /// As for `build`: fetch https://github.com/ORG/REPO from PREFIX/ORG/REPO.
    #[arg(long, value_name = "PREFIX")]
    pub git_mirror: Option<String>,
    /// A builder-image build argument, as for `proxy-rpm image` (e.g. a download mirror).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = container::parse_build_arg)]
    pub build_args: Vec<(String, String)>,
    /// Also check what `build --sidecar` reaches: Go's module proxy and checksum database, from
    /// GOPROXY, GOSUMDB and GOFLAGS (as the build passes them to Go).
    #[arg(long)]
    pub sidecar: bool,
    /// The build farm the build will use, if any: doctor checks that it answers and that the
    /// builder image's pushed digest is on its registry.
    #[command(flatten)]
    pub remote: crate::bazel::Remote,
    /// Skip the network checks (for a build from local mirrors and --distdir only).
    #[arg(long)]
    pub offline: bool,
    /// How long to wait for each host, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not checked (not applicable, or switched off).
    Skip,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    pub name: String,
    pub detail: String,
}

impl Check {
    pub fn new(status: Status, name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            status,
            name: name.into(),
            detail: detail.into(),
        }
    }
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Status::Ok, name, detail)
    }
    pub fn warn(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Status::Warn, name, detail)
    }
    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Status::Fail, name, detail)
    }
    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Status::Skip, name, detail)
    }

    /// `ok    git: 2.47.3 …`
    pub fn line(&self) -> String {
        let word = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        format!("{word:<5} {}: {}", self.name, self.detail)
    }
}

impl DoctorArgs {
    pub fn run(self, r: &Reporter) -> Result<ExitCode> {
        let mut checks = Vec::new();
        let mut report = |check: Check| {
            r.info(check.line());
            checks.push(check);
        };
        let (check, engine) = engine(self.engine, r);
        report(check);
        report(git(r));
        let (image, needs) = self.builder_image(engine.as_ref())?;
        report(image_toolchain(engine.as_ref(), image.as_deref(), needs, r));
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => crate::bazel::default_cache_dir()?,
        };
        report(resources::disk(&cache_dir));
        if self.remote.remote_executor.is_some() || self.remote.remote_cache.is_some() {
            let mut options = crate::bazel::CompileOptions::new(
                ".",
                engine.clone(),
                image.as_deref().unwrap_or(""),
            )?;
            options.cache_dir = cache_dir.clone();
            options.remote = self.remote.clone();
            for check in crate::bazel::remote::doctor_checks(&options, r) {
                report(check);
            }
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = self.jobs.map_or(cores, |j| j as usize).max(1);
        report(resources::cores(cores, jobs));
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
        report(resources::memory(meminfo.as_deref(), jobs));
        if self.offline {
            report(Check::skip("network", "not checked (--offline)"));
        } else {
            let env = |name: &str| std::env::var(name).ok();
            let mut urls = self.downloads(engine.as_ref());
            if self.sidecar {
                let go = go_downloads(&env);
                if let Some(note) = go.note {
                    report(Check::skip("go downloads", note));
                }
                urls.extend(go.urls);
            }
            let endpoints = downloads::endpoints(&urls);
            let timeout = Duration::from_millis(self.timeout_ms.max(1));
            let checks = network::check_all(&endpoints, &env, timeout);
            for (endpoint, check) in endpoints.iter().zip(checks) {
                report(fallback_only(endpoint, check));
            }
        }
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name.as_str())
            .collect();
        if !failed.is_empty() {
            return Err(Error::failed(format!(
                "{} check{} failed ({}): a build here would not finish",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                failed.join(", ")
            )));
        }
        let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
        r.info(format!(
            "doctor: nothing failed{}",
            if warned > 0 {
                format!(" ({warned} warning{})", if warned == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        ));
        Ok(ExitCode::SUCCESS)
    }

    /// The image compile would run in: `--image`, else the built-in Dockerfile's tag, or with
    /// `--release` the tag of the variant that release's line needs; and the tools that
    /// variant adds, which the toolchain check then asks about too.
    fn builder_image(
        &self,
        engine: Option<&Engine>,
    ) -> Result<(Option<String>, &'static [&'static str])> {
        let Some(engine) = engine else {
            return Ok((None, &[]));
        };
        let variant = match &self.release {
            Some(version) => container::variant::for_release(version)?,
            None => None,
        };
        let needs = variant.map_or(&[][..], |v| v.needs);
        if let Some(image) = &self.image {
            return Ok((Some(image.clone()), needs));
        }
        let mut options = ImageOptions::new(engine.clone());
        options.build_args = self.build_args.clone();
        let tag = match variant {
            None => container::image_plan(&options)?.tag,
            Some(variant) => container::variant::plans(&options, variant)?.1.tag,
        };
        Ok((Some(tag), needs))
    }

    /// Every URL the build downloads from, with what it is for.
    fn downloads(&self, engine: Option<&Engine>) -> Vec<(String, String)> {
        let net = Network {
            mirror: self.git_mirror.clone(),
            ..Network::default()
        };
        let mut urls = vec![
            (net.url(&self.istio_repo), "--istio-repo".to_string()),
            (net.url(&self.proxy_repo), "--proxy-repo".to_string()),
        ];
        if engine.is_some() && self.image.is_none() {
            let dockerfile = container::BUILTIN_DOCKERFILE;
            for base in downloads::dockerfile_bases(dockerfile, &self.build_args) {
                if let Some(registry) = downloads::registry(&base) {
                    urls.push((registry, format!("base image {base}")));
                }
            }
            for (name, url) in dockerfile_urls(dockerfile, &self.build_args) {
                urls.push((url, format!("image {name}")));
            }
            let variant = self
                .release
                .as_deref()
                .and_then(|v| container::variant::for_release(v).ok().flatten());
            if let Some(variant) = variant {
                for (name, url) in dockerfile_urls(variant.dockerfile, &self.build_args) {
                    urls.push((url, format!("image {} {name}", variant.name)));
                }
            }
        }
        let bazelisk = std::env::var("BAZELISK_BASE_URL")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let (url, what) = match bazelisk {
            Some(url) => (url, "Bazel download (BAZELISK_BASE_URL)"),
            None => (downloads::BAZEL_RELEASES.to_string(), "Bazel download"),
        };
        urls.push((url, what.to_string()));
        for host in downloads::BAZEL_DEPENDENCY_HOSTS {
            urls.push((host.to_string(), "Envoy's Bazel dependencies".to_string()));
        }
        urls
    }
}

/// A host the build reaches only when another cannot serve (Go's checksum database behind a
/// proxy) is no failure when unreachable: a warning.
fn fallback_only(endpoint: &Endpoint, check: Check) -> Check {
    let fallback = endpoint
        .uses
        .iter()
        .all(|u| u == downloads::GO_SUMDB_FALLBACK);
    match check.status {
        Status::Fail if fallback => Check::warn(check.name, check.detail),
        _ => check,
    }
}

/// The engine and its version against the supported minimum.
fn engine(choice: Option<EngineChoice>, r: &Reporter) -> (Check, Option<Engine>) {
    let name = "engine";
    let engine = match container::find(choice) {
        Err(err) => return (Check::fail(name, err.to_string()), None),
        Ok(None) => {
            let detail = "none: Bazel runs on this host, whose compilers must build for CentOS 7";
            return (Check::ok(name, detail), None);
        }
        Ok(Some(engine)) => engine,
    };
    let program = engine.program().display().to_string();
    let rootless = if engine.is_rootless() {
        ", rootless"
    } else {
        ""
    };
    let needs = format!("needs >= {}", engine.show(engine.minimum()));
    let check = match (engine.version(), engine.check_supported()) {
        (_, Err(err)) => Check::fail(name, err.to_string()),
        (None, Ok(())) => Check::warn(
            name,
            format!(
                "{} at {program}: its version could not be read; {needs}",
                engine.name()
            ),
        ),
        (Some(v), Ok(())) => {
            let daemon = engine.kind() == EngineKind::Docker
                && engine
                    .cmd()
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .read(r)
                    .is_err();
            let detail = format!(
                "{} {} ({program}{rootless}); {needs}",
                engine.name(),
                engine.show(v)
            );
            if daemon {
                Check::fail(name, format!("{detail}; but no docker daemon answers"))
            } else {
                Check::ok(name, detail)
            }
        }
    };
    (check, Some(engine))
}

fn git(r: &Reporter) -> Check {
    match preflight::git_version(r) {
        Err(err) => Check::fail("git", err.to_string()),
        Ok(git) => match git.check() {
            Ok(()) => Check::ok("git", format!("{}; needs >= {GIT_MINIMUM}", git.shown)),
            Err(err) => Check::fail("git", err.to_string()),
        },
    }
}

/// The builder image's toolchain.
///
/// The image self-check `compile` would meet: `container::check_toolchain` runs
/// `toolchain-check.sh` in the image. An image that does not exist yet (the built-in tag before
/// `proxy-rpm image`) is a skip, not a failure: the image stage builds it and checks it then.
fn image_toolchain(
    engine: Option<&Engine>,
    image: Option<&str>,
    needs: &[&str],
    r: &Reporter,
) -> Check {
    let name = "image toolchain";
    let (Some(engine), Some(image)) = (engine, image) else {
        return Check::skip(name, "no container engine (--engine none): not checked");
    };
    if !engine.has_image(image, &Reporter::silent()) {
        return Check::skip(
            name,
            format!("{image}: not built yet (`proxy-rpm image` builds and checks it)"),
        );
    }
    match container::check_toolchain(engine, image, needs, &Reporter::silent()) {
        Ok(()) => {
            r.verbose(format!("image {image}: toolchain check passed"));
            Check::ok(
                name,
                format!("{image}: every tool the build calls is there"),
            )
        }
        Err(e) => Check::fail(name, e.to_string().replace('\n', " ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_start_with_their_status() {
        assert_eq!(Check::ok("git", "2.47.3").line(), "ok    git: 2.47.3");
        assert_eq!(Check::fail("disk", "full").line(), "FAIL  disk: full");
    }

    #[test]
    fn an_unreachable_fallback_host_only_warns() {
        let endpoint = |uses: &[&str]| Endpoint {
            target: network::target("https://sum.golang.org").unwrap(),
            uses: uses.iter().map(|u| u.to_string()).collect(),
        };
        let failed = || Check::fail("network sum.golang.org:443", "unreachable");
        let behind_proxy = endpoint(&[downloads::GO_SUMDB_FALLBACK]);
        assert_eq!(fallback_only(&behind_proxy, failed()).status, Status::Warn);
        let needed = endpoint(&[downloads::GO_SUMDB_FALLBACK, "--istio-repo"]);
        assert_eq!(fallback_only(&needed, failed()).status, Status::Fail);
    }

    #[test]
    fn downloads_follow_the_options() {
        let args = DoctorArgs {
            engine: None,
            image: None,
            release: None,
            remote: Default::default(),
            cache_dir: None,
            jobs: None,
            istio_repo: DEFAULT_ISTIO_REPO.into(),
            proxy_repo: DEFAULT_PROXY_REPO.into(),
            git_mirror: Some("http://127.0.0.1:9/git".into()),
            build_args: vec![("CENTOS_VAULT_URL".into(), "http://127.0.0.2/vault".into())],
            sidecar: false,
            offline: false,
            timeout_ms: 1,
        };
        let podman = Engine::new(EngineKind::Podman, "podman", false);
        let urls = args.downloads(Some(&podman));
        let has = |url: &str| urls.iter().any(|(u, _)| u == url);
        assert!(has("http://127.0.0.1:9/git/istio/istio"));
        assert!(has("http://127.0.0.1:9/git/istio/proxy"));
        assert!(has("http://127.0.0.2/vault"));
        assert!(!has("https://vault.centos.org"));
        // Only a release whose profile needs the gn variant has gn's source probed.
        assert!(!urls.iter().any(|(u, _)| u.contains("gn.googlesource.com")));
        let for_17 = DoctorArgs {
            release: Some("1.7.8".into()),
            build_args: vec![("GN_GIT_URL".into(), "http://127.0.0.3/gn".into())],
            ..args
        };
        let urls = for_17.downloads(Some(&podman));
        assert!(
            urls.iter()
                .any(|(u, what)| u == "http://127.0.0.3/gn" && what.contains("centos7-python3-gn")),
            "{urls:?}"
        );
        // With --engine none, nothing of the image is downloaded.
        let urls = for_17.downloads(None);
        assert!(!urls.iter().any(|(_, what)| what.starts_with("image ")));
    }
}
