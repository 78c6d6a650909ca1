//! `proxy-rpm image`: a real `podman build` of a Dockerfile `FROM` the busybox test image, the
//! reuse of an image whose Dockerfile did not change, and a lint of the CentOS 7 Dockerfile
//! (which cannot be built here: no registry, no CentOS mirror).

mod support_container;

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use support_container::*;

const DOCKERFILE: &str = include_str!("../containers/centos7/Dockerfile");

/// Removes the images a test built.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = podman().args(["rmi", "-f", tag]).output();
        }
    }
}

fn image_cmd(dockerfile: &Path, log: &Path) -> Command {
    let mut c = proxy_rpm();
    c.args(["image", "--engine", "podman", "--dockerfile"])
        .arg(dockerfile)
        .arg("--log")
        .arg(log);
    c
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn image_is_built_once_per_dockerfile_and_reused_while_unchanged() {
    let base = require!(test_image());
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("busybox-builder");
    std::fs::create_dir_all(&dir).unwrap();
    let dockerfile = dir.join("Dockerfile");
    let log = temp.path().join("image.log");
    // A nonce keeps an image left by an earlier run from being "reused" here.
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let text1 = format!(
        "# test image {nonce}\nFROM {base}\nRUN echo \"proxy=$HTTP_PROXY\" > /built-with\n"
    );
    std::fs::write(&dockerfile, &text1).unwrap();
    let mut images = Images(Vec::new());

    // First run builds, with the proxy passed by name into the build.
    let out = output(image_cmd(&dockerfile, &log).env("HTTP_PROXY", "http://proxy.test:3128"));
    assert!(out.status.success(), "{}", describe(&out));
    let tag = text(&out.stdout).trim().to_string();
    images.0.push(tag.clone());
    let hash = proxy_rpm::container::dockerfile_hash(&text1, &[]);
    assert_eq!(
        tag,
        format!("proxy-rpm-builder:busybox-builder-{}", &hash[..12])
    );
    let built = output(podman().args(["run", "--rm", "--entrypoint", "cat", &tag, "/built-with"]));
    assert_eq!(
        text(&built.stdout),
        "proxy=http://proxy.test:3128\n",
        "{}",
        describe(&built)
    );
    let label = output(podman().args([
        "image",
        "inspect",
        "--format",
        "{{ index .Config.Labels \"io.proxy-rpm.dockerfile-sha256\" }}",
        &tag,
    ]));
    assert_eq!(text(&label.stdout).trim(), hash);
    let after_first = log_len(&log);
    assert!(after_first > 0, "the build wrote its log");

    // Second run, same Dockerfile (and no proxy: proxies do not change the tag): reused.
    let out = output(&mut image_cmd(&dockerfile, &log));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout).trim(), tag);
    assert!(
        text(&out.stderr).contains("reusing image"),
        "{}",
        describe(&out)
    );
    assert_eq!(log_len(&log), after_first, "no build ran");

    // An edited Dockerfile gets a new tag and a build.
    std::fs::write(&dockerfile, format!("{text1}RUN touch /edited\n")).unwrap();
    let out = output(&mut image_cmd(&dockerfile, &log));
    assert!(out.status.success(), "{}", describe(&out));
    let edited = text(&out.stdout).trim().to_string();
    images.0.push(edited.clone());
    assert_ne!(edited, tag);
    assert!(log_len(&log) > after_first, "a build ran");
    assert!(!text(&out.stderr).contains("reusing image"));
}

#[test]
fn no_engine_on_path_is_a_one_line_error_saying_how_to_install_one() {
    let empty = tempfile::tempdir().unwrap();
    let out = output(proxy_rpm().arg("image").env("PATH", empty.path()));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no container engine found"), "{err}");
    assert!(err.contains("install"), "{err}");

    let out = output(proxy_rpm().args(["image", "--engine", "none"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("needs docker or podman"));
}

/// hadolint when Debian has it; otherwise the rules it would not know about anyway.
#[test]
fn centos7_dockerfile_lint() {
    if runs("hadolint", &["--version"]) {
        let out = output(
            Command::new("hadolint")
                .args(["--failure-threshold", "error"])
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/containers/centos7/Dockerfile"
                )),
        );
        assert!(out.status.success(), "{}", describe(&out));
    } else {
        eprintln!("hadolint is not installed (not packaged for Debian 12): structural checks only");
    }
    let lines: Vec<&str> = DOCKERFILE.lines().collect();
    let index = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}`"))
    };

    // The base image is a build argument, declared before FROM.
    assert!(index("ARG BASE_IMAGE=centos:7") < index("FROM ${BASE_IMAGE}"));

    // Mirrors and the vault: base/updates/extras first, SCL again after centos-release-scl.
    for arg in [
        "ARG CENTOS_VAULT_URL=https://vault.centos.org",
        "ARG CENTOS_RELEASE=7.9.2009",
        "ARG GO_BASE_URL=",
        "ARG BAZELISK_BASE_URL=",
        "ARG LLVM_BASE_URL=",
    ] {
        index(arg);
    }
    let base_repos = index("base:os updates:updates extras:extras");
    let scl_release = index("yum install -y --setopt=tsflags=nodocs centos-release-scl");
    let scl_repos = index("centos-sclo-rh:rh centos-sclo-sclo:sclo");
    assert!(base_repos < scl_release && scl_release < scl_repos);
    assert!(DOCKERFILE.contains("rm -f /etc/yum.repos.d/CentOS-*.repo"));
    assert!(DOCKERFILE.contains("rm -f /etc/yum.repos.d/CentOS-SCLo-*.repo"));
    assert!(DOCKERFILE.contains("baseurl=%s/%s/sclo/$basearch/%s/"));
    assert!(!DOCKERFILE.contains("mirrorlist.centos.org"));

    // Every download is checked against a sha256 written here.
    let downloads = DOCKERFILE.matches("curl -fsSL").count();
    assert_eq!(downloads, 3);
    assert_eq!(DOCKERFILE.matches("| sha256sum -c -").count(), downloads);
    for name in ["GO_SHA256", "BAZELISK_SHA256", "LLVM_SHA256"] {
        let line = lines[index(&format!("ARG {name}="))];
        let sum = line.split_once('=').unwrap().1;
        assert!(
            sum.len() == 64 && sum.chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
        assert!(
            DOCKERFILE.contains(&format!("echo \"${{{name}}}  /tmp/")),
            "{name} is checked"
        );
    }

    // The packages of the issue, installed from the vault.
    for package in [
        "devtoolset-7-gcc",
        "devtoolset-7-gcc-c++",
        "devtoolset-7-binutils",
        "devtoolset-7-libatomic-devel",
        "java-1.8.0-openjdk-headless",
        "rh-git218",
        "cmake3",
        "ninja-build",
        " make ",
        " patch ",
        " which ",
        " unzip",
        "python27",
        "libtool",
        "autoconf",
        "openssl",
    ] {
        assert!(DOCKERFILE.contains(package), "{package}");
    }
    // cmake/ninja links only if absent; devtoolset through the entry point; OCI labels.
    assert!(DOCKERFILE.contains("command -v cmake >/dev/null || ln -s"));
    assert!(DOCKERFILE.contains("command -v ninja >/dev/null || ln -s"));
    assert!(DOCKERFILE.contains("source /opt/rh/devtoolset-7/enable"));
    assert!(DOCKERFILE.contains("ENTRYPOINT [\"/usr/local/bin/proxy-rpm-toolchain\"]"));
    assert!(DOCKERFILE.contains("org.opencontainers.image.version="));
    assert!(DOCKERFILE.contains("org.opencontainers.image.source="));

    // Nothing only docker understands, no terminal, no proxy credentials baked in.
    let code: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let code = code.join("\n");
    for bad in [
        " -it ",
        " -ti ",
        "<<",
        "RUN --mount",
        "SHELL [",
        "ARG HTTP_PROXY",
        "ARG http_proxy",
    ] {
        assert!(!code.contains(bad), "`{bad}` in the Dockerfile");
    }
}

/// podman parses the Dockerfile and gets as far as its first RUN: build it FROM the busybox
/// test image with the mirrors pointed at nothing, and check where it stops.
#[test]
fn centos7_dockerfile_parses_with_podman() {
    let base = require!(test_image());
    let temp = tempfile::tempdir().unwrap();
    let out = output(
        podman()
            .args(["build", "--layers=false", "--force-rm"])
            .args(["--build-arg", &format!("BASE_IMAGE={base}")])
            .args([
                "-f",
                concat!(env!("CARGO_MANIFEST_DIR"), "/containers/centos7/Dockerfile"),
            ])
            .arg(temp.path()),
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "busybox has no yum: {all}");
    assert!(all.contains(&format!("FROM {base}")), "{all}");
    // Every instruction up to the first RUN (the vault rewrite) was accepted; that RUN fails
    // in busybox, and the next one never starts.
    assert!(
        all.contains("RUN rm -f /etc/yum.repos.d/CentOS-*.repo"),
        "{all}"
    );
    assert!(
        !all.contains("RUN rm -f /etc/yum.repos.d/CentOS-SCLo-*.repo"),
        "{all}"
    );
    assert!(!all.to_lowercase().contains("parse"), "{all}");
}
