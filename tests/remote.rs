//! Remote execution: `proxy-rpm image --push` to Debian's docker-registry, then `compile` with
//! Debian's Bazel (4.2.3) on a real BuildGrid farm whose worker runs each action in podman, in
//! the image the action names by digest; a second compile from an empty output base served
//! from the farm's cache; the refusals (no pushed digest, a local image that differs, flags the
//! pinned Bazel lacks); a farm that is down; and an API key that never shows.

mod support_container;
mod support_remote;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proxy_rpm::Reporter;
use proxy_rpm::bazel::CompileOptions;
use proxy_rpm::bazel::remote::{Processes, doctor_checks};
use proxy_rpm::container::{Engine, EngineKind};
use proxy_rpm::doctor::Status;
use support_container::bazel::{Servers, bazel_ready, rules, write_workspace};
use support_container::*;
use support_remote::Farm;
use support_remote::image::farm_image;

const KEY: &str = "pr0xy-rpm-t3st-k3y-do-not-print";
const KEY_ENV: &str = "PROXY_RPM_REMOTE_HEADER";

fn compile(wd: &Workdir, cache: &Path, image: &str) -> Command {
    let mut c = proxy_rpm();
    c.args(["compile", "--engine", "none", "--cc", "gcc", "--cxx", "g++"])
        .args(["--image", image])
        .arg("--workdir")
        .arg(&wd.dir)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove(KEY_ENV);
    // Another Bazel for the client, e.g. 2.1.0's release binary from npm's
    // @bazel/bazel-linux_x64 (the 2.x line istio/proxy pins); Debian's 4.2.3 by default.
    if let Some(bazel) = std::env::var_os("PROXY_RPM_TEST_BAZEL") {
        c.arg("--bazel").arg(bazel);
    }
    c
}

/// Write a push record by hand, as `image --push` would have.
fn record(cache: &Path, local: &str, id: &str, reference: &str) {
    std::fs::create_dir_all(cache).unwrap();
    let json =
        serde_json::json!({"images": {local: {"local": local, "id": id, "reference": reference}}});
    std::fs::write(cache.join("pushed-images.json"), json.to_string()).unwrap();
}

fn fake_reference() -> String {
    format!(
        "127.0.0.1:5000/proxy-rpm-builder@sha256:{}",
        "ab".repeat(32)
    )
}

fn last_summary(log: &Path) -> String {
    proxy_rpm::bazel::last_process_summary(log).expect("Bazel printed a process summary")
}

/// Every file under `dirs` holding `needle` (plain or gzip-compressed, like Bazel's profile).
fn files_containing(dirs: &[&Path], needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let bytes = if path.extension().is_some_and(|e| e == "gz") {
                    let mut out = Vec::new();
                    let _ = std::io::Read::read_to_end(
                        &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                        &mut out,
                    );
                    out
                } else {
                    bytes
                };
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path);
                }
            }
        }
    }
    found
}

fn assert_no_key(out: &Output) {
    assert_not_shown(out, KEY);
}

fn assert_not_shown(out: &Output, key: &str) {
    assert!(!text(&out.stdout).contains(key), "{}", describe(out));
    assert!(!text(&out.stderr).contains(key), "{}", describe(out));
}

#[test]
fn a_farm_runs_the_compile_in_the_pushed_image_and_serves_a_clean_output_base_from_cache() {
    require!(bazel_ready());
    require!(support_remote::farm_ready());
    let image = require!(farm_image());
    let farm = Farm::start().unwrap();
    let wd = Workdir::new();
    write_workspace(&wd.dir, &wd.tree);
    let rules = rules(wd.temp.path());
    let fresh = wd.temp.path().join("fresh-cache");
    let _servers = Servers {
        cache_dirs: vec![wd.cache.clone(), fresh.clone()],
        tree: wd.tree.clone(),
    };
    let overrides = [
        format!(
            "--bazel-arg=--override_repository=rules_cc={}",
            rules.0.display()
        ),
        format!(
            "--bazel-arg=--override_repository=rules_java={}",
            rules.1.display()
        ),
    ];

    // 1. The push: the reference printed is the one recorded, and the registry has it.
    let target = format!("{}/proxy-rpm-remote-test", farm.registry_host);
    let out = output(
        proxy_rpm()
            .args([
                "image", "--engine", "podman", "--image", &image, "--push", &target,
            ])
            .arg("--cache-dir")
            .arg(&wd.cache)
            .env("CONTAINERS_REGISTRIES_CONF", &farm.registries_conf),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let reference = text(&out.stdout).trim().to_string();
    assert!(
        reference.starts_with(&format!("{target}@sha256:")),
        "{reference}"
    );
    // The farm's API key: a bearer token it checks on every request.
    let key = farm.token.clone();
    let header = format!("authorization=Bearer {key}");
    let local_id =
        text(&output(podman().args(["image", "inspect", "--format", "{{.Id}}", &image])).stdout)
            .trim()
            .to_string();

    // 2. The plan names the farm and the image by digest, and shows no key.
    let farm_args = [
        "--remote-executor",
        &farm.url,
        "--remote-instance",
        farm.instance,
    ];
    let plan = output(
        compile(&wd, &wd.cache, &image)
            .args(farm_args)
            .args(&overrides)
            .arg("--dry-run")
            .env(KEY_ENV, &header),
    );
    assert!(plan.status.success(), "{}", describe(&plan));
    assert_not_shown(&plan, &key);
    let shown = text(&plan.stdout);
    for expected in [
        format!("--remote_default_exec_properties=container-image=docker://{reference}"),
        "--noremote_local_fallback".to_string(),
        "--jobs=100".to_string(),
        format!("# remote headers from ${KEY_ENV} (values hidden)"),
    ] {
        assert!(shown.contains(&expected), "{expected} not in:\n{shown}");
    }

    // 3. Without the key the farm refuses, and nothing is built here instead.
    let log = wd.dir.join("logs/compile.log");
    let out = output(
        compile(&wd, &wd.cache, &image)
            .args(farm_args)
            .args(&overrides),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let bazel_said = std::fs::read_to_string(&log).unwrap();
    assert!(
        bazel_said.contains("UNAUTHENTICATED") || bazel_said.contains("PERMISSION_DENIED"),
        "{bazel_said}"
    );
    assert!(
        proxy_rpm::bazel::last_process_summary(&log)
            .and_then(|s| Processes::parse(&s))
            .is_none_or(|p| p.local == 0 && p.remote == 0),
        "{bazel_said}"
    );
    assert!(farm.actions().is_empty(), "{:?}", farm.actions());
    assert!(!wd.dir.join("out/envoy").exists());

    // With the key: the compile passes and shows it nowhere; its log's process counts.
    let with_key = |cache: &Path, extra: &[&str]| {
        let out = output(
            compile(&wd, cache, &image)
                .args(farm_args)
                .args(extra)
                .args(&overrides)
                .env(KEY_ENV, &header),
        );
        assert!(out.status.success(), "{}\n{}", describe(&out), farm.logs());
        assert_not_shown(&out, &key);
        let summary = last_summary(&log);
        let counts = Processes::parse(&summary).unwrap();
        (out, summary, counts)
    };

    // 4. With the key, compile and link run on the worker, in the pushed image.
    let (out, summary, counts) = with_key(&wd.cache, &[]);
    assert!(counts.remote >= 2 && counts.local == 0, "{summary}");
    assert!(
        text(&out.stderr).contains(&format!("remote: farm {} ({reference})", farm.url)),
        "{}",
        describe(&out)
    );
    let actions = farm.actions();
    eprintln!(
        "first compile: {summary}\n{}\nworker: {actions:?}",
        text(&out.stderr)
    );
    assert_eq!(actions.len() as u64, counts.remote, "{actions:?}");
    for action in &actions {
        assert_eq!(action["image"], reference.as_str(), "{action}");
        assert_eq!(
            action["properties"]["container-image"],
            format!("docker://{reference}"),
            "{action}"
        );
        assert_eq!(
            action["image_id"]
                .as_str()
                .map(|id| id.trim_start_matches("sha256:")),
            Some(local_id.trim_start_matches("sha256:")),
            "{action}"
        );
        assert_eq!(action["exit_code"], 0, "{action}");
    }
    assert!(
        actions.iter().any(|a| a["arguments"][0] == "/usr/bin/gcc"),
        "{actions:?}"
    );
    let ran = output(&mut Command::new(wd.dir.join("out/envoy")));
    assert_eq!(text(&ran.stdout), "fixture envoy\n");

    // Doctor's checks of the farm: it answers HTTP/2, the image is the local one and is on
    // the registry; a digest the registry lacks fails.
    let wrapper = farm.dir.path().join("podman");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nCONTAINERS_CONF='{}' CONTAINERS_REGISTRIES_CONF='{}' exec podman \"$@\"\n",
            containers_conf().display(),
            farm.registries_conf.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let engine = Engine::new(EngineKind::Podman, &wrapper, false);
    let mut opts = CompileOptions::new(&wd.dir, Some(engine), &image).unwrap();
    opts.cache_dir = wd.cache.clone();
    opts.remote.remote_executor = Some(farm.url.clone());
    let checks = doctor_checks(&opts, &Reporter::silent());
    let shown: Vec<(Status, &str)> = checks.iter().map(|c| (c.status, c.name.as_str())).collect();
    assert_eq!(
        shown,
        [(Status::Ok, "build farm"), (Status::Ok, "farm image")],
        "{checks:?}"
    );
    assert!(checks[1].detail.contains(&reference), "{checks:?}");
    let absent = format!("{target}@sha256:{}", "0".repeat(64));
    opts.cache_dir = wd.temp.path().join("absent-record");
    record(
        &opts.cache_dir,
        &image,
        &format!("sha256:{}", local_id.trim_start_matches("sha256:")),
        &absent,
    );
    let checks = doctor_checks(&opts, &Reporter::silent());
    assert_eq!(checks[1].status, Status::Fail, "{checks:?}");
    assert!(
        checks[1].detail.contains("is not on the registry"),
        "{checks:?}"
    );

    // 5. An empty output base, with the farm as executor and (explicitly) as cache: all hits.
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(
        wd.cache.join("pushed-images.json"),
        fresh.join("pushed-images.json"),
    )
    .unwrap();
    let (_, summary, counts) = with_key(&fresh, &["--remote-cache", &farm.url]);
    eprintln!("second compile: {summary}");
    assert!(
        counts.cache_hits >= 2 && counts.remote == 0 && counts.local == 0,
        "{summary}"
    );
    assert_eq!(
        farm.actions().len(),
        actions.len(),
        "nothing ran again on the worker"
    );

    // 6. The key is nowhere on disk: not in the logs, not in Bazel's server log, not in the rc.
    let found = files_containing(&[&wd.dir, &wd.cache, &fresh], &key);
    assert!(found.is_empty(), "the key is in {found:?}");
    assert!(!proxy_rpm::bazel::secret::path(&wd.dir).exists());
}

#[test]
fn a_farm_that_is_down_fails_in_seconds_naming_it_and_builds_nothing_here() {
    let wd = Workdir::new();
    std::fs::write(wd.tree.join("WORKSPACE"), "").unwrap();
    record(&wd.cache, "builder:1", "sha256:11", &fake_reference());
    let port = free_port();
    let url = format!("grpc://127.0.0.1:{port}");
    let out = output(
        compile(&wd, &wd.cache, "builder:1")
            .args(["--remote-executor", &url])
            .env(KEY_ENV, format!("x-api-key={KEY}")),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_no_key(&out);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("error: the build farm {url} cannot be reached: ")),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        !wd.dir.join("logs/compile.log").exists(),
        "Bazel never started"
    );
    assert!(!wd.dir.join("out/envoy").exists());
}

#[test]
fn remote_execution_is_refused_before_anything_runs() {
    let wd = Workdir::new();
    let farm = "grpc://127.0.0.1:9";
    let refused = |extra: &[&str], image: &str, env: Option<&str>| {
        let mut c = compile(&wd, &wd.cache, image);
        c.args(["--remote-executor", farm]).args(extra);
        if let Some(value) = env {
            c.env(KEY_ENV, value);
        }
        let out = output(&mut c);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_no_key(&out);
        assert_eq!(
            text(&out.stderr).trim_end().lines().count(),
            1,
            "{}",
            describe(&out)
        );
        text(&out.stderr)
    };
    // Never pushed.
    let err = refused(&[], "never-pushed:1", None);
    assert!(
        err.contains("image never-pushed:1 has no pushed digest"),
        "{err}"
    );
    assert!(
        err.contains("proxy-rpm image --push REGISTRY/NAME"),
        "{err}"
    );
    // No image named at all (the Bazel client on this host).
    let out = output(
        proxy_rpm()
            .args([
                "compile",
                "--engine",
                "none",
                "--remote-executor",
                farm,
                "--workdir",
            ])
            .arg(&wd.dir)
            .arg("--cache-dir")
            .arg(&wd.cache),
    );
    assert!(
        text(&out.stderr).contains("needs the builder image the farm runs"),
        "{}",
        describe(&out)
    );
    record(&wd.cache, "builder:1", "sha256:11", &fake_reference());
    // An HTTP cache cannot serve a farm (Bazel 2.1.0: "Cannot combine gRPC based remote
    // execution with disk caching or HTTP-based caching").
    let err = refused(
        &["--remote-cache", "http://127.0.0.1:9/cache"],
        "builder:1",
        None,
    );
    assert!(
        err.contains("Bazel cannot combine remote execution with an HTTP cache"),
        "{err}"
    );
    // Mutual TLS with a tree pinned to Bazel 2.2.0.
    std::fs::write(wd.tree.join(".bazelversion"), "2.2.0\n").unwrap();
    let pem = wd.temp.path().join("client.pem");
    std::fs::write(&pem, "not read\n").unwrap();
    let pem = pem.to_str().unwrap();
    let err = refused(
        &["--remote-client-cert", pem, "--remote-client-key", pem],
        "builder:1",
        None,
    );
    assert!(
        err.contains(
            "the tree pins Bazel 2.2.0 (.bazelversion), which has no --tls_client_certificate"
        ),
        "{err}"
    );
    // An API key with that Bazel: 2.x leaves the header off some calls.
    let err = refused(&[], "builder:1", Some(&format!("x-api-key={KEY}")));
    assert!(
        err.contains(&format!("${KEY_ENV}: the tree pins Bazel 2.2.0 (.bazelversion), which leaves --remote_header off")),
        "{err}"
    );
    std::fs::remove_file(wd.tree.join(".bazelversion")).unwrap();
    // A key would be printed by --announce_rc; a malformed key is named, not shown.
    let err = refused(
        &["--bazel-arg=--announce_rc"],
        "builder:1",
        Some(&format!("x-api-key={KEY}")),
    );
    assert!(
        err.contains("--announce_rc would print the remote headers"),
        "{err}"
    );
    let err = refused(&[], "builder:1", Some(&format!("x-api-key={KEY}'")));
    assert!(
        err.contains(&format!("${KEY_ENV}: expected NAME=VALUE")),
        "{err}"
    );
}

#[test]
fn a_local_image_that_is_not_the_pushed_one_is_refused() {
    let image = require!(busybox_image());
    let wd = Workdir::new();
    record(
        &wd.cache,
        &image,
        &format!("sha256:{}", "0".repeat(64)),
        &fake_reference(),
    );
    let out = output(
        proxy_rpm()
            .args(["compile", "--engine", "podman", "--image", &image])
            .args(["--remote-executor", "grpc://127.0.0.1:9", "--workdir"])
            .arg(&wd.dir)
            .arg("--cache-dir")
            .arg(&wd.cache),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("image {image} is sha256:")), "{err}");
    assert!(
        err.contains(&format!(
            "but {} was pushed from sha256:{}",
            fake_reference(),
            "0".repeat(64)
        )),
        "{err}"
    );
    assert!(err.contains("push it again"), "{err}");
}

#[test]
fn the_plan_runs_actions_in_the_recorded_digest_with_farm_settings() {
    let wd = Workdir::new();
    record(&wd.cache, "builder:1", "sha256:11", &fake_reference());
    let header_file = wd.temp.path().join("headers");
    std::fs::write(&header_file, format!("# the farm's key\nx-api-key={KEY}\n")).unwrap();
    let out = output(
        compile(&wd, &wd.cache, "builder:1")
            .args([
                "--remote-executor",
                "grpcs://farm.invalid",
                "--remote-instance",
                "main",
            ])
            .arg("--remote-header-file")
            .arg(&header_file)
            .arg("--dry-run"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_no_key(&out);
    let plan = text(&out.stdout);
    let words = shell_words::split(plan.lines().next().unwrap()).unwrap();
    let at = words.iter().position(|w| w == "build").unwrap();
    let flags: Vec<&str> = words[at + 1..]
        .iter()
        .map(String::as_str)
        .filter(|w| w.starts_with("--jobs") || w.contains("remote") || w.starts_with("--spawn"))
        .collect();
    assert_eq!(
        flags,
        [
            "--jobs=100",
            "--remote_executor=grpcs://farm.invalid",
            &format!(
                "--remote_default_exec_properties=container-image=docker://{}",
                fake_reference()
            ),
            "--spawn_strategy=remote,sandboxed,local",
            "--remote_timeout=7200",
            "--noremote_local_fallback",
            "--remote_instance_name=main",
        ]
    );
    assert!(
        plan.contains("# build farm: grpcs://farm.invalid, instance main"),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "# remote headers from {} (values hidden)",
            header_file.display()
        )),
        "{plan}"
    );
    assert!(!wd.dir.join("bazel").exists(), "a dry run writes nothing");
}

/// A Bazel stand-in that does what Bazel 2.1.0 does when a farm fails its first call: print
/// every rc option it read (the headers' file included), then fail.
const ANNOUNCING_BAZEL: &str = r#"#!/bin/sh
for a in "$@"; do
  case "$a" in --bazelrc=*) rc="${a#--bazelrc=}" ;; esac
done
sed -n 's/^try-import //p' "$rc" | while read -r file; do
  echo "INFO: Reading rc options for 'build' from $file:"
  echo "  'build' options: $(grep -v '^#' "$file")"
done
echo "ERROR: Failed to query remote execution capabilities: UNAUTHENTICATED"
exit 2
"#;

/// Answers one connection the way an HTTP/2 server starts: with a SETTINGS frame.
fn http2_listener() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut preface = [0u8; 33];
        s.read_exact(&mut preface).unwrap();
        s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    });
    (port, server)
}

#[test]
fn a_bazel_that_prints_its_rc_options_does_not_leak_the_key() {
    let wd = Workdir::new();
    record(&wd.cache, "builder:1", "sha256:11", &fake_reference());
    let bazel = wd.temp.path().join("bazel");
    std::fs::write(&bazel, ANNOUNCING_BAZEL).unwrap();
    std::fs::set_permissions(&bazel, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (port, server) = http2_listener();
    let out = output(
        compile(&wd, &wd.cache, "builder:1")
            .args(["--remote-executor", &format!("grpc://127.0.0.1:{port}")])
            .arg("--bazel")
            .arg(&bazel)
            .env(KEY_ENV, format!("x-api-key={KEY}")),
    );
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_no_key(&out);
    // The stand-in did print the header, hidden in the error and overwritten in the log.
    assert!(
        text(&out.stderr).contains("--remote_header=x-api-key=<hidden>"),
        "{}",
        describe(&out)
    );
    let log = std::fs::read_to_string(wd.dir.join("logs/compile.log")).unwrap();
    assert!(log.contains("--remote_header=x-api-key=xxxx"), "{log}");
    assert!(files_containing(&[&wd.dir, &wd.cache], KEY).is_empty());
    assert!(!proxy_rpm::bazel::secret::path(&wd.dir).exists());
}
