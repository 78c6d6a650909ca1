//! What verify found, per file: a list of named checks with a status and a reason, printed one
//! line per check for people or as one stable JSON document for programs.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Version of the JSON document's layout; bumped only when a field changes meaning or goes.
pub const JSON_SCHEMA: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One check: a stable name (`md5`, `el7-rpmlib`, `elf`…), what it is about when it is about
/// one file of the payload, and why it passed or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub status: Status,
    pub reason: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", self.status, self.name)?;
        if let Some(subject) = &self.subject {
            write!(f, " {subject}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// All checks made on one package.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub path: PathBuf,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(path: &Path) -> Self {
        Report {
            path: path.to_path_buf(),
            checks: Vec::new(),
        }
    }

    /// True when no check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Warn)
    }

    /// The first check with this name.
    pub fn find(&self, check: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == check)
    }

    pub fn push(&mut self, check: &str, status: Status, reason: impl Into<String>) {
        self.checks.push(Check {
            name: check.to_string(),
            subject: None,
            status,
            reason: reason.into(),
        });
    }

    pub fn pass(&mut self, check: &str, reason: impl Into<String>) {
        self.push(check, Status::Pass, reason);
    }

    pub fn warn(&mut self, check: &str, reason: impl Into<String>) {
        self.push(check, Status::Warn, reason);
    }

    pub fn fail(&mut self, check: &str, reason: impl Into<String>) {
        self.push(check, Status::Fail, reason);
    }

    pub fn push_about(&mut self, check: &str, subject: &str, status: Status, reason: String) {
        self.checks.push(Check {
            name: check.to_string(),
            subject: Some(subject.to_string()),
            status,
            reason,
        });
    }

    /// The human form: the path, one line per check, then a summary line.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.path.display());
        for check in &self.checks {
            out.push_str(&format!("{check}\n"));
        }
        let failed = self.failures().count();
        let warned = self.warnings().count();
        let verdict = if failed == 0 { "PASSED" } else { "FAILED" };
        out.push_str(&format!(
            "{verdict}  {}: {failed} failed, {warned} warnings, {} checks\n",
            self.path.display(),
            self.checks.len()
        ));
        out
    }
}

/// One entry of the JSON document: a report, or the reason the file could not be read.
#[derive(Debug, Serialize)]
pub struct FileResult {
    pub path: PathBuf,
    pub readable: bool,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub checks: Vec<Check>,
}

impl FileResult {
    pub fn from_report(report: Report) -> Self {
        FileResult {
            passed: report.passed(),
            path: report.path,
            readable: true,
            error: None,
            checks: report.checks,
        }
    }

    pub fn unreadable(path: &Path, error: String) -> Self {
        FileResult {
            path: path.to_path_buf(),
            readable: false,
            passed: false,
            error: Some(error),
            checks: Vec::new(),
        }
    }
}

/// The whole `--json` document.
#[derive(Debug, Serialize)]
pub struct Document {
    pub schema: u32,
    pub target: &'static str,
    pub passed: bool,
    pub files: Vec<FileResult>,
}

impl Document {
    pub fn new(target: &'static str, files: Vec<FileResult>) -> Self {
        Document {
            schema: JSON_SCHEMA,
            target,
            passed: files.iter().all(|f| f.passed),
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_does_not_fail_a_report() {
        let mut r = Report::new(Path::new("x.rpm"));
        r.pass("size", "ok");
        r.warn("md5", "missing");
        assert!(r.passed());
        r.fail("sha1", "mismatch");
        assert!(!r.passed());
        assert_eq!(r.failures().count(), 1);
        assert!(r.render().contains("FAIL  sha1: mismatch\n"));
        assert!(
            r.render()
                .contains("FAILED  x.rpm: 1 failed, 1 warnings, 3 checks")
        );
    }

    #[test]
    fn json_statuses_are_lowercase_and_subject_optional() {
        let mut r = Report::new(Path::new("x.rpm"));
        r.push_about("elf", "/usr/bin/x", Status::Fail, "GLIBC_2.34".into());
        r.pass("size", "ok");
        let doc = Document::new("el7", vec![FileResult::from_report(r)]);
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["passed"], false);
        assert_eq!(v["files"][0]["checks"][0]["status"], "fail");
        assert_eq!(v["files"][0]["checks"][0]["subject"], "/usr/bin/x");
        assert!(v["files"][0]["checks"][1].get("subject").is_none());
        assert!(v["files"][0].get("error").is_none());
    }
}
