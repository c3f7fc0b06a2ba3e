//! Fault injection: every carrier against every fault of the simulator (see
//! `sim/src/faults.rs`). For each one the library must answer with the right kind of
//! error within `timeout_ms` and a small margin, never place a call twice, and say
//! `OutcomeUnknown` exactly when a placing request may have been acted on.
//!
//! A carrier joins by one entry in [`CARRIERS`] (its DSN, its counter of placed calls
//! and the path of each request that it makes).

use std::time::{Duration, Instant};

use callconnect::transport::{Effect, Request, Transport};
use callconnect::{Call, CallOptions, Client, ErrorKind, Result};
use callconnect_sim::faults::{self, Kind, KINDS};
use callconnect_sim::{Config, Simulator};
use serde_json::Value;

const TIMEOUT_MS: u64 = 1500;
/// What a fault may take beyond `timeout_ms` (scheduling on a busy machine, teardown).
const MARGIN: Duration = Duration::from_millis(1000);
/// `slow_headers` waits this long: longer than the timeout.
const SLOW_MS: u64 = 4000;

/// One request that a carrier makes, and how to make the library send it.
struct Op {
    name: &'static str,
    /// A substring of the request's path and query, to aim the fault at it.
    path: &'static str,
    effect: Effect,
    /// Makes the request. `call` is a call started before the fault was armed.
    run: fn(&Client, &Call) -> Result<()>,
}

struct Carrier {
    name: &'static str,
    /// The DSN for a simulator at `127.0.0.1:port`, with `timeout_ms`.
    dsn: fn(port: u16, timeout_ms: u64) -> String,
    /// Calls placed so far, from the simulator's `/_sim/stats`.
    placed: fn(&Value) -> u64,
    /// Substring of the call-placing request's path and query.
    start: &'static str,
    /// Every other request the carrier makes (SMS, top-up, hang-up, status...).
    ops: &'static [Op],
    /// A start may end in a call through a fault: the carrier repeats a cut start itself
    /// with its nonce (VoipNow), or half of its short reply still reads (PokeTALK's status
    /// code). Then the assertion is: at most one call placed, and the host gets it or
    /// OUTCOME_UNKNOWN.
    start_may_succeed: bool,
}

fn start(c: &Client) -> Result<Call> {
    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
}

/// Every carrier the library speaks. A new carrier adds one entry here.
const CARRIERS: &[Carrier] = &[
    Carrier {
        name: "42call",
        dsn: |port, t| {
            format!("42call://test-faults:secret-test-faults@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms={t}")
        },
        placed: |s| s["42call"]["calls_placed"].as_u64().unwrap_or(0),
        start: "?webcallback",
        ops: &[
            Op {
                name: "send_sms",
                path: "?sms",
                effect: Effect::Place,
                run: |c, _| c.send_sms("0171 1234567", "fault test").map(drop),
            },
            Op {
                name: "topup",
                path: "?topup",
                effect: Effect::Place,
                run: |c, _| c.topup("9000123456").map(drop),
            },
            Op {
                name: "hangup",
                path: "?webcallback",
                effect: Effect::Write,
                run: |_, call| call.hangup().map(drop),
            },
        ],
        start_may_succeed: false,
    },
    Carrier {
        name: "connectcall",
        dsn: |port, t| {
            format!("connectcall://test-faults:secret-test-faults@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms={t}")
        },
        placed: |s| s["connectcall"]["calls_placed"].as_u64().unwrap_or(0),
        // Every request goes to this one path; the fault meets the next one sent.
        start: "connectcall.aspx",
        ops: &[Op {
            name: "hangup",
            path: "connectcall.aspx",
            effect: Effect::Write,
            run: |_, call| call.hangup().map(drop),
        }],
        start_may_succeed: false,
    },
    Carrier {
        name: "voipnow",
        dsn: |port, t| {
            format!("voipnow://test-faults:secret-test-faults@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms={t}&extension=210")
        },
        placed: |s| s["voipnow"]["calls_placed"].as_u64().unwrap_or(0),
        start: "/uapi/phoneCalls/",
        ops: &[],
        start_may_succeed: true,
    },
    Carrier {
        name: "poketalk",
        dsn: |port, t| {
            format!("poketalk://test-faults-key@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms={t}&event_secret=event-secret-test-faults-0123456789&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev")
        },
        placed: |s| s["poketalk"]["calls_placed"].as_u64().unwrap_or(0),
        start: "/index.php/api/click2call",
        // Its hang-up is the answer to an event: no request of the library's own.
        ops: &[],
        start_may_succeed: true,
    },
];

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 60_000,
        ..Default::default()
    })
    .unwrap()
}

/// Every fault kind but `refused` (a port rather than a request) and `reply` (canned
/// carrier replies, used by the secrets test), each once.
fn request_faults() -> Vec<(&'static str, Kind)> {
    let mut out: Vec<(&'static str, Kind)> = Vec::new();
    for (name, kind) in KINDS {
        let per_request = !matches!(kind, Kind::Refused | Kind::Reply);
        if per_request && !out.iter().any(|(_, k)| k == kind) {
            out.push((name, *kind));
        }
    }
    out
}

/// What a placing request must return after a fault: OutcomeUnknown whenever the
/// request may have reached the carrier; Network only when it surely did not act
/// (nothing connected, or HTTP 503 "not served").
fn expected_place(kind: Kind) -> ErrorKind {
    match kind {
        Kind::Refused | Kind::Status(503) => ErrorKind::Network,
        _ => ErrorKind::OutcomeUnknown,
    }
}

/// What a request that is not placing may return after a fault (it is never
/// OutcomeUnknown: only placing requests have an outcome that matters that much).
fn allowed_other(kind: Kind) -> &'static [ErrorKind] {
    match kind {
        Kind::Refused | Kind::ResetBefore | Kind::ResetAfter => &[ErrorKind::Network],
        Kind::Status(_) => &[ErrorKind::Network, ErrorKind::Provider],
        Kind::SlowHeaders | Kind::EndlessBody => &[ErrorKind::Timeout],
        Kind::Garbage => &[ErrorKind::Protocol, ErrorKind::Network],
        Kind::Truncated | Kind::InvalidUtf8 | Kind::Huge | Kind::Reply => &[ErrorKind::Protocol],
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn within_timeout(what: &str, took: Duration) {
    assert!(
        took <= Duration::from_millis(TIMEOUT_MS) + MARGIN,
        "{what}: took {took:?}, more than timeout_ms {TIMEOUT_MS} + {MARGIN:?}"
    );
}

#[test]
fn call_start_meets_every_fault() {
    for carrier in CARRIERS {
        let sim = sim();
        for (name, kind) in request_faults() {
            // A client of its own for each fault (Connect Call takes one call at a time
            // per session, and the call a fault may have placed stays up), with a
            // warm-up call: the carrier's session or token (if any) is in place.
            let client = Client::new(&(carrier.dsn)(sim.port(), TIMEOUT_MS)).unwrap();
            start(&client).unwrap().hangup().unwrap();
            let what = format!("{} start_call / {name}", carrier.name);
            let before = (carrier.placed)(&sim.stats());
            sim.arm_fault(kind, carrier.start, 1, Duration::from_millis(SLOW_MS));
            let (r, took) = timed(|| start(&client));
            let placed = (carrier.placed)(&sim.stats()) - before;
            if carrier.start_may_succeed {
                assert!(placed <= 1, "{what}: {placed} calls placed by one start");
                match r {
                    Ok(call) => {
                        assert_eq!(placed, 1, "{what}: a call the carrier did not place");
                        let _ = call.hangup();
                    }
                    Err(e) => {
                        let want = if placed == 1 {
                            ErrorKind::OutcomeUnknown
                        } else {
                            expected_place(kind)
                        };
                        assert_eq!(e.kind(), want, "{what}: {e}");
                    }
                }
                within_timeout(&what, took);
                sim.clear_faults();
                continue;
            }
            let e = r.expect_err(&what);
            assert_eq!(e.kind(), expected_place(kind), "{what}: {e}");
            assert!(placed <= 1, "{what}: {placed} calls placed by one start");
            assert_eq!(placed == 1, kind.acts(), "{what}: placed {placed}");
            if placed == 1 {
                assert_eq!(
                    e.kind(),
                    ErrorKind::OutcomeUnknown,
                    "{what}: acted, yet {e}"
                );
            }
            within_timeout(&what, took);
            sim.clear_faults();
            // The client is still good for the next call (once the carrier let go of the
            // call the fault may have placed).
            if placed == 1 {
                continue;
            }
            start(&client)
                .unwrap_or_else(|e| panic!("{what}: the next start failed: {e}"))
                .hangup()
                .unwrap();
        }
    }
}

#[test]
fn every_request_to_a_refused_port_is_network() {
    for carrier in CARRIERS {
        let sim = sim();
        let live = Client::new(&(carrier.dsn)(sim.port(), TIMEOUT_MS)).unwrap();
        let reference = start(&live).unwrap().reference();
        let port = faults::closed_port().unwrap();
        let client = Client::new(&(carrier.dsn)(port, TIMEOUT_MS)).unwrap();
        let (r, took) = timed(|| start(&client));
        let e = r.unwrap_err();
        assert_eq!(
            e.kind(),
            expected_place(Kind::Refused),
            "{}: {e}",
            carrier.name
        );
        within_timeout(carrier.name, took);
        // The same call, seen through the unreachable client.
        let call = client.attach(&reference).unwrap();
        for op in carrier.ops {
            let (r, took) = timed(|| (op.run)(&client, &call));
            let e = r.unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::Network,
                "{} {}: {e}",
                carrier.name,
                op.name
            );
            within_timeout(op.name, took);
        }
    }
}

#[test]
fn other_requests_meet_every_fault() {
    for carrier in CARRIERS {
        let sim = sim();
        for op in carrier.ops {
            for (name, kind) in request_faults() {
                // A client of its own: a call the fault left up does not hold the next.
                let client = Client::new(&(carrier.dsn)(sim.port(), TIMEOUT_MS)).unwrap();
                let what = format!("{} {} / {name}", carrier.name, op.name);
                let call = start(&client).unwrap();
                let before = (carrier.placed)(&sim.stats());
                sim.arm_fault(kind, op.path, 1, Duration::from_millis(SLOW_MS));
                let (r, took) = timed(|| (op.run)(&client, &call));
                sim.clear_faults();
                within_timeout(&what, took);
                assert_eq!(
                    (carrier.placed)(&sim.stats()),
                    before,
                    "{what}: placed a call"
                );
                match op.effect {
                    Effect::Place => {
                        let e = r.expect_err(&what);
                        assert_eq!(e.kind(), expected_place(kind), "{what}: {e}");
                    }
                    Effect::Write => {
                        let e = r.expect_err(&what);
                        assert!(
                            allowed_other(kind).contains(&e.kind()),
                            "{what}: {:?} {e}",
                            e.kind()
                        );
                    }
                    // A read is retried: one fault is not seen by the host.
                    Effect::Read => {
                        let retried = !matches!(
                            kind,
                            Kind::SlowHeaders
                                | Kind::EndlessBody
                                | Kind::Truncated
                                | Kind::Garbage
                                | Kind::InvalidUtf8
                                | Kind::Huge
                        );
                        if retried {
                            r.unwrap_or_else(|e| panic!("{what}: not retried: {e}"));
                        } else {
                            let e = r.expect_err(&what);
                            assert!(allowed_other(kind).contains(&e.kind()), "{what}: {e}");
                        }
                    }
                }
            }
        }
    }
}

// The transport itself, with a request aimed at a path that no carrier serves (the
// simulator answers 404; the transport reports any HTTP status as a response).

fn transport(timeout_ms: u64) -> Transport {
    Transport::new(Duration::from_millis(timeout_ms))
}

fn fired(sim: &Simulator) -> u64 {
    sim.stats()["_faults"]["fired"].as_u64().unwrap()
}

fn probe(sim: &Simulator, effect: Effect) -> Request {
    Request::new(
        "GET",
        format!("http://127.0.0.1:{}/probe?transport", sim.port()),
        effect,
    )
}

#[test]
fn reads_are_retried_with_bounded_backoff() {
    let sim = sim();
    let t = transport(TIMEOUT_MS);
    for (name, kind) in [
        ("reset_before", Kind::ResetBefore),
        ("reset_after", Kind::ResetAfter),
        ("http_500", Kind::Status(500)),
        ("http_502", Kind::Status(502)),
        ("http_503", Kind::Status(503)),
    ] {
        // One fault: the second attempt gets through.
        let before = fired(&sim);
        sim.arm_fault(kind, "transport", 1, Duration::ZERO);
        let resp = t
            .send(&probe(&sim, Effect::Read))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status, 404, "{name}");
        assert_eq!(fired(&sim) - before, 1, "{name}");
        // Faults on every attempt: a bounded number of tries, within the timeout.
        let before = fired(&sim);
        sim.arm_fault(kind, "transport", 100, Duration::ZERO);
        let (r, took) = timed(|| t.send(&probe(&sim, Effect::Read)));
        sim.clear_faults();
        let attempts = fired(&sim) - before;
        assert_eq!(attempts, 3, "{name}: {attempts} attempts");
        within_timeout(name, took);
        match r {
            Ok(resp) => assert!(resp.status >= 500, "{name}"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Network, "{name}: {e}"),
        }
    }
    // Backoff never outlives the timeout: with a short one, fewer attempts.
    let short = transport(150);
    let before = fired(&sim);
    sim.arm_fault(Kind::Status(503), "transport", 100, Duration::ZERO);
    let (_, took) = timed(|| short.send(&probe(&sim, Effect::Read)));
    sim.clear_faults();
    assert!(fired(&sim) - before < 3);
    assert!(took < Duration::from_millis(150) + MARGIN, "{took:?}");
}

#[test]
fn placing_and_writing_requests_are_never_repeated() {
    let sim = sim();
    let t = transport(TIMEOUT_MS);
    for effect in [Effect::Place, Effect::Write] {
        for (name, kind) in request_faults() {
            let before = fired(&sim);
            sim.arm_fault(kind, "transport", 100, Duration::from_millis(SLOW_MS));
            let (r, took) = timed(|| t.send(&probe(&sim, effect)));
            sim.clear_faults();
            assert_eq!(fired(&sim) - before, 1, "{effect:?} {name}: repeated");
            within_timeout(name, took);
            // Faults the transport sees itself (the status faults are replies).
            if let Err(e) = r {
                let want = if effect == Effect::Place {
                    ErrorKind::OutcomeUnknown
                } else {
                    e.kind()
                };
                assert_eq!(e.kind(), want, "{effect:?} {name}: {e}");
                assert_ne!(e.kind(), ErrorKind::Internal);
            }
        }
    }
}

#[test]
fn reply_bodies_are_capped() {
    let sim = sim();
    let t = transport(5000);
    sim.arm_fault(Kind::Huge, "transport", 1, Duration::ZERO);
    let e = t.send(&probe(&sim, Effect::Write)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(
        e.message()
            .contains(&callconnect::transport::MAX_REPLY_BYTES.to_string()),
        "{e}"
    );
}

/// A port whose listener never accepts and whose backlog is full: a connection to it
/// never comes up (the kernel drops the handshake), as with a carrier behind a
/// black-holing firewall. Returns the listener and the connections that fill it.
fn black_hole() -> Option<(std::net::TcpListener, Vec<std::net::TcpStream>, u16)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    let addr = l.local_addr().ok()?;
    let mut held = Vec::new();
    for _ in 0..2000 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(_) => return Some((l, held, addr.port())),
        }
    }
    None
}

#[test]
fn a_connection_that_never_comes_up_is_network_even_for_a_call_start() {
    let Some((_listener, _held, port)) = black_hole() else {
        panic!("could not fill a listen backlog on loopback");
    };
    for carrier in CARRIERS {
        let client = Client::new(&(carrier.dsn)(port, 600)).unwrap();
        let (r, took) = timed(|| start(&client));
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network, "{}: {e}", carrier.name);
        assert!(took <= Duration::from_millis(600) + MARGIN, "{took:?}");
    }
}
