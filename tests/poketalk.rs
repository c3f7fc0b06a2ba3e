//! PokeTALK end to end against the simulator, through the Rust API: calls seen purely
//! through events (built-in listener; spool between clients that stand for processes),
//! hang-up by 412, limits, forged and late events, every result code.

use std::time::{Duration, Instant};

use callconnect::{CallOptions, CallState, CallStatus, Client, ErrorKind, FailReason, Leg};
use callconnect_sim::{Config, Simulator};

const SECRET: &str = "event-secret-for-tests-0123";

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

fn get(sim: &Simulator, path: &str) -> serde_json::Value {
    let body = ureq::get(format!("http://127.0.0.1:{}{path}", sim.port()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body))
}

fn stats(sim: &Simulator) -> serde_json::Value {
    sim.stats()["poketalk"].clone()
}

fn dsn(sim: &Simulator, key: &str, extra: &str) -> String {
    format!(
        "poketalk://{key}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000{}{extra}",
        sim.port(),
        if extra.is_empty() { "" } else { "&" }
    )
}

/// A client whose events come through its own built-in listener.
fn listening(sim: &Simulator, key: &str) -> Client {
    Client::new(&dsn(
        sim,
        key,
        &format!("event_secret={SECRET}&event_listen=127.0.0.1:0"),
    ))
    .unwrap()
}

/// A free loopback port nobody listens on: events sent there are lost.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A client whose events go nowhere: the test feeds them by hand.
fn manual(sim: &Simulator, key: &str) -> Client {
    Client::new(&dsn(
        sim,
        key,
        &format!(
            "event_secret={SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A{}%2Fev",
            dead_port()
        ),
    ))
    .unwrap()
}

/// Polls until the call is final; returns every state seen, in order, and the end.
fn follow(call: &callconnect::Call, limit: Duration) -> (Vec<CallState>, CallStatus) {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let s = call.poll().unwrap();
        if seen.last() != Some(&s.state) {
            seen.push(s.state);
        }
        if s.state.is_final() || start.elapsed() > limit {
            return (seen, s);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for(call: &callconnect::Call, state: CallState) -> CallStatus {
    let start = Instant::now();
    loop {
        let s = call.poll().unwrap();
        if s.state >= state || start.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The simulator's record of a call.
fn sim_call(sim: &Simulator, id: &str) -> serde_json::Value {
    get(sim, &format!("/_sim/poketalk/call?custom={id}"))
}

/// The statuses the simulator sent and the HTTP answers it got: `["1:200", ...]`, once
/// the final one is logged (the receiver applies an event before its answer is back at
/// the simulator, so a poll can see the end first).
fn sent(sim: &Simulator, id: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let log: Vec<String> = sim_call(sim, id)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}:{}", e["status"], e["http"].as_str().unwrap()))
            .collect();
        let last_final = log
            .last()
            .is_some_and(|e| ["2:", "4:", "6:", "8:"].iter().any(|f| e.starts_with(f)));
        if last_final || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The query of an event for a call, as PokeTALK would send it.
fn event_query(sim: &Simulator, id: &str, status: &str, duration: u32, debit: &str) -> String {
    let url = sim_call(sim, id)["eventurl"].as_str().unwrap().to_string();
    url.split_once('?')
        .unwrap()
        .1
        .replace("$webcallid", id)
        .replace("$status", status)
        .replace("$duration", &duration.to_string())
        .replace("$debit", debit)
}

#[test]
fn a_whole_call_seen_through_the_listener() {
    let sim = sim();
    let c = listening(&sim, "test-full");
    let caps = c.capabilities();
    for cap in [1u32 << 0, 1 << 1, 1 << 2, 1 << 5, 1 << 10, 1 << 12] {
        assert_ne!(caps.bits() & cap, 0, "{cap}");
    }
    let call = c
        .start_call("0171 1234567", "+49 30 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    assert_eq!(id.len(), 19);
    // Numbers in full international digits, without + or leading zeros.
    assert_eq!(stats(&sim)["last_from"], "491711234567");
    assert_eq!(stats(&sim)["last_to"], "49301234567");
    assert_eq!(stats(&sim)["malformed_numbers"], 0);
    assert_eq!(stats(&sim)["over_long_fields"], 0);
    let (seen, end) = follow(&call, Duration::from_secs(10));
    assert_eq!(end.state, CallState::Ended, "{seen:?}");
    assert_eq!(end.reason, FailReason::None);
    assert!(end.live);
    assert_eq!(end.duration_s, 20);
    assert_eq!(end.cost.as_ref().unwrap().amount, "0.040");
    assert_eq!(end.raw_code.as_deref(), Some("8"));
    // States only went forward (which of them a poll lands in depends on the load; what
    // the carrier sent is read from the simulator below).
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    // Every status the carrier sent was taken (200), none asked for hang-up.
    assert_eq!(
        sent(&sim, &id),
        ["1:200", "3:200", "5:200", "7:200", "8:200"]
    );
    assert_eq!(stats(&sim)["calls_placed"], 1);
}

#[test]
fn failed_legs() {
    let sim = sim();
    let c = listening(&sim, "test-legs");
    for (a, b, leg, raw) in [
        ("0171 1234486", "030 1234567", Leg::A, "2"),
        ("0171 1234567", "030 1234408", Leg::B, "6"),
    ] {
        let call = c.start_call(a, b, &CallOptions::default()).unwrap();
        let (_, end) = follow(&call, Duration::from_secs(10));
        assert_eq!(
            (
                end.state,
                end.failed_leg,
                end.reason,
                end.raw_code.as_deref()
            ),
            (CallState::Failed, leg, FailReason::Unknown, Some(raw))
        );
    }
}

#[test]
fn hang_up_is_a_412_answer() {
    let sim = sim();
    let c = listening(&sim, "test-hangup");
    // B ending in 999 talks until it is hung up; periodic events every 100 ms.
    get(&sim, "/_sim/poketalk/settings?event_period_ms=100");
    let call = c
        .start_call("0171 1234567", "030 1234999", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    assert_eq!(
        wait_for(&call, CallState::Connected).state,
        CallState::Connected
    );
    let s = call.hangup().unwrap();
    assert!(s.hangup_pending);
    assert_eq!(s.state, CallState::Connected);
    let (_, end) = follow(&call, Duration::from_secs(10));
    assert_eq!(
        (end.state, end.reason),
        (CallState::Ended, FailReason::Cancelled)
    );
    assert!(!end.hangup_pending);
    let record = sim_call(&sim, &id);
    assert_eq!(record["stage"], "hung_up");
    assert_eq!(record["hung_up_by_412"], true);
    let log = sent(&sim, &id);
    assert!(log.iter().any(|e| e == "7:412"), "{log:?}");
    assert_eq!(log.last().unwrap(), "8:200");

    // Before the bridge: the next change of status is answered 412.
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    call.hangup().unwrap();
    let (_, end) = follow(&call, Duration::from_secs(10));
    assert_eq!(
        (end.state, end.reason),
        (CallState::Ended, FailReason::Cancelled)
    );
    let log = sent(&sim, call.id());
    assert_eq!(log, ["1:412", "4:200"]);
}

#[test]
fn limits_end_the_call() {
    let sim = sim();
    let c = listening(&sim, "test-limits");
    get(&sim, "/_sim/poketalk/settings?event_period_ms=60");
    let by_duration = CallOptions {
        max_duration_s: Some(15),
        ..Default::default()
    };
    let by_cost = CallOptions {
        max_cost: Some("0,03".into()),
        ..Default::default()
    };
    for opts in [by_duration, by_cost] {
        let call = c.start_call("0171 1234567", "030 1234999", &opts).unwrap();
        let (_, end) = follow(&call, Duration::from_secs(10));
        assert_eq!(
            (end.state, end.reason),
            (CallState::Ended, FailReason::Cancelled)
        );
        assert!((15..60).contains(&end.duration_s), "{}", end.duration_s);
        assert!(sent(&sim, call.id()).iter().any(|e| e == "7:412"));
    }
}

#[test]
fn forged_events_change_nothing() {
    let sim = sim();
    let c = manual(&sim, "test-forged");
    let one = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let two = c
        .start_call("0171 1234567", "030 7654321", &CallOptions::default())
        .unwrap();
    let (id1, id2) = (one.id().to_string(), two.id().to_string());
    let q1 = event_query(&sim, &id1, "7", 10, "0.020");
    let q2 = event_query(&sim, &id2, "8", 10, "0.020");
    let tok = |q: &str| {
        q.split('&')
            .find(|p| p.starts_with("cc_tok="))
            .unwrap()
            .to_string()
    };
    let forged = [
        // A made-up token.
        q1.replace(&tok(&q1), "cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        // Call two's token on call one.
        q1.replace(&tok(&q1), &tok(&q2)),
        // Call one's token, the id changed to call two.
        q2.replace(&tok(&q2), &tok(&q1)),
        // No token at all.
        q1.replace(&format!("&{}", tok(&q1)), ""),
        // Limits lifted without the token's consent.
        q1.replace("cc_id=", "cc_lim=99999_&cc_id="),
    ];
    for q in &forged {
        let r = c.ingest_event(q).unwrap_err();
        assert_eq!(r.http_status, 403, "{q}");
        assert_eq!(r.error.kind(), ErrorKind::Auth);
        assert!(!r.error.to_string().contains(SECRET));
    }
    for q in [
        "",
        "status=7",
        "cc_id=../../etc&cc_tok=x",
        &"x".repeat(5000),
    ] {
        assert_eq!(c.ingest_event(q).unwrap_err().http_status, 400, "{q}");
    }
    assert_eq!(one.status().unwrap().state, CallState::Initiating);
    assert_eq!(two.status().unwrap().state, CallState::Initiating);
    // A genuine event for a call this client does not know (no spool): 404.
    let other = manual(&sim, "test-forged");
    let r = other.ingest_event(&q1).unwrap_err();
    assert_eq!((r.http_status, r.error.kind()), (404, ErrorKind::NotFound));
    // A client without events refuses them all.
    let plain = Client::new(&dsn(&sim, "test-forged", "")).unwrap();
    let r = plain.ingest_event(&q1).unwrap_err();
    assert_eq!(
        (r.http_status, r.error.kind()),
        (404, ErrorKind::Unsupported)
    );
    // And the genuine one works.
    let ok = c.ingest_event(&q1).unwrap();
    assert_eq!((ok.http_status, ok.hang_up), (200, false));
    assert_eq!(one.status().unwrap().state, CallState::Connected);
    assert_eq!(two.status().unwrap().state, CallState::Initiating);
}

#[test]
fn late_and_repeated_events_never_move_a_call_back() {
    let sim = sim();
    let c = manual(&sim, "test-late");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let feed = |status: &str, d: u32, debit: &str| {
        c.ingest_event(&event_query(&sim, &id, status, d, debit))
            .unwrap()
    };
    feed("1", 0, "0.000");
    feed("7", 30, "0.060");
    let r = feed("1", 0, "0.000"); // late
    assert_eq!(r.http_status, 200);
    let s = call.poll().unwrap();
    assert_eq!((s.state, s.duration_s), (CallState::Connected, 30));
    assert_eq!(s.cost.unwrap().amount, "0.060");
    feed("7", 10, "0.020"); // repeated, older numbers
    assert_eq!(call.poll().unwrap().duration_s, 30);
    feed("0", 30, "0.060"); // unknown state: kept raw, state unchanged
    let s = call.poll().unwrap();
    assert_eq!(
        (s.state, s.raw_code.as_deref()),
        (CallState::Connected, Some("0"))
    );
    feed("8", 42, "0.084");
    // Nothing after the end moves it or rewrites its numbers, not even FAILED (which
    // ranks above ENDED). An event that shows the call alive after its end is answered
    // 412: the carrier is never left running a call the library took as ended.
    for (status, d, answer) in [
        ("7", 50, 412),
        ("3", 0, 412),
        ("6", 60, 200),
        ("2", 70, 200),
        ("1", 0, 412),
        ("8", 43, 200),
    ] {
        let r = feed(status, d, "0.200");
        assert_eq!(r.http_status, answer, "{status}");
        assert_eq!(r.hang_up, answer == 412);
        assert_eq!(r.status.unwrap().state, CallState::Ended);
    }
    let s = call.poll().unwrap();
    assert_eq!(
        (s.state, s.reason, s.duration_s),
        (CallState::Ended, FailReason::None, 42)
    );
    assert_eq!(s.cost.unwrap().amount, "0.084");
    assert_eq!(s.raw_code.as_deref(), Some("8"));
}

#[test]
fn events_that_beat_the_start_reply_are_kept() {
    // With no step between stages, and the start's reply held back, the whole call is
    // over before the start returns: its events come before the call is known here.
    let sim = Simulator::start(Config {
        step_ms: 0,
        ..Default::default()
    })
    .unwrap();
    get(&sim, "/_sim/poketalk/settings?reply_delay_ms=300");
    let c = listening(&sim, "test-early");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (_, end) = follow(&call, Duration::from_secs(10));
    assert_eq!(
        (end.state, end.reason, end.duration_s),
        (CallState::Ended, FailReason::None, 20)
    );
    assert_eq!(
        sent(&sim, call.id()),
        ["1:200", "3:200", "5:200", "7:200", "8:200"]
    );
    // A failed leg taken from the early buffer keeps its reason and leg.
    let failed = c
        .start_call("0171 1234567", "030 1234486", &CallOptions::default())
        .unwrap();
    let (_, end) = follow(&failed, Duration::from_secs(10));
    assert_eq!(
        (
            end.state,
            end.reason,
            end.failed_leg,
            end.raw_code.as_deref()
        ),
        (CallState::Failed, FailReason::Unknown, Leg::B, Some("6"))
    );
    assert_eq!(
        sent(&sim, failed.id()).last().map(String::as_str),
        Some("6:200")
    );
}

/// The record files of one call in a `store=dir:` directory (`<account>-<id>.json`).
fn record_files(dir: &std::path::Path, id: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().into_string().unwrap();
            name.ends_with(&format!("-{id}.json"))
        })
        .count()
}

/// A spool directory of its own for one test.
fn spool_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cc-spool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn spool_carries_events_and_hang_up_between_processes() {
    let sim = sim();
    get(&sim, "/_sim/poketalk/settings?event_period_ms=100");
    let dir = spool_dir("rust");
    let spool =
        url::form_urlencoded::byte_serialize(dir.to_str().unwrap().as_bytes()).collect::<String>();
    // The receiver (a web request in PHP terms): takes events, knows no call.
    let receiver = Client::new(&dsn(
        &sim,
        "test-spool",
        &format!("event_secret={SECRET}&event_listen=127.0.0.1:0&event_spool={spool}"),
    ))
    .unwrap();
    let url = format!("http://{}/cb.php", receiver.event_listen_addr().unwrap());
    let portal_dsn = dsn(
        &sim,
        "test-spool",
        &format!(
            "event_secret={SECRET}&event_spool={spool}&event_url={}",
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        ),
    );
    // The portal (another process): starts and polls, hears no event directly.
    let portal = Client::new(&portal_dsn).unwrap();
    let call = portal
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    // One record file for the call, from its start on.
    assert_eq!(record_files(&dir, &id), 1);
    let (seen, end) = follow(&call, Duration::from_secs(10));
    assert_eq!(end.state, CallState::Ended, "{seen:?}");
    assert_eq!(end.duration_s, 20);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // A third process attaches the call from its reference and reads the same end.
    let reference = call.reference();
    let later = Client::new(&portal_dsn).unwrap();
    let again = later.attach(&reference).unwrap();
    let s = again.poll().unwrap();
    assert_eq!((s.state, s.duration_s), (CallState::Ended, 20));

    // Hang-up asked in one process reaches the process that answers the next event
    // (here up to a second later, the period of events while connected).
    get(&sim, "/_sim/poketalk/settings?event_period_ms=1000");
    let call = portal
        .start_call("0171 1234567", "030 1234999", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    assert_eq!(
        wait_for(&call, CallState::Connected).state,
        CallState::Connected
    );
    let reference = call.reference();
    drop(call);
    let next_request = Client::new(&portal_dsn).unwrap();
    let attached = next_request.attach(&reference).unwrap();
    assert!(attached.hangup().unwrap().hangup_pending);
    drop(attached);
    let poller = Client::new(&portal_dsn).unwrap();
    let attached = poller.attach(&reference).unwrap();
    let s = attached.poll().unwrap();
    assert_eq!((s.state, s.hangup_pending), (CallState::Connected, true));
    let (_, end) = follow(&attached, Duration::from_secs(10));
    assert_eq!(
        (end.state, end.reason),
        (CallState::Ended, FailReason::Cancelled)
    );
    assert!(sent(&sim, &id).iter().any(|e| e == "7:412"));
    // One file per call, and no temporary file is left.
    assert_eq!(record_files(&dir, &id), 1);
    for f in std::fs::read_dir(&dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with(".tmp"), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_result_code() {
    let sim = sim();
    let c = manual(&sim, "test-codes");
    let start = |c: &Client, b: &str| c.start_call("0171 1234567", b, &CallOptions::default());
    for (code, kind, text) in [
        ("10", ErrorKind::InvalidArgument, "Empty 'api_key'"),
        ("20", ErrorKind::InvalidArgument, "Empty 'from'"),
        ("30", ErrorKind::InvalidArgument, "Empty 'to'"),
        ("40", ErrorKind::Auth, "Unknown API user"),
        ("50", ErrorKind::Provider, "service provider"),
        ("60", ErrorKind::Provider, "blacklist"),
        ("70", ErrorKind::Provider, "gateway list"),
        ("90", ErrorKind::Provider, "calculate timeout"),
        ("100", ErrorKind::Auth, "Unknown API IP address"),
        ("80", ErrorKind::Provider, "not in PokeTALK's documents"),
    ] {
        get(
            &sim,
            &format!("/_sim/poketalk/next_code?key=test-codes&code={code}"),
        );
        let e = start(&c, "030 1234567").unwrap_err();
        assert_eq!(e.kind(), kind, "{code}");
        assert_eq!(e.carrier_code(), Some(code));
        assert!(e.message().contains(text), "{code}: {}", e.message());
    }
    assert_eq!(stats(&sim)["calls_placed"], 0);
    // The same codes from the carrier's own checks.
    let e = start(&c, "030 1234403").unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::Provider, Some("60"))
    );
    let e = start(&c, "030 1234402").unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::Provider, Some("90"))
    );
    let e = start(&manual(&sim, "nobody-key"), "030 1234567").unwrap_err();
    assert_eq!((e.kind(), e.carrier_code()), (ErrorKind::Auth, Some("40")));
    let e = start(&manual(&sim, "remote-key"), "030 1234567").unwrap_err();
    assert_eq!((e.kind(), e.carrier_code()), (ErrorKind::Auth, Some("100")));
    assert!(!e.to_string().contains("remote-key"));
    assert_eq!(stats(&sim)["calls_placed"], 0);
    // 00, bare and wrapped in JSON.
    start(&c, "030 1234567").unwrap();
    get(&sim, "/_sim/poketalk/settings?reply=json");
    start(&c, "030 1234567").unwrap();
    get(&sim, "/_sim/poketalk/next_code?key=test-codes&code=60");
    assert_eq!(
        start(&c, "030 1234567").unwrap_err().carrier_code(),
        Some("60")
    );
    assert_eq!(stats(&sim)["calls_placed"], 2);
}

#[test]
fn configuration_and_what_needs_events() {
    let sim = sim();
    // Without events PokeTALK can only place calls.
    let plain = Client::new(&dsn(&sim, "demo-key", "")).unwrap();
    assert_eq!(plain.capabilities().bits(), 1);
    let call = plain
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert!(!call.poll().unwrap().live);
    assert_eq!(call.hangup().unwrap_err().kind(), ErrorKind::Unsupported);
    let opts = CallOptions {
        max_duration_s: Some(60),
        ..Default::default()
    };
    let e = plain
        .start_call("0171 1234567", "030 1234567", &opts)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let caller_id = CallOptions {
        caller_id: Some("x".into()),
        ..Default::default()
    };
    let e = manual(&sim, "demo-key")
        .start_call("0171 1234567", "030 1234567", &caller_id)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // DSN errors name the part and never show the key or the secret.
    let long = format!("https://portal.example/{}", "x".repeat(150));
    for extra in [
        "event_url=http%3A%2F%2Fh%2F&event_secret=short-hunter2".to_string(),
        "event_url=http%3A%2F%2Fh%2F".to_string(),
        format!("event_secret={SECRET}"),
        format!("event_secret={SECRET}&event_url={long}"),
        format!("event_secret={SECRET}&event_listen=127.0.0.1:99999"),
        "nonsense=1".to_string(),
    ] {
        let e = Client::new(&dsn(&sim, "key-hunter2", &extra)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{extra}");
        assert!(!e.message().contains("hunter2"), "{}", e.message());
        assert!(!e.message().contains(SECRET), "{}", e.message());
    }
    let e = Client::new(&format!(
        "poketalk://key:hunter2@127.0.0.1:{}?tls=0",
        sim.port()
    ))
    .unwrap_err();
    assert!(!e.message().contains("hunter2"));
    // A port taken is a DSN error, and a closed client's listener lets the port go.
    let c = listening(&sim, "demo-key");
    let addr = c.event_listen_addr().unwrap();
    let again = format!("event_secret={SECRET}&event_listen={addr}");
    assert_eq!(
        Client::new(&dsn(&sim, "demo-key", &again))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    c.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Client::new(&dsn(&sim, "demo-key", &again)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the listener's port stayed taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Invalid numbers never reach the carrier.
    let before = stats(&sim)["requests"].as_u64().unwrap();
    let e = manual(&sim, "demo-key")
        .start_call("12", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidNumber);
    assert_eq!(stats(&sim)["requests"].as_u64().unwrap(), before);
}

#[test]
fn an_unreachable_carrier_places_nothing_and_keeps_no_spool() {
    let dir = spool_dir("unreachable");
    let spool =
        url::form_urlencoded::byte_serialize(dir.to_str().unwrap().as_bytes()).collect::<String>();
    let c = Client::new(&format!(
        "poketalk://demo-key@127.0.0.1:{}?tls=0&default_country=49&event_secret={SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A9%2F&event_spool={spool}",
        dead_port()
    ))
    .unwrap();
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
