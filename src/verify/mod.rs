//! An independent CentOS 7 gate for any RPM: `verify` says whether CentOS 7 will accept a
//! package and run what is inside, and why not; `inspect` shows what a package holds.
//!
//! The rule: a check fails only for what rpm 4.11.3 refuses to install or query, or what
//! cannot run on EL7 (symbol versions, architecture); what EL7 accepts but a careful publisher
//! would not ship is a warning. Each check cites where rpm 4.11.3's source decides.
//!
//! It reads packages with the rpm crate's header parser and its own payload decoding (liblzma,
//! flate2, bzip2, the cpio crate), never with our writer's code, so it judges ours like any
//! other.

mod checks;
mod decode;
mod el7;
mod hash;
mod inspect;
mod packet;
mod payload;
mod read;
mod region;
mod report;
mod scripts;
mod signature;
mod walk;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use el7::{COMPRESSORS, RPMLIB_PROVIDES, compare_evr, rpmvercmp};
pub use inspect::{Inspection, dump_line, inspect_file};
pub use read::HeaderFile;
pub use report::{Check, Document, FileResult, JSON_SCHEMA, Report, Status};
pub use scripts::Scriptlet;

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
    /// An ASCII-armored public key whose primary key must have made the package's RSA, DSA,
    /// PGP and GPG signatures (at least one), checked as EL7 checks each.
    pub key: Option<PathBuf>,
}

/// Check one package. `Err(Error::Unreadable)` when it is not an RPM or is truncated; a bad
/// `--key` file is `Err(Error::Input)`. Everything else is a check in the report.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> Result<Report> {
    let Target::El7 = opts.target;
    let rpm = read::RpmFile::open(path)?;
    let scan = payload::scan(&rpm)?;
    // Shorter than SIZE says and the archive ends early: cut short, not merely failing. A
    // whole archive under a SIZE too large is a wrong SIZE, which rpm 4.11 does not check.
    if let Some(message) = checks::truncation(&rpm)
        && !scan.decoded
    {
        return Err(Error::Unreadable {
            path: path.to_path_buf(),
            message,
        });
    }
    let mut report = Report::new(path);
    checks::structure(&rpm, &mut report);
    checks::digests(&rpm, &scan, &mut report);
    let decoded = scan.decoded;
    report.checks.extend(scan.checks);
    el7::rules(&rpm, decoded, &mut report);
    scripts::check(&rpm, &mut report);
    checks::owners(&rpm, &mut report);
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
    /// Require the package's signatures (RSA, DSA, PGP, GPG; at least one) to verify, as EL7
    /// checks them, with this ASCII-armored public key's primary key.
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
