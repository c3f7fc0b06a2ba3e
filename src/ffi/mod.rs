//! The C ABI. Every exported function runs inside the panic boundary of [`util::guard`];
//! handles are registry ids ([`handles`]), never pointers to Rust objects.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod account;
pub mod events;
pub mod handles;
pub mod log;
pub mod util;

use std::ffi::c_char;

use crate::error::{Error, Result};
use crate::model::CallOptions;
use crate::model::{CallState, CallStatus, FailReason, Leg};
use handles::{CALLS, CLIENTS};
use util::{copy_to_array, guard, guard_value, opt_str_arg, out_string, str_arg};

const MAX_DSN: usize = 4096;
const MAX_NUMBER_ARG: usize = 4096;
const MAX_SHORT_ARG: usize = 255;
const MAX_SMS_ARG: usize = 16 * 1024;
const MAX_REF_ARG: usize = 8192;

/// The result of every fallible function. 0 is success; the values never change and a
/// retired value is never reused. `cc_last_error_message()` tells more.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_result {
    /// Success.
    CC_OK = 0,
    /// An argument is NULL, empty, malformed, too long, or not UTF-8 (also: a bad DSN).
    CC_ERR_INVALID_ARGUMENT = 1,
    /// A handle is NULL, freed, of the wrong kind, or its client was freed.
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

fn status_to_c(s: &CallStatus, out: &mut cc_call_status) {
    out.state = s.state as u32;
    out.reason = s.reason as u32;
    out.failed_leg = s.failed_leg as u32;
    out.flags = (if s.live {
        cc_status_flag::CC_STATUS_LIVE as u32
    } else {
        0
    }) | (if s.hangup_pending {
        cc_status_flag::CC_STATUS_HANGUP_PENDING as u32
    } else {
        0
    }) | (if s.timed_out {
        cc_status_flag::CC_STATUS_TIMED_OUT as u32
    } else {
        0
    });
    out.duration_s = s.duration_s;
    let (amount, currency) = match &s.cost {
        Some(m) => (m.amount.as_str(), m.currency.as_deref().unwrap_or("")),
        None => ("", ""),
    };
    copy_to_array(&mut out.cost, amount);
    copy_to_array(&mut out.currency, currency);
    copy_to_array(&mut out.raw_status, s.raw_code.as_deref().unwrap_or(""));
    out.last_change_ms = s.last_change_unix_ms();
}

unsafe fn options_from_c(p: *const cc_call_options) -> Result<CallOptions> {
    if p.is_null() {
        return Ok(CallOptions::default());
    }
    let o = &*p;
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

fn out_ptr<T>(p: *mut T, name: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    Ok(())
}

fn client_of(p: *const cc_client) -> Result<std::sync::Arc<crate::Client>> {
    CLIENTS.get(p as usize)
}

fn call_of(p: *const cc_call) -> Result<std::sync::Arc<crate::Call>> {
    CALLS.get(p as usize)
}

/// Makes a client from a DSN such as `42call://USER:SECRET@login.42call.com`. Sends
/// nothing.
///
/// Ownership: `dsn` is borrowed for the call. On success `*out_client` is a new client
/// owned by the caller, freed with `cc_client_free`; on failure it is left unchanged.
/// Thread safety: any thread; the new client may then be shared between threads.
///
/// Returns CC_OK, CC_ERR_INVALID_ARGUMENT (a NULL or malformed DSN, an unknown carrier, a
/// NULL `out_client`: the message names the part, never a secret), CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_client_new(
    dsn: *const c_char,
    out_client: *mut *mut cc_client,
) -> cc_result {
    guard(|| {
        let dsn = str_arg(dsn, "dsn", MAX_DSN)?;
        out_ptr(out_client, "out_client")?;
        let client = crate::Client::new(dsn)?;
        let h = CLIENTS.insert(client)?;
        *out_client = h as *mut cc_client;
        Ok(())
    })
}

/// Frees a client. Carriers with login sessions are logged out first (bounded by the
/// DSN's timeout), unless the session's call is still up: that session is left to the
/// carrier's expiry, so that the call's reference keeps working in another process
/// (Connect Call). Calls of this client stay valid handles: requests through them
/// (`cc_poll_status`, `cc_hangup`) answer CC_ERR_INVALID_HANDLE from then on, while what a
/// call knows itself (`cc_call_id`, `cc_call_ref`) can still be read, so that it can be
/// stored and resumed with another client; free them with `cc_call_free`.
///
/// Ownership: consumes the client; do not use it afterwards. NULL is a no-op; a freed or
/// wrong handle is ignored (and `cc_last_error_message` says so).
/// Thread safety: any thread. A request that another thread is running with this client
/// at that moment finishes; later ones are refused with CC_ERR_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn cc_client_free(client: *mut cc_client) {
    if client.is_null() {
        return;
    }
    guard(|| {
        let c = CLIENTS.remove(client as usize)?;
        c.close();
        Ok(())
    });
}

/// Places a two-leg callback: the carrier rings `a_number`, and when A answers, bridges
/// to `b_number`. Numbers are read as a person types them (`0171 1234567` with the DSN's
/// `default_country`, `+49 171 1234567`, `0049...`). Where the carrier has
/// CC_CAP_RING_GROUP, `a_number` may be several numbers separated by `|`
/// (`"0171 1234567|030 1234567"`): all ring, and the first to pick up is bridged to B.
/// `options` may be NULL. On success `*out_call` is a new call owned by the caller (free
/// with `cc_call_free`).
///
/// The request is never repeated: if the carrier may have received it but no answer came
/// back, the result is CC_ERR_OUTCOME_UNKNOWN. (Where the carrier has
/// CC_CAP_IDEMPOTENT_START, the library first looks for the start's idempotency key among
/// the carrier's live calls and takes the call that carries it; only when the carrier
/// shows keys and none is this start's does it send the start again.
/// CC_ERR_OUTCOME_UNKNOWN then means that looking could not tell.)
///
/// Ownership: the strings and `options` are borrowed for the call. On success `*out_call`
/// is a new call owned by the caller (free with `cc_call_free`); it keeps its client's
/// carrier connection but not the client handle: free the client and the call answers
/// CC_ERR_INVALID_HANDLE.
/// Thread safety: any thread; one client may start calls on several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_UNSUPPORTED (an option the carrier cannot honour), CC_ERR_AUTH,
/// CC_ERR_INSUFFICIENT_FUNDS, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL,
/// CC_ERR_PROVIDER, CC_ERR_OUTCOME_UNKNOWN, CC_ERR_BUSY, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_start_call(
    client: *mut cc_client,
    a_number: *const c_char,
    b_number: *const c_char,
    options: *const cc_call_options,
    out_call: *mut *mut cc_call,
) -> cc_result {
    guard(|| {
        let c = client_of(client)?;
        let a = str_arg(a_number, "a_number", MAX_NUMBER_ARG)?;
        let b = str_arg(b_number, "b_number", MAX_NUMBER_ARG)?;
        let opts = options_from_c(options)?;
        out_ptr(out_call, "out_call")?;
        let call = c.start_call(a, b, &opts)?;
        let h = CALLS.insert(call)?;
        *out_call = h as *mut cc_call;
        Ok(())
    })
}

/// Asks the carrier where the call is (where the carrier can tell) and fills
/// `*out_status`. A final status is returned without asking again. A call that hears
/// nothing final within its limits is closed as FAILED/UNKNOWN (CC_STATUS_TIMED_OUT).
///
/// Ownership: `*out_status` is caller-owned memory, written only on success.
/// Thread safety: any thread; requests on one call are served one after the other.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_poll_status(
    call: *mut cc_call,
    out_status: *mut cc_call_status,
) -> cc_result {
    guard(|| {
        let c = call_of(call)?;
        out_ptr(out_status, "out_status")?;
        let s = c.poll()?;
        status_to_c(&s, &mut *out_status);
        Ok(())
    })
}

/// Asks the carrier to end the call. A call that is already over is left alone.
///
/// Ownership: borrows the call; it stays valid (free it with `cc_call_free`).
/// Thread safety: any thread; requests on one call are served one after the other.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK,
/// CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_hangup(call: *mut cc_call) -> cc_result {
    guard(|| {
        let c = call_of(call)?;
        c.hangup()?;
        Ok(())
    })
}

/// Frees a call handle. This does not end the call: use `cc_hangup` first if you want
/// that (or keep its `cc_call_ref` to follow it later).
///
/// Ownership: consumes the call; do not use it afterwards. NULL is a no-op; a freed or
/// wrong handle is ignored.
/// Thread safety: any thread. A request that another thread is running on this call at
/// that moment finishes; later ones are refused with CC_ERR_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn cc_call_free(call: *mut cc_call) {
    if call.is_null() {
        return;
    }
    guard(|| {
        CALLS.remove(call as usize)?;
        Ok(())
    });
}

/// Sends `text` (UTF-8, up to 1530 characters) to `recipients`, one number or several
/// separated by `|` (`"0171 1234567|+4930123456"`). Never repeated on a fault
/// (CC_ERR_OUTCOME_UNKNOWN).
///
/// Ownership: the strings are borrowed for the call. On success `*out_message_id` is the
/// carrier's id of the message, owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_INSUFFICIENT_FUNDS, CC_ERR_NETWORK,
/// CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_OUTCOME_UNKNOWN, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_send_sms(
    client: *mut cc_client,
    recipients: *const c_char,
    text: *const c_char,
    out_message_id: *mut *mut c_char,
) -> cc_result {
    guard(|| {
        let c = client_of(client)?;
        let recipients = str_arg(recipients, "recipients", MAX_NUMBER_ARG)?;
        let text = str_arg(text, "text", MAX_SMS_ARG)?;
        out_ptr(out_message_id, "out_message_id")?;
        let id = c.send_sms(recipients, text)?;
        *out_message_id = out_string(&id);
        Ok(())
    })
}

/// Tops the account up with a PIN (1 to 64 letters or digits). The PIN is never logged
/// or put in a message. Never repeated on a fault (CC_ERR_OUTCOME_UNKNOWN).
///
/// Ownership: `pin` is borrowed for the call. On success, if `out_balance` is not NULL,
/// `*out_balance` is the new balance as `"28.40 EUR"` (decimal with `.`, a space, the
/// currency), owned by the caller (free with `cc_string_free`), or NULL when the carrier
/// did not say.
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_UNSUPPORTED,
/// CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER (e.g.
/// 42call 1200: PIN not valid), CC_ERR_OUTCOME_UNKNOWN, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_topup(
    client: *mut cc_client,
    pin: *const c_char,
    out_balance: *mut *mut c_char,
) -> cc_result {
    guard(|| {
        let c = client_of(client)?;
        let pin = str_arg(pin, "pin", MAX_SHORT_ARG)?;
        let balance = c.topup(pin)?;
        if !out_balance.is_null() {
            *out_balance = match balance {
                Some(m) => out_string(&m.display()),
                None => std::ptr::null_mut(),
            };
        }
        Ok(())
    })
}

/// The balance the carrier reported last, as `"18.40 EUR"`, without asking it (42call
/// sends the balance with every reply).
///
/// Ownership: `*out_balance` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_NOT_FOUND (no
/// balance heard yet), CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_known_balance(
    client: *const cc_client,
    out_balance: *mut *mut c_char,
) -> cc_result {
    guard(|| {
        let c = client_of(client)?;
        out_ptr(out_balance, "out_balance")?;
        let m = c.known_balance().ok_or_else(|| {
            Error::new(
                crate::ErrorKind::NotFound,
                "the carrier has not reported a balance yet",
            )
        })?;
        *out_balance = out_string(&m.display());
        Ok(())
    })
}

/// A text that names the call (it holds no secret) for the host to store, e.g. in a PHP
/// session or a database, and turn back into a call with `cc_call_attach`, in this
/// process or another. Sends nothing.
///
/// Ownership: `*out_ref` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_call_ref(call: *mut cc_call, out_ref: *mut *mut c_char) -> cc_result {
    guard(|| {
        let c = call_of(call)?;
        out_ptr(out_ref, "out_ref")?;
        *out_ref = out_string(&c.reference());
        Ok(())
    })
}

/// Turns a reference from `cc_call_ref` back into a call of `client` (which must speak
/// the same carrier). Sends nothing: the next `cc_poll_status` asks the carrier.
///
/// Ownership: `reference` is borrowed for the call. `*out_call` is a new call owned by the
/// caller (free with `cc_call_free`); attaching one reference twice gives two handles to
/// the same carrier call.
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (not a reference, or of
/// another carrier), CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_call_attach(
    client: *mut cc_client,
    reference: *const c_char,
    out_call: *mut *mut cc_call,
) -> cc_result {
    guard(|| {
        let c = client_of(client)?;
        let r = str_arg(reference, "ref", MAX_REF_ARG)?;
        out_ptr(out_call, "out_call")?;
        let call = c.attach(r)?;
        let h = CALLS.insert(call)?;
        *out_call = h as *mut cc_call;
        Ok(())
    })
}

/// The carrier's id of a call. Sends nothing.
///
/// Ownership: `*out_id` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_call_id(call: *mut cc_call, out_id: *mut *mut c_char) -> cc_result {
    guard(|| {
        let c = call_of(call)?;
        out_ptr(out_id, "out_id")?;
        *out_id = out_string(c.id());
        Ok(())
    })
}

/// The `cc_capability` bits of the client's carrier; 0 for a NULL, freed or invalid
/// handle (and `cc_last_error_message` says why). Sends nothing.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_capabilities(client: *const cc_client) -> u32 {
    guard_value(0, || Ok(client_of(client)?.capabilities().bits()))
}

/// The message of this thread's last failed call into the library ("" after a success).
/// Never NULL, never a secret.
///
/// Ownership: the pointer is owned by the library and valid until the next `cc_` call on
/// this thread; copy it to keep it.
/// Thread safety: per thread: it describes the last call made on the calling thread.
#[no_mangle]
pub extern "C" fn cc_last_error_message() -> *const c_char {
    util::last_message_ptr()
}

/// The carrier's own code for this thread's last error (`"1200"`, `"60"`,
/// `"pc_source_invalid"`), or "" when the carrier gave none.
///
/// Ownership: as `cc_last_error_message` (library-owned, valid until the next `cc_` call
/// on this thread).
/// Thread safety: per thread, as `cc_last_error_message`.
#[no_mangle]
pub extern "C" fn cc_last_error_carrier_code() -> *const c_char {
    util::last_carrier_code_ptr()
}

/// Frees a string the library returned through a `char **out_...` parameter.
///
/// Ownership: consumes the string. NULL is a no-op; a pointer the library did not return,
/// or one already freed, is ignored (never freed twice) and `cc_last_error_message` says so.
/// Thread safety: any thread (not only the one that received the string).
#[no_mangle]
pub extern "C" fn cc_string_free(s: *mut c_char) {
    guard(|| util::free_out_string(s));
}

/// Loads the phone number metadata now and, when `country_code` is not 0, compiles the
/// regular expressions that country's numbers are read with, instead of at the first
/// number (creating a client does neither). For a process that forks its workers (a
/// PHP-FPM master through `opcache.preload`, a pre-forking daemon): called once before
/// the fork, the workers share the loaded data and each first call is as fast as the
/// next. Sends nothing. Calling it again does no harm and costs next to nothing.
///
/// Returns CC_OK, CC_ERR_INVALID_ARGUMENT (not a country calling code), CC_ERR_INTERNAL.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_warm_up(country_code: u16) -> cc_result {
    guard(|| crate::number::warm_up((country_code != 0).then_some(country_code)))
}

/// The library's version and its TLS stack, e.g. `"callconnect 0.1.0 (ureq 3, rustls
/// 0.23)"`. The header's CALLCONNECT_VERSION is the version a program was compiled
/// against; this is the one it runs with.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_version() -> *const c_char {
    concat!(
        "callconnect ",
        env!("CARGO_PKG_VERSION"),
        " (ureq 3, rustls 0.23)\0"
    )
    .as_ptr() as *const c_char
}

/// The name of a `cc_call_state` value (`"RINGING_A"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_state_name(state: u32) -> *const c_char {
    let name: &'static [u8] = match state {
        0..=6 => match state {
            0 => b"INITIATING\0",
            1 => b"RINGING_A\0",
            2 => b"A_ANSWERED\0",
            3 => b"RINGING_B\0",
            4 => b"CONNECTED\0",
            5 => b"ENDED\0",
            _ => b"FAILED\0",
        },
        _ => b"?\0",
    };
    name.as_ptr() as *const c_char
}

/// The name of a `cc_fail_reason` value (`"BUSY"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_reason_name(reason: u32) -> *const c_char {
    let name: &'static [u8] = match reason {
        0 => b"NONE\0",
        1 => b"BUSY\0",
        2 => b"NO_ANSWER\0",
        3 => b"REJECTED\0",
        4 => b"INSUFFICIENT_FUNDS\0",
        5 => b"INVALID_NUMBER\0",
        6 => b"CANCELLED\0",
        7 => b"PROVIDER_ERROR\0",
        8 => b"UNKNOWN\0",
        _ => b"?\0",
    };
    name.as_ptr() as *const c_char
}

/// The name of a `cc_result` value (`"CC_ERR_AUTH"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn cc_result_name(result: u32) -> *const c_char {
    let name: &'static [u8] = match result {
        0 => b"CC_OK\0",
        1 => b"CC_ERR_INVALID_ARGUMENT\0",
        2 => b"CC_ERR_INVALID_HANDLE\0",
        3 => b"CC_ERR_INVALID_NUMBER\0",
        4 => b"CC_ERR_UNSUPPORTED\0",
        5 => b"CC_ERR_AUTH\0",
        6 => b"CC_ERR_INSUFFICIENT_FUNDS\0",
        7 => b"CC_ERR_NETWORK\0",
        8 => b"CC_ERR_TIMEOUT\0",
        9 => b"CC_ERR_PROTOCOL\0",
        10 => b"CC_ERR_PROVIDER\0",
        11 => b"CC_ERR_OUTCOME_UNKNOWN\0",
        12 => b"CC_ERR_INTERNAL\0",
        13 => b"CC_ERR_NOT_FOUND\0",
        14 => b"CC_ERR_BUSY\0",
        _ => b"?\0",
    };
    name.as_ptr() as *const c_char
}

/// Test support: makes the library panic inside its panic boundary, to show that a panic
/// becomes CC_ERR_INTERNAL and never crosses into the host. Does nothing else.
/// Thread safety: any thread.
///
/// Returns CC_ERR_INTERNAL, always.
#[no_mangle]
pub extern "C" fn cc_debug_panic() -> cc_result {
    guard(|| panic!("cc_debug_panic was called"))
}

/// How many client and call handles are alive (for leak checks in hosts' tests).
/// Either pointer may be NULL.
///
/// Ownership: the outputs are caller-owned.
/// Thread safety: any thread; the counts may change at once when other threads work.
///
/// Returns CC_OK, CC_ERR_INTERNAL.
#[no_mangle]
pub unsafe extern "C" fn cc_live_handles(
    out_clients: *mut usize,
    out_calls: *mut usize,
) -> cc_result {
    guard(|| {
        if !out_clients.is_null() {
            *out_clients = CLIENTS.live();
        }
        if !out_calls.is_null() {
            *out_calls = CALLS.live();
        }
        Ok(())
    })
}

// Keep the state and reason names in step with the Rust enums.
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
