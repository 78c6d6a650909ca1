use std::process::ExitCode;

use clap::{Parser, Subcommand};
use proxy_rpm::{Reporter, bazel, container, package, pipeline, release, sign, source, verify};

/// Build a CentOS 7 installable istio-proxy (Envoy) RPM for an Istio release.
#[derive(Parser)]
#[command(version, about)]
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
    /// The whole job: resolve, image, prepare, compile, package, verify.
    Build(Box<pipeline::BuildArgs>),
    /// Print the istio/proxy commit an Istio release pins.
    Resolve(release::ResolveArgs),
    /// Fetch istio/proxy at the pinned commit and Istio's packaging files.
    Prepare(source::PrepareArgs),
    /// Build the CentOS 7 builder image.
    Image(container::ImageArgs),
    /// Run Bazel in the builder container and copy out the Envoy binary.
    Compile(bazel::CompileArgs),
    /// Write the RPM from an Envoy binary and the packaging files.
    Package(Box<package::PackageOptions>),
    /// Check that CentOS 7 will accept an RPM and run what is inside.
    Verify(verify::VerifyArgs),
    /// Show what an RPM contains, without rpm installed.
    Inspect(verify::InspectArgs),
    /// Sign an RPM so that CentOS 7's rpm 4.11 can verify it.
    Sign(sign::SignArgs),
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
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            reporter.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
