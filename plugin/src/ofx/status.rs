//! Errors of the OFX layer as values, and their mapping to OFX status codes.
//!
//! Every action returns [`Result`]; the dispatcher turns an [`Error`] into the status the host
//! expects (`kOfxStatFailed`, `kOfxStatErrMissingHostFeature`, ...) and posts its message.

use std::fmt;

use openfx::sys::generic::core as c;

/// An OFX status code as returned to or by the host.
pub type Status = c::OfxStatus;

/// What went wrong, as far as the host is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something failed; the message says what (`kOfxStatFailed`).
    Failed,
    /// The host lacks something the plugin needs (`kOfxStatErrMissingHostFeature`).
    MissingHostFeature,
    /// The host returned this status from a suite call.
    Host(Status),
}

/// An error carrying a message for the artist and the status to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

/// Result type of the OFX layer and of the effects.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A plain failure (`kOfxStatFailed`).
    pub fn failed(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Failed,
            message: message.into(),
        }
    }

    /// The host is missing a feature the plugin needs (`kOfxStatErrMissingHostFeature`).
    pub fn missing_host_feature(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::MissingHostFeature,
            message: message.into(),
        }
    }

    /// A suite call returned `status`; `what` says which call, for the message.
    pub fn host(status: Status, what: impl fmt::Display) -> Self {
        Error {
            kind: Kind::Host(status),
            message: format!("{what}: {}", status_meaning(status)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The message for the artist.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }

    /// The status an action returns for this error.
    ///
    /// Host statuses that an action may legitimately pass on (memory, missing feature, fatal)
    /// are kept; any other failing host status becomes `kOfxStatFailed`.
    pub fn status(&self) -> Status {
        match self.kind {
            Kind::Failed => c::kOfxStatFailed,
            Kind::MissingHostFeature => c::kOfxStatErrMissingHostFeature,
            Kind::Host(s) => match s {
                c::kOfxStatErrMemory | c::kOfxStatErrMissingHostFeature | c::kOfxStatErrFatal => s,
                _ => c::kOfxStatFailed,
            },
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
        Error::failed(e.message())
    }
}

/// Turns a suite call's status into a result; `what` names the call for the message.
pub fn check(status: Status, what: impl fmt::Display) -> Result<()> {
    if status == c::kOfxStatOK {
        Ok(())
    } else {
        Err(Error::host(status, what))
    }
}

/// What a failing status from a suite call means, in words for the artist (a host's raw
/// status names mean nothing to them; [`status_name`] keeps the symbol for logs and tests).
pub fn status_meaning(status: Status) -> String {
    let text = match status {
        c::kOfxStatFailed => "the host reported a failure",
        c::kOfxStatErrFatal => "the host reported a fatal error",
        c::kOfxStatErrUnknown => "this host does not provide it",
        c::kOfxStatErrMissingHostFeature => "this host lacks the feature",
        c::kOfxStatErrUnsupported => "this host does not support it",
        c::kOfxStatErrExists => "the host says it exists already",
        c::kOfxStatErrFormat => "the host reports a format error",
        c::kOfxStatErrMemory => "the host ran out of memory",
        c::kOfxStatErrBadHandle => "the host did not recognise the object asked about",
        c::kOfxStatErrBadIndex => "the host has no value at that index",
        c::kOfxStatErrValue => "the host refused the value",
        1000 => "this host does not support the image format",
        other => return format!("the host answered with an unexpected status ({other})"),
    };
    text.to_string()
}

/// The symbolic name of a status code (`kOfxStatErrBadHandle`), or its number if unknown.
pub fn status_name(status: Status) -> String {
    let name = match status {
        c::kOfxStatOK => "kOfxStatOK",
        c::kOfxStatFailed => "kOfxStatFailed",
        c::kOfxStatErrFatal => "kOfxStatErrFatal",
        c::kOfxStatErrUnknown => "kOfxStatErrUnknown",
        c::kOfxStatErrMissingHostFeature => "kOfxStatErrMissingHostFeature",
        c::kOfxStatErrUnsupported => "kOfxStatErrUnsupported",
        c::kOfxStatErrExists => "kOfxStatErrExists",
        c::kOfxStatErrFormat => "kOfxStatErrFormat",
        c::kOfxStatErrMemory => "kOfxStatErrMemory",
        c::kOfxStatErrBadHandle => "kOfxStatErrBadHandle",
        c::kOfxStatErrBadIndex => "kOfxStatErrBadIndex",
        c::kOfxStatErrValue => "kOfxStatErrValue",
        c::kOfxStatReplyYes => "kOfxStatReplyYes",
        c::kOfxStatReplyNo => "kOfxStatReplyNo",
        c::kOfxStatReplyDefault => "kOfxStatReplyDefault",
        c::kOfxStatUnlicensed => "kOfxStatUnlicensed",
        1000 => "kOfxStatErrImageFormat",
        other => return format!("status {other}"),
    };
    name.to_string()
}

/// The text of a caught panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(Error::failed("x").status(), c::kOfxStatFailed);
        assert_eq!(
            Error::missing_host_feature("x").status(),
            c::kOfxStatErrMissingHostFeature
        );
        assert_eq!(
            Error::host(c::kOfxStatErrMemory, "alloc").status(),
            c::kOfxStatErrMemory
        );
        assert_eq!(
            Error::host(c::kOfxStatErrFatal, "x").status(),
            c::kOfxStatErrFatal
        );
        assert_eq!(
            Error::host(c::kOfxStatErrBadHandle, "x").status(),
            c::kOfxStatFailed
        );
        assert_eq!(
            Error::host(c::kOfxStatErrUnknown, "x").status(),
            c::kOfxStatFailed
        );
    }

    #[test]
    fn host_errors_name_the_call_and_status() {
        let e = Error::host(c::kOfxStatErrUnknown, "property OfxImagePropBounds");
        assert_eq!(
            e.message(),
            "property OfxImagePropBounds: this host does not provide it"
        );
        assert_eq!(e.kind(), Kind::Host(c::kOfxStatErrUnknown));
        assert_eq!(status_name(1000), "kOfxStatErrImageFormat");
        assert_eq!(status_name(77), "status 77");
        assert!(!status_meaning(c::kOfxStatErrUnknown).contains("kOfx"));
        assert_eq!(
            status_meaning(77),
            "the host answered with an unexpected status (77)"
        );
    }

    #[test]
    fn check_and_context() {
        assert!(check(c::kOfxStatOK, "x").is_ok());
        let e = check(c::kOfxStatErrBadIndex, "get int")
            .unwrap_err()
            .context("render");
        assert_eq!(
            e.message(),
            "render: get int: the host has no value at that index"
        );
    }

    #[test]
    fn shared_errors_become_failures() {
        let e: Error = pixelspace_shared::error::Error::new("model file not found: a.onnx").into();
        assert_eq!(e.status(), c::kOfxStatFailed);
        assert_eq!(e.message(), "model file not found: a.onnx");
    }

    #[test]
    fn panic_payloads() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static");
    }
}
