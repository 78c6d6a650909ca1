//! The container engine (docker or podman) and the CentOS 7 builder image.
//!
//! The engine is detected once into an [`Engine`] value whose capability methods hide the few
//! differences between docker and rootless podman; `docker run` arguments are built by the small
//! helpers of [`args`]; [`guard`] makes sure no build container outlives us; [`interrupt`] turns
//! Ctrl-C and SIGTERM into a clean stop of whatever child runs; [`job`] puts these together for
//! a long build step.

pub mod args;
mod detection;
pub mod guard;
mod image;
pub mod interrupt;
pub mod job;
pub mod push;
mod toolchain;
pub mod variant;

use std::path::{Path, PathBuf};

use crate::preflight::Version;
use crate::run::Cmd;
use crate::{Error, Reporter, Result};

pub use detection::{Probe, detect, detect_with, find, which};
pub use image::{
    BUILTIN_DOCKERFILE, HASH_LABEL, IMAGE_REPOSITORY, ImageArgs, ImageOptions, ImagePlan, ImageRef,
    build_image, default_tag, hash as dockerfile_hash, image_plan, missing_image, parse_build_arg,
};
pub use toolchain::{
    TOOLCHAIN_CHECK, TOOLCHAIN_CHECK_FILE, check as check_toolchain,
    check_cmd as toolchain_check_cmd, shown as shown_check,
};

/// The environment variable that picks the engine when `--engine` is not given.
pub const ENGINE_ENV: &str = "PROXY_RPM_ENGINE";

/// What the user asked for with `--engine` (or `PROXY_RPM_ENGINE`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    Docker,
    Podman,
    /// No container: run the same command on this host.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

/// The oldest Docker we support: the builder Dockerfile declares `ARG` before `FROM`, which
/// Docker 17.05.0-ce brought ("Allow using build-time args (ARG) in FROM #31352",
/// https://docs.docker.com/engine/release-notes/17.05/). CentOS 7's own docker is 1.13.1.
pub const DOCKER_MINIMUM: Version = Version(17, 5, 0);
/// `docker run --pull` came with Docker 20.10.0 (docker/cli#1498: absent from
/// docker/cli@v19.03.15:cli/command/container/create.go, present in v20.10.0).
const DOCKER_PULL: Version = Version(20, 10, 0);
/// The oldest podman we support: rootless runs need `--userns=keep-id`, added in podman 1.4.0
/// (containers/podman f09370c68b "userns: add new option --userns=keep-id"; absent from
/// v1.3.2). Its buildah already reads `ARG` before `FROM`
/// (podman@v1.4.0:vendor/github.com/openshift/imagebuilder/builder.go extractHeadingArgsFromNode).
pub const PODMAN_MINIMUM: Version = Version(1, 4, 0);
/// `podman run --pull` came with podman 1.6.0 (RELEASE_NOTES.md 1.6.0, containers/podman#3734;
/// podman@v1.6.0:cmd/podman/common.go). CentOS 7 extras ships podman 1.6.4.
const PODMAN_PULL: Version = Version(1, 6, 0);
/// `podman push --digestfile` came with podman 1.6.0 (podman@v1.6.0:cmd/podman/push.go; absent
/// from v1.5.1); docker prints the digest instead (see `push`).
pub const PODMAN_DIGESTFILE: Version = Version(1, 6, 0);
/// `manifest inspect`, which asks a registry for a digest without pulling: podman 2.0.0
/// (podman@v2.0.0:cmd/podman/manifest/inspect.go; v1.9.3 has no manifest command), docker 20.10
/// (the command is marked `experimentalCLI`, and docker/cli@v20.10.0:cli/command/cli.go
/// `loadClientInfo` turns experimental CLI features on for good; v19.03.15 needs them enabled).
pub const PODMAN_MANIFEST: Version = Version(2, 0, 0);
pub const DOCKER_MANIFEST: Version = Version(20, 10, 0);

/// A container engine found on this machine, with what we need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engine {
    kind: EngineKind,
    program: PathBuf,
    /// A rootless engine maps its root to our uid: `--user uid:gid` would land on a
    /// subordinate id outside (files the caller cannot even write over).
    rootless: bool,
    /// As the engine reported it at detection (docker: the lower of client and daemon).
    /// Unknown means "use only what every supported version has".
    version: Option<Version>,
}

impl Engine {
    /// Detect the engine for commands that need one (`image`): `none` is an error here.
    pub fn detect(choice: Option<EngineChoice>) -> Result<Engine> {
        detect(choice)?
            .ok_or_else(|| Error::input("--engine none: building the image needs docker or podman"))
    }

    /// An engine at a known program path (e.g. a `docker` shim), without looking at `PATH`.
    /// Its version is unknown until [`Engine::with_version`].
    pub fn new(kind: EngineKind, program: impl Into<PathBuf>, rootless: bool) -> Engine {
        Engine {
            kind,
            program: program.into(),
            rootless,
            version: None,
        }
    }

    pub fn with_version(mut self, version: Option<Version>) -> Engine {
        self.version = version;
        self
    }

    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The engine's name for messages: `docker`, `podman`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    /// A version as this engine writes it: Docker 17.03 to 20.10 were year.month (`17.05.0`);
    /// Docker 1.x, 23.0 on and podman are plain numbers.
    pub fn show(&self, v: Version) -> String {
        match self.kind {
            EngineKind::Docker if (17..=20).contains(&v.0) => {
                format!("{}.{:02}.{}", v.0, v.1, v.2)
            }
            _ => v.to_string(),
        }
    }

    /// The oldest version of this kind of engine we support.
    pub fn minimum(&self) -> Version {
        match self.kind {
            EngineKind::Docker => DOCKER_MINIMUM,
            EngineKind::Podman => PODMAN_MINIMUM,
        }
    }

    /// Whether `run --pull=never` is understood (else the flag is left out: compile checks
    /// that the image exists before it runs one, so nothing is pulled by a typo either way).
    pub fn supports_pull_never(&self) -> bool {
        self.version
            .is_some_and(|v| v >= self.since(DOCKER_PULL, PODMAN_PULL))
    }

    /// Whether the engine is known to be older than the version of its kind that brought a
    /// feature (`None`: it is not, or its version is unknown and its own error will tell).
    pub fn older_than(&self, docker: Version, podman: Version) -> Option<Version> {
        let since = self.since(docker, podman);
        self.version.filter(|v| *v < since).map(|_| since)
    }

    fn since(&self, docker: Version, podman: Version) -> Version {
        match self.kind {
            EngineKind::Docker => docker,
            EngineKind::Podman => podman,
        }
    }

    /// Refuse an engine older than we support, in one line naming its version, the version
    /// needed and what to install. An engine whose version could not be read passes: its own
    /// error will say what is wrong when it runs.
    pub fn check_supported(&self) -> Result<()> {
        let Some(version) = self.version else {
            return Ok(());
        };
        if version >= self.minimum() {
            return Ok(());
        }
        let (why, fix) = match self.kind {
            EngineKind::Docker => (
                "the builder Dockerfile uses ARG before FROM",
                "install Docker CE from https://download.docker.com (package docker-ce; CentOS 7's \
                 own docker 1.13.1 is too old), or use --engine podman",
            ),
            EngineKind::Podman => (
                "rootless builds use --userns=keep-id",
                "install a newer podman (CentOS 7 extras has 1.6.4), or use --engine docker",
            ),
        };
        Err(Error::input(format!(
            "{} {} ({}) is too old: proxy-rpm needs {} >= {} ({why}); {fix}",
            self.name(),
            self.show(version),
            self.program.display(),
            self.name(),
            self.show(self.minimum()),
        )))
    }

    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn is_rootless(&self) -> bool {
        self.rootless
    }

    /// A command running the engine: `engine.cmd().args(["ps", "-a"])`.
    pub fn cmd(&self) -> Cmd {
        Cmd::new(&self.program)
    }

    /// How the container runs as the caller so that files it writes on mounts are the caller's:
    /// `--user uid:gid`, except on rootless engines, whose user namespace maps the caller to
    /// root inside: rootless podman keeps the caller's uid inside with `--userns=keep-id`,
    /// rootless docker (no such option) runs as its root, which is the caller outside.
    pub fn user_args(&self, uid: u32, gid: u32) -> Vec<String> {
        match (self.kind, self.rootless) {
            (EngineKind::Podman, true) => vec!["--userns=keep-id".to_string()],
            (EngineKind::Docker, true) => vec!["--user".to_string(), "0:0".to_string()],
            (_, false) => vec!["--user".to_string(), format!("{uid}:{gid}")],
        }
    }

    /// `image inspect` answers both engines the same way; a failure means "no such image".
    pub fn image_inspect(&self, image: &str, format: &str) -> Cmd {
        self.cmd()
            .args(["image", "inspect", "--format", format])
            .arg(image)
    }

    /// Whether `image` is here (never a pull: older engines lack `run --pull=never`, so the
    /// callers that run an image ask this first).
    pub fn has_image(&self, image: &str, reporter: &Reporter) -> bool {
        self.image_inspect(image, "{{.Id}}").read(reporter).is_ok()
    }

    /// Stop a container at once (SIGKILL), then remove it; both engines understand these.
    pub fn kill_and_remove(&self, name: &str) -> [Cmd; 2] {
        [
            self.cmd().args(["kill", name]),
            self.cmd().args(["rm", "-f", name]),
        ]
    }
}

/// Our effective uid and gid, read from `/proc/self` (whose owner is the process's euid/egid),
/// so that containers write files as the caller.
pub fn caller_ids() -> Result<(u32, u32)> {
    use crate::error::IoContext;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self").at("/proc/self")?;
    Ok((meta.uid(), meta.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_never_only_where_the_engine_has_it() {
        let at = |kind, v| Engine::new(kind, "x", false).with_version(Some(v));
        assert!(!at(EngineKind::Docker, Version(19, 3, 15)).supports_pull_never());
        assert!(at(EngineKind::Docker, Version(20, 10, 0)).supports_pull_never());
        assert!(!at(EngineKind::Podman, Version(1, 5, 1)).supports_pull_never());
        assert!(at(EngineKind::Podman, Version(1, 6, 4)).supports_pull_never());
        assert!(!Engine::new(EngineKind::Podman, "x", false).supports_pull_never());
    }

    #[test]
    fn user_mapping_depends_on_rootless_podman() {
        let docker = Engine::new(EngineKind::Docker, "docker", false);
        assert_eq!(docker.user_args(1000, 100), ["--user", "1000:100"]);
        let root_podman = Engine::new(EngineKind::Podman, "podman", false);
        assert_eq!(root_podman.user_args(0, 0), ["--user", "0:0"]);
        let rootless = Engine::new(EngineKind::Podman, "podman", true);
        assert_eq!(rootless.user_args(1000, 1000), ["--userns=keep-id"]);
        let rootless_docker = Engine::new(EngineKind::Docker, "docker", true);
        assert_eq!(rootless_docker.user_args(1000, 1000), ["--user", "0:0"]);
    }

    #[test]
    fn older_than_names_the_version_a_feature_needs_only_when_known() {
        let at = |kind, v| Engine::new(kind, "x", false).with_version(Some(v));
        let manifest = |e: &Engine| e.older_than(DOCKER_MANIFEST, PODMAN_MANIFEST);
        assert_eq!(
            manifest(&at(EngineKind::Docker, Version(19, 3, 15))),
            Some(DOCKER_MANIFEST)
        );
        assert_eq!(manifest(&at(EngineKind::Docker, Version(20, 10, 0))), None);
        assert_eq!(
            manifest(&at(EngineKind::Podman, Version(1, 6, 4))),
            Some(PODMAN_MANIFEST)
        );
        assert_eq!(manifest(&at(EngineKind::Podman, Version(4, 3, 1))), None);
        assert_eq!(manifest(&Engine::new(EngineKind::Podman, "x", false)), None);
    }

    #[test]
    fn versions_are_shown_as_each_engine_writes_them() {
        let docker = Engine::new(EngineKind::Docker, "docker", false);
        assert_eq!(docker.show(Version(1, 13, 1)), "1.13.1");
        assert_eq!(docker.show(Version(17, 5, 0)), "17.05.0");
        assert_eq!(docker.show(Version(20, 10, 7)), "20.10.7");
        assert_eq!(docker.show(Version(28, 2, 2)), "28.2.2");
        let podman = Engine::new(EngineKind::Podman, "podman", false);
        assert_eq!(podman.show(Version(1, 6, 4)), "1.6.4");
    }
}
