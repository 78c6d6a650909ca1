//! A source tree at exactly one commit: istio/proxy at the pin, istio/istio at the release tag.
//! One shallow fetch (never a clone), made in a scratch directory and renamed into place, so a
//! failed fetch leaves nothing behind; a tree already there is kept only if it is at that commit
//! and clean, unless `--force`.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::{Error, Reporter, Result};

use super::git::{Network, git};

/// What `ensure` did to the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeAction {
    /// Fetched afresh (shallow, one commit).
    Fetched,
    /// Already at the pin and clean: nothing done.
    InPlace,
    /// At the pin with local changes, discarded because of `--force`.
    Reset,
}

impl TreeAction {
    /// How a progress step ends for it.
    pub fn done(self) -> &'static str {
        match self {
            TreeAction::Fetched => "fetched",
            TreeAction::InPlace => "already in place",
            TreeAction::Reset => "local changes discarded",
        }
    }
}

/// What is at the tree's path now.
enum State {
    Missing,
    NotGit,
    Clean,
    Dirty(Vec<String>),
    Elsewhere(String),
}

fn inspect(tree: &Path, pin: &str, r: &Reporter) -> Result<State> {
    if !tree.exists() {
        return Ok(State::Missing);
    }
    // Check for the tree's own `.git`: `git -C` would otherwise find an enclosing repository.
    if !tree.join(".git").exists() {
        return Ok(State::NotGit);
    }
    let head = git(tree)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .read(r)
        .unwrap_or_else(|_| "no commit".to_string());
    if head != pin {
        return Ok(State::Elsewhere(head));
    }
    let status = git(tree)
        .args([
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=normal",
        ])
        .read(r)?;
    let changes: Vec<String> = status.lines().map(|l| l.trim().to_string()).collect();
    Ok(if changes.is_empty() {
        State::Clean
    } else {
        State::Dirty(changes)
    })
}

/// A repository to have checked out at one commit.
#[derive(Clone, Copy, Debug)]
pub struct Checkout<'a> {
    /// How messages name the repository: `istio/proxy`.
    pub name: &'a str,
    pub tree: &'a Path,
    /// Used as given: apply `Network::url` before.
    pub url: &'a str,
    /// What to ask the remote for: the commit itself, or a ref (`refs/tags/1.6.14`).
    pub fetch: &'a str,
    /// The commit the tree must end up at.
    pub commit: &'a str,
    /// How messages name `fetch` when it is a ref: `tag 1.6.14`.
    pub label: Option<&'a str>,
    pub force: bool,
}

impl Checkout<'_> {
    /// "istio/proxy commit SHA", "istio/istio tag 1.6.14".
    fn what(&self) -> String {
        match self.label {
            Some(label) => format!("{} {label}", self.name),
            None => format!("{} commit {}", self.name, self.commit),
        }
    }

    /// "the pin SHA", "tag 1.6.14 (SHA)".
    fn wanted(&self) -> String {
        match self.label {
            Some(label) => format!("{label} ({})", self.commit),
            None => format!("the pin {}", self.commit),
        }
    }
}

/// Make `tree` a checkout of istio/proxy `url` at `pin`, or say why not.
pub fn ensure(
    tree: &Path,
    url: &str,
    pin: &str,
    force: bool,
    net: &Network,
    log: &Path,
    r: &Reporter,
) -> Result<TreeAction> {
    let want = Checkout {
        name: "istio/proxy",
        tree,
        url,
        fetch: pin,
        commit: pin,
        label: None,
        force,
    };
    checkout(&want, net, log, r)
}

/// Make `want.tree` a checkout of `want.commit`, or say why not.
pub fn checkout(want: &Checkout, net: &Network, log: &Path, r: &Reporter) -> Result<TreeAction> {
    crate::preflight::require_git(r)?;
    let (tree, pin, force) = (want.tree, want.commit, want.force);
    let refuse = |what: String, fix: &str| {
        Error::failed(format!("{} {what}; pass --force to {fix}", tree.display()))
    };
    match inspect(tree, pin, r)? {
        State::Clean => return Ok(TreeAction::InPlace),
        State::Dirty(changes) if force => {
            r.warn(format!(
                "discarding {} local change(s) in {} (--force)",
                changes.len(),
                tree.display()
            ));
            git(tree)
                .args(["reset", "-q", "--hard", pin])
                .log(log)
                .run(r)?;
            git(tree).args(["clean", "-q", "-ffd"]).log(log).run(r)?;
            return Ok(TreeAction::Reset);
        }
        State::Dirty(changes) => {
            let shown: Vec<&str> = changes.iter().take(5).map(String::as_str).collect();
            let more = changes.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(refuse(
                format!("has local changes ({}{more})", shown.join(", ")),
                "discard them",
            ));
        }
        State::Elsewhere(head) if !force => {
            return Err(refuse(
                format!("is at {head}, not at {}", want.wanted()),
                "replace it",
            ));
        }
        State::NotGit if !force => {
            return Err(refuse(
                "exists but is not a git checkout".to_string(),
                "replace it",
            ));
        }
        State::Elsewhere(_) | State::NotGit => {
            r.warn(format!("replacing {} (--force)", tree.display()));
            remove(tree)?;
        }
        State::Missing => {}
    }
    fetch(want, net, log, r)?;
    Ok(TreeAction::Fetched)
}

fn remove(path: &Path) -> Result<()> {
    if path.is_dir() && !path.is_symlink() {
        fs::remove_dir_all(path).at(path)
    } else {
        fs::remove_file(path).at(path)
    }
}

/// `git init` + `git fetch --depth 1 URL WHAT` + detached checkout, in a scratch directory
/// beside the tree, then renamed to it.
fn fetch(want: &Checkout, net: &Network, log: &Path, r: &Reporter) -> Result<()> {
    let (tree, url, pin) = (want.tree, want.url, want.commit);
    let parent = tree.parent().expect("the tree path has a parent");
    fs::create_dir_all(parent).at(parent)?;
    let name = tree.file_name().unwrap_or_default().to_string_lossy();
    let scratch = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(parent)
        .at(parent)?;
    let dir = scratch.path();
    git(dir).args(["init", "-q"]).log(log).run(r)?;
    git(dir)
        .args(["remote", "add", "origin", url])
        .log(log)
        .run(r)?;
    net.retry(&want.what(), url, r, || {
        git(dir)
            .args(["fetch", "--depth", "1", "--no-tags", "origin", want.fetch])
            .log(log)
            .run(r)
    })?;
    git(dir)
        .args(["checkout", "-q", "--detach", "FETCH_HEAD"])
        .log(log)
        .run(r)?;
    let head = git(dir).args(["rev-parse", "--verify", "HEAD"]).read(r)?;
    if head != pin {
        return Err(Error::failed(format!(
            "fetching {} from {url} checked out {head}, not {pin}",
            want.what()
        )));
    }
    let dir = scratch.keep();
    fs::rename(&dir, tree).at(tree).inspect_err(|_| {
        let _ = fs::remove_dir_all(&dir);
    })
}
