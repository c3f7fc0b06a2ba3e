//! business-isp Connect Call (`connectcall.aspx`) as its document describes it: a login
//! that places the first call and returns a session GUID, then `getStatus`, `hangUp`,
//! `connect` (the next call in the same session) and `end` (log out) on that GUID. Every
//! reply is `<response><code/><message/></response>`, sent with an XML declaration,
//! CRLF line ends and indentation, as an ASP.NET page would.
//!
//! Any path that ends in `/connectcall.aspx` is served (the carrier gives some customers
//! a custom API path). Parameters are read from the query (and from a form body on POST).
//!
//! Accounts: `demo` / `demo-secret`, `broke` / `broke-secret` (every call ends with status
//! 16, insufficient funds), `leak` / `Pä$$ w&rd=1%+?` (a password full of characters that
//! need encoding), and any login starting with `test` with the password `secret-<login>`.
//! A wrong password is answered 102 with a message that echoes the request, password
//! included, as a careless server might: the library must blank it out.
//!
//! Status codes by stage (type 1, source first): before the first event `3` (Unknown) —
//! or, for a call placed with `connect`, the previous call's final code, as a server that
//! keeps the last status until the new call's first event would —, then `27` source
//! alerting, `28` source connected, `26` destination alerting, `29` destination connected,
//! `30` destination ended (the natural end), `4` after `hangUp`. Type 2 (both at once):
//! `27`, `26`, `28`, `29`. Magic numbers (last three digits): `486` → `10` busy, `408` →
//! `11` no answer, `603` → `12` rejected, `404` → `24`/`25` wrong source/destination,
//! `402` → `32`/`33` source/destination has insufficient funds.
//!
//! Sessions: `connect` while the session's call is up is refused (`101`); `end` removes
//! the session (and hangs up a call still up); a session unused for 30 minutes expires;
//! an unknown or expired GUID is answered `102` AutorizationFailed.
//!
//! Controls (`/_sim/connectcall/...`): `expire?login=U` (or `?guid=G`, or nothing: all)
//! expires sessions; `force?login=U&code=N` makes U's latest session report status N
//! (no `code`: back to the timeline; after `hangUp` it reports 4); `fault?login=U&mode=M&count=N`
//! spoils the replies of U's next N requests after serving them (`garbage`: an HTML error
//! page, `nocode`: XML without `<code>`, `http500`, `slow`: 3 s late);
//! `pace?login=U&step_ms=N` sets the speed of U's next calls (no `step_ms`: the
//! simulator's; a large N holds them at their start); `account?login=U`
//! shows U's counters; `session?login=U` shows U's latest session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::timeline::{Stage, Timeline};
use crate::util::{guid, magic, Counter, Magic};
use crate::{Module, SimRequest, SimResponse};

/// A session unused for this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// How late a `slow` fault answers.
const SLOW: Duration = Duration::from_secs(3);
/// The password of the `leak` account.
pub const LEAK_PASSWORD: &str = "Pä$$ w&rd=1%+?";

/// Status codes that end a call.
const FINAL_CODES: &[u32] = &[4, 7, 10, 11, 12, 16, 24, 25, 30, 31, 32, 33];

fn description(code: u32) -> &'static str {
    match code {
        3 => "Unknown",
        4 => "Hang Up",
        5 => "Account State",
        7 => "Call ended because of insufficient funds",
        9 => "Clients connected",
        10 => "Busy",
        11 => "No answer",
        12 => "Call has been rejected",
        16 => "Insufficient funds",
        24 => "Wrong source number",
        25 => "Wrong destination number",
        26 => "Destination is alerting",
        27 => "Source is alerting",
        28 => "Source number connected",
        29 => "Destination number connected",
        30 => "Destination number ended the call",
        31 => "Source number ended the call",
        32 => "Source number has insufficient funds",
        33 => "Destination number has insufficient funds",
        _ => "",
    }
}

struct SimCall {
    timeline: Timeline,
    a: Magic,
    b: Magic,
    connect_type: u32,
    /// The previous call's final code, reported until this call's first event.
    leftover: Option<u32>,
    broke: bool,
}

impl SimCall {
    /// The code `getStatus` reports now.
    fn code(&self) -> u32 {
        match self.timeline.stage() {
            Stage::Initiating => self.leftover.unwrap_or(3),
            _ => self.true_code(),
        }
    }

    /// The code that says where the call really is (no leftover).
    fn true_code(&self) -> u32 {
        let stage = self.timeline.stage();
        if let Stage::HungUp { .. } = stage {
            return 4;
        }
        if stage != Stage::Initiating {
            if self.broke {
                return 16;
            }
            if self.a == Magic::InsufficientFunds {
                return 32;
            }
            if self.b == Magic::InsufficientFunds
                && matches!(stage, Stage::Connected { .. } | Stage::Ended { .. })
            {
                return 33;
            }
        }
        let both = self.connect_type == 2;
        match stage {
            Stage::Initiating => 3,
            Stage::RingingA => 27,
            Stage::AAnswered if both => 26,
            Stage::AAnswered => 28,
            Stage::RingingB if both => 28,
            Stage::RingingB => 26,
            Stage::Connected { .. } => 29,
            Stage::Ended { by_a: true, .. } | Stage::AbandonedByA => 31,
            Stage::Ended { .. } => 30,
            Stage::Failed { leg_b, why } => match why {
                Magic::Busy => 10,
                Magic::NoAnswer => 11,
                Magic::Rejected => 12,
                Magic::Invalid if leg_b => 25,
                Magic::Invalid => 24,
                Magic::InsufficientFunds if leg_b => 33,
                Magic::InsufficientFunds => 32,
                Magic::Normal => 3,
            },
            Stage::HungUp { .. } => 4,
        }
    }
}

struct Session {
    login: String,
    /// Order of creation, to find a login's latest session.
    serial: u64,
    last_used: Instant,
    calls: u32,
    call: SimCall,
    forced: Option<u32>,
}

impl Session {
    fn code(&self) -> u32 {
        self.forced.unwrap_or_else(|| self.call.code())
    }
    fn call_up(&self) -> bool {
        let code = self.forced.unwrap_or_else(|| self.call.true_code());
        !FINAL_CODES.contains(&code)
    }
}

#[derive(Default, Clone, Serialize)]
struct AccountStats {
    logins: u64,
    login_failures: u64,
    calls_placed: u64,
    connects: u64,
    connects_refused: u64,
    hangups: u64,
    ends: u64,
    status_requests: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Garbage,
    NoCode,
    Http500,
    Slow,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    accounts: HashMap<String, AccountStats>,
    faults: HashMap<String, (Fault, u32)>,
    /// Per-login call speed (ms per stage), overriding the simulator's.
    pace: HashMap<String, u64>,
    serial: u64,
}

pub struct ConnectCall {
    step_ms: u64,
    state: Mutex<State>,
    requests: Counter,
    logins: Counter,
    login_failures: Counter,
    calls_placed: Counter,
    connects: Counter,
    connects_refused: Counter,
    hangups: Counter,
    ends: Counter,
    status_requests: Counter,
    expired: Counter,
    /// Requests naming a GUID the simulator does not know (ended, expired or made up).
    unknown_guid: Counter,
}

fn password_of(login: &str) -> Option<String> {
    match login {
        "demo" => Some("demo-secret".into()),
        "broke" => Some("broke-secret".into()),
        "leak" => Some(LEAK_PASSWORD.into()),
        l if l.starts_with("test") => Some(format!("secret-{l}")),
        _ => None,
    }
}

/// A carrier-side number check: digits only (an optional leading `+`), 6 to 20 of them.
fn plausible(n: &str) -> bool {
    let d = n.strip_prefix('+').unwrap_or(n);
    (6..=20).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A reply as the carrier writes it (the document's `<response>` with `code` and
/// `message`); public so that a test can arm one for a request it answers itself.
pub fn xml(code: u32, message: &str) -> SimResponse {
    SimResponse::new(
        200,
        "text/xml; charset=utf-8",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<response>\r\n  <code>{code}</code>\r\n  <message>{}</message>\r\n</response>\r\n",
            escape(message)
        ),
    )
}

struct Call {
    source: String,
    dest: String,
    connect_type: u32,
}

/// Reads `source`, `dest` and `type`, or says why not (a 104 reply).
fn call_params(p: &HashMap<String, String>) -> Result<Call, SimResponse> {
    let wrong = || xml(104, "WrongParameters");
    let source = p.get("source").filter(|s| plausible(s)).ok_or_else(wrong)?;
    let dest = p.get("dest").filter(|s| plausible(s)).ok_or_else(wrong)?;
    let connect_type = match p.get("type").map(String::as_str) {
        Some("1") => 1,
        Some("2") => 2,
        _ => return Err(wrong()),
    };
    Ok(Call {
        source: source.clone(),
        dest: dest.clone(),
        connect_type,
    })
}

impl ConnectCall {
    pub fn new(step_ms: u64) -> Self {
        ConnectCall {
            step_ms,
            state: Mutex::new(State::default()),
            requests: Counter::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            calls_placed: Counter::default(),
            connects: Counter::default(),
            connects_refused: Counter::default(),
            hangups: Counter::default(),
            ends: Counter::default(),
            status_requests: Counter::default(),
            expired: Counter::default(),
            unknown_guid: Counter::default(),
        }
    }

    fn new_call(&self, step_ms: u64, c: &Call, leftover: Option<u32>, broke: bool) -> SimCall {
        let (a, b) = (magic(&c.source), magic(&c.dest));
        SimCall {
            timeline: Timeline::new(step_ms, a, b),
            a,
            b,
            connect_type: c.connect_type,
            leftover,
            broke,
        }
    }

    fn expire_idle(&self, st: &mut State) {
        let before = st.sessions.len();
        st.sessions
            .retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        for _ in st.sessions.len()..before {
            self.expired.add();
        }
    }

    fn login(&self, st: &mut State, p: &HashMap<String, String>, raw_query: &str) -> SimResponse {
        let login = p.get("login").cloned().unwrap_or_default();
        let password = p.get("password").cloned().unwrap_or_default();
        let account = st.accounts.entry(login.clone()).or_default();
        if password_of(&login).as_deref() != Some(password.as_str()) || login.is_empty() {
            account.login_failures += 1;
            self.login_failures.add();
            // A careless server's reply, echoing what it was sent.
            return xml(
                102,
                &format!("AutorizationFailed for login={login} password={password} (request: {raw_query})"),
            );
        }
        let call = match call_params(p) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        account.logins += 1;
        account.calls_placed += 1;
        self.logins.add();
        self.calls_placed.add();
        let id = guid();
        st.serial += 1;
        let session = Session {
            login: login.clone(),
            serial: st.serial,
            last_used: Instant::now(),
            calls: 1,
            call: self.new_call(
                st.pace.get(&login).copied().unwrap_or(self.step_ms),
                &call,
                None,
                login == "broke",
            ),
            forced: None,
        };
        st.sessions.insert(id.clone(), session);
        xml(103, &id)
    }

    fn command(&self, st: &mut State, guid: &str, p: &HashMap<String, String>) -> SimResponse {
        let Some(session) = st.sessions.get_mut(guid) else {
            self.unknown_guid.add();
            return xml(102, "AutorizationFailed");
        };
        session.last_used = Instant::now();
        let login = session.login.clone();
        let step_ms = st.pace.get(&login).copied().unwrap_or(self.step_ms);
        let account = st.accounts.entry(login.clone()).or_default();
        let session = st.sessions.get_mut(guid).expect("looked up above");
        match p.get("cmd").map(String::as_str) {
            Some("getStatus") => {
                self.status_requests.add();
                account.status_requests += 1;
                let code = session.code();
                xml(code, description(code))
            }
            Some("hangUp") => {
                if !session.call_up() {
                    return xml(105, "NoChanges");
                }
                // A forced call hangs up as any other: it reports 4 from now on.
                if session.forced.is_some() {
                    session.forced = Some(4);
                }
                session.call.timeline.hang_up();
                self.hangups.add();
                account.hangups += 1;
                xml(100, "OK")
            }
            Some("connect") => {
                let call = match call_params(p) {
                    Ok(c) => c,
                    Err(resp) => return resp,
                };
                if session.call_up() {
                    self.connects_refused.add();
                    account.connects_refused += 1;
                    return xml(101, "Failed");
                }
                let leftover = session.forced.unwrap_or_else(|| session.call.true_code());
                session.call = self.new_call(step_ms, &call, Some(leftover), login == "broke");
                session.forced = None;
                session.calls += 1;
                self.connects.add();
                self.calls_placed.add();
                account.connects += 1;
                account.calls_placed += 1;
                xml(100, "OK")
            }
            Some("end") => {
                if let Some(mut s) = st.sessions.remove(guid) {
                    s.call.timeline.hang_up();
                }
                self.ends.add();
                account.ends += 1;
                xml(100, "OK")
            }
            _ => xml(104, "WrongParameters"),
        }
    }

    /// Takes one request's share of a login's pending fault.
    fn take_fault(&self, st: &mut State, login: &str) -> Option<Fault> {
        let entry = st.faults.get_mut(login)?;
        let fault = entry.0;
        entry.1 -= 1;
        if entry.1 == 0 {
            st.faults.remove(login);
        }
        Some(fault)
    }

    fn latest_session<'a>(st: &'a mut State, login: &str) -> Option<(&'a String, &'a mut Session)> {
        st.sessions
            .iter_mut()
            .filter(|(_, s)| s.login == login)
            .max_by_key(|(_, s)| s.serial)
    }
}

fn spoil(fault: Fault, resp: SimResponse) -> SimResponse {
    match fault {
        Fault::Garbage => SimResponse::new(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html>\r\n<html><head><title>Runtime Error</title></head><body><h1>Server Error in '/' Application.</h1></body></html>",
        ),
        Fault::NoCode => xml_without_code(),
        Fault::Http500 => SimResponse::new(
            500,
            "text/html; charset=utf-8",
            "<html><body>Internal Server Error</body></html>",
        ),
        Fault::Slow => {
            std::thread::sleep(SLOW);
            resp
        }
    }
}

fn xml_without_code() -> SimResponse {
    SimResponse::new(
        200,
        "text/xml; charset=utf-8",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<response>\r\n  <message>OK</message>\r\n</response>\r\n",
    )
}

impl Module for ConnectCall {
    fn name(&self) -> &'static str {
        "connectcall"
    }

    fn matches(&self, path: &str) -> bool {
        path.to_ascii_lowercase().ends_with("/connectcall.aspx")
    }

    fn handle(&self, req: &SimRequest) -> SimResponse {
        self.requests.add();
        let mut params: HashMap<String, String> = req.query().into_iter().collect();
        if req.method == "POST" {
            params.extend(req.form());
        }
        let (resp, fault) = {
            let mut st = self.state.lock().unwrap();
            self.expire_idle(&mut st);
            let (resp, login) = match params.get("guid") {
                Some(g) => {
                    let login = st.sessions.get(g).map(|s| s.login.clone());
                    (self.command(&mut st, g, &params), login)
                }
                None if params.contains_key("login") => (
                    self.login(&mut st, &params, &req.query_string),
                    params.get("login").cloned(),
                ),
                None => (xml(104, "WrongParameters"), None),
            };
            let fault = login.and_then(|l| self.take_fault(&mut st, &l));
            (resp, fault)
        };
        // Faults spoil the reply of a request that was served: the call, if any, is placed.
        match fault {
            Some(f) => spoil(f, resp),
            None => resp,
        }
    }

    fn control(&self, action: &str, req: &SimRequest) -> Option<SimResponse> {
        let mut st = self.state.lock().unwrap();
        match action {
            "expire" => {
                let login = req.query_param("login");
                let guid = req.query_param("guid");
                let before = st.sessions.len();
                st.sessions.retain(|g, s| match (&login, &guid) {
                    (Some(l), _) => &s.login != l,
                    (None, Some(id)) => g != id,
                    (None, None) => false,
                });
                let n = before - st.sessions.len();
                for _ in 0..n {
                    self.expired.add();
                }
                Some(SimResponse::json(200, &json!({ "expired": n })))
            }
            "force" => {
                let login = req.query_param("login")?;
                let code = match req.query_param("code") {
                    Some(c) if !c.is_empty() => Some(c.parse::<u32>().ok()?),
                    _ => None,
                };
                let Some((guid, session)) = Self::latest_session(&mut st, &login) else {
                    return Some(SimResponse::text(404, "no session for this login"));
                };
                session.forced = code;
                Some(SimResponse::json(
                    200,
                    &json!({ "guid": guid, "code": code }),
                ))
            }
            "fault" => {
                let login = req.query_param("login")?;
                let fault = match req.query_param("mode")?.as_str() {
                    "garbage" => Fault::Garbage,
                    "nocode" => Fault::NoCode,
                    "http500" => Fault::Http500,
                    "slow" => Fault::Slow,
                    _ => return None,
                };
                let count = req
                    .query_param("count")
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(1);
                if count == 0 {
                    st.faults.remove(&login);
                } else {
                    st.faults.insert(login, (fault, count));
                }
                Some(SimResponse::text(200, "ok"))
            }
            "pace" => {
                let login = req.query_param("login")?;
                match req.query_param("step_ms") {
                    Some(ms) => {
                        st.pace.insert(login, ms.parse().ok()?);
                    }
                    None => {
                        st.pace.remove(&login);
                    }
                }
                Some(SimResponse::text(200, "ok"))
            }
            "account" => {
                let login = req.query_param("login")?;
                let stats = st.accounts.get(&login).cloned().unwrap_or_default();
                let sessions = st.sessions.values().filter(|s| s.login == login).count();
                let mut v = serde_json::to_value(stats).unwrap_or_default();
                v["sessions"] = json!(sessions);
                Some(SimResponse::json(200, &v))
            }
            "session" => {
                let login = req.query_param("login")?;
                let Some((guid, s)) = Self::latest_session(&mut st, &login) else {
                    return Some(SimResponse::text(404, "no session for this login"));
                };
                Some(SimResponse::json(
                    200,
                    &json!({
                        "guid": guid,
                        "calls": s.calls,
                        "type": s.call.connect_type,
                        "code": s.code(),
                        "up": s.call_up(),
                    }),
                ))
            }
            _ => None,
        }
    }

    fn stats(&self) -> Value {
        let sessions = self.state.lock().map(|s| s.sessions.len()).unwrap_or(0);
        json!({
            "requests": self.requests.get(),
            "logins": self.logins.get(),
            "login_failures": self.login_failures.get(),
            "calls_placed": self.calls_placed.get(),
            "connects": self.connects.get(),
            "connects_refused": self.connects_refused.get(),
            "hangups": self.hangups.get(),
            "ends": self.ends.get(),
            "status_requests": self.status_requests.get(),
            "expired": self.expired.get(),
            "unknown_guid": self.unknown_guid.get(),
            "sessions": sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str) -> SimRequest {
        SimRequest {
            method: "GET".into(),
            path: "/api/connectcall.aspx".into(),
            query_string: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            remote: None,
        }
    }

    fn code_of(r: &SimResponse) -> u32 {
        let body = String::from_utf8(r.body.clone()).unwrap();
        let start = body.find("<code>").unwrap() + 6;
        let end = body.find("</code>").unwrap();
        body[start..end].parse().unwrap()
    }

    fn message_of(r: &SimResponse) -> String {
        let body = String::from_utf8(r.body.clone()).unwrap();
        let start = body.find("<message>").unwrap() + 9;
        let end = body.find("</message>").unwrap();
        body[start..end].to_string()
    }

    #[test]
    fn session_life() {
        let m = ConnectCall::new(60_000);
        let r = m.handle(&req(
            "login=demo&password=demo-secret&dest=0030123456&source=00491711234567&type=1",
        ));
        assert_eq!(code_of(&r), 103);
        let g = message_of(&r);
        let status = m.handle(&req(&format!("guid={g}&cmd=getStatus")));
        assert_eq!(code_of(&status), 3);
        // The call is up: connect is refused.
        let c = m.handle(&req(&format!(
            "guid={g}&cmd=connect&source=00491711234567&dest=0030123456&type=1"
        )));
        assert_eq!(code_of(&c), 101);
        assert_eq!(
            code_of(&m.handle(&req(&format!("guid={g}&cmd=hangUp")))),
            100
        );
        assert_eq!(
            code_of(&m.handle(&req(&format!("guid={g}&cmd=hangUp")))),
            105
        );
        assert_eq!(
            code_of(&m.handle(&req(&format!("guid={g}&cmd=getStatus")))),
            4
        );
        let c = m.handle(&req(&format!(
            "guid={g}&cmd=connect&source=00491711234567&dest=0030123456&type=1"
        )));
        assert_eq!(code_of(&c), 100);
        // Until its first event, the new call shows the previous call's final code.
        assert_eq!(
            code_of(&m.handle(&req(&format!("guid={g}&cmd=getStatus")))),
            4
        );
        assert_eq!(code_of(&m.handle(&req(&format!("guid={g}&cmd=end")))), 100);
        assert_eq!(
            code_of(&m.handle(&req(&format!("guid={g}&cmd=getStatus")))),
            102
        );
        assert_eq!(m.calls_placed.get(), 2);
        assert_eq!(m.logins.get(), 1);
    }

    #[test]
    fn wrong_password_and_parameters() {
        let m = ConnectCall::new(0);
        let r = m.handle(&req(
            "login=demo&password=nope&dest=0030123456&source=0049171&type=1",
        ));
        assert_eq!(code_of(&r), 102);
        let r = m.handle(&req(
            "login=demo&password=demo-secret&dest=x&source=0049171123&type=1",
        ));
        assert_eq!(code_of(&r), 104);
        let r = m.handle(&req(
            "login=demo&password=demo-secret&dest=0030123456&source=0049171123&type=3",
        ));
        assert_eq!(code_of(&r), 104);
        assert_eq!(m.calls_placed.get(), 0);
    }

    #[test]
    fn magic_codes() {
        let m = ConnectCall::new(0);
        for (source, dest, code) in [
            ("00491711234486", "0030123456", 10),
            ("00491711234567", "0030123408", 11),
            ("00491711234603", "0030123456", 12),
            ("00491711234404", "0030123456", 24),
            ("00491711234567", "0030123404", 25),
            ("00491711234402", "0030123456", 32),
            ("00491711234567", "0030123402", 33),
            ("00491711234567", "0030123456", 30),
        ] {
            let r = m.handle(&req(&format!(
                "login=test-m&password=secret-test-m&dest={dest}&source={source}&type=1"
            )));
            let g = message_of(&r);
            let s = m.handle(&req(&format!("guid={g}&cmd=getStatus")));
            assert_eq!(code_of(&s), code, "{source} {dest}");
        }
    }
}
