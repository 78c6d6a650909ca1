//! The istio/proxy source tree and Istio's packaging files.

pub mod git;

use std::process::ExitCode;

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct PrepareArgs {}

impl PrepareArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
