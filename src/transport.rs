//! HTTP to the carriers: one `ureq::Agent` per client (keep-alive pool, timeouts, TLS),
//! a cap on reply bodies, bounded retries for reads, and none for call-placing requests.
//!
//! The one rule that matters most lives here: a request that places something (a call,
//! an SMS, a top-up) is sent at most once. If it fails after its bytes may have left,
//! the error is `OutcomeUnknown`; only failures that happen before anything is sent
//! (no connection, no TLS) are `Network`. Such requests also go out on a fresh
//! connection, so that a keep-alive connection the carrier closed while idle cannot
//! turn into an unknown outcome.

use std::io::ErrorKind as IoKind;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, ErrorKind, Result};
use crate::secrets::Secrets;

mod connector;

/// The largest reply body read from a carrier; a larger one is a protocol error.
pub const MAX_REPLY_BYTES: u64 = 1 << 20;
/// The largest header section of a reply.
const MAX_REPLY_HEADER_BYTES: usize = 16 * 1024;
/// Attempts for a read (the first one included).
const READ_ATTEMPTS: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(100);
/// How much sooner than the whole budget the connection's own budget runs out.
const CONNECT_MARGIN: Duration = Duration::from_millis(50);

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

/// Finds a secret in a reply body (a session key a login returns), registered before the
/// reply is logged: see [`Request::learns_secret`].
pub type SecretInReply = fn(&str) -> Option<String>;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub effect: Effect,
    /// A secret the reply brings, and the slot it is kept in (see
    /// [`Transport::remember_recent`]).
    pub learn: Option<(&'static str, SecretInReply)>,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>, effect: Effect) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
            effect,
            learn: None,
        }
    }
    /// The reply holds a secret (`find` reads it): it is registered the moment the reply
    /// arrives, before any line shows the reply.
    pub fn learns_secret(mut self, slot: &'static str, find: SecretInReply) -> Self {
        self.learn = Some((slot, find));
        self
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
    /// PINs): the client's registry, shared with it ([`Transport::redact`]).
    secrets: Arc<Secrets>,
}

impl Transport {
    /// A transport with a registry of its own (tests, fuzzing), trusting the public roots.
    pub fn new(timeout: Duration) -> Transport {
        Transport::with_secrets(timeout, Arc::new(Secrets::default()))
    }

    /// A transport that registers and blanks secrets in `secrets`, the client's registry,
    /// trusting the public roots.
    pub fn with_secrets(timeout: Duration, secrets: Arc<Secrets>) -> Transport {
        Transport::build(timeout, secrets, None)
    }

    /// The transport of one client, as its DSN says: `timeout_ms`, `tls` and `ca_file`,
    /// sharing the client's registry (`dsn.secrets`). `tls=0` toward a host that is not
    /// this machine logs a WARN here, once per client.
    pub fn for_dsn(dsn: &crate::dsn::Dsn) -> Result<Transport> {
        let roots = match &dsn.ca_file {
            Some(_) if !dsn.tls => {
                return Err(Error::invalid_argument(
                    "DSN: option ca_file needs TLS (it cannot be combined with tls=0)",
                ))
            }
            Some(path) => Some(load_roots(path)?),
            None => None,
        };
        if !dsn.tls && !dsn.host_is_loopback() {
            crate::log::log_at!(
                crate::log::Level::Warn,
                "tls=0 toward {}: credentials and calls cross the network unencrypted \
                 (for a private CA, give its certificate with ca_file=PATH instead)",
                dsn.host
            );
        }
        Ok(Transport::build(dsn.timeout, dsn.secrets.clone(), roots))
    }

    fn build(
        timeout: Duration,
        secrets: Arc<Secrets>,
        roots: Option<Vec<rustls::pki_types::CertificateDer<'static>>>,
    ) -> Transport {
        // One TLS configuration (and session store) for both agents: a call start
        // resumes the session of any earlier connection of this client.
        let tls = Arc::new(connector::Tls::new(roots.unwrap_or_default()));
        let base = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(concat!("callconnect/", env!("CARGO_PKG_VERSION")))
                .max_response_header_size(MAX_REPLY_HEADER_BYTES)
                // ureq's defaults (128 KiB in, 128 KiB out per connection) are made for
                // downloads; carriers' replies are small. Smaller buffers keep memory low
                // and steady under load (tests/load).
                .input_buffer_size(MAX_REPLY_HEADER_BYTES + 4 * 1024)
                .output_buffer_size(16 * 1024)
        };
        let agent = |config: ureq::config::Config| {
            ureq::Agent::with_parts(config, connector::chain(tls.clone()), Resolver::default())
        };
        let pooled = agent(
            base()
                .max_idle_connections_per_host(16)
                .max_idle_age(Duration::from_secs(30))
                .build(),
        );
        let fresh = agent(
            base()
                .max_idle_connections(0)
                .max_idle_connections_per_host(0)
                .build(),
        );
        Transport {
            pooled,
            fresh,
            timeout,
            secrets,
        }
    }

    /// Registers a short-lived secret the moment it exists (a session GUID, a signed
    /// header's value, a call's event token), through a shared reference: see
    /// `Secrets::remember_recent`.
    pub fn remember_recent(&self, slot: &'static str, secret: &str) {
        self.secrets.remember_recent(slot, secret);
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
        self.secrets.add(secret)
    }

    /// `text` with every registered secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// Registers a secret learnt while the client works (an access token fetched later),
    /// through a shared reference. The value replaces the one last set in the same `slot`.
    pub fn set_rotating_secret(&self, slot: &'static str, secret: &str) {
        self.secrets.set_rotating(slot, secret);
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
            let result = self.send_logged(req, deadline, attempt);
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
        // The connection gets a budget a little below the whole one, so that a connection
        // that never comes up ends as "could not connect" (nothing was sent) rather than
        // as the global timeout, which cannot tell where it struck.
        let connect_budget = remaining.saturating_sub(CONNECT_MARGIN.min(remaining / 10));
        let configured = agent
            .configure_request(http_req)
            .timeout_global(Some(remaining))
            .timeout_resolve(Some(connect_budget))
            .timeout_connect(Some(connect_budget))
            .build();
        let mut resp = agent
            .run(configured)
            .map_err(|e| classify(e, req.effect, false, &req.url))?;
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
            .map_err(|e| classify(e, req.effect, true, &req.url))?;
        let body = String::from_utf8(bytes).map_err(|_| {
            let e = Error::protocol("the carrier's reply is not valid UTF-8");
            if req.effect == Effect::Place {
                unknown(e)
            } else {
                e
            }
        })?;
        if let Some((slot, find)) = req.learn {
            if let Some(secret) = find(&body) {
                self.remember_recent(slot, &secret);
            }
        }
        Ok(Response {
            status,
            date,
            content_type,
            body,
        })
    }
}

/// The certificates of `ca_file=PATH`, trusted by the client beside the public roots
/// (Mozilla's list, as ureq trusts by default: [`connector::Tls`]).
fn load_roots(path: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::invalid_argument(format!(
            "DSN: option ca_file: cannot read {path} ({})",
            e.kind()
        ))
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => {
                certs.push(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
            }
            Ok(_) => {}
            Err(_) => {
                return Err(Error::invalid_argument(format!(
                    "DSN: option ca_file: {path} is not a valid PEM file"
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid_argument(format!(
            "DSN: option ca_file: {path} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// What a TLS failure was, when it was one: `Some((message, nothing_sent))`. A handshake
/// failure (the certificate above all) happens before any byte of the request left.
fn tls_failure(e: &ureq::Error, host: &str) -> Option<(String, bool)> {
    let rustls_error = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match (e, rustls_error) {
        (_, Some(rustls::Error::InvalidCertificate(c))) => {
            use rustls::CertificateError as C;
            let why = match c {
                C::Expired | C::ExpiredContext { .. } => "it has expired".to_string(),
                C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".to_string(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "it is not valid for this host name".to_string()
                }
                C::UnknownIssuer => "it was issued by an unknown authority (self-signed, or a \
                     private CA: trust it with ca_file=PATH)"
                    .to_string(),
                C::Revoked => "it was revoked".to_string(),
                C::BadSignature => "its signature is not valid".to_string(),
                other => format!("{other:?}"),
            };
            Some((
                format!("TLS: the certificate of {host} failed verification: {why}; nothing was sent"),
                true,
            ))
        }
        (_, Some(
            r @ (rustls::Error::NoCertificatesPresented
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::UnsupportedNameType),
        )) => Some((
            format!("TLS: the handshake with {host} failed ({r}); no certificate was accepted and nothing was sent"),
            true,
        )),
        (ureq::Error::Tls(m), _) => Some((
            format!("TLS with {host} failed before the request ({m}); nothing was sent"),
            true,
        )),
        (ureq::Error::Pem(_), _) => Some((
            format!("TLS with {host}: a certificate could not be read; nothing was sent"),
            true,
        )),
        (_, Some(r)) => Some((format!("TLS with {host} failed ({r})"), false)),
        _ => None,
    }
}

/// How long a looked-up host name is kept.
const NAME_TTL: Duration = Duration::from_secs(60);

/// Host names to addresses for the agents. ureq's own resolver starts a thread for every
/// request to bound the lookup's time, even for an IP address and even when a kept-alive
/// connection is reused next (a thread per request: most of the library's cost per
/// request in BENCHMARKS.md before this). This one answers an IP address at once, keeps
/// a name's addresses for [`NAME_TTL`], and hands only a name it does not know to ureq's
/// resolver (time-bounded as before).
#[derive(Debug, Default)]
struct Resolver {
    names: std::sync::Mutex<
        std::collections::HashMap<
            String,
            (Instant, ureq::unversioned::resolver::ResolvedSocketAddrs),
        >,
    >,
    lookup: ureq::unversioned::resolver::DefaultResolver,
}

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> std::result::Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or("");
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        let now = Instant::now();
        if let Ok(names) = self.names.lock() {
            if let Some((at, addrs)) = names.get(&key) {
                if now.duration_since(*at) < NAME_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        if let Ok(mut names) = self.names.lock() {
            names.insert(key, (now, addrs.clone()));
        }
        Ok(addrs)
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
/// the reply body (the request surely arrived). A placing request whose bytes may have
/// left becomes `OutcomeUnknown`; `tests/faults.rs` holds every fault to this.
fn classify(e: ureq::Error, effect: Effect, in_body: bool, url: &str) -> Error {
    use ureq::Timeout as T;
    let host = url
        .parse::<ureq::http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_else(|| "the carrier".to_string());
    let tls = if in_body {
        None
    } else {
        tls_failure(&e, &host)
    };
    let (kind, message, nothing_sent) = match &e {
        _ if tls.is_some() => {
            let (message, nothing_sent) = tls.unwrap_or_default();
            (ErrorKind::Network, message, nothing_sent)
        }
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
        // Only a timeout while resolving or connecting proves that nothing was sent. One
        // while sending may have delivered the request whole (the last write can time out
        // after its bytes left), so it counts as "may have arrived", as does the global
        // timeout, which does not say in which phase it struck.
        ureq::Error::Timeout(T::Resolve | T::Connect) => (
            ErrorKind::Network,
            "could not connect to the carrier within timeout_ms".to_string(),
            true,
        ),
        ureq::Error::Timeout(_) => (
            ErrorKind::Timeout,
            "the carrier did not answer within timeout_ms".to_string(),
            false,
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

/// The log of each exchange (see `crate::log`): built only when its level is on, and
/// with every secret blanked before anything is written.
impl Transport {
    fn send_logged(&self, req: &Request, deadline: Instant, attempt: u32) -> Result<Response> {
        use crate::log::{self, Level};
        if !log::enabled(Level::Error) {
            return self.send_once(req, deadline);
        }
        let url = self.redact(&log::url(&req.url));
        let what = if attempt > 1 {
            format!("{} {url} (attempt {attempt})", req.method)
        } else {
            format!("{} {url}", req.method)
        };
        log::log_at!(Level::Debug, "-> {what}{}", self.logged_request(req));
        let started = Instant::now();
        let result = self.send_once(req, deadline);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(r) => {
                log::log_at!(
                    Level::Debug,
                    "<- HTTP {} in {ms} ms{}{}",
                    r.status,
                    r.content_type
                        .as_deref()
                        .map(|c| format!(" [{c}]"))
                        .unwrap_or_default(),
                    self.logged_body(&r.body, r.content_type.as_deref())
                );
                log::log_at!(Level::Info, "{what} -> HTTP {} in {ms} ms", r.status);
            }
            Err(e) => {
                let level = if e.kind() == ErrorKind::OutcomeUnknown {
                    Level::Error
                } else {
                    Level::Warn
                };
                log::log_at!(
                    level,
                    "{what} failed after {ms} ms: {}",
                    self.redact(e.message())
                );
            }
        }
        result
    }

    /// `[header: value, ...] body` with secret header values and fields blanked.
    fn logged_request(&self, req: &Request) -> String {
        let mut out = String::new();
        if !req.headers.is_empty() {
            let headers = req
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", crate::log::header_value(k, v)))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(" [{}]", self.redact(&headers)));
        }
        let body = match &req.body {
            Body::None => return out,
            Body::Form(fields) => {
                crate::log::form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }
            Body::Json(s) => crate::log::body(s, Some("application/json")),
        };
        out.push(' ');
        out.push_str(&crate::log::one_line(&self.redact(&body)));
        out
    }

    fn logged_body(&self, body: &str, content_type: Option<&str>) -> String {
        if body.is_empty() {
            return String::new();
        }
        let text = crate::log::one_line(&self.redact(&crate::log::body(body, content_type)));
        format!(" {text}")
    }
}
