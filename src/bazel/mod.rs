//! The Bazel build of Envoy inside the builder container: `proxy-rpm compile`.
//!
//! The work dir and a persistent cache dir are mounted at the same absolute paths, so that a
//! rerun after a failure or a kill resumes from Bazel's output base and repository cache.

mod command;
mod farm;
mod output;
pub mod rc;
pub mod remote;
mod remote_report;
pub mod secret;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::container::args::{Mount, PASS_ENV};
use crate::container::job::Job;
use crate::container::{self, Engine, EngineChoice};
use crate::error::IoContext;
use crate::run::Cmd;
use crate::{Error, Reporter, Result};

pub use command::{
    Layout, OUTPUT, TARGET, action_counts, bazel_args, last_process_summary, output_base,
};
pub use output::copy_output;
pub use remote::Remote;

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
    /// A Bazel rc file imported after prepare's (repeatable, in order), so prepare's CentOS 7
    /// settings stay; compile passes Bazel one generated rc that imports them all.
    #[arg(long = "bazelrc", value_name = "PATH")]
    pub bazelrc: Vec<PathBuf>,
    /// An argument passed to `bazel build` as is (repeatable).
    #[arg(long = "bazel-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub bazel_args: Vec<String>,
    /// A directory of pre-downloaded archives for offline builds (repeatable).
    #[arg(long, value_name = "DIR")]
    pub distdir: Vec<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
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
        options.user_bazelrc = self.bazelrc.clone();
        options.bazel_args = self.bazel_args.clone();
        options.distdir = self.distdir.clone();
        options.remote = self.remote.clone();
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
        // Without --image: the base image, or the variant the release's line needs (built
        // FROM it), as `build` uses.
        let image = match (&engine, self.image) {
            (_, Some(image)) => image,
            (None, None) => String::new(),
            (Some(engine), None) => container::variant::release_image(
                engine,
                self.version.as_deref(),
                self.dry_run,
                reporter,
            )?,
        };
        let mut options = CompileOptions::new(workdir, engine, &image)?;
        self.flags.apply(&mut options)?;
        if self.dry_run {
            for cmd in plan(&options)? {
                println!("{}", cmd.display());
            }
            let layout = Layout::of(&options).at(&options.workdir)?;
            for line in rc::describe(&layout.bazelrc, &layout.rc_imports) {
                println!("# {line}");
            }
            for line in remote::plan_lines(&planned(&options)) {
                println!("# {line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let compiled = compile(&options, reporter)?;
        println!("{}", compiled.envoy.display());
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
    /// prepare's rc files (the CentOS 7 cxxopts), imported first by the generated rc.
    pub our_bazelrc: Vec<PathBuf>,
    /// The user's `--bazelrc` files, imported after ours, in order.
    pub user_bazelrc: Vec<PathBuf>,
    pub jobs: Option<u32>,
    pub bazel_args: Vec<String>,
    pub distdir: Vec<PathBuf>,
    /// Remote cache and build farm; `remote.image` is filled in by compile's preflight.
    pub remote: Remote,
    pub cc: String,
    pub cxx: String,
    pub bazel: String,
}

impl CompileOptions {
    /// Defaults for a work dir: the default cache dir, prepare's bazelrc files, clang.
    pub fn new(workdir: impl Into<PathBuf>, engine: Option<Engine>, image: &str) -> Result<Self> {
        let workdir = workdir.into();
        Ok(CompileOptions {
            our_bazelrc: default_bazelrcs(&workdir),
            user_bazelrc: Vec::new(),
            workdir,
            engine,
            image: image.to_string(),
            cache_dir: default_cache_dir()?,
            jobs: None,
            bazel_args: Vec::new(),
            distdir: Vec::new(),
            remote: Remote::default(),
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

/// The rc files `prepare` wrote: `WORKDIR/bazel/*.bazelrc` (and `WORKDIR/bazel/bazelrc`),
/// sorted, but not the one compile generates.
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
                    n == "bazelrc"
                        || (n.ends_with(".bazelrc") && !n.starts_with('.') && n != rc::FILE_NAME)
                })
        })
        .collect();
    found.sort();
    found
}

/// The commands `compile` would run, for `--dry-run` plans (the container name is one
/// example of the unique names a real run picks).
pub fn plan(options: &CompileOptions) -> Result<Vec<Cmd>> {
    remote::validate(options)?;
    let options = planned(options);
    let layout = Layout::of(&options).at(&options.workdir)?;
    Ok(vec![bazel_job(&options, &layout).plan()?])
}

/// The options as a plan shows them: the farm's image from the push record, if any.
fn planned(options: &CompileOptions) -> CompileOptions {
    let mut options = options.clone();
    if options.remote.remote_executor.is_some() && options.remote.image.is_none() {
        options.remote.image = remote::recorded(&options);
    }
    options
}

/// What a compile leaves.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// `WORKDIR/out/envoy`.
    pub envoy: PathBuf,
    /// With a farm: the farm, its image and where Bazel's actions ran, for summaries.
    pub remote: Option<String>,
}

/// Run Bazel and copy the binary to `WORKDIR/out/envoy` (mode 0755, owned by the caller).
pub fn compile(options: &CompileOptions, reporter: &Reporter) -> Result<Compiled> {
    let mut options = options.clone();
    options.remote.image = remote::check(&options, reporter)?;
    let options = &options;
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
    let headers = secret::headers(options.remote.remote_header_file.as_deref())?;
    write_rc(options, &layout, !headers.is_empty(), reporter)?;
    // Removed (and redacted from Bazel's server log) when dropped, however the run ends.
    let _headers = match headers.is_empty() {
        true => None,
        false => Some(secret::HeaderFile::write(
            &layout.workdir,
            &layout.output_base,
            &layout.log,
            &headers,
        )?),
    };
    let mut summary = None;
    let ran = bazel_job(options, &layout).run(reporter, |line, step| {
        if let Some((done, total)) = action_counts(line) {
            step.message(format!("[{done} / {total}] actions"));
        } else if let Some(s) = command::process_summary(line) {
            summary = Some(s.to_string());
        }
    });
    let step = ran.map_err(|stop| {
        let hint = format!(
            "rerun to resume from the Bazel cache in {} (log: {})",
            layout.cache_dir.display(),
            layout.log.display()
        );
        secret::scrub(stop.into_error("compile", "Bazel", &hint), &headers)
    })?;
    copy_output(&layout.tree.join(OUTPUT), &layout.output)?;
    step.finish("done");
    let remote = remote::summary(&options.remote, summary.as_deref());
    if let Some(line) = &remote {
        reporter.info(format!("    remote: {line}"));
    }
    if let Some(summary) = summary {
        reporter.info(format!("    bazel: {summary}"));
    }
    Ok(Compiled {
        envoy: layout.output,
        remote,
    })
}

/// Check that every rc file to import is there, then write the one rc Bazel is given (with a
/// `try-import` of the remote headers' file when there are headers; a stale one goes).
fn write_rc(
    options: &CompileOptions,
    layout: &Layout,
    headers: bool,
    reporter: &Reporter,
) -> Result<()> {
    if options.our_bazelrc.is_empty() {
        reporter.warn(format!(
            "no bazelrc from prepare in {}: building without the CentOS 7 cxxopts; run \
             `proxy-rpm prepare VERSION --workdir {}` first",
            layout.workdir.join("bazel").display(),
            options.workdir.display()
        ));
    }
    rc::require(&layout.rc_imports)?;
    let mut text = rc::contents(&layout.rc_imports);
    let header_file = secret::path(&layout.workdir);
    if headers {
        text.push_str(&rc::try_import(&header_file));
    } else {
        let _ = std::fs::remove_file(&header_file);
    }
    crate::atomic::write(&layout.bazelrc, text.as_bytes(), 0o644)?;
    Ok(())
}

/// Bazel, on the host or in the builder container. In the container `HOME` is in the cache
/// dir and `USER` is set: Bazel refuses to start without a user name, and the container's uid
/// may have none. The proxy variables and BAZELISK_BASE_URL go in by name when set: bazelisk
/// reads that one as a mirror of Bazel's release binaries and appends `/<VERSION>/<FILE>`
/// (bazelbuild/bazelisk@v1.10.1:README.md). On the host Bazel inherits them.
fn bazel_job(options: &CompileOptions, layout: &Layout) -> Job {
    Job {
        purpose: "compile",
        engine: options.engine.clone(),
        image: options.image.clone(),
        workdir: layout.workdir.clone(),
        mounts: mounts(layout, &remote::files(&options.remote)),
        dir: layout.tree.clone(),
        env: vec![
            ("CC".into(), options.cc.clone()),
            ("CXX".into(), options.cxx.clone()),
        ],
        container_env: vec![
            ("HOME".into(), layout.home.to_string_lossy().into_owned()),
            ("USER".into(), "proxy-rpm".into()),
        ],
        pass_env: PASS_ENV,
        program: options.bazel.clone(),
        args: bazel_args(options, layout),
        log: layout.log.clone(),
    }
}

/// The work dir and cache dir read-write; imported rc files, distdirs and the farm's TLS and
/// credential files outside them read-only (the generated rc is in the work dir).
fn mounts(layout: &Layout, remote_files: &[PathBuf]) -> Vec<Mount> {
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
    for path in layout
        .rc_imports
        .iter()
        .chain(&layout.distdir)
        .chain(remote_files)
    {
        if !mounts.iter().any(|m| path.starts_with(&m.path)) {
            mounts.push(Mount {
                path: path.clone(),
                read_only: true,
            });
        }
    }
    mounts
}
