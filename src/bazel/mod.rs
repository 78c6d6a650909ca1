//! The Bazel build of Envoy inside the builder container: `proxy-rpm compile`.
//!
//! The work dir and a persistent cache dir are mounted at the same absolute paths, so that a
//! rerun after a failure or a kill resumes from Bazel's output base and repository cache.

mod command;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::container::args::{Mount, RunSpec, WORKDIR_LABEL};
use crate::container::guard::ContainerGuard;
use crate::container::interrupt::{Watch, signal_name};
use crate::container::{self, Engine, EngineChoice};
use crate::error::IoContext;
use crate::run::{ChildPids, Cmd};
use crate::{Error, Reporter, Result};

pub use command::{Layout, OUTPUT, TARGET, action_counts, bazel_args, output_base};
pub use output::copy_output;

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// Istio release; names the default work dir (./proxy-rpm-work/VERSION).
    pub version: Option<String>,
    /// Work dir holding the tree `prepare` made (src/istio-proxy).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Container engine (default: $PROXY_RPM_ENGINE, else docker (if its daemon answers), else podman); `none` runs
    /// Bazel on this host.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Builder image (default: the built-in CentOS 7 image, built if missing).
    #[arg(long)]
    pub image: Option<String>,
    /// Extra Bazel rc file (repeatable; default: WORKDIR/bazel/*.bazelrc from `prepare`).
    #[arg(long = "bazelrc", value_name = "PATH")]
    pub bazelrc: Vec<PathBuf>,
    #[command(flatten)]
    pub flags: BazelFlags,
    /// Print the command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Bazel settings shared by `compile` and `build`.
#[derive(clap::Args, Debug, Clone)]
pub struct BazelFlags {
    /// Bazel output base and repository cache, kept between runs.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Bazel's --jobs.
    #[arg(long)]
    pub jobs: Option<u32>,
    /// An argument passed to `bazel build` as is (repeatable).
    #[arg(long = "bazel-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub bazel_args: Vec<String>,
    /// A directory of pre-downloaded archives for offline builds (repeatable).
    #[arg(long, value_name = "DIR")]
    pub distdir: Vec<PathBuf>,
    /// Bazel remote cache (e.g. http://cache:8080 or grpc://…), shared by a team.
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Bazel remote execution service (a build farm).
    #[arg(long, value_name = "URL")]
    pub remote_executor: Option<String>,
    /// C compiler Bazel configures with.
    #[arg(long, default_value = "clang")]
    pub cc: String,
    /// C++ compiler Bazel configures with.
    #[arg(long, default_value = "clang++")]
    pub cxx: String,
    /// The Bazel program (bazelisk in the image).
    #[arg(long, default_value = "bazel")]
    pub bazel: String,
}

impl BazelFlags {
    /// Put these settings into compile options (the cache dir defaults to ~/.cache/proxy-rpm).
    pub fn apply(&self, options: &mut CompileOptions) -> Result<()> {
        options.cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir()?,
        };
        options.jobs = self.jobs;
        options.bazel_args = self.bazel_args.clone();
        options.distdir = self.distdir.clone();
        options.remote_cache = self.remote_cache.clone();
        options.remote_executor = self.remote_executor.clone();
        options.cc = self.cc.clone();
        options.cxx = self.cxx.clone();
        options.bazel = self.bazel.clone();
        Ok(())
    }
}

impl CompileArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let workdir = match (self.workdir, &self.version) {
            (Some(dir), _) => dir,
            (None, Some(version)) => default_workdir(version)?,
            (None, None) => {
                return Err(Error::input(
                    "compile: give the release (`proxy-rpm compile 1.6.14`) or --workdir DIR",
                ));
            }
        };
        let engine = container::detect(self.engine)?;
        let image = match (&engine, self.image) {
            (_, Some(image)) => image,
            (None, None) => String::new(),
            (Some(engine), None) if self.dry_run => {
                container::image_plan(&container::ImageOptions::new(engine.clone()))?.tag
            }
            (Some(engine), None) => {
                container::build_image(&container::ImageOptions::new(engine.clone()), reporter)?.tag
            }
        };
        let bazelrc = if self.bazelrc.is_empty() {
            default_bazelrcs(&workdir)
        } else {
            self.bazelrc
        };
        let mut options = CompileOptions::new(workdir, engine, &image)?;
        options.bazelrc = bazelrc;
        self.flags.apply(&mut options)?;
        if self.dry_run {
            for cmd in plan(&options)? {
                println!("{}", cmd.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
        let out = compile(&options, reporter)?;
        println!("{}", out.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// Everything a compile needs; the pipeline builds this without clap.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub workdir: PathBuf,
    /// `None`: run Bazel on this host (`--engine none`).
    pub engine: Option<Engine>,
    /// The builder image (ignored on the host).
    pub image: String,
    pub cache_dir: PathBuf,
    /// Passed as `--bazelrc` startup options, in order.
    pub bazelrc: Vec<PathBuf>,
    pub jobs: Option<u32>,
    pub bazel_args: Vec<String>,
    pub distdir: Vec<PathBuf>,
    pub remote_cache: Option<String>,
    pub remote_executor: Option<String>,
    pub cc: String,
    pub cxx: String,
    pub bazel: String,
}

impl CompileOptions {
    /// Defaults for a work dir: the default cache dir, prepare's bazelrc files, clang.
    pub fn new(workdir: impl Into<PathBuf>, engine: Option<Engine>, image: &str) -> Result<Self> {
        let workdir = workdir.into();
        Ok(CompileOptions {
            bazelrc: default_bazelrcs(&workdir),
            workdir,
            engine,
            image: image.to_string(),
            cache_dir: default_cache_dir()?,
            jobs: None,
            bazel_args: Vec::new(),
            distdir: Vec::new(),
            remote_cache: None,
            remote_executor: None,
            cc: "clang".into(),
            cxx: "clang++".into(),
            bazel: "bazel".into(),
        })
    }
}

/// `./proxy-rpm-work/VERSION`.
pub fn default_workdir(version: &str) -> Result<PathBuf> {
    if version.is_empty() || version.contains('/') || version.starts_with('.') {
        return Err(Error::input(format!(
            "`{version}` is not a release like 1.6.14 (or pass --workdir DIR)"
        )));
    }
    Ok(PathBuf::from("proxy-rpm-work").join(version))
}

/// `$XDG_CACHE_HOME/proxy-rpm`, else `~/.cache/proxy-rpm`.
pub fn default_cache_dir() -> Result<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(dir) = from("XDG_CACHE_HOME") {
        return Ok(dir.join("proxy-rpm"));
    }
    from("HOME")
        .map(|home| home.join(".cache").join("proxy-rpm"))
        .ok_or_else(|| Error::input("HOME is not set: pass --cache-dir DIR"))
}

/// The rc files `prepare` wrote: `WORKDIR/bazel/*.bazelrc` (and `WORKDIR/bazel/bazelrc`), sorted.
pub fn default_bazelrcs(workdir: &Path) -> Vec<PathBuf> {
    let dir = workdir.join("bazel");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == "bazelrc" || (n.ends_with(".bazelrc") && !n.starts_with('.'))
                })
        })
        .collect();
    found.sort();
    found
}

/// The commands `compile` would run, for `--dry-run` plans (the container name is one
/// example of the unique names a real run picks).
pub fn plan(options: &CompileOptions) -> Result<Vec<Cmd>> {
    let layout = Layout::of(options).at(&options.workdir)?;
    Ok(vec![
        bazel_cmd(options, &layout, &container::args::unique_name("compile"))?.0,
    ])
}

/// Run Bazel and copy the binary to `WORKDIR/out/envoy` (mode 0755, owned by the caller).
pub fn compile(options: &CompileOptions, reporter: &Reporter) -> Result<PathBuf> {
    let layout = Layout::of(options).at(&options.workdir)?;
    if !layout.tree.is_dir() {
        return Err(Error::input(format!(
            "no source tree at {}: run `proxy-rpm prepare VERSION --workdir {}` first",
            layout.tree.display(),
            options.workdir.display()
        )));
    }
    for dir in [
        layout.log.parent().unwrap_or(&layout.workdir),
        layout.output.parent().unwrap_or(&layout.workdir),
        layout.output_base.parent().unwrap_or(&layout.cache_dir),
        &layout.output_user_root,
        &layout.repository_cache,
        &layout.home,
    ] {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    if let Some(engine) = &options.engine {
        let exists = engine
            .image_inspect(&options.image, "{{.Id}}")
            .read(reporter);
        if exists.is_err() {
            return Err(container::missing_image(&options.image));
        }
    }
    let name = container::args::unique_name("compile");
    let (cmd, container_name) = bazel_cmd(options, &layout, &name)?;
    let pids = ChildPids::new();
    let cmd = cmd.log(&layout.log).track(&pids);
    // Dropped in reverse order: the watch stops reacting to signals, then the guard removes
    // the container if anything is left of it.
    let _guard = match (&options.engine, &container_name) {
        (Some(engine), Some(name)) => Some(ContainerGuard::new(engine, name, reporter)),
        _ => None,
    };
    let watch = Watch::new(&pids, options.engine.clone().zip(container_name.clone()))?;

    let step = reporter.step("compile");
    let mut summary = None;
    let result = cmd.run_lines(reporter, |line| {
        if let Some((done, total)) = action_counts(line) {
            step.message(format!("[{done} / {total}] actions"));
        } else if let Some(s) = command::process_summary(line) {
            summary = Some(s.to_string());
        }
    });
    if let Some(signal) = watch.signal() {
        step.finish("interrupted");
        let what = match &container_name {
            Some(name) => format!("container {name} removed"),
            None => "Bazel stopped".to_string(),
        };
        return Err(Error::failed(format!(
            "compile interrupted by {}: {what}; rerun to resume from the Bazel cache in {} (log: {})",
            signal_name(signal),
            layout.cache_dir.display(),
            layout.log.display()
        )));
    }
    if let Err(e) = result {
        step.finish("failed");
        return Err(e.into());
    }
    copy_output(&layout.tree.join(OUTPUT), &layout.output)?;
    step.finish("done");
    if let Some(summary) = summary {
        reporter.info(format!("    bazel: {summary}"));
    }
    Ok(layout.output)
}

/// The Bazel command, on the host or wrapped in `engine run`; the container name when wrapped.
fn bazel_cmd(
    options: &CompileOptions,
    layout: &Layout,
    name: &str,
) -> Result<(Cmd, Option<String>)> {
    let args = bazel_args(options, layout);
    let Some(engine) = &options.engine else {
        let cmd = Cmd::new(&options.bazel)
            .args(args)
            .dir(&layout.tree)
            .env("CC", &options.cc)
            .env("CXX", &options.cxx);
        return Ok((cmd, None));
    };
    let (uid, gid) = container::caller_ids()?;
    let mut spec = RunSpec::new(&options.image, "compile");
    spec.name = name.to_string();
    spec.labels = vec![(
        WORKDIR_LABEL.to_string(),
        layout.workdir.to_string_lossy().into_owned(),
    )];
    spec.mounts = mounts(layout);
    spec.workdir = Some(layout.tree.clone());
    spec.user = Some((uid, gid));
    spec.set_env = vec![
        ("HOME".into(), layout.home.to_string_lossy().into_owned()),
        // Bazel refuses to start without a user name; the container's uid may have none.
        ("USER".into(), "proxy-rpm".into()),
        ("CC".into(), options.cc.clone()),
        ("CXX".into(), options.cxx.clone()),
    ];
    // Our output is a pipe to the log (and Bazel's curses output would garble it): no TTY.
    spec.tty = false;
    spec.command = std::iter::once(options.bazel.clone().into())
        .chain(args)
        .collect();
    Ok((spec.to_cmd(engine)?, Some(name.to_string())))
}

/// The work dir and cache dir read-write; rc files and distdirs outside them read-only.
fn mounts(layout: &Layout) -> Vec<Mount> {
    let mut mounts = vec![
        Mount {
            path: layout.workdir.clone(),
            read_only: false,
        },
        Mount {
            path: layout.cache_dir.clone(),
            read_only: false,
        },
    ];
    for path in layout.bazelrc.iter().chain(&layout.distdir) {
        if !mounts.iter().any(|m| path.starts_with(&m.path)) {
            mounts.push(Mount {
                path: path.clone(),
                read_only: true,
            });
        }
    }
    mounts
}
