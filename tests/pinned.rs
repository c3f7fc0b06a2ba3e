//! Behaviours that a broken version of the code once got past every other test: each test
//! here names the behaviour it holds in place. They run against the simulator like the
//! carrier suites.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callconnect::{CallOptions, CallState, Client, ErrorKind};
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

/// A PokeTALK client whose events go nowhere: the test feeds them by hand.
fn poketalk(sim: &Simulator, key: &str, extra: &str) -> Client {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Client::new(&format!(
        "poketalk://{key}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000\
         &event_secret={SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A{dead}%2Fev{extra}",
        sim.port()
    ))
    .unwrap()
}

/// The query of an event for a call, as PokeTALK would send it.
fn event_query(sim: &Simulator, id: &str, status: &str, duration: u32, debit: &str) -> String {
    let call = get(sim, &format!("/_sim/poketalk/call?custom={id}"));
    let url = call["eventurl"].as_str().unwrap().to_string();
    url.split_once('?')
        .unwrap()
        .1
        .replace("$webcallid", id)
        .replace("$status", status)
        .replace("$duration", &duration.to_string())
        .replace("$debit", debit)
}

fn placed(sim: &Simulator) -> u64 {
    let stats = sim.stats();
    stats["poketalk"]["calls_placed"].as_u64().unwrap()
}

/// PokeTALK status 5 is B ringing: the call reads RINGING_B, not another state.
#[test]
fn poketalk_status_5_is_ringing_b() {
    let sim = sim();
    let c = poketalk(&sim, "test-pin5", "");
    let call = c
        .start_call("0171 1234567", "030 7654321", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    for (status, want) in [
        ("1", CallState::RingingA),
        ("3", CallState::AAnswered),
        ("5", CallState::RingingB),
        ("7", CallState::Connected),
    ] {
        let r = c
            .ingest_event(&event_query(&sim, &id, status, 0, "0.000"))
            .unwrap();
        assert_eq!(r.http_status, 200);
        assert_eq!(call.status().unwrap().state, want, "after status {status}");
    }
}

/// An HTTP 401 or 403 from PokeTALK without a result code in its body is an
/// authentication failure, not an unknown outcome.
#[test]
fn poketalk_401_and_403_without_a_code_are_auth() {
    let sim = sim();
    let c = poketalk(&sim, "test-pin-auth", "");
    for status in [401, 403] {
        get(
            &sim,
            &format!(
                "/_sim/fault?kind=reply&status={status}&type=text/plain&body=Forbidden&path=/"
            ),
        );
        let e = c
            .start_call("0171 1234567", "030 7654321", &CallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "HTTP {status}: {e}");
    }
    assert_eq!(placed(&sim), 0);
}

/// `last_change` moves to the moment of each state change, and no further.
#[test]
fn last_change_is_the_time_of_the_last_state_change() {
    let sim = sim();
    let c = poketalk(&sim, "test-pin-last", "");
    let before_start = SystemTime::now();
    let call = c
        .start_call("0171 1234567", "030 7654321", &CallOptions::default())
        .unwrap();
    let started = call.status().unwrap().last_change;
    assert!(started >= before_start && started <= SystemTime::now());
    let id = call.id().to_string();
    std::thread::sleep(Duration::from_millis(30));
    let before_event = SystemTime::now();
    c.ingest_event(&event_query(&sim, &id, "7", 0, "0.000"))
        .unwrap();
    let after_event = SystemTime::now();
    let changed = call.status().unwrap().last_change;
    // Kept to the millisecond (the C API's `last_change_ms`): the change may carry the
    // millisecond `before_event` fell in.
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(
        ms(changed) >= ms(before_event) && changed <= after_event,
        "last_change {changed:?} is not the time of the change"
    );
    // A repeated event changes nothing, so the time stays.
    std::thread::sleep(Duration::from_millis(30));
    c.ingest_event(&event_query(&sim, &id, "7", 0, "0.000"))
        .unwrap();
    assert_eq!(call.status().unwrap().last_change, changed);
}

/// Every spelling of "TLS on" means TLS: toward the plain-HTTP simulator the request
/// cannot succeed, and nothing is placed. Every spelling of "off" reaches it in clear.
#[test]
fn tls_on_spellings_mean_tls() {
    let sim = sim();
    for on in ["1", "true", "yes", "on"] {
        let c = Client::new(&format!(
            "poketalk://test-tls@127.0.0.1:{}?tls={on}&default_country=49&timeout_ms=2000",
            sim.port()
        ))
        .unwrap();
        let e = c
            .start_call("0171 1234567", "030 7654321", &CallOptions::default())
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Network | ErrorKind::OutcomeUnknown),
            "tls={on}: {e}"
        );
    }
    assert_eq!(placed(&sim), 0, "a TLS hello is no PokeTALK request");
    for off in ["0", "false", "no", "off"] {
        let c = Client::new(&format!(
            "poketalk://test-tls@127.0.0.1:{}?tls={off}&default_country=49&timeout_ms=2000",
            sim.port()
        ))
        .unwrap();
        c.start_call("0171 1234567", "030 7654321", &CallOptions::default())
            .unwrap_or_else(|e| panic!("tls={off}: {e}"));
    }
    assert_eq!(placed(&sim), 4);
}

/// The event query cap is 4096 bytes: a genuine event padded to exactly 4096 is taken,
/// one byte more is refused (400) and changes nothing.
#[test]
fn event_query_cap_is_4096_bytes() {
    let sim = sim();
    let c = poketalk(&sim, "test-pin-cap", "");
    let call = c
        .start_call("0171 1234567", "030 7654321", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let q = event_query(&sim, &id, "7", 0, "0.000");
    let pad = |total: usize| {
        let room = total - q.len() - "&pad=".len();
        format!("{q}&pad={}", "x".repeat(room))
    };
    let over = pad(4097);
    assert_eq!(over.len(), 4097);
    let r = c.ingest_event(&over).unwrap_err();
    assert_eq!(r.http_status, 400, "{}", r.error);
    // Refused for its length, not for anything else in it.
    assert!(
        r.error.message().contains("longer than 4096 bytes"),
        "{}",
        r.error
    );
    assert_eq!(call.status().unwrap().state, CallState::Initiating);
    let exact = pad(4096);
    assert_eq!(exact.len(), 4096);
    assert_eq!(c.ingest_event(&exact).unwrap().http_status, 200);
    assert_eq!(call.status().unwrap().state, CallState::Connected);
}

extern "C" {
    fn cc_state_name(state: u32) -> *const std::os::raw::c_char;
    fn cc_reason_name(reason: u32) -> *const std::os::raw::c_char;
}

fn c_name(p: *const std::os::raw::c_char) -> String {
    // SAFETY: both functions return a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_str()
        .unwrap()
        .to_string()
}

/// The Rust names of states and reasons are the C names of the same values.
#[test]
fn rust_and_c_names_agree() {
    use callconnect::FailReason;
    let states = [
        CallState::Initiating,
        CallState::RingingA,
        CallState::AAnswered,
        CallState::RingingB,
        CallState::Connected,
        CallState::Ended,
        CallState::Failed,
    ];
    for s in states {
        // SAFETY: a plain call with an integer argument.
        assert_eq!(c_name(unsafe { cc_state_name(s as u32) }), s.name());
    }
    // SAFETY: as above.
    assert_eq!(c_name(unsafe { cc_state_name(states.len() as u32) }), "?");
    let reasons = [
        FailReason::None,
        FailReason::Busy,
        FailReason::NoAnswer,
        FailReason::Rejected,
        FailReason::InsufficientFunds,
        FailReason::InvalidNumber,
        FailReason::Cancelled,
        FailReason::ProviderError,
        FailReason::Unknown,
    ];
    for r in reasons {
        // SAFETY: as above.
        assert_eq!(c_name(unsafe { cc_reason_name(r as u32) }), r.name());
    }
    // SAFETY: as above.
    assert_eq!(c_name(unsafe { cc_reason_name(reasons.len() as u32) }), "?");
}
