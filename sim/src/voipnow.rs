//! 4PSA VoipNow UAPI as its documents and 4PSA's own public clients describe it. Each
//! behaviour cites its source at the code; "unknown" marks what no source settles (the
//! simulator then takes the reading least kind to a client that guesses).
//!
//! - `POST /oauth/token.php` (form `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, optional `type=unifiedapi`, `redirect_uri`): `{access_token,
//!   token_type, expires_in}`. Tokens run out after the app's lifetime (3600 s unless a
//!   test sets another); every `/uapi/` request needs `Authorization: Bearer TOKEN`.
//! - `POST /uapi/phoneCalls/{user}/simple[/]`: validates as documented (400 `{"error":
//!   {"code", "message"}}` with `extension_invalid`, `pc_source_invalid`,
//!   `pc_destination_invalid`, `pc_callerid_invalid`, `pc_timeout_invalid`,
//!   `pc_duration_invalid`, `pc_transfer_invalid`, `pc_nonce_invalid`), answers 202
//!   `[{id, extension, link}]`. The optional `nonce` is read on the PhoneCall, beside
//!   `extension` (never inside a view). A repeated nonce places another call: no source
//!   says the service de-duplicates. The control `dedup?client=&on=1` turns
//!   de-duplication on (a repeated nonce then returns the first call), for tests of a
//!   server that does. The caller id shown to B is `callerIdDestination` (UAPI 3
//!   document) or `callerDestination` (4PSA's current client); both are taken.
//! - Ring group: every source rings; the first source (in the order given) whose number
//!   is not a magic failure (`486` busy, `408` no answer, `603` rejected, `404`
//!   unobtainable) picks up and the others are dropped; when none can, the call fails
//!   with the first source's reason. A source or destination ending in `404` is refused
//!   at the start (`pc_source_invalid` / `pc_destination_invalid`), extension `404` is
//!   `extension_invalid`.
//! - `GET /uapi/phoneCalls/{user}/{extension}[/{id}]`: live calls as a collection
//!   `{startIndex, itemsPerPage, totalResults, entry: [PhoneCall]}`; a PhoneCall is
//!   `{id, nonce, extension, answered, phoneCallView: [{source, destination, status,
//!   answered, duration}]}` (`answered` a date, `2011-02-10T15:10:55Z`, once A picked
//!   up; absent before) with `status` 0 unknown, 1 off hook, 2 trying, 3 ringing, 4 other
//!   side ringing, 5 on call: 0 then 2 while the call is set up, 3 on one view per source while
//!   they ring, 1 (answered) when a source picked up, 4 while B rings, 5 while talking.
//!   An ended call is no longer listed (empty collection); an unknown id is 404.
//! - `DELETE /uapi/phoneCalls/{user}/{extension}/{id}`: hangs that call up (200 `[{id}]`,
//!   204 when it had already ended). `DELETE /uapi/phoneCalls/{user}/{extension}` (no id,
//!   or an empty one) hangs up EVERY live call on the extension and is counted as
//!   `delete_all`: the library must never send it.
//! - `GET /uapi/cdr/{user}[/]?destination=&count=`: records of ended calls, newest first,
//!   in the CDR resource's shape: `{entry: {ID: {id, extension, phoneCallView: [{source,
//!   destination, disposition, duration, startDate}]}}, totalResults, phoneCallStat}`,
//!   numbers as digits without `+`, `disposition` 0 answered, 1 busy, 2 failed, 3 no
//!   answer, 4 unknown, 5 not allowed. `destination` is matched literally against the
//!   record's number. A record's id is the PhoneCall's id unless `cdr-own-ids?client=`
//!   gives the app's records ids of their own (whether they are equal is unknown).
//! - Requests whose target is in absolute form (`POST http://host/oauth/token.php`) are
//!   taken like the origin form (see `origin_form` in `lib.rs`).
//!
//! Apps: `demo` / `demo-secret`, and any client id starting with `test` with the secret
//! `secret-<id>` (created on first use, so that tests do not share counters).
//!
//! Controls (`/_sim/voipnow/...`, each for one app `client=ID`):
//! `token-ttl?client=&seconds=` (lifetime of the app's next tokens), `revoke?client=`
//! (its tokens stop working: the next request gets 401), `issue-token?client=` (a token
//! handed out of band, for hosts that manage their own), `fail-next-start?client=&code=`
//! (the next start is refused with that 400 code), `cut-next-start?client=` (the next
//! start is acted on, then its connection is closed without a reply), `cdr-off?client=`
//! (the app's call records are not found), `step-ms?client=&ms=` (the stage length of the
//! app's next calls, for slow hosts), `client?id=` (the app's counters, flat JSON),
//! `call?id=` (a call's stage and what the start asked for), `dedup?client=&on=1|0`,
//! `cdr-own-ids?client=`, `hold?id=&stage=initiating|ringing_a|a_answered|ringing_b|connected`
//! (the call stays at that stage, before or after where it was, until `release?id=`, then
//! plays on from there: a test sees each stage for as long as it needs, whatever the load).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::timeline::{Stage, Timeline, SECS_PER_STEP, TALK_STEPS};
use crate::util::{guid, magic, Counter, Magic};
use crate::{Module, SimRequest, SimResponse};

const DEFAULT_TTL_S: u64 = 3600;

#[derive(Default, Clone, Copy)]
struct AppCounters {
    requests: u64,
    token_fetches: u64,
    auth_failures: u64,
    calls_placed: u64,
    duplicate_starts: u64,
    /// Starts that carried a nonce already used and placed a call anyway.
    nonce_reuses: u64,
    cut_starts: u64,
    hangups: u64,
    delete_all: u64,
}

struct App {
    secret: String,
    ttl_s: u64,
    counters: AppCounters,
    /// nonce -> call id
    nonces: HashMap<String, String>,
    fail_next_start: Option<String>,
    cut_next_start: bool,
    cdr_off: bool,
    /// A repeated nonce returns the first call (off by default: no source says so).
    dedup: bool,
    /// The app's call records get ids of their own, not the PhoneCall's.
    cdr_own_ids: bool,
    /// Milliseconds per call stage for this app's calls (default: the simulator's).
    step_ms: Option<u64>,
}

struct SimCall {
    app: String,
    extension: String,
    sources: Vec<String>,
    destination: String,
    nonce: Option<String>,
    /// Index of the source that picks up, if one can.
    winner: Option<usize>,
    request: Value,
    timeline: Timeline,
    started: Instant,
    started_wall: SystemTime,
    step: Duration,
}

struct State {
    apps: HashMap<String, App>,
    /// token -> (client id, runs out at)
    tokens: HashMap<String, (String, Instant)>,
    calls: HashMap<String, SimCall>,
    /// Call ids in the order they were placed.
    order: Vec<String>,
}

pub struct VoipNow {
    step_ms: u64,
    state: Mutex<State>,
    requests: Counter,
    token_fetches: Counter,
    auth_failures: Counter,
    calls_placed: Counter,
    duplicate_starts: Counter,
    hangups: Counter,
    delete_all: Counter,
}

fn new_app(secret: String) -> App {
    App {
        secret,
        ttl_s: DEFAULT_TTL_S,
        counters: AppCounters::default(),
        nonces: HashMap::new(),
        fail_next_start: None,
        cut_next_start: false,
        cdr_off: false,
        dedup: false,
        cdr_own_ids: false,
        step_ms: None,
    }
}

fn error(status: u16, code: &str, message: &str) -> SimResponse {
    SimResponse::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// The documented text of each 400 code of the simple call.
fn code_text(code: &str) -> &'static str {
    match code {
        "extension_invalid" => "Value supplied in extension parameter is missing or invalid.",
        "pc_duration_invalid" => "Value supplied in callDuration parameter is missing or invalid.",
        "pc_source_invalid" => "Value supplied in source parameter is missing or invalid.",
        "pc_destination_invalid" => {
            "Value supplied in destination parameter is missing or invalid."
        }
        "pc_timeout_invalid" => "Value supplied in waitForPickup parameter is missing or invalid.",
        "pc_callerid_invalid" => {
            "Value supplied in callerId parameter is missing or invalid. The parameter must be set to a value with the format: John Doe <+3334444>."
        }
        "pc_transfer_invalid" => {
            "Value supplied in allowPublicTransfer parameter is missing or invalid."
        }
        "pc_nonce_invalid" => "Value supplied in nonce parameter is missing or invalid.",
        _ => "Invalid request.",
    }
}

fn is_extension(s: &str) -> bool {
    let ok = |p: &str| !p.is_empty() && p.len() <= 16 && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('*') {
        Some((org, ext)) => ok(org) && ok(ext),
        None => ok(s),
    }
}

/// A number the carrier accepts as a source or destination: a public number (digits,
/// optionally `+` or `00` in front), or an extended extension number.
fn plausible(n: &str) -> bool {
    if n.contains('*') {
        return is_extension(n);
    }
    let digits = n.strip_prefix('+').unwrap_or(n);
    (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn caller_id_ok(c: &str) -> bool {
    let Some((name, rest)) = c.split_once(" <") else {
        return false;
    };
    let Some(number) = rest.strip_suffix('>') else {
        return false;
    };
    let digits = number.strip_prefix('+').unwrap_or(number);
    !name.trim().is_empty()
        && !name.contains(['<', '>'])
        && (3..=20).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    let a = v?.as_array()?;
    a.iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .filter(|l| !l.is_empty())
}

fn short_id() -> String {
    let g = guid().replace('-', "").to_ascii_lowercase();
    g[g.len() - 20..].to_string()
}

/// The path's segments, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Closes the server's side of the connection from `peer` (both ways), so that the
/// client sees its connection end with no reply. tiny_http does not hand out its
/// sockets: the socket is found among the process's descriptors by its peer address
/// (Linux), and only shut down, never closed (tiny_http still owns the descriptor).
fn cut_connection(peer: SocketAddr) -> bool {
    use std::mem::ManuallyDrop;
    use std::net::{Shutdown, TcpStream};
    use std::os::fd::{FromRawFd, RawFd};
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    let mut done = false;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is a socket of this process; ManuallyDrop keeps it
        // open, and getpeername/shutdown do not take it over.
        let s = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        if s.peer_addr().ok() == Some(peer) {
            let _ = s.shutdown(Shutdown::Both);
            done = true;
        }
    }
    done
}

/// `2011-02-10T15:10:55Z`, the date form of the PhoneCall resource's `answered`.
fn iso_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// A number as the call records write it: digits, no `+` (CDR resource example,
/// `"source":"14141555"`; an extension number such as `0003*002` stays as it is).
fn record_number(n: &str) -> String {
    n.strip_prefix('+').unwrap_or(n).to_string()
}

impl SimCall {
    fn stage(&self) -> Stage {
        self.timeline.stage()
    }

    /// When A picked up: the end of the stage where A rings (two stages in).
    fn answered_at(&self) -> String {
        iso_date(self.started_wall + self.step * 2)
    }

    fn view(&self, source: &str, status: u32, answered: bool, secs: u32) -> Value {
        let mut v = json!({
            "source": [source],
            "destination": [self.destination],
            "status": status,
            "duration": secs,
        });
        // PhoneCallView table (wiki.4psa.com, VNUAPI30): "answered Date Yes The date the
        // source answered the call." What an unanswered view shows is not documented:
        // the field is left out.
        if answered {
            v["answered"] = json!(self.answered_at());
        }
        v
    }

    /// The live PhoneCall, or `None` once the call has ended.
    fn live(&self, id: &str) -> Option<Value> {
        let stage = self.stage();
        let winner = self
            .winner
            .and_then(|w| self.sources.get(w))
            .unwrap_or(&self.sources[0]);
        let all = |status: u32| -> Vec<Value> {
            self.sources
                .iter()
                .map(|s| self.view(s, status, false, 0))
                .collect()
        };
        let (views, answered) = match stage {
            Stage::Initiating => {
                let early = self.started.elapsed() < self.step / 2;
                (all(if early { 0 } else { 2 }), false)
            }
            Stage::RingingA => (all(3), false),
            Stage::AAnswered => (vec![self.view(winner, 1, true, 0)], true),
            Stage::RingingB => (vec![self.view(winner, 4, true, 0)], true),
            Stage::Connected { secs } => (vec![self.view(winner, 5, true, secs)], true),
            _ => return None,
        };
        // PhoneCalls Resource (wiki.4psa.com/display/VNUAPI30/PhoneCalls+Resource):
        // `{"id": ..., "nonce": "130c5a97768be67df6543b5f5fa3cc51", "extension":
        // "0003*210", ..., "answered": "2011-02-10T15:10:55Z", "phoneCallView": [...]}`:
        // the nonce and the answer date are on the PhoneCall.
        let mut pc = json!({
            "id": id,
            "extension": self.extension,
            "phoneCallView": views,
        });
        if let Some(n) = &self.nonce {
            pc["nonce"] = json!(n);
        }
        if answered {
            pc["answered"] = json!(self.answered_at());
        }
        Some(pc)
    }

    /// The call record once the call has ended, in the CDR resource's shape
    /// (wiki.4psa.com/display/VNUAPI30/CDR+Resource, and the Telphin PHP client that reads
    /// `$record->phoneCallView` -> `$view->duration`, `$view->disposition`): the
    /// disposition and duration are in the record's views, numbers are digits. No public
    /// example shows a cost or currency, so none is given.
    fn record(&self, id: &str, own_id: bool) -> Option<(String, Value)> {
        let stage = self.stage();
        let (disposition, secs) = match stage {
            Stage::Ended { secs, .. } => (0, secs),
            Stage::HungUp {
                secs,
                connected: true,
            } => (0, secs),
            Stage::HungUp { .. } | Stage::AbandonedByA => (3, 0),
            Stage::Failed { why, .. } => (
                match why {
                    Magic::Busy => 1,
                    Magic::NoAnswer => 3,
                    Magic::InsufficientFunds => 5,
                    _ => 2,
                },
                0,
            ),
            _ => return None,
        };
        let source = self
            .winner
            .and_then(|w| self.sources.get(w))
            .unwrap_or(&self.sources[0]);
        let record_id = if own_id {
            format!("r{}", &id[..id.len().min(19)])
        } else {
            id.to_string()
        };
        // The time field of a record is not shown in the public examples; `startDate`
        // is the name of the List CDR query parameter ("Date when the call was
        // answered") and is used here, as the start of the call.
        let record = json!({
            "id": record_id,
            "extension": self.extension,
            "phoneCallView": [{
                "source": record_number(source),
                "destination": record_number(&self.destination),
                "disposition": disposition,
                "duration": secs,
                "startDate": iso_date(self.started_wall),
            }],
        });
        Some((record_id, record))
    }
}

fn collection(entries: Vec<Value>) -> SimResponse {
    let n = entries.len();
    SimResponse::json(
        200,
        &json!({"startIndex": 0, "itemsPerPage": n, "totalResults": n, "entry": entries}),
    )
}

impl VoipNow {
    pub fn new(step_ms: u64) -> Self {
        let mut apps = HashMap::new();
        apps.insert("demo".to_string(), new_app("demo-secret".to_string()));
        VoipNow {
            step_ms,
            state: Mutex::new(State {
                apps,
                tokens: HashMap::new(),
                calls: HashMap::new(),
                order: Vec::new(),
            }),
            requests: Counter::default(),
            token_fetches: Counter::default(),
            auth_failures: Counter::default(),
            calls_placed: Counter::default(),
            duplicate_starts: Counter::default(),
            hangups: Counter::default(),
            delete_all: Counter::default(),
        }
    }

    fn app<'s>(state: &'s mut State, id: &str) -> Option<&'s mut App> {
        if !state.apps.contains_key(id) && id.starts_with("test") {
            state
                .apps
                .insert(id.to_string(), new_app(format!("secret-{id}")));
        }
        state.apps.get_mut(id)
    }

    fn issue(state: &mut State, client: &str, ttl_s: u64) -> String {
        let token = format!("{}{}", guid(), guid())
            .replace('-', "")
            .to_ascii_lowercase();
        state.tokens.insert(
            token.clone(),
            (
                client.to_string(),
                Instant::now() + Duration::from_secs(ttl_s),
            ),
        );
        token
    }

    fn token(&self, req: &SimRequest) -> SimResponse {
        if req.method != "POST" {
            return SimResponse::json(405, &json!({"error": "invalid_request"}));
        }
        if req.form_param("grant_type").as_deref() != Some("client_credentials") {
            return SimResponse::json(
                400,
                &json!({"error": "unsupported_grant_type", "error_description": "Only client_credentials is supported"}),
            );
        }
        if req.form_param("type").is_some_and(|t| t != "unifiedapi") {
            return SimResponse::json(
                400,
                &json!({"error": "invalid_request", "error_description": "type must be unifiedapi"}),
            );
        }
        let id = req.form_param("client_id").unwrap_or_default();
        let secret = req.form_param("client_secret").unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        let ttl = match Self::app(&mut state, &id) {
            Some(app) if app.secret == secret => {
                app.counters.token_fetches += 1;
                app.ttl_s
            }
            other => {
                if let Some(app) = other {
                    app.counters.auth_failures += 1;
                }
                self.auth_failures.add();
                return SimResponse::json(
                    401,
                    &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
                );
            }
        };
        self.token_fetches.add();
        let token = Self::issue(&mut state, &id, ttl);
        SimResponse::json(
            200,
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl}),
        )
    }

    /// The app a request's bearer token belongs to.
    fn bearer(&self, state: &mut State, req: &SimRequest) -> Result<String, SimResponse> {
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        match state.tokens.get(token) {
            Some((client, until)) if Instant::now() < *until => Ok(client.clone()),
            found => {
                if let Some((client, _)) = found {
                    let client = client.clone();
                    if let Some(app) = state.apps.get_mut(&client) {
                        app.counters.auth_failures += 1;
                    }
                }
                self.auth_failures.add();
                Err(error(
                    401,
                    "unauthorized",
                    "The access token is missing, invalid or expired.",
                ))
            }
        }
    }

    fn start(&self, state: &mut State, client: &str, req: &SimRequest) -> SimResponse {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "invalid_request", "The payload is not JSON.");
        };
        let refuse = |code: &str| error(400, code, code_text(code));
        let forced = state
            .apps
            .get_mut(client)
            .and_then(|a| a.fail_next_start.take());
        if let Some(code) = forced {
            return refuse(&code);
        }
        let extension = body.get("extension").and_then(Value::as_str).unwrap_or("");
        if !is_extension(extension) || extension == "404" {
            return refuse("extension_invalid");
        }
        let view = body
            .get("phoneCallView")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::Null);
        let Some(sources) = string_list(view.get("source"))
            .filter(|l| l.iter().all(|n| plausible(n) && magic(n) != Magic::Invalid))
        else {
            return refuse("pc_source_invalid");
        };
        let destination = match string_list(view.get("destination")) {
            Some(d) if d.len() == 1 && plausible(&d[0]) && magic(&d[0]) != Magic::Invalid => {
                d[0].clone()
            }
            _ => return refuse("pc_destination_invalid"),
        };
        // `callerIdDestination` is the UAPI 3 document's name ("The caller name and number.
        // It is displayed to the destination."); 4PSA's current client (4psa/mcp-voipnow,
        // calls/src/tools/phone-calls-create.ts) sends `callerDestination`. Both are read.
        for field in ["callerId", "callerIdDestination", "callerDestination"] {
            match view.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(c)) if caller_id_ok(c) => {}
                Some(_) => return refuse("pc_callerid_invalid"),
            }
        }
        let positive = |v: &str| v.parse::<u32>().is_ok_and(|n| n > 0);
        let wait = req.query_param("waitForPickup");
        if wait.as_deref().is_some_and(|w| !positive(w)) {
            return refuse("pc_timeout_invalid");
        }
        let duration = req.query_param("callDuration");
        if duration.as_deref().is_some_and(|d| !positive(d)) {
            return refuse("pc_duration_invalid");
        }
        let transfer = req.query_param("allowPublicTransfer");
        if transfer
            .as_deref()
            .is_some_and(|t| t != "true" && t != "false")
        {
            return refuse("pc_transfer_invalid");
        }
        // PhoneCalls Resource: "PhoneCall specific fields ... nonce String", shown on the
        // PhoneCall beside `extension`; 4PSA's client sends `{ extension, phoneCallView:
        // [...], nonce }`. A nonce inside a view is not a PhoneCall field and is ignored.
        // The field is optional: the document's examples and 4PSA's samples send none.
        // Only a nonce that is there and not a string (or an empty one) is
        // `pc_nonce_invalid` ("missing or invalid").
        let nonce = match body.get("nonce") {
            None | Some(Value::Null) => None,
            Some(Value::String(n))
                if !n.is_empty()
                    && n.len() <= 128
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(n.clone())
            }
            Some(_) => return refuse("pc_nonce_invalid"),
        };
        let user = segments(&req.path)
            .get(3)
            .cloned()
            .unwrap_or_else(|| "@me".into());
        let (dedup, earlier) = match (state.apps.get(client), &nonce) {
            (Some(a), Some(n)) => (a.dedup, a.nonces.get(n).cloned()),
            (Some(a), None) => (a.dedup, None),
            _ => (false, None),
        };
        if let Some(id) = earlier.clone().filter(|_| dedup) {
            // De-duplication is documented nowhere ("nonce: A unique string which allows
            // to identify the call created based on the request"): only with the switch
            // on does a repeat get the first call back.
            self.duplicate_starts.add();
            if let Some(app) = state.apps.get_mut(client) {
                app.counters.duplicate_starts += 1;
            }
            let ext = state.calls.get(&id).map(|c| c.extension.clone());
            return placed_reply(&user, &ext.unwrap_or_default(), &id);
        }
        let winner = sources.iter().position(|s| magic(s) == Magic::Normal);
        let a_magic = match winner {
            Some(_) => Magic::Normal,
            None => magic(&sources[0]),
        };
        let talk_steps = duration
            .as_deref()
            .and_then(|d| d.parse::<u64>().ok())
            .map(|d| d.div_ceil(u64::from(SECS_PER_STEP)).clamp(1, TALK_STEPS))
            .unwrap_or(TALK_STEPS);
        let id = short_id();
        let Some(app) = state.apps.get_mut(client) else {
            return error(401, "unauthorized", "Unknown app.");
        };
        let cut = std::mem::take(&mut app.cut_next_start);
        let step_ms = app.step_ms.unwrap_or(self.step_ms);
        if let Some(n) = &nonce {
            if earlier.is_some() {
                app.counters.nonce_reuses += 1;
            } else {
                app.nonces.insert(n.clone(), id.clone());
            }
        }
        app.counters.calls_placed += 1;
        if cut {
            app.counters.cut_starts += 1;
        }
        self.calls_placed.add();
        let request = json!({
            "user": user,
            "extension": extension,
            "source": sources,
            "destination": destination,
            "callerId": view.get("callerId"),
            "callerIdDestination": view.get("callerIdDestination"),
            "callerDestination": view.get("callerDestination"),
            "viewNonce": view.get("nonce"),
            "nonce": nonce,
            "waitForPickup": wait,
            "callDuration": duration,
            "allowPublicTransfer": transfer,
            "video": req.query_param("video"),
        });
        state.calls.insert(
            id.clone(),
            SimCall {
                app: client.to_string(),
                extension: extension.to_string(),
                sources,
                destination: destination.clone(),
                nonce: nonce.clone(),
                winner,
                request,
                timeline: Timeline::new(step_ms, a_magic, magic(&destination))
                    .with_talk_steps(talk_steps),
                started: Instant::now(),
                started_wall: SystemTime::now(),
                step: Duration::from_millis(step_ms),
            },
        );
        state.order.push(id.clone());
        if cut {
            if let Some(peer) = req.remote {
                if cut_connection(peer) {
                    return SimResponse::text(500, "the connection was cut");
                }
            }
        }
        placed_reply(&user, extension, &id)
    }

    fn phone_calls(&self, state: &mut State, client: &str, req: &SimRequest) -> SimResponse {
        // /uapi/phoneCalls/{user}/{extension}[/{id}]
        let segs = segments(&req.path);
        let (Some(_user), Some(extension)) = (segs.get(3), segs.get(4)) else {
            return error(404, "not_found", "No such resource.");
        };
        let id = segs.get(5).filter(|s| !s.is_empty()).cloned();
        let extension = extension.clone();
        match (req.method.as_str(), id) {
            ("GET", Some(id)) => match state.calls.get(&id) {
                Some(c) if c.app == client && c.extension == extension => {
                    collection(c.live(&id).into_iter().collect())
                }
                _ => error(404, "pc_not_found", "The phone call does not exist."),
            },
            ("GET", None) => {
                let live = state
                    .order
                    .iter()
                    .filter_map(|id| {
                        let c = state.calls.get(id)?;
                        (c.app == client && c.extension == extension)
                            .then(|| c.live(id))
                            .flatten()
                    })
                    .collect();
                collection(live)
            }
            ("DELETE", Some(id)) => match state.calls.get_mut(&id) {
                Some(c) if c.app == client && c.extension == extension => {
                    if c.timeline.hang_up() {
                        self.hangups.add();
                        if let Some(app) = state.apps.get_mut(client) {
                            app.counters.hangups += 1;
                        }
                        SimResponse::json(200, &json!([{"id": id}]))
                    } else {
                        SimResponse::new(204, "application/json", "")
                    }
                }
                _ => error(404, "pc_not_found", "The phone call does not exist."),
            },
            ("DELETE", None) => {
                // Hangs up every call on the extension, as the carrier does.
                self.delete_all.add();
                if let Some(app) = state.apps.get_mut(client) {
                    app.counters.delete_all += 1;
                }
                let mut ids = Vec::new();
                for (id, c) in state.calls.iter_mut() {
                    if c.app == client && c.extension == extension && c.timeline.hang_up() {
                        ids.push(json!({"id": id}));
                    }
                }
                if ids.is_empty() {
                    SimResponse::new(204, "application/json", "")
                } else {
                    SimResponse::json(200, &Value::Array(ids))
                }
            }
            _ => error(405, "method_not_allowed", "Method not allowed."),
        }
    }

    fn cdr(&self, state: &State, client: &str, req: &SimRequest) -> SimResponse {
        let Some(app) = state.apps.get(client) else {
            return cdr_collection(Vec::new());
        };
        if app.cdr_off {
            return cdr_collection(Vec::new());
        }
        // List CDR (wiki.4psa.com/display/VNUAPI30/List+CDR): `destination` "The number
        // that received the call", `count` "Maximum possible value is 5000. Default: 20".
        // Whether the filter is matched literally or normalised is unknown: literally
        // against the record's number form (digits, no `+`).
        let destination = req.query_param("destination");
        let count = req
            .query_param("count")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(20)
            .min(5000);
        let records = state
            .order
            .iter()
            .rev()
            .filter_map(|id| {
                let c = state.calls.get(id)?;
                if c.app != client
                    || destination
                        .as_ref()
                        .is_some_and(|d| *d != record_number(&c.destination))
                {
                    return None;
                }
                c.record(id, app.cdr_own_ids)
            })
            .take(count)
            .collect();
        cdr_collection(records)
    }
}

/// CDR resource: `{"entry": {"53bec7de3c242d5f87e5": {"id": "53bec7de3c242d5f87e5", ...},
/// ...}, "totalResults": 34922, "phoneCallStat": [...]}`: the entries are an object
/// keyed by record id (here in key order).
fn cdr_collection(records: Vec<(String, Value)>) -> SimResponse {
    let n = records.len();
    let entry: serde_json::Map<String, Value> = records.into_iter().collect();
    SimResponse::json(
        200,
        &json!({"entry": entry, "totalResults": n, "phoneCallStat": []}),
    )
}

fn placed_reply(user: &str, extension: &str, id: &str) -> SimResponse {
    SimResponse::json(
        202,
        &json!([{
            "id": id,
            "extension": extension,
            "link": {"self": format!("/uapi/phoneCalls/{user}/{extension}/{id}")},
        }]),
    )
}

fn counters_json(c: &AppCounters) -> Value {
    json!({
        "requests": c.requests,
        "token_fetches": c.token_fetches,
        "auth_failures": c.auth_failures,
        "calls_placed": c.calls_placed,
        "duplicate_starts": c.duplicate_starts,
        "nonce_reuses": c.nonce_reuses,
        "cut_starts": c.cut_starts,
        "hangups": c.hangups,
        "delete_all": c.delete_all,
    })
}

impl Module for VoipNow {
    fn name(&self) -> &'static str {
        "voipnow"
    }

    fn matches(&self, path: &str) -> bool {
        path == "/oauth/token.php" || path.starts_with("/uapi/")
    }

    fn handle(&self, req: &SimRequest) -> SimResponse {
        self.requests.add();
        if req.path == "/oauth/token.php" {
            return self.token(req);
        }
        let mut state = self.state.lock().unwrap();
        let client = match self.bearer(&mut state, req) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        if let Some(app) = state.apps.get_mut(&client) {
            app.counters.requests += 1;
        }
        // 4PSA's current client (4psa/mcp-voipnow) ends every path with `/`
        // (`/uapi/phoneCalls/@me/simple/`): a trailing slash names the same resource.
        let path = req.path.as_str();
        if path.starts_with("/uapi/phoneCalls/")
            && (path.ends_with("/simple") || path.ends_with("/simple/"))
        {
            if req.method != "POST" {
                return error(405, "method_not_allowed", "Method not allowed.");
            }
            return self.start(&mut state, &client, req);
        }
        if path.starts_with("/uapi/phoneCalls/") {
            return self.phone_calls(&mut state, &client, req);
        }
        if path.starts_with("/uapi/cdr/") && req.method == "GET" {
            return self.cdr(&state, &client, req);
        }
        error(404, "not_found", "No such resource.")
    }

    fn control(&self, action: &str, req: &SimRequest) -> Option<SimResponse> {
        let mut state = self.state.lock().unwrap();
        let ok = || SimResponse::text(200, "ok");
        match action {
            "token-ttl" => {
                let client = req.query_param("client")?;
                let s: u64 = req.query_param("seconds")?.parse().ok()?;
                Self::app(&mut state, &client)?.ttl_s = s.max(1);
                Some(ok())
            }
            "revoke" => {
                let client = req.query_param("client")?;
                // Kept (run out now) so that the refusals still count for the app.
                let now = Instant::now();
                for (c, until) in state.tokens.values_mut() {
                    if *c == client {
                        *until = now;
                    }
                }
                Some(ok())
            }
            "issue-token" => {
                let client = req.query_param("client")?;
                let ttl = Self::app(&mut state, &client)?.ttl_s;
                let token = Self::issue(&mut state, &client, ttl);
                Some(SimResponse::json(
                    200,
                    &json!({"access_token": token, "expires_in": ttl}),
                ))
            }
            "fail-next-start" => {
                let client = req.query_param("client")?;
                let code = req.query_param("code")?;
                Self::app(&mut state, &client)?.fail_next_start = Some(code);
                Some(ok())
            }
            "cut-next-start" => {
                let client = req.query_param("client")?;
                Self::app(&mut state, &client)?.cut_next_start = true;
                Some(ok())
            }
            "step-ms" => {
                let client = req.query_param("client")?;
                let ms: u64 = req.query_param("ms")?.parse().ok()?;
                Self::app(&mut state, &client)?.step_ms = Some(ms);
                Some(ok())
            }
            "dedup" => {
                let client = req.query_param("client")?;
                let on = req.query_param("on").is_none_or(|v| v != "0");
                Self::app(&mut state, &client)?.dedup = on;
                Some(ok())
            }
            "cdr-own-ids" => {
                let client = req.query_param("client")?;
                Self::app(&mut state, &client)?.cdr_own_ids = true;
                Some(ok())
            }
            "cdr-off" => {
                let client = req.query_param("client")?;
                Self::app(&mut state, &client)?.cdr_off = true;
                Some(ok())
            }
            // A test control, not the carrier's: `hold?id=C&stage=S` keeps call C at stage S
            // (ringing_a, a_answered, ringing_b, connected) until `release?id=C`.
            "hold" => {
                let id = req.query_param("id")?;
                let steps = match req.query_param("stage")?.as_str() {
                    "initiating" => 0,
                    "ringing_a" => 1,
                    "a_answered" => 2,
                    "ringing_b" => 3,
                    "connected" => 4,
                    _ => return None,
                };
                state.calls.get_mut(&id)?.timeline.hold(steps);
                Some(ok())
            }
            "release" => {
                let id = req.query_param("id")?;
                state.calls.get_mut(&id)?.timeline.release();
                Some(ok())
            }
            "client" => {
                let client = req.query_param("id")?;
                let app = Self::app(&mut state, &client)?;
                Some(SimResponse::json(200, &counters_json(&app.counters)))
            }
            "call" => {
                let id = req.query_param("id")?;
                let c = state.calls.get(&id)?;
                let stage = match c.stage() {
                    Stage::Initiating => "initiating",
                    Stage::RingingA => "ringing_a",
                    Stage::AAnswered => "a_answered",
                    Stage::RingingB => "ringing_b",
                    Stage::Connected { .. } => "connected",
                    Stage::Ended { .. } => "ended",
                    Stage::Failed { .. } => "failed",
                    Stage::AbandonedByA => "abandoned",
                    Stage::HungUp { .. } => "hung_up",
                };
                let winner = c.winner.and_then(|w| c.sources.get(w)).cloned();
                let mut v = c.request.clone();
                v["stage"] = json!(stage);
                v["secs"] = json!(c.stage().secs());
                v["winner"] = json!(winner);
                Some(SimResponse::json(200, &v))
            }
            _ => None,
        }
    }

    fn stats(&self) -> Value {
        let state = self.state.lock().unwrap();
        let clients: serde_json::Map<String, Value> = state
            .apps
            .iter()
            .map(|(id, a)| (id.clone(), counters_json(&a.counters)))
            .collect();
        json!({
            "requests": self.requests.get(),
            "token_fetches": self.token_fetches.get(),
            "auth_failures": self.auth_failures.get(),
            "calls_placed": self.calls_placed.get(),
            "duplicate_starts": self.duplicate_starts.get(),
            "hangups": self.hangups.get(),
            "delete_all": self.delete_all.get(),
            "clients": clients,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_caller_ids() {
        assert!(plausible("+491711234567"));
        assert!(plausible("0003*210"));
        assert!(!plausible("+49 171"));
        assert!(caller_id_ok("John Doe <+3334444>"));
        assert!(caller_id_ok("John Doe <4242425>"));
        assert!(!caller_id_ok("<+3334444>"));
        assert!(!caller_id_ok("John Doe +3334444"));
        assert_eq!(
            segments("/uapi/phoneCalls/@me/0003%2A210/a%2Fb")[4],
            "0003*210"
        );
        assert_eq!(segments("/uapi/phoneCalls/@me/0003%2A210/a%2Fb")[5], "a/b");
    }
}
