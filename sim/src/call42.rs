//! 42call REST v2 as its documents and 42com's own samples describe it: signed requests
//! (`x-date` in the documents' form or in ISO 8601, `x-authorization`), form-urlencoded
//! bodies, the `{error, codes, body}` envelope; `stopcallback` names the call by
//! `callerId`, the document's word.
//!
//! Accounts: `demo` / `demo-secret` (balance 18,40 EUR), `broke` / `broke-secret`
//! (balance 0), `nocard` / `nocard-secret` (not tied to a calling card: top-up says 1201),
//! and any user whose name starts with `test` with the password `secret-<user>` (created
//! on first use with 18,40 EUR, so that tests do not share balances).
//! PINs: a PIN of 6 or more digits that starts with `9` is worth 10,00 EUR, once.
//!
//! Account services (see `call42/services.rs`): `account`, `rates`, `cdrs`,
//! `cdr-callshop`, `v3/number-check`, `onlinecallthrough`, `voiplist` and the card module
//! `mycard-v2` (at `/api/rest/v2/?mycard-v2`, or any `/api/rest/v2/` path with the form
//! field `m=mycard-v2`). Calls are billed per second at the rate of the B number when
//! they end, and every ended call with talk time, and every SMS, leaves a call record
//! (in UTC). The card realm is `testRealm`, as in the carrier's documents.
//!
//! Controls: `/_sim/42call/skew?seconds=N` moves the simulator's clock;
//! `/_sim/42call/balance?user=U&amount=18.40` sets a balance;
//! `/_sim/42call/call?user=U&id=ID` shows a call's simulated stage;
//! `/_sim/42call/card?user=U&number=4917...` shows a card's state;
//! `/_sim/42call/balance_of?user=U` shows a balance in ten-thousandths.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{KeyInit, Mac};
use md5::Digest;
use serde_json::{json, Value};

use crate::timeline::{Stage, Timeline};
use crate::util::{fmt_amount, guid, magic, Counter, Magic};
use crate::{Module, SimRequest, SimResponse};
use services::{Card, Cdr};

mod services;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Seconds a signature stays valid, either way.
const WINDOW_S: i64 = 180;
const START_BALANCE: i64 = 184_000; // 18,40 in ten-thousandths
const SMS_PRICE: i64 = 900; // 0,09 per recipient
const PIN_VALUE: i64 = 100_000; // 10,00

pub(crate) struct Account {
    pub(crate) password: String,
    pub(crate) number: String,
    pub(crate) balance: i64,
    calls: HashMap<String, SimCall>,
    /// The calls not settled yet, by id: each request settles these only, so that its cost
    /// does not grow with every call the account ever placed.
    unsettled: Vec<String>,
    used_pins: HashSet<String>,
    pub(crate) customer_name: String,
    /// Call records, oldest first.
    pub(crate) cdrs: Vec<Cdr>,
    /// Calling cards by their number (international digits).
    pub(crate) cards: HashMap<String, Card>,
    /// The stored callthrough target (`act=store`).
    pub(crate) callthrough: (Option<String>, Option<String>),
}

struct SimCall {
    timeline: Timeline,
    started: SystemTime,
    a: String,
    b: String,
}

pub struct Call42 {
    step_ms: u64,
    skew_s: AtomicI64,
    accounts: Mutex<HashMap<String, Account>>,
    calls_placed: Counter,
    sms_sent: Counter,
    requests: Counter,
    auth_failures: Counter,
    pub(crate) cards_created: Counter,
    pub(crate) card_activations: Counter,
    /// Requests per account-service module (`rates`, `cdrs`, `mycard-v2/insert`, ...).
    pub(crate) module_requests: Mutex<HashMap<String, u64>>,
}

impl Call42 {
    pub fn new(step_ms: u64) -> Self {
        let mut accounts = HashMap::new();
        for (user, balance) in [
            ("demo", START_BALANCE),
            ("broke", 0),
            ("nocard", START_BALANCE),
        ] {
            accounts.insert(
                user.to_string(),
                new_account(user, &format!("{user}-secret"), balance),
            );
        }
        Call42 {
            step_ms,
            skew_s: AtomicI64::new(0),
            accounts: Mutex::new(accounts),
            calls_placed: Counter::default(),
            sms_sent: Counter::default(),
            requests: Counter::default(),
            auth_failures: Counter::default(),
            cards_created: Counter::default(),
            card_activations: Counter::default(),
            module_requests: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        let skew = self.skew_s.load(Ordering::SeqCst);
        if skew >= 0 {
            SystemTime::now() + Duration::from_secs(skew as u64)
        } else {
            SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
        }
    }

    /// Checks x-date and x-authorization; returns the user or the carrier's error reply.
    fn authenticate(&self, req: &SimRequest) -> Result<String, SimResponse> {
        let date = req.header("x-date").unwrap_or("");
        let auth = req.header("x-authorization").unwrap_or("");
        let Some((user, sig)) = auth.split_once(':') else {
            return Err(self.refuse(401, "Unauthorized"));
        };
        let password = {
            let mut accounts = self.accounts.lock().unwrap();
            if !accounts.contains_key(user) && user.starts_with("test") {
                accounts.insert(
                    user.to_string(),
                    new_account(user, &format!("secret-{user}"), START_BALANCE),
                );
            }
            match accounts.get(user) {
                Some(a) => a.password.clone(),
                None => return Err(self.refuse(401, "Unauthorized")),
            }
        };
        let key = md5_hex(&password);
        let mut mac = HmacSha1::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{key}\n{date}").as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if expected != sig {
            return Err(self.refuse(401, "Unauthorized"));
        }
        let Some(sent) = parse_x_date(date) else {
            return Err(self.refuse(401, "Unauthorized"));
        };
        let now = self.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        if sent < now - WINDOW_S {
            return Err(envelope_error(1011, "Date is too old"));
        }
        if sent > now + WINDOW_S {
            return Err(envelope_error(1012, "Date is in the future"));
        }
        Ok(user.to_string())
    }

    fn refuse(&self, code: u16, text: &str) -> SimResponse {
        self.auth_failures.add();
        let mut r = envelope_error(code as u32, text);
        r.status = code;
        r
    }

    /// Charges finished calls (once, per second at the B number's rate) and writes
    /// their call records.
    pub(crate) fn settle(&self, account: &mut Account) {
        let step = Duration::from_millis(self.step_ms);
        let mut ended: Vec<(SystemTime, Cdr)> = Vec::new();
        let calls = &account.calls;
        account.unsettled.retain(|id| {
            let Some(call) = calls.get(id) else {
                return false;
            };
            let stage = call.timeline.stage();
            if stage.is_final() {
                let secs = stage.secs();
                if secs == 0 {
                    return false;
                }
                let (_, name, per_minute) = services::rate(&services::intl(&call.b));
                let cost = services::per_second(per_minute, secs);
                account.balance -= cost;
                // Bridged after four stages (A rings, answers, B rings, bridge).
                let start = call.started + step * 4;
                ended.push((
                    start,
                    Cdr {
                        start: services::unix(start),
                        secs,
                        caller: call.a.clone(),
                        number: call.b.clone(),
                        destination: name.to_string(),
                        cost,
                        kind: "CALLBACK",
                    },
                ));
                return false;
            }
            true
        });
        ended.sort_by_key(|(t, _)| *t);
        account.cdrs.extend(ended.into_iter().map(|(_, c)| c));
    }

    pub(crate) fn reply(&self, user: &str, account: &Account, extra: Value) -> SimResponse {
        let mut body = json!({
            "customernumber": account.number,
            "accountnumber": account.number,
            "username": user,
            "customercurrency": "eur",
            "customeraccountstate": fmt_amount(account.balance, 2, true),
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            for (k, v) in e {
                b.insert(k, v);
            }
        }
        SimResponse::json(
            200,
            &json!({"error": false, "codes": [{"code": 200, "description": "OK"}], "body": body}),
        )
        .header("Date", &httpdate::fmt_http_date(self.now()))
    }

    /// Runs `f` on the account of `user` (which authenticate made sure exists), after
    /// settling its ended calls.
    pub(crate) fn with_account<T>(&self, user: &str, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(user).unwrap();
        self.settle(account);
        f(account)
    }

    fn webcallback(&self, user: &str, req: &SimRequest) -> SimResponse {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(user).unwrap();
        self.settle(account);
        match req.form_param("act").as_deref() {
            Some("trycallback") => {
                let (Some(a), Some(b)) = (req.form_param("aNumber"), req.form_param("bNumber"))
                else {
                    return envelope_error(404, "Bad resource: aNumber and bNumber are required");
                };
                if !plausible(&a) || !plausible(&b) {
                    return envelope_error(404, "Bad resource: not a phone number");
                }
                if account.balance <= 0
                    || magic(&a) == Magic::InsufficientFunds
                    || magic(&b) == Magic::InsufficientFunds
                {
                    return envelope_error(402, "Insufficient credit");
                }
                let id = guid();
                account.calls.insert(
                    id.clone(),
                    SimCall {
                        timeline: Timeline::new(self.step_ms, magic(&a), magic(&b)),
                        started: self.now(),
                        a: a.clone(),
                        b: b.clone(),
                    },
                );
                account.unsettled.push(id.clone());
                self.calls_placed.add();
                self.reply(
                    user,
                    account,
                    json!({"callId": id, "firstownnumber": null, "destinationnumber": null}),
                )
            }
            Some("stopcallback") => {
                // The only document (developer.42one.com/web-callback): "For identifying a
                // specific call you need to transmit the callerId in your request." No
                // public client sends stopcallback, so `callerId` is the one field read:
                // the value is the callId that trycallback returned.
                let id = req.form_param("callerId").unwrap_or_default();
                match account.calls.get_mut(&id) {
                    Some(call) => {
                        call.timeline.hang_up();
                        self.settle(account);
                        self.reply(user, account, json!({"callId": id}))
                    }
                    None => envelope_error(404, "Bad resource: no such call"),
                }
            }
            _ => envelope_error(404, "Bad resource: unknown act"),
        }
    }

    fn sms(&self, user: &str, req: &SimRequest) -> SimResponse {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(user).unwrap();
        self.settle(account);
        if req.form_param("act").as_deref() != Some("sendSms") {
            return envelope_error(404, "Bad resource: unknown act");
        }
        let numbers = req.form_param("phonenumbers").unwrap_or_default();
        let message = req.form_param("message").unwrap_or_default();
        let list: Vec<&str> = numbers.split('|').collect();
        if numbers.is_empty() || message.is_empty() || !list.iter().all(|n| plausible(n)) {
            return envelope_error(404, "Bad resource: phonenumbers and message are required");
        }
        let price = SMS_PRICE * list.len() as i64;
        if account.balance < price {
            return envelope_error(402, "Insufficient credit");
        }
        account.balance -= price;
        for n in &list {
            self.sms_sent.add();
            services::sms_record(account, self.now(), n, SMS_PRICE);
        }
        self.reply(user, account, json!({"smsbilledId": guid()}))
    }

    fn topup(&self, user: &str, req: &SimRequest) -> SimResponse {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(user).unwrap();
        self.settle(account);
        if user == "nocard" {
            return envelope_error(1201, "Account is not tied to a calling card");
        }
        let pin = req.form_param("pin").unwrap_or_default();
        let valid =
            pin.len() >= 6 && pin.starts_with('9') && pin.chars().all(|c| c.is_ascii_digit());
        if !valid || account.used_pins.contains(&pin) {
            return envelope_error(1200, "Personal Identification Number Not Valid");
        }
        account.used_pins.insert(pin);
        account.balance += PIN_VALUE;
        self.reply(user, account, json!({}))
    }
}

fn new_account(user: &str, password: &str, balance: i64) -> Account {
    static NEXT: AtomicI64 = AtomicI64::new(1234);
    let mut account = Account {
        password: password.to_string(),
        number: NEXT.fetch_add(1, Ordering::Relaxed).to_string(),
        balance,
        calls: HashMap::new(),
        unsettled: Vec::new(),
        used_pins: HashSet::new(),
        customer_name: if user == "demo" {
            "Demo Kunde".to_string()
        } else {
            format!("Kunde {user}")
        },
        cdrs: Vec::new(),
        cards: HashMap::new(),
        callthrough: (None, None),
    };
    if user == "demo" {
        services::seed_demo(&mut account);
    }
    account
}

/// A carrier-side number check: digits only, 6 to 20 of them.
pub(crate) fn plausible(n: &str) -> bool {
    (6..=20).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit())
}

pub(crate) fn envelope_error(code: u32, text: &str) -> SimResponse {
    SimResponse::json(
        200,
        &json!({"error": true, "codes": [{"code": code, "description": text}], "body": []}),
    )
}

pub fn md5_hex(s: &str) -> String {
    md5::Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An x-date -> Unix seconds. Two forms, both from 42com's own clients:
/// `2014-02-20 18:56:08.000000 GMT+0000` (the documents' examples and the PHP sample
/// mitchobrian/api.rest.v2.42com: `$xDate->format('Y-m-d H:i:s.u T')`) and ISO 8601 in
/// UTC, `2026-11-26T10:00:00.000Z` (the SMS web app mitchobrian/42call-sms and
/// eduardbader/42call-sms-Emberjs: `date.toISOString()`).
fn parse_x_date(s: &str) -> Option<i64> {
    let (date, time) = match s.strip_suffix(" GMT+0000") {
        Some(rest) => rest.split_once(' ')?,
        None => s.strip_suffix('Z')?.split_once('T')?,
    };
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (H. Hinnant), checked independently of the library's formatter.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

impl Module for Call42 {
    fn name(&self) -> &'static str {
        "42call"
    }

    fn matches(&self, path: &str) -> bool {
        path.starts_with("/api/rest/v2") || path.starts_with("/api/rest/v3")
    }

    fn handle(&self, req: &SimRequest) -> SimResponse {
        self.requests.add();
        let user = match self.authenticate(req) {
            Ok(u) => u,
            Err(resp) => return resp.header("Date", &httpdate::fmt_http_date(self.now())),
        };
        if req.method == "POST"
            && !req
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            return envelope_error(404, "Bad resource: the body must be form-urlencoded");
        }
        // `?webcallback`, `?sms&...`: the module is the first key of the query; v3 names
        // it in the path; the card module may come as the form field `m` alone.
        let mut module = req.query_string.split('&').next().unwrap_or("").to_string();
        if let Some(v3) = req.path.strip_prefix("/api/rest/v3/") {
            module = format!("v3/{v3}");
        } else if module.is_empty() || module.contains('=') {
            module = req.form_param("m").unwrap_or_default();
        }
        match (req.method.as_str(), module.as_str()) {
            ("POST", "webcallback") => self.webcallback(&user, req),
            ("POST", "sms") => self.sms(&user, req),
            ("POST", "topup") => self.topup(&user, req),
            (_, m) => match self.account_service(&user, req, m) {
                Some(resp) => resp,
                None => envelope_error(404, "Bad resource"),
            },
        }
    }

    fn control(&self, action: &str, req: &SimRequest) -> Option<SimResponse> {
        match action {
            "skew" => {
                let s: i64 = req.query_param("seconds")?.parse().ok()?;
                self.skew_s.store(s, Ordering::SeqCst);
                Some(SimResponse::text(200, "ok"))
            }
            "balance" => {
                let user = req.query_param("user")?;
                let amount = req.query_param("amount")?;
                let (int, frac) = amount.split_once('.').unwrap_or((&amount, "0"));
                let frac = format!("{frac:0<4}");
                let v = int.parse::<i64>().ok()? * 10_000 + frac[..4].parse::<i64>().ok()?;
                let mut accounts = self.accounts.lock().unwrap();
                let password = if user.starts_with("test") {
                    format!("secret-{user}")
                } else {
                    format!("{user}-secret")
                };
                accounts
                    .entry(user)
                    .or_insert_with_key(|u| new_account(u, &password, START_BALANCE))
                    .balance = v;
                Some(SimResponse::text(200, "ok"))
            }
            "card" | "balance_of" => self.account_control(action, req),
            "call" => {
                let user = req.query_param("user")?;
                let id = req.query_param("id")?;
                let accounts = self.accounts.lock().unwrap();
                let call = accounts.get(&user)?.calls.get(&id)?;
                let stage = call.timeline.stage();
                let name = match stage {
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
                Some(SimResponse::json(
                    200,
                    &json!({"stage": name, "secs": stage.secs()}),
                ))
            }
            _ => None,
        }
    }

    fn stats(&self) -> Value {
        json!({
            "calls_placed": self.calls_placed.get(),
            "sms_sent": self.sms_sent.get(),
            "requests": self.requests.get(),
            "auth_failures": self.auth_failures.get(),
            "cards_created": self.cards_created.get(),
            "card_activations": self.card_activations.get(),
            "module_requests": self.module_requests.lock().unwrap().clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_date() {
        assert_eq!(
            parse_x_date("2014-02-20 18:56:08.000000 GMT+0000"),
            Some(1_392_922_568)
        );
        assert_eq!(
            parse_x_date("2014-02-20T18:56:08.000Z"),
            Some(1_392_922_568)
        );
        assert_eq!(parse_x_date("2014-02-20T18:56:08Z"), Some(1_392_922_568));
        assert_eq!(parse_x_date("2014-02-20 18:56:08"), None);
        assert_eq!(parse_x_date("2014-02-20T18:56:08"), None);
    }
}
