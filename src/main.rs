use std::process::ExitCode;

use clap::{Parser, Subcommand};
use proxy_rpm::{
    Reporter, bazel, container, doctor, package, pipeline, release, sign, source, verify,
};

/// Build a CentOS 7 installable istio-proxy (Envoy) RPM for an Istio release, and with
/// `build --sidecar` the istio-sidecar RPM (pilot-agent, start script, unit) beside it.
#[derive(Parser)]
#[command(version, about, after_help = release::supported_help())]
struct Cli {
    /// Print only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print every external command as it is run.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole job: resolve, image, prepare, compile, package, verify (with --sidecar also
    /// pilot-agent and the istio-sidecar RPM).
    Build(Box<pipeline::BuildArgs>),
    /// Print the istio/proxy commit an Istio release pins.
    Resolve(release::ResolveArgs),
    /// Fetch istio/proxy at the pinned commit and Istio's packaging files.
    Prepare(source::PrepareArgs),
    /// Build the CentOS 7 builder image.
    Image(container::ImageArgs),
    /// Run Bazel in the builder container and copy out the Envoy binary.
    Compile(Box<bazel::CompileArgs>),
    /// Write an RPM from its spec and inputs: istio-proxy (Envoy and Istio's files) or
    /// istio-sidecar (pilot-agent, istio-start.sh, istio.service).
    Package(Box<package::PackageOptions>),
    /// Check that CentOS 7 will accept an RPM and run what is inside.
    Verify(verify::VerifyArgs),
    /// Show what an RPM contains, without rpm installed.
    Inspect(verify::InspectArgs),
    /// Sign an RPM so that CentOS 7's rpm 4.11 can verify it.
    Sign(sign::SignArgs),
    /// Check this host before a build: engine, git, disk, cores, memory, network.
    Doctor(Box<doctor::DoctorArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = Reporter::new(cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Build(args) => args.run(&reporter),
        Command::Resolve(args) => args.run(&reporter),
        Command::Prepare(args) => args.run(&reporter),
        Command::Image(args) => args.run(&reporter),
        Command::Compile(args) => args.run(&reporter),
        Command::Package(args) => args.run(&reporter),
        Command::Verify(args) => args.run(&reporter),
        Command::Inspect(args) => args.run(&reporter),
        Command::Sign(args) => args.run(&reporter),
        Command::Doctor(args) => args.run(&reporter),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            reporter.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
