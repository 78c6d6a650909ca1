//! The whole job as one resumable pipeline: `proxy-rpm build VERSION` runs resolve → image →
//! prepare → compile → (agent) → package → (sidecar) → verify in a work dir (the stages in
//! parentheses with `--sidecar` only), records each finished stage with the hash of its inputs,
//! and on a rerun skips what is done and resumes at the first stage that is not. A build lasts
//! hours; a failure or a Ctrl-C must cost only the stage it interrupted.

mod agent;
mod lock;
mod plan;
mod runner;
mod sidecar;
mod stage;
mod stages;
mod state;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

pub use lock::WorkdirLock;
pub use stage::Stage;
pub use state::{StageRecord, State};

use crate::agent::AgentOptions;
use crate::bazel::{BazelFlags, CompileOptions};
use crate::container::variant::{self, Variant};
use crate::container::{self, Engine, EngineChoice, ImageOptions};
use crate::error::{Error, IoContext, Result};
use crate::package::{BuiltinSpec, NamedInput, PackageFlags, PackageOptions};
use crate::release::{self, IstioVersion, Profile, Release, ResolveFlags, ResolveOptions};
use crate::report::Reporter;
use crate::sign::SigningKey;
use crate::source::{DEFAULT_PROXY_REPO, PrepareOptions};

/// `proxy-rpm build VERSION`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    #[arg(help = release::version_help())]
    pub version: String,
    /// Work dir: source tree, logs, state (default ./proxy-rpm-work/VERSION).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Also copy the finished RPM (both, with --sidecar) into this directory.
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
    /// Also build the istio-sidecar RPM, with pilot-agent built by Go from istio/istio at the
    /// release tag in the builder container (with --envoy-binary too); prints both paths.
    #[arg(long)]
    pub sidecar: bool,
    /// Use this pilot-agent instead of building one (still checked for CentOS 7).
    #[arg(long, value_name = "PATH", requires = "sidecar")]
    pub pilot_agent: Option<PathBuf>,
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
    /// Sign the RPM (both, with --sidecar) with this RSA secret key (passphrase, if any, from
    /// PROXY_RPM_SIGN_PASSPHRASE), as `proxy-rpm sign` does.
    #[arg(long, value_name = "SECRET.asc")]
    pub sign_key: Option<PathBuf>,
}

/// Everything the stages need, resolved once from the arguments.
pub struct Build {
    pub version: IstioVersion,
    /// What the release's line needs (profiles/releases.toml).
    pub profile: &'static Profile,
    /// The release's row of the built-in table: pin, Bazel, pilot-agent's build tags.
    pub release: &'static Release,
    /// Absolute.
    pub workdir: PathBuf,
    pub out: Option<PathBuf>,
    pub from: Option<Stage>,
    pub envoy_binary: Option<PathBuf>,
    /// `--sidecar`: pilot-agent too (the `agent` stage).
    pub sidecar: bool,
    /// `--pilot-agent`: a given pilot-agent, checked instead of built.
    pub pilot_agent: Option<PathBuf>,
    pub engine: Option<Engine>,
    pub image: Option<String>,
    /// The builder variant Envoy compiles in (the profile's `builder`), built by the image
    /// stage after the base image; `None` when the base image serves or nothing compiles.
    pub variant: Option<&'static Variant>,
    pub resolve: ResolveOptions,
    pub prepare: PrepareOptions,
    pub compile: CompileOptions,
    /// The image is filled in by the image stage.
    pub agent: AgentOptions,
    pub package: PackageOptions,
    /// `--sidecar`: istio-sidecar's packaging. Its pilot-agent is the agent stage's, and its
    /// release and dist are set to istio-proxy's by the sidecar stage.
    pub sidecar_package: Option<PackageOptions>,
    /// Loaded before anything runs, so a bad key fails in seconds, not after the build.
    pub sign_key: Option<SigningKey>,
}

impl Build {
    fn from_args(args: BuildArgs) -> Result<Build> {
        let resolve = args.resolve.options(&args.version)?;
        let version = resolve.version;
        // An unsupported release is refused before anything else, naming the supported ones.
        let (profile, row) = release::lookup(version)?;
        let workdir = args
            .workdir
            .clone()
            .unwrap_or_else(|| PathBuf::from("proxy-rpm-work").join(version.to_string()));
        let workdir = std::path::absolute(&workdir).at(&workdir)?;
        given_file("--envoy-binary", &args.envoy_binary, "an Envoy")?;
        given_file("--pilot-agent", &args.pilot_agent, "a pilot-agent")?;
        if let Some(path) = &args.pilot_agent {
            // Checked now, not hours later: a one-line refusal naming the symbol.
            crate::agent::check(path)?;
        }
        // Nothing runs in a container when both binaries are given.
        let builds_agent = args.sidecar && args.pilot_agent.is_none();
        let engine = if args.envoy_binary.is_some() && !builds_agent {
            None
        } else {
            container::detect(args.engine)?
        };
        crate::bazel::rc::require(&args.bazel.bazelrc)?;
        let mut prepare = PrepareOptions::new(&workdir);
        // With a given Envoy nothing compiles: only Istio's packaging files are fetched.
        prepare.fetch_tree = args.envoy_binary.is_none();
        prepare.force = args.force;
        prepare.proxy_repo = args.proxy_repo.clone();
        prepare.istio_repo = resolve.istio_repo.clone();
        prepare.net = resolve.net.clone();
        let mut compile = CompileOptions::new(&workdir, engine.clone(), "")?;
        compile.our_bazelrc = vec![crate::source::bazelrc_path(&workdir)];
        args.bazel.apply(&mut compile)?;
        // A farm without a pushed image, or with flags the pinned Bazel lacks: refused now.
        crate::bazel::remote::validate(&compile)?;
        let agent = AgentOptions {
            workdir: workdir.clone(),
            cache_dir: compile.cache_dir.clone(),
            engine: engine.clone(),
            image: String::new(),
            version,
            tags: row.agent_tags.clone(),
            go: profile.agent.go.clone(),
            istio_repo: resolve.istio_repo.clone(),
            net: resolve.net.clone(),
            force: args.force,
            log: stage_log(&workdir, Stage::Agent),
        };
        let files = workdir.join(crate::source::files::FILES_DIR);
        let file = |input: &str| files.join(&profile.file(input).name);
        let package = PackageOptions {
            version: version.to_string(),
            envoy: Some(
                args.envoy_binary
                    .clone()
                    .unwrap_or_else(|| workdir.join("out").join("envoy")),
            ),
            sidecar_env: Some(file("sidecar-env")),
            bootstrap: Some(file("bootstrap")),
            inputs: Vec::new(),
            builtin_spec: None,
            out: workdir.join("rpm"),
            flags: args.package.clone(),
            allow_newer_glibc: false,
            threads: None,
        };
        let sidecar_package = args.sidecar.then(|| {
            let pilot_agent = args
                .pilot_agent
                .clone()
                .unwrap_or_else(|| workdir.join("out").join("pilot-agent"));
            let input = |name: &str, path: PathBuf| NamedInput {
                name: name.to_string(),
                path,
            };
            PackageOptions {
                envoy: None,
                sidecar_env: None,
                bootstrap: None,
                inputs: vec![
                    input("pilot-agent", pilot_agent),
                    input("istio-start", file("istio-start")),
                    input("istio-service", file("istio-service")),
                ],
                builtin_spec: Some(BuiltinSpec::IstioSidecar),
                // --spec is istio-proxy's: the sidecar's is built in.
                flags: PackageFlags {
                    spec: None,
                    ..args.package.clone()
                },
                ..package.clone()
            }
        });
        let sign_key = args.sign_key.as_deref().map(SigningKey::load).transpose()?;
        let variant = match args.envoy_binary {
            Some(_) => None,
            None => variant::named(&profile.builder.variant)?,
        };
        Ok(Build {
            sign_key,
            version,
            profile,
            release: row,
            workdir,
            out: args.out,
            from: args.from,
            envoy_binary: args.envoy_binary,
            sidecar: args.sidecar,
            pilot_agent: args.pilot_agent,
            engine,
            image: args.image,
            variant,
            resolve,
            prepare,
            compile,
            agent,
            package,
            sidecar_package,
        })
    }

    /// Whether this build makes its own Envoy (image and compile stages).
    pub fn compiles(&self) -> bool {
        self.envoy_binary.is_none()
    }

    /// Whether this build makes its own pilot-agent (`--sidecar` without `--pilot-agent`).
    pub fn builds_agent(&self) -> bool {
        self.sidecar && self.pilot_agent.is_none()
    }

    /// Whether anything runs in the builder image: Envoy's compile or pilot-agent's build.
    pub fn uses_builder(&self) -> bool {
        self.compiles() || self.builds_agent()
    }

    /// Why no builder is needed, when [`Build::uses_builder`] is false: the binaries given.
    pub fn given_binaries(&self) -> &'static str {
        match self.sidecar {
            true => "--envoy-binary and --pilot-agent",
            false => "--envoy-binary",
        }
    }

    /// The stages of this build, in order: `agent` and `sidecar` only with `--sidecar`.
    pub fn stages(&self) -> Vec<Stage> {
        Stage::ALL
            .into_iter()
            .filter(|s| !s.sidecar_only() || self.sidecar)
            .collect()
    }

    /// What the builder must have besides the base image's toolchain: the extra names of the
    /// toolchain check an `--image` gets (the profile's `builder.needs` when Envoy compiles).
    pub fn builder_needs(&self) -> Vec<&str> {
        match self.compiles() {
            true => self
                .profile
                .builder
                .needs
                .iter()
                .map(String::as_str)
                .collect(),
            false => Vec::new(),
        }
    }

    /// What the user must see about the builder (a line's extra tools that no check of
    /// ours looks for: Bazel on this host), or `None`.
    pub fn builder_note(&self) -> Option<String> {
        let needs = self.builder_needs();
        if needs.is_empty() || self.engine.is_some() {
            return None;
        }
        Some(format!(
            "Istio {}'s Envoy needs {} on this host (--engine none; see {})",
            self.profile.line,
            needs.join(" and "),
            release::profile::DATA_PATH
        ))
    }

    pub fn image_options(&self) -> Option<ImageOptions> {
        let engine = self.engine.clone()?;
        let mut options = ImageOptions::new(engine);
        options.log = Some(self.log(Stage::Image));
        Some(options)
    }

    pub fn log(&self, stage: Stage) -> PathBuf {
        stage_log(&self.workdir, stage)
    }
}

/// `WORKDIR/logs/STAGE.log`.
fn stage_log(workdir: &std::path::Path, stage: Stage) -> PathBuf {
    workdir.join("logs").join(format!("{}.log", stage.name()))
}

/// A binary given instead of built must be there: refused before any stage runs.
fn given_file(flag: &str, path: &Option<PathBuf>, what: &str) -> Result<()> {
    match path {
        Some(path) if !path.is_file() => Err(Error::input(format!(
            "{flag} {}: no such file; give the path of {what} built for CentOS 7",
            path.display()
        ))),
        _ => Ok(()),
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
        if let Some(note) = build.builder_note() {
            reporter.warn(note);
        }
        // The engine was checked by detection; git is checked before any stage writes.
        crate::preflight::require_git(reporter)?;
        let finished = stages::run(&build, reporter)?;
        reporter.info(summary::render(&build, &finished));
        // One path a line, istio-proxy first, so scripts can take them apart by line.
        println!("{}", finished.rpm.display());
        if let Some(sidecar) = &finished.sidecar_rpm {
            println!("{}", sidecar.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
