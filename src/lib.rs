//! proxy-rpm: builds a CentOS 7 installable `istio-proxy` (Envoy) RPM for an Istio 1.6.x release.
//!
//! One module per stage of the job; `main.rs` only parses arguments and calls `run` on the
//! options struct of the chosen subcommand.

pub mod atomic;
pub mod elf;
pub mod error;
pub mod report;
pub mod run;
pub mod spec;

pub mod bazel;
pub mod container;
pub mod package;
pub mod pipeline;
pub mod release;
pub mod sign;
pub mod source;
pub mod verify;

pub use error::{Error, Result};
pub use report::Reporter;
