//! `proxy-rpm prepare`: a shallow checkout of exactly the pinned istio/proxy commit, Istio's
//! packaging files at the release tag, our Bazel settings and the manifest, against fixture
//! repositories over file:// and HTTP.

mod support_git;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use proxy_rpm::Reporter;
use proxy_rpm::release::{self, ResolveOptions};
use proxy_rpm::source::{self, PrepareOptions, TreeAction};
use sha2::{Digest, Sha256};
use support_git::{
    Fixture, GitHttp, PIN_1_6_14, bootstrap, closed_port, git, proxy_rpm, sidecar_env,
};

const FAST: &str = "--retry-delay-ms=0";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `prepare 1.6.14` of fixture commit `sha` from the fixture's file:// URLs, plus `extra`.
fn prepare(fx: &Fixture, workdir: &Path, sha: &str, extra: &[&str]) -> support_git::Run {
    let (proxy, istio) = (fx.file_url("proxy"), fx.file_url("istio"));
    let mut args = vec![
        "prepare",
        "1.6.14",
        "--workdir",
        workdir.to_str().unwrap(),
        "--proxy-sha",
        sha,
        "--proxy-repo",
        &proxy,
        "--istio-repo",
        &istio,
    ];
    args.extend_from_slice(extra);
    proxy_rpm(&args, &[])
}

fn head(tree: &Path) -> String {
    git(tree, &["rev-parse", "HEAD"])
}

fn manifest(workdir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(workdir.join("prepare.json")).unwrap()).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn prepares_the_pinned_commit_files_and_settings() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let pin = &fx.proxy_commits[1];
    let run = prepare(&fx, &workdir, pin, &[]);
    assert!(run.ok, "{}", run.stderr);
    let workdir = workdir.canonicalize().unwrap();
    assert_eq!(run.stdout, format!("{}\n", workdir.display()));
    assert!(
        run.stderr.contains("warning: building istio/proxy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fetched (one commit, shallow)"),
        "{}",
        run.stderr
    );

    // The pinned commit, not the tip; shallow; clean.
    let tree = workdir.join("src/istio-proxy");
    assert_eq!(&head(&tree), pin);
    assert_ne!(pin, fx.proxy_commits.last().unwrap());
    assert_eq!(git(&tree, &["rev-list", "--count", "HEAD"]), "1");
    assert_eq!(
        git(&tree, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    assert_eq!(git(&tree, &["status", "--porcelain"]), "");
    assert!(tree.join("src/main.cc").exists());

    // Istio's files at the tag (not at 1.6.13, not at the branch tip).
    let files = workdir.join("files");
    assert_eq!(names(&files), ["envoy_bootstrap_v2.json", "sidecar.env"]);
    assert_eq!(
        fs::read_to_string(files.join("sidecar.env")).unwrap(),
        sidecar_env("1.6.14")
    );
    assert_eq!(
        fs::read_to_string(files.join("envoy_bootstrap_v2.json")).unwrap(),
        bootstrap("1.6.14")
    );

    // The manifest.
    let m = manifest(&workdir);
    assert_eq!(m["version"], "1.6.14");
    assert_eq!(m["proxy_sha"], pin.as_str());
    assert_eq!(m["pin_source"], "override");
    assert_eq!(m["repositories"]["proxy"], fx.file_url("proxy"));
    assert_eq!(m["repositories"]["istio"], fx.file_url("istio"));
    assert_eq!(
        m["istio_commit"],
        git(&fx.repo("istio"), &["rev-parse", "1.6.14^{commit}"])
    );
    let entries = m["files"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, content) in entries
        .iter()
        .zip([sidecar_env("1.6.14"), bootstrap("1.6.14")])
    {
        assert_eq!(entry["sha256"], sha256(content.as_bytes()));
        let path = workdir.join(entry["path"].as_str().unwrap());
        assert_eq!(sha256(&fs::read(path).unwrap()), sha256(content.as_bytes()));
    }
    assert_eq!(entries[0]["source"], "tools/packaging/common/sidecar.env");

    // Our Bazel settings, outside the tree.
    let script = workdir.join("bazel/workspace-status.sh");
    let rc = fs::read_to_string(workdir.join("bazel/proxy-rpm.bazelrc")).unwrap();
    assert!(rc.contains(
        "\nbuild --cxxopt -D_GLIBCXX_USE_CXX11_ABI=1 --cxxopt -DENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR=1\n"
    ));
    assert!(rc.contains(&format!(
        "\nbuild --workspace_status_command={}\n",
        script.display()
    )));
    assert_eq!(
        fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let out = Command::new(&script).current_dir(&tree).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("BUILD_SCM_REVISION {pin}\nBUILD_SCM_STATUS Clean\n")
    );

    // Nothing else: no scratch directories left.
    assert_eq!(
        names(&workdir),
        ["bazel", "files", "logs", "prepare.json", "src"]
    );
    assert_eq!(names(&workdir.join("src")), ["istio-proxy"]);
}

#[test]
fn a_second_run_is_a_noop_even_without_the_repositories() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let pin = &fx.proxy_commits[0];
    assert!(prepare(&fx, &workdir, pin, &[]).ok);
    let watched = [
        "prepare.json",
        "files/sidecar.env",
        "bazel/proxy-rpm.bazelrc",
        "src/istio-proxy/.git/index",
    ];
    let before: Vec<_> = watched
        .iter()
        .map(|p| {
            let path = workdir.join(p);
            (
                fs::read(&path).unwrap(),
                fs::metadata(&path).unwrap().modified().unwrap(),
            )
        })
        .collect();
    // Ignored files (Bazel's output symlinks) are not local changes.
    fs::create_dir(workdir.join("src/istio-proxy/bazel-out")).unwrap();

    // Nothing can be fetched now: the run must not need to.
    fs::rename(fx.root(), fx.tmp("moved")).unwrap();
    let run = prepare(&fx, &workdir, pin, &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("already in place, untouched"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(": unchanged"), "{}", run.stderr);
    for (p, (bytes, mtime)) in watched.iter().zip(before) {
        let path = workdir.join(p);
        assert_eq!(fs::read(&path).unwrap(), bytes, "{p}");
        assert_eq!(
            fs::metadata(&path).unwrap().modified().unwrap(),
            mtime,
            "{p}"
        );
    }
}

#[test]
fn local_changes_are_refused_unless_forced() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let pin = &fx.proxy_commits[2];
    assert!(prepare(&fx, &workdir, pin, &[]).ok);
    let tree = workdir.join("src/istio-proxy");
    fs::write(tree.join("README.md"), "edited\n").unwrap();
    fs::write(tree.join("stray.txt"), "new\n").unwrap();

    let run = prepare(&fx, &workdir, pin, &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.error(),
        format!(
            "error: {} has local changes (M README.md, ?? stray.txt); pass --force to discard them\n",
            tree.canonicalize().unwrap().display()
        )
    );
    assert_eq!(
        fs::read_to_string(tree.join("README.md")).unwrap(),
        "edited\n"
    );

    let run = prepare(&fx, &workdir, pin, &["--force"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("local changes discarded"),
        "{}",
        run.stderr
    );
    assert_eq!(git(&tree, &["status", "--porcelain"]), "");
    assert_eq!(
        fs::read_to_string(tree.join("README.md")).unwrap(),
        "fixture proxy, third commit\n"
    );
    assert_eq!(&head(&tree), pin);
}

#[test]
fn a_tree_at_another_commit_is_refused_unless_forced() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let (old, new) = (&fx.proxy_commits[0], &fx.proxy_commits[2]);
    assert!(prepare(&fx, &workdir, old, &[]).ok);
    let tree = workdir.join("src/istio-proxy").canonicalize().unwrap();

    let run = prepare(&fx, &workdir, new, &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.error(),
        format!(
            "error: {} is at {old}, not at the pin {new}; pass --force to replace it\n",
            tree.display()
        )
    );
    assert_eq!(&head(&tree), old);

    let run = prepare(&fx, &workdir, new, &["--force"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(&head(&tree), new);
    assert_eq!(git(&tree, &["rev-list", "--count", "HEAD"]), "1");
    let m = manifest(&workdir);
    assert_eq!(m["proxy_sha"], new.as_str());
    let script = fs::read_to_string(workdir.join("bazel/workspace-status.sh")).unwrap();
    assert!(script.contains(&format!("BUILD_SCM_REVISION {new}")));
}

#[test]
fn something_else_in_the_tree_path_is_refused_unless_forced() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    fs::create_dir_all(workdir.join("src/istio-proxy")).unwrap();
    fs::write(workdir.join("src/istio-proxy/notes.txt"), "mine\n").unwrap();
    let pin = &fx.proxy_commits[1];
    let run = prepare(&fx, &workdir, pin, &[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.error().ends_with(
            "src/istio-proxy exists but is not a git checkout; pass --force to replace it\n"
        ),
        "{}",
        run.stderr
    );
    let run = prepare(&fx, &workdir, pin, &["--force"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(&head(&workdir.join("src/istio-proxy")), pin);
    assert!(!workdir.join("src/istio-proxy/notes.txt").exists());
}

#[test]
fn mirror_prefix_serves_both_repositories_over_http() {
    let fx = Fixture::new();
    let server = GitHttp::start(&fx.root(), 0);
    let workdir = fx.tmp("work");
    let pin = &fx.proxy_commits[1];
    // No repository URLs: GitHub's defaults, rewritten to the mirror.
    let run = proxy_rpm(
        &[
            "prepare",
            "1.6.14",
            "--workdir",
            workdir.to_str().unwrap(),
            "--proxy-sha",
            pin,
            "--git-mirror",
            &server.url(),
        ],
        &[],
    );
    assert!(run.ok, "{}", run.stderr);
    let tree = workdir.join("src/istio-proxy");
    assert_eq!(&head(&tree), pin);
    assert_eq!(git(&tree, &["rev-list", "--count", "HEAD"]), "1");
    let m = manifest(&workdir);
    assert_eq!(
        m["repositories"]["proxy"],
        format!("{}/istio/proxy", server.url())
    );
    assert_eq!(
        m["repositories"]["istio"],
        format!("{}/istio/istio", server.url())
    );
    let asked = server.requests();
    for repo in ["/istio/proxy/", "/istio/istio/"] {
        assert!(
            asked
                .iter()
                .any(|r| r.contains(repo) && r.ends_with(" 200")),
            "{asked:?}"
        );
    }
    assert_eq!(
        fs::read_to_string(workdir.join("files/sidecar.env")).unwrap(),
        sidecar_env("1.6.14")
    );
}

#[test]
fn refused_connection_is_retried_then_explained_and_leaves_nothing() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let url = format!("http://127.0.0.1:{}/istio/proxy", closed_port());
    let pin = &fx.proxy_commits[1];
    let run = proxy_rpm(
        &[
            "prepare",
            "1.6.14",
            "--workdir",
            workdir.to_str().unwrap(),
            "--proxy-sha",
            pin,
            "--proxy-repo",
            &url,
            "--istio-repo",
            &fx.file_url("istio"),
            FAST,
        ],
        &[],
    );
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr.matches("retrying in 0.0s").count(),
        2,
        "{}",
        run.stderr
    );
    let err = run.error();
    assert!(
        err.starts_with(&format!(
            "error: could not fetch istio/proxy commit {pin} from {url} after 3 attempts: fatal: unable to access"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "\n  hint: if this host cannot reach https://github.com/, pass --git-mirror PREFIX"
        ),
        "{err}"
    );
    // No half-made tree, no manifest.
    assert_eq!(names(&workdir.join("src")), Vec::<String>::new());
    assert!(!workdir.join("prepare.json").exists());
}

#[test]
fn a_commit_the_repository_lacks_fails_at_once() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let (proxy, istio) = (fx.file_url("proxy"), fx.file_url("istio"));
    // No override: the fixture's tag agrees with the real pin, which the fixture proxy lacks.
    let run = proxy_rpm(
        &[
            "prepare",
            "1.6.14",
            "--workdir",
            workdir.to_str().unwrap(),
            "--proxy-repo",
            &proxy,
            "--istio-repo",
            &istio,
        ],
        &[],
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.error().starts_with(&format!(
            "error: could not fetch istio/proxy commit {PIN_1_6_14} from {proxy}: fatal: "
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
}

#[test]
fn proxy_variables_reach_git() {
    let fx = Fixture::new();
    let server = GitHttp::start(&fx.root(), 0);
    let proxy_port = closed_port();
    let dead_proxy = format!("http://127.0.0.1:{proxy_port}");
    let args = |workdir: &PathBuf| -> Vec<String> {
        [
            "prepare",
            "1.6.14",
            "--workdir",
            workdir.to_str().unwrap(),
            "--proxy-sha",
            &fx.proxy_commits[1],
            "--istio-repo",
            &fx.file_url("istio"),
            "--proxy-repo",
            &format!("{}/istio/proxy", server.url()),
            "--fetch-attempts=1",
        ]
        .map(String::from)
        .to_vec()
    };
    let w1 = fx.tmp("through-proxy");
    let a1 = args(&w1);
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let run = proxy_rpm(&a1, &[("http_proxy", &dead_proxy)]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.error().contains(&format!("port {proxy_port}")),
        "{}",
        run.stderr
    );
    assert!(server.requests().is_empty());

    let w2 = fx.tmp("no-proxy");
    let a2 = args(&w2);
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    let run = proxy_rpm(
        &a2,
        &[("http_proxy", &dead_proxy), ("no_proxy", "127.0.0.1")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(!server.requests().is_empty());
}

#[test]
fn library_calls_return_typed_paths_and_refresh_damaged_files() {
    let fx = Fixture::new();
    let r = Reporter::silent();
    let mut resolve = ResolveOptions::new("1.6.14".parse().unwrap());
    resolve.proxy_sha = Some(fx.proxy_commits[2].clone());
    let pin = release::resolve(&resolve, &r).unwrap();

    let mut opts = PrepareOptions::new(fx.tmp("work"));
    opts.proxy_repo = fx.file_url("proxy");
    opts.istio_repo = fx.file_url("istio");
    let p = source::prepare(&opts, &pin, &r).unwrap();
    let workdir = fx.tmp("work").canonicalize().unwrap();
    assert_eq!(p.workdir, workdir);
    assert_eq!(p.tree, workdir.join("src/istio-proxy"));
    assert_eq!(p.tree_action, TreeAction::Fetched);
    assert!(p.files_fetched);
    assert_eq!(p.sidecar_env, workdir.join("files/sidecar.env"));
    assert_eq!(
        p.envoy_bootstrap,
        workdir.join("files/envoy_bootstrap_v2.json")
    );
    assert_eq!(p.bazelrc, workdir.join("bazel/proxy-rpm.bazelrc"));
    assert!(!p.bazelrc.starts_with(&p.tree) && !p.workspace_status.starts_with(&p.tree));
    assert_eq!(p.manifest_path, workdir.join("prepare.json"));
    assert_eq!(p.manifest.proxy_sha, fx.proxy_commits[2]);
    assert_eq!(p.manifest.version.to_string(), "1.6.14");

    // A damaged packaging file is fetched again; the tree is left alone.
    fs::write(&p.sidecar_env, "tampered\n").unwrap();
    let again = source::prepare(&opts, &pin, &r).unwrap();
    assert_eq!(again.tree_action, TreeAction::InPlace);
    assert!(again.files_fetched);
    assert_eq!(
        fs::read_to_string(&p.sidecar_env).unwrap(),
        sidecar_env("1.6.14")
    );
    assert_eq!(again.manifest, p.manifest);

    let third = source::prepare(&opts, &pin, &r).unwrap();
    assert!(!third.files_fetched);
}
