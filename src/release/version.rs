//! An Istio release number, parsed strictly: the tool builds exact releases, so `1.6`,
//! `v1.6.14` or `latest` are refused rather than guessed at.

use std::fmt;
use std::str::FromStr;

use crate::Error;

use super::table;

/// `MAJOR.MINOR.PATCH`, as Istio names its release tags (no `v`, no pre-release suffix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IstioVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl IstioVersion {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        IstioVersion {
            major,
            minor,
            patch,
        }
    }

    /// The tag of this release in istio/istio (the same text as the version).
    pub fn tag(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for IstioVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let malformed = || {
            Error::input(format!(
                "invalid Istio version {s:?}: expected an exact release such as {}; {}",
                table::newest(),
                table::supported()
            ))
        };
        let mut parts = s.split('.');
        let mut next = || parts.next().and_then(number).ok_or_else(malformed);
        let version = IstioVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(malformed());
        }
        Ok(version)
    }
}

/// A decimal component: digits only, no sign, no leading zero (Istio never writes `1.06.0`).
fn number(part: &str) -> Option<u16> {
    let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits || (part.len() > 1 && part.starts_with('0')) {
        return None;
    }
    part.parse().ok()
}

impl serde::Serialize for IstioVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IstioVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_releases() {
        let v: IstioVersion = "1.6.14".parse().unwrap();
        assert_eq!(v, IstioVersion::new(1, 6, 14));
        assert_eq!(v.tag(), "1.6.14");
        assert_eq!(
            "0.8.0".parse::<IstioVersion>().unwrap().to_string(),
            "0.8.0"
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "1.6",
            "1.6.",
            "1.6.14.1",
            "v1.6.14",
            "v1.6.14x",
            "1.6.14x",
            "latest",
            "1.06.14",
            "1.6.-1",
            "+1.6.14",
            "1.6.14-rc.0",
            " 1.6.14",
            "1.6.99999",
        ] {
            let err = bad.parse::<IstioVersion>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(
                err.contains(
                    "such as 1.7.8; supported releases: Istio 1.6.0 to 1.6.14, 1.7.0 to 1.7.8"
                ),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
