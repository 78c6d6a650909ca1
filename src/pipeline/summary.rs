//! The closing summary on stderr: the RPM, its size, digest, payload and requires, the
//! verify result, and how long each stage took.

use std::fmt::Write;

use super::stages::{Finished, Outcome};
use super::{Build, Stage};

pub fn render(build: &Build, finished: &Finished) -> String {
    let package = finished.records.get(&Stage::Package);
    let get = |key: &str| {
        package
            .and_then(|r| r.outputs.get(key))
            .map(String::as_str)
            .unwrap_or("?")
    };
    let mut s = String::new();
    let _ = writeln!(s, "\nistio-proxy {} built", build.version);
    let _ = writeln!(s, "  rpm:      {}", finished.rpm.display());
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
        .records
        .get(&Stage::Verify)
        .and_then(|r| r.outputs.get("result"))
        .map(String::as_str)
        .unwrap_or("?");
    let _ = writeln!(s, "  verify:   {verify}");
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
