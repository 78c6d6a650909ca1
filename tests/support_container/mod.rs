//! Fixtures for the container and Bazel tests: podman's configuration for this machine, a
//! busybox test image with a Bazel stand-in (and one with toolchain stand-ins on top), the
//! proxy-rpm binary, and a build held mid-step without sleeping (`blocking`). Everything here
//! is written by the tests themselves.
#![allow(dead_code)]

pub mod bazel;
pub mod blocking;
pub mod dockerfile;
pub mod nginx;
pub mod toolchain;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A test that cannot run here says why (on stderr, shown by `cargo test`) and returns.
#[macro_export]
macro_rules! require {
    ($check:expr) => {
        match $check {
            Ok(value) => value,
            Err(reason) => {
                eprintln!("SKIPPED: {reason}");
                return;
            }
        }
    };
}

/// How long a child may take before a test gives up on it (a hang is a failure, not a wait).
pub const PATIENCE: Duration = Duration::from_secs(600);

/// The directory cargo gives integration tests for scratch files.
pub fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// podman on this machine works only with runc, cgroupfs and a file event logger.
pub fn containers_conf() -> PathBuf {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| {
        let path = scratch().join("proxy-rpm-test-containers.conf");
        let text = "[containers]\n\
                    default_ulimits = [\"nofile=8000:8000\", \"nproc=8000:8000\"]\n\
                    [engine]\n\
                    runtime = \"runc\"\n\
                    cgroup_manager = \"cgroupfs\"\n\
                    events_logger = \"file\"\n";
        std::fs::create_dir_all(scratch()).unwrap();
        let temp = tempfile::NamedTempFile::new_in(scratch()).unwrap();
        std::fs::write(temp.path(), text).unwrap();
        temp.persist(&path).unwrap();
        path
    })
    .clone()
}

/// A `podman` that uses our containers.conf, for code that runs the engine itself.
pub fn podman_wrapper() -> PathBuf {
    static WRAPPER: OnceLock<PathBuf> = OnceLock::new();
    WRAPPER
        .get_or_init(|| {
            use std::os::unix::fs::PermissionsExt;
            let path = scratch().join("proxy-rpm-test-podman");
            let script = format!(
                "#!/bin/sh\nCONTAINERS_CONF='{}' exec podman \"$@\"\n",
                containers_conf().display()
            );
            let temp = tempfile::NamedTempFile::new_in(scratch()).unwrap();
            std::fs::write(temp.path(), script).unwrap();
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            temp.persist(&path).unwrap();
            path
        })
        .clone()
}

/// `podman …` with our containers.conf.
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", containers_conf());
    c
}

/// The proxy-rpm binary with our containers.conf and no engine preference from outside.
pub fn proxy_rpm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proxy-rpm"));
    c.env("CONTAINERS_CONF", containers_conf())
        .env_remove("PROXY_RPM_ENGINE")
        .stdin(Stdio::null());
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ] {
        c.env_remove(name);
    }
    c
}

/// Run to completion, output captured.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Is `program` runnable (`program --version` or similar succeeds)?
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// podman and runc installed and able to run a container here.
pub fn podman_ready() -> Result<(), String> {
    if !runs("podman", &["--version"]) {
        return Err("podman is not installed (apt-get install podman)".into());
    }
    if !runs("runc", &["--version"]) {
        return Err("runc is not installed (apt-get install runc)".into());
    }
    let info = output(podman().args(["info", "--format", "{{.Host.OCIRuntime.Name}}"]));
    if !info.status.success() {
        return Err(format!(
            "podman cannot run here: {}",
            text(&info.stderr).trim()
        ));
    }
    Ok(())
}

/// The Bazel stand-in inside the test image: it records what it was given, then behaves like
/// Bazel as far as proxy-rpm can tell (progress lines, `bazel-bin` symlink into the output
/// base, a read-only output). A fifo `block` in the tree makes it wait; a file `FAIL` makes it
/// fail with status 3.
pub const FAKE_BAZEL: &str = r#"#!/bin/sh
set -e
record="$PWD/../../record"
mkdir -p "$record"
{
  echo "uid=$(id -u)"
  echo "gid=$(id -g)"
  echo "pwd=$PWD"
  if [ -t 0 ]; then echo "tty0=yes"; else echo "tty0=no"; fi
  if [ -t 1 ]; then echo "tty1=yes"; else echo "tty1=no"; fi
  if [ -t 2 ]; then echo "tty2=yes"; else echo "tty2=no"; fi
} > "$record/facts"
: > "$record/args"
for a in "$@"; do printf '%s\n' "$a" >> "$record/args"; done
env > "$record/env"
output_base=
for a in "$@"; do
  case "$a" in --output_base=*) output_base="${a#--output_base=}" ;; esac
done
if [ -z "$output_base" ]; then echo "fake bazel: no --output_base" >&2; exit 2; fi
if [ -e "$output_base/fake-bazel-ran" ]; then
  echo "INFO: fake bazel: reusing the output base of an earlier run"
fi
mkdir -p "$output_base"
: > "$output_base/fake-bazel-ran"
if [ -p block ]; then read -r _ < block || true; fi
if [ -p ../../block ]; then read -r _ < ../../block || true; fi
if [ -e FAIL ]; then
  echo "ERROR: fake compile failure one"
  echo "ERROR: fake compile failure two" >&2
  exit 3
fi
bin="$output_base/execroot/fake/bazel-out/k8-opt/bin"
mkdir -p "$bin/src/envoy"
echo "[1 / 3] Compiling src/envoy/main.cc"
rm -f "$bin/src/envoy/envoy"
if [ -f fixture-envoy ]; then
  cat fixture-envoy > "$bin/src/envoy/envoy"
else
  printf '#!/bin/sh\necho fake envoy\n' > "$bin/src/envoy/envoy"
fi
chmod 0555 "$bin/src/envoy/envoy"
echo "[3 / 3] Linking src/envoy/envoy"
rm -f bazel-bin
ln -s "$bin" bazel-bin
echo "INFO: 3 processes: 1 internal, 2 linux-sandbox."
"#;

/// The builder image's toolchain entry point, as a stand-in that marks the environment.
pub const FAKE_TOOLCHAIN: &str = r#"#!/bin/sh
export PROXY_RPM_TEST_TOOLCHAIN=enabled
exec "$@"
"#;

const APPLETS: &[&str] = &[
    "sh", "id", "mkdir", "env", "cat", "chmod", "ln", "rm", "ls", "touch", "echo", "printf",
];

/// The image builds and compiles run in: the busybox image with stand-ins for the toolchain,
/// so that the toolchain check a `build --image` runs first passes.
pub fn test_image() -> Result<String, String> {
    toolchain::stand_in_image()
}

/// `REPO:` and the first 12 hex digits of `hash` (of all that goes into a test image), and
/// whether podman has that image already: each test image is made once per content.
pub fn content_tag(repo: &str, hash: Sha256) -> (String, bool) {
    let tag = format!("{repo}:{}", &hex::encode(hash.finalize())[..12]);
    let exists = output(podman().args(["image", "exists", &tag]))
        .status
        .success();
    (tag, exists)
}

/// A busybox image with the Bazel stand-in and nothing else of a toolchain, made with
/// `podman import` from Debian's busybox-static (no registry can be reached). Its tag is a
/// hash of what goes in.
pub fn busybox_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE.get_or_init(make_busybox_image).clone()
}

fn make_busybox_image() -> Result<String, String> {
    podman_ready()?;
    let busybox = Path::new("/bin/busybox");
    let binary = std::fs::read(busybox).map_err(|e| {
        format!(
            "{}: {e} (apt-get install busybox-static)",
            busybox.display()
        )
    })?;
    let entrypoint = "ENTRYPOINT [\"/usr/local/bin/toolchain-env\"]";
    let path_env = "ENV PATH=/usr/local/bin:/bin";
    let mut h = Sha256::new();
    for part in [
        &binary[..],
        FAKE_BAZEL.as_bytes(),
        FAKE_TOOLCHAIN.as_bytes(),
        APPLETS.join(",").as_bytes(),
        entrypoint.as_bytes(),
        path_env.as_bytes(),
    ] {
        h.update(part);
        h.update(b"\0");
    }
    let (tag, exists) = content_tag("localhost/proxy-rpm-test-busybox", h);
    if exists {
        return Ok(tag);
    }
    let dir = tempfile::tempdir_in(scratch()).map_err(|e| e.to_string())?;
    let root = dir.path().join("root");
    let write = |rel: &str, data: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("bin/busybox", &binary, 0o755);
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    write("usr/local/bin/bazel", FAKE_BAZEL.as_bytes(), 0o755);
    write(
        "usr/local/bin/toolchain-env",
        FAKE_TOOLCHAIN.as_bytes(),
        0o755,
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
    }
    let tar = dir.path().join("rootfs.tar");
    let out = output(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["--owner=0", "--group=0", "-cf"])
            .arg(&tar)
            .arg("."),
    );
    if !out.status.success() {
        return Err(format!("tar failed: {}", text(&out.stderr)));
    }
    let out = output(
        podman()
            .args(["import", "--change", entrypoint, "--change", path_env])
            .arg(&tar)
            .arg(&tag),
    );
    if !out.status.success() {
        return Err(format!("podman import failed: {}", text(&out.stderr)));
    }
    Ok(tag)
}

/// A work dir with an (empty) source tree where `prepare` would have put it.
pub struct Workdir {
    pub temp: tempfile::TempDir,
    pub dir: PathBuf,
    pub tree: PathBuf,
    pub cache: PathBuf,
}

impl Workdir {
    pub fn new() -> Workdir {
        let temp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(temp.path()).unwrap().join("work");
        let tree = dir.join("src").join("istio-proxy");
        std::fs::create_dir_all(&tree).unwrap();
        let cache = std::fs::canonicalize(temp.path()).unwrap().join("cache");
        Workdir {
            temp,
            dir,
            tree,
            cache,
        }
    }

    /// What the fake Bazel recorded: `facts` (key=value), `args` (one per line) or `env`.
    pub fn record(&self, name: &str) -> String {
        let p = self.dir.join("record").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn fact(&self, key: &str) -> String {
        self.record("facts")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {key} in facts"))
    }
}

/// `podman ps -a` names of containers carrying this label value.
pub fn containers_labelled(label: &str) -> Vec<String> {
    let out = output(podman().args([
        "ps",
        "-a",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Names}}",
    ]));
    assert!(out.status.success(), "podman ps: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The exit status and the lines of stderr, for assertions with context.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

pub fn success(status: ExitStatus) -> bool {
    status.success()
}

/// Send a signal by name (`TERM`, `INT`) to a process.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The variables a command line passes by name only (`-e NAME`, the value taken from the
/// caller's environment, never written on the command line).
pub fn passed_by_name(words: &[String]) -> Vec<&str> {
    words
        .windows(2)
        .filter(|w| w[0] == "-e" && !w[1].contains('='))
        .map(|w| w[1].as_str())
        .collect()
}

/// A port on 127.0.0.1 that nothing listens on (bound a moment ago, then released): free for
/// a server to take, or closed for a client to be refused.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Every argument of `args` as a string, for assertions.
pub fn strings<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Vec<String> {
    args.into_iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}
