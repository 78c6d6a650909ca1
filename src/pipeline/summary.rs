//! The closing summary on stderr: for each RPM (istio-proxy, then istio-sidecar with
//! `--sidecar`) its path, size, digest, payload, signature, requires and verify result; the
//! pilot-agent it packages; and how long each stage took.

use std::fmt::Write;
use std::path::Path;

use super::runner::{Finished, Outcome};
use super::stages::verify_key;
use super::{Build, Stage};

pub fn render(build: &Build, finished: &Finished) -> String {
    let mut s = String::new();
    package(
        &mut s,
        build,
        finished,
        "istio-proxy",
        Stage::Package,
        &finished.rpm,
    );
    if let Some(sidecar) = &finished.sidecar_rpm {
        package(
            &mut s,
            build,
            finished,
            "istio-sidecar",
            Stage::Sidecar,
            sidecar,
        );
    }
    if let Some(remote) = finished
        .output(Stage::Compile, "remote")
        .filter(|r| !r.is_empty())
    {
        let _ = writeln!(s, "  remote:   {remote}");
    }
    if let Some(agent) = &finished.pilot_agent {
        let elf = finished.output(Stage::Agent, "elf").unwrap_or("?");
        let _ = writeln!(s, "  agent:    {} ({elf})", agent.display());
    }
    let _ = writeln!(s, "  stages:");
    for (stage, outcome, took) in &finished.outcomes {
        let how = match outcome {
            Outcome::Ran => format!("{:.1}s", took.as_secs_f64()),
            Outcome::Skipped => "skipped (done earlier)".to_string(),
            Outcome::NotNeeded => "not needed".to_string(),
        };
        let _ = writeln!(s, "    {:<8} {how}", stage.name());
    }
    let _ = write!(s, "  total:    {:.1}s", finished.total.as_secs_f64());
    s
}

/// One RPM's block: what `stage` recorded of it and what verify said (under the key the
/// verify stage gives it).
fn package(
    s: &mut String,
    build: &Build,
    finished: &Finished,
    name: &str,
    stage: Stage,
    rpm: &Path,
) {
    let get = |key: &str| finished.output(stage, key).unwrap_or("?");
    let _ = writeln!(s, "\n{name} {} built", build.version);
    let _ = writeln!(s, "  rpm:      {}", rpm.display());
    let _ = writeln!(s, "  package:  {}", get("nevra"));
    let _ = writeln!(s, "  size:     {} bytes", get("size"));
    let _ = writeln!(s, "  sha256:   {}", get("sha256"));
    let _ = writeln!(s, "  payload:  {}", get("payload"));
    let _ = writeln!(s, "  signed:   {}", get("signed"));
    let _ = writeln!(
        s,
        "  requires: {}",
        get("requires").replace('\n', "\n            ")
    );
    let verify = finished
        .output(Stage::Verify, verify_key(stage))
        .unwrap_or("?");
    let _ = writeln!(s, "  verify:   {verify}");
}
