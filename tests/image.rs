//! `proxy-rpm image`: a real `podman build` of a Dockerfile `FROM` the busybox test image, the
//! reuse of an image whose Dockerfile did not change, the hint when the base image's registry
//! is out of reach, a lint of the CentOS 7 Dockerfile and of its centos7-python3-gn variant
//! (neither can be built here: no registry, no CentOS mirror) with the repository of every
//! package they install, the variant built FROM a base image (`image --variant`), and the
//! toolchain self-check, with a variant's extra tools, run in fixture images (`image --image`).

mod support_container;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use support_container::dockerfile::{commands, instructions, repo_ids, yum_install};
use support_container::toolchain::{
    stand_in_image, variant_stand_in_image, wrong_clang_image, wrong_variant_image,
};
use support_container::*;

const DOCKERFILE: &str = include_str!("../containers/centos7/Dockerfile");
const VARIANT: &str = include_str!("../containers/centos7-python3-gn/Dockerfile");

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
    let base = require!(busybox_image());
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

/// A build whose base image cannot be pulled says how to go on: podman gets the built-in
/// Dockerfile FROM a registry on a closed loopback port.
#[test]
fn an_unreachable_base_image_registry_gets_a_hint() {
    require!(podman_ready());
    let temp = tempfile::tempdir().unwrap();
    let log = temp.path().join("image.log");
    let out = output(
        proxy_rpm()
            .args(["image", "--engine", "podman"])
            .args(["--build-arg", "BASE_IMAGE=127.0.0.1:9/centos:7"])
            .args(["--tag", "localhost/proxy-rpm-test-unreachable:1", "--log"])
            .arg(&log),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    // podman's own words (v4.3): it tried the registry and could not reach it.
    assert!(
        err.contains("initializing source docker://127.0.0.1:9/centos:7"),
        "{err}"
    );
    assert!(
        err.contains("pinging container registry 127.0.0.1:9"),
        "{err}"
    );
    let hint = err.lines().last().expect("an error").trim().to_string();
    assert!(
        hint.starts_with("the base image's registry cannot be reached:"),
        "{err}"
    );
    assert!(
        hint.contains("--build-arg BASE_IMAGE=<mirror>/centos:7") && hint.contains("--image"),
        "{hint}"
    );
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

    // The base image: a build argument declared before FROM, fully qualified and pinned.
    let base = lines[index("ARG BASE_IMAGE=")];
    let pinned = base
        .strip_prefix("ARG BASE_IMAGE=docker.io/library/centos:7@sha256:")
        .unwrap_or_else(|| panic!("not docker.io/library/centos:7@sha256:…: {base}"));
    assert!(
        pinned.len() == 64 && pinned.chars().all(|c| c.is_ascii_hexdigit()),
        "{base}"
    );
    assert!(index("ARG BASE_IMAGE=") < index("FROM ${BASE_IMAGE}"));

    // Mirrors: the vault, the EPEL archive, bazelisk's download under a name of its own.
    for arg in [
        "ARG CENTOS_VAULT_URL=https://vault.centos.org",
        "ARG CENTOS_RELEASE=7.9.2009",
        "ARG EPEL_URL=https://dl.fedoraproject.org/pub/archive/epel",
        "ARG BAZELISK_DOWNLOAD_URL=",
        "ARG LLVM_BASE_URL=",
        "ARG GO_BASE_URL=https://dl.google.com/go",
    ] {
        index(arg);
    }
    assert!(DOCKERFILE.contains("baseurl=%s/7/$basearch/"));
    assert!(DOCKERFILE.contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-7"));
    // Base/updates/extras first, SCL and EPEL again after the release packages.
    let base_repos = index("base:os updates:updates extras:extras");
    let releases = index("centos-release-scl epel-release");
    let scl_repos = index("centos-sclo-rh:rh centos-sclo-sclo:sclo");
    assert!(base_repos < releases && releases < scl_repos);
    assert!(DOCKERFILE.contains("rm -f /etc/yum.repos.d/CentOS-*.repo"));
    assert!(
        DOCKERFILE
            .contains("rm -f /etc/yum.repos.d/CentOS-SCLo-*.repo /etc/yum.repos.d/epel*.repo")
    );
    assert!(DOCKERFILE.contains("baseurl=%s/%s/sclo/$basearch/%s/"));
    assert!(!DOCKERFILE.contains("mirrorlist.centos.org"));

    // Every download is checked against a sha256 written here.
    let downloads = DOCKERFILE.matches("curl -fsSL").count();
    assert_eq!(downloads, 3);
    assert_eq!(DOCKERFILE.matches("| sha256sum -c -").count(), downloads);
    for name in ["BAZELISK_SHA256", "LLVM_SHA256", "GO_SHA256"] {
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

    // cmake/ninja links only if absent; devtoolset through the entry point; OCI labels.
    assert!(DOCKERFILE.contains("command -v cmake >/dev/null || ln -s"));
    assert!(DOCKERFILE.contains("command -v ninja >/dev/null || ln -s"));
    assert!(DOCKERFILE.contains("source /opt/rh/devtoolset-7/enable"));
    assert!(DOCKERFILE.contains("source /opt/rh/rh-git218/enable"));
    assert!(DOCKERFILE.contains("ENTRYPOINT [\"/usr/local/bin/proxy-rpm-toolchain\"]"));
    assert!(DOCKERFILE.contains("org.opencontainers.image.version="));
    assert!(DOCKERFILE.contains("org.opencontainers.image.source="));

    // The last RUN is the toolchain check, through the entry point, after PATH is set.
    let steps = instructions(DOCKERFILE);
    let last_run = toolchain_check_run(&steps, "");
    let path = steps
        .iter()
        .position(|i| i.starts_with("ENV PATH="))
        .unwrap();
    assert!(path < last_run && steps[path].contains("/opt/llvm/bin"));

    // Go 1.14.15 for pilot-agent, on PATH (the sum: docker-library/golang@7069e104).
    assert!(DOCKERFILE.contains(
        "ARG GO_SHA256=c64a57b374a81f7cf1408d2c410a28c6f142414f1ffa9d1062de1d653b0ae0d6"
    ));
    assert!(
        steps[path].contains("/usr/local/go/bin") && DOCKERFILE.contains("ARG GO_VERSION=1.14.15")
    );

    // Nothing only docker understands, no terminal, no proxy credentials baked in, nothing
    // the build does not use (a JDK, SCL python27), no BAZELISK_BASE_URL.
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
        "BAZELISK_BASE_URL",
        "openjdk",
        "python27",
    ] {
        assert!(!code.contains(bad), "`{bad}` in the Dockerfile");
    }
}

/// The index of the last RUN of a Dockerfile's `steps`: the toolchain check through the entry
/// point (asked for the `extra` tools too), right after its script is copied in.
fn toolchain_check_run(steps: &[String], extra: &str) -> usize {
    let last_run = steps.iter().rposition(|i| i.starts_with("RUN ")).unwrap();
    let script = "/usr/local/libexec/proxy-rpm/toolchain-check.sh";
    assert_eq!(
        steps[last_run],
        format!("RUN /usr/local/bin/proxy-rpm-toolchain sh {script}{extra}")
    );
    assert_eq!(
        steps[last_run - 1],
        format!("COPY toolchain-check.sh {script}")
    );
    last_run
}

/// Which CentOS 7.9.2009 repository provides each package the Dockerfile installs. Sources:
/// extras carries centos-release-scl and epel-release (the CentOS-announce of 2014-09 cited in
/// ceph/ceph-deploy#242; istio/istio@1.6.14:tools/packaging/rpm/Dockerfile.build installs both
/// from a stock CentOS 7); devtoolset-7 and rh-git218 are Software Collections in
/// centos-sclo-rh (sclorg/centos-release-scl#4, usnistgov/frvt#32); cmake3 and ninja-build are
/// EPEL 7 packages (rstudio/r-system-requirements#124, pytorch/builder#767, FDio/vpp#2975); the
/// rest ship in the CentOS 7 os tree (base; `updates` only carries newer builds of some).
const PROVIDERS: &[(&str, &str)] = &[
    ("centos-release-scl", "extras"),
    ("epel-release", "extras"),
    ("devtoolset-7-gcc", "centos-sclo-rh"),
    ("devtoolset-7-gcc-c++", "centos-sclo-rh"),
    ("devtoolset-7-binutils", "centos-sclo-rh"),
    ("devtoolset-7-libatomic-devel", "centos-sclo-rh"),
    ("rh-git218", "centos-sclo-rh"),
    ("cmake3", "epel"),
    ("ninja-build", "epel"),
    ("make", "base"),
    ("patch", "base"),
    ("perl", "base"),
    ("which", "base"),
    ("unzip", "base"),
    ("curl", "base"),
    ("libtool", "base"),
    ("autoconf", "base"),
    ("automake", "base"),
    ("m4", "base"),
    ("openssl", "base"),
    ("xz", "base"),
    ("tar", "base"),
    ("gzip", "base"),
    // The variant: CentOS 7's python3 (3.6), in the os tree since 7.7 (1908): the release
    // notes quoted in Xpra-org/xpra#2760, sabnzbd/sabnzbd.github.io#81.
    ("python3", "base"),
];

/// The RUN commands of the base Dockerfile, then the variant's: the variant is built FROM the
/// base image, so what the base configured (repositories, yum.conf) is there for it.
fn both_commands() -> Vec<support_container::dockerfile::Command> {
    let mut all = commands(DOCKERFILE);
    let runs = all.iter().map(|c| c.run + 1).max().unwrap_or(0);
    all.extend(commands(VARIANT).into_iter().map(|mut c| {
        c.run += runs;
        c
    }));
    all
}

/// Every package comes from a repository the Dockerfile (or, for the variant, its base) has
/// configured by the time it is installed, and the table above knows every package installed
/// (and nothing more).
#[test]
fn every_package_comes_from_a_repository_the_dockerfile_configures() {
    let mut configured = BTreeSet::new();
    let mut installed = BTreeSet::new();
    for command in both_commands() {
        configured.extend(repo_ids(&command.text));
        let Some(packages) = yum_install(&command.text) else {
            continue;
        };
        assert!(!packages.is_empty(), "{}", command.text);
        for package in packages {
            let repo = PROVIDERS
                .iter()
                .find(|(name, _)| *name == package)
                .unwrap_or_else(|| panic!("{package}: installed, but not in PROVIDERS"))
                .1;
            assert!(
                configured.contains(repo),
                "{package} needs the {repo} repository, not configured before RUN step {} \
                 (configured: {configured:?})",
                command.run + 1
            );
            installed.insert(package);
        }
    }
    for (name, _) in PROVIDERS {
        assert!(
            installed.contains(*name),
            "{name} is in PROVIDERS but not installed"
        );
    }
    for repo in ["base", "updates", "extras", "centos-sclo-rh", "epel"] {
        assert!(configured.contains(repo), "{repo}: {configured:?}");
    }
}

/// yum 3.4.3 installs what it finds and exits 0 if a name is missing, unless
/// skip_missing_names_on_install is off: on every install, and in yum.conf before the first.
#[test]
fn no_yum_install_can_skip_a_missing_name() {
    let strict = |s: &str| {
        ["=0", "=False", "=false", "=no"]
            .iter()
            .any(|v| s.contains(&format!("skip_missing_names_on_install{v}")))
    };
    let mut yum_conf_strict = false;
    let mut installs = 0;
    for command in both_commands() {
        let text = &command.text;
        if text.contains("/etc/yum.conf") && strict(text) && !text.starts_with("grep") {
            yum_conf_strict = true;
        }
        if text.contains("yum") && text.contains(" install") {
            assert!(
                text.starts_with("yum install "),
                "an install the table cannot read: {text}"
            );
            assert!(yum_conf_strict, "yum.conf is not strict before: {text}");
            assert!(
                text.contains("--setopt=skip_missing_names_on_install=0"),
                "can skip a missing name: {text}"
            );
            installs += 1;
        }
    }
    // Two in the base image, python3 in the variant.
    assert_eq!(installs, 3);
    assert_eq!(
        commands(VARIANT)
            .iter()
            .filter_map(|c| yum_install(&c.text))
            .collect::<Vec<_>>(),
        [["python3"]]
    );
}

/// podman parses the Dockerfile and gets as far as its first RUN: build it FROM the busybox
/// image with the mirrors pointed at nothing, and check where it stops.
#[test]
fn centos7_dockerfile_parses_with_podman() {
    let base = require!(busybox_image());
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
    // Every instruction up to the first RUN (yum.conf, the vault rewrite) was accepted; that
    // RUN fails in busybox, and the next one never starts.
    assert!(
        all.contains("RUN sed -i '/^\\[main\\]$/a skip_missing_names_on_install=0'"),
        "{all}"
    );
    assert!(
        !all.contains("RUN rm -f /etc/yum.repos.d/CentOS-SCLo-*.repo"),
        "{all}"
    );
    assert!(!all.to_lowercase().contains("parse"), "{all}");
}

/// The self-check script itself, run through the image's entry point as `image --image` does,
/// asked for the `extra` tools too.
fn run_check(image: &str, extra: &[&str]) -> std::process::Output {
    let check = proxy_rpm::container::TOOLCHAIN_CHECK;
    let args = ["run", "--rm", image, "sh", "-c", check, "toolchain-check"];
    output(podman().args(args).args(extra))
}

#[test]
fn the_toolchain_check_names_each_missing_tool_in_busybox() {
    let image = require!(busybox_image());
    let out = run_check(&image, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report = text(&out.stdout);
    for tool in [
        "gcc", "g++", "clang", "clang++", "cmake", "ninja", "python", "python2", "git", "make",
        "autoconf", "automake", "libtool", "m4", "patch", "perl", "unzip", "curl", "which",
        "bazelisk", "go",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&format!("missing {tool}: expected "))),
            "{tool} not named:\n{report}"
        );
    }
    // The fixture has the Bazel stand-in as `bazel`; busybox applets do not count as tools.
    assert!(!report.contains("missing bazel:"), "{report}");
    assert!(
        report.lines().all(|l| l.starts_with("missing ")),
        "{report}"
    );
}

#[test]
fn the_toolchain_check_passes_with_stand_ins_and_names_a_wrong_clang() {
    let good = require!(stand_in_image());
    let out = run_check(&good, &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "toolchain ok: gcc 7, clang 9.0.0, cmake 3.17.5, python 2.7.5, git 2.18.4, go 1.14.15\n"
    );

    let bad = require!(wrong_clang_image());
    let out = run_check(&bad, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "wrong clang: found 14.0.0, expected 9.0.0 (LLVM 9.0.0 in /opt/llvm/bin)\n"
    );
}

/// `proxy-rpm image --image X` checks X instead of building: one line naming what is missing,
/// or X on stdout.
#[test]
fn image_option_checks_an_existing_image() {
    let busybox = require!(busybox_image());
    let out = output(proxy_rpm().args(["image", "--engine", "podman", "--image", &busybox]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: image {busybox} lacks what the build needs: missing gcc: expected"
        )),
        "{err}"
    );
    assert!(err.contains("; missing bazelisk: expected "), "{err}");
    assert!(
        err.trim_end()
            .ends_with("; rebuild it with `proxy-rpm image` or fix it"),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty());

    let good = require!(stand_in_image());
    let out = output(proxy_rpm().args(["image", "--engine", "podman", "--image", &good]));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout), format!("{good}\n"));
    assert!(
        text(&out.stderr).contains("toolchain ok"),
        "{}",
        describe(&out)
    );

    // Not an image at all: the engine's own error, not a toolchain verdict.
    let out = output(proxy_rpm().args([
        "image",
        "--engine",
        "podman",
        "--image",
        "localhost/proxy-rpm-test-no-such-image:0",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        !text(&out.stderr).contains("lacks what"),
        "{}",
        describe(&out)
    );
}

/// `build --image X` runs the toolchain check as its image stage, before anything compiles,
/// and a resume skips it while X is the same image. (The fixture repositories do not exist:
/// prepare fails next, which is as far as this test needs to go.)
#[test]
fn build_checks_the_given_image_once_before_it_compiles() {
    let good = require!(stand_in_image());
    let busybox = require!(busybox_image());
    let temp = tempfile::tempdir().unwrap();
    let workdir = temp.path().join("work");
    let build = |image: &str| {
        let mut c = proxy_rpm();
        c.args(["build", "1.6.14", "--offline", "--engine", "podman"])
            .args(["--istio-repo", "file:///nonexistent/istio"])
            .args(["--proxy-repo", "file:///nonexistent/proxy"])
            .args(["--image", image, "--workdir"])
            .arg(&workdir);
        output(&mut c)
    };

    let out = build(&good);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("image {good}: toolchain ok")),
        "{err}"
    );
    assert!(err.contains("error: prepare stage failed"), "{err}");
    let state = std::fs::read_to_string(workdir.join("state.json")).unwrap();
    assert!(state.contains("\"toolchain\": \"checked\""), "{state}");

    let out = build(&good);
    let err = text(&out.stderr);
    assert!(err.contains("==> image: done in an earlier run"), "{err}");
    assert!(!err.contains("toolchain ok"), "{err}");

    let out = build(&busybox);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: image stage failed: image {busybox} lacks what the build needs: \
             missing gcc"
        )),
        "{err}"
    );
    assert!(!err.contains("prepare"), "{err}");
}

/// The centos7-python3-gn variant, read as the base Dockerfile is: FROM the base image's tag
/// (a build argument `proxy-rpm image` sets), python3 from yum, gn from source at the pinned
/// commit of a clone URL a mirror can replace, and the toolchain check asking for both.
#[test]
fn variant_dockerfile_lint() {
    let steps = instructions(VARIANT);
    // The base image by tag, and its hash recorded; nothing pulled by a name of its own.
    assert_eq!(steps[0], "ARG BUILDER_IMAGE");
    assert_eq!(steps[1], "FROM ${BUILDER_IMAGE}");
    assert_eq!(steps.iter().filter(|s| s.starts_with("FROM ")).count(), 1);
    assert!(steps.contains(&"ARG BUILDER_IMAGE_SHA256=".to_string()));
    assert!(VARIANT.contains("io.proxy-rpm.base-dockerfile-sha256=\"${BUILDER_IMAGE_SHA256}\""));

    // gn: the clone URL is an argument; the commit is Istio's
    // (istio/tools@1.7.8:docker/build-tools/Dockerfile.centos), checked after the checkout.
    assert!(steps.contains(&"ARG GN_GIT_URL=https://gn.googlesource.com/gn".to_string()));
    assert!(steps.contains(&"ARG GN_COMMIT=5ed3c9cc67b090d5e311e4bd2aba072173e82db9".to_string()));
    let gn = steps
        .iter()
        .find(|s| s.contains("git clone"))
        .expect("gn is built from source");
    assert!(
        gn.starts_with("RUN /usr/local/bin/proxy-rpm-toolchain sh -ec '"),
        "through the entry point: {gn}"
    );
    for part in [
        "git clone --quiet \"$GN_GIT_URL\" /tmp/gn;",
        "git checkout --quiet \"$GN_COMMIT\";",
        "head=$(git rev-parse HEAD);",
        "if [ \"$head\" != \"$GN_COMMIT\" ]; then",
        "python build/gen.py;",
        "ninja -C out gn;",
        "install -m 0755 out/gn /usr/local/bin/gn'",
        "&& rm -rf /tmp/gn",
    ] {
        assert!(gn.contains(part), "{part:?} not in {gn}");
    }
    let at = |needle: &str| gn.find(needle).unwrap();
    assert!(at("git checkout") < at("git rev-parse") && at("git rev-parse") < at("gen.py"));

    // The last RUN is the toolchain check with the variant's extra names, its script copied in.
    assert_eq!(toolchain_check_run(&steps, " python3 gn"), steps.len() - 1);
    // The entry point, PATH and compilers are the base image's: not redefined.
    for kept in ["ENTRYPOINT", "CMD", "ENV ", "USER ", "WORKDIR "] {
        assert!(
            !steps.iter().any(|s| s.starts_with(kept)),
            "{kept} redefined"
        );
    }
    let code: Vec<&str> = VARIANT
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let code = code.join("\n");
    for bad in [
        " -it ",
        "<<",
        "RUN --mount",
        "SHELL [",
        "ARG HTTP_PROXY",
        "ARG http_proxy",
        "curl ",
        "buildtools/linux64/gn",
    ] {
        assert!(!code.contains(bad), "`{bad}` in the variant Dockerfile");
    }
}

/// podman parses the variant and gets as far as its first RUN, FROM the busybox image given as
/// the base image's tag.
#[test]
fn variant_dockerfile_parses_with_podman() {
    let base = require!(busybox_image());
    let temp = tempfile::tempdir().unwrap();
    let out = output(
        podman()
            .args(["build", "--layers=false", "--force-rm", "--pull=never"])
            .args(["--build-arg", &format!("BUILDER_IMAGE={base}")])
            .args(["--build-arg", "GN_GIT_URL=http://127.0.0.1:9/gn"])
            .args([
                "-f",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/containers/centos7-python3-gn/Dockerfile"
                ),
            ])
            .arg(temp.path()),
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "busybox has no yum: {all}");
    assert!(all.contains(&format!("FROM {base}")), "{all}");
    assert!(
        all.contains("RUN yum install -y --setopt=skip_missing_names_on_install=0"),
        "{all}"
    );
    assert!(!all.contains("git clone"), "{all}");
    assert!(!all.to_lowercase().contains("parse"), "{all}");
}

/// The check with extra names: the base stand-in lacks both and says so, naming nothing
/// else; the variant stand-in passes, reporting them; a Python 3.4 and a gn that cannot start
/// on this glibc are each named.
#[test]
fn the_toolchain_check_asks_for_the_variants_extra_tools() {
    let run = |image: &str| run_check(image, &["python3", "gn"]);
    let base = require!(stand_in_image());
    let out = run(&base);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "missing python3: expected Python 3.6 or later (CentOS 7's python3)\n\
         missing gn: expected gn built for glibc 2.17 on PATH (the centos7-python3-gn image \
         has it)\n"
    );

    let variant = require!(variant_stand_in_image());
    let out = run(&variant);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "toolchain ok: gcc 7, clang 9.0.0, cmake 3.17.5, python 2.7.5, git 2.18.4, go 1.14.15, \
         python3 3.6.8, gn 1731 (5ed3c9cc)\n"
    );

    let wrong = require!(wrong_variant_image());
    let out = run(&wrong);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "wrong python3: found 3.4.10, expected 3.6 or later (CentOS 7's python3)\n\
         wrong gn: found `gn --version` failing (gn: /lib64/libc.so.6: version `GLIBC_2.18' \
         not found (required by gn)), expected a gn that runs on glibc 2.17 (built from source \
         in the image)\n"
    );
}

/// `proxy-rpm image --variant NAME --image X` checks X for the variant's tools too, and says
/// which image to build when X lacks them.
#[test]
fn image_option_with_a_variant_checks_its_extra_tools() {
    let base = require!(stand_in_image());
    let check = |image: &str| {
        output(proxy_rpm().args([
            "image",
            "--engine",
            "podman",
            "--variant",
            "centos7-python3-gn",
            "--image",
            image,
        ]))
    };
    let out = check(&base);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: image {base} lacks what the build needs: missing python3: expected Python \
             3.6 or later (CentOS 7's python3); missing gn: expected gn built for glibc 2.17 on \
             PATH (the centos7-python3-gn image has it); rebuild it with `proxy-rpm image \
             --variant centos7-python3-gn` or fix it\n"
        )
    );

    let variant = require!(variant_stand_in_image());
    let out = check(&variant);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout), format!("{variant}\n"));
    assert!(
        text(&out.stderr).contains(", python3 3.6.8, gn 1731 (5ed3c9cc)"),
        "{}",
        describe(&out)
    );

    // Only the names the profiles use.
    let out = output(proxy_rpm().args(["image", "--engine", "podman", "--variant", "centos8"]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("[possible values: centos7, centos7-python3-gn]"),
        "{}",
        describe(&out)
    );
}

/// `image --variant` builds the base image, then the variant FROM its tag: here the base is a
/// busybox Dockerfile of the test's own, so the variant's build stops at its yum step. A rerun
/// reuses the base image and tries the variant again; the variant's build got the base's tag
/// and hash, and the gn mirror given on the command line.
#[test]
fn variant_is_built_from_the_base_image_it_built_first() {
    let busybox = require!(busybox_image());
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("variant-base");
    std::fs::create_dir_all(&dir).unwrap();
    let dockerfile = dir.join("Dockerfile");
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let text1 = format!("# variant base {nonce}\nFROM {busybox}\nRUN touch /base-built\n");
    std::fs::write(&dockerfile, &text1).unwrap();
    let log = temp.path().join("image.log");
    let mut images = Images(Vec::new());
    let build = || {
        let mut c = image_cmd(&dockerfile, &log);
        c.args(["--variant", "centos7-python3-gn"])
            .args(["--build-arg", "GN_GIT_URL=http://127.0.0.1:9/gn"]);
        output(&mut c)
    };

    let out = build();
    let base_hash = proxy_rpm::container::dockerfile_hash(&text1, &[]);
    let base_tag = format!("proxy-rpm-builder:variant-base-{}", &base_hash[..12]);
    images.0.push(base_tag.clone());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("-t proxy-rpm-builder:centos7-python3-gn-"),
        "the variant's build failed: {err}"
    );
    assert!(
        err.contains(&format!("--build-arg 'BUILDER_IMAGE={base_tag}'"))
            && err.contains(&format!("--build-arg 'BUILDER_IMAGE_SHA256={base_hash}'"))
            && err.contains("--build-arg 'GN_GIT_URL=http://127.0.0.1:9/gn'"),
        "{err}"
    );
    let exists = output(podman().args(["image", "exists", &base_tag]));
    assert!(exists.status.success(), "the base image was built: {err}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&format!("FROM {base_tag}")), "{logged}");
    assert!(logged.contains("yum"), "{logged}");

    let out = build();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("reusing image {base_tag}")),
        "{}",
        describe(&out)
    );
    assert!(
        err.contains("-t proxy-rpm-builder:centos7-python3-gn-"),
        "{err}"
    );
}
