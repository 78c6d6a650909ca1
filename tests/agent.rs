//! The `agent` stage of `proxy-rpm build --sidecar`: pilot-agent built with Go from a fixture
//! istio/istio repository whose release tag carries a go.mod and a small `main` at
//! pilot/cmd/pilot-agent that prints the version variables Istio stamps at link time. Debian's
//! Go builds it on this host (`--engine none`, with GOPROXY=off: nothing is downloaded); in a
//! podman container the stand-in builder image's Go stand-in does. Envoy is given
//! (`--envoy-binary`), so pilot-agent is the only thing built.

mod support;
mod support_container;
mod support_git;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support_container::blocking::{Held, make_fifo};
use support_container::{
    containers_labelled, describe, passed_by_name, podman_wrapper, proxy_rpm, test_image, text,
};

/// The fixture's module: Istio's module path and `go` line (istio/istio@1.6.14:go.mod), and
/// istio.io/pkg replaced by a directory of the tree, so that nothing is downloaded.
const GO_MOD: &str = "module istio.io/istio\n\ngo 1.13\n\nrequire istio.io/pkg v0.0.0\n\n\
                      replace istio.io/pkg => ./fixture/pkg\n";
const PKG_GO_MOD: &str = "module istio.io/pkg\n\ngo 1.13\n";
/// A stand-in for istio.io/pkg/version: the five variables report_build_info.sh fills.
const VERSION_GO: &str = r#"package version

var (
	buildVersion     = "unset"
	buildGitRevision = "unset"
	buildStatus      = "unset"
	buildTag         = "unset"
	buildHub         = "unset"
)

// Info is the stamp, one variable a line.
func Info() string {
	return "version=" + buildVersion + "\nrevision=" + buildGitRevision +
		"\nstatus=" + buildStatus + "\ntag=" + buildTag + "\nhub=" + buildHub + "\n"
}
"#;
const MAIN_GO: &str = r#"package main

import (
	"os"

	"istio.io/pkg/version"
)

func main() {
	os.Stdout.WriteString(version.Info())
}
"#;

struct Fixture {
    git: support_git::Fixture,
    dir: tempfile::TempDir,
    envoy: PathBuf,
    /// The commit the fixture's tag (1.6.14, or the release given) points to, with the Go
    /// sources.
    tag_commit: String,
    version: &'static str,
}

/// pilot-agent's build tags, seen from inside (Istio 1.7.5+ builds it with `-tags=agent`,
/// which drops pkg/config/xds/filter_types.gen.go, `+build !agent`).
const TAGS_AGENT_GO: &str = "//go:build agent\n// +build agent\n\npackage main\n\n\
                             const buildTags = \"agent\"\n";
const TAGS_OTHER_GO: &str = "//go:build !agent\n// +build !agent\n\npackage main\n\n\
                             const buildTags = \"none\"\n";
const MAIN_TAGS_GO: &str = r#"package main

import (
	"os"

	"istio.io/pkg/version"
)

func main() {
	os.Stdout.WriteString(version.Info() + "tags=" + buildTags + "\n")
}
"#;

impl Fixture {
    fn new() -> Fixture {
        Fixture::release("1.6.14", &[("pilot/cmd/pilot-agent/main.go", MAIN_GO)])
    }

    /// The fixture with pilot-agent's sources (and `extra`) at tag `version`.
    fn release(version: &'static str, extra: &[(&str, &str)]) -> Fixture {
        let git = support_git::Fixture::new();
        let istio = git.repo("istio");
        support_git::git(&istio, &["checkout", "-q", "--detach", version]);
        let common = [
            ("go.mod", GO_MOD),
            ("fixture/pkg/go.mod", PKG_GO_MOD),
            ("fixture/pkg/version/version.go", VERSION_GO),
        ];
        for (path, content) in common.iter().chain(extra) {
            let p = istio.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        support_git::git(&istio, &["add", "-A"]);
        support_git::git(&istio, &["commit", "-q", "-m", "pilot-agent sources"]);
        let message = format!("Istio {version}");
        support_git::git(&istio, &["tag", "-f", "-a", "-m", &message, version]);
        let tag_commit = support_git::git(&istio, &["rev-parse", "HEAD"]);
        support_git::git(&istio, &["checkout", "-q", "main"]);
        let dir = tempfile::tempdir().unwrap();
        let envoy = support::old_glibc_elf(&std::fs::canonicalize(dir.path()).unwrap());
        Fixture {
            git,
            dir,
            envoy,
            tag_commit,
            version,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap().join(name)
    }

    /// `proxy-rpm build 1.6.14 --sidecar --envoy-binary …` on the fixture, in `workdir`, with
    /// Go told never to download (GOPROXY=off) and no Go or proxy settings from outside.
    fn build(&self, workdir: &Path, extra: &[&str]) -> Command {
        // proxy_rpm(): no proxy variables, no engine preference, podman's test configuration.
        let mut cmd = proxy_rpm();
        cmd.args(["build", self.version, "--workdir"])
            .arg(workdir)
            .arg("--istio-repo")
            .arg(self.git.file_url("istio"))
            .args(["--retry-delay-ms=0", "--sidecar", "--envoy-binary"])
            .arg(&self.envoy)
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(extra)
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .env("GOPROXY", "off");
        for name in
            "GOFLAGS GOPRIVATE GONOPROXY GONOSUMDB GOSUMDB GOINSECURE BAZELISK_BASE_URL".split(' ')
        {
            cmd.env_remove(name);
        }
        cmd
    }

    /// A `--sidecar` build of this release printed both RPMs, istio-proxy's first: returns the
    /// sidecar's.
    fn succeeded(&self, out: &Output) -> PathBuf {
        assert!(out.status.success(), "{}", describe(out));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        let version = self.version;
        assert!(
            lines[0].ends_with(&format!("/istio-proxy-{version}-1.el7.x86_64.rpm"))
                && lines[1].ends_with(&format!("/istio-sidecar-{version}-1.el7.x86_64.rpm")),
            "{stdout}"
        );
        PathBuf::from(lines[1])
    }

    /// The `-ldflags` value Istio's build gives for this revision.
    fn ldflags(&self, revision: &str) -> String {
        format!(
            "-extldflags -static -s -w -X istio.io/pkg/version.buildVersion=1.6.14 \
             -X istio.io/pkg/version.buildGitRevision={revision} \
             -X istio.io/pkg/version.buildStatus=Clean -X istio.io/pkg/version.buildTag=1.6.14 \
             -X istio.io/pkg/version.buildHub=docker.io/istio"
        )
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// Debian's Go, or why the test cannot run.
fn go_ready() -> Result<PathBuf, String> {
    let out = Command::new("sh")
        .args(["-c", "command -v go"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("go is not installed (apt-get install golang-go)".into());
    }
    Ok(PathBuf::from(text(&out.stdout).trim()))
}

/// A directory holding a `go` script, to put first on PATH.
fn go_wrapper(dir: &Path, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let go = dir.join("go");
    std::fs::write(&go, script).unwrap();
    std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The plan's line that runs `go build`, split into words.
fn go_line(plan: &str) -> Vec<String> {
    let line = plan
        .lines()
        .find(|l| l.contains(" go build "))
        .unwrap_or_else(|| panic!("no go build in the plan:\n{plan}"));
    shell_words::split(line.trim()).unwrap()
}

fn after<'a>(words: &'a [String], flag: &str) -> &'a str {
    let at = words.iter().position(|w| w == flag).expect(flag);
    &words[at + 1]
}

#[test]
fn debian_go_builds_a_stamped_static_pilot_agent_and_a_rerun_skips_it() {
    require!(go_ready());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let cache = fx.path("cache");
    let args = ["--engine", "none"];

    // The plan: the stage between compile and package, the fetch at the tag, gobuild.sh's
    // flags and environment; the commit is not known before prepare has run.
    let planned = run(&mut fx.build(&workdir, &[&args[..], &["--dry-run"]].concat()));
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    for expected in [
        "\n4. compile".to_string(),
        "\n5. agent\n".to_string(),
        "\n6. package".to_string(),
        "\n7. sidecar".to_string(),
        "\n8. verify".to_string(),
        format!(
            "git fetch --depth 1 {} refs/tags/1.6.14 -> {}/src/istio",
            fx.git.file_url("istio"),
            workdir.display()
        ),
        format!(
            "(cd {}/src/istio && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GO111MODULE=on \
             GOPATH={}/go/path GOCACHE={}/go/build go build -o {}/out/pilot-agent -trimpath ",
            workdir.display(),
            cache.display(),
            cache.display(),
            workdir.display()
        ),
        format!("-> {}/out/pilot-agent (checked: x86_64", workdir.display()),
    ] {
        assert!(plan.contains(&expected), "{expected:?} not in:\n{plan}");
    }
    let words = go_line(&plan);
    assert_eq!(
        after(&words, "-ldflags"),
        fx.ldflags("<commit of tag 1.6.14>")
    );
    assert_eq!(words.last().unwrap(), "./pilot/cmd/pilot-agent)");
    assert!(!workdir.exists() && !cache.exists(), "--dry-run wrote");

    let out = run(&mut fx.build(&workdir, &args));
    let sidecar = fx.succeeded(&out);
    let stderr = text(&out.stderr);
    let agent = workdir.join("out/pilot-agent");
    assert!(
        stderr.contains(&format!(
            "agent:    {} (static x86_64 executable)",
            agent.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("[5/8] ==> agent"), "{stderr}");

    // The stamp is in the binary: it prints what the linker set. The sidecar RPM carries that
    // binary, and passes our verify.
    let stamp = format!(
        "version=1.6.14\nrevision={}\nstatus=Clean\ntag=1.6.14\nhub=docker.io/istio\n",
        fx.tag_commit
    );
    let ran = run(&mut Command::new(&agent));
    assert_eq!(text(&ran.stdout), stamp);
    let unpacked = fx.path("unpacked");
    support::unpack(&sidecar, &unpacked);
    let packaged = unpacked.join("usr/local/bin/pilot-agent");
    assert_eq!(text(&run(&mut Command::new(&packaged)).stdout), stamp);
    let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .arg("verify")
        .arg(&sidecar));
    assert!(verified.status.success(), "{}", describe(&verified));
    let file = run(Command::new("file").arg(&agent));
    let file = text(&file.stdout);
    assert!(
        file.contains("x86-64") && file.contains("statically linked"),
        "{file}"
    );
    assert!(file.trim_end().ends_with(", stripped"), "-s -w: {file}");

    // What ran, in the stage log; Go's caches in the cache dir; the record in state.json.
    let log = std::fs::read_to_string(workdir.join("logs/agent.log")).unwrap();
    assert!(log.contains(&fx.ldflags(&fx.tag_commit)), "{log}");
    assert!(
        log.contains(&format!("+ (cd {}/src/istio && ", workdir.display())),
        "{log}"
    );
    assert!(cache.join("go/build").is_dir() && cache.join("go/path").is_dir());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["stages"]["agent"]["outputs"]["istio_commit"],
        fx.tag_commit.as_str()
    );
    assert_eq!(
        support_git::git(&workdir.join("src/istio"), &["rev-parse", "HEAD"]),
        fx.tag_commit
    );

    // Now the plan knows the commit, and says the stage is done.
    let planned = run(&mut fx.build(&workdir, &[&args[..], &["--dry-run"]].concat()));
    let plan = text(&planned.stdout);
    assert_eq!(
        after(&go_line(&plan), "-ldflags"),
        fx.ldflags(&fx.tag_commit)
    );
    assert!(
        plan.contains("5. agent   (finished in an earlier run"),
        "{plan}"
    );

    let again = run(&mut fx.build(&workdir, &args));
    fx.succeeded(&again);
    assert!(
        text(&again.stderr).contains("==> agent: done in an earlier run"),
        "{}",
        describe(&again)
    );

    // --from agent builds again, from Go's cache, the same bytes (-trimpath).
    let first = std::fs::read(&agent).unwrap();
    let from = run(&mut fx.build(&workdir, &[&args[..], &["--from", "agent"]].concat()));
    fx.succeeded(&from);
    let stderr = text(&from.stderr);
    assert!(
        stderr.contains("==> prepare: done in an earlier run")
            && stderr.contains("istio/istio 1.6.14 already in place")
            && !stderr.contains("==> agent: done in an earlier run"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&agent).unwrap(), first);
}

#[test]
fn a_build_killed_in_the_go_stage_resumes_there() {
    let go = require!(go_ready());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    std::fs::create_dir_all(&workdir).unwrap();
    let fifo = workdir.join("block");
    make_fifo(&fifo);
    // A `go` that waits on the fifo (while it exists), then is Debian's.
    let path = go_wrapper(
        &fx.path("bin"),
        &format!(
            "#!/bin/sh\nif [ -p '{}' ]; then read -r _ < '{}'; fi\nexec '{}' \"$@\"\n",
            fifo.display(),
            fifo.display(),
            go.display()
        ),
    );
    let args = ["--engine", "none"];
    let held = Held::spawn(fx.build(&workdir, &args).env("PATH", &path), &fifo);
    let writer = held.blocked("go ran");
    let killed = held.terminate(writer);
    assert!(!killed.status.success());
    let stderr = text(&killed.stderr);
    assert!(
        stderr.contains(
            "error: agent stage failed: pilot-agent build interrupted by SIGTERM: go stopped; \
             rerun to resume from Go's caches in"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("logs/agent.log"), "{stderr}");
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(
        state.contains("\"prepare\"") && !state.contains("\"agent\""),
        "{state}"
    );
    let log = std::fs::read_to_string(workdir.join("logs/agent.log")).unwrap();
    assert!(
        log.contains("error: pilot-agent build interrupted by SIGTERM"),
        "{log}"
    );

    std::fs::remove_file(&fifo).unwrap();
    let resumed = run(fx.build(&workdir, &args).env("PATH", &path));
    fx.succeeded(&resumed);
    let stderr = text(&resumed.stderr);
    for done in ["resolve", "prepare"] {
        assert!(
            stderr.contains(&format!("==> {done}: done in an earlier run")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("istio/istio 1.6.14 already in place"),
        "the tree fetched before the kill is kept: {stderr}"
    );
    assert!(stderr.contains("[5/8] ==> agent finished"), "{stderr}");
    let ran = run(&mut Command::new(workdir.join("out/pilot-agent")));
    assert!(text(&ran.stdout).starts_with("version=1.6.14\n"));
}

#[test]
fn a_given_pilot_agent_is_checked_not_built() {
    let fx = Fixture::new();
    let workdir = fx.path("work");
    // Any run of `go` fails the build loudly.
    let path = go_wrapper(
        &fx.path("bin"),
        "#!/bin/sh\necho 'go must not run' >&2\nexit 99\n",
    );
    let given = fx.envoy.clone();
    let args = ["--engine", "none", "--pilot-agent", given.to_str().unwrap()];

    let planned = run(&mut fx.build(&workdir, &[&args[..], &["--dry-run"]].concat()));
    let plan = text(&planned.stdout);
    assert!(
        plan.contains(&format!(
            "5. agent\n   not built: --pilot-agent {} (checked:",
            given.display()
        )),
        "{plan}"
    );
    assert!(
        plan.contains("not needed: --envoy-binary and --pilot-agent") && !plan.contains("go build"),
        "{plan}"
    );

    let out = run(fx.build(&workdir, &args).env("PATH", &path));
    fx.succeeded(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "agent:    {} (dynamic x86_64 executable within CentOS 7's glibc 2.17",
            given.display()
        )),
        "{stderr}"
    );
    assert!(
        !workdir.join("src/istio").exists(),
        "istio/istio was fetched"
    );
    assert!(!workdir.join("out/pilot-agent").exists());

    // --pilot-agent belongs to --sidecar.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
    cmd.args(["build", "1.6.14", "--pilot-agent"]).arg(&given);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("--sidecar"),
        "{}",
        describe(&out)
    );
}

/// CentOS 7 has glibc 2.17: a pilot-agent linked against Debian's glibc is refused, given or
/// built, in one line naming the binary, the version and a symbol needing it.
#[test]
fn a_pilot_agent_needing_glibc_2_34_is_refused() {
    let fx = Fixture::new();
    let newer = support::new_glibc_elf(&fx.path(""));

    let workdir = fx.path("given");
    let out = run(&mut fx.build(
        &workdir,
        &["--engine", "none", "--pilot-agent", newer.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}: pilot-agent needs GLIBC_2.34 from libc.so.6 (EL7 has up to 2.17), \
             needed by __libc_start_main",
            newer.display()
        )),
        "{err}"
    );
    assert!(!workdir.exists(), "refused before any stage");

    // A `go` whose build writes that binary: the agent stage fails, the state has no agent.
    let path = go_wrapper(
        &fx.path("bin"),
        &format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && out=$2; shift; done\n\
             cp '{}' \"$out\"\n",
            newer.display()
        ),
    );
    let workdir = fx.path("built");
    let out = run(fx.build(&workdir, &["--engine", "none"]).env("PATH", &path));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: agent stage failed: {}/out/pilot-agent: pilot-agent needs GLIBC_2.34",
            workdir.display()
        )),
        "{err}"
    );
    assert!(err.contains("CGO_ENABLED=0"), "{err}");
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(!state.contains("\"agent\""), "{state}");
}

/// In the builder container: the caller's uid, the work and cache dirs at the same paths, Go's
/// settings and caches in the environment, GOPROXY passed by name (never by value on our
/// command line), not bazelisk's mirror, and the container gone afterwards.
#[test]
fn podman_runs_go_in_the_builder_container() {
    let image = require!(test_image());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let cache = fx.path("cache");
    let goproxy = "http://127.0.0.1:9/goproxy-secret";
    let build = |extra: &[&str]| {
        let mut cmd = fx.build(&workdir, &[&["--image", image.as_str()], extra].concat());
        cmd.env("PROXY_RPM_ENGINE", podman_wrapper())
            .env("GOPROXY", goproxy)
            .env("BAZELISK_BASE_URL", "http://127.0.0.1:9/bazel");
        run(&mut cmd)
    };

    let planned = build(&["--dry-run"]);
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    assert!(!plan.contains(goproxy), "the value leaked:\n{plan}");
    let words = go_line(&plan);
    assert_eq!(passed_by_name(&words), ["GOPROXY"], "{words:?}");
    for expected in [
        format!("HOME={}/home", cache.display()),
        "CGO_ENABLED=0".to_string(),
        format!("{}:{}", workdir.display(), workdir.display()),
        format!("{}:{}", cache.display(), cache.display()),
    ] {
        assert!(words.contains(&expected), "{expected} not in {words:?}");
    }
    assert_eq!(
        after(&words, "-w"),
        workdir.join("src/istio").to_str().unwrap()
    );
    assert_eq!(after(&words, &image), "go");
    assert!(
        words
            .iter()
            .any(|w| w == "--user" || w == "--userns=keep-id")
    );

    let out = build(&[]);
    fx.succeeded(&out);
    assert_eq!(
        std::fs::read(workdir.join("out/pilot-agent")).unwrap(),
        std::fs::read("/bin/busybox").unwrap(),
        "the Go stand-in's output is copied out"
    );
    let env = std::fs::read_to_string(workdir.join("go-record/env")).unwrap();
    for expected in [
        "CGO_ENABLED=0".to_string(),
        "GOOS=linux".to_string(),
        "GOARCH=amd64".to_string(),
        format!("GOPATH={}/go/path", cache.display()),
        format!("GOCACHE={}/go/build", cache.display()),
        format!("HOME={}/home", cache.display()),
        format!("GOPROXY={goproxy}"),
        "PROXY_RPM_TEST_TOOLCHAIN=enabled".to_string(),
    ] {
        assert!(
            env.lines().any(|l| l == expected),
            "{expected} not in:\n{env}"
        );
    }
    assert!(!env.contains("BAZELISK_BASE_URL"), "{env}");
    assert!(
        containers_labelled(&format!("io.proxy-rpm.workdir={}", workdir.display())).is_empty(),
        "the container was removed"
    );
    assert!(
        text(&out.stderr).contains("image    "),
        "{}",
        describe(&out)
    );
}

/// Istio 1.7.5 and later build pilot-agent with `-tags=agent` (istio/istio@1.7.8:
/// Makefile.core.mk), as the release profile says: the plan shows the Go series and the tag,
/// and the binary Debian's Go builds was compiled with it.
#[test]
fn a_1_7_8_pilot_agent_is_built_with_the_agent_tag() {
    require!(go_ready());
    let fx = Fixture::release(
        "1.7.8",
        &[
            ("pilot/cmd/pilot-agent/main.go", MAIN_TAGS_GO),
            ("pilot/cmd/pilot-agent/tags_agent.go", TAGS_AGENT_GO),
            ("pilot/cmd/pilot-agent/tags_other.go", TAGS_OTHER_GO),
        ],
    );
    let workdir = fx.path("work");
    let args = ["--engine", "none"];

    let planned = run(&mut fx.build(&workdir, &[&args[..], &["--dry-run"]].concat()));
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    assert!(
        plan.contains("\n   Go 1.14 as Istio 1.7.8 builds it (-tags=agent):\n"),
        "{plan}"
    );
    let words = go_line(&plan);
    let n = words.len();
    assert_eq!(
        words[n - 2..],
        ["-tags=agent", "./pilot/cmd/pilot-agent)"],
        "{words:?}"
    );
    assert!(after(&words, "-ldflags").contains("buildVersion=1.7.8 "));

    let out = run(&mut fx.build(&workdir, &args));
    fx.succeeded(&out);
    let ran = run(&mut Command::new(workdir.join("out/pilot-agent")));
    assert_eq!(
        text(&ran.stdout),
        format!(
            "version=1.7.8\nrevision={}\nstatus=Clean\ntag=1.7.8\nhub=docker.io/istio\n\
             tags=agent\n",
            fx.tag_commit
        )
    );
    let log = std::fs::read_to_string(workdir.join("logs/agent.log")).unwrap();
    assert!(log.contains("-tags=agent"), "{log}");
}
