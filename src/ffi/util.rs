//! The panic boundary, the thread's last error, the name tables, and arguments and
//! strings across the boundary.
//!
//! Every exported function is a safe `pub extern "C" fn` whose body runs inside
//! `ffi_boundary!`; the pointers it is given are read and written only through the
//! helpers here (`str_arg`, `opt_str_arg`, `in_ref`, `out_arg`, `opt_out`), which
//! hold the one `unsafe` each and rely on the C ABI's contract: a pointer argument is
//! NULL or points to what its type says, for the duration of the call.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::types::cc_result;
use crate::error::{Error, ErrorKind, Result};
use crate::util::lock_or_recover;

/// The body of every exported function, inside the panic boundary:
/// - `ffi_boundary! { .. }`: the body is a `Result<()>`, the function returns its
///   `cc_result` (see [`guard`]);
/// - `ffi_boundary! { or FALLBACK => .. }`: the body is a `Result<T>`, the function returns
///   the value, or FALLBACK on an error or a panic (see [`guard_value`]);
/// - `ffi_boundary! { void => .. }`: the body is a `Result<()>`, the function returns
///   nothing (the frees); an error is only kept as the thread's last error.
macro_rules! ffi_boundary {
    (void => $($body:tt)*) => {{
        let _: $crate::ffi::types::cc_result = $crate::ffi::util::guard(|| { $($body)* });
    }};
    (or $fallback:expr => $($body:tt)*) => {
        $crate::ffi::util::guard_value($fallback, || { $($body)* })
    };
    ($($body:tt)*) => {
        $crate::ffi::util::guard(|| { $($body)* })
    };
}
pub(crate) use ffi_boundary;

/// One table per C enum: `c_names!(cc_result, "", [CC_OK, ..])` gives
/// `cc_result::c_name(u32) -> &'static CStr`, the variant's own identifier without the
/// prefix (`"?"` for a value that is not one), and `cc_result::ALL`. The match inside is
/// exhaustive, so a variant missing from the table, or one the enum lacks, does not
/// compile: the C names cannot drift from the enum.
macro_rules! c_names {
    ($enum:ident, $prefix:literal, [$($variant:ident),+ $(,)?]) => {
        impl $enum {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub(crate) const ALL: &'static [$enum] = &[$($enum::$variant),+];

            /// The value's name without its prefix, NUL-terminated.
            pub(crate) fn name(self) -> &'static ::std::ffi::CStr {
                let full: &'static [u8] = match self {
                    $($enum::$variant => concat!(stringify!($variant), "\0").as_bytes(),)+
                };
                ::std::ffi::CStr::from_bytes_with_nul(&full[$prefix.len()..])
                    .unwrap_or(c"?")
            }

            /// The name of a raw value, `"?"` when it is none of the enum's.
            pub(crate) fn c_name(value: u32) -> &'static ::std::ffi::CStr {
                $(if value == $enum::$variant as u32 {
                    return $enum::$variant.name();
                })+
                c"?"
            }
        }
    };
}
pub(crate) use c_names;

/// The one table between the Rust API's [`ErrorKind`] and the C ABI's [`cc_result`]:
/// [`result_of`] is an exhaustive match over `ErrorKind`, and `kind_of` (tests) one over
/// `cc_result`, so a kind or a result value without its counterpart does not compile.
macro_rules! result_table {
    ($($result:ident <=> $kind:ident),+ $(,)?) => {
        /// The `cc_result` of an error kind.
        pub(crate) fn result_of(kind: ErrorKind) -> cc_result {
            match kind {
                $(ErrorKind::$kind => cc_result::$result,)+
            }
        }

        /// The error kind of a `cc_result` (None for CC_OK).
        #[cfg(test)]
        pub(crate) fn kind_of(result: cc_result) -> Option<ErrorKind> {
            match result {
                cc_result::CC_OK => None,
                $(cc_result::$result => Some(ErrorKind::$kind),)+
            }
        }
    };
}

result_table! {
    CC_ERR_INVALID_ARGUMENT <=> InvalidArgument,
    CC_ERR_INVALID_HANDLE <=> InvalidHandle,
    CC_ERR_INVALID_NUMBER <=> InvalidNumber,
    CC_ERR_UNSUPPORTED <=> Unsupported,
    CC_ERR_AUTH <=> Auth,
    CC_ERR_INSUFFICIENT_FUNDS <=> InsufficientFunds,
    CC_ERR_NETWORK <=> Network,
    CC_ERR_TIMEOUT <=> Timeout,
    CC_ERR_PROTOCOL <=> Protocol,
    CC_ERR_PROVIDER <=> Provider,
    CC_ERR_OUTCOME_UNKNOWN <=> OutcomeUnknown,
    CC_ERR_INTERNAL <=> Internal,
    CC_ERR_NOT_FOUND <=> NotFound,
    CC_ERR_BUSY <=> Busy,
}

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

pub(crate) fn set_last_error(e: &Error) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = to_cstring(e.message());
        l.carrier_code = to_cstring(e.carrier_code().unwrap_or(""));
    });
}

pub(crate) fn clear_last_error() {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = CString::default();
        l.carrier_code = CString::default();
    });
}

pub(crate) fn last_message_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().message.as_ptr())
}

pub(crate) fn last_carrier_code_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().carrier_code.as_ptr())
}

fn panic_error() -> Error {
    Error::internal("internal error: the library caught a panic (please report it)")
}

/// Runs an exported function's body: a panic becomes `CC_ERR_INTERNAL`, an error is
/// stored as the thread's last error, success clears it. Called through
/// [`ffi_boundary!`].
pub(crate) fn guard<F: FnOnce() -> Result<()>>(body: F) -> cc_result {
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
/// fallback is returned and the last error is set. Called through [`ffi_boundary!`].
pub(crate) fn guard_value<T, F: FnOnce() -> Result<T>>(fallback: T, body: F) -> T {
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
/// `p` is NULL or a NUL-terminated string that outlives the call (the C ABI's contract).
pub(crate) fn str_arg<'a>(p: *const c_char, name: &str, max: usize) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: not NULL, and by the C ABI's contract a NUL-terminated string that stays
    // valid for the duration of the call.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.len() > max {
        return Err(Error::invalid_argument(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// Like [`str_arg`], but NULL and "" read as `None`.
pub(crate) fn opt_str_arg(p: *const c_char, name: &str, max: usize) -> Result<Option<String>> {
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

/// Reads a struct the caller passed by pointer; NULL is `None`.
/// `p` is NULL or points to a valid `T` that outlives the call (the C ABI's contract).
pub(crate) fn in_ref<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: by the C ABI's contract, NULL or a valid, aligned T for the call.
    unsafe { p.as_ref() }
}

/// An out-parameter: caller-owned memory the library writes once, on success. The
/// memory may be uninitialised, so it is only ever written whole, never read.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Writes the value (the memory's old content is not read or dropped).
    pub(crate) fn set(self, value: T) {
        // SAFETY: by the C ABI's contract the pointer is valid and aligned for a T for
        // the duration of the call; `write` neither reads nor drops the old value.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// A required out-parameter: NULL is CC_ERR_INVALID_ARGUMENT naming it. Checked before
/// the request is made, so that a NULL out-parameter never costs a carrier request.
pub(crate) fn out_arg<T>(p: *mut T, name: &str) -> Result<Out<T>> {
    NonNull::new(p)
        .map(Out)
        .ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))
}

/// An optional out-parameter: NULL means the caller does not want it.
pub(crate) fn opt_out<T>(p: *mut T) -> Option<Out<T>> {
    NonNull::new(p).map(Out)
}

/// Strings handed to the host, so that `cc_string_free` can refuse anything else.
static OUT_STRINGS: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// The lock of the strings handed to the host, held around a fork.
pub(crate) type OutStringsHeld = MutexGuard<'static, HashSet<usize>>;

/// Takes the lock of the strings handed to the host, for a fork (`handles::watch_forks`).
pub(crate) fn hold_out_strings() -> OutStringsHeld {
    lock_or_recover(&OUT_STRINGS)
}

/// Gives the host a string it must free with `cc_string_free`.
pub(crate) fn out_string(s: &str) -> *mut c_char {
    let p = to_cstring(s).into_raw();
    lock_or_recover(&OUT_STRINGS).insert(p as usize);
    p
}

/// Frees a string from [`out_string`]; anything else (or a second free) is refused.
/// Safe to call with any pointer: only pointers recorded by `out_string` are freed.
pub(crate) fn free_out_string(p: *mut c_char) -> Result<()> {
    if p.is_null() {
        return Ok(());
    }
    let known = lock_or_recover(&OUT_STRINGS).remove(&(p as usize));
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
pub(crate) fn copy_to_array<const N: usize>(dst: &mut [c_char; N], s: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_has_one_kind_and_back() {
        for r in cc_result::ALL {
            match kind_of(*r) {
                None => assert_eq!(*r, cc_result::CC_OK),
                Some(k) => assert_eq!(result_of(k), *r, "{r:?}"),
            }
        }
    }
}
