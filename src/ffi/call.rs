//! Calls in the C ABI: placing, following, hanging up, naming and resuming one.

use std::ffi::c_char;

use super::handles::{call_of, client_of, CALLS};
use super::types::{
    cc_call, cc_call_options, cc_call_status, cc_client, cc_result, options_from_c, MAX_NUMBER_ARG,
    MAX_REF_ARG,
};
use super::util::{ffi_boundary, out_arg, out_string, str_arg};

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
pub extern "C" fn cc_start_call(
    client: *mut cc_client,
    a_number: *const c_char,
    b_number: *const c_char,
    options: *const cc_call_options,
    out_call: *mut *mut cc_call,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let a = str_arg(a_number, "a_number", MAX_NUMBER_ARG)?;
        let b = str_arg(b_number, "b_number", MAX_NUMBER_ARG)?;
        let opts = options_from_c(options)?;
        let out = out_arg(out_call, "out_call")?;
        let call = c.start_call(a, b, &opts)?;
        let h = CALLS.insert(call)?;
        out.set(h as *mut cc_call);
        Ok(())
    }
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
pub extern "C" fn cc_poll_status(call: *mut cc_call, out_status: *mut cc_call_status) -> cc_result {
    ffi_boundary! {
        let c = call_of(call)?;
        let out = out_arg(out_status, "out_status")?;
        let s = c.poll()?;
        out.set(cc_call_status::from_status(&s));
        Ok(())
    }
}

/// Asks the carrier to end the call. A call that is already over is left alone. Where
/// the carrier ends calls only in its answer to its next event, the call stays
/// CC_STATUS_HANGUP_PENDING until then: at most CC_MAX_HANGUP_DELAY_S seconds.
///
/// Ownership: borrows the call; it stays valid (free it with `cc_call_free`).
/// Thread safety: any thread; requests on one call are served one after the other.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK,
/// CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_hangup(call: *mut cc_call) -> cc_result {
    ffi_boundary! {
        let c = call_of(call)?;
        c.hangup()?;
        Ok(())
    }
}

/// Frees a call handle. This does not end the call: use `cc_hangup` first if you want
/// that (or keep its `cc_call_ref` to follow it later).
///
/// Ownership: consumes the call; do not use it afterwards. NULL is a no-op; a freed or
/// wrong handle is ignored.
/// Thread safety: any thread. A request that another thread is running on this call at
/// that moment finishes; later ones are refused with CC_ERR_INVALID_HANDLE.
///
/// Errors: none returned; a freed or wrong handle leaves CC_ERR_INVALID_HANDLE's message
/// in `cc_last_error_message`.
#[no_mangle]
pub extern "C" fn cc_call_free(call: *mut cc_call) {
    if call.is_null() {
        return;
    }
    ffi_boundary! { void =>
        CALLS.remove(call as usize)?;
        Ok(())
    }
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
pub extern "C" fn cc_call_ref(call: *mut cc_call, out_ref: *mut *mut c_char) -> cc_result {
    ffi_boundary! {
        let c = call_of(call)?;
        let out = out_arg(out_ref, "out_ref")?;
        out.set(out_string(&c.reference()));
        Ok(())
    }
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
pub extern "C" fn cc_call_attach(
    client: *mut cc_client,
    reference: *const c_char,
    out_call: *mut *mut cc_call,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let r = str_arg(reference, "ref", MAX_REF_ARG)?;
        let out = out_arg(out_call, "out_call")?;
        let call = c.attach(r)?;
        let h = CALLS.insert(call)?;
        out.set(h as *mut cc_call);
        Ok(())
    }
}

/// The carrier's id of a call. Sends nothing.
///
/// Ownership: `*out_id` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_call_id(call: *mut cc_call, out_id: *mut *mut c_char) -> cc_result {
    ffi_boundary! {
        let c = call_of(call)?;
        let out = out_arg(out_id, "out_id")?;
        out.set(out_string(c.id()));
        Ok(())
    }
}
