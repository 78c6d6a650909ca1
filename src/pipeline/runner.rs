//! The machinery every stage runs on: a stage is skipped when the state says it finished with
//! the same inputs (and what it produced is still there), else run, logged and recorded; and the
//! small helpers stages share to describe their inputs and outputs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Build, Stage, StageRecord, State};
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;

/// How a stage went in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    /// Finished in an earlier run with the same inputs.
    Skipped,
    /// Not part of this build (`--envoy-binary`, `--engine none`, `--image`).
    NotNeeded,
}

/// What the pipeline leaves: the RPMs and how each stage went.
pub struct Finished {
    /// istio-proxy's RPM (in `--out` when given).
    pub rpm: PathBuf,
    /// istio-sidecar's RPM (`--sidecar`; in `--out` when given).
    pub sidecar_rpm: Option<PathBuf>,
    /// The pilot-agent for the istio-sidecar RPM (`--sidecar`).
    pub pilot_agent: Option<PathBuf>,
    pub records: BTreeMap<Stage, StageRecord>,
    pub outcomes: Vec<(Stage, Outcome, Duration)>,
    pub total: Duration,
}

impl Finished {
    /// What `stage` recorded under `key`, if it ran or was skipped in this build.
    pub fn output(&self, stage: Stage, key: &str) -> Option<&str> {
        self.records
            .get(&stage)
            .and_then(|r| r.outputs.get(key))
            .map(String::as_str)
    }
}

/// SHA-256 over strings, separated so that ("ab","c") and ("a","bc") differ.
pub fn digest<S: AsRef<str>>(parts: &[S]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_ref().as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// SHA-256 of a file's contents, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).at(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).at(path)?;
    Ok(hex::encode(h.finalize()))
}

pub(super) struct Runner<'a> {
    pub(super) build: &'a Build,
    reporter: &'a Reporter,
    state: State,
    pub(super) records: BTreeMap<Stage, StageRecord>,
    pub(super) outcomes: Vec<(Stage, Outcome, Duration)>,
}

impl<'a> Runner<'a> {
    pub(super) fn new(build: &'a Build, reporter: &'a Reporter, state: State) -> Runner<'a> {
        Runner {
            build,
            reporter,
            state,
            records: BTreeMap::new(),
            outcomes: Vec::new(),
        }
    }

    /// Skip `stage` if done with `inputs` and `still_valid` holds for its record; else run
    /// `work`, log its outputs and save the state.
    pub(super) fn stage(
        &mut self,
        stage: Stage,
        inputs: String,
        still_valid: impl Fn(&StageRecord) -> bool,
        work: impl FnOnce(&Reporter) -> Result<BTreeMap<String, String>>,
    ) -> Result<StageRecord> {
        if let Some(record) = self.state.done(stage, &inputs).filter(|r| still_valid(r)) {
            let record = record.clone();
            self.reporter.info(format!(
                "==> {}: done in an earlier run, inputs unchanged",
                stage.name()
            ));
            self.outcomes
                .push((stage, Outcome::Skipped, Duration::ZERO));
            self.records.insert(stage, record.clone());
            return Ok(record);
        }
        // A stage that runs again invalidates everything after it.
        self.state.forget_from(stage);
        self.state.save(&self.build.workdir)?;
        let started = Instant::now();
        self.reporter.info(format!(
            "{} ==> {}",
            stage.counter(&self.build.stages()),
            stage.name()
        ));
        let outputs = match work(self.reporter) {
            Ok(outputs) => outputs,
            Err(e) => {
                // The log says why the stage stopped, whatever the stage wrote to it before.
                let log = self.build.log(stage);
                let _ = append_lines(&log, &[format!("error: {e}")]);
                return Err(stage_error(stage, self.build, e));
            }
        };
        self.reporter.info(format!(
            "{} ==> {} finished in {:.1}s",
            stage.counter(&self.build.stages()),
            stage.name(),
            started.elapsed().as_secs_f64()
        ));
        let record = StageRecord {
            inputs,
            outputs,
            seconds: started.elapsed().as_secs_f64(),
        };
        append_log(&self.build.log(stage), &record)?;
        self.state.record(stage, record.clone());
        self.state.save(&self.build.workdir)?;
        self.outcomes.push((stage, Outcome::Ran, started.elapsed()));
        self.records.insert(stage, record.clone());
        Ok(record)
    }

    /// What `stage` recorded in this run (run or skipped), for the stages after it.
    pub(super) fn record(&self, stage: Stage) -> Option<&StageRecord> {
        self.records.get(&stage)
    }

    pub(super) fn not_needed(&mut self, stage: Stage, why: &str) {
        self.reporter
            .info(format!("==> {}: not needed ({why})", stage.name()));
        self.outcomes
            .push((stage, Outcome::NotNeeded, Duration::ZERO));
    }
}

/// Every error says which stage failed and where its log is.
pub(super) fn stage_error(stage: Stage, build: &Build, e: Error) -> Error {
    Error::failed(format!(
        "{} stage failed: {e}\n  stage log: {}\n  rerun `proxy-rpm build {}` to resume here",
        stage.name(),
        build.log(stage).display(),
        build.version
    ))
}

fn append_log(path: &Path, record: &StageRecord) -> Result<()> {
    let mut lines: Vec<String> = record
        .outputs
        .iter()
        .map(|(key, value)| format!("{key}: {value}"))
        .collect();
    lines.push(format!("finished in {:.1}s", record.seconds));
    append_lines(path, &lines)
}

fn append_lines(path: &Path, lines: &[String]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .at(path)?;
    for line in lines {
        writeln!(log, "{line}").at(path)?;
    }
    Ok(())
}

pub(super) fn outputs<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub(super) fn out<'r>(record: &'r StageRecord, key: &str) -> &'r str {
    record.outputs.get(key).map(String::as_str).unwrap_or("")
}

pub(super) fn file_matches(record: &StageRecord, path_key: &str, sha_key: &str) -> bool {
    let path = Path::new(out(record, path_key));
    path.is_file() && file_sha256(path).is_ok_and(|sha| sha == out(record, sha_key))
}
