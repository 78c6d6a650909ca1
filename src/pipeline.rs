//! The whole job as one resumable pipeline.

use std::process::ExitCode;

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {}

impl BuildArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
