//! Fixtures shared by the package tests: a real x86_64 ELF that needs only old glibc symbol
//! versions, packaging files written here, and runners for our binary and the real rpm tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proxy-rpm"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a tool is on PATH, saying nothing.
pub fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether a tool is on PATH; when not, say so (the test then returns: it cannot exist here).
pub fn have(tool: &str) -> bool {
    let found = on_path(tool);
    if !found {
        eprintln!("SKIP: `{tool}` is not installed (scripts/test.sh installs it)");
    }
    found
}

/// Run a command that must succeed; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh(script: &str) -> String {
    run(Command::new("sh").args(["-ec", script]))
}

/// The files of an RPM, unpacked into `dir` (made when missing) as rpm2cpio and cpio see them.
pub fn unpack(rpm: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("sh")
        .current_dir(dir)
        .args(["-ec", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"])
        .arg(rpm)
        .status()
        .unwrap();
    assert!(status.success(), "rpm2cpio {}", rpm.display());
}

/// The names of the entries of `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// C source of an Envoy stand-in: no C runtime start files, so it needs only `write` and
/// `_exit` at GLIBC_2.2.5, a GNU hash table only (rtld(GNU_HASH)), and runs on CentOS 7.
const OLD_GLIBC_C: &str = r#"
#include <unistd.h>
void _start(void) {
    static const char msg[] = "envoy  version: fixture/1.0/Clean/RELEASE\n";
    write(1, msg, sizeof msg - 1);
    _exit(0);
}
"#;

/// C source compiled the ordinary way on Debian 12: needs GLIBC_2.34 (__libc_start_main).
const NEW_GLIBC_C: &str = r#"
#include <stdio.h>
int main(void) { puts("too new"); return 0; }
"#;

pub fn compile(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let out = dir.join(name);
    run(Command::new("cc")
        .arg("-O2")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(&c));
    out
}

pub fn old_glibc_elf(dir: &Path) -> PathBuf {
    compile(
        dir,
        "envoy-old",
        OLD_GLIBC_C,
        &["-nostartfiles", "-Wl,--hash-style=gnu"],
    )
}

pub fn new_glibc_elf(dir: &Path) -> PathBuf {
    compile(dir, "envoy-new", NEW_GLIBC_C, &[])
}

/// Header tags Debian's rpmbuild 4.18 writes and we do not, with the reason each is not needed
/// (package_compare.rs and sidecar_package/compare.rs allow only these).
pub const ONLY_RPMBUILD_HEADER: &[(u32, &str)] = &[
    (1122, "OPTFLAGS: compiler flags of a %build we do not have"),
    (
        1141,
        "FILECLASS: libmagic file classes, only for `rpm -q --fileclass`",
    ),
    (1142, "CLASSDICT: the dictionary of FILECLASS"),
    (
        1143,
        "FILEDEPENDSX: per-file dependency map, only for `rpm -q --filerequire`",
    ),
    (1144, "FILEDEPENDSN: per-file dependency map"),
    (1145, "DEPENDSDICT: per-file dependency map"),
    (
        5062,
        "ENCODING: rpm 4.16+ marker that strings are UTF-8; rpm 4.11 does not know it",
    ),
    (
        5097,
        "PAYLOADDIGESTALT: rpm 4.16+ digest of the uncompressed payload; unknown to 4.11",
    ),
];

/// Inputs for one package: an Envoy stand-in and packaging files written here.
pub struct Fixture {
    pub dir: TempDir,
    pub envoy: PathBuf,
    pub sidecar_env: PathBuf,
    pub bootstrap: PathBuf,
    pub out: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("in");
        std::fs::create_dir(&inputs).unwrap();
        let envoy = old_glibc_elf(&inputs);
        let sidecar_env = inputs.join("sidecar.env");
        std::fs::write(
            &sidecar_env,
            "# written by the proxy-rpm tests\nISTIO_SERVICE_CIDR=10.0.0.0/8\nISTIO_INBOUND_PORTS=*\n",
        )
        .unwrap();
        let bootstrap = inputs.join("envoy_bootstrap_v2.json");
        std::fs::write(
            &bootstrap,
            "{\n  \"node\": {\"id\": \"{{ .nodeID }}\"},\n  \"admin\": {\"address\": {\"socket_address\": {\"port_value\": 15000}}}\n}\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        Fixture {
            dir,
            envoy,
            sidecar_env,
            bootstrap,
            out,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `proxy-rpm package` for this fixture, plus `extra` arguments.
    pub fn package_cmd(&self, extra: &[&str]) -> Command {
        self.package_cmd_with(&self.envoy, &self.out, extra)
    }

    /// `proxy-rpm package` with another Envoy or output directory.
    pub fn package_cmd_with(&self, envoy: &Path, out: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(repo_root())
            .arg("package")
            .args(["--version", "1.6.14"])
            .arg("--envoy")
            .arg(envoy)
            .arg("--sidecar-env")
            .arg(&self.sidecar_env)
            .arg("--bootstrap")
            .arg(&self.bootstrap)
            .arg("--out")
            .arg(out)
            .args(extra)
            .env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    /// Package and return the RPM path printed on stdout.
    pub fn package(&self, extra: &[&str]) -> PathBuf {
        let stdout = run(&mut self.package_cmd(extra));
        let path = PathBuf::from(stdout.trim());
        assert!(path.is_file(), "stdout must be the RPM path: {stdout:?}");
        path
    }

    pub fn package_fails(&self, cmd: &mut Command) -> String {
        let out: Output = cmd.output().unwrap();
        assert!(!out.status.success(), "expected failure: {cmd:?}");
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
        let left: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "nothing half-written in --out: {left:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The same three files packaged by Debian's rpmbuild (AutoReqProv on, no stripping).
    pub fn rpmbuild(&self, payload: &str) -> PathBuf {
        let payload = format!("_binary_payload {payload}");
        let rpms = rpmbuild_bb(
            &self.path().join("rpmbuild"),
            &self.path().join("istio-proxy.spec"),
            &rpmbuild_spec(self),
            &[&AS_INSTALLED[..], &[payload.as_str()]].concat(),
        );
        only_rpm(&rpms.join("x86_64"))
    }
}

/// The rpmbuild macros that leave the files as %install wrote them: no strip or other
/// post-install step, no debuginfo package, no build-id links (for comparisons file by file).
pub const AS_INSTALLED: [&str; 3] = [
    "__os_install_post %{nil}",
    "debug_package %{nil}",
    "_build_id_links none",
];

/// Debian's `rpmbuild -bb` of the spec `text`, written to `spec`, with `top` as its _topdir
/// and `defines` ("macro value") after that; returns the directory of the RPMs it wrote.
pub fn rpmbuild_bb(top: &Path, spec: &Path, text: &str, defines: &[&str]) -> PathBuf {
    std::fs::write(spec, text).unwrap();
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()));
    for define in defines {
        cmd.args(["--define", define]);
    }
    run(cmd.arg(spec));
    top.join("RPMS")
}

fn rpmbuild_spec(fx: &Fixture) -> String {
    format!(
        r#"Name: istio-proxy
Version: 1.6.14
Release: 1.el7
Summary: Envoy sidecar proxy for the Istio service mesh, built for CentOS 7
License: ASL 2.0
Group: Applications/System
URL: https://github.com/istio/proxy
Packager: proxy-rpm maintainers <proxy-rpm@localhost>

%description
reference package for the tag comparison

%install
mkdir -p %{{buildroot}}/usr/local/bin %{{buildroot}}/var/lib/istio/envoy
install -m 0755 {envoy} %{{buildroot}}/usr/local/bin/envoy
install -m 0644 {sidecar} %{{buildroot}}/var/lib/istio/envoy/sidecar.env
install -m 0644 {bootstrap} %{{buildroot}}/var/lib/istio/envoy/envoy_bootstrap_tmpl.json

%files
%defattr(-,root,root)
/usr/local/bin/envoy
%config(noreplace) /var/lib/istio/envoy/sidecar.env
/var/lib/istio/envoy/envoy_bootstrap_tmpl.json

%changelog
* Thu Nov 26 2026 proxy-rpm tests <tests@localhost> - 1.6.14-1
- reference
"#,
        envoy = fx.envoy.display(),
        sidecar = fx.sidecar_env.display(),
        bootstrap = fx.bootstrap.display(),
    )
}

/// The RPM in `dir`, where rpmbuild wrote the one package of a spec.
fn only_rpm(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// A tiny package providing what the fixture Envoy needs from CentOS 7's glibc, so that dnf
/// can resolve it in an empty install root.
pub fn glibc_stub_rpm(dir: &Path) -> PathBuf {
    let rpms = rpmbuild_bb(
        &dir.join("stub"),
        &dir.join("glibc-stub.spec"),
        GLIBC_STUB_SPEC,
        &[],
    );
    only_rpm(&rpms.join("x86_64"))
}

const GLIBC_STUB_SPEC: &str = r#"Name: glibc-stub
Version: 2.17
Release: 1
Summary: Provides the glibc capabilities of CentOS 7 for install tests
License: MIT
BuildArch: x86_64
Provides: libc.so.6()(64bit)
Provides: libc.so.6(GLIBC_2.2.5)(64bit)
Provides: libc.so.6(GLIBC_2.17)(64bit)
Provides: rtld(GNU_HASH)
Provides: /bin/sh

%description
test stub

%files
"#;
