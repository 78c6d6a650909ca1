//! The container engine (docker or podman) and the CentOS 7 builder image.
//!
//! The engine is detected once into an [`Engine`] value whose capability methods hide the few
//! differences between docker and rootless podman; `docker run` arguments are built by the small
//! helpers of [`args`]; [`guard`] makes sure no build container outlives us; [`interrupt`] turns
//! Ctrl-C and SIGTERM into a clean stop of whatever child runs.

pub mod args;
pub mod guard;
mod image;
pub mod interrupt;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::run::Cmd;
use crate::{Error, Result};

pub use image::{
    BUILTIN_DOCKERFILE, HASH_LABEL, IMAGE_REPOSITORY, ImageArgs, ImageOptions, ImagePlan, ImageRef,
    build_image, default_tag, hash as dockerfile_hash, image_plan, missing_image,
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

/// A container engine found on this machine, with what we need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engine {
    kind: EngineKind,
    program: PathBuf,
    /// A rootless engine maps its root to our uid: `--user uid:gid` would land on a
    /// subordinate id outside (files the caller cannot even write over).
    rootless: bool,
}

/// What detection looks at, so that tests can inject it.
pub struct Probe<'a> {
    /// The value of `PROXY_RPM_ENGINE`, if set.
    pub env: Option<&'a str>,
    /// Finds a program on `PATH`.
    pub which: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Our effective uid (0 means root: podman is then not rootless).
    pub euid: u32,
    /// Whether the docker at this path runs rootless (asked only when we are not root).
    pub docker_rootless: &'a dyn Fn(&Path) -> bool,
    /// Whether a docker client reaches a daemon (a client alone cannot build anything).
    pub docker_alive: &'a dyn Fn(&Path) -> bool,
}

impl Engine {
    /// Detect the engine for commands that need one (`image`): `none` is an error here.
    pub fn detect(choice: Option<EngineChoice>) -> Result<Engine> {
        detect(choice)?
            .ok_or_else(|| Error::input("--engine none: building the image needs docker or podman"))
    }

    /// An engine at a known program path (e.g. a `docker` shim), without looking at `PATH`.
    pub fn new(kind: EngineKind, program: impl Into<PathBuf>, rootless: bool) -> Engine {
        Engine {
            kind,
            program: program.into(),
            rootless,
        }
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

    /// Stop a container at once (SIGKILL), then remove it; both engines understand these.
    pub fn kill_and_remove(&self, name: &str) -> [Cmd; 2] {
        [
            self.cmd().args(["kill", name]),
            self.cmd().args(["rm", "-f", name]),
        ]
    }
}

/// Detect the engine once: `choice`, else `PROXY_RPM_ENGINE`, else `docker` on `PATH`, else
/// `podman`. `Ok(None)` means "no container, run on the host" (`none`).
pub fn detect(choice: Option<EngineChoice>) -> Result<Option<Engine>> {
    let env = std::env::var(ENGINE_ENV).ok();
    let euid = caller_ids().map(|(uid, _)| uid).unwrap_or(0);
    let docker_rootless = |program: &Path| {
        Cmd::new(program)
            .args(["info", "--format", "{{json .SecurityOptions}}"])
            .read(&crate::Reporter::silent())
            .is_ok_and(|out| out.contains("rootless"))
    };
    detect_with(
        choice,
        &Probe {
            env: env.as_deref(),
            which: &which,
            euid,
            docker_rootless: &docker_rootless,
            docker_alive: &|program: &Path| {
                Cmd::new(program)
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .read(&crate::Reporter::silent())
                    .is_ok()
            },
        },
    )
}

/// [`detect`] with the environment injected.
pub fn detect_with(choice: Option<EngineChoice>, probe: &Probe<'_>) -> Result<Option<Engine>> {
    // PROXY_RPM_ENGINE may name the program itself (e.g. a wrapper that sets CONTAINERS_CONF).
    let (choice, program) = match (choice, probe.env.map(str::trim).filter(|v| !v.is_empty())) {
        (Some(choice), _) => (Some(choice), None),
        (None, Some(value)) => (
            Some(parse_env(value, probe)?),
            Path::new(value).is_absolute().then_some(value),
        ),
        (None, None) => (None, None),
    };
    let found = |kind: EngineKind, name: &str| {
        (probe.which)(name).map(|program| Engine {
            kind,
            rootless: probe.euid != 0
                && (kind == EngineKind::Podman || (probe.docker_rootless)(&program)),
            program,
        })
    };
    match choice {
        Some(EngineChoice::None) => Ok(None),
        Some(EngineChoice::Docker) => found(EngineKind::Docker, program.unwrap_or("docker"))
            .map(Some)
            .ok_or_else(|| Error::input(missing("docker", "or use --engine podman"))),
        Some(EngineChoice::Podman) => found(EngineKind::Podman, program.unwrap_or("podman"))
            .map(Some)
            .ok_or_else(|| Error::input(missing("podman", "or use --engine docker"))),
        // A docker client without a daemon loses to podman; alone, it stays (and its error
        // will say what is wrong).
        None => found(EngineKind::Docker, "docker")
            .filter(|docker| (probe.docker_alive)(&docker.program))
            .or_else(|| found(EngineKind::Podman, "podman"))
            .or_else(|| found(EngineKind::Docker, "docker"))
            .map(Some)
            .ok_or_else(|| {
                Error::input(
                    "no container engine found (neither docker nor podman is on PATH): \
                     install one (e.g. `apt-get install podman` or `dnf install podman`), \
                     or pass --engine none to build on this host",
                )
            }),
    }
}

fn missing(name: &str, alternative: &str) -> String {
    format!("{name} is not on PATH: install it (e.g. `apt-get install {name}`) {alternative}")
}

/// `PROXY_RPM_ENGINE` holds `docker`, `podman`, `none`, or a path to one of the two programs.
fn parse_env(value: &str, probe: &Probe<'_>) -> Result<EngineChoice> {
    match value {
        "docker" => return Ok(EngineChoice::Docker),
        "podman" => return Ok(EngineChoice::Podman),
        "none" => return Ok(EngineChoice::None),
        _ => {}
    }
    let path = Path::new(value);
    let name = path.file_name().and_then(OsStr::to_str).unwrap_or("");
    if path.is_absolute() && (name.contains("podman") || name.contains("docker")) {
        // A path is resolved by `which` like a name, so the probe decides whether it exists.
        if (probe.which)(value).is_some() {
            return Ok(if name.contains("podman") {
                EngineChoice::Podman
            } else {
                EngineChoice::Docker
            });
        }
    }
    Err(Error::input(format!(
        "{ENGINE_ENV}={value}: expected docker, podman or none"
    )))
}

/// Find a program on `PATH` (or check an absolute path), like `command -v`.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
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

    fn detect_on(
        choice: Option<EngineChoice>,
        env: Option<&str>,
        have: &[&str],
        euid: u32,
    ) -> Result<Option<Engine>> {
        detect_rootless(choice, env, have, euid, false)
    }

    /// Docker's client is there but its daemon is not.
    fn detect_dead_docker(have: &[&str]) -> Result<Option<Engine>> {
        detect_full(None, None, have, 0, false, false)
    }

    fn detect_rootless(
        choice: Option<EngineChoice>,
        env: Option<&str>,
        have: &[&str],
        euid: u32,
        docker_rootless: bool,
    ) -> Result<Option<Engine>> {
        detect_full(choice, env, have, euid, docker_rootless, true)
    }

    fn detect_full(
        choice: Option<EngineChoice>,
        env: Option<&str>,
        have: &[&str],
        euid: u32,
        docker_rootless: bool,
        docker_alive: bool,
    ) -> Result<Option<Engine>> {
        let have: Vec<String> = have.iter().map(|s| s.to_string()).collect();
        let which = move |name: &str| {
            let base = name.rsplit('/').next().unwrap_or(name).to_string();
            have.contains(&base)
                .then(|| PathBuf::from(format!("/usr/bin/{base}")))
        };
        detect_with(
            choice,
            &Probe {
                env,
                which: &which,
                euid,
                docker_rootless: &|_| docker_rootless,
                docker_alive: &|_| docker_alive,
            },
        )
    }

    #[test]
    fn an_engine_path_in_the_environment_is_the_program_run() {
        let e = detect_on(
            None,
            Some("/opt/bin/podman-wrapper"),
            &["podman", "podman-wrapper"],
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.kind(), EngineKind::Podman);
        assert!(
            e.program().ends_with("podman-wrapper"),
            "{}",
            e.program().display()
        );
    }

    #[test]
    fn a_docker_client_without_daemon_loses_to_podman() {
        let e = detect_dead_docker(&["docker", "podman"]).unwrap().unwrap();
        assert_eq!(e.kind(), EngineKind::Podman);
        let e = detect_dead_docker(&["docker"]).unwrap().unwrap();
        assert_eq!(e.kind(), EngineKind::Docker);
    }

    #[test]
    fn docker_first_then_podman() {
        let e = detect_on(None, None, &["docker", "podman"], 1000)
            .unwrap()
            .unwrap();
        assert_eq!(e.kind(), EngineKind::Docker);
        let e = detect_on(None, None, &["podman"], 1000).unwrap().unwrap();
        assert_eq!(e.kind(), EngineKind::Podman);
        assert!(e.is_rootless());
        let e = detect_on(None, None, &["podman"], 0).unwrap().unwrap();
        assert!(!e.is_rootless());
    }

    #[test]
    fn env_overrides_path_order_and_flag_overrides_env() {
        let e = detect_on(None, Some("podman"), &["docker", "podman"], 0)
            .unwrap()
            .unwrap();
        assert_eq!(e.kind(), EngineKind::Podman);
        assert_eq!(detect_on(None, Some("none"), &["docker"], 0).unwrap(), None);
        let e = detect_on(
            Some(EngineChoice::Docker),
            Some("podman"),
            &["docker", "podman"],
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.kind(), EngineKind::Docker);
        let e = detect_on(None, Some("/opt/bin/podman"), &["podman"], 0)
            .unwrap()
            .unwrap();
        assert_eq!(e.kind(), EngineKind::Podman);
    }

    #[test]
    fn missing_engine_is_one_line_saying_how_to_install() {
        let err = detect_on(None, None, &[], 0).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("install"), "{err}");
        let err = detect_on(Some(EngineChoice::Podman), None, &["docker"], 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("podman is not on PATH"), "{err}");
        let err = detect_on(None, Some("lxc"), &["docker"], 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PROXY_RPM_ENGINE=lxc"), "{err}");
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
    fn rootless_docker_is_asked_only_when_not_root() {
        let e = detect_rootless(None, None, &["docker"], 1000, true)
            .unwrap()
            .unwrap();
        assert!(e.is_rootless());
        let e = detect_rootless(None, None, &["docker"], 1000, false)
            .unwrap()
            .unwrap();
        assert!(!e.is_rootless());
        let e = detect_rootless(None, None, &["docker"], 0, true)
            .unwrap()
            .unwrap();
        assert!(!e.is_rootless());
    }
}
