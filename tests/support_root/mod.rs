//! A real system root to install packages into with `rpm --root`, so that scriptlets run the
//! way they would on a machine: a Debian minbase root (sh, getent, groupadd/useradd, su,
//! coreutils) made by debootstrap once per target directory and shared by every test under a
//! lock; each test gets its own copy.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::on_path;

/// Where the shared root is kept: beside the test binaries, so `cargo clean` removes it.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("debootstrap-minbase")
}

/// Why a root cannot be made here, if it cannot: debootstrap and chroot need root and the
/// tools scripts/test.sh installs.
pub fn unavailable() -> Option<String> {
    let uid = std::os::unix::fs::MetadataExt::uid(&fs::metadata("/proc/self").unwrap());
    if uid != 0 {
        return Some("installing into a root with scriptlets needs root (chroot, chown)".into());
    }
    for tool in ["debootstrap", "rpm", "rpmbuild", "chroot"] {
        if !on_path(tool) {
            return Some(format!(
                "`{tool}` is not installed (scripts/test.sh installs it)"
            ));
        }
    }
    None
}

/// The suite of this machine (bookworm on Debian 12) and the mirror apt uses, so debootstrap
/// fetches from where this machine's packages come from. `PROXY_RPM_TEST_DEBIAN_MIRROR`
/// overrides the mirror.
fn suite_and_mirror() -> (String, String) {
    let os = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let suite = os
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bookworm".to_string());
    if let Ok(mirror) = std::env::var("PROXY_RPM_TEST_DEBIAN_MIRROR") {
        return (suite, mirror);
    }
    let sources = fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("URIs:"))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string());
    let list = fs::read_to_string("/etc/apt/sources.list")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("deb")).then(|| {
                words
                    .find(|w| !w.starts_with('['))
                    .unwrap_or("")
                    .to_string()
            })
        });
    let mirror = sources
        .or(list)
        .filter(|m| m.starts_with("http") || m.starts_with("file:"))
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_string());
    (suite, mirror)
}

/// The shared root, made on first use. Parallel tests wait on the lock for the one that
/// makes it; a half-made root (an interrupted run) is made again.
pub fn shared_root() -> PathBuf {
    let dir = cache_dir();
    fs::create_dir_all(&dir).unwrap();
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let root = dir.join("root");
    if !root.join("usr/sbin/useradd").exists() {
        let partial = dir.join("root.partial");
        if partial.exists() {
            fs::remove_dir_all(&partial).unwrap();
        }
        if root.exists() {
            fs::remove_dir_all(&root).unwrap();
        }
        let (suite, mirror) = suite_and_mirror();
        let log = dir.join("debootstrap.log");
        let out = Command::new("debootstrap")
            .args(["--variant=minbase", &suite])
            .arg(&partial)
            .arg(&mirror)
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(dir.join("debootstrap.err")).unwrap())
            .status()
            .expect("run debootstrap");
        assert!(
            out.success(),
            "debootstrap --variant=minbase {suite} from {mirror} failed: see {} and {}",
            log.display(),
            dir.join("debootstrap.err").display()
        );
        fs::rename(&partial, &root).unwrap();
    }
    drop(lock);
    root
}

/// systemctl in the root: records each call in /var/tmp/systemctl.log; start and restart
/// leave the unit active, or failed when /var/tmp/start-fails exists; is-active answers from
/// that.
const SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> /var/tmp/systemctl.log
case "$1" in
start | restart)
    if [ -e /var/tmp/start-fails ]; then echo failed; else echo active; fi > /var/tmp/unit-state ;;
is-active)
    state=$(cat /var/tmp/unit-state 2>/dev/null || echo inactive)
    echo "$state"
    [ "$state" = active ]
    exit ;;
esac
exit 0
"#;

/// Owner, group and mode of `path` (a link's own).
pub fn owner_mode(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid(), m.mode())
}

/// One test's copy of the shared root.
pub struct Root {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Root {
    /// A fresh copy, or `None` (after saying why) where a root cannot be made.
    pub fn new() -> Option<Root> {
        if let Some(why) = unavailable() {
            eprintln!("SKIP: {why}");
            return None;
        }
        let shared = shared_root();
        let dir = tempfile::Builder::new()
            .prefix("proxy-rpm-root-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("root");
        let out = Command::new("cp")
            .arg("-a")
            .arg(&shared)
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "cp -a: {out:?}");
        Some(Root { _dir: dir, path })
    }

    /// A path inside the root: `root.join("/etc/passwd")`.
    pub fn join(&self, inside: &str) -> PathBuf {
        self.path.join(inside.trim_start_matches('/'))
    }

    /// Write an executable file inside the root (a stand-in program).
    pub fn executable(&self, inside: &str, text: &str) {
        let path = self.join(inside);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    /// `rpm --root ROOT ARGS…`: the output, whatever the status.
    pub fn rpm(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
        let mut cmd = Command::new("rpm");
        cmd.arg("--root").arg(&self.path);
        for a in args {
            cmd.arg(a);
        }
        cmd.output().expect("run rpm")
    }

    /// `rpm -V` on `packages`: success and nothing reported.
    pub fn verify_clean(&self, packages: &[&str], when: &str) {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"-V"];
        for p in packages {
            args.push(p);
        }
        let out = self.rpm(&args);
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "rpm -V after {when}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The recording systemctl (above) at /usr/bin/systemctl.
    pub fn stand_in_systemctl(&self) {
        self.executable("/usr/bin/systemctl", SYSTEMCTL);
    }

    /// The calls the stand-in systemctl recorded since the last look, one call a line.
    pub fn systemctl_calls(&self) -> Vec<String> {
        let log = self.join("/var/tmp/systemctl.log");
        let text = fs::read_to_string(&log).unwrap_or_default();
        let _ = fs::remove_file(&log);
        text.lines().map(str::to_string).collect()
    }

    /// A command run inside the root with `chroot`, with a clean environment.
    pub fn chroot(&self, program: &str) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.path).arg(program).env_clear().env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        cmd
    }

    /// The numeric ids of a user in the root's own /etc/passwd (the host may not know it).
    pub fn ids(&self, user: &str) -> Option<(u32, u32)> {
        let passwd = fs::read_to_string(self.join("/etc/passwd")).unwrap();
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&user)).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
    }

    /// The /etc/passwd fields of a user in the root.
    pub fn passwd(&self, user: &str) -> Option<Vec<String>> {
        let passwd = fs::read_to_string(self.join("/etc/passwd")).unwrap();
        passwd.lines().find_map(|l| {
            let f: Vec<String> = l.split(':').map(str::to_string).collect();
            (f[0] == user).then_some(f)
        })
    }

    /// The gid of a group in the root's /etc/group.
    pub fn gid(&self, group: &str) -> Option<u32> {
        let groups = fs::read_to_string(self.join("/etc/group")).unwrap();
        groups.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == group).then(|| f[2].parse().unwrap())
        })
    }

    /// Every path in the root, relative, sorted (to compare before and after).
    pub fn listing(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if entry.file_type().unwrap().is_dir() {
                    walk(base, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path, &self.path, &mut out);
        out.sort();
        out
    }
}
