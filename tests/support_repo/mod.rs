//! Fixtures for the signing and repository tests: throwaway gpg keys, packages of chosen
//! versions, the publish script, an HTTP server on 127.0.0.1 and dnf in an install root.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tempfile::TempDir;

use crate::support::{Fixture, bin, have, repo_root, run};

/// Whether the host has what signing, publishing and dnf need, and the `extra` tools; each
/// missing one is said (`have`).
pub fn repo_tools(extra: &[&str]) -> bool {
    let tools = [
        "gpg",
        "rpmkeys",
        "rpmbuild",
        "createrepo_c",
        "dnf",
        "python3",
        "flock",
    ];
    tools.iter().chain(extra).all(|t| have(t))
}

/// A private gpg home; its agent is stopped when dropped.
pub struct Gpg {
    pub home: TempDir,
}

/// A generated key: IDs in upper-case hex (as gpg prints them) and its exports.
#[derive(Clone, Debug)]
pub struct Key {
    pub email: String,
    pub id: String,
    pub fpr: String,
    pub secret: PathBuf,
    pub public: PathBuf,
}

impl Key {
    /// The last 8 hex digits, lower case, as `rpm -K` shows them.
    pub fn short_id(&self) -> String {
        self.id[8..].to_lowercase()
    }
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg { home }
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.path()).arg("--batch");
        cmd
    }

    /// Generate a key from gpg `--gen-key` parameter lines (Key-Type, Subkey-Type, …).
    pub fn generate(&self, email: &str, params: &str, passphrase: Option<&str>) -> Key {
        let protection = match passphrase {
            Some(p) => format!("Passphrase: {p}\n"),
            None => "%no-protection\n".to_string(),
        };
        let file = self.path().join(format!("{email}.params"));
        std::fs::write(
            &file,
            format!(
                "{params}\n{protection}Name-Real: proxy-rpm test {email}\nName-Email: {email}\nExpire-Date: 0\n%commit\n"
            ),
        )
        .unwrap();
        run(self
            .cmd()
            .args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .arg("--gen-key")
            .arg(&file));
        let listing = run(self
            .cmd()
            .args(["--with-colons", "--list-secret-keys", email]));
        let field = |kind: &str, n: usize| {
            listing
                .lines()
                .find(|l| l.starts_with(kind))
                .unwrap_or_else(|| panic!("no {kind} in {listing}"))
                .split(':')
                .nth(n)
                .unwrap()
                .to_string()
        };
        let id = field("sec:", 4);
        let fpr = field("fpr:", 9);
        let secret = self.path().join(format!("{email}.secret.asc"));
        let public = self.path().join(format!("{email}.public.asc"));
        let mut export = self.cmd();
        export.args(["--armor", "--pinentry-mode", "loopback"]);
        export.args(["--passphrase", passphrase.unwrap_or("")]);
        let exported = run(export.args(["--export-secret-keys", &fpr]));
        std::fs::write(&secret, exported).unwrap();
        std::fs::write(&public, run(self.cmd().args(["--armor", "--export", &fpr]))).unwrap();
        Key {
            email: email.to_string(),
            id,
            fpr,
            secret,
            public,
        }
    }

    /// The kind of key rpm 4.11 verifies: RSA, primary key signs, no subkeys.
    pub fn rsa(&self, email: &str) -> Key {
        self.generate(
            email,
            "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign",
            None,
        )
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        stop_gpg_agent(self.path());
    }
}

/// Stop the gpg-agent of one gpg home (and only it), and remove its socket directory.
pub fn stop_gpg_agent(home: &Path) {
    let gpgconf = |args: &[&str]| {
        Command::new("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(args)
            .output()
    };
    let _ = gpgconf(&["--kill", "all"]);
    // When /run/user/UID exists the sockets live in /run/user/UID/gnupg/d.HASH, which would
    // outlive the home. Remove it (an agent that has not exited yet notices and exits).
    if let Ok(out) = gpgconf(&["--list-dirs", "socketdir"]) {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let per_home = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("d."));
        if dir.starts_with("/run/user") && per_home {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `proxy-rpm package` with a chosen version (the shared fixture's command fixes 1.6.14).
pub fn package_version(fx: &Fixture, version: &str, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let stdout = run(Command::new(bin())
        .current_dir(repo_root())
        .arg("package")
        .args(["--version", version])
        .arg("--envoy")
        .arg(&fx.envoy)
        .arg("--sidecar-env")
        .arg(&fx.sidecar_env)
        .arg("--bootstrap")
        .arg(&fx.bootstrap)
        .arg("--out")
        .arg(out)
        .env_remove("SOURCE_DATE_EPOCH"));
    PathBuf::from(stdout.trim())
}

/// `proxy-rpm sign FILE --key SECRET`, which must succeed.
pub fn sign(rpm: &Path, key: &Key) {
    let out = run(Command::new(bin())
        .arg("sign")
        .arg(rpm)
        .arg("--key")
        .arg(&key.secret)
        .env_remove("PROXY_RPM_SIGN_PASSPHRASE"));
    assert_eq!(
        out.trim(),
        rpm.display().to_string(),
        "stdout: the signed file"
    );
}

/// `rpm -Kv` against a private database holding only `public_key`: (success, output).
pub fn rpm_checksig(public_key: &Path, rpm: &Path) -> (bool, String) {
    let db = tempfile::tempdir().unwrap();
    run(Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(db.path())
        .arg("--import")
        .arg(public_key));
    let out = Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(db.path())
        .arg("-Kv")
        .arg(rpm)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// `scripts/publish-yum-repo.sh REPO RPM... ARGS` with this gpg home and the verify program.
pub fn publish_cmd(gpg: &Gpg, repo: &Path, rpms: &[&Path], args: &[&str]) -> Command {
    let mut cmd = Command::new(script("publish-yum-repo.sh"));
    cmd.arg(repo)
        .args(rpms)
        .args(args)
        .env("GNUPGHOME", gpg.path())
        .env("PROXY_RPM", bin())
        .env_remove("PROXY_RPM_SIGN_PASSPHRASE")
        .env_remove("PUBLISH_TEST_PAUSE_FIFO");
    cmd
}

pub fn publish(gpg: &Gpg, repo: &Path, rpms: &[&Path], args: &[&str]) -> String {
    run(&mut publish_cmd(gpg, repo, rpms, args))
}

/// Run a command expected to fail; returns its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "expected {cmd:?} to fail\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `python3 -m http.server` on a free port of 127.0.0.1, stopped when dropped.
pub struct HttpServer {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl HttpServer {
    pub fn start(dir: &Path, log: &Path) -> HttpServer {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..." once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("http.server did not say its port: {line:?}"));
        let server = HttpServer {
            child,
            port,
            log: log.to_path_buf(),
        };
        let up = (0..200).any(|_| TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "http.server is not accepting connections on {port}");
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines logged so far.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dnf working on an empty install root, reading only the repo files we give it.
pub struct Dnf {
    pub root: PathBuf,
    pub cache: PathBuf,
    pub repos: PathBuf,
}

impl Dnf {
    /// An empty root at DIR/root, the cache at DIR/dnf-cache.
    pub fn new(dir: &Path) -> Dnf {
        Dnf::at(dir.join("root"), dir.join("dnf-cache"))
    }

    /// dnf on the root `root` (empty or not), with its cache in `cache`.
    pub fn at(root: PathBuf, cache: PathBuf) -> Dnf {
        let repos = root.join("etc/yum.repos.d");
        std::fs::create_dir_all(&repos).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        Dnf { root, cache, repos }
    }

    /// The options that point dnf at the root, its cache and our repo files only.
    pub fn options(&self) -> Vec<String> {
        vec![
            "--releasever".into(),
            "7".into(),
            "--disablerepo=*".into(),
            "--enablerepo=istio-proxy*".into(),
            format!("--setopt=reposdir={}", self.repos.display()),
            format!("--setopt=cachedir={}", self.cache.display()),
            "--setopt=install_weak_deps=False".into(),
        ]
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("dnf");
        cmd.arg("-y")
            .arg("--installroot")
            .arg(&self.root)
            .args(self.options())
            .args(args);
        cmd
    }

    pub fn add_repo(&self, name: &str, contents: &str) {
        std::fs::write(self.repos.join(format!("{name}.repo")), contents).unwrap();
    }

    pub fn installed(&self) -> String {
        run(Command::new("rpm")
            .args(["-qa", "--qf", "%{NEVRA}\\n", "--root"])
            .arg(&self.root))
    }

    pub fn rpm_verify(&self, package: &str) -> Output {
        Command::new("rpm")
            .args(["-V", "--root"])
            .arg(&self.root)
            .arg(package)
            .output()
            .unwrap()
    }
}

impl Drop for Dnf {
    /// librepo checks repomd.xml.asc with a keyring in the cache, which starts a gpg-agent.
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.cache)
            .into_iter()
            .flatten()
            .flatten()
        {
            let pubring = entry.path().join("pubring");
            if pubring.is_dir() {
                stop_gpg_agent(&pubring);
            }
        }
    }
}

/// One `<package>` of primary.xml, the fields yum uses to pick and fetch a package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrimaryPackage {
    pub name: String,
    pub arch: String,
    pub evr: String,
    pub checksum: String,
    pub location: String,
    pub sizes: String,
    pub header_range: String,
}

/// One `<data>` of repomd.xml: what a client fetches and the checksum it checks it against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepomdRecord {
    pub kind: String,
    pub href: String,
    /// `TYPE:HEX` of the compressed file, as `<checksum type="TYPE">HEX</checksum>` says.
    pub checksum: String,
}

/// The `<data>` records of a repomd.xml text.
pub fn repomd_records(repomd: &str) -> Vec<RepomdRecord> {
    repomd
        .split("<data type=\"")
        .skip(1)
        .map(|d| {
            let value = between(d, "<checksum ", "</checksum>");
            RepomdRecord {
                kind: d.split('"').next().unwrap().to_string(),
                href: attr(d, "location", "href"),
                checksum: format!(
                    "{}:{}",
                    attr(d, "checksum", "type"),
                    value.split('>').nth(1).unwrap()
                ),
            }
        })
        .collect()
}

/// The `href` of each `<data>` in repomd.xml, by type.
pub fn repomd_entries(repodata: &Path) -> Vec<(String, String)> {
    let repomd = std::fs::read_to_string(repodata.join("repomd.xml")).unwrap();
    repomd_records(&repomd)
        .into_iter()
        .map(|r| (r.kind, r.href))
        .collect()
}

/// GET `url` with curl (never through a proxy) into `out`; the HTTP status.
pub fn http_get(url: &str, out: &Path) -> u16 {
    let code = run(Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}", url]));
    code.trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {url}: no status code: {code:?}"))
}

/// Packages listed in the repository's primary.xml.gz (sorted).
pub fn primary(repo: &Path) -> Vec<PrimaryPackage> {
    let repodata = repo.join("repodata");
    let href = repomd_entries(&repodata)
        .into_iter()
        .find(|(kind, _)| kind == "primary")
        .expect("primary in repomd.xml")
        .1;
    assert!(href.ends_with(".xml.gz"), "gzip XML for EL7's yum: {href}");
    let mut xml = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(repo.join(&href)).unwrap())
        .read_to_string(&mut xml)
        .unwrap();
    let mut packages: Vec<PrimaryPackage> = xml
        .split("<package type=\"rpm\">")
        .skip(1)
        .map(|p| PrimaryPackage {
            name: between(p, "<name>", "</name>"),
            arch: between(p, "<arch>", "</arch>"),
            evr: format!(
                "{}:{}-{}",
                attr(p, "version", "epoch"),
                attr(p, "version", "ver"),
                attr(p, "version", "rel")
            ),
            checksum: format!(
                "{}:{}",
                attr(p, "checksum", "type"),
                between(p, "pkgid=\"YES\">", "</checksum>")
            ),
            location: attr(p, "location", "href"),
            sizes: format!(
                "{}/{}/{}",
                attr(p, "size", "package"),
                attr(p, "size", "installed"),
                attr(p, "size", "archive")
            ),
            header_range: format!(
                "{}-{}",
                attr(p, "rpm:header-range", "start"),
                attr(p, "rpm:header-range", "end")
            ),
        })
        .collect();
    packages.sort();
    packages
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].to_string()
}

/// The value of attribute `name` of the first `<element …>`.
fn attr(text: &str, element: &str, name: &str) -> String {
    let open = format!("<{element} ");
    let at = text
        .find(&open)
        .unwrap_or_else(|| panic!("{open} in {text}"));
    let tag = &text[at..at + text[at..].find('>').unwrap()];
    between(tag, &format!(" {name}=\""), "\"")
}

/// Flip one byte near the end of a file (in the payload of an RPM).
pub fn tamper(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// The signature-header tags of an RPM, read with the rpm crate.
pub fn signature_tags(rpm: &Path) -> Vec<u32> {
    let meta = rpm::PackageMetadata::open(rpm).unwrap();
    meta.signature
        .get_all_entries()
        .unwrap()
        .into_iter()
        .map(|(tag, _)| tag)
        .filter(|tag| *tag != 62)
        .collect()
}

/// The raw bytes of one signature-header entry.
pub fn signature_entry(rpm: &Path, tag: u32) -> Vec<u8> {
    let meta = rpm::PackageMetadata::open(rpm).unwrap();
    match meta.signature.entry(tag).unwrap() {
        rpm::IndexData::Bin(bytes) => bytes,
        other => panic!("tag {tag} is not binary: {other:?}"),
    }
}

/// Everything of an RPM after the signature header (main header and payload).
pub fn after_signature(rpm: &Path) -> Vec<u8> {
    let bytes = std::fs::read(rpm).unwrap();
    let count = u32::from_be_bytes(bytes[96 + 8..96 + 12].try_into().unwrap()) as usize;
    let data = u32::from_be_bytes(bytes[96 + 12..96 + 16].try_into().unwrap()) as usize;
    let end = 96 + 16 + 16 * count + data;
    bytes[end + (8 - end % 8) % 8..].to_vec()
}

/// Lines of a child's stderr until one contains `marker`; false if it ended first.
pub fn wait_for_line(stderr: impl Read, marker: &str, seen: &mut String) -> bool {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { return false };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            return true;
        }
    }
    false
}
