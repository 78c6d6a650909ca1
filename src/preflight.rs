//! Checks that fail in seconds instead of an hour into a build: the versions of the host tools
//! we run (git here; the container engine in `container::detect`), and the version parsing they
//! share. `prepare`, `resolve` and `build` call [`require_git`] before they write anything;
//! `proxy-rpm doctor` reports the same facts without stopping at the first.

use std::fmt;
use std::sync::OnceLock;

use crate::run::Cmd;
use crate::{Error, Reporter, Result};

/// A dotted version, compared numerically (`1.13.1 < 17.05.0 < 20.10.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The first dotted number (at least `major.minor`) in a program's version line:
    /// `git version 2.39.3 (Apple Git-146)`, `git version 2.45.1.windows.1`,
    /// `Docker version 1.13.1, build 7d71120/1.13.1`, `17.05.0-ce`, `podman version 1.6.4`.
    pub fn find(text: &str) -> Option<Version> {
        Version::find_word(text).map(|(version, _)| version)
    }

    /// [`Version::find`], with the dotted number as written (`1.8.3.1` is compared as 1.8.3).
    pub fn find_word(text: &str) -> Option<(Version, &str)> {
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .find_map(|word| {
                let word = word.strip_prefix('v').unwrap_or(word);
                let end = word
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .unwrap_or(word.len());
                let digits = word[..end].trim_end_matches('.');
                let parts: Vec<u32> = digits
                    .split('.')
                    .map(|p| p.parse().ok())
                    .collect::<Option<_>>()?;
                let version = match parts[..] {
                    [major, minor] => Version(major, minor, 0),
                    [major, minor, patch, ..] => Version(major, minor, patch),
                    _ => return None,
                };
                Some((version, digits))
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest git with every feature `source::git`, `source::tree` and `release::tag` use
/// (release that brought each, from git's Documentation/RelNotes and history, github:git/git):
/// - `git -C DIR`: 1.8.5 (RelNotes/1.8.5);
/// - fetching by a commit hash no ref advertises (the `allow-reachable-sha1-in-want`
///   capability): 2.5.0 (RelNotes/2.5.0, commit 68ee628932);
/// - `git remote get-url`: 2.7.0 (RelNotes/2.7.0);
/// - `git --no-optional-locks`: 2.15.0 (RelNotes/2.15.0);
/// - partial clone: `fetch --filter=blob:none` into a repository whose `extensions.partialClone`
///   names the remote, and blobs fetched lazily when read: 2.17.0 (commit acb0c57260 "fetch:
///   support filters", RelNotes/2.17.0). `release::tag` sets that extension itself: a
///   `fetch --filter` into a plain `git init` repository only works from 2.28.0 (commit
///   01bbbbd9da), which CentOS 7's software collections (rh-git218, rh-git227) do not reach.
///
/// The features say 2.17.0; we ask for 2.18.0, the oldest git prepare and resolve were run with
/// (built from git's v2.18.0 tag), and what CentOS 7's rh-git218 collection gives.
pub const GIT_MINIMUM: Version = Version(2, 18, 0);

/// How to get a new enough git, for error messages.
pub const GIT_FIX: &str = "on CentOS 7 install rh-git218 from Software Collections \
     (centos-sclo-rh, on vault.centos.org since 7 ended) and run proxy-rpm under \
     `scl enable rh-git218 bash`; elsewhere install git from your distribution";

/// The git on `PATH`: its version, and that version as git wrote it (`1.8.3.1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Git {
    pub version: Version,
    pub shown: String,
}

/// Run `git --version` and parse it.
pub fn git_version(r: &Reporter) -> Result<Git> {
    let cmd = Cmd::new("git").arg("--version").env("LC_ALL", "C");
    let line = cmd.read(r).map_err(|e| {
        if e.start_error.is_some() {
            Error::input(format!(
                "git is not on PATH: proxy-rpm needs git >= {GIT_MINIMUM}; {GIT_FIX}"
            ))
        } else {
            Error::from(e)
        }
    })?;
    let line = line.trim();
    let (version, shown) = Version::find_word(line).ok_or_else(|| {
        Error::failed(format!(
            "`git --version` printed {line:?}, which names no version; proxy-rpm needs git >= {GIT_MINIMUM}"
        ))
    })?;
    Ok(Git {
        version,
        shown: shown.to_string(),
    })
}

impl Git {
    /// `Ok` when new enough, else the one-line refusal naming both versions and the fix.
    pub fn check(&self) -> Result<()> {
        if self.version >= GIT_MINIMUM {
            return Ok(());
        }
        Err(Error::input(format!(
            "git {} is too old: proxy-rpm needs git >= {GIT_MINIMUM} (partial clone and fetch \
             by commit); {GIT_FIX}",
            self.shown
        )))
    }
}

/// Refuse to go on with a git that would fail mid-way. Asked once per process.
pub fn require_git(r: &Reporter) -> Result<Version> {
    static FOUND: OnceLock<std::result::Result<Version, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        git_version(r)
            .and_then(|git| git.check().map(|()| git.version))
            .map_err(|e| e.to_string())
    });
    found.clone().map_err(Error::failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_in_vendor_lines() {
        let cases = [
            ("git version 2.39.3 (Apple Git-146)", Version(2, 39, 3)),
            ("git version 2.18.4", Version(2, 18, 4)),
            ("git version 1.8.3.1", Version(1, 8, 3)),
            ("git version 2.45.1.windows.1", Version(2, 45, 1)),
            (
                "Docker version 1.13.1, build 7d71120/1.13.1",
                Version(1, 13, 1),
            ),
            ("17.05.0-ce", Version(17, 5, 0)),
            ("podman version 1.6.4", Version(1, 6, 4)),
            ("5.0.0-dev", Version(5, 0, 0)),
            ("v20.10", Version(20, 10, 0)),
        ];
        for (text, want) in cases {
            assert_eq!(Version::find(text), Some(want), "{text}");
        }
        assert_eq!(Version::find("git version unknown"), None);
        assert_eq!(Version::find("build 7"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(Version(1, 13, 1) < Version(17, 5, 0));
        assert!(Version(17, 5, 0) < Version(20, 10, 0));
        assert!(Version(2, 9, 0) < Version(2, 17, 0));
    }

    #[test]
    fn old_git_is_refused_in_one_line_naming_both_versions_and_the_fix() {
        let git = |text: &str| {
            let (version, shown) = Version::find_word(text).unwrap();
            Git {
                version,
                shown: shown.to_string(),
            }
        };
        let err = git("git version 1.8.3.1").check().unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("git 1.8.3.1 is too old"), "{err}");
        assert!(err.contains(">= 2.18.0"), "{err}");
        assert!(err.contains("rh-git218"), "{err}");
        assert!(git("git version 2.17.0").check().is_err());
        assert!(git("git version 2.18.0").check().is_ok());
        assert!(git("git version 2.39.3 (Apple Git-146)").check().is_ok());
    }
}
