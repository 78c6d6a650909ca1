//! Fixtures for verify/inspect tests: small packages built by Debian's rpmbuild from a spec
//! written here, OpenPGP keys made by gpg, and a way to run our binary on them.
#![allow(dead_code)]

pub mod parts;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A static ELF that needs nothing from glibc (Debian's busybox-static), so it passes on EL7.
pub const STATIC_ELF: &str = "/bin/busybox";

pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/test.sh, which installs the Debian packages the \
         tests need"
    );
}

/// What goes into a test package besides the fixed file set.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    /// `%_binary_payload`, e.g. "w2.xzdio" or "w19.zstdio".
    pub payload: String,
    /// The ELF copied to /usr/bin/<name>-elf.
    pub elf: PathBuf,
    pub requires: Vec<String>,
    pub conflicts: Vec<String>,
    /// `%_binary_filedigest_algorithm`, when not rpmbuild's default (SHA256).
    pub file_digest_algo: Option<u32>,
    /// False for a package with an empty `%files`: no files, a payload of only the trailer.
    pub files: bool,
    /// A `%post` run by this interpreter (`-p`), with this body.
    pub post: Option<(String, String)>,
}

impl Spec {
    pub fn new(name: &str) -> Spec {
        Spec {
            name: name.into(),
            payload: "w2.xzdio".into(),
            elf: STATIC_ELF.into(),
            requires: Vec::new(),
            conflicts: Vec::new(),
            file_digest_algo: None,
            files: true,
            post: None,
        }
    }

    /// A `%post -p INTERPRETER` with `body`.
    pub fn post(mut self, interpreter: &str, body: &str) -> Spec {
        self.post = Some((interpreter.into(), body.into()));
        self
    }

    /// A package with an empty `%files` list.
    pub fn no_files(mut self) -> Spec {
        self.files = false;
        self
    }

    pub fn payload(mut self, payload: &str) -> Spec {
        self.payload = payload.into();
        self
    }

    pub fn elf(mut self, elf: &Path) -> Spec {
        self.elf = elf.into();
        self
    }

    pub fn requires(mut self, dep: &str) -> Spec {
        self.requires.push(dep.into());
        self
    }

    pub fn conflicts(mut self, dep: &str) -> Spec {
        self.conflicts.push(dep.into());
        self
    }

    pub fn file_digest_algo(mut self, algo: u32) -> Spec {
        self.file_digest_algo = Some(algo);
        self
    }

    /// The spec text: an ELF, a script, a %config file, a symlink, a hard-link pair, a file
    /// with another owner, an empty directory and a %ghost.
    fn text(&self) -> String {
        let n = &self.name;
        if !self.files {
            return format!(
                "Name: {n}\nVersion: 1.0\nRelease: 1\nSummary: An empty {n} package\n\
                 License: MIT\nBuildArch: x86_64\n\n%description\nNo files.\n\n%files\n"
            );
        }
        let mut deps = String::new();
        for r in &self.requires {
            deps.push_str(&format!("Requires: {r}\n"));
        }
        for c in &self.conflicts {
            deps.push_str(&format!("Conflicts: {c}\n"));
        }
        let post = match &self.post {
            Some((interpreter, body)) => format!("%post -p {interpreter}\n{body}\n"),
            None => String::new(),
        };
        format!(
            r#"Name: {n}
Version: 1.0
Release: 1
Summary: A {n} test package
License: MIT
BuildArch: x86_64
{deps}
%description
A package built by proxy-rpm's tests.

%install
mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/etc/{n} %{{buildroot}}/usr/share/{n}/empty
cp {elf} %{{buildroot}}/usr/bin/{n}-elf
printf '#!/bin/sh\necho hello\n' > %{{buildroot}}/usr/bin/{n}.sh
chmod 755 %{{buildroot}}/usr/bin/{n}.sh
echo 'key = value' > %{{buildroot}}/etc/{n}/{n}.conf
ln -s ../../bin/{n}.sh %{{buildroot}}/usr/share/{n}/link
echo data > %{{buildroot}}/usr/share/{n}/a
ln %{{buildroot}}/usr/share/{n}/a %{{buildroot}}/usr/share/{n}/b
echo other > %{{buildroot}}/usr/share/{n}/owned

%pre
echo "installing {n}"
getent group {n} >/dev/null || true
exit 0

%postun
exit 0

{post}
%files
%defattr(-,root,root,-)
/usr/bin/{n}-elf
/usr/bin/{n}.sh
%config(noreplace) /etc/{n}/{n}.conf
%dir /usr/share/{n}
%dir /usr/share/{n}/empty
/usr/share/{n}/link
/usr/share/{n}/a
/usr/share/{n}/b
%attr(0640,nobody,nogroup) /usr/share/{n}/owned
%ghost /var/log/{n}.log
"#,
            elf = self.elf.display()
        )
    }
}

/// A scratch directory for one test: rpmbuild's topdir, specs, keys, copies.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Build a binary package with rpmbuild; binaries are not stripped, so the ELF in the
    /// package is the one given.
    pub fn rpmbuild(&self, spec: &Spec) -> PathBuf {
        let mut defines = vec![
            "__strip /bin/true".to_string(),
            "_build_id_links none".to_string(),
            format!("_binary_payload {}", spec.payload),
        ];
        if let Some(algo) = spec.file_digest_algo {
            defines.push(format!("_binary_filedigest_algorithm {algo}"));
        }
        let top = self.run_rpmbuild(spec, "-bb", &defines);
        let rpm = top.join(format!("RPMS/x86_64/{}-1.0-1.x86_64.rpm", spec.name));
        assert!(rpm.is_file(), "rpmbuild wrote no {}", rpm.display());
        rpm
    }

    /// Build the source package of `spec` with `rpmbuild -bs` (the spec alone, no sources).
    pub fn rpmbuild_source(&self, spec: &Spec) -> PathBuf {
        let top = self.run_rpmbuild(spec, "-bs", &[]);
        let srpm = top.join(format!("SRPMS/{}-1.0-1.src.rpm", spec.name));
        assert!(srpm.is_file(), "rpmbuild wrote no {}", srpm.display());
        srpm
    }

    /// `rpmbuild MODE` on `spec`, written here, with a _topdir of its own and `defines`
    /// ("macro value"); returns the _topdir.
    fn run_rpmbuild(&self, spec: &Spec, mode: &str, defines: &[String]) -> PathBuf {
        require_tool("rpmbuild");
        let top = self.path(&format!("top-{}", spec.name));
        let spec_path = self.path(&format!("{}.spec", spec.name));
        fs::write(&spec_path, spec.text()).unwrap();
        let mut cmd = Command::new("rpmbuild");
        cmd.arg(mode)
            .arg("--define")
            .arg(format!("_topdir {}", top.display()));
        for define in defines {
            cmd.arg("--define").arg(define);
        }
        let out = cmd.arg(&spec_path).output().expect("run rpmbuild");
        assert!(
            out.status.success(),
            "rpmbuild {mode} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        top
    }

    /// Compile a C program against Debian's glibc: it needs GLIBC_2.34 (__libc_start_main).
    pub fn debian_elf(&self) -> PathBuf {
        require_tool("cc");
        let src = self.path("hello.c");
        fs::write(
            &src,
            "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
        )
        .unwrap();
        let exe = self.path("hello");
        let out = Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    }

    /// A copy of `rpm` with `edit` applied to its bytes.
    pub fn edited(&self, rpm: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = fs::read(rpm).unwrap();
        edit(&mut bytes);
        let out = self.path(name);
        fs::write(&out, bytes).unwrap();
        out
    }
}

/// A GnuPG home with keys made for one test; its agent is stopped when dropped.
pub struct Gpg {
    pub home: TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        require_tool("gpg");
        require_tool("gpg-agent");
        // Short path: the agent's socket path must stay under the Unix socket limit.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let mut perms = fs::metadata(home.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(home.path(), perms).unwrap();
        Gpg { home }
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--passphrase", ""])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Fingerprints of the key with this user ID: primary first, then subkeys.
    pub fn fingerprints(&self, uid: &str) -> Vec<String> {
        let out = self.gpg(&["--with-colons", "--list-keys", uid]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap_or_default().to_string())
            .collect()
    }

    /// Make a primary key of this algorithm ("rsa2048", "ed25519") that can sign.
    pub fn key(&self, uid: &str, algo: &str) -> String {
        self.gpg(&["--quick-gen-key", uid, algo, "sign", "never"]);
        self.fingerprints(uid).remove(0)
    }

    /// A certify-only RSA primary key with an RSA signing subkey; returns (primary, subkey).
    pub fn key_with_signing_subkey(&self, uid: &str) -> (String, String) {
        self.gpg(&["--quick-gen-key", uid, "rsa2048", "cert", "never"]);
        let primary = self.fingerprints(uid).remove(0);
        self.gpg(&["--quick-add-key", &primary, "rsa2048", "sign", "never"]);
        let sub = self.fingerprints(uid).pop().unwrap();
        assert_ne!(primary, sub);
        (primary, sub)
    }

    /// Export a public key, armored, to `dir/name`.
    pub fn export(&self, fingerprint: &str, path: &Path) -> PathBuf {
        let out = self.gpg(&["--armor", "--export", fingerprint]);
        fs::write(path, &out.stdout).unwrap();
        path.to_path_buf()
    }

    /// Sign a package in place with rpmsign; `signer` may end in `!` to force a subkey.
    pub fn rpmsign(&self, rpm: &Path, signer: &str) {
        self.rpmsign_with(rpm, signer, &[]);
    }

    /// Sign with rpmsign's `--rpmv3`, which adds the v3 header+payload signature (PGP for an
    /// RSA key, GPG for a DSA key) to the header-only one, by `digest` ("md5", "sha1"…) or
    /// gpg's choice.
    pub fn rpmsign_v3(&self, rpm: &Path, signer: &str, digest: Option<&str>) {
        let mut extra = vec!["--rpmv3".to_string()];
        if let Some(algo) = digest {
            extra.extend(["--define".into(), format!("_gpg_digest_algo {algo}")]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        self.rpmsign_with(rpm, signer, &extra);
    }

    /// A binary detached signature of `data` by `signer` with `digest` (gpg's `--digest-algo`
    /// name): for hashes rpmsign itself refuses to sign with.
    pub fn detach_sign(&self, signer: &str, data: &Path, digest: &str) -> Vec<u8> {
        let sig = data.with_extension("sig");
        self.gpg(&[
            "--local-user",
            signer,
            "--digest-algo",
            digest,
            "--output",
            sig.to_str().unwrap(),
            "--detach-sign",
            data.to_str().unwrap(),
        ]);
        fs::read(&sig).unwrap()
    }

    fn rpmsign_with(&self, rpm: &Path, signer: &str, extra: &[&str]) {
        require_tool("rpmsign");
        let out = Command::new("rpmsign")
            .env("GNUPGHOME", self.home.path())
            .arg("--addsign")
            .args(extra)
            .args(["--define", "__gpg /usr/bin/gpg"])
            .arg("--define")
            .arg(format!("_gpg_path {}", self.home.path().display()))
            .arg("--define")
            .arg(format!("_gpg_name {signer}"))
            .arg(rpm)
            .output()
            .expect("run rpmsign");
        assert!(
            out.status.success(),
            "rpmsign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Run the built proxy-rpm binary.
pub fn proxy_rpm(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proxy-rpm"))
        .args(args)
        .output()
        .expect("run proxy-rpm")
}

/// `proxy-rpm -q verify ARGS…`: (exit code, stdout, stderr).
pub fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "verify".as_ref()];
    all.extend(args.iter().map(|a| a.as_ref()));
    let out = proxy_rpm(&all);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The status word of the first line for `check` (e.g. "md5", "elf /usr/bin/x").
pub fn status_of<'a>(stdout: &'a str, check: &str) -> Option<(&'a str, &'a str)> {
    stdout.lines().find_map(|line| {
        let (status, rest) = line.split_once("  ")?;
        let (name, reason) = rest.split_once(": ")?;
        (name == check).then_some((status, reason))
    })
}

/// The reason of the first `check` line, asserting its status word.
pub fn assert_status(stdout: &str, check: &str, want: &str) -> String {
    let (status, reason) =
        status_of(stdout, check).unwrap_or_else(|| panic!("no {check} check in:\n{stdout}"));
    assert_eq!(status, want, "{check}: {reason}\n{stdout}");
    reason.to_string()
}

/// Every `check` line as (status, reason).
pub fn all_of<'a>(stdout: &'a str, check: &str) -> Vec<(&'a str, &'a str)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (status, rest) = line.split_once("  ")?;
            let (name, reason) = rest.split_once(": ")?;
            (name == check).then_some((status, reason))
        })
        .collect()
}

/// Exit code (0 or 1) and stdout of `verify FILE ARGS…`.
pub fn verdict(rpm: &Path, args: &[&str]) -> (i32, String) {
    let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&rpm];
    for a in args {
        all.push(a);
    }
    let (code, out, err) = verify(&all);
    assert!(
        code == 0 || code == 1,
        "verify {}: {out}{err}",
        rpm.display()
    );
    (code, out)
}

/// Debian's rpm 4.18 checks every digest of an assembled package: the assembly is sound.
pub fn rpm_k_ok(rpm: &Path) {
    require_tool("rpm");
    let out = Command::new("rpm").arg("-Kv").arg(rpm).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("BAD"),
        "rpm -Kv: {text}"
    );
}

/// `rpm -Kv` (4.18) with `key` imported into a database of its own, in `dir`: its report.
pub fn rpm_k_with_key(dir: &Path, key: &Path, rpm: &Path) -> String {
    require_tool("rpm");
    let db = dir.join("rpmdb");
    let rpm_cmd = |args: &[&std::ffi::OsStr]| {
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args(args)
            .output()
            .expect("run rpm")
    };
    if !db.exists() {
        fs::create_dir_all(&db).unwrap();
        let init = rpm_cmd(&["--initdb".as_ref()]);
        assert!(init.status.success(), "rpm --initdb: {init:?}");
        let import = rpm_cmd(&["--import".as_ref(), key.as_os_str()]);
        assert!(import.status.success(), "rpm --import: {import:?}");
    }
    let out = rpm_cmd(&["-Kv".as_ref(), rpm.as_os_str()]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
