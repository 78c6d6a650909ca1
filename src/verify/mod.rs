//! An independent CentOS 7 gate for any RPM: `verify` says whether CentOS 7 will accept a
//! package and run what is inside, and why not; `inspect` shows what a package holds.
//!
//! It reads packages with the rpm crate's header parser and its own payload decoding (liblzma,
//! flate2, the cpio crate), never with our writer's code, so it judges ours like any other.

mod checks;
mod el7;
mod hash;
mod inspect;
mod payload;
mod read;
mod report;
mod signature;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use el7::{COMPRESSORS, RPMLIB_PROVIDES, compare_evr, rpmvercmp};
pub use inspect::{Inspection, Scriptlet, dump_line, inspect_file};
pub use read::HeaderFile;
pub use report::{Check, Document, FileResult, JSON_SCHEMA, Report, Status};

use crate::{Error, Reporter, Result};

/// The system a package is judged for. Only CentOS 7 (rpm 4.11.3, glibc 2.17) for now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    #[default]
    El7,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::El7 => "el7",
        }
    }
}

/// What to check besides the package itself.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    pub target: Target,
    /// An ASCII-armored public key whose primary key must have signed the header.
    pub key: Option<PathBuf>,
}

/// Check one package. `Err(Error::Unreadable)` when it is not an RPM or is truncated; a bad
/// `--key` file is `Err(Error::Input)`. Everything else is a check in the report.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> Result<Report> {
    let Target::El7 = opts.target;
    let rpm = read::RpmFile::open(path)?;
    checks::truncation(&rpm)?;
    let mut report = Report::new(path);
    checks::structure(&rpm, &mut report);
    let scan = payload::scan(&rpm)?;
    checks::digests(&rpm, &scan, &mut report);
    report.checks.extend(scan.checks);
    el7::rules(&rpm, &mut report);
    signature::check(&rpm, opts.key.as_deref(), &mut report)?;
    Ok(report)
}

/// Check that CentOS 7 will accept RPMs and run what is inside.
///
/// Exit status: 0 when every check passes (warnings allowed), 1 when a check fails, 2 when a
/// file cannot be read as an RPM at all.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The packages to check.
    #[arg(required = true, value_name = "FILE.rpm")]
    pub files: Vec<PathBuf>,
    /// The system the packages must install and run on.
    #[arg(long, value_enum, default_value_t = Target::El7)]
    pub target: Target,
    /// Print one JSON document instead of one line per check.
    #[arg(long)]
    pub json: bool,
    /// Require a header signature by this ASCII-armored public key's primary key.
    #[arg(long, value_name = "PUBKEY.asc")]
    pub key: Option<PathBuf>,
}

impl VerifyArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let opts = VerifyOptions {
            target: self.target,
            key: self.key,
        };
        let mut results = Vec::new();
        let mut unreadable = false;
        for path in &self.files {
            let step = reporter.step(&format!("verify {}", path.display()));
            match verify_file(path, &opts) {
                Ok(report) => {
                    step.finish(if report.passed() { "passed" } else { "failed" });
                    if !self.json {
                        print(&report.render());
                    }
                    results.push(FileResult::from_report(report));
                }
                Err(err @ Error::Unreadable { .. }) => {
                    step.finish("unreadable");
                    reporter.error(&err);
                    unreadable = true;
                    results.push(FileResult::unreadable(path, err.to_string()));
                }
                Err(err) => return Err(err),
            }
        }
        if self.json {
            let doc = Document::new(opts.target.name(), results);
            let text = serde_json::to_string_pretty(&doc)
                .map_err(|e| Error::failed(format!("JSON output: {e}")))?;
            print(&format!("{text}\n"));
            return Ok(exit_code(unreadable, doc.passed));
        }
        let passed = results.iter().all(|r| r.passed);
        Ok(exit_code(unreadable, passed))
    }
}

fn exit_code(unreadable: bool, passed: bool) -> ExitCode {
    if unreadable {
        ExitCode::from(2)
    } else if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Write to stdout, ignoring a closed pipe (`proxy-rpm verify x.rpm | head`).
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Show what an RPM contains, like `rpm -qpi`, `--requires` and `--dump` together.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The package to show.
    #[arg(value_name = "FILE.rpm")]
    pub file: PathBuf,
}

impl InspectArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        let inspection = inspect_file(&self.file)?;
        print(&inspection.to_string());
        Ok(ExitCode::SUCCESS)
    }
}
