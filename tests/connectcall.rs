//! business-isp Connect Call end to end against the simulator, through the Rust API.

use std::time::{Duration, Instant};

use callconnect::{Call, CallOptions, CallState, CallStatus, Client, ErrorKind, FailReason, Leg};
use callconnect_sim::connectcall::LEAK_PASSWORD;
use callconnect_sim::{Config, SimResponse, Simulator};
use serde_json::Value;

/// Long enough for a loaded machine to see every stage when polling every few ms.
const STEP_MS: u64 = 200;

fn sim_with(step_ms: u64) -> Simulator {
    Simulator::start(Config {
        step_ms,
        ..Default::default()
    })
    .unwrap()
}

fn sim() -> Simulator {
    sim_with(STEP_MS)
}

fn dsn(sim: &Simulator, login: &str, extra: &str) -> String {
    format!(
        "connectcall://{login}:secret-{login}@127.0.0.1:{}/api/?tls=0&default_country=49&timeout_ms=3000{extra}",
        sim.port()
    )
}

fn client(sim: &Simulator, login: &str) -> Client {
    Client::new(&dsn(sim, login, "")).unwrap()
}

fn get(sim: &Simulator, path: &str) -> String {
    ureq::get(format!("http://127.0.0.1:{}{path}", sim.port()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn control(sim: &Simulator, action: &str) -> Value {
    serde_json::from_str(&get(sim, &format!("/_sim/connectcall/{action}"))).unwrap_or_default()
}

fn account(sim: &Simulator, login: &str) -> Value {
    control(sim, &format!("account?login={login}"))
}

fn stat(sim: &Simulator, name: &str) -> u64 {
    sim.stats()["connectcall"][name].as_u64().unwrap()
}

fn count(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// Polls until `stop` says so (or the call is final), recording every change of state
/// with the carrier's code that came with it.
fn watch_until(
    call: &Call,
    stop: impl Fn(&CallStatus) -> bool,
) -> (Vec<(CallState, String)>, CallStatus) {
    let t0 = Instant::now();
    let mut seen: Vec<(CallState, String)> = Vec::new();
    loop {
        let s = call.poll().unwrap();
        if seen.last().map(|(st, _)| *st) != Some(s.state) {
            seen.push((s.state, s.raw_code.clone().unwrap_or_default()));
        }
        if s.state.is_final() || stop(&s) {
            return (seen, s);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no end in sight: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Holds `login`'s next calls at their start (the simulator's clock no longer moves them).
fn hold_next_calls(sim: &Simulator, login: &str) {
    control(sim, &format!("pace?login={login}&step_ms=3600000"));
}

/// Has the simulator report each of `codes` in turn for `login`'s call and polls once for
/// each: every state is seen for certain, whatever the load (no poll has to land inside a
/// stage). Returns the state and carrier code of each poll.
fn feed(sim: &Simulator, login: &str, call: &Call, codes: &[u32]) -> Vec<(CallState, String)> {
    codes
        .iter()
        .map(|code| {
            control(sim, &format!("force?login={login}&code={code}"));
            let s = call.poll().unwrap();
            (s.state, s.raw_code.unwrap_or_default())
        })
        .collect()
}

/// The states seen while the simulator's clock ran: each one later in the call than the one
/// before (which of them a poll lands in depends on the load, so none is required).
fn assert_in_order(seen: &[(CallState, String)], order: &[CallState]) {
    let mut at = 0;
    for (s, _) in seen {
        match order[at..].iter().position(|o| o == s) {
            Some(i) => at += i,
            None => panic!("{s:?} out of order in {seen:?}"),
        }
    }
}

fn watch(call: &Call) -> (Vec<(CallState, String)>, CallStatus) {
    watch_until(call, |_| false)
}

fn states(seen: &[(CallState, String)]) -> Vec<CallState> {
    seen.iter().map(|(s, _)| *s).collect()
}

fn codes(seen: &[(CallState, String)]) -> Vec<&str> {
    seen.iter().map(|(_, c)| c.as_str()).collect()
}

use CallState::*;

#[test]
fn full_call_watching_every_state() {
    let sim = sim();
    let c = client(&sim, "test-full");
    assert_eq!(c.carrier(), "connectcall");
    hold_next_calls(&sim, "test-full");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(call.poll().unwrap().state, Initiating);
    let seen = feed(&sim, "test-full", &call, &[27, 28, 26, 29, 30]);
    assert_eq!(
        states(&seen),
        [RingingA, AAnswered, RingingB, Connected, Ended]
    );
    assert_eq!(codes(&seen), ["27", "28", "26", "29", "30"]);
    let last = call.poll().unwrap();
    assert!(last.live);
    assert_eq!(last.reason, FailReason::None);
    let a = account(&sim, "test-full");
    assert_eq!((count(&a, "logins"), count(&a, "calls_placed")), (1, 1));
    // A final call is not asked about again.
    let asked = count(&a, "status_requests");
    assert_eq!(call.poll().unwrap().state, Ended);
    assert_eq!(count(&account(&sim, "test-full"), "status_requests"), asked);
    let session = control(&sim, "session?login=test-full");
    assert_eq!(session["type"], 1);
}

#[test]
fn hangup_while_connected() {
    // 400 ms a stage: the bridge lasts 1.6 s unless hung up.
    let sim = sim_with(400);
    let c = client(&sim, "test-hang");
    hold_next_calls(&sim, "test-hang");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(feed(&sim, "test-hang", &call, &[29])[0].0, Connected);
    let s = call.poll().unwrap();
    assert_eq!(s.state, Connected);
    assert_eq!(s.duration_s, 0);
    std::thread::sleep(Duration::from_millis(1100));
    // A later poll of the same bridge counts from when it was first seen connected.
    assert_eq!(call.poll().unwrap().duration_s, 1);
    let s = call.hangup().unwrap();
    assert_eq!((s.state, s.reason), (Ended, FailReason::Cancelled));
    assert!(!s.hangup_pending, "an ended call has no hang-up pending");
    assert_eq!(s.raw_code.as_deref(), Some("4"));
    // The carrier reports no duration: the library measured the bridge it saw.
    assert_eq!(s.duration_s, 1);
    assert_eq!(count(&account(&sim, "test-hang"), "hangups"), 1);
    assert_eq!(control(&sim, "session?login=test-hang")["code"], 4);
    // Hanging up an ended call sends nothing.
    call.hangup().unwrap();
    assert_eq!(count(&account(&sim, "test-hang"), "hangups"), 1);
}

#[test]
fn two_calls_in_one_session() {
    let sim = sim();
    let c = client(&sim, "test-two");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (_, s) = watch(&first);
    assert_eq!(s.raw_code.as_deref(), Some("30"));
    // The second call rings both legs at once (per-call type) on the same session. Until
    // its first event the simulator still reports the first call's 30, which must not end
    // the new call.
    hold_next_calls(&sim, "test-two");
    let second = c
        .start_call(
            "0171 7654321",
            "+49 30 7654321",
            &CallOptions {
                connect_type: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    assert_ne!(first.id().to_string(), second.id().to_string());
    assert_eq!(second.poll().unwrap().state, Initiating);
    let seen = feed(&sim, "test-two", &second, &[27, 26, 29, 30]);
    assert_eq!(
        states(&seen),
        [RingingA, RingingB, Connected, Ended],
        "{seen:?}"
    );
    let a = account(&sim, "test-two");
    assert_eq!(count(&a, "logins"), 1, "{a}");
    assert_eq!(count(&a, "connects"), 1, "{a}");
    assert_eq!(count(&a, "calls_placed"), 2, "{a}");
    assert_eq!(control(&sim, "session?login=test-two")["type"], 2);
    // The first call's handle keeps its own end and never asks about the second call.
    assert_eq!(first.poll().unwrap().raw_code.as_deref(), Some("30"));
    // A third call, after a hang-up this time.
    let third = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let seen = feed(&sim, "test-two", &third, &[27, 28, 26]);
    assert_eq!(states(&seen), [RingingA, AAnswered, RingingB]);
    assert_eq!(third.hangup().unwrap().state, Ended);
    // The last one on the simulator's own clock, to its natural end.
    control(&sim, "pace?login=test-two");
    let fourth = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (seen, last) = watch(&fourth);
    assert_in_order(
        &seen,
        &[Initiating, RingingA, AAnswered, RingingB, Connected, Ended],
    );
    assert_eq!((last.state, last.raw_code.as_deref()), (Ended, Some("30")));
    let a = account(&sim, "test-two");
    assert_eq!((count(&a, "logins"), count(&a, "calls_placed")), (1, 4));
    c.close();
    let a = account(&sim, "test-two");
    assert_eq!((count(&a, "ends"), count(&a, "sessions")), (1, 0));
}

#[test]
fn a_second_start_while_the_call_is_up_is_busy() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-busy");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let e = c
        .start_call("0171 7654321", "030 7654321", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert_eq!(e.carrier_code(), Some("3"));
    let a = account(&sim, "test-busy");
    assert_eq!(
        (count(&a, "calls_placed"), count(&a, "connects_refused")),
        (1, 0)
    );
    // Once the host hangs the first call up, the session takes the next one.
    first.hangup().unwrap();
    let second = c
        .start_call("0171 7654321", "030 7654321", &CallOptions::default())
        .unwrap();
    let a = account(&sim, "test-busy");
    assert_eq!((count(&a, "logins"), count(&a, "connects")), (1, 1));
    // The first call's handle may still be hung up: it must not end the second call.
    first.hangup().unwrap();
    assert_eq!(count(&account(&sim, "test-busy"), "hangups"), 1);
    assert_eq!(control(&sim, "session?login=test-busy")["up"], true);
    assert_eq!(second.poll().unwrap().state, Initiating);
}

#[test]
fn concurrent_starts_place_one_call() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-race");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                s.spawn(move || {
                    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
                        .map(|_| ())
                        .map_err(|e| e.kind())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter_map(|r| r.err())
        .all(|k| k == ErrorKind::Busy));
    assert_eq!(count(&account(&sim, "test-race"), "calls_placed"), 1);
}

#[test]
fn expired_session_is_replaced_by_one_fresh_login() {
    let sim = sim();
    let c = client(&sim, "test-exp");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    watch(&first);
    assert_eq!(control(&sim, "expire?login=test-exp")["expired"], 1);
    let unknown = stat(&sim, "unknown_guid");
    let second = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    // The connect was refused with 102 (not acted on), then ONE login placed the call.
    assert_eq!(stat(&sim, "unknown_guid"), unknown + 1);
    let a = account(&sim, "test-exp");
    assert_eq!(count(&a, "logins"), 2, "{a}");
    assert_eq!(count(&a, "calls_placed"), 2, "{a}");
    assert_eq!(count(&a, "connects"), 0, "{a}");
    let (seen, _) = watch(&second);
    assert_eq!(states(&seen).last(), Some(&Ended));

    // A session that expires under a live call: the call can never be followed again.
    let third = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    control(&sim, "expire?login=test-exp");
    let s = third.poll().unwrap();
    assert_eq!((s.state, s.reason), (Failed, FailReason::Unknown));
    assert_eq!(s.raw_code.as_deref(), Some("102"));
    // The client knows its session is gone: the next start logs in without a connect.
    let unknown = stat(&sim, "unknown_guid");
    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(stat(&sim, "unknown_guid"), unknown);
    let a = account(&sim, "test-exp");
    assert_eq!((count(&a, "logins"), count(&a, "calls_placed")), (3, 4));
}

#[test]
fn magic_numbers() {
    let sim = sim();
    let c = client(&sim, "test-magic");
    use FailReason as R;
    // One session for all: every call after the first is placed with `connect`.
    for (a, b, reason, leg, raw) in [
        // A's failures read leg NONE: a poll may miss A's answer, so only B is ever sure.
        ("0171 1234486", "030 1234567", R::Busy, Leg::None, "10"),
        ("0171 1234567", "030 1234486", R::Busy, Leg::B, "10"),
        ("0171 1234408", "030 1234567", R::NoAnswer, Leg::None, "11"),
        ("0171 1234567", "030 1234603", R::Rejected, Leg::B, "12"),
        (
            "0171 1234404",
            "030 1234567",
            R::InvalidNumber,
            Leg::A,
            "24",
        ),
        (
            "0171 1234567",
            "030 1234404",
            R::InvalidNumber,
            Leg::B,
            "25",
        ),
        (
            "0171 1234402",
            "030 1234567",
            R::InsufficientFunds,
            Leg::A,
            "32",
        ),
        (
            "0171 1234567",
            "030 1234402",
            R::InsufficientFunds,
            Leg::B,
            "33",
        ),
    ] {
        let call = c.start_call(a, b, &CallOptions::default()).unwrap();
        let (seen, s) = watch(&call);
        assert_eq!(
            (s.state, s.reason, s.failed_leg, s.raw_code.as_deref()),
            (Failed, reason, leg, Some(raw)),
            "{a} -> {b}: {seen:?}"
        );
    }
    let a = account(&sim, "test-magic");
    assert_eq!((count(&a, "logins"), count(&a, "calls_placed")), (1, 8));

    let broke = Client::new(&format!(
        "connectcall://broke:broke-secret@127.0.0.1:{}/api/?tls=0&default_country=49",
        sim.port()
    ))
    .unwrap();
    let call = broke
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (_, s) = watch(&call);
    assert_eq!(
        (s.state, s.reason, s.raw_code.as_deref()),
        (Failed, R::InsufficientFunds, Some("16"))
    );
}

/// Every status code the carrier may send, forced in the simulator, read through a poll.
#[test]
fn every_status_code_through_the_simulator() {
    let sim = sim_with(600_000);
    for code in 3..=33u32 {
        let login = format!("test-code-{code}");
        let c = client(&sim, &login);
        let call = c
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        control(&sim, &format!("force?login={login}&code={code}"));
        let s = call.poll().unwrap();
        let want = match code {
            27 => (RingingA, FailReason::None),
            28 => (AAnswered, FailReason::None),
            26 => (RingingB, FailReason::None),
            9 | 29 => (Connected, FailReason::None),
            4 | 30 | 31 => (Ended, FailReason::None),
            7 => (Ended, FailReason::InsufficientFunds),
            10 => (Failed, FailReason::Busy),
            11 => (Failed, FailReason::NoAnswer),
            12 => (Failed, FailReason::Rejected),
            16 | 32 | 33 => (Failed, FailReason::InsufficientFunds),
            24 | 25 => (Failed, FailReason::InvalidNumber),
            _ => (Initiating, FailReason::None),
        };
        assert_eq!((s.state, s.reason), want, "code {code}");
        assert_eq!(s.raw_code, Some(code.to_string()), "code {code}");
        if !s.state.is_final() {
            assert_eq!(call.hangup().unwrap().state, Ended);
        }
    }
}

/// Every message and status string of a run full of failures, searched for the password.
#[test]
fn the_password_never_leaks() {
    let sim = sim();
    let encoded: String = url::form_urlencoded::byte_serialize(LEAK_PASSWORD.as_bytes()).collect();
    let in_dsn =
        percent_encoding::utf8_percent_encode(LEAK_PASSWORD, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let dsn = |password: &str, extra: &str| {
        format!(
            "connectcall://leak:{password}@127.0.0.1:{}/api/?tls=0&default_country=49&timeout_ms=1500{extra}",
            sim.port()
        )
    };
    let mut texts: Vec<String> = Vec::new();
    fn keep(texts: &mut Vec<String>, e: callconnect::Error) -> ErrorKind {
        texts.push(e.to_string());
        texts.push(e.message().to_string());
        e.kind()
    }
    let fault = |mode: &str| control_text(&sim, &format!("fault?login=leak&mode={mode}&count=1"));
    let opts = CallOptions::default();

    // A wrong password: the simulator echoes it back in its 102 message.
    let wrong = format!("{in_dsn}x");
    let bad = Client::new(&dsn(&wrong, "")).unwrap();
    let e = bad
        .start_call("0171 1234567", "030 1234567", &opts)
        .unwrap_err();
    assert_eq!(e.carrier_code(), Some("102"));
    assert!(e.message().contains("***"), "{e}");
    assert_eq!(keep(&mut texts, e), ErrorKind::Auth);

    let c = Client::new(&dsn(&in_dsn, "")).unwrap();
    for (mode, kind) in [
        ("garbage", ErrorKind::OutcomeUnknown),
        ("nocode", ErrorKind::OutcomeUnknown),
        ("http500", ErrorKind::OutcomeUnknown),
        ("slow", ErrorKind::OutcomeUnknown),
    ] {
        fault(mode);
        let e = c
            .start_call("0171 1234567", "030 1234567", &opts)
            .unwrap_err();
        assert_eq!(keep(&mut texts, e), kind, "{mode}");
    }
    // Each of those logins placed its call (the fault came after): never repeated.
    assert_eq!(count(&account(&sim, "leak"), "calls_placed"), 4);

    // A good login with the odd password works; then faults on the session's commands
    // (the call held at its start, so that it is still up for the hang-up below).
    hold_next_calls(&sim, "leak");
    let call = c.start_call("0171 1234567", "030 1234567", &opts).unwrap();
    fault("nocode");
    let e = call.poll().unwrap_err();
    assert_eq!(keep(&mut texts, e), ErrorKind::Protocol);
    let seen = feed(&sim, "leak", &call, &[27]);
    assert_eq!(seen[0].0, RingingA);
    for (_, raw) in &seen {
        texts.push(raw.clone());
    }
    fault("garbage");
    let e = call.hangup().unwrap_err();
    assert_eq!(keep(&mut texts, e), ErrorKind::Protocol);
    texts.push(call.reference());
    texts.push(call.id().to_string());
    let s = call.hangup().unwrap();
    texts.push(s.raw_code.unwrap_or_default());

    // Nobody listening: nothing was sent.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = Client::new(&format!(
        "connectcall://leak:{in_dsn}@127.0.0.1:{port}/api/?tls=0&default_country=49"
    ))
    .unwrap();
    let e = gone
        .start_call("0171 1234567", "030 1234567", &opts)
        .unwrap_err();
    assert_eq!(keep(&mut texts, e), ErrorKind::Network);
    // A DSN with a bad option names the option, not the password.
    let e = Client::new(&dsn(&in_dsn, "&type=9")).unwrap_err();
    keep(&mut texts, e);

    assert!(texts.len() > 15);
    for t in &texts {
        for form in [
            LEAK_PASSWORD,
            encoded.as_str(),
            in_dsn.as_str(),
            "Pä$$",
            "w&rd",
        ] {
            assert!(!t.contains(form), "{form:?} leaked in {t:?}");
        }
    }
}

fn control_text(sim: &Simulator, action: &str) -> String {
    get(sim, &format!("/_sim/connectcall/{action}"))
}

#[test]
fn a_reference_follows_and_hangs_up_in_another_client() {
    let sim = sim();
    let c = client(&sim, "test-ref");
    hold_next_calls(&sim, "test-ref");
    let call = c
        .start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                correlation: Some("booth-7".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let r = call.reference();
    let json = decode_ref(&r);
    // The GUID is a key to the session: neither the reference (its carrier data is
    // sealed) nor the call's id, which hosts log, shows it.
    let guid = control(&sim, "session?login=test-ref")["guid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!guid.is_empty());
    assert!(json.get("extra").is_none(), "{json}");
    assert!(json["sealed"].is_string(), "{json}");
    assert!(!json.to_string().contains(&guid), "{json}");
    assert!(!json.to_string().contains("secret"), "{json}");
    assert!(!r.contains(&guid));
    assert!(!call.id().to_string().contains(&guid));
    // Another process, in effect: its own client, no session of its own.
    let other = client(&sim, "test-ref");
    let again = other.attach(&r).unwrap();
    assert_eq!(
        again.correlation().map(String::from).as_deref(),
        Some("booth-7")
    );
    assert_eq!(feed(&sim, "test-ref", &again, &[29])[0].0, Connected);
    let s = again.hangup().unwrap();
    assert_eq!((s.state, s.reason), (Ended, FailReason::Cancelled));
    assert_eq!(count(&account(&sim, "test-ref"), "hangups"), 1);
    assert_eq!(call.poll().unwrap().raw_code.as_deref(), Some("4"));
    // The attaching client never ends a session it does not own.
    other.close();
    assert_eq!(count(&account(&sim, "test-ref"), "ends"), 0);
    // The owner does, once its call is over; a reference attached later learns that the
    // session is gone: FAILED/UNKNOWN with the carrier's 102.
    c.close();
    assert_eq!(count(&account(&sim, "test-ref"), "ends"), 1);
    let third = client(&sim, "test-ref");
    let late = third.attach(&r).unwrap();
    let s = late.poll().unwrap();
    assert_eq!((s.state, s.reason), (Failed, FailReason::Unknown));
    assert_eq!(s.raw_code.as_deref(), Some("102"));
}

fn decode_ref(r: &str) -> Value {
    use base64::Engine;
    let body = r.strip_prefix("cc2.").unwrap().split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn freeing_the_client_leaves_a_live_call_alone() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-free");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let r = call.reference();
    c.close();
    let a = account(&sim, "test-free");
    assert_eq!((count(&a, "ends"), count(&a, "sessions")), (0, 1), "{a}");
    // Its reference still works (a PHP portal's next request).
    let next = client(&sim, "test-free");
    let again = next.attach(&r).unwrap();
    assert_eq!(again.poll().unwrap().raw_code.as_deref(), Some("3"));
    assert_eq!(again.hangup().unwrap().state, Ended);
}

#[test]
fn a_fault_on_a_placing_request_is_never_repeated() {
    let sim = sim();
    let c = client(&sim, "test-once");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    watch(&first);
    // The connect is served (a call placed), its reply spoilt.
    control_text(&sim, "fault?login=test-once&mode=garbage&count=1");
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    let a = account(&sim, "test-once");
    assert_eq!(count(&a, "connects"), 1, "{a}");
    assert_eq!(
        count(&a, "logins"),
        1,
        "no fresh login after a doubtful connect: {a}"
    );
    assert_eq!(count(&a, "calls_placed"), 2, "{a}");
}

#[test]
fn wrong_login_places_nothing() {
    let sim = sim();
    let c = Client::new(&format!(
        "connectcall://demo:nope@127.0.0.1:{}/api/?tls=0&default_country=49",
        sim.port()
    ))
    .unwrap();
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.carrier_code(), Some("102"));
    assert!(!e.message().contains("nope"), "{e}");
    assert_eq!(stat(&sim, "calls_placed"), 0);
    // Numbers are checked before anything is sent.
    let e = c
        .start_call("12", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidNumber);
    assert_eq!(stat(&sim, "requests"), 1);
}

#[test]
fn options_path_and_type() {
    let sim = sim_with(60_000);
    // A custom API path, and type 2 from the DSN.
    let c = Client::new(&format!(
        "connectcall://test-path:secret-test-path@127.0.0.1:{}/white/label/?tls=0&default_country=49&type=2",
        sim.port()
    ))
    .unwrap();
    assert_eq!(
        c.capabilities(),
        callconnect::Capabilities::CALLBACK
            | callconnect::Capabilities::LIVE_STATUS
            | callconnect::Capabilities::HANGUP
            | callconnect::Capabilities::CONNECT_TYPE
    );
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(control(&sim, "session?login=test-path")["type"], 2);
    call.hangup().unwrap();
    // Options it cannot honour are refused before anything is sent.
    let before = stat(&sim, "requests");
    let e = c
        .start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                max_duration_s: Some(60),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = c
        .start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                connect_type: Some(3),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(stat(&sim, "requests"), before);
    let e = Client::new(&dsn(&sim, "test-x", "&type=3")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_call_whose_end_is_known_is_not_asked_again() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-known");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    // A second handle of the same call, in the same client, hangs it up.
    let twin = c.attach(&first.reference()).unwrap();
    let s = twin.hangup().unwrap();
    assert_eq!((s.state, s.raw_code.as_deref()), (Ended, Some("4")));
    let asked = count(&account(&sim, "test-known"), "status_requests");
    let s = first.poll().unwrap();
    assert_eq!(
        (s.state, s.reason, s.raw_code.as_deref()),
        (Ended, FailReason::Cancelled, Some("4"))
    );
    assert_eq!(
        count(&account(&sim, "test-known"), "status_requests"),
        asked
    );
    // The session is replaced: the first handle still reads its own end, and a late
    // hang-up through it sends nothing.
    control(&sim, "expire?login=test-known");
    let _second = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let twin2 = c.attach(&first.reference()).unwrap();
    assert_eq!(twin2.hangup().unwrap().raw_code.as_deref(), Some("4"));
    let a = account(&sim, "test-known");
    assert_eq!((count(&a, "hangups"), count(&a, "logins")), (1, 2), "{a}");
}

/// A web server's page in place of Connect Call's XML on a start, by its HTTP status:
/// 401 or 403 is AUTH and 404 INVALID_ARGUMENT (the DSN's path), nothing acted on; any
/// other 4xx is OUTCOME_UNKNOWN (the carrier may have acted). The message names the status.
#[test]
fn http_401_403_and_404_pages_are_refusals() {
    let sim = sim();
    let c = client(&sim, "test-http-auth");
    for (status, kind, said) in [
        (401, ErrorKind::Auth, "HTTP 401"),
        (403, ErrorKind::Auth, "HTTP 403"),
        (404, ErrorKind::InvalidArgument, "HTTP 404"),
        (400, ErrorKind::OutcomeUnknown, "answered HTTP 400"),
    ] {
        let page = SimResponse::new(status, "text/html", "<html>refused</html>");
        sim.arm_reply("login=test-http-auth", 1, page);
        let e = c
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{status}: {e}");
        assert!(e.message().contains(said), "{status}: {e}");
    }
}

/// A reply in Connect Call's XML, for a request the test answers itself.
fn reply(code: u32, message: &str) -> SimResponse {
    callconnect_sim::connectcall::xml(code, message)
}

fn place(c: &Client) -> callconnect::Result<Call> {
    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
}

/// A hang-up answered 102 (the carrier forgot the session): the call is FAILED/UNKNOWN
/// with code 102, and the client forgets the session: its next start logs in afresh
/// without asking about the forgotten GUID again.
#[test]
fn a_hangup_on_a_forgotten_session() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-gone");
    let call = place(&c).unwrap();
    control(&sim, "expire?login=test-gone");
    let s = call.hangup().unwrap();
    assert_eq!(
        (s.state, s.reason, s.failed_leg, s.raw_code.as_deref()),
        (Failed, FailReason::Unknown, Leg::None, Some("102"))
    );
    assert!(!s.hangup_pending);
    assert_eq!(stat(&sim, "unknown_guid"), 1);
    let _next = place(&c).unwrap();
    let a = account(&sim, "test-gone");
    assert_eq!((count(&a, "logins"), count(&a, "connects")), (2, 0), "{a}");
    assert_eq!(
        stat(&sim, "unknown_guid"),
        1,
        "the forgotten GUID was asked again"
    );
}

/// A login or `connect` the carrier refuses with 101, 104 or 105 placed nothing: the error
/// names the code (PROVIDER or INVALID_ARGUMENT), never OUTCOME_UNKNOWN.
#[test]
fn refused_logins_and_connects_placed_nothing() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-refused");
    let refusals = [
        (101, "Failed", ErrorKind::Provider),
        (104, "WrongParameters", ErrorKind::InvalidArgument),
        (105, "NoChanges", ErrorKind::Provider),
    ];
    for (code, name, kind) in refusals {
        sim.arm_reply("login=test-refused", 1, reply(code, name));
        let e = place(&c).unwrap_err();
        let want = code.to_string();
        assert_eq!(
            (e.kind(), e.carrier_code()),
            (kind, Some(want.as_str())),
            "login: {e}"
        );
        assert!(e.message().contains(name), "{e}");
    }
    // A session whose call is over: the next start is a `connect`.
    let first = place(&c).unwrap();
    first.hangup().unwrap();
    for (code, name, kind) in refusals {
        sim.arm_reply("cmd=connect", 1, reply(code, name));
        let e = place(&c).unwrap_err();
        let want = code.to_string();
        assert_eq!(
            (e.kind(), e.carrier_code()),
            (kind, Some(want.as_str())),
            "connect: {e}"
        );
    }
    let a = account(&sim, "test-refused");
    assert_eq!(
        (count(&a, "calls_placed"), count(&a, "logins")),
        (1, 1),
        "{a}"
    );
}

/// A `connect` answered 102 (the session expired while idle) placed nothing, and the
/// session is forgotten at once: when the fresh login that follows is refused too, the
/// next start does not try the dead session again.
#[test]
fn a_forgotten_session_is_not_tried_twice() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-forgot");
    place(&c).unwrap().hangup().unwrap();
    control(&sim, "expire?login=test-forgot");
    sim.arm_reply("login=test-forgot", 1, reply(101, "Failed"));
    let e = place(&c).unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::Provider, Some("101")),
        "{e}"
    );
    assert_eq!(
        stat(&sim, "unknown_guid"),
        1,
        "the connect on the expired session"
    );
    let _third = place(&c).unwrap();
    assert_eq!(
        stat(&sim, "unknown_guid"),
        1,
        "the dead session was tried again"
    );
    let a = account(&sim, "test-forgot");
    assert_eq!(
        (count(&a, "logins"), count(&a, "calls_placed")),
        (2, 2),
        "{a}"
    );
}

/// What a hang-up returns, by what the carrier answers to it and to the status request
/// that follows it.
#[test]
fn what_a_hangup_returns() {
    let sim = sim_with(60_000);
    // 105 (NoChanges) while the carrier still reports the bridge: nothing was hung up.
    let c = client(&sim, "test-hang-105");
    let call = place(&c).unwrap();
    control(&sim, "force?login=test-hang-105&code=29");
    sim.arm_reply("cmd=hangUp", 1, reply(105, "NoChanges"));
    let e = call.hangup().unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::Provider, Some("105")),
        "{e}"
    );
    assert!(e.message().contains("the call goes on"), "{e}");
    assert_eq!(call.poll().unwrap().state, Connected);
    // OK, and the status asked at once still shows the bridge: the hang-up stands.
    sim.arm_reply("cmd=getStatus", 1, reply(29, "Connected"));
    let s = call.hangup().unwrap();
    assert_eq!((s.state, s.reason), (Ended, FailReason::Cancelled));
    assert_eq!(count(&account(&sim, "test-hang-105"), "hangups"), 1);

    // The call had failed before the hang-up (unseen here): 105, and its failure is what
    // the hang-up returns.
    let c = client(&sim, "test-hang-failed");
    let call = place(&c).unwrap();
    control(&sim, "force?login=test-hang-failed&code=11");
    let s = call.hangup().unwrap();
    assert_eq!(
        (s.state, s.reason, s.raw_code.as_deref()),
        (Failed, FailReason::NoAnswer, Some("11"))
    );
    assert_eq!(count(&account(&sim, "test-hang-failed"), "hangups"), 0);

    // Right after a `connect`, the status may still be the previous call's end (here:
    // busy): the new call hung up at once is ENDED/CANCELLED, not the old call's failure.
    let c = client(&sim, "test-hang-leftover");
    let first = place(&c).unwrap();
    control(&sim, "force?login=test-hang-leftover&code=10");
    assert_eq!(first.poll().unwrap().reason, FailReason::Busy);
    let second = place(&c).unwrap();
    sim.arm_reply("cmd=getStatus", 1, reply(10, "Busy"));
    let s = second.hangup().unwrap();
    assert_eq!((s.state, s.reason), (Ended, FailReason::Cancelled), "{s:?}");
    assert_ne!(s.raw_code.as_deref(), Some("10"), "{s:?}");
    let a = account(&sim, "test-hang-leftover");
    assert_eq!((count(&a, "connects"), count(&a, "hangups")), (1, 1), "{a}");
}

/// Closing the client ends the session (`end`) when its call is over, even an end this
/// process never saw (a live call's session is left: freeing_the_client_leaves_a_live_call_alone).
#[test]
fn closing_ends_a_session_whose_call_is_over() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-close");
    let _call = place(&c).unwrap();
    control(&sim, "force?login=test-close&code=30");
    c.close();
    let a = account(&sim, "test-close");
    assert_eq!((count(&a, "ends"), count(&a, "sessions")), (1, 0), "{a}");
}

/// A status request answered with a code that is not a status (101 Failed, 104, 103) is
/// an error naming it, on a poll and on the start that asks about the session's call;
/// it is never read as where the call is.
#[test]
fn status_requests_answered_with_a_refusal() {
    let sim = sim_with(60_000);
    let c = client(&sim, "test-status-refused");
    let call = place(&c).unwrap();
    for (code, name, kind) in [
        (101, "Failed", ErrorKind::Provider),
        (104, "WrongParameters", ErrorKind::InvalidArgument),
        (103, "LoginSucess", ErrorKind::Protocol),
    ] {
        let want = code.to_string();
        sim.arm_reply("cmd=getStatus", 1, reply(code, name));
        let e = call.poll().unwrap_err();
        assert_eq!(
            (e.kind(), e.carrier_code()),
            (kind, Some(want.as_str())),
            "poll: {e}"
        );
        sim.arm_reply("cmd=getStatus", 1, reply(code, name));
        let e = place(&c).unwrap_err();
        assert_eq!(
            (e.kind(), e.carrier_code()),
            (kind, Some(want.as_str())),
            "start: {e}"
        );
    }
    assert_eq!(call.poll().unwrap().state, Initiating);
    assert_eq!(
        count(&account(&sim, "test-status-refused"), "calls_placed"),
        1
    );
}

/// The end of a call of another session (attached from its reference) is that call's
/// alone: this client's own session, whose call is still up, stays busy.
#[test]
fn another_sessions_end_is_not_this_sessions() {
    let sim = sim_with(60_000);
    let mine = client(&sim, "test-two-sessions");
    let _up = place(&mine).unwrap();
    let other = client(&sim, "test-two-sessions");
    let theirs = place(&other).unwrap();
    control(&sim, "force?login=test-two-sessions&code=30");
    let twin = mine.attach(&theirs.reference()).unwrap();
    assert_eq!(twin.poll().unwrap().state, Ended);
    let e = place(&mine).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    let a = account(&sim, "test-two-sessions");
    assert_eq!(
        (count(&a, "connects"), count(&a, "connects_refused")),
        (0, 0),
        "{a}"
    );
}
