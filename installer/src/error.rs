//! The command's error type: a message an artist can act on, and the exit code to leave with.

use std::fmt;

/// An error the command reports on stderr before exiting non-zero.
#[derive(Debug)]
pub struct Error {
    pub message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<pixelspace_shared::error::Error> for Error {
    fn from(e: pixelspace_shared::error::Error) -> Self {
        Error::new(e.to_string())
    }
}

impl From<pixelspace_host::HostError> for Error {
    fn from(e: pixelspace_host::HostError) -> Self {
        Error::new(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds what was being done, and to which path, to an I/O error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", what())))
    }
}
