//! `proxy-rpm resolve`: the built-in table, its cross-check against istio.deps at the tag of a
//! fixture Istio repository (over file:// and HTTP), overrides, retries and every refusal.

mod support_git;

use proxy_rpm::Reporter;
use proxy_rpm::release::{self, IstioVersion, PinSource, ResolveOptions};
use proxy_rpm::source::Network;
use support_git::{Fixture, GitHttp, PIN_1_6_13, PIN_1_6_14, PIN_1_7_8, closed_port, proxy_rpm};

/// What every refusal of a release ends with.
const SUPPORTED: &str = "supported releases: Istio 1.6.0 to 1.6.14, 1.7.0 to 1.7.8";

/// No waiting between tries in tests.
const FAST: &str = "--retry-delay-ms=0";

#[test]
fn offline_prints_the_builtin_pin_of_1_6_14() {
    let run = proxy_rpm(&["resolve", "--offline", "1.6.14"], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PIN_1_6_14}\n"));
    assert!(run.stderr.contains("built-in table"), "{}", run.stderr);
}

#[test]
fn every_builtin_release_resolves_offline() {
    let pins = release::pins();
    // Every release of both lines: 1.6.0 to 1.6.14 and 1.7.0 to 1.7.8.
    let versions: Vec<String> = pins.iter().map(|(v, _)| v.to_string()).collect();
    let expected: Vec<String> = (0..=14)
        .map(|p| format!("1.6.{p}"))
        .chain((0..=8).map(|p| format!("1.7.{p}")))
        .collect();
    assert_eq!(versions, expected);
    for (version, sha) in &pins {
        let run = proxy_rpm(&["-q", "resolve", "--offline", &version.to_string()], &[]);
        assert!(run.ok, "{version}: {}", run.stderr);
        assert_eq!(run.stdout.trim(), *sha);
        assert_eq!(run.stderr, "", "-q prints nothing on success");
    }
    // Two facts from `git show TAG:istio.deps` at the tags, as the table must have them.
    let pin_of = |v: &str| pins.iter().find(|(p, _)| p.to_string() == v).unwrap().1;
    assert_eq!(pin_of("1.7.8"), PIN_1_7_8);
    assert_eq!(pin_of("1.7.0"), "f642a7fd07d0a99944a6e3529566e7985829839c");
}

#[test]
fn malformed_versions_get_one_line_naming_the_supported_releases() {
    for bad in [
        "1.6",
        "v1.6.14x",
        "latest",
        "v1.6.14",
        "1.6.14.0",
        "1.6.14-rc.0",
        "1.6.x",
        "",
    ] {
        let run = proxy_rpm(&["resolve", "--offline", bad], &[]);
        assert_eq!(run.code, Some(1), "{bad:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!(
                "error: invalid Istio version {bad:?}: expected an exact release such as 1.7.8; \
                 {SUPPORTED}\n"
            )
        );
        // The library refuses the same text the same way.
        assert!(bad.parse::<IstioVersion>().is_err());
    }
}

#[test]
fn unknown_and_unsupported_releases_are_refused() {
    for (version, why) in [
        ("1.6.15", "is not a release this tool knows"),
        ("1.7.9", "is not a release this tool knows"),
        ("1.8.0", "is outside the release lines this tool builds"),
        ("1.5.10", "is outside the release lines this tool builds"),
    ] {
        // Refused before any network access: the repository URL leads nowhere.
        let run = proxy_rpm(
            &["resolve", version, "--istio-repo", "file:///nonexistent"],
            &[],
        );
        assert_eq!(run.code, Some(1));
        assert_eq!(
            run.stderr,
            format!("error: Istio {version} {why}; {SUPPORTED}\n")
        );
    }
    // `build` and `prepare` refuse the same way, before anything else.
    for sub in ["build", "prepare"] {
        let run = proxy_rpm(&[sub, "1.8.0", "--workdir", "/nonexistent/w"], &[]);
        assert_eq!(run.code, Some(1), "{sub}: {}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: Istio 1.8.0 is outside the release lines this tool builds; {SUPPORTED}\n"
            )
        );
    }
}

#[test]
fn a_1_7_release_is_confirmed_by_its_tag() {
    let fx = Fixture::new();
    let url = fx.file_url("istio");
    let run = proxy_rpm(&["resolve", "1.7.8", "--istio-repo", &url], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PIN_1_7_8}\n"));
    assert!(run.stderr.contains("agree"), "{}", run.stderr);
    // A tag the fixture lacks: the table knows 1.7.7, the repository does not.
    let run = proxy_rpm(&["resolve", "1.7.7", "--istio-repo", &url], &[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.error()
            .starts_with(&format!("error: could not fetch tag 1.7.7 from {url}")),
        "{}",
        run.stderr
    );
}

#[test]
fn repository_confirms_the_table_over_file_url() {
    let fx = Fixture::new();
    let run = proxy_rpm(
        &["resolve", "1.6.14", "--istio-repo", &fx.file_url("istio")],
        &[],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PIN_1_6_14}\n"));
    assert!(run.stderr.contains("agree"), "{}", run.stderr);

    // The same through the library, as the pipeline calls it.
    let mut opts = ResolveOptions::new("1.6.14".parse().unwrap());
    opts.istio_repo = fx.file_url("istio");
    let pin = release::resolve(&opts, &Reporter::silent()).unwrap();
    assert_eq!(pin.proxy_sha, PIN_1_6_14);
    assert_eq!(pin.version, IstioVersion::new(1, 6, 14));
    assert_eq!(
        pin.source,
        PinSource::Verified {
            istio_repo: fx.file_url("istio")
        }
    );
}

#[test]
fn disagreement_between_table_and_repository_names_both() {
    let fx = Fixture::new();
    let url = fx.file_url("istio");
    let run = proxy_rpm(&["resolve", "1.6.13", "--istio-repo", &url], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    let fixture_pin = &fx.proxy_commits[1];
    assert_eq!(
        run.error(),
        format!(
            "error: Istio 1.6.13: the built-in table pins istio/proxy {PIN_1_6_13}, but \
             istio.deps at tag 1.6.13 of {url} pins {fixture_pin}; check --istio-repo and \
             --git-mirror, or choose one with --proxy-sha\n"
        )
    );
}

#[test]
fn a_missing_tag_fails_at_once_naming_tag_and_url() {
    let fx = Fixture::new();
    let url = fx.file_url("istio");
    let run = proxy_rpm(&["resolve", "1.6.12", "--istio-repo", &url], &[]);
    assert_eq!(run.code, Some(1));
    let err = run.error();
    assert!(
        err.starts_with(&format!(
            "error: could not fetch tag 1.6.12 from {url}: fatal: "
        )),
        "{err}"
    );
    assert!(err.contains("refs/tags/1.6.12"), "{err}");
    assert!(
        !run.stderr.contains("retrying"),
        "not retried: {}",
        run.stderr
    );
}

#[test]
fn mirror_prefix_serves_github_urls_over_http() {
    let fx = Fixture::new();
    let server = GitHttp::start(&fx.root(), 0);
    let mirror = format!("{}/", server.url());
    // No --istio-repo: the default GitHub URL is rewritten to the mirror.
    let run = proxy_rpm(&["resolve", "1.6.14", "--git-mirror", &mirror], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PIN_1_6_14}\n"));
    let asked = server.requests();
    assert!(
        asked
            .iter()
            .any(|r| r.starts_with("GET /istio/istio/info/refs 200")),
        "{asked:?}"
    );
    assert!(asked.iter().all(|r| r.ends_with(" 200")), "{asked:?}");
    assert!(
        run.stderr
            .contains(&format!("{}/istio/istio", server.url())),
        "{}",
        run.stderr
    );
}

#[test]
fn transient_http_failures_are_retried() {
    let fx = Fixture::new();
    let server = GitHttp::start(&fx.root(), 2);
    let url = format!("{}/istio/istio", server.url());
    let run = proxy_rpm(&["resolve", "1.6.14", "--istio-repo", &url, FAST], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PIN_1_6_14}\n"));
    assert_eq!(run.stderr.matches("retrying").count(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("attempt 3 of 3"), "{}", run.stderr);
    let failed = server
        .requests()
        .iter()
        .filter(|r| r.ends_with(" 503"))
        .count();
    assert_eq!(failed, 2);
}

#[test]
fn refused_connection_is_retried_then_explained() {
    let url = format!("http://127.0.0.1:{}/istio/istio", closed_port());
    let run = proxy_rpm(&["resolve", "1.6.14", "--istio-repo", &url, FAST], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.matches("retrying").count(), 2, "{}", run.stderr);
    let err = run.error();
    assert!(
        err.starts_with(&format!(
            "error: could not fetch tag 1.6.14 from {url} after 3 attempts: fatal: unable to access"
        )),
        "{err}"
    );
    assert!(
        err.contains("Could not connect") || err.contains("Couldn't connect"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: if this host cannot reach https://github.com/, pass --git-mirror PREFIX"
        ),
        "{err}"
    );

    // The library honours the number of attempts.
    let mut opts = ResolveOptions::new("1.6.14".parse().unwrap());
    opts.istio_repo = url.clone();
    opts.net = Network {
        attempts: 1,
        backoff: std::time::Duration::ZERO,
        ..Network::default()
    };
    let err = release::resolve(&opts, &Reporter::silent())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{url} after 1 attempt:")), "{err}");
}

#[test]
fn proxy_sha_overrides_with_a_warning() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let run = proxy_rpm(
        &["resolve", "1.6.14", "--proxy-sha", &sha.to_uppercase()],
        &[],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{sha}\n"));
    assert!(
        run.stderr.contains(&format!(
            "warning: building istio/proxy {sha} (--proxy-sha) instead of Istio 1.6.14's pin {PIN_1_6_14}"
        )),
        "{}",
        run.stderr
    );

    let run = proxy_rpm(&["resolve", "1.6.14", "--proxy-sha", "1ef6cb5"], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "error: --proxy-sha \"1ef6cb5\" is not a full 40-digit commit hash\n"
    );
}
