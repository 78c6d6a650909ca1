//! Fixtures for the resolve and prepare tests: an "istio" and a "proxy" repository written by
//! the tests, a tiny HTTP server in front of `git http-backend`, and a runner for the binary.
#![allow(dead_code, unused_imports)]

pub mod http;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use http::GitHttp;

/// The real pin of Istio 1.6.14 (a fact); the fixture's tag 1.6.14 agrees with it.
pub const PIN_1_6_14: &str = "1ef6cb53abbb057185f4bcb60e28cf92c3a174ad";
/// The real pin of Istio 1.6.13; the fixture's tag 1.6.13 names a fixture commit instead.
pub const PIN_1_6_13: &str = "ef96e9c2f0b0d2a31e3a9426c4b339db0b33885f";
/// The real pin of Istio 1.7.8 (`git show 1.7.8:istio.deps`); the fixture's tag 1.7.8 agrees.
pub const PIN_1_7_8: &str = "d68172a37cb87c52d683a906bd2fba90060f8d82";
/// The Bazel of the 1.7 pins (istio/proxy@d68172a3:.bazelversion), in the fixture's 1.7 commit.
pub const BAZEL_1_7: &str = "3.1.0";

/// Run git in `dir` with a fixed identity, ignoring the user's and the system's config.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Fixture",
            "-c",
            "user.email=fixture@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2020-12-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-12-01T00:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn commit(repo: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, text) in files {
        write(&repo.join(path), text);
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// A fresh repository that serves like GitHub: filters and fetches by commit hash allowed.
fn init(repo: &Path) {
    fs::create_dir_all(repo).unwrap();
    git(repo, &["init", "-q"]);
    git(repo, &["config", "uploadpack.allowFilter", "true"]);
    git(
        repo,
        &["config", "uploadpack.allowReachableSHA1InWant", "true"],
    );
    git(repo, &["config", "http.receivepack", "false"]);
}

pub fn istio_deps(proxy_sha: &str) -> String {
    format!(
        "[\n  {{\"_comment\": \"\", \"name\": \"PROXY_REPO_SHA\", \"repoName\": \"proxy\", \"file\": \"\", \
         \"lastStableSHA\": \"{proxy_sha}\"}},\n  {{\"_comment\": \"\", \"name\": \"CNI_REPO_SHA\", \
         \"repoName\": \"cni\", \"file\": \"\", \"lastStableSHA\": \"{}\"}}\n]\n",
        "0".repeat(40)
    )
}

/// Our stand-ins for Istio's packaging files, different for each tag.
pub fn sidecar_env(tag: &str) -> String {
    format!("# fixture sidecar.env for {tag}\nFIXTURE_RELEASE={tag}\n")
}

pub fn istio_start(tag: &str) -> String {
    format!("#!/bin/bash\n# fixture istio-start.sh for {tag}\nexit 0\n")
}

pub fn istio_service(tag: &str) -> String {
    format!(
        "# fixture istio.service for {tag}\n[Service]\nExecStart=/usr/local/bin/istio-start.sh\n"
    )
}

pub fn bootstrap(tag: &str) -> String {
    format!("{{\n  \"fixture\": \"envoy bootstrap for {tag}\"\n}}\n")
}

/// Repositories laid out as `ROOT/istio/istio` and `ROOT/istio/proxy`, like GitHub's paths, so
/// that `--git-mirror` can point at a server of ROOT.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// Oldest first; the tip is the last.
    pub proxy_commits: Vec<String>,
    /// A commit of branch release-1.7 of the proxy fixture, from `proxy_commits[2]`: the tree
    /// of a 1.7 pin as far as the tool looks, `.bazelversion` naming Bazel 3.1.0.
    pub proxy_1_7: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("proxy-rpm-fixture-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("repos/istio");
        let proxy = root.join("proxy");
        init(&proxy);
        let proxy_commits = vec![
            commit(
                &proxy,
                &[
                    ("README.md", "fixture proxy, first commit\n"),
                    (".gitignore", "/bazel-*\n"),
                    ("WORKSPACE", "workspace(name = \"fixture_proxy\")\n"),
                ],
                "first",
            ),
            commit(
                &proxy,
                &[("src/main.cc", "int main() { return 0; }\n")],
                "second",
            ),
            commit(
                &proxy,
                &[("README.md", "fixture proxy, third commit\n")],
                "third",
            ),
        ];

        git(&proxy, &["checkout", "-q", "-b", "release-1.7"]);
        let proxy_1_7 = commit(
            &proxy,
            &[(".bazelversion", &format!("{BAZEL_1_7}\n"))],
            "1.7: Bazel 3.1.0",
        );
        git(&proxy, &["checkout", "-q", "main"]);

        let istio = root.join("istio");
        init(&istio);
        // The bootstrap template is envoy_bootstrap_v2.json in 1.6 and envoy_bootstrap.json in
        // 1.7 (istio/istio@1.7.8:tools/packaging/common/), the only other file gone.
        let release = |tag: &str, pin: &str, bootstrap_name: &str, gone: &str| {
            let dir = istio.join("tools/packaging/common");
            let _ = fs::remove_file(dir.join(gone));
            commit(
                &istio,
                &[
                    ("istio.deps", &istio_deps(pin)),
                    ("tools/packaging/common/sidecar.env", &sidecar_env(tag)),
                    (
                        &format!("tools/packaging/common/{bootstrap_name}"),
                        &bootstrap(tag),
                    ),
                    ("tools/packaging/common/istio-start.sh", &istio_start(tag)),
                    ("tools/packaging/common/istio.service", &istio_service(tag)),
                    ("tools/packaging/common/README.md", "# not fetched\n"),
                ],
                &format!("release {tag}"),
            );
        };
        let (v2, v3) = ("envoy_bootstrap_v2.json", "envoy_bootstrap.json");
        release("1.6.13", &proxy_commits[1], v2, v3);
        git(&istio, &["tag", "1.6.13"]);
        release("1.6.14", PIN_1_6_14, v2, v3);
        git(&istio, &["tag", "-a", "-m", "Istio 1.6.14", "1.6.14"]);
        release("main", &proxy_commits[2], v2, v3);
        // 1.7.8 on its own branch, as Istio's release-1.7.
        git(&istio, &["checkout", "-q", "-b", "release-1.7", "1.6.14"]);
        release("1.7.8", PIN_1_7_8, v3, v2);
        git(&istio, &["tag", "-a", "-m", "Istio 1.7.8", "1.7.8"]);
        git(&istio, &["checkout", "-q", "main"]);
        Fixture {
            dir,
            proxy_commits,
            proxy_1_7,
        }
    }

    /// The directory a mirror or server serves: holds `istio/istio` and `istio/proxy`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    pub fn repo(&self, name: &str) -> PathBuf {
        self.root().join("istio").join(name)
    }

    pub fn file_url(&self, name: &str) -> String {
        format!("file://{}", self.repo(name).display())
    }

    pub fn tmp(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What a run of the binary printed.
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The `error:` line(s) of stderr.
    pub fn error(&self) -> String {
        let start = self.stderr.find("error:").unwrap_or(0);
        self.stderr[start..].to_string()
    }
}

const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Run `proxy-rpm` with `args`; proxy variables are cleared unless given in `env`, so that the
/// tests' 127.0.0.1 servers are reached directly whatever the test machine's environment.
pub fn proxy_rpm(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
    cmd.args(args);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("proxy-rpm runs"))
}
