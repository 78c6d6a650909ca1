//! The package spec (`specs/istio-proxy.toml`, `specs/istio-sidecar.toml`): what rpmbuild's
//! `.spec` said, as typed data. Everything is checked when it is read, and every problem names
//! the spec line, so a bad spec fails before hours of building rather than at the end.

mod check;
mod relations;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use check::{check_input_name, check_word};
pub use relations::{Op, Requirement, ScriptWhen, Scriptlet};

use check::{check_owner, check_path, parse_date, parse_mode};

use crate::error::{Error, IoContext, Result};

/// How an upgrade treats a file the user may have edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Config {
    /// Not a config file: replaced on upgrade.
    #[default]
    No,
    /// `%config`: the user's edited copy is saved as `.rpmsave`.
    Yes,
    /// `%config(noreplace)`: the user's copy stays; the new one lands as `.rpmnew`.
    Noreplace,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    /// The name of the input its content comes from (`envoy`, `pilot-agent`…); `None` for a
    /// `%ghost`, which has no content in the package.
    pub source: Option<String>,
    pub mode: u16,
    pub user: String,
    pub group: String,
    pub config: Config,
    /// `%ghost`: listed (owner, mode, removed on erase) but not installed.
    pub ghost: bool,
    /// The input must be an x86_64 ELF executable CentOS 7 can run; the package's
    /// architecture comes from these files.
    pub elf: bool,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirSpec {
    pub path: String,
    pub mode: u16,
    pub user: String,
    pub group: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// Seconds since the epoch, noon UTC of the entry's date (as rpmbuild stores it).
    pub time: u32,
    pub author: String,
    pub text: String,
}

/// A validated spec.
#[derive(Clone, Debug)]
pub struct Spec {
    pub path: PathBuf,
    pub name: String,
    pub release: String,
    pub dist: String,
    pub license: String,
    pub group: String,
    pub url: String,
    /// Who built the package (`Packager:`), if the spec says.
    pub packager: Option<String>,
    pub summary: String,
    pub description: String,
    pub changelog: Vec<ChangelogEntry>,
    /// Explicit Requires, besides the automatic ones (ELF, scripts, rpmlib()).
    pub requires: Vec<Requirement>,
    /// Install scriptlets, in `ScriptWhen` order.
    pub scripts: Vec<Scriptlet>,
    /// Directories the package owns. The built-in istio-proxy spec has none, as Istio's own
    /// spec: an owned directory gets its owner and mode reset on every upgrade.
    pub dirs: Vec<DirSpec>,
    pub files: Vec<FileSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Spanned<String>,
    release: Spanned<String>,
    dist: Spanned<String>,
    license: String,
    #[serde(default = "default_group")]
    group: String,
    url: String,
    packager: Option<String>,
    summary: String,
    description: String,
    #[serde(default)]
    changelog: Vec<RawChangelog>,
    #[serde(default)]
    requires: Vec<relations::RawRequirement>,
    #[serde(default)]
    scripts: relations::RawScripts,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChangelog {
    date: Spanned<String>,
    author: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    path: Spanned<String>,
    mode: Spanned<String>,
    #[serde(default = "root")]
    user: String,
    #[serde(default = "root")]
    group: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: Spanned<String>,
    source: Option<Spanned<String>>,
    mode: Spanned<String>,
    #[serde(default = "root")]
    user: String,
    #[serde(default = "root")]
    group: String,
    #[serde(default)]
    config: Config,
    #[serde(default)]
    ghost: bool,
    #[serde(default)]
    elf: bool,
}

fn root() -> String {
    "root".to_string()
}

fn default_group() -> String {
    "Unspecified".to_string()
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).at(path)?;
        Spec::parse(path, &text)
    }

    /// The istio-proxy spec shipped in this repository, compiled in so the installed tool
    /// needs no checkout.
    pub fn builtin() -> Spec {
        Spec::parse(
            Path::new("specs/istio-proxy.toml"),
            include_str!("../specs/istio-proxy.toml"),
        )
        .expect("the built-in spec is checked by the tests")
    }

    /// The built-in istio-sidecar spec (pilot-agent, start script, unit, user).
    pub fn builtin_sidecar() -> Spec {
        Spec::parse(
            Path::new("specs/istio-sidecar.toml"),
            include_str!("../specs/istio-sidecar.toml"),
        )
        .expect("the built-in sidecar spec is checked by the tests")
    }

    /// The names of the inputs the files come from, sorted and unique.
    pub fn input_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .files
            .iter()
            .filter_map(|f| f.source.as_deref())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    pub fn parse(path: &Path, text: &str) -> Result<Spec> {
        let at = |offset: usize, message: String| Error::Spec {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawSpec = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            at(offset, e.message().to_string())
        })?;

        check_word(raw.name.get_ref(), "name").map_err(|m| at(raw.name.span().start, m))?;
        check_word(raw.release.get_ref(), "release")
            .map_err(|m| at(raw.release.span().start, m))?;
        check_word(raw.dist.get_ref(), "dist").map_err(|m| at(raw.dist.span().start, m))?;

        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut claim = |p: &Spanned<String>| -> Result<(String, usize)> {
            let line = line_of(text, p.span().start);
            let clean = check_path(p.get_ref()).map_err(|m| at(p.span().start, m))?;
            if let Some(first) = seen.insert(clean.clone(), line) {
                return Err(at(
                    p.span().start,
                    format!("duplicate destination {clean} (first at line {first})"),
                ));
            }
            Ok((clean, line))
        };

        let mut dirs = Vec::new();
        for d in raw.dirs {
            let (path, line) = claim(&d.path)?;
            let mode = parse_mode(d.mode.get_ref()).map_err(|m| at(d.mode.span().start, m))?;
            dirs.push(DirSpec {
                path,
                mode,
                user: d.user,
                group: d.group,
                line,
            });
        }
        let mut files = Vec::new();
        for f in raw.files {
            let (path, line) = claim(&f.path)?;
            let mode = parse_mode(f.mode.get_ref()).map_err(|m| at(f.mode.span().start, m))?;
            let source = match (&f.source, f.ghost) {
                (Some(s), false) => {
                    check_input_name(s.get_ref()).map_err(|m| at(s.span().start, m))?;
                    Some(s.get_ref().clone())
                }
                (None, true) => None,
                (Some(s), true) => {
                    return Err(at(
                        s.span().start,
                        format!("{path}: a ghost has no content; drop `source`"),
                    ));
                }
                (None, false) => {
                    return Err(at(
                        f.path.span().start,
                        format!("{path}: needs a `source` (or `ghost = true`)"),
                    ));
                }
            };
            if f.elf && f.ghost {
                return Err(at(
                    f.path.span().start,
                    format!("{path}: a ghost cannot be `elf = true`"),
                ));
            }
            files.push(FileSpec {
                path,
                source,
                mode,
                user: f.user,
                group: f.group,
                config: f.config,
                ghost: f.ghost,
                elf: f.elf,
                line,
            });
        }
        for owner in dirs
            .iter()
            .map(|d| (&d.user, &d.group, d.line))
            .chain(files.iter().map(|f| (&f.user, &f.group, f.line)))
        {
            for name in [owner.0, owner.1] {
                check_owner(name).map_err(|message| Error::Spec {
                    path: path.to_path_buf(),
                    line: owner.2,
                    message,
                })?;
            }
        }
        let mut requires = Vec::new();
        for r in raw.requires {
            let start = r.start();
            let mut req = relations::requirement(r).map_err(|(o, m)| at(o, m))?;
            req.line = line_of(text, start);
            requires.push(req);
        }
        let mut scripts = Vec::new();
        for (mut script, offset) in relations::scriptlets(raw.scripts).map_err(|(o, m)| at(o, m))? {
            script.line = line_of(text, offset);
            scripts.push(script);
        }
        let mut changelog = Vec::new();
        for c in raw.changelog {
            let time = parse_date(c.date.get_ref()).map_err(|m| at(c.date.span().start, m))?;
            changelog.push(ChangelogEntry {
                time,
                author: c.author,
                text: c.text,
            });
        }
        Ok(Spec {
            path: path.to_path_buf(),
            name: raw.name.into_inner(),
            release: raw.release.into_inner(),
            dist: raw.dist.into_inner(),
            license: raw.license,
            group: raw.group,
            url: raw.url,
            packager: raw.packager,
            summary: raw.summary,
            description: raw.description.trim().to_string(),
            changelog,
            requires,
            scripts,
            dirs,
            files,
        })
    }

    /// The error for a file whose input is missing or unreadable, pointing at its spec line.
    /// `source` describes the input with the flag that gives it: `envoy (--envoy)`.
    pub fn input_error(&self, file: &FileSpec, source: &str, input: &Path, problem: &str) -> Error {
        self.error_at(
            file.line,
            format!(
                "{}: source {source} is {}: {problem}",
                file.path,
                input.display()
            ),
        )
    }

    /// An error pointing at a line of this spec.
    pub fn error_at(&self, line: usize, message: String) -> Error {
        Error::Spec {
            path: self.path.clone(),
            line,
            message,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
