//! No secret ever reaches the host: every carrier is driven through success and failure
//! with known secrets, and every text the library hands out (error messages, carrier
//! codes, ids, references and the JSON inside them, statuses, balances, Debug output)
//! is searched for them, in every form they could take (as they are, form-urlencoded,
//! percent-encoded). A carrier that echoes a credential in its error text is simulated
//! with a canned reply: the library must blank it out.
//!
//! A carrier joins by one entry in [`CARRIERS`].

use std::time::Duration;

use base64::Engine;
use callconnect::{CallOptions, Client, Error};
use callconnect_sim::faults::{Kind, KINDS};
use callconnect_sim::{Config, SimResponse, Simulator};

struct Carrier {
    name: &'static str,
    /// A DSN with good credentials for a simulator on `port`.
    dsn: fn(port: u16) -> String,
    /// The same with a wrong secret (which must not show either).
    wrong_dsn: fn(port: u16) -> String,
    /// Every secret of `dsn` and what the library derives from them.
    secrets: fn() -> Vec<String>,
    /// The same for `wrong_dsn`.
    wrong_secrets: fn() -> Vec<String>,
    /// A PIN for a top-up (a secret too), if the carrier has top-ups.
    pin: Option<&'static str>,
    /// The path of the call-placing request.
    start: &'static str,
    /// An error reply in the carrier's own form whose text is `text`.
    error_reply: fn(text: &str) -> SimResponse,
    /// A start may succeed through a fault: the carrier repeats a cut start itself (VoipNow,
    /// with its nonce), or its reply is so short that half of it still reads (PokeTALK's
    /// status code).
    start_may_survive_faults: bool,
}

const PASSWORD: &str = "secret-test-secrets";
const WRONG: &str = "Wr0ng+P@ss/word=%";

const CARRIERS: &[Carrier] = &[
    Carrier {
        name: "42call",
        dsn: |port| {
            format!("42call://test-secrets:{PASSWORD}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500")
        },
        wrong_dsn: |port| {
            format!("42call://test-secrets:Wr0ng%2BP%40ss%2Fword%3D%25@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500")
        },
        secrets: || vec![PASSWORD.into(), md5_hex(PASSWORD)],
        wrong_secrets: || vec![WRONG.into(), md5_hex(WRONG)],
        pin: Some("9000777888"),
        start: "?webcallback",
        error_reply: |text| {
            SimResponse::json(
                200,
                &serde_json::json!({"error": true, "codes": [{"code": 401, "description": text}], "body": []}),
            )
        },
        start_may_survive_faults: false,
    },
    Carrier {
        name: "poketalk",
        dsn: |port| {
            format!("poketalk://{PK_KEY}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&event_secret={EVENT_SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev")
        },
        wrong_dsn: |port| {
            format!("poketalk://Wr0ng%2BP%40ss%2Fword%3D%25@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&event_secret={EVENT_SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev")
        },
        secrets: || vec![PK_KEY.into(), EVENT_SECRET.into()],
        wrong_secrets: || vec![WRONG.into()],
        pin: None,
        start: "/index.php/api/click2call",
        error_reply: |text| SimResponse::text(500, text),
        start_may_survive_faults: true,
    },
    Carrier {
        name: "connectcall",
        dsn: |port| {
            format!("connectcall://test-secrets:{PASSWORD}@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=1500")
        },
        wrong_dsn: |port| {
            format!("connectcall://test-secrets:Wr0ng%2BP%40ss%2Fword%3D%25@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=1500")
        },
        secrets: || vec![PASSWORD.into()],
        wrong_secrets: || vec![WRONG.into()],
        pin: None,
        start: "/api/connectcall.aspx",
        error_reply: |text| SimResponse::text(500, text),
        start_may_survive_faults: false,
    },
    Carrier {
        name: "voipnow",
        dsn: |port| {
            format!("voipnow://test-secrets:{PASSWORD}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&extension=210")
        },
        wrong_dsn: |port| {
            format!("voipnow://test-secrets:Wr0ng%2BP%40ss%2Fword%3D%25@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=1500&extension=210")
        },
        secrets: || vec![PASSWORD.into()],
        wrong_secrets: || vec![WRONG.into()],
        pin: None,
        start: "/uapi/phoneCalls/",
        error_reply: |text| SimResponse::text(500, text),
        start_may_survive_faults: true,
    },
];

const PK_KEY: &str = "test-secrets-pk-key-4711";
const EVENT_SECRET: &str = "event-secret-test-secrets-0123456789";

fn md5_hex(s: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every form in which a secret could leak.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ]
}

struct Seen {
    texts: Vec<(String, String)>,
}

impl Seen {
    fn add(&mut self, what: &str, text: impl Into<String>) {
        self.texts.push((what.to_string(), text.into()));
    }
    fn error(&mut self, what: &str, e: &Error) {
        self.add(what, e.to_string());
        self.add(what, e.message());
        self.add(what, e.carrier_code().unwrap_or(""));
        self.add(what, format!("{e:?}"));
    }
    fn result<T: std::fmt::Debug>(&mut self, what: &str, r: &callconnect::Result<T>) {
        match r {
            Ok(v) => self.add(what, format!("{v:?}")),
            Err(e) => self.error(what, e),
        }
    }
    fn check(&self, secrets: &[String]) {
        assert!(self.texts.len() > 20, "too little was looked at");
        for secret in secrets {
            for form in forms(secret) {
                for (what, text) in &self.texts {
                    assert!(
                        !text.contains(&form),
                        "{what}: shows the secret {secret:?} (as {form:?}): {text}"
                    );
                }
            }
        }
    }
}

fn drive(carrier: &Carrier) -> Seen {
    let sim = Simulator::start(Config {
        step_ms: 0,
        ..Default::default()
    })
    .unwrap();
    let port = sim.port();
    let mut seen = Seen { texts: Vec::new() };
    let own = (carrier.secrets)();
    let wrong_own = (carrier.wrong_secrets)();

    // Success.
    let client = Client::new(&(carrier.dsn)(port)).unwrap();
    seen.add("client Debug", format!("{client:?}"));
    let call = client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    seen.add("call Debug", format!("{call:?}"));
    seen.add("call id", format!("{:?}", call.id()));
    let reference = call.reference();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(reference.trim_start_matches("cc1."))
        .unwrap();
    seen.add("reference JSON", String::from_utf8(json).unwrap());
    seen.add("reference", reference.clone());
    seen.result("poll", &call.poll());
    seen.result("hangup", &call.hangup());
    seen.result("status", &call.status());
    seen.result("sms", &client.send_sms("0171 1234567", "secrets test"));
    if let Some(pin) = carrier.pin {
        seen.result("topup", &client.topup(pin));
        // Spent: the carrier refuses it now.
        let r = client.topup(pin);
        assert!(r.is_err());
        seen.result("topup again", &r);
        // A carrier that echoes the PIN in its error text.
        sim.arm_reply(
            "",
            1,
            (carrier.error_reply)(&format!("PIN {pin} is not valid")),
        );
        let r = client.topup(pin);
        assert!(r.is_err());
        seen.result("topup, PIN echoed", &r);
    }
    seen.add("balance", format!("{:?}", client.known_balance()));

    // Failures.
    seen.result(
        "invalid number",
        &client.start_call("12", "030 1234567", &CallOptions::default()),
    );
    seen.result(
        "unsupported option",
        &client.start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                max_cost: Some("1.00".into()),
                connect_type: Some(1),
                ..Default::default()
            },
        ),
    );
    let wrong = Client::new(&(carrier.wrong_dsn)(port)).unwrap();
    seen.add("wrong client Debug", format!("{wrong:?}"));
    seen.result(
        "wrong secret",
        &wrong.start_call("0171 1234567", "030 1234567", &CallOptions::default()),
    );
    seen.result("wrong secret sms", &wrong.send_sms("0171 1234567", "x"));
    sim.arm_reply("", 1, (carrier.error_reply)(&wrong_own.join(" ")));
    seen.result("wrong secret echoed", &wrong.send_sms("0171 1234567", "x"));
    // Every fault, on the call start.
    for (name, kind) in KINDS {
        if matches!(kind, Kind::Refused | Kind::Reply) {
            continue;
        }
        sim.arm_fault(*kind, carrier.start, 1, Duration::from_millis(3000));
        let r = client.start_call("0171 1234567", "030 1234567", &CallOptions::default());
        sim.clear_faults();
        assert!(
            r.is_err() || carrier.start_may_survive_faults,
            "{}: {name}: {r:?}",
            carrier.name
        );
        if let Ok(c) = &r {
            seen.result(&format!("fault {name}, hang-up"), &c.hangup());
        }
        seen.result(&format!("fault {name}"), &r);
    }
    // A carrier that echoes the client's credentials in its error text.
    let echo = format!("refused: {}", own.join(" / "));
    // (Armed for every attempt: VoipNow repeats a start that got a 500, with its nonce.)
    sim.arm_reply(carrier.start, 8, (carrier.error_reply)(&echo));
    let r = client.start_call("0171 1234567", "030 1234567", &CallOptions::default());
    sim.clear_faults();
    assert!(r.is_err(), "{}: {r:?}", carrier.name);
    seen.result("credentials echoed", &r);
    // After the client is closed.
    client.close();
    seen.result("closed client", &call.hangup());
    // DSNs that are wrong in some part, with the secret in them.
    for bad in [
        format!("42call://u:{PASSWORD}@"),
        format!("42call://u:{PASSWORD}@h?tls=maybe"),
        format!("42call://u:{PASSWORD}@h:99999"),
        format!("42call://u:{PASSWORD}@h?timeout_ms=-1"),
        format!("nosuch://u:{PASSWORD}@h"),
        format!("{}://u:{PASSWORD}@h?unknown_option=1", carrier.name),
        format!("{}://{PASSWORD}@h", carrier.name),
        format!("{}://u:%ff{PASSWORD}@h", carrier.name),
    ] {
        seen.result("bad DSN", &Client::new(&bad));
    }
    let mut secrets = [own, wrong_own].concat();
    if let Some(pin) = carrier.pin {
        secrets.push(pin.to_string());
    }
    seen.check(&secrets);
    seen
}

#[test]
fn no_secret_in_anything_the_library_hands_out() {
    for carrier in CARRIERS {
        let seen = drive(carrier);
        eprintln!("{}: {} texts searched", carrier.name, seen.texts.len());
    }
}

/// The check itself works: a text with a secret in it is caught.
#[test]
#[should_panic(expected = "shows the secret")]
fn the_check_catches_a_secret() {
    let mut seen = Seen { texts: Vec::new() };
    for i in 0..30 {
        seen.add("filler", format!("text {i}"));
    }
    seen.add(
        "leak",
        format!(
            "x{}",
            url::form_urlencoded::byte_serialize(WRONG.as_bytes()).collect::<String>()
        ),
    );
    seen.check(&[WRONG.to_string()]);
}
