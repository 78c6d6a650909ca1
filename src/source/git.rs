//! Talking to git remotes: the `--git-mirror` rewrite, retries with backoff for transient
//! failures, and errors that say which URL failed, what git said and what to try.
//! Proxy variables (HTTP(S)_PROXY, NO_PROXY…) reach git untouched: curl reads them itself.

use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::run::{Cmd, CommandError};
use crate::{Error, Reporter, Result};

/// Where the GitHub URLs that `--git-mirror` rewrites start.
pub const GITHUB: &str = "https://github.com/";

/// How fetches reach their remotes.
#[derive(Clone, Debug)]
pub struct Network {
    /// Replaces `https://github.com/` in repository URLs (`PREFIX/istio/proxy`).
    pub mirror: Option<String>,
    /// Tries per fetch, at least 1.
    pub attempts: u32,
    /// Wait before the first retry; doubled before each further one.
    pub backoff: Duration,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            mirror: None,
            attempts: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// The network options every subcommand that fetches shares.
#[derive(clap::Args, Clone, Debug)]
pub struct NetworkArgs {
    /// Fetch https://github.com/ORG/REPO from PREFIX/ORG/REPO instead (for hosts that cannot
    /// reach GitHub).
    #[arg(long, value_name = "PREFIX")]
    pub git_mirror: Option<String>,
    /// Tries per fetch before giving up.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub fetch_attempts: u32,
    /// Milliseconds to wait before the first retry (doubled before each further one).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub retry_delay_ms: u64,
}

impl NetworkArgs {
    pub fn network(&self) -> Network {
        Network {
            mirror: self.git_mirror.clone(),
            attempts: self.fetch_attempts,
            backoff: Duration::from_millis(self.retry_delay_ms),
        }
    }
}

impl Network {
    /// The URL to fetch `url` from: GitHub URLs move under the mirror prefix, others stay.
    pub fn url(&self, url: &str) -> String {
        match (&self.mirror, url.strip_prefix(GITHUB)) {
            (Some(prefix), Some(rest)) => format!("{}/{rest}", prefix.trim_end_matches('/')),
            _ => url.to_string(),
        }
    }

    /// Run a git command that talks to `url` (fetch, or a read that fetches lazily), retrying
    /// transient failures. `what` names the object for messages, e.g. "tag 1.6.14".
    pub fn retry<T>(
        &self,
        what: &str,
        url: &str,
        r: &Reporter,
        mut op: impl FnMut() -> Result<T, CommandError>,
    ) -> Result<T> {
        let attempts = self.attempts.max(1);
        let mut delay = self.backoff;
        for attempt in 1.. {
            let err = match op() {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if err.start_error.is_some() {
                return Err(err.into());
            }
            let said = git_said(&err);
            if is_permanent(&err) {
                return Err(Error::failed(format!(
                    "could not fetch {what} from {url}: {said}\n  \
                     hint: check that the URL names the right repository and that it has {what}"
                )));
            }
            if attempt >= attempts {
                return Err(Error::failed(format!(
                    "could not fetch {what} from {url} after {attempt} attempt{}: {said}\n  \
                     hint: if this host cannot reach {GITHUB}, pass --git-mirror PREFIX to fetch \
                     {GITHUB}ORG/REPO from PREFIX/ORG/REPO (HTTP(S)_PROXY and NO_PROXY are honoured)",
                    if attempt == 1 { "" } else { "s" }
                )));
            }
            r.warn(format!(
                "fetching {what} from {url} failed ({said}); retrying in {:.1}s (attempt {} of {attempts})",
                delay.as_secs_f64(),
                attempt + 1
            ));
            thread::sleep(delay);
            delay = delay.saturating_mul(2);
        }
        unreachable!("the loop returns")
    }
}

/// `git` with settings that keep it from prompting or localising the messages we match on.
pub fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "advice.detachedHead=false"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
}

/// Errors that another try cannot fix: the remote answered, and the thing is not there.
fn is_permanent(err: &CommandError) -> bool {
    const PERMANENT: &[&str] = &[
        "couldn't find remote ref",
        "not our ref",
        "does not appear to be a git repository",
        "repository not found",
        "could not read username",
        "authentication failed",
        "returned error: 404",
        "not a valid object name",
        "invalid object name",
    ];
    err.tail.iter().any(|line| {
        let line = line.to_ascii_lowercase();
        PERMANENT.iter().any(|p| line.contains(p))
    })
}

/// What git said, in one line: its `fatal:`/`error:` lines, else its last line.
fn git_said(err: &CommandError) -> String {
    let lines: Vec<&str> = err
        .tail
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .collect();
    if !lines.is_empty() {
        return lines.join("; ");
    }
    match (
        err.tail.iter().rev().find(|l| !l.trim().is_empty()),
        err.status,
    ) {
        (Some(line), _) => line.trim().to_string(),
        (None, Some(code)) => format!("git exited with status {code}"),
        (None, None) => "git was killed by a signal".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rewrites_only_github_urls() {
        let net = Network {
            mirror: Some("http://mirror.example/git/".into()),
            ..Network::default()
        };
        assert_eq!(
            net.url("https://github.com/istio/proxy"),
            "http://mirror.example/git/istio/proxy"
        );
        assert_eq!(net.url("file:///srv/proxy"), "file:///srv/proxy");
        assert_eq!(
            Network::default().url("https://github.com/istio/istio"),
            "https://github.com/istio/istio"
        );
    }

    fn failure(tail: &[&str]) -> CommandError {
        CommandError {
            command: "git fetch".into(),
            status: Some(128),
            start_error: None,
            log: None,
            tail: tail.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn retries_transient_failures_then_names_url_and_hint() {
        let net = Network {
            backoff: Duration::ZERO,
            ..Network::default()
        };
        let mut calls = 0;
        let err = net
            .retry(
                "commit abc",
                "http://127.0.0.1:1/x",
                &Reporter::silent(),
                || {
                    calls += 1;
                    Err::<(), _>(failure(&["fatal: unable to access 'x': Couldn't connect"]))
                },
            )
            .unwrap_err()
            .to_string();
        assert_eq!(calls, 3);
        assert!(
            err.contains("http://127.0.0.1:1/x after 3 attempts"),
            "{err}"
        );
        assert!(err.contains("Couldn't connect"), "{err}");
        assert!(err.contains("--git-mirror"), "{err}");

        let mut calls = 0;
        let ok = net.retry("x", "y", &Reporter::silent(), || {
            calls += 1;
            if calls < 3 {
                Err(failure(&["fatal: early EOF"]))
            } else {
                Ok(7)
            }
        });
        assert_eq!(ok.unwrap(), 7);
    }

    #[test]
    fn does_not_retry_missing_refs() {
        let mut calls = 0;
        let err = Network::default()
            .retry("tag 9.9.9", "file:///r", &Reporter::silent(), || {
                calls += 1;
                Err::<(), _>(failure(&[
                    "fatal: couldn't find remote ref refs/tags/9.9.9",
                ]))
            })
            .unwrap_err()
            .to_string();
        assert_eq!(calls, 1);
        assert!(
            err.contains("could not fetch tag 9.9.9 from file:///r: fatal: couldn't"),
            "{err}"
        );
    }
}
