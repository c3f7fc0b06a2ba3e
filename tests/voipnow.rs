//! VoipNow UAPI end to end against the simulator, through the Rust API: tokens (fetched
//! once, renewed, cached), ring groups followed to the end, every documented 400 code,
//! hang-up by id only, the nonce on the PhoneCall and the look before a start is repeated
//! (the simulator, like the sources, does not de-duplicate a repeated nonce), the ends
//! read from call records in their documented shape.

use std::time::{Duration, Instant};

use callconnect::{Call, CallOptions, CallState, CallStatus, Client, ErrorKind, FailReason};
use callconnect_sim::{faults, Config, SimResponse, Simulator};
use serde_json::Value;

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

fn dsn(sim: &Simulator, app: &str, extra: &str) -> String {
    format!(
        "voipnow://{app}:secret-{app}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000&extension=210{extra}",
        sim.port()
    )
}

fn client(sim: &Simulator, app: &str) -> Client {
    Client::new(&dsn(sim, app, "")).unwrap()
}

fn get(sim: &Simulator, path_and_query: &str) -> String {
    ureq::get(format!("http://127.0.0.1:{}{path_and_query}", sim.port()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn control(sim: &Simulator, action: &str) {
    assert_eq!(
        get(sim, &format!("/_sim/voipnow/{action}")),
        "ok",
        "{action}"
    );
}

fn counters(sim: &Simulator, app: &str) -> Value {
    serde_json::from_str(&get(sim, &format!("/_sim/voipnow/client?id={app}"))).unwrap()
}

fn count(sim: &Simulator, app: &str, what: &str) -> u64 {
    counters(sim, app)[what].as_u64().unwrap()
}

fn sim_call(sim: &Simulator, id: &str) -> Value {
    serde_json::from_str(&get(sim, &format!("/_sim/voipnow/call?id={id}"))).unwrap()
}

/// Holds the simulated call at `stage` and returns what one poll says then: each stage is
/// seen for certain, however slow the machine is.
fn held_at(sim: &Simulator, call: &Call, stage: &str) -> CallStatus {
    control(sim, &format!("hold?id={}&stage={stage}", call.id()));
    call.poll().unwrap()
}

fn release(sim: &Simulator, call: &Call) {
    control(sim, &format!("release?id={}", call.id()));
}

/// Polls until the call is final; returns every state seen and the final status.
fn follow(call: &Call) -> (Vec<CallState>, CallStatus) {
    let until = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let s = call.poll().unwrap();
        if seen.last() != Some(&s.state) {
            seen.push(s.state);
        }
        if s.state.is_final() {
            return (seen, s);
        }
        assert!(Instant::now() < until, "the call never ended: {seen:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A reference of this account naming `id`, signed as the library signs its own (the
/// account's secret is in the DSN): what the carrier's code does with odd ids.
fn reference(sim: &Simulator, app: &str, id: &str) -> String {
    callconnect::reference::sign_with_dsn(
        &dsn(sim, app, ""),
        id,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        600,
        serde_json::json!({"user": "@me", "ext": "210", "b": "+49301234567"}),
    )
    .unwrap()
}

#[test]
fn ring_group_followed_to_the_end_with_one_token() {
    let sim = sim();
    let c = client(&sim, "test-ring");
    let opts = CallOptions {
        caller_id: Some("Booth 7 <+4930123456>".into()),
        caller_id_b: Some("Callshop <+4930999999>".into()),
        wait_for_pickup_s: Some(30),
        max_duration_s: Some(600),
        allow_public_transfer: true,
        video: true,
        ..Default::default()
    };
    // The first source is busy (magic 486): the second one picks up. A_ANSWERED below
    // comes from `answered`, which the simulator sends as a date, as the documents do.
    let call = c
        .start_call("0171 1234486|0171 1234567", "030 1234567", &opts)
        .unwrap();
    let id = call.id().to_string();
    let asked = sim_call(&sim, &id);
    assert_eq!(
        asked["source"],
        serde_json::json!(["+491711234486", "+491711234567"])
    );
    assert_eq!(asked["destination"], "+49301234567");
    assert_eq!(asked["callerId"], "Booth 7 <+4930123456>");
    assert_eq!(asked["callerIdDestination"], "Callshop <+4930999999>");
    assert_eq!(asked["waitForPickup"], "30");
    assert_eq!(asked["callDuration"], "600");
    assert_eq!(asked["allowPublicTransfer"], "true");
    assert_eq!(asked["video"], "true");
    // The nonce on the PhoneCall, beside `extension`; none inside the view.
    assert_eq!(asked["nonce"].as_str().unwrap().len(), 32);
    assert_eq!(asked["viewNonce"], Value::Null);
    assert_eq!(asked["winner"], "+491711234567");
    // Each stage of the ring group, held there by the simulator, as the library reads it.
    for (stage, want) in [
        ("initiating", CallState::Initiating),
        ("ringing_a", CallState::RingingA),
        ("a_answered", CallState::AAnswered),
        ("ringing_b", CallState::RingingB),
        ("connected", CallState::Connected),
    ] {
        let s = held_at(&sim, &call, stage);
        assert_eq!((s.state, s.reason), (want, FailReason::None), "{stage}");
        assert!(s.live, "{stage}");
    }
    release(&sim, &call);
    let (seen, end) = follow(&call);
    assert_eq!(seen.last(), Some(&CallState::Ended), "{seen:?}");
    assert!(end.live);
    assert_eq!(end.reason, FailReason::None);
    assert_eq!(end.duration_s, 20);
    // No public record shows a cost: none is made up.
    assert_eq!(end.cost, None);
    assert_eq!(end.raw_code.as_deref(), Some("disposition:0"));
    // Dozens of requests, one token.
    let n = counters(&sim, "test-ring");
    assert!(n["requests"].as_u64().unwrap() >= 5, "{n}");
    assert_eq!(n["token_fetches"], 1);
    assert_eq!(n["calls_placed"], 1);
    assert_eq!(n["delete_all"], 0);
}

#[test]
fn nobody_in_the_ring_group_picks_up() {
    let sim = sim();
    let c = client(&sim, "test-ring-none");
    let call = c
        .start_call(
            "0171 1234486|0171 1234408",
            "030 1234567",
            &CallOptions::default(),
        )
        .unwrap();
    // Both sources ring (held there), then neither picks up.
    assert_eq!(held_at(&sim, &call, "ringing_a").state, CallState::RingingA);
    release(&sim, &call);
    let (seen, end) = follow(&call);
    assert_eq!(seen.last(), Some(&CallState::Failed), "{seen:?}");
    assert_eq!(
        (end.state, end.reason),
        (CallState::Failed, FailReason::Busy)
    );
    assert_eq!(end.raw_code.as_deref(), Some("disposition:1"));
}

#[test]
fn token_is_renewed_before_it_runs_out() {
    let sim = sim();
    control(&sim, "token-ttl?client=test-ttl&seconds=2");
    let c = client(&sim, "test-ttl");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    call.poll().unwrap();
    assert_eq!(count(&sim, "test-ttl", "token_fetches"), 1);
    // By now the first token has run out at the carrier: a library that had not
    // renewed it 0.2 s early would have sent it and heard 401.
    std::thread::sleep(Duration::from_millis(2050));
    call.poll().unwrap();
    // Renewed ahead of time: the carrier never had to refuse an expired token.
    assert_eq!(count(&sim, "test-ttl", "token_fetches"), 2);
    assert_eq!(count(&sim, "test-ttl", "auth_failures"), 0);
}

#[test]
fn a_refused_token_is_renewed_once() {
    let sim = sim();
    let c = client(&sim, "test-401");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    control(&sim, "revoke?client=test-401");
    call.poll().unwrap();
    assert_eq!(count(&sim, "test-401", "token_fetches"), 2);
    assert_eq!(count(&sim, "test-401", "auth_failures"), 1);
    // A start refused for its token is sent again with the new one: one call.
    control(&sim, "revoke?client=test-401");
    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(count(&sim, "test-401", "calls_placed"), 2);
    assert_eq!(count(&sim, "test-401", "token_fetches"), 3);
}

#[test]
fn wrong_client_secret_is_auth_and_never_shown() {
    let sim = sim();
    let c = Client::new(&format!(
        "voipnow://test-bad:hunter2-wrong@127.0.0.1:{}?tls=0&default_country=49&extension=210",
        sim.port()
    ))
    .unwrap();
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert_eq!(e.carrier_code(), Some("invalid_client"));
    assert!(!e.to_string().contains("hunter2"));
    assert_eq!(count(&sim, "test-bad", "calls_placed"), 0);
}

#[test]
fn every_documented_400_code_reaches_the_host() {
    let sim = sim();
    let c = client(&sim, "test-codes");
    for (code, kind) in [
        ("extension_invalid", ErrorKind::InvalidArgument),
        ("pc_duration_invalid", ErrorKind::InvalidArgument),
        ("pc_source_invalid", ErrorKind::InvalidNumber),
        ("pc_destination_invalid", ErrorKind::InvalidNumber),
        ("pc_timeout_invalid", ErrorKind::InvalidArgument),
        ("pc_callerid_invalid", ErrorKind::InvalidArgument),
        ("pc_transfer_invalid", ErrorKind::InvalidArgument),
        ("pc_nonce_invalid", ErrorKind::InvalidArgument),
    ] {
        control(
            &sim,
            &format!("fail-next-start?client=test-codes&code={code}"),
        );
        let e = c
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_err();
        assert_eq!((e.kind(), e.carrier_code()), (kind, Some(code)), "{e}");
        assert!(e.message().contains("is missing or invalid"), "{e}");
    }
    // The carrier's own checks: an unobtainable source or destination, a bad extension.
    let e = c
        .start_call(
            "0171 1234567|0171 1234404",
            "030 1234567",
            &CallOptions::default(),
        )
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::InvalidNumber, Some("pc_source_invalid"))
    );
    let e = c
        .start_call("0171 1234567", "030 1234404", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.carrier_code(), Some("pc_destination_invalid"));
    let bad_ext =
        Client::new(&dsn(&sim, "test-codes", "").replace("extension=210", "extension=404"))
            .unwrap();
    let e = bad_ext
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::InvalidArgument, Some("extension_invalid"))
    );
    assert_eq!(count(&sim, "test-codes", "calls_placed"), 0);
}

#[test]
fn caller_ids_and_numbers_are_checked_before_sending() {
    let sim = sim();
    let c = client(&sim, "test-precheck");
    for bad in ["+4930123456", "Shop <+49 30 123456>", "<+4930123456>"] {
        let opts = CallOptions {
            caller_id: Some(bad.into()),
            ..Default::default()
        };
        let e = c
            .start_call("0171 1234567", "030 1234567", &opts)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(e.message().contains("Name <+number>"), "{e}");
    }
    let e = c
        .start_call("0171 1234567|12", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidNumber);
    let e = c
        .start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                max_cost: Some("1.00".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // Nothing reached the carrier, not even a token request.
    assert_eq!(count(&sim, "test-precheck", "token_fetches"), 0);
    assert_eq!(count(&sim, "test-precheck", "requests"), 0);
}

#[test]
fn hangup_by_id_and_after_the_end() {
    let sim = sim();
    let c = client(&sim, "test-hangup");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let other = c
        .start_call("0171 7654321", "030 1234567", &CallOptions::default())
        .unwrap();
    let s = call.hangup().unwrap();
    assert_eq!(
        (s.state, s.reason),
        (CallState::Ended, FailReason::Cancelled)
    );
    assert_eq!(sim_call(&sim, call.id())["stage"], "hung_up");
    // Only that call: the other one on the same extension goes on to the end.
    let (_, end) = follow(&other);
    assert_eq!(
        (end.state, end.reason),
        (CallState::Ended, FailReason::None)
    );
    assert_eq!(count(&sim, "test-hangup", "hangups"), 1);
    // Hanging up a call that has already ended (204) settles it from its record.
    let again = c.attach(&other.reference()).unwrap();
    let s = again.hangup().unwrap();
    assert_eq!(s.state, CallState::Ended);
    assert_eq!(s.duration_s, 20);
    assert_eq!(count(&sim, "test-hangup", "hangups"), 1);
    assert_eq!(count(&sim, "test-hangup", "delete_all"), 0);
}

#[test]
fn a_delete_without_an_id_is_never_sent() {
    let sim = sim();
    let c = client(&sim, "test-noid");
    let live = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    // Ids that would turn `/uapi/phoneCalls/@me/210/{id}` into the extension's URL, or
    // leave its segment: refused at attach even in a reference the account signed.
    for id in [" ", ".", "..", "\t", "", "../210"] {
        let e = c.attach(&reference(&sim, "test-noid", id)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{id:?}");
        assert!(e.message().contains("call id"), "{id:?}: {e}");
    }
    // (The carrier's own check, behind it, has its unit test in the VoipNow module.)
    assert_eq!(count(&sim, "test-noid", "delete_all"), 0);
    assert_ne!(sim_call(&sim, live.id())["stage"], "hung_up");

    // The simulator's DELETE without id really drops every call (so the count above
    // would have caught it).
    let token: Value =
        serde_json::from_str(&get(&sim, "/_sim/voipnow/issue-token?client=test-noid")).unwrap();
    let resp = ureq::delete(format!(
        "http://127.0.0.1:{}/uapi/phoneCalls/@me/210",
        sim.port()
    ))
    .header(
        "authorization",
        format!("Bearer {}", token["access_token"].as_str().unwrap()),
    )
    .call()
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(count(&sim, "test-noid", "delete_all"), 1);
    assert_eq!(sim_call(&sim, live.id())["stage"], "hung_up");
}

#[test]
fn an_unknown_start_is_looked_for_before_anything_is_repeated() {
    let sim = sim();
    let c = client(&sim, "test-cut");
    // The carrier places the call, then the connection breaks before the reply. The
    // simulator does not de-duplicate: a blind repeat would place a second call.
    control(&sim, "cut-next-start?client=test-cut");
    let call = c
        .start_call(
            "0171 1234567|0171 7654321",
            "030 1234567",
            &CallOptions::default(),
        )
        .unwrap();
    let n = counters(&sim, "test-cut");
    assert_eq!(n["cut_starts"], 1, "{n}");
    assert_eq!(n["calls_placed"], 1, "{n}");
    assert_eq!(n["nonce_reuses"], 0, "{n}");
    assert_eq!(n["duplicate_starts"], 0, "{n}");
    // The host got the call the carrier placed (found by its nonce), and follows it.
    assert_eq!(
        sim_call(&sim, call.id())["nonce"].as_str().map(str::len),
        Some(32)
    );
    assert_eq!(
        held_at(&sim, &call, "connected").state,
        CallState::Connected
    );
    release(&sim, &call);
    let (_, end) = follow(&call);
    assert_eq!(end.state, CallState::Ended);
    assert_eq!(count(&sim, "test-cut", "calls_placed"), 1);
}

/// The next `n` starts of `c` never reach the carrier (the connection breaks before it
/// reads them). The token is fetched first, so that the faults hit the starts.
fn lose_next_starts(sim: &Simulator, c: &Client, n: u32) {
    c.start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap()
        .hangup()
        .unwrap();
    sim.arm_fault(
        faults::Kind::ResetBefore,
        "/simple",
        n,
        Duration::from_millis(0),
    );
}

#[test]
fn a_start_that_never_arrived_is_placed_again_once() {
    let sim = sim();
    let c = client(&sim, "test-lost");
    // The connection breaks before the carrier read the request: nothing placed. The
    // live calls show no call with the nonce, so the start is sent once more.
    lose_next_starts(&sim, &c, 1);
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(count(&sim, "test-lost", "calls_placed"), 2);
    assert_eq!(count(&sim, "test-lost", "nonce_reuses"), 0);
    assert_eq!(
        sim_call(&sim, call.id())["nonce"].as_str().map(str::len),
        Some(32)
    );
    // Every attempt lost: looked for each time, sent at most three times, then said.
    sim.arm_fault(
        faults::Kind::ResetBefore,
        "/simple",
        3,
        Duration::from_millis(0),
    );
    let t = Instant::now();
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert!(e.message().contains("after 3 attempt(s)"), "{e}");
    assert_eq!(count(&sim, "test-lost", "calls_placed"), 2);
    // Before each look the carrier is given a moment to list the call, doubled each
    // time: 100 ms, then 200 ms (a lower bound: a slow machine only adds to it).
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_start_unanswered_until_the_deadline_is_not_looked_for_nor_repeated() {
    let sim = sim();
    let c = Client::new(&dsn(&sim, "test-late", "").replace("timeout_ms=3000", "timeout_ms=600"))
        .unwrap();
    // The carrier places the call and answers after the client's deadline: no time is
    // left to look among the live calls, and the start is not sent again.
    sim.arm_fault(
        faults::Kind::SlowHeaders,
        "/simple",
        1,
        Duration::from_millis(1500),
    );
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert!(
        e.message().contains("after 1 attempt(s)")
            && e.message()
                .contains("no time was left to look for the call"),
        "{e}"
    );
    assert_eq!(count(&sim, "test-late", "calls_placed"), 1);
}

#[test]
fn a_live_list_that_cannot_tell_leaves_the_outcome_unknown() {
    let sim = sim();
    let c = client(&sim, "test-blind");
    control(&sim, "cut-next-start?client=test-blind");
    // A server whose live list does not show nonces: the call may be among them.
    sim.arm_reply(
        "/uapi/phoneCalls/@me/210",
        1,
        SimResponse::json(
            200,
            &serde_json::json!({"totalResults": 1, "entry": [{"id": "someone-else", "extension": "210"}]}),
        ),
    );
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert!(e.message().contains("show no nonce"), "{e}");
    // Reported, not repeated: still the one call the cut start placed.
    assert_eq!(count(&sim, "test-blind", "calls_placed"), 1);
}

#[test]
fn busy_and_no_answer_reach_the_host_from_the_call_record() {
    let sim = sim();
    let c = client(&sim, "test-dispositions");
    for (a, b, reason, raw) in [
        (
            "0171 1234486",
            "030 1234567",
            FailReason::Busy,
            "disposition:1",
        ),
        (
            "0171 1234567",
            "030 1234408",
            FailReason::NoAnswer,
            "disposition:3",
        ),
    ] {
        let call = c.start_call(a, b, &CallOptions::default()).unwrap();
        let (_, end) = follow(&call);
        assert_eq!(
            (end.state, end.reason, end.raw_code.as_deref()),
            (CallState::Failed, reason, Some(raw)),
            "{a} -> {b}"
        );
    }
    // Records with ids of their own are matched by destination and time.
    control(&sim, "cdr-own-ids?client=test-dispositions");
    let call = c
        .start_call("0171 1234486", "030 7654567", &CallOptions::default())
        .unwrap();
    let (_, end) = follow(&call);
    assert_eq!(
        (end.state, end.reason, end.raw_code.as_deref()),
        (CallState::Failed, FailReason::Busy, Some("disposition:1"))
    );
}

#[test]
fn caller_destination_is_a_dsn_choice() {
    let sim = sim();
    let c = Client::new(&dsn(
        &sim,
        "test-cdest",
        "&caller_id_b_field=callerDestination",
    ))
    .unwrap();
    let opts = CallOptions {
        caller_id_b: Some("Callshop <+4930999999>".into()),
        ..Default::default()
    };
    let call = c.start_call("0171 1234567", "030 1234567", &opts).unwrap();
    let asked = sim_call(&sim, call.id());
    assert_eq!(asked["callerDestination"], "Callshop <+4930999999>");
    assert_eq!(asked["callerIdDestination"], Value::Null);
    let e = Client::new(&dsn(&sim, "test-cdest", "&caller_id_b_field=x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn an_unreadable_reply_is_protocol_with_its_body_and_no_secret() {
    let sim = sim();
    let c = client(&sim, "test-garbled");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id();
    sim.arm_reply(
        &format!("/uapi/phoneCalls/@me/210/{id}"),
        1,
        SimResponse::new(
            200,
            "text/html",
            "<html>maintenance; client secret-test-garbled</html>",
        ),
    );
    let e = call.poll().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.message().contains("<html>maintenance"), "{e}");
    assert!(!e.message().contains("secret-test-garbled"), "{e}");
}

#[test]
fn a_call_gone_without_a_record_is_ended_with_unknown_details() {
    let sim = sim();
    let c = client(&sim, "test-nocdr");
    control(&sim, "cdr-off?client=test-nocdr");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(
        held_at(&sim, &call, "connected").state,
        CallState::Connected
    );
    release(&sim, &call);
    let (_, end) = follow(&call);
    assert_eq!(
        (end.state, end.reason, end.raw_code.as_deref()),
        (CallState::Ended, FailReason::Unknown, Some("gone"))
    );
    // An id the carrier never heard of (404) is not left ringing either.
    let ghost = c
        .attach(&reference(&sim, "test-nocdr", "nosuchcall"))
        .unwrap();
    assert_eq!(ghost.poll().unwrap().state, CallState::Ended);
}

#[test]
fn a_host_managed_token_is_used_as_it_is() {
    let sim = sim();
    let token: Value =
        serde_json::from_str(&get(&sim, "/_sim/voipnow/issue-token?client=test-own")).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let c = Client::new(&format!(
        "voipnow://127.0.0.1:{}?tls=0&default_country=49&extension=210&token={token}",
        sim.port()
    ))
    .unwrap();
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    call.poll().unwrap();
    assert_eq!(count(&sim, "test-own", "calls_placed"), 1);
    assert_eq!(count(&sim, "test-own", "token_fetches"), 0);
    control(&sim, "revoke?client=test-own");
    let e = call.poll().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(!e.to_string().contains(&token));
}

#[test]
fn the_token_cache_file_serves_the_next_process() {
    let sim = sim();
    let dir = std::env::temp_dir().join(format!("cc-vn-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = dir.join("token.json");
    let with_cache = format!("&token_cache={}", cache.display());
    // One "web request" places the call and ends...
    let first = Client::new(&dsn(&sim, "test-cache", &with_cache)).unwrap();
    let call = first
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let reference = call.reference();
    first.close();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // ...the next ones follow it with the same token.
    for _ in 0..3 {
        let next = Client::new(&dsn(&sim, "test-cache", &with_cache)).unwrap();
        next.attach(&reference).unwrap().poll().unwrap();
        next.close();
    }
    assert_eq!(count(&sim, "test-cache", "token_fetches"), 1);
    // A cached token the carrier refuses is replaced.
    control(&sim, "revoke?client=test-cache");
    let next = Client::new(&dsn(&sim, "test-cache", &with_cache)).unwrap();
    next.attach(&reference).unwrap().poll().unwrap();
    assert_eq!(count(&sim, "test-cache", "token_fetches"), 2);
    // Another app's client does not take this app's token.
    let stranger = Client::new(&dsn(&sim, "test-cache-2", &with_cache)).unwrap();
    stranger
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(count(&sim, "test-cache-2", "token_fetches"), 1);
    assert_eq!(count(&sim, "test-cache-2", "auth_failures"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fault injections still armed in the simulator (a canned reply or fault not yet
/// met by a request).
fn armed(sim: &Simulator) -> u64 {
    sim.stats()["_faults"]["armed"].as_u64().unwrap()
}

/// A repeated start that VoipNow refuses for its nonce may follow a first attempt that
/// placed the call: the host hears that the outcome is unknown (a refusal would invite
/// it to place the call again). On a first attempt the same code is a plain refusal
/// (`every_documented_400_code_reaches_the_host`).
#[test]
fn pc_nonce_invalid_on_a_repeat_is_outcome_unknown() {
    let sim = sim();
    let c = client(&sim, "test-nonce-repeat");
    // The first attempt never arrives; the repeat is refused for its nonce.
    lose_next_starts(&sim, &c, 1);
    control(
        &sim,
        "fail-next-start?client=test-nonce-repeat&code=pc_nonce_invalid",
    );
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::OutcomeUnknown, Some("pc_nonce_invalid")),
        "{e}"
    );
    assert!(e.message().contains("repeated call start"), "{e}");
    assert_eq!(armed(&sim), 0);
    assert_eq!(count(&sim, "test-nonce-repeat", "calls_placed"), 1);
}

/// A start answered 204 (accepted, no id) is OUTCOME_UNKNOWN and is not sent again: a
/// call may be up that this side can neither follow nor end.
#[test]
fn a_start_answered_204_is_outcome_unknown_and_not_repeated() {
    let sim = sim();
    let c = client(&sim, "test-204");
    // Two canned 204s armed: a repeat would meet the second.
    sim.arm_reply("/simple", 2, SimResponse::new(204, "application/json", ""));
    let e = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert!(e.message().contains("HTTP 204"), "{e}");
    assert_eq!(armed(&sim), 1, "the start was sent once");
    sim.clear_faults();
    assert_eq!(count(&sim, "test-204", "calls_placed"), 0);
}

/// A call that left the live list is settled from its call record. A lookup that fails
/// (HTTP 5xx, 401, a body that is not JSON) is an error of that poll: the call is not
/// taken as ended or failed (FAILED would invite the host to place it again). The next
/// lookup that works settles it.
#[test]
fn call_record_lookup_errors_are_errors_not_ends() {
    let sim = sim();
    let c = client(&sim, "test-cdr-errors");
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    assert_eq!(
        held_at(&sim, &call, "connected").state,
        CallState::Connected
    );
    release(&sim, &call);
    // Wait for the simulated call's end (the simulator's record, not the library's).
    let until = Instant::now() + Duration::from_secs(10);
    while sim_call(&sim, call.id())["stage"] != "ended" {
        assert!(Instant::now() < until, "{}", sim_call(&sim, call.id()));
        std::thread::sleep(Duration::from_millis(10));
    }
    for (reply, kind) in [
        (
            SimResponse::new(500, "text/plain", "Internal Server Error"),
            ErrorKind::Provider,
        ),
        (
            SimResponse::new(503, "text/plain", "Service Unavailable"),
            ErrorKind::Provider,
        ),
        (
            SimResponse::json(
                401,
                &serde_json::json!({"error": "invalid_token", "error_description": "expired"}),
            ),
            ErrorKind::Auth,
        ),
        (
            SimResponse::new(200, "text/html", "<html>maintenance</html>"),
            ErrorKind::Protocol,
        ),
    ] {
        let status = reply.status;
        sim.arm_reply("/uapi/cdr/", 10, reply);
        let e = call.poll().unwrap_err();
        assert_eq!(e.kind(), kind, "HTTP {status}: {e}");
        sim.clear_faults();
        assert_eq!(
            call.status().unwrap().state,
            CallState::Connected,
            "HTTP {status}"
        );
    }
    let s = call.poll().unwrap();
    assert_eq!(
        (s.state, s.reason, s.raw_code.as_deref()),
        (CallState::Ended, FailReason::None, Some("disposition:0"))
    );
    assert_eq!(count(&sim, "test-cdr-errors", "calls_placed"), 1);
}

/// HTTP statuses of a refused start, without a UAPI error code in the body: 402 is the
/// account's funds, 404 not found; nothing was placed. (A 401 fetches a new token and
/// tries again: `a_refused_token_is_renewed_once`.)
#[test]
fn a_refused_start_by_http_status() {
    let sim = sim();
    let c = client(&sim, "test-status");
    for (status, kind) in [
        (402, ErrorKind::InsufficientFunds),
        (404, ErrorKind::NotFound),
    ] {
        sim.arm_reply(
            "/simple",
            1,
            SimResponse::new(status, "text/plain", "refused"),
        );
        let e = c
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), kind, "HTTP {status}: {e}");
        sim.clear_faults();
    }
    assert_eq!(count(&sim, "test-status", "calls_placed"), 0);
}

/// What a VoipNow client says it can do: each bit, and no other.
#[test]
fn the_capabilities_of_voipnow() {
    use callconnect::Capabilities as C;
    let sim = sim();
    let c = client(&sim, "test-caps");
    let want = [
        C::CALLBACK,
        C::LIVE_STATUS,
        C::HANGUP,
        C::RING_GROUP,
        C::CALLER_ID,
        C::WAIT_FOR_PICKUP,
        C::MAX_DURATION,
        C::CALL_FLAGS,
        C::IDEMPOTENT_START,
    ];
    let bits: u32 = want.iter().map(|c| c.bits()).sum();
    assert_eq!(c.capabilities().bits(), bits);
    for cap in want {
        assert!(c.capabilities().contains(cap));
    }
}

/// Records with ids of their own, two of which fit a call (the same destination, both in
/// the time window): the call is ended with its details unknown, never given the other
/// call's disposition or duration; the raw code says how many fitted.
#[test]
fn two_fitting_call_records_end_the_call_with_unknown_details() {
    let sim = sim();
    let c = client(&sim, "test-cdr-ambiguous");
    control(&sim, "cdr-own-ids?client=test-cdr-ambiguous");
    let first = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (_, end) = follow(&first);
    assert_eq!(
        (end.state, end.reason, end.raw_code.as_deref()),
        (CallState::Ended, FailReason::None, Some("disposition:0")),
        "one record fits the first call"
    );
    let second = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let (_, end) = follow(&second);
    assert_eq!(
        (end.state, end.reason, end.raw_code.as_deref()),
        (
            CallState::Ended,
            FailReason::Unknown,
            Some("cdr-ambiguous:2")
        )
    );
}
