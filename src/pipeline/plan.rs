//! `build --dry-run`: every stage with the exact commands it would run, the paths it would
//! write and whether an earlier run already finished it. Runs nothing, writes nothing.

use std::fmt::Write;

use super::{Build, Stage, State, sidecar};
use crate::bazel::{Layout, rc};
use crate::error::{IoContext, Result};
use crate::package::PackageOptions;
use crate::{agent, release, source};

pub fn render(build: &Build) -> Result<String> {
    let state = State::load(&build.workdir).unwrap_or_default();
    let done = |stage: Stage| match (build.from, state.stages.get(stage.name())) {
        (Some(from), _) if stage >= from => "   (runs: --from)",
        (_, Some(_)) => "   (finished in an earlier run: skipped if its inputs are unchanged)",
        _ => "",
    };
    // Numbered among this build's stages: `agent` and `sidecar` only with --sidecar.
    let stages = build.stages();
    let head = |stage: Stage| {
        format!(
            "\n{}. {}{}",
            stage.number(&stages),
            stage.name(),
            done(stage)
        )
    };
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "plan for istio-proxy {} (nothing is run)", build.version);
    let _ = writeln!(w, "work dir:  {}", build.workdir.display());
    let _ = writeln!(w, "cache dir: {}", build.compile.cache_dir.display());
    let _ = writeln!(w, "logs:      {}", build.workdir.join("logs").display());
    let profile = build.profile;
    let _ = writeln!(
        w,
        "release:   Istio {} line ({}): bootstrap {}, Go {} for pilot-agent, builder {} ({})",
        profile.line,
        profile.range(),
        profile.file("bootstrap").name,
        profile.agent.go,
        profile.builder.describe(),
        release::profile::DATA_PATH
    );

    let opts = &build.resolve;
    let pin = match &opts.proxy_sha {
        Some(sha) => format!("{sha} (--proxy-sha)"),
        None => format!("{} (built-in table)", release::builtin_pin(opts.version)?),
    };
    let _ = writeln!(w, "{}", head(Stage::Resolve));
    let _ = writeln!(w, "   istio/proxy commit: {pin}");
    if !opts.offline {
        let _ = writeln!(
            w,
            "   checked against istio.deps at tag {} of {}",
            opts.version.tag(),
            opts.net.url(&opts.istio_repo)
        );
    }

    let _ = writeln!(w, "{}", head(Stage::Image));
    let mut image = build.image.clone();
    if !build.uses_builder() {
        let _ = writeln!(w, "   not needed: {}", build.given_binaries());
    } else if let (Some(tag), Some(engine)) = (&build.image, &build.engine) {
        let check = crate::container::toolchain_check_cmd(engine, tag, &build.builder_needs())?;
        let _ = writeln!(w, "   --image {tag}: not built, its toolchain checked:");
        let _ = writeln!(w, "   {}", crate::container::shown_check(&check));
    } else if let Some(options) = build.image_options() {
        let plans = match build.variant {
            None => vec![crate::container::image_plan(&options)?],
            Some(variant) => {
                let (base, top) = crate::container::variant::plans(&options, variant)?;
                vec![base, top]
            }
        };
        for (i, plan) in plans.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(
                    w,
                    "   then the {} variant FROM it, adding {}:",
                    profile.builder.variant,
                    profile.builder.needs.join(" and ")
                );
            }
            let _ = writeln!(w, "   {}", plan.build.display());
            let _ = writeln!(w, "   (skipped if {} already exists)", plan.tag);
        }
        image = plans.last().map(|plan| plan.tag.clone());
    } else {
        let _ = writeln!(w, "   not needed: --engine none (builds run on this host)");
    }
    if let Some(note) = build.builder_note() {
        let _ = writeln!(w, "   note: {note}");
    }

    let prep = &build.prepare;
    let _ = writeln!(w, "{}", head(Stage::Prepare));
    if prep.fetch_tree {
        let _ = writeln!(
            w,
            "   git fetch --depth 1 {} <pin> -> {}",
            prep.net.url(&prep.proxy_repo),
            build.workdir.join(source::TREE_DIR).display()
        );
    } else {
        let _ = writeln!(
            w,
            "   istio/proxy tree: not fetched (--envoy-binary: nothing to compile)"
        );
    }
    let _ = writeln!(
        w,
        "   {}/{{{}}} at tag {} of {} -> {}",
        profile.packaging_dir,
        profile.file_names().join(","),
        opts.version.tag(),
        prep.net.url(&prep.istio_repo),
        build.workdir.join(source::files::FILES_DIR).display()
    );
    for file in &profile.packaging {
        let _ = writeln!(
            w,
            "     {:<24} installed as {} ({})",
            file.name, file.destination, file.package
        );
    }
    let _ = writeln!(
        w,
        "   bazelrc with the CentOS 7 cxxopts: {}",
        source::bazelrc_path(&build.workdir).display()
    );

    let _ = writeln!(w, "{}", head(Stage::Compile));
    if let Some(envoy) = &build.envoy_binary {
        let _ = writeln!(w, "   not needed: --envoy-binary {}", envoy.display());
    } else {
        let _ = writeln!(w, "   {}", bazel_line(build));
        let mut compile = build.compile.clone();
        compile.image = image.clone().unwrap_or_default();
        for cmd in crate::bazel::plan(&compile)? {
            let _ = writeln!(w, "   {}", cmd.display());
        }
        let layout = Layout::of(&compile).at(&compile.workdir)?;
        for line in rc::describe(&layout.bazelrc, &layout.rc_imports) {
            let _ = writeln!(w, "   {line}");
        }
        for line in crate::bazel::remote::plan_lines(&compile) {
            let _ = writeln!(w, "   {line}");
        }
        let _ = writeln!(w, "   -> {}", build.workdir.join("out/envoy").display());
    }

    if build.sidecar {
        let _ = writeln!(w, "{}", head(Stage::Agent));
        for line in agent_plan(build, image.as_deref())? {
            let _ = writeln!(w, "   {line}");
        }
    }

    let pkg = &build.package.flags;
    let level = pkg.level.unwrap_or(pkg.compression.default_level());
    let _ = writeln!(w, "{}", head(Stage::Package));
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

    if let Some(template) = &build.sidecar_package {
        let _ = writeln!(w, "{}", head(Stage::Sidecar));
        for line in sidecar_plan(build, template)? {
            let _ = writeln!(w, "   {line}");
        }
    }

    let (rpms, them) = match build.sidecar {
        true => ("both RPMs", "them"),
        false => ("the RPM", "it"),
    };
    let _ = writeln!(w, "{}", head(Stage::Verify));
    let _ = writeln!(w, "   CentOS 7 checks (as `proxy-rpm verify`) on {rpms}");
    if let Some(out) = &build.out {
        let _ = writeln!(w, "\nthen copy {them} to {}", out.display());
    }
    Ok(s)
}

/// Which Bazel bazelisk will run: what the tree's `.bazelversion` says once prepare has fetched
/// it, else what the release's pin names (the profile's `bazel`).
fn bazel_line(build: &Build) -> String {
    let tree = build.workdir.join(source::TREE_DIR).join(".bazelversion");
    let pinned = &build.release.bazel;
    let seen = std::fs::read_to_string(&tree)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let pin = format!("Istio {}'s pin", build.version);
    match (seen, &build.resolve.proxy_sha) {
        (Some(seen), _) if seen == *pinned => {
            format!("Bazel {seen} (.bazelversion in the tree, as {pin} names)")
        }
        (Some(seen), _) => {
            format!("Bazel {seen} (.bazelversion in the tree; {pin} names {pinned})")
        }
        (None, Some(_)) => format!(
            "Bazel: what .bazelversion of the --proxy-sha tree names ({pin} names {pinned})"
        ),
        (None, None) => format!("Bazel {pinned} (.bazelversion at {pin}, once fetched)"),
    }
}

/// istio-sidecar's packaging: its spec, what it requires of istio-proxy, its inputs.
fn sidecar_plan(build: &Build, template: &PackageOptions) -> Result<Vec<String>> {
    let opts = sidecar::options(build, template)?;
    let mut lines = vec![format!(
        "istio-sidecar from the built-in specs/istio-sidecar.toml, requiring istio-proxy = {}",
        sidecar::proxy_requirement(build)?
    )];
    for input in &opts.inputs {
        lines.push(format!("   {:<13} {}", input.name, input.path.display()));
    }
    let level = opts
        .flags
        .level
        .unwrap_or(opts.flags.compression.default_level());
    lines.push(format!(
        "{} payload level {level}, -> {}/",
        opts.flags.compression.tag_name(),
        opts.out.display()
    ));
    if let Some(key) = &build.sign_key {
        lines.push(format!("then sign it with {}", key.describe()));
    }
    Ok(lines)
}

/// pilot-agent's fetch and Go build, or the check of the one `--pilot-agent` gives.
fn agent_plan(build: &Build, image: Option<&str>) -> Result<Vec<String>> {
    if let Some(given) = &build.pilot_agent {
        return Ok(vec![format!(
            "not built: --pilot-agent {} (checked: x86_64, static or GLIBC <= 2.17)",
            given.display()
        )]);
    }
    let mut opts = build.agent.clone();
    opts.image = image.unwrap_or_default().to_string();
    let commit = agent::tag_commit(&build.workdir, build.version).ok();
    agent::plan(&opts, commit.as_deref())
}
