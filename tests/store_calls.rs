//! Calls followed across processes through the call-state store, with each backend: a
//! private directory (`store=dir:`) and a real Redis (`store=redis://`, started by the
//! test). Two clients with the same DSN stand for two processes (each has its own state;
//! with Redis, two servers that share nothing else). The faults the store fixed have a
//! test each: events flooding one call, a forged reference naming a path, a 42call
//! hang-up and a Connect Call session read from another process, a forged final event,
//! a replayed final, Redis going away in the middle of a call.

#[path = "common/redis.rs"]
mod redis_server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use callconnect::log::{self, Level};
use callconnect::{Call, CallOptions, CallState, CallStatus, Client, ErrorKind, FailReason};
use callconnect_sim::{Config, Simulator};
use redis_server::RedisServer;

const SECRET: &str = "event-secret-for-tests-0123";

fn sim(step_ms: u64) -> Simulator {
    Simulator::start(Config {
        step_ms,
        ..Default::default()
    })
    .unwrap()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cc-store-calls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The stores a test runs with: a fresh directory, and a Redis (when redis-server is
/// installed; a failure under CC_STRICT=1 when it is not). The server lives as long as
/// the returned guard.
fn stores(tag: &str) -> (Vec<String>, Option<RedisServer>, PathBuf) {
    let dir = tempdir(tag);
    let mut specs = vec![format!("dir:{}", dir.display())];
    let redis = RedisServer::start();
    if let Some(r) = &redis {
        specs.push(r.url());
    }
    (specs, redis, dir)
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

fn poketalk(sim: &Simulator, key: &str, extra: &str) -> String {
    format!(
        "poketalk://{key}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000&event_secret={SECRET}&{extra}",
        sim.port()
    )
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn poll_until(call: &Call, done: impl Fn(&CallStatus) -> bool) -> CallStatus {
    let start = Instant::now();
    loop {
        let s = call.poll().unwrap();
        if done(&s) || start.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sim_call(sim: &Simulator, id: &str) -> serde_json::Value {
    get(sim, &format!("/_sim/poketalk/call?custom={id}"))
}

/// The statuses the simulator sent and the answers it got (`"7:412"`), once its last
/// one is final.
fn sent(sim: &Simulator, id: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let log: Vec<String> = sim_call(sim, id)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}:{}", e["status"], e["http"].as_str().unwrap()))
            .collect();
        let done = log
            .last()
            .is_some_and(|e| ["2:", "4:", "6:", "8:"].iter().any(|f| e.starts_with(f)));
        if done || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The query of an event for a call, as PokeTALK would send it (a genuine token).
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

/// A receiver (its own listener, knows no call) and the DSN of portals whose events go
/// to it; all share `spec` and nothing else.
fn receiver_and_portal(sim: &Simulator, key: &str, spec: &str) -> (Client, String) {
    let store = format!("store={}", enc(spec));
    let receiver = Client::new(&poketalk(
        sim,
        key,
        &format!("event_listen=127.0.0.1:0&{store}"),
    ))
    .unwrap();
    let url = format!("http://{}/cb.php", receiver.event_listen_addr().unwrap());
    let portal = poketalk(sim, key, &format!("{store}&event_url={}", enc(&url)));
    (receiver, portal)
}

#[test]
fn poketalk_events_and_hang_up_across_processes() {
    let sim = sim(50);
    get(&sim, "/_sim/poketalk/settings?event_period_ms=100");
    let (specs, _redis, dir) = stores("pt");
    for spec in &specs {
        let (_receiver, portal_dsn) = receiver_and_portal(&sim, "test-store-pt", spec);
        // The portal hears no event itself: everything comes through the store.
        let portal = Client::new(&portal_dsn).unwrap();
        let call = portal
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        let end = poll_until(&call, |s| s.state.is_final());
        assert_eq!(
            (end.state, end.reason, end.duration_s),
            (CallState::Ended, FailReason::None, 20),
            "{spec}"
        );
        assert_eq!(end.cost.unwrap().amount, "0.040");
        // A third process attaches the reference and reads the same end, with its reason
        // (a call that simply ended is not CANCELLED).
        let later = Client::new(&portal_dsn).unwrap();
        let s = later.attach(&call.reference()).unwrap().poll().unwrap();
        assert_eq!(
            (s.state, s.reason, s.duration_s),
            (CallState::Ended, FailReason::None, 20),
            "{spec}"
        );

        // A failed B leg keeps its reason and leg in every process.
        let failed = portal
            .start_call("0171 1234567", "030 1234486", &CallOptions::default())
            .unwrap();
        let end = poll_until(&failed, |s| s.state.is_final());
        let want = (
            CallState::Failed,
            FailReason::Unknown,
            callconnect::Leg::B,
            Some("6"),
        );
        assert_eq!(
            (
                end.state,
                end.reason,
                end.failed_leg,
                end.raw_code.as_deref()
            ),
            want,
            "{spec}"
        );
        let s = Client::new(&portal_dsn)
            .unwrap()
            .attach(&failed.reference())
            .unwrap()
            .poll()
            .unwrap();
        assert_eq!(
            (s.state, s.reason, s.failed_leg, s.raw_code.as_deref()),
            want,
            "{spec}"
        );

        // Hang-up asked in one process, answered 412 by the receiver process.
        let call = portal
            .start_call("0171 1234567", "030 1234999", &CallOptions::default())
            .unwrap();
        let id = call.id().to_string();
        assert_eq!(
            poll_until(&call, |s| s.state >= CallState::Connected).state,
            CallState::Connected
        );
        let reference = call.reference();
        let next_request = Client::new(&portal_dsn).unwrap();
        assert!(
            next_request
                .attach(&reference)
                .unwrap()
                .hangup()
                .unwrap()
                .hangup_pending
        );
        let end = poll_until(&call, |s| s.state.is_final());
        assert_eq!(
            (end.state, end.reason),
            (CallState::Ended, FailReason::Cancelled),
            "{spec}"
        );
        // A process that neither asked for the end nor took the event reads it as well.
        let s = Client::new(&portal_dsn)
            .unwrap()
            .attach(&reference)
            .unwrap()
            .poll()
            .unwrap();
        assert_eq!(
            (s.state, s.reason),
            (CallState::Ended, FailReason::Cancelled),
            "{spec}"
        );
        assert_eq!(sim_call(&sim, &id)["hung_up_by_412"], true, "{spec}");
        assert!(sent(&sim, &id).iter().any(|e| e == "7:412"), "{spec}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A genuine token lets anyone end a call on paper: the library must then still end it
/// at the carrier, and a replayed final must not rewrite the bill. In one process, and
/// across processes through each store.
#[test]
fn a_forged_final_then_hang_up_still_ends_the_call_and_a_replay_changes_nothing() {
    let sim = sim(50);
    get(&sim, "/_sim/poketalk/settings?event_period_ms=150");
    let (specs, _redis, dir) = stores("forged");
    // The WARN lines (the only test here that sets the process's logger).
    let warnings: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = warnings.clone();
    log::set_logger(
        Some(Level::Warn),
        Box::new(move |_, line| sink.lock().unwrap().push(line.to_string())),
    )
    .unwrap();
    let mut setups: Vec<Option<&String>> = vec![None];
    setups.extend(specs.iter().map(Some));
    for spec in setups {
        let (receiver, portal) = match spec {
            // One process: the client takes its own events.
            None => {
                let c = Client::new(&poketalk(&sim, "test-store-f", "event_listen=127.0.0.1:0"))
                    .unwrap();
                (c.clone(), c)
            }
            Some(spec) => {
                let (r, dsn) = receiver_and_portal(&sim, "test-store-f", spec);
                (r, Client::new(&dsn).unwrap())
            }
        };
        let call = portal
            .start_call("0171 1234567", "030 1234999", &CallOptions::default())
            .unwrap();
        let id = call.id().to_string();
        assert_eq!(
            poll_until(&call, |s| s.state >= CallState::Connected).state,
            CallState::Connected
        );
        let forged = event_query(&sim, &id, "8", 1, "0.001");
        let r = receiver.ingest_event(&forged).unwrap();
        assert_eq!(r.http_status, 200);
        let s = call.poll().unwrap();
        // The forged final says 1 s and 0.001. A genuine event the receiver took just
        // before it may have said more (the longer duration is kept, and its cost; the
        // simulator's clock runs 5 s a step), but never more than the carrier's own clock
        // says now.
        let carrier_secs = sim_call(&sim, &id)["secs"].as_u64().unwrap();
        let billed = s.duration_s;
        let cost = s.cost.clone().unwrap().amount;
        if billed == 1 {
            assert_eq!(cost, "0.001", "{spec:?}");
        }
        assert_eq!(s.state, CallState::Ended, "{spec:?}");
        assert!(
            billed == 1 || (1..=carrier_secs).contains(&u64::from(billed)),
            "{spec:?}: {billed} s billed, the carrier at {carrier_secs} s"
        );
        // The host hangs up: the call is still up at the carrier, so it must end there.
        assert_eq!(call.hangup().unwrap().state, CallState::Ended);
        let deadline = Instant::now() + Duration::from_secs(10);
        while sim_call(&sim, &id)["stage"] != "hung_up" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let record = sim_call(&sim, &id);
        assert_eq!(record["hung_up_by_412"], true, "{spec:?}: {record}");
        assert!(sent(&sim, &id).iter().any(|e| e == "7:412"), "{spec:?}");
        // The inconsistency is in the log, at WARN.
        assert!(
            warnings
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(&id) && l.contains("alive after")),
            "{spec:?}: {:?}",
            warnings.lock().unwrap()
        );
        // A replayed final with other figures changes nothing.
        let replay = event_query(&sim, &id, "8", 9999, "0.000");
        assert_eq!(receiver.ingest_event(&replay).unwrap().http_status, 200);
        let s = call.poll().unwrap();
        assert_eq!(
            (s.state, s.duration_s),
            (CallState::Ended, billed),
            "{spec:?}"
        );
        assert_eq!(s.cost.unwrap().amount, cost, "{spec:?}");
        // And so does every other process that reads the call.
        if let Some(spec) = spec {
            let (_, dsn) = receiver_and_portal(&sim, "test-store-f", spec);
            let other = Client::new(&dsn).unwrap();
            let s = other.attach(&call.reference()).unwrap().poll().unwrap();
            assert_eq!((s.state, s.duration_s), (CallState::Ended, billed));
            assert_eq!(s.cost.unwrap().amount, cost);
        }
    }
    // The replayed duration was implausible for a call placed seconds ago.
    assert!(warnings
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("duration is longer")));
    log::remove_logger().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn call42(sim: &Simulator, extra: &str) -> Client {
    Client::new(&format!(
        "42call://test-store:secret-test-store@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000&{extra}",
        sim.port()
    ))
    .unwrap()
}

#[test]
fn a_42call_hang_up_is_read_by_the_next_request() {
    let sim = sim(50);
    let (specs, _redis, dir) = stores("42");
    for spec in &specs {
        let store = format!("store={}", enc(spec));
        let first = call42(&sim, &store);
        let call = first
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        let reference = call.reference();
        let s = call.hangup().unwrap();
        assert_eq!(
            (s.state, s.reason),
            (CallState::Ended, FailReason::Cancelled)
        );
        drop(call);
        // The next request: not INITIATING again, but the end.
        let next = call42(&sim, &store);
        let again = next.attach(&reference).unwrap();
        let s = again.poll().unwrap();
        assert_eq!(
            (s.state, s.reason),
            (CallState::Ended, FailReason::Cancelled),
            "{spec}"
        );
        // Hanging up the ended call sends nothing.
        let before = sim.stats()["42call"]["requests"].as_u64().unwrap();
        again.hangup().unwrap();
        assert_eq!(sim.stats()["42call"]["requests"].as_u64().unwrap(), before);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn connectcall(sim: &Simulator, extra: &str) -> Client {
    Client::new(&format!(
        "connectcall://test-store:secret-test-store@127.0.0.1:{}/api/?tls=0&default_country=49&timeout_ms=3000&{extra}",
        sim.port()
    ))
    .unwrap()
}

#[test]
fn a_connect_call_reference_follows_its_own_call_not_the_session() {
    let sim = sim(300);
    let (specs, _redis, dir) = stores("cc");
    for spec in &specs {
        let store = format!("store={}", enc(spec));
        // A daemon places two calls, one after the other, in one session.
        let daemon = connectcall(&sim, &store);
        let first = daemon
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        let first_end = poll_until(&first, |s| s.state.is_final());
        assert_eq!(first_end.raw_code.as_deref(), Some("30"));
        let reference = first.reference();
        let second = daemon
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        poll_until(&second, |s| s.state >= CallState::RingingA);
        // A portal request attaches the first call: it reads the first call's end, not
        // the second's progress, and its hang-up does not end the second call.
        let portal = connectcall(&sim, &store);
        let old = portal.attach(&reference).unwrap();
        let s = old.poll().unwrap();
        assert_eq!(
            (s.state, s.raw_code.as_deref()),
            (CallState::Ended, Some("30")),
            "{spec}"
        );
        old.hangup().unwrap();
        let hangups = get(&sim, "/_sim/connectcall/account?login=test-store")["hangups"].clone();
        let end = poll_until(&second, |s| s.state.is_final());
        assert_eq!(
            (end.state, end.raw_code.as_deref()),
            (CallState::Ended, Some("30")),
            "{spec}: the newer call went on to its normal end"
        );
        let account = get(&sim, "/_sim/connectcall/account?login=test-store");
        assert_eq!(account["hangups"], hangups);
        assert_eq!(account["hangups"], 0, "{spec}: {account}");

        // The daemon does not follow its next call to the end: the carrier ends it, and
        // the daemon places another in the same session. The store knows the first
        // one's end only as "replaced"; hanging it up from the portal must not end the
        // newer call (on the session, `hangUp` would).
        // (B busy: the carrier's code for its end, 10, is not the previous call's.)
        let third = daemon
            .start_call("0171 1234567", "030 1234486", &CallOptions::default())
            .unwrap();
        let reference = third.reference();
        drop(third);
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&sim, "/_sim/connectcall/session?login=test-store")["code"] != 10 {
            assert!(Instant::now() < deadline, "the carrier ended the call");
            std::thread::sleep(Duration::from_millis(20));
        }
        let fourth = daemon
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        let portal = connectcall(&sim, &store);
        let old = portal.attach(&reference).unwrap();
        let s = old.hangup().unwrap();
        assert_eq!(
            (s.state, s.reason),
            (CallState::Failed, FailReason::Unknown),
            "{spec}"
        );
        assert_eq!(old.poll().unwrap().state, CallState::Failed);
        let end = poll_until(&fourth, |s| s.state.is_final());
        assert_eq!(
            (end.state, end.raw_code.as_deref()),
            (CallState::Ended, Some("30")),
            "{spec}"
        );
        let account = get(&sim, "/_sim/connectcall/account?login=test-store");
        assert_eq!(account["hangups"], 0, "{spec}: {account}");
        daemon.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The record files of one call in a store directory.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn a_flood_of_events_stays_one_file_and_the_final_is_seen() {
    let sim = sim(50);
    let dir = tempdir("flood");
    let dsn = poketalk(
        &sim,
        "test-store-flood",
        &format!(
            "store={}&event_url={}",
            enc(&format!("dir:{}", dir.display())),
            enc(&format!("http://127.0.0.1:{}/ev", dead_port()))
        ),
    );
    let portal = Client::new(&dsn).unwrap();
    let call = portal
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    // Someone who holds the event URL sends 12 500 events for the call to a receiver.
    let receiver = Client::new(&dsn).unwrap();
    let alive = event_query(&sim, &id, "7", 0, "0.000");
    for _ in 0..12_500 {
        assert_eq!(receiver.ingest_event(&alive).unwrap().http_status, 200);
    }
    let last = event_query(&sim, &id, "8", 3, "0.006");
    assert_eq!(receiver.ingest_event(&last).unwrap().http_status, 200);
    // One file for the call, and another process reads the genuine end.
    assert_eq!(files_in(&dir).len(), 1, "{:?}", files_in(&dir));
    let other = Client::new(&dsn).unwrap();
    let s = other.attach(&call.reference()).unwrap().poll().unwrap();
    assert_eq!((s.state, s.duration_s), (CallState::Ended, 3));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reference naming `id`, signed with the account's own keys (as only a client of the
/// account can sign one): what reaches the id check is the id, not a bad signature.
fn forged_reference(dsn: &str, id: &str) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    callconnect::reference::sign_with_dsn(dsn, id, now_ms, 600, serde_json::Value::Null).unwrap()
}

/// An event for call `id` with a genuine token (`event_secret` known), as the library
/// would sign it for a call of that id (`tests/python` computes it the same way).
fn genuine_event(id: &str, status: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("callconnect-event-v1\n{id}\n").as_bytes());
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("cc_id={}&cc_tok={token}&status={status}", enc(id))
}

/// Ids of attached references and of events are checked before they name a file or a
/// key: references signed by the account itself and events with a genuine token, naming
/// `../../x`, `../x` or an absolute path, create nothing outside the store (the
/// reference is refused for its id, the event answered 400), and nothing in it.
#[test]
fn a_forged_reference_creates_nothing_outside_the_store() {
    let sim = sim(50);
    let base = tempdir("outside");
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("a").join("store");
    let absolute = base.join("absolute-x");
    let dsn = poketalk(
        &sim,
        "test-store-out",
        &format!(
            "store={}&event_url={}",
            enc(&format!("dir:{}", dir.display())),
            enc(&format!("http://127.0.0.1:{}/ev", dead_port()))
        ),
    );
    let c = Client::new(&dsn).unwrap();
    // A genuine reference of the account attaches: the signature is not what refuses.
    let genuine = forged_reference(&dsn, "0123456789abcdef012");
    c.attach(&genuine).unwrap();
    for id in [
        "../../x".to_string(),
        "../x".to_string(),
        absolute.display().to_string(),
    ] {
        let e = c.attach(&forged_reference(&dsn, &id)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{id}: {e}");
        assert!(e.message().contains("call id"), "{id}: {e}");
        for status in ["7", "8"] {
            let r = c.ingest_event(&genuine_event(&id, status)).unwrap_err();
            assert_eq!(r.http_status, 400, "{id}: {}", r.error);
            assert!(
                r.error.message().contains("not a call id"),
                "{id}: {}",
                r.error
            );
        }
    }
    // The same event for a well-formed id is taken (its token is genuine).
    let placed = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let ok = c.ingest_event(&genuine_event(placed.id(), "7")).unwrap();
    assert_eq!(ok.http_status, 200);
    assert_eq!(placed.poll().unwrap().state, CallState::Connected);
    // Nothing but the store's own directory was made, and it holds that one call.
    let mut made: Vec<String> = Vec::new();
    for d in [&base, &base.join("a")] {
        made.extend(
            files_in(d)
                .into_iter()
                .map(|f| format!("{}/{f}", d.display())),
        );
    }
    made.sort();
    assert_eq!(
        made,
        [
            format!("{}/a", base.display()),
            format!("{}/store", base.join("a").display())
        ]
    );
    assert_eq!(files_in(&dir).len(), 1, "{:?}", files_in(&dir));
    assert!(!absolute.exists());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn redis_stopped_and_restarted_in_the_middle_of_a_call() {
    let sim = sim(50);
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let dsn = poketalk(
        &sim,
        "test-store-down",
        &format!(
            "store={}&event_url={}",
            enc(&redis.url()),
            enc(&format!("http://127.0.0.1:{}/ev", dead_port()))
        ),
    );
    let portal = Client::new(&dsn).unwrap();
    let receiver = Client::new(&dsn).unwrap();
    let call = portal
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let connected = event_query(&sim, &id, "7", 1, "0.002");
    assert_eq!(receiver.ingest_event(&connected).unwrap().http_status, 200);
    assert_eq!(call.poll().unwrap().state, CallState::Connected);
    // Down: polls fail with a clear error naming the store; an event is answered 503
    // (the carrier sends it again), never 200.
    redis.stop(true);
    let e = call.poll().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network);
    assert!(e.message().contains(&redis.url()), "{}", e.message());
    let end = event_query(&sim, &id, "8", 3, "0.006");
    let refused = receiver.ingest_event(&end).unwrap_err();
    assert_eq!(refused.http_status, 503);
    assert_eq!(refused.error.kind(), ErrorKind::Network);
    // Back with its data: the call goes on where it was; the resent event is taken.
    redis.restart();
    assert_eq!(call.poll().unwrap().state, CallState::Connected);
    assert_eq!(receiver.ingest_event(&end).unwrap().http_status, 200);
    let s = call.poll().unwrap();
    assert_eq!((s.state, s.duration_s), (CallState::Ended, 3));
}

/// An event over a call's limits, taken by a process that does not hold the call, asks
/// for the call's end in the store: the process that placed it sees the hang-up asked.
#[test]
fn an_event_over_the_limits_asks_the_end_for_every_process() {
    let sim = sim(50);
    get(&sim, "/_sim/poketalk/settings?event_period_ms=150");
    let (specs, _redis, dir) = stores("limits");
    for spec in &specs {
        let (receiver, portal_dsn) = receiver_and_portal(&sim, "test-store-lim", spec);
        let portal = Client::new(&portal_dsn).unwrap();
        let opts = CallOptions {
            max_duration_s: Some(30),
            ..Default::default()
        };
        let call = portal
            .start_call("0171 1234567", "030 1234999", &opts)
            .unwrap();
        let id = call.id().to_string();
        let live = poll_until(&call, |s| s.state >= CallState::Connected);
        assert_eq!(live.state, CallState::Connected, "{spec}");
        assert!(!live.hangup_requested, "{spec}");
        let over = event_query(&sim, &id, "7", 31, "0.010");
        let r = receiver.ingest_event(&over).unwrap();
        assert!(r.hang_up && r.http_status == 412, "{spec}");
        // The portal took no event: what it knows comes from the store.
        let s = call.poll().unwrap();
        assert!(s.hangup_requested, "{spec}: {s:?}");
        let s = Client::new(&portal_dsn)
            .unwrap()
            .attach(&call.reference())
            .unwrap()
            .poll()
            .unwrap();
        assert!(s.hangup_requested, "{spec}: {s:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a store: a live event for a call the library holds as ended (a forged final
/// came first) is answered with the end, without the host asking. The simulator's own
/// events go to a dead port, so the first live event after the final is the test's: the
/// answer is the end because of that event alone, not of one that came before it.
#[test]
fn a_live_event_after_a_final_is_answered_with_the_end() {
    let sim = sim(50);
    let dead = format!("event_url=http%3A%2F%2F127.0.0.1%3A{}%2Fev", dead_port());
    let c = Client::new(&poketalk(&sim, "test-store-alive", &dead)).unwrap();
    let call = c
        .start_call("0171 1234567", "030 1234999", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let connected = event_query(&sim, &id, "7", 1, "0.001");
    let r = c.ingest_event(&connected).unwrap();
    assert_eq!((r.http_status, r.hang_up), (200, false), "{r:?}");
    assert_eq!(call.poll().unwrap().state, CallState::Connected);
    let forged = event_query(&sim, &id, "8", 1, "0.001");
    assert_eq!(c.ingest_event(&forged).unwrap().http_status, 200);
    assert_eq!(call.poll().unwrap().state, CallState::Ended);
    let alive = event_query(&sim, &id, "7", 2, "0.002");
    let r = c.ingest_event(&alive).unwrap();
    assert!(r.hang_up, "{r:?}");
    assert_eq!(r.http_status, 412);
}

/// Events that reach another process (the receiver) before the start has returned in
/// the portal are kept: the portal writes the call's record before it sends the start,
/// so the receiver knows the call from its first event. That record carries the start
/// time, so the receiver judges those events' durations by it: a final claiming a call
/// of 500 000 s, a third of a second after it was placed, is not taken. Both stores.
#[test]
fn events_before_the_start_returns_are_kept_by_the_receiver() {
    // Every stage at once: the whole call is over before the start's reply (held 300 ms).
    let sim = sim(0);
    get(&sim, "/_sim/poketalk/settings?reply_delay_ms=300");
    let (specs, _redis, _dir) = stores("early");
    for spec in &specs {
        let (_receiver, portal_dsn) = receiver_and_portal(&sim, "test-store-early", spec);
        let portal = Client::new(&portal_dsn).unwrap();
        let place = |b: &str| {
            let call = portal
                .start_call("0171 1234567", b, &CallOptions::default())
                .unwrap();
            let log = sent(&sim, call.id());
            assert!(
                log.len() >= 2 && log.iter().all(|e| e.ends_with(":200")),
                "{spec}: {log:?}"
            );
            assert_eq!(log.last().map(String::as_str), Some("8:200"), "{spec}");
            call
        };
        let call = place("030 1234567");
        let s = call.poll().unwrap();
        assert_eq!(
            (s.state, s.reason, s.duration_s),
            (CallState::Ended, FailReason::None, 20),
            "{spec}"
        );
        // The talk 100 000 steps long (B ends in 999): its final claims 500 000 s.
        let call = place("030 1234999");
        let claimed = sim_call(&sim, call.id())["secs"].as_u64().unwrap();
        assert!(claimed > 100_000, "{spec}: {claimed}");
        let s = call.poll().unwrap();
        assert_eq!(s.state, CallState::Ended, "{spec}");
        assert!(s.duration_s < 3600, "{spec}: {}", s.duration_s);
    }
}
