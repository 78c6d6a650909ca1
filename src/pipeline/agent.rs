//! The `agent` stage (`--sidecar`): pilot-agent for the istio-sidecar RPM. It yields the path
//! of a pilot-agent that passed the CentOS 7 checks; packaging the sidecar takes it from there
//! (`Finished::pilot_agent`), with its sha256 in the stage record for the package's inputs.

use std::path::PathBuf;

use super::Stage;
use super::runner::{Runner, digest, file_matches, file_sha256, out, outputs, stage_error};
use crate::agent;
use crate::error::Result;

/// The pilot-agent for the istio-sidecar RPM, with `--sidecar` (else `None`): built from
/// istio/istio at the release tag, or the one `--pilot-agent` gives; checked for CentOS 7
/// either way. Its inputs are the tag's commit (which prepare recorded), the image, the linker
/// flags, the build tags and GOFLAGS, the only Go setting that changes what is built.
pub(super) fn agent_stage(runner: &mut Runner, image: Option<String>) -> Result<Option<PathBuf>> {
    let build = runner.build;
    if !build.sidecar {
        return Ok(None);
    }
    if let Some(given) = &build.pilot_agent {
        let sha256 = file_sha256(given)?;
        let inputs = digest(&["given", &sha256]);
        runner.stage(
            Stage::Agent,
            inputs,
            |_| true,
            |r| {
                let elf = agent::check(given)?;
                r.info(format!("    pilot-agent {}: {elf}", given.display()));
                Ok(outputs([
                    ("pilot_agent_sha256", sha256.clone()),
                    ("pilot_agent", given.display().to_string()),
                    ("built", "no (--pilot-agent)".to_string()),
                    ("elf", elf),
                ]))
            },
        )?;
        return Ok(Some(given.clone()));
    }
    let mut opts = build.agent.clone();
    opts.image = image.unwrap_or_default();
    let commit = agent::tag_commit(&build.workdir, build.version)
        .map_err(|e| stage_error(Stage::Agent, build, e))?;
    let mut parts = vec![
        commit.clone(),
        opts.image.clone(),
        opts.istio_repo.clone(),
        opts.net.mirror.clone().unwrap_or_default(),
        agent::LDFLAGS.to_string(),
        std::env::var("GOFLAGS").unwrap_or_default(),
    ];
    // Only when there are any, so that a release built without tags keeps its earlier digest.
    if !opts.tags.is_empty() {
        parts.push(format!("-tags={}", opts.tags.join(",")));
    }
    let inputs = digest(&parts);
    let record = runner.stage(
        Stage::Agent,
        inputs,
        |record| file_matches(record, "pilot_agent", "pilot_agent_sha256"),
        |r| {
            let built = agent::build(&opts, &commit, r)?;
            Ok(outputs([
                ("pilot_agent_sha256", file_sha256(&built.path)?),
                ("pilot_agent", built.path.display().to_string()),
                ("istio_commit", commit.clone()),
                ("ldflags", built.stamp.ldflags()),
                ("elf", built.elf),
            ]))
        },
    )?;
    Ok(Some(PathBuf::from(out(&record, "pilot_agent"))))
}
