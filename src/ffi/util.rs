//! The panic boundary, the thread's last error, and strings across the boundary.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, Mutex};

use super::cc_result;
use crate::error::{Error, ErrorKind, Result};

struct LastError {
    message: CString,
    carrier_code: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        carrier_code: CString::default(),
    });
}

fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

pub fn set_last_error(e: &Error) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = to_cstring(e.message());
        l.carrier_code = to_cstring(e.carrier_code().unwrap_or(""));
    });
}

pub fn clear_last_error() {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = CString::default();
        l.carrier_code = CString::default();
    });
}

pub fn last_message_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().message.as_ptr())
}

pub fn last_carrier_code_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().carrier_code.as_ptr())
}

pub fn result_of(kind: ErrorKind) -> cc_result {
    match kind {
        ErrorKind::InvalidArgument => cc_result::CC_ERR_INVALID_ARGUMENT,
        ErrorKind::InvalidHandle => cc_result::CC_ERR_INVALID_HANDLE,
        ErrorKind::InvalidNumber => cc_result::CC_ERR_INVALID_NUMBER,
        ErrorKind::Unsupported => cc_result::CC_ERR_UNSUPPORTED,
        ErrorKind::Auth => cc_result::CC_ERR_AUTH,
        ErrorKind::InsufficientFunds => cc_result::CC_ERR_INSUFFICIENT_FUNDS,
        ErrorKind::Network => cc_result::CC_ERR_NETWORK,
        ErrorKind::Timeout => cc_result::CC_ERR_TIMEOUT,
        ErrorKind::Protocol => cc_result::CC_ERR_PROTOCOL,
        ErrorKind::Provider => cc_result::CC_ERR_PROVIDER,
        ErrorKind::OutcomeUnknown => cc_result::CC_ERR_OUTCOME_UNKNOWN,
        ErrorKind::Internal => cc_result::CC_ERR_INTERNAL,
        ErrorKind::NotFound => cc_result::CC_ERR_NOT_FOUND,
        ErrorKind::Busy => cc_result::CC_ERR_BUSY,
    }
}

fn panic_error() -> Error {
    Error::internal("internal error: the library caught a panic (please report it)")
}

/// Runs an exported function's body: a panic becomes `CC_ERR_INTERNAL`, an error is
/// stored as the thread's last error, success clears it.
pub fn guard<F: FnOnce() -> Result<()>>(body: F) -> cc_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            cc_result::CC_OK
        }
        Ok(Err(e)) => {
            set_last_error(&e);
            result_of(e.kind())
        }
        Err(_) => {
            set_last_error(&panic_error());
            cc_result::CC_ERR_INTERNAL
        }
    }
}

/// For functions that return a value rather than a `cc_result`: on error or panic the
/// fallback is returned and the last error is set.
pub fn guard_value<T, F: FnOnce() -> Result<T>>(fallback: T, body: F) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(&e);
            fallback
        }
        Err(_) => {
            set_last_error(&panic_error());
            fallback
        }
    }
}

/// Reads a `const char *` argument: not NULL, valid UTF-8, at most `max` bytes.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string (the C ABI's contract).
pub unsafe fn str_arg<'a>(p: *const c_char, name: &str, max: usize) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    let bytes = CStr::from_ptr(p).to_bytes();
    if bytes.len() > max {
        return Err(Error::invalid_argument(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// Like [`str_arg`], but NULL and "" read as `None`.
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg(p: *const c_char, name: &str, max: usize) -> Result<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    let s = str_arg(p, name, max)?;
    Ok(if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    })
}

/// Strings handed to the host, so that `cc_string_free` can refuse anything else.
static OUT_STRINGS: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Gives the host a string it must free with `cc_string_free`.
pub fn out_string(s: &str) -> *mut c_char {
    let p = to_cstring(s).into_raw();
    OUT_STRINGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(p as usize);
    p
}

/// Frees a string from [`out_string`]; anything else (or a second free) is refused.
/// Safe to call with any pointer: only pointers recorded by `out_string` are freed.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn free_out_string(p: *mut c_char) -> Result<()> {
    if p.is_null() {
        return Ok(());
    }
    let known = OUT_STRINGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(p as usize));
    if !known {
        return Err(Error::invalid_argument(
            "cc_string_free: not a string from this library, or already freed",
        ));
    }
    // SAFETY: the pointer came from CString::into_raw in out_string and is freed once.
    drop(unsafe { CString::from_raw(p) });
    Ok(())
}

/// Copies `s` into a fixed `char[N]`, cut at a UTF-8 boundary, NUL-terminated.
pub fn copy_to_array<const N: usize>(dst: &mut [c_char; N], s: &str) {
    let mut end = s.len().min(N - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    for (d, b) in dst.iter_mut().zip(s.as_bytes()[..end].iter()) {
        *d = *b as c_char;
    }
    for d in dst.iter_mut().skip(end) {
        *d = 0;
    }
}
