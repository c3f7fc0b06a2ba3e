//! HTTPS in front of the simulator, with a test CA made when the test starts.
//!
//! Carriers' endpoints are HTTPS (42call's, PokeTALK's, Connect Call's and VoipNow's
//! documents in providers/ all give `https://` URLs). The simulator's carriers speak plain
//! HTTP on their own port; a [`TlsFront`] accepts TLS connections on another loopback
//! port, terminates them with rustls and passes the bytes on to that port both ways, so
//! every carrier module (and every fault) is the same over TLS.
//!
//! [`TestPki`] is a throw-away CA (never stored anywhere but where a test writes it) and
//! the server certificates a test needs: a good one for `127.0.0.1`/`localhost`, one for
//! another name, an expired one, and a self-signed one.
//!
//! Each front counts the handshakes it completed, full and resumed ([`Handshakes`], in
//! `/_sim/stats` as `_tls`), as rustls' server side reports them: whether clients resume
//! their TLS sessions is seen from the server, as a carrier's server would see it. Its
//! `ServerConfig` keeps rustls' defaults for resumption (a stateful session cache of 256
//! entries, two TLS 1.3 tickets per handshake), as a common HTTPS server does.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// Which server certificate a [`TlsFront`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Issued by the test CA for `127.0.0.1` and `localhost`, valid now.
    Good,
    /// Issued by the test CA, valid now, but for `carrier.invalid` only.
    WrongName,
    /// Issued by the test CA for `127.0.0.1`, expired in 2021.
    Expired,
    /// For `127.0.0.1`, valid now, signed by its own key (no CA vouches for it).
    SelfSigned,
}

/// A test CA and the means to issue server certificates from it.
pub struct TestPki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    /// A fresh CA (a new ECDSA P-256 key each time).
    pub fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "callconnect-sim test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("the CA certificate");
        TestPki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM: what a client trusts with `ca_file`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate to `path` (for `ca_file=PATH`).
    pub fn write_ca(&self, path: &std::path::Path) -> io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }

    /// A server configuration showing the `leaf` certificate.
    pub fn server_config(&self, leaf: Leaf) -> Arc<ServerConfig> {
        let names = match leaf {
            Leaf::WrongName => vec!["carrier.invalid".to_string()],
            _ => vec!["127.0.0.1".to_string(), "localhost".to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "callconnect-sim");
        if leaf == Leaf::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("a server key");
        let cert = match leaf {
            Leaf::SelfSigned => params.self_signed(&key),
            _ => params.signed_by(&key, &self.issuer),
        }
        .expect("the server certificate");
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server certificate and its key");
        Arc::new(config)
    }
}

/// Handshakes completed by TLS fronts, as the server saw them.
#[derive(Debug, Default)]
pub struct Handshakes {
    full: AtomicU64,
    resumed: AtomicU64,
}

impl Handshakes {
    /// Full handshakes (the certificate was sent and verified; with or without a
    /// HelloRetryRequest).
    pub fn full(&self) -> u64 {
        self.full.load(Ordering::SeqCst)
    }

    /// Handshakes that resumed an earlier session (no certificate sent).
    pub fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::SeqCst)
    }

    fn count(&self, kind: Option<rustls::HandshakeKind>) {
        match kind {
            Some(rustls::HandshakeKind::Resumed) => &self.resumed,
            _ => &self.full,
        }
        .fetch_add(1, Ordering::SeqCst);
    }

    /// As `/_sim/stats` shows them.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({"full": self.full(), "resumed": self.resumed()})
    }
}

/// A TLS listener on 127.0.0.1 that forwards every connection, decrypted, to `backend`.
/// Stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    handshakes: Arc<Handshakes>,
}

impl TlsFront {
    /// A front with counters of its own.
    pub fn start(backend: SocketAddr, config: Arc<ServerConfig>) -> io::Result<TlsFront> {
        TlsFront::start_counting(backend, config, Arc::default())
    }

    /// A front that counts its handshakes in `handshakes` (shared with its simulator's
    /// `/_sim/stats`).
    pub fn start_counting(
        backend: SocketAddr,
        config: Arc<ServerConfig>,
        handshakes: Arc<Handshakes>,
    ) -> io::Result<TlsFront> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let counts = handshakes.clone();
        // A blocking accept (a connection is taken the moment it arrives, as a server's
        // would be: a polling loop would add its sleep to every call start's time);
        // dropping the front wakes it with a connection of its own.
        let thread = std::thread::spawn(move || loop {
            match listener.accept() {
                Ok(_) if stopped.load(Ordering::SeqCst) => break,
                Ok((tcp, _)) => {
                    let config = config.clone();
                    let counts = counts.clone();
                    std::thread::spawn(move || {
                        // As HTTPS servers do (nginx's `tcp_nodelay on` is its default):
                        // without it, the handshake's and the reply's small records wait
                        // for the client's delayed ACK (40 ms per call start on Linux).
                        let _ = tcp.set_nodelay(true);
                        let _ = serve(tcp, backend, config, &counts);
                    });
                }
                Err(_) if stopped.load(Ordering::SeqCst) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        });
        Ok(TlsFront {
            addr,
            stop,
            thread: Some(thread),
            handshakes,
        })
    }

    /// The handshakes this front completed so far.
    pub fn handshakes(&self) -> &Handshakes {
        &self.handshakes
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // Wakes the accept; if even that fails, the thread is left to the process.
            if TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok() {
                let _ = t.join();
            }
        }
    }
}

impl crate::Simulator {
    /// Serves this simulator over HTTPS too, on another port, with `config`'s certificate.
    /// Its handshakes are counted in `/_sim/stats` (`_tls`, with every other front of this
    /// simulator's) as well as by the front itself.
    pub fn tls_front(&self, config: Arc<ServerConfig>) -> io::Result<TlsFront> {
        TlsFront::start_counting(self.addr(), config, self.tls_handshakes())
    }
}

/// One TLS connection: the client's records are decrypted and written to a backend
/// connection (opened on the first plaintext byte, so a failed handshake never reaches
/// a carrier module); the backend's bytes are encrypted back to the client.
fn serve(
    tcp: TcpStream,
    backend: SocketAddr,
    config: Arc<ServerConfig>,
    handshakes: &Handshakes,
) -> io::Result<()> {
    let conn = Arc::new(Mutex::new(
        rustls::ServerConnection::new(config).map_err(io::Error::other)?,
    ));
    let mut from_client = tcp.try_clone()?;
    let mut to_client = tcp.try_clone()?;
    let mut upstream: Option<TcpStream> = None;
    let mut pump: Option<JoinHandle<()>> = None;
    let mut counted = false;
    let mut buf = vec![0u8; 16 * 1024];
    'outer: loop {
        let n = match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut incoming = &buf[..n];
        let mut plain = Vec::new();
        {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            while !incoming.is_empty() {
                if c.read_tls(&mut incoming).is_err() {
                    break 'outer;
                }
                let state = c.process_new_packets();
                while c.wants_write() {
                    if c.write_tls(&mut to_client).is_err() {
                        break 'outer;
                    }
                }
                if state.is_err() {
                    break 'outer;
                }
                if !counted && !c.is_handshaking() {
                    counted = true;
                    handshakes.count(c.handshake_kind());
                }
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    match c.reader().read(&mut chunk) {
                        Ok(0) => break,
                        Ok(k) => plain.extend_from_slice(&chunk[..k]),
                        Err(_) => break,
                    }
                }
            }
        }
        if plain.is_empty() {
            continue;
        }
        if upstream.is_none() {
            let up = TcpStream::connect(backend)?;
            let mut up_read = up.try_clone()?;
            let conn = conn.clone();
            let mut to_client = tcp.try_clone()?;
            pump = Some(std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match up_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
                    if c.writer().write_all(&buf[..n]).is_err() {
                        break;
                    }
                    while c.wants_write() {
                        if c.write_tls(&mut to_client).is_err() {
                            return;
                        }
                    }
                }
                let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
                c.send_close_notify();
                while c.wants_write() {
                    if c.write_tls(&mut to_client).is_err() {
                        break;
                    }
                }
                let _ = to_client.shutdown(Shutdown::Both);
            }));
            upstream = Some(up);
        }
        if let Some(up) = upstream.as_mut() {
            if up.write_all(&plain).is_err() {
                break;
            }
        }
    }
    if let Some(up) = upstream {
        let _ = up.shutdown(Shutdown::Both);
    }
    let _ = tcp.shutdown(Shutdown::Both);
    if let Some(p) = pump {
        let _ = p.join();
    }
    Ok(())
}
