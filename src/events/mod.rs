//! Carrier events in: the status callbacks a carrier sends to the host (PokeTALK's
//! EventURL hits), for every carrier that reports a call's progress that way.
//!
//! The path of one event:
//! 1. When a call is placed, the carrier is given an event URL that carries the
//!    library's own query beside the carrier's variables: `cc_id` (the call), `cc_lim`
//!    (the call's limits, when it has any) and `cc_tok`, the call's token:
//!    `base64url(HMAC-SHA1(event_secret, "callconnect-event-v1\n" + id + "\n" + lim))`.
//!    The carrier signs nothing, so this token is what tells a real event from a
//!    forged one; it also binds the limits, so that a process that never saw the call
//!    can still enforce them.
//! 2. `Client::ingest_event` checks the token in constant time (`Mac::verify_slice`,
//!    `token.rs`): a forged event, or one made for another call, changes nothing (403).
//!    The carrier reads its own parameters into an [`Observation`]
//!    ([`EventProtocol::observe`]), which is merged under the rules of
//!    [`CallStatus::apply_checked`]: late and repeated events never move a call back,
//!    the first final state's figures stand, an implausible duration is not taken.
//! 3. The call is found where it lives: in the call-state store (`store=`, the client's:
//!    every process that shares it sees the event), alive in this process (the client's
//!    index of its calls, reached through [`LiveCalls`]), or in a short buffer for a call
//!    whose start has not returned yet (without a store). Nowhere: 404, nothing changes.
//!    A store that cannot be written: 503, so that the carrier sends the event again.
//! 4. The answer is 200, or the carrier's hang-up status (PokeTALK: 412) to an event
//!    that shows the call not over when the host asked for hang-up (in this process, or
//!    in another through the store; before or after the call's end), when the call is
//!    past its `max_duration_s` / `max_cost`, or when the library already saw the call
//!    end (an inconsistency, logged at WARN: the carrier is never left running a call
//!    the host believes has ended).
//!
//! Events reach `Client::ingest_event` from the host's own web server (`cc_event_ingest`),
//! or from the built-in listener (`listener.rs`, `event_listen=IP:PORT`).
//!
//! Everything here is the client's: it reads the `event_*` options out of the DSN
//! ([`EventOptions::take`]), binds the listener's socket, builds [`Events`] and serves
//! events to it. A carrier that reports by events only implements the narrow
//! [`EventProtocol`] hook (how its events read, which status ends a call, which
//! variables it fills in, its URL length limit).

pub(crate) mod listener;
pub(crate) mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log_at, Level};
use crate::model::{unix_ms, Applied, CallOptions, CallState, CallStatus};
use crate::providers::EventProtocol;
use crate::store::{self, CallStore, Update};
use crate::util::{lock_or_recover as lock, new_call_id};

use listener::ListenerConfig;
use token::{valid_id, Limits, Signer};

/// The library's own query parameters in an event URL.
pub(crate) const ID_PARAM: &str = "cc_id";
pub(crate) const LIMITS_PARAM: &str = "cc_lim";
pub(crate) const TOKEN_PARAM: &str = "cc_tok";

/// The call's token in an event URL this library made (to register it as a secret).
pub(crate) fn url_token(url: &str) -> Option<&str> {
    let param = format!("{TOKEN_PARAM}=");
    let at = url.find(&param)?;
    url[at + param.len()..].split('&').next()
}
/// The longest query string taken from an event.
pub const MAX_QUERY: usize = 4096;
/// The shortest `event_secret` accepted.
pub(crate) const MIN_SECRET_LEN: usize = 16;
/// Events kept for calls whose start has not returned yet (bounded: a flood of valid
/// events cannot grow memory without limit).
const EARLY_MAX_CALLS: usize = 1024;
const EARLY_MAX_EVENTS: usize = 64;
const EARLY_KEEP: std::time::Duration = std::time::Duration::from_secs(600);
/// The highest `event_max_connections` taken (each connection is a descriptor).
const MAX_LISTENER_CONNECTIONS: usize = 100_000;

/// One event kept in the early buffer: when it came and the carrier's own parameters.
#[derive(Debug, Clone)]
struct StoredEvent {
    received_ms: i64,
    params: Vec<(String, String)>,
}

struct Early {
    since: Instant,
    events: Vec<StoredEvent>,
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: {what}"))
}

/// The `event_*` options of a DSN, checked but not yet acted on: `event_url`,
/// `event_secret`, `event_listen`, `event_max_connections`, `event_head_timeout_ms`
/// (`event_spool`, the older name of `store=dir:`, is the store's).
pub(crate) struct EventOptions {
    /// Signs each call's event URL; the client registers it as a secret.
    pub secret: Secret,
    /// Where the client binds the built-in listener.
    pub listen: Option<SocketAddr>,
    /// The built-in listener's limits (`event_max_connections`, `event_head_timeout_ms`).
    pub listener: ListenerConfig,
    url: Option<String>,
}

impl EventOptions {
    /// Takes the event options out of a DSN. `None` when it has none.
    pub(crate) fn take(dsn: &mut Dsn) -> Result<Option<EventOptions>> {
        let url = dsn.take_option("event_url");
        let secret = dsn.take_option("event_secret");
        let listen = dsn.take_option("event_listen");
        let max_connections = dsn.take_option("event_max_connections");
        let head_timeout = dsn.take_option("event_head_timeout_ms");
        if url.is_none()
            && secret.is_none()
            && listen.is_none()
            && max_connections.is_none()
            && head_timeout.is_none()
        {
            return Ok(None);
        }
        let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            dsn_error(
                "event_secret is missing: it signs each call's event URL, and every process \
                 that takes events must know it",
            )
        })?;
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(dsn_error(format!(
                "event_secret must be at least {MIN_SECRET_LEN} characters"
            )));
        }
        let listen = listen
            .map(|l| {
                l.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| dsn_error("event_listen must be IP:PORT, such as 127.0.0.1:8089"))
            })
            .transpose()?;
        if listen.is_none() && (max_connections.is_some() || head_timeout.is_some()) {
            return Err(dsn_error(
                "event_max_connections and event_head_timeout_ms are options of the built-in \
                 listener: they need event_listen",
            ));
        }
        let mut listener = ListenerConfig::default();
        if let Some(n) = max_connections {
            listener.max_connections = n
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_LISTENER_CONNECTIONS).contains(n))
                .ok_or_else(|| {
                    dsn_error(format!(
                        "event_max_connections must be a number from 1 to \
                         {MAX_LISTENER_CONNECTIONS}"
                    ))
                })?;
        }
        if let Some(ms) = head_timeout {
            listener.head_timeout = ms
                .trim()
                .parse()
                .ok()
                .filter(|ms| (1..=600_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    dsn_error("event_head_timeout_ms must be a number of ms from 1 to 600000")
                })?;
        }
        Ok(Some(EventOptions {
            secret: Secret::new(secret),
            listen,
            listener,
            url,
        }))
    }
}

/// Where the events of one client's calls are taken: the token signer, the event URL,
/// the carrier's [`EventProtocol`] and the buffer of early events.
pub(crate) struct Events {
    signer: Signer,
    url: String,
    protocol: &'static dyn EventProtocol,
    listen_addr: Option<SocketAddr>,
    early: Mutex<HashMap<String, Early>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.url)
            .field("listen_addr", &self.listen_addr)
            .finish_non_exhaustive()
    }
}

/// The calls alive in this process, by id: where an event is applied directly. The
/// client implements it over its index of live calls.
pub(crate) trait LiveCalls {
    /// Runs `f` on the status (and the start, Unix ms) of every call with this id alive
    /// in this process, or `none` when there is none; both under one lock, so that a
    /// call registered meanwhile is seen by one of the two. Returns how many calls `f`
    /// ran on.
    fn with_live_calls(
        &self,
        id: &str,
        f: &mut dyn FnMut(&mut CallStatus, i64),
        none: &mut dyn FnMut(),
    ) -> usize;
}

impl Events {
    /// The event setup from checked options. `listen_addr` is where the client bound the
    /// listener (with the port the system chose), when the DSN asked for one.
    pub(crate) fn new(
        options: EventOptions,
        protocol: &'static dyn EventProtocol,
        listen_addr: Option<SocketAddr>,
    ) -> Result<Events> {
        let url = match options.url {
            Some(u) => check_url(&u)?,
            None => match listen_addr {
                Some(a) if !a.ip().is_unspecified() => format!("http://{a}/"),
                _ => {
                    return Err(dsn_error(
                        "event_url is missing: the public URL at which the carrier reaches \
                         this host's event receiver",
                    ))
                }
            },
        };
        let events = Events {
            signer: Signer::new(options.secret),
            url,
            protocol,
            listen_addr,
            early: Mutex::new(HashMap::new()),
        };
        // The longest URL a call can need: a full id and the longest limits.
        let longest = Limits {
            max_duration_s: Some(u32::MAX),
            max_cost: Some("9".repeat(16)),
        };
        let n = events.event_url(&new_call_id(), &longest).len();
        if n > protocol.max_url_len() {
            return Err(Error::invalid_argument(format!(
                "DSN: event_url is too long: with the library's query and {name}'s \
                 variables it comes to {n} characters, {name} takes {max}",
                name = protocol.name(),
                max = protocol.max_url_len()
            )));
        }
        Ok(events)
    }

    /// The address the built-in listener listens on, when there is one.
    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// What events add to the carrier's capabilities.
    pub(crate) fn capabilities(&self) -> crate::model::Capabilities {
        self.protocol.capabilities()
    }

    /// The event URL for one call: `event_url` + the library's query + the carrier's own
    /// variables (written as the carrier wants them, not encoded).
    fn event_url(&self, call_id: &str, limits: &Limits) -> String {
        let lim = limits.encode();
        let mut ours = url::form_urlencoded::Serializer::new(String::new());
        ours.append_pair(ID_PARAM, call_id);
        if !lim.is_empty() {
            ours.append_pair(LIMITS_PARAM, &lim);
        }
        ours.append_pair(TOKEN_PARAM, &self.signer.token(call_id, &lim));
        let sep = if !self.url.contains('?') {
            "?"
        } else if self.url.ends_with('?') || self.url.ends_with('&') {
            ""
        } else {
            "&"
        };
        let mut out = format!("{}{sep}{}", self.url, ours.finish());
        let carrier_vars = self.protocol.url_vars();
        if !carrier_vars.is_empty() {
            out.push('&');
            out.push_str(carrier_vars);
        }
        out
    }

    /// Before a call is placed: its event URL, and room for its events in the early
    /// buffer, so that an event that beats the carrier's reply is kept (with a store,
    /// the client creates the call's record too).
    pub(crate) fn prepare_call(&self, call_id: &str, options: &CallOptions) -> Result<String> {
        let limits = Limits::from_options(options)?;
        let u = self.event_url(call_id, &limits);
        let max = self.protocol.max_url_len();
        if u.len() > max {
            return Err(Error::invalid_argument(format!(
                "the event URL would be {} characters, {} takes {max}: shorten event_url",
                u.len(),
                self.protocol.name()
            )));
        }
        let mut early = lock(&self.early);
        early.retain(|_, e| e.since.elapsed() < EARLY_KEEP);
        if early.len() < EARLY_MAX_CALLS {
            early.insert(
                call_id.to_string(),
                Early {
                    since: Instant::now(),
                    events: Vec::new(),
                },
            );
        }
        Ok(u)
    }

    /// A call that surely was not placed: nothing of it is kept.
    pub(crate) fn forget_call(&self, call_id: &str) {
        lock(&self.early).remove(call_id);
    }

    fn buffer_early(&self, call_id: &str, event: &StoredEvent) -> bool {
        let mut early = lock(&self.early);
        match early.get_mut(call_id) {
            Some(e) if e.events.len() < EARLY_MAX_EVENTS => {
                e.events.push(event.clone());
                true
            }
            _ => false,
        }
    }

    fn take_early(&self, call_id: &str) -> Vec<StoredEvent> {
        lock(&self.early)
            .remove(call_id)
            .map(|e| e.events)
            .unwrap_or_default()
    }

    /// Takes one event: the query string of a hit on the call's event URL, merged into
    /// the call's record in `store`, applied to the calls `live` knows, or buffered.
    pub(crate) fn ingest(
        &self,
        query: &str,
        live: &dyn LiveCalls,
        store: Option<&dyn CallStore>,
    ) -> std::result::Result<EventReply, EventRefused> {
        let refuse = |http_status: u16, error: Error| EventRefused { http_status, error };
        let ev = parse_query(query).map_err(|e| {
            let status = if e.kind() == ErrorKind::Auth {
                403
            } else {
                400
            };
            refuse(status, e)
        })?;
        if !self.signer.verify(&ev.id, &ev.lim, &ev.token) {
            return Err(refuse(
                403,
                Error::new(
                    ErrorKind::Auth,
                    "the event's token does not match its call (forged, or made for another \
                     call): ignored",
                ),
            ));
        }
        let limits = Limits::decode(&ev.lim).map_err(|e| refuse(400, e))?;
        let obs = self
            .protocol
            .observe(&ev.params)
            .map_err(|e| refuse(400, e))?;
        let now_ms = unix_ms(SystemTime::now());
        let event = StoredEvent {
            received_ms: now_ms,
            params: ev.params,
        };
        let is_final = obs.state.is_some_and(CallState::is_final);
        let over_limits = !is_final && limits.exceeded_by(&obs);

        // The store first: whichever process polls the call or takes its next event
        // sees this one. An event that could not be kept is not answered 200: the
        // carrier sends it again.
        let stored = match store {
            Some(s) => {
                let update = Update {
                    obs: obs.clone(),
                    hangup: over_limits,
                    ..Update::new(now_ms)
                };
                s.merge(&ev.id, &update).map_err(|e| refuse(503, e))?
            }
            None => None,
        };
        let mut applied = stored.as_ref().map(|m| m.merge).unwrap_or_default();
        let mut requested =
            over_limits || stored.as_ref().is_some_and(|m| m.record.hangup_requested());
        live.with_live_calls(
            &ev.id,
            &mut |s, _| requested |= s.hangup_requested,
            &mut || {},
        );
        let mut status = None;
        let mut buffered = false;
        let found = live.with_live_calls(
            &ev.id,
            &mut |s, started_ms| {
                s.hangup_requested |= requested;
                match &stored {
                    Some(m) => store::absorb(s, &m.record),
                    None => {
                        let a = s.apply_checked(&obs, Some(started_ms), now_ms);
                        applied.alive_after_final |= a.alive_after_final;
                        applied.implausible |= a.implausible;
                    }
                }
                if s.hangup_requested && !s.state.is_final() {
                    s.hangup_pending = true;
                }
                status = Some(s.clone());
            },
            &mut || buffered = stored.is_none() && self.buffer_early(&ev.id, &event),
        );
        if found == 0 && stored.is_none() && !buffered {
            return Err(refuse(
                404,
                Error::new(
                    ErrorKind::NotFound,
                    "no call with this id is known here (a call of another process needs the \
                     same store= in both processes' DSN)",
                ),
            ));
        }
        // The carrier still runs a call the library saw end: end it.
        let hang_up = !is_final && (requested || applied.alive_after_final);
        let http_status = if hang_up {
            self.protocol.hangup_status()
        } else {
            200
        };
        warn_of(&ev.id, &applied, http_status);
        Ok(EventReply {
            http_status,
            call_id: ev.id,
            hang_up,
            status,
        })
    }

    /// Brings a call's status up to date with the events that came before its start
    /// returned (without a store: with one, they are in the call's record). Called on
    /// every poll.
    pub(crate) fn catch_up(&self, call_id: &str, status: &mut CallStatus, started_ms: i64) {
        for ev in self.take_early(call_id) {
            if let Ok(obs) = self.protocol.observe(&ev.params) {
                status.apply_checked(&obs, Some(started_ms), ev.received_ms);
            }
        }
    }
}

/// The inconsistencies an event showed, at WARN (the call id is no secret).
fn warn_of(call_id: &str, applied: &Applied, http_status: u16) {
    if applied.alive_after_final {
        log_at!(
            Level::Warn,
            "event for call {call_id}: the carrier reports the call alive after the library \
             saw it end (a forged or lost final event?): answered {http_status} to end it"
        );
    }
    if applied.implausible {
        log_at!(
            Level::Warn,
            "event for call {call_id}: its duration is longer than the time since the call \
             was placed: not taken"
        );
    }
}

fn check_url(text: &str) -> Result<String> {
    let text = text.trim();
    let url =
        url::Url::parse(text).map_err(|e| dsn_error(format!("event_url is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(dsn_error(
            "event_url must be an http:// or https:// URL with a host",
        ));
    }
    if url.fragment().is_some() || text.contains('$') {
        return Err(dsn_error("event_url must not contain '#' or '$'"));
    }
    if url
        .query_pairs()
        .any(|(k, _)| k == ID_PARAM || k == LIMITS_PARAM || k == TOKEN_PARAM)
    {
        return Err(dsn_error(format!(
            "event_url must not hold the library's own parameters ({ID_PARAM}, {LIMITS_PARAM}, {TOKEN_PARAM})"
        )));
    }
    Ok(url.as_str().to_string())
}

/// What the host answers the carrier after an event was taken.
#[derive(Debug, Clone)]
pub struct EventReply {
    /// 200, or the carrier's hang-up status (PokeTALK: 412).
    pub http_status: u16,
    pub call_id: String,
    /// The answer asks the carrier to end the call.
    pub hang_up: bool,
    /// The call's status after the event, when the call is alive in this process.
    pub status: Option<CallStatus>,
}

/// An event that was not taken: it changed nothing. The host answers `http_status`.
#[derive(Debug, Clone)]
pub struct EventRefused {
    /// 400 malformed, 403 bad token, 404 unknown call (or no events here), 500/503.
    pub http_status: u16,
    pub error: Error,
}

impl std::fmt::Display for EventRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event refused (HTTP {}): {}",
            self.http_status, self.error
        )
    }
}

impl std::error::Error for EventRefused {}

impl From<EventRefused> for Error {
    fn from(r: EventRefused) -> Error {
        r.error
    }
}

struct ParsedEvent {
    id: String,
    lim: String,
    token: String,
    params: Vec<(String, String)>,
}

fn parse_query(query: &str) -> Result<ParsedEvent> {
    if query.len() > MAX_QUERY {
        return Err(Error::invalid_argument(format!(
            "the event's query string is longer than {MAX_QUERY} bytes"
        )));
    }
    let q = query.trim();
    // A request target (`/cb.php?...`) is taken too: hosts pass one by mistake.
    let q = if q.starts_with('/') {
        q.split_once('?').map_or("", |(_, q)| q)
    } else {
        q.strip_prefix('?').unwrap_or(q)
    };
    let (mut id, mut lim, mut token) = (None, None, None);
    let mut params = Vec::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        let slot = match k.as_ref() {
            ID_PARAM => &mut id,
            LIMITS_PARAM => &mut lim,
            TOKEN_PARAM => &mut token,
            _ => {
                params.push((k.into_owned(), v.into_owned()));
                continue;
            }
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(Error::invalid_argument(format!(
                "the event gives {k} twice"
            )));
        }
    }
    let id = id.ok_or_else(|| {
        Error::invalid_argument(format!(
            "not an event of this library: the query has no {ID_PARAM}"
        ))
    })?;
    if !valid_id(&id) {
        return Err(Error::invalid_argument(format!(
            "the event's {ID_PARAM} is not a call id"
        )));
    }
    let token = token.ok_or_else(|| {
        Error::new(
            ErrorKind::Auth,
            format!("the event has no token ({TOKEN_PARAM}): ignored"),
        )
    })?;
    Ok(ParsedEvent {
        id,
        lim: lim.unwrap_or_default(),
        token,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Observation;

    /// A carrier's event hook as the tests need it: one variable, a long URL limit.
    struct TestProtocol;

    impl EventProtocol for TestProtocol {
        fn name(&self) -> &'static str {
            "Test"
        }
        fn capabilities(&self) -> crate::model::Capabilities {
            crate::model::Capabilities::EVENTS
        }
        fn hangup_status(&self) -> u16 {
            412
        }
        fn url_vars(&self) -> &'static str {
            "status=$status"
        }
        fn max_url_len(&self) -> usize {
            1000
        }
        fn observe(&self, _params: &[(String, String)]) -> Result<Observation> {
            Ok(Observation::default())
        }
    }

    /// What the client does with a DSN's event options: take them, bind, build.
    fn from_dsn(dsn: &mut Dsn) -> Result<Option<(Events, String)>> {
        let Some(o) = EventOptions::take(dsn)? else {
            return Ok(None);
        };
        let secret = o.secret.expose().to_string();
        let bound = o
            .listen
            .map(|a| listener::Bound::bind(a, o.listener.clone()))
            .transpose()?;
        let addr = bound.as_ref().map(listener::Bound::addr);
        Ok(Some((Events::new(o, &TestProtocol, addr)?, secret)))
    }

    fn config(secret: &str) -> Events {
        let mut dsn = Dsn::parse(&format!(
            "poketalk://k@h?event_url=https%3A%2F%2Fportal.example%2Fcb.php%3Fsite%3D3&event_secret={secret}"
        ))
        .unwrap();
        let (c, registered) = from_dsn(&mut dsn).unwrap().unwrap();
        assert!(dsn.finish().is_ok());
        // The secret goes to the client, which registers it with its secrets.
        assert_eq!(registered, secret);
        c
    }

    #[test]
    fn url_and_token() {
        let c = config("0123456789abcdef-secret");
        let lim = Limits {
            max_duration_s: Some(300),
            max_cost: Some("1.50".into()),
        };
        let u = c.event_url("abc", &lim);
        assert!(
            u.starts_with("https://portal.example/cb.php?site=3&cc_id=abc&cc_lim=300_1.50&cc_tok="),
            "{u}"
        );
        assert!(u.ends_with("&status=$status"));
        let q = u.split_once('?').unwrap().1;
        let ev = parse_query(q).unwrap();
        assert!(c.signer.verify(&ev.id, &ev.lim, &ev.token));
        assert_eq!(Limits::decode(&ev.lim).unwrap(), lim);
        // The token binds the id and the limits, and is the secret's.
        assert!(!c.signer.verify("abd", &ev.lim, &ev.token));
        assert!(!c.signer.verify(&ev.id, "3000_1.50", &ev.token));
        assert!(!config("another-secret-0123")
            .signer
            .verify(&ev.id, &ev.lim, &ev.token));
        assert!(!c.signer.verify(&ev.id, &ev.lim, "AAAA"));
        assert!(!c.signer.verify(&ev.id, &ev.lim, "!!"));
        assert_eq!(ev.token.len(), 27);
    }

    fn with_url(url: &str) -> Events {
        let mut dsn = Dsn::parse(&format!(
            "poketalk://k@h?event_url={}&event_secret=0123456789abcdef-secret",
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        ))
        .unwrap();
        from_dsn(&mut dsn).unwrap().unwrap().0
    }

    #[test]
    fn the_token_of_an_event_url() {
        let c = config("0123456789abcdef-secret");
        let u = c.event_url("abc", &Limits::default());
        let token = url_token(&u).unwrap();
        assert_eq!(token.len(), 27);
        assert!(c.signer.verify("abc", "", token));
        assert_eq!(url_token("https://x/cb?cc_id=a&cc_tok=TOK"), Some("TOK"));
        assert_eq!(url_token("https://x/cb?cc_tok=T2&status=1"), Some("T2"));
        assert_eq!(url_token("https://x/cb?cc_id=a"), None);
    }

    #[test]
    fn events_print_their_url_not_their_secret() {
        let c = config("0123456789abcdef-secret");
        let d = format!("{c:?}");
        assert!(d.contains("portal.example"), "{d}");
        assert!(!d.contains("0123456789abcdef-secret"), "{d}");
    }

    #[test]
    fn separators_of_the_host_url_are_not_doubled() {
        for (base, start) in [
            (
                "https://p.example/cb.php",
                "https://p.example/cb.php?cc_id=abc&",
            ),
            (
                "https://p.example/cb.php?",
                "https://p.example/cb.php?cc_id=abc&",
            ),
            (
                "https://p.example/cb.php?a=1&",
                "https://p.example/cb.php?a=1&cc_id=abc&",
            ),
            (
                "https://p.example/cb.php?a=1",
                "https://p.example/cb.php?a=1&cc_id=abc&",
            ),
        ] {
            let u = with_url(base).event_url("abc", &Limits::default());
            assert!(u.starts_with(start), "{base}: {u}");
        }
    }

    #[test]
    fn an_event_url_as_long_as_the_carrier_takes() {
        // The test carrier takes 1000 characters: pad the host's URL so that a call with
        // the longest limits the DSN check allows for comes to exactly that.
        let id = "0123456789abcdef012";
        let longest = CallOptions {
            max_duration_s: Some(u32::MAX),
            max_cost: Some("9".repeat(16)),
            ..Default::default()
        };
        let base = "https://p.example/";
        let probe = with_url(base).prepare_call(id, &longest).unwrap().len();
        let fits = with_url(&format!("{base}{}", "x".repeat(1000 - probe)));
        assert_eq!(fits.prepare_call(id, &longest).unwrap().len(), 1000);
        // A longer amount than the check allowed for: one character too many.
        let longer = CallOptions {
            max_cost: Some("9".repeat(17)),
            ..longest
        };
        let e = fits.prepare_call(id, &longer).unwrap_err();
        assert!(e.message().contains("1001 characters"), "{}", e.message());
    }

    #[test]
    fn the_early_buffer_is_bounded_and_forgets() {
        let c = config("0123456789abcdef-secret");
        let opts = CallOptions::default();
        let ev = StoredEvent {
            received_ms: 1,
            params: vec![("status".into(), "1".into())],
        };
        c.prepare_call("a", &opts).unwrap();
        c.prepare_call("b", &opts).unwrap();
        // Preparing a call keeps the others'.
        assert!(c.buffer_early("a", &ev));
        // 64 events a call.
        for _ in 1..64 {
            assert!(c.buffer_early("a", &ev));
        }
        assert!(!c.buffer_early("a", &ev));
        assert_eq!(c.take_early("a").len(), 64);
        // A call that was surely not placed keeps nothing.
        c.forget_call("b");
        assert!(!c.buffer_early("b", &ev));
        // 1024 calls at most.
        for i in 0..1024 {
            c.prepare_call(&format!("c{i}"), &opts).unwrap();
        }
        c.prepare_call("late", &opts).unwrap();
        assert!(c.buffer_early("c1023", &ev));
        assert!(!c.buffer_early("late", &ev));
    }

    #[test]
    fn an_event_url_may_not_hold_the_librarys_parameters() {
        for param in ["cc_id", "cc_lim", "cc_tok"] {
            let e = check_url(&format!("https://p.example/cb.php?a=1&{param}=x")).unwrap_err();
            assert!(
                e.message().contains("own parameters"),
                "{param}: {}",
                e.message()
            );
        }
        assert!(check_url("https://p.example/cb.php?cc_other=x").is_ok());
    }

    #[test]
    fn a_refusal_says_its_status_and_why() {
        let r = EventRefused {
            http_status: 403,
            error: Error::new(ErrorKind::Auth, "forged"),
        };
        assert_eq!(r.to_string(), "event refused (HTTP 403): forged");
    }

    #[test]
    fn queries() {
        assert!(parse_query("cc_id=a&cc_id=b&cc_tok=x").is_err());
        assert!(parse_query("status=1").is_err());
        assert!(parse_query("cc_id=..%2Fetc&cc_tok=x").is_err());
        assert_eq!(
            parse_query("cc_id=abc").err().unwrap().kind(),
            ErrorKind::Auth
        );
        assert!(parse_query(&"x".repeat(MAX_QUERY + 1)).is_err());
        let ev = parse_query("?cc_id=abc&cc_tok=t&status=7&duration=5").unwrap();
        assert_eq!(ev.params.len(), 2);
        let ev = parse_query("/cb.php?cc_id=abc&cc_tok=t&status=7").unwrap();
        assert_eq!((ev.id.as_str(), ev.params.len()), ("abc", 1));
    }

    #[test]
    fn ids_are_unique_and_safe() {
        let a = crate::util::new_call_id();
        let b = crate::util::new_call_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        assert!(valid_id(&a));
    }

    #[test]
    fn dsn_options() {
        let parse = |q: &str| {
            let mut dsn = Dsn::parse(&format!("poketalk://k@h?{q}")).unwrap();
            from_dsn(&mut dsn).map(|c| c.is_some())
        };
        assert_eq!(parse("tls=0"), Ok(false));
        for bad in [
            "event_url=http://h/",
            "event_url=http://h/&event_secret=short",
            "event_url=ftp://h/&event_secret=0123456789abcdef",
            "event_url=http://h/%23x&event_secret=0123456789abcdef",
            "event_url=http://h/?cc_id=1&event_secret=0123456789abcdef",
            "event_secret=0123456789abcdef",
            "event_secret=0123456789abcdef&event_listen=nowhere",
            "event_secret=0123456789abcdef&event_listen=0.0.0.0:0",
            "event_url=http://h/&event_secret=0123456789abcdef&event_max_connections=8",
            "event_secret=0123456789abcdef&event_listen=127.0.0.1:0&event_max_connections=0",
            "event_secret=0123456789abcdef&event_listen=127.0.0.1:0&event_max_connections=x",
            "event_secret=0123456789abcdef&event_listen=127.0.0.1:0&event_head_timeout_ms=0",
            "event_secret=0123456789abcdef&event_listen=127.0.0.1:0&event_head_timeout_ms=-5",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(!e.message().contains("0123456789abcdef"), "{}", e.message());
        }
        assert_eq!(
            parse("event_secret=0123456789abcdef&event_listen=127.0.0.1:0"),
            Ok(true)
        );
        let mut dsn = Dsn::parse(
            "poketalk://k@h?event_secret=0123456789abcdef&event_listen=127.0.0.1:0\
             &event_max_connections=8&event_head_timeout_ms=250",
        )
        .unwrap();
        let o = EventOptions::take(&mut dsn).unwrap().unwrap();
        assert!(dsn.finish().is_ok());
        assert_eq!(o.listener.max_connections, 8);
        assert_eq!(
            o.listener.head_timeout,
            std::time::Duration::from_millis(250)
        );
    }
}
