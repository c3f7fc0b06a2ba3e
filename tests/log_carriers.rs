//! The log hook at DEBUG for PokeTALK, Connect Call and VoipNow (42call: tests/log.rs):
//! each carrier is driven with known secrets through a call (start, poll, hang-up), a
//! wrong secret and a fault, and no line may hold a secret in any form (as it is,
//! form-urlencoded, percent-encoded, base64).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use callconnect::log::{self, Level};
use callconnect::{CallOptions, Client};
use callconnect_sim::faults::Kind;
use callconnect_sim::{Config, Simulator};

const PASSWORD: &str = "secret-test-log-carriers"; // what the simulator takes for this login
const PASSWORD_ENC: &str = PASSWORD;
const PK_KEY: &str = "test-log-carriers-key-0815";
const EVENT_SECRET: &str = "event-secret-log-carriers-0123456789";
const WRONG: &str = "Wr0ng+P@ss/word=%";
const WRONG_ENC: &str = "Wr0ng%2BP%40ss%2Fword%3D%25";

fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ]
}

struct Carrier {
    name: &'static str,
    dsn: fn(port: u16, secret: &str) -> String,
    start: &'static str,
    secrets: &'static [&'static str],
}

const CARRIERS: &[Carrier] = &[
    Carrier {
        name: "poketalk",
        dsn: |port, key| {
            format!("poketalk://{key}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&event_secret={EVENT_SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev")
        },
        start: "/index.php/api/click2call",
        secrets: &[PK_KEY, EVENT_SECRET],
    },
    Carrier {
        name: "connectcall",
        dsn: |port, pw| {
            format!("connectcall://test-log-carriers:{pw}@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=1500")
        },
        start: "connectcall.aspx",
        secrets: &[PASSWORD],
    },
    Carrier {
        name: "voipnow",
        dsn: |port, pw| {
            format!("voipnow://test-log-carriers:{pw}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&extension=210")
        },
        start: "/uapi/phoneCalls/",
        secrets: &[PASSWORD],
    },
];

#[test]
fn debug_log_of_every_other_carrier_holds_no_secret() {
    let sim = Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    log::set_logger(
        Some(Level::Debug),
        Box::new(move |_, message| sink.lock().unwrap().push(message.to_string())),
    )
    .unwrap();
    for carrier in CARRIERS {
        let before = lines.lock().unwrap().len();
        let good = if carrier.name == "poketalk" {
            PK_KEY
        } else {
            PASSWORD_ENC
        };
        let client = Client::new(&(carrier.dsn)(sim.port(), good)).unwrap();
        let call = client
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", carrier.name));
        let _ = call.poll();
        // Connect Call's session GUID (a key to the account) is a secret from the login's
        // own reply on.
        let guid = (carrier.name == "connectcall").then(|| {
            let url = format!(
                "http://127.0.0.1:{}/_sim/connectcall/session?login=test-log-carriers",
                sim.port()
            );
            let body = ureq::get(url).call().unwrap().body_mut().read_to_string();
            let v: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
            v["guid"].as_str().unwrap().to_string()
        });
        let _ = call.hangup();
        let _ = call.poll();
        // A fault on a start (the request is logged, its failure too).
        sim.arm_fault(Kind::Status(500), carrier.start, 1, Duration::ZERO);
        let _ = client.start_call("0171 1234567", "030 1234567", &CallOptions::default());
        sim.clear_faults();
        // A wrong secret.
        let wrong_secret = if carrier.name == "poketalk" {
            "Wr0ng-key"
        } else {
            WRONG_ENC
        };
        let wrong = Client::new(&(carrier.dsn)(sim.port(), wrong_secret)).unwrap();
        let _ = wrong.start_call("0171 1234567", "030 1234567", &CallOptions::default());
        let seen = lines.lock().unwrap()[before..].to_vec();
        assert!(
            seen.len() >= 4,
            "{}: too few DEBUG lines: {seen:?}",
            carrier.name
        );
        let mut secrets: Vec<&str> = carrier.secrets.to_vec();
        if carrier.name != "poketalk" {
            secrets.push(WRONG);
        }
        if let Some(g) = &guid {
            assert!(!g.is_empty());
            secrets.push(g);
        }
        for secret in secrets {
            for form in forms(secret) {
                for line in &seen {
                    assert!(
                        !line.contains(&form),
                        "{}: a log line shows {secret:?} (as {form:?}): {line}",
                        carrier.name
                    );
                }
            }
        }
    }
    log::set_logger(None, Box::new(|_, _| {})).ok();
}
