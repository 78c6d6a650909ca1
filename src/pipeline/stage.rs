//! The stages of `proxy-rpm build`, in order.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Stage {
    Resolve,
    Image,
    Prepare,
    Compile,
    Package,
    Verify,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Resolve,
        Stage::Image,
        Stage::Prepare,
        Stage::Compile,
        Stage::Package,
        Stage::Verify,
    ];

    /// "[3/6]": where this stage stands in the pipeline, for progress lines.
    pub fn counter(self) -> String {
        let index = Stage::ALL.iter().position(|s| *s == self).unwrap_or(0);
        format!("[{}/{}]", index + 1, Stage::ALL.len())
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Image => "image",
            Stage::Prepare => "prepare",
            Stage::Compile => "compile",
            Stage::Package => "package",
            Stage::Verify => "verify",
        }
    }
}
