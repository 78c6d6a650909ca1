//! The built-in table: the releases this tool supports and the istio/proxy commit each one
//! pins, so that `resolve` works offline and can cross-check what the Istio repository says.
//! The rows are the `[[line.release]]` entries of the release profiles
//! (`profiles/releases.toml`).
//!
//! Each hash is the `lastStableSHA` of the `PROXY_REPO_SHA` entry of `istio.deps` at the
//! release's tag in istio/istio (the value its Makefile exports as `ISTIO_ENVOY_VERSION`); each
//! one is also the commit istio/proxy tagged with the same release number.
//!
//! Also the same table for people: each line's facts in a row of README.md.

use std::fmt::Write;

use super::{IstioVersion, Profile, Release, profile};

/// Every supported release and its pin, oldest first.
pub fn pins() -> Vec<(IstioVersion, &'static str)> {
    profile::profiles()
        .iter()
        .flat_map(|p| {
            p.releases
                .iter()
                .map(move |r| (p.version(r), r.proxy.as_str()))
        })
        .collect()
}

/// "1.6.0 to 1.6.14, 1.7.0 to 1.7.8": every line's releases.
pub fn ranges() -> String {
    let ranges: Vec<String> = profile::profiles().iter().map(|p| p.range()).collect();
    ranges.join(", ")
}

/// "supported releases: Istio 1.6.0 to 1.6.14, 1.7.0 to 1.7.8", for error messages.
pub fn supported() -> String {
    format!("supported releases: Istio {}", ranges())
}

/// The newest supported release, the example messages give.
pub fn newest() -> IstioVersion {
    profile::profiles()
        .last()
        .expect("the profiles are not empty")
        .last_version()
}

impl Profile {
    /// The Bazel versions of the line, each with the releases naming it:
    /// "2.0.0 (1.6.0 to 1.6.5), 2.2.0 (1.6.6 to 1.6.14)", or "3.1.0" when all agree.
    pub fn bazel_summary(&self) -> String {
        self.runs(|r| r.bazel.clone())
    }

    /// "1.14", with the releases built with tags: "1.14, `-tags=agent` from 1.7.5".
    pub fn agent_summary(&self) -> String {
        let mut s = self.agent.go.clone();
        let tagged: Vec<&Release> = self
            .releases
            .iter()
            .filter(|r| !r.agent_tags.is_empty())
            .collect();
        if let Some(first) = tagged.first() {
            let tags = first.agent_tags.join(",");
            let all_after = tagged.len() == (self.last - first.patch + 1) as usize
                && tagged.iter().all(|r| r.agent_tags == first.agent_tags);
            let which = match all_after {
                true => format!("from {}", self.version(first)),
                false => self.runs(|r| r.agent_tags.join(",")),
            };
            let _ = write!(s, ", `-tags={tags}` {which}");
        }
        s
    }

    /// Consecutive releases grouped by `key`: "A (x to y), B (z)"; just "A" if one group.
    fn runs(&self, key: impl Fn(&Release) -> String) -> String {
        let mut groups: Vec<(String, &Release, &Release)> = Vec::new();
        for r in &self.releases {
            match groups.last_mut() {
                Some((k, _, end)) if *k == key(r) => *end = r,
                _ => groups.push((key(r), r, r)),
            }
        }
        if groups.len() == 1 {
            return groups.remove(0).0;
        }
        let part = |(k, a, b): &(String, &Release, &Release)| match a.patch == b.patch {
            true => format!("{k} ({})", self.version(a)),
            false => format!("{k} ({} to {})", self.version(a), self.version(b)),
        };
        groups.iter().map(part).collect::<Vec<_>>().join(", ")
    }
}

/// README.md's table of supported releases, between `<!-- releases:begin -->` and
/// `<!-- releases:end -->` (tests/profiles.rs compares the README with it).
pub fn readme_table() -> String {
    let mut s = String::from(
        "| Istio | Bootstrap template (installed as envoy_bootstrap_tmpl.json) | Bazel (istio/proxy .bazelversion) | Go for pilot-agent | Builder image for Envoy |\n\
         |---|---|---|---|---|\n",
    );
    for p in profile::profiles() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            p.range(),
            p.file("bootstrap").name,
            p.bazel_summary(),
            p.agent_summary(),
            p.builder.describe()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(version: IstioVersion) -> Option<&'static str> {
        crate::release::builtin_pin(version).ok()
    }

    #[test]
    fn table_is_sorted_complete_and_well_formed() {
        let pins = pins();
        assert_eq!(pins.len(), 15 + 9);
        assert!(pins.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(pins[0].0, IstioVersion::new(1, 6, 0));
        for (version, sha) in &pins {
            assert_eq!(pin(*version), Some(*sha));
        }
        assert_eq!(
            pin(IstioVersion::new(1, 6, 14)),
            Some("1ef6cb53abbb057185f4bcb60e28cf92c3a174ad")
        );
        assert_eq!(
            pin(IstioVersion::new(1, 7, 0)),
            Some("f642a7fd07d0a99944a6e3529566e7985829839c")
        );
        assert_eq!(pin(IstioVersion::new(1, 6, 15)), None);
        assert_eq!(pin(IstioVersion::new(1, 7, 9)), None);
        assert_eq!(pin(IstioVersion::new(1, 8, 0)), None);
        assert_eq!(
            supported(),
            "supported releases: Istio 1.6.0 to 1.6.14, 1.7.0 to 1.7.8"
        );
        assert_eq!(newest(), IstioVersion::new(1, 7, 8));
    }

    #[test]
    fn summaries_group_consecutive_releases() {
        let v = |s: &str| profile::of(s.parse().unwrap()).unwrap();
        assert_eq!(
            v("1.6.0").bazel_summary(),
            "2.0.0 (1.6.0 to 1.6.5), 2.2.0 (1.6.6 to 1.6.14)"
        );
        assert_eq!(v("1.7.0").bazel_summary(), "3.1.0");
        assert_eq!(v("1.6.0").agent_summary(), "1.14");
        assert_eq!(v("1.7.0").agent_summary(), "1.14, `-tags=agent` from 1.7.5");
        assert_eq!(v("1.6.0").builder.describe(), "centos7");
        assert_eq!(
            v("1.7.0").builder.describe(),
            "centos7-python3-gn (centos7 + python3, gn)"
        );
    }
}
