//! The Bazel build of Envoy inside the builder container.

use std::process::ExitCode;

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct CompileArgs {}

impl CompileArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
