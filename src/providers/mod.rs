//! The carriers. One file per carrier implements [`Provider`]; [`CARRIERS`] names them.
//! Adding a carrier touches its own file, its simulator module, and one line below.

use crate::call::Observation;
use crate::client::CallOptions;
use crate::dsn::Dsn;
use crate::error::{Error, Result};
use crate::money::Money;

pub mod account;
pub mod call42;
pub mod call42_account;
pub mod connectcall;
pub mod poketalk;
pub mod voipnow;

/// A constructor for a carrier, from its parsed DSN.
pub type Constructor = fn(Dsn) -> Result<Box<dyn Provider>>;

/// Every carrier the library speaks, by DSN scheme.
pub const CARRIERS: &[(&str, Constructor)] = &[
    ("42call", call42::Call42::from_dsn),
    ("voipnow", voipnow::VoipNow::from_dsn),
    ("connectcall", connectcall::ConnectCall::from_dsn),
    ("poketalk", poketalk::PokeTalk::from_dsn),
];

/// Builds the carrier a DSN names.
pub fn build(dsn: Dsn) -> Result<Box<dyn Provider>> {
    match CARRIERS.iter().find(|(scheme, _)| *scheme == dsn.scheme) {
        Some((_, make)) => make(dsn),
        None => Err(Error::invalid_argument(format!(
            "DSN: unknown carrier '{}' (known: {})",
            dsn.scheme,
            CARRIERS
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Capability bits (the same values as `cc_capability` in the C header).
pub mod caps {
    pub const CALLBACK: u32 = 1 << 0;
    pub const LIVE_STATUS: u32 = 1 << 1;
    pub const HANGUP: u32 = 1 << 2;
    pub const SMS: u32 = 1 << 3;
    pub const TOPUP: u32 = 1 << 4;
    pub const EVENTS: u32 = 1 << 5;
    pub const RING_GROUP: u32 = 1 << 6;
    pub const CALLER_ID: u32 = 1 << 7;
    pub const ACCOUNT: u32 = 1 << 8;
    pub const IDEMPOTENT_START: u32 = 1 << 9;
    pub const MAX_DURATION: u32 = 1 << 10;
    pub const WAIT_FOR_PICKUP: u32 = 1 << 11;
    pub const MAX_COST: u32 = 1 << 12;
    pub const CONNECT_TYPE: u32 = 1 << 13;
    pub const CALL_FLAGS: u32 = 1 << 14;
}

/// What a carrier returned when a call was placed.
#[derive(Debug, Clone)]
pub struct Started {
    /// The carrier's id of the call (never empty).
    pub call_id: String,
    /// Carrier data a call needs later, stored in its reference: never a secret.
    pub extra: serde_json::Value,
    /// What is known right after the start.
    pub observation: Observation,
    /// Whether the carrier reports the call's progress afterwards.
    pub live: bool,
}

/// A call as a carrier needs to see it again: its id and the data it stored.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    pub call_id: &'a str,
    pub extra: &'a serde_json::Value,
}

/// One carrier's protocol. Implementations are shared between threads.
pub trait Provider: Send + Sync {
    /// The DSN scheme (`42call`).
    fn scheme(&self) -> &'static str;
    /// The `caps::*` bits this carrier honours; an option whose bit is missing is refused.
    fn capabilities(&self) -> u32;
    /// Places a two-leg callback: ring `a` (one number, or `n1|n2` for a ring group where
    /// supported), then bridge to `b`.
    fn start_call(&self, a: &str, b: &str, options: &CallOptions) -> Result<Started>;
    /// Asks the carrier where a call is. `None`: the carrier has no way to tell.
    fn poll(&self, call: &CallContext<'_>) -> Result<Option<Observation>>;
    /// Ends a call; returns what is known afterwards.
    fn hangup(&self, call: &CallContext<'_>) -> Result<Observation>;
    /// Sends one text to one or more `|`-separated recipients; returns the message id.
    fn send_sms(&self, _recipients: &str, _text: &str) -> Result<String> {
        Err(Error::unsupported(format!(
            "{} cannot send SMS",
            self.scheme()
        )))
    }
    /// Tops the account up with a PIN; returns the new balance when the carrier says it.
    fn topup(&self, _pin: &str) -> Result<Option<Money>> {
        Err(Error::unsupported(format!(
            "{} has no PIN top-up",
            self.scheme()
        )))
    }
    /// The balance the carrier last reported, if it reports one.
    fn known_balance(&self) -> Option<Money> {
        None
    }
    /// Called once when the client is freed (log out, end sessions). Errors are ignored.
    fn close(&self) {}
    /// The carrier's account services (balance, rates, call records, cards, ...), if it
    /// has any: see `account::AccountServices`.
    fn account_services(&self) -> Option<&dyn account::AccountServices> {
        None
    }

    /// `text` with every secret this carrier knows (derived keys, session tokens) blanked
    /// out. The client blanks the DSN's secret and PINs itself; every error a host sees
    /// passes through both.
    fn redact(&self, text: &str) -> String {
        text.to_string()
    }

    /// The carrier's event setup (EventURL, token secret, listener, spool) when its DSN
    /// asked for events; `None`: this client takes no events.
    fn event_config(&self) -> Option<&crate::events::EventConfig> {
        None
    }
    /// Reads what one event says about its call, from the event's own query parameters
    /// (the library's `cc_*` ones taken out). A value the carrier's table does not know
    /// leaves the state alone and is kept raw; it is not an error.
    fn event_observation(&self, _params: &[(String, String)]) -> Result<Observation> {
        Err(Error::unsupported(format!(
            "{} sends no events",
            self.scheme()
        )))
    }
}

/// The error of a carrier reply the library cannot read: `CC_ERR_PROTOCOL`, with the raw
/// body (secrets blanked by name and by value, on one line, cut at the log's length) in
/// the message, so that the first user of a real account can see what the carrier sent
/// and settle what its documents leave open. The same line is written at DEBUG.
/// `what` says what is wrong ("VoipNow's token reply is not JSON").
pub(crate) fn unreadable(
    transport: &crate::transport::Transport,
    what: &str,
    resp: &crate::transport::Response,
) -> Error {
    let body = crate::log::one_line(
        &transport.redact(&crate::log::body(&resp.body, resp.content_type.as_deref())),
    );
    let message = format!("{what}; the carrier sent (HTTP {}): {body}", resp.status);
    crate::log::log_at!(crate::log::Level::Debug, "{message}");
    Error::protocol(message)
}
