//! 42call's account services as its documents show them, odd forms included: amounts as
//! `"15,4426"`, `"0,10 EUR"`, `"0.01"`; a card's `active` as `1`, `''` or `' '` (PHP
//! style, not JSON); "nothing" as `[]` (cdr-callshop, empty dial-in lists, an unknown
//! card) or no body at all (cdrs); `cdrs` asked in `DD.MM.YYYY`, `cdr-callshop` in
//! `YYYY-MM-DD` (its document) or `DD.MM.YYYY` (42com's own sample); SIP passwords in base64.
//!
//! Rates (per minute, billed per second): German mobile prefixes by network (0,10, O2
//! 0,09), the rest of Germany 0,04, the UK 0,05 (mobile 0,15), North America 0,02,
//! Austria 0,06, Switzerland 0,07, anywhere else 0,50. A number ending in `404` has no
//! rate (it is left out of the reply) and is unknown to the number check.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use super::{envelope_error, plausible, Account, Call42};
use crate::util::{fmt_amount, magic, Magic};
use crate::{SimRequest, SimResponse};

/// The realm of the card platform (the documents' example).
pub const REALM: &str = "testRealm";
/// German VAT, for `amounttax`, in percent.
const VAT_PERCENT: i64 = 19;

/// One call record (or SMS), as the carrier keeps it.
#[derive(Debug, Clone)]
pub struct Cdr {
    /// Unix seconds of the start (UTC).
    pub start: u64,
    pub secs: u32,
    /// Numbers as the customer sent them (the library sends the `00` form).
    pub caller: String,
    pub number: String,
    pub destination: String,
    /// Ten-thousandths.
    pub cost: i64,
    /// `CALLBACK`, `SMS`, `VOIP`, `CALLTHROUGH`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    Active,
    Blocked,
    Disabled,
}

/// One calling card.
#[derive(Debug, Clone)]
pub struct Card {
    pub customer: String,
    /// International digits (`4917990000000`).
    pub cli: String,
    /// Ten-thousandths.
    pub amount: i64,
    pub amount_all: i64,
    pub serial: u64,
    pub pin: String,
    pub state: CardState,
}

const RATES: &[(&str, &str, i64)] = &[
    ("49151", "Germany Mobile T-Mobile", 1_000),
    ("49160", "Germany Mobile T-Mobile", 1_000),
    ("49170", "Germany Mobile T-Mobile", 1_000),
    ("49171", "Germany Mobile T-Mobile", 1_000),
    ("49175", "Germany Mobile T-Mobile", 1_000),
    ("49152", "Germany Mobile Vodafone", 1_000),
    ("49162", "Germany Mobile Vodafone", 1_000),
    ("49172", "Germany Mobile Vodafone", 1_000),
    ("49173", "Germany Mobile Vodafone", 1_000),
    ("49174", "Germany Mobile Vodafone", 1_000),
    ("49157", "Germany Mobile EPlus", 1_000),
    ("49163", "Germany Mobile EPlus", 1_000),
    ("49177", "Germany Mobile EPlus", 1_000),
    ("49178", "Germany Mobile EPlus", 1_000),
    ("49159", "Germany Mobile O2", 900),
    ("49176", "Germany Mobile O2", 900),
    ("49179", "Germany Mobile O2", 900),
    ("49800", "Germany Freephone", 0),
    ("49", "Germany", 400),
    ("447", "United Kingdom Mobile", 1_500),
    ("44", "United Kingdom", 500),
    ("43", "Austria", 600),
    ("41", "Switzerland", 700),
    ("1", "USA/Canada", 200),
];

/// The rate of a number in international digits: (prefix, destination, per minute in
/// ten-thousandths). The longest prefix wins; anything else is "World".
pub fn rate(intl: &str) -> (&'static str, &'static str, i64) {
    RATES
        .iter()
        .filter(|(p, _, _)| intl.starts_with(p))
        .max_by_key(|(p, _, _)| p.len())
        .copied()
        .unwrap_or(("", "World", 5_000))
}

/// A number as a customer sends it (`0049...`, `+49...`, `49...`, national `0171...`
/// read as German) -> international digits.
pub fn intl(n: &str) -> String {
    let t = n.trim();
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if t.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("49{rest}")
    } else {
        digits
    }
}

/// The cost of `secs` seconds at `per_minute`, rounded to the ten-thousandth.
pub fn per_second(per_minute: i64, secs: u32) -> i64 {
    (per_minute * i64::from(secs) + 30) / 60
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn with_tax(cost: i64) -> i64 {
    (cost * (100 + VAT_PERCENT) + 50) / 100
}

/// An SMS leaves a record in `cdrs` (not in `cdr-callshop`, which lists calls).
pub fn sms_record(account: &mut Account, now: SystemTime, number: &str, price: i64) {
    account.cdrs.push(Cdr {
        start: unix(now),
        secs: 0,
        caller: String::new(),
        number: number.to_string(),
        destination: "SMS".to_string(),
        cost: price,
        kind: "SMS",
    });
}

/// The demo account's history: the records of the carrier's documents.
pub fn seed_demo(account: &mut Account) {
    let at = |y, m, d, hh: u64, mm: u64, ss: u64| {
        days_from_civil(y, m, d) as u64 * 86_400 + hh * 3600 + mm * 60 + ss
    };
    account.cdrs.push(Cdr {
        start: at(2014, 2, 14, 15, 40, 0),
        secs: 10,
        caller: String::new(),
        number: "ONNET214806".into(),
        destination: "Free CALL".into(),
        cost: 0,
        kind: "VOIP",
    });
    account.cdrs.push(Cdr {
        start: at(2014, 2, 19, 16, 50, 48),
        secs: 601,
        caller: "00493019991390875".into(),
        number: "0049123465798".into(),
        destination: "Germany Mobile O2".into(),
        cost: 100,
        kind: "CALLTHROUGH",
    });
    account.cdrs.push(Cdr {
        start: at(2014, 2, 20, 21, 51, 56),
        secs: 4,
        caller: "00493019991390875".into(),
        number: "0049179123456".into(),
        destination: "Germany Mobile O2".into(),
        cost: 12,
        kind: "CALLTHROUGH",
    });
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2014-02-14 15:40:00`.
fn date_time(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let r = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        r / 3600,
        (r % 3600) / 60,
        r % 60
    )
}

fn hms(secs: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Days since 1970 of `DD.MM.YYYY` (`dotted`) or `YYYY-MM-DD`.
fn day_of(text: &str, dotted: bool) -> Option<i64> {
    let parts: Vec<&str> = text.split(if dotted { '.' } else { '-' }).collect();
    if parts.len() != 3 {
        return None;
    }
    let (y, m, d) = if dotted {
        (parts[2], parts[1], parts[0])
    } else {
        (parts[0], parts[1], parts[2])
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn ok(body: Option<Value>) -> SimResponse {
    let mut env = json!({"error": false, "codes": [{"code": 200, "description": "OK"}]});
    if let Some(b) = body {
        env["body"] = b;
    }
    SimResponse::json(200, &env)
}

impl Call42 {
    fn count_module(&self, name: &str) {
        *self
            .module_requests
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_insert(0) += 1;
    }

    /// The account-service modules; `None` for a module this file does not know.
    pub(super) fn account_service(
        &self,
        user: &str,
        req: &SimRequest,
        module: &str,
    ) -> Option<SimResponse> {
        let get = req.method == "GET";
        let resp = match module {
            "account" if get => self.account(user),
            "rates" if get => self.rates(req),
            "cdrs" if get => self.records(user, req, true),
            "cdr-callshop" if get => self.records(user, req, false),
            "v3/number-check" if get => self.number_check(req),
            "onlinecallthrough" => self.callthrough(user, req),
            "voiplist" if get => self.voiplist(user),
            "mycard-v2" if !get => {
                let act = req.form_param("act").unwrap_or_default();
                self.count_module(&format!("mycard-v2/{act}"));
                return Some(self.card(user, req, &act));
            }
            _ => return None,
        };
        self.count_module(module);
        Some(resp)
    }

    fn account(&self, user: &str) -> SimResponse {
        self.with_account(user, |a| {
            ok(Some(json!({"accounts": [{
                "customername": a.customer_name,
                "customernumber": a.number,
                "accountnumber": a.number,
                "amount": fmt_amount(a.balance, 4, true),
                "accountname": format!("Account, {}", a.customer_name),
            }]})))
        })
    }

    fn rates(&self, req: &SimRequest) -> SimResponse {
        let Some(numbers) = req.query_param("numbers").filter(|n| !n.is_empty()) else {
            return envelope_error(404, "Bad resource: numbers is required");
        };
        let mut list = Vec::new();
        for n in numbers.split('|') {
            if !plausible(n.trim_start_matches('+')) {
                return envelope_error(404, "Bad resource: not a phone number");
            }
            if magic(n) == Magic::Invalid {
                continue;
            }
            let (prefix, name, price) = rate(&intl(n));
            list.push(json!({
                "number": n,
                "destinationname": name,
                "price": fmt_amount(price, 2, true),
                "prefix": format!("00{prefix}"),
            }));
        }
        ok(Some(json!({"currency": "EUR", "rates": [list]})))
    }

    fn records(&self, user: &str, req: &SimRequest, table: bool) -> SimResponse {
        let (Some(from), Some(to)) = (req.query_param("from"), req.query_param("to")) else {
            return envelope_error(404, "Bad resource: from and to are required");
        };
        // cdrs: `DD.MM.YYYY`, as its document shows (`?cdrs&from=14.02.2014&to=19.02.2014`).
        // cdr-callshop: its document shows `YYYY-MM-DD`
        // (`?cdr-callshop&from=2014-02-01&to=2014-02-20&show=2`), while 42com's own PHP
        // sample (mitchobrian/api.rest.v2.42com, api.rest.v2.php) asks it with
        // `'&from=' . date('d.m.Y') . '&to=' . date('d.m.Y')`: both forms are taken.
        let day = |t: &str| {
            if table {
                day_of(t, true)
            } else {
                day_of(t, false).or_else(|| day_of(t, true))
            }
        };
        let (Some(from), Some(to)) = (day(&from), day(&to)) else {
            return envelope_error(
                404,
                if table {
                    "Bad resource: dates must be DD.MM.YYYY"
                } else {
                    "Bad resource: dates must be YYYY-MM-DD or DD.MM.YYYY"
                },
            );
        };
        let show: Option<usize> = match req.query_param("show") {
            None => None,
            Some(s) => match s.parse() {
                Ok(n) => Some(n),
                Err(_) => return envelope_error(404, "Bad resource: show must be a number"),
            },
        };
        self.with_account(user, |a| {
            let mut picked: Vec<&Cdr> = a
                .cdrs
                .iter()
                .filter(|c| table || c.kind != "SMS")
                .filter(|c| (from..=to).contains(&((c.start / 86_400) as i64)))
                .collect();
            if let Some(n) = show {
                let drop = picked.len().saturating_sub(n);
                picked.drain(..drop);
            }
            if table {
                if picked.is_empty() {
                    // "the whole body tree is missing in the result"
                    return ok(None);
                }
                let rows: Vec<Value> = picked
                    .iter()
                    .map(|c| {
                        json!({
                            "datestart": date_time(c.start),
                            "dateend": date_time(c.start + u64::from(c.secs)),
                            "time": hms(c.secs),
                            "customername": a.customer_name,
                            "number": c.number,
                            "destination": c.destination,
                            "amount": fmt_amount(c.cost, 2, false),
                            "amounttax": fmt_amount(with_tax(c.cost), 2, false),
                            "type": c.kind,
                        })
                    })
                    .collect();
                let table = json!({"table": {
                    "caption": "Call detail records",
                    "thead": {"datestart": "datestart", "dateend": "dateend", "time": "time",
                        "customername": "customername", "number": "number",
                        "destination": "destination", "amount": "amount",
                        "amounttax": "amounttax", "type": "type"},
                    "tbody": {"tr": {"td": rows}},
                    "tfoot": "",
                }});
                self.reply(user, a, table)
            } else {
                if picked.is_empty() {
                    // "the body tree is an empty array"
                    return ok(Some(json!([])));
                }
                let list: Vec<Value> = picked
                    .iter()
                    .map(|c| {
                        json!({
                            "data": format!("{}.000", date_time(c.start)),
                            "caller": c.caller,
                            "callee": c.number,
                            "duration": c.secs.to_string(),
                            "billingduration": c.secs.to_string(),
                            "comment": c.destination,
                            "amount": fmt_amount(c.cost, 4, true),
                            "amounttax": fmt_amount(with_tax(c.cost), 4, true),
                        })
                    })
                    .collect();
                ok(Some(json!({"cdrs": list})))
            }
        })
    }

    fn number_check(&self, req: &SimRequest) -> SimResponse {
        let prefix = req.query_param("prefix").unwrap_or_default();
        let number = req.query_param("number").unwrap_or_default();
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !digits(&prefix) || prefix.len() > 3 || !digits(&number) {
            return envelope_error(404, "Bad resource: prefix and number are required");
        }
        let complete = format!("{prefix}{number}");
        if magic(&complete) == Magic::Invalid || !(8..=15).contains(&complete.len()) {
            return envelope_error(1001, "Result not known");
        }
        let (p, name, _) = rate(&complete);
        let p = if p.is_empty() { prefix.as_str() } else { p };
        ok(Some(json!({
            "completenumber": complete,
            "prefix": p,
            "number": &complete[p.len()..],
            "name": name,
        })))
    }

    fn callthrough(&self, user: &str, req: &SimRequest) -> SimResponse {
        if req.method == "POST" {
            if req.form_param("act").as_deref() != Some("store") {
                return envelope_error(404, "Bad resource: unknown act");
            }
            let (Some(a), Some(b)) = (req.form_param("anumber"), req.form_param("bnumber")) else {
                return envelope_error(404, "Bad resource: anumber and bnumber are required");
            };
            if !plausible(&a) || !plausible(&b) {
                return envelope_error(404, "Bad resource: not a phone number");
            }
            self.with_account(user, |acc| acc.callthrough = (Some(a), Some(b)));
        }
        self.with_account(user, |a| {
            let body = if user == "broke" {
                // An account without numbers: every list is the carrier's empty array.
                json!({"dialinnumberGeo": [], "dialinnumberFree": [], "callbacknumberGeo": [],
                    "callbacknumberFree": [], "dialinnumber": null})
            } else {
                json!({
                    "dialinnumberGeo": {"be": "3228084223", "br": "557137175960",
                        "de": "493034649495", "gb": "442035140171", "us": "13025979000"},
                    "dialinnumberFree": {"de": "498005888868", "gb": "448000148915"},
                    "callbacknumberGeo": {"de": "493020167207", "be": "493020167207",
                        "br": "493020167207", "gb": "493020167207", "us": "493020167207"},
                    "callbacknumberFree": [],
                    "dialinnumber": "493034649495",
                })
            };
            let mut body = body;
            body["anumber"] = json!(a.callthrough.0);
            body["bnumber"] = json!(a.callthrough.1);
            self.reply(user, a, body)
        })
    }

    fn voiplist(&self, user: &str) -> SimResponse {
        self.with_account(user, |a| {
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let line = |n: u32, password: String| {
                json!({
                    "type": "SIP", "username": format!("{user}-{n}"), "password": password,
                    "ip": "111.222.333.444:50123", "domain": "", "stun_server": "", "proxy": "",
                    "prefix": "", "transport_tls": "false", "transport_tcp": "true",
                    "transport_udp": "false", "transport_use_standard_ports": "true",
                    "forbid_self_call": "true", "echo_cancellation": "false",
                    "escape_plus": "false", "enable_outbound_proxy": "false",
                    "wifi_only": "false", "unknown_incoming_call_name": "Unbekannt",
                    "codec_speex16": "true", "codec_speex8": "true", "codec_ilbc": "true",
                })
            };
            let body = match user {
                "broke" => json!({"voiplist": []}),
                "nocard" => json!({}),
                _ => json!({"voiplist": {
                    "sip_1": line(1, b64(&format!("Sip-{user}-pw1"))),
                    // A password that is not base64 of text.
                    "sip_2": line(2, "//4B".to_string()),
                }}),
            };
            self.reply(user, a, body)
        })
    }

    fn card(&self, user: &str, req: &SimRequest, act: &str) -> SimResponse {
        let field = |k: &str| req.form_param(k).unwrap_or_default();
        let needs_realm = matches!(
            act,
            "disableCliByNumber" | "changeCliByNumber" | "activateMyCard"
        );
        if needs_realm && field("realm") != REALM {
            return envelope_error(403, "Refused: unknown realm");
        }
        let cli = if needs_realm {
            field("cli")
        } else {
            field("Telefon")
        };
        if !plausible(&cli) {
            return envelope_error(404, "Bad resource: Telefon/cli is not a phone number");
        }
        self.with_account(user, |a| {
            if act == "insert" {
                return self.insert_card(a, req, &cli);
            }
            if !a.cards.contains_key(&cli) {
                return if act == "show" {
                    // Nothing known: the carrier's empty array.
                    ok(Some(json!([])))
                } else {
                    envelope_error(1001, "Result not known")
                };
            }
            if act == "changeCliByNumber" {
                let new = field("newCli");
                if !plausible(&new) {
                    return envelope_error(404, "Bad resource: newCli is not a phone number");
                }
                if a.cards.contains_key(&new) {
                    return envelope_error(404, "Bad resource: newCli has a card already");
                }
                let Some(mut moved) = a.cards.remove(&cli) else {
                    return envelope_error(1001, "Result not known");
                };
                moved.cli = new.clone();
                let reply = card_reply(&moved);
                a.cards.insert(new, moved);
                return reply;
            }
            let Some(card) = a.cards.get_mut(&cli) else {
                return envelope_error(1001, "Result not known");
            };
            match act {
                "show" => {}
                "blockcard" => {
                    if card.state == CardState::Active {
                        card.state = CardState::Blocked;
                    }
                }
                "unblockcard" => {
                    if card.state == CardState::Disabled {
                        return envelope_error(404, "Bad resource: the card is disabled");
                    }
                    card.state = CardState::Active;
                }
                "disableCliByNumber" => card.state = CardState::Disabled,
                "activateMyCard" => {
                    if field("PIN") != card.pin {
                        return envelope_error(1200, "Personal Identification Number Not Valid");
                    }
                    card.state = CardState::Active;
                    self.card_activations.add();
                }
                _ => return envelope_error(404, "Bad resource: unknown act"),
            }
            card_reply(card)
        })
    }

    fn insert_card(&self, a: &mut Account, req: &SimRequest, cli: &str) -> SimResponse {
        let field = |k: &str| req.form_param(k).unwrap_or_default();
        if a.cards
            .get(cli)
            .is_some_and(|c| c.state != CardState::Disabled)
        {
            return envelope_error(404, "Bad resource: this number has a card already");
        }
        let Some(amount) = parse_amount(&field("Amount")) else {
            return envelope_error(404, "Bad resource: Amount is not an amount");
        };
        let sms = field("sendSmsInfo") == "1";
        let cost = amount + if sms { super::SMS_PRICE } else { 0 };
        if a.balance < cost {
            return envelope_error(402, "Insufficient credit");
        }
        a.balance -= cost;
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(12_871_384);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let customer = Some(field("Kunde"))
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| cli.to_string());
        let card = Card {
            customer,
            cli: cli.to_string(),
            amount,
            amount_all: amount,
            serial,
            pin: format!("3{:08}", (serial * 7_919 + 12_345) % 100_000_000),
            state: CardState::Active,
        };
        self.cards_created.add();
        if sms {
            self.sms_sent.add();
            sms_record(a, self.now(), &format!("00{cli}"), super::SMS_PRICE);
        }
        let reply = card_reply(&card);
        a.cards.insert(cli.to_string(), card);
        reply
    }

    /// `/_sim/42call/card?user=U&number=N` and `/_sim/42call/balance_of?user=U`.
    pub(super) fn account_control(&self, action: &str, req: &SimRequest) -> Option<SimResponse> {
        let user = req.query_param("user")?;
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts.get_mut(&user)?;
        self.settle(a);
        match action {
            "card" => {
                let c = a.cards.get(&req.query_param("number")?)?;
                let state = match c.state {
                    CardState::Active => "active",
                    CardState::Blocked => "blocked",
                    CardState::Disabled => "disabled",
                };
                Some(SimResponse::json(
                    200,
                    &json!({"state": state, "amount": c.amount, "customer": c.customer}),
                ))
            }
            "balance_of" => Some(SimResponse::json(
                200,
                &json!({"balance": a.balance, "records": a.cdrs.len()}),
            )),
            _ => None,
        }
    }
}

/// `0.10`, `0,10`, `5` -> ten-thousandths.
fn parse_amount(s: &str) -> Option<i64> {
    let s = s.trim().replace(',', ".");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty()
        || frac.len() > 4
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<4}");
    Some(int.parse::<i64>().ok()? * 10_000 + frac.parse::<i64>().ok()?)
}

/// A card reply as the documents print it: `"active": 1`, `''` (blocked) or `' '`
/// (disabled) — the last two are PHP's quotes, not JSON's.
fn card_reply(c: &Card) -> SimResponse {
    let body = json!({
        "Kunde": c.customer,
        "CLI": c.cli,
        "Amount": format!("{} EUR", fmt_amount(c.amount, 2, true)),
        "AmountAll": format!("{} EUR", fmt_amount(c.amount_all, 2, true)),
        "fldSerial": c.serial.to_string(),
        "fldPIN": c.pin,
        "active": "@ACTIVE@",
    });
    let env = json!({"error": false, "codes": [{"code": 200, "description": "OK"}], "body": body});
    let active = match c.state {
        CardState::Active => "1",
        CardState::Blocked => "''",
        CardState::Disabled => "' '",
    };
    let text = serde_json::to_string_pretty(&env)
        .unwrap()
        .replace("\"@ACTIVE@\"", active);
    SimResponse::new(200, "application/json", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_dates() {
        assert_eq!(rate("491711234567").1, "Germany Mobile T-Mobile");
        assert_eq!(rate("4930123456"), ("49", "Germany", 400));
        assert_eq!(rate("8613800000000").1, "World");
        assert_eq!(intl("0171 1234567"), "491711234567");
        assert_eq!(intl("00491711234567"), "491711234567");
        assert_eq!(per_second(1_000, 20), 333);
        assert_eq!(date_time(1_392_922_568), "2014-02-20 18:56:08");
        assert_eq!(day_of("20.02.2014", true), day_of("2014-02-20", false));
        assert_eq!(day_of("2014-02-20", true), None);
        assert_eq!(parse_amount("0.10"), Some(1_000));
        assert_eq!(parse_amount("5"), Some(50_000));
        assert_eq!(parse_amount("-1"), None);
        assert_eq!(hms(601), "00:10:01");
    }
}
