//! The library's one error type and the kinds it sorts into.
//!
//! Every error carries a human-readable message that never contains a secret (the
//! code that builds messages only ever formats values that are known not to be secret),
//! and, where a carrier said something, the carrier's own code and text.

use std::fmt;
use std::sync::Arc;

/// What went wrong, in the terms a host can act on. Each kind maps to one `cc_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument was NULL, empty, malformed, too long or not UTF-8.
    InvalidArgument,
    /// A handle was NULL, freed, or of the wrong kind.
    InvalidHandle,
    /// A phone number cannot be a real number (checked before anything is sent).
    InvalidNumber,
    /// The carrier cannot do this (or cannot honour this option).
    Unsupported,
    /// The carrier refused the credentials (or the caller's IP).
    Auth,
    /// The account has too little credit.
    InsufficientFunds,
    /// The carrier could not be reached; nothing was acted on.
    Network,
    /// The carrier did not answer in time (a read; for a call start see OutcomeUnknown).
    Timeout,
    /// The carrier's reply was malformed.
    Protocol,
    /// The carrier understood and said no; its code and text are attached.
    Provider,
    /// A call-placing request may or may not have reached the carrier.
    OutcomeUnknown,
    /// A bug inside the library (a caught panic, a poisoned lock).
    Internal,
    /// The thing asked about does not exist (an unknown call, an unknown card).
    NotFound,
    /// The request is valid but not now (e.g. a call is still up on a session).
    Busy,
}

/// The error returned by every fallible operation of the Rust API.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    carrier_code: Option<String>,
    /// The lower-level error this one comes from, when it is known to hold no secret
    /// (a file system error of the directory store); see [`Error::with_source`].
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two errors are equal when their kind, message and carrier code are (the source is
/// detail).
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.carrier_code == other.carrier_code
    }
}

impl Eq for Error {}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            carrier_code: None,
            source: None,
        }
    }

    /// An error that the carrier reported, with its own code.
    pub fn carrier(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            carrier_code: Some(code.into()),
            source: None,
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The carrier's own code (`"1200"`, `"60"`, `"pc_source_invalid"`), if it gave one.
    pub fn carrier_code(&self) -> Option<&str> {
        self.carrier_code.as_deref()
    }

    /// The same error with a different kind (e.g. a read error turned into
    /// `OutcomeUnknown` because the request places a call).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same error with `redact` applied to its message and carrier code (used to
    /// blank out secrets that a carrier may have echoed).
    pub fn redacted(mut self, redact: impl Fn(&str) -> String) -> Self {
        self.message = redact(&self.message);
        if let Some(c) = self.carrier_code.take() {
            self.carrier_code = Some(redact(&c));
        }
        self
    }

    /// The same error with the error it comes from, returned by
    /// [`std::error::Error::source`]. Only for errors whose text holds no secret (it is
    /// not redacted): file system errors, never an HTTP client's (its text may hold a URL).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The same error with context put in front of its message.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.carrier_code {
            Some(code) => write!(f, "{} (carrier code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
