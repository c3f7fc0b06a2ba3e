//! HTTP to the carriers: one `ureq::Agent` per client (keep-alive pool, timeouts, TLS),
//! a cap on reply bodies, bounded retries for reads, and none for call-placing requests.
//!
//! The one rule that matters most lives here: a request that places something (a call,
//! an SMS, a top-up) is sent at most once. If it fails after its bytes may have left,
//! the error is `OutcomeUnknown`; only failures that happen before anything is sent
//! (no connection, no TLS) are `Network`. Such requests also go out on a fresh
//! connection, so that a keep-alive connection the carrier closed while idle cannot
//! turn into an unknown outcome.

use std::collections::BTreeMap;
use std::io::ErrorKind as IoKind;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, ErrorKind, Result};

/// The largest reply body read from a carrier; a larger one is a protocol error.
pub const MAX_REPLY_BYTES: u64 = 1 << 20;
/// Attempts for a read (the first one included).
const READ_ATTEMPTS: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(100);

/// What a request does at the carrier, which decides whether it may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads or idempotent changes: retried with backoff on network faults and 5xx.
    Read,
    /// Places a call, sends an SMS, spends a PIN: never repeated by this layer.
    Place,
    /// Changes something, not safe to repeat blindly, but not placing (hang-up, log-out):
    /// sent once, and a fault after sending is a plain network error.
    Write,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub effect: Effect,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>, effect: Effect) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
            effect,
        }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        self.body = Body::Form(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }
    pub fn json(mut self, body: String) -> Self {
        self.body = Body::Json(body);
        self
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The reply's `Date` header, when it had a valid one.
    pub date: Option<SystemTime>,
    pub content_type: Option<String>,
    pub body: String,
}

pub struct Transport {
    pooled: ureq::Agent,
    fresh: ureq::Agent,
    timeout: Duration,
    /// Values that must never appear in a log line or message (passwords, keys, tokens,
    /// PINs): [`Transport::redact`] blanks them out. Behind a lock so that secrets learnt
    /// from replies (card PINs, SIP passwords) can be added to a shared client.
    secrets: RwLock<Vec<String>>,
    /// Secrets learnt after the client was built (e.g. an OAuth token), by slot: a new
    /// value replaces the slot's old one, so renewals do not pile up.
    rotating: Mutex<BTreeMap<&'static str, Vec<String>>>,
}

/// The most secrets one transport keeps (credentials plus those learnt from replies).
/// Past it, new ones are no longer remembered (`remember_secret` says so); the bound
/// keeps a long-running daemon's memory flat. Messages are built from values known not
/// to be secret in any case: redaction is the second line of defence.
const MAX_SECRETS: usize = 16_384;

impl Transport {
    pub fn new(timeout: Duration) -> Transport {
        let base = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(concat!("callconnect/", env!("CARGO_PKG_VERSION")))
                .max_response_header_size(64 * 1024)
        };
        let pooled = base()
            .max_idle_connections_per_host(16)
            .max_idle_age(Duration::from_secs(30))
            .build()
            .new_agent();
        let fresh = base()
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .new_agent();
        Transport {
            pooled,
            fresh,
            timeout,
            secrets: RwLock::new(Vec::new()),
            rotating: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers a value that must never be shown (and its percent-encoded form).
    /// Every carrier registers its credentials here when it is built.
    pub fn add_secret(&mut self, secret: &str) {
        self.remember_secret(secret);
    }

    /// Like [`Transport::add_secret`], for a transport already shared: secrets that
    /// arrive in replies (a card's PIN, a SIP password) or in arguments (a PIN to
    /// activate) are registered here. Returns false when the list is full.
    pub fn remember_secret(&self, secret: &str) -> bool {
        if secret.is_empty() {
            return true;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        for form in [
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        ] {
            if !secrets.contains(&form) {
                if secrets.len() >= MAX_SECRETS {
                    return false;
                }
                secrets.push(form);
            }
        }
        // Longest first, so that a secret containing another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        true
    }

    /// `text` with every registered secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        let rotating: Vec<String> = match self.rotating.lock() {
            Ok(r) => r.values().flatten().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut all: Vec<&String> = secrets.iter().chain(rotating.iter()).collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in all {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Registers a secret learnt while the client works (an access token fetched later),
    /// through a shared reference. The value replaces the one last set in the same `slot`.
    pub fn set_rotating_secret(&self, slot: &'static str, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let forms = vec![
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        ];
        if let Ok(mut r) = self.rotating.lock() {
            r.insert(slot, forms);
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a request within the client's timeout. Reads are retried (bounded, with
    /// backoff) on network faults and on 500/502/503/504; nothing else is.
    pub fn send(&self, req: &Request) -> Result<Response> {
        self.send_until(req, Instant::now() + self.timeout)
    }

    /// As [`Transport::send`], within a deadline the caller chose (for an operation made
    /// of several requests that shares one timeout).
    pub fn send_until(&self, req: &Request, deadline: Instant) -> Result<Response> {
        let mut backoff = BACKOFF_START;
        let mut attempt = 1;
        loop {
            let result = self.send_once(req, deadline);
            let retry = req.effect == Effect::Read
                && attempt < READ_ATTEMPTS
                && match &result {
                    Ok(r) => matches!(r.status, 500 | 502 | 503 | 504),
                    Err(e) => matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout),
                };
            if !retry || Instant::now() + backoff >= deadline {
                return result;
            }
            std::thread::sleep(backoff);
            backoff *= 2;
            attempt += 1;
        }
    }

    fn send_once(&self, req: &Request, deadline: Instant) -> Result<Response> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::new(
                ErrorKind::Timeout,
                "timed out before the request could be sent",
            ));
        }
        let agent = if req.effect == Effect::Place {
            &self.fresh
        } else {
            &self.pooled
        };
        let mut builder = ureq::http::Request::builder()
            .method(req.method)
            .uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body: Vec<u8> = match &req.body {
            Body::None => Vec::new(),
            Body::Form(fields) => {
                builder = builder.header("content-type", "application/x-www-form-urlencoded");
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter())
                    .finish()
                    .into_bytes()
            }
            Body::Json(s) => {
                builder = builder.header("content-type", "application/json");
                s.clone().into_bytes()
            }
        };
        let http_req = builder
            .body(body)
            .map_err(|_| Error::internal("could not build the HTTP request"))?;
        let configured = agent
            .configure_request(http_req)
            .timeout_global(Some(remaining))
            .build();
        let mut resp = agent
            .run(configured)
            .map_err(|e| classify(e, req.effect, false))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let date = header("date").and_then(|d| httpdate::parse_http_date(&d).ok());
        let content_type = header("content-type");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_vec()
            .map_err(|e| classify(e, req.effect, true))?;
        let body = String::from_utf8(bytes).map_err(|_| {
            let e = Error::protocol("the carrier's reply is not valid UTF-8");
            if req.effect == Effect::Place {
                unknown(e)
            } else {
                e
            }
        })?;
        Ok(Response {
            status,
            date,
            content_type,
            body,
        })
    }
}

/// Turns an error into "the outcome is unknown" for a placing request.
pub fn unknown(e: Error) -> Error {
    Error::new(
        ErrorKind::OutcomeUnknown,
        format!(
            "{} (the request may have reached the carrier: it was not repeated; check before trying again)",
            e.message()
        ),
    )
}

/// Sorts a ureq error into the library's kinds. `in_body`: the failure came while reading
/// the reply body (the request surely arrived).
fn classify(e: ureq::Error, effect: Effect, in_body: bool) -> Error {
    use ureq::Timeout as T;
    let (kind, message, nothing_sent) = match &e {
        ureq::Error::HostNotFound => (
            ErrorKind::Network,
            "the carrier's host name was not found".to_string(),
            true,
        ),
        ureq::Error::ConnectionFailed => (
            ErrorKind::Network,
            "could not connect to the carrier".to_string(),
            true,
        ),
        ureq::Error::Io(io) if !in_body && is_connect_error(io.kind()) => (
            ErrorKind::Network,
            format!("could not connect to the carrier ({})", io.kind()),
            true,
        ),
        ureq::Error::Timeout(t) => {
            let before =
                matches!(t, T::Resolve | T::Connect | T::SendRequest | T::SendBody) && !in_body;
            (
                ErrorKind::Timeout,
                format!("the carrier did not answer in time ({t})"),
                before,
            )
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => (
            ErrorKind::Network,
            "TLS failed with the carrier (certificate or handshake)".to_string(),
            true,
        ),
        ureq::Error::BodyExceedsLimit(_) => (
            ErrorKind::Protocol,
            format!("the carrier's reply is larger than {MAX_REPLY_BYTES} bytes"),
            false,
        ),
        ureq::Error::LargeResponseHeader(_, _) => (
            ErrorKind::Protocol,
            "the carrier's reply headers are too large".to_string(),
            false,
        ),
        ureq::Error::Protocol(_) => (
            ErrorKind::Protocol,
            "the carrier's reply is not valid HTTP".to_string(),
            false,
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (
            ErrorKind::InvalidArgument,
            "the carrier URL is not valid (check the DSN host and path)".to_string(),
            true,
        ),
        ureq::Error::Io(io) => (
            ErrorKind::Network,
            format!("the connection to the carrier failed ({})", io.kind()),
            false,
        ),
        _ => (
            ErrorKind::Network,
            "the exchange with the carrier failed".to_string(),
            false,
        ),
    };
    let err = Error::new(kind, message);
    if effect == Effect::Place && !nothing_sent {
        unknown(err)
    } else {
        err
    }
}

fn is_connect_error(kind: IoKind) -> bool {
    matches!(
        kind,
        IoKind::ConnectionRefused
            | IoKind::HostUnreachable
            | IoKind::NetworkUnreachable
            | IoKind::NetworkDown
            | IoKind::AddrNotAvailable
    )
}
