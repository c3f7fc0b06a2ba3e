//! The built-in event listener (`event_listen=IP:PORT`): a small HTTP/1 server that an
//! attacker on the network cannot starve or kill. It hands the query of every `GET` (or
//! `HEAD`) to a handler and answers the status the handler returns, with an empty body.
//! It knows nothing of calls or clients: the client binds it ([`Bound::bind`]) and starts
//! it with a handler that ingests the event ([`Listener::start`]).
//!
//! Why not a server crate: none of the maintained blocking HTTP servers gives all of the
//! following at once (tiny_http, used before, stops accepting for good at its first
//! `accept()` error, runs a thread per connection, has no deadline for the request head
//! and no cap on its size). So this is `std::net::TcpListener`, `poll(2)` (libc) and the
//! `httparse` parser; no HTTP is parsed by hand.
//!
//! How it holds:
//! - One I/O thread accepts connections and reads request heads, non-blocking, under
//!   `poll(2)`; a fixed pool of workers ([`ListenerConfig::workers`]) runs the handler
//!   and writes the answer. Never a thread per connection.
//! - At most [`ListenerConfig::max_connections`] connections are open. When a new one
//!   comes at the cap, the oldest connection still sending its head is closed to make
//!   room (a genuine client sends its whole request at once, an idle one only holds a
//!   place); when none is (every place is being answered), the new one is closed at once.
//! - A request head must arrive within [`ListenerConfig::head_timeout`] (else 408 and
//!   close) and fit in [`ListenerConfig::max_head_bytes`] (else 431 and close): a
//!   connection never holds more than that in memory.
//! - One request per connection: every answer says `Connection: close`, and anything a
//!   client pipelined after its first request is dropped with the connection. Answers
//!   are written under [`ListenerConfig::write_timeout`].
//! - `accept()` errors never stop it: out of descriptors (EMFILE, ENFILE), it closes the
//!   oldest connection still sending its head and tries again, or, with none, logs and
//!   waits briefly while serving what it has; an aborted connection is skipped.
//! - Dropping the [`Listener`] stops it and joins its threads.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::log::{log_at, Level};
use crate::util::fork::ListeningSocket;

/// What the listener does with a request: called with the request target
/// (`/path?query`) of a `GET` or `HEAD`, returns the HTTP status to answer.
type Handler = Arc<dyn Fn(&str) -> u16 + Send + Sync>;

/// The listener's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenerConfig {
    /// Connections open at once, at most (accepted, being read, or being answered).
    pub(crate) max_connections: usize,
    /// The time from accepting a connection to having its whole request head.
    pub(crate) head_timeout: Duration,
    /// The largest request head (request line and headers) taken.
    pub(crate) max_head_bytes: usize,
    /// The time one answer may take to write.
    pub(crate) write_timeout: Duration,
    /// Threads that run the handler.
    pub(crate) workers: usize,
}

/// Connections open at once by default (`event_max_connections`).
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// The default deadline for a request head (`event_head_timeout_ms`).
pub(crate) const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head taken; a longer one is answered 431.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            max_head_bytes: MAX_HEAD_BYTES,
            write_timeout: Duration::from_secs(5),
            workers: 4,
        }
    }
}

/// Headers taken in one request head, at most; more is answered 431.
const MAX_HEADERS: usize = 32;
/// The longest the I/O thread sleeps in `poll` (it also wakes for every deadline).
const MAX_POLL_WAIT: Duration = Duration::from_millis(500);
/// The first pause after an `accept()` error, doubled at each error up to the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
const BACKOFF_LONGEST: Duration = Duration::from_millis(500);
/// What is read and thrown away after an answer (a body or pipelined requests already
/// received), so that the close is clean; the rest is reset with the connection.
const DRAIN_BYTES: usize = 64 * 1024;

/// A listening socket not yet served: bound when the DSN is read, so that a port taken
/// is a DSN error.
pub(crate) struct Bound {
    socket: TcpListener,
    addr: SocketAddr,
    cfg: ListenerConfig,
}

impl Bound {
    pub(crate) fn bind(addr: SocketAddr, cfg: ListenerConfig) -> Result<Bound> {
        let socket = TcpListener::bind(addr).map_err(|e| {
            Error::invalid_argument(format!("DSN: event_listen: cannot listen on {addr}: {e}"))
        })?;
        let addr = socket.local_addr().unwrap_or(addr);
        Ok(Bound { socket, addr, cfg })
    }

    /// The address listened on, with the port the system chose for `:0`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A running listener. Dropping it stops it and joins its threads (but the one it is
/// dropped from, when a handler let go of the listener's owner).
pub(crate) struct Listener {
    /// Held for its drop, which stops the server.
    _server: Server,
}

impl Listener {
    /// Serves `bound`: every `GET` (or `HEAD`) is answered with `handler(query)`, any
    /// other method with 405.
    pub(crate) fn start(
        bound: Bound,
        handler: impl Fn(&str) -> u16 + Send + Sync + 'static,
    ) -> Result<Listener> {
        let handler: Handler =
            Arc::new(move |target: &str| handler(target.split_once('?').map_or("", |(_, q)| q)));
        let server = Server::start(bound.socket, bound.cfg, handler)
            .map_err(|e| Error::internal(format!("cannot start the event listener: {e}")))?;
        Ok(Listener { _server: server })
    }
}

/// The server itself: the I/O thread and the workers.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    threads: Vec<JoinHandle<()>>,
    /// The listening socket, for a forked child to close at the fork (`util::fork`); it
    /// also tells whether this is a forked child's copy, without the threads.
    listening: ListeningSocket,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts serving `socket` (already bound and listening) with `handler`.
    fn start(socket: TcpListener, cfg: ListenerConfig, handler: Handler) -> io::Result<Self> {
        let cfg = ListenerConfig {
            max_connections: cfg.max_connections.max(1),
            workers: cfg.workers.max(1),
            max_head_bytes: cfg.max_head_bytes.max(64),
            ..cfg
        };
        let addr = socket.local_addr()?;
        socket.set_nonblocking(true)?;
        let listening = ListeningSocket::register(socket.as_raw_fd());
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let answering = Arc::new(AtomicUsize::new(0));
        let (jobs, rx) = sync_channel::<Job>(cfg.max_connections);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(cfg.workers + 1);
        let spawned = (|| -> io::Result<()> {
            for n in 0..cfg.workers {
                let (rx, handler, answering) = (rx.clone(), handler.clone(), answering.clone());
                let write_timeout = cfg.write_timeout;
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("cc-events-{n}"))
                        .spawn(move || work(&rx, &handler, write_timeout, &answering))?,
                );
            }
            let io = IoLoop {
                socket,
                wake: wake_rx,
                cfg,
                stop: stop.clone(),
                answering,
                jobs,
                reading: VecDeque::new(),
                backoff: None,
                next_backoff: BACKOFF_FIRST,
                last_warning: None,
                suppressed: 0,
            };
            threads.push(
                std::thread::Builder::new()
                    .name("cc-events-io".into())
                    .spawn(move || io.run())?,
            );
            Ok(())
        })();
        let server = Server {
            addr,
            stop,
            wake,
            threads,
            listening,
        };
        // On failure the threads started so far are stopped and joined by the drop.
        spawned.map(|()| server)
    }

    /// The address listened on (with the port the system chose for `:0`).
    #[cfg(test)]
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.listening.inherited() {
            // A copy in a forked child: the threads are the parent's. Waking them would
            // wake the parent's (the wake socket is shared), and joining them would wait
            // for threads this process does not have. The child closed its copy of the
            // listening socket at the fork; the rest is left as it is.
            std::mem::forget(std::mem::take(&mut self.threads));
            return;
        }
        // Unregistered before the I/O thread closes the socket: a child forked from now
        // on keeps its copy (until it ends) rather than close a number reused meanwhile.
        self.listening.unregister();
        self.stop.store(true, Ordering::Release);
        let _ = (&self.wake).write(b"x");
        // The I/O thread ends first (it is pushed last); its end closes the job queue,
        // which ends the workers. A listener dropped from its own handler (the last
        // reference to its owner let go there) does not wait for the thread it runs on,
        // which ends as soon as that handler returns.
        let me = std::thread::current().id();
        for t in self.threads.drain(..).rev() {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

/// A request ready for a worker.
struct Job {
    stream: TcpStream,
    target: String,
}

fn work(
    rx: &Mutex<Receiver<Job>>,
    handler: &Handler,
    write_timeout: Duration,
    answering: &AtomicUsize,
) {
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A handler that panics answers 500 and leaves the worker standing.
        let status = catch_unwind(AssertUnwindSafe(|| handler(&job.target))).unwrap_or(500);
        let stream = job.stream;
        let written = stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_write_timeout(Some(write_timeout)))
            .and_then(|()| (&stream).write_all(answer(status).as_bytes()));
        if written.is_ok() {
            close_cleanly(&stream);
        }
        drop(stream);
        answering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The whole answer: a status and no body, on a connection that closes.
fn answer(status: u16) -> String {
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n{allow}\r\n",
        reason(status)
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// After an answer: reads what the client already sent beyond its request (without
/// waiting), so that the close sends FIN and the client reads the answer, not a reset.
fn close_cleanly(stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// A connection whose request head is still coming.
struct Reading {
    stream: TcpStream,
    head: Vec<u8>,
    deadline: Instant,
}

/// What reading a connection came to.
enum Step {
    /// More to come.
    Wait,
    /// Closed by the client, or failed: nothing to answer.
    Gone,
    /// Answer this status now, without the handler (400, 405, 431).
    Refuse(u16),
    /// A request for the handler.
    Request(String),
}

struct IoLoop {
    socket: TcpListener,
    wake: UnixStream,
    cfg: ListenerConfig,
    stop: Arc<AtomicBool>,
    /// Connections handed to the workers and not closed yet.
    answering: Arc<AtomicUsize>,
    jobs: SyncSender<Job>,
    /// Connections being read, oldest first.
    reading: VecDeque<Reading>,
    /// While set, `accept()` is not tried before this time.
    backoff: Option<Instant>,
    next_backoff: Duration,
    last_warning: Option<Instant>,
    suppressed: u32,
}

impl IoLoop {
    fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let accepting = self.accepting(now);
            fds.clear();
            let pollfd = |fd: i32| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            fds.push(pollfd(self.wake.as_raw_fd()));
            fds.push(pollfd(if accepting {
                self.socket.as_raw_fd()
            } else {
                -1
            }));
            fds.extend(self.reading.iter().map(|r| pollfd(r.stream.as_raw_fd())));
            let until = self
                .reading
                .iter()
                .map(|r| r.deadline)
                .chain(self.backoff)
                .min()
                .map_or(MAX_POLL_WAIT, |d| d.saturating_duration_since(now))
                .min(MAX_POLL_WAIT);
            // Rounded up, so that a deadline is past when poll returns.
            let wait_ms = until.as_micros().div_ceil(1000) as libc::c_int;
            // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd entries
            // that outlives the call; poll only writes their `revents`.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    self.warn(&format!("poll failed ({e})"), Instant::now());
                    std::thread::sleep(BACKOFF_FIRST);
                }
                continue;
            }
            // A byte on `wake` comes only with `stop` set: the loop's test ends it.
            // Heads first (in the order polled: `reading` is only appended to by accept,
            // below), then deadlines, then new connections.
            let ready: Vec<bool> = fds[2..].iter().map(|p| p.revents != 0).collect();
            let mut kept = VecDeque::with_capacity(self.reading.len());
            let now = Instant::now();
            for (index, mut r) in std::mem::take(&mut self.reading).into_iter().enumerate() {
                let step = if ready.get(index).copied().unwrap_or(false) {
                    read_head(&mut r, self.cfg.max_head_bytes)
                } else {
                    Step::Wait
                };
                match step {
                    Step::Wait if now >= r.deadline => refuse(r.stream, 408),
                    Step::Wait => kept.push_back(r),
                    Step::Gone => {}
                    Step::Refuse(status) => refuse(r.stream, status),
                    Step::Request(target) => self.dispatch(r.stream, target),
                }
            }
            self.reading = kept;
            if accepting && fds[1].revents != 0 {
                self.accept_some();
            }
        }
    }

    /// Whether `accept()` is tried at `now`: not until a pause set by an error is over.
    fn accepting(&mut self, now: Instant) -> bool {
        if self.backoff.is_some_and(|b| now >= b) {
            self.backoff = None;
        }
        self.backoff.is_none()
    }

    fn open(&self) -> usize {
        self.reading.len() + self.answering.load(Ordering::Acquire)
    }

    fn dispatch(&mut self, stream: TcpStream, target: String) {
        self.answering.fetch_add(1, Ordering::AcqRel);
        match self.jobs.try_send(Job { stream, target }) {
            Ok(()) => {}
            // Not reached: the queue holds as many jobs as connections may be open.
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.answering.fetch_sub(1, Ordering::AcqRel);
                refuse(job.stream, 503);
            }
        }
    }

    /// Closes the connection that has been sending its head the longest, if any.
    fn evict_oldest(&mut self) -> bool {
        self.reading.pop_front().is_some()
    }

    /// Accepts up to half the cap of new connections, so that a connection accepted in
    /// one round is still open when the next round reads the heads, however fast others
    /// come; a head already there is read at once.
    fn accept_some(&mut self) {
        for _ in 0..(self.cfg.max_connections / 2).max(1) {
            match self.socket.accept() {
                Ok((stream, _)) => {
                    self.next_backoff = BACKOFF_FIRST;
                    if self.open() >= self.cfg.max_connections && !self.evict_oldest() {
                        // Every place is being answered: this one is closed at once.
                        drop(stream);
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let mut r = Reading {
                        stream,
                        head: Vec::new(),
                        deadline: Instant::now() + self.cfg.head_timeout,
                    };
                    match read_head(&mut r, self.cfg.max_head_bytes) {
                        Step::Wait => self.reading.push_back(r),
                        Step::Gone => {}
                        Step::Refuse(status) => refuse(r.stream, status),
                        Step::Request(target) => self.dispatch(r.stream, target),
                    }
                }
                Err(e) => {
                    if !self.accept_failed(&e) {
                        return;
                    }
                }
            }
        }
    }

    /// What an `accept()` error leads to: `true` to try again at once, `false` to stop
    /// this round (no connection waiting, or a pause set in `backoff`).
    fn accept_failed(&mut self, e: &io::Error) -> bool {
        if e.kind() == io::ErrorKind::WouldBlock {
            return false;
        }
        if e.kind() == io::ErrorKind::Interrupted || aborted(e) {
            return true;
        }
        // Out of descriptors (or memory): a place held by an idle connection is given
        // back and accept is tried again; with none, a short pause (the connections
        // being read are still served).
        if out_of_resources(e) && self.evict_oldest() {
            return true;
        }
        let now = Instant::now();
        let line = format!(
            "cannot accept a connection ({e}); trying again in {} ms",
            self.next_backoff.as_millis()
        );
        self.warn(&line, now);
        self.backoff = Some(now + self.next_backoff);
        self.next_backoff = (self.next_backoff * 2).min(BACKOFF_LONGEST);
        false
    }

    /// A WARN line, at most one a second (the others are counted in the next).
    fn warn(&mut self, what: &str, now: Instant) {
        if let Some(line) = self.warning(what, now) {
            log_at!(Level::Warn, "{line}");
        }
    }

    /// The line to log for `what` at `now`; `None` within a second of the last one
    /// (counted, and said in the next line).
    fn warning(&mut self, what: &str, now: Instant) -> Option<String> {
        if self
            .last_warning
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        let more = std::mem::take(&mut self.suppressed);
        self.last_warning = Some(now);
        Some(if more > 0 {
            format!("event listener: {what} ({more} similar lines left out)")
        } else {
            format!("event listener: {what}")
        })
    }
}

fn aborted(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Reads what has come of a head, never holding more than `max` bytes: a head still
/// incomplete at `max` is answered 431.
fn read_head(r: &mut Reading, max: usize) -> Step {
    let mut buf = [0u8; 4096];
    loop {
        let room = max.saturating_sub(r.head.len()).min(buf.len());
        if room == 0 {
            return Step::Refuse(431);
        }
        match (&r.stream).read(&mut buf[..room]) {
            Ok(0) => return Step::Gone,
            Ok(n) => r.head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
            // (A read that never blocks is never interrupted.)
            Err(_) => return Step::Gone,
        }
        match parse_head(&r.head) {
            Step::Wait => {}
            done => return done,
        }
    }
}

/// What a head read so far says (never longer than the limit: [`read_head`] stops there).
fn parse_head(head: &[u8]) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => match (req.method, req.path) {
            (Some("GET" | "HEAD"), Some(target)) => Step::Request(target.to_string()),
            _ => Step::Refuse(405),
        },
        Ok(httparse::Status::Partial) => Step::Wait,
        Err(httparse::Error::TooManyHeaders) => Step::Refuse(431),
        Err(_) => Step::Refuse(400),
    }
}

/// Answers without the handler, from the I/O thread: one non-blocking write of a small
/// answer (it fits in any socket buffer; if not, the client is not reading and loses it).
fn refuse(stream: TcpStream, status: u16) {
    if (&stream).write(answer(status).as_bytes()).is_ok() {
        close_cleanly(&stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn start(cfg: ListenerConfig, handler: Handler) -> Server {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        Server::start(socket, cfg, handler).unwrap()
    }

    fn echo() -> Handler {
        Arc::new(|target: &str| if target == "/ok?x=1" { 200 } else { 404 })
    }

    /// Sends `request` and reads the answer until the server closes.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn answers_get_and_head_and_closes() {
        let l = start(ListenerConfig::default(), echo());
        let a = exchange(l.local_addr(), b"GET /ok?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
        assert!(a.contains("Connection: close\r\n"), "{a}");
        let a = exchange(l.local_addr(), b"HEAD /other HTTP/1.0\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 404 "), "{a}");
        let a = exchange(
            l.local_addr(),
            b"POST /ok?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
        );
        assert!(
            a.starts_with("HTTP/1.1 405 ") && a.contains("Allow: GET, HEAD"),
            "{a}"
        );
        let a = exchange(
            l.local_addr(),
            b"GET /ok?x=1 HTTP/1.1\r\nbad header\r\n\r\n",
        );
        assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
        // A head sent a byte at a time is put together.
        let mut s = TcpStream::connect(l.local_addr()).unwrap();
        for b in b"GET /ok?x=1 HTTP/1.1\r\n\r\n" {
            s.write_all(&[*b]).unwrap();
        }
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    }

    #[test]
    fn a_head_too_large_is_431() {
        let l = start(ListenerConfig::default(), echo());
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEAD_BYTES + 100, b'a');
        let a = exchange(l.local_addr(), &long);
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("h{i}: v\r\n"))
            .collect();
        let a = exchange(
            l.local_addr(),
            format!("GET /ok?x=1 HTTP/1.1\r\n{many}\r\n").as_bytes(),
        );
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
        // Just under the limit is taken.
        let pad = "p".repeat(MAX_HEAD_BYTES - 40);
        let a = exchange(
            l.local_addr(),
            format!("GET /ok?x=1 HTTP/1.1\r\nX: {pad}\r\n\r\n").as_bytes(),
        );
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
    }

    #[test]
    fn a_slow_head_is_cut_at_its_deadline() {
        let cfg = ListenerConfig {
            head_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let l = start(cfg, echo());
        let a = exchange(l.local_addr(), b"GET /ok?x=1 HTTP/1.1\r\n");
        assert!(a.starts_with("HTTP/1.1 408 "), "{a}");
        // The listener goes on.
        let a = exchange(l.local_addr(), b"GET /ok?x=1 HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let cfg = ListenerConfig {
            max_connections: 4,
            head_timeout: Duration::from_millis(500),
            ..Default::default()
        };
        let l = start(cfg, echo());
        let idle: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(l.local_addr()).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(b"GET /").unwrap();
                s
            })
            .collect();
        // The newcomer takes the place of the oldest idle connection, which is closed
        // without an answer; the others are answered 408 at their deadline.
        let a = exchange(l.local_addr(), b"GET /ok?x=1 HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
        let answers: Vec<String> = idle
            .into_iter()
            .map(|mut s| {
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect();
        assert_eq!(answers[0], "");
        for a in &answers[1..] {
            assert!(a.starts_with("HTTP/1.1 408 "), "{a}");
        }
    }

    #[test]
    fn at_the_cap_with_every_place_answering_a_newcomer_is_closed_at_once() {
        let cfg = ListenerConfig {
            max_connections: 2,
            workers: 2,
            ..Default::default()
        };
        let (entered_tx, entered) = channel::<()>();
        let (release, release_rx) = channel::<()>();
        let entered_tx = Mutex::new(entered_tx);
        let release_rx = Mutex::new(release_rx);
        let handler: Handler = Arc::new(move |_: &str| {
            entered_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            200
        });
        let l = start(cfg, handler);
        let busy: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut s = TcpStream::connect(l.local_addr()).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                s
            })
            .collect();
        entered.recv().unwrap();
        entered.recv().unwrap();
        let mut extra = TcpStream::connect(l.local_addr()).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _ = extra.write_all(b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let _ = extra.read_to_end(&mut out);
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        release.send(()).unwrap();
        release.send(()).unwrap();
        for mut s in busy {
            let mut out = String::new();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.read_to_string(&mut out).unwrap();
            assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
        }
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_pool_stays() {
        let cfg = ListenerConfig {
            workers: 1,
            ..Default::default()
        };
        let handler: Handler = Arc::new(|t: &str| if t == "/boom" { panic!("boom") } else { 200 });
        let l = start(cfg, handler);
        let a = exchange(l.local_addr(), b"GET /boom HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 500 "), "{a}");
        let a = exchange(l.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
    }

    #[test]
    fn answers_name_their_status() {
        for (status, line) in [
            (200, "200 OK"),
            (400, "400 Bad Request"),
            (403, "403 Forbidden"),
            (404, "404 Not Found"),
            (405, "405 Method Not Allowed"),
            (408, "408 Request Timeout"),
            (412, "412 Precondition Failed"),
            (431, "431 Request Header Fields Too Large"),
            (500, "500 Internal Server Error"),
            (503, "503 Service Unavailable"),
            (299, "299 Status"),
        ] {
            let allow = if status == 405 {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            assert_eq!(
                answer(status),
                format!("HTTP/1.1 {line}\r\nContent-Length: 0\r\nConnection: close\r\n{allow}\r\n")
            );
        }
    }

    /// A head of up to 8 KiB is taken by default; one byte more is 431.
    #[test]
    fn the_default_head_limit_is_8_kib() {
        let l = start(ListenerConfig::default(), echo());
        let head = |len: usize| {
            let start = "GET /ok?x=1 HTTP/1.1\r\nX: ";
            let pad = "p".repeat(len - start.len() - 4);
            format!("{start}{pad}\r\n\r\n")
        };
        assert_eq!(head(8192).len(), 8192);
        let a = exchange(l.local_addr(), head(8192).as_bytes());
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
        let a = exchange(l.local_addr(), head(8193).as_bytes());
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
    }

    /// Limits of 0 are raised to the least that serves: one connection, one worker, a
    /// 64-byte head.
    #[test]
    fn limits_below_the_least_are_raised_to_it() {
        let cfg = ListenerConfig {
            max_connections: 0,
            workers: 0,
            max_head_bytes: 0,
            ..Default::default()
        };
        let l = start(cfg, echo());
        let a = exchange(l.local_addr(), b"GET /ok?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
    }

    /// What a client sent beyond its request head (a body, here 40 000 bytes) is read
    /// before the close, so that the client gets the answer and a clean end, not a reset:
    /// after the handler's answer and after one the I/O thread gives (405).
    #[test]
    fn an_answer_ends_with_a_clean_close() {
        let l = start(ListenerConfig::default(), echo());
        for (method, status) in [("GET", "200"), ("POST", "405")] {
            let mut request =
                format!("{method} /ok?x=1 HTTP/1.1\r\nContent-Length: 40000\r\n\r\n").into_bytes();
            request.resize(request.len() + 40_000, b'b');
            let mut s = TcpStream::connect(l.local_addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(&request).unwrap();
            let mut out = Vec::new();
            let end = s.read_to_end(&mut out);
            let text = String::from_utf8_lossy(&out);
            assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            assert!(end.is_ok(), "{method}: {end:?} after {text}");
            // Nothing was left unread at the close, so no reset followed it: the peer
            // still takes a write (only the write after this one is refused). The pause
            // lets a reset, had there been one, arrive first.
            std::thread::sleep(Duration::from_millis(100));
            let late = s.write(b"x");
            assert!(
                late.is_ok(),
                "{method}: a reset followed the answer: {late:?}"
            );
        }
    }

    /// The drain after an answer is bounded: a client that keeps sending cannot hold a
    /// worker; what is left is reset with the connection.
    #[test]
    fn the_drain_after_an_answer_is_bounded() {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(socket.local_addr().unwrap()).unwrap();
        let (server, _) = socket.accept().unwrap();
        let sent = 100_000;
        client.write_all(&vec![b'b'; sent]).unwrap();
        // All of it has arrived once the client's shutdown (its FIN, after the data) has.
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut peek = [0u8; 1];
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(server.peek(&mut peek).unwrap(), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server_queue(&server) < sent && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(server_queue(&server), sent);
        close_cleanly(&server);
        assert_eq!(server_queue(&server), sent - DRAIN_BYTES);
        assert_eq!(DRAIN_BYTES, 65_536);
    }

    /// Bytes received and not yet read (`FIONREAD`).
    fn server_queue(s: &TcpStream) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which outlives the call.
        let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(r, 0);
        n as usize
    }

    /// An I/O loop not running, for its decisions: its socket, and the queue of its jobs.
    fn io_loop(cfg: ListenerConfig) -> (IoLoop, Receiver<Job>) {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let (_, wake) = UnixStream::pair().unwrap();
        let (jobs, rx) = sync_channel::<Job>(cfg.max_connections);
        let io = IoLoop {
            socket,
            wake,
            cfg,
            stop: Arc::new(AtomicBool::new(false)),
            answering: Arc::new(AtomicUsize::new(0)),
            jobs,
            reading: VecDeque::new(),
            backoff: None,
            next_backoff: BACKOFF_FIRST,
            last_warning: None,
            suppressed: 0,
        };
        (io, rx)
    }

    fn idle_connection(io: &mut IoLoop) -> TcpStream {
        let client = TcpStream::connect(io.socket.local_addr().unwrap()).unwrap();
        let (stream, _) = loop {
            match io.socket.accept() {
                Ok(c) => break c,
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        io.reading.push_back(Reading {
            stream,
            head: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(60),
        });
        client
    }

    /// What each `accept()` error leads to: no connection waiting ends the round; an
    /// interrupted call or a connection the client already aborted is skipped; out of
    /// descriptors, the oldest idle connection makes room (else a pause); any other error
    /// is a pause, 20 ms doubling to 500 ms, until a connection is accepted.
    #[test]
    fn accept_errors() {
        let (mut io, _jobs) = io_loop(ListenerConfig::default());
        let os = io::Error::from_raw_os_error;
        assert!(!io.accept_failed(&os(libc::EAGAIN)));
        assert!(io.accept_failed(&os(libc::EINTR)));
        for e in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EPROTO,
            libc::EPERM,
        ] {
            assert!(io.accept_failed(&os(e)), "{e}");
        }
        assert_eq!((io.backoff, io.next_backoff), (None, BACKOFF_FIRST));

        let _idle = idle_connection(&mut io);
        let before = Instant::now();
        assert!(!io.accept_failed(&os(libc::EINVAL)));
        assert_eq!(io.reading.len(), 1, "not out of descriptors: no eviction");
        let until = io.backoff.expect("a pause");
        assert!(until >= before + BACKOFF_FIRST && until <= Instant::now() + BACKOFF_FIRST);
        assert_eq!(io.next_backoff, BACKOFF_FIRST * 2);
        io.backoff = None;
        io.reading.clear();

        for e in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            let _idle = idle_connection(&mut io);
            assert!(io.accept_failed(&os(e)), "{e}");
            assert!(io.reading.is_empty(), "{e}: the idle connection makes room");
            assert_eq!(io.backoff, None);
        }
        // Out of descriptors with nothing to give back: a pause, longer each time.
        let mut pauses = Vec::new();
        for _ in 0..7 {
            assert!(!io.accept_failed(&os(libc::EMFILE)));
            pauses.push(io.next_backoff.as_millis());
        }
        assert_eq!(pauses, [80, 160, 320, 500, 500, 500, 500]);
        // Accepting again once the last pause is over, not before.
        let until = io.backoff.expect("a pause");
        assert!(!io.accepting(until - Duration::from_millis(1)));
        assert!(io.accepting(until));
        assert_eq!(io.backoff, None);
        // A connection accepted starts the pauses over.
        let mut c = TcpStream::connect(io.socket.local_addr().unwrap()).unwrap();
        c.write_all(b"GET /ok?x=1 HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        io.accept_some();
        assert_eq!(io.next_backoff, BACKOFF_FIRST);
        assert_eq!(
            _jobs.try_recv().map(|j| j.target).ok().as_deref(),
            Some("/ok?x=1")
        );
    }

    /// A connection its client reset while sending its head is gone at once: it holds
    /// no place until its deadline.
    #[test]
    fn a_reset_connection_is_gone() {
        let (mut io, _jobs) = io_loop(ListenerConfig::default());
        let mut client = idle_connection(&mut io);
        client.write_all(b"GET /").unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: SO_LINGER reads one `linger` struct, which outlives the call.
        let r = unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(client);
        let mut r = io.reading.pop_front().unwrap();
        assert!(matches!(read_head(&mut r, MAX_HEAD_BYTES), Step::Gone));
    }

    /// A round of accepts that empties the queue sets no pause.
    #[test]
    fn accepting_every_waiting_connection_sets_no_pause() {
        let (mut io, jobs) = io_loop(ListenerConfig::default());
        let addr = io.socket.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"GET /ok?x=1 HTTP/1.1\r\n\r\n").unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        io.accept_some();
        assert_eq!(jobs.try_iter().count(), clients.len());
        assert_eq!((io.backoff, io.next_backoff), (None, BACKOFF_FIRST));
        assert_eq!(io.last_warning, None, "a warning was logged");
    }

    /// At most one warning a second; the next one says how many were left out.
    #[test]
    fn warnings_at_most_one_a_second() {
        let (mut io, _jobs) = io_loop(ListenerConfig::default());
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(io.warning("a", at(0)).as_deref(), Some("event listener: a"));
        assert_eq!(io.warning("b", at(10)), None);
        assert_eq!(io.warning("c", at(999)), None);
        assert_eq!(
            io.warning("d", at(1000)).as_deref(),
            Some("event listener: d (2 similar lines left out)")
        );
        assert_eq!(
            io.warning("e", at(2500)).as_deref(),
            Some("event listener: e")
        );
    }

    #[test]
    fn its_debug_shows_the_address_alone() {
        let l = start(ListenerConfig::default(), echo());
        let text = format!("{l:?}");
        assert_eq!(text, format!("Server {{ addr: {}, .. }}", l.local_addr()));
    }

    /// Dropping it joins its threads: nothing of it (here, its handler) outlives the drop.
    #[test]
    fn dropping_it_joins_its_threads() {
        let marker = Arc::new(());
        let held = marker.clone();
        let handler: Handler = Arc::new(move |_: &str| {
            let _ = &held;
            200
        });
        let cfg = ListenerConfig {
            workers: 3,
            ..Default::default()
        };
        let l = start(cfg, handler);
        let a = exchange(l.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
        assert!(Arc::strong_count(&marker) > 1);
        drop(l);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    /// The handler sees the query alone; a target without one is an empty query.
    #[test]
    fn a_listener_hands_the_query_to_its_handler() {
        let bound = Bound::bind("127.0.0.1:0".parse().unwrap(), ListenerConfig::default()).unwrap();
        let addr = bound.addr();
        assert_ne!(addr.port(), 0);
        let l = Listener::start(bound, |q: &str| match q {
            "a=1&b=2" => 200,
            "" => 204,
            _ => 404,
        })
        .unwrap();
        let a = exchange(addr, b"GET /events?a=1&b=2 HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
        let a = exchange(addr, b"GET /events HTTP/1.1\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 204 "), "{a}");
        drop(l);
        TcpListener::bind(addr).unwrap();
    }

    #[test]
    fn dropping_it_stops_it_and_frees_the_port() {
        let l = start(ListenerConfig::default(), echo());
        let addr = l.local_addr();
        let idle = TcpStream::connect(addr).unwrap();
        drop(l);
        // Its connections are closed and its port can be bound again.
        let mut out = Vec::new();
        idle.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _ = (&idle).read_to_end(&mut out);
        assert!(out.is_empty());
        TcpListener::bind(addr).unwrap();
    }
}
