//! `docker run` / `podman run` arguments, built by small named helpers so that each rule
//! (same-path mounts, the caller's uid, env by name, `-t` only on a terminal, `--rm` with a
//! unique name and a label) is one function that a test can look at.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Engine;
use crate::run::Cmd;
use crate::{Error, Result};

/// The label every container we start carries, so that `ps --filter label=…` finds leftovers.
pub const BUILD_LABEL: &str = "io.proxy-rpm.build";
/// The label naming the work dir a build container works on.
pub const WORKDIR_LABEL: &str = "io.proxy-rpm.workdir";

/// The proxy variable names (both cases), then `$extra`: every list of names passed into a
/// container starts with these.
macro_rules! proxies_and {
    ($($extra:literal),*) => {
        &[
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
            $($extra),*
        ]
    };
}

/// The proxy variables alone: what an image build gets by name (docker and podman predefine
/// them as build arguments), never `BAZELISK_BASE_URL`, which is for bazelisk in the compile
/// container, not for the image build.
pub const PROXY_ENV: &[&str] = proxies_and!();

/// Environment passed into build containers by name only: the value never appears on our
/// command line (proxy URLs may carry credentials), and unset names are left out. This is
/// compile's list: with `BAZELISK_BASE_URL`, where bazelisk downloads Bazel from (a mirror for
/// users who cannot reach the default).
pub const PASS_ENV: &[&str] = proxies_and!("BAZELISK_BASE_URL");

/// The Go build of pilot-agent's list: Go's module download settings, which go 1.14 reads
/// (GOINSECURE came with 1.14, golang/go@42db1da8; the others with 1.13), and GOFLAGS.
pub const GO_PASS_ENV: &[&str] = proxies_and!(
    "GOPROXY",
    "GOSUMDB",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOINSECURE",
    "GOFLAGS"
);

/// The names of `names` that are set in our environment.
pub fn set_names(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| std::env::var_os(n).is_some())
        .map(|n| n.to_string())
        .collect()
}

/// Which of our standard streams are terminals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terminals {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Terminals {
    pub fn current() -> Terminals {
        Terminals {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }
}

/// `-t` only when all three streams are terminals (a TTY in CI fails or garbles logs). Never
/// `-i`: nothing we run reads stdin.
pub fn tty_args(terminals: Terminals) -> Vec<String> {
    if terminals.stdin && terminals.stdout && terminals.stderr {
        vec!["-t".to_string()]
    } else {
        Vec::new()
    }
}

/// Mount a host path at the same absolute path inside, so that paths Bazel records (the
/// `bazel-bin` symlink, the output base) mean the same thing on both sides.
pub fn mount_same_path(path: &Path, read_only: bool) -> Result<Vec<OsString>> {
    if !path.is_absolute() {
        return Err(Error::input(format!(
            "{}: a mounted path must be absolute",
            path.display()
        )));
    }
    if path.to_string_lossy().contains(':') {
        return Err(Error::input(format!(
            "{}: a path containing ':' cannot be mounted into a container; use another directory",
            path.display()
        )));
    }
    let mut spec = OsString::from(path);
    spec.push(":");
    spec.push(path);
    if read_only {
        spec.push(":ro");
    }
    Ok(vec![OsString::from("-v"), spec])
}

/// `-e NAME` for each name of `names` that `is_set` says is set (the engine copies the value).
pub fn env_by_name(names: &[&str], is_set: impl Fn(&str) -> bool) -> Vec<String> {
    names
        .iter()
        .filter(|n| is_set(n))
        .flat_map(|n| ["-e".to_string(), n.to_string()])
        .collect()
}

/// A container name no other run of ours uses: purpose, pid, time and a counter.
pub fn unique_name(purpose: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "proxy-rpm-{purpose}-{}-{:x}-{}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `--rm`, the unique `--name` and our labels.
pub fn lifecycle_args(name: &str, labels: &[(String, String)]) -> Vec<String> {
    let mut args = vec!["--rm".to_string(), "--name".to_string(), name.to_string()];
    args.extend(["--label".to_string(), format!("{BUILD_LABEL}=1")]);
    for (k, v) in labels {
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    args
}

/// A host path mounted into the container at the same path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub path: PathBuf,
    pub read_only: bool,
}

/// Everything a `run` needs; [`RunSpec::to_cmd`] turns it into the engine's command line.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub image: String,
    pub name: String,
    /// Extra labels besides [`BUILD_LABEL`].
    pub labels: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub workdir: Option<PathBuf>,
    /// The caller's uid and gid (see [`Engine::user_args`]).
    pub user: Option<(u32, u32)>,
    /// Names from [`PASS_ENV`] (or another list) that are set here.
    pub pass_env: Vec<String>,
    /// Variables set to fixed values (e.g. `CC=clang`).
    pub set_env: Vec<(String, String)>,
    pub tty: bool,
    pub command: Vec<OsString>,
}

impl RunSpec {
    /// A spec with a fresh unique name, the proxy variables that are set, and no TTY.
    pub fn new(image: impl Into<String>, purpose: &str) -> RunSpec {
        RunSpec {
            image: image.into(),
            name: unique_name(purpose),
            labels: Vec::new(),
            mounts: Vec::new(),
            workdir: None,
            user: None,
            pass_env: set_names(PASS_ENV),
            set_env: Vec::new(),
            tty: false,
            command: Vec::new(),
        }
    }

    pub fn to_cmd(&self, engine: &Engine) -> Result<Cmd> {
        let mut cmd = engine.cmd().arg("run");
        cmd = cmd.args(lifecycle_args(&self.name, &self.labels));
        // The image is ours and local: never reach for a registry because of a typo. Older
        // engines lack the flag; compile's check that the image exists stands in for it.
        if engine.supports_pull_never() {
            cmd = cmd.arg("--pull=never");
        }
        // SELinux hosts would refuse the bind mounts; relabeling the user's files is worse.
        cmd = cmd.args(["--security-opt", "label=disable"]);
        if let Some((uid, gid)) = self.user {
            cmd = cmd.args(engine.user_args(uid, gid));
        }
        if self.tty {
            cmd = cmd.arg("-t");
        }
        for m in &self.mounts {
            cmd = cmd.args(mount_same_path(&m.path, m.read_only)?);
        }
        if let Some(dir) = &self.workdir {
            cmd = cmd.arg("-w").arg(dir);
        }
        let names: Vec<&str> = self.pass_env.iter().map(String::as_str).collect();
        cmd = cmd.args(env_by_name(&names, |_| true));
        for (k, v) in &self.set_env {
            cmd = cmd.arg("-e").arg(format!("{k}={v}"));
        }
        Ok(cmd.arg(&self.image).args(&self.command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::EngineKind;
    use crate::preflight::Version;

    fn words(cmd: &Cmd) -> Vec<String> {
        cmd.words()
    }

    #[test]
    fn tty_only_when_all_three_are_terminals() {
        let all = Terminals {
            stdin: true,
            stdout: true,
            stderr: true,
        };
        assert_eq!(tty_args(all), ["-t"]);
        for t in [
            Terminals {
                stdin: false,
                ..all
            },
            Terminals {
                stdout: false,
                ..all
            },
            Terminals {
                stderr: false,
                ..all
            },
        ] {
            assert!(tty_args(t).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn mounts_are_same_path_and_refuse_what_cannot_be_mounted() {
        let m = mount_same_path(Path::new("/work/dir"), false).unwrap();
        assert_eq!(m, ["-v", "/work/dir:/work/dir"]);
        let m = mount_same_path(Path::new("/a/rc"), true).unwrap();
        assert_eq!(m, ["-v", "/a/rc:/a/rc:ro"]);
        assert!(mount_same_path(Path::new("rel"), false).is_err());
        assert!(mount_same_path(Path::new("/a:b"), false).is_err());
    }

    #[test]
    fn env_is_passed_by_name_only_when_set() {
        let args = env_by_name(PASS_ENV, |n| n == "HTTP_PROXY" || n == "no_proxy");
        assert_eq!(args, ["-e", "HTTP_PROXY", "-e", "no_proxy"]);
    }

    #[test]
    fn the_go_build_gets_proxies_and_go_settings_but_not_bazelisks_mirror() {
        assert_eq!(PASS_ENV[..6], GO_PASS_ENV[..6]);
        assert!(
            PASS_ENV[..6]
                .iter()
                .all(|n| n.ends_with("_PROXY") || n.ends_with("_proxy"))
        );
        assert!(!GO_PASS_ENV.contains(&"BAZELISK_BASE_URL"));
        for name in [
            "GOPROXY",
            "GOFLAGS",
            "GONOSUMDB",
            "GOPRIVATE",
            "GOSUMDB",
            "GONOPROXY",
        ] {
            assert!(GO_PASS_ENV.contains(&name), "{name}");
        }
    }

    #[test]
    fn names_are_unique() {
        assert_ne!(unique_name("x"), unique_name("x"));
    }

    #[test]
    fn run_command_line() {
        let engine =
            Engine::new(EngineKind::Docker, "docker", false).with_version(Some(Version(20, 10, 0)));
        let mut spec = RunSpec::new("img:1", "compile");
        spec.name = "n1".into();
        spec.labels = vec![(WORKDIR_LABEL.into(), "/w".into())];
        spec.mounts = vec![Mount {
            path: "/w".into(),
            read_only: false,
        }];
        spec.workdir = Some("/w/src".into());
        spec.user = Some((1000, 1001));
        spec.pass_env = vec!["HTTPS_PROXY".into()];
        spec.set_env = vec![("CC".into(), "clang".into())];
        spec.command = vec!["bazel".into(), "build".into()];
        let cmd = spec.to_cmd(&engine).unwrap();
        assert_eq!(
            words(&cmd),
            [
                "run",
                "--rm",
                "--name",
                "n1",
                "--label",
                "io.proxy-rpm.build=1",
                "--label",
                "io.proxy-rpm.workdir=/w",
                "--pull=never",
                "--security-opt",
                "label=disable",
                "--user",
                "1000:1001",
                "-v",
                "/w:/w",
                "-w",
                "/w/src",
                "-e",
                "HTTPS_PROXY",
                "-e",
                "CC=clang",
                "img:1",
                "bazel",
                "build"
            ]
        );
        assert!(!words(&cmd).iter().any(|w| w == "-i" || w == "-it"));
    }

    #[test]
    fn pull_flag_only_for_engines_that_have_it() {
        let spec = RunSpec::new("img:1", "compile");
        let has_pull = |engine: Engine| {
            words(&spec.to_cmd(&engine).unwrap())
                .iter()
                .any(|w| w.starts_with("--pull"))
        };
        let docker = Engine::new(EngineKind::Docker, "docker", false);
        assert!(!has_pull(
            docker.clone().with_version(Some(Version(19, 3, 15)))
        ));
        assert!(!has_pull(docker.clone()));
        assert!(has_pull(docker.with_version(Some(Version(28, 2, 2)))));
        let podman = Engine::new(EngineKind::Podman, "podman", true);
        assert!(!has_pull(
            podman.clone().with_version(Some(Version(1, 5, 1)))
        ));
        assert!(has_pull(podman.with_version(Some(Version(1, 6, 4)))));
    }
}
