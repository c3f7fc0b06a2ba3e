//! Names for the host: the library's version and the names of the C enums' values,
//! generated from the enums themselves (`c_names!` in `types`).

use std::ffi::c_char;

use super::types::{cc_call_state, cc_fail_reason, cc_result};
use super::util::ffi_boundary;

/// The library's version and its TLS stack, e.g. `"callconnect 0.2.0 (ureq 3, rustls
/// 0.23)"`. The header's CALLCONNECT_VERSION is the version a program was compiled
/// against; this is the one it runs with.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_version() -> *const c_char {
    ffi_boundary! { or c"callconnect".as_ptr() =>
        Ok(concat!(
            "callconnect ",
            env!("CARGO_PKG_VERSION"),
            " (ureq 3, rustls 0.23)\0"
        )
        .as_ptr() as *const c_char)
    }
}

/// The name of a `cc_call_state` value (`"RINGING_A"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_state_name(state: u32) -> *const c_char {
    ffi_boundary! { or c"?".as_ptr() =>
        Ok(cc_call_state::c_name(state).as_ptr())
    }
}

/// The name of a `cc_fail_reason` value (`"BUSY"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_reason_name(reason: u32) -> *const c_char {
    ffi_boundary! { or c"?".as_ptr() =>
        Ok(cc_fail_reason::c_name(reason).as_ptr())
    }
}

/// The name of a `cc_result` value (`"CC_ERR_AUTH"`), `"?"` for an unknown value.
///
/// Ownership: static, owned by the library; never free it.
/// Thread safety: any thread.
///
/// Errors: none; never NULL.
#[no_mangle]
pub extern "C" fn cc_result_name(result: u32) -> *const c_char {
    ffi_boundary! { or c"?".as_ptr() =>
        Ok(cc_result::c_name(result).as_ptr())
    }
}
