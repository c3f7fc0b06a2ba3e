//! business-isp Connect Call (`connectcall.aspx`): a session-based callback API.
//!
//! The first request logs in AND places the first call; its reply carries the session's
//! GUID. That GUID then drives `getStatus` (polled about once a second), `hangUp`,
//! `connect` (the next call in the same session, once the previous one has ended) and
//! `end` (log out). Every reply is `<response><code/><message/></response>`: codes
//! 100–105 answer commands, codes 3–33 are a call's status.
//!
//! The rules that keep hosts safe:
//! - Login-with-call and `connect` place calls: they are `Effect::Place`, never repeated
//!   once their bytes may have left. A session the carrier forgot (102 on a GUID) is
//!   replaced by ONE fresh login, and only when the carrier's 102 says the `connect` was
//!   not acted on.
//! - The password travels in the query string (the carrier's design). It is registered
//!   with the transport as a secret, and every message built here passes through
//!   [`Transport::redact`]; status strings are the carrier's numeric code only.
//! - A call's reference carries the session GUID (needed to follow and hang up the call
//!   from another process), never the password.
//!
//! Choices where the carrier's document is silent (see `docs/connectcall.md`):
//! - one client holds at most one session, which takes one call at a time: a start while
//!   the session's call is still up is refused with `ErrorKind::Busy` (the library never
//!   hangs up a live call on its own);
//! - numbers are sent in the international `00` form;
//! - until the first event of a call placed with `connect`, the carrier may still report
//!   the previous call's final code: for [`LEFTOVER_GRACE_MS`] after the `connect`, such a
//!   code (or 4/30/31, which cannot end a call that never rang) is not taken as this
//!   call's end;
//! - a call whose session the carrier no longer knows (102 on `getStatus`) can never be
//!   followed again: it is closed as FAILED/UNKNOWN with raw code `102`;
//! - 3 (Unknown), 5 (Account State) and unlisted codes keep the call where it is; 7 (call
//!   ended for lack of funds) is ENDED with reason INSUFFICIENT_FUNDS; the leg of 10/11/12
//!   is B once A was seen answering, otherwise unknown (a poll may miss A's answer);
//! - the carrier reports no duration: it is measured from the first poll that saw the
//!   bridge (known to the process that saw it);
//! - the call id is a digest of the GUID and the call's number in the session: the GUID
//!   is a key to the account while the session lives and stays out of ids and messages;
//! - the session is ended (`cmd=end`) when the client is freed, unless its call is still
//!   up: then it is left to the carrier's expiry, so that a reference stored by the host
//!   (e.g. a PHP portal between requests) keeps working.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{unix_ms, CallState, FailReason, Leg, Observation};
use crate::model::{CallContext, CallOptions, Capabilities, StartContext, Started};
use crate::number::{self, Number};
use crate::providers::Provider;
use crate::transport::{self, Effect, Request, Response, Transport};

/// The carrier's default API path (customers with a custom API are given another).
pub const DEFAULT_PATH: &str = "/api/";
/// The page every request goes to, under the API path.
pub const PAGE: &str = "connectcall.aspx";
/// How long after a `connect` a final code that may be the previous call's leftover is
/// not taken as the new call's end (the new call's first event normally replaces it
/// within seconds).
pub const LEFTOVER_GRACE_MS: i64 = 30_000;
/// The most calls whose progress one client remembers (for the failed leg, the duration
/// and the end of calls superseded in the session); beyond it, finished calls are
/// forgotten first.
const MAX_REMEMBERED: usize = 256;
const MAX_GUID: usize = 128;
const MAX_CARRIER_TEXT: usize = 200;

/// Response codes (answers to commands), as the document names them.
pub mod response {
    pub const OK: u32 = 100;
    pub const FAILED: u32 = 101;
    pub const AUTHORIZATION_FAILED: u32 = 102;
    pub const LOGIN_SUCCESS: u32 = 103;
    pub const WRONG_PARAMETERS: u32 = 104;
    pub const NO_CHANGES: u32 = 105;
}

/// Whether a `getStatus` code is a call status (anything but the response codes 100–105;
/// a status the document does not list keeps the call where it is).
pub fn is_status(code: u32) -> bool {
    !(response::OK..=response::NO_CHANGES).contains(&code)
}

/// One parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u32,
    pub message: String,
}

/// The XML as it comes: tolerant field names, both optional so that a missing `<code>`
/// gets its own clear error.
#[derive(Deserialize)]
struct RawReply {
    #[serde(default, alias = "Code", alias = "CODE")]
    code: Option<String>,
    #[serde(default, alias = "Message", alias = "MESSAGE")]
    message: Option<String>,
}

/// Reads `<response><code>N</code><message>…</message></response>`: whitespace, an XML
/// declaration (any encoding label), a byte-order mark, CRLF line ends, unknown extra
/// elements and a missing message are fine; a missing, empty or non-numeric `<code>`, a
/// repeated `<code>` or anything that is not XML is a protocol error.
pub fn parse_reply(body: &str) -> Result<Reply> {
    let body = body.trim_start_matches('\u{feff}').trim();
    if !body.starts_with('<') {
        return Err(Error::protocol(
            "Connect Call's reply is not XML (expected <response><code>…</code></response>)",
        ));
    }
    let raw: RawReply = quick_xml::de::from_str(body).map_err(|_| {
        Error::protocol(
            "Connect Call's reply is not its XML <response> (malformed or repeated elements)",
        )
    })?;
    let code = raw
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::protocol("Connect Call's reply has no <code>"))?;
    let code = code
        .parse::<u32>()
        .map_err(|_| Error::protocol("Connect Call's <code> is not a number"))?;
    Ok(Reply {
        code,
        message: raw.message.unwrap_or_default().trim().to_string(),
    })
}

/// What a `getStatus` code says, before the failed leg is known (`Leg::None` for 10, 11
/// and 12; see [`status_observation`]). Codes without a clear meaning (3 Unknown, 5
/// Account State) and codes the document does not list keep the call where it is; the
/// raw code is always kept.
pub fn map_status(code: u32) -> Observation {
    use CallState::*;
    let ended_because = |reason| Observation {
        state: Some(Ended),
        reason,
        ..Default::default()
    };
    let obs = match code {
        27 => Observation::state(RingingA),
        28 => Observation::state(AAnswered),
        26 => Observation::state(RingingB),
        9 | 29 => Observation::state(Connected),
        4 | 30 | 31 => Observation::state(Ended),
        7 => ended_because(FailReason::InsufficientFunds),
        10 => Observation::failed(FailReason::Busy, Leg::None),
        11 => Observation::failed(FailReason::NoAnswer, Leg::None),
        12 => Observation::failed(FailReason::Rejected, Leg::None),
        16 => Observation::failed(FailReason::InsufficientFunds, Leg::None),
        32 => Observation::failed(FailReason::InsufficientFunds, Leg::A),
        33 => Observation::failed(FailReason::InsufficientFunds, Leg::B),
        24 => Observation::failed(FailReason::InvalidNumber, Leg::A),
        25 => Observation::failed(FailReason::InvalidNumber, Leg::B),
        _ => Observation::default(),
    };
    obs.raw(code.to_string())
}

/// What this process has seen of a call.
#[derive(Debug, Clone)]
struct Memo {
    highest: CallState,
    /// When this process first saw the call connected (Unix ms): the carrier reports no
    /// duration, so it is measured from here.
    connected_ms: Option<i64>,
    final_obs: Option<Observation>,
}

/// [`map_status`] with the failed leg of 10/11/12 filled in where it is certain: once A
/// was seen answered (28, or anything later), a failure is B's. Before that it stays
/// unknown: a poll may have missed A's answer (A answers and B is busy within a second),
/// so a failure after "A ringing" is not surely A's.
fn status_observation(code: u32, memo: Option<&Memo>) -> Observation {
    let mut obs = map_status(code);
    if matches!(code, 10..=12) && memo.is_some_and(|m| m.highest >= CallState::AAnswered) {
        obs.failed_leg = Leg::B;
    }
    obs
}

/// Whether a final code read shortly after a `connect` may be the previous call's.
fn is_leftover(link: &Link, code: u32, memo: Option<&Memo>, now_ms: i64) -> bool {
    let Some(at) = link.connect_ms else {
        return false;
    };
    if memo.is_some_and(|m| m.highest > CallState::Initiating) {
        return false;
    }
    if now_ms.saturating_sub(at) > LEFTOVER_GRACE_MS {
        return false;
    }
    let is_final = map_status(code).state.is_some_and(CallState::is_final);
    let code_text = code.to_string();
    is_final
        && (link.prev_final.as_deref() == Some(code_text.as_str()) || matches!(code, 4 | 30 | 31))
}

/// What a call's reference carries (`CallRecord.extra`): enough to follow and hang up the
/// call from another process, nothing secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Link {
    guid: String,
    /// The call's number within its session (1: placed by the login).
    seq: u32,
    #[serde(rename = "type")]
    connect_type: u32,
    /// Placed by `connect`: when (Unix ms), and the previous call's final code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connect_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev_final: Option<String>,
}

impl Link {
    fn read(extra: &serde_json::Value) -> Result<Link> {
        let link: Link = serde_json::from_value(extra.clone()).map_err(|_| {
            Error::invalid_argument("the call reference does not name a Connect Call session")
        })?;
        if !plausible_guid(&link.guid) || link.seq == 0 {
            return Err(Error::invalid_argument(
                "the call reference does not name a Connect Call session",
            ));
        }
        Ok(link)
    }
}

/// The library's id of a call: the carrier has none, and its session GUID is a key to
/// the account (whoever holds it may place calls in the session), so the id is a digest
/// of the GUID with the call's number in the session, fit for logs: `cc-<16 hex>-<seq>`.
fn call_id(guid: &str, seq: u32) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(guid.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("cc-{hex}-{seq}")
}

/// Where the transport keeps the session GUIDs it must never show.
const GUID_SLOT: &str = "connectcall-guid";

fn plausible_guid(g: &str) -> bool {
    !g.is_empty() && g.len() <= MAX_GUID && g.chars().all(|c| c.is_ascii_graphic())
}

#[derive(Debug, Clone)]
struct Session {
    guid: String,
    /// The session's latest call.
    call_id: String,
    link: Link,
    /// Its final observation, once known.
    final_obs: Option<Observation>,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    calls: HashMap<String, Memo>,
}

impl State {
    fn remember(&mut self, call_id: &str, memo: Memo) {
        if self.calls.len() >= MAX_REMEMBERED && !self.calls.contains_key(call_id) {
            self.calls.retain(|_, m| m.final_obs.is_none());
            if self.calls.len() >= MAX_REMEMBERED {
                self.calls.clear();
            }
        }
        self.calls.insert(call_id.to_string(), memo);
    }

    /// The end of a call, when this process already knows it: its final status, or, for a
    /// call that a later call of the same session replaced and whose end was not kept,
    /// FAILED/UNKNOWN. Such a call is never asked about (nor hung up) on the GUID, which
    /// now names the newer call.
    fn known_end(&self, call_id: &str, link: &Link) -> Option<Observation> {
        if let Some(obs) = self.calls.get(call_id).and_then(|m| m.final_obs.clone()) {
            return Some(obs);
        }
        let s = self.session.as_ref()?;
        if s.guid != link.guid || link.seq >= s.link.seq {
            return None;
        }
        Some(Observation::failed(FailReason::Unknown, Leg::None))
    }
}

/// The observation of a call whose session the carrier no longer knows.
fn session_gone() -> Observation {
    Observation::failed(FailReason::Unknown, Leg::None)
        .raw(response::AUTHORIZATION_FAILED.to_string())
}

enum Previous {
    /// The session's call is over; its final raw code, if the carrier gave one.
    Over(Option<String>),
    /// The carrier forgot the session.
    Gone,
}

pub struct ConnectCall {
    login: String,
    password: Secret,
    /// `https://HOST[:PORT]/PATH/connectcall.aspx`.
    endpoint: String,
    default_type: u32,
    default_country: Option<u16>,
    transport: Transport,
    /// Serialises call starts and the log-out (one session, one call at a time).
    starting: Mutex<()>,
    state: Mutex<State>,
}

/// The endpoint for a DSN path: `/` means the default `/api/`; a path ending in `.aspx`
/// is taken whole (a custom page), any other gets `connectcall.aspx` appended.
fn endpoint(origin: &str, path: &str) -> String {
    let path = if path.is_empty() || path == "/" {
        DEFAULT_PATH
    } else {
        path
    };
    if path.to_ascii_lowercase().ends_with(".aspx") {
        format!("{origin}{path}")
    } else if path.ends_with('/') {
        format!("{origin}{path}{PAGE}")
    } else {
        format!("{origin}{path}/{PAGE}")
    }
}

fn parse_type(v: &str) -> Option<u32> {
    match v.trim() {
        "1" => Some(1),
        "2" => Some(2),
        _ => None,
    }
}

impl ConnectCall {
    pub fn from_dsn(dsn: Dsn) -> Result<Box<dyn Provider>> {
        Ok(Box::new(ConnectCall::new(dsn)?))
    }

    fn new(mut dsn: Dsn) -> Result<ConnectCall> {
        let login = dsn.require_user("Connect Call login")?;
        let password = dsn.require_secret("Connect Call password")?;
        let default_type = match dsn.take_option("type") {
            None => 1,
            Some(v) => parse_type(&v).ok_or_else(|| {
                Error::invalid_argument(
                    "DSN: option type must be 1 (A first, then B) or 2 (both at once)",
                )
            })?,
        };
        dsn.finish()?;
        let mut transport = Transport::for_dsn(&dsn)?;
        transport.add_secret(password.expose());
        Ok(ConnectCall {
            login,
            password,
            endpoint: endpoint(&dsn.origin(), &dsn.path),
            default_type,
            default_country: dsn.default_country,
            transport,
            starting: Mutex::new(()),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::internal("the Connect Call session lock was poisoned"))
    }

    fn number(&self, typed: &str) -> Result<Number> {
        number::parse(typed, self.default_country)
    }

    /// The same error with every secret blanked out of its message.
    fn scrub(&self, e: Error) -> Error {
        let message = self.transport.redact(e.message());
        match e.carrier_code() {
            Some(code) => Error::carrier(e.kind(), code.to_string(), message),
            None => Error::new(e.kind(), message),
        }
    }

    /// The carrier's message, fit to show: secrets blanked, control characters dropped,
    /// clipped.
    fn carrier_text(&self, message: &str) -> String {
        let clean: String = self
            .transport
            .redact(message)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut out: String = clean.trim().chars().take(MAX_CARRIER_TEXT).collect();
        if clean.trim().chars().count() > MAX_CARRIER_TEXT {
            out.push('…');
        }
        out
    }

    /// The error for a response code that refuses `what`.
    fn refusal(&self, reply: &Reply, what: &str) -> Error {
        use response::*;
        let (kind, name) = match reply.code {
            AUTHORIZATION_FAILED => (ErrorKind::Auth, "AutorizationFailed"),
            WRONG_PARAMETERS => (ErrorKind::InvalidArgument, "WrongParameters"),
            FAILED => (ErrorKind::Provider, "Failed"),
            NO_CHANGES => (ErrorKind::Provider, "NoChanges"),
            OK => (ErrorKind::Protocol, "OK where another answer was due"),
            LOGIN_SUCCESS => (
                ErrorKind::Protocol,
                "LoginSucess where another answer was due",
            ),
            _ => (ErrorKind::Protocol, "an unexpected code"),
        };
        let text = self.carrier_text(&reply.message);
        let message = if text.is_empty() || text == name {
            format!("Connect Call refused {what} ({} {name})", reply.code)
        } else {
            format!(
                "Connect Call refused {what} ({} {name}: {text})",
                reply.code
            )
        };
        Error::carrier(kind, reply.code.to_string(), message)
    }

    /// One exchange: `GET endpoint?params`, the reply's XML read. For a placing request,
    /// any fault after the bytes may have left is `OutcomeUnknown`.
    fn exchange(&self, params: &[(&str, &str)], effect: Effect) -> Result<Reply> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let mut req = Request::new("GET", format!("{}?{query}", self.endpoint), effect);
        if params.iter().any(|(k, _)| *k == "password") {
            // A login's reply is the session GUID, a key to the account: registered as a
            // secret before the reply is logged.
            req = req.learns_secret(GUID_SLOT, |body| {
                parse_reply(body)
                    .ok()
                    .filter(|r| r.code == response::LOGIN_SUCCESS)
                    .map(|r| r.message.trim().to_string())
            });
        }
        let resp = self.transport.send(&req).map_err(|e| self.scrub(e))?;
        self.read(&resp, effect).map_err(|e| self.scrub(e))
    }

    fn read(&self, resp: &Response, effect: Effect) -> Result<Reply> {
        let e = match parse_reply(&resp.body) {
            Ok(reply) => return Ok(reply),
            Err(e) => e,
        };
        let e = match resp.status {
            401 | 403 => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    format!("Connect Call refused the request (HTTP {})", resp.status),
                ))
            }
            404 => {
                // The page does not exist: nothing was acted on.
                return Err(Error::invalid_argument(
                    "Connect Call's page was not found (HTTP 404): check the DSN's host and API path",
                ));
            }
            503 => {
                // "Service unavailable": the request was not served, so nothing was
                // acted on (as for 42call): a plain network error, even for a start.
                return Err(Error::new(
                    ErrorKind::Network,
                    "Connect Call is unavailable (HTTP 503)",
                ));
            }
            s if s >= 500 => Error::new(
                ErrorKind::Network,
                format!("Connect Call failed on its side (HTTP {s})"),
            ),
            s if s >= 300 => Error::protocol(format!("Connect Call answered HTTP {s}")),
            // The reply cannot be read: the body goes into the message (and DEBUG), so
            // that a reply form no document shows can be seen and settled.
            _ => crate::providers::unreadable(&self.transport, e.message(), resp),
        };
        Err(if effect == Effect::Place {
            transport::unknown(e)
        } else {
            e
        })
    }

    /// What a status code means for a call, with what this process remembers of it; the
    /// memory and the session are updated. `None`: a leftover of the previous call.
    fn observe(&self, call_id: &str, link: &Link, code: u32) -> Result<Option<Observation>> {
        let mut st = self.state()?;
        let memo = st.calls.get(call_id).cloned();
        if is_leftover(link, code, memo.as_ref(), unix_ms(SystemTime::now())) {
            return Ok(None);
        }
        let mut obs = status_observation(code, memo.as_ref());
        self.note(&mut st, call_id, link, &mut obs, memo);
        Ok(Some(obs))
    }

    /// Records what was learnt of a call, and fills in the duration this process measured.
    fn note(
        &self,
        st: &mut State,
        call_id: &str,
        link: &Link,
        obs: &mut Observation,
        memo: Option<Memo>,
    ) {
        let mut memo = memo.unwrap_or(Memo {
            highest: CallState::Initiating,
            connected_ms: None,
            final_obs: None,
        });
        if memo.final_obs.is_some() {
            return;
        }
        let now = unix_ms(SystemTime::now());
        if obs.state == Some(CallState::Connected) && memo.connected_ms.is_none() {
            memo.connected_ms = Some(now);
        }
        if let Some(at) = memo.connected_ms {
            let secs = now.saturating_sub(at).max(0) / 1000;
            obs.duration_s = Some(u32::try_from(secs).unwrap_or(u32::MAX));
        }
        if let Some(s) = obs.state {
            if s.is_final() {
                memo.final_obs = Some(obs.clone());
            } else {
                memo.highest = memo.highest.max(s);
            }
        }
        if let Some(session) = st.session.as_mut() {
            if session.guid == link.guid && session.call_id == call_id && memo.final_obs.is_some() {
                session.final_obs = memo.final_obs.clone();
            }
        }
        st.remember(call_id, memo);
    }

    /// Forgets the client's session if it is `guid` (the carrier no longer knows it).
    fn forget_session(&self, guid: &str) -> Result<()> {
        let mut st = self.state()?;
        if st.session.as_ref().is_some_and(|s| s.guid == guid) {
            st.session = None;
        }
        Ok(())
    }

    fn get_status(&self, guid: &str) -> Result<Reply> {
        self.exchange(&[("guid", guid), ("cmd", "getStatus")], Effect::Read)
    }

    /// Whether the session's call is over (asking the carrier when it is not known).
    fn previous(&self, s: &Session) -> Result<Previous> {
        if let Some(obs) = &s.final_obs {
            return Ok(Previous::Over(obs.raw_code.clone()));
        }
        let reply = self.get_status(&s.guid)?;
        let code = reply.code;
        match code {
            response::AUTHORIZATION_FAILED => {
                let mut st = self.state()?;
                let memo = st.calls.get(&s.call_id).cloned();
                self.note(&mut st, &s.call_id, &s.link, &mut session_gone(), memo);
                st.session = None;
                return Ok(Previous::Gone);
            }
            response::OK | response::NO_CHANGES => {}
            c if !is_status(c) => return Err(self.refusal(&reply, "the status request")),
            c => {
                if let Some(obs) = self.observe(&s.call_id, &s.link, c)? {
                    if obs.state.is_some_and(CallState::is_final) {
                        return Ok(Previous::Over(obs.raw_code));
                    }
                }
            }
        }
        let told = if is_status(code) {
            format!("has not ended yet (carrier status {code})")
        } else {
            format!("may still be up (the carrier answered {code} to the status request)")
        };
        Err(Error::carrier(
            ErrorKind::Busy,
            code.to_string(),
            format!(
                "the previous call of this Connect Call session {told}: the carrier takes one \
                 call at a time per session; hang that call up or wait for its end"
            ),
        ))
    }

    fn started(&self, guid: &str, link: Link) -> Result<Started> {
        let call_id = call_id(guid, link.seq);
        let mut st = self.state()?;
        st.session = Some(Session {
            guid: guid.to_string(),
            call_id: call_id.clone(),
            link: link.clone(),
            final_obs: None,
        });
        st.remember(
            &call_id,
            Memo {
                highest: CallState::Initiating,
                connected_ms: None,
                final_obs: None,
            },
        );
        let extra = serde_json::to_value(&link)
            .map_err(|_| Error::internal("could not write a call's session link"))?;
        Ok(Started {
            call_id,
            extra,
            observation: Observation::state(CallState::Initiating),
            live: true,
        })
    }

    /// The next call in the session. `None`: the carrier forgot the session (102), so the
    /// `connect` was not acted on.
    fn connect(
        &self,
        s: &Session,
        a: &Number,
        b: &Number,
        connect_type: u32,
        prev_final: Option<String>,
    ) -> Result<Option<Started>> {
        let type_text = connect_type.to_string();
        let (source, dest) = (a.with_00(), b.with_00());
        let reply = self.exchange(
            &[
                ("guid", &s.guid),
                ("cmd", "connect"),
                ("source", &source),
                ("dest", &dest),
                ("type", &type_text),
            ],
            Effect::Place,
        )?;
        match reply.code {
            response::OK => {}
            response::AUTHORIZATION_FAILED => {
                self.forget_session(&s.guid)?;
                return Ok(None);
            }
            response::FAILED | response::WRONG_PARAMETERS | response::NO_CHANGES => {
                return Err(self.refusal(&reply, "the call"));
            }
            _ => {
                return Err(transport::unknown(self.refusal(
                    &reply,
                    "the call (its answer is not one the document gives)",
                )))
            }
        }
        let link = Link {
            guid: s.guid.clone(),
            seq: s.link.seq.saturating_add(1),
            connect_type,
            connect_ms: Some(unix_ms(SystemTime::now())),
            prev_final,
        };
        self.started(&s.guid, link).map(Some)
    }

    /// A fresh session with its first call.
    fn login_with_call(&self, a: &Number, b: &Number, connect_type: u32) -> Result<Started> {
        let type_text = connect_type.to_string();
        let (source, dest) = (a.with_00(), b.with_00());
        let reply = self.exchange(
            &[
                ("login", &self.login),
                ("password", self.password.expose()),
                ("dest", &dest),
                ("source", &source),
                ("type", &type_text),
            ],
            Effect::Place,
        )?;
        match reply.code {
            response::LOGIN_SUCCESS => {}
            response::AUTHORIZATION_FAILED => {
                return Err(self.refusal(&reply, "the login or password"));
            }
            response::FAILED | response::WRONG_PARAMETERS | response::NO_CHANGES => {
                return Err(self.refusal(&reply, "the call"));
            }
            _ => {
                return Err(transport::unknown(self.refusal(
                    &reply,
                    "the login (its answer is not one the document gives)",
                )))
            }
        }
        let guid = reply.message.trim();
        if !plausible_guid(guid) {
            return Err(transport::unknown(Error::protocol(
                "Connect Call logged in but sent no usable session GUID",
            )));
        }
        let link = Link {
            guid: guid.to_string(),
            seq: 1,
            connect_type,
            connect_ms: None,
            prev_final: None,
        };
        self.started(guid, link)
    }
}

impl Provider for ConnectCall {
    fn scheme(&self) -> &'static str {
        "connectcall"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::CALLBACK
            | Capabilities::LIVE_STATUS
            | Capabilities::HANGUP
            | Capabilities::CONNECT_TYPE
    }

    fn start_call(
        &self,
        a: &str,
        b: &str,
        options: &CallOptions,
        _start: &StartContext<'_>,
    ) -> Result<Started> {
        let a = self.number(a).map_err(|e| e.context("A number"))?;
        let b = self.number(b).map_err(|e| e.context("B number"))?;
        let connect_type = options.connect_type.unwrap_or(self.default_type);
        let _one_at_a_time = self
            .starting
            .lock()
            .map_err(|_| Error::internal("the Connect Call start lock was poisoned"))?;
        let session = self.state()?.session.clone();
        if let Some(s) = session {
            if let Previous::Over(prev_final) = self.previous(&s)? {
                if let Some(started) = self.connect(&s, &a, &b, connect_type, prev_final)? {
                    return Ok(started);
                }
            }
            // The carrier forgot the session; nothing was placed on it.
        }
        self.login_with_call(&a, &b, connect_type)
    }

    fn poll(&self, call: &CallContext<'_>) -> Result<Option<Observation>> {
        let link = Link::read(call.extra)?;
        // A GUID from a reference (an attached call) is as secret as one from a login.
        self.transport.remember_recent(GUID_SLOT, &link.guid);
        if let Some(obs) = self.state()?.known_end(call.call_id, &link) {
            return Ok(Some(obs));
        }
        let reply = self.get_status(&link.guid)?;
        // A `connect` may have replaced the call while the request was out.
        if let Some(obs) = self.state()?.known_end(call.call_id, &link) {
            return Ok(Some(obs));
        }
        match reply.code {
            response::AUTHORIZATION_FAILED => {
                let mut obs = session_gone();
                let mut st = self.state()?;
                let memo = st.calls.get(call.call_id).cloned();
                self.note(&mut st, call.call_id, &link, &mut obs, memo);
                if st.session.as_ref().is_some_and(|s| s.guid == link.guid) {
                    st.session = None;
                }
                Ok(Some(obs))
            }
            response::OK | response::NO_CHANGES => Ok(None),
            c if !is_status(c) => Err(self.refusal(&reply, "the status request")),
            c => self.observe(call.call_id, &link, c),
        }
    }

    fn session_slot(&self, call: &CallContext<'_>) -> Option<(String, u64)> {
        let link = Link::read(call.extra).ok()?;
        // `cc-<16 hex>`: the call id without its number (no GUID in it).
        let session = call_id(&link.guid, link.seq);
        let session = session.rsplit_once('-')?.0.to_string();
        Some((session, u64::from(link.seq)))
    }

    fn hangup(&self, call: &CallContext<'_>) -> Result<Observation> {
        let link = Link::read(call.extra)?;
        // A GUID from a reference (an attached call) is as secret as one from a login.
        self.transport.remember_recent(GUID_SLOT, &link.guid);
        if let Some(obs) = self.state()?.known_end(call.call_id, &link) {
            // Never `hangUp` on the GUID: it would end the session's newer call.
            return Ok(obs);
        }
        let reply = self.exchange(&[("guid", &link.guid), ("cmd", "hangUp")], Effect::Write)?;
        match reply.code {
            response::OK | response::NO_CHANGES => {}
            response::AUTHORIZATION_FAILED => {
                let mut obs = session_gone();
                let mut st = self.state()?;
                let memo = st.calls.get(call.call_id).cloned();
                self.note(&mut st, call.call_id, &link, &mut obs, memo);
                if st.session.as_ref().is_some_and(|s| s.guid == link.guid) {
                    st.session = None;
                }
                return Ok(obs);
            }
            _ => return Err(self.refusal(&reply, "the hang-up")),
        }
        // The carrier's final code, where it tells it at once (best effort).
        let mut obs = Observation {
            state: Some(CallState::Ended),
            reason: FailReason::Cancelled,
            ..Default::default()
        };
        if let Ok(r) = self.get_status(&link.guid) {
            let st = self.state()?;
            let memo = st.calls.get(call.call_id);
            let now = unix_ms(SystemTime::now());
            if is_status(r.code) && !is_leftover(&link, r.code, memo, now) {
                let seen = status_observation(r.code, memo);
                match seen.state {
                    Some(CallState::Failed) => obs = seen,
                    Some(CallState::Ended) => {
                        obs.raw_code = seen.raw_code;
                        if seen.reason != FailReason::None {
                            obs.reason = seen.reason;
                        }
                    }
                    // "No changes", and the call goes on: the hang-up did not happen.
                    Some(_) if reply.code == response::NO_CHANGES => {
                        return Err(self.refusal(&reply, "the hang-up (the call goes on)"));
                    }
                    _ => {}
                }
            }
        }
        let mut st = self.state()?;
        let memo = st.calls.get(call.call_id).cloned();
        self.note(&mut st, call.call_id, &link, &mut obs, memo);
        Ok(obs)
    }

    fn close(&self) {
        let Ok(_no_start) = self.starting.lock() else {
            return;
        };
        let Some(s) = self.state.lock().ok().and_then(|mut st| st.session.take()) else {
            return;
        };
        let over = match &s.final_obs {
            Some(_) => true,
            // A reply that is no status (102: the session is gone already) maps to no
            // state, so it ends nothing.
            None => match self.get_status(&s.guid) {
                Ok(r) => {
                    let st = self.state.lock().ok();
                    let memo = st.as_ref().and_then(|st| st.calls.get(&s.call_id));
                    !is_leftover(&s.link, r.code, memo, unix_ms(SystemTime::now()))
                        && map_status(r.code).state.is_some_and(CallState::is_final)
                }
                Err(_) => false,
            },
        };
        if over {
            let _ = self.exchange(&[("guid", &s.guid), ("cmd", "end")], Effect::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_as_the_document_shows_them() {
        let r = parse_reply(
            "<response>\n<code>103</code>\n<message>5ae2a5rw47w</message>\n</response>",
        )
        .unwrap();
        assert_eq!(
            r,
            Reply {
                code: 103,
                message: "5ae2a5rw47w".into()
            }
        );
        for body in [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<response>\r\n  <code>27</code>\r\n  <message>Source is alerting</message>\r\n</response>\r\n",
            "\u{feff}<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><response><code> 27 </code><message>Source is alerting</message></response>",
            "<response><code>\n\t27\n</code><message>\n  Source is alerting  \n</message><extra>x</extra></response>",
            "<Response><Code>27</Code><Message>Source is alerting</Message></Response>",
            "<response><message>Source is alerting</message><code>27</code></response>",
        ] {
            let r = parse_reply(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
            assert_eq!(r.code, 27, "{body:?}");
            assert_eq!(r.message, "Source is alerting", "{body:?}");
        }
        let r = parse_reply("<response><code>100</code></response>").unwrap();
        assert_eq!(
            r,
            Reply {
                code: 100,
                message: String::new()
            }
        );
        let r = parse_reply("<response><code>101</code><message>a &amp; b</message></response>")
            .unwrap();
        assert_eq!(r.message, "a & b");
    }

    #[test]
    fn strict_about_what_matters() {
        for body in [
            "",
            "OK",
            "100",
            "<response><message>OK</message></response>",
            "<response><code></code><message>OK</message></response>",
            "<response><code>  </code></response>",
            "<response><code>abc</code></response>",
            "<response><code>-1</code></response>",
            "<response><code>27</code><code>30</code></response>",
            "<!DOCTYPE html><html><body><h1>Server Error in '/' Application.</h1></body></html>",
            "<response><code>27</code>",
            "{\"code\":100}",
        ] {
            let e = parse_reply(body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{body:?}");
        }
    }

    /// Every code from 3 to 33: the documented ones as DESIGN §3 maps them, the others
    /// (and 3 Unknown, 5 Account State) keeping the call where it is; the raw code always.
    #[test]
    fn every_status_code() {
        use CallState::*;
        use FailReason as R;
        for code in 3..=33u32 {
            let o = map_status(code);
            assert_eq!(
                o.raw_code.as_deref(),
                Some(code.to_string().as_str()),
                "{code}"
            );
            let expected: (Option<CallState>, FailReason, Leg) = match code {
                4 | 30 | 31 => (Some(Ended), R::None, Leg::None),
                7 => (Some(Ended), R::InsufficientFunds, Leg::None),
                9 | 29 => (Some(Connected), R::None, Leg::None),
                10 => (Some(Failed), R::Busy, Leg::None),
                11 => (Some(Failed), R::NoAnswer, Leg::None),
                12 => (Some(Failed), R::Rejected, Leg::None),
                16 => (Some(Failed), R::InsufficientFunds, Leg::None),
                24 => (Some(Failed), R::InvalidNumber, Leg::A),
                25 => (Some(Failed), R::InvalidNumber, Leg::B),
                26 => (Some(RingingB), R::None, Leg::None),
                27 => (Some(RingingA), R::None, Leg::None),
                28 => (Some(AAnswered), R::None, Leg::None),
                32 => (Some(Failed), R::InsufficientFunds, Leg::A),
                33 => (Some(Failed), R::InsufficientFunds, Leg::B),
                // 3 Unknown, 5 Account State, and the codes the document does not list.
                _ => (None, R::None, Leg::None),
            };
            assert_eq!((o.state, o.reason, o.failed_leg), expected, "code {code}");
        }
        for code in [0, 1, 2, 34, 99, 200, 4_000_000] {
            assert_eq!(map_status(code).state, None, "{code}");
        }
    }

    #[test]
    fn failed_leg_where_it_is_certain() {
        let memo = |highest| Memo {
            highest,
            connected_ms: None,
            final_obs: None,
        };
        let leg = |code, m: Option<&Memo>| status_observation(code, m).failed_leg;
        for code in [10, 11, 12] {
            assert_eq!(leg(code, Some(&memo(CallState::AAnswered))), Leg::B);
            assert_eq!(leg(code, Some(&memo(CallState::RingingB))), Leg::B);
            // A's answer may have fallen between two polls: not surely A's.
            assert_eq!(leg(code, Some(&memo(CallState::RingingA))), Leg::None);
            assert_eq!(leg(code, Some(&memo(CallState::Initiating))), Leg::None);
            assert_eq!(leg(code, None), Leg::None);
        }
        // Codes that name their leg keep it.
        assert_eq!(leg(25, Some(&memo(CallState::Initiating))), Leg::B);
        assert_eq!(leg(32, None), Leg::A);
    }

    /// Only the response codes 100-105 are not call statuses; every status code of the
    /// document (3-33) is one.
    #[test]
    fn response_codes_are_not_statuses() {
        for code in 100..=105 {
            assert!(!is_status(code), "{code}");
        }
        for code in (3..=33).chain([99, 106]) {
            assert!(is_status(code), "{code}");
        }
    }

    /// What a process remembers of its calls is bounded: when full, a new call first
    /// pushes out the ended ones; if every remembered call is live, all are forgotten. A
    /// call already remembered pushes out nothing.
    #[test]
    fn remembered_calls_are_bounded_ended_ones_first() {
        let memo = |ended: bool| Memo {
            highest: CallState::RingingA,
            connected_ms: None,
            final_obs: ended.then(|| Observation::failed(FailReason::Unknown, Leg::None)),
        };
        let mut st = State::default();
        for i in 0..MAX_REMEMBERED {
            st.remember(&format!("c{i}"), memo(i % 2 == 0));
        }
        st.remember("c0", memo(true));
        assert_eq!(st.calls.len(), MAX_REMEMBERED);
        st.remember("new", memo(false));
        assert_eq!(st.calls.len(), MAX_REMEMBERED / 2 + 1);
        assert!(st.calls.contains_key("c1") && st.calls.contains_key("new"));
        assert!(!st.calls.contains_key("c0"));
        let mut st = State::default();
        for i in 0..MAX_REMEMBERED {
            st.remember(&format!("c{i}"), memo(false));
        }
        st.remember("new", memo(false));
        assert_eq!(st.calls.keys().collect::<Vec<_>>(), ["new"]);
    }

    /// A call that a later call of its own session replaced ends FAILED/UNKNOWN (its
    /// GUID now names the newer call); a call of another session, or the session's
    /// newest, is not known to have ended.
    #[test]
    fn a_call_replaced_in_its_own_session_is_over() {
        let link = |guid: &str, seq| Link {
            guid: guid.into(),
            seq,
            connect_type: 1,
            connect_ms: None,
            prev_final: None,
        };
        let st = State {
            session: Some(Session {
                guid: "g".into(),
                call_id: "newest".into(),
                link: link("g", 3),
                final_obs: None,
            }),
            calls: HashMap::new(),
        };
        assert_eq!(
            st.known_end("older", &link("g", 2)),
            Some(Observation::failed(FailReason::Unknown, Leg::None))
        );
        assert_eq!(st.known_end("newest", &link("g", 3)), None);
        assert_eq!(st.known_end("elsewhere", &link("h", 1)), None);
    }

    #[test]
    fn connect_types_are_1_and_2() {
        assert_eq!(parse_type("1"), Some(1));
        assert_eq!(parse_type(" 2 "), Some(2));
        for v in ["0", "3", "", "one"] {
            assert_eq!(parse_type(v), None, "{v:?}");
        }
    }

    #[test]
    fn leftovers_of_the_previous_call() {
        let now = 1_700_000_000_000;
        let link = Link {
            guid: "g".into(),
            seq: 2,
            connect_type: 1,
            connect_ms: Some(now - 1_000),
            prev_final: Some("10".into()),
        };
        let fresh = Memo {
            highest: CallState::Initiating,
            connected_ms: None,
            final_obs: None,
        };
        // The previous call's final code, or an "ended" code, right after the connect.
        for code in [10, 4, 30, 31] {
            assert!(is_leftover(&link, code, Some(&fresh), now), "{code}");
        }
        // Other final codes are this call's; progress is never a leftover.
        for code in [11, 12, 24, 16, 27, 3] {
            assert!(!is_leftover(&link, code, Some(&fresh), now), "{code}");
        }
        // Once the call was seen moving, or after the grace, the code is believed.
        let moving = Memo {
            highest: CallState::RingingA,
            ..fresh.clone()
        };
        assert!(!is_leftover(&link, 30, Some(&moving), now));
        assert!(!is_leftover(&link, 30, None, now + LEFTOVER_GRACE_MS));
        // The grace is counted from the connect, its last millisecond included.
        let connect = now - 1_000;
        assert!(is_leftover(&link, 30, None, connect + LEFTOVER_GRACE_MS));
        assert!(!is_leftover(
            &link,
            30,
            None,
            connect + LEFTOVER_GRACE_MS + 1
        ));
        // A call placed by the login has no previous call.
        let first = Link {
            seq: 1,
            connect_ms: None,
            prev_final: None,
            ..link
        };
        assert!(!is_leftover(&first, 30, None, now));
    }

    #[test]
    fn call_ids_do_not_show_the_guid() {
        let g = "4AF46744-C346-44FF-80E3-33D89FBE963B";
        let id = call_id(g, 2);
        assert!(
            id.starts_with("cc-") && id.ends_with("-2") && id.len() == 21,
            "{id}"
        );
        assert!(!id.to_ascii_uppercase().contains("4AF46744"));
        assert_eq!(id, call_id(g, 2));
        assert_ne!(id, call_id(g, 3));
        assert_ne!(id, call_id("other", 2));
    }

    #[test]
    fn endpoints() {
        let o = "https://portal.business-isp.nl";
        assert_eq!(
            endpoint(o, "/"),
            "https://portal.business-isp.nl/api/connectcall.aspx"
        );
        assert_eq!(
            endpoint(o, "/api/"),
            "https://portal.business-isp.nl/api/connectcall.aspx"
        );
        assert_eq!(
            endpoint(o, "/white/label"),
            "https://portal.business-isp.nl/white/label/connectcall.aspx"
        );
        assert_eq!(
            endpoint(o, "/x/cc.aspx"),
            "https://portal.business-isp.nl/x/cc.aspx"
        );
    }

    #[test]
    fn dsn_options() {
        let ok = |dsn: &str| ConnectCall::new(Dsn::parse(dsn).unwrap());
        assert!(ok("connectcall://u:p@h/api/?type=2").is_ok());
        for bad in [
            "connectcall://u:p@h/?type=3",
            "connectcall://u:p@h/?type=",
            "connectcall://u@h/",
            "connectcall://:p@h/",
            "connectcall://u:p@h/?colour=red",
        ] {
            let e = ok(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    fn provider(dsn: &str) -> ConnectCall {
        ConnectCall::new(Dsn::parse(dsn).unwrap()).unwrap()
    }

    /// The carrier's text is kept to 200 characters (not bytes); a longer one is cut and
    /// says so with an ellipsis; control characters become spaces.
    #[test]
    fn carrier_text_is_cut_at_200_characters() {
        let cc = provider("connectcall://demo:pw@h/?tls=0");
        let exact = "ä".repeat(MAX_CARRIER_TEXT);
        assert_eq!(cc.carrier_text(&exact), exact);
        let long = cc.carrier_text(&"ä".repeat(MAX_CARRIER_TEXT + 1));
        assert_eq!(long, format!("{exact}…"));
        assert_eq!(cc.carrier_text(" a\tb\n "), "a b");
    }

    /// Each response code where another answer was due: its kind, and its name in the
    /// message (the carrier's own spelling).
    #[test]
    fn refusals_name_their_code() {
        let cc = provider("connectcall://demo:pw@h/?tls=0");
        for (code, kind, name) in [
            (
                100,
                ErrorKind::Protocol,
                "100 OK where another answer was due",
            ),
            (101, ErrorKind::Provider, "101 Failed"),
            (102, ErrorKind::Auth, "102 AutorizationFailed"),
            (
                103,
                ErrorKind::Protocol,
                "103 LoginSucess where another answer was due",
            ),
            (104, ErrorKind::InvalidArgument, "104 WrongParameters"),
            (105, ErrorKind::Provider, "105 NoChanges"),
            (7, ErrorKind::Protocol, "7 an unexpected code"),
        ] {
            let reply = Reply {
                code,
                message: String::new(),
            };
            let e = cc.refusal(&reply, "the test");
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(
                e.message(),
                format!("Connect Call refused the test ({name})"),
                "{code}"
            );
            assert_eq!(e.carrier_code(), Some(code.to_string().as_str()));
        }
    }

    #[test]
    fn the_password_is_blanked_out_of_carrier_text() {
        let cc = provider("connectcall://demo:P%C3%A4%24%24%20w%26rd@h/?tls=0");
        let reply = Reply {
            code: 102,
            message: "AutorizationFailed for password=Pä$$ w&rd (login=demo&password=P%C3%A4%24%24+w%26rd)"
                .into(),
        };
        let e = cc.refusal(&reply, "the login or password");
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.carrier_code(), Some("102"));
        assert!(!e.message().contains("Pä$$"), "{}", e.message());
        assert!(!e.message().contains("P%C3%A4%24%24"), "{}", e.message());
        assert!(e.message().contains("***"), "{}", e.message());
        let scrubbed = cc.scrub(Error::protocol("echo: Pä$$ w&rd"));
        assert_eq!(scrubbed.message(), "echo: ***");
    }

    #[test]
    fn response_codes_to_kinds() {
        let cc = provider("connectcall://demo:x@h/");
        for (code, kind) in [
            (101, ErrorKind::Provider),
            (102, ErrorKind::Auth),
            (104, ErrorKind::InvalidArgument),
            (105, ErrorKind::Provider),
            (100, ErrorKind::Protocol),
            (103, ErrorKind::Protocol),
            (199, ErrorKind::Protocol),
        ] {
            let e = cc.refusal(
                &Reply {
                    code,
                    message: String::new(),
                },
                "x",
            );
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.carrier_code(), Some(code.to_string().as_str()));
        }
    }

    #[test]
    fn link_round_trip_holds_no_secret() {
        let link = Link {
            guid: "4AF46744-C346".into(),
            seq: 2,
            connect_type: 1,
            connect_ms: Some(1),
            prev_final: Some("30".into()),
        };
        let v = serde_json::to_value(&link).unwrap();
        assert_eq!(Link::read(&v).unwrap(), link);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
        assert!(keys
            .iter()
            .all(|k| ["guid", "seq", "type", "connect_ms", "prev_final"].contains(&k.as_str())));
        for bad in [
            serde_json::Value::Null,
            serde_json::json!({"guid": "", "seq": 1, "type": 1}),
            serde_json::json!({"guid": "a b", "seq": 1, "type": 1}),
            serde_json::json!({"guid": "g", "seq": 0, "type": 1}),
        ] {
            assert_eq!(
                Link::read(&bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
    }
}
