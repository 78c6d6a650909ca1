//! What the build downloads, host by host: the builder Dockerfile's own download `ARG`s and
//! base images (read from the file, so the list cannot drift from it), bazelisk's Bazel
//! download, Envoy's dependency hosts and, with `--sidecar`, Go's module proxy and checksum
//! database.

use super::network::{Target, target};

/// Where bazelisk v1.10.1 downloads release Bazel binaries from unless `BAZELISK_BASE_URL`
/// says otherwise (bazelbuild/bazelisk@v1.10.1:repositories/gcs.go `candidateBaseURL`).
pub const BAZEL_RELEASES: &str = "https://releases.bazel.build";

/// The hosts Bazel downloads Envoy's dependencies from: the `urls` of
/// istio/envoy@c4e61373:bazel/repository_locations.bzl (54 on github.com, then
/// storage.googleapis.com, files.pythonhosted.org, commondatastorage.googleapis.com) and the
/// Go SDK rules_go fetches.
pub const BAZEL_DEPENDENCY_HOSTS: &[&str] = &[
    "https://github.com/",
    "https://storage.googleapis.com/",
    "https://files.pythonhosted.org/",
    "https://commondatastorage.googleapis.com/",
    "https://dl.google.com/",
];

/// Go's defaults when `GOPROXY`/`GOSUMDB` are unset or empty, since Go 1.13 and so in the Go 1.14
/// of the builder image (golang/go@go1.14:src/cmd/go/testdata/script/mod_sumdb_golang.txt
/// checks `go env` prints exactly these).
pub const GOPROXY_DEFAULT: &str = "https://proxy.golang.org,direct";
pub const GOSUMDB_DEFAULT: &str = "sum.golang.org";

/// What the checksum database is for when a proxy comes first in `GOPROXY`: Go asks that proxy
/// for `/sumdb/NAME/supported` and, on a 200, reaches the database only through it
/// (golang/go@go1.14:src/cmd/go/internal/modfetch/sumdb.go, `initBase`). So the database's
/// own host may well be unreachable: a warning, not a failure.
pub const GO_SUMDB_FALLBACK: &str =
    "Go checksum database (GOSUMDB; only if GOPROXY's proxy does not serve it)";

/// What pilot-agent's `go build` may download from, per Go's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoDownloads {
    /// `(url, what for)`, as for [`endpoints`].
    pub urls: Vec<(String, String)>,
    /// What is downloaded without being probed, or why nothing is.
    pub note: Option<String>,
}

impl GoDownloads {
    fn nothing(why: &str) -> GoDownloads {
        GoDownloads {
            urls: Vec::new(),
            note: Some(why.to_string()),
        }
    }
}

/// Go's download hosts from `GOFLAGS`, `GOPROXY` and `GOSUMDB` (read through `env`), as Go 1.14
/// reads them: `-mod=vendor` downloads nothing; `GOPROXY` is a comma list (Go 1.15 also
/// takes `|`) walked in order up to `off` (nothing more) or `direct` (each module's own
/// repository host, which only the module list knows), a schemeless entry meaning `https://`
/// (golang/go@go1.14:src/cmd/go/internal/modfetch/proxy.go, `proxyURLs`); `GOSUMDB` is `off`,
/// `NAME[+KEY]` (at `https://NAME`) or `NAME[+KEY] URL`, `sum.golang.google.cn` standing for
/// sum.golang.org at that host (modfetch/sumdb.go, `dbDial`).
pub fn go_downloads(env: &dyn Fn(&str) -> Option<String>) -> GoDownloads {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let flags = set("GOFLAGS").unwrap_or_default();
    if flags
        .split_whitespace()
        .any(|f| matches!(f, "-mod=vendor" | "--mod=vendor"))
    {
        return GoDownloads::nothing(
            "GOFLAGS=-mod=vendor: modules come from the tree's vendor directory; nothing is \
             downloaded",
        );
    }
    let goproxy = set("GOPROXY").unwrap_or_else(|| GOPROXY_DEFAULT.to_string());
    let mut urls = Vec::new();
    let mut end = None;
    for entry in goproxy.split([',', '|']).map(str::trim) {
        match entry {
            "" => continue,
            "off" | "direct" => {
                end = Some(entry);
                break;
            }
            _ => {}
        }
        let url = if entry.contains(['.', ':', '/'])
            && !entry.contains(":/")
            && !entry.starts_with('/')
        {
            format!("https://{entry}")
        } else {
            entry.to_string()
        };
        urls.push((url, "Go modules (GOPROXY)".to_string()));
    }
    let proxied = !urls.is_empty();
    let note = match (end, proxied) {
        (Some("off"), false) => {
            return GoDownloads::nothing(
                "GOPROXY=off: Go downloads nothing (every module must be in the cache dir \
                 already)",
            );
        }
        (Some("direct"), false) => Some(
            "GOPROXY=direct: each module comes from its own repository host, which only the \
             module list names: not checked"
                .to_string(),
        ),
        _ => None,
    };
    let gosumdb = set("GOSUMDB").unwrap_or_else(|| GOSUMDB_DEFAULT.to_string());
    let gosumdb = match gosumdb.trim() {
        "sum.golang.google.cn" => "sum.golang.org https://sum.golang.google.cn".to_string(),
        other => other.to_string(),
    };
    if gosumdb != "off" {
        let mut fields = gosumdb.split_whitespace();
        let name = fields.next().unwrap_or_default();
        let name = name.split('+').next().unwrap_or(name);
        let url = fields
            .next()
            .map_or_else(|| format!("https://{name}"), str::to_string);
        let what = match proxied {
            true => GO_SUMDB_FALLBACK,
            false => "Go checksum database (GOSUMDB)",
        };
        urls.push((url, what.to_string()));
    }
    GoDownloads { urls, note }
}

/// A target and what the build uses it for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub target: Target,
    pub uses: Vec<String>,
}

/// Every `ARG NAME=URL` of a Dockerfile whose value is an http(s) URL, with `overrides`
/// (`--build-arg`) applied: the image's download hosts, read from the file so they cannot drift.
pub fn dockerfile_urls(dockerfile: &str, overrides: &[(String, String)]) -> Vec<(String, String)> {
    dockerfile_args(dockerfile, overrides)
        .into_iter()
        .filter(|(_, v)| v.starts_with("http://") || v.starts_with("https://"))
        .collect()
}

/// The images the Dockerfile starts `FROM`, with `${ARG}` references resolved.
pub fn dockerfile_bases(dockerfile: &str, overrides: &[(String, String)]) -> Vec<String> {
    let args = dockerfile_args(dockerfile, overrides);
    instructions(dockerfile, "FROM")
        .filter_map(|rest| rest.split_whitespace().find(|w| !w.starts_with("--")))
        .map(|image| {
            let mut image = image.to_string();
            for (name, value) in &args {
                image = image
                    .replace(&format!("${{{name}}}"), value)
                    .replace(&format!("${name}"), value);
            }
            image
        })
        .filter(|image| !image.contains('$') && image != "scratch")
        .collect()
}

/// The registry an image reference is pulled from (short names: Docker Hub).
pub fn registry(image: &str) -> Option<String> {
    let first = image.split('/').next().unwrap_or(image);
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, first) {
        (true, "localhost") => None,
        (true, "docker.io" | "index.docker.io") | (false, _) => {
            Some("https://registry-1.docker.io/".to_string())
        }
        (true, host) => Some(format!("https://{host}/")),
    }
}

fn instructions<'a>(dockerfile: &'a str, keyword: &'a str) -> impl Iterator<Item = &'a str> {
    dockerfile.lines().filter_map(move |line| {
        let line = line.trim();
        let (word, rest) = line.split_once(char::is_whitespace)?;
        word.eq_ignore_ascii_case(keyword).then_some(rest.trim())
    })
}

/// `ARG NAME=VALUE` defaults (one or more per line), the last `--build-arg` winning.
fn dockerfile_args(dockerfile: &str, overrides: &[(String, String)]) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = Vec::new();
    for rest in instructions(dockerfile, "ARG") {
        for word in rest.split_whitespace() {
            if let Some((name, value)) = word.split_once('=') {
                let value = value.trim_matches('"').trim_matches('\'').to_string();
                args.retain(|(n, _)| n != name);
                args.push((name.to_string(), value));
            }
        }
    }
    for (name, value) in overrides {
        if let Some(arg) = args.iter_mut().find(|(n, _)| n == name) {
            arg.1 = value.clone();
        }
    }
    args
}

/// Collect `(url, use)` pairs into one endpoint per host and port, in first-seen order.
pub fn endpoints(urls: &[(String, String)]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for (url, use_) in urls {
        let Some(target) = target(url) else { continue };
        match out.iter_mut().find(|e| e.target == target) {
            Some(e) if !e.uses.contains(use_) => e.uses.push(use_.clone()),
            Some(_) => {}
            None => out.push(Endpoint {
                target,
                uses: vec![use_.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_download_hosts_and_bases_are_read_from_the_file() {
        let text = "ARG BASE_IMAGE=centos:7\nFROM ${BASE_IMAGE}\nARG BASE_IMAGE\n\
                    ARG CENTOS_VAULT_URL=https://vault.centos.org\nARG LLVM_VERSION=9.0.0\n\
                    arg EPEL_URL=\"https://dl.fedoraproject.org/pub/archive/epel\"\n";
        let urls = dockerfile_urls(text, &[]);
        assert_eq!(
            urls,
            [
                (
                    "CENTOS_VAULT_URL".to_string(),
                    "https://vault.centos.org".to_string()
                ),
                (
                    "EPEL_URL".to_string(),
                    "https://dl.fedoraproject.org/pub/archive/epel".to_string()
                ),
            ]
        );
        let mirror = [(
            "CENTOS_VAULT_URL".to_string(),
            "http://10.0.0.1/vault".to_string(),
        )];
        assert_eq!(dockerfile_urls(text, &mirror)[0].1, "http://10.0.0.1/vault");
        assert_eq!(dockerfile_bases(text, &[]), ["centos:7"]);
        assert_eq!(
            registry("centos:7").unwrap(),
            "https://registry-1.docker.io/"
        );
        assert_eq!(
            registry("docker.io/library/centos:7@sha256:be65").unwrap(),
            "https://registry-1.docker.io/"
        );
        assert_eq!(
            registry("quay.io/centos/centos:7").unwrap(),
            "https://quay.io/"
        );
        assert_eq!(registry("localhost/x:1"), None);
    }

    fn go(vars: &[(&str, &str)]) -> GoDownloads {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        go_downloads(&|name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn urls(go: &GoDownloads) -> Vec<&str> {
        go.urls.iter().map(|(u, _)| u.as_str()).collect()
    }

    #[test]
    fn go_downloads_follow_go_1_14_settings() {
        // Unset (or empty): the module mirror, then the checksum database behind it.
        let default = go(&[("GOPROXY", "")]);
        assert_eq!(
            urls(&default),
            ["https://proxy.golang.org", "https://sum.golang.org"]
        );
        assert_eq!(default.urls[1].1, GO_SUMDB_FALLBACK);
        assert_eq!(default.note, None);
        // A schemeless proxy is https; nothing after `direct` counts; a sumdb with its URL.
        let corp = go(&[
            (
                "GOPROXY",
                "goproxy.corp:8443/go,direct,https://never.example",
            ),
            ("GOSUMDB", "sum.corp+abcdef https://sumdb.corp:9443/"),
        ]);
        assert_eq!(
            urls(&corp),
            ["https://goproxy.corp:8443/go", "https://sumdb.corp:9443/"]
        );
        // Off, vendored: nothing, and says why.
        for vars in [
            &[("GOPROXY", "off")][..],
            &[("GOFLAGS", "-modcacherw -mod=vendor")][..],
        ] {
            let none = go(vars);
            assert!(none.urls.is_empty(), "{vars:?}: {none:?}");
            assert!(none.note.is_some(), "{vars:?}");
        }
        // Direct only: the database is reached directly (a failure counts), modules are not
        // probed; GOSUMDB=off drops the database; the China alias has its own host.
        let direct = go(&[("GOPROXY", "direct")]);
        assert_eq!(
            direct.urls,
            [(
                "https://sum.golang.org".to_string(),
                "Go checksum database (GOSUMDB)".to_string()
            )]
        );
        assert!(direct.note.unwrap().contains("GOPROXY=direct"));
        assert_eq!(
            urls(&go(&[
                ("GOPROXY", "http://127.0.0.1:3000"),
                ("GOSUMDB", "off")
            ])),
            ["http://127.0.0.1:3000"]
        );
        assert_eq!(
            urls(&go(&[("GOSUMDB", "sum.golang.google.cn")]))[1],
            "https://sum.golang.google.cn"
        );
    }

    #[test]
    fn endpoints_merge_uses_per_host() {
        let urls = [
            (
                "https://github.com/istio/istio".to_string(),
                "--istio-repo".to_string(),
            ),
            (
                "https://github.com/istio/proxy".to_string(),
                "--proxy-repo".to_string(),
            ),
            ("file:///x".to_string(), "local".to_string()),
        ];
        let e = endpoints(&urls);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].uses, ["--istio-repo", "--proxy-repo"]);
    }
}
