//! callconnect: two-leg callback calls (ring A, then bridge A to B), SMS and PIN top-up
//! over several carriers' HTTP APIs, behind one call model and one C ABI.
//!
//! The Rust API ([`Client`], [`Call`]) is what the C ABI in [`ffi`] wraps; see
//! `include/callconnect.h` for the C view and `docs/DESIGN.md` for the architecture.

pub mod account;
pub mod call;
pub mod client;
pub mod dsn;
pub mod error;
pub mod events;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod money;
pub mod number;
pub mod providers;
pub mod store;
pub mod transport;

pub use call::{CallState, CallStatus, FailReason, Leg, Observation};
pub use client::{Call, CallOptions, Client};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventRefused, EventReply};
pub use money::Money;
