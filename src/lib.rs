//! proxy-rpm: builds CentOS 7 installable `istio-proxy` (Envoy) and `istio-sidecar` RPMs for the
//! Istio releases `profiles/releases.toml` lists (1.6 and 1.7).
//!
//! One module per stage of the job; `main.rs` only parses arguments and calls `run` on the
//! options struct of the chosen subcommand.

pub mod atomic;
pub mod elf;
pub mod error;
pub mod net;
pub mod preflight;
pub mod report;
pub mod run;
pub mod spec;

pub mod agent;
pub mod bazel;
pub mod container;
pub mod doctor;
pub mod package;
pub mod pipeline;
pub mod release;
pub mod sign;
pub mod source;
pub mod verify;

pub use error::{Error, Result};
pub use report::Reporter;
