//! A loopback simulator of the carriers' HTTP APIs, for callconnect's tests and demo.
//!
//! It speaks each carrier's protocol as the carrier's documents describe, checks their
//! authentication, and plays calls forward in time (A rings, answers, B rings, bridge,
//! end) at a configurable speed. Magic numbers pick outcomes by their last three digits
//! (SIP codes): `486` busy, `408` no answer, `603` rejected, `404` unobtainable (invalid),
//! `402` insufficient funds; on the A number the A leg fails, on the B number the B leg.
//!
//! Control endpoints for tests live under `/_sim/`: `/_sim/stats` (JSON counters of every
//! module), `/_sim/fault?kind=...` (fault injection, see [`faults`]) and
//! `/_sim/<module>/<action>` (each module's own). `_requests` in the stats counts every
//! request that reached a carrier module (the request log tests assert on).
//!
//! HTTPS: [`tls::TlsFront`] serves the same simulator over TLS with certificates from a
//! test CA made at start ([`tls::TestPki`]).

pub mod call42;
pub mod connectcall;
pub mod faults;
pub mod poketalk;
pub mod timeline;
pub mod tls;
pub mod voipnow;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Milliseconds per call stage (A ringing, A answered, ...). 0: calls complete at once.
    pub step_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            step_ms: 200,
        }
    }
}

/// One HTTP request, read whole.
#[derive(Debug, Clone)]
pub struct SimRequest {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query string (without `?`).
    pub query_string: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub remote: Option<SocketAddr>,
}

impl SimRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The query's pairs, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query_string.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
    /// The body's pairs, when it is form-urlencoded.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
    pub fn form_param(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// One HTTP reply.
#[derive(Debug, Clone)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SimResponse {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        SimResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        SimResponse::new(status, "application/json", value.to_string())
    }
    pub fn text(status: u16, body: &str) -> Self {
        SimResponse::new(status, "text/plain; charset=utf-8", body)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One carrier's protocol.
pub trait Module: Send + Sync {
    /// Short name, used in `/_sim/<name>/...` and in the stats.
    fn name(&self) -> &'static str;
    /// Whether a request to `path` is this carrier's.
    fn matches(&self, path: &str) -> bool;
    fn handle(&self, req: &SimRequest) -> SimResponse;
    /// `/_sim/<name>/<action>`; `None` if the action is unknown.
    fn control(&self, _action: &str, _req: &SimRequest) -> Option<SimResponse> {
        None
    }
    /// Counters for `/_sim/stats`.
    fn stats(&self) -> serde_json::Value;
}

struct Shared {
    modules: Vec<Box<dyn Module>>,
    stop: AtomicBool,
    faults: faults::Faults,
    /// The listening address (to find a connection that a fault closes).
    addr: SocketAddr,
    /// Requests that reached a carrier module (not `/_sim/` ones).
    requests: std::sync::atomic::AtomicU64,
    /// Handshakes of this simulator's TLS fronts ([`tls::Handshakes`]).
    tls: Arc<tls::Handshakes>,
}

impl Shared {
    fn dispatch(&self, req: &SimRequest) -> SimResponse {
        if let Some(rest) = req.path.strip_prefix("/_sim/") {
            if rest == "stats" {
                let mut map: serde_json::Map<String, serde_json::Value> = self
                    .modules
                    .iter()
                    .map(|m| (m.name().to_string(), m.stats()))
                    .collect();
                map.insert("_faults".into(), self.faults.stats());
                map.insert(
                    "_requests".into(),
                    serde_json::json!({"total": self.requests.load(Ordering::SeqCst)}),
                );
                map.insert("_tls".into(), self.tls.stats());
                return SimResponse::json(200, &serde_json::Value::Object(map));
            }
            if rest == "health" {
                return SimResponse::text(200, "ok");
            }
            if rest == "fault" || rest == "fault/clear" {
                return self.faults.control(rest.trim_start_matches("fault/"), req);
            }
            if let Some((module, action)) = rest.split_once('/') {
                if let Some(m) = self.modules.iter().find(|m| m.name() == module) {
                    if let Some(resp) = m.control(action, req) {
                        return resp;
                    }
                }
            }
            return SimResponse::text(404, "unknown simulator control");
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        match self.modules.iter().find(|m| m.matches(&req.path)) {
            Some(m) => m.handle(req),
            None => SimResponse::text(404, "no carrier here"),
        }
    }
}

/// A running simulator. Stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

const WORKERS: usize = 4;

impl Simulator {
    pub fn start(config: Config) -> std::io::Result<Simulator> {
        let server = tiny_http::Server::http(config.bind).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let modules: Vec<Box<dyn Module>> = vec![
            Box::new(call42::Call42::new(config.step_ms)),
            Box::new(voipnow::VoipNow::new(config.step_ms)),
            Box::new(connectcall::ConnectCall::new(config.step_ms)),
            Box::new(poketalk::PokeTalk::new(config.step_ms)),
        ];
        let shared = Arc::new(Shared {
            modules,
            stop: AtomicBool::new(false),
            faults: faults::Faults::default(),
            addr,
            requests: std::sync::atomic::AtomicU64::new(0),
            tls: Arc::default(),
        });
        let workers = (0..WORKERS)
            .map(|_| {
                let server = server.clone();
                let shared = shared.clone();
                std::thread::spawn(move || accept_loop(&server, &shared))
            })
            .collect();
        Ok(Simulator {
            addr,
            server,
            shared,
            workers,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers one request directly (no socket): for unit tests of the modules.
    pub fn call(&self, req: &SimRequest) -> SimResponse {
        self.shared.dispatch(req)
    }

    /// Arms a fault for the next `count` requests whose path and query contain `path`
    /// (see [`faults`]; `Kind::Refused` is not armed: use [`faults::closed_port`]).
    pub fn arm_fault(&self, kind: faults::Kind, path: &str, count: u32, delay: Duration) {
        self.shared.faults.arm(kind, path, count, delay);
    }

    /// Arms a canned reply for the next `count` requests whose path and query contain
    /// `path` (the carrier module does not see them).
    pub fn arm_reply(&self, path: &str, count: u32, reply: SimResponse) {
        self.shared.faults.arm_reply(path, count, reply);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// How many requests reached a carrier module since the start (every carrier, every
    /// path but `/_sim/`).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The handshake counters shared by this simulator's TLS fronts.
    pub fn tls_handshakes(&self) -> Arc<tls::Handshakes> {
        self.shared.tls.clone()
    }

    /// The counters of every module, as `/_sim/stats` shows them.
    pub fn stats(&self) -> serde_json::Value {
        let resp = self.call(&SimRequest {
            method: "GET".into(),
            path: "/_sim/stats".into(),
            query_string: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            remote: None,
        });
        serde_json::from_slice(&resp.body).unwrap_or_default()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn accept_loop(server: &tiny_http::Server, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            // tiny_http reports a failed accept (a connection reset before it was
            // accepted, too many open files) here: it is not the end of the server. A
            // worker that stopped on it left the simulator with fewer and fewer workers
            // under load, and finally none.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // One thread per request: a slow request never holds up the others.
        let shared = shared.clone();
        std::thread::spawn(move || serve(request, &shared));
    }
}

fn serve(mut request: tiny_http::Request, shared: &Shared) {
    let fault = shared.faults.take(request.url());
    let peer = request.remote_addr().copied();
    let close = |peer: Option<SocketAddr>| {
        if let Some(peer) = peer {
            faults::close_connection(shared.addr, peer);
        }
    };
    if let Some(f) = &fault {
        match f.kind {
            faults::Kind::Reply => {
                let reply = f
                    .reply
                    .clone()
                    .unwrap_or_else(|| SimResponse::text(200, ""));
                respond(request, reply);
                return;
            }
            faults::Kind::ResetBefore => {
                // Not a byte of the body is read; no reply (into_writer: tiny_http would
                // otherwise answer 500 when the request is dropped).
                let w = request.into_writer();
                close(peer);
                drop(w);
                return;
            }
            faults::Kind::Status(code) => {
                let _ = request.respond(
                    tiny_http::Response::from_string(format!("fault injected: HTTP {code}"))
                        .with_status_code(code),
                );
                return;
            }
            _ => {}
        }
    }
    let mut body = Vec::new();
    let _ = request
        .as_reader()
        .take(16 * 1024 * 1024)
        .read_to_end(&mut body);
    let target = origin_form(request.url());
    let (path, query_string) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let req = SimRequest {
        method: request.method().as_str().to_string(),
        path,
        query_string,
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
        remote: request.remote_addr().copied(),
    };
    let mut resp = shared.dispatch(&req);
    if let Some(f) = &fault {
        match f.kind {
            faults::Kind::ResetAfter => {
                let w = request.into_writer();
                close(peer);
                drop(w);
                return;
            }
            faults::Kind::Garbage => {
                let mut w = request.into_writer();
                let _ = w.write_all(faults::GARBAGE).and_then(|_| w.flush());
                close(peer);
                drop(w);
                return;
            }
            faults::Kind::EndlessBody => {
                let mut w = request.into_writer();
                faults::endless_body(&mut *w);
                close(peer);
                return;
            }
            faults::Kind::SlowHeaders => std::thread::sleep(f.delay),
            kind => resp = faults::mangle(kind, resp),
        }
    }
    respond(request, resp);
}

/// The path and query of a request target. RFC 9112 §3.2.2: "A server MUST accept the
/// absolute-form in requests" (`POST http://host/oauth/token.php HTTP/1.1`); the
/// scheme and authority are dropped, as every carrier's server does.
pub fn origin_form(target: &str) -> &str {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &target[8..]
    } else if lower.starts_with("http://") {
        &target[7..]
    } else {
        return target;
    };
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
        Some(_) | None => "/",
    }
}

fn respond(request: tiny_http::Request, resp: SimResponse) {
    let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    for (k, v) in &resp.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            out.add_header(h);
        }
    }
    let _ = request.respond(out);
}

/// Small helpers the modules share.
pub mod util {
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(1);

    /// A unique id in the style of a GUID (`4AF46744-C346-44FF-80E3-33D89FBE963B`).
    pub fn guid() -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let a = t ^ n.rotate_left(17) ^ (std::process::id() as u64) << 40;
        format!(
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16,
            n as u16,
            n & 0xffff_ffff_ffff
        )
    }

    /// The outcome a number asks for by its last three digits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Magic {
        Normal,
        Busy,
        NoAnswer,
        Rejected,
        Invalid,
        InsufficientFunds,
    }

    pub fn magic(number: &str) -> Magic {
        let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
        match digits.get(digits.len().saturating_sub(3)..) {
            Some("486") => Magic::Busy,
            Some("408") => Magic::NoAnswer,
            Some("603") => Magic::Rejected,
            Some("404") => Magic::Invalid,
            Some("402") => Magic::InsufficientFunds,
            _ => Magic::Normal,
        }
    }

    /// Decimal amounts kept as ten-thousandths (no floats for money here either).
    pub fn fmt_amount(ten_thousandths: i64, decimals: usize, comma: bool) -> String {
        let neg = ten_thousandths < 0;
        let v = ten_thousandths.unsigned_abs();
        let int = v / 10_000;
        let frac = format!("{:04}", v % 10_000);
        let s = format!("{}{int}.{}", if neg { "-" } else { "" }, &frac[..decimals]);
        if comma {
            s.replace('.', ",")
        } else {
            s
        }
    }

    /// Counters shown in the stats.
    #[derive(Default)]
    pub struct Counter(AtomicU64);
    impl Counter {
        pub fn add(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        pub fn get(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }
}

/// Parses `a=b&c=d` into a map (last value wins).
pub fn query_map(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
