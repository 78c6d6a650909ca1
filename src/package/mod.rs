//! The RPM writer.

use std::process::ExitCode;

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct PackageArgs {}

impl PackageArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
