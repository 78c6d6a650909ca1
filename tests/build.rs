//! `proxy-rpm build` end to end on this machine: fixture istio/proxy git repositories, the
//! busybox podman image with the Bazel stand-in, and Debian's Bazel with `--engine none`,
//! producing a real RPM that `rpm -K` and `proxy-rpm verify` accept.

mod support;
mod support_container;
mod support_git;
mod support_repo;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support_container::bazel::{Servers, bazel_ready, rules};
use support_container::{containers_labelled, describe, podman_wrapper, signal, test_image, text};

const EPOCH: &str = "1600000000";

/// Fixture repositories, with a proxy commit whose tree is a Bazel workspace building a real
/// x86_64 ELF that needs only old glibc versions (and carries a prebuilt copy of it for the
/// Bazel stand-in, which has no compiler).
struct Fixture {
    git: support_git::Fixture,
    pin: String,
    dir: tempfile::TempDir,
}

const MAIN_C: &str = r#"#include <unistd.h>
#ifndef FIXTURE_RELEASE
#error "--config=release was not applied"
#endif
void _start(void) {
    static const char msg[] = "envoy  version: fixture/1.0/Clean/RELEASE\n";
    write(1, msg, sizeof msg - 1);
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
        let elf = support::old_glibc_elf(&dir_path);
        let proxy = git.repo("proxy");
        std::fs::copy(&elf, proxy.join("fixture-envoy")).unwrap();
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
        Fixture { git, pin, dir }
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
        cmd.args(["build", version, "--workdir"])
            .arg(workdir)
            .arg("--istio-repo")
            .arg(self.git.file_url("istio"))
            .arg("--proxy-repo")
            .arg(self.git.file_url("proxy"))
            .args(["--proxy-sha", pin, "--retry-delay-ms=0"])
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(extra)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            // The engine by path: a podman that uses this machine's containers.conf.
            .env("PROXY_RPM_ENGINE", podman_wrapper())
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .stdin(Stdio::null());
        cmd
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// The RPM path a successful build printed, checked by rpm and by our verify.
fn built_rpm(out: &Output) -> PathBuf {
    assert!(out.status.success(), "{}", describe(out));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout is only the RPM path: {stdout}"
    );
    let rpm = PathBuf::from(stdout.trim());
    assert!(
        rpm.ends_with("istio-proxy-1.6.14-1.el7.x86_64.rpm"),
        "{}",
        rpm.display()
    );
    // Signatures need the key in rpm's database: the signing test checks them on its own.
    let checked = run(Command::new("rpm").args(["-K", "--nosignature"]).arg(&rpm));
    assert!(
        text(&checked.stdout).contains("digests OK"),
        "{}",
        describe(&checked)
    );
    let verified = run(Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .arg("verify")
        .arg(&rpm));
    assert!(verified.status.success(), "{}", describe(&verified));
    rpm
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let fx = Fixture::new();
    let workdir = fx.path("work");
    let out = run(&mut fx.build(&workdir, &["--dry-run", "--image", "builder:test"]));
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    for expected in [
        "plan for istio-proxy 1.6.14",
        &format!("work dir:  {}", workdir.display()),
        &format!("cache dir: {}", fx.path("cache").display()),
        &format!("istio/proxy commit: {} (--proxy-sha)", fx.pin),
        "not needed: --image builder:test",
        &format!("git fetch --depth 1 {}", fx.git.file_url("proxy")),
        "proxy-rpm-test-podman run --rm --name proxy-rpm-compile-",
        "builder:test bazel",
        "--config=release",
        &format!("'--bazelrc={}/bazel/proxy-rpm.bazelrc'", workdir.display()),
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
    let envoy = support::old_glibc_elf(&fx.path(""));
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
    let stderr = text(&again.stderr);
    for stage in ["resolve", "prepare", "package", "verify"] {
        assert!(
            stderr.contains(&format!("==> {stage}: done in an earlier run")),
            "{stage} not skipped:\n{stderr}"
        );
    }

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
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let args = ["--image", &image];

    let child = fx
        .build(&workdir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Opening the fifo for writing returns once the Bazel stand-in opened it to read: it is
    // then inside the container, in the middle of compile. If the build ends first, that is
    // a failure to show, not a wait.
    enum Event {
        InCompile(std::fs::File),
        Exited(Output),
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let fifo_path = fifo.clone();
    let opened = tx.clone();
    std::thread::spawn(move || {
        if let Ok(writer) = OpenOptions::new().write(true).open(fifo_path) {
            let _ = opened.send(Event::InCompile(writer));
        }
    });
    std::thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait_with_output().unwrap()));
    });
    let next = || {
        rx.recv_timeout(support_container::PATIENCE)
            .expect("the build hung")
    };
    let writer = match next() {
        Event::InCompile(writer) => writer,
        Event::Exited(out) => panic!("the build ended before compile: {}", describe(&out)),
    };

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

    signal(pid, "TERM");
    let killed = match next() {
        Event::Exited(out) => out,
        Event::InCompile(_) => unreachable!("the fifo opens once"),
    };
    drop(writer);
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
    ];
    let out = run(&mut fx.build(&workdir, &args));
    let rpm = built_rpm(&out);
    assert!(
        text(&out.stderr).contains("image    not needed"),
        "{}",
        describe(&out)
    );

    // The packaged Envoy is what Bazel built from the workspace, and it runs.
    let unpacked = fx.path("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let status = Command::new("sh")
        .current_dir(&unpacked)
        .args(["-ec", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"])
        .arg(&rpm)
        .status()
        .unwrap();
    assert!(status.success());
    let ran = run(&mut Command::new(unpacked.join("usr/local/bin/envoy")));
    assert!(text(&ran.stdout).contains("envoy  version"));

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
}

#[test]
fn each_stage_failure_names_the_stage_and_its_log() {
    let fx = Fixture::new();
    let envoy = support::old_glibc_elf(&fx.path(""));
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

    // prepare: the pinned commit is not in the proxy repository.
    let workdir = fx.path("w-prepare");
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let out = run(&mut fx.build_at(missing, &workdir, &envoy_arg));
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
    let envoy = support::old_glibc_elf(&fx.path(""));
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
    let envoy = support::old_glibc_elf(&fx.path(""));
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
