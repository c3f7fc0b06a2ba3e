//! Call references are signed and bound to the account: for every carrier, a genuine
//! reference attaches in another client of the same account and is followed there;
//! an altered, truncated, unsigned (old cc1) or foreign one is refused with
//! `InvalidArgument` saying why, and no request reaches the simulator; no reference
//! shows a credential when decoded.

use base64::Engine;
use callconnect::{CallOptions, Client, ErrorKind};
use callconnect_sim::{Config, Simulator};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

struct Carrier {
    name: &'static str,
    /// The DSN of account `user` (its secret derived from it).
    dsn: fn(port: u16, user: &str) -> String,
}

const CARRIERS: &[Carrier] = &[
    Carrier {
        name: "42call",
        dsn: |port, u| {
            format!(
                "42call://{u}:secret-{u}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000"
            )
        },
    },
    Carrier {
        name: "connectcall",
        dsn: |port, u| {
            format!("connectcall://{u}:secret-{u}@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=3000")
        },
    },
    Carrier {
        name: "voipnow",
        dsn: |port, u| {
            format!("voipnow://{u}:secret-{u}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000&extension=210")
        },
    },
    Carrier {
        name: "poketalk",
        dsn: |port, u| {
            format!("poketalk://{u}-key@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=3000&event_secret=event-secret-{u}-0123456789&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev")
        },
    },
];

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 60_000,
        ..Default::default()
    })
    .unwrap()
}

fn body_json(reference: &str) -> serde_json::Value {
    let body = reference
        .strip_prefix("cc2.")
        .unwrap()
        .rsplit_once('.')
        .unwrap()
        .0;
    serde_json::from_slice(&B64.decode(body).unwrap()).unwrap()
}

/// The same reference with its JSON changed and its signature kept.
fn altered(reference: &str, change: impl Fn(&mut serde_json::Value)) -> String {
    let mut json = body_json(reference);
    change(&mut json);
    let tag = reference.rsplit_once('.').unwrap().1;
    format!("cc2.{}.{tag}", B64.encode(json.to_string()))
}

fn refused(client: &Client, sim: &Simulator, reference: &str, why: &str, name: &str) {
    let before = sim.requests();
    let e = client.attach(reference).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}: {e}");
    assert!(e.message().contains(why), "{name}: {why}: {}", e.message());
    assert_eq!(sim.requests(), before, "{name}: a request went out");
}

#[test]
fn every_carrier_signs_its_references_and_refuses_any_other() {
    let sim = sim();
    for c in CARRIERS {
        let name = c.name;
        let dsn = (c.dsn)(sim.port(), "test-refs");
        let owner = Client::new(&dsn).unwrap();
        let call = owner
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
        assert!(r.starts_with("cc2."), "{name}: {r}");

        // The same account in another client (another process in effect) attaches.
        let same = Client::new(&dsn).unwrap();
        let again = same.attach(&r).unwrap();
        assert_eq!(again.id(), call.id(), "{name}");
        assert_eq!(again.correlation(), Some("booth-7"));
        again.poll().unwrap_or_else(|e| panic!("{name}: {e}"));

        // Another account of the same carrier cannot.
        let other = Client::new(&(c.dsn)(sim.port(), "test-refs-other")).unwrap();
        refused(&other, &sim, &r, "another account", name);

        // Altered: every field the host could be tempted to change.
        for (field, value) in [
            (
                "id",
                serde_json::json!("4AF46744-C346-44FF-80E3-33D89FBE963B"),
            ),
            ("started_ms", serde_json::json!(0)),
            ("limit_s", serde_json::json!(1)),
            ("correlation", serde_json::json!("booth-8")),
        ] {
            let forged = altered(&r, |j| j[field] = value.clone());
            refused(&same, &sim, &forged, "altered", name);
        }
        // One character anywhere.
        let mid = r.len() / 2;
        let mut flipped = r.clone().into_bytes();
        flipped[mid] = if flipped[mid] == b'x' { b'y' } else { b'x' };
        refused(
            &same,
            &sim,
            &String::from_utf8(flipped).unwrap(),
            "refused call reference",
            name,
        );
        // Truncated.
        refused(&same, &sim, &r[..r.len() - 3], "truncated", name);
        refused(&same, &sim, &r[..r.len() / 2], "refused", name);
        // Unsigned, as the old format was: anyone could write one naming any call.
        let unsigned = format!(
            "cc1.{}",
            B64.encode(
                serde_json::json!({"v": 1, "carrier": name, "id": call.id(),
                    "started_ms": 1_700_000_000_000i64, "limit_s": 600})
                .to_string()
            )
        );
        refused(&same, &sim, &unsigned, "unsigned", name);

        // What a decoded reference shows: no password, key, event secret or GUID.
        let shown = body_json(&r).to_string();
        for secret in ["secret-test-refs", "test-refs-key", "event-secret"] {
            assert!(!shown.contains(secret), "{name}: {shown}");
        }
        if name == "connectcall" {
            let session: serde_json::Value = serde_json::from_str(
                &ureq::get(format!(
                    "http://127.0.0.1:{}/_sim/connectcall/session?login=test-refs",
                    sim.port()
                ))
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap(),
            )
            .unwrap();
            let guid = session["guid"].as_str().unwrap();
            assert!(!guid.is_empty());
            assert!(!r.contains(guid) && !shown.contains(guid), "{shown}");
        }
        owner.close();
        same.close();
        other.close();
    }
}

#[test]
fn a_reference_of_another_carrier_or_host_is_refused() {
    let sim = sim();
    let a = Client::new(&(CARRIERS[0].dsn)(sim.port(), "test-refs-host")).unwrap();
    let call = a
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let r = call.reference();
    // The same user and secret at another host is another account.
    let moved = Client::new(&format!(
        "42call://test-refs-host:secret-test-refs-host@localhost:{}?tls=0",
        sim.port()
    ))
    .unwrap();
    refused(&moved, &sim, &r, "another account", "host");
    let pt = Client::new(&(CARRIERS[3].dsn)(sim.port(), "test-refs-host")).unwrap();
    refused(&pt, &sim, &r, "another account", "carrier");
}

/// A reference holds how long its call may last, so that any process holding it knows
/// when to stop expecting the call's end: the host's limits, or the defaults (2 minutes
/// of ringing, 4 hours of talk), plus the margin.
#[test]
fn a_reference_holds_how_long_its_call_may_last() {
    let sim = sim();
    let margin = u64::from(callconnect::EXPIRY_MARGIN_S);
    for c in CARRIERS {
        let client = Client::new(&(c.dsn)(sim.port(), "test-refs-limits")).unwrap();
        let call = client
            .start_call("0171 1234567", "030 1234567", &CallOptions::default())
            .unwrap();
        assert_eq!(
            body_json(&call.reference())["limit_s"],
            120 + 4 * 3600 + margin,
            "{}: the defaults",
            c.name
        );
    }
    // VoipNow takes both limits (its pc_timeout and pc_duration).
    let voipnow = &CARRIERS[2];
    let client = Client::new(&(voipnow.dsn)(sim.port(), "test-refs-limits")).unwrap();
    let call = client
        .start_call(
            "0171 1234567",
            "030 1234567",
            &CallOptions {
                wait_for_pickup_s: Some(30),
                max_duration_s: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(body_json(&call.reference())["limit_s"], 30 + 60 + margin);
}
