//! The stages in order, each through the [`Runner`]: resolve, image, prepare, compile, agent,
//! package, sidecar, verify, then the copy to `--out`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::agent::agent_stage;
use super::runner::Finished;
use super::runner::{Runner, digest, file_matches, file_sha256, out, outputs};
use super::sidecar::sidecar_stage;
use super::{Build, Stage, StageRecord, State, WorkdirLock};
use crate::error::{Error, IoContext, Result};
use crate::package::PackageOptions;
use crate::release::{self, Pin, PinSource};
use crate::report::Reporter;
use crate::verify::{self, VerifyOptions};
use crate::{container, package, sign, source};

/// Run the pipeline in `build.workdir`, holding its lock throughout.
pub fn run(build: &Build, reporter: &Reporter) -> Result<Finished> {
    let started = Instant::now();
    let _lock = WorkdirLock::acquire(&build.workdir)?;
    let mut state = State::load(&build.workdir)?;
    if let Some(from) = build.from {
        state.forget_from(from);
        state.save(&build.workdir)?;
    }
    let mut runner = Runner::new(build, reporter, state);

    let pin = resolve_stage(&mut runner)?;
    let image = image_stage(&mut runner)?;
    prepare_stage(&mut runner, &pin)?;
    let envoy = compile_stage(&mut runner, &pin, image.clone())?;
    let pilot_agent = agent_stage(&mut runner, image)?;
    let rpm = package_stage(&mut runner, &envoy)?;
    let sidecar_rpm = sidecar_stage(&mut runner, pilot_agent.as_deref())?;
    let mut checked = vec![(verify_key(Stage::Package), rpm.as_path())];
    if let Some(sidecar) = &sidecar_rpm {
        checked.push((verify_key(Stage::Sidecar), sidecar.as_path()));
    }
    verify_stage(&mut runner, &checked)?;
    let rpm = copy_out(build, &rpm)?;
    let sidecar_rpm = sidecar_rpm
        .map(|sidecar| copy_out(build, &sidecar))
        .transpose()?;
    Ok(Finished {
        rpm,
        sidecar_rpm,
        pilot_agent,
        records: runner.records,
        outcomes: runner.outcomes,
        total: started.elapsed(),
    })
}

fn resolve_stage(runner: &mut Runner) -> Result<Pin> {
    let build = runner.build;
    let opts = &build.resolve;
    let inputs = digest(&[
        opts.version.to_string(),
        opts.istio_repo.clone(),
        opts.proxy_sha.clone().unwrap_or_default(),
        opts.offline.to_string(),
        opts.net.mirror.clone().unwrap_or_default(),
    ]);
    let record = runner.stage(
        Stage::Resolve,
        inputs,
        |_| true,
        |r| {
            let pin = release::resolve(opts, r)?;
            let repo = match &pin.source {
                PinSource::Verified { istio_repo } => istio_repo.clone(),
                _ => String::new(),
            };
            Ok(outputs([
                ("proxy_sha", pin.proxy_sha.clone()),
                ("source", pin.source.name().to_string()),
                ("istio_repo", repo),
            ]))
        },
    )?;
    let source = match out(&record, "source") {
        "verified" => PinSource::Verified {
            istio_repo: out(&record, "istio_repo").to_string(),
        },
        "override" => PinSource::Override,
        _ => PinSource::BuiltIn,
    };
    Ok(Pin {
        version: opts.version,
        proxy_sha: out(&record, "proxy_sha").to_string(),
        source,
    })
}

/// The builder image's tag (`None` when Bazel runs on the host or no compile is needed): the
/// base image, then the profile's variant FROM it when the line needs one (each reused when
/// an image of its hash exists, so a rerun after a failed variant build does not build the
/// base again). An image given with `--image` gets the toolchain check instead of a build,
/// with the line's extra tools, recorded against the image's id: a resume skips it while the
/// image is unchanged.
fn image_stage(runner: &mut Runner) -> Result<Option<String>> {
    let build = runner.build;
    if !build.uses_builder() {
        runner.not_needed(Stage::Image, build.given_binaries());
        return Ok(None);
    }
    let Some(options) = build.image_options() else {
        let tool = if build.compiles() { "Bazel" } else { "Go" };
        runner.not_needed(
            Stage::Image,
            &format!("--engine none: {tool} runs on this host"),
        );
        return Ok(build.image.clone());
    };
    let engine = options.engine.clone();
    if let Some(image) = &build.image {
        let id = engine
            .image_inspect(image, "{{.Id}}")
            .read(&Reporter::silent())
            .map_err(|_| {
                Error::input(format!(
                    "--image {image}: no such image here; build it with `proxy-rpm image` or \
                     pull it first"
                ))
            })?;
        let id = id.trim().to_string();
        let needs = build.builder_needs();
        let inputs = digest(&[
            "toolchain check",
            &id,
            &engine.program().display().to_string(),
            container::TOOLCHAIN_CHECK,
            &needs.join(" "),
        ]);
        runner.stage(
            Stage::Image,
            inputs,
            |_| true,
            |r| {
                container::check_toolchain(&engine, image, &needs, r)?;
                Ok(outputs([
                    ("tag", image.clone()),
                    ("id", id.clone()),
                    ("toolchain", "checked".to_string()),
                ]))
            },
        )?;
        return Ok(Some(image.clone()));
    }
    // The variant's hash covers the base image's.
    let plan = match build.variant {
        None => container::image_plan(&options)?,
        Some(variant) => container::variant::plans(&options, variant)?.1,
    };
    let inputs = digest(&[
        plan.hash.clone(),
        options.engine.program().display().to_string(),
    ]);
    let exists = |record: &StageRecord| engine.has_image(out(record, "tag"), &Reporter::silent());
    let record = runner.stage(Stage::Image, inputs, exists, |r| match build.variant {
        None => {
            let image = container::build_image(&options, r)?;
            Ok(outputs([("tag", image.tag)]))
        }
        Some(variant) => {
            let (base, top) = container::variant::build(&options, variant, r)?;
            Ok(outputs([("tag", top.tag), ("base_tag", base.tag)]))
        }
    })?;
    Ok(Some(out(&record, "tag").to_string()))
}

fn prepare_stage(runner: &mut Runner, pin: &Pin) -> Result<()> {
    let build = runner.build;
    let opts = &build.prepare;
    let inputs = digest(&[
        pin.version.to_string(),
        pin.proxy_sha.clone(),
        opts.proxy_repo.clone(),
        opts.istio_repo.clone(),
        opts.net.mirror.clone().unwrap_or_default(),
        format!("fetch tree: {}", opts.fetch_tree),
    ]);
    // Every packaging file of the release's profile (istio-sidecar's too) must still be there
    // for a skip.
    let files = build.workdir.join(source::files::FILES_DIR);
    let intact = |record: &StageRecord| {
        let tree = opts.fetch_tree.then_some("tree");
        ["sidecar_env", "bootstrap", "bazelrc"]
            .into_iter()
            .chain(tree)
            .all(|k| Path::new(out(record, k)).exists())
            && build
                .profile
                .file_names()
                .iter()
                .all(|name| files.join(name).is_file())
    };
    runner.stage(Stage::Prepare, inputs, intact, |r| {
        let mut opts = opts.clone();
        opts.log = Some(build.log(Stage::Prepare));
        let prepared = source::prepare(&opts, pin, r)?;
        let tree = match prepared.tree_action {
            Some(_) => prepared.tree.display().to_string(),
            None => "not fetched (--envoy-binary: nothing to compile)".to_string(),
        };
        Ok(outputs([
            ("tree", tree),
            ("sidecar_env", prepared.sidecar_env.display().to_string()),
            ("bootstrap", prepared.envoy_bootstrap.display().to_string()),
            ("bazelrc", prepared.bazelrc.display().to_string()),
        ]))
    })?;
    Ok(())
}

/// The Envoy to package: compiled here, or `--envoy-binary`.
fn compile_stage(runner: &mut Runner, pin: &Pin, image: Option<String>) -> Result<PathBuf> {
    let build = runner.build;
    if let Some(envoy) = &build.envoy_binary {
        runner.not_needed(Stage::Compile, "--envoy-binary");
        return Ok(envoy.clone());
    }
    let mut opts = build.compile.clone();
    opts.image = image.unwrap_or_default();
    let mut parts = vec![
        pin.proxy_sha.clone(),
        opts.image.clone(),
        opts.cc.clone(),
        opts.cxx.clone(),
        opts.bazel.clone(),
    ];
    parts.extend(opts.bazel_args.iter().cloned());
    // What the generated rc imports, in order: each path and its contents (ours, then the
    // user's --bazelrc files), so an edit of any of them compiles again.
    for rc in opts.our_bazelrc.iter().chain(&opts.user_bazelrc) {
        parts.push(rc.display().to_string());
        parts.push(String::from_utf8_lossy(&std::fs::read(rc).at(rc)?).into_owned());
    }
    let record = runner.stage(
        Stage::Compile,
        digest(&parts),
        |record| file_matches(record, "envoy", "envoy_sha256"),
        |r| {
            let compiled = crate::bazel::compile(&opts, r)?;
            Ok(outputs([
                ("envoy_sha256", file_sha256(&compiled.envoy)?),
                ("envoy", compiled.envoy.display().to_string()),
                ("remote", compiled.remote.unwrap_or_default()),
            ]))
        },
    )?;
    Ok(PathBuf::from(out(&record, "envoy")))
}

/// What shapes a package besides its inputs and spec: version, release, dist, compression, the
/// timestamp it is built with, this tool's version and the signing key. Part of the inputs of
/// every packaging stage, so changing any of them writes the package again.
pub(super) fn package_settings(opts: &PackageOptions, build: &Build) -> [String; 5] {
    let flags = &opts.flags;
    [
        format!("{:?}", (&opts.version, &flags.release, &flags.dist)),
        format!("{:?} {:?}", flags.compression, flags.level),
        std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default(),
        env!("CARGO_PKG_VERSION").to_string(),
        build
            .sign_key
            .as_ref()
            .map(|k| k.fingerprint())
            .unwrap_or_default(),
    ]
}

fn package_stage(runner: &mut Runner, envoy: &Path) -> Result<PathBuf> {
    let build = runner.build;
    let mut opts = build.package.clone();
    opts.envoy = Some(envoy.to_path_buf());
    let spec = match &opts.flags.spec {
        Some(path) => std::fs::read_to_string(path).at(path)?,
        None => "built-in".to_string(),
    };
    let given = opts.given()?;
    let inputs = digest(
        &[
            file_sha256(&given["envoy"].path)?,
            file_sha256(&given["sidecar-env"].path)?,
            file_sha256(&given["bootstrap"].path)?,
            spec,
        ]
        .into_iter()
        .chain(package_settings(&opts, build))
        .collect::<Vec<_>>(),
    );
    let record = runner.stage(
        Stage::Package,
        inputs,
        |record| file_matches(record, "rpm", "sha256"),
        |r| write_signed(&opts, build, r),
    )?;
    Ok(PathBuf::from(out(&record, "rpm")))
}

/// Write the package `opts` describes into its output dir and sign it with `--sign-key`;
/// returns what the summary shows of it (and `rpm`/`sha256` for the skip check).
pub(super) fn write_signed(
    opts: &PackageOptions,
    build: &Build,
    r: &Reporter,
) -> Result<BTreeMap<String, String>> {
    std::fs::create_dir_all(&opts.out).at(&opts.out)?;
    let written = package::write_package(opts, r)?;
    let (size, sha256, signed) = match &build.sign_key {
        Some(key) => {
            sign::sign_file(&written.path, key, r)?;
            let size = std::fs::metadata(&written.path).at(&written.path)?.len();
            (size, file_sha256(&written.path)?, key.describe())
        }
        None => (written.size, written.sha256, "no (unsigned)".to_string()),
    };
    Ok(outputs([
        ("rpm", written.path.display().to_string()),
        ("nevra", written.nevra),
        ("size", size.to_string()),
        ("sha256", sha256),
        ("signed", signed),
        (
            "payload",
            format!("{} level {}", written.compression.tag_name(), written.level),
        ),
        ("requires", written.requires.join("\n")),
    ]))
}

/// Where the verify stage records its result for the RPM `stage` wrote.
pub(super) fn verify_key(stage: Stage) -> &'static str {
    match stage {
        Stage::Sidecar => "sidecar_result",
        _ => "result",
    }
}

/// The CentOS 7 checks of `proxy-rpm verify` on each RPM (istio-proxy's, then istio-sidecar's),
/// each result recorded under its key; the log holds every report.
fn verify_stage(runner: &mut Runner, rpms: &[(&str, &Path)]) -> Result<()> {
    let log = runner.build.log(Stage::Verify);
    let mut sums = Vec::new();
    for (_, rpm) in rpms {
        sums.push(file_sha256(rpm)?);
    }
    runner.stage(
        Stage::Verify,
        digest(&sums),
        |_| true,
        |r| {
            let mut rendered = String::new();
            let mut results = BTreeMap::new();
            let mut refusals = Vec::new();
            for (key, rpm) in rpms {
                let report = verify::verify_file(rpm, &VerifyOptions::default())?;
                rendered.push_str(&format!("# {}\n{}\n", rpm.display(), report.render()));
                r.verbose(report.render());
                let failures: Vec<String> = report.failures().map(|c| c.to_string()).collect();
                if !failures.is_empty() {
                    refusals.push(format!(
                        "CentOS 7 would not accept {}:\n  {}",
                        rpm.display(),
                        failures.join("\n  ")
                    ));
                }
                let warnings = report.warnings().count();
                let result = format!(
                    "passed ({} checks, {warnings} warnings)",
                    report.checks.len()
                );
                results.insert(key.to_string(), result);
            }
            if let Some(dir) = log.parent() {
                std::fs::create_dir_all(dir).at(dir)?;
            }
            std::fs::write(&log, rendered).at(&log)?;
            if !refusals.is_empty() {
                return Err(Error::failed(refusals.join("\n")));
            }
            Ok(results)
        },
    )?;
    Ok(())
}

/// `--out DIR`: a copy of an RPM, written to a temp file and renamed into place.
fn copy_out(build: &Build, rpm: &Path) -> Result<PathBuf> {
    let Some(dir) = &build.out else {
        return Ok(rpm.to_path_buf());
    };
    let name = rpm.file_name().expect("an rpm file name");
    let target = dir.join(name);
    let mut from = File::open(rpm).at(rpm)?;
    crate::atomic::copy(&mut from, &target, 0o644)?;
    Ok(target)
}
