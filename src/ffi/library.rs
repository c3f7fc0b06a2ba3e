//! What concerns the library as a whole: the thread's last error, freeing returned
//! strings, live handle counts, and the panic boundary's own test.

use std::ffi::c_char;

use super::handles::{CALLS, CLIENTS};
use super::types::cc_result;
use super::util::{self, ffi_boundary, opt_out};

/// The message of this thread's last failed call into the library ("" after a success).
/// Never NULL, never a secret.
///
/// Ownership: the pointer is owned by the library and valid until the next `cc_` call on
/// this thread; copy it to keep it.
/// Thread safety: per thread: it describes the last call made on the calling thread.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_last_error_message() -> *const c_char {
    ffi_boundary! { or c"".as_ptr() =>
        Ok(util::last_message_ptr())
    }
}

/// The carrier's own code for this thread's last error (`"1200"`, `"60"`,
/// `"pc_source_invalid"`), or "" when the carrier gave none.
///
/// Ownership: as `cc_last_error_message` (library-owned, valid until the next `cc_` call
/// on this thread).
/// Thread safety: per thread, as `cc_last_error_message`.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_last_error_carrier_code() -> *const c_char {
    ffi_boundary! { or c"".as_ptr() =>
        Ok(util::last_carrier_code_ptr())
    }
}

/// Frees a string the library returned through a `char **out_...` parameter.
///
/// Ownership: consumes the string. NULL is a no-op; a pointer the library did not return,
/// or one already freed, is ignored (never freed twice) and `cc_last_error_message` says so.
/// Thread safety: any thread (not only the one that received the string).
///
/// Errors: none returned; a foreign or already freed pointer leaves
/// CC_ERR_INVALID_ARGUMENT's message in `cc_last_error_message`.
#[no_mangle]
pub extern "C" fn cc_string_free(s: *mut c_char) {
    ffi_boundary! { void => util::free_out_string(s) }
}

/// Test support: makes the library panic inside its panic boundary, to show that a panic
/// becomes CC_ERR_INTERNAL and never crosses into the host. Does nothing else.
///
/// Ownership: nothing is passed or returned but the result.
/// Thread safety: any thread.
///
/// Returns CC_ERR_INTERNAL, always.
#[no_mangle]
pub extern "C" fn cc_debug_panic() -> cc_result {
    ffi_boundary! { panic!("cc_debug_panic was called") }
}

/// How many client and call handles are alive (for leak checks in hosts' tests).
/// Either pointer may be NULL.
///
/// Ownership: the outputs are caller-owned.
/// Thread safety: any thread; the counts may change at once when other threads work.
///
/// Returns CC_OK, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_live_handles(out_clients: *mut usize, out_calls: *mut usize) -> cc_result {
    ffi_boundary! {
        if let Some(out) = opt_out(out_clients) {
            out.set(CLIENTS.live());
        }
        if let Some(out) = opt_out(out_calls) {
            out.set(CALLS.live());
        }
        Ok(())
    }
}

/// Loads the phone number metadata now and, when `country_code` is not 0, compiles the
/// regular expressions that country's numbers are read with, in their fast form, instead
/// of at the first number (creating a client does neither). For a process that forks its
/// workers (a PHP-FPM master through `opcache.preload`, a pre-forking daemon): called
/// once before the fork, the workers share the loaded data and load or compile none of
/// it themselves. Sends nothing. Calling it again does no harm and costs next to nothing.
///
/// Ownership: nothing is passed or returned but the result.
/// Thread safety: any thread.
///
/// Returns CC_OK, CC_ERR_INVALID_ARGUMENT (not a country calling code), CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_warm_up(country_code: u16) -> cc_result {
    ffi_boundary! { crate::number::warm_up((country_code != 0).then_some(country_code)) }
}
