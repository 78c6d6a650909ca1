//! `proxy-rpm compile --engine none` with Debian's real Bazel on a fixture workspace: the
//! binary comes out, a rerun is served from Bazel's local cache, and a compile with an empty
//! output base is served from a remote HTTP cache (nginx with WebDAV).

mod support_container;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support_container::bazel::{Servers, bazel_ready, rules, write_workspace};
use support_container::nginx::Nginx;
use support_container::*;

/// The `INFO: N processes: …` line of the last Bazel run in a compile log.
fn last_process_summary(log: &Path) -> String {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .rev()
        .find(|l| {
            l.starts_with("INFO: ") && (l.contains(" processes: ") || l.contains(" process: "))
        })
        .expect("Bazel printed a process summary")
        .to_string()
}

fn host_compile(
    wd: &Workdir,
    cache: &Path,
    rules: &(std::path::PathBuf, std::path::PathBuf),
) -> Command {
    let mut c = proxy_rpm();
    c.args([
        "compile", "--engine", "none", "--cc", "gcc", "--cxx", "g++", "--jobs", "2",
    ])
    .arg("--workdir")
    .arg(&wd.dir)
    .arg("--cache-dir")
    .arg(cache)
    .arg(format!(
        "--bazel-arg=--override_repository=rules_cc={}",
        rules.0.display()
    ))
    .arg(format!(
        "--bazel-arg=--override_repository=rules_java={}",
        rules.1.display()
    ));
    c
}

#[test]
fn real_bazel_builds_then_reuses_its_cache_and_a_remote_cache() {
    require!(bazel_ready());
    let nginx = require!(Nginx::start());
    let wd = Workdir::new();
    write_workspace(&wd.dir, &wd.tree);
    let rules = rules(wd.temp.path());
    let fresh_cache = wd.temp.path().join("fresh-cache");
    let _servers = Servers {
        cache_dirs: vec![wd.cache.clone(), fresh_cache.clone()],
        tree: wd.tree.clone(),
    };
    let log = wd.dir.join("logs/compile.log");

    // 1. A first build: actions run here, and their results go to the remote cache.
    let out = output(host_compile(&wd, &wd.cache, &rules).args(["--remote-cache", &nginx.url()]));
    assert!(out.status.success(), "{}", describe(&out));
    let envoy = wd.dir.join("out/envoy");
    let meta = std::fs::symlink_metadata(&envoy).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    let ran = output(&mut Command::new(&envoy));
    assert_eq!(text(&ran.stdout), "fixture envoy\n");
    let first = last_process_summary(&log);
    assert!(
        first.contains("linux-sandbox") || first.contains("local"),
        "{first}"
    );

    // 2. The same compile again: nothing executes, Bazel's output base has it all.
    let out = output(host_compile(&wd, &wd.cache, &rules).args(["--remote-cache", &nginx.url()]));
    assert!(out.status.success(), "{}", describe(&out));
    let second = last_process_summary(&log);
    assert!(
        !second.contains("linux-sandbox")
            && !second.contains("local")
            && !second.contains("remote cache hit"),
        "a rerun should only run internal actions: {second}"
    );
    assert!(
        text(&out.stderr).contains(&second["INFO: ".len()..]),
        "{}",
        describe(&out)
    );

    // 3. An empty output base (another cache dir) with the remote cache: remote hits.
    let out =
        output(host_compile(&wd, &fresh_cache, &rules).args(["--remote-cache", &nginx.url()]));
    assert!(out.status.success(), "{}", describe(&out));
    let third = last_process_summary(&log);
    assert!(third.contains("remote cache hit"), "{third}");
    assert!(!third.contains("linux-sandbox"), "{third}");
    let access = nginx.access_log();
    assert!(
        access
            .lines()
            .any(|l| l.contains("\"GET /ac/") && l.contains("\" 200 ")),
        "{access}"
    );
    let ran = output(&mut Command::new(&envoy));
    assert_eq!(text(&ran.stdout), "fixture envoy\n");
}

#[test]
fn dry_run_shows_startup_options_before_the_command() {
    let wd = Workdir::new();
    let rc = wd.temp.path().join("extra.bazelrc");
    let out = output(
        proxy_rpm()
            .args(["compile", "--engine", "none", "--dry-run", "--jobs", "3"])
            .arg("--workdir")
            .arg(&wd.dir)
            .arg("--cache-dir")
            .arg(&wd.cache)
            .arg("--bazelrc")
            .arg(&rc)
            .args(["--distdir", "/srv/distdir"])
            .args(["--bazel-arg", "--announce_rc", "--bazel-arg=--keep_going"])
            .args(["--remote-cache", "grpc://cache:9092"])
            .args(["--remote-executor", "grpc://farm:8980"]),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    let words = shell_words::split(plan.trim()).unwrap();
    let base = proxy_rpm::bazel::output_base(&wd.cache, &wd.tree);
    let expected = [
        format!("(cd {} && CC=clang CXX=clang++ bazel", wd.tree.display()),
        format!("--output_user_root={}/bazel/user_root", wd.cache.display()),
        format!("--output_base={}", base.display()),
        format!("--bazelrc={}", rc.display()),
        "build".into(),
        "--config=release".into(),
        format!(
            "--repository_cache={}/bazel/repository_cache",
            wd.cache.display()
        ),
        "--distdir=/srv/distdir".into(),
        "--jobs=3".into(),
        "--remote_cache=grpc://cache:9092".into(),
        "--remote_executor=grpc://farm:8980".into(),
        "--announce_rc".into(),
        "--keep_going".into(),
        "//src/envoy:envoy)".into(),
    ];
    assert_eq!(words.join(" "), expected.join(" "));
    assert!(!wd.cache.exists(), "a dry run writes nothing");
}

#[test]
fn compile_without_a_prepared_tree_says_what_to_run() {
    let wd = Workdir::new();
    std::fs::remove_dir_all(&wd.tree).unwrap();
    let out = output(
        proxy_rpm()
            .args(["compile", "--engine", "none", "--workdir"])
            .arg(&wd.dir)
            .arg("--cache-dir")
            .arg(&wd.cache),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: no source tree at "), "{err}");
    assert!(err.contains("proxy-rpm prepare"), "{err}");
}

#[test]
fn sigterm_interrupts_bazel_on_the_host() {
    require!(bazel_ready());
    let wd = Workdir::new();
    let fifo = wd.temp.path().join("gate");
    assert!(output(Command::new("mkfifo").arg(&fifo)).status.success());
    // An action that waits on the fifo, outside the sandbox so that it sees it.
    let files = [
        ("WORKSPACE", "workspace(name = \"fixture\")\n".to_string()),
        (".bazelrc", "build:release -c opt\n".to_string()),
        (
            "src/envoy/BUILD",
            format!(
                "genrule(name = \"gate\", outs = [\"gate.txt\"], cmd = \"cat {} > $@\", \
                 tags = [\"no-sandbox\"])\n\
                 genrule(name = \"envoy\", srcs = [\":gate\"], outs = [\"envoy\"], \
                 cmd = \"cp $< $@\")\n",
                fifo.display()
            ),
        ),
    ];
    for (path, content) in files {
        let path = wd.tree.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let rules = rules(wd.temp.path());
    let _servers = Servers {
        cache_dirs: vec![wd.cache.clone()],
        tree: wd.tree.clone(),
    };
    let child = host_compile(&wd, &wd.cache, &rules)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Returns once the action has opened the fifo: Bazel is in the middle of the build.
    let writer = on_thread(move || std::fs::OpenOptions::new().write(true).open(fifo).unwrap());
    signal(pid, "TERM");
    let out = wait_bounded(child);
    drop(writer);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("interrupted by SIGTERM"),
        "{}",
        describe(&out)
    );
    let log = std::fs::read_to_string(wd.dir.join("logs/compile.log")).unwrap();
    assert!(log.contains("interrupted"), "Bazel was told to stop: {log}");
    assert!(!wd.dir.join("out/envoy").exists());
}
