//! The whole job as one resumable pipeline: `proxy-rpm build VERSION`.

mod lock;
mod stage;
mod state;

use std::process::ExitCode;

pub use lock::WorkdirLock;
pub use stage::Stage;
pub use state::{StageRecord, State};

use crate::{Error, Reporter, Result};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {}

impl BuildArgs {
    pub fn run(self, _reporter: &Reporter) -> Result<ExitCode> {
        Err(Error::failed("not implemented yet"))
    }
}
