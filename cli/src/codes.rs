//! Exit codes and capability names: the values of the C header (`cc_result`,
//! `cc_capability`), so that a script sees the same numbers a C host does.

use callconnect::{Capabilities, Error, ErrorKind};

/// `cc_result` of an error kind (include/callconnect.h).
pub fn result_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::InvalidArgument => 1,
        ErrorKind::InvalidHandle => 2,
        ErrorKind::InvalidNumber => 3,
        ErrorKind::Unsupported => 4,
        ErrorKind::Auth => 5,
        ErrorKind::InsufficientFunds => 6,
        ErrorKind::Network => 7,
        ErrorKind::Timeout => 8,
        ErrorKind::Protocol => 9,
        ErrorKind::Provider => 10,
        ErrorKind::OutcomeUnknown => 11,
        ErrorKind::Internal => 12,
        ErrorKind::NotFound => 13,
        ErrorKind::Busy => 14,
        // A kind newer than this table: reported as the library's internal error until
        // the table learns it.
        _ => 12,
    }
}

/// The `cc_result` constant's name of an error kind.
pub fn result_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "CC_ERR_INVALID_ARGUMENT",
        ErrorKind::InvalidHandle => "CC_ERR_INVALID_HANDLE",
        ErrorKind::InvalidNumber => "CC_ERR_INVALID_NUMBER",
        ErrorKind::Unsupported => "CC_ERR_UNSUPPORTED",
        ErrorKind::Auth => "CC_ERR_AUTH",
        ErrorKind::InsufficientFunds => "CC_ERR_INSUFFICIENT_FUNDS",
        ErrorKind::Network => "CC_ERR_NETWORK",
        ErrorKind::Timeout => "CC_ERR_TIMEOUT",
        ErrorKind::Protocol => "CC_ERR_PROTOCOL",
        ErrorKind::Provider => "CC_ERR_PROVIDER",
        ErrorKind::OutcomeUnknown => "CC_ERR_OUTCOME_UNKNOWN",
        ErrorKind::Internal => "CC_ERR_INTERNAL",
        ErrorKind::NotFound => "CC_ERR_NOT_FOUND",
        ErrorKind::Busy => "CC_ERR_BUSY",
        _ => "CC_ERR_INTERNAL",
    }
}

/// `call --follow` (and `hangup --wait`): the call ended in `FAILED`.
pub const EXIT_CALL_FAILED: i32 = 20;
/// A usage error (unknown option, missing argument): sysexits' `EX_USAGE`.
pub const EXIT_USAGE: i32 = 64;
/// Ctrl-C ended a followed call, and the carrier confirmed the end (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// `cc_capability` bits and their names (include/callconnect.h).
pub const CAPABILITIES: &[(u32, &str)] = &[
    (1, "CALLBACK"),
    (2, "LIVE_STATUS"),
    (4, "HANGUP"),
    (8, "SMS"),
    (16, "TOPUP"),
    (32, "EVENTS"),
    (64, "RING_GROUP"),
    (128, "CALLER_ID"),
    (256, "ACCOUNT"),
    (512, "IDEMPOTENT_START"),
    (1024, "MAX_DURATION"),
    (2048, "WAIT_FOR_PICKUP"),
    (4096, "MAX_COST"),
    (8192, "CONNECT_TYPE"),
    (16384, "CALL_FLAGS"),
];

/// The names of the capabilities in `caps`.
pub fn capability_names(caps: Capabilities) -> Vec<&'static str> {
    CAPABILITIES
        .iter()
        .filter(|(bit, _)| caps.bits() & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// An error as the command reports it: the library's, or one of the command's own
/// (a missing DSN, an unreadable file), which are `CC_ERR_INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub carrier_code: Option<String>,
}

impl Failure {
    pub fn argument(message: impl Into<String>) -> Self {
        Failure {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
            carrier_code: None,
        }
    }

    pub fn code(&self) -> i32 {
        result_code(self.kind)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "result": result_name(self.kind),
                "code": self.code(),
                "message": self.message,
                "carrier_code": self.carrier_code,
            }
        })
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            kind: e.kind(),
            message: e.message().to_string(),
            carrier_code: e.carrier_code().map(str::to_string),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", result_name(self.kind), self.message)?;
        if let Some(c) = &self.carrier_code {
            write!(f, " (carrier code {c})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables above are the header's: read them back from include/callconnect.h.
    #[test]
    fn tables_match_the_c_header() {
        let header = include_str!("../../include/callconnect.h");
        let value_of = |name: &str| -> i64 {
            let line = header
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("{name} is not in the header"));
            line.split('=')
                .nth(1)
                .unwrap()
                .trim()
                .trim_end_matches(',')
                .parse()
                .unwrap()
        };
        use ErrorKind::*;
        for kind in [
            InvalidArgument,
            InvalidHandle,
            InvalidNumber,
            Unsupported,
            Auth,
            InsufficientFunds,
            Network,
            Timeout,
            Protocol,
            Provider,
            OutcomeUnknown,
            Internal,
            NotFound,
            Busy,
        ] {
            assert_eq!(value_of(result_name(kind)), i64::from(result_code(kind)));
        }
        for (bit, name) in CAPABILITIES {
            assert_eq!(value_of(&format!("CC_CAP_{name}")), i64::from(*bit));
        }
    }
}
