//! `build --dry-run`: every stage with the exact commands it would run, the paths it would
//! write and whether an earlier run already finished it. Runs nothing, writes nothing.

use std::fmt::Write;

use super::{Build, Stage, State};
use crate::error::Result;
use crate::release;

pub fn render(build: &Build) -> Result<String> {
    let state = State::load(&build.workdir).unwrap_or_default();
    let done = |stage: Stage| match (build.from, state.stages.get(stage.name())) {
        (Some(from), _) if stage >= from => "   (runs: --from)",
        (_, Some(_)) => "   (finished in an earlier run: skipped if its inputs are unchanged)",
        _ => "",
    };
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "plan for istio-proxy {} (nothing is run)", build.version);
    let _ = writeln!(w, "work dir:  {}", build.workdir.display());
    let _ = writeln!(w, "cache dir: {}", build.compile.cache_dir.display());
    let _ = writeln!(w, "logs:      {}", build.workdir.join("logs").display());

    let opts = &build.resolve;
    let pin = match &opts.proxy_sha {
        Some(sha) => format!("{sha} (--proxy-sha)"),
        None => format!("{} (built-in table)", release::builtin_pin(opts.version)?),
    };
    let _ = writeln!(w, "\n1. resolve{}", done(Stage::Resolve));
    let _ = writeln!(w, "   istio/proxy commit: {pin}");
    if !opts.offline {
        let _ = writeln!(
            w,
            "   checked against istio.deps at tag {} of {}",
            opts.version.tag(),
            opts.net.url(&opts.istio_repo)
        );
    }

    let _ = writeln!(w, "\n2. image{}", done(Stage::Image));
    let mut image = build.image.clone();
    if !build.compiles() {
        let _ = writeln!(w, "   not needed: --envoy-binary");
    } else if let Some(tag) = &build.image {
        let _ = writeln!(w, "   not needed: --image {tag}");
    } else if let Some(options) = build.image_options() {
        let plan = crate::container::image_plan(&options)?;
        let _ = writeln!(w, "   {}", plan.build.display());
        let _ = writeln!(w, "   (skipped if {} already exists)", plan.tag);
        image = Some(plan.tag);
    } else {
        let _ = writeln!(w, "   not needed: --engine none (Bazel runs on this host)");
    }

    let prep = &build.prepare;
    let _ = writeln!(w, "\n3. prepare{}", done(Stage::Prepare));
    let _ = writeln!(
        w,
        "   git fetch --depth 1 {} <pin> -> {}",
        prep.net.url(&prep.proxy_repo),
        build.workdir.join("src/istio-proxy").display()
    );
    let _ = writeln!(
        w,
        "   tools/packaging/common/{{sidecar.env,envoy_bootstrap_v2.json}} at tag {} of {} -> {}",
        opts.version.tag(),
        prep.net.url(&prep.istio_repo),
        build.workdir.join("files").display()
    );
    let _ = writeln!(
        w,
        "   bazelrc with the CentOS 7 cxxopts: {}",
        build
            .compile
            .bazelrc
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );

    let _ = writeln!(w, "\n4. compile{}", done(Stage::Compile));
    if let Some(envoy) = &build.envoy_binary {
        let _ = writeln!(w, "   not needed: --envoy-binary {}", envoy.display());
    } else {
        let mut compile = build.compile.clone();
        compile.image = image.unwrap_or_default();
        for cmd in crate::bazel::plan(&compile)? {
            let _ = writeln!(w, "   {}", cmd.display());
        }
        let _ = writeln!(w, "   -> {}", build.workdir.join("out/envoy").display());
    }

    let pkg = &build.package.flags;
    let level = pkg.level.unwrap_or(pkg.compression.default_level());
    let _ = writeln!(w, "\n5. package{}", done(Stage::Package));
    let _ = writeln!(
        w,
        "   {} payload level {level}, spec {}, -> {}/",
        pkg.compression.tag_name(),
        pkg.spec
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in specs/istio-proxy.toml".into()),
        build.package.out.display()
    );

    if let Some(key) = &build.sign_key {
        let _ = writeln!(w, "   then sign it with {}", key.describe());
    }

    let _ = writeln!(w, "\n6. verify{}", done(Stage::Verify));
    let _ = writeln!(w, "   CentOS 7 checks (as `proxy-rpm verify`) on the RPM");
    if let Some(out) = &build.out {
        let _ = writeln!(w, "\nthen copy the RPM to {}", out.display());
    }
    Ok(s)
}
