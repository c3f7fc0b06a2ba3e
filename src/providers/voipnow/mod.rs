//! 4PSA VoipNow, Unified API (UAPI 3): OAuth2 client credentials, simple phone calls with
//! ring groups, caller ids and limits, an idempotency nonce, live status and hang-up.
//!
//! - Token: `POST /oauth/token.php` (form: `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `type=unifiedapi`, and `redirect_uri` when the DSN gives one), reply
//!   `{access_token, expires_in}`. Fetched on first use, kept, renewed shortly before
//!   `expires_in` runs out and once when the carrier answers 401. A DSN with `token=`
//!   uses the host's own token and never fetches one. Tokens are registered with the
//!   transport as secrets and never appear in a message.
//! - Start: `POST /uapi/phoneCalls/{user}/simple?waitForPickup=&callDuration=&
//!   allowPublicTransfer=&video=` with `{extension, phoneCallView: [{source[],
//!   destination[], callerId, callerIdDestination, nonce}]}`. Every start has a fresh
//!   nonce. The carrier de-duplicates on it, so a start whose outcome is unknown (the
//!   connection broke after sending, a 5xx, a garbled reply) is repeated with the SAME
//!   nonce, up to [`START_ATTEMPTS`] times within the DSN's timeout: this is the one
//!   carrier where repeating a start cannot place a second call.
//! - Status: `GET /uapi/phoneCalls/{user}/{extension}/{id}` while the call is live; once
//!   it has left the live list, the call record (CDR) settles its end (see [`cdr_query`]).
//! - Hang-up: `DELETE /uapi/phoneCalls/{user}/{extension}/{id}`. Without the id that
//!   request hangs up EVERY call on the extension; the only way to build the URL is
//!   [`VoipNow::call_url`], which takes a [`PhoneCallId`], and a `PhoneCallId` is never
//!   empty, `.` or `..` and is percent-encoded as one path segment.
//! - Errors: `{"error": {"code", "message"}}`; the 400 codes of the simple call reach the
//!   host as INVALID_ARGUMENT or INVALID_NUMBER with the carrier's code.
//!
//! Choices where the carrier's documents are silent (change them here):
//! - public numbers go out in E.164 with `+` (`number_format=00` or `digits` in the DSN
//!   switch to `0049...` or `49...`); an extended extension number (`0003*210`) is passed
//!   as it is;
//! - a PhoneCall is read as an array, an `{entry: [...]}` collection or one object; its
//!   state is the most advanced of its views (`phoneCallView[].status`, with `answered`
//!   on the call or the view): 1/2 INITIATING (A_ANSWERED when answered), 3 RINGING_A
//!   (A_ANSWERED when answered), 4 RINGING_B, 5 CONNECTED, 0 and unknown values keep the
//!   state and are reported raw;
//! - the call record and its query are described at [`cdr_query`] and [`cdr_observation`];
//!   a call that left the live list without a record is ENDED with reason UNKNOWN;
//! - a token reply without `expires_in` is kept for an hour (and renewed on a 401);
//! - a DELETE answered 204 or 404 found nothing to hang up: the call had ended, and its
//!   end is settled as a status poll would.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{CallContext, CallOptions, Capabilities, StartContext, Started};
use crate::model::{CallState, FailReason, Leg, Observation};
use crate::money::Money;
use crate::number::{self, Number};
use crate::providers::Provider;
use crate::transport::{Effect, Request, Response, Transport};

mod token;

use token::Token;

/// Attempts of one call start (the first one included), all with the same nonce.
pub const START_ATTEMPTS: u32 = 3;
/// How many call records one status query reads.
const CDR_PAGE: u32 = 50;

/// Characters left as they are in a path segment; everything else is percent-encoded
/// (so that `/`, `?`, `#` in an id or extension can never change the URL's shape).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'@');

/// The carrier's id of one PhoneCall. Never empty, never only blanks, never `.` or `..`,
/// no control characters, at most 256 bytes. It is the only thing from which the URL of
/// one call can be built, so a request for "the calls of the extension" (which for a
/// DELETE hangs up every call on it) cannot be written by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneCallId(String);

impl PhoneCallId {
    pub fn new(id: &str) -> Result<PhoneCallId> {
        let bad = |why: &str| Error::invalid_argument(format!("not a VoipNow call id: {why}"));
        if id.trim().is_empty() {
            return Err(bad("empty"));
        }
        if id == "." || id == ".." {
            return Err(bad("a dot path segment"));
        }
        if id.len() > 256 {
            return Err(bad("longer than 256 bytes"));
        }
        if id.chars().any(|c| c.is_control()) {
            return Err(bad("control characters"));
        }
        Ok(PhoneCallId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as one percent-encoded path segment (never empty).
    fn segment(&self) -> String {
        segment(&self.0)
    }
}

fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// How public numbers are written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberFormat {
    /// `+4917112345678`
    E164,
    /// `004917112345678`
    Zeros,
    /// `4917112345678`
    Digits,
}

enum Auth {
    /// OAuth2 client credentials: the library fetches and renews tokens.
    Client {
        id: String,
        secret: Secret,
        redirect_uri: Option<String>,
    },
    /// A token the host manages; never renewed here.
    Fixed(Secret),
}

pub struct VoipNow {
    /// `https://HOST[:PORT][/PATH]`, without a trailing slash.
    base: String,
    user: String,
    extension: String,
    default_country: Option<u16>,
    number_format: NumberFormat,
    auth: Auth,
    token: Mutex<Option<Token>>,
    /// `token_cache=PATH`: a file that keeps the access token between processes.
    token_cache: Option<PathBuf>,
    transport: Transport,
}

/// What a start attempt came to.
enum StartOutcome {
    Placed(PhoneCallId),
    /// The carrier refused, or nothing was sent: final.
    Refused(Error),
    /// The request may have been acted on: repeat it with the same nonce.
    Unknown(Error),
}

impl VoipNow {
    pub fn from_dsn(mut dsn: Dsn) -> Result<Box<dyn Provider>> {
        let bad = |what: String| Error::invalid_argument(format!("DSN: {what}"));
        let extension = dsn.take_option("extension").ok_or_else(|| {
            bad("option extension is missing (the Phone Terminal extension that places the calls, e.g. extension=210)".into())
        })?;
        if !is_extension_number(&extension) {
            return Err(bad(
                "option extension must be an extension number such as 210 or 0003*210".into(),
            ));
        }
        let user = dsn.take_option("user").unwrap_or_else(|| "@me".to_string());
        if !is_user_id(&user) {
            return Err(bad(
                "option user must be @me, @viewer, @owner or a user id such as 12".into(),
            ));
        }
        let number_format = match dsn.take_option("number_format").as_deref() {
            None | Some("e164") => NumberFormat::E164,
            Some("00") => NumberFormat::Zeros,
            Some("digits") => NumberFormat::Digits,
            Some(_) => return Err(bad("option number_format must be e164, 00 or digits".into())),
        };
        let token = dsn.take_option("token");
        let redirect_uri = dsn.take_option("redirect_uri");
        let token_cache = dsn.take_option("token_cache").map(PathBuf::from);
        let mut transport = Transport::with_secrets(dsn.timeout, dsn.secrets.clone());
        let auth = match token {
            Some(t) => {
                if dsn.user.is_some() || dsn.secret.is_some() {
                    return Err(bad(
                        "give either CLIENT_ID:CLIENT_SECRET@ or token=, not both".into(),
                    ));
                }
                if t.is_empty() {
                    return Err(bad("option token is empty".into()));
                }
                if token_cache.is_some() || redirect_uri.is_some() {
                    return Err(bad(
                        "token_cache and redirect_uri are for client credentials, not for token="
                            .into(),
                    ));
                }
                transport.add_secret(&t);
                Auth::Fixed(Secret::new(t))
            }
            None => {
                let id = dsn.require_user("VoipNow client id (CLIENT_ID:CLIENT_SECRET@HOST)")?;
                let secret = dsn.require_secret("VoipNow client secret")?;
                transport.add_secret(secret.expose());
                Auth::Client {
                    id,
                    secret,
                    redirect_uri,
                }
            }
        };
        dsn.finish()?;
        let base = format!("{}{}", dsn.origin(), dsn.path.trim_end_matches('/'));
        Ok(Box::new(VoipNow {
            base,
            user,
            extension,
            default_country: dsn.default_country,
            number_format,
            auth,
            token: Mutex::new(None),
            token_cache,
            transport,
        }))
    }

    // ---- URLs: the only places that write the carrier's paths ----

    fn start_url(&self, query: &[(&str, String)]) -> String {
        let mut url = format!(
            "{}/uapi/phoneCalls/{}/simple",
            self.base,
            segment(&self.user)
        );
        if !query.is_empty() {
            url.push('?');
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish(),
            );
        }
        url
    }

    /// The URL of ONE call. There is deliberately no function for the URL of the
    /// extension's calls: a DELETE there would hang up all of them.
    fn call_url(&self, owner: &Owner, id: &PhoneCallId) -> String {
        format!(
            "{}/uapi/phoneCalls/{}/{}/{}",
            self.base,
            segment(&owner.user),
            segment(&owner.extension),
            id.segment()
        )
    }

    /// One authorised request; on a 401 the token is renewed once and the request sent
    /// again (the carrier refused it before acting on it, so this is safe for a start).
    fn exchange(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&str>,
        effect: Effect,
        deadline: Instant,
    ) -> Result<Response> {
        let mut renewed = false;
        loop {
            let token = self.access_token(deadline)?;
            let mut req = Request::new(method, url, effect)
                .header("authorization", format!("Bearer {}", token.expose()))
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b.to_string());
            }
            let resp = self.transport.send_until(&req, deadline)?;
            if resp.status == 401 && !renewed && self.forget_token(&token) {
                renewed = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// The error a non-success reply stands for.
    fn carrier_error(&self, resp: &Response) -> Error {
        let parsed = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|v| uapi_error(&v));
        let kind = match resp.status {
            401 | 403 => ErrorKind::Auth,
            402 => ErrorKind::InsufficientFunds,
            404 => ErrorKind::NotFound,
            400 => parsed
                .as_ref()
                .and_then(|(code, _)| kind_of_code(code))
                .unwrap_or(ErrorKind::Provider),
            _ => ErrorKind::Provider,
        };
        match parsed {
            Some((code, text)) => Error::carrier(
                kind,
                code,
                self.transport
                    .redact(&format!("VoipNow: {text} (HTTP {})", resp.status)),
            ),
            None => Error::new(kind, format!("VoipNow answered HTTP {}", resp.status)),
        }
    }

    // ---- Numbers ----

    fn wire_number(&self, typed: &str) -> Result<String> {
        let t = typed.trim();
        if t.contains('*') && is_extension_number(t) {
            return Ok(t.to_string());
        }
        let n: Number = number::parse(t, self.default_country)?;
        Ok(match self.number_format {
            NumberFormat::E164 => n.e164(),
            NumberFormat::Zeros => n.with_00(),
            NumberFormat::Digits => n.international_digits().to_string(),
        })
    }

    /// `n1|n2|...`: the ring group (the first to pick up wins), duplicates dropped.
    fn ring_group(&self, typed: &str) -> Result<Vec<String>> {
        let parts: Vec<&str> = typed.split('|').collect();
        if parts.len() > number::MAX_NUMBERS_IN_LIST {
            return Err(Error::invalid_argument(format!(
                "more than {} numbers in one ring group",
                number::MAX_NUMBERS_IN_LIST
            )));
        }
        let mut out: Vec<String> = Vec::with_capacity(parts.len());
        for p in parts {
            let n = self.wire_number(p)?;
            if !out.contains(&n) {
                out.push(n);
            }
        }
        Ok(out)
    }

    // ---- The start ----

    fn start_once(&self, url: &str, body: &str, attempt: u32, deadline: Instant) -> StartOutcome {
        let resp = match self.exchange("POST", url, Some(body), Effect::Place, deadline) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::OutcomeUnknown => return StartOutcome::Unknown(e),
            Err(e) => return StartOutcome::Refused(e),
        };
        match resp.status {
            200..=203 => match serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| first_call(&v).and_then(|c| c.get("id").and_then(id_text)))
            {
                Some(id) => match PhoneCallId::new(&id) {
                    Ok(id) => StartOutcome::Placed(id),
                    Err(_) => StartOutcome::Refused(Error::new(
                        ErrorKind::OutcomeUnknown,
                        "VoipNow accepted the call but its id cannot be used: the call can be neither followed nor hung up from here",
                    )),
                },
                None => StartOutcome::Unknown(Error::protocol(format!(
                    "VoipNow answered the call start with HTTP {} but no call id",
                    resp.status
                ))),
            },
            204 => StartOutcome::Refused(Error::new(
                ErrorKind::OutcomeUnknown,
                "VoipNow accepted the call start but returned no id (HTTP 204): the call cannot be followed or hung up from here",
            )),
            500..=599 => StartOutcome::Unknown(Error::new(
                ErrorKind::Provider,
                format!("VoipNow answered the call start with HTTP {}", resp.status),
            )),
            _ => {
                let e = self.carrier_error(&resp);
                if attempt > 1 && e.carrier_code() == Some("pc_nonce_invalid") {
                    // The repeat was refused for its nonce: the first attempt most likely
                    // placed the call, under an id this side never heard.
                    return StartOutcome::Refused(Error::carrier(
                        ErrorKind::OutcomeUnknown,
                        "pc_nonce_invalid",
                        "VoipNow refused the repeated call start for its nonce: the first attempt may have placed the call; check the extension's calls before trying again",
                    ));
                }
                StartOutcome::Refused(e)
            }
        }
    }

    // ---- Status ----

    /// Settles a call that is no longer in the live list: its call record, or ENDED
    /// with unknown details.
    fn settle(
        &self,
        call: &CallContext<'_>,
        owner: &Owner,
        deadline: Instant,
    ) -> Result<Observation> {
        if let Some(b) = call.extra.get("b").and_then(Value::as_str) {
            let url = cdr_query(&self.base, &owner.user, b);
            let resp = self.exchange("GET", &url, None, Effect::Read, deadline)?;
            if resp.status == 200 {
                if let Ok(v) = serde_json::from_str::<Value>(&resp.body) {
                    if let Some(rec) = items(&v)
                        .into_iter()
                        .find(|r| record_is_of(r, call.call_id))
                    {
                        return Ok(cdr_observation(rec));
                    }
                }
            } else if resp.status == 401 || resp.status >= 500 {
                return Err(self.carrier_error(&resp));
            }
        }
        Ok(Observation {
            state: Some(CallState::Ended),
            reason: FailReason::Unknown,
            raw_code: Some("gone".into()),
            ..Default::default()
        })
    }

    /// The user and extension a call was placed from (kept in its reference), or this
    /// client's.
    fn owner_of(&self, call: &CallContext<'_>) -> Result<Owner> {
        let get = |k: &str| call.extra.get(k).and_then(Value::as_str);
        let extension = get("ext").unwrap_or(&self.extension).to_string();
        let user = get("user").unwrap_or(&self.user).to_string();
        if !is_extension_number(&extension) || !is_user_id(&user) {
            return Err(Error::invalid_argument(
                "the call reference names no valid VoipNow extension and user",
            ));
        }
        Ok(Owner { user, extension })
    }
}

struct Owner {
    user: String,
    extension: String,
}

impl Provider for VoipNow {
    fn scheme(&self) -> &'static str {
        "voipnow"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::CALLBACK
            | Capabilities::LIVE_STATUS
            | Capabilities::HANGUP
            | Capabilities::RING_GROUP
            | Capabilities::CALLER_ID
            | Capabilities::WAIT_FOR_PICKUP
            | Capabilities::MAX_DURATION
            | Capabilities::CALL_FLAGS
            | Capabilities::IDEMPOTENT_START
    }

    fn start_call(
        &self,
        a: &str,
        b: &str,
        options: &CallOptions,
        _start: &StartContext<'_>,
    ) -> Result<Started> {
        let sources = self.ring_group(a).map_err(|e| e.context("A number"))?;
        let destination = self.wire_number(b).map_err(|e| e.context("B number"))?;
        let mut view = json!({
            "source": sources,
            "destination": [destination],
        });
        if let Some(c) = &options.caller_id {
            view["callerId"] = Value::String(caller_id(c, "caller_id")?);
        }
        if let Some(c) = &options.caller_id_b {
            view["callerIdDestination"] = Value::String(caller_id(c, "caller_id_b")?);
        }
        let nonce = crate::util::new_nonce();
        view["nonce"] = Value::String(nonce);
        let body = json!({"extension": self.extension, "phoneCallView": [view]}).to_string();
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = options.wait_for_pickup_s {
            query.push(("waitForPickup", s.to_string()));
        }
        if let Some(s) = options.max_duration_s {
            query.push(("callDuration", s.to_string()));
        }
        if options.allow_public_transfer {
            query.push(("allowPublicTransfer", "true".into()));
        }
        if options.video {
            query.push(("video", "true".into()));
        }
        let url = self.start_url(&query);
        let deadline = Instant::now() + self.transport.timeout();
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        let id = loop {
            match self.start_once(&url, &body, attempt, deadline) {
                StartOutcome::Placed(id) => break id,
                StartOutcome::Refused(e) => return Err(e),
                StartOutcome::Unknown(e) => {
                    if attempt < START_ATTEMPTS && Instant::now() + backoff < deadline {
                        std::thread::sleep(backoff);
                        backoff *= 2;
                        attempt += 1;
                        continue;
                    }
                    // The transport's own note ("it was not repeated") is not true here.
                    let cause = e
                        .message()
                        .split(" (the request may have reached")
                        .next()
                        .unwrap_or("");
                    return Err(Error::new(
                        ErrorKind::OutcomeUnknown,
                        format!(
                            "VoipNow: the outcome of the call start is unknown after {attempt} attempt(s) with one nonce ({cause}); the carrier places at most one call per nonce: check the extension's calls before trying again"
                        ),
                    ));
                }
            }
        };
        Ok(Started {
            call_id: id.as_str().to_string(),
            extra: json!({"user": self.user, "ext": self.extension, "b": destination}),
            observation: Observation::state(CallState::Initiating),
            live: true,
        })
    }

    fn poll(&self, call: &CallContext<'_>) -> Result<Option<Observation>> {
        let id = PhoneCallId::new(call.call_id)?;
        let owner = self.owner_of(call)?;
        let deadline = Instant::now() + self.transport.timeout();
        let resp = self.exchange(
            "GET",
            &self.call_url(&owner, &id),
            None,
            Effect::Read,
            deadline,
        )?;
        match resp.status {
            200 => {
                let v: Value = serde_json::from_str(&resp.body)
                    .map_err(|_| Error::protocol("VoipNow's PhoneCall reply is not JSON"))?;
                match find_call(&v, id.as_str()) {
                    Some(pc) => Ok(Some(live_observation(pc))),
                    None => self.settle(call, &owner, deadline).map(Some),
                }
            }
            204 | 404 => self.settle(call, &owner, deadline).map(Some),
            _ => Err(self.carrier_error(&resp)),
        }
    }

    fn hangup(&self, call: &CallContext<'_>) -> Result<Observation> {
        let id = PhoneCallId::new(call.call_id)?;
        let owner = self.owner_of(call)?;
        let deadline = Instant::now() + self.transport.timeout();
        let resp = self.exchange(
            "DELETE",
            &self.call_url(&owner, &id),
            None,
            Effect::Write,
            deadline,
        )?;
        match resp.status {
            200..=203 => Ok(Observation {
                state: Some(CallState::Ended),
                reason: FailReason::Cancelled,
                ..Default::default()
            }),
            204 | 404 => self.settle(call, &owner, deadline),
            _ => Err(self.carrier_error(&resp)),
        }
    }
}

// ---- What the carrier's replies mean (free functions, unit-tested below) ----

/// The call-record query for a call to `destination` (the documents name the
/// `destination` and `count` parameters but no query by call id): the records are then
/// matched on `phoneCallId` (or `id`) by [`record_is_of`].
pub fn cdr_query(base: &str, user: &str, destination: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("destination", destination)
        .append_pair("count", &CDR_PAGE.to_string())
        .finish();
    format!("{base}/uapi/cdr/{}?{query}", segment(user))
}

fn record_is_of(record: &Value, call_id: &str) -> bool {
    ["phoneCallId", "id"]
        .iter()
        .any(|k| record.get(*k).and_then(id_text).as_deref() == Some(call_id))
}

/// Reads one call record (PhoneCallRecord): `disposition` 0 answered (ENDED), 1 busy,
/// 2 failed, 3 no answer, 4 unknown (ENDED, reason UNKNOWN), 5 not allowed; `duration`
/// seconds talked; `cost` and `currency`. The failed leg is not told by the record.
pub fn cdr_observation(record: &Value) -> Observation {
    let disposition = record.get("disposition").and_then(as_u64);
    let mut obs = match disposition {
        Some(0) => Observation::state(CallState::Ended),
        Some(1) => Observation::failed(FailReason::Busy, Leg::None),
        Some(2) => Observation::failed(FailReason::ProviderError, Leg::None),
        Some(3) => Observation::failed(FailReason::NoAnswer, Leg::None),
        Some(5) => Observation::failed(FailReason::ProviderError, Leg::None),
        _ => Observation {
            state: Some(CallState::Ended),
            reason: FailReason::Unknown,
            ..Default::default()
        },
    };
    obs.raw_code = Some(match disposition {
        Some(d) => format!("disposition:{d}"),
        None => "disposition:?".into(),
    });
    obs.duration_s = record
        .get("duration")
        .and_then(as_u64)
        .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    let currency = record.get("currency").and_then(Value::as_str);
    obs.cost = match record.get("cost") {
        Some(Value::String(s)) => Money::parse(s, currency).ok(),
        Some(Value::Number(n)) => Money::parse(&n.to_string(), currency).ok(),
        _ => None,
    };
    obs
}

/// The neutral state of one PhoneCallView `status` (0 unknown, 1 off hook, 2 trying,
/// 3 ringing, 4 other side ringing, 5 on call).
pub fn view_state(status: u64, answered: bool) -> Option<CallState> {
    match status {
        1..=3 if answered => Some(CallState::AAnswered),
        1 | 2 => Some(CallState::Initiating),
        3 => Some(CallState::RingingA),
        4 => Some(CallState::RingingB),
        5 => Some(CallState::Connected),
        _ => None,
    }
}

/// What a live PhoneCall says: the most advanced of its views (and of the call itself,
/// when it carries a `status`).
pub fn live_observation(pc: &Value) -> Observation {
    let call_answered = pc.get("answered").is_some_and(truthy);
    let mut views: Vec<&Value> = match pc.get("phoneCallView") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    views.push(pc);
    let mut best: Option<(CallState, u64)> = None;
    let mut raw: Option<u64> = None;
    let mut duration: Option<u32> = None;
    for v in views {
        let Some(status) = v.get("status").and_then(as_u64) else {
            continue;
        };
        raw = Some(raw.map_or(status, |r| r.max(status)));
        let answered = call_answered || v.get("answered").is_some_and(truthy);
        if let Some(state) = view_state(status, answered) {
            if best.is_none_or(|(s, _)| state > s) {
                best = Some((state, status));
            }
        }
        if let Some(d) = v.get("duration").and_then(as_u64) {
            let d = u32::try_from(d).unwrap_or(u32::MAX);
            duration = Some(duration.map_or(d, |x| x.max(d)));
        }
    }
    Observation {
        state: best.map(|(s, _)| s),
        duration_s: duration,
        raw_code: best.map(|(_, s)| s).or(raw).map(|s| format!("status:{s}")),
        ..Default::default()
    }
}

/// The entries of a collection: an array, `{entry: [...]}` / `{entry: {...}}`, or one
/// object.
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => match o.get("entry") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(e @ Value::Object(_)) => vec![e],
            Some(_) => Vec::new(),
            None if o.is_empty() => Vec::new(),
            None => vec![v],
        },
        _ => Vec::new(),
    }
}

fn first_call(v: &Value) -> Option<&Value> {
    items(v).into_iter().next()
}

/// The PhoneCall with this id in a reply; a lone entry without any id is taken as it.
fn find_call<'v>(v: &'v Value, id: &str) -> Option<&'v Value> {
    let all = items(v);
    if let Some(pc) = all
        .iter()
        .find(|pc| pc.get("id").and_then(id_text).as_deref() == Some(id))
    {
        return Some(pc);
    }
    match all.as_slice() {
        [only] if only.get("id").is_none() => Some(only),
        _ => None,
    }
}

fn uapi_error(v: &Value) -> Option<(String, String)> {
    let e = v.get("error")?;
    let code = e.get("code").and_then(id_text)?;
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("error without a message")
        .to_string();
    Some((code, message))
}

/// `{"error": "invalid_client", "error_description": "..."}` (OAuth) or the UAPI shape.
fn oauth_error(v: &Value) -> Option<(String, String)> {
    if let Some(code) = v.get("error").and_then(Value::as_str) {
        let text = v
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or(code)
            .to_string();
        return Some((code.to_string(), text));
    }
    uapi_error(v)
}

/// What each documented 400 code of the simple call means for the host.
pub fn kind_of_code(code: &str) -> Option<ErrorKind> {
    match code {
        "pc_source_invalid" | "pc_destination_invalid" => Some(ErrorKind::InvalidNumber),
        "extension_invalid"
        | "pc_duration_invalid"
        | "pc_timeout_invalid"
        | "pc_callerid_invalid"
        | "pc_transfer_invalid"
        | "pc_nonce_invalid" => Some(ErrorKind::InvalidArgument),
        _ => None,
    }
}

/// A caller id in the documented form `Name <+number>` (`John Doe <+3334444>`; the `+`
/// may be left out, as in the carrier's own example), normalised to one space.
pub fn caller_id(text: &str, what: &str) -> Result<String> {
    let bad = || {
        Error::invalid_argument(format!(
            "{what} must have the form 'Name <+number>', e.g. 'John Doe <+3334444>'"
        ))
    };
    let t = text.trim();
    let (name, rest) = t.split_once('<').ok_or_else(bad)?;
    let number = rest.strip_suffix('>').ok_or_else(bad)?;
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || "<>\"".contains(c))
    {
        return Err(bad());
    }
    let digits = number.strip_prefix('+').unwrap_or(number);
    if !(3..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(format!("{name} <{number}>"))
}

/// `210`, `0003*210`: digits, optionally an organisation part before `*`.
fn is_extension_number(s: &str) -> bool {
    let mut parts = s.split('*');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 16 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match (parts.next(), parts.next(), parts.next()) {
        (first, None, None) => ok(first),
        (first, second, None) => ok(first) && ok(second),
        _ => false,
    }
}

fn is_user_id(s: &str) -> bool {
    matches!(s, "@me" | "@viewer" | "@owner")
        || (!s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        Value::String(s) => matches!(s.as_str(), "true" | "1" | "yes"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::token::{renew_margin, TOKEN_SLOT};
    use super::*;

    fn provider(dsn: &str) -> Box<dyn Provider> {
        VoipNow::from_dsn(Dsn::parse(dsn).unwrap()).unwrap()
    }

    #[test]
    fn call_ids_that_would_address_the_whole_extension_are_refused() {
        for bad in ["", " ", "\t", ".", "..", "a\nb", &"x".repeat(257)] {
            assert_eq!(
                PhoneCallId::new(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bad:?}"
            );
        }
        // Whatever the id, it is one non-empty path segment.
        for id in [
            "c3e92a04ff422a7a0b9f",
            "a/b",
            "../x",
            "?all",
            "#",
            "%2F",
            "é",
        ] {
            let seg = PhoneCallId::new(id).unwrap().segment();
            assert!(!seg.is_empty() && !seg.contains('/') && !seg.contains('?'));
            assert!(
                !seg.contains('#') && seg != "." && seg != "..",
                "{id}: {seg}"
            );
        }
    }

    #[test]
    fn the_call_url_always_ends_with_the_id() {
        let v = VoipNow {
            base: "https://h".into(),
            user: "@me".into(),
            extension: "210".into(),
            default_country: None,
            number_format: NumberFormat::E164,
            auth: Auth::Fixed(Secret::new("t")),
            token: Mutex::new(None),
            token_cache: None,
            transport: Transport::new(Duration::from_secs(1)),
        };
        let owner = Owner {
            user: "@me".into(),
            extension: "0003*210".into(),
        };
        let url = v.call_url(&owner, &PhoneCallId::new("a/b").unwrap());
        assert_eq!(url, "https://h/uapi/phoneCalls/@me/0003*210/a%2Fb");
    }

    #[test]
    fn dsn_forms() {
        let p = provider("voipnow://app:s3cret@h?extension=210");
        assert_eq!(p.scheme(), "voipnow");
        assert!(p.capabilities().contains(Capabilities::IDEMPOTENT_START));
        assert!(p.capabilities().contains(Capabilities::RING_GROUP));
        provider("voipnow://h?extension=0003*210&token=abc&user=12");
        for (dsn, part) in [
            ("voipnow://app:s3cret@h", "extension"),
            ("voipnow://app:s3cret@h?extension=2x0", "extension"),
            ("voipnow://app:s3cret@h?extension=210&user=a/b", "user"),
            ("voipnow://app@h?extension=210", "secret"),
            ("voipnow://app:s3cret@h?extension=210&token=t", "not both"),
            ("voipnow://h?extension=210&token=", "token"),
            (
                "voipnow://h?extension=210&token=t&redirect_uri=x",
                "redirect_uri",
            ),
            (
                "voipnow://app:s3cret@h?extension=210&number_format=x",
                "number_format",
            ),
            ("voipnow://app:s3cret@h?extension=210&bogus=1", "bogus"),
        ] {
            let e = VoipNow::from_dsn(Dsn::parse(dsn).unwrap()).err().unwrap();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{dsn}");
            assert!(e.message().contains(part), "{dsn}: {}", e.message());
            assert!(!e.message().contains("s3cret"));
        }
    }

    #[test]
    fn caller_ids() {
        assert_eq!(
            caller_id(" John Doe   <+3334444> ", "caller_id").unwrap(),
            "John Doe <+3334444>"
        );
        assert_eq!(
            caller_id("Shop <4242425>", "caller_id").unwrap(),
            "Shop <4242425>"
        );
        for bad in [
            "+4930123456",
            "<+4930123456>",
            "Shop <+49 30 123>",
            "Shop <+12>",
            "Shop +4930123456>",
            "Shop <+4930123456",
            "Sh<op <+4930123456>",
            "Shop <+4930123456> x",
        ] {
            assert_eq!(
                caller_id(bad, "caller_id").unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn every_documented_400_code_has_a_kind() {
        for (code, kind) in [
            ("extension_invalid", ErrorKind::InvalidArgument),
            ("pc_duration_invalid", ErrorKind::InvalidArgument),
            ("pc_source_invalid", ErrorKind::InvalidNumber),
            ("pc_destination_invalid", ErrorKind::InvalidNumber),
            ("pc_timeout_invalid", ErrorKind::InvalidArgument),
            ("pc_callerid_invalid", ErrorKind::InvalidArgument),
            ("pc_transfer_invalid", ErrorKind::InvalidArgument),
            ("pc_nonce_invalid", ErrorKind::InvalidArgument),
        ] {
            assert_eq!(kind_of_code(code), Some(kind), "{code}");
        }
        assert_eq!(kind_of_code("something_else"), None);
    }

    #[test]
    fn live_status_mapping() {
        let obs = |v: Value| live_observation(&v);
        let ringing_group = json!({"id": "x", "phoneCallView": [
            {"source": ["+1"], "status": 3}, {"source": ["+2"], "status": 3}]});
        assert_eq!(obs(ringing_group).state, Some(CallState::RingingA));
        let picked = json!({"id": "x", "phoneCallView": [{"status": 1, "answered": true}]});
        assert_eq!(obs(picked).state, Some(CallState::AAnswered));
        let b_ringing = json!({"id": "x", "answered": true, "phoneCallView": [{"status": 4}]});
        assert_eq!(obs(b_ringing).state, Some(CallState::RingingB));
        let talking = json!({"id": "x", "phoneCallView": [{"status": 5, "duration": 12}]});
        let o = obs(talking);
        assert_eq!(o.state, Some(CallState::Connected));
        assert_eq!(o.duration_s, Some(12));
        assert_eq!(o.raw_code.as_deref(), Some("status:5"));
        // 0 (unknown) and values the table does not know keep the state, raw.
        let unknown = obs(json!({"phoneCallView": [{"status": 0}]}));
        assert_eq!(
            (unknown.state, unknown.raw_code.as_deref()),
            (None, Some("status:0"))
        );
        let strange = obs(json!({"phoneCallView": [{"status": "9"}]}));
        assert_eq!(
            (strange.state, strange.raw_code.as_deref()),
            (None, Some("status:9"))
        );
        assert_eq!(obs(json!({"status": 2})).state, Some(CallState::Initiating));
    }

    #[test]
    fn collections_and_records() {
        let v = json!({"entry": [{"id": "a"}, {"id": "b", "status": 5}]});
        assert_eq!(find_call(&v, "b").unwrap()["status"], 5);
        assert!(find_call(&v, "c").is_none());
        assert!(find_call(&json!({"entry": []}), "a").is_none());
        assert!(find_call(&json!([]), "a").is_none());
        assert!(find_call(&json!({"status": 3}), "a").is_some());
        let rec = json!({"phoneCallId": "a", "disposition": 0, "duration": "35", "cost": "0.12", "currency": "eur"});
        assert!(record_is_of(&rec, "a"));
        let o = cdr_observation(&rec);
        assert_eq!(o.state, Some(CallState::Ended));
        assert_eq!(o.duration_s, Some(35));
        assert_eq!(o.cost.unwrap().display(), "0.12 EUR");
        for (d, state, reason) in [
            (1, CallState::Failed, FailReason::Busy),
            (2, CallState::Failed, FailReason::ProviderError),
            (3, CallState::Failed, FailReason::NoAnswer),
            (4, CallState::Ended, FailReason::Unknown),
            (5, CallState::Failed, FailReason::ProviderError),
            (77, CallState::Ended, FailReason::Unknown),
        ] {
            let o = cdr_observation(&json!({"disposition": d}));
            assert_eq!((o.state, o.reason), (Some(state), reason), "{d}");
            assert_eq!(o.raw_code, Some(format!("disposition:{d}")));
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let a = crate::util::new_nonce();
        let b = crate::util::new_nonce();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn token_renewal_margin() {
        assert_eq!(
            renew_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renew_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn tokens_learnt_later_are_redacted() {
        let t = Transport::new(Duration::from_secs(1));
        t.set_rotating_secret(TOKEN_SLOT, "tok-1");
        assert_eq!(t.redact("a tok-1 b"), "a *** b");
        t.set_rotating_secret(TOKEN_SLOT, "tok-2");
        assert_eq!(t.redact("tok-2"), "***");
    }
}
