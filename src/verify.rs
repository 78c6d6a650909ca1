//! An independent CentOS 7 gate for any RPM.

use std::process::ExitCode;

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {}

impl VerifyArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {}

impl InspectArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
