//! The host's error type: a message an artist can act on.

use std::fmt;

/// Anything that went wrong loading, configuring or rendering an effect.
/// For a failed render it carries what the plugin posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError {
    pub message: String,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> Self {
        HostError {
            message: message.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostError {}

/// Turn an error string from the C++ side into a `HostError`.
pub(crate) fn from_c(err: *mut std::os::raw::c_char, fallback: &str) -> HostError {
    // SAFETY: err is null or a string the C++ host allocated for us.
    match unsafe { crate::ffi::take_string(err) } {
        Some(m) => HostError::new(m),
        None => HostError::new(fallback),
    }
}
