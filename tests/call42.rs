//! 42call end to end against the simulator, through the Rust API.

use callconnect::{CallOptions, CallState, Client, ErrorKind, FailReason};
use callconnect_sim::{Config, SimResponse, Simulator};

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

fn client(sim: &Simulator, user: &str) -> Client {
    let password = if user.starts_with("test") {
        format!("secret-{user}")
    } else {
        format!("{user}-secret")
    };
    Client::new(&format!(
        "42call://{user}:{password}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000",
        sim.port()
    ))
    .unwrap()
}

fn placed(sim: &Simulator) -> u64 {
    sim.stats()["42call"]["calls_placed"].as_u64().unwrap()
}

#[test]
fn callback_start_and_hangup() {
    let sim = sim();
    let c = client(&sim, "test-cb");
    let call = c
        .start_call("0171 1234567", "+49 30 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(placed(&sim), 1);
    let id = call.id().to_string();
    assert_eq!(id.len(), 36);
    // No status call at 42call: the library says what it knows and no more.
    let s = call.poll().unwrap();
    assert_eq!(s.state, CallState::Initiating);
    assert!(!s.live);
    assert_eq!(c.known_balance().unwrap().display(), "18.40 EUR");
    let s = call.hangup().unwrap();
    assert_eq!(s.state, CallState::Ended);
    assert_eq!(s.reason, FailReason::Cancelled);
    assert_eq!(call.poll().unwrap().state, CallState::Ended);
    assert_eq!(placed(&sim), 1);
    // The carrier really stopped it: the simulator reads the call's `callerId`, the
    // only document's word for stopcallback.
    let stage: serde_json::Value = serde_json::from_str(
        &ureq::get(format!(
            "http://127.0.0.1:{}/_sim/42call/call?user=test-cb&id={id}",
            sim.port()
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(stage["stage"], "hung_up", "{stage}");
}

#[test]
fn options_it_cannot_honour_are_refused() {
    let sim = sim();
    let c = client(&sim, "test-opts");
    let opts = CallOptions {
        caller_id: Some("Shop <+4930123456>".into()),
        ..Default::default()
    };
    let e = c
        .start_call("0171 1234567", "030 1234567", &opts)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(placed(&sim), 0);
}

#[test]
fn invalid_numbers_never_reach_the_carrier() {
    let sim = sim();
    let c = client(&sim, "test-inv");
    for (a, b) in [
        ("12", "030 1234567"),
        ("0171 1234567", "+49 000"),
        ("", "030 1234567"),
    ] {
        let e = c.start_call(a, b, &CallOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidNumber, "{a} {b}");
    }
    assert_eq!(sim.stats()["42call"]["requests"].as_u64().unwrap(), 0);
}

#[test]
fn insufficient_funds() {
    let sim = sim();
    let c = client(&sim, "broke");
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InsufficientFunds);
    assert_eq!(e.carrier_code(), Some("402"));
}

#[test]
fn wrong_password_is_auth_and_not_in_the_message() {
    let sim = sim();
    let c = Client::new(&format!(
        "42call://demo:hunter2-wrong@127.0.0.1:{}?tls=0&default_country=49",
        sim.port()
    ))
    .unwrap();
    let e = c.send_sms("0171 1234567", "hello").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn sms_bulk_and_topup() {
    let sim = sim();
    let c = client(&sim, "test-sms");
    let id = c
        .send_sms("0171 1234567|+44 20 7946 0958", "Your booth is ready")
        .unwrap();
    assert!(!id.is_empty());
    assert_eq!(sim.stats()["42call"]["sms_sent"].as_u64().unwrap(), 2);
    assert_eq!(c.known_balance().unwrap().amount, "18.22");
    let balance = c.topup("9000001").unwrap().unwrap();
    assert_eq!(balance.display(), "28.22 EUR");
    // A PIN works once; the carrier's code and text reach the host.
    let e = c.topup("9000001").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider);
    assert_eq!(e.carrier_code(), Some("1200"));
    assert!(e
        .message()
        .contains("Personal Identification Number Not Valid"));
    let e = client(&sim, "nocard").topup("9000002").unwrap_err();
    assert_eq!(e.carrier_code(), Some("1201"));
    assert_eq!(
        c.topup("12 34").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn clock_skew_is_learnt_from_the_date_header() {
    let sim = sim();
    for skew in ["600", "-900"] {
        let resp = ureq::get(format!(
            "http://127.0.0.1:{}/_sim/42call/skew?seconds={skew}",
            sim.port()
        ))
        .call()
        .unwrap();
        assert_eq!(resp.status(), 200);
        let c = client(&sim, "test-skew");
        // The first request is refused for its date (1011/1012), the second is signed
        // with the carrier's clock: one call placed, not two.
        let before = placed(&sim);
        c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        assert_eq!(placed(&sim), before + 1);
        // Later requests use the learnt offset straight away.
        c.send_sms("0171 1234567", "x").unwrap();
    }
}

#[test]
fn reference_attaches_in_another_client() {
    let sim = sim();
    let c = client(&sim, "test-ref");
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
    assert!(!r.contains("secret"));
    let other = client(&sim, "test-ref");
    let again = other.attach(&r).unwrap();
    assert_eq!(again.id().to_string(), call.id().to_string());
    assert_eq!(
        again.correlation().map(String::from).as_deref(),
        Some("booth-7")
    );
    assert_eq!(again.hangup().unwrap().state, CallState::Ended);
    let stage: serde_json::Value = serde_json::from_str(
        &ureq::get(format!(
            "http://127.0.0.1:{}/_sim/42call/call?user=test-ref&id={}",
            sim.port(),
            call.id()
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(stage["stage"], "hung_up");
}

#[test]
fn closed_client_refuses_its_calls() {
    let sim = sim();
    let c = client(&sim, "test-close");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    c.close();
    assert_eq!(call.poll().unwrap_err().kind(), ErrorKind::InvalidHandle);
    assert_eq!(
        c.send_sms("0171 1234567", "x").unwrap_err().kind(),
        ErrorKind::InvalidHandle
    );
}

#[test]
fn unreachable_carrier_is_network_not_unknown() {
    // Nothing listens on this port: nothing can have been sent.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::new(&format!(
        "42call://demo:demo-secret@127.0.0.1:{port}?tls=0&default_country=49"
    ))
    .unwrap();
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
}

/// JSON that is not 42call's envelope (neither an error nor result codes) is not taken
/// for an answer: PROTOCOL on a read, OUTCOME_UNKNOWN on a start (the carrier may have
/// acted), the body in the message either way.
#[test]
fn json_without_the_envelope_is_not_an_answer() {
    let sim = sim();
    let c = client(&sim, "test-no-envelope");
    let body = || SimResponse::json(200, &serde_json::json!({"status": "fine"}));
    sim.arm_reply("?account", 1, body());
    let e = c.balance().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.message().contains("not its JSON envelope"), "{e}");
    assert!(e.message().contains("fine"), "{e}");
    sim.arm_reply("?webcallback", 1, body());
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert!(e.message().contains("not its JSON envelope"), "{e}");
    // An envelope that says error without a code is the carrier's refusal.
    sim.arm_reply(
        "?account",
        1,
        SimResponse::json(200, &serde_json::json!({"error": true})),
    );
    let e = c.balance().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider, "{e}");
    assert!(e.message().contains("error without a code"), "{e}");
    // A code other than 200 is a refusal even without the error flag.
    let coded = serde_json::json!({"codes": [{"code": 1001, "description": "nothing known"}]});
    sim.arm_reply("?account", 1, SimResponse::json(200, &coded));
    let e = c.balance().unwrap_err();
    assert_eq!(e.carrier_code(), Some("1001"), "{e}");
    // A web server's 401 or 403 page: the credentials, on a start too.
    for status in [401, 403] {
        let page = SimResponse::new(status, "text/html", "<html>Forbidden</html>");
        sim.arm_reply("?webcallback", 1, page);
        let e = c
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{status}: {e}");
        assert!(e.message().contains(&format!("HTTP {status}")), "{e}");
    }
}

/// What 42call can do, exactly: a callback it can hang up, SMS, top-up and the account
/// services; no live status (its call status is only what was asked), no events.
#[test]
fn the_capabilities_of_42call() {
    use callconnect::Capabilities as C;
    let sim = sim();
    let c = client(&sim, "test-caps");
    let want = [C::CALLBACK, C::HANGUP, C::SMS, C::TOPUP, C::ACCOUNT];
    let bits: u32 = want.iter().map(|c| c.bits()).sum();
    assert_eq!(c.capabilities().bits(), bits);
}
