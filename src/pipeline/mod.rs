//! The whole job as one resumable pipeline: `proxy-rpm build VERSION` runs resolve → image →
//! prepare → compile → package → verify in a work dir, records each finished stage with the
//! hash of its inputs, and on a rerun skips what is done and resumes at the first stage that is
//! not. A build lasts hours; a failure or a Ctrl-C must cost only the stage it interrupted.

mod lock;
mod plan;
mod stage;
mod stages;
mod state;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

pub use lock::WorkdirLock;
pub use stage::Stage;
pub use state::{StageRecord, State};

use crate::bazel::{BazelFlags, CompileOptions};
use crate::container::{self, Engine, EngineChoice, ImageOptions};
use crate::error::{Error, IoContext, Result};
use crate::package::{PackageFlags, PackageOptions};
use crate::release::{IstioVersion, ResolveFlags, ResolveOptions};
use crate::report::Reporter;
use crate::sign::SigningKey;
use crate::source::{DEFAULT_PROXY_REPO, PrepareOptions};

/// `proxy-rpm build VERSION`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Istio release, e.g. 1.6.14.
    pub version: String,
    /// Work dir: source tree, logs, state (default ./proxy-rpm-work/VERSION).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Also copy the finished RPM into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run again from this stage on, even if it finished before.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub from: Option<Stage>,
    /// Print the plan (stages, commands, paths) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Package this Envoy instead of building one (skips image and compile; still verified).
    #[arg(long, value_name = "PATH")]
    pub envoy_binary: Option<PathBuf>,
    /// Container engine (default: $PROXY_RPM_ENGINE, else docker (if its daemon answers), else podman); `none` runs
    /// Bazel on this host.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Use this builder image instead of building containers/centos7/Dockerfile.
    #[arg(long)]
    pub image: Option<String>,
    /// istio/proxy repository to fetch the pinned commit from.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PROXY_REPO)]
    pub proxy_repo: String,
    /// Replace a source tree at another commit or with local changes.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub resolve: ResolveFlags,
    #[command(flatten)]
    pub bazel: BazelFlags,
    #[command(flatten)]
    pub package: PackageFlags,
    /// Sign the RPM with this RSA secret key (passphrase, if any, from
    /// PROXY_RPM_SIGN_PASSPHRASE), as `proxy-rpm sign` does.
    #[arg(long, value_name = "SECRET.asc")]
    pub sign_key: Option<PathBuf>,
}

/// Everything the stages need, resolved once from the arguments.
pub struct Build {
    pub version: IstioVersion,
    /// Absolute.
    pub workdir: PathBuf,
    pub out: Option<PathBuf>,
    pub from: Option<Stage>,
    pub envoy_binary: Option<PathBuf>,
    pub engine: Option<Engine>,
    pub image: Option<String>,
    pub resolve: ResolveOptions,
    pub prepare: PrepareOptions,
    pub compile: CompileOptions,
    pub package: PackageOptions,
    /// Loaded before anything runs, so a bad key fails in seconds, not after the build.
    pub sign_key: Option<SigningKey>,
}

impl Build {
    fn from_args(args: BuildArgs) -> Result<Build> {
        let resolve = args.resolve.options(&args.version)?;
        let version = resolve.version;
        let workdir = args
            .workdir
            .clone()
            .unwrap_or_else(|| PathBuf::from("proxy-rpm-work").join(version.to_string()));
        let workdir = std::path::absolute(&workdir).at(&workdir)?;
        if let Some(envoy) = &args.envoy_binary
            && !envoy.is_file()
        {
            return Err(Error::input(format!(
                "--envoy-binary {}: no such file; give the path of an Envoy built for CentOS 7",
                envoy.display()
            )));
        }
        let engine = if args.envoy_binary.is_some() {
            None
        } else {
            container::detect(args.engine)?
        };
        let mut prepare = PrepareOptions::new(&workdir);
        prepare.force = args.force;
        prepare.proxy_repo = args.proxy_repo.clone();
        prepare.istio_repo = resolve.istio_repo.clone();
        prepare.net = resolve.net.clone();
        let mut compile = CompileOptions::new(&workdir, engine.clone(), "")?;
        compile.bazelrc = vec![crate::source::bazelrc_path(&workdir)];
        args.bazel.apply(&mut compile)?;
        let files = workdir.join("files");
        let package = PackageOptions {
            version: version.to_string(),
            envoy: args
                .envoy_binary
                .clone()
                .unwrap_or_else(|| workdir.join("out").join("envoy")),
            sidecar_env: files.join("sidecar.env"),
            bootstrap: files.join("envoy_bootstrap_v2.json"),
            out: workdir.join("rpm"),
            flags: args.package.clone(),
            allow_newer_glibc: false,
            threads: None,
        };
        let sign_key = args.sign_key.as_deref().map(SigningKey::load).transpose()?;
        Ok(Build {
            sign_key,
            version,
            workdir,
            out: args.out,
            from: args.from,
            envoy_binary: args.envoy_binary,
            engine,
            image: args.image,
            resolve,
            prepare,
            compile,
            package,
        })
    }

    /// Whether this build makes its own Envoy (image and compile stages).
    pub fn compiles(&self) -> bool {
        self.envoy_binary.is_none()
    }

    /// Whether this build needs a builder image it must build itself.
    pub fn builds_image(&self) -> bool {
        self.compiles() && self.engine.is_some() && self.image.is_none()
    }

    pub fn image_options(&self) -> Option<ImageOptions> {
        let engine = self.engine.clone()?;
        let mut options = ImageOptions::new(engine);
        options.log = Some(self.log(Stage::Image));
        Some(options)
    }

    pub fn log(&self, stage: Stage) -> PathBuf {
        self.workdir
            .join("logs")
            .join(format!("{}.log", stage.name()))
    }
}

impl BuildArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let dry_run = self.dry_run;
        let build = Build::from_args(self)?;
        if dry_run {
            print!("{}", plan::render(&build)?);
            return Ok(ExitCode::SUCCESS);
        }
        let finished = stages::run(&build, reporter)?;
        reporter.info(summary::render(&build, &finished));
        println!("{}", finished.rpm.display());
        Ok(ExitCode::SUCCESS)
    }
}
