//! `proxy-rpm doctor` with the real podman and git. Every host check goes through an HTTP
//! proxy on 127.0.0.1 that a test runs (or a closed port), so nothing leaves this machine.

mod support_container;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use proxy_rpm::container::BUILTIN_DOCKERFILE;
use proxy_rpm::doctor::dockerfile_urls;
use support_container::{
    busybox_image, describe, free_port, output, podman_ready, podman_wrapper, proxy_rpm,
    test_image, text,
};

/// An HTTP proxy on 127.0.0.1 that answers every request with 200 and records request lines.
struct LoopbackProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackProxy {
    fn start() -> LoopbackProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(line);
                let _ = stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            }
        });
        LoopbackProxy {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for LoopbackProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `proxy-rpm doctor --cache-dir CACHE` with every download routed to `proxy` and bazelisk's
/// mirror set.
fn doctor_cmd(proxy: &str, cache: &Path) -> Command {
    let mut cmd = proxy_rpm();
    cmd.args(["doctor", "--timeout-ms", "10000", "--cache-dir"])
        .arg(cache)
        .env("HTTPS_PROXY", proxy)
        .env("HTTP_PROXY", proxy)
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("BAZELISK_BASE_URL", "https://bazel-mirror.invalid/bazel");
    cmd
}

/// `proxy-rpm doctor ARGS` with the test podman and every download routed to `proxy`.
fn doctor(proxy: &str, args: &[&str], cache: &Path) -> Output {
    output(
        doctor_cmd(proxy, cache)
            .args(args)
            .env("PROXY_RPM_ENGINE", podman_wrapper()),
    )
}

fn report_line<'a>(stderr: &'a str, name: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{name}:")))
        })
        .unwrap_or_else(|| panic!("no {name} line in:\n{stderr}"))
}

/// Exit status 1 exactly when a line says FAIL.
fn assert_exit_matches_report(out: &Output) {
    let failed = text(&out.stderr).lines().any(|l| l.starts_with("FAIL"));
    assert_eq!(out.status.success(), !failed, "{}", describe(out));
}

/// The hosts the built-in Dockerfile downloads from, as the report names them.
fn dockerfile_hosts() -> Vec<String> {
    dockerfile_urls(BUILTIN_DOCKERFILE, &[])
        .iter()
        .map(|(_, url)| {
            let rest = url.split_once("://").unwrap().1;
            let host = rest.split('/').next().unwrap();
            let port = if url.starts_with("https") { 443 } else { 80 };
            if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:{port}")
            }
        })
        .collect()
}

#[test]
fn every_host_is_checked_through_the_proxy() {
    require!(podman_ready());
    let proxy = LoopbackProxy::start();
    let cache = tempfile::tempdir().unwrap();
    let out = doctor(
        &proxy.url(),
        &["--git-mirror", "http://git-mirror.invalid:8080/git"],
        cache.path(),
    );
    let err = text(&out.stderr);
    assert_exit_matches_report(&out);

    assert!(
        report_line(&err, "engine").starts_with("ok    engine: podman "),
        "{err}"
    );
    assert!(report_line(&err, "git").starts_with("ok    git: "), "{err}");
    assert!(
        report_line(&err, "image toolchain").contains("not built yet"),
        "{err}"
    );

    // From the options: the git mirror (plain http: a HEAD through the proxy), bazelisk's
    // mirror, Envoy's dependency hosts; from the Dockerfile: every download ARG's host.
    let mut expected = vec![
        "git-mirror.invalid:8080".to_string(),
        "bazel-mirror.invalid:443".to_string(),
        "github.com:443".to_string(),
        "storage.googleapis.com:443".to_string(),
        // The registry of the Dockerfile's base image (Docker Hub's).
        "registry-1.docker.io:443".to_string(),
    ];
    let from_dockerfile = dockerfile_hosts();
    assert!(!from_dockerfile.is_empty());
    expected.extend(from_dockerfile);
    let requests = proxy.requests();
    for host in &expected {
        let line = report_line(&err, &format!("network {host}"));
        assert!(line.starts_with("ok    "), "{line}\n{err}");
        assert!(line.contains(&proxy.url()), "{line}");
        assert!(
            requests
                .iter()
                .any(|r| r.contains(&format!(" {host} ")) || r.contains(&format!("//{host}/"))),
            "the proxy was not asked for {host}: {requests:?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("HEAD http://git-mirror.invalid:8080/")),
        "{requests:?}"
    );
    // Replaced by the options, so not asked.
    assert!(!err.contains("network releases.bazel.build"), "{err}");
}

#[test]
fn an_unreachable_proxy_fails_naming_each_host() {
    require!(podman_ready());
    let port = free_port();
    let cache = tempfile::tempdir().unwrap();
    let out = doctor(&format!("http://127.0.0.1:{port}"), &[], cache.path());
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    let github = report_line(&err, "network github.com:443");
    assert!(github.starts_with("FAIL  "), "{github}");
    assert!(
        github.contains(&format!("127.0.0.1:{port} not reachable")),
        "{github}"
    );
    assert!(github.contains("--istio-repo"), "{github}");
    let error = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(error.contains("network github.com:443"), "{error}");

    // --offline: no host is tried, and nothing else failed here for the network's sake.
    let out = doctor(
        &format!("http://127.0.0.1:{port}"),
        &["--offline"],
        cache.path(),
    );
    let err = text(&out.stderr);
    assert!(!err.contains("network github.com"), "{err}");
    assert!(report_line(&err, "network").contains("--offline"), "{err}");
    assert_exit_matches_report(&out);
}

#[test]
fn free_space_is_what_df_reports_on_a_small_tmpfs() {
    // A private mount namespace (as an unprivileged user namespace) lets us mount a tmpfs.
    let mount = tempfile::tempdir().unwrap();
    let script = "mount -t tmpfs -o size=64m tmpfs \"$1\" || exit 90\n\
                  df -Pk \"$1\" | tail -n 1\n\
                  exec \"$2\" doctor --offline --engine none --cache-dir \"$1/cache\"";
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(mount.path())
        .arg(env!("CARGO_BIN_EXE_proxy-rpm"))
        .output();
    let out = match out {
        Ok(out) if out.status.code() != Some(90) && !text(&out.stdout).is_empty() => out,
        Ok(out) => require!(Err::<Output, _>(format!(
            "cannot mount a tmpfs in a user namespace here: {}",
            text(&out.stderr).trim()
        ))),
        Err(e) => require!(Err::<Output, _>(format!("unshare cannot run: {e}"))),
    };
    let df = text(&out.stdout);
    let available_kib: u64 = df.split_whitespace().nth(3).unwrap().parse().unwrap();
    let err = text(&out.stderr);
    let disk = report_line(&err, "disk");
    let want = format!(
        "{} MiB free in {}/cache",
        available_kib / 1024,
        mount.path().display()
    );
    assert!(disk.starts_with("FAIL  "), "{disk}");
    assert!(disk.contains(&want), "{disk} (df: {df})");
    assert!(disk.contains("needs about 30 GiB"), "{disk}");
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn the_image_toolchain_is_checked_in_the_image_compile_would_use() {
    require!(podman_ready());
    let cache = tempfile::tempdir().unwrap();
    // The stand-in image has every tool toolchain-check.sh asks about.
    let good = require!(test_image());
    let out = doctor(
        "http://127.0.0.1:9",
        &["--offline", "--image", &good],
        cache.path(),
    );
    let err = text(&out.stderr);
    let line = report_line(&err, "image toolchain");
    assert!(line.starts_with("ok    "), "{line}\n{err}");
    assert!(line.contains(&good), "{line}");
    assert_exit_matches_report(&out);

    // Plain busybox lacks them: FAIL naming the tools, exit 1, and the error names the check.
    let bare = require!(busybox_image());
    let out = doctor(
        "http://127.0.0.1:9",
        &["--offline", "--image", &bare],
        cache.path(),
    );
    let err = text(&out.stderr);
    let line = report_line(&err, "image toolchain");
    assert!(line.starts_with("FAIL  "), "{line}\n{err}");
    for tool in ["missing clang", "missing cmake", "missing bazelisk"] {
        assert!(line.contains(tool), "{tool} not named: {line}");
    }
    assert!(!out.status.success(), "{}", describe(&out));
    let error = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(error.contains("image toolchain"), "{error}");
}

#[test]
fn a_release_that_needs_the_gn_variant_has_its_image_checked_for_python3_and_gn() {
    require!(podman_ready());
    let cache = tempfile::tempdir().unwrap();
    // The base stand-in has the base toolchain but not what Istio 1.7's Envoy adds.
    let base = require!(test_image());
    let out = doctor(
        "http://127.0.0.1:9",
        &["--offline", "--release", "1.7.8", "--image", &base],
        cache.path(),
    );
    let err = text(&out.stderr);
    let line = report_line(&err, "image toolchain");
    assert!(line.starts_with("FAIL  "), "{line}\n{err}");
    for tool in ["missing python3", "missing gn"] {
        assert!(line.contains(tool), "{tool} not named: {line}");
    }
    assert!(line.contains("--variant centos7-python3-gn"), "{line}");
    assert!(!out.status.success(), "{}", describe(&out));

    let variant = require!(support_container::toolchain::variant_stand_in_image());
    let out = doctor(
        "http://127.0.0.1:9",
        &["--offline", "--release", "1.7.8", "--image", &variant],
        cache.path(),
    );
    let err = text(&out.stderr);
    let line = report_line(&err, "image toolchain");
    assert!(line.starts_with("ok    "), "{line}\n{err}");
    assert_exit_matches_report(&out);

    // 1.6.14 needs only the base image: the base stand-in passes.
    let out = doctor(
        "http://127.0.0.1:9",
        &["--offline", "--release", "1.6.14", "--image", &base],
        cache.path(),
    );
    let err = text(&out.stderr);
    assert!(
        report_line(&err, "image toolchain").starts_with("ok    "),
        "{err}"
    );
}

/// `doctor --engine none --sidecar` through `proxy`, with these Go settings and no others.
fn doctor_go(proxy: &str, go_env: &[(&str, &str)], extra: &[&str], cache: &Path) -> Output {
    let mut cmd = doctor_cmd(proxy, cache);
    cmd.args(["--engine", "none"]).args(extra);
    for name in [
        "GOPROXY",
        "GOSUMDB",
        "GOFLAGS",
        "GOPRIVATE",
        "GONOPROXY",
        "GONOSUMDB",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(go_env.iter().copied());
    output(&mut cmd)
}

/// `--sidecar` adds Go's hosts as Go 1.14 reads GOPROXY/GOSUMDB/GOFLAGS: by default the module
/// mirror and the checksum database; a given proxy instead; none with GOPROXY=off or vendoring.
#[test]
fn sidecar_adds_the_go_module_hosts_go_would_reach() {
    let proxy = LoopbackProxy::start();
    let cache = tempfile::tempdir().unwrap();

    let out = doctor_go(&proxy.url(), &[], &["--sidecar"], cache.path());
    let err = text(&out.stderr);
    assert_exit_matches_report(&out);
    for host in ["proxy.golang.org:443", "sum.golang.org:443"] {
        let line = report_line(&err, &format!("network {host}"));
        assert!(line.starts_with("ok    "), "{line}\n{err}");
        assert!(line.contains("Go "), "{line}");
        assert!(
            proxy
                .requests()
                .iter()
                .any(|r| r.starts_with(&format!("CONNECT {host} "))),
            "the proxy was not asked for {host}: {:?}",
            proxy.requests()
        );
    }

    // Without --sidecar, Go is not part of the build.
    let out = doctor_go(&proxy.url(), &[], &[], cache.path());
    let err = text(&out.stderr);
    assert!(!err.contains("proxy.golang.org"), "{err}");
    assert!(!err.contains("sum.golang.org"), "{err}");

    // A module proxy of one's own (plain http: a HEAD through the proxy), no checksum database.
    let go_env = [
        ("GOPROXY", "http://goproxy.invalid:8081/mod,direct"),
        ("GOSUMDB", "off"),
    ];
    let out = doctor_go(&proxy.url(), &go_env, &["--sidecar"], cache.path());
    let err = text(&out.stderr);
    let line = report_line(&err, "network goproxy.invalid:8081");
    assert!(
        line.starts_with("ok    ") && line.contains("GOPROXY"),
        "{line}"
    );
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("HEAD http://goproxy.invalid:8081/")),
        "{:?}",
        proxy.requests()
    );
    assert!(
        !err.contains("proxy.golang.org") && !err.contains("sum.golang.org"),
        "{err}"
    );

    // Nothing downloaded: said, not probed.
    for (name, value, why) in [
        ("GOPROXY", "off", "GOPROXY=off"),
        ("GOFLAGS", "-mod=vendor", "GOFLAGS=-mod=vendor"),
    ] {
        let out = doctor_go(&proxy.url(), &[(name, value)], &["--sidecar"], cache.path());
        let err = text(&out.stderr);
        assert!(
            report_line(&err, "go downloads").starts_with(&format!("skip  go downloads: {why}")),
            "{err}"
        );
        assert!(!err.contains("golang.org"), "{err}");
    }
}

/// Unreachable: the module mirror fails the check; the checksum database, which Go reaches
/// through that mirror when it can, only warns.
#[test]
fn an_unreachable_go_module_mirror_fails_and_its_checksum_database_warns() {
    let port = free_port();
    let cache = tempfile::tempdir().unwrap();
    let out = doctor_go(
        &format!("http://127.0.0.1:{port}"),
        &[],
        &["--sidecar"],
        cache.path(),
    );
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    let mirror = report_line(&err, "network proxy.golang.org:443");
    assert!(mirror.starts_with("FAIL  "), "{mirror}");
    let sumdb = report_line(&err, "network sum.golang.org:443");
    assert!(sumdb.starts_with("warn  "), "{sumdb}");
    let error = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(error.contains("network proxy.golang.org:443"), "{error}");
    assert!(!error.contains("sum.golang.org"), "{error}");
}

#[test]
fn a_build_farm_that_does_not_answer_fails_naming_it() {
    let port = free_port();
    let farm = format!("grpc://127.0.0.1:{port}");
    let cache = tempfile::tempdir().unwrap();
    let out = proxy_rpm()
        .args(["doctor", "--offline", "--engine", "none", "--cache-dir"])
        .arg(cache.path())
        .args(["--remote-executor", &farm])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    let line = report_line(&err, "build farm");
    assert!(line.starts_with("FAIL  "), "{line}\n{err}");
    assert!(line.contains(&farm), "{line}");
    assert!(!out.status.success(), "{}", describe(&out));
    let error = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(error.contains("build farm"), "{error}");
}
