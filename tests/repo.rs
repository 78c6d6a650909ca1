//! The yum repository end to end: packages signed by `proxy-rpm sign`, published by
//! `scripts/publish-yum-repo.sh`, served over HTTP on 127.0.0.1 and installed by dnf with
//! `gpgcheck=1` and `repo_gpgcheck=1`, istio-sidecar pulling istio-proxy into a real root.
//! (`scripts/install-vm-sidecar.sh` is tested in tests/vm_install.rs.)
//!
//! Every test here runs the publish script, which runs `proxy-rpm verify` on each RPM (see
//! `support_repo::verify_program` for the stand-in used until `verify` exists).

mod support;
mod support_repo;
mod support_root;
mod support_sidecar;
mod support_vm;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Fixture, have, names, run};
use support_repo::{
    Dnf, Gpg, HttpServer, Key, fails, http_get, package_version, primary, publish, publish_cmd,
    repo_tools, repomd_entries, repomd_records, rpm_checksig, script, sign,
};
use support_root::Root;
use support_vm::SidecarRepo;

/// A fixture, a key, the signed glibc stub, an empty repository directory served over HTTP.
struct World {
    fx: Fixture,
    gpg: Gpg,
    key: Key,
    stub: PathBuf,
    repo: PathBuf,
    server: HttpServer,
}

impl World {
    fn new() -> World {
        let fx = Fixture::new();
        let gpg = Gpg::new();
        let key = gpg.rsa("repo@localhost");
        let stub = support::glibc_stub_rpm(fx.path());
        sign(&stub, &key);
        let repo = fx.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let server = HttpServer::start(&repo, &fx.path().join("http.log"));
        World {
            fx,
            gpg,
            key,
            stub,
            repo,
            server,
        }
    }

    /// Package `version` (with the fixture's current sidecar.env) and sign it.
    fn signed(&self, version: &str) -> PathBuf {
        let rpm = package_version(&self.fx, version, &self.fx.path().join(version));
        sign(&rpm, &self.key);
        rpm
    }

    fn sign_args(&self) -> Vec<String> {
        vec![
            "--sign-key".into(),
            self.key.fpr.clone(),
            "--base-url".into(),
            self.server.url(),
        ]
    }

    fn publish(&self, rpms: &[&Path], extra: &[&str]) -> String {
        let owned = self.sign_args();
        let mut args: Vec<&str> = owned.iter().map(String::as_str).collect();
        args.extend(extra);
        publish(&self.gpg, &self.repo, rpms, &args)
    }

    fn publish_cmd(&self, rpms: &[&Path], extra: &[&str]) -> Command {
        let owned = self.sign_args();
        let mut args: Vec<&str> = owned.iter().map(String::as_str).collect();
        args.extend(extra);
        publish_cmd(&self.gpg, &self.repo, rpms, &args)
    }

    fn snapshot(&self) -> PathBuf {
        self.repo.join("el7/x86_64")
    }

    fn repomd(&self) -> Vec<u8> {
        std::fs::read(self.snapshot().join("repodata/repomd.xml")).unwrap()
    }

    fn link_target(&self) -> PathBuf {
        std::fs::read_link(self.snapshot()).unwrap()
    }

    /// dnf on a fresh install root with the published .repo file.
    fn dnf(&self, name: &str) -> Dnf {
        let dnf = Dnf::new(&self.fx.path().join(name));
        let repo_file = std::fs::read_to_string(self.repo.join("istio-proxy.repo")).unwrap();
        dnf.add_repo("istio-proxy", &repo_file);
        dnf
    }

    /// Snapshot directories under el7/, the current one included.
    fn snapshots(&self) -> Vec<String> {
        names(&self.repo.join("el7"))
            .into_iter()
            .filter(|n| n.starts_with(".x86_64."))
            .collect()
    }
}

fn istio_versions(repo: &Path) -> Vec<String> {
    primary(repo)
        .into_iter()
        .filter(|p| p.name == "istio-proxy")
        .map(|p| p.evr)
        .collect()
}

#[test]
fn dnf_installs_from_the_published_repository_with_both_gpg_checks() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    let rpm = w.signed("1.6.14");
    let out = w.publish(&[&rpm, &w.stub], &[]);
    assert_eq!(
        out.trim(),
        w.repo.join("istio-proxy.repo").display().to_string()
    );

    // The layout and the client files.
    assert!(
        w.snapshot().is_symlink(),
        "el7/x86_64 is the swapped symlink"
    );
    assert!(w.snapshot().join(rpm.file_name().unwrap()).is_file());
    assert_eq!(
        std::fs::read(w.repo.join("RPM-GPG-KEY-proxy-rpm")).unwrap(),
        std::fs::read(&w.key.public).unwrap()
    );
    let repodata = w.snapshot().join("repodata");
    assert!(repodata.join("repomd.xml.asc").is_file());
    let repo_file = std::fs::read_to_string(w.repo.join("istio-proxy.repo")).unwrap();
    for line in [
        "[istio-proxy]".to_string(),
        format!("baseurl={}/el7/$basearch/", w.server.url()),
        "gpgcheck=1".into(),
        "repo_gpgcheck=1".into(),
        format!("gpgkey={}/RPM-GPG-KEY-proxy-rpm", w.server.url()),
    ] {
        assert!(
            repo_file.lines().any(|l| l == line),
            "{line} in:\n{repo_file}"
        );
    }
    assert!(repo_file.lines().any(|l| l.starts_with("name=")));

    let dnf = w.dnf("install");
    run(&mut dnf.cmd(&["install", "istio-proxy"]));
    let installed = dnf.installed();
    assert!(
        installed.contains("istio-proxy-1.6.14-1.el7.x86_64"),
        "{installed}"
    );
    assert!(
        installed.contains("glibc-stub-2.17-1.x86_64"),
        "{installed}"
    );
    assert!(
        installed.contains(&format!("gpg-pubkey-{}-", w.key.short_id())),
        "dnf imported the repository key into the root's rpmdb: {installed}"
    );
    let verify = dnf.rpm_verify("istio-proxy");
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "{verify:?}"
    );
    let envoy = run(&mut Command::new(dnf.root.join("usr/local/bin/envoy")));
    assert!(envoy.contains("envoy  version"), "{envoy}");

    // dnf checked the metadata signature and fetched the key over HTTP.
    let requests = w.server.requests();
    for path in [
        "GET /el7/x86_64/repodata/repomd.xml ",
        "GET /el7/x86_64/repodata/repomd.xml.asc ",
        "GET /RPM-GPG-KEY-proxy-rpm ",
        "GET /el7/x86_64/istio-proxy-1.6.14-1.el7.x86_64.rpm ",
    ] {
        assert!(requests.contains(path), "{path} in:\n{requests}");
    }
}

#[test]
fn tampered_packages_and_metadata_are_refused() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    let rpm = w.signed("1.6.14");
    w.publish(&[&w.stub], &[]);
    let repomd = w.repomd();

    // A signed package damaged afterwards: rpm -K fails, the publish script refuses it and the
    // repository stays as it was.
    let tampered =
        w.fx.path()
            .join("tampered/istio-proxy-1.6.14-1.el7.x86_64.rpm");
    std::fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    std::fs::copy(&rpm, &tampered).unwrap();
    support_repo::tamper(&tampered);
    let (ok, report) = rpm_checksig(&w.key.public, &tampered);
    assert!(!ok, "rpm -K refuses it: {report}");
    let err = fails(&mut w.publish_cmd(&[&tampered], &[]));
    assert!(err.contains(&tampered.display().to_string()), "{err}");
    assert!(
        err.contains("nothing was published") || err.contains("not signed by"),
        "{err}"
    );
    assert_eq!(w.repomd(), repomd, "repository unchanged");
    assert_eq!(istio_versions(&w.snapshot()), Vec::<String>::new());

    // Served from a repository whose metadata matches it (as if the server were compromised,
    // but without the signing key): dnf's gpgcheck refuses to install it.
    let plain = w.repo.join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::copy(&tampered, plain.join(tampered.file_name().unwrap())).unwrap();
    std::fs::copy(&w.stub, plain.join(w.stub.file_name().unwrap())).unwrap();
    run(Command::new("createrepo_c")
        .args(["-q", "--general-compress-type=gz"])
        .arg(&plain));
    let dnf = w.dnf("tampered");
    dnf.add_repo(
        "istio-proxy",
        &format!(
            "[istio-proxy-plain]\nname=plain\nbaseurl={}/plain/\ngpgcheck=1\nrepo_gpgcheck=0\ngpgkey={}/RPM-GPG-KEY-proxy-rpm\n",
            w.server.url(),
            w.server.url()
        ),
    );
    let err = fails(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(err.contains("GPG check FAILED"), "{err}");
    assert!(!dnf.installed().contains("istio-proxy"), "{err}");

    // Metadata changed after it was signed: repo_gpgcheck refuses the repository.
    let rpm_good = w.signed("1.6.13");
    w.publish(&[&rpm_good], &[]);
    let repomd_path = w.snapshot().join("repodata/repomd.xml");
    let mut bytes = std::fs::read(&repomd_path).unwrap();
    bytes.extend_from_slice(b"<!-- changed -->\n");
    std::fs::write(&repomd_path, bytes).unwrap();
    let dnf = w.dnf("tampered-metadata");
    let err = fails(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(
        err.contains("repomd.xml GPG signature verification error"),
        "{err}"
    );
    assert!(!dnf.installed().contains("istio-proxy"), "{err}");
}

#[test]
fn unsigned_packages_are_refused() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    let unsigned = package_version(&w.fx, "1.6.14", &w.fx.path().join("unsigned"));

    // The publish script will not put an unsigned package into a signed repository.
    let err = fails(&mut w.publish_cmd(&[&unsigned, &w.stub], &[]));
    assert!(
        err.contains("not signed by") && err.contains("proxy-rpm sign"),
        "{err}"
    );
    assert!(!w.snapshot().exists(), "nothing published");
    assert!(
        w.snapshots().is_empty(),
        "nothing left aside: {:?}",
        w.snapshots()
    );

    // Published without --sign-key, dnf with gpgcheck=1 refuses it.
    publish(
        &w.gpg,
        &w.repo,
        &[&unsigned, &w.stub],
        &["--base-url", &w.server.url()],
    );
    let repo_file = std::fs::read_to_string(w.repo.join("istio-proxy.repo")).unwrap();
    assert!(repo_file.contains("repo_gpgcheck=0\n"), "{repo_file}");
    assert!(!w.snapshot().join("repodata/repomd.xml.asc").exists());
    let dnf = w.dnf("unsigned");
    dnf.add_repo(
        "istio-proxy",
        &format!(
            "[istio-proxy]\nname=unsigned\nbaseurl={}/el7/$basearch/\ngpgcheck=1\nrepo_gpgcheck=0\ngpgkey=file://{}\n",
            w.server.url(),
            w.key.public.display()
        ),
    );
    let err = fails(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(
        err.contains("istio-proxy-1.6.14-1.el7.x86_64.rpm is not signed"),
        "{err}"
    );
    assert!(err.contains("GPG check FAILED"), "{err}");
    assert!(!dnf.installed().contains("istio-proxy"));
}

#[test]
fn upgrade_keeps_the_edited_sidecar_env_and_writes_rpmnew() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    std::fs::write(
        &w.fx.sidecar_env,
        "# 1.6.13\nISTIO_SERVICE_CIDR=10.0.0.0/8\n",
    )
    .unwrap();
    let old = w.signed("1.6.13");
    std::fs::write(
        &w.fx.sidecar_env,
        "# 1.6.14\nISTIO_SERVICE_CIDR=10.0.0.0/16\n",
    )
    .unwrap();
    let new = w.signed("1.6.14");

    w.publish(&[&old, &w.stub], &[]);
    let dnf = w.dnf("upgrade");
    run(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(dnf.installed().contains("istio-proxy-1.6.13-1.el7"));
    let env = dnf.root.join("var/lib/istio/envoy/sidecar.env");
    std::fs::write(
        &env,
        "# edited on the VM\nISTIO_SERVICE_CIDR=192.168.0.0/16\n",
    )
    .unwrap();

    w.publish(&[&new], &["--keep", "1"]);
    assert_eq!(
        istio_versions(&w.snapshot()),
        ["0:1.6.14-1.el7"],
        "--keep 1"
    );
    run(&mut dnf.cmd(&["--refresh", "upgrade", "istio-proxy"]));
    let installed = dnf.installed();
    assert!(
        installed.contains("istio-proxy-1.6.14-1.el7"),
        "{installed}"
    );
    assert!(!installed.contains("istio-proxy-1.6.13"), "{installed}");
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        "# edited on the VM\nISTIO_SERVICE_CIDR=192.168.0.0/16\n",
        "the local edit is kept"
    );
    assert_eq!(
        std::fs::read_to_string(env.with_extension("env.rpmnew")).unwrap(),
        "# 1.6.14\nISTIO_SERVICE_CIDR=10.0.0.0/16\n",
        "the new default is next to it"
    );
    let verify = dnf.rpm_verify("istio-proxy");
    let report = String::from_utf8_lossy(&verify.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 1, "{report}");
    assert!(
        lines[0].ends_with(" c /var/lib/istio/envoy/sidecar.env"),
        "{report}"
    );
}

#[test]
fn a_killed_publish_leaves_the_old_repository_serving() {
    if !repo_tools(&["mkfifo"]) {
        return;
    }
    let w = World::new();
    let old = w.signed("1.6.13");
    let new = w.signed("1.6.14");
    w.publish(&[&old, &w.stub], &[]);
    let repomd = w.repomd();
    let current = w.link_target();
    let fifo = w.fx.path().join("pause");
    run(Command::new("mkfifo").arg(&fifo));

    // Stopped right before the swap, then killed (SIGKILL: no trap runs).
    let paused = |w: &World| {
        let mut child = w
            .publish_cmd(&[&new], &[])
            .env("PUBLISH_TEST_PAUSE_FIFO", &fifo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut seen = String::new();
        let reached = support_repo::wait_for_line(
            child.stderr.take().unwrap(),
            "paused before publishing",
            &mut seen,
        );
        assert!(reached, "the script ended before the pause: {seen}");
        child
    };
    let mut child = paused(&w);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(w.repomd(), repomd, "repomd.xml unchanged");
    assert_eq!(w.link_target(), current);
    assert_eq!(istio_versions(&w.snapshot()), ["0:1.6.13-1.el7"]);
    assert_eq!(
        w.snapshots().len(),
        2,
        "the new snapshot was left aside: {:?}",
        w.snapshots()
    );
    let dnf = w.dnf("after-kill");
    run(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(dnf.installed().contains("istio-proxy-1.6.13-1.el7"));

    // SIGTERM: the trap removes the new snapshot (and the run removed the SIGKILL leftover).
    let child = paused(&w);
    run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert_eq!(w.repomd(), repomd, "repomd.xml unchanged");
    assert_eq!(w.snapshots().len(), 1, "{:?}", w.snapshots());

    // The next run publishes.
    w.publish(&[&new], &[]);
    assert_ne!(w.link_target(), current);
    assert_eq!(
        istio_versions(&w.snapshot()),
        ["0:1.6.13-1.el7", "0:1.6.14-1.el7"]
    );
    assert_eq!(
        w.snapshots().len(),
        1,
        "the old snapshot is removed: {:?}",
        w.snapshots()
    );
    run(&mut dnf.cmd(&["--refresh", "upgrade", "istio-proxy"]));
    assert!(dnf.installed().contains("istio-proxy-1.6.14-1.el7"));
}

#[test]
fn repodata_matches_plain_createrepo_c_and_reruns_change_nothing() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    let v13 = w.signed("1.6.13");
    let v14 = w.signed("1.6.14");
    w.publish(&[&v13, &v14, &w.stub], &[]);

    let plain = w.fx.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    for rpm in [&v13, &v14, &w.stub] {
        std::fs::copy(rpm, plain.join(rpm.file_name().unwrap())).unwrap();
    }
    run(Command::new("createrepo_c")
        .args(["-q", "--general-compress-type=gz"])
        .arg(&plain));
    let ours = primary(&w.snapshot());
    assert_eq!(ours.len(), 3);
    assert_eq!(
        ours,
        primary(&plain),
        "same packages, checksums, sizes, header ranges"
    );
    assert!(
        ours.iter().all(|p| p.checksum.starts_with("sha256:")),
        "{ours:?}"
    );

    // What EL7's yum reads: gzip XML and sqlite databases, sha256 everywhere; every file
    // repomd.xml names has the checksum it says.
    let repodata = w.snapshot().join("repodata");
    let entries = repomd_entries(&repodata);
    let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    for kind in [
        "primary",
        "filelists",
        "other",
        "primary_db",
        "filelists_db",
        "other_db",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let repomd = std::fs::read_to_string(repodata.join("repomd.xml")).unwrap();
    for (_, href) in &entries {
        assert!(href.ends_with(".gz"), "{href}");
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            std::fs::read(w.snapshot().join(href)).unwrap(),
        ));
        assert!(
            repomd.contains(&format!("<checksum type=\"sha256\">{digest}</checksum>")),
            "{href}: {digest} not in repomd.xml"
        );
    }

    // Idempotent: the same publish again changes nothing.
    let before = (w.repomd(), w.link_target());
    let out = w.publish_cmd(&[&v13, &v14, &w.stub], &[]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing changed"));
    assert_eq!((w.repomd(), w.link_target()), before);

    // --keep 1 without new packages drops 1.6.13 only.
    w.publish(&[], &["--keep", "1"]);
    assert_eq!(istio_versions(&w.snapshot()), ["0:1.6.14-1.el7"]);
    assert!(
        primary(&w.snapshot())
            .iter()
            .any(|p| p.name == "glibc-stub")
    );
    assert!(!w.snapshot().join(v13.file_name().unwrap()).exists());

    // A change published without --sign-key: no stale signature of the previous repomd.xml.
    publish(&w.gpg, &w.repo, &[&v13], &["--base-url", &w.server.url()]);
    assert_eq!(
        istio_versions(&w.snapshot()),
        ["0:1.6.13-1.el7", "0:1.6.14-1.el7"]
    );
    assert!(!w.snapshot().join("repodata/repomd.xml.asc").exists());
    let repo_file = std::fs::read_to_string(w.repo.join("istio-proxy.repo")).unwrap();
    assert!(repo_file.contains("repo_gpgcheck=0\n"), "{repo_file}");
    assert!(
        repo_file.contains("gpgkey="),
        "the exported key is still there: {repo_file}"
    );
}

/// The `repodata/` file names a repomd.xml text names.
fn named(repomd: &str) -> BTreeSet<String> {
    repomd_records(repomd)
        .into_iter()
        .map(|r| r.href.strip_prefix("repodata/").unwrap().to_string())
        .collect()
}

#[test]
fn repodata_keeps_the_current_and_the_previous_generation_only() {
    if !repo_tools(&["curl"]) {
        return;
    }
    let w = World::new();
    let mut dnf: Option<Dnf> = None;
    let repodata = w.snapshot().join("repodata");
    let mut previous: Option<String> = None;
    for (n, version) in ["1.6.10", "1.6.11", "1.6.12", "1.6.13", "1.6.14"]
        .into_iter()
        .enumerate()
    {
        // A different set of RPMs each time: the new version in, all but the newest two out.
        let rpm = w.signed(version);
        w.publish(&[&rpm, &w.stub], &["--keep", "2"]);
        let current = std::fs::read_to_string(repodata.join("repomd.xml")).unwrap();

        // Exactly: what the current and the previous repomd.xml name, repomd.xml, its
        // signature and key.
        let mut expected: BTreeSet<String> = ["repomd.xml", "repomd.xml.asc", "repomd.xml.key"]
            .map(String::from)
            .into();
        expected.extend(named(&current));
        expected.extend(previous.iter().flat_map(|p| named(p)));
        assert_eq!(
            BTreeSet::from_iter(names(&repodata)),
            expected,
            "generation {}: repodata/ holds two generations of metadata",
            n + 1
        );

        // A client that read the previous repomd.xml just before the swap still gets every
        // file it names, as it names it, from the new snapshot.
        if let Some(previous) = &previous {
            let gone: Vec<String> = named(previous)
                .difference(&named(&current))
                .cloned()
                .collect();
            assert!(!gone.is_empty(), "generation {}: new metadata files", n + 1);
            for record in repomd_records(previous) {
                let url = format!("{}/el7/x86_64/{}", w.server.url(), record.href);
                let out = w.fx.path().join("fetched");
                assert_eq!(http_get(&url, &out), 200, "GET {url}");
                let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    std::fs::read(&out).unwrap(),
                ));
                assert_eq!(record.checksum, format!("sha256:{digest}"), "GET {url}");
            }
        }

        // The current metadata installs, as before.
        let dnf = dnf.get_or_insert_with(|| w.dnf("generations"));
        let action = if n == 0 { "install" } else { "upgrade" };
        run(&mut dnf.cmd(&["--refresh", action, "istio-proxy"]));
        let installed = dnf.installed();
        assert!(
            installed.contains(&format!("istio-proxy-{version}-1.el7.x86_64")),
            "generation {}: {installed}",
            n + 1
        );
        previous = Some(current);
    }
}

#[test]
fn createrepo_c_comes_from_pypi_when_not_on_path() {
    if !repo_tools(&[]) {
        return;
    }
    let w = World::new();
    let rpm = w.signed("1.6.14");
    // A PATH with every host tool but createrepo_c.
    let bin = w.fx.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let link = bin.join(&name);
            if name != "createrepo_c" && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    let venv = w.fx.path().join("venv");
    let out = w
        .publish_cmd(&[&rpm, &w.stub], &[])
        .env("PATH", &bin)
        .env("PUBLISH_VENV", &venv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("pip install") {
        eprintln!(
            "SKIP: PyPI is not reachable from here, cannot test the wheel fallback:\n{stderr}"
        );
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("installing createrepo-c=="), "{stderr}");
    assert!(venv.join(".complete").is_file() && venv.join("bin/createrepo_c").is_file());
    let packages = primary(&w.snapshot());
    assert_eq!(packages.len(), 2, "{packages:?}");
    let dnf = w.dnf("pypi");
    run(&mut dnf.cmd(&["install", "istio-proxy"]));
    assert!(dnf.installed().contains("istio-proxy-1.6.14-1.el7"));
}

#[test]
fn publish_signs_the_metadata_with_a_passphrase_from_the_environment() {
    if !repo_tools(&[]) {
        return;
    }
    let fx = Fixture::new();
    let gpg = Gpg::new();
    let phrase = "publish passphrase";
    let key = gpg.generate(
        "phrase@localhost",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign",
        Some(phrase),
    );
    let rpm = package_version(&fx, "1.6.14", &fx.path().join("out"));
    run(Command::new(support::bin())
        .arg("sign")
        .arg(&rpm)
        .arg("--key")
        .arg(&key.secret)
        .env("PROXY_RPM_SIGN_PASSPHRASE", phrase));
    // No passphrase cached by an agent: it has to come from the environment.
    support_repo::stop_gpg_agent(gpg.path());
    let repo = fx.path().join("repo");
    let args = ["--sign-key", key.fpr.as_str()];
    let err = fails(&mut publish_cmd(&gpg, &repo, &[&rpm], &args));
    assert!(
        err.contains("gpg cannot sign with") && err.contains("PROXY_RPM_SIGN_PASSPHRASE"),
        "{err}"
    );
    assert!(
        !err.contains("running createrepo_c"),
        "checked before any work: {err}"
    );
    assert!(
        !repo.join("el7/x86_64").exists(),
        "nothing published: {err}"
    );

    let out = publish_cmd(&gpg, &repo, &[&rpm], &args)
        .env("PROXY_RPM_SIGN_PASSPHRASE", phrase)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        !all.contains(phrase),
        "the passphrase is never printed: {all}"
    );
    let repodata = repo.join("el7/x86_64/repodata");
    let keyring = fx.path().join("key.gpg");
    run(gpg
        .cmd()
        .arg("--dearmor")
        .arg("--output")
        .arg(&keyring)
        .arg(&key.public));
    let check = Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(repodata.join("repomd.xml.asc"))
        .arg(repodata.join("repomd.xml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn scripts_are_shellcheck_clean() {
    if !have("shellcheck") {
        return;
    }
    run(Command::new("shellcheck")
        .arg(script("publish-yum-repo.sh"))
        .arg(script("install-vm-sidecar.sh")));
}

#[test]
fn publish_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let publish = script("publish-yum-repo.sh");
    let err = fails(
        Command::new(&publish)
            .arg(dir.path())
            .arg(dir.path().join("missing.rpm")),
    );
    assert!(err.contains("missing.rpm: no such file"), "{err}");
    let err = fails(Command::new(&publish).arg(dir.path()).args(["--keep", "0"]));
    assert!(err.contains("--keep 0"), "{err}");
    let err = fails(Command::new(&publish).args(["--base-url"]));
    assert!(err.contains("--base-url needs a value"), "{err}");
    let err = fails(
        Command::new(&publish)
            .arg(dir.path())
            .env("PROXY_RPM", "/nonexistent/proxy-rpm"),
    );
    assert!(err.contains("proxy-rpm verify"), "{err}");
}

#[test]
fn dnf_install_istio_sidecar_pulls_istio_proxy_with_gpgcheck() {
    if !support_vm::tools() {
        return;
    }
    let Some(root) = Root::new() else { return };
    let r = SidecarRepo::publish("1.6.14");
    let repo_file = r.repo_file();
    for line in ["gpgcheck=1", "repo_gpgcheck=1"] {
        assert!(repo_file.lines().any(|l| l == line), "{line}: {repo_file}");
    }

    // Only the sidecar is asked for; dnf resolves its `istio-proxy = 1.6.14-1.el7`.
    let dnf = r.dnf(&root);
    let out = run(&mut dnf.cmd(&["install", "istio-sidecar"]));
    let deps = out
        .split("Installing dependencies:")
        .nth(1)
        .unwrap_or_else(|| panic!("dnf installed no dependencies:\n{out}"));
    let deps = deps.split("\n\n").next().unwrap();
    assert!(deps.contains("istio-proxy"), "{deps}");
    let installed = dnf.installed();
    for nevra in [
        "istio-sidecar-1.6.14-1.el7.x86_64".to_string(),
        "istio-proxy-1.6.14-1.el7.x86_64".to_string(),
        format!("gpg-pubkey-{}-", r.key.short_id()),
    ] {
        assert!(installed.contains(&nevra), "{nevra} in:\n{installed}");
    }
    // dnf checked the metadata signature, fetched the key and both packages over HTTP.
    let requests = r.server.requests();
    for path in [
        "GET /el7/x86_64/repodata/repomd.xml.asc ",
        "GET /RPM-GPG-KEY-proxy-rpm ",
        "GET /el7/x86_64/istio-sidecar-1.6.14-1.el7.x86_64.rpm ",
        "GET /el7/x86_64/istio-proxy-1.6.14-1.el7.x86_64.rpm ",
    ] {
        assert!(requests.contains(path), "{path} in:\n{requests}");
    }
    // The scriptlets ran in the root: the user exists, and nothing differs from the packages.
    assert!(root.ids("istio-proxy").is_some(), "%pre made istio-proxy");
    root.verify_clean(&["istio-proxy", "istio-sidecar"], "dnf install");

    // gpgcheck covers the sidecar too: the same package signed by another key, in a
    // repository whose metadata matches it, is refused.
    let stranger = r.gpg.rsa("stranger@localhost");
    let plain = r.repo.join("plain");
    std::fs::create_dir(&plain).unwrap();
    let forged = plain.join(r.sidecar.file_name().unwrap());
    std::fs::copy(r.inputs.sidecar(&[]), &forged).unwrap();
    sign(&forged, &stranger);
    for rpm in [&r.proxy, &r.names] {
        std::fs::copy(rpm, plain.join(rpm.file_name().unwrap())).unwrap();
    }
    run(Command::new("createrepo_c")
        .args(["-q", "--general-compress-type=gz"])
        .arg(&plain));
    let other = Dnf::new(&r.dir.path().join("forged"));
    other.add_repo(
        "istio-proxy",
        &format!(
            "[istio-proxy-plain]\nname=plain\nbaseurl={}/plain/\ngpgcheck=1\nrepo_gpgcheck=0\ngpgkey={}/RPM-GPG-KEY-proxy-rpm\n",
            r.server.url(),
            r.server.url()
        ),
    );
    let err = fails(&mut other.cmd(&["install", "istio-sidecar"]));
    assert!(err.contains("GPG check FAILED"), "{err}");
    assert!(!other.installed().contains("istio-sidecar"), "{err}");
}
