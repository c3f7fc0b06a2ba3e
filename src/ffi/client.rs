//! Clients in the C ABI: making and freeing one, its capabilities, and what it does
//! without a call (SMS, top-up, the last balance heard).

use std::ffi::c_char;

use super::handles::{client_of, CLIENTS};
use super::types::{cc_client, cc_result, MAX_DSN, MAX_NUMBER_ARG, MAX_SHORT_ARG, MAX_SMS_ARG};
use super::util::{ffi_boundary, opt_out, out_arg, out_string, str_arg};
use crate::error::{Error, ErrorKind};

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
pub extern "C" fn cc_client_new(dsn: *const c_char, out_client: *mut *mut cc_client) -> cc_result {
    ffi_boundary! {
        let dsn = str_arg(dsn, "dsn", MAX_DSN)?;
        let out = out_arg(out_client, "out_client")?;
        let client = crate::Client::new(dsn)?;
        let h = CLIENTS.insert(client)?;
        out.set(h as *mut cc_client);
        Ok(())
    }
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
///
/// Errors: none returned; a freed or wrong handle leaves CC_ERR_INVALID_HANDLE's message
/// in `cc_last_error_message`.
#[no_mangle]
pub extern "C" fn cc_client_free(client: *mut cc_client) {
    if client.is_null() {
        return;
    }
    ffi_boundary! { void =>
        let c = CLIENTS.remove(client as usize)?;
        c.close();
        Ok(())
    }
}

/// The `cc_capability` bits of the client's carrier; 0 for a NULL, freed or invalid
/// handle (and `cc_last_error_message` says why). Sends nothing.
///
/// Ownership: borrows the client.
/// Thread safety: any thread.
///
/// Errors: returns 0 for CC_ERR_INVALID_HANDLE (the message is in
/// `cc_last_error_message`).
#[no_mangle]
pub extern "C" fn cc_capabilities(client: *const cc_client) -> u32 {
    ffi_boundary! { or 0 =>
        Ok(client_of(client)?.capabilities().bits())
    }
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
pub extern "C" fn cc_send_sms(
    client: *mut cc_client,
    recipients: *const c_char,
    text: *const c_char,
    out_message_id: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let recipients = str_arg(recipients, "recipients", MAX_NUMBER_ARG)?;
        let text = str_arg(text, "text", MAX_SMS_ARG)?;
        let out = out_arg(out_message_id, "out_message_id")?;
        let id = c.send_sms(recipients, text)?;
        out.set(out_string(&id));
        Ok(())
    }
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
pub extern "C" fn cc_topup(
    client: *mut cc_client,
    pin: *const c_char,
    out_balance: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let pin = str_arg(pin, "pin", MAX_SHORT_ARG)?;
        let balance = c.topup(pin)?;
        if let Some(out) = opt_out(out_balance) {
            out.set(match balance {
                Some(m) => out_string(&m.display()),
                None => std::ptr::null_mut(),
            });
        }
        Ok(())
    }
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
pub extern "C" fn cc_known_balance(
    client: *const cc_client,
    out_balance: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let out = out_arg(out_balance, "out_balance")?;
        let m = c.known_balance().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "the carrier has not reported a balance yet",
            )
        })?;
        out.set(out_string(&m.display()));
        Ok(())
    }
}
