//! What remote execution shows: the plan's lines, the summary's line with Bazel's action
//! counts, and `proxy-rpm doctor`'s checks of the farm and its image.

use super::remote::{FARM_JOBS, Remote, farm_image, recorded};
use super::{CompileOptions, farm, secret};
use crate::Reporter;
use crate::container::{DOCKER_MANIFEST, PODMAN_MANIFEST, push};
use crate::doctor::Check;

/// Plan lines (no values of secrets, only where they come from). The farm's image comes from
/// the push record when the options do not carry it yet.
pub fn plan_lines(options: &CompileOptions) -> Vec<String> {
    let r = &options.remote;
    let image = r.image.clone().or_else(|| recorded(options));
    let mut lines = Vec::new();
    if let Some(url) = &r.remote_executor {
        let instance = r
            .remote_instance
            .as_deref()
            .map_or(String::new(), |i| format!(", instance {i}"));
        lines.push(format!("build farm: {url}{instance}"));
        lines.push(match &image {
            Some(image) => format!(
                "farm image: {} (pushed from {}, image {})",
                image.container_image(),
                image.local,
                image.id
            ),
            None => format!(
                "farm image: none pushed for `{}`: compile will refuse; run `proxy-rpm image \
                 --push REGISTRY/NAME` first",
                options.image
            ),
        });
        lines.push(format!(
            "jobs {}, local fallback {}",
            options.jobs.unwrap_or(FARM_JOBS),
            if r.remote_local_fallback { "on" } else { "off" }
        ));
    }
    if let Some(url) = &r.remote_cache {
        lines.push(format!("remote cache: {url}"));
    }
    let mut sources = Vec::new();
    if std::env::var_os(secret::HEADER_ENV).is_some() {
        sources.push(format!("${}", secret::HEADER_ENV));
    }
    if let Some(file) = &r.remote_header_file {
        sources.push(file.display().to_string());
    }
    if !sources.is_empty() {
        lines.push(format!(
            "remote headers from {} (values hidden), in {} (0600) while Bazel runs",
            sources.join(" and "),
            secret::path(&options.workdir).display()
        ));
    }
    lines
}

/// How Bazel's actions ran, from its `N processes: …` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Processes {
    pub remote: u64,
    pub cache_hits: u64,
    pub local: u64,
    pub internal: u64,
}

impl Processes {
    /// `6 processes: 2 remote cache hit, 3 remote, 1 internal.` (also `1 process: …`).
    pub fn parse(summary: &str) -> Option<Processes> {
        let (_, parts) = summary.split_once(": ")?;
        let mut p = Processes::default();
        for part in parts.trim_end_matches('.').split(", ") {
            let (n, kind) = part.trim().split_once(' ')?;
            let n: u64 = n.replace(',', "").parse().ok()?;
            match kind {
                "remote" => p.remote += n,
                "remote cache hit" | "disk cache hit" => p.cache_hits += n,
                "internal" => p.internal += n,
                _ => p.local += n,
            }
        }
        Some(p)
    }
}

/// The summary's remote line: the farm, the image, and where the actions ran.
pub fn summary(remote: &Remote, process_summary: Option<&str>) -> Option<String> {
    let url = remote.remote_executor.as_ref()?;
    let image = remote
        .image
        .as_ref()
        .map_or("?".to_string(), |i| i.reference.clone());
    let counts = process_summary.and_then(Processes::parse).map_or(
        "action counts unknown".to_string(),
        |p| {
            format!(
                "{} remote, {} from cache, {} here, {} internal",
                p.remote, p.cache_hits, p.local, p.internal
            )
        },
    );
    Some(format!("farm {url} ({image}): {counts}"))
}

/// `proxy-rpm doctor`'s checks of a farm: it answers, the image was pushed and is the local
/// one, and its digest is on the registry (asked through the engine).
pub fn doctor_checks(options: &CompileOptions, reporter: &Reporter) -> Vec<Check> {
    let Some(url) = &options.remote.remote_executor else {
        return Vec::new();
    };
    let mut checks = vec![match farm::probe(url, farm::TIMEOUT) {
        Ok(answer) => Check::ok("build farm", format!("{url}: {answer}")),
        Err(why) => Check::fail("build farm", format!("{url}: {why}")),
    }];
    let pushed = match farm_image(options, reporter) {
        Ok(pushed) => pushed,
        Err(e) => {
            checks.push(Check::fail("farm image", e.to_string()));
            return checks;
        }
    };
    checks.push(match &options.engine {
        None => Check::skip(
            "farm image",
            format!("{}: no engine to ask the registry", pushed.reference),
        ),
        Some(engine) => match engine.older_than(DOCKER_MANIFEST, PODMAN_MANIFEST) {
            Some(needed) => Check::skip(
                "farm image",
                format!(
                    "{}: {} has no `manifest inspect` before {needed} to ask the registry",
                    pushed.reference,
                    engine.name()
                ),
            ),
            None => match push::on_registry(engine, &pushed.reference, reporter) {
                Ok(()) => Check::ok(
                    "farm image",
                    format!("{} is on the registry", pushed.reference),
                ),
                Err(why) => Check::fail(
                    "farm image",
                    format!(
                        "{} is not on the registry ({why}): push it again",
                        pushed.reference
                    ),
                ),
            },
        },
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_lines_of_bazel_2_and_4() {
        let p = Processes::parse("7 processes: 2 remote cache hit, 4 internal, 1 remote.");
        assert_eq!(
            p,
            Some(Processes {
                remote: 1,
                cache_hits: 2,
                local: 0,
                internal: 4
            })
        );
        let p = Processes::parse("1 process: 1 linux-sandbox.").unwrap();
        assert_eq!(p.local, 1);
    }
}
