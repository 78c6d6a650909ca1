//! `proxy-rpm compile` in a real podman container: the busybox test image's `bazel` is a
//! stand-in that records what it saw (user, working directory, arguments, environment,
//! terminals) and writes `bazel-bin/src/envoy/envoy` as a symlink into the output base.

mod support_container;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use proxy_rpm::Reporter;
use proxy_rpm::container::args::{Mount, RunSpec, WORKDIR_LABEL};
use proxy_rpm::container::guard::ContainerGuard;
use proxy_rpm::container::{Engine, EngineKind, caller_ids};
use support_container::blocking::{Held, make_fifo};
use support_container::*;

fn compile_cmd(image: &str, wd: &Workdir) -> std::process::Command {
    let mut c = proxy_rpm();
    c.args([
        "compile",
        "--engine",
        "podman",
        "--image",
        image,
        "--workdir",
    ])
    .arg(&wd.dir)
    .arg("--cache-dir")
    .arg(&wd.cache);
    c
}

fn workdir_label(wd: &Workdir) -> String {
    format!("{WORKDIR_LABEL}={}", wd.dir.display())
}

#[test]
fn compile_runs_as_the_caller_on_same_path_mounts_and_copies_the_output() {
    let image = require!(test_image());
    let wd = Workdir::new();
    // What `prepare` leaves: a bazelrc in the work dir, picked up by default.
    std::fs::create_dir_all(wd.dir.join("bazel")).unwrap();
    std::fs::write(
        wd.dir.join("bazel/cxxopts.bazelrc"),
        "build --cxxopt=-DX=1\n",
    )
    .unwrap();

    let out = output(compile_cmd(&image, &wd).env("HTTP_PROXY", "http://proxy.test:3128"));
    assert!(out.status.success(), "{}", describe(&out));
    let envoy = wd.dir.join("out/envoy");
    assert_eq!(text(&out.stdout).trim(), envoy.display().to_string());

    // Who and where the build ran: the caller's ids, in the tree, with no terminal.
    let (uid, gid) = caller_ids().unwrap();
    assert_eq!(wd.fact("uid"), uid.to_string());
    assert_eq!(wd.fact("gid"), gid.to_string());
    assert_eq!(wd.fact("pwd"), wd.tree.display().to_string());
    for stream in ["tty0", "tty1", "tty2"] {
        assert_eq!(wd.fact(stream), "no", "{stream}");
    }

    // The Bazel command line: startup options, then `build`, then the one target.
    let args: Vec<String> = wd.record("args").lines().map(str::to_string).collect();
    let build = args
        .iter()
        .position(|a| a == "build")
        .expect("a build command");
    let startup = &args[..build];
    let output_base = startup
        .iter()
        .find_map(|a| a.strip_prefix("--output_base="))
        .expect("--output_base before build");
    assert!(
        Path::new(output_base).starts_with(&wd.cache),
        "{output_base}"
    );
    // One generated --bazelrc that imports prepare's (Bazel 2.2.0 reads only one).
    assert!(startup.contains(&format!(
        "--bazelrc={}",
        wd.dir.join("bazel/compile.bazelrc").display()
    )));
    assert!(
        std::fs::read_to_string(wd.dir.join("bazel/compile.bazelrc"))
            .unwrap()
            .contains(&format!(
                "\nimport {}\n",
                wd.dir.join("bazel/cxxopts.bazelrc").display()
            ))
    );
    assert_eq!(args[build + 1], "--config=release");
    assert_eq!(args.last().unwrap(), "//src/envoy:envoy");

    // Environment: the proxy by name, the toolchain entry point, clang, a writable HOME.
    let env = wd.record("env");
    let has = |line: &str| env.lines().any(|l| l == line);
    assert!(has("HTTP_PROXY=http://proxy.test:3128"), "{env}");
    assert!(!env.lines().any(|l| l.starts_with("HTTPS_PROXY=")), "{env}");
    assert!(has("PROXY_RPM_TEST_TOOLCHAIN=enabled"), "{env}");
    assert!(has("CC=clang") && has("CXX=clang++"), "{env}");
    assert!(
        has(&format!("HOME={}", wd.cache.join("home").display())),
        "{env}"
    );

    // bazel-bin is the absolute in-container path, and it resolves on the host: same paths.
    let link = std::fs::read_link(wd.tree.join("bazel-bin")).unwrap();
    assert!(link.starts_with(output_base), "{}", link.display());

    // The copy: a regular file (not the symlink), 0755, the caller's, with Bazel's content.
    let meta = std::fs::symlink_metadata(&envoy).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_eq!(
        std::fs::read_to_string(&envoy).unwrap(),
        "#!/bin/sh\necho fake envoy\n"
    );
    let log = std::fs::read_to_string(wd.dir.join("logs/compile.log")).unwrap();
    assert!(log.contains("[3 / 3] Linking"), "{log}");
    assert!(containers_labelled(&workdir_label(&wd)).is_empty());
}

#[test]
fn a_failing_build_reports_status_log_and_last_lines() {
    let image = require!(test_image());
    let wd = Workdir::new();
    std::fs::write(wd.tree.join("FAIL"), "").unwrap();
    let out = output(&mut compile_cmd(&image, &wd));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("exit status 3"), "{err}");
    assert!(
        err.contains(&wd.dir.join("logs/compile.log").display().to_string()),
        "{err}"
    );
    assert!(err.contains("fake compile failure two"), "{err}");
    assert!(!wd.dir.join("out/envoy").exists());
    assert!(containers_labelled(&workdir_label(&wd)).is_empty());
}

#[test]
fn sigterm_during_the_build_removes_the_container() {
    let image = require!(test_image());
    let wd = Workdir::new();
    let fifo = wd.tree.join("block");
    make_fifo(&fifo);

    // Once the stand-in reads the fifo, the build is running inside its container, and
    // blocked until we write.
    let held = Held::spawn(&mut compile_cmd(&image, &wd), &fifo);
    let writer = held.blocked("the stand-in ran");
    let label = workdir_label(&wd);
    assert_eq!(
        containers_labelled(&label).len(),
        1,
        "one build container runs"
    );

    let out = held.terminate(writer);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(
        containers_labelled(&label).is_empty(),
        "container left behind"
    );
    assert!(!wd.dir.join("out/envoy").exists());
}

fn root_podman() -> Result<Engine, String> {
    podman_ready()?;
    let (uid, _) = caller_ids().map_err(|e| e.to_string())?;
    if uid != 0 {
        return Err("needs root: rootless podman maps --user through subordinate ids".into());
    }
    // The engine's own commands (the guard's) must see our containers.conf too.
    Ok(Engine::new(EngineKind::Podman, podman_wrapper(), false))
}

#[test]
fn run_spec_user_owns_what_the_container_writes() {
    let engine = require!(root_podman());
    let image = require!(test_image());
    let wd = Workdir::new();
    std::fs::set_permissions(&wd.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut spec = RunSpec::new(&image, "test");
    spec.user = Some((1234, 4321));
    spec.mounts = vec![Mount {
        path: wd.dir.clone(),
        read_only: false,
    }];
    spec.workdir = Some(wd.dir.clone());
    spec.command = vec!["touch".into(), "made-inside".into()];
    spec.to_cmd(&engine)
        .unwrap()
        .run(&Reporter::silent())
        .unwrap();
    let meta = std::fs::metadata(wd.dir.join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 4321));
}

#[test]
fn guard_removes_a_running_container_when_dropped() {
    let engine = require!(root_podman());
    let image = require!(test_image());
    let wd = Workdir::new();
    let fifo = wd.dir.join("never-written");
    make_fifo(&fifo);
    let mut spec = RunSpec::new(&image, "test");
    spec.labels = vec![(WORKDIR_LABEL.into(), wd.dir.display().to_string())];
    spec.mounts = vec![Mount {
        path: wd.dir.clone(),
        read_only: false,
    }];
    spec.command = vec![
        "sh".into(),
        "-c".into(),
        format!("read -r x < {}", fifo.display()).into(),
    ];
    let mut args = strings(spec.to_cmd(&engine).unwrap().arguments());
    args.insert(1, "-d".into()); // detached: the container keeps running without us
    let out = output(podman().args(&args));
    assert!(out.status.success(), "{}", describe(&out));
    let label = workdir_label(&wd);
    assert_eq!(containers_labelled(&label), [spec.name.clone()]);

    drop(ContainerGuard::new(
        &engine,
        &spec.name,
        &Reporter::silent(),
    ));
    assert!(containers_labelled(&label).is_empty());
}

#[test]
fn a_missing_image_says_how_to_make_it() {
    require!(podman_ready());
    let wd = Workdir::new();
    let out = output(&mut compile_cmd("localhost/proxy-rpm-test-absent:0", &wd));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("no image localhost/proxy-rpm-test-absent:0"),
        "{err}"
    );
    assert!(err.contains("proxy-rpm image"), "{err}");
}
