//! The one error type of the core library: a message an artist can act on.
//!
//! Errors are plain values carrying a human-readable message. Lower-level errors (I/O, JSON)
//! are converted with context so the message says *what* was being done, not only what failed:
//!
//! ```
//! use pixelspace_shared::error::{Error, Result, ResultExt};
//! fn read(path: &str) -> Result<String> {
//!     std::fs::read_to_string(path).context(format!("cannot read manifest {path}"))
//! }
//! let err = read("/definitely/not/here.json").unwrap_err();
//! assert!(err.message().starts_with("cannot read manifest /definitely/not/here.json: "));
//! ```

use std::fmt;

/// An error with a message meant for the person running the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

/// Result type used throughout the core library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with context: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            message: format!("{context}: {}", self.message),
        }
    }

    /// An error from any displayable cause, prefixed with context: `"{context}: {cause}"`.
    pub fn with_cause(context: impl fmt::Display, cause: impl fmt::Display) -> Self {
        Error {
            message: format!("{context}: {cause}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(e.to_string())
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::new(message)
    }
}

/// Adds context to any `Result` whose error is displayable (io, serde_json, our own `Error`, ...).
pub trait ResultExt<T> {
    /// Converts the error into an [`Error`] with message `"{context}: {cause}"`.
    fn context(self, context: impl fmt::Display) -> Result<T>;
    /// Like [`ResultExt::context`], building the context lazily (only on error).
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::with_cause(context, e))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::with_cause(f(), e))
    }
}

/// Returns early with an [`Error`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::error::Error::new(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message() {
        let e = Error::new("model file not found: a.onnx");
        assert_eq!(e.to_string(), "model file not found: a.onnx");
        assert_eq!(e.message(), "model file not found: a.onnx");
    }

    #[test]
    fn context_prefixes() {
        let e = Error::new("bad value").context("manifest x.json");
        assert_eq!(e.to_string(), "manifest x.json: bad value");
        let e = Error::with_cause("reading", "denied");
        assert_eq!(e.message(), "reading: denied");
    }

    #[test]
    fn from_io_and_json() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e: Error = io.into();
        assert_eq!(e.message(), "no such file");
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e: Error = json.into();
        assert!(e.message().contains("EOF"), "{}", e);
        fn q() -> Result<()> {
            std::fs::read("/no/such/pixelspace/file")?;
            Ok(())
        }
        assert!(q().is_err());
    }

    #[test]
    fn result_ext() {
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::other("boom"));
        assert_eq!(
            r.context("loading model").unwrap_err().message(),
            "loading model: boom"
        );
        let r: std::result::Result<u8, Error> = Err(Error::new("inner"));
        assert_eq!(
            r.with_context(|| format!("outer {}", 1))
                .unwrap_err()
                .message(),
            "outer 1: inner"
        );
        let ok: std::result::Result<u8, String> = Ok(3);
        assert_eq!(ok.context("x").unwrap(), 3);
    }

    #[test]
    fn bail_macro() {
        fn f(n: i32) -> Result<i32> {
            if n < 0 {
                crate::bail!("negative: {n}");
            }
            Ok(n)
        }
        assert_eq!(f(-2).unwrap_err().message(), "negative: -2");
        assert_eq!(f(2).unwrap(), 2);
    }

    #[test]
    fn is_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(Error::new("x"));
        assert_eq!(e.to_string(), "x");
    }
}
