//! HTTPS toward the carriers: every carrier's call flow over TLS with a private CA given
//! by `ca_file`, and each certificate a client must refuse (self-signed, another name,
//! expired, a private CA not given) refused before anything is sent: `Network` naming
//! the host and "certificate", never `OutcomeUnknown`, and no request reaches a carrier.
//! `tls=0` toward a host that is not this machine warns once per client. A client's new
//! connections (every call start opens one) resume its earlier TLS session, as the
//! server sees it; another client does not share its sessions.

use std::sync::{Arc, Mutex};

use callconnect::log::{self, Level};
use callconnect::{CallOptions, CallState, Client, ErrorKind};
use callconnect_sim::tls::{Leaf, TestPki, TlsFront};
use callconnect_sim::{Config, Simulator};

struct Setup {
    sim: Simulator,
    front: TlsFront,
    ca_file: std::path::PathBuf,
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "cc-tls-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup(leaf: Leaf) -> Setup {
    let sim = Simulator::start(Config {
        step_ms: 20,
        ..Default::default()
    })
    .unwrap();
    let pki = TestPki::new();
    let dir = TempDir::new();
    let ca_file = dir.0.join("ca.pem");
    pki.write_ca(&ca_file).unwrap();
    let front = sim.tls_front(pki.server_config(leaf)).unwrap();
    Setup {
        sim,
        front,
        ca_file,
        _dir: dir,
    }
}

/// Each carrier's DSN toward `host:port` over HTTPS, with `extra` options.
fn dsns(host: &str, port: u16, extra: &str) -> Vec<(&'static str, String)> {
    vec![
        ("42call", format!("42call://test-tls:secret-test-tls@{host}:{port}?default_country=49&timeout_ms=5000{extra}")),
        ("connectcall", format!("connectcall://test-tls:secret-test-tls@{host}:{port}/api/?default_country=49&timeout_ms=5000{extra}")),
        ("voipnow", format!("voipnow://test-tls:secret-test-tls@{host}:{port}?default_country=49&timeout_ms=5000&extension=210{extra}")),
        ("poketalk", format!("poketalk://test-tls-key@{host}:{port}?default_country=49&timeout_ms=5000&event_secret=event-secret-test-tls-0123456789&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev{extra}")),
    ]
}

fn ca_option(s: &Setup) -> String {
    format!(
        "&ca_file={}",
        url::form_urlencoded::byte_serialize(s.ca_file.to_str().unwrap().as_bytes())
            .collect::<String>()
    )
}

#[test]
fn every_carrier_places_polls_and_ends_a_call_over_tls_with_ca_file() {
    let s = setup(Leaf::Good);
    for (name, dsn) in dsns("127.0.0.1", s.front.port(), &ca_option(&s)) {
        let client = Client::new(&dsn).unwrap_or_else(|e| panic!("{name}: {e}"));
        let call = client
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_or_else(|e| panic!("{name}: start over TLS: {e}"));
        assert!(!call.id().is_empty(), "{name}");
        let status = call.poll().unwrap_or_else(|e| panic!("{name}: poll: {e}"));
        assert_ne!(status.state, CallState::Failed, "{name}: {status:?}");
        if client
            .capabilities()
            .contains(callconnect::Capabilities::HANGUP)
        {
            call.hangup()
                .unwrap_or_else(|e| panic!("{name}: hang-up: {e}"));
        }
        let stats = s.sim.stats();
        assert_eq!(
            stats[name]["calls_placed"].as_u64(),
            Some(1),
            "{name}: {stats}"
        );
        client.close();
    }
}

#[test]
fn a_clients_new_connections_resume_its_tls_session() {
    let s = setup(Leaf::Good);
    let (_, dsn) = dsns("127.0.0.1", s.front.port(), &ca_option(&s))
        .into_iter()
        .find(|(name, _)| *name == "42call")
        .unwrap();
    let hs = s.front.handshakes();
    let client = Client::new(&dsn).unwrap();
    // Every call start opens a new connection: the first makes a full handshake, the
    // next ones resume its session (no certificate sent, none verified).
    for _ in 0..4 {
        client
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
    }
    assert_eq!((hs.full(), hs.resumed()), (1, 3), "starts of one client");
    // A request on a pooled connection (a hang-up) resumes too: both agents of a client
    // share its TLS configuration.
    let call = client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let before = s.sim.requests();
    call.hangup().unwrap();
    assert_eq!(s.sim.requests(), before + 1, "the hang-up's request");
    assert_eq!((hs.full(), hs.resumed()), (1, 5), "a start and a hang-up");
    // Another client has sessions of its own: a full handshake first, then its own
    // resumed ones.
    let other = Client::new(&dsn).unwrap();
    for _ in 0..2 {
        other
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
    }
    assert_eq!((hs.full(), hs.resumed()), (2, 6), "a second client");
    assert_eq!(s.sim.stats()["_tls"]["resumed"].as_u64(), Some(6));
}

/// A certificate the client must refuse: every carrier's start is `Network` (never
/// `OutcomeUnknown`), names the host and the certificate and why, and no request reached
/// a carrier.
fn refused(leaf: Leaf, with_ca: bool, why: &str) {
    let s = setup(leaf);
    let extra = if with_ca {
        ca_option(&s)
    } else {
        String::new()
    };
    for (name, dsn) in dsns("127.0.0.1", s.front.port(), &extra) {
        let client = Client::new(&dsn).unwrap();
        let e = client
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network, "{name} {leaf:?}: {e}");
        let m = e.message();
        assert!(m.contains("certificate"), "{name} {leaf:?}: {m}");
        assert!(m.contains("127.0.0.1"), "{name} {leaf:?}: {m}");
        assert!(m.contains(why), "{name} {leaf:?}: {m}");
        assert!(m.contains("nothing was sent"), "{name} {leaf:?}: {m}");
    }
    assert_eq!(s.sim.requests(), 0, "a request went through a refused TLS");
}

#[test]
fn a_self_signed_certificate_is_refused_before_anything_is_sent() {
    refused(Leaf::SelfSigned, true, "unknown authority");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    refused(Leaf::WrongName, true, "not valid for this host name");
}

#[test]
fn an_expired_certificate_is_refused() {
    refused(Leaf::Expired, true, "expired");
}

#[test]
fn a_private_ca_is_refused_unless_ca_file_names_it() {
    refused(Leaf::Good, false, "ca_file");
}

#[test]
fn ca_file_must_be_a_readable_pem_file_and_needs_tls() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing.pem");
    let junk = dir.0.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    for (path, what) in [(&missing, "cannot read"), (&junk, "no PEM certificate")] {
        let dsn = format!(
            "42call://u:p@127.0.0.1:1?ca_file={}",
            path.to_str().unwrap()
        );
        let e = Client::new(&dsn).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(what), "{}", e.message());
    }
    let pki = TestPki::new();
    let ca = dir.0.join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let e = Client::new(&format!(
        "42call://u:p@127.0.0.1:1?tls=0&ca_file={}",
        ca.to_str().unwrap()
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn tls_off_toward_another_host_warns_once_per_client() {
    let lines: Arc<Mutex<Vec<(Level, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    log::set_logger(
        Some(Level::Warn),
        Box::new(move |level, m| sink.lock().unwrap().push((level, m.to_string()))),
    )
    .unwrap();
    let remote = Client::new("42call://u:p@carrier.invalid?tls=0").unwrap();
    let again = Client::new("42call://u:p@carrier.invalid?tls=0").unwrap();
    let local = Client::new("42call://u:p@127.0.0.1:1?tls=0").unwrap();
    let localhost = Client::new("42call://u:p@localhost:1?tls=0").unwrap();
    let tls = Client::new("42call://u:p@carrier.invalid").unwrap();
    log::remove_logger().unwrap();
    let lines = lines.lock().unwrap();
    let warned: Vec<&(Level, String)> = lines.iter().filter(|(_, m)| m.contains("tls=0")).collect();
    assert_eq!(warned.len(), 2, "{lines:?}");
    for (level, m) in warned {
        assert_eq!(*level, Level::Warn);
        assert!(m.contains("carrier.invalid"), "{m}");
        assert!(!m.contains(":p@"), "{m}");
    }
    drop((remote, again, local, localhost, tls));
}
