//! Per-call event tokens (`cc_tok` in event URLs) are secrets: whoever holds one can send
//! that call's events. A PokeTALK call with the built-in listener, logged at DEBUG, with
//! events coming in: no line shows the call's token in any form, though the placing
//! request (its `eventurl` field) and every event carry it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use callconnect::log::{self, Level};
use callconnect::{CallOptions, CallState, Client};
use callconnect_sim::{Config, Simulator};

const SECRET: &str = "event-secret-for-token-tests-0123";

fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ]
}

#[test]
fn no_log_line_shows_an_event_token() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    log::set_logger(
        Some(Level::Debug),
        Box::new(move |level, line| {
            sink.lock()
                .unwrap()
                .push(format!("{} {line}", level.name()))
        }),
    )
    .unwrap();
    let sim = Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap();
    let client = Client::new(&format!(
        "poketalk://test-tokens@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000\
         &event_secret={SECRET}&event_listen=127.0.0.1:0",
        sim.port()
    ))
    .unwrap();
    let call = client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !call.poll().unwrap().state.is_final() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call.status().unwrap().state, CallState::Ended);
    // An event refused (a forged token) goes through the log path too.
    let _ = client.ingest_event(&format!("cc_id={id}&cc_tok=AAAA&status=3"));
    client.close();
    log::remove_logger().unwrap();

    let url = ureq::get(format!(
        "http://127.0.0.1:{}/_sim/poketalk/call?custom={id}",
        sim.port()
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_to_string()
    .unwrap();
    let record: serde_json::Value = serde_json::from_str(&url).unwrap();
    let event_url = record["eventurl"].as_str().unwrap();
    let token = url::Url::parse(event_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cc_tok")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(token.len(), 27);
    let lines = lines.lock().unwrap();
    // The placing request was logged, its event URL with the token blanked.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DEBUG") && l.contains("eventurl=") && l.contains("cc_tok=***")),
        "{lines:#?}"
    );
    for l in lines.iter() {
        for form in forms(&token).iter().chain(forms(SECRET).iter()) {
            assert!(!l.contains(form.as_str()), "a secret in: {l}");
        }
    }
}
