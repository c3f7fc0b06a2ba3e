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

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A TLS listener on 127.0.0.1 that forwards every connection, decrypted, to `backend`.
/// Stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(backend: SocketAddr, config: Arc<ServerConfig>) -> io::Result<TlsFront> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let config = config.clone();
                        std::thread::spawn(move || {
                            let _ = tcp.set_nonblocking(false);
                            let _ = serve(tcp, backend, config);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(TlsFront {
            addr,
            stop,
            thread: Some(thread),
        })
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
            let _ = t.join();
        }
    }
}

impl crate::Simulator {
    /// Serves this simulator over HTTPS too, on another port, with `config`'s certificate.
    pub fn tls_front(&self, config: Arc<ServerConfig>) -> io::Result<TlsFront> {
        TlsFront::start(self.addr(), config)
    }
}

/// One TLS connection: the client's records are decrypted and written to a backend
/// connection (opened on the first plaintext byte, so a failed handshake never reaches
/// a carrier module); the backend's bytes are encrypted back to the client.
fn serve(tcp: TcpStream, backend: SocketAddr, config: Arc<ServerConfig>) -> io::Result<()> {
    let conn = Arc::new(Mutex::new(
        rustls::ServerConnection::new(config).map_err(io::Error::other)?,
    ));
    let mut from_client = tcp.try_clone()?;
    let mut to_client = tcp.try_clone()?;
    let mut upstream: Option<TcpStream> = None;
    let mut pump: Option<JoinHandle<()>> = None;
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
