//! The C ABI's enums, structs and constants, and their conversions from the Rust model.

use std::ffi::c_char;

use super::util::{c_names, copy_to_array, in_ref, opt_str_arg};
use crate::error::{Error, Result};
use crate::model::{CallOptions, CallState, CallStatus, FailReason, Leg};

pub(crate) const MAX_DSN: usize = 4096;
pub(crate) const MAX_NUMBER_ARG: usize = 4096;
pub(crate) const MAX_SHORT_ARG: usize = 255;
pub(crate) const MAX_SMS_ARG: usize = 16 * 1024;
pub(crate) const MAX_REF_ARG: usize = 8192;

/// The longest any carrier may take to act on `cc_hangup`, in seconds. Where the carrier
/// ends a call only in its answer to the carrier's next event (`cc_event_ingest`), the
/// call stays CC_STATUS_HANGUP_PENDING until then; carriers that end calls at once are
/// done when `cc_hangup` returns.
pub const CC_MAX_HANGUP_DELAY_S: u32 = 60;

// The header's literal is the providers' own bound (cbindgen copies only literals).
const _: () = assert!(CC_MAX_HANGUP_DELAY_S as u64 == crate::providers::MAX_HANGUP_DELAY.as_secs());

/// The result of every fallible function. 0 is success; the values never change and a
/// retired value is never reused. `cc_last_error_message()` tells more.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_result {
    /// Success.
    CC_OK = 0,
    /// An argument is NULL, empty, malformed, too long, or not UTF-8 (also: a bad DSN).
    CC_ERR_INVALID_ARGUMENT = 1,
    /// A handle is NULL, freed, of the wrong kind, its client was freed, or it was made
    /// in the parent of this forked process.
    CC_ERR_INVALID_HANDLE = 2,
    /// A phone number cannot be a real number (checked before anything is sent).
    CC_ERR_INVALID_NUMBER = 3,
    /// The carrier cannot do this, or cannot honour one of the call options.
    CC_ERR_UNSUPPORTED = 4,
    /// The carrier refused the credentials (or the caller's IP address).
    CC_ERR_AUTH = 5,
    /// The account has too little credit.
    CC_ERR_INSUFFICIENT_FUNDS = 6,
    /// The carrier could not be reached; nothing was acted on.
    CC_ERR_NETWORK = 7,
    /// The carrier did not answer within `timeout_ms` (reads; see OUTCOME_UNKNOWN).
    CC_ERR_TIMEOUT = 8,
    /// The carrier's reply was malformed.
    CC_ERR_PROTOCOL = 9,
    /// The carrier understood and said no: `cc_last_error_carrier_code()` has its code.
    CC_ERR_PROVIDER = 10,
    /// A call-placing request (call start, SMS, top-up) may or may not have reached the
    /// carrier. It was NOT repeated; ask a person or the carrier before trying again.
    CC_ERR_OUTCOME_UNKNOWN = 11,
    /// A bug inside the library (a caught panic). The process is still safe.
    CC_ERR_INTERNAL = 12,
    /// The thing asked about does not exist at the carrier.
    CC_ERR_NOT_FOUND = 13,
    /// The request is valid but cannot be served now (e.g. a call is still up).
    CC_ERR_BUSY = 14,
}

/// Where a call is. States only move forward; ENDED and FAILED are final.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_call_state {
    /// Placed; the carrier has not reported progress yet (or cannot: see CC_STATUS_LIVE).
    CC_STATE_INITIATING = 0,
    /// A's phone is ringing.
    CC_STATE_RINGING_A = 1,
    /// A picked up.
    CC_STATE_A_ANSWERED = 2,
    /// B's phone is ringing.
    CC_STATE_RINGING_B = 3,
    /// A and B are bridged.
    CC_STATE_CONNECTED = 4,
    /// The call is over (reason CANCELLED when the host hung it up).
    CC_STATE_ENDED = 5,
    /// The call failed; `reason` and `failed_leg` say why and where.
    CC_STATE_FAILED = 6,
}

/// Why a call failed.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_fail_reason {
    CC_REASON_NONE = 0,
    CC_REASON_BUSY = 1,
    CC_REASON_NO_ANSWER = 2,
    CC_REASON_REJECTED = 3,
    CC_REASON_INSUFFICIENT_FUNDS = 4,
    CC_REASON_INVALID_NUMBER = 5,
    /// Ended by the host (hang-up) before or after connecting.
    CC_REASON_CANCELLED = 6,
    CC_REASON_PROVIDER_ERROR = 7,
    /// Nothing final was heard within the call's limits, or the carrier did not say.
    CC_REASON_UNKNOWN = 8,
}

/// Which leg of a call.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_leg {
    CC_LEG_NONE = 0,
    /// The first leg: the number rung first (the customer).
    CC_LEG_A = 1,
    /// The second leg: the destination.
    CC_LEG_B = 2,
}

/// Bits of `cc_call_status.flags`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_status_flag {
    /// The carrier reports this call's progress. Without it, the state says only what the
    /// library itself did (e.g. 42call: INITIATING until hung up).
    CC_STATUS_LIVE = 1,
    /// The host asked for hang-up; the carrier has not confirmed the end yet.
    CC_STATUS_HANGUP_PENDING = 2,
    /// The library closed the call as FAILED/UNKNOWN: nothing final came within its
    /// limits (wait for pickup + max duration + a margin).
    CC_STATUS_TIMED_OUT = 4,
}

/// Bits returned by `cc_capabilities`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_capability {
    /// `cc_start_call` places two-leg callbacks.
    CC_CAP_CALLBACK = 1,
    /// `cc_poll_status` reports live progress (A ringing, answered, B ringing, ...).
    CC_CAP_LIVE_STATUS = 2,
    /// `cc_hangup` ends a call.
    CC_CAP_HANGUP = 4,
    /// `cc_send_sms`.
    CC_CAP_SMS = 8,
    /// `cc_topup`.
    CC_CAP_TOPUP = 16,
    /// Status arrives as events the host feeds in.
    CC_CAP_EVENTS = 32,
    /// A may be several numbers (`"n1|n2"`); the first to pick up wins.
    CC_CAP_RING_GROUP = 64,
    /// `caller_id` / `caller_id_b` options.
    CC_CAP_CALLER_ID = 128,
    /// Account services (balance and more).
    CC_CAP_ACCOUNT = 256,
    /// A call start whose outcome is unknown is looked for by its nonce among the
    /// carrier's live calls, and sent again only when it is not there.
    CC_CAP_IDEMPOTENT_START = 512,
    /// The `max_duration_s` option.
    CC_CAP_MAX_DURATION = 1024,
    /// The `wait_for_pickup_s` option.
    CC_CAP_WAIT_FOR_PICKUP = 2048,
    /// The `max_cost` option.
    CC_CAP_MAX_COST = 4096,
    /// The `connect_type` option.
    CC_CAP_CONNECT_TYPE = 8192,
    /// The CC_OPT_ALLOW_PUBLIC_TRANSFER and CC_OPT_VIDEO flags.
    CC_CAP_CALL_FLAGS = 16384,
}

/// Bits of `cc_call_options.flags`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_option_flag {
    CC_OPT_ALLOW_PUBLIC_TRANSFER = 1,
    CC_OPT_VIDEO = 2,
}

/// A client: one carrier account. Made by `cc_client_new`, freed by `cc_client_free`.
/// May be used from several threads at once.
pub struct cc_client {
    _private: [u8; 0],
}

/// A call placed by `cc_start_call` or attached by `cc_call_attach`; freed by
/// `cc_call_free`. May be used from several threads at once (requests on one call are
/// served one after the other).
pub struct cc_call {
    _private: [u8; 0],
}

/// Options of one call. Zero-fill it (`= {0}`, `FFI::new`, `ctypes` default) for the
/// carrier's defaults, then set what you need. Strings are borrowed for the duration of
/// the `cc_start_call` call only. An option the carrier cannot honour makes
/// `cc_start_call` fail with CC_ERR_UNSUPPORTED; it is never ignored.
#[repr(C)]
pub struct cc_call_options {
    /// Caller id shown to A: `"Name <+4930123456>"` or a number. NULL: carrier default.
    pub caller_id: *const c_char,
    /// Caller id shown to B. NULL: carrier default.
    pub caller_id_b: *const c_char,
    /// The host's own id for the call (up to 255 bytes), kept in its reference.
    pub correlation: *const c_char,
    /// The longest the bridged call may last, in seconds. 0: carrier default.
    pub max_duration_s: u32,
    /// How long to ring before giving up, in seconds. 0: carrier default.
    pub wait_for_pickup_s: u32,
    /// The most the call may cost, a decimal string (`"1.50"`). NULL: no limit.
    pub max_cost: *const c_char,
    /// 0: carrier default; 1: ring A first, then B; 2: ring both at once.
    pub connect_type: u32,
    /// `cc_option_flag` bits.
    pub flags: u32,
    /// Must be zero (room for options to come without changing the struct's size).
    pub reserved: [u64; 4],
}

/// A call's status, filled by `cc_poll_status`. Owned by the caller.
#[repr(C)]
pub struct cc_call_status {
    /// A `cc_call_state` value.
    pub state: u32,
    /// A `cc_fail_reason` value (CC_REASON_NONE unless FAILED, or ENDED by hang-up).
    pub reason: u32,
    /// A `cc_leg` value: the leg that failed.
    pub failed_leg: u32,
    /// `cc_status_flag` bits.
    pub flags: u32,
    /// Seconds since B answered (as far as the carrier said).
    pub duration_s: u32,
    /// Cost as a decimal string with `.` (`"0.0123"`); "" when unknown. Never a float.
    pub cost: [c_char; 32],
    /// ISO 4217 currency of `cost` (`"EUR"`); "" when unknown.
    pub currency: [c_char; 8],
    /// The carrier's own status code as text (`"27"`, `"7"`); "" when none.
    pub raw_status: [c_char; 32],
    /// When the state last changed, in milliseconds since 1970-01-01 UTC.
    pub last_change_ms: i64,
}

c_names!(
    cc_result,
    "",
    [
        CC_OK,
        CC_ERR_INVALID_ARGUMENT,
        CC_ERR_INVALID_HANDLE,
        CC_ERR_INVALID_NUMBER,
        CC_ERR_UNSUPPORTED,
        CC_ERR_AUTH,
        CC_ERR_INSUFFICIENT_FUNDS,
        CC_ERR_NETWORK,
        CC_ERR_TIMEOUT,
        CC_ERR_PROTOCOL,
        CC_ERR_PROVIDER,
        CC_ERR_OUTCOME_UNKNOWN,
        CC_ERR_INTERNAL,
        CC_ERR_NOT_FOUND,
        CC_ERR_BUSY,
    ]
);

c_names!(
    cc_call_state,
    "CC_STATE_",
    [
        CC_STATE_INITIATING,
        CC_STATE_RINGING_A,
        CC_STATE_A_ANSWERED,
        CC_STATE_RINGING_B,
        CC_STATE_CONNECTED,
        CC_STATE_ENDED,
        CC_STATE_FAILED,
    ]
);

c_names!(
    cc_fail_reason,
    "CC_REASON_",
    [
        CC_REASON_NONE,
        CC_REASON_BUSY,
        CC_REASON_NO_ANSWER,
        CC_REASON_REJECTED,
        CC_REASON_INSUFFICIENT_FUNDS,
        CC_REASON_INVALID_NUMBER,
        CC_REASON_CANCELLED,
        CC_REASON_PROVIDER_ERROR,
        CC_REASON_UNKNOWN,
    ]
);

impl cc_call_status {
    pub(crate) fn from_status(s: &CallStatus) -> Self {
        let flag = |on: bool, f: cc_status_flag| if on { f as u32 } else { 0 };
        let mut out = cc_call_status {
            state: s.state as u32,
            reason: s.reason as u32,
            failed_leg: s.failed_leg as u32,
            flags: flag(s.live, cc_status_flag::CC_STATUS_LIVE)
                | flag(s.hangup_pending, cc_status_flag::CC_STATUS_HANGUP_PENDING)
                | flag(s.timed_out, cc_status_flag::CC_STATUS_TIMED_OUT),
            duration_s: s.duration_s,
            cost: [0; 32],
            currency: [0; 8],
            raw_status: [0; 32],
            last_change_ms: s.last_change_unix_ms(),
        };
        let (amount, currency) = match &s.cost {
            Some(m) => (m.amount.as_str(), m.currency.as_deref().unwrap_or("")),
            None => ("", ""),
        };
        copy_to_array(&mut out.cost, amount);
        copy_to_array(&mut out.currency, currency);
        copy_to_array(&mut out.raw_status, s.raw_code.as_deref().unwrap_or(""));
        out
    }
}

/// The call options a host passed (NULL: the carrier's defaults).
pub(crate) fn options_from_c(p: *const cc_call_options) -> Result<CallOptions> {
    let Some(o) = in_ref(p) else {
        return Ok(CallOptions::default());
    };
    if o.reserved.iter().any(|r| *r != 0) {
        return Err(Error::invalid_argument(
            "cc_call_options.reserved must be zero",
        ));
    }
    let known =
        cc_option_flag::CC_OPT_ALLOW_PUBLIC_TRANSFER as u32 | cc_option_flag::CC_OPT_VIDEO as u32;
    if o.flags & !known != 0 {
        return Err(Error::invalid_argument(
            "cc_call_options.flags has unknown bits",
        ));
    }
    Ok(CallOptions {
        caller_id: opt_str_arg(o.caller_id, "caller_id", MAX_SHORT_ARG)?,
        caller_id_b: opt_str_arg(o.caller_id_b, "caller_id_b", MAX_SHORT_ARG)?,
        correlation: opt_str_arg(o.correlation, "correlation", MAX_SHORT_ARG)?,
        max_duration_s: (o.max_duration_s != 0).then_some(o.max_duration_s),
        wait_for_pickup_s: (o.wait_for_pickup_s != 0).then_some(o.wait_for_pickup_s),
        max_cost: opt_str_arg(o.max_cost, "max_cost", 32)?,
        connect_type: (o.connect_type != 0).then_some(o.connect_type),
        allow_public_transfer: o.flags & cc_option_flag::CC_OPT_ALLOW_PUBLIC_TRANSFER as u32 != 0,
        video: o.flags & cc_option_flag::CC_OPT_VIDEO as u32 != 0,
    })
}

// Keep the C values in step with the Rust enums.
const _: () = {
    assert!(CallState::Failed as u32 == cc_call_state::CC_STATE_FAILED as u32);
    assert!(CallState::Connected as u32 == cc_call_state::CC_STATE_CONNECTED as u32);
    assert!(FailReason::Unknown as u32 == cc_fail_reason::CC_REASON_UNKNOWN as u32);
    assert!(Leg::B as u32 == cc_leg::CC_LEG_B as u32);
    assert!(
        crate::model::Capabilities::CALL_FLAGS.bits() == cc_capability::CC_CAP_CALL_FLAGS as u32
    );
    assert!(crate::model::Capabilities::CALLBACK.bits() == cc_capability::CC_CAP_CALLBACK as u32);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_variants_without_their_prefix() {
        assert_eq!(cc_result::c_name(5), c"CC_ERR_AUTH");
        assert_eq!(cc_result::c_name(99), c"?");
        assert_eq!(cc_call_state::c_name(1), c"RINGING_A");
        assert_eq!(cc_call_state::c_name(7), c"?");
        assert_eq!(cc_fail_reason::c_name(8), c"UNKNOWN");
        assert_eq!(cc_call_state::ALL.len(), 7);
        assert_eq!(cc_fail_reason::ALL.len(), 9);
    }
}
