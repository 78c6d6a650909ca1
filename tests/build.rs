//! `proxy-rpm build` end to end on this machine: fixture istio/proxy git repositories, the
//! busybox podman image with the Bazel stand-in, and Debian's Bazel with `--engine none`,
//! producing a real RPM that `rpm -K` and `proxy-rpm verify` accept.

mod support;
mod support_container;
mod support_git;
mod support_repo;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support_container::bazel::{Servers, assert_rc_read, bazel_ready, rules};
use support_container::blocking::{Held, make_fifo};
use support_container::{
    containers_labelled, describe, passed_by_name, podman_wrapper, test_image, text,
};

const EPOCH: &str = "1600000000";

/// Fixture repositories, with a proxy commit whose tree is a Bazel workspace building a real
/// x86_64 ELF that needs only old glibc versions (and carries a prebuilt copy of it for the
/// Bazel stand-in, which has no compiler).
struct Fixture {
    git: support_git::Fixture,
    pin: String,
    dir: tempfile::TempDir,
    /// That ELF, for the builds given an Envoy (`--envoy-binary`).
    envoy: PathBuf,
}

const MAIN_C: &str = r#"#include <unistd.h>
#ifndef FIXTURE_RELEASE
#error "--config=release was not applied"
#endif
void _start(void) {
    static const char msg[] = "envoy  version: fixture/1.0/Clean/RELEASE\n";
    write(1, msg, sizeof msg - 1);
#ifdef FROM_EXTRA
    static const char extra[] = "built with the extra bazelrc\n";
    write(1, extra, sizeof extra - 1);
#endif
    _exit(0);
}
"#;

const BUILD: &str = r#"cc_binary(
    name = "envoy",
    srcs = ["main.c"],
    linkopts = ["-nostartfiles", "-Wl,--hash-style=gnu"],
)
"#;

impl Fixture {
    fn new() -> Fixture {
        let git = support_git::Fixture::new();
        let dir = tempfile::tempdir().unwrap();
        let dir_path = std::fs::canonicalize(dir.path()).unwrap();
        let envoy = support::old_glibc_elf(&dir_path);
        let proxy = git.repo("proxy");
        std::fs::copy(&envoy, proxy.join("fixture-envoy")).unwrap();
        let files = [
            ("WORKSPACE", "workspace(name = \"fixture\")\n"),
            (
                ".bazelrc",
                "build:release -c opt\nbuild:release --copt=-DFIXTURE_RELEASE=1\n",
            ),
            ("src/envoy/BUILD", BUILD),
            ("src/envoy/main.c", MAIN_C),
        ];
        for (path, content) in files {
            let p = proxy.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        support_git::git(&proxy, &["add", "-A"]);
        support_git::git(&proxy, &["commit", "-q", "-m", "fixture envoy workspace"]);
        let pin = support_git::git(&proxy, &["rev-parse", "HEAD"]);
        Fixture {
            git,
            pin,
            dir,
            envoy,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap().join(name)
    }

    /// `proxy-rpm build 1.6.14` on the fixture repos, in `workdir`.
    fn build(&self, workdir: &Path, extra: &[&str]) -> Command {
        self.build_at(&self.pin, workdir, extra)
    }

    /// The same, building another istio/proxy commit.
    fn build_at(&self, pin: &str, workdir: &Path, extra: &[&str]) -> Command {
        self.build_release("1.6.14", pin, workdir, extra)
    }

    /// The same, for another Istio release of the fixture repository.
    fn build_release(&self, version: &str, pin: &str, workdir: &Path, extra: &[&str]) -> Command {
        let mut cmd = build_cmd(version, workdir);
        cmd.arg("--istio-repo")
            .arg(self.git.file_url("istio"))
            .arg("--proxy-repo")
            .arg(self.git.file_url("proxy"))
            .args(["--proxy-sha", pin, "--retry-delay-ms=0"])
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(extra)
            // The engine by path: a podman that uses this machine's containers.conf.
            .env("PROXY_RPM_ENGINE", podman_wrapper());
        cmd
    }
}

/// `proxy-rpm build VERSION --workdir WORKDIR` at a fixed SOURCE_DATE_EPOCH, without the
/// caller's proxy variables (the repositories are local) or stdin.
fn build_cmd(version: &str, workdir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
    cmd.args(["build", version, "--workdir"])
        .arg(workdir)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// The RPM path a successful build printed, checked by rpm and by our verify.
fn built_rpm(out: &Output) -> PathBuf {
    built_rpm_of(out, "1.6.14")
}

/// The same, for a build of Istio `version`.
fn built_rpm_of(out: &Output, version: &str) -> PathBuf {
    assert!(out.status.success(), "{}", describe(out));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout is only the RPM path: {stdout}"
    );
    let rpm = PathBuf::from(stdout.trim());
    assert!(
        rpm.ends_with(format!("istio-proxy-{version}-1.el7.x86_64.rpm")),
        "{}",
        rpm.display()
    );
    assert_digests_ok(&rpm);
    let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .arg("verify")
        .arg(&rpm));
    assert!(verified.status.success(), "{}", describe(&verified));
    rpm
}

/// rpm finds the RPM's digests intact. Signatures need the key in rpm's database: the signing
/// tests check them on their own.
fn assert_digests_ok(rpm: &Path) {
    let checked = run(Command::new("rpm").args(["-K", "--nosignature"]).arg(rpm));
    assert!(
        text(&checked.stdout).contains("digests OK"),
        "{}",
        describe(&checked)
    );
}

/// Each of `stages` was skipped: the build said it was done in an earlier run.
fn assert_skipped(out: &Output, stages: &[&str]) {
    let stderr = text(&out.stderr);
    for stage in stages {
        assert!(
            stderr.contains(&format!("==> {stage}: done in an earlier run")),
            "{stage} not skipped:\n{stderr}"
        );
    }
}

/// rpm reads `dep` among the sidecar RPM's requirements.
fn assert_requires(sidecar: &Path, dep: &str) {
    let requires = run(Command::new("rpm").args(["-qp", "--requires"]).arg(sidecar));
    assert!(
        text(&requires.stdout).lines().any(|l| l == dep),
        "{}",
        describe(&requires)
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let extra = fx.path("extra.bazelrc");
    std::fs::write(&extra, "build --copt=-DFROM_EXTRA=1\n").unwrap();
    // bazelisk's mirror of Bazel releases goes into the container by name, never by value.
    let mirror = "http://127.0.0.1:9/bazel-mirror-secret";
    let out = run(fx
        .build(
            &workdir,
            &[
                "--dry-run",
                "--image",
                "builder:test",
                "--bazelrc",
                extra.to_str().unwrap(),
            ],
        )
        .env("BAZELISK_BASE_URL", mirror)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy"));
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    assert!(
        !plan.contains(mirror),
        "the value leaked into the plan:\n{plan}"
    );
    // The proxy variables were removed: BAZELISK_BASE_URL is the only one passed.
    let run_line = plan
        .lines()
        .find(|l| l.contains(" run --rm --name proxy-rpm-compile-"))
        .expect("the compile command");
    let words = shell_words::split(run_line.trim()).unwrap();
    assert_eq!(passed_by_name(&words), ["BAZELISK_BASE_URL"], "{run_line}");
    // One --bazelrc: the generated one, importing prepare's rc, then the user's.
    assert_eq!(
        words.iter().filter(|w| w.starts_with("--bazelrc=")).count(),
        1,
        "{run_line}"
    );
    let rc_lines: Vec<&str> = plan
        .lines()
        .skip_while(|l| !l.contains("compile.bazelrc (written before Bazel starts) imports:"))
        .take(3)
        .collect();
    assert_eq!(
        rc_lines,
        [
            format!(
                "   {}/bazel/compile.bazelrc (written before Bazel starts) imports:",
                workdir.display()
            ),
            format!("     {}/bazel/proxy-rpm.bazelrc", workdir.display()),
            format!("     {}", extra.display()),
        ]
    );
    for expected in [
        "plan for istio-proxy 1.6.14",
        &format!("work dir:  {}", workdir.display()),
        &format!("cache dir: {}", fx.path("cache").display()),
        &format!("istio/proxy commit: {} (--proxy-sha)", fx.pin),
        "--image builder:test: not built, its toolchain checked:",
        "builder:test sh -c <toolchain-check.sh>",
        &format!("git fetch --depth 1 {}", fx.git.file_url("proxy")),
        "proxy-rpm-test-podman run --rm --name proxy-rpm-compile-",
        "builder:test bazel",
        "--config=release",
        &format!("'--bazelrc={}/bazel/compile.bazelrc'", workdir.display()),
        "//src/envoy:envoy",
        "xz payload level 2",
        "6. verify",
    ] {
        assert!(
            plan.contains(expected),
            "{expected:?} missing from the plan:\n{plan}"
        );
    }
    assert!(!workdir.exists(), "--dry-run wrote {}", workdir.display());
    assert!(!fx.path("cache").exists());
}

#[test]
fn envoy_binary_build_then_a_rerun_skips_everything() {
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let envoy = &fx.envoy;
    let out_dir = fx.path("published");
    let args = [
        "--envoy-binary",
        envoy.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = run(&mut fx.build(&workdir, &args));
    let rpm = built_rpm(&out);
    assert_eq!(rpm.parent().unwrap(), out_dir, "--out gets the copy");
    let summary = text(&out.stderr);
    for expected in [
        "size:",
        "sha256:",
        "payload:  xz level 2",
        "libc.so.6(GLIBC_2.2.5)(64bit)",
        "verify:   passed",
        "image    not needed",
        "compile  not needed",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing:\n{summary}"
        );
    }
    for log in ["resolve", "prepare", "package", "verify"] {
        assert!(
            workdir.join(format!("logs/{log}.log")).is_file(),
            "logs/{log}.log"
        );
    }

    let again = run(&mut fx.build(&workdir, &args));
    let rpm_again = built_rpm(&again);
    assert_eq!(
        std::fs::read(&rpm).unwrap(),
        std::fs::read(&rpm_again).unwrap()
    );
    assert_skipped(&again, &["resolve", "prepare", "package", "verify"]);

    // --from package runs package and verify again, nothing before.
    let from = run(&mut fx.build(&workdir, &[&args[..], &["--from", "package"]].concat()));
    built_rpm(&from);
    let stderr = text(&from.stderr);
    assert!(
        stderr.contains("==> prepare: done in an earlier run"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("==> package: done in an earlier run"),
        "{stderr}"
    );
}

#[test]
fn podman_build_killed_during_compile_resumes_and_matches_an_uninterrupted_one() {
    let image = require!(test_image());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    std::fs::create_dir_all(&workdir).unwrap();
    let fifo = workdir.join("block");
    make_fifo(&fifo);
    let args = ["--image", &image];

    // The Bazel stand-in reads the fifo: once it does, the build is inside the container, in
    // the middle of compile. If the build ends first, that is a failure to show, not a wait.
    let held = Held::spawn(&mut fx.build(&workdir, &args), &fifo);
    let pid = held.pid;
    let writer = held.blocked("compile");

    // A second build of the same work dir is refused while this one holds it.
    let second = run(&mut fx.build(&workdir, &args));
    assert!(!second.status.success());
    assert!(
        text(&second.stderr).contains(&format!(
            "another proxy-rpm build (pid {pid}) is using this work dir"
        )),
        "{}",
        describe(&second)
    );

    let killed = held.terminate(writer);
    assert!(!killed.status.success());
    let stderr = text(&killed.stderr);
    assert!(
        stderr.contains("compile stage failed: compile interrupted by SIGTERM"),
        "{stderr}"
    );
    assert!(stderr.contains("logs/compile.log"), "{stderr}");
    assert!(
        containers_labelled(&format!("io.proxy-rpm.workdir={}", workdir.display())).is_empty(),
        "the compile container was removed"
    );
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(
        state.contains("\"prepare\"") && !state.contains("\"compile\""),
        "{state}"
    );

    std::fs::remove_file(&fifo).unwrap();
    let resumed = run(&mut fx.build(&workdir, &args));
    let rpm = built_rpm(&resumed);
    let stderr = text(&resumed.stderr);
    assert!(
        stderr.contains("==> resolve: done in an earlier run"),
        "{stderr}"
    );
    assert!(
        stderr.contains("==> prepare: done in an earlier run"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(workdir.join("logs/compile.log")).unwrap();
    assert!(
        log.contains("reusing the output base of an earlier run"),
        "{log}"
    );

    // An uninterrupted build elsewhere gives the same bytes (SOURCE_DATE_EPOCH is set).
    let other = fx.path("work2");
    let clean = run(&mut fx.build(&other, &args));
    let clean_rpm = built_rpm(&clean);
    assert_eq!(
        std::fs::read(&rpm).unwrap(),
        std::fs::read(&clean_rpm).unwrap()
    );
}

#[test]
fn host_bazel_build_with_engine_none() {
    require!(bazel_ready());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let rules = rules(&fx.path(""));
    let _servers = Servers {
        cache_dirs: vec![fx.path("cache")],
        tree: workdir.join("src/istio-proxy"),
    };
    let rules_cc = format!(
        "--bazel-arg=--override_repository=rules_cc={}",
        rules.0.display()
    );
    let rules_java = format!(
        "--bazel-arg=--override_repository=rules_java={}",
        rules.1.display()
    );
    let extra = fx.path("extra.bazelrc");
    std::fs::write(&extra, "build --copt=-DFROM_EXTRA=1\n").unwrap();
    let args = [
        "--engine",
        "none",
        "--cc",
        "gcc",
        "--cxx",
        "g++",
        "--jobs",
        "2",
        &rules_cc,
        &rules_java,
        "--bazelrc",
        extra.to_str().unwrap(),
        "--bazel-arg=--announce_rc",
    ];
    let out = run(&mut fx.build(&workdir, &args));
    let rpm = built_rpm(&out);
    // Bazel read prepare's cxxopts and the extra rc, through the one generated rc.
    let log = std::fs::read_to_string(workdir.join("logs/compile.log")).unwrap();
    for (file, option) in [
        (
            workdir.join("bazel/proxy-rpm.bazelrc"),
            "--cxxopt -D_GLIBCXX_USE_CXX11_ABI=1 --cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1",
        ),
        (extra.clone(), "--copt=-DFROM_EXTRA=1"),
    ] {
        assert_rc_read(&log, &file, option);
    }
    assert!(
        text(&out.stderr).contains("image    not needed"),
        "{}",
        describe(&out)
    );

    // The packaged Envoy is what Bazel built from the workspace, and it runs.
    let unpacked = fx.path("unpacked");
    support::unpack(&rpm, &unpacked);
    let ran = run(&mut Command::new(unpacked.join("usr/local/bin/envoy")));
    // Built with the extra rc's define.
    assert_eq!(
        text(&ran.stdout),
        "envoy  version: fixture/1.0/Clean/RELEASE\nbuilt with the extra bazelrc\n"
    );

    // Compile again: Bazel's cache in the persistent cache dir has every action.
    let again = run(&mut fx.build(&workdir, &[&args[..], &["--from", "compile"]].concat()));
    built_rpm(&again);
    let log = std::fs::read_to_string(workdir.join("logs/compile.log")).unwrap();
    let last = log
        .lines()
        .rev()
        .find(|l| l.starts_with("INFO: ") && l.contains(" process"))
        .expect("a Bazel process summary");
    assert!(
        last.contains("internal") && !last.contains("linux-sandbox"),
        "{last}"
    );

    // An edit of the extra rc changes compile's inputs: compile runs again (Bazel's cache
    // still has every action, the edit being a comment); unchanged, it is skipped.
    std::fs::write(&extra, "build --copt=-DFROM_EXTRA=1\n# edited\n").unwrap();
    let edited = run(&mut fx.build(&workdir, &args));
    built_rpm(&edited);
    let stderr = text(&edited.stderr);
    assert!(
        stderr.contains("==> prepare: done in an earlier run")
            && !stderr.contains("==> compile: done in an earlier run"),
        "{stderr}"
    );
    let unchanged = run(&mut fx.build(&workdir, &args));
    built_rpm(&unchanged);
    assert!(
        text(&unchanged.stderr).contains("==> compile: done in an earlier run"),
        "{}",
        describe(&unchanged)
    );
}

/// With a given Envoy nothing compiles, so the istio/proxy tree is never fetched: a mirror
/// that has only istio/istio is enough.
#[test]
fn envoy_binary_build_needs_no_istio_proxy_repository() {
    let fx = Fixture::new();
    std::fs::remove_dir_all(fx.git.repo("proxy")).unwrap();
    let server = support_git::GitHttp::start(&fx.git.root(), 0);
    let workdir = fx.path("work");
    let build = |extra: &[&str]| {
        let mut cmd = build_cmd("1.6.14", &workdir);
        cmd.args(["--git-mirror", &server.url(), "--retry-delay-ms=0"])
            .arg("--envoy-binary")
            .arg(&fx.envoy)
            .args(extra);
        run(&mut cmd)
    };

    let planned = build(&["--dry-run"]);
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    assert!(
        plan.contains("istio/proxy tree: not fetched (--envoy-binary: nothing to compile)")
            && !plan.contains("git fetch"),
        "{plan}"
    );

    let out = build(&[]);
    built_rpm(&out);
    assert!(
        text(&out.stderr).contains("not fetched (a given Envoy: nothing to compile)"),
        "{}",
        describe(&out)
    );
    let asked = server.requests();
    assert!(
        asked.iter().any(|r| r.contains("/istio/istio/")),
        "{asked:?}"
    );
    assert!(
        !asked.iter().any(|r| r.contains("/istio/proxy")),
        "{asked:?}"
    );
    assert!(!workdir.join("src").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("prepare.json")).unwrap()).unwrap();
    assert_eq!(manifest["tree"], serde_json::Value::Null, "{manifest}");
    assert_eq!(
        manifest["repositories"]["proxy"],
        serde_json::Value::Null,
        "{manifest}"
    );
    assert_eq!(
        manifest["repositories"]["istio"],
        format!("{}/istio/istio", server.url())
    );
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(state.contains("not fetched (--envoy-binary"), "{state}");
}

#[test]
fn each_stage_failure_names_the_stage_and_its_log() {
    let fx = Fixture::new();
    let envoy = &fx.envoy;
    let envoy_arg = ["--envoy-binary", envoy.to_str().unwrap()];

    // resolve: the Istio repository cannot be read.
    let workdir = fx.path("w-resolve");
    let closed = format!(
        "http://127.0.0.1:{}/istio/istio",
        support_git::closed_port()
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
    cmd.args(["build", "1.6.14", "--workdir"])
        .arg(&workdir)
        .args([
            "--istio-repo",
            &closed,
            "--fetch-attempts",
            "1",
            "--retry-delay-ms=0",
        ])
        .args(envoy_arg);
    let out = run(&mut cmd);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("error: resolve stage failed:") && err.contains("--git-mirror"),
        "{err}"
    );
    assert!(err.contains("logs/resolve.log"), "{err}");
    let log = std::fs::read_to_string(workdir.join("logs/resolve.log")).unwrap();
    assert!(
        log.contains("error: could not fetch tag 1.6.14"),
        "the log says why: {log}"
    );

    // prepare: the pinned commit is not in the proxy repository (a build that compiles: with
    // --envoy-binary the tree is not fetched at all).
    let workdir = fx.path("w-prepare");
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let out = run(&mut fx.build_at(missing, &workdir, &["--engine", "none"]));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: prepare stage failed:") && err.contains("logs/prepare.log"),
        "{err}"
    );

    // package: the Envoy is not an ELF.
    let workdir = fx.path("w-package");
    let script = fx.path("envoy.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let out = run(&mut fx.build(&workdir, &["--envoy-binary", script.to_str().unwrap()]));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: package stage failed:") && err.contains("not an ELF file"),
        "{err}"
    );
    assert!(
        !workdir
            .join("rpm/istio-proxy-1.6.14-1.el7.x86_64.rpm")
            .exists()
    );

    // A missing --envoy-binary is bad input, refused before any stage.
    let out = run(&mut fx.build(
        &fx.path("w-input"),
        &["--envoy-binary", "/nonexistent/envoy"],
    ));
    assert!(text(&out.stderr).contains("--envoy-binary /nonexistent/envoy: no such file"));
    assert!(!fx.path("w-input").exists());
    // So is a missing --bazelrc.
    let out = run(&mut fx.build(
        &fx.path("w-input"),
        &[
            "--engine",
            "none",
            "--bazelrc",
            "/nonexistent/extra.bazelrc",
        ],
    ));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: --bazelrc /nonexistent/extra.bazelrc: no such file; give an existing Bazel rc file"
    );
    assert!(!fx.path("w-input").exists());
}

#[test]
fn compile_failure_names_the_stage_the_status_and_the_log_tail() {
    let image = require!(test_image());
    let fx = Fixture::new();
    let proxy = fx.git.repo("proxy");
    std::fs::write(proxy.join("FAIL"), "make the Bazel stand-in fail\n").unwrap();
    support_git::git(&proxy, &["add", "FAIL"]);
    support_git::git(&proxy, &["commit", "-q", "-m", "fail"]);
    let pin = support_git::git(&proxy, &["rev-parse", "HEAD"]);
    let workdir = fx.path("work");
    let out = run(&mut fx.build_at(&pin, &workdir, &["--image", &image]));
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("error: compile stage failed:"), "{err}");
    assert!(err.contains("failed with exit status 3"), "{err}");
    assert!(
        err.contains("fake compile failure two"),
        "the log tail: {err}"
    );
    assert!(
        err.contains(&format!(
            "stage log: {}/logs/compile.log",
            workdir.display()
        )),
        "{err}"
    );
}

#[test]
fn sign_key_signs_the_rpm_with_a_signature_verify_accepts() {
    let fx = Fixture::new();
    let gpg = support_repo::Gpg::new();
    let key = gpg.rsa("builder@proxy-rpm.test");
    let envoy = &fx.envoy;
    let workdir = fx.path("work");
    let args = [
        "--envoy-binary",
        envoy.to_str().unwrap(),
        "--sign-key",
        key.secret.to_str().unwrap(),
    ];
    let out = run(fx
        .build(&workdir, &args)
        .env_remove("PROXY_RPM_SIGN_PASSPHRASE"));
    let rpm = built_rpm(&out);
    assert!(
        text(&out.stderr).contains("signed:   RSA"),
        "{}",
        describe(&out)
    );

    let (ok, checked) = support_repo::rpm_checksig(&key.public, &rpm);
    assert!(ok, "{checked}");
    assert!(
        checked.contains("RSA/SHA256 Signature") && checked.contains(&key.short_id()),
        "{checked}"
    );

    let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .arg("verify")
        .arg("--key")
        .arg(&key.public)
        .arg(&rpm));
    assert!(verified.status.success(), "{}", describe(&verified));
    assert!(
        text(&verified.stdout).contains("PASS  signature"),
        "{}",
        describe(&verified)
    );

    // A key EL7 cannot verify is refused before any stage runs.
    let ed = gpg.generate(
        "ed@proxy-rpm.test",
        "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign",
        None,
    );
    let out = run(&mut fx.build(
        &fx.path("w-ed"),
        &[
            "--envoy-binary",
            envoy.to_str().unwrap(),
            "--sign-key",
            ed.secret.to_str().unwrap(),
        ],
    ));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("4.11"), "{}", describe(&out));
    assert!(!fx.path("w-ed").exists());
}

#[test]
fn image_and_verify_failures_name_their_stage() {
    let fx = Fixture::new();

    // image: the engine cannot build (a podman that always fails).
    let broken = fx.path("podman-broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'Error: cannot reach the podman service' >&2\nexit 125\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let workdir = fx.path("w-image");
    let out = run(fx.build(&workdir, &[]).env("PROXY_RPM_ENGINE", &broken));
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("error: image stage failed:"), "{err}");
    assert!(err.contains("cannot reach the podman service"), "{err}");
    assert!(err.contains("logs/image.log"), "{err}");

    // verify: Istio's release carries a bootstrap file that is an ELF needing glibc 2.34, so
    // the package has a file CentOS 7 cannot run; package writes it, verify stops it.
    let istio = fx.git.repo("istio");
    let elf = support::new_glibc_elf(&fx.path(""));
    let bootstrap = istio.join("tools/packaging/common/envoy_bootstrap_v2.json");
    std::fs::copy(&elf, &bootstrap).unwrap();
    support_git::git(&istio, &["commit", "-q", "-a", "-m", "a bad release"]);
    support_git::git(&istio, &["tag", "-f", "1.6.13"]);
    let envoy = &fx.envoy;
    let workdir = fx.path("w-verify");
    let mut cmd = fx.build_release(
        "1.6.13",
        &fx.pin,
        &workdir,
        &["--envoy-binary", envoy.to_str().unwrap()],
    );
    let out = run(&mut cmd);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        err.contains("error: verify stage failed: CentOS 7 would not accept"),
        "{err}"
    );
    assert!(err.contains("GLIBC_2.34"), "{err}");
    assert!(err.contains("logs/verify.log"), "{err}");
    let log = std::fs::read_to_string(workdir.join("logs/verify.log")).unwrap();
    assert!(log.contains("FAIL"), "{log}");
}

/// A pilot-agent stand-in: static, as Istio builds it (CGO_ENABLED=0).
const PILOT_AGENT_C: &str = r#"#include <stdio.h>
int main(void) { puts("pilot-agent fixture"); return 0; }
"#;

/// The stages of a `--sidecar` build with both binaries given (nothing to build an image for or
/// compile).
const GIVEN_SIDECAR_STAGES: &[&str] = &[
    "resolve", "prepare", "agent", "package", "sidecar", "verify",
];

/// The two binaries a `--sidecar` build is given, compiled here: the fixture's Envoy and a
/// static pilot-agent stand-in.
struct Given {
    envoy: PathBuf,
    agent: PathBuf,
}

impl Given {
    fn new(fx: &Fixture) -> Given {
        Given {
            envoy: fx.envoy.clone(),
            agent: support::compile(&fx.path(""), "pilot-agent", PILOT_AGENT_C, &["-static"]),
        }
    }

    /// `--sidecar` with both binaries given.
    fn args(&self) -> [&str; 5] {
        [
            "--envoy-binary",
            self.envoy.to_str().unwrap(),
            "--sidecar",
            "--pilot-agent",
            self.agent.to_str().unwrap(),
        ]
    }
}

/// The two paths a `--sidecar` build printed, istio-proxy's first, each checked by rpm (digests)
/// and by our verify.
fn built_pair(out: &Output) -> (PathBuf, PathBuf) {
    built_pair_of(out, "1.6.14")
}

/// The same, for a build of Istio `version`.
fn built_pair_of(out: &Output, version: &str) -> (PathBuf, PathBuf) {
    assert!(out.status.success(), "{}", describe(out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "stdout is the two RPM paths: {stdout}");
    let (proxy, sidecar) = (PathBuf::from(lines[0]), PathBuf::from(lines[1]));
    assert!(
        proxy.ends_with(format!("istio-proxy-{version}-1.el7.x86_64.rpm")),
        "{stdout}"
    );
    assert!(
        sidecar.ends_with(format!("istio-sidecar-{version}-1.el7.x86_64.rpm")),
        "{stdout}"
    );
    assert_digests_ok(&proxy);
    assert_digests_ok(&sidecar);
    (proxy, sidecar)
}

/// `--sidecar` with both binaries given: two RPMs, both verified, signed and copied out; the
/// sidecar requires exactly this istio-proxy; a rerun skips every stage; the sidecar stage
/// reruns (alone) when one of its inputs changes, and with `--from sidecar`.
#[test]
fn sidecar_build_writes_signs_verifies_and_copies_both_rpms() {
    let fx = Fixture::new();
    let gpg = support_repo::Gpg::new();
    let key = gpg.rsa("builder@proxy-rpm.test");
    let given = Given::new(&fx);
    let workdir = fx.path("work");
    let out_dir = fx.path("published");
    let signed = [
        "--sign-key",
        key.secret.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let args = [&given.args()[..], &signed].concat();
    let build = |extra: &[&str]| {
        let mut cmd = fx.build(&workdir, &[&args[..], extra].concat());
        cmd.env_remove("PROXY_RPM_SIGN_PASSPHRASE");
        run(&mut cmd)
    };

    // The plan: the sidecar stage between package and verify, what it packages and requires,
    // and the four packaging files prepare fetches.
    let planned = build(&["--dry-run"]);
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    for expected in [
        "tools/packaging/common/{sidecar.env,envoy_bootstrap_v2.json,istio-start.sh,\
         istio.service} at tag 1.6.14"
            .to_string(),
        "\n6. package".to_string(),
        "\n7. sidecar\n   istio-sidecar from the built-in specs/istio-sidecar.toml, requiring \
         istio-proxy = 1.6.14-1.el7"
            .to_string(),
        format!("pilot-agent   {}", given.agent.display()),
        format!("istio-start   {}/files/istio-start.sh", workdir.display()),
        format!("istio-service {}/files/istio.service", workdir.display()),
        "\n8. verify\n   CentOS 7 checks (as `proxy-rpm verify`) on both RPMs".to_string(),
        format!("then copy them to {}", out_dir.display()),
    ] {
        assert!(plan.contains(&expected), "{expected:?} not in:\n{plan}");
    }
    assert_eq!(plan.matches("then sign it with RSA").count(), 2, "{plan}");
    // Another release of istio-proxy: the sidecar follows it.
    let other = build(&["--dry-run", "--release", "3"]);
    assert!(
        text(&other.stdout).contains("requiring istio-proxy = 1.6.14-3.el7"),
        "{}",
        describe(&other)
    );
    assert!(!workdir.exists());

    let out = build(&[]);
    let (proxy, sidecar) = built_pair(&out);
    assert_eq!(proxy.parent().unwrap(), out_dir, "--out gets istio-proxy");
    assert_eq!(
        sidecar.parent().unwrap(),
        out_dir,
        "--out gets istio-sidecar"
    );
    for rpm in [&proxy, &sidecar] {
        let name = rpm.file_name().unwrap();
        assert_eq!(
            std::fs::read(rpm).unwrap(),
            std::fs::read(workdir.join("rpm").join(name)).unwrap()
        );
        let (ok, checked) = support_repo::rpm_checksig(&key.public, rpm);
        assert!(ok && checked.contains(&key.short_id()), "{checked}");
        let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
            .arg("verify")
            .arg("--key")
            .arg(&key.public)
            .arg(rpm));
        assert!(verified.status.success(), "{}", describe(&verified));
        assert!(text(&verified.stdout).contains("PASS  signature"));
    }
    assert_requires(&sidecar, "istio-proxy = 1.6.14-1.el7");
    let listed = run(Command::new("rpm").args(["-qlp"]).arg(&sidecar));
    assert!(
        text(&listed.stdout).contains("/usr/local/bin/pilot-agent\n"),
        "{}",
        describe(&listed)
    );

    // The summary covers both packages and every stage.
    let summary = text(&out.stderr);
    for expected in [
        "istio-proxy 1.6.14 built",
        "istio-sidecar 1.6.14 built",
        "package:  istio-sidecar-1.6.14-1.el7.x86_64",
        "istio-proxy = 1.6.14-1.el7",
        "[7/8] ==> sidecar",
        "    sidecar  ",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing:\n{summary}"
        );
    }
    assert!(summary.contains(&format!("rpm:      {}", sidecar.display())));
    assert_eq!(summary.matches("signed:   RSA").count(), 2, "{summary}");
    assert_eq!(summary.matches("verify:   passed").count(), 2, "{summary}");
    let log = std::fs::read_to_string(workdir.join("logs/sidecar.log")).unwrap();
    assert!(
        log.contains("nevra: istio-sidecar-1.6.14-1.el7.x86_64"),
        "{log}"
    );
    let log = std::fs::read_to_string(workdir.join("logs/verify.log")).unwrap();
    assert!(
        log.contains("istio-proxy-1.6.14") && log.contains("istio-sidecar-1.6.14"),
        "{log}"
    );

    // A rerun: nothing runs again, the same bytes.
    let again = build(&[]);
    let pair = built_pair(&again);
    assert_eq!(
        std::fs::read(&sidecar).unwrap(),
        std::fs::read(&pair.1).unwrap()
    );
    assert_skipped(&again, GIVEN_SIDECAR_STAGES);

    // A changed input of the sidecar (its start script): only the sidecar and verify run.
    let start = workdir.join("files/istio-start.sh");
    let mut script = std::fs::read_to_string(&start).unwrap();
    script.push_str("# edited\n");
    std::fs::write(&start, &script).unwrap();
    let edited = build(&[]);
    let (_, sidecar) = built_pair(&edited);
    let stderr = text(&edited.stderr);
    assert!(
        stderr.contains("==> package: done in an earlier run")
            && !stderr.contains("==> sidecar: done in an earlier run")
            && !stderr.contains("==> verify: done in an earlier run"),
        "{stderr}"
    );
    let unpacked = fx.path("unpacked");
    support::unpack(&sidecar, &unpacked);
    assert_eq!(
        std::fs::read_to_string(unpacked.join("usr/local/bin/istio-start.sh")).unwrap(),
        script
    );

    // --from sidecar: package stays done, the sidecar is written again.
    let from = build(&["--from", "sidecar"]);
    built_pair(&from);
    let stderr = text(&from.stderr);
    assert!(
        stderr.contains("==> package: done in an earlier run")
            && stderr.contains("[7/8] ==> sidecar finished"),
        "{stderr}"
    );
}

/// Istio 1.7.8 with both binaries given: its profile's packaging file names (the bootstrap
/// template is `envoy_bootstrap.json`, installed as envoy_bootstrap_tmpl.json), two RPMs of
/// version 1.7.8 that pass verify, the sidecar requiring exactly that istio-proxy.
#[test]
fn a_1_7_sidecar_build_packages_the_1_7_files() {
    let fx = Fixture::new();
    let given = Given::new(&fx);
    let workdir = fx.path("work");
    let args = given.args();
    let build = |extra: &[&str]| {
        run(&mut fx.build_release("1.7.8", &fx.pin, &workdir, &[&args[..], extra].concat()))
    };

    let planned = build(&["--dry-run"]);
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    for expected in [
        "plan for istio-proxy 1.7.8",
        "release:   Istio 1.7 line (1.7.0 to 1.7.8): bootstrap envoy_bootstrap.json",
        "tools/packaging/common/{sidecar.env,envoy_bootstrap.json,istio-start.sh,\
         istio.service} at tag 1.7.8",
        "not needed: --envoy-binary and --pilot-agent",
        "requiring istio-proxy = 1.7.8-1.el7",
    ] {
        assert!(plan.contains(expected), "{expected:?} not in:\n{plan}");
    }
    // Nothing compiles: the 1.7 builder variant is not needed, and no image is built.
    assert!(
        !plan.contains("variant") && !plan.contains("note:"),
        "{plan}"
    );

    let out = build(&[]);
    let (proxy, sidecar) = built_pair_of(&out, "1.7.8");
    let files = workdir.join("files");
    assert!(files.join("envoy_bootstrap.json").is_file());
    assert!(!files.join("envoy_bootstrap_v2.json").exists());
    let unpacked = fx.path("unpacked");
    support::unpack(&proxy, &unpacked);
    assert_eq!(
        std::fs::read_to_string(unpacked.join("var/lib/istio/envoy/envoy_bootstrap_tmpl.json"))
            .unwrap(),
        support_git::bootstrap("1.7.8")
    );
    assert_eq!(
        std::fs::read_to_string(unpacked.join("var/lib/istio/envoy/sidecar.env")).unwrap(),
        support_git::sidecar_env("1.7.8")
    );
    support::unpack(&sidecar, &unpacked);
    assert_eq!(
        std::fs::read_to_string(unpacked.join("usr/local/bin/istio-start.sh")).unwrap(),
        support_git::istio_start("1.7.8")
    );
    assert_requires(&sidecar, "istio-proxy = 1.7.8-1.el7");
    for rpm in [&proxy, &sidecar] {
        let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
            .arg("verify")
            .arg(rpm));
        assert!(verified.status.success(), "{}", describe(&verified));
    }
    let summary = text(&out.stderr);
    assert!(
        summary.contains("istio-proxy 1.7.8 built")
            && summary.contains("istio-sidecar 1.7.8 built"),
        "{summary}"
    );
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(state.contains("envoy_bootstrap.json"), "{state}");

    // A rerun skips every stage.
    let again = build(&[]);
    built_pair_of(&again, "1.7.8");
    assert_skipped(&again, GIVEN_SIDECAR_STAGES);
}

/// The image tags a plan's image stage builds, in order (each "(skipped if TAG already
/// exists)").
fn planned_images(plan: &str) -> Vec<String> {
    plan.lines()
        .filter_map(|l| l.trim().strip_prefix("(skipped if "))
        .filter_map(|l| l.strip_suffix(" already exists)"))
        .map(str::to_string)
        .collect()
}

/// Compiling 1.7's Envoy needs the builder variant its profile names (python3 and gn on top of
/// containers/centos7/Dockerfile): the image stage builds the base image, then the variant FROM
/// its tag, and Bazel runs in the variant, as `compile 1.7.8` alone does; an `--image` is
/// checked for python3 and gn too; with `--engine none` the plan says what the host needs.
#[test]
fn a_1_7_build_plans_the_base_image_then_its_variant() {
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let planned = run(&mut fx.build_release("1.7.8", &fx.pin, &workdir, &["--dry-run"]));
    assert!(planned.status.success(), "{}", describe(&planned));
    let plan = text(&planned.stdout);
    let images = planned_images(&plan);
    assert_eq!(images.len(), 2, "{plan}");
    let (base, variant) = (&images[0], &images[1]);
    assert!(
        base.starts_with("proxy-rpm-builder:centos7-")
            && variant.starts_with("proxy-rpm-builder:centos7-python3-gn-"),
        "{plan}"
    );
    let stage: Vec<&str> = plan
        .lines()
        .skip_while(|l| *l != "2. image")
        .take_while(|l| *l != "3. prepare")
        .collect();
    assert!(
        stage[1].contains(" build -f ") && stage[1].contains(&format!(" -t {base} ")),
        "{plan}"
    );
    assert_eq!(
        stage[3],
        "   then the centos7-python3-gn variant FROM it, adding python3 and gn:"
    );
    assert!(
        stage[4].contains(&format!(" -t {variant} "))
            && stage[4].contains(&format!("--build-arg 'BUILDER_IMAGE={base}'")),
        "{plan}"
    );
    let compile = plan
        .lines()
        .find(|l| l.contains(" run --rm --name proxy-rpm-compile-"))
        .expect("the compile command");
    assert!(compile.contains(&format!(" {variant} bazel ")), "{compile}");
    assert!(
        !plan.contains("refused") && !plan.contains("note:"),
        "{plan}"
    );

    // `compile 1.7.8` alone picks the same variant.
    let tree = fx.path("compile-work").join("src/istio-proxy");
    std::fs::create_dir_all(&tree).unwrap();
    let alone = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .args(["compile", "1.7.8", "--dry-run", "--workdir"])
        .arg(fx.path("compile-work"))
        .arg("--cache-dir")
        .arg(fx.path("cache"))
        .env("PROXY_RPM_ENGINE", podman_wrapper()));
    assert!(alone.status.success(), "{}", describe(&alone));
    assert!(
        text(&alone.stdout).contains(&format!(" {variant} bazel ")),
        "{}",
        describe(&alone)
    );

    // A given image is checked for the variant's tools.
    let planned = run(&mut fx.build_release(
        "1.7.8",
        &fx.pin,
        &workdir,
        &["--dry-run", "--image", "builder:test"],
    ));
    let plan = text(&planned.stdout);
    assert!(
        plan.contains(" builder:test sh -c <toolchain-check.sh> python3 gn\n"),
        "{}",
        describe(&planned)
    );
    assert!(
        planned_images(&plan).is_empty() && !plan.contains("note:"),
        "{plan}"
    );

    // Bazel on this host: nothing checks the host, so the plan says what it needs.
    let planned = run(&mut fx.build_release(
        "1.7.8",
        &fx.pin,
        &workdir,
        &["--dry-run", "--engine", "none"],
    ));
    assert!(
        text(&planned.stdout).contains(
            "   note: Istio 1.7's Envoy needs python3 and gn on this host (--engine none; see \
             profiles/releases.toml)"
        ),
        "{}",
        describe(&planned)
    );

    // 1.6 needs nothing more: one image, the base one, checked for nothing more.
    let planned = run(&mut fx.build(&workdir, &["--dry-run"]));
    let plan = text(&planned.stdout);
    assert!(planned.status.success(), "{}", describe(&planned));
    assert_eq!(planned_images(&plan), [base.as_str()], "{plan}");
    assert!(
        !plan.contains("variant") && !plan.contains("note:"),
        "{plan}"
    );
    let planned = run(&mut fx.build(&workdir, &["--dry-run", "--image", "builder:test"]));
    assert!(
        text(&planned.stdout).contains(" builder:test sh -c <toolchain-check.sh>\n"),
        "{}",
        describe(&planned)
    );
    assert!(!workdir.exists());
}

/// A 1.7.8 build in an image with the variant's tools: the image stage's check asks for
/// python3 and gn and finds them, Bazel runs there, and the RPM is 1.7.8's. The base image's
/// stand-in given instead fails the image stage, naming both and the variant to build.
#[test]
fn a_1_7_build_checks_the_given_image_for_python3_and_gn() {
    let variant = require!(support_container::toolchain::variant_stand_in_image());
    let base = require!(test_image());
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let out = run(&mut fx.build_release("1.7.8", &fx.pin, &workdir, &["--image", &variant]));
    built_rpm_of(&out, "1.7.8");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "image {variant}: toolchain ok: gcc 7, clang 9.0.0, cmake 3.17.5, python 2.7.5, \
             git 2.18.4, go 1.14.15, python3 3.6.8, gn 1731 (5ed3c9cc)"
        )),
        "{err}"
    );
    // The Bazel stand-in ran in the work dir's tree, in that image.
    let facts = std::fs::read_to_string(workdir.join("record/facts")).unwrap();
    assert!(facts.contains("pwd="), "{facts}");

    let workdir = fx.path("work-base");
    let out = run(&mut fx.build_release("1.7.8", &fx.pin, &workdir, &["--image", &base]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: image stage failed: image {base} lacks what the build needs: missing \
             python3: expected Python 3.6 or later (CentOS 7's python3); missing gn: expected gn \
             built for glibc 2.17 on PATH (the centos7-python3-gn image has it); rebuild it with \
             `proxy-rpm image --variant centos7-python3-gn` or fix it"
        )),
        "{err}"
    );
    assert!(!err.contains("==> prepare"), "{err}");
    assert!(!workdir.join("src").exists(), "nothing fetched");
}
