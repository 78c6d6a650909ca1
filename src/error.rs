//! The crate's error type. Every variant names what it is about (a path, a command, an input),
//! so that the one-line message a user sees says what to fix.

use std::io;
use std::path::{Path, PathBuf};

use crate::run::CommandError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file we read or write.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An external program failed or could not be started.
    #[error(transparent)]
    Command(#[from] Box<CommandError>),
    /// Bad input from the user: the message names the input and what to do.
    #[error("{0}")]
    Input(String),
    /// A problem in the package spec, pointing at its line.
    #[error("{}:{line}: {message}", path.display())]
    Spec {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The Envoy binary (or another ELF) is not one CentOS 7 can run.
    #[error("{}: {message}", path.display())]
    Elf { path: PathBuf, message: String },
    /// A file that should be an RPM could not be read as one.
    #[error("{}: not a readable RPM: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    /// The rpm crate failed while writing or reading metadata.
    #[error("{}: {source}", path.display())]
    Rpm {
        path: PathBuf,
        #[source]
        source: rpm::Error,
    },
    /// A git, network or other step failed in a way that has a specific hint.
    #[error("{message}")]
    Failed { message: String },
}

impl Error {
    /// The process exit code for this error: 2 for files that cannot be read at all (verify's
    /// contract), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Unreadable { .. } => 2,
            _ => 1,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Error::Command(Box::new(e))
    }
}

/// Attach the path to an I/O error: `fs::read(p).at(p)?`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}

impl<T> IoContext<T> for std::result::Result<T, rpm::Error> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| Error::Rpm {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}
