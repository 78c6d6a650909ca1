//! Which engine, and what it is: `--engine`, else `PROXY_RPM_ENGINE`, else docker (if its
//! daemon answers), else podman; then its version, read once, so that [`Engine`]'s capability
//! methods can decide which flags it understands and [`detect`] can refuse an engine too old.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{ENGINE_ENV, Engine, EngineChoice, EngineKind, caller_ids};
use crate::preflight::Version;
use crate::run::Cmd;
use crate::{Error, Result};

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
    /// The daemon version a docker client reports (`docker version --format
    /// {{.Server.Version}}`); `None` when no daemon answers (a client alone cannot build).
    pub docker_server: &'a dyn Fn(&Path) -> Option<String>,
    /// The program's own version line (`docker --version`, `podman version --format
    /// {{.Client.Version}}` or `podman --version`), which needs no daemon.
    pub client_version: &'a dyn Fn(EngineKind, &Path) -> Option<String>,
}

/// Detect the engine once: `choice`, else `PROXY_RPM_ENGINE`, else `docker` on `PATH`, else
/// `podman`. `Ok(None)` means "no container, run on the host" (`none`). An engine older than
/// we support is refused here, before anything runs.
pub fn detect(choice: Option<EngineChoice>) -> Result<Option<Engine>> {
    let engine = find(choice)?;
    if let Some(engine) = &engine {
        engine.check_supported()?;
    }
    Ok(engine)
}

/// [`detect`] without refusing old versions (`doctor` reports them instead).
pub fn find(choice: Option<EngineChoice>) -> Result<Option<Engine>> {
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
            docker_server: &|program: &Path| {
                read(Cmd::new(program).args(["version", "--format", "{{.Server.Version}}"]))
            },
            client_version: &|kind, program: &Path| match kind {
                EngineKind::Docker => read(Cmd::new(program).arg("--version")),
                // `{{.Client.Version}}` since podman 2.0; 1.x answers `--version` only.
                EngineKind::Podman => {
                    read(Cmd::new(program).args(["version", "--format", "{{.Client.Version}}"]))
                        .or_else(|| read(Cmd::new(program).arg("--version")))
                }
            },
        },
    )
}

/// A version query's output, if it succeeded and said something.
fn read(cmd: Cmd) -> Option<String> {
    cmd.env("LC_ALL", "C")
        .read(&crate::Reporter::silent())
        .ok()
        .map(|out| out.trim().to_string())
        .filter(|out| !out.is_empty())
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
        (probe.which)(name).map(|program| probe_engine(kind, program, probe))
    };
    match choice {
        Some(EngineChoice::None) => Ok(None),
        Some(EngineChoice::Docker) => found(EngineKind::Docker, program.unwrap_or("docker"))
            .map(|(engine, _)| Some(engine))
            .ok_or_else(|| Error::input(missing("docker", "or use --engine podman"))),
        Some(EngineChoice::Podman) => found(EngineKind::Podman, program.unwrap_or("podman"))
            .map(|(engine, _)| Some(engine))
            .ok_or_else(|| Error::input(missing("podman", "or use --engine docker"))),
        // A docker client without a daemon loses to podman; alone, it stays (and its error
        // will say what is wrong). Docker is asked once either way.
        None => match found(EngineKind::Docker, "docker") {
            Some((docker, true)) => Some(docker),
            docker => found(EngineKind::Podman, "podman")
                .map(|(podman, _)| podman)
                .or(docker.map(|(docker, _)| docker)),
        }
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

/// Ask the engine at `program` what it is: its version, whether it is rootless, and (for
/// docker) whether a daemon answers. A `docker` that says it is podman (the podman-docker
/// wrapper) is treated as podman.
fn probe_engine(kind: EngineKind, program: PathBuf, probe: &Probe<'_>) -> (Engine, bool) {
    let client = (probe.client_version)(kind, &program);
    let kind = match &client {
        Some(line)
            if kind == EngineKind::Docker && line.to_ascii_lowercase().contains("podman") =>
        {
            EngineKind::Podman
        }
        _ => kind,
    };
    let client = client.as_deref().and_then(Version::find);
    let (version, alive) = match kind {
        EngineKind::Podman => (client, true),
        EngineKind::Docker => {
            let server = (probe.docker_server)(&program);
            let alive = server.is_some();
            let server = server.as_deref().and_then(Version::find);
            // The daemon builds (ARG before FROM), the client parses `run` flags (--pull).
            let version = match (client, server) {
                (Some(c), Some(s)) => Some(c.min(s)),
                (c, s) => c.or(s),
            };
            (version, alive)
        }
    };
    let rootless =
        probe.euid != 0 && (kind == EngineKind::Podman || (probe.docker_rootless)(&program));
    let engine = Engine {
        kind,
        program,
        rootless,
        version,
    };
    (engine, alive)
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
        let versions = Versions {
            docker_server: docker_alive.then_some("28.2.2"),
            docker_client: "Docker version 28.2.2, build e6534b4",
            podman: "4.3.1",
        };
        detect_versions(choice, env, have, euid, docker_rootless, &versions)
    }

    /// What the engines on the fake PATH say about their versions.
    struct Versions {
        docker_server: Option<&'static str>,
        docker_client: &'static str,
        podman: &'static str,
    }

    fn detect_versions(
        choice: Option<EngineChoice>,
        env: Option<&str>,
        have: &[&str],
        euid: u32,
        docker_rootless: bool,
        versions: &Versions,
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
                docker_server: &|_| versions.docker_server.map(str::to_string),
                client_version: &|kind, _| {
                    Some(match kind {
                        EngineKind::Docker => versions.docker_client.to_string(),
                        EngineKind::Podman => versions.podman.to_string(),
                    })
                },
            },
        )
    }

    fn docker_reporting(server: Option<&'static str>, client: &'static str) -> Engine {
        let versions = Versions {
            docker_server: server,
            docker_client: client,
            podman: "4.3.1",
        };
        detect_versions(
            Some(EngineChoice::Docker),
            None,
            &["docker"],
            0,
            false,
            &versions,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn detection_reads_the_engine_version() {
        let e = docker_reporting(Some("20.10.7"), "Docker version 20.10.7, build f0df350");
        assert_eq!(e.version(), Some(Version(20, 10, 7)));
        assert!(e.supports_pull_never());
        assert!(e.check_supported().is_ok());
        // No daemon: the client's version.
        let e = docker_reporting(None, "Docker version 19.03.15, build 99e3ed8");
        assert_eq!(e.version(), Some(Version(19, 3, 15)));
        assert!(!e.supports_pull_never());
        // An old client in front of a new daemon: the lower decides.
        let e = docker_reporting(
            Some("24.0.7"),
            "Docker version 1.13.1, build 7d71120/1.13.1",
        );
        assert_eq!(e.version(), Some(Version(1, 13, 1)));
        // podman-docker's `docker` is podman.
        let e = docker_reporting(None, "podman version 4.3.1");
        assert_eq!(e.kind(), EngineKind::Podman);
        assert_eq!(e.version(), Some(Version(4, 3, 1)));
    }

    #[test]
    fn old_engines_are_refused_in_one_line_naming_both_versions() {
        let docker = docker_reporting(
            Some("1.13.1"),
            "Docker version 1.13.1, build 7d71120/1.13.1",
        );
        let err = docker.check_supported().unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.starts_with("docker 1.13.1 (/usr/bin/docker) is too old"),
            "{err}"
        );
        assert!(err.contains("docker >= 17.05.0"), "{err}");
        assert!(err.contains("docker-ce"), "{err}");
        let ok = docker_reporting(
            Some("17.05.0-ce"),
            "Docker version 17.05.0-ce, build 89658be",
        );
        assert!(ok.check_supported().is_ok());
        let podman =
            Engine::new(EngineKind::Podman, "podman", true).with_version(Some(Version(1, 3, 2)));
        let err = podman.check_supported().unwrap_err().to_string();
        assert!(err.contains("podman >= 1.4.0"), "{err}");
        // Unknown: not refused (the engine's own error will speak when it runs).
        assert!(
            Engine::new(EngineKind::Docker, "docker", false)
                .check_supported()
                .is_ok()
        );
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
