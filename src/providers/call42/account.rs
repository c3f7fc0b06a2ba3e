//! 42call's account services: `account`, `rates`, `cdrs`, `cdr-callshop`,
//! `v3/number-check`, `onlinecallthrough` (GET and `act=store`), `voiplist` and the
//! calling-card module `mycard-v2`, read into the library's shapes ([`crate::account`]).
//!
//! The carrier writes the same things in many ways, and this file reads them all:
//! amounts as `"0,10 EUR"`, `"15,4426"`, `"0.01"`; `active` as `1`, `''` or `' '`;
//! "nothing" as an empty array, an empty string, or no body at all; dates as
//! `2014-02-14 15:40:00` or `2014-02-20 21:51:56.000`; durations as `"00:10:01"` or
//! `"4"`; numbers as `0049...`, `49...` or `ONNET214806`; SIP passwords in base64.
//!
//! Choices where the documents are silent (change them here, say so in docs/account.md):
//! - the card module's endpoint is not documented: DSN option `card_path` (default
//!   [`DEFAULT_CARD_PATH`]); its fields (`m`, `v`, `act`, ...) go form-urlencoded in a
//!   POST, signed like every other request;
//! - `realm` (card disable, change of number, activation) is the DSN option `realm`;
//! - amounts whose reply names no currency take the currency the carrier reported last
//!   on this client, else the DSN option `currency` (default `EUR`, the currency of the
//!   card documents);
//! - card numbers go as international digits (`4917990000000`, as the documents show);
//!   other numbers in the `00` form, as the call module sends them;
//! - code 1001 ("result not known") and an empty card reply read as "not found";
//! - `cdr-callshop` dates: its document shows `YYYY-MM-DD` (the default), 42com's own PHP
//!   sample sends `date('d.m.Y')`: DSN option `callshop_dates=iso|dotted`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::account::{
    Account, AccountEntry, AccountServices, CallRecord, Card, CardOp, DialIn, NumberCheck,
    PasswordForm, Rate, RecordQuery, RecordSource, VoipLine,
};
use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::money::Money;
use crate::number::{self, Number};
use crate::providers::call42::Call42;
use crate::transport::{self, Effect};

/// Where the card module is asked when the DSN does not say (`card_path`).
pub const DEFAULT_CARD_PATH: &str = "/api/rest/v2/?mycard-v2";
/// The currency of amounts whose reply names none, when the DSN does not say.
pub const DEFAULT_CURRENCY: &str = "EUR";

/// The account services' DSN options.
#[derive(Debug, Clone)]
pub(crate) struct AccountConfig {
    /// Path (and query) of the card module, from the DSN's origin.
    card_path: String,
    /// The card platform's realm, needed to disable, renumber or activate a card.
    realm: Option<String>,
    /// The currency of amounts whose reply names none.
    currency: String,
    /// `cdr-callshop` dates as `DD.MM.YYYY` (42com's sample) instead of `YYYY-MM-DD`
    /// (the document).
    callshop_dotted: bool,
}

impl AccountConfig {
    /// Takes `card_path`, `realm`, `currency` and `callshop_dates` out of the DSN.
    pub(crate) fn from_dsn(dsn: &mut Dsn) -> Result<AccountConfig> {
        let bad = |what: &str| Error::invalid_argument(format!("DSN: option {what}"));
        let card_path = match dsn.take_option("card_path") {
            None => DEFAULT_CARD_PATH.to_string(),
            Some(p) => {
                let ok = p.starts_with('/')
                    && p.len() <= 512
                    && !p
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '#')
                    && url::Url::parse(&format!("http://h{p}")).is_ok();
                if !ok {
                    return Err(bad(
                        "card_path must be a URL path starting with / (e.g. /api/rest/v2/?mycard-v2)",
                    ));
                }
                p
            }
        };
        let realm = match dsn.take_option("realm") {
            None => None,
            Some(r) if r.is_empty() => None,
            Some(r) if r.len() <= 255 && !r.chars().any(char::is_control) => Some(r),
            Some(_) => return Err(bad("realm must be up to 255 characters")),
        };
        let currency = match dsn.take_option("currency") {
            None => DEFAULT_CURRENCY.to_string(),
            Some(c) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
                c.to_ascii_uppercase()
            }
            Some(_) => return Err(bad("currency must be an ISO 4217 code such as EUR")),
        };
        let callshop_dotted = match dsn.take_option("callshop_dates").as_deref() {
            None | Some("iso") => false,
            Some("dotted") => true,
            Some(_) => return Err(bad("callshop_dates must be iso or dotted")),
        };
        Ok(AccountConfig {
            card_path,
            realm,
            currency,
            callshop_dotted,
        })
    }
}

/// Parses a reply as JSON, forgiving two slips of the carrier's documented replies:
/// PHP-style single-quoted strings (`"active": ''`) and stray closing braces after the
/// value. Anything else that is not JSON stays an error.
pub(crate) fn lenient_json(text: &str) -> serde_json::Result<Value> {
    let strict = serde_json::from_str(text);
    if strict.is_ok() {
        return strict;
    }
    let repaired = single_quotes_to_double(text);
    let mut values = serde_json::Deserializer::from_str(&repaired).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) => {
            let rest = &repaired[values.byte_offset()..];
            if rest.chars().all(|c| c.is_whitespace() || c == '}') {
                Ok(v)
            } else {
                strict
            }
        }
        _ => strict,
    }
}

/// `'text'` outside of JSON strings becomes `"text"` (short texts without quotes or
/// backslashes only).
fn single_quotes_to_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '\'' => {
                let mut inner = String::new();
                let mut closed = false;
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n == '\'' {
                        closed = true;
                        break;
                    }
                    if n == '"' || n == '\\' || n == '\n' || inner.len() > 256 {
                        inner.push(n);
                        break;
                    }
                    inner.push(n);
                }
                if closed {
                    out.push('"');
                    out.push_str(&inner);
                    out.push('"');
                } else {
                    out.push('\'');
                    out.push_str(&inner);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

// ---- small readers of the carrier's values -------------------------------------------

/// A field as text: a non-empty string (trimmed) or a number; `None` for null, `""`,
/// `[]`, objects.
fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// "Nothing" in any of the carrier's ways: missing, null, `[]`, `{}`, `""`.
fn is_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The carrier's truth values: `true`, `1`, `"1"`, `"true"`, `"yes"`; the rest is false.
fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        ),
        _ => false,
    }
}

/// A card's `active`: "If active is empty, the card is blocked" (`''`, `' '`, null, 0).
fn card_active(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => {
            let t = s.trim();
            !(t.is_empty() || t == "0" || t.eq_ignore_ascii_case("false"))
        }
        Some(other) => flag(other),
    }
}

/// `0049179...` -> `+49179...`; `+49...` stays; anything else is returned as written.
fn from_00(s: &str) -> String {
    let t = s.trim();
    let digits_after = |rest: &str| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit());
    if let Some(rest) = t.strip_prefix("00").filter(|r| digits_after(r)) {
        format!("+{rest}")
    } else {
        t.to_string()
    }
}

/// International digits without a prefix (`493034649495`, the carrier's "e164") ->
/// `+493034649495`; the `00` and `+` forms too; anything else as written.
fn from_intl_digits(s: &str) -> String {
    let t = s.trim();
    if t.starts_with('+') || t.starts_with("00") {
        return from_00(t);
    }
    if t.len() >= 6 && !t.starts_with('0') && t.chars().all(|c| c.is_ascii_digit()) {
        format!("+{t}")
    } else {
        t.to_string()
    }
}

/// The carrier writes one balance as `18,40` in one reply and `18,4000` in the next:
/// amounts get two decimals at least, and more only where the carrier gave non-zero
/// digits there (`18.4000` -> `18.40`, `5` -> `5.00`, `0.0133` stays). Nothing is lost.
fn two_decimals_at_least(amount: &str) -> String {
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    format!("{int}.{frac}")
}

/// A prefix (`0049177`, `49179`, `+49`) -> `+49177`; anything else as written.
fn prefix_form(s: &str) -> String {
    let t = s.trim();
    if t.starts_with('+') || t.starts_with("00") {
        return from_00(t);
    }
    if !t.is_empty() && !t.starts_with('0') && t.chars().all(|c| c.is_ascii_digit()) {
        format!("+{t}")
    } else {
        t.to_string()
    }
}

/// Digits of a number as the carrier echoed it, international (for matching).
fn intl_digits(s: &str, default_country: Option<u16>) -> String {
    let t = s.trim();
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if t.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let (Some(rest), Some(cc)) = (digits.strip_prefix('0'), default_country) {
        format!("{cc}{rest}")
    } else {
        digits
    }
}

/// A carrier date and time (`2014-02-14 15:40:00`, `2014-02-20 21:51:56.000`,
/// `14.02.2014 15:40:00`) -> ISO-8601 (`2014-02-14T15:40:00`, fractions kept when not
/// zero), with its seconds since 1970 read as UTC (for durations).
fn datetime(s: &str) -> Option<(String, i64)> {
    let t = s.trim();
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let (y, m, d) = if date.contains('.') {
        let mut p = date.split('.');
        let (d, m, y) = (p.next()?, p.next()?, p.next()?);
        (y, m, d)
    } else {
        let mut p = date.split('-');
        (p.next()?, p.next()?, p.next()?)
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = crate::account::Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()) => (hms, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let mut p = hms.split(':');
    let (hh, mm, ss) = (p.next()?, p.next()?, p.next().unwrap_or("00"));
    if p.next().is_some() || hh.len() != 2 || mm.len() != 2 || ss.len() != 2 {
        return None;
    }
    let (hh, mm, ss): (i64, i64, i64) = (hh.parse().ok()?, mm.parse().ok()?, ss.parse().ok()?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let iso = format!(
        "{}T{hh:02}:{mm:02}:{ss:02}{}{frac}",
        date.iso(),
        if frac.is_empty() { "" } else { "." }
    );
    let days = days_from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    Some((iso, days * 86_400 + hh * 3600 + mm * 60 + ss))
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

/// `"00:10:01"` -> 601, `"4"` -> 4, `4` -> 4.
fn seconds(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            let mut total: u64 = 0;
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() > 3 {
                return None;
            }
            for p in parts {
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 9 {
                    return None;
                }
                total = total * 60 + p.parse::<u64>().ok()?;
            }
            u32::try_from(total).ok()
        }
        _ => None,
    }
}

/// The elements of a list the carrier may write as an array, as an object keyed by
/// position or name, or as one object standing alone.
fn elements(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        _ => Vec::new(),
    }
}

impl Call42 {
    /// A reply (or the part of it) that is not in the documented form: PROTOCOL, with the
    /// part as the carrier sent it (secrets blanked, one line, cut at the log's length)
    /// in the message and at DEBUG.
    fn unreadable_part(&self, what: &str, part: &Value) -> Error {
        let text = crate::log::one_line(&self.transport.redact(&crate::log::body(
            &part.to_string(),
            Some("application/json"),
        )));
        let message = format!("42call's {what} reply is not in the documented form: {text}");
        crate::log::log_at!(crate::log::Level::Debug, "{message}");
        Error::protocol(message)
    }

    /// The currency of a reply's amounts: the reply's own, else the one the carrier
    /// reported last on this client, else the DSN's `currency`.
    fn currency_of(&self, body: &Value) -> String {
        let own = ["customercurrency", "currency"]
            .iter()
            .find_map(|k| text(body, k))
            .filter(|c| c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase());
        own.or_else(|| {
            self.balance
                .lock()
                .ok()
                .and_then(|b| b.as_ref().and_then(|m| m.currency.clone()))
        })
        .unwrap_or_else(|| self.account.currency.clone())
    }

    /// An amount field (`"0,10 EUR"`, `"15,4426"`, `"0.01"`, `0.5`), in the one form of
    /// the account results (see [`two_decimals_at_least`]).
    fn money_field(&self, v: &Value, key: &str, currency: &str) -> Result<Option<Money>> {
        let parsed = match v.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => Money::parse(s, Some(currency))?,
            Some(Value::Number(n)) => Money::parse(&n.to_string(), Some(currency))?,
            Some(_) => {
                return Err(Error::protocol(format!(
                    "42call sent an amount ({key}) that is not a number"
                )))
            }
        };
        Ok(Some(Money {
            amount: two_decimals_at_least(&parsed.amount),
            currency: parsed.currency,
        }))
    }

    /// The error with every secret this client knows blanked out of its message, and
    /// 1001 ("result not known") read as not found.
    fn scrub(&self, e: Error) -> Error {
        let message = self.transport.redact(e.message());
        let kind = match (e.kind(), e.carrier_code()) {
            (ErrorKind::Provider, Some("1001")) => ErrorKind::NotFound,
            (k, _) => k,
        };
        match e.carrier_code() {
            Some(code) => Error::carrier(kind, code, message),
            None => Error::new(kind, message),
        }
    }

    fn get(&self, module: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.exchange("GET", module, query, None, Effect::Read)
            .map_err(|e| self.scrub(e))
    }

    fn remember(&self, secret: &str) {
        // A full list only means the value is not redacted from later messages; the
        // messages this file builds never hold carrier values that are secret anyway.
        let _ = self.transport.remember_secret(secret);
    }

    fn card_request(&self, op: &CardOp<'_>) -> Result<(Vec<(&'static str, String)>, Effect)> {
        let digits = |typed: &str, what: &str| -> Result<String> {
            Ok(self
                .number(typed)
                .map_err(|e| e.context(what))?
                .international_digits()
                .to_string())
        };
        let realm = |what: &str| -> Result<String> {
            self.account.realm.clone().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "to {what} a card, 42call needs the realm of the card platform: add realm=... to the DSN"
                ))
            })
        };
        let mut f: Vec<(&'static str, String)> =
            vec![("m", "mycard-v2".into()), ("v", "json".into())];
        let effect = match op {
            CardOp::Create(card) => {
                f.push(("act", "insert".into()));
                f.push(("Kunde", card.customer.clone().unwrap_or_default()));
                f.push(("Telefon", digits(&card.number, "card number")?));
                f.push(("Amount", card.amount.clone()));
                f.push(("sendSmsInfo", if card.send_sms { "1" } else { "0" }.into()));
                if let Some(t) = &card.sms_text {
                    f.push(("smsinfo_message", t.clone()));
                }
                Effect::Place
            }
            CardOp::Show(n) => {
                f.push(("act", "show".into()));
                f.push(("Telefon", digits(n, "card number")?));
                Effect::Read
            }
            CardOp::Block(n) => {
                f.push(("act", "blockcard".into()));
                f.push(("Telefon", digits(n, "card number")?));
                Effect::Write
            }
            CardOp::Unblock(n) => {
                f.push(("act", "unblockcard".into()));
                f.push(("Telefon", digits(n, "card number")?));
                Effect::Write
            }
            CardOp::Disable(n) => {
                let realm = realm("disable")?;
                f.push(("act", "disableCliByNumber".into()));
                f.push(("realm", realm));
                f.push(("cli", digits(n, "card number")?));
                Effect::Write
            }
            CardOp::ChangeNumber { number, new_number } => {
                let realm = realm("change the number of")?;
                f.push(("act", "changeCliByNumber".into()));
                f.push(("realm", realm));
                f.push(("cli", digits(number, "card number")?));
                f.push(("newCli", digits(new_number, "new card number")?));
                Effect::Write
            }
            CardOp::Activate { number, pin } => {
                let realm = realm("activate")?;
                self.remember(pin);
                f.push(("act", "activateMyCard".into()));
                f.push(("realm", realm));
                f.push(("cli", digits(number, "card number")?));
                f.push(("PIN", pin.to_string()));
                Effect::Place
            }
        };
        Ok((f, effect))
    }

    fn parse_card(&self, body: &Value, fallback_number: &str) -> Result<Card> {
        if let Some(pin) = text(body, "fldPIN") {
            self.remember(&pin);
        }
        let currency = self.currency_of(body);
        let number = text(body, "CLI")
            .or_else(|| text(body, "Telefon"))
            .map(|n| from_intl_digits(&n))
            .unwrap_or_else(|| fallback_number.to_string());
        let credit = self
            .money_field(body, "Amount", &currency)
            .map_err(|e| e.context("card"))?
            .ok_or_else(|| self.unreadable_part("card (no Amount)", body))?;
        Ok(Card {
            number,
            customer: text(body, "Kunde"),
            serial: text(body, "fldSerial"),
            pin: text(body, "fldPIN").map(Secret::new),
            credit,
            credit_total: self
                .money_field(body, "AmountAll", &currency)
                .map_err(|e| e.context("card"))?,
            active: card_active(body.get("active")),
        })
    }

    fn parse_account(&self, body: &Value) -> Result<Account> {
        let list = body.get("accounts").map(elements).unwrap_or_default();
        let currency = self.currency_of(body);
        let mut accounts = Vec::new();
        for a in list {
            let balance = self
                .money_field(a, "amount", &currency)?
                .ok_or_else(|| self.unreadable_part("account (an account without amount)", a))?;
            accounts.push(AccountEntry {
                customer_name: text(a, "customername"),
                customer_number: text(a, "customernumber"),
                account_number: text(a, "accountnumber"),
                account_name: text(a, "accountname"),
                balance,
            });
        }
        let first = accounts.first().cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "42call reported no account for this user",
            )
        })?;
        Ok(Account {
            customer_name: first.customer_name,
            customer_number: first.customer_number,
            account_number: first.account_number,
            balance: first.balance,
            accounts,
        })
    }

    fn parse_rates(&self, body: &Value, asked: &[(String, Number)]) -> Result<Vec<Rate>> {
        let currency = self.currency_of(body);
        // `rates` is a list of lists in the documents; read any nesting.
        let mut found: Vec<&Value> = Vec::new();
        let mut stack: Vec<&Value> = body.get("rates").map(|r| vec![r]).unwrap_or_default();
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(a) => stack.extend(a.iter().rev()),
                Value::Object(o) if o.contains_key("price") || o.contains_key("number") => {
                    found.push(v)
                }
                Value::Object(o) => stack.extend(o.values()),
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(asked.len());
        for (typed, n) in asked {
            let entry = found.iter().find(|e| {
                text(e, "number").is_some_and(|x| {
                    intl_digits(&x, self.default_country) == n.international_digits()
                })
            });
            let (destination, prefix, price) = match entry {
                Some(e) => (
                    text(e, "destinationname"),
                    text(e, "prefix").map(|p| prefix_form(&p)),
                    self.money_field(e, "price", &currency)?,
                ),
                None => (None, None, None),
            };
            out.push(Rate {
                input: typed.clone(),
                number: n.e164(),
                destination,
                prefix,
                price,
            });
        }
        Ok(out)
    }

    fn table_records(&self, body: &Value) -> Result<Vec<CallRecord>> {
        let currency = self.currency_of(body);
        let mut rows: Vec<&Value> = Vec::new();
        let tbody = body.get("table").and_then(|t| t.get("tbody"));
        let mut stack: Vec<&Value> = tbody.map(|t| vec![t]).unwrap_or_default();
        // tbody -> tr -> td, where each may be one object or a list of them.
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(a) => stack.extend(a.iter().rev()),
                Value::Object(o) if o.contains_key("datestart") => rows.push(v),
                Value::Object(o) => {
                    for k in ["tr", "td"] {
                        if let Some(x) = o.get(k) {
                            stack.push(x);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let start = text(r, "datestart")
                .as_deref()
                .and_then(datetime)
                .ok_or_else(|| {
                    self.unreadable_part("cdrs (a record without a readable datestart)", r)
                })?;
            let end = text(r, "dateend").as_deref().and_then(datetime);
            let duration_s = r
                .get("time")
                .and_then(seconds)
                .or_else(|| {
                    end.as_ref()
                        .and_then(|(_, e)| u32::try_from(e - start.1).ok())
                })
                .ok_or_else(|| {
                    self.unreadable_part("cdrs (a record without a readable time)", r)
                })?;
            out.push(CallRecord {
                start: start.0,
                end: end.map(|e| e.0),
                duration_s,
                billed_s: None,
                caller: None,
                number: text(r, "number").map(|n| from_00(&n)).unwrap_or_default(),
                destination: text(r, "destination"),
                customer_name: text(r, "customername"),
                kind: text(r, "type"),
                cost: self
                    .money_field(r, "amount", &currency)?
                    .ok_or_else(|| self.unreadable_part("cdrs (a record without amount)", r))?,
                cost_with_tax: self.money_field(r, "amounttax", &currency)?,
                source: RecordSource::Cdrs.name(),
            });
        }
        Ok(out)
    }

    fn callshop_records(&self, body: &Value) -> Result<Vec<CallRecord>> {
        let currency = self.currency_of(body);
        let list = body.get("cdrs").map(elements).unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            let (start, _) = text(r, "data")
                .or_else(|| text(r, "date"))
                .as_deref()
                .and_then(datetime)
                .ok_or_else(|| {
                    self.unreadable_part("cdr-callshop (a record without a readable date)", r)
                })?;
            let duration_s = r.get("duration").and_then(seconds).ok_or_else(|| {
                self.unreadable_part("cdr-callshop (a record without a duration)", r)
            })?;
            out.push(CallRecord {
                start,
                end: None,
                duration_s,
                billed_s: r.get("billingduration").and_then(seconds),
                caller: text(r, "caller").map(|n| from_00(&n)),
                number: text(r, "callee").map(|n| from_00(&n)).unwrap_or_default(),
                destination: text(r, "comment"),
                customer_name: None,
                kind: None,
                cost: self.money_field(r, "amount", &currency)?.ok_or_else(|| {
                    self.unreadable_part("cdr-callshop (a record without amount)", r)
                })?,
                cost_with_tax: self.money_field(r, "amounttax", &currency)?,
                source: RecordSource::Callshop.name(),
            });
        }
        Ok(out)
    }

    fn parse_dialin(&self, body: &Value) -> DialIn {
        let map = |key: &str| -> BTreeMap<String, String> {
            let mut m = BTreeMap::new();
            match body.get(key) {
                Some(Value::Object(o)) => {
                    for (country, n) in o {
                        if let Some(n) = n.as_str().filter(|s| !s.trim().is_empty()) {
                            m.insert(country.trim().to_ascii_uppercase(), from_intl_digits(n));
                        }
                    }
                }
                Some(Value::Array(a)) => {
                    // Not seen in the documents but for `[]`: keyed by position.
                    for (i, n) in a.iter().enumerate() {
                        if let Some(n) = n.as_str().filter(|s| !s.trim().is_empty()) {
                            m.insert((i + 1).to_string(), from_intl_digits(n));
                        }
                    }
                }
                _ => {}
            }
            m
        };
        DialIn {
            personal_dialin: text(body, "dialinnumber").map(|n| from_intl_digits(&n)),
            dialin_geo: map("dialinnumberGeo"),
            dialin_free: map("dialinnumberFree"),
            callback_geo: map("callbacknumberGeo"),
            callback_free: map("callbacknumberFree"),
            callthrough_a: text(body, "anumber").map(|n| from_intl_digits(&n)),
            callthrough_b: text(body, "bnumber").map(|n| from_intl_digits(&n)),
        }
    }

    fn parse_voip(&self, body: &Value, include_passwords: bool) -> Vec<VoipLine> {
        let mut lines: Vec<(&String, &Value)> = match body.get("voiplist") {
            Some(Value::Object(o)) => o.iter().filter(|(_, v)| v.is_object()).collect(),
            _ => Vec::new(),
        };
        // `sip_2` before `sip_10`.
        lines.sort_by_key(|(k, _)| {
            let digits: String = k.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
            let n: u64 = digits
                .chars()
                .rev()
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            (
                k.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
                n,
            )
        });
        let known = [
            "type",
            "username",
            "password",
            "ip",
            "domain",
            "stun_server",
            "proxy",
            "prefix",
            "transport_use_standard_ports",
        ];
        lines
            .into_iter()
            .map(|(id, line)| {
                let raw = text(line, "password");
                if let Some(r) = &raw {
                    self.remember(r);
                }
                let (password, password_form) = match raw {
                    None => (None, PasswordForm::None),
                    Some(_) if !include_passwords => (None, PasswordForm::Omitted),
                    Some(r) => match decode_password(&r) {
                        Some(plain) => {
                            self.remember(&plain);
                            (Some(Secret::new(plain)), PasswordForm::Plain)
                        }
                        None => (Some(Secret::new(r)), PasswordForm::Base64),
                    },
                };
                let mut transports = Vec::new();
                let mut codecs = Vec::new();
                let mut settings = BTreeMap::new();
                if let Value::Object(o) = line {
                    for (k, v) in o {
                        if let Some(t) = k
                            .strip_prefix("transport_")
                            .filter(|t| *k != "transport_use_standard_ports" && !t.is_empty())
                        {
                            if flag(v) {
                                transports.push(t.to_ascii_uppercase());
                            }
                        } else if let Some(c) = k.strip_prefix("codec_") {
                            if flag(v) {
                                codecs.push(c.to_string());
                            }
                        } else if !known.contains(&k.as_str()) {
                            let value = match v {
                                Value::String(s) if s == "true" || s == "false" => {
                                    Value::Bool(s == "true")
                                }
                                other => other.clone(),
                            };
                            settings.insert(k.clone(), value);
                        }
                    }
                }
                VoipLine {
                    id: id.clone(),
                    kind: text(line, "type"),
                    username: text(line, "username"),
                    password,
                    password_form,
                    server: text(line, "ip"),
                    domain: text(line, "domain"),
                    stun_server: text(line, "stun_server"),
                    proxy: text(line, "proxy"),
                    prefix: text(line, "prefix"),
                    transports,
                    standard_ports: line
                        .get("transport_use_standard_ports")
                        .filter(|v| !is_nothing(v))
                        .map(flag),
                    codecs,
                    settings,
                }
            })
            .collect()
    }
}

/// The carrier's base64 password, decoded when it is base64 of UTF-8 text.
fn decode_password(raw: &str) -> Option<String> {
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(raw.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
}

impl AccountServices for Call42 {
    fn account(&self) -> Result<Account> {
        let body = self.get("account", &[])?;
        let account = self.parse_account(&body)?;
        if let Ok(mut b) = self.balance.lock() {
            *b = Some(account.balance.clone());
        }
        Ok(account)
    }

    fn rates(&self, numbers: &str) -> Result<Vec<Rate>> {
        let parsed = number::parse_list(numbers, self.default_country)?;
        let asked: Vec<(String, Number)> = numbers
            .split('|')
            .map(|t| t.trim().to_string())
            .zip(parsed)
            .collect();
        let list = asked
            .iter()
            .map(|(_, n)| n.with_00())
            .collect::<Vec<_>>()
            .join("|");
        let body = self.get("rates", &[("numbers", &list)])?;
        self.parse_rates(&body, &asked)
    }

    fn call_records(&self, q: &RecordQuery) -> Result<Vec<CallRecord>> {
        let (from, to) = match q.source {
            RecordSource::Cdrs => (q.from.dotted(), q.to.dotted()),
            RecordSource::Callshop if self.account.callshop_dotted => {
                (q.from.dotted(), q.to.dotted())
            }
            RecordSource::Callshop => (q.from.iso(), q.to.iso()),
        };
        let show = q.count.map(|c| c.to_string());
        let mut query = vec![("from", from.as_str()), ("to", to.as_str())];
        if let Some(s) = &show {
            query.push(("show", s.as_str()));
        }
        let body = self.get(q.source.name(), &query)?;
        // "If there is no record available right now, the whole body tree is missing"
        // (cdrs) / "the body tree is an empty array" (cdr-callshop).
        let mut records = if is_nothing(&body) {
            Vec::new()
        } else {
            match q.source {
                RecordSource::Cdrs => self.table_records(&body)?,
                RecordSource::Callshop => self.callshop_records(&body)?,
            }
        };
        records.sort_by(|a, b| a.start.cmp(&b.start));
        if let Some(c) = q.count {
            let c = c as usize;
            if records.len() > c {
                records.drain(..records.len() - c);
            }
        }
        Ok(records)
    }

    fn number_check(&self, typed: &str) -> Result<NumberCheck> {
        let n = self.number(typed)?;
        let cc = n.country_code().to_string();
        let national = &n.international_digits()[cc.len()..];
        let url = format!(
            "{}/api/rest/v3/number-check?{}",
            self.origin,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("prefix", &cc)
                .append_pair("number", national)
                .finish()
        );
        let body = self
            .exchange_url("GET", &url, None, Effect::Read)
            .map_err(|e| self.scrub(e))?;
        if is_nothing(&body) {
            return Err(Error::new(
                ErrorKind::NotFound,
                "42call knows nothing of this number",
            ));
        }
        Ok(NumberCheck {
            number: text(&body, "completenumber")
                .map(|c| from_intl_digits(&c))
                .filter(|c| c.starts_with('+'))
                .unwrap_or_else(|| n.e164()),
            country_code: n.country_code(),
            prefix: text(&body, "prefix").map(|p| prefix_form(&p)),
            subscriber: text(&body, "number"),
            destination: text(&body, "name"),
        })
    }

    fn dialin_numbers(&self) -> Result<DialIn> {
        let body = self.get("onlinecallthrough", &[])?;
        Ok(self.parse_dialin(&body))
    }

    fn store_callthrough(&self, a: &str, b: &str) -> Result<DialIn> {
        let a = self.number(a).map_err(|e| e.context("A number"))?;
        let b = self.number(b).map_err(|e| e.context("B number"))?;
        let form = [
            ("act", "store"),
            ("anumber", &a.with_00()),
            ("bnumber", &b.with_00()),
        ];
        let body = self
            .exchange("POST", "onlinecallthrough", &[], Some(&form), Effect::Write)
            .map_err(|e| self.scrub(e))?;
        Ok(self.parse_dialin(&body))
    }

    fn voip_lines(&self, include_passwords: bool) -> Result<Vec<VoipLine>> {
        let body = self.get("voiplist", &[])?;
        Ok(self.parse_voip(&body, include_passwords))
    }

    fn card(&self, op: CardOp<'_>) -> Result<Card> {
        let (fields, effect) = self.card_request(&op)?;
        let asked = match &op {
            CardOp::Create(c) => c.number.as_str(),
            CardOp::Show(n) | CardOp::Block(n) | CardOp::Unblock(n) | CardOp::Disable(n) => n,
            CardOp::ChangeNumber { new_number, .. } => new_number,
            CardOp::Activate { number, .. } => number,
        };
        let fallback = self.number(asked).map(|n| n.e164()).unwrap_or_default();
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = format!("{}{}", self.origin, self.account.card_path);
        let body = self
            .exchange_url("POST", &url, Some(&form), effect)
            .map_err(|e| self.scrub(e))?;
        let no_card =
            is_nothing(&body) || (text(&body, "CLI").is_none() && body.get("Amount").is_none());
        if no_card {
            return Err(if effect == Effect::Place {
                transport::unknown(
                    self.unreadable_part("card (it said OK but sent no card)", &body),
                )
            } else {
                Error::new(ErrorKind::NotFound, "42call has no card for this number")
            });
        }
        self.parse_card(&body, &fallback).map_err(|e| {
            if effect == Effect::Place {
                transport::unknown(e)
            } else {
                e
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call42(dsn_extra: &str) -> Call42 {
        Call42::new(
            Dsn::parse(&format!(
                "42call://demo:secret@127.0.0.1:9?tls=0&default_country=49{dsn_extra}"
            ))
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn lenient_json_reads_the_documented_card_reply() {
        let doc = r#"{
    "error": false,
    "codes": [ { "code": 200, "description": "OK" } ],
    "body": {
        "Kunde": "4917990000000",
        "CLI": "4917990000000",
        "Amount": "0,10 EUR",
        "AmountAll": "0,10 EUR",
        "fldSerial": "12871384",
        "fldPIN": "321582778",
        "active": ''
	}
    }
}"#;
        let v = lenient_json(doc).unwrap();
        assert_eq!(v["body"]["active"], "");
        let v = lenient_json(&doc.replace("''", "' '")).unwrap();
        assert_eq!(v["body"]["active"], " ");
        // A quote inside a real string is left alone.
        let v = lenient_json(r#"{"a": "it's", "b": ''}"#).unwrap();
        assert_eq!(v, json!({"a": "it's", "b": ""}));
        for garbage in ["", "<html>", "{\"a\": 1} trailing", "{'a: 1}"] {
            assert!(lenient_json(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn card_fields() {
        let c = call42("");
        let body = json!({"Kunde": "4917990000000", "CLI": "4917990000000",
            "Amount": "0,10 EUR", "AmountAll": "0,10 EUR", "fldSerial": "12871384",
            "fldPIN": "321582778", "active": 1});
        let card = c.parse_card(&body, "").unwrap();
        assert_eq!(card.number, "+4917990000000");
        assert_eq!(card.credit.display(), "0.10 EUR");
        assert_eq!(card.credit_total.unwrap().amount, "0.10");
        assert_eq!(card.pin.unwrap().expose(), "321582778");
        assert!(card.active);
        for (active, expected) in [
            (json!(1), true),
            (json!("1"), true),
            (json!(""), false),
            (json!(" "), false),
            (json!(0), false),
            (json!(null), false),
            (json!(true), true),
        ] {
            let mut b = body.clone();
            b["active"] = active.clone();
            assert_eq!(c.parse_card(&b, "").unwrap().active, expected, "{active}");
        }
        // The PIN is now a secret of this client: redacted from any message.
        assert_eq!(
            c.transport.redact("PIN 321582778 refused"),
            "PIN *** refused"
        );
    }

    #[test]
    fn account_and_currency() {
        let c = call42("");
        let body = json!({"accounts": [{"customername": "Demo Kunde", "customernumber": "00216559",
            "accountnumber": "7346165", "amount": "15,4426", "accountname": "Account, Demo"}]});
        let a = c.parse_account(&body).unwrap();
        assert_eq!(a.balance.display(), "15.4426 EUR");
        assert_eq!(a.customer_number.as_deref(), Some("00216559"));
        assert_eq!(a.accounts[0].account_name.as_deref(), Some("Account, Demo"));
        let c = call42("&currency=chf");
        assert_eq!(
            c.parse_account(&body).unwrap().balance.display(),
            "15.4426 CHF"
        );
        let e = c.parse_account(&json!({"accounts": []})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            c.parse_account(&json!([])).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn documented_rates() {
        let c = call42("");
        let body = json!({"currency": "EUR", "rates": [[
            {"number": "0177123456", "destinationname": "Germany Mobile EPlus", "price": "0,10", "prefix": "0049177"},
            {"number": "030123456", "destinationname": "Germany", "price": "0,04", "prefix": "0049"}]]});
        let asked: Vec<(String, Number)> = ["030 123456", "0177 1234567", "0171 1234567"]
            .iter()
            .map(|t| (t.to_string(), number::parse(t, Some(49)).unwrap()))
            .collect();
        // The carrier echoes national numbers here; 0177123456 is not 01771234567.
        let r = c.parse_rates(&body, &asked).unwrap();
        assert_eq!(r[0].number, "+4930123456");
        assert_eq!(r[0].price.as_ref().unwrap().display(), "0.04 EUR");
        assert_eq!(r[0].prefix.as_deref(), Some("+49"));
        assert_eq!(r[0].destination.as_deref(), Some("Germany"));
        assert!(r[1].price.is_none() && r[2].price.is_none());
        assert_eq!(r[2].input, "0171 1234567");
        let none = c.parse_rates(&json!([]), &asked).unwrap();
        assert!(none.iter().all(|r| r.price.is_none()));
    }

    #[test]
    fn documented_table_records() {
        let c = call42("");
        let body = json!({"table": {"caption": "Call detail records", "thead": {},
            "tbody": {"tr": {"td": [
                {"datestart": "2014-02-19 16:50:48", "dateend": "2014-02-19 16:50:49", "time": "00:10:01",
                 "customername": "Doe, Jon", "number": "0049123465798", "destination": "Germany Mobile O2",
                 "amount": "0.01", "amounttax": "0.02", "type": "CALLTHROUGH"},
                {"datestart": "2014-02-14 15:40:00", "dateend": "2014-02-14 15:40:10", "time": "00:00:10",
                 "customername": "Doe, Jon", "number": "ONNET214806", "destination": "Free CALL",
                 "amount": "0.00", "amounttax": "0.00", "type": "VOIP"}]}}, "tfoot": ""},
            "customercurrency": "eur", "customeraccountstate": "18,40"});
        let r = c.table_records(&body).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].start, "2014-02-19T16:50:48");
        assert_eq!(r[0].end.as_deref(), Some("2014-02-19T16:50:49"));
        assert_eq!(r[0].duration_s, 601);
        assert_eq!(r[0].number, "+49123465798");
        assert_eq!(r[0].cost.display(), "0.01 EUR");
        assert_eq!(r[0].cost_with_tax.as_ref().unwrap().amount, "0.02");
        assert_eq!(r[1].number, "ONNET214806");
        assert_eq!(r[1].kind.as_deref(), Some("VOIP"));
        // One record may come as an object rather than a list; no time: from the dates.
        let one = json!({"table": {"tbody": {"tr": {"td":
            {"datestart": "2014-02-14 15:40:00", "dateend": "2014-02-14 15:41:05", "number": "004930123456",
             "amount": "0,0333"}}}}});
        let r = c.table_records(&one).unwrap();
        assert_eq!((r.len(), r[0].duration_s), (1, 65));
        assert_eq!(r[0].cost.amount, "0.0333");
        for empty in [
            json!({"table": {"tbody": ""}}),
            json!({"table": {"tbody": {"tr": {"td": []}}}}),
            json!({}),
        ] {
            assert!(c.table_records(&empty).unwrap().is_empty());
        }
        let bad = json!({"table": {"tbody": {"tr": {"td": [{"datestart": "yesterday", "amount": "1"}]}}}});
        assert_eq!(
            c.table_records(&bad).unwrap_err().kind(),
            ErrorKind::Protocol
        );
    }

    #[test]
    fn documented_callshop_records() {
        let c = call42("");
        let body = json!({"cdrs": [{"data": "2014-02-20 21:51:56.000", "caller": "00493019991390875",
            "callee": "0049179123456", "duration": "4", "billingduration": "4",
            "comment": "Germany Mobile O2", "amount": "0,0012", "amounttax": "0,0012"}]});
        let r = c.callshop_records(&body).unwrap();
        assert_eq!(r[0].start, "2014-02-20T21:51:56");
        assert_eq!(r[0].caller.as_deref(), Some("+493019991390875"));
        assert_eq!(r[0].number, "+49179123456");
        assert_eq!((r[0].duration_s, r[0].billed_s), (4, Some(4)));
        assert_eq!(r[0].cost.display(), "0.0012 EUR");
        assert_eq!(r[0].destination.as_deref(), Some("Germany Mobile O2"));
        assert!(c.callshop_records(&json!({"cdrs": []})).unwrap().is_empty());
    }

    #[test]
    fn amounts_in_one_form() {
        for (carrier, ours) in [
            ("18.4000", "18.40"),
            ("5", "5.00"),
            ("0.1", "0.10"),
            ("0.0133", "0.0133"),
            ("-0.50", "-0.50"),
            ("15.4426", "15.4426"),
            ("0", "0.00"),
        ] {
            assert_eq!(two_decimals_at_least(carrier), ours);
        }
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(
            datetime("2014-02-20 21:51:56.120").unwrap().0,
            "2014-02-20T21:51:56.12"
        );
        assert_eq!(
            datetime("20.02.2014 21:51:56").unwrap().0,
            "2014-02-20T21:51:56"
        );
        for bad in [
            "2014-02-30 10:00:00",
            "2014-02-20 25:00:00",
            "x",
            "2014-02-20 10:00:00.abc",
        ] {
            assert!(datetime(bad).is_none(), "{bad}");
        }
        assert_eq!(seconds(&json!("00:10:01")), Some(601));
        assert_eq!(seconds(&json!("4")), Some(4));
        assert_eq!(seconds(&json!(7)), Some(7));
        assert_eq!(seconds(&json!("1:2:3:4")), None);
        assert_eq!(seconds(&json!("")), None);
    }

    #[test]
    fn documented_dialin_and_voip() {
        let c = call42("");
        let body = json!({"dialinnumberGeo": {"be": "3228084223", "de": "493034649495"},
            "dialinnumberFree": {"de": "498005888868"}, "callbacknumberGeo": {"de": "493020167207"},
            "callbacknumberFree": [], "dialinnumber": "493034649495", "anumber": null, "bnumber": null});
        let d = c.parse_dialin(&body);
        assert_eq!(d.dialin_geo["BE"], "+3228084223");
        assert!(d.callback_free.is_empty());
        assert_eq!(d.personal_dialin.as_deref(), Some("+493034649495"));
        assert_eq!(c.parse_dialin(&Value::Null), DialIn::default());

        let secret = base64::engine::general_purpose::STANDARD.encode("s3cr3t-Sip");
        let body = json!({"voiplist": {
            "sip_10": {"type": "SIP", "username": "x", "password": ""},
            "sip_2": {"type": "SIP", "username": "demo", "password": secret, "ip": "111.222.333.444:50123",
                "domain": "", "transport_tls": "false", "transport_tcp": "true", "transport_udp": "false",
                "transport_use_standard_ports": "true", "forbid_self_call": "true",
                "unknown_incoming_call_name": "Unbekannt", "codec_speex16": "true", "codec_ilbc": "false"},
            "sip_3": {"type": "SIP", "username": "demo", "password": "//4B"}}});
        let lines = c.parse_voip(&body, true);
        assert_eq!(
            lines.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["sip_2", "sip_3", "sip_10"]
        );
        let l = &lines[0];
        assert_eq!(l.password.as_ref().unwrap().expose(), "s3cr3t-Sip");
        assert_eq!(l.password_form, PasswordForm::Plain);
        assert_eq!(l.transports, ["TCP"]);
        assert_eq!(l.codecs, ["speex16"]);
        assert_eq!(l.standard_ports, Some(true));
        assert_eq!(l.domain, None);
        assert_eq!(l.settings["forbid_self_call"], json!(true));
        assert_eq!(l.settings["unknown_incoming_call_name"], json!("Unbekannt"));
        assert_eq!(lines[1].password_form, PasswordForm::Base64);
        assert_eq!(lines[1].password.as_ref().unwrap().expose(), "//4B");
        assert_eq!(lines[2].password_form, PasswordForm::None);
        assert!(!format!("{lines:?}").contains("s3cr3t"));
        let without = c.parse_voip(&body, false);
        assert!(without[0].password.is_none());
        assert_eq!(without[0].password_form, PasswordForm::Omitted);
        assert_eq!(c.transport.redact("x s3cr3t-Sip y"), "x *** y");
        assert!(c.parse_voip(&json!({"voiplist": []}), true).is_empty());
        assert!(c.parse_voip(&Value::Null, true).is_empty());
    }

    #[test]
    fn dsn_options() {
        let mut d =
            Dsn::parse("42call://u:p@h?card_path=/x/y?m=1&realm=shop&currency=usd").unwrap();
        let a = AccountConfig::from_dsn(&mut d).unwrap();
        assert_eq!(
            (
                a.card_path.as_str(),
                a.realm.as_deref(),
                a.currency.as_str()
            ),
            ("/x/y?m=1", Some("shop"), "USD")
        );
        let mut d = Dsn::parse("42call://u:p@h").unwrap();
        let a = AccountConfig::from_dsn(&mut d).unwrap();
        assert_eq!(
            (a.card_path.as_str(), a.realm, a.currency.as_str()),
            (DEFAULT_CARD_PATH, None, "EUR")
        );
        for bad in [
            "card_path=x",
            "card_path=/a%20b",
            "currency=euro",
            "currency=E1R",
        ] {
            let mut d = Dsn::parse(&format!("42call://u:p@h?{bad}")).unwrap();
            assert!(AccountConfig::from_dsn(&mut d).is_err(), "{bad}");
        }
    }
}
