//! callconnect: two-leg callback calls (ring A, then bridge A to B), SMS and PIN top-up
//! over several carriers' HTTP APIs, behind one call model and one C ABI.
//!
//! The Rust API ([`Client`], [`Call`]) is what the C ABI in [`ffi`] wraps; see
//! `include/callconnect.h` for the C view and `docs/DESIGN.md` for the architecture.

pub mod account;
pub mod client;
pub mod dsn;
pub mod error;
pub(crate) mod events;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod model;
pub mod money;
pub mod number;
pub(crate) mod providers;
pub mod store;
pub mod transport;
pub(crate) mod util;

pub use client::{Call, Client};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventRefused, EventReply};
pub use model::{CallOptions, CallState, CallStatus, Capabilities, FailReason, Leg, Observation};
pub use money::Money;
