//! Fixture images for the toolchain self-check: the busybox image with stand-ins for every tool
//! `containers/centos7/toolchain-check.sh` asks about (small sh scripts printing the versions
//! the real CentOS 7 builder has), one whose clang is the wrong version, and the same for the
//! extra tools of the centos7-python3-gn variant (python3, gn). Built with
//! `podman build` FROM the busybox image, once per run (tagged by a hash of what goes in).

use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::{busybox_image, content_tag, output, podman, scratch, text};

/// Where the gcc stand-in says libatomic is (the file exists in the image).
const LIBATOMIC: &str = "/usr/local/lib/stand-in/libatomic.so";

/// Stand-ins answering the check's questions as devtoolset-7, LLVM 9.0.0, EPEL's cmake3 and
/// ninja-build, CentOS 7's python, rh-git218, bazelisk and Go 1.14.15 would.
fn stand_ins() -> Vec<(&'static str, String)> {
    let gcc = format!(
        "#!/bin/sh\ncase \"$1\" in\n  -dumpversion) echo 7 ;;\n  \
         -print-file-name=libatomic.so) echo {LIBATOMIC} ;;\n  \
         *) echo \"gcc stand-in: $*\" >&2; exit 2 ;;\nesac\n"
    );
    let mut tools = vec![
        ("gcc", gcc.clone()),
        ("g++", gcc),
        ("clang", clang("9.0.0")),
        ("clang++", clang("9.0.0")),
        ("cmake", says("cmake3 version 3.17.5")),
        ("ninja", says("1.10.2")),
        ("python", "#!/bin/sh\necho 'Python 2.7.5' >&2\n".to_string()),
        (
            "python2",
            "#!/bin/sh\necho 'Python 2.7.5' >&2\n".to_string(),
        ),
        ("git", says("git version 2.18.4")),
        ("go", GO.to_string()),
    ];
    for tool in [
        "make", "autoconf", "automake", "libtool", "m4", "patch", "perl", "unzip", "curl", "which",
        "bazelisk",
    ] {
        tools.push((tool, says(&format!("{tool} stand-in"))));
    }
    tools
}

/// The Go stand-in: `go version` as Go 1.14.15 answers it; `go build -o OUT …` (run in the
/// work dir's `src/istio`) records its environment in `WORKDIR/go-record/env` and writes
/// busybox, a static x86_64 ELF, to OUT.
pub const GO: &str = r#"#!/bin/sh
case "$1" in
  version) echo 'go version go1.14.15 linux/amd64' ;;
  build)
    out=
    while [ $# -gt 0 ]; do
      if [ "$1" = -o ]; then out=$2; fi
      shift
    done
    mkdir -p ../../go-record
    env > ../../go-record/env
    cat /bin/busybox > "$out"
    chmod 0755 "$out"
    ;;
  *) echo "go stand-in: $*" >&2; exit 2 ;;
esac
"#;

/// A clang (or clang++) stand-in of this version; preprocessing `_GLIBCXX_RELEASE` gives 7,
/// as with devtoolset-7's libstdc++.
fn clang(version: &str) -> String {
    format!(
        "#!/bin/sh\ncase \"$*\" in\n  *-E*) cat >/dev/null; echo 7 ;;\n  \
         *) echo 'clang version {version} (stand-in)' ;;\nesac\n"
    )
}

fn says(line: &str) -> String {
    format!("#!/bin/sh\necho '{line}'\n")
}

/// The busybox image with every stand-in: the toolchain check passes in it.
pub fn stand_in_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let base = busybox_image()?;
            let mut files: Vec<(String, String)> = stand_ins()
                .into_iter()
                .map(|(name, script)| (format!("bin/{name}"), script))
                .collect();
            files.push(("lib/libatomic.so".into(), "/* stand-in */\n".into()));
            let dockerfile = format!(
                "FROM {base}\nCOPY bin/ /usr/local/bin/\nCOPY lib/ {}/\n",
                Path::new(LIBATOMIC).parent().unwrap().display()
            );
            build("proxy-rpm-test-toolchain", &dockerfile, &files)
        })
        .clone()
}

/// The stand-in image with a clang 14.0.0: the check fails naming clang and nothing else.
pub fn wrong_clang_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let files = [("clang", clang("14.0.0"))];
            with_tools("proxy-rpm-test-clang14", &stand_in_image()?, &files)
        })
        .clone()
}

/// A python3 stand-in answering `--version` as CentOS 7's python3 (or another version).
fn python3(version: &str) -> String {
    says(&format!("Python {version}"))
}

/// A gn stand-in: `gn --version` as gn built at 5ed3c9cc answers it (the number `git describe
/// --match initial-commit` gives in a clone carrying that tag, then the short commit).
const GN: &str = "#!/bin/sh\necho '1731 (5ed3c9cc)'\n";

/// A gn that cannot start on this glibc: what the dynamic loader says, and its failure.
const GN_NEW_GLIBC: &str = "#!/bin/sh\n\
    echo \"gn: /lib64/libc.so.6: version \\`GLIBC_2.18' not found (required by gn)\" >&2\n\
    exit 1\n";

/// The stand-in image plus python3 and gn stand-ins, as the centos7-python3-gn variant adds
/// them: the toolchain check with `python3 gn` passes in it.
pub fn variant_stand_in_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let files = [("python3", python3("3.6.8")), ("gn", GN.to_string())];
            with_tools("proxy-rpm-test-variant", &stand_in_image()?, &files)
        })
        .clone()
}

/// The variant stand-in with a Python 3.4 and a gn linked against a newer glibc: the check
/// with `python3 gn` names both, and nothing else.
pub fn wrong_variant_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let files = [
                ("python3", python3("3.4.10")),
                ("gn", GN_NEW_GLIBC.to_string()),
            ];
            with_tools(
                "proxy-rpm-test-variant-wrong",
                &variant_stand_in_image()?,
                &files,
            )
        })
        .clone()
}

/// The image `base` with these tool stand-ins (name, script) over its /usr/local/bin.
fn with_tools(name: &str, base: &str, tools: &[(&str, String)]) -> Result<String, String> {
    let files: Vec<(String, String)> = tools
        .iter()
        .map(|(tool, script)| (format!("bin/{tool}"), script.clone()))
        .collect();
    let dockerfile = format!("FROM {base}\nCOPY bin/ /usr/local/bin/\n");
    build(name, &dockerfile, &files)
}

/// `podman build` of `dockerfile` with `files` (all 0755) as its context, unless an image of
/// the same content exists: the tag is `localhost/NAME:<hash of it all>`.
fn build(name: &str, dockerfile: &str, files: &[(String, String)]) -> Result<String, String> {
    let mut h = Sha256::new();
    h.update(dockerfile.as_bytes());
    for (path, content) in files {
        for part in [path.as_bytes(), b"\0", content.as_bytes(), b"\0"] {
            h.update(part);
        }
    }
    let (tag, exists) = content_tag(&format!("localhost/{name}"), h);
    if exists {
        return Ok(tag);
    }
    let dir = tempfile::tempdir_in(scratch()).map_err(|e| e.to_string())?;
    for (path, content) in files {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
        std::fs::write(&p, content).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).map_err(|e| e.to_string())?;
    let out = output(
        podman()
            .args(["build", "--pull=never", "-t", &tag, "-f"])
            .arg(dir.path().join("Dockerfile"))
            .arg(dir.path()),
    );
    if !out.status.success() {
        return Err(format!(
            "podman build of {tag} failed: {}",
            text(&out.stderr)
        ));
    }
    Ok(tag)
}
