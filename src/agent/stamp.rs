//! The `go build` command line for pilot-agent, as Istio builds it: the flags of
//! `common/scripts/gobuild.sh`, the linker flags and build tags `Makefile.core.mk` gives it,
//! and the version variables `common/scripts/report_build_info.sh` fills (istio/istio@1.6.14;
//! at 1.7.8 the same flags, linker flags and variables, and the build tags the release
//! profile names: `-tags=agent` from 1.7.5).

use std::ffi::OsString;
use std::path::Path;

use crate::release::IstioVersion;

/// The package Istio's Makefile builds pilot-agent from (Makefile.core.mk `BINARIES`).
pub const PACKAGE: &str = "./pilot/cmd/pilot-agent";

/// Makefile.core.mk's `LDFLAGS` for every binary: `-s -w` strip the symbol table and DWARF
/// (Istio's RPM spec strips its binaries too, `strip -s`), `-extldflags -static` matters only
/// if cgo were on. gobuild.sh drops `LDFLAGS` when `STATIC` is not 1; up to 1.7.4 the Makefile
/// passes `STATIC=0` for pilot-agent too, so those images carry it unstripped; from 1.7.5 it is
/// built without `STATIC=0` (Makefile.core.mk `AGENT_BINARIES`, `-tags=agent`, RELEASE_LDFLAGS)
/// and stripped. What we package matches Istio's RPM either way.
pub const LDFLAGS: &str = "-extldflags -static -s -w";

/// The Go package whose variables carry the version stamp.
pub const VERSION_PACKAGE: &str = "istio.io/pkg/version";

/// report_build_info.sh's hub when `HUB` is unset.
pub const HUB: &str = "docker.io/istio";

/// What `pilot-agent version` reports, set with `-X` at link time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// `ISTIO_VERSION`: the release.
    pub version: String,
    /// `git rev-parse HEAD`: the commit the release tag points to.
    pub revision: String,
    /// "Clean": the tree is exactly the tag (the checkout refuses local changes).
    pub status: &'static str,
    /// `git describe --tags` at the tag's commit: the tag itself.
    pub tag: String,
    pub hub: String,
}

impl Stamp {
    pub fn release(version: IstioVersion, revision: &str) -> Stamp {
        Stamp {
            version: version.to_string(),
            revision: revision.to_string(),
            status: "Clean",
            tag: version.tag(),
            hub: HUB.to_string(),
        }
    }

    /// The `-X` assignments, in report_build_info.sh's order.
    pub fn assignments(&self) -> Vec<String> {
        [
            ("buildVersion", self.version.as_str()),
            ("buildGitRevision", self.revision.as_str()),
            ("buildStatus", self.status),
            ("buildTag", self.tag.as_str()),
            ("buildHub", self.hub.as_str()),
        ]
        .into_iter()
        .map(|(name, value)| format!("{VERSION_PACKAGE}.{name}={value}"))
        .collect()
    }

    /// The whole `-ldflags` value. The values have no spaces, which `-ldflags` would split on.
    pub fn ldflags(&self) -> String {
        let mut flags = LDFLAGS.to_string();
        for assignment in self.assignments() {
            flags.push_str(" -X ");
            flags.push_str(&assignment);
        }
        flags
    }
}

/// `go build -o OUT -trimpath -ldflags … [-tags=…] ./pilot/cmd/pilot-agent`. gobuild.sh also
/// passes `-pkgdir=$GOPATH/pkg/linux_amd64`, where only `go build -i` installs anything: with
/// the build cache in the cache dir it is not needed. The tags come where the Makefile puts
/// them, among gobuild.sh's last arguments, before the package (`-tags=agent
/// $(AGENT_BINARIES)`, istio/istio@1.7.8:Makefile.core.mk).
pub fn go_args(output: &Path, stamp: &Stamp, tags: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        "-o".into(),
        output.into(),
        "-trimpath".into(),
        "-ldflags".into(),
        stamp.ldflags().into(),
    ];
    if !tags.is_empty() {
        args.push(format!("-tags={}", tags.join(",")).into());
    }
    args.push(PACKAGE.into());
    args
}

/// gobuild.sh's environment: no cgo, so the binary is static; linux/amd64 (its defaults for
/// `GOOS`/`GOARCH`); modules on (Makefile.core.mk `GO111MODULE ?= on`). Go's caches live in the
/// cache dir: modules under `GOPATH/pkg/mod` (go 1.14 has no `GOMODCACHE`), builds in `GOCACHE`.
pub fn go_env(gopath: &Path, gocache: &Path) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    vec![
        ("CGO_ENABLED".into(), "0".into()),
        ("GOOS".into(), "linux".into()),
        ("GOARCH".into(), "amd64".into()),
        ("GO111MODULE".into(), "on".into()),
        ("GOPATH".into(), path(gopath)),
        ("GOCACHE".into(), path(gocache)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_of_a_release() {
        let stamp = Stamp::release(IstioVersion::new(1, 6, 14), "3ddc57b6");
        assert_eq!(
            stamp.ldflags(),
            "-extldflags -static -s -w \
             -X istio.io/pkg/version.buildVersion=1.6.14 \
             -X istio.io/pkg/version.buildGitRevision=3ddc57b6 \
             -X istio.io/pkg/version.buildStatus=Clean \
             -X istio.io/pkg/version.buildTag=1.6.14 \
             -X istio.io/pkg/version.buildHub=docker.io/istio"
        );
        let args = go_args(Path::new("/w/out/pilot-agent"), &stamp, &[]);
        assert_eq!(
            args[..4],
            ["build", "-o", "/w/out/pilot-agent", "-trimpath"]
        );
        assert_eq!(args.len(), 7);
        assert_eq!(args.last().unwrap(), "./pilot/cmd/pilot-agent");

        let tags = ["agent".to_string()];
        let args = go_args(Path::new("/w/out/pilot-agent"), &stamp, &tags);
        assert_eq!(args[6..], ["-tags=agent", "./pilot/cmd/pilot-agent"]);
    }
}
