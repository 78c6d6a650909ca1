//! `proxy-rpm prepare`: a shallow checkout of exactly the pinned istio/proxy commit, Istio's
//! packaging files at the release tag, our Bazel settings and the manifest, against fixture
//! repositories over file:// and HTTP.

mod support;
mod support_git;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use proxy_rpm::Reporter;
use proxy_rpm::release::{self, ResolveOptions};
use proxy_rpm::source::{self, PrepareOptions, TreeAction};
use sha2::{Digest, Sha256};
use support::names;
use support_git::{
    BAZEL_1_7, Fixture, GitHttp, PIN_1_6_14, bootstrap, closed_port, git, istio_service,
    istio_start, proxy_rpm, sidecar_env,
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

/// Istio `version` resolved offline, its pin overridden by fixture commit `sha`.
fn pinned(version: &str, sha: &str) -> release::Pin {
    let mut resolve = ResolveOptions::new(version.parse().unwrap());
    resolve.proxy_sha = Some(sha.to_string());
    release::resolve(&resolve, &Reporter::silent()).unwrap()
}

fn head(tree: &Path) -> String {
    git(tree, &["rev-parse", "HEAD"])
}

fn manifest(workdir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(workdir.join("prepare.json")).unwrap()).unwrap()
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
    assert_eq!(
        names(&files),
        [
            "envoy_bootstrap_v2.json",
            "istio-start.sh",
            "istio.service",
            "sidecar.env"
        ]
    );
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
    assert_eq!(m["tree"], "src/istio-proxy");
    assert_eq!(m["repositories"]["proxy"], fx.file_url("proxy"));
    assert_eq!(m["repositories"]["istio"], fx.file_url("istio"));
    assert_eq!(
        m["istio_commit"],
        git(&fx.repo("istio"), &["rev-parse", "1.6.14^{commit}"])
    );
    let entries = m["files"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for (entry, content) in entries.iter().zip([
        sidecar_env("1.6.14"),
        bootstrap("1.6.14"),
        istio_start("1.6.14"),
        istio_service("1.6.14"),
    ]) {
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
    let pin = pinned("1.6.14", &fx.proxy_commits[2]);

    let mut opts = PrepareOptions::new(fx.tmp("work"));
    opts.proxy_repo = fx.file_url("proxy");
    opts.istio_repo = fx.file_url("istio");
    let p = source::prepare(&opts, &pin, &r).unwrap();
    let workdir = fx.tmp("work").canonicalize().unwrap();
    assert_eq!(p.workdir, workdir);
    assert_eq!(p.tree, workdir.join("src/istio-proxy"));
    assert_eq!(p.tree_action, Some(TreeAction::Fetched));
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
    assert_eq!(again.tree_action, Some(TreeAction::InPlace));
    assert!(again.files_fetched);
    assert_eq!(
        fs::read_to_string(&p.sidecar_env).unwrap(),
        sidecar_env("1.6.14")
    );
    assert_eq!(again.manifest, p.manifest);

    let third = source::prepare(&opts, &pin, &r).unwrap();
    assert!(!third.files_fetched);
}

/// Without a compile (`build --envoy-binary`) the tree is skipped: istio/proxy is never
/// contacted, only Istio's packaging files are fetched, and the manifest says so.
#[test]
fn without_the_tree_only_the_packaging_files_are_fetched() {
    let fx = Fixture::new();
    let r = Reporter::silent();
    let pin = pinned("1.6.14", &fx.proxy_commits[1]);

    let mut opts = PrepareOptions::new(fx.tmp("work"));
    opts.fetch_tree = false;
    // A repository that cannot be reached: prepare must not try.
    opts.proxy_repo = format!("http://127.0.0.1:{}/istio/proxy", closed_port());
    opts.istio_repo = fx.file_url("istio");
    let p = source::prepare(&opts, &pin, &r).unwrap();
    assert_eq!(p.tree_action, None);
    assert!(!p.tree.exists() && !p.workdir.join("src").exists());
    assert_eq!(
        fs::read_to_string(&p.sidecar_env).unwrap(),
        sidecar_env("1.6.14")
    );
    assert_eq!(p.manifest.tree, None);
    assert_eq!(p.manifest.repositories.proxy, None);
    let m = manifest(&p.workdir);
    assert_eq!(m["tree"], serde_json::Value::Null);
    assert_eq!(m["repositories"]["proxy"], serde_json::Value::Null);
    assert_eq!(m["repositories"]["istio"], fx.file_url("istio"));
}

/// A 1.7 release: its profile's bootstrap template (`envoy_bootstrap.json`, the file 1.7 has
/// instead of `envoy_bootstrap_v2.json`), and the Bazel of the fetched tree in `build`'s plan.
#[test]
fn a_1_7_release_fetches_its_own_bootstrap_and_the_plan_sees_bazel_3_1_0() {
    let fx = Fixture::new();
    let workdir = fx.tmp("work");
    let (proxy, istio) = (fx.file_url("proxy"), fx.file_url("istio"));
    let common = [
        "1.7.8",
        "--workdir",
        workdir.to_str().unwrap(),
        "--proxy-sha",
        &fx.proxy_1_7,
        "--proxy-repo",
        &proxy,
        "--istio-repo",
        &istio,
    ];
    let plan = |label: &str| {
        let mut args = vec!["build"];
        args.extend_from_slice(&common);
        args.extend_from_slice(&["--dry-run", "--engine", "none"]);
        let run = proxy_rpm(&args, &[]);
        assert!(run.ok, "{label}: {}", run.stderr);
        run.stdout
    };

    // Before prepare, the plan knows the line's facts, not yet the tree's Bazel.
    let before = plan("before");
    for expected in [
        "release:   Istio 1.7 line (1.7.0 to 1.7.8): bootstrap envoy_bootstrap.json, Go 1.14 \
         for pilot-agent, builder centos7-python3-gn (centos7 + python3, gn) \
         (profiles/releases.toml)",
        "tools/packaging/common/{sidecar.env,envoy_bootstrap.json,istio-start.sh,istio.service} \
         at tag 1.7.8",
        "     envoy_bootstrap.json     installed as \
         /var/lib/istio/envoy/envoy_bootstrap_tmpl.json (istio-proxy)",
        "   Bazel: what .bazelversion of the --proxy-sha tree names (Istio 1.7.8's pin names \
         3.1.0)",
        "   note: Istio 1.7's Envoy needs python3 and gn on this host (--engine none; see \
         profiles/releases.toml)",
    ] {
        assert!(before.contains(expected), "{expected:?} not in:\n{before}");
    }
    assert!(!workdir.exists(), "--dry-run wrote {}", workdir.display());

    let mut args = vec!["prepare"];
    args.extend_from_slice(&common);
    let run = proxy_rpm(&args, &[]);
    assert!(run.ok, "{}", run.stderr);
    let workdir = workdir.canonicalize().unwrap();
    let files = workdir.join("files");
    assert_eq!(
        names(&files),
        [
            "envoy_bootstrap.json",
            "istio-start.sh",
            "istio.service",
            "sidecar.env"
        ]
    );
    assert_eq!(
        fs::read_to_string(files.join("envoy_bootstrap.json")).unwrap(),
        bootstrap("1.7.8")
    );
    assert_eq!(
        fs::read_to_string(files.join("sidecar.env")).unwrap(),
        sidecar_env("1.7.8")
    );
    let m = manifest(&workdir);
    assert_eq!(m["version"], "1.7.8");
    let sources: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "tools/packaging/common/sidecar.env",
            "tools/packaging/common/envoy_bootstrap.json",
            "tools/packaging/common/istio-start.sh",
            "tools/packaging/common/istio.service"
        ]
    );
    let tree = workdir.join("src/istio-proxy");
    assert_eq!(
        fs::read_to_string(tree.join(".bazelversion")).unwrap(),
        format!("{BAZEL_1_7}\n")
    );

    // Now the plan reads the tree's .bazelversion: Bazel 3.1.0, as the pin names.
    let after = plan("after");
    assert!(
        after.contains("   Bazel 3.1.0 (.bazelversion in the tree, as Istio 1.7.8's pin names)\n"),
        "{after}"
    );
    // A 1.6 tree in a 1.7 work dir would say so.
    fs::write(tree.join(".bazelversion"), "2.2.0\n").unwrap();
    assert!(
        plan("edited").contains(
            "   Bazel 2.2.0 (.bazelversion in the tree; Istio 1.7.8's pin names 3.1.0)\n"
        )
    );

    // The library: the profile's bootstrap name, and a rerun keeps the files.
    let r = Reporter::silent();
    let pin = pinned("1.7.8", &fx.proxy_1_7);
    let mut opts = PrepareOptions::new(&workdir);
    opts.fetch_tree = false;
    opts.istio_repo = istio.clone();
    let p = source::prepare(&opts, &pin, &r).unwrap();
    assert_eq!(p.envoy_bootstrap, files.join("envoy_bootstrap.json"));
    assert!(!p.files_fetched, "the 1.7 files were reused");
}

/// A work dir prepared for 1.6.14 and then for 1.7.8: the 1.7 files are fetched (the manifest
/// of 1.6 does not pass for 1.7), and the bootstrap template is 1.7's.
#[test]
fn a_work_dir_moved_from_1_6_to_1_7_gets_the_1_7_files() {
    let fx = Fixture::new();
    let r = Reporter::silent();
    let mut opts = PrepareOptions::new(fx.tmp("work"));
    opts.fetch_tree = false;
    opts.istio_repo = fx.file_url("istio");
    let p16 = source::prepare(&opts, &pinned("1.6.14", &fx.proxy_commits[1]), &r).unwrap();
    assert!(
        p16.envoy_bootstrap
            .ends_with("files/envoy_bootstrap_v2.json")
    );
    let p17 = source::prepare(&opts, &pinned("1.7.8", &fx.proxy_1_7), &r).unwrap();
    assert!(p17.files_fetched);
    assert!(p17.envoy_bootstrap.ends_with("files/envoy_bootstrap.json"));
    assert_eq!(
        fs::read_to_string(&p17.envoy_bootstrap).unwrap(),
        bootstrap("1.7.8")
    );
    let paths: Vec<&str> = p17.manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "files/sidecar.env",
            "files/envoy_bootstrap.json",
            "files/istio-start.sh",
            "files/istio.service"
        ]
    );
}
