//! callconnect: two-leg callback calls (ring A, then bridge A to B), SMS and PIN top-up
//! over several carriers' HTTP APIs, behind one call model and one C ABI.
//!
//! A [`Client`] speaks to one carrier account, configured by a DSN string
//! (`42call://USER:PASSWORD@HOST`, `voipnow://...`, `connectcall://...`,
//! `poketalk://API_KEY@HOST?event_url=..&event_secret=..`); it places [`Call`]s with
//! [`CallOptions`], follows them ([`CallStatus`], [`CallState`]), hangs them up, sends SMS,
//! tops the account up and, where the carrier offers them, reads account services
//! ([`Account`], [`Rate`], [`CallRecord`], [`Card`], ...). Carriers that report by events
//! take them through [`Client::ingest_event`] ([`EventReply`], [`EventRefused`]). Every
//! failure is an [`Error`] of one [`ErrorKind`]; log lines go to a sink set with
//! [`set_logger`], and never hold a secret.
//!
//! Everything a Rust user needs is at the crate root; the C ABI (`include/callconnect.h`)
//! wraps the same API. `docs/DESIGN.md` draws the layers.

pub mod account;
mod client;
mod dsn;
mod error;
mod events;
// The C ABI (see `include/callconnect.h`); Rust users call the root API instead.
#[doc(hidden)]
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
mod model;
mod money;
mod number;
mod providers;
// Signed call references; public only for tests that sign odd references with an
// account's keys (`reference::sign_with_dsn`): not part of the API.
#[doc(hidden)]
pub mod reference;
mod secrets;
mod store;
// The HTTP layer, public only for the fault tests (`tests/faults.rs`): not part of the
// API.
#[doc(hidden)]
pub mod transport;
mod util;

pub use account::{
    Account, AccountEntry, CallRecord, Card, Date, DialIn, NewCard, NumberCheck, PasswordForm,
    Rate, RecordQuery, RecordSource, VoipLine, MAX_RECORD_COUNT,
};
pub use client::{
    Call, Client, DEFAULT_MAX_DURATION_S, DEFAULT_WAIT_FOR_PICKUP_S, EXPIRY_MARGIN_S, MAX_SMS_TEXT,
};
pub use dsn::Secret;
pub use error::{Error, ErrorKind, Result};
pub use events::{EventRefused, EventReply};
pub use log::{remove_logger, set_logger, Level, Sink};
pub use model::{CallOptions, CallState, CallStatus, Capabilities, FailReason, Leg};
pub use money::Money;
