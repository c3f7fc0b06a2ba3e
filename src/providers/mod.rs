//! The carriers. One file per carrier implements [`Provider`]; [`CARRIERS`] names them.
//! Adding a carrier touches its own file, its simulator module, and one entry below
//! (a carrier that reports by events also implements [`EventProtocol`]).

use crate::account::AccountServices;
use crate::dsn::Dsn;
use crate::error::{Error, Result};
use crate::model::{CallContext, CallOptions, Capabilities, Observation, StartContext, Started};
use crate::money::Money;

pub mod call42;
pub mod connectcall;
pub mod poketalk;
pub mod voipnow;

/// A constructor for a carrier, from its parsed DSN.
pub(crate) type Constructor = fn(Dsn) -> Result<Box<dyn Provider>>;

/// One entry of the registry: a DSN scheme, its constructor, and its event protocol when
/// the carrier reports a call's progress by events sent to the host.
pub(crate) struct Carrier {
    pub scheme: &'static str,
    pub build: Constructor,
    pub events: Option<&'static dyn EventProtocol>,
}

/// Every carrier the library speaks, by DSN scheme.
pub(crate) const CARRIERS: &[Carrier] = &[
    Carrier {
        scheme: "42call",
        build: call42::Call42::from_dsn,
        events: None,
    },
    Carrier {
        scheme: "voipnow",
        build: voipnow::VoipNow::from_dsn,
        events: None,
    },
    Carrier {
        scheme: "connectcall",
        build: connectcall::ConnectCall::from_dsn,
        events: None,
    },
    Carrier {
        scheme: "poketalk",
        build: poketalk::PokeTalk::from_dsn,
        events: Some(&poketalk::EVENTS),
    },
];

/// The carrier a DSN scheme names.
pub(crate) fn find(scheme: &str) -> Result<&'static Carrier> {
    CARRIERS.iter().find(|c| c.scheme == scheme).ok_or_else(|| {
        Error::invalid_argument(format!(
            "DSN: unknown carrier '{}' (known: {})",
            scheme,
            CARRIERS
                .iter()
                .map(|c| c.scheme)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The longest any carrier may take to act on a hang-up. PokeTALK ends a call only in
/// its answer to the call's next event, and its server "sends HTTP 'GET' request to
/// specified URL each time when status is changing or every 60 sec after CallA was
/// answered" (Click-2-Call document, EventURL). The other carriers end a call in their
/// reply to the hang-up request.
pub(crate) const MAX_HANGUP_DELAY: std::time::Duration = std::time::Duration::from_secs(60);

/// How a carrier that reports by events speaks: the narrow hook the client's event
/// machinery (`events`) needs. The machinery itself (token, limits, spool, listener) is
/// the client's; the carrier only says how its events read.
pub(crate) trait EventProtocol: Send + Sync {
    /// The carrier's name in messages (`PokeTALK`).
    fn name(&self) -> &'static str;
    /// What events add to the carrier's capabilities when the DSN configures them.
    fn capabilities(&self) -> Capabilities;
    /// The HTTP status that, in answer to an event, asks the carrier to end the call.
    fn hangup_status(&self) -> u16;
    /// The carrier's run-time variables, appended to every event URL as it wants them.
    fn url_vars(&self) -> &'static str;
    /// The longest event URL the carrier takes.
    fn max_url_len(&self) -> usize;
    /// Reads what one event says about its call, from the event's own query parameters
    /// (the library's `cc_*` ones taken out). A value the carrier's table does not know
    /// leaves the state alone and is kept raw; it is not an error.
    fn observe(&self, params: &[(String, String)]) -> Result<Observation>;
}

/// One carrier's protocol. Implementations are shared between threads.
pub(crate) trait Provider: Send + Sync {
    /// The DSN scheme (`42call`).
    fn scheme(&self) -> &'static str;
    /// What this carrier honours (without events; see [`EventProtocol::capabilities`]); an option whose bit is missing is refused.
    fn capabilities(&self) -> Capabilities;
    /// Places a two-leg callback: ring `a` (one number, or `n1|n2` for a ring group where
    /// supported), then bridge to `b`.
    fn start_call(
        &self,
        a: &str,
        b: &str,
        options: &CallOptions,
        start: &StartContext<'_>,
    ) -> Result<Started>;
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
    /// has any: see [`AccountServices`].
    fn account_services(&self) -> Option<&dyn AccountServices> {
        None
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
