//! The log hook: `cc_set_log_callback` hands the library's log lines to the host.

use std::ffi::{c_char, c_void, CString};

use super::types::cc_result;
use super::util::ffi_boundary;
use crate::error::Error;
use crate::log::{self, Level};

/// How much the library logs (`cc_set_log_callback`, `CALLCONNECT_LOG`). Each level
/// includes the ones above it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cc_log_level {
    /// Nothing.
    CC_LOG_OFF = 0,
    /// A call-placing request whose outcome is unknown (it was not repeated).
    CC_LOG_ERROR = 1,
    /// A request that failed on the way (no connection, timeout, malformed reply).
    CC_LOG_WARN = 2,
    /// One line per HTTP exchange with a carrier: method, URL, status, time.
    CC_LOG_INFO = 3,
    /// Each request and reply in full (headers and body), every secret replaced by `***`.
    CC_LOG_DEBUG = 4,
}

/// A log callback: `level` is a `cc_log_level` value, `message` one line of UTF-8 text
/// without a newline, owned by the library and valid only during the call; `userdata`
/// is the pointer given to `cc_set_log_callback`.
pub type cc_log_callback =
    Option<unsafe extern "C" fn(level: u32, message: *const c_char, userdata: *mut c_void)>;

/// The host's callback and its pointer. The host promised (see `cc_set_log_callback`)
/// that both may be used from any thread.
struct HostCallback {
    callback: unsafe extern "C" fn(u32, *const c_char, *mut c_void),
    userdata: *mut c_void,
}

// SAFETY: the header's contract for cc_set_log_callback makes the host responsible for
// a callback and userdata that may be used from any thread.
unsafe impl Send for HostCallback {}
unsafe impl Sync for HostCallback {}

impl HostCallback {
    fn call(&self, level: Level, message: &str) {
        let Ok(text) = CString::new(message.replace('\0', " ")) else {
            return;
        };
        // SAFETY: the host gave this function for exactly this signature.
        unsafe { (self.callback)(level as u32, text.as_ptr(), self.userdata) }
    }
}

/// Sends the library's log lines up to `level` (a `cc_log_level`) to `callback`, with
/// `userdata` passed back untouched; replaces any callback set before. A NULL `callback`
/// removes it: lines then go to stderr if the environment variable `CALLCONNECT_LOG`
/// (`error`, `warn`, `info` or `debug`) is set, and nowhere otherwise. `CC_LOG_OFF` with
/// a callback keeps it installed but silent.
///
/// No log line ever holds a secret: passwords, API keys, tokens, signatures and PINs are
/// replaced by `***` (header values by name, form, query and JSON fields by name, and
/// every credential of every client by value). Lines are built only when their level is
/// on, so logging off costs nothing.
///
/// Thread safety: may be called from any thread. The callback is called on whichever
/// thread made the `cc_` call that logs, never on a thread of the library's own, and
/// possibly on several threads at once: it must be thread-safe, must not unwind (no C++
/// exception, no longjmp) out of itself, and should return quickly. Lines that the
/// callback itself causes (by calling into the library) are dropped. When
/// `cc_set_log_callback` returns, the previous callback is no longer running on any
/// thread and is never called again, so its `userdata` may be freed.
///
/// Ownership: `userdata` stays owned by the host; the library keeps the pointer until the
/// callback is replaced or removed. Each `message` is owned by the library and valid
/// only during the callback.
///
/// Returns CC_OK, CC_ERR_INVALID_ARGUMENT (`level` is not a `cc_log_level`),
/// CC_ERR_BUSY (called from inside the log callback), CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_set_log_callback(
    level: u32,
    callback: cc_log_callback,
    userdata: *mut c_void,
) -> cc_result {
    ffi_boundary! {
        if level > cc_log_level::CC_LOG_DEBUG as u32 {
            return Err(Error::invalid_argument(format!(
                "level {level} is not a cc_log_level (0 to 4)"
            )));
        }
        match callback {
            Some(callback) => {
                let host = HostCallback { callback, userdata };
                log::set_logger(
                    Level::from_u32(level),
                    Box::new(move |l, m| host.call(l, m)),
                )
            }
            None => log::remove_logger(),
        }
    }
}
