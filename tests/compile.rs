//! `proxy-rpm compile --engine none` with Debian's real Bazel on a fixture workspace: the
//! binary comes out built with prepare's bazelrc and an extra `--bazelrc`, a rerun is served
//! from Bazel's local cache, and a compile with an empty output base is served from a remote
//! HTTP cache (nginx with WebDAV).

mod support_container;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support_container::bazel::{
    EXTRA_LINE, Servers, assert_rc_read, bazel_ready, rules, write_workspace,
};
use support_container::blocking::{Held, make_fifo};
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

/// The lines of the work dir's generated `bazel/compile.bazelrc` that are not comments.
fn generated_imports(workdir: &Path) -> Vec<String> {
    std::fs::read_to_string(workdir.join("bazel/compile.bazelrc"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
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
    // A user's rc outside the work dir, on top of prepare's (which the fixture needs to build).
    let extra = wd.temp.path().join("extra.bazelrc");
    std::fs::write(&extra, "build --copt=-DFROM_EXTRA=1\n").unwrap();
    let ours = proxy_rpm::source::bazelrc_path(&wd.dir);
    let compile = |cache: &Path| {
        let mut c = host_compile(&wd, cache, &rules);
        c.args(["--remote-cache", &nginx.url(), "--bazel-arg=--announce_rc"])
            .arg("--bazelrc")
            .arg(&extra);
        c
    };

    // 1. A first build: actions run here, and their results go to the remote cache.
    let out = output(&mut compile(&wd.cache));
    assert!(out.status.success(), "{}", describe(&out));
    let envoy = wd.dir.join("out/envoy");
    let meta = std::fs::symlink_metadata(&envoy).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    let ran = output(&mut Command::new(&envoy));
    // Both rc files reached the compiler: prepare's cxxopts (else main.cc does not compile)
    // and the extra file's define.
    assert_eq!(text(&ran.stdout), format!("fixture envoy\n{EXTRA_LINE}\n"));
    // One generated rc, importing ours then the user's; Bazel read options from both.
    assert_eq!(
        generated_imports(&wd.dir),
        [
            format!("import {}", ours.display()),
            format!("import {}", extra.display())
        ]
    );
    let text_log = std::fs::read_to_string(&log).unwrap();
    for (file, option) in [
        (&ours, "--cxxopt -D_GLIBCXX_USE_CXX11_ABI=1"),
        (
            &ours,
            "--cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1",
        ),
        (&extra, "--copt=-DFROM_EXTRA=1"),
    ] {
        assert_rc_read(&text_log, file, option);
    }
    let first = last_process_summary(&log);
    assert!(
        first.contains("linux-sandbox") || first.contains("local"),
        "{first}"
    );

    // 2. The same compile again: nothing executes, Bazel's output base has it all.
    let out = output(&mut compile(&wd.cache));
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
    let out = output(&mut compile(&fresh_cache));
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
    assert_eq!(text(&ran.stdout), format!("fixture envoy\n{EXTRA_LINE}\n"));
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
            .args(["--remote-cache", "grpc://cache:9092"]),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    let mut lines = plan.lines();
    let words = shell_words::split(lines.next().unwrap()).unwrap();
    let base = proxy_rpm::bazel::output_base(&wd.cache, &wd.tree);
    let expected = [
        format!("(cd {} && CC=clang CXX=clang++ bazel", wd.tree.display()),
        format!("--output_user_root={}/bazel/user_root", wd.cache.display()),
        format!("--output_base={}", base.display()),
        // One rc, generated; it imports the user's (Bazel 2.2.0 reads one --bazelrc).
        format!("--bazelrc={}/bazel/compile.bazelrc", wd.dir.display()),
        "build".into(),
        "--config=release".into(),
        format!(
            "--repository_cache={}/bazel/repository_cache",
            wd.cache.display()
        ),
        "--distdir=/srv/distdir".into(),
        "--jobs=3".into(),
        "--remote_cache=grpc://cache:9092".into(),
        "--announce_rc".into(),
        "--keep_going".into(),
        "//src/envoy:envoy)".into(),
    ];
    assert_eq!(words.join(" "), expected.join(" "));
    assert_eq!(
        lines.collect::<Vec<_>>(),
        [
            format!(
                "# {}/bazel/compile.bazelrc (written before Bazel starts) imports:",
                wd.dir.display()
            ),
            format!("#   {}", rc.display()),
            "# remote cache: grpc://cache:9092".to_string(),
        ]
    );
    assert!(!wd.cache.exists(), "a dry run writes nothing");
    assert!(!wd.dir.join("bazel").exists(), "a dry run writes nothing");
}

/// A stand-in `bazel` on the host (`--bazel`) records its arguments and bazelisk's mirror
/// variable, then leaves an output where Bazel would.
const RECORDING_BAZEL: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$RECORD/args"
printf '%s' "${BAZELISK_BASE_URL-unset}" > "$RECORD/bazelisk"
mkdir -p bazel-bin/src/envoy
printf 'stand-in envoy\n' > bazel-bin/src/envoy/envoy
"#;

#[test]
fn host_bazel_gets_one_generated_bazelrc_and_bazelisks_mirror() {
    let wd = Workdir::new();
    let record = wd.temp.path().join("record");
    std::fs::create_dir(&record).unwrap();
    let fake = wd.temp.path().join("bazel");
    std::fs::write(&fake, RECORDING_BAZEL).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ours = proxy_rpm::source::bazelrc_path(&wd.dir);
    std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
    std::fs::write(&ours, "build --cxxopt -DOURS=1\n").unwrap();
    let first = wd.temp.path().join("first.bazelrc");
    let second = wd.temp.path().join("second one.bazelrc");
    std::fs::write(&first, "build --copt=-DFIRST=1\n").unwrap();
    std::fs::write(&second, "build --copt=-DSECOND=1\n").unwrap();
    let compile = |rcs: &[&Path]| {
        let mut c = proxy_rpm();
        c.args(["compile", "--engine", "none", "--bazel"])
            .arg(&fake)
            .arg("--workdir")
            .arg(&wd.dir)
            .arg("--cache-dir")
            .arg(&wd.cache)
            .env("RECORD", &record)
            .env("BAZELISK_BASE_URL", "http://127.0.0.1:9/bazel-mirror");
        for rc in rcs {
            c.arg("--bazelrc").arg(rc);
        }
        output(&mut c)
    };

    let out = compile(&[&first, &second]);
    assert!(out.status.success(), "{}", describe(&out));
    let args = std::fs::read_to_string(record.join("args")).unwrap();
    let generated = wd.dir.join("bazel/compile.bazelrc");
    let rcs: Vec<&str> = args
        .lines()
        .filter(|a| a.starts_with("--bazelrc"))
        .collect();
    assert_eq!(rcs, [format!("--bazelrc={}", generated.display())]);
    assert_eq!(
        generated_imports(&wd.dir),
        [
            format!("import {}", ours.display()),
            format!("import {}", first.display()),
            format!("import '{}'", second.display()),
        ]
    );
    // Bazel on the host inherits bazelisk's mirror of Bazel releases.
    assert_eq!(
        std::fs::read_to_string(record.join("bazelisk")).unwrap(),
        "http://127.0.0.1:9/bazel-mirror"
    );

    // A missing --bazelrc is named before Bazel runs.
    std::fs::remove_file(record.join("args")).unwrap();
    let missing = wd.temp.path().join("missing.bazelrc");
    let out = compile(&[&missing]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: --bazelrc {}: no such file; give an existing Bazel rc file",
            missing.display()
        )
    );
    assert!(!record.join("args").exists(), "Bazel did not run");
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
    make_fifo(&fifo);
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
    // Once the action has opened the fifo, Bazel is in the middle of the build.
    let held = Held::spawn(&mut host_compile(&wd, &wd.cache, &rules), &fifo);
    let writer = held.blocked("the gate action");
    let out = held.terminate(writer);
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
