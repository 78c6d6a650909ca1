//! The `sidecar` stage (`--sidecar`): the istio-sidecar RPM from the agent stage's pilot-agent
//! and Istio's `istio-start.sh` and `istio.service` (which prepare fetched), written and signed
//! as the package stage does istio-proxy's. It requires `istio-proxy = VERSION-RELEASE`
//! (specs/istio-sidecar.toml), so it takes istio-proxy's release and dist, and istio-proxy's
//! NEVRA is among its inputs: a new istio-proxy makes a new sidecar.

use std::path::{Path, PathBuf};

use super::runner::{Runner, digest, file_matches, file_sha256, out, stage_error};
use super::stages::{package_settings, write_signed};
use super::{Build, Stage};
use crate::error::{Error, Result};
use crate::package::{PackageFlags, PackageOptions};
use crate::spec::Spec;

/// istio-sidecar's RPM, with `--sidecar` (else `None`), packaging `pilot_agent`.
pub(super) fn sidecar_stage(
    runner: &mut Runner,
    pilot_agent: Option<&Path>,
) -> Result<Option<PathBuf>> {
    let build = runner.build;
    let (Some(template), Some(pilot_agent)) = (&build.sidecar_package, pilot_agent) else {
        return Ok(None);
    };
    let proxy_nevra = runner
        .record(Stage::Package)
        .map(|record| out(record, "nevra").to_string())
        .unwrap_or_default();
    let (opts, inputs) = options_and_inputs(build, template, pilot_agent, &proxy_nevra)
        .map_err(|e| stage_error(Stage::Sidecar, build, e))?;
    let record = runner.stage(
        Stage::Sidecar,
        inputs,
        |record| file_matches(record, "rpm", "sha256"),
        |r| {
            let wanted = proxy_requirement(build)?;
            // A --spec that names istio-proxy otherwise: the sidecar would require a package
            // that does not exist.
            if !proxy_nevra.starts_with(&format!("istio-proxy-{wanted}.")) {
                return Err(Error::input(format!(
                    "istio-sidecar requires istio-proxy = {wanted}, but the package stage \
                     wrote {proxy_nevra}; build istio-proxy under that name (its --spec must \
                     say name = \"istio-proxy\")"
                )));
            }
            write_signed(&opts, build, r)
        },
    )?;
    Ok(Some(PathBuf::from(out(&record, "rpm"))))
}

/// The sidecar's packaging, with this pilot-agent and istio-proxy's release and dist, and the
/// hash of everything that goes into its RPM.
fn options_and_inputs(
    build: &Build,
    template: &PackageOptions,
    pilot_agent: &Path,
    proxy_nevra: &str,
) -> Result<(PackageOptions, String)> {
    let mut opts = options(build, template)?;
    for input in &mut opts.inputs {
        if input.name == "pilot-agent" {
            input.path = pilot_agent.to_path_buf();
        }
    }
    let mut parts = vec![
        "istio-sidecar".to_string(),
        format!("{:?}", Spec::builtin_sidecar()),
        proxy_nevra.to_string(),
    ];
    for input in &opts.inputs {
        parts.push(input.name.clone());
        parts.push(file_sha256(&input.path)?);
    }
    parts.extend(package_settings(&opts, build));
    Ok((opts, digest(&parts)))
}

/// `template` with istio-proxy's release and dist (its `--release`/`--dist`, else its spec's).
pub(super) fn options(build: &Build, template: &PackageOptions) -> Result<PackageOptions> {
    let (release, dist) = proxy_release(build)?;
    Ok(PackageOptions {
        flags: PackageFlags {
            release: Some(release),
            dist: Some(dist),
            ..template.flags.clone()
        },
        ..template.clone()
    })
}

/// "1.6.14-1.el7": the istio-proxy version-release the sidecar requires.
pub(super) fn proxy_requirement(build: &Build) -> Result<String> {
    let (release, dist) = proxy_release(build)?;
    Ok(format!("{}-{release}.{dist}", build.version))
}

/// The release number and dist istio-proxy's RPM gets, as the package writer picks them.
fn proxy_release(build: &Build) -> Result<(String, String)> {
    let flags = &build.package.flags;
    let spec = match &flags.spec {
        Some(path) => Spec::load(path)?,
        None => Spec::builtin(),
    };
    Ok((
        flags.release.clone().unwrap_or(spec.release),
        flags.dist.clone().unwrap_or(spec.dist),
    ))
}
