//! The version gates: a CentOS 7 host's git 1.8.3.1 and docker 1.13.1 (as fake programs that
//! answer the version queries like the real ones) are refused before anything is written, in
//! one line naming the version found, the version needed and the fix; the real git passes.

mod support_git;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support_git::{Fixture, closed_port, proxy_rpm};

/// A directory of stand-in programs to put first on PATH; each records its arguments.
struct FakeBin {
    dir: tempfile::TempDir,
}

impl FakeBin {
    fn new() -> FakeBin {
        FakeBin {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A program `name` that prints `version_line` for the queries in `answers` (a shell
    /// `case` pattern each) and fails on anything else.
    fn program(&self, name: &str, answers: &[(&str, &str)]) {
        let calls = self.calls_path(name);
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\ncase \"$*\" in\n",
            calls.display()
        );
        for (pattern, output) in answers {
            script += &format!("  {pattern}) echo '{output}' ;;\n");
        }
        script += &format!("  *) echo \"fake {name}: $*\" >&2; exit 1 ;;\nesac\n");
        let path = self.dir.path().join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn calls_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.calls"))
    }

    /// Every command line the program was run with.
    fn calls(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.calls_path(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// PATH with our programs first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// CentOS 7's git, as `git --version` reports it.
fn centos7_git() -> FakeBin {
    let bin = FakeBin::new();
    bin.program("git", &[("--version", "git version 1.8.3.1")]);
    bin
}

/// A docker of `version` (client and daemon), answering what detection asks.
fn docker(version: &str) -> FakeBin {
    let bin = FakeBin::new();
    let client = format!("Docker version {version}, build 7d71120/{version}");
    bin.program(
        "docker",
        &[
            ("'version --format {{.Server.Version}}'", version),
            ("--version", &client),
        ],
    );
    bin
}

fn assert_one_line_error(stderr: &str, parts: &[&str]) {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let next = stderr
        .lines()
        .skip_while(|l| !l.starts_with("error:"))
        .nth(1);
    assert!(
        next.is_none(),
        "the error continues on another line:\n{stderr}"
    );
    for part in parts {
        assert!(errors[0].contains(part), "{part:?} missing from:\n{stderr}");
    }
}

/// `args`, then `--offline --workdir DIR` (DIR named after the subcommand, in `scratch`), with
/// `env`: refused in one line naming every one of `needs`, before DIR exists.
fn refused_offline(scratch: &Path, env: &[(&str, &str)], args: &[&str], needs: &[&str]) {
    let workdir = scratch.join(format!("{}-work", args[0]));
    let offline = ["--offline", "--workdir", workdir.to_str().unwrap()];
    let run = proxy_rpm(&[args, &offline].concat(), env);
    assert!(!run.ok, "{}", run.stderr);
    assert_one_line_error(&run.stderr, needs);
    assert!(!workdir.exists(), "{} wrote {}", args[0], workdir.display());
}

#[test]
fn old_git_is_refused_before_anything_is_written() {
    let bin = centos7_git();
    let path = bin.path();
    let env = [("PATH", path.as_str())];
    let scratch = tempfile::tempdir().unwrap();
    let needs = ["git 1.8.3.1 is too old", "git >= 2.18.0", "rh-git218"];

    // prepare: offline, so the first git it would run is prepare's own.
    refused_offline(scratch.path(), &env, &["prepare", "1.6.14"], &needs);

    // resolve online: refused before any fetch (the repository would refuse connections).
    let istio = format!("http://127.0.0.1:{}/istio/istio", closed_port());
    let run = proxy_rpm(&["resolve", "1.6.14", "--istio-repo", &istio], &env);
    assert!(!run.ok, "{}", run.stderr);
    assert_one_line_error(&run.stderr, &needs);

    // build: refused before the work dir, its lock or its state exist.
    let build = ["build", "1.6.14", "--engine", "none"];
    refused_offline(scratch.path(), &env, &build, &needs);

    // Nothing but the version was ever asked of that git.
    let calls = bin.calls("git");
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c == "--version"), "{calls:?}");
}

#[test]
fn old_docker_is_refused_before_anything_is_written() {
    let bin = docker("1.13.1");
    let path = bin.path();
    let scratch = tempfile::tempdir().unwrap();
    let needs = [
        "docker 1.13.1",
        "is too old",
        "docker >= 17.05.0",
        "ARG before FROM",
        "docker-ce",
    ];

    let workdir = scratch.path().join("work");
    let build = |extra: &[(&str, &str)], engine: &[&str]| {
        let mut args = vec!["build", "1.6.14", "--offline"];
        args.extend_from_slice(engine);
        args.extend_from_slice(&["--workdir", workdir.to_str().unwrap()]);
        let mut env = vec![("PATH", path.as_str())];
        env.extend_from_slice(extra);
        proxy_rpm(&args, &env)
    };
    let run = build(&[], &["--engine", "docker"]);
    assert!(!run.ok, "{}", run.stderr);
    assert_one_line_error(&run.stderr, &needs);
    assert!(!workdir.exists(), "build wrote {}", workdir.display());

    // Chosen through the environment instead of --engine; and by `proxy-rpm image`.
    let run = build(&[("PROXY_RPM_ENGINE", "docker")], &[]);
    assert_one_line_error(&run.stderr, &needs);
    let image = proxy_rpm(&["image", "--engine", "docker"], &[("PATH", path.as_str())]);
    assert!(!image.ok);
    assert_one_line_error(&image.stderr, &needs);
    assert!(!workdir.exists());

    // Only version queries reached the engine: nothing was built, pulled or run.
    let calls = bin.calls("docker");
    assert!(!calls.is_empty());
    for call in &calls {
        assert!(
            call == "--version"
                || call.starts_with("version --format")
                || call.starts_with("info "),
            "docker was asked {call:?}"
        );
    }
}

/// The compile command of `build --dry-run` with the fake docker of `version`.
fn planned_run(version: &str) -> String {
    let bin = docker(version);
    let scratch = tempfile::tempdir().unwrap();
    let workdir = scratch.path().join("work");
    let path = bin.path();
    let run = proxy_rpm(
        &[
            "build",
            "1.6.14",
            "--dry-run",
            "--offline",
            "--engine",
            "docker",
            "--workdir",
            workdir.to_str().unwrap(),
        ],
        &[("PATH", path.as_str())],
    );
    assert!(run.ok, "{}", run.stderr);
    run.stdout
        .lines()
        .find(|l| l.contains(" run --rm "))
        .unwrap_or_else(|| panic!("no run command in the plan:\n{}", run.stdout))
        .to_string()
}

#[test]
fn pull_never_is_used_only_where_docker_has_it() {
    assert!(!planned_run("19.03.15").contains("--pull"));
    assert!(planned_run("20.10.24").contains("--pull=never"));
}

#[test]
fn the_real_git_passes() {
    let version = std::process::Command::new("git").arg("--version").output();
    let Ok(version) = version else {
        eprintln!("SKIPPED: git is not installed");
        return;
    };
    let line = String::from_utf8_lossy(&version.stdout).into_owned();
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let run = proxy_rpm(
        &[
            "prepare",
            "1.6.13",
            "--workdir",
            workdir.to_str().unwrap(),
            "--proxy-repo",
            &fx.file_url("proxy"),
            "--istio-repo",
            &fx.file_url("istio"),
            "--proxy-sha",
            &fx.proxy_commits[1],
        ],
        &[],
    );
    assert!(run.ok, "{} refused or failed:\n{}", line.trim(), run.stderr);
    assert!(Path::new(&workdir).join("src/istio-proxy/.git").exists());
}
