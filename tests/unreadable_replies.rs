//! A carrier reply the library cannot read fails with the raw body in the message (and
//! in a DEBUG line), secrets blanked, for every carrier: what no document shows (the
//! PokeTALK reply format, a Connect Call page, a VoipNow server's own form) can then be
//! seen by the first user of a real account. A start is OUTCOME_UNKNOWN (the carrier may
//! have acted); a read is PROTOCOL.

use std::sync::{Arc, Mutex};

use callconnect::log::{self, Level};
use callconnect::{CallOptions, Client, ErrorKind};
use callconnect_sim::{Config, SimResponse, Simulator};

const MARKER: &str = "Wartungsarbeiten-7731";

fn page(secret: &str) -> SimResponse {
    SimResponse::new(
        200,
        "text/html",
        format!("<html><body>{MARKER}: login {secret} refused</body></html>"),
    )
}

#[test]
fn unreadable_replies_show_their_body_without_secrets() {
    let sim = Simulator::start(Config {
        step_ms: 200,
        ..Default::default()
    })
    .unwrap();
    let port = sim.port();
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    log::set_logger(
        Some(Level::Debug),
        Box::new(move |_, message| sink.lock().unwrap().push(message.to_string())),
    )
    .unwrap();
    let opts = CallOptions::default();
    let mut seen = Vec::new();

    // 42call: the balance (a read).
    let secret = "secret-test-unreadable";
    let c = Client::new(&format!(
        "42call://test-unreadable:{secret}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000"
    ))
    .unwrap();
    sim.arm_reply("?account", 1, page(secret));
    let e = c.balance().unwrap_err();
    seen.push(("42call", ErrorKind::Protocol, e, secret));

    // PokeTALK: the start (its reply format is not documented beyond "00").
    let key = "test-unreadable-key-4711";
    let c = Client::new(&format!(
        "poketalk://{key}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000&event_secret=event-secret-unreadable-0123456789&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev"
    ))
    .unwrap();
    sim.arm_reply("/index.php/api/click2call", 1, page(key));
    let e = c
        .start_call("0171 1234567", "030 1234567", &opts)
        .unwrap_err();
    seen.push(("poketalk", ErrorKind::OutcomeUnknown, e, key));

    // Connect Call: a status poll.
    let c = Client::new(&format!(
        "connectcall://test-unreadable:{secret}@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=3000"
    ))
    .unwrap();
    let call = c.start_call("0171 1234567", "030 1234567", &opts).unwrap();
    sim.arm_reply("connectcall.aspx", 1, page(secret));
    let e = call.poll().unwrap_err();
    seen.push(("connectcall", ErrorKind::Protocol, e, secret));

    // VoipNow: a status poll.
    let c = Client::new(&format!(
        "voipnow://test-unreadable:{secret}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000&extension=210"
    ))
    .unwrap();
    let call = c.start_call("0171 1234567", "030 1234567", &opts).unwrap();
    sim.arm_reply(
        &format!("/uapi/phoneCalls/@me/210/{}", call.id()),
        1,
        page(secret),
    );
    let e = call.poll().unwrap_err();
    seen.push(("voipnow", ErrorKind::Protocol, e, secret));

    log::set_logger(None, Box::new(|_, _| {})).ok();
    let lines = lines.lock().unwrap().clone();
    for (carrier, kind, e, secret) in seen {
        assert_eq!(e.kind(), kind, "{carrier}: {e}");
        assert!(e.message().contains(MARKER), "{carrier}: {e}");
        assert!(e.message().contains("login *** refused"), "{carrier}: {e}");
        assert!(!e.message().contains(secret), "{carrier}: {e}");
        for line in &lines {
            assert!(!line.contains(secret), "{carrier}: a log line: {line}");
        }
    }
    let with_body = lines
        .iter()
        .filter(|l| l.contains(MARKER) && l.contains("the carrier sent"))
        .count();
    assert!(with_body >= 4, "{lines:#?}");
}
