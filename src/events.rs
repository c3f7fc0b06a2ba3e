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
//! 2. [`Client::ingest_event`] checks the token in constant time (`Mac::verify_slice`):
//!    a forged event, or one made for another call, changes nothing (403). The carrier
//!    reads its own parameters into an [`Observation`] ([`Provider::event_observation`]),
//!    which is applied through [`CallStatus::apply`]: late and repeated events never move
//!    a call back.
//! 3. The call is found where it lives: alive in this process (the client's index of
//!    its calls), in the event spool (`event_spool=DIR`: hosts such as PHP, where the
//!    process that takes the event is not the one that polls), or in a short buffer for
//!    a call whose start has not returned yet. Nowhere: 404, nothing changes.
//! 4. The answer is 200, or the carrier's hang-up status (PokeTALK: 412) when the host
//!    asked for hang-up (in this process, or in another through the spool) or the call
//!    is past its `max_duration_s` / `max_cost`.
//!
//! Events reach [`Client::ingest_event`] from the host's own web server (`cc_event_ingest`),
//! or from the built-in [`Listener`] (`event_listen=IP:PORT`).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::call::{from_unix_ms, unix_ms, CallState, CallStatus, FailReason, Leg, Observation};
use crate::client::{CallOptions, Client};
use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::http_listener::{self, ListenerConfig};
use crate::providers::Provider;
use crate::transport::Transport;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// The library's own query parameters in an event URL.
pub const ID_PARAM: &str = "cc_id";
pub const LIMITS_PARAM: &str = "cc_lim";
pub const TOKEN_PARAM: &str = "cc_tok";
/// The longest query string taken from an event.
pub const MAX_QUERY: usize = 4096;
/// The shortest `event_secret` accepted.
pub const MIN_SECRET_LEN: usize = 16;
const TOKEN_CONTEXT: &[u8] = b"callconnect-event-v1\n";
/// How long a spooled call's files are kept after its last event.
pub const SPOOL_KEEP: Duration = Duration::from_secs(48 * 3600);
/// Files read from the spool for one call, at most.
const SPOOL_MAX_EVENTS: usize = 10_000;
/// Events kept for calls whose start has not returned yet (bounded: a flood of valid
/// events cannot grow memory without limit).
const EARLY_MAX_CALLS: usize = 1024;
const EARLY_MAX_EVENTS: usize = 64;
const EARLY_KEEP: Duration = Duration::from_secs(600);
/// The highest `event_max_connections` taken (each connection is a descriptor).
const MAX_LISTENER_CONNECTIONS: usize = 100_000;

/// The limits of one call that events enforce, bound into its token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_duration_s: Option<u32>,
    /// A normalised non-negative decimal (`"1.50"`).
    pub max_cost: Option<String>,
}

impl Limits {
    pub fn from_options(o: &CallOptions) -> Result<Limits> {
        let max_cost = match &o.max_cost {
            None => None,
            Some(c) => Some(
                crate::money::normalise_decimal(c)
                    .filter(|d| !d.starts_with('-'))
                    .ok_or_else(|| {
                        Error::invalid_argument("max_cost must be a decimal amount such as 1.50")
                    })?,
            ),
        };
        Ok(Limits {
            max_duration_s: o.max_duration_s,
            max_cost,
        })
    }

    /// `""` without limits, else `DURATION_COST` with either part empty (`300_`, `_1.50`).
    fn encode(&self) -> String {
        if self.max_duration_s.is_none() && self.max_cost.is_none() {
            return String::new();
        }
        format!(
            "{}_{}",
            self.max_duration_s
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.max_cost.as_deref().unwrap_or("")
        )
    }

    fn decode(text: &str) -> Result<Limits> {
        let bad = || Error::invalid_argument("the event's limits (cc_lim) are malformed");
        if text.is_empty() {
            return Ok(Limits::default());
        }
        let (d, c) = text.split_once('_').ok_or_else(bad)?;
        let max_duration_s = match d {
            "" => None,
            d => Some(d.parse().map_err(|_| bad())?),
        };
        let max_cost = match c {
            "" => None,
            c => Some(
                crate::money::normalise_decimal(c)
                    .filter(|n| n == c)
                    .ok_or_else(bad)?,
            ),
        };
        Ok(Limits {
            max_duration_s,
            max_cost,
        })
    }

    /// Whether what the carrier said puts the call at or past a limit.
    pub fn exceeded_by(&self, obs: &Observation) -> bool {
        let duration = self
            .max_duration_s
            .is_some_and(|m| obs.duration_s.is_some_and(|d| d >= m));
        let cost = self.max_cost.as_deref().is_some_and(|m| {
            obs.cost
                .as_ref()
                .is_some_and(|c| decimal_at_least(&c.amount, m))
        });
        duration || cost
    }
}

/// `a >= b` for normalised decimals (digits, one optional `.`, `b` not negative).
fn decimal_at_least(a: &str, b: &str) -> bool {
    if a.starts_with('-') {
        return false;
    }
    let (ai, af) = a.split_once('.').unwrap_or((a, ""));
    let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
    let (ai, bi) = (ai.trim_start_matches('0'), bi.trim_start_matches('0'));
    if ai.len() != bi.len() {
        return ai.len() > bi.len();
    }
    if ai != bi {
        return ai > bi;
    }
    let n = af.len().max(bf.len());
    format!("{af:0<n$}") >= format!("{bf:0<n$}")
}

/// One event as kept in the spool or the early buffer: the carrier's own parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEvent {
    received_ms: i64,
    params: Vec<(String, String)>,
}

struct Early {
    since: Instant,
    events: Vec<StoredEvent>,
}

/// A carrier's event setup, read from its DSN by [`EventConfig::from_dsn`]:
/// `event_url`, `event_secret`, `event_listen`, `event_spool`.
pub struct EventConfig {
    secret: Secret,
    url: String,
    hangup_status: u16,
    spool: Option<Spool>,
    /// Bound by `from_dsn` (so that a port taken is a DSN error), served by the client.
    bound: Mutex<Option<TcpListener>>,
    listen_addr: Option<SocketAddr>,
    /// The built-in listener's limits (`event_max_connections`, `event_head_timeout_ms`).
    listener_config: ListenerConfig,
    early: Mutex<HashMap<String, Early>>,
}

impl std::fmt::Debug for EventConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConfig")
            .field("url", &self.url)
            .field("listen_addr", &self.listen_addr)
            .field("spool", &self.spool.as_ref().map(|s| &s.dir))
            .finish_non_exhaustive()
    }
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: {what}"))
}

impl EventConfig {
    /// Takes the event options out of a DSN. `None` when it has none. The secret is
    /// registered with `transport`; `hangup_status` is what the carrier takes as "end
    /// this call" in answer to an event (PokeTALK: 412).
    pub fn from_dsn(
        dsn: &mut Dsn,
        transport: &mut Transport,
        hangup_status: u16,
    ) -> Result<Option<EventConfig>> {
        let url = dsn.take_option("event_url");
        let secret = dsn.take_option("event_secret");
        let listen = dsn.take_option("event_listen");
        let spool = dsn.take_option("event_spool");
        let max_connections = dsn.take_option("event_max_connections");
        let head_timeout = dsn.take_option("event_head_timeout_ms");
        if url.is_none()
            && secret.is_none()
            && listen.is_none()
            && spool.is_none()
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
        transport.add_secret(&secret);
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(dsn_error(format!(
                "event_secret must be at least {MIN_SECRET_LEN} characters"
            )));
        }
        if listen.is_none() && (max_connections.is_some() || head_timeout.is_some()) {
            return Err(dsn_error(
                "event_max_connections and event_head_timeout_ms are options of the built-in \
                 listener: they need event_listen",
            ));
        }
        let mut listener_config = ListenerConfig::default();
        if let Some(n) = max_connections {
            listener_config.max_connections = n
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
            listener_config.head_timeout = ms
                .trim()
                .parse()
                .ok()
                .filter(|ms| (1..=600_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    dsn_error("event_head_timeout_ms must be a number of ms from 1 to 600000")
                })?;
        }
        let (bound, listen_addr) = match listen {
            None => (None, None),
            Some(l) => {
                let addr: SocketAddr = l.trim().parse().map_err(|_| {
                    dsn_error("event_listen must be IP:PORT, such as 127.0.0.1:8089")
                })?;
                let socket = TcpListener::bind(addr).map_err(|e| {
                    dsn_error(format!("event_listen: cannot listen on {addr}: {e}"))
                })?;
                let actual = socket.local_addr().unwrap_or(addr);
                (Some(socket), Some(actual))
            }
        };
        let url = match url {
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
        let spool = spool.map(|dir| Spool::open(&dir)).transpose()?;
        Ok(Some(EventConfig {
            secret: Secret::new(secret),
            url,
            hangup_status,
            spool,
            bound: Mutex::new(bound),
            listen_addr,
            listener_config,
            early: Mutex::new(HashMap::new()),
        }))
    }

    /// The address the built-in listener listens on, when there is one.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// The HTTP status that asks the carrier to end a call.
    pub fn hangup_status(&self) -> u16 {
        self.hangup_status
    }

    /// The event URL for one call: `event_url` + the library's query + the carrier's own
    /// variables (`carrier_vars`, written as the carrier wants them, not encoded).
    pub fn event_url(&self, call_id: &str, limits: &Limits, carrier_vars: &str) -> String {
        let lim = limits.encode();
        let mut ours = url::form_urlencoded::Serializer::new(String::new());
        ours.append_pair(ID_PARAM, call_id);
        if !lim.is_empty() {
            ours.append_pair(LIMITS_PARAM, &lim);
        }
        ours.append_pair(TOKEN_PARAM, &self.token(call_id, &lim));
        let sep = if !self.url.contains('?') {
            "?"
        } else if self.url.ends_with('?') || self.url.ends_with('&') {
            ""
        } else {
            "&"
        };
        let mut out = format!("{}{sep}{}", self.url, ours.finish());
        if !carrier_vars.is_empty() {
            out.push('&');
            out.push_str(carrier_vars);
        }
        out
    }

    fn mac(&self, call_id: &str, lim: &str) -> HmacSha1 {
        let mut mac = HmacSha1::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(TOKEN_CONTEXT);
        mac.update(call_id.as_bytes());
        mac.update(b"\n");
        mac.update(lim.as_bytes());
        mac
    }

    fn token(&self, call_id: &str, lim: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(call_id, lim).finalize().into_bytes())
    }

    /// Checks a token in constant time.
    fn verify(&self, call_id: &str, lim: &str, token: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(call_id, lim).verify_slice(&bytes).is_ok()
    }

    /// Before a call is placed: makes room for its events (the spool's directory for
    /// it; the early buffer), so that an event that beats the carrier's reply is kept.
    pub fn prepare_call(&self, call_id: &str) -> Result<()> {
        if let Some(s) = &self.spool {
            s.create_call(call_id)?;
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
        Ok(())
    }

    /// A call that surely was not placed: nothing of it is kept.
    pub fn forget_call(&self, call_id: &str) {
        if let Some(s) = &self.spool {
            s.remove_call(call_id);
        }
        lock(&self.early).remove(call_id);
    }

    /// Notes that the host asked to end a call, for whichever process takes its next
    /// event (a marker in the spool). Without a spool there is nothing to note: the
    /// call's own status carries the request in this process.
    pub fn request_hangup(&self, call_id: &str) -> Result<()> {
        match &self.spool {
            Some(s) => s.request_hangup(call_id),
            None => Ok(()),
        }
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

/// A new call id for carriers where the library names the call (PokeTALK's `custom`):
/// 19 lower-case hex digits, the time in ms then 32 random bits. Unique across
/// processes and time; not secret (the token is what proves an event).
pub fn new_call_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now();
    // RandomState is seeded from the operating system's random source.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(unix_ms(now));
    h.write_u128(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:011x}{:08x}", unix_ms(now).max(0), h.finish() as u32)
}

/// Whether a text can be a call id in an event (and a file name in the spool).
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

/// The observation a final event becomes once the host asked for the end.
fn cancelled(obs: &Observation) -> Observation {
    Observation {
        state: Some(CallState::Ended),
        reason: FailReason::Cancelled,
        failed_leg: Leg::None,
        duration_s: obs.duration_s,
        cost: obs.cost.clone(),
        raw_code: obs.raw_code.clone(),
    }
}

/// Event ingestion and the listener's address.
impl Client {
    /// Takes one event: the query string of a hit on the call's event URL. On success
    /// the host answers [`EventReply::http_status`]; on refusal (nothing changed)
    /// [`EventRefused::http_status`].
    pub fn ingest_event(&self, query: &str) -> std::result::Result<EventReply, EventRefused> {
        let refuse = |http_status: u16, error: Error| EventRefused { http_status, error };
        let provider = self.live().map_err(|e| refuse(503, e))?;
        let Some(cfg) = provider.event_config() else {
            return Err(refuse(
                404,
                Error::unsupported(format!(
                    "this {} client takes no events (its DSN has no event_url and event_secret)",
                    provider.scheme()
                )),
            ));
        };
        let ev = parse_query(query).map_err(|e| {
            let status = if e.kind() == ErrorKind::Auth {
                403
            } else {
                400
            };
            refuse(status, e)
        })?;
        if !cfg.verify(&ev.id, &ev.lim, &ev.token) {
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
        let obs = provider
            .event_observation(&ev.params)
            .map_err(|e| refuse(400, e))?;
        let event = StoredEvent {
            received_ms: unix_ms(SystemTime::now()),
            params: ev.params,
        };
        let is_final = obs.state.is_some_and(CallState::is_final);
        let over_limits = !is_final && limits.exceeded_by(&obs);

        // The spool first: a process polling from it sees the event even if this one
        // does not know the call.
        let spooled = match &cfg.spool {
            Some(s) => s.record(&ev.id, &event).map_err(|e| refuse(500, e))?,
            None => false,
        };
        let marker = cfg
            .spool
            .as_ref()
            .and_then(|s| s.hangup_requested_at(&ev.id));
        let mut requested = marker.is_some() || over_limits;
        self.with_live_calls(
            &ev.id,
            |s| requested |= s.hangup_pending && !s.state.is_final(),
            || {},
        );
        let mut status = None;
        let mut buffered = false;
        let live = self.with_live_calls(
            &ev.id,
            |s| {
                let o = if requested && is_final {
                    cancelled(&obs)
                } else {
                    obs.clone()
                };
                s.apply(&o);
                if requested && !s.state.is_final() {
                    s.hangup_pending = true;
                }
                status = Some(s.clone());
            },
            || buffered = !spooled && cfg.buffer_early(&ev.id, &event),
        );
        if live == 0 && !spooled && !buffered {
            return Err(refuse(
                404,
                Error::new(
                    ErrorKind::NotFound,
                    "no call with this id is known here (a call of another process needs \
                     event_spool in both processes' DSN)",
                ),
            ));
        }
        if let Some(s) = cfg.spool.as_ref().filter(|_| spooled) {
            if over_limits {
                s.request_hangup(&ev.id).map_err(|e| refuse(500, e))?;
            }
            if is_final {
                s.sweep();
            }
        }
        let hang_up = requested && !is_final;
        Ok(EventReply {
            http_status: if hang_up { cfg.hangup_status } else { 200 },
            call_id: ev.id,
            hang_up,
            status,
        })
    }

    /// The address of the built-in event listener (`event_listen`), with the port the
    /// system chose when the DSN said `:0`.
    pub fn event_listen_addr(&self) -> Option<SocketAddr> {
        self.live().ok()?.event_config()?.listen_addr()
    }
}

/// Brings a call's status up to date with events that did not reach it directly: those
/// in the spool (taken by another process) and those that came before its start
/// returned. Called on every poll.
pub(crate) fn catch_up(
    provider: &dyn Provider,
    call_id: &str,
    status: &mut CallStatus,
) -> Result<()> {
    let Some(cfg) = provider.event_config() else {
        return Ok(());
    };
    let early = cfg.take_early(call_id);
    let (spooled, marker) = match &cfg.spool {
        Some(s) if valid_id(call_id) => (s.events(call_id)?, s.hangup_requested_at(call_id)),
        _ => (Vec::new(), None),
    };
    for ev in early.into_iter().chain(spooled) {
        let Ok(mut obs) = provider.event_observation(&ev.params) else {
            continue;
        };
        let requested = match marker {
            Some(m) => ev.received_ms >= m,
            None => status.hangup_pending,
        };
        if requested && obs.state.is_some_and(CallState::is_final) {
            obs = cancelled(&obs);
        }
        if status.apply(&obs) {
            status.last_change = from_unix_ms(ev.received_ms);
        }
    }
    if marker.is_some() && !status.state.is_final() {
        status.hangup_pending = true;
    }
    Ok(())
}

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// The event spool: one directory per call (`DIR/<call id>/`) holding one small JSON
/// file per event (`<received ms>-<pid>-<seq>.json`, written to a `.tmp-*` file and
/// renamed, so that a reader never sees half a file) and, once the host asked to end
/// the call, a `hangup` file with the time of the request in ms.
struct Spool {
    dir: PathBuf,
}

fn spool_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!(
        "event spool: cannot {what} {}: {e}",
        path.display()
    ))
}

impl Spool {
    fn open(dir: &str) -> Result<Spool> {
        if dir.trim().is_empty() {
            return Err(dsn_error("event_spool is empty"));
        }
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir)
            .map_err(|e| dsn_error(format!("event_spool: cannot create {}: {e}", dir.display())))?;
        let spool = Spool { dir };
        // A spool this process cannot write to would lose events later: say so now.
        let probe = spool.dir.join(unique_name(".probe-"));
        fs::write(&probe, b"").map_err(|e| {
            dsn_error(format!(
                "event_spool: cannot write in {}: {e}",
                spool.dir.display()
            ))
        })?;
        let _ = fs::remove_file(&probe);
        Ok(spool)
    }

    fn call_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn create_call(&self, id: &str) -> Result<()> {
        let d = self.call_dir(id);
        match fs::create_dir(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(spool_error("create", &d, e)),
        }
    }

    fn remove_call(&self, id: &str) {
        let _ = fs::remove_dir_all(self.call_dir(id));
    }

    /// Writes one event of a call the spool knows; `false` when it does not know it.
    fn record(&self, id: &str, ev: &StoredEvent) -> Result<bool> {
        let d = self.call_dir(id);
        if !d.is_dir() {
            return Ok(false);
        }
        let name = format!(
            "{:013}-{}-{:08}.json",
            ev.received_ms.max(0),
            std::process::id(),
            FILE_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let body = serde_json::to_vec(ev).map_err(|_| Error::internal("event spool: encoding"))?;
        write_atomically(&d, &name, &body)?;
        Ok(true)
    }

    fn request_hangup(&self, id: &str) -> Result<()> {
        self.create_call(id)?;
        let d = self.call_dir(id);
        if d.join("hangup").exists() {
            return Ok(());
        }
        let now = unix_ms(SystemTime::now()).to_string();
        write_atomically(&d, "hangup", now.as_bytes())
    }

    fn hangup_requested_at(&self, id: &str) -> Option<i64> {
        fs::read_to_string(self.call_dir(id).join("hangup"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The call's events in the order they came.
    fn events(&self, id: &str) -> Result<Vec<StoredEvent>> {
        let d = self.call_dir(id);
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(spool_error("read", &d, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
            .collect();
        names.sort();
        names.truncate(SPOOL_MAX_EVENTS);
        Ok(names
            .iter()
            .filter_map(|n| fs::read(d.join(n)).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect())
    }

    /// Removes calls whose last event is older than [`SPOOL_KEEP`], and leftovers of
    /// writers that died between writing and renaming. Run when a call ends.
    fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = e.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if meta.is_dir() && valid_id(&name) && age > SPOOL_KEEP {
                let _ = fs::remove_dir_all(e.path());
            } else if meta.is_file() && name.starts_with(".tmp-") && age > Duration::from_secs(3600)
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        FILE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(unique_name(".tmp-"));
    let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written.and_then(|_| fs::rename(&tmp, dir.join(name))) {
        let _ = fs::remove_file(&tmp);
        return Err(spool_error("write", &dir.join(name), e));
    }
    Ok(())
}

/// The built-in event listener (`event_listen=IP:PORT`): the server of
/// `crate::http_listener` (bounded connections, deadlines, a fixed pool of workers)
/// handing the request target of every `GET`/`HEAD` to [`Client::ingest_event`] and
/// answering its status with an empty body. It holds its client weakly (503 once the
/// client is gone) and stops, its threads joined, when the client is closed or dropped.
pub(crate) struct Listener {
    server: Option<http_listener::Listener>,
}

impl Listener {
    /// Starts serving the listener the client's DSN bound, if it bound one.
    pub(crate) fn start(client: &Client) -> Result<Option<Listener>> {
        let Some(cfg) = client.live()?.event_config() else {
            return Ok(None);
        };
        let Some(socket) = lock(&cfg.bound).take() else {
            return Ok(None);
        };
        let weak = client.downgrade();
        let handler: http_listener::Handler = Arc::new(move |target: &str| {
            let query = target.split_once('?').map_or("", |(_, q)| q);
            match weak.upgrade() {
                Some(c) => match c.ingest_event(query) {
                    Ok(reply) => reply.http_status,
                    Err(refused) => refused.http_status,
                },
                None => 503,
            }
        });
        let server =
            http_listener::Listener::start(socket, cfg.listener_config.clone(), handler)
                .map_err(|e| Error::internal(format!("cannot start the event listener: {e}")))?;
        Ok(Some(Listener {
            server: Some(server),
        }))
    }

    /// Stops serving and joins the listener's threads (but the one it is called from).
    pub(crate) fn stop(&mut self) {
        self.server.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str) -> EventConfig {
        let mut dsn = Dsn::parse(&format!(
            "poketalk://k@h?event_url=https%3A%2F%2Fportal.example%2Fcb.php%3Fsite%3D3&event_secret={secret}"
        ))
        .unwrap();
        let mut t = Transport::new(Duration::from_secs(1));
        let c = EventConfig::from_dsn(&mut dsn, &mut t, 412)
            .unwrap()
            .unwrap();
        assert!(dsn.finish().is_ok());
        assert_eq!(t.redact(secret), "***");
        c
    }

    #[test]
    fn url_and_token() {
        let c = config("0123456789abcdef-secret");
        let lim = Limits {
            max_duration_s: Some(300),
            max_cost: Some("1.50".into()),
        };
        let u = c.event_url("abc", &lim, "status=$status");
        assert!(
            u.starts_with("https://portal.example/cb.php?site=3&cc_id=abc&cc_lim=300_1.50&cc_tok="),
            "{u}"
        );
        assert!(u.ends_with("&status=$status"));
        let q = u.split_once('?').unwrap().1;
        let ev = parse_query(q).unwrap();
        assert!(c.verify(&ev.id, &ev.lim, &ev.token));
        assert_eq!(Limits::decode(&ev.lim).unwrap(), lim);
        // The token binds the id and the limits, and is the secret's.
        assert!(!c.verify("abd", &ev.lim, &ev.token));
        assert!(!c.verify(&ev.id, "3000_1.50", &ev.token));
        assert!(!config("another-secret-0123").verify(&ev.id, &ev.lim, &ev.token));
        assert!(!c.verify(&ev.id, &ev.lim, "AAAA"));
        assert!(!c.verify(&ev.id, &ev.lim, "!!"));
        assert_eq!(ev.token.len(), 27);
    }

    #[test]
    fn limits() {
        for (text, lim) in [
            ("", Limits::default()),
            (
                "60_",
                Limits {
                    max_duration_s: Some(60),
                    max_cost: None,
                },
            ),
            (
                "_0.5",
                Limits {
                    max_duration_s: None,
                    max_cost: Some("0.5".into()),
                },
            ),
        ] {
            assert_eq!(Limits::decode(text).unwrap(), lim);
            assert_eq!(lim.encode(), text);
        }
        for bad in ["x", "1_x", "-1_", "_1,5", "_01"] {
            assert!(Limits::decode(bad).is_err(), "{bad}");
        }
        let obs = |d: u32, c: &str| Observation {
            duration_s: Some(d),
            cost: Some(crate::Money::parse(c, None).unwrap()),
            ..Default::default()
        };
        let l = Limits {
            max_duration_s: Some(60),
            max_cost: Some("0.50".into()),
        };
        assert!(!l.exceeded_by(&obs(59, "0.499")));
        assert!(l.exceeded_by(&obs(60, "0")));
        assert!(l.exceeded_by(&obs(0, "0.5")));
        assert!(l.exceeded_by(&obs(0, "10.0")));
        assert!(!Limits::default().exceeded_by(&obs(100_000, "1000")));
    }

    #[test]
    fn decimals() {
        assert!(decimal_at_least("1.50", "1.5"));
        assert!(decimal_at_least("2", "1.99"));
        assert!(!decimal_at_least("0.9", "1"));
        assert!(decimal_at_least("10", "9.999"));
        assert!(!decimal_at_least("-5", "0"));
        assert!(decimal_at_least("0", "0"));
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
        let a = new_call_id();
        let b = new_call_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        assert!(valid_id(&a));
    }

    #[test]
    fn dsn_options() {
        let parse = |q: &str| {
            let mut dsn = Dsn::parse(&format!("poketalk://k@h?{q}")).unwrap();
            let mut t = Transport::new(Duration::from_secs(1));
            EventConfig::from_dsn(&mut dsn, &mut t, 412).map(|c| c.is_some())
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
        let mut t = Transport::new(Duration::from_secs(1));
        let c = EventConfig::from_dsn(&mut dsn, &mut t, 412)
            .unwrap()
            .unwrap();
        assert!(dsn.finish().is_ok());
        assert_eq!(c.listener_config.max_connections, 8);
        assert_eq!(c.listener_config.head_timeout, Duration::from_millis(250));
    }
}
