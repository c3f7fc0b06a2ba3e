//! 42call (42com's login.42call.com), REST v2: web callback, SMS, PIN top-up. The
//! account services (balance, rates, call records, cards, ...) are in `account` (this folder).
//!
//! Every request is signed: `key = md5_hex(password)` (the 32 hex characters are the
//! key's bytes), `message = key + "\n" + x-date`, `x-authorization = USER ":"
//! base64(HMAC-SHA1(key, message))`. Bodies are form-urlencoded and not signed. Every
//! reply is the envelope `{error, codes: [{code, description}], body}`.
//!
//! Choices where the carrier's documents are silent (change them here):
//! - numbers are sent in the international `00` form (`00491711234567`), the form the
//!   carrier's own call records use;
//! - `stopcallback` names the call with `callerId`, the only document's word ("For
//!   identifying a specific call you need to transmit the callerId"), and with `callId`
//!   too, the field `trycallback` returned it in (see [`stop_form`]);
//! - the carrier has no status call for a web callback: a call reads `INITIATING`
//!   (not live) until the host hangs it up or its limits run out;
//! - code 402 is read as insufficient funds (not in the documents).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hmac::{KeyInit, Mac};
use md5::Digest;
use serde::Deserialize;

use crate::account::AccountServices;
use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{CallContext, CallOptions, Capabilities, StartContext, Started};
use crate::model::{CallState, FailReason, Observation};
use crate::money::Money;
use crate::number::{self, Number};
use crate::providers::call42::account::{lenient_json, AccountConfig};
use crate::providers::Provider;
use crate::transport::{self, Effect, Request, Response, Transport};

pub mod account;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

pub struct Call42 {
    user: String,
    /// `md5_hex(password)`: the signing key. The password itself is not kept.
    key: Secret,
    pub(crate) origin: String,
    pub(crate) default_country: Option<u16>,
    pub(crate) transport: Transport,
    /// Server time minus local time, in ms, learnt from a 1011/1012 reply's `Date`.
    skew_ms: AtomicI64,
    pub(crate) balance: Mutex<Option<Money>>,
    /// DSN options of the account services (`card_path`, `realm`, `currency`).
    pub(crate) account: AccountConfig,
}

/// What a carrier code means.
fn kind_of(code: u32) -> ErrorKind {
    match code {
        401 | 403 | 1011 | 1012 => ErrorKind::Auth,
        402 => ErrorKind::InsufficientFunds,
        _ => ErrorKind::Provider,
    }
}

impl Call42 {
    pub fn from_dsn(dsn: Dsn) -> Result<Box<dyn Provider>> {
        Ok(Box::new(Call42::new(dsn)?))
    }

    /// The carrier itself (for [`Call42::from_dsn`] and the account services' tests).
    pub(crate) fn new(mut dsn: Dsn) -> Result<Call42> {
        let user = dsn.require_user("42call user name")?;
        let password = dsn.require_secret("42call password")?;
        let account = AccountConfig::from_dsn(&mut dsn)?;
        dsn.finish()?;
        let mut transport = Transport::for_dsn(&dsn)?;
        let key = md5_hex(password.expose());
        transport.add_secret(password.expose());
        transport.add_secret(&key);
        Ok(Call42 {
            user,
            key: Secret::new(key),
            origin: dsn.origin(),
            default_country: dsn.default_country,
            transport,
            skew_ms: AtomicI64::new(0),
            balance: Mutex::new(None),
            account,
        })
    }

    pub(crate) fn number(&self, typed: &str) -> Result<Number> {
        number::parse(typed, self.default_country)
    }

    /// One signed exchange with a module; returns the envelope's body.
    pub(crate) fn exchange(
        &self,
        method: &'static str,
        module: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        effect: Effect,
    ) -> Result<serde_json::Value> {
        let mut url = format!("{}/api/rest/v2/?{module}", self.origin);
        if !query.is_empty() {
            url.push('&');
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query.iter())
                    .finish(),
            );
        }
        self.exchange_url(method, &url, form, effect)
    }

    /// One signed exchange with a full URL (the v3 resources, the card module's path).
    pub(crate) fn exchange_url(
        &self,
        method: &'static str,
        url: &str,
        form: Option<&[(&str, &str)]>,
        effect: Effect,
    ) -> Result<serde_json::Value> {
        let mut resigned = false;
        loop {
            let now = SystemTime::now();
            let skew = self.skew_ms.load(Ordering::Relaxed);
            let x_date = x_date(shift(now, skew));
            let authorization = sign(&self.user, self.key.expose(), &x_date);
            // It authorises any request within the carrier's clock window: a secret from
            // the moment it exists (a carrier that echoes the request shows it).
            if let Some((_, signature)) = authorization.split_once(':') {
                self.transport
                    .remember_recent("42call-x-authorization", signature);
            }
            self.transport
                .remember_recent("42call-x-authorization", &authorization);
            let mut req = Request::new(method, url, effect)
                .header("x-date", x_date.clone())
                .header("x-authorization", authorization);
            if let Some(f) = form {
                req = req.form(f);
            }
            let resp = self.transport.send(&req)?;
            match self.read_envelope(&resp, effect) {
                Err(e) if !resigned && matches!(e.carrier_code(), Some("1011" | "1012")) => {
                    // The carrier refused the date: nothing was acted on, so signing once
                    // more with its clock is safe even for a call start.
                    let Some(server) = resp.date else {
                        return Err(e);
                    };
                    let local = SystemTime::now();
                    let skew = match server.duration_since(local) {
                        Ok(d) => d.as_millis() as i64,
                        Err(e) => -(e.duration().as_millis() as i64),
                    };
                    self.skew_ms.store(skew, Ordering::Relaxed);
                    resigned = true;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn read_envelope(
        &self,
        resp: &Response,
        effect: Effect,
    ) -> Result<serde_json::Value> {
        // Straight into the envelope (one pass over the text); only a reply that is not
        // strict JSON goes the lenient way: the card module's documented replies hold
        // PHP-style '' strings.
        let parsed: std::result::Result<Envelope, _> = serde_json::from_str(&resp.body)
            .or_else(|_| lenient_json(&resp.body).and_then(serde_json::from_value));
        let env = match parsed {
            Ok(env) if env.error.is_some() || !env.codes.is_empty() => env,
            _ => {
                let e = match resp.status {
                    401 | 403 => Error::new(
                        ErrorKind::Auth,
                        format!("42call refused the credentials (HTTP {})", resp.status),
                    ),
                    503 => {
                        return Err(Error::new(
                            ErrorKind::Network,
                            "42call is unavailable (HTTP 503)",
                        ));
                    }
                    s if s >= 400 => {
                        Error::new(ErrorKind::Provider, format!("42call answered HTTP {s}"))
                    }
                    _ => crate::providers::unreadable(
                        &self.transport,
                        "42call's reply is not its JSON envelope",
                        resp,
                    ),
                };
                return Err(if effect == Effect::Place && e.kind() != ErrorKind::Auth {
                    transport::unknown(e)
                } else {
                    e
                });
            }
        };
        self.remember_balance(&env.body);
        let first = env.codes.first();
        let code = first.and_then(|c| c.code_number());
        let failed = env.error.unwrap_or(false) || code.is_some_and(|c| c != 200);
        if !failed {
            return Ok(env.body);
        }
        let (code, text) = match first {
            Some(c) => (c.code_text(), c.description.clone()),
            None => ("".to_string(), "error without a code".to_string()),
        };
        let kind = code.parse().map(kind_of).unwrap_or(ErrorKind::Provider);
        Err(Error::carrier(kind, code, format!("42call: {text}")))
    }

    fn remember_balance(&self, body: &serde_json::Value) {
        let Some(state) = body.get("customeraccountstate").and_then(|v| v.as_str()) else {
            return;
        };
        let currency = body.get("customercurrency").and_then(|v| v.as_str());
        if let Ok(m) = Money::parse(state, currency) {
            if let Ok(mut b) = self.balance.lock() {
                *b = Some(m);
            }
        }
    }
}

impl Provider for Call42 {
    fn scheme(&self) -> &'static str {
        "42call"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::CALLBACK
            | Capabilities::HANGUP
            | Capabilities::SMS
            | Capabilities::TOPUP
            | Capabilities::ACCOUNT
    }

    fn start_call(
        &self,
        a: &str,
        b: &str,
        _options: &CallOptions,
        _start: &StartContext<'_>,
    ) -> Result<Started> {
        let a = self.number(a).map_err(|e| e.context("A number"))?;
        let b = self.number(b).map_err(|e| e.context("B number"))?;
        let form = [
            ("act", "trycallback"),
            ("aNumber", &a.with_00()),
            ("bNumber", &b.with_00()),
        ];
        let body = self.exchange("POST", "webcallback", &[], Some(&form), Effect::Place)?;
        let id = body
            .get("callId")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                transport::unknown(Error::protocol(
                    "42call accepted the callback but sent no callId",
                ))
            })?;
        Ok(Started {
            call_id: id.to_string(),
            extra: serde_json::Value::Null,
            observation: Observation::state(CallState::Initiating),
            live: false,
        })
    }

    fn poll(&self, _call: &CallContext<'_>) -> Result<Option<Observation>> {
        Ok(None)
    }

    fn hangup(&self, call: &CallContext<'_>) -> Result<Observation> {
        let form = stop_form(call.call_id);
        self.exchange("POST", "webcallback", &[], Some(&form), Effect::Write)?;
        Ok(Observation {
            state: Some(CallState::Ended),
            reason: FailReason::Cancelled,
            ..Default::default()
        })
    }

    fn send_sms(&self, recipients: &str, text: &str) -> Result<String> {
        let numbers = number::parse_list(recipients, self.default_country)?;
        let list = numbers
            .iter()
            .map(Number::with_00)
            .collect::<Vec<_>>()
            .join("|");
        let form = [
            ("act", "sendSms"),
            ("phonenumbers", list.as_str()),
            ("message", text),
        ];
        let body = self.exchange("POST", "sms", &[], Some(&form), Effect::Place)?;
        body.get("smsbilledId")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                transport::unknown(Error::protocol(
                    "42call accepted the SMS but sent no smsbilledId",
                ))
            })
    }

    fn topup(&self, pin: &str) -> Result<Option<Money>> {
        self.exchange("POST", "topup", &[], Some(&[("pin", pin)]), Effect::Place)?;
        Ok(self.known_balance())
    }

    fn known_balance(&self) -> Option<Money> {
        self.balance.lock().ok().and_then(|b| b.clone())
    }

    fn account_services(&self) -> Option<&dyn AccountServices> {
        Some(self)
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "loose_bool")]
    error: Option<bool>,
    #[serde(default)]
    codes: Vec<Code>,
    #[serde(default)]
    body: serde_json::Value,
}

#[derive(Deserialize)]
struct Code {
    code: serde_json::Value,
    #[serde(default)]
    description: String,
}

impl Code {
    fn code_number(&self) -> Option<u32> {
        match &self.code {
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn code_text(&self) -> String {
        match &self.code {
            serde_json::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        }
    }
}

fn loose_bool<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::Number(n) => Some(n.as_u64() != Some(0)),
        serde_json::Value::String(s) => Some(matches!(s.as_str(), "true" | "1")),
        _ => None,
    })
}

/// The form of `stopcallback`. The one document names the call's field `callerId`
/// (developer.42one.com/web-callback), while `trycallback` returns it as `callId`; no
/// public client sends stopcallback. Both carry the id: a PHP backend ignores a form
/// field it does not read, and a stop request that names the call in both readings
/// cannot stop any other call (the value is the same id).
pub(crate) fn stop_form(call_id: &str) -> [(&'static str, &str); 3] {
    [
        ("act", "stopcallback"),
        ("callerId", call_id),
        ("callId", call_id),
    ]
}

pub(crate) fn md5_hex(s: &str) -> String {
    let digest = md5::Md5::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `x-authorization` value for a user, the `md5_hex(password)` key and an x-date.
pub(crate) fn sign(user: &str, key_hex: &str, x_date: &str) -> String {
    let mut mac = HmacSha1::new_from_slice(key_hex.as_bytes()).expect("HMAC takes any key length");
    mac.update(key_hex.as_bytes());
    mac.update(b"\n");
    mac.update(x_date.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("{user}:{sig}")
}

fn shift(t: SystemTime, ms: i64) -> SystemTime {
    if ms >= 0 {
        t + Duration::from_millis(ms as u64)
    } else {
        t - Duration::from_millis(ms.unsigned_abs())
    }
}

/// `2014-02-20 18:56:08.000000 GMT+0000`, the form of the carrier's examples.
pub(crate) fn x_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.000000 GMT+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_date_form() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_392_922_568);
        assert_eq!(x_date(t), "2014-02-20 18:56:08.000000 GMT+0000");
        assert_eq!(
            x_date(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00.000000 GMT+0000"
        );
    }

    /// The vector was computed independently with Python's hmac/hashlib:
    /// `base64(hmac.new(md5(b"secret").hexdigest().encode(),
    ///  md5(b"secret").hexdigest().encode() + b"\n" + b"2014-02-20 18:56:08.000000 GMT+0000",
    ///  hashlib.sha1).digest())`.
    #[test]
    fn signature_vector() {
        let key = md5_hex("secret");
        assert_eq!(key, "5ebe2294ecd0e0f08eab7690d2a6ee69");
        let auth = sign("demo", &key, "2014-02-20 18:56:08.000000 GMT+0000");
        assert_eq!(auth, "demo:8pYD0u3eO7K1foylON3/w11jcVk=");
        assert_eq!(auth.len() - "demo:".len(), 28);
    }

    #[test]
    fn envelope_codes() {
        let e: Envelope = serde_json::from_str(
            r#"{"error":true,"codes":[{"code":1200,"description":"PIN"}],"body":[]}"#,
        )
        .unwrap();
        assert_eq!(e.error, Some(true));
        assert_eq!(e.codes[0].code_number(), Some(1200));
        let e: Envelope =
            serde_json::from_str(r#"{"error":"false","codes":[{"code":"200"}]}"#).unwrap();
        assert_eq!(e.error, Some(false));
        assert_eq!(e.codes[0].code_number(), Some(200));
    }

    /// A PHP backend may write the flag as a number: 0 is no error, any other is one.
    #[test]
    fn envelope_error_flag_as_a_number() {
        for (flag, want) in [("0", Some(false)), ("1", Some(true)), ("2", Some(true))] {
            let e: Envelope =
                serde_json::from_str(&format!(r#"{{"error":{flag},"codes":[]}}"#)).unwrap();
            assert_eq!(e.error, want, "error: {flag}");
        }
        let e: Envelope = serde_json::from_str(r#"{"error":null}"#).unwrap();
        assert_eq!(e.error, None);
    }
}
