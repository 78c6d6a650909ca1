//! Inputs for istio-proxy and istio-sidecar packages of one Istio version: a recording
//! pilot-agent (a static C program), Istio's own istio-start.sh and istio.service when a clone
//! of istio/istio is at hand (else stand-ins of ours), and a package that provides the
//! CentOS 7 names the sidecar requires, so rpm installs both without --nodeps.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::{bin, old_glibc_elf, repo_root, rpmbuild_bb, run};

/// A pilot-agent stand-in: prints one line with its ids, arguments and the environment
/// istio-start.sh passes (newlines shown as |), so a test sees each call. Static, as the real
/// one (CGO_ENABLED=0), so it runs in any root.
const PILOT_AGENT_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void show(const char *name) {
    const char *v = getenv(name);
    printf(" %s=", name);
    for (; v && *v; v++) putchar(*v == '\n' ? '|' : *v);
}
int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        puts("pilot-agent fixture version");
        return 0;
    }
    printf("pilot-agent uid=%d", (int)getuid());
    for (int i = 1; i < argc; i++) printf(" arg=%s", argv[i]);
    show("INSTANCE_IP");
    show("POD_NAME");
    show("POD_NAMESPACE");
    show("ISTIO_SERVICE_CIDR");
    show("ISTIO_INBOUND_PORTS");
    show("PROXY_CONFIG");
    putchar('\n');
    return 0;
}
"#;

/// A clone of istio/istio to read the release's files from: `PROXY_RPM_TEST_ISTIO_GIT`, else
/// the snapshot this workplace keeps.
fn istio_git() -> Option<PathBuf> {
    let dir = std::env::var_os("PROXY_RPM_TEST_ISTIO_GIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/.mirror/istio+istio/repo"));
    dir.exists().then_some(dir)
}

/// `tools/packaging/common/NAME` at Istio's release tag, if a clone has it.
pub fn upstream_file(tag: &str, name: &str) -> Option<Vec<u8>> {
    let git = istio_git()?;
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&git)
        .args(["show", &format!("{tag}:tools/packaging/common/{name}")])
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// Why Istio's own files are not at hand, if they are not.
pub fn no_upstream() -> Option<String> {
    match upstream_file("1.6.14", "istio-start.sh") {
        Some(_) => None,
        None => {
            Some("no istio/istio clone with tag 1.6.14: set PROXY_RPM_TEST_ISTIO_GIT to one".into())
        }
    }
}

/// The inputs of both packages for one version.
pub struct Inputs {
    pub dir: TempDir,
    pub version: String,
    pub envoy: PathBuf,
    pub sidecar_env: PathBuf,
    pub bootstrap: PathBuf,
    pub pilot_agent: PathBuf,
    pub istio_start: PathBuf,
    pub istio_service: PathBuf,
    /// Whether istio-start.sh and istio.service are Istio's own.
    pub upstream: bool,
}

impl Inputs {
    pub fn new(version: &str) -> Inputs {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let envoy = old_glibc_elf(p);
        let pilot_agent = crate::support::compile(p, "pilot-agent", PILOT_AGENT_C, &["-static"]);
        let write = |name: &str, bytes: &[u8]| {
            let path = p.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let sidecar_env = write(
            "sidecar.env",
            format!("# sidecar.env of the {version} fixture\nISTIO_SERVICE_CIDR=10.0.0.0/8\n")
                .as_bytes(),
        );
        let bootstrap = write("envoy_bootstrap_v2.json", b"{}\n");
        let start = upstream_file(version, "istio-start.sh");
        let unit = upstream_file(version, "istio.service");
        let upstream = start.is_some() && unit.is_some();
        let istio_start = write(
            "istio-start.sh",
            &start.unwrap_or_else(|| {
                b"#!/bin/bash\n# stand-in start script\nexec /usr/local/bin/pilot-agent proxy\n"
                    .to_vec()
            }),
        );
        let istio_service = write(
            "istio.service",
            &unit.unwrap_or_else(|| {
                b"[Unit]\nDescription=stand-in sidecar unit\n\n[Service]\n\
                  ExecStart=/usr/local/bin/istio-start.sh\n\n[Install]\nWantedBy=multi-user.target\n"
                    .to_vec()
            }),
        );
        Inputs {
            dir,
            version: version.to_string(),
            envoy,
            sidecar_env,
            bootstrap,
            pilot_agent,
            istio_start,
            istio_service,
            upstream,
        }
    }

    fn out(&self) -> PathBuf {
        let out = self.dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        out
    }

    fn package(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> PathBuf {
        let mut cmd = Command::new(bin());
        cmd.current_dir(repo_root())
            .args(["-q", "package", "--version", &self.version, "--out"])
            .arg(self.out())
            .env_remove("SOURCE_DATE_EPOCH");
        for a in args {
            cmd.arg(a);
        }
        let path = PathBuf::from(run(&mut cmd).trim());
        assert!(path.is_file(), "{}", path.display());
        path
    }

    /// istio-proxy from the fixture Envoy and files.
    pub fn proxy(&self) -> PathBuf {
        self.package(&[
            &"--envoy",
            &self.envoy,
            &"--sidecar-env",
            &self.sidecar_env,
            &"--bootstrap",
            &self.bootstrap,
        ])
    }

    /// istio-sidecar from the built-in spec, plus `extra` arguments.
    pub fn sidecar(&self, extra: &[&str]) -> PathBuf {
        let agent = format!("pilot-agent={}", self.pilot_agent.display());
        let start = format!("istio-start={}", self.istio_start.display());
        let unit = format!("istio-service={}", self.istio_service.display());
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"--builtin-spec",
            &"istio-sidecar",
            &"--input",
            &agent,
            &"--input",
            &start,
            &"--input",
            &unit,
        ];
        for e in extra {
            args.push(e);
        }
        self.package(&args)
    }
}

/// A package with no files that provides what CentOS 7's base packages would: the names the
/// sidecar requires, /bin/sh and /bin/bash, and what the fixture Envoy needs from glibc.
pub fn el7_names_rpm(dir: &Path) -> PathBuf {
    let rpms = rpmbuild_bb(
        &dir.join("names"),
        &dir.join("el7-names.spec"),
        EL7_NAMES_SPEC,
        &[],
    );
    rpms.join("noarch/el7-names-7-1.noarch.rpm")
}

const EL7_NAMES_SPEC: &str = "Name: el7-names\nVersion: 7\nRelease: 1\n\
     Summary: CentOS 7 names for install tests\nLicense: MIT\nBuildArch: noarch\n\
     Provides: bash iptables iproute hostname util-linux shadow-utils systemd\n\
     Provides: /bin/sh /bin/bash\n\
     Provides: libc.so.6()(64bit) libc.so.6(GLIBC_2.2.5)(64bit) rtld(GNU_HASH)\n\n\
     %description\nProvides only.\n\n%files\n";
