//! The TCP layer under ureq: a [`Connector`] in place of ureq's `TcpConnector`, through
//! ureq's own extension point (`ureq::unversioned::transport`). ureq still does all of
//! HTTP (and rustls all of TLS, on top of this transport); this file only opens the
//! socket and moves bytes, with three system calls less wasted per request than ureq's
//! TCP transport makes (BENCHMARKS.md counts them):
//!
//! - **Liveness probe.** ureq probes a connection when it goes back to the pool and again
//!   when it is taken out: its TCP transport switches the socket to non-blocking, reads,
//!   and switches back (three calls each time). Here one `recv(MSG_PEEK | MSG_DONTWAIT)`
//!   answers the same question (nothing waiting: open; end of stream, an error or
//!   unexpected bytes: not reusable).
//! - **Socket timeouts.** ureq passes the time left of the request's budget to every
//!   read and write, and its TCP transport sets the socket's timeout whenever that value
//!   changes, which is every request (the budget starts anew each time). Here the
//!   timeout is set again only when it differs from the one in force by more than
//!   [`timeout_slack`] (1/32 of it, at most 250 ms): a read or write may then end that
//!   much before or after the exact budget, and the budget as a whole is still enforced
//!   by ureq between operations.
//! - **One write per request.** ureq hands over the request's head and then its body;
//!   both are kept (up to [`COALESCE_BYTES`]) and go out in one `send` when the transport
//!   is first asked for input, which is one segment on the wire instead of two.
//!
//! - **Buffers kept.** Each connection needs ureq's input and output buffers (36 KiB,
//!   zeroed when allocated: about 38 000 instructions, a sixth of a call start, which
//!   always opens a new connection). Up to [`SPARE_BUFFERS`] of a closed connection's are
//!   kept for the next one, emptied.
//!
//! Connecting tries each resolved address in turn, with the error kinds ureq's connector
//! reports (what `transport::classify` sorts into "nothing was sent").
//!
//! **TLS** ([`TlsConnector`]) is rustls', over that transport, as ureq's own
//! `RustlsConnector` does it, with one difference: the rustls `ClientConfig` (the trusted
//! roots and, in it, the in-memory store of TLS sessions) is made once per client and
//! shared by all its connections ([`Tls`]). ureq's connector keeps its config only for
//! requests made with the agent's own configuration; every request here has a
//! request-level one (its timeouts), for which ureq builds a new `ClientConfig` per
//! connection: the roots were loaded again and no session was ever resumed, so every call
//! start paid a full handshake (certificate chain verified, one more round trip). With
//! the config shared, a new connection resumes the session of an earlier one (TLS 1.3
//! tickets or TLS 1.2 session IDs, rustls' `Resumption::default()`: 256 sessions);
//! tests/tls.rs asserts it from the server's side.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport, TransportAdapter,
};
use ureq::{Error, Timeout};

/// The agents' connector chain: ureq's default one (HTTP CONNECT proxies from the
/// environment, TCP, rustls for https) with [`TcpConnector`] as its TCP step and
/// [`TlsConnector`] (the client's one rustls configuration) as its TLS step.
pub fn chain(tls: Arc<Tls>) -> impl Connector<()> {
    use ureq::unversioned::transport::ConnectProxyConnector;
    ().chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(TlsConnector { tls })
}

/// One client's TLS: the roots it trusts (Mozilla's, as ureq trusts by default, plus the
/// certificates of `ca_file=`) and the rustls configuration made from them at its first
/// TLS connection, then shared by every connection of both its agents, with the session
/// store inside it.
#[derive(Debug, Default)]
pub struct Tls {
    extra_roots: Vec<CertificateDer<'static>>,
    config: OnceLock<Arc<ClientConfig>>,
}

impl Tls {
    /// Trusting Mozilla's roots and `extra_roots` (DER).
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> Tls {
        Tls {
            extra_roots,
            config: OnceLock::new(),
        }
    }

    /// The client's rustls configuration, made at the first call (a client that never
    /// opens a TLS connection never pays for it).
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config
            .get_or_init(|| {
                let mut roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                // As ureq's connector: a certificate rustls cannot use is left out (the
                // handshake then names the unknown issuer).
                roots.add_parsable_certificates(self.extra_roots.iter().cloned());
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = ClientConfig::builder_with_provider(provider)
                    .with_protocol_versions(rustls::ALL_VERSIONS)
                    .expect("ring supports every TLS version rustls has")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone()
    }
}

/// Wraps a connection to an `https` URL in rustls with the client's [`Tls`] configuration
/// (see the module comment); anything else passes through.
#[derive(Debug)]
pub struct TlsConnector {
    tls: Arc<Tls>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host)
            .map_err(|_| Error::Tls("the host is not a valid name for TLS"))?
            .to_owned();
        let mut conn = ClientConnection::new(self.tls.config(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(left_of(details));
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// The connect budget that is left now (the TCP connection took some of it).
fn left_of(details: &ConnectionDetails) -> NextTimeout {
    use ureq::unversioned::transport::time::{Duration as D, Instant as I};
    let mut timeout = details.timeout;
    if let (D::Exact(limit), I::Exact(then), I::Exact(now)) =
        (timeout.after, details.now, (details.current_time)())
    {
        timeout.after = D::Exact(limit.saturating_sub(now.saturating_duration_since(then)));
    }
    timeout
}

/// A TLS connection for ureq: rustls over the chained transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.stream.sock.set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// The most bytes held back to be sent with what follows (a request's head and a small
/// body); a larger write goes out at once.
pub const COALESCE_BYTES: usize = 8 * 1024;

/// How many closed connections' buffers a connector keeps for its next connections.
pub const SPARE_BUFFERS: usize = 2;

type Spare = Arc<Mutex<Vec<LazyBuffers>>>;

/// Opens plain TCP connections for ureq's connector chain (see the module comment).
#[derive(Debug, Default)]
pub struct TcpConnector {
    spare: Spare,
}

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        // A connection made earlier in the chain (a proxy's) is used as it is.
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let stream = connect(details)?;
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let stream = Arc::new(stream);
        let handle: Weak<dyn ShutdownHandle> = Arc::downgrade(&stream) as _;
        (details.register_shutdown)(handle)?;
        let config = details.config;
        let kept = self.spare.lock().ok().and_then(|mut s| s.pop());
        Ok(Some(Either::B(TcpTransport {
            stream,
            buffers: kept.unwrap_or_else(|| {
                LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size())
            }),
            pending: Vec::new(),
            read_timeout: None,
            write_timeout: None,
            spare: self.spare.clone(),
        })))
    }
}

/// Each resolved address in turn, each with the time left of the connect budget shared
/// among the addresses still to try; addresses that refuse or cannot be routed to are
/// skipped, as ureq's own connector does.
fn connect(details: &ConnectionDetails) -> Result<TcpStream, Error> {
    let started = Instant::now();
    let budget = details.timeout.not_zero().map(|d| *d);
    let addrs: Vec<SocketAddr> = details.addrs.iter().copied().collect();
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match budget {
            None => TcpStream::connect(addr),
            Some(total) => {
                let left = total.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(Error::Timeout(details.timeout.reason));
                }
                let share = left / (addrs.len() - i) as u32;
                TcpStream::connect_timeout(addr, share.max(Duration::from_millis(10)))
            }
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = Some(Error::Timeout(Timeout::Connect));
            }
            Err(e) if address_specific(&e) => last = Some(Error::Io(e)),
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "no address to connect to",
        ))
    }))
}

/// A failed connect that concerns only the address tried (the next may work).
fn address_specific(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

/// How far a socket timeout may be from the one wanted before it is set again.
pub fn timeout_slack(wanted: Duration) -> Duration {
    (wanted / 32).min(Duration::from_millis(250))
}

/// Whether a socket whose timeout is `current` must be given `wanted`.
pub fn needs_new_timeout(current: Option<Duration>, wanted: Option<Duration>) -> bool {
    match (current, wanted) {
        (Some(c), Some(w)) => c.abs_diff(w) > timeout_slack(w),
        (c, w) => c != w,
    }
}

/// A TCP connection for ureq (see the module comment).
#[derive(Debug)]
pub struct TcpTransport {
    /// Shared (weakly) with the agent's shutdown handle.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// Bytes handed over by ureq and not sent yet.
    pending: Vec<u8>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Where the buffers go when the connection closes.
    spare: Spare,
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        let mut buffers = std::mem::replace(&mut self.buffers, LazyBuffers::new(1, 1));
        // Emptied: nothing of this connection's input may reach the next one.
        let unread = buffers.input().len();
        buffers.input_consume(unread);
        if let Ok(mut spare) = self.spare.lock() {
            if spare.len() < SPARE_BUFFERS {
                spare.push(buffers);
            }
        }
    }
}

/// The timeout error for an I/O error that is one (`WouldBlock` is what a socket timeout
/// gives on Linux).
fn io_error(e: io::Error, timeout: &NextTimeout) -> Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout(timeout.reason),
        _ => Error::Io(e),
    }
}

impl TcpTransport {
    fn set_write_timeout(&mut self, wanted: Option<Duration>) -> io::Result<()> {
        if needs_new_timeout(self.write_timeout, wanted) {
            self.stream.set_write_timeout(wanted)?;
            self.write_timeout = wanted;
        }
        Ok(())
    }

    fn set_read_timeout(&mut self, wanted: Option<Duration>) -> io::Result<()> {
        if needs_new_timeout(self.read_timeout, wanted) {
            self.stream.set_read_timeout(wanted)?;
            self.read_timeout = wanted;
        }
        Ok(())
    }

    /// Sends what is held back, within `timeout`.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let timeout = checked(timeout.for_write())?;
        self.set_write_timeout(timeout.not_zero().map(|d| *d))?;
        let result = (&*self.stream).write_all(&self.pending);
        self.pending.clear();
        result.map_err(|e| io_error(e, &timeout))
    }
}

/// ureq's own check before I/O: no time left is a timeout.
fn checked(timeout: NextTimeout) -> Result<NextTimeout, Error> {
    if timeout.after.is_zero() {
        Err(Error::Timeout(timeout.reason))
    } else {
        Ok(timeout)
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        if self.pending.len() + amount <= COALESCE_BYTES {
            let output = &self.buffers.output()[..amount];
            self.pending.extend_from_slice(output);
            return Ok(());
        }
        self.flush(timeout)?;
        let timeout = checked(timeout.for_write())?;
        self.set_write_timeout(timeout.not_zero().map(|d| *d))?;
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, &timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.flush(timeout)?;
        let timeout = checked(timeout.for_read())?;
        let wanted = timeout.not_zero().map(|d| *d);
        self.set_read_timeout(wanted)?;
        let started = Instant::now();
        let amount = loop {
            let input = self.buffers.input_append_buf();
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // A signal: read again within what is left (Linux does not restart
                    // a socket read that has a timeout).
                    if let Some(total) = wanted {
                        let left = total.saturating_sub(started.elapsed());
                        if left.is_zero() {
                            return Err(Error::Timeout(timeout.reason));
                        }
                        self.stream.set_read_timeout(Some(left))?;
                        self.read_timeout = Some(left);
                    }
                }
                Err(e) => return Err(io_error(e, &timeout)),
                Ok(n) => break n,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer that lives across the call, on the socket this
        // transport owns.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        // Nothing to read yet is the only state in which the connection can be reused:
        // 0 is the peer's end of stream, a byte is one nobody asked for.
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn timeouts_are_set_again_only_when_they_differ_enough() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert!(needs_new_timeout(None, Some(s(15))));
        assert!(needs_new_timeout(Some(s(15)), None));
        assert!(!needs_new_timeout(None, None));
        // The budget of the next request, a few microseconds apart: kept.
        assert!(!needs_new_timeout(
            Some(s(15)),
            Some(s(15) - Duration::from_micros(40))
        ));
        assert!(!needs_new_timeout(Some(s(15)), Some(s(15) - ms(200))));
        // Far less time left (later in a slow exchange): set.
        assert!(needs_new_timeout(Some(s(15)), Some(s(14))));
        // Short budgets keep a proportionally short slack.
        assert!(!needs_new_timeout(Some(ms(300)), Some(ms(295))));
        assert!(needs_new_timeout(Some(ms(300)), Some(ms(280))));
        assert!(needs_new_timeout(Some(ms(300)), Some(ms(320))));
    }

    fn transport(stream: TcpStream) -> TcpTransport {
        TcpTransport {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(1024, 1024),
            pending: Vec::new(),
            read_timeout: None,
            write_timeout: None,
            spare: Spare::default(),
        }
    }

    fn budget() -> NextTimeout {
        NextTimeout {
            after: ureq::unversioned::transport::time::Duration::from_secs(5),
            ..NextTimeout::default()
        }
    }

    #[test]
    fn head_and_body_leave_in_one_write_when_input_is_awaited() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut t = transport(client);
        for part in [&b"POST / HTTP/1.1\r\n\r\n"[..], b"a=1"] {
            t.buffers().output()[..part.len()].copy_from_slice(part);
            t.transmit_output(part.len(), budget()).unwrap();
        }
        // Nothing has left yet.
        server.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            server.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        server.set_nonblocking(false).unwrap();
        server.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert!(t.await_input(budget()).unwrap());
        assert_eq!(t.buffers().input(), b"HTTP/1.1 200 OK\r\n");
        // Both parts arrived, in order, in one segment's worth.
        let n = server.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"POST / HTTP/1.1\r\n\r\na=1");
    }

    #[test]
    fn kept_buffers_carry_nothing_over() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut t = transport(client);
        let spare = t.spare.clone();
        server.write_all(b"HTTP/1.1 200 OK\r\nunread").unwrap();
        assert!(t.await_input(budget()).unwrap());
        assert!(!t.buffers().input().is_empty());
        drop(t);
        let kept = spare.lock().unwrap().pop().expect("kept");
        assert!(
            kept.input().is_empty(),
            "the last connection's input is gone"
        );
        assert!(!kept.can_use_input());
    }

    #[test]
    fn a_large_write_goes_out_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut t = transport(client);
        t.buffers = LazyBuffers::new(1024, COALESCE_BYTES + 1);
        t.buffers().output().fill(b'x');
        t.transmit_output(COALESCE_BYTES + 1, budget()).unwrap();
        let mut got = vec![0u8; COALESCE_BYTES + 1];
        server.read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&b| b == b'x'));
    }

    #[test]
    fn the_probe_tells_idle_from_closed_and_from_unasked_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        let mut idle = transport(TcpStream::connect(addr).unwrap());
        let (_server, _) = listener.accept().unwrap();
        assert!(idle.is_open());
        assert!(idle.is_open(), "probing consumes nothing");

        let mut extra = transport(TcpStream::connect(addr).unwrap());
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"x").unwrap();
        // The byte is on its way over loopback: wait until it is readable.
        let mut peek = [0u8; 1];
        extra.stream.peek(&mut peek).unwrap();
        assert!(!extra.is_open());

        let mut closed = transport(TcpStream::connect(addr).unwrap());
        let (server, _) = listener.accept().unwrap();
        drop(server);
        closed
            .stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(closed.stream.peek(&mut peek).unwrap(), 0, "end of stream");
        assert!(!closed.is_open());
    }
}
