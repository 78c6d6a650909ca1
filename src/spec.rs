//! The package spec (`specs/istio-proxy.toml`): what rpmbuild's `.spec` said, as typed data.
//! Everything is checked when it is read, and every problem names the spec line, so a bad
//! spec fails before hours of building rather than at the end.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, IoContext, Result};

/// Which command-line input a packaged file comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Envoy,
    SidecarEnv,
    Bootstrap,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Envoy => "envoy (--envoy)",
            Source::SidecarEnv => "sidecar-env (--sidecar-env)",
            Source::Bootstrap => "bootstrap (--bootstrap)",
        })
    }
}

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
    pub source: Source,
    pub mode: u16,
    pub user: String,
    pub group: String,
    pub config: Config,
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
    source: Source,
    mode: Spanned<String>,
    #[serde(default = "root")]
    user: String,
    #[serde(default = "root")]
    group: String,
    #[serde(default)]
    config: Config,
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

    /// The spec shipped in this repository, compiled in so the installed tool needs no checkout.
    pub fn builtin() -> Spec {
        Spec::parse(
            Path::new("specs/istio-proxy.toml"),
            include_str!("../specs/istio-proxy.toml"),
        )
        .expect("the built-in spec is checked by the tests")
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
            files.push(FileSpec {
                path,
                source: f.source,
                mode,
                user: f.user,
                group: f.group,
                config: f.config,
                line,
            });
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
            dirs,
            files,
        })
    }

    /// The error for a file whose input is missing or unreadable, pointing at its spec line.
    pub fn input_error(&self, file: &FileSpec, input: &Path, problem: &str) -> Error {
        Error::Spec {
            path: self.path.clone(),
            line: file.line,
            message: format!(
                "{}: source {} is {}: {problem}",
                file.path,
                file.source,
                input.display()
            ),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Names, releases and dist tags: what rpm accepts in an NVR field (no `-`, no spaces).
pub fn check_word(value: &str, what: &str) -> std::result::Result<(), String> {
    let ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || "._+~^".contains(c) || (what == "name" && c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} may only contain letters, digits and . _ + ~ ^{}",
            if what == "name" { " -" } else { "" }
        ))
    }
}

/// An absolute, normalized destination inside the target system.
fn check_path(path: &str) -> std::result::Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must be absolute"));
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(format!("path {path:?} must not end with /"));
    }
    for part in path[1..].split('/') {
        match part {
            "" => return Err(format!("path {path:?} has an empty component")),
            "." | ".." => {
                return Err(format!(
                    "path {path:?} has a {part:?} component: destinations must not escape or wander"
                ));
            }
            _ if part.chars().any(|c| c.is_control()) => {
                return Err(format!("path {path:?} has a control character"));
            }
            _ => {}
        }
    }
    if path == "/" {
        return Err("path \"/\" cannot be packaged".to_string());
    }
    Ok(path.to_string())
}

/// Octal permission bits as a string ("0755"); the file type is added by the writer.
fn parse_mode(mode: &str) -> std::result::Result<u16, String> {
    let bad = || format!("mode {mode:?} must be octal permission bits such as \"0644\"");
    if mode.is_empty() || mode.len() > 4 || !mode.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(bad());
    }
    u16::from_str_radix(mode, 8).map_err(|_| bad())
}

/// "YYYY-MM-DD" → noon UTC of that day, in seconds since the epoch.
fn parse_date(date: &str) -> std::result::Result<u32, String> {
    let bad = || format!("date {date:?} must be YYYY-MM-DD");
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=2105).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    u32::try_from(days * 86_400 + 12 * 3600).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "istio-proxy"
release = "1"
dist = "el7"
license = "ASL 2.0"
url = "https://github.com/istio/proxy"
summary = "s"
description = "d"

[[dirs]]
path = "/var/lib/istio"
mode = "0755"

[[files]]
path = "/usr/local/bin/envoy"
source = "envoy"
mode = "0755"
"#;

    fn err(text: &str) -> String {
        Spec::parse(Path::new("spec.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn shipped_spec_is_valid() {
        let spec =
            Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/istio-proxy.toml"))
                .unwrap();
        assert_eq!(spec.name, "istio-proxy");
        assert_eq!(spec.files.len(), 3);
        let env = spec
            .files
            .iter()
            .find(|f| f.path.ends_with("sidecar.env"))
            .unwrap();
        assert_eq!(env.config, Config::Noreplace);
        assert_eq!(env.mode, 0o644);
    }

    #[test]
    fn good_spec_parses() {
        let spec = Spec::parse(Path::new("s.toml"), GOOD).unwrap();
        assert_eq!(spec.files[0].mode, 0o755);
        assert_eq!(spec.files[0].line, 15);
        assert_eq!(spec.group, "Unspecified");
    }

    #[test]
    fn unknown_key_names_line() {
        let e = err(&format!("{GOOD}colour = \"blue\"\n"));
        assert!(e.contains("spec.toml:18:") && e.contains("colour"), "{e}");
    }

    #[test]
    fn escapes_duplicates_and_modes_name_lines() {
        let e = err(&GOOD.replace("/usr/local/bin/envoy", "/usr/../etc/passwd"));
        assert!(e.contains("spec.toml:15:") && e.contains("\"..\""), "{e}");
        let e = err(&GOOD.replace("/usr/local/bin/envoy", "/var/lib/istio"));
        assert!(
            e.contains("spec.toml:15:")
                && e.contains("duplicate destination /var/lib/istio (first at line 11)"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "mode = \"0755\"\n\n[[files]]",
            "mode = \"0759\"\n\n[[files]]",
        ));
        assert!(e.contains("spec.toml:12:") && e.contains("0759"), "{e}");
        let e = err(&GOOD.replace("usr/local", "usr//local"));
        assert!(e.contains("empty component"), "{e}");
        let e = err(&GOOD.replace("\"/usr/local/bin/envoy\"", "\"usr/bin/envoy\""));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&GOOD.replace("\"envoy\"", "\"pilot\""));
        assert!(e.contains("spec.toml:16:") && e.contains("pilot"), "{e}");
    }

    #[test]
    fn dates_are_noon_utc() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 12 * 3600);
        assert_eq!(parse_date("2020-11-24").unwrap(), 1_606_219_200);
        assert!(parse_date("2020-13-01").is_err());
    }
}
