//! The log hook through the Rust API: each request and reply is logged at DEBUG and no
//! secret ever reaches a line, for success and failure alike (42call: a callback and its
//! hang-up, an SMS, a top-up, a PIN used twice, a malformed PIN, a wrong password).

use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use callconnect::log::{self, Level};
use callconnect::{CallOptions, Client, ErrorKind};
use callconnect_sim::{Config, Simulator};
use hmac::{KeyInit, Mac};

/// The logger is global to the process: tests here take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

type Lines = Arc<Mutex<Vec<(Level, String)>>>;

fn capture(max: Option<Level>) -> Lines {
    let lines: Lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    log::set_logger(
        max,
        Box::new(move |level, message| sink.lock().unwrap().push((level, message.to_string()))),
    )
    .unwrap();
    lines
}

fn md5_hex(s: &str) -> String {
    callconnect_sim::call42::md5_hex(s)
}

/// The x-authorization value 42call's signing gives for this x-date.
fn signature(user: &str, password: &str, x_date: &str) -> String {
    let key = md5_hex(password);
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(key.as_bytes());
    mac.update(b"\n");
    mac.update(x_date.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("{user}:{sig}")
}

/// Every `x-date` value that appears in the log.
fn x_dates(text: &str) -> Vec<String> {
    text.match_indices("x-date: ")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest[..rest.find([',', ']']).unwrap_or(rest.len())].to_string()
        })
        .collect()
}

#[test]
fn debug_log_of_42call_holds_no_secret() {
    let _t = turn();
    let sim = sim();
    let port = sim.port();
    let user = "testlog";
    let password = "secret-testlog";
    let wrong = "Wr0ng+p@ss/word=";
    let pin = format!("9{}", 100_000_000 + port as u64);
    let bad_pin = "Q7Z3X9";
    let lines = capture(Some(Level::Debug));

    let client = Client::new(&format!(
        "42call://{user}:{password}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000"
    ))
    .unwrap();
    let call = client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    call.hangup().unwrap();
    client
        .send_sms("0171 1234567", "hello from the log test")
        .unwrap();
    client.topup(&pin).unwrap();
    let used = client.topup(&pin).unwrap_err();
    assert_eq!(used.carrier_code(), Some("1200"));
    let bad = client.topup(bad_pin).unwrap_err();
    assert_eq!(bad.carrier_code(), Some("1200"), "{bad:?}");
    // A wrong password, percent-encoded in the DSN as a host would write it.
    let encoded: String = url::form_urlencoded::byte_serialize(wrong.as_bytes()).collect();
    let refused = Client::new(&format!(
        "42call://{user}:{encoded}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000"
    ))
    .unwrap();
    let e = refused
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    let e = refused.topup(&pin).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    log::remove_logger().unwrap();

    let lines = lines.lock().unwrap().clone();
    let text = lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    // The log says what happened: every exchange, both ways, at DEBUG, and one INFO line each.
    let requests = lines
        .iter()
        .filter(|(l, m)| *l == Level::Debug && m.starts_with("-> POST "))
        .count();
    let replies = lines
        .iter()
        .filter(|(l, m)| *l == Level::Debug && m.starts_with("<- HTTP "))
        .count();
    let infos = lines.iter().filter(|(l, _)| *l == Level::Info).count();
    assert!(requests >= 8, "{requests} requests logged:\n{text}");
    assert_eq!(requests, replies, "{text}");
    assert_eq!(requests, infos, "{text}");
    assert!(text.contains("act=trycallback"), "{text}");
    assert!(text.contains("act=sendSms"), "{text}");
    assert!(text.contains("pin=***"), "{text}");
    assert!(text.contains("x-authorization: ***"), "{text}");
    assert!(text.contains("\"code\":1200"), "{text}");
    assert!(
        text.contains("HTTP 401") || text.contains("\"code\":401"),
        "{text}"
    );

    // No secret in any form: passwords, their md5 (the signing key), the PINs, and the
    // signatures of every request (recomputed from the logged x-date).
    let mut secrets = vec![
        password.to_string(),
        md5_hex(password),
        wrong.to_string(),
        encoded.clone(),
        md5_hex(wrong),
        pin.clone(),
        bad_pin.to_string(),
        format!("{user}:"),
    ];
    let dates = x_dates(&text);
    assert!(dates.len() >= requests, "x-date logged with each request");
    for d in &dates {
        let sig = signature(user, password, d);
        secrets.push(sig[user.len() + 1..].to_string());
        let sig = signature(user, wrong, d);
        secrets.push(sig[user.len() + 1..].to_string());
    }
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({s}) reached the log:\n{text}"
        );
    }
}

#[test]
fn levels_filter_and_off_is_silent() {
    let _t = turn();
    let sim = sim();
    let client = Client::new(&format!(
        "42call://testlvl:secret-testlvl@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000",
        sim.port()
    ))
    .unwrap();
    let info = capture(Some(Level::Info));
    client.send_sms("0171 1234567", "info only").unwrap();
    let got = info.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Level::Info);
    assert!(got[0].1.contains("HTTP 200"), "{got:?}");

    let off = capture(None);
    client.send_sms("0171 1234567", "nothing").unwrap();
    assert!(!log::enabled(Level::Error));
    assert!(off.lock().unwrap().is_empty());

    // A failure of the transport is a WARN (nothing listens on port 9).
    let warn = capture(Some(Level::Warn));
    let dead = Client::new(
        "42call://testlvl:secret-testlvl@127.0.0.1:9?tls=0&default_country=49&timeout_ms=1000",
    )
    .unwrap();
    let e = dead.send_sms("0171 1234567", "lost").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network);
    let got = warn.lock().unwrap().clone();
    assert!(
        !got.is_empty() && got.iter().all(|(l, _)| *l == Level::Warn),
        "{got:?}"
    );
    log::remove_logger().unwrap();
}

#[test]
fn a_sink_cannot_replace_itself_and_its_own_lines_are_dropped() {
    let _t = turn();
    let results: Arc<Mutex<Vec<ErrorKind>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = results.clone();
    log::set_logger(
        Some(Level::Debug),
        Box::new(move |_, _| {
            let r = log::remove_logger().unwrap_err();
            seen.lock().unwrap().push(r.kind());
        }),
    )
    .unwrap();
    let sim = sim();
    let client = Client::new(&format!(
        "42call://testre:secret-testre@127.0.0.1:{}?tls=0&default_country=49",
        sim.port()
    ))
    .unwrap();
    client.send_sms("0171 1234567", "re-entry").unwrap();
    log::remove_logger().unwrap();
    let r = results.lock().unwrap().clone();
    assert!(
        !r.is_empty() && r.iter().all(|k| *k == ErrorKind::Busy),
        "{r:?}"
    );
}
