//! `scripts/install-vm-sidecar.sh` for real: run with INSTALL_ROOT on a Debian minbase root
//! (support_root), it installs istio-sidecar and istio-proxy with dnf from a signed repository
//! served on 127.0.0.1 (support_vm), writes the mesh's cluster.env and certificates with their
//! owners and modes, enables and starts istio.service through a recording stand-in systemctl,
//! and fails when a check fails. Bad inputs are refused before anything changes.

mod support;
mod support_repo;
mod support_root;
mod support_sidecar;
mod support_vm;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{have, names, run};
use support_repo::{Dnf, fails, script};
use support_root::{Root, owner_mode};
use support_vm::SidecarRepo;

fn install_script(root: &Path, dnf: &Dnf, url: &str) -> Command {
    let mut cmd = Command::new(script("install-vm-sidecar.sh"));
    cmd.arg("--repo-url")
        .arg(url)
        .env("INSTALL_ROOT", root)
        .env("YUM", "dnf")
        .env("YUM_OPTS", dnf.options().join(" "))
        .env_remove("RPM")
        .env_remove("REPOS_DIR")
        .env_remove("KEY_DIR");
    cmd
}

/// A key and certificate pair, and another root certificate, as the mesh would hand out.
fn mesh_certs(dir: &Path) -> PathBuf {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(&certs).args(args));
    let self_signed = |key: &str, cert: &str, cn: &str| {
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", cn, "-keyout",
            key, "-out", cert,
        ])
    };
    self_signed("key.pem", "cert-chain.pem", "/CN=vm.vmns");
    self_signed("root-key.pem", "root-cert.pem", "/CN=mesh root");
    certs
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn installs_the_sidecar_writes_the_mesh_files_starts_it_and_checks() {
    if !support_vm::tools() || !have("openssl") || !have("chroot") {
        return;
    }
    let Some(root) = Root::new() else { return };
    let r = SidecarRepo::publish("1.6.14");
    root.stand_in_systemctl();
    let dnf = support_vm::dnf_for(&root);
    let url = r.server.url();
    let given = r.dir.path().join("vm-files");
    let certs = mesh_certs(&given);
    let cluster_env = given.join("cluster.env");
    std::fs::write(
        &cluster_env,
        "ISTIO_SERVICE_CIDR=10.96.0.0/12\nISTIO_INBOUND_PORTS=3306,8080\nISTIO_PILOT_PORT=15012\n",
    )
    .unwrap();
    let files = |cmd: &mut Command| {
        cmd.arg("--cluster-env")
            .arg(&cluster_env)
            .arg("--certs")
            .arg(&certs);
    };

    // A repository key other than the one expected: refused before anything is installed.
    let mut cmd = install_script(&root.path, &dnf, &url);
    files(cmd.args(["--key-fingerprint", &"0".repeat(40), "--start"]));
    let err = fails(&mut cmd);
    assert!(err.contains("not trusting it"), "{err}");
    assert!(!dnf.installed().contains("istio"), "{err}");
    assert!(!root.join("/etc/yum.repos.d/istio-proxy.repo").exists());
    assert_eq!(root.systemctl_calls(), Vec::<String>::new());

    // Install, write the files, start.
    let mut cmd = install_script(&root.path, &dnf, &url);
    files(cmd.args(["--key-fingerprint", &r.key.fpr, "--start"]));
    let (stdout, stderr) = text(&cmd.output().unwrap());
    assert_eq!(
        stdout, "istio-proxy-1.6.14-1.el7.x86_64\nistio-sidecar-1.6.14-1.el7.x86_64\n",
        "stdout: what was installed\nstderr: {stderr}"
    );
    let repo_file =
        std::fs::read_to_string(root.join("/etc/yum.repos.d/istio-proxy.repo")).unwrap();
    assert!(
        repo_file.contains("gpgcheck=1\nrepo_gpgcheck=1\n"),
        "{repo_file}"
    );

    // cluster.env is root's (istio-start.sh sources it as root); the certificates are
    // istio-proxy's (pilot-agent rewrites them), the key readable by it alone.
    let (uid, gid) = root.ids("istio-proxy").expect("user istio-proxy");
    assert_ne!(uid, 0);
    let env = root.join("/var/lib/istio/envoy/cluster.env");
    assert_eq!(
        std::fs::read(&env).unwrap(),
        std::fs::read(&cluster_env).unwrap()
    );
    assert_eq!(owner_mode(&env), (0, 0, 0o100644));
    for (name, mode) in [
        ("root-cert.pem", 0o100644),
        ("cert-chain.pem", 0o100644),
        ("key.pem", 0o100600),
    ] {
        let path = root.join(&format!("/etc/certs/{name}"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(certs.join(name)).unwrap(),
            "{name}"
        );
        assert_eq!(owner_mode(&path), (uid, gid, mode), "{name}");
    }
    // No temporary file left beside them.
    assert_eq!(
        names(&root.join("/etc/certs")),
        ["cert-chain.pem", "key.pem", "root-cert.pem"]
    );
    assert_eq!(
        names(&root.join("/var/lib/istio/envoy")),
        ["cluster.env", "envoy_bootstrap_tmpl.json", "sidecar.env"]
    );
    // %post's preset (run by dnf in the root), then enable, restart (new files), the check.
    assert_eq!(
        root.systemctl_calls(),
        [
            "preset istio.service",
            "enable istio.service",
            "restart istio.service",
            "is-active istio.service"
        ]
    );
    for line in [
        "envoy runs: envoy  version: fixture/1.0/Clean/RELEASE",
        "pilot-agent runs: pilot-agent fixture version",
        "istio.service is active",
    ] {
        assert!(stderr.contains(line), "{line} in:\n{stderr}");
    }

    // Again with the same files: nothing rewritten, so start, not restart.
    let mut cmd = install_script(&root.path, &dnf, &url);
    files(cmd.args(["--key-fingerprint", &r.key.fpr, "--start"]));
    let (_, stderr) = text(&cmd.output().unwrap());
    assert_eq!(
        stderr.matches("is already up to date").count(),
        4,
        "{stderr}"
    );
    assert!(!stderr.contains("wrote "), "{stderr}");
    assert_eq!(
        root.systemctl_calls(),
        [
            "enable istio.service",
            "start istio.service",
            "is-active istio.service"
        ]
    );

    // pilot-agent lost its setgid bit behind rpm's back: rpm -V reports it, the script fails.
    let agent = root.join("/usr/local/bin/pilot-agent");
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = fails(&mut install_script(&root.path, &dnf, &url));
    assert!(
        err.contains("rpm -V istio-proxy istio-sidecar found changed or missing files"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with(".M") && l.ends_with(" /usr/local/bin/pilot-agent")),
        "{err}"
    );
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let _ = root.systemctl_calls();

    // The unit does not come up: --start fails, naming where to look.
    std::fs::write(root.join("/var/tmp/start-fails"), "").unwrap();
    let mut cmd = install_script(&root.path, &dnf, &url);
    let err = fails(cmd.arg("--start"));
    assert!(
        err.contains(
            "istio.service is failed after systemctl start: see journalctl -u istio.service"
        ),
        "{err}"
    );
}

#[test]
fn bad_files_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let attempt = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut cmd = Command::new(script("install-vm-sidecar.sh"));
        cmd.args(["--repo-url", "http://127.0.0.1:9/"])
            .env("INSTALL_ROOT", &root)
            .env("YUM", "false")
            .env("RPM", "false");
        for a in args {
            cmd.arg(a);
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{stderr}");
        assert_eq!(stdout, "");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(names(&root).is_empty(), "nothing written: {stderr}");
        stderr
    };
    let env = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };

    // The first line written with `echo -n`, the next appended to it.
    let glued = env(
        "glued.env",
        "ISTIO_SERVICE_CIDR=10.96.0.0/12ISTIO_INBOUND_PORTS=3306,8080",
    );
    let err = attempt(&[&"--cluster-env", &glued]);
    assert!(
        err.contains(&format!(
            "--cluster-env {}: ISTIO_SERVICE_CIDR=10.96.0.0/12ISTIO_INBOUND_PORTS=3306,8080 is not a comma-separated list of CIDRs",
            glued.display()
        )),
        "{err}"
    );
    let words = env(
        "words.env",
        "ISTIO_SERVICE_CIDR=10.0.0.0/8\nrun something\n",
    );
    let err = attempt(&[&"--cluster-env", &words]);
    assert!(
        err.contains("line 2 is not NAME=VALUE: run something"),
        "{err}"
    );
    let ports = env(
        "ports.env",
        "ISTIO_SERVICE_CIDR='*'\nISTIO_INBOUND_PORTS=http\n",
    );
    let err = attempt(&[&"--cluster-env", &ports]);
    assert!(
        err.contains("ISTIO_INBOUND_PORTS=http is not a comma-separated list of ports"),
        "{err}"
    );
    let err = attempt(&[&"--cluster-env", &dir.path().join("missing.env")]);
    assert!(err.contains("missing.env: no such readable file"), "{err}");

    if !have("openssl") {
        return;
    }
    let certs = mesh_certs(dir.path());
    let key = std::fs::read(certs.join("key.pem")).unwrap();
    std::fs::remove_file(certs.join("key.pem")).unwrap();
    let err = attempt(&[&"--certs", &certs]);
    assert!(err.contains("key.pem is missing"), "{err}");
    // The root's key is not the workload certificate's.
    std::fs::copy(certs.join("root-key.pem"), certs.join("key.pem")).unwrap();
    let err = attempt(&[&"--certs", &certs]);
    assert!(
        err.contains("key.pem is not the key of cert-chain.pem's first certificate"),
        "{err}"
    );
    std::fs::write(certs.join("key.pem"), key).unwrap();
    std::fs::write(certs.join("cert-chain.pem"), "").unwrap();
    let err = attempt(&[&"--certs", &certs]);
    assert!(
        err.contains("cert-chain.pem holds no PEM certificate"),
        "{err}"
    );
}

#[test]
fn dry_run_prints_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("cluster.env");
    std::fs::write(&env, "ISTIO_SERVICE_CIDR=10.96.0.0/12\n").unwrap();
    let out = run(Command::new(script("install-vm-sidecar.sh"))
        .current_dir(dir.path())
        .args([
            "--repo-url",
            "https://repo.example/istio/",
            "--version",
            "1.6.14",
            "--cluster-env",
            "cluster.env",
            "--start",
            "--dry-run",
        ])
        .env_remove("INSTALL_ROOT")
        .env_remove("YUM")
        .env_remove("YUM_OPTS")
        .env_remove("RPM"));
    let expected = "\
+ curl -fsSL --retry 3 -o /etc/pki/rpm-gpg/RPM-GPG-KEY-proxy-rpm https://repo.example/istio/RPM-GPG-KEY-proxy-rpm
+ rpm --import /etc/pki/rpm-gpg/RPM-GPG-KEY-proxy-rpm
+ write /etc/yum.repos.d/istio-proxy.repo:
|[istio-proxy]
|name=istio-proxy (Envoy for Istio VMs) for CentOS 7 - $basearch
|baseurl=https://repo.example/istio/el7/$basearch/
|enabled=1
|gpgcheck=1
|repo_gpgcheck=1
|gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-proxy-rpm
|metadata_expire=1h
+ yum --setopt=skip_missing_names_on_install=0 -y install istio-proxy-1.6.14 istio-sidecar-1.6.14
+ write /var/lib/istio/envoy/cluster.env from cluster.env (owner 0:0, mode 0644)
+ systemctl enable istio.service
+ systemctl restart istio.service
+ rpm -V istio-proxy istio-sidecar
+ /usr/local/bin/envoy --version
+ /usr/local/bin/pilot-agent version
+ systemctl is-active istio.service
";
    assert_eq!(out, expected);
}
