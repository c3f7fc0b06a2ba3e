//! Fault injection, selectable per request, for the reliability tests.
//!
//! `/_sim/fault?kind=KIND&path=SUBSTRING&count=N[&ms=DELAY]` arms the next `N` requests
//! (default 1) whose path and query contain `SUBSTRING` (default: every request) with one
//! fault; `/_sim/fault/clear` disarms everything. Control requests (`/_sim/...`) are never
//! faulted. `/_sim/stats` shows `_faults: {armed, fired}`.
//!
//! | kind | the carrier module acts on the request? | what the client sees |
//! | --- | --- | --- |
//! | `refused` | no | the control answers `{"port": N}`: a port with nothing listening (connection refused) |
//! | `reset_before` | no | the connection closes before the request is read, no reply |
//! | `reset_after` | yes | the module handles the request, then the connection closes, no reply |
//! | `http_500`, `http_502`, `http_503` | no | that status, a plain-text body |
//! | `slow_headers` | yes | nothing for `ms` milliseconds (default 5000), then the reply |
//! | `endless_body` | yes | a 200 whose chunked body never ends (one byte every 50 ms, for up to 2 minutes) |
//! | `truncated` (`truncated_json`, `truncated_xml`) | yes | the module's reply cut in half (a well-formed HTTP reply of a broken document) |
//! | `garbage` | yes | bytes that are not HTTP, then the connection closes |
//! | `invalid_utf8` | yes | the module's reply with bytes that are not UTF-8 in its middle |
//! | `huge` | yes | the module's reply after 10 MB of blanks (still a valid JSON document) |
//! | `reply` | no | a canned reply: `status` (default 200), `type` (content type) and `body` from the query |
//!
//! "Closes" is a shutdown of the TCP connection (the client sees the end of the stream, or
//! a reset when bytes it sent were left unread). tiny_http does not hand out its sockets,
//! so the connection is found among the process's descriptors by its two addresses
//! (Linux). A fault that acts counts in the module's own counters like any request, so a
//! test can tell "placed, but the reply was lost" from "never placed".

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::Counter;
use crate::{SimRequest, SimResponse};

/// One way for a request to go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Refused,
    ResetBefore,
    ResetAfter,
    Status(u16),
    SlowHeaders,
    EndlessBody,
    Truncated,
    Garbage,
    InvalidUtf8,
    Huge,
    /// A canned reply (status, content type, body) instead of the module's.
    Reply,
}

/// Every kind, by the name the control endpoint takes.
pub const KINDS: &[(&str, Kind)] = &[
    ("refused", Kind::Refused),
    ("reset_before", Kind::ResetBefore),
    ("reset_after", Kind::ResetAfter),
    ("http_500", Kind::Status(500)),
    ("http_502", Kind::Status(502)),
    ("http_503", Kind::Status(503)),
    ("slow_headers", Kind::SlowHeaders),
    ("endless_body", Kind::EndlessBody),
    ("truncated", Kind::Truncated),
    ("truncated_json", Kind::Truncated),
    ("truncated_xml", Kind::Truncated),
    ("garbage", Kind::Garbage),
    ("invalid_utf8", Kind::InvalidUtf8),
    ("huge", Kind::Huge),
    ("reply", Kind::Reply),
];

/// The size of the `huge` reply.
pub const HUGE_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_SLOW_MS: u64 = 5_000;
const ENDLESS_FOR: Duration = Duration::from_secs(120);

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// Whether the carrier module handles a request that meets this fault.
    pub fn acts(self) -> bool {
        !matches!(
            self,
            Kind::Refused | Kind::ResetBefore | Kind::Status(_) | Kind::Reply
        )
    }
}

#[derive(Debug, Clone)]
struct Armed {
    kind: Kind,
    path: String,
    remaining: u32,
    delay: Duration,
    reply: Option<SimResponse>,
}

/// A fault picked for one request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: Kind,
    pub delay: Duration,
    /// The canned reply of `Kind::Reply`.
    pub reply: Option<SimResponse>,
}

#[derive(Default)]
pub struct Faults {
    armed: Mutex<Vec<Armed>>,
    fired: Counter,
}

impl Faults {
    /// Arms `count` requests whose path and query contain `path` with a fault.
    pub fn arm(&self, kind: Kind, path: &str, count: u32, delay: Duration) {
        self.push(kind, path, count, delay, None);
    }

    /// Arms `count` requests whose path and query contain `path` with a canned reply.
    pub fn arm_reply(&self, path: &str, count: u32, reply: SimResponse) {
        self.push(Kind::Reply, path, count, Duration::ZERO, Some(reply));
    }

    fn push(
        &self,
        kind: Kind,
        path: &str,
        count: u32,
        delay: Duration,
        reply: Option<SimResponse>,
    ) {
        if count == 0 {
            return;
        }
        self.lock().push(Armed {
            kind,
            path: path.to_string(),
            remaining: count,
            delay,
            reply,
        });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault for a request to `target` (path and query), if one is armed; counts it.
    pub fn take(&self, target: &str) -> Option<Fault> {
        if target.starts_with("/_sim/") {
            return None;
        }
        let mut armed = self.lock();
        let i = armed.iter().position(|a| target.contains(&a.path))?;
        let a = &mut armed[i];
        let fault = Fault {
            kind: a.kind,
            delay: a.delay,
            reply: a.reply.clone(),
        };
        a.remaining -= 1;
        if a.remaining == 0 {
            armed.remove(i);
        }
        self.fired.add();
        Some(fault)
    }

    /// `/_sim/fault` and `/_sim/fault/clear`.
    pub fn control(&self, action: &str, req: &SimRequest) -> SimResponse {
        if action == "clear" {
            self.clear();
            return SimResponse::text(200, "ok");
        }
        let Some(kind) = req.query_param("kind").as_deref().and_then(Kind::parse) else {
            let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            return SimResponse::text(400, &format!("kind must be one of {}", names.join(", ")));
        };
        if kind == Kind::Refused {
            return match closed_port() {
                Some(port) => SimResponse::json(200, &json!({"kind": "refused", "port": port})),
                None => SimResponse::text(500, "no free port"),
            };
        }
        let count = req
            .query_param("count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let ms = req
            .query_param("ms")
            .and_then(|c| c.parse().ok())
            .unwrap_or(DEFAULT_SLOW_MS);
        let path = req.query_param("path").unwrap_or_default();
        if kind == Kind::Reply {
            let status = req
                .query_param("status")
                .and_then(|c| c.parse().ok())
                .unwrap_or(200);
            let content_type = req
                .query_param("type")
                .unwrap_or_else(|| "application/json".into());
            let body = req.query_param("body").unwrap_or_default();
            self.arm_reply(&path, count, SimResponse::new(status, &content_type, body));
        } else {
            self.arm(kind, &path, count, Duration::from_millis(ms));
        }
        SimResponse::json(200, &json!({"armed": count, "path": path}))
    }

    pub fn stats(&self) -> serde_json::Value {
        let armed: u32 = self.lock().iter().map(|a| a.remaining).sum();
        json!({"armed": armed, "fired": self.fired.get()})
    }
}

/// A loopback port with nothing listening on it (bound, then closed at once).
pub fn closed_port() -> Option<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ok()?;
    let port = l.local_addr().ok()?.port();
    drop(l);
    Some(port)
}

/// Ends a connection without a reply, found among this process's descriptors by its
/// two addresses. Returns whether it was found.
#[cfg(target_os = "linux")]
pub fn close_connection(local: SocketAddr, peer: SocketAddr) -> bool {
    use std::mem::ManuallyDrop;
    use std::os::fd::{FromRawFd, RawFd};
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|l| l.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed (ManuallyDrop: never closed here), and
        // getsockname/getpeername/shutdown are harmless on any socket.
        let s = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        if s.local_addr().ok() == Some(local) && s.peer_addr().ok() == Some(peer) {
            let _ = s.shutdown(Shutdown::Both);
            return true;
        }
    }
    false
}

#[cfg(not(target_os = "linux"))]
pub fn close_connection(_local: SocketAddr, _peer: SocketAddr) -> bool {
    false
}

/// Writes a reply that never ends until the client goes away (or two minutes pass).
pub fn endless_body(w: &mut dyn Write) {
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if w.write_all(head).and_then(|_| w.flush()).is_err() {
        return;
    }
    let until = Instant::now() + ENDLESS_FOR;
    while Instant::now() < until {
        if w.write_all(b"1\r\n \r\n").and_then(|_| w.flush()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Bytes that are no HTTP reply at all.
pub const GARBAGE: &[u8] =
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xff\xfe\x00garbage \x80\x81 not http\r\n\r\n";

/// Changes a module's reply as the fault asks.
pub fn mangle(kind: Kind, mut resp: SimResponse) -> SimResponse {
    match kind {
        Kind::Truncated => {
            let half = resp.body.len() / 2;
            resp.body.truncate(half);
        }
        Kind::InvalidUtf8 => {
            let mid = resp.body.len() / 2;
            let tail = resp.body.split_off(mid);
            resp.body.extend_from_slice(b"\xff\xfe\xc3\x28");
            resp.body.extend_from_slice(&tail);
            resp.status = 200;
        }
        Kind::Huge => {
            let mut body = vec![b' '; HUGE_BYTES];
            body.extend_from_slice(&resp.body);
            resp.body = body;
            resp.status = 200;
        }
        _ => {}
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arming_counts_down_and_matches_substrings() {
        let f = Faults::default();
        f.arm(Kind::Status(500), "webcallback", 2, Duration::ZERO);
        assert!(f.take("/api/rest/v2/?sms").is_none());
        assert_eq!(
            f.take("/api/rest/v2/?webcallback").unwrap().kind,
            Kind::Status(500)
        );
        assert!(f.take("/_sim/stats?webcallback").is_none());
        assert!(f.take("/api/rest/v2/?webcallback").is_some());
        assert!(f.take("/api/rest/v2/?webcallback").is_none());
        assert_eq!(f.stats()["fired"], 2);
        assert_eq!(Kind::parse("truncated_xml"), Some(Kind::Truncated));
        assert!(!Kind::ResetBefore.acts() && Kind::ResetAfter.acts());
    }

    #[test]
    fn mangling() {
        let r = SimResponse::text(200, "{\"a\":1}");
        assert_eq!(mangle(Kind::Truncated, r.clone()).body, b"{\"a");
        assert!(std::str::from_utf8(&mangle(Kind::InvalidUtf8, r.clone()).body).is_err());
        assert_eq!(mangle(Kind::Huge, r).body.len(), HUGE_BYTES + 7);
    }
}
