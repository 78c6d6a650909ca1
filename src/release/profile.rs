//! Release profiles: for each Istio release line this tool builds, what differs from the other
//! lines (its releases and their pins, Istio's packaging files and where they go, how
//! pilot-agent is built, the builder image Envoy needs). The facts live in
//! `profiles/releases.toml`, compiled in and checked when first read; the rest of the code asks
//! a profile, never which line a version is on.

use std::sync::OnceLock;

use serde::Deserialize;

use super::{IstioVersion, is_commit_sha};

/// The data, as shipped in this repository.
pub const DATA: &str = include_str!("../../profiles/releases.toml");
/// Where `DATA` comes from, for messages.
pub const DATA_PATH: &str = "profiles/releases.toml";
/// The builder image `proxy-rpm image` builds (containers/centos7/Dockerfile as it is).
pub const BASE_IMAGE_VARIANT: &str = "centos7";
/// The inputs the pipeline feeds from Istio's packaging files: every line names each once.
pub const PACKAGING_INPUTS: [&str; 4] =
    ["sidecar-env", "bootstrap", "istio-start", "istio-service"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    line: Vec<Profile>,
}

/// One release line, e.g. 1.7: Istio 1.7.0 to 1.7.8.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `MAJOR.MINOR`.
    pub line: String,
    /// The oldest and newest patch release supported.
    pub first: u16,
    pub last: u16,
    /// Where the packaging files are in istio/istio.
    pub packaging_dir: String,
    pub packaging: Vec<PackagingFile>,
    pub agent: Agent,
    pub builder: Builder,
    /// One per patch release, `first` to `last` in order.
    #[serde(rename = "release")]
    pub releases: Vec<Release>,
    #[serde(skip)]
    major: u16,
    #[serde(skip)]
    minor: u16,
}

/// One of Istio's packaging files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagingFile {
    /// Its name in `packaging_dir`, kept in `WORKDIR/files/`.
    pub name: String,
    /// `istio-proxy` or `istio-sidecar`.
    pub package: String,
    /// The spec input it feeds.
    pub input: String,
    /// Where the package installs it.
    pub destination: String,
}

/// How pilot-agent is built for this line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The Go release series it is built with, e.g. "1.14".
    pub go: String,
}

/// The builder image Envoy's compile needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// `centos7` for the image `proxy-rpm image` builds; another name for that image plus
    /// `needs`: a variant built in (src/container/variant.rs, containers/VARIANT/Dockerfile),
    /// built FROM it by `proxy-rpm image --variant VARIANT` and by the image stage.
    pub variant: String,
    /// Tools beyond the base image's, empty for the base image.
    pub needs: Vec<String>,
}

impl Builder {
    /// Whether the image `proxy-rpm image` builds serves this line's Envoy as it is.
    pub fn is_base(&self) -> bool {
        self.needs.is_empty()
    }

    /// "centos7" or "centos7-python3-gn (centos7 + python3, gn)".
    pub fn describe(&self) -> String {
        if self.is_base() {
            self.variant.clone()
        } else {
            format!(
                "{} ({BASE_IMAGE_VARIANT} + {})",
                self.variant,
                self.needs.join(", ")
            )
        }
    }
}

/// One patch release of a line.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub patch: u16,
    /// The istio/proxy commit `istio.deps` pins at the tag.
    pub proxy: String,
    /// The Bazel version that commit's `.bazelversion` names.
    pub bazel: String,
    /// Go build tags Istio's Makefile gives pilot-agent (`-tags=…`).
    #[serde(default)]
    pub agent_tags: Vec<String>,
}

/// Every profile, oldest line first.
pub fn profiles() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        parse(DATA).unwrap_or_else(|e| panic!("{DATA_PATH} (checked by the tests): {e}"))
    })
}

/// The profile of `version`'s line, if this tool builds that line.
pub fn of(version: IstioVersion) -> Option<&'static Profile> {
    profiles()
        .iter()
        .find(|p| (p.major, p.minor) == (version.major, version.minor))
}

/// Parse and check profile data.
pub fn parse(text: &str) -> Result<Vec<Profile>, String> {
    let data: Data = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut profiles = data.line;
    if profiles.is_empty() {
        return Err("no [[line]]".into());
    }
    for p in &mut profiles {
        p.check().map_err(|e| format!("line {:?}: {e}", p.line))?;
    }
    for pair in profiles.windows(2) {
        if (pair[0].major, pair[0].minor) >= (pair[1].major, pair[1].minor) {
            return Err(format!(
                "line {:?} is not after {:?}: oldest first, each once",
                pair[1].line, pair[0].line
            ));
        }
    }
    Ok(profiles)
}

impl Profile {
    fn check(&mut self) -> Result<(), String> {
        let (major, minor) = self
            .line
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or("`line` is not MAJOR.MINOR")?;
        (self.major, self.minor) = (major, minor);
        if self.first > self.last {
            return Err(format!("first {} is after last {}", self.first, self.last));
        }
        let patches: Vec<u16> = self.releases.iter().map(|r| r.patch).collect();
        if !patches.iter().copied().eq(self.first..=self.last) {
            return Err(format!(
                "releases must be patches {} to {} in order, once each; found {patches:?}",
                self.first, self.last
            ));
        }
        for r in &self.releases {
            if !is_commit_sha(&r.proxy) {
                return Err(format!("patch {}: proxy is not a 40-digit commit", r.patch));
            }
            if !is_dotted(&r.bazel, 3) {
                return Err(format!(
                    "patch {}: bazel {:?} is not X.Y.Z",
                    r.patch, r.bazel
                ));
            }
        }
        for input in PACKAGING_INPUTS {
            let count = self.packaging.iter().filter(|f| f.input == input).count();
            if count != 1 {
                return Err(format!(
                    "packaging input {input:?} appears {count} times, not once"
                ));
            }
        }
        for f in &self.packaging {
            let plain = !f.name.is_empty() && !f.name.contains('/') && !f.name.starts_with('.');
            if !plain || !f.destination.starts_with('/') {
                return Err(format!(
                    "packaging file {:?}: a plain name and an absolute destination",
                    f.name
                ));
            }
        }
        if !is_dotted(&self.agent.go, 2) {
            return Err(format!(
                "agent.go {:?} is not a Go series like 1.14",
                self.agent.go
            ));
        }
        if self.builder.is_base() != (self.builder.variant == BASE_IMAGE_VARIANT) {
            return Err(format!(
                "builder variant {:?}: {BASE_IMAGE_VARIANT} exactly when it needs nothing more",
                self.builder.variant
            ));
        }
        Ok(())
    }

    /// `version` as a release of this line, if it is one.
    pub fn release(&self, version: IstioVersion) -> Option<&Release> {
        if (version.major, version.minor) != (self.major, self.minor) {
            return None;
        }
        self.releases.iter().find(|r| r.patch == version.patch)
    }

    pub fn version(&self, release: &Release) -> IstioVersion {
        IstioVersion::new(self.major, self.minor, release.patch)
    }

    pub fn first_version(&self) -> IstioVersion {
        IstioVersion::new(self.major, self.minor, self.first)
    }

    pub fn last_version(&self) -> IstioVersion {
        IstioVersion::new(self.major, self.minor, self.last)
    }

    /// "1.7.0 to 1.7.8".
    pub fn range(&self) -> String {
        format!("{} to {}", self.first_version(), self.last_version())
    }

    /// The packaging file feeding `input` (one of `PACKAGING_INPUTS`).
    pub fn file(&self, input: &str) -> &PackagingFile {
        self.packaging
            .iter()
            .find(|f| f.input == input)
            .unwrap_or_else(|| panic!("{DATA_PATH}: line {} has no {input} file", self.line))
    }

    /// The packaging file names, in the data's order.
    pub fn file_names(&self) -> Vec<&str> {
        self.packaging.iter().map(|f| f.name.as_str()).collect()
    }
}

/// "1.14" (`parts` 2) or "3.1.0" (`parts` 3): decimal numbers separated by dots.
fn is_dotted(s: &str, parts: usize) -> bool {
    let numbers: Vec<&str> = s.split('.').collect();
    numbers.len() == parts
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_data_is_valid_and_covers_1_6_and_1_7() {
        let all = parse(DATA).unwrap();
        let lines: Vec<(&str, String)> = all.iter().map(|p| (p.line.as_str(), p.range())).collect();
        assert_eq!(
            lines,
            [
                ("1.6", "1.6.0 to 1.6.14".to_string()),
                ("1.7", "1.7.0 to 1.7.8".to_string())
            ]
        );
        let v = |s: &str| s.parse::<IstioVersion>().unwrap();
        let p16 = of(v("1.6.14")).unwrap();
        assert_eq!(p16.file("bootstrap").name, "envoy_bootstrap_v2.json");
        assert_eq!(p16.release(v("1.6.14")).unwrap().bazel, "2.2.0");
        assert_eq!(p16.release(v("1.6.15")), None);
        assert_eq!(p16.release(v("1.7.0")), None);
        assert!(p16.builder.is_base());
        let p17 = of(v("1.7.8")).unwrap();
        assert_eq!(p17.file("bootstrap").name, "envoy_bootstrap.json");
        assert_eq!(
            p17.file("bootstrap").destination,
            "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
        );
        let r = p17.release(v("1.7.8")).unwrap();
        assert_eq!(r.proxy, "d68172a37cb87c52d683a906bd2fba90060f8d82");
        assert_eq!(
            (r.bazel.as_str(), r.agent_tags.as_slice()),
            ("3.1.0", &["agent".to_string()][..])
        );
        assert!(p17.release(v("1.7.4")).unwrap().agent_tags.is_empty());
        assert!(!p17.builder.is_base());
        assert!(of(v("1.8.0")).is_none() && of(v("1.5.10")).is_none());
    }

    /// Each profile's destinations are where the built-in specs install those inputs.
    #[test]
    fn destinations_agree_with_the_built_in_specs() {
        let specs = [
            ("istio-proxy", crate::spec::Spec::builtin()),
            ("istio-sidecar", crate::spec::Spec::builtin_sidecar()),
        ];
        for p in profiles() {
            for f in &p.packaging {
                let (_, spec) = specs.iter().find(|(name, _)| *name == f.package).unwrap();
                let file = spec
                    .files
                    .iter()
                    .find(|s| s.source.as_deref() == Some(f.input.as_str()))
                    .unwrap_or_else(|| panic!("{} has no input {}", f.package, f.input));
                assert_eq!(file.path, f.destination, "{} {}", p.line, f.name);
            }
        }
    }

    /// The Go of the builder image is of every line's series.
    #[test]
    fn the_builder_image_go_is_each_lines_series() {
        let dockerfile = include_str!("../../containers/centos7/Dockerfile");
        let go = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("ARG GO_VERSION="))
            .expect("the Dockerfile pins Go");
        for p in profiles() {
            assert!(
                go.starts_with(&format!("{}.", p.agent.go)),
                "{} vs {go}",
                p.line
            );
        }
    }

    #[test]
    fn bad_data_is_refused_with_the_line_and_the_problem() {
        let good = DATA;
        for (from, to, expected) in [
            (
                "patch = 3\n",
                "patch = 4\n",
                "line \"1.6\": releases must be patches 0 to 14",
            ),
            (
                "last = 8\n",
                "last = 9\n",
                "line \"1.7\": releases must be patches 0 to 9",
            ),
            ("bazel = \"3.1.0\"", "bazel = \"3.1\"", "is not X.Y.Z"),
            (
                "input = \"bootstrap\"",
                "input = \"boot\"",
                "\"bootstrap\" appears 0 times",
            ),
            ("go = \"1.14\"", "go = \"go1.14\"", "is not a Go series"),
            ("needs = []", "needs = [\"gn\"]", "centos7 exactly when"),
            ("line = \"1.7\"", "line = \"1.6\"", "is not after"),
            ("packaging_dir", "packaging_path", "unknown field"),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(expected), "{from}: {err}");
        }
    }
}
