//! 4PSA VoipNow, Unified API (UAPI 3): OAuth2 client credentials, simple phone calls with
//! ring groups, caller ids and limits, a nonce, live status and hang-up.
//!
//! - Token: `POST /oauth/token.php` (form: `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `type=unifiedapi`, and `redirect_uri` when the DSN gives one), reply
//!   `{access_token, expires_in}`. Fetched on first use, kept, renewed shortly before
//!   `expires_in` runs out and once when the carrier answers 401. A DSN with `token=`
//!   uses the host's own token and never fetches one. Tokens are registered with the
//!   transport as secrets and never appear in a message.
//! - Start: `POST /uapi/phoneCalls/{user}/simple?waitForPickup=&callDuration=&
//!   allowPublicTransfer=&video=` with `{extension, nonce, phoneCallView: [{source[],
//!   destination[], callerId, callerIdDestination}]}`: the nonce on the PhoneCall, where
//!   the PhoneCalls resource and 4PSA's own client put it. No source says the carrier
//!   de-duplicates a repeated nonce, so a start whose outcome is unknown (the connection
//!   broke after sending, a 5xx, a reply without an id) is never simply repeated: the
//!   extension's live calls are listed first and searched for our nonce ([`nonce_search`]);
//!   only when the list shows nonces and none is ours is the start sent again (same
//!   nonce), up to [`START_ATTEMPTS`] times within the DSN's timeout. When the list
//!   cannot tell, the result is `OUTCOME_UNKNOWN`.
//! - Status: `GET /uapi/phoneCalls/{user}/{extension}/{id}` while the call is live; once
//!   it has left the live list, the call record (CDR) settles its end (see [`cdr_query`]).
//! - Hang-up: `DELETE /uapi/phoneCalls/{user}/{extension}/{id}`. Without the id that
//!   request hangs up EVERY call on the extension; the only way to build the URL is
//!   [`VoipNow::call_url`], which takes a [`PhoneCallId`], and a `PhoneCallId` is never
//!   empty, `.` or `..` and is percent-encoded as one path segment. The extension's URL
//!   is only ever built inside [`VoipNow::live_calls`], which sends a GET.
//! - Errors: `{"error": {"code", "message"}}`; the 400 codes of the simple call reach the
//!   host as INVALID_ARGUMENT or INVALID_NUMBER with the carrier's code. A reply that
//!   cannot be read is PROTOCOL with its raw body (secrets blanked) in the message.
//!
//! Choices where the carrier's documents are silent or disagree (docs/voipnow.md lists
//! each with its source):
//! - public numbers go out in E.164 with `+` (`number_format=00` or `digits` in the DSN
//!   switch to `0049...` or `49...`); an extended extension number (`0003*210`) is passed
//!   as it is;
//! - the caller id shown to B goes as `callerIdDestination` (the UAPI 3 document), or as
//!   `callerDestination` (4PSA's current client) with `caller_id_b_field=callerDestination`;
//! - a PhoneCall is read as an array, an `{entry: [...]}` collection or one object; its
//!   state is the most advanced of its views (`phoneCallView[].status`, with `answered`
//!   on the call or the view, a date in the documents, also read as a flag): 1/2
//!   INITIATING (A_ANSWERED when answered), 3 RINGING_A (A_ANSWERED when answered), 4
//!   RINGING_B, 5 CONNECTED, 0 and unknown values keep the state and are reported raw;
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
use crate::providers::{unreadable, Provider};
use crate::transport::{Effect, Request, Response, Transport};

mod token;

use token::Token;

/// Attempts of one call start (the first one included), all with the same nonce; a
/// start is sent again only when the extension's live calls show none with its nonce.
pub const START_ATTEMPTS: u32 = 3;
/// How many call records one status query reads.
const CDR_PAGE: u32 = 50;
/// A record matched by its destination must have started within this window around the
/// call's start (seconds before, and after now).
const CDR_WINDOW_S: i64 = 120;

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
    /// The field of the caller id shown to B (`callerIdDestination` or
    /// `callerDestination`).
    caller_id_b_field: &'static str,
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
    /// The request may have been acted on: look for its nonce before repeating it.
    Unknown(Error),
}

/// What the extension's live calls say about a nonce.
enum NonceSearch {
    /// A live call carries it: the start placed that call.
    Found(PhoneCallId),
    /// The calls listed all show their nonce and none is ours (or none is listed).
    Absent,
    /// The list cannot tell (it failed, or shows calls without their nonce).
    CannotTell(String),
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
        let caller_id_b_field = match dsn.take_option("caller_id_b_field").as_deref() {
            None | Some("callerIdDestination") => "callerIdDestination",
            Some("callerDestination") => "callerDestination",
            Some(_) => {
                return Err(bad(
                    "option caller_id_b_field must be callerIdDestination or callerDestination"
                        .into(),
                ))
            }
        };
        let token = dsn.take_option("token");
        let redirect_uri = dsn.take_option("redirect_uri");
        let token_cache = dsn.take_option("token_cache").map(PathBuf::from);
        if let Some(path) = &token_cache {
            crate::util::check_shared_dir(path)
                .map_err(|e| bad(format!("option token_cache: {e}")))?;
        }
        let mut transport = Transport::for_dsn(&dsn)?;
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
            caller_id_b_field,
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
                None => StartOutcome::Unknown(unreadable(
                    &self.transport,
                    "VoipNow answered the call start without a call id",
                    &resp,
                )),
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

    /// `GET /uapi/phoneCalls/{user}/{extension}`: the extension's live calls. The URL of
    /// the extension is built here only, for this GET (a DELETE there hangs up them all).
    fn live_calls(&self, deadline: Instant) -> Result<Response> {
        let url = format!(
            "{}/uapi/phoneCalls/{}/{}",
            self.base,
            segment(&self.user),
            segment(&self.extension)
        );
        self.exchange("GET", &url, None, Effect::Read, deadline)
    }

    /// Looks among the extension's live calls for the one our nonce created.
    fn look_for_nonce(&self, nonce: &str, deadline: Instant) -> NonceSearch {
        let resp = match self.live_calls(deadline) {
            Ok(r) => r,
            Err(e) => {
                return NonceSearch::CannotTell(format!(
                    "listing the extension's calls failed: {}",
                    e.message()
                ))
            }
        };
        match resp.status {
            200 => match serde_json::from_str::<Value>(&resp.body) {
                Ok(v) => nonce_search(&v, nonce),
                Err(_) => NonceSearch::CannotTell(
                    unreadable(
                        &self.transport,
                        "VoipNow's list of live calls is not JSON",
                        &resp,
                    )
                    .message()
                    .to_string(),
                ),
            },
            204 | 404 => NonceSearch::Absent,
            s => NonceSearch::CannotTell(format!(
                "listing the extension's calls was answered HTTP {s}"
            )),
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
                let v: Value = serde_json::from_str(&resp.body).map_err(|_| {
                    unreadable(
                        &self.transport,
                        "VoipNow's call records are not JSON",
                        &resp,
                    )
                })?;
                let started = call.extra.get("t").and_then(Value::as_i64);
                match find_record(&v, call.call_id, b, started, unix_now() as i64) {
                    RecordMatch::One(rec) => return Ok(cdr_observation(rec, b)),
                    RecordMatch::Ambiguous(n) => {
                        return Ok(Observation {
                            state: Some(CallState::Ended),
                            reason: FailReason::Unknown,
                            raw_code: Some(format!("cdr-ambiguous:{n}")),
                            ..Default::default()
                        })
                    }
                    RecordMatch::None => {}
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
            view[self.caller_id_b_field] = Value::String(caller_id(c, "caller_id_b")?);
        }
        let nonce = crate::util::new_nonce();
        // On the PhoneCall, beside `extension` (PhoneCalls resource; 4PSA's client).
        let body = json!({"extension": self.extension, "nonce": nonce, "phoneCallView": [view]})
            .to_string();
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
        let started_unix = unix_now();
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        let id = loop {
            match self.start_once(&url, &body, attempt, deadline) {
                StartOutcome::Placed(id) => break id,
                StartOutcome::Refused(e) => return Err(e),
                StartOutcome::Unknown(e) => {
                    // The transport's own note ("it was not repeated") is not the whole
                    // story here: say what was done.
                    let cause = e
                        .message()
                        .split(" (the request may have reached")
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let unknown = |what: &str| {
                        Error::new(
                            ErrorKind::OutcomeUnknown,
                            format!(
                                "VoipNow: the outcome of the call start is unknown after {attempt} attempt(s) ({cause}); {what}: check the extension's calls before trying again"
                            ),
                        )
                    };
                    if Instant::now() + backoff >= deadline {
                        return Err(unknown("no time was left to look for the call"));
                    }
                    // Give the carrier a moment to list the call, then look before
                    // repeating: no source says a repeated nonce is de-duplicated.
                    std::thread::sleep(backoff);
                    backoff *= 2;
                    match self.look_for_nonce(&nonce, deadline) {
                        NonceSearch::Found(id) => break id,
                        NonceSearch::CannotTell(why) => {
                            return Err(unknown(&format!(
                                "the extension's live calls could not tell whether it placed one ({why})"
                            )));
                        }
                        NonceSearch::Absent
                            if attempt < START_ATTEMPTS && Instant::now() < deadline =>
                        {
                            attempt += 1;
                        }
                        NonceSearch::Absent => {
                            return Err(unknown(
                                "no live call carries its nonce and it was not sent again (attempts or time used up), but a call placed and already ended would not be listed either",
                            ));
                        }
                    }
                }
            }
        };
        Ok(Started {
            call_id: id.as_str().to_string(),
            extra: json!({
                "user": self.user,
                "ext": self.extension,
                "b": destination,
                "t": started_unix,
            }),
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
                let v: Value = serde_json::from_str(&resp.body).map_err(|_| {
                    unreadable(
                        &self.transport,
                        "VoipNow's PhoneCall reply is not JSON",
                        &resp,
                    )
                })?;
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

/// The call-record query for a call to `destination`: `GET /uapi/cdr/{user}?
/// destination=&count=50` (List CDR names both parameters, and no query by call id).
/// The destination goes in the records' own number form, digits without `+` (the CDR
/// resource's example writes `"source":"14141555"`); whether the server normalises the
/// filter is unknown.
pub fn cdr_query(base: &str, user: &str, destination: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("destination", &record_number(destination))
        .append_pair("count", &CDR_PAGE.to_string())
        .finish();
    format!("{base}/uapi/cdr/{}?{query}", segment(user))
}

/// A number as the call records write it: without a leading `+`.
fn record_number(n: &str) -> String {
    n.trim().strip_prefix('+').unwrap_or(n.trim()).to_string()
}

/// The records of a CDR reply, each with its id: the documented `{entry: {ID: record,
/// ...}}` (an object keyed by id), an `{entry: [...]}` list, a bare array, or one record.
pub fn records(v: &Value) -> Vec<(Option<String>, &Value)> {
    let id_of = |r: &Value| {
        ["id", "phoneCallId"]
            .iter()
            .find_map(|k| r.get(*k).and_then(id_text))
    };
    fn list(
        a: &[Value],
        id_of: impl Fn(&Value) -> Option<String>,
    ) -> Vec<(Option<String>, &Value)> {
        a.iter().map(|r| (id_of(r), r)).collect()
    }
    match v {
        Value::Array(a) => list(a, id_of),
        Value::Object(o) => match o.get("entry") {
            Some(Value::Array(a)) => list(a, id_of),
            // One record rather than a map of them: it has fields that are not records.
            Some(e @ Value::Object(m)) if !m.values().all(Value::is_object) => {
                vec![(id_of(e), e)]
            }
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, r)| (id_of(r).or_else(|| Some(k.clone())), r))
                .collect(),
            Some(_) => Vec::new(),
            None if o.is_empty() || o.contains_key("totalResults") => Vec::new(),
            None => vec![(id_of(v), v)],
        },
        _ => Vec::new(),
    }
}

/// The views of a record (or of a PhoneCall): `phoneCallView` as a list or one object;
/// a record without views stands for itself.
fn views_of(r: &Value) -> Vec<&Value> {
    match r.get("phoneCallView") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![r],
    }
}

/// The numbers of a field that is a string or a list of strings.
fn numbers_in(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![record_number(s)],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(record_number)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Whether a view called `destination` (compared in the records' form; `00` and `+`
/// forms of the same number are the same).
fn view_called(view: &Value, destination: &str) -> bool {
    let want = record_number(destination);
    let bare = |n: &str| n.strip_prefix("00").unwrap_or(n).to_string();
    numbers_in(view.get("destination"))
        .iter()
        .any(|n| *n == want || bare(n) == bare(&want))
}

/// When a record's call took place (Unix seconds): the first readable date among the
/// fields a record may carry (none is shown in the public examples).
fn record_time(r: &Value) -> Option<i64> {
    const FIELDS: [&str; 6] = [
        "startDate",
        "start",
        "date",
        "callDate",
        "answered",
        "saveDate",
    ];
    std::iter::once(r)
        .chain(views_of(r))
        .flat_map(|v| FIELDS.iter().filter_map(move |f| v.get(*f)))
        .find_map(|d| d.as_str().and_then(parse_date))
}

/// `2011-02-10T15:10:55Z`, `2011-02-10 15:10:55`, with or without fractions; a zone
/// other than UTC (`+02:00`) is applied.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 19 || !s.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let sep = rest.as_bytes()[0];
    if sep != b'T' && sep != b' ' {
        return None;
    }
    let time = &rest[1..9];
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut zone = rest[9..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    zone = zone.trim();
    let offset = match zone {
        "" | "Z" | "UTC" | "GMT" => 0,
        z if (z.starts_with('+') || z.starts_with('-')) && z.len() >= 5 => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i64 = digits.get(..2)?.parse().ok()?;
            let mi: i64 = digits.get(2..4)?.parse().ok()?;
            sign * (h * 3600 + mi * 60)
        }
        _ => return None,
    };
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Which record of a CDR reply is our call's.
pub enum RecordMatch<'v> {
    One(&'v Value),
    /// Several records fit by destination and time: none is taken.
    Ambiguous(usize),
    None,
}

/// The record of call `call_id` to `destination`: the one whose id is the call's; else
/// the only one whose view called `destination` and that took place between
/// [`CDR_WINDOW_S`] before the call's start (`started`, Unix seconds) and that long
/// after `now`. Without a start time (an older reference) or a readable record time,
/// nothing is matched by destination.
pub fn find_record<'v>(
    v: &'v Value,
    call_id: &str,
    destination: &str,
    started: Option<i64>,
    now: i64,
) -> RecordMatch<'v> {
    let all = records(v);
    if let Some((_, r)) = all.iter().find(|(id, _)| id.as_deref() == Some(call_id)) {
        return RecordMatch::One(r);
    }
    let Some(t0) = started else {
        return RecordMatch::None;
    };
    let fits: Vec<&Value> = all
        .iter()
        .map(|(_, r)| *r)
        .filter(|r| views_of(r).iter().any(|v| view_called(v, destination)))
        .filter(|r| {
            record_time(r).is_some_and(|t| t >= t0 - CDR_WINDOW_S && t <= now + CDR_WINDOW_S)
        })
        .collect();
    match fits.as_slice() {
        [one] => RecordMatch::One(one),
        [] => RecordMatch::None,
        many => RecordMatch::Ambiguous(many.len()),
    }
}

/// Reads one call record (CDR resource): `disposition` 0 answered (ENDED), 1 busy,
/// 2 failed, 3 no answer, 4 unknown (ENDED, reason UNKNOWN), 5 not allowed; `duration`
/// seconds talked; `cost` and `currency` when given (no public example shows them).
/// Disposition and duration live in the record's views: the view that called
/// `destination` is read, else the first view that has a disposition, else the record
/// itself. The failed leg is not told by the record.
pub fn cdr_observation(record: &Value, destination: &str) -> Observation {
    let views = views_of(record);
    let has = |v: &&Value| v.get("disposition").is_some();
    let view = views
        .iter()
        .copied()
        .filter(has)
        .find(|v| view_called(v, destination))
        .or_else(|| views.iter().copied().find(has))
        .unwrap_or(record);
    let field = |k: &str| view.get(k).or_else(|| record.get(k));
    let disposition = field("disposition").and_then(as_u64);
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
    obs.duration_s = field("duration")
        .and_then(as_u64)
        .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    let currency = field("currency").and_then(Value::as_str);
    obs.cost = match field("cost") {
        Some(Value::String(s)) => Money::parse(s, currency).ok(),
        Some(Value::Number(n)) => Money::parse(&n.to_string(), currency).ok(),
        _ => None,
    };
    obs
}

/// What the extension's live calls say about `nonce` (the PhoneCall's `nonce`, or a
/// view's, wherever a server puts it).
fn nonce_search(v: &Value, nonce: &str) -> NonceSearch {
    let calls = items(v);
    let mut blind = 0;
    for pc in &calls {
        let nonces: Vec<&str> = std::iter::once(*pc)
            .chain(views_of(pc))
            .filter_map(|x| x.get("nonce").and_then(Value::as_str))
            .collect();
        if nonces.contains(&nonce) {
            return match pc.get("id").and_then(id_text).map(|i| PhoneCallId::new(&i)) {
                Some(Ok(id)) => NonceSearch::Found(id),
                _ => NonceSearch::CannotTell(
                    "a live call carries the nonce but has no usable id".into(),
                ),
            };
        }
        if nonces.is_empty() {
            blind += 1;
        }
    }
    if blind > 0 {
        NonceSearch::CannotTell(format!(
            "{blind} live call(s) on the extension show no nonce"
        ))
    } else {
        NonceSearch::Absent
    }
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
    let call_answered = pc.get("answered").is_some_and(answered);
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
        let picked_up = call_answered || v.get("answered").is_some_and(answered);
        if let Some(state) = view_state(status, picked_up) {
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

/// Whether `answered` says A picked up. The documents make it a date ("answered Date
/// ... The date the source answered the call", `"2011-02-10T15:10:55Z"`); a flag is read
/// too. A blank, `0`, `false` or a zero date (`0000-00-00 ...`) is not answered.
fn answered(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => {
            let s = s.trim();
            !s.is_empty()
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "null" | "none"
                )
                && !s.starts_with("0000-00-00")
        }
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
            caller_id_b_field: "callerIdDestination",
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
    }

    /// The CDR resource's documented shape (wiki.4psa.com, VNUAPI30 CDR Resource):
    /// `entry` an object keyed by id, disposition and duration in each view, numbers as
    /// digits without `+`.
    fn documented_cdr(disposition: u32) -> Value {
        json!({
            "entry": {
                "53bec7de3c242d5f87e5": {
                    "id": "53bec7de3c242d5f87e5",
                    "extension": "0003*210",
                    "phoneCallView": [{
                        "source": "14141555",
                        "destination": "49301234567",
                        "disposition": disposition,
                        "duration": "35",
                        "startDate": "2026-11-26T10:00:05Z",
                    }],
                },
                "53bec7de3c242d5f87e6": {
                    "id": "53bec7de3c242d5f87e6",
                    "phoneCallView": [{"source": "1", "destination": "0003*002", "disposition": 0}],
                },
            },
            "totalResults": 34922,
            "phoneCallStat": [],
        })
    }

    #[test]
    fn records_in_the_documented_shape() {
        let t0 = parse_date("2026-11-26T10:00:00Z").unwrap();
        let v = documented_cdr(0);
        assert_eq!(records(&v).len(), 2);
        // By id.
        let RecordMatch::One(rec) =
            find_record(&v, "53bec7de3c242d5f87e5", "+49301234567", None, t0)
        else {
            panic!("not found by id");
        };
        let o = cdr_observation(rec, "+49301234567");
        assert_eq!(o.state, Some(CallState::Ended));
        assert_eq!(o.duration_s, Some(35));
        assert_eq!(o.raw_code.as_deref(), Some("disposition:0"));
        // BUSY and NO ANSWER come from the view, not from the record.
        for (d, state, reason) in [
            (1, CallState::Failed, FailReason::Busy),
            (2, CallState::Failed, FailReason::ProviderError),
            (3, CallState::Failed, FailReason::NoAnswer),
            (4, CallState::Ended, FailReason::Unknown),
            (5, CallState::Failed, FailReason::ProviderError),
            (77, CallState::Ended, FailReason::Unknown),
        ] {
            let v = documented_cdr(d);
            let RecordMatch::One(rec) =
                find_record(&v, "other-id", "+49301234567", Some(t0), t0 + 30)
            else {
                panic!("not found by destination and time");
            };
            let o = cdr_observation(rec, "+49301234567");
            assert_eq!((o.state, o.reason), (Some(state), reason), "{d}");
            assert_eq!(o.raw_code, Some(format!("disposition:{d}")));
        }
        // Out of the call's time window, or without a start time: not ours.
        let v = documented_cdr(1);
        assert!(matches!(
            find_record(&v, "x", "+49301234567", Some(t0 + 3600), t0 + 3700),
            RecordMatch::None
        ));
        assert!(matches!(
            find_record(&v, "x", "+49301234567", None, t0),
            RecordMatch::None
        ));
        // Two records that fit equally: none is taken.
        let two = json!({"entry": [
            {"id": "r1", "phoneCallView": [{"destination": "49301234567", "disposition": 1, "startDate": "2026-11-26T10:00:05Z"}]},
            {"id": "r2", "phoneCallView": [{"destination": "+49301234567", "disposition": 0, "startDate": "2026-11-26 10:00:09"}]},
        ]});
        assert!(matches!(
            find_record(&two, "x", "+49301234567", Some(t0), t0 + 30),
            RecordMatch::Ambiguous(2)
        ));
        // A flat record (a list of records with the fields on the record) still reads.
        let flat = json!([{"phoneCallId": "a", "disposition": 0, "duration": "35", "cost": "0.12", "currency": "eur"}]);
        let RecordMatch::One(rec) = find_record(&flat, "a", "+1", None, t0) else {
            panic!()
        };
        let o = cdr_observation(rec, "+1");
        assert_eq!(o.duration_s, Some(35));
        assert_eq!(o.cost.unwrap().display(), "0.12 EUR");
        // The query asks in the records' number form.
        assert_eq!(
            cdr_query("https://h", "@me", "+49301234567"),
            "https://h/uapi/cdr/@me?destination=49301234567&count=50"
        );
    }

    #[test]
    fn answered_is_a_date() {
        let a_answered = json!({"id": "x", "answered": "2011-02-10T15:10:55Z",
            "phoneCallView": [{"status": 1}]});
        assert_eq!(
            live_observation(&a_answered).state,
            Some(CallState::AAnswered)
        );
        let in_view = json!({"id": "x", "phoneCallView": [{"status": 3, "answered": "2011-02-10T15:10:55Z"}]});
        assert_eq!(live_observation(&in_view).state, Some(CallState::AAnswered));
        for not in [
            json!(""),
            json!("0000-00-00 00:00:00"),
            json!(null),
            json!(false),
            json!(0),
        ] {
            let pc = json!({"id": "x", "answered": not, "phoneCallView": [{"status": 3}]});
            assert_eq!(
                live_observation(&pc).state,
                Some(CallState::RingingA),
                "{not}"
            );
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2011-02-10T15:10:55Z"), Some(1_297_350_655));
        assert_eq!(parse_date("2011-02-10 15:10:55"), Some(1_297_350_655));
        assert_eq!(parse_date("2011-02-10T15:10:55.123Z"), Some(1_297_350_655));
        assert_eq!(parse_date("2011-02-10T17:10:55+02:00"), Some(1_297_350_655));
        assert_eq!(parse_date("10.02.2011 15:10:55"), None);
        assert_eq!(parse_date("2011-02-10"), None);
    }

    #[test]
    fn the_nonce_is_looked_for_among_the_live_calls() {
        let list = |entries: Value| json!({"totalResults": 1, "entry": entries});
        let v = list(json!([{"id": "c1", "nonce": "n1"}, {"id": "c2", "nonce": "n2"}]));
        assert!(matches!(nonce_search(&v, "n2"), NonceSearch::Found(id) if id.as_str() == "c2"));
        assert!(matches!(nonce_search(&v, "n3"), NonceSearch::Absent));
        assert!(matches!(
            nonce_search(&list(json!([])), "n3"),
            NonceSearch::Absent
        ));
        // A call listed without its nonce could be ours: the list cannot tell.
        let blind = list(json!([{"id": "c1", "nonce": "n1"}, {"id": "c2"}]));
        assert!(matches!(
            nonce_search(&blind, "n3"),
            NonceSearch::CannotTell(_)
        ));
        // A server that keeps the nonce in the view is read too.
        let in_view = list(json!([{"id": "c4", "phoneCallView": [{"nonce": "n4"}]}]));
        assert!(matches!(
            nonce_search(&in_view, "n4"),
            NonceSearch::Found(_)
        ));
    }

    #[test]
    fn a_lone_call_is_taken_only_when_it_has_no_id() {
        // A reply that holds one call without an id is that call; one whose id is
        // another call's is not ours, whether listed alone or among others.
        assert!(find_call(&json!({"entry": [{"status": 3}]}), "a").is_some());
        assert!(find_call(&json!({"entry": [{"id": "b", "status": 3}]}), "a").is_none());
        assert!(find_call(&json!([{"id": "b"}]), "a").is_none());
        assert!(find_call(&json!({"id": 7, "status": 3}), "7").is_some());
        assert!(find_call(&json!({"id": 7, "status": 3}), "8").is_none());
    }

    #[test]
    fn the_most_advanced_view_speaks_for_the_call() {
        let obs = |v: Value| live_observation(&v);
        // In either order, the view furthest on sets the state and the raw code.
        for views in [
            json!([{"status": 3}, {"status": 5, "duration": 30}]),
            json!([{"status": 5, "duration": 30}, {"status": 3}]),
        ] {
            let o = obs(json!({"id": "x", "phoneCallView": views}));
            assert_eq!(o.state, Some(CallState::Connected), "{views}");
            assert_eq!(o.raw_code.as_deref(), Some("status:5"), "{views}");
            assert_eq!(o.duration_s, Some(30), "{views}");
        }
        // The longest duration of the views.
        let o = obs(json!({"phoneCallView": [
            {"status": 5, "duration": 12}, {"status": 5, "duration": "40"}, {"status": 4, "duration": 7}]}));
        assert_eq!(o.duration_s, Some(40));
        // A lone view may come as an object rather than a list.
        let o = obs(json!({"id": "x", "phoneCallView": {"status": 4, "duration": 3}}));
        assert_eq!(o.state, Some(CallState::RingingB));
        assert_eq!(o.duration_s, Some(3));
        // The call's own status counts beside its views'.
        let o = obs(json!({"id": "x", "status": 5, "phoneCallView": [{"status": 3}]}));
        assert_eq!(o.state, Some(CallState::Connected));
        // Unknown statuses beside a known one: the known one's state, the highest raw
        // code only when no state is known.
        let o = obs(json!({"phoneCallView": [{"status": 0}, {"status": 9}]}));
        assert_eq!((o.state, o.raw_code.as_deref()), (None, Some("status:9")));
        let o = obs(json!({"phoneCallView": [{"status": 9}, {"status": 3}]}));
        assert_eq!(
            (o.state, o.raw_code.as_deref()),
            (Some(CallState::RingingA), Some("status:3"))
        );
        // Nothing with a status: nothing known.
        let o = obs(json!({"id": "x", "phoneCallView": [{"duration": 5}]}));
        assert_eq!((o.state, o.raw_code), (None, None));
    }

    #[test]
    fn view_states_with_and_without_a_pick_up() {
        for (status, answered, state) in [
            (0, false, None),
            (0, true, None),
            (1, false, Some(CallState::Initiating)),
            (2, false, Some(CallState::Initiating)),
            (3, false, Some(CallState::RingingA)),
            (1, true, Some(CallState::AAnswered)),
            (2, true, Some(CallState::AAnswered)),
            (3, true, Some(CallState::AAnswered)),
            (4, false, Some(CallState::RingingB)),
            (4, true, Some(CallState::RingingB)),
            (5, false, Some(CallState::Connected)),
            (5, true, Some(CallState::Connected)),
            (6, true, None),
        ] {
            assert_eq!(view_state(status, answered), state, "{status} {answered}");
        }
    }

    #[test]
    fn answered_flags_and_dates() {
        for yes in [
            json!(true),
            json!(1),
            json!(0.5),
            json!("2011-02-10T15:10:55Z"),
            json!("yes"),
            json!(" 1 "),
        ] {
            assert!(answered(&yes), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!("   "),
            json!("0"),
            json!("FALSE"),
            json!("no"),
            json!("null"),
            json!("None"),
            json!("0000-00-00 00:00:00"),
            json!(null),
            json!([]),
            json!({}),
        ] {
            assert!(!answered(&no), "{no}");
        }
    }

    #[test]
    fn a_record_fits_by_time_up_to_the_window_and_no_further() {
        let t0 = parse_date("2026-11-26T10:00:00Z").unwrap();
        let now = t0 + 600;
        assert_eq!(CDR_WINDOW_S, 120);
        let fits = |date: &str| {
            let v = json!({"entry": [{"id": "r", "phoneCallView": [{
                "destination": "49301234567", "disposition": 0, "startDate": date}]}]});
            matches!(
                find_record(&v, "x", "+49301234567", Some(t0), now),
                RecordMatch::One(_)
            )
        };
        assert!(fits("2026-11-26T09:58:00Z"), "at the window's start");
        assert!(!fits("2026-11-26T09:57:59Z"), "before the window");
        assert!(fits("2026-11-26T10:12:00Z"), "at the window's end");
        assert!(!fits("2026-11-26T10:12:01Z"), "after the window");
        assert!(fits("2026-11-26T10:00:30Z"));
    }

    #[test]
    fn a_cost_written_as_a_number_reads_too() {
        let rec = json!({"disposition": 0, "duration": 35, "cost": 0.12, "currency": "EUR"});
        let o = cdr_observation(&rec, "+1");
        assert_eq!(o.cost.unwrap().display(), "0.12 EUR");
        let rec = json!({"disposition": 0, "cost": true});
        assert!(cdr_observation(&rec, "+1").cost.is_none());
        // No disposition at all: ended, details unknown, said so in the raw code.
        let o = cdr_observation(&json!({"duration": 3}), "+1");
        assert_eq!(
            (o.state, o.reason, o.raw_code.as_deref()),
            (
                Some(CallState::Ended),
                FailReason::Unknown,
                Some("disposition:?")
            )
        );
    }

    #[test]
    fn the_view_that_called_the_destination_is_read() {
        // A ring-group record: one view per leg. The one that called B tells the end,
        // wherever it is listed; without one, the first view with a disposition.
        let rec = json!({"phoneCallView": [
            {"destination": "4930999", "disposition": 1, "duration": 0},
            {"destination": "49301234567", "disposition": 0, "duration": 35},
        ]});
        let o = cdr_observation(&rec, "+49301234567");
        assert_eq!((o.state, o.duration_s), (Some(CallState::Ended), Some(35)));
        let o = cdr_observation(&rec, "+4940111");
        assert_eq!(o.reason, FailReason::Busy);
        let rec = json!({"duration": 9, "phoneCallView": [
            {"destination": "49301234567"},
            {"destination": "4930999", "disposition": 3},
        ]});
        let o = cdr_observation(&rec, "+49301234567");
        assert_eq!((o.reason, o.duration_s), (FailReason::NoAnswer, Some(9)));
    }

    #[test]
    fn carrier_error_bodies() {
        let uapi = json!({"error": {"code": "pc_source_invalid", "message": "Bad source"}});
        assert_eq!(
            uapi_error(&uapi),
            Some(("pc_source_invalid".into(), "Bad source".into()))
        );
        assert_eq!(
            uapi_error(&json!({"error": {"code": 42}})),
            Some(("42".into(), "error without a message".into()))
        );
        assert_eq!(uapi_error(&json!({"error": {"message": "m"}})), None);
        assert_eq!(uapi_error(&json!({"ok": true})), None);
        assert_eq!(
            oauth_error(&json!({"error": "invalid_client", "error_description": "Unknown client"})),
            Some(("invalid_client".into(), "Unknown client".into()))
        );
        assert_eq!(
            oauth_error(&json!({"error": "invalid_grant"})),
            Some(("invalid_grant".into(), "invalid_grant".into()))
        );
        assert_eq!(oauth_error(&uapi), uapi_error(&uapi));
        assert_eq!(oauth_error(&json!({})), None);
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
