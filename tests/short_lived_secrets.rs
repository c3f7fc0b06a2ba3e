//! Secrets that exist only for a while never show, in a log line at DEBUG or in an error,
//! even when a carrier echoes them: Connect Call's session GUID (from a login and from an
//! attached reference), 42call's x-authorization value, PokeTALK's per-call event token
//! and VoipNow's OAuth access token. Each is registered the moment it exists.
//! (One test: the logger is global to the process.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use callconnect::log::{self, Level};
use callconnect::{CallOptions, Client, Error};
use callconnect_sim::{Config, SimResponse, Simulator};
use hmac::{KeyInit, Mac};

fn get(sim: &Simulator, path: &str) -> serde_json::Value {
    let text = ureq::get(format!("http://127.0.0.1:{}{path}", sim.port()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ]
}

fn assert_hidden(what: &str, secret: &str, lines: &[String], errors: &[&Error]) {
    assert!(!secret.is_empty(), "{what}: no value to look for");
    for form in forms(secret) {
        for line in lines {
            assert!(!line.contains(&form), "{what} shown in a log line: {line}");
        }
        for e in errors {
            assert!(
                !e.to_string().contains(&form),
                "{what} shown in an error: {e}"
            );
        }
    }
}

/// 42call's x-date for a time (`2014-02-20 18:56:08.000000 GMT+0000`).
fn x_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.000000 GMT+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// 42call's x-authorization signature for a password and an x-date.
fn signature(password: &str, x_date: &str) -> String {
    let key = callconnect_sim::call42::md5_hex(password);
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(key.as_bytes());
    mac.update(b"\n");
    mac.update(x_date.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn short_lived_secrets_never_show() {
    let sim = Simulator::start(Config {
        step_ms: 60_000,
        ..Default::default()
    })
    .unwrap();
    let port = sim.port();
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    log::set_logger(
        Some(Level::Debug),
        Box::new(move |_, m| sink.lock().unwrap().push(m.to_string())),
    )
    .unwrap();
    let seen = || lines.lock().unwrap().clone();

    // Connect Call: the GUID of a login, then of an attached reference, echoed back.
    let cc_dsn = format!(
        "connectcall://test-sls:secret-test-sls@127.0.0.1:{port}/api/?tls=0&default_country=49&timeout_ms=2000"
    );
    let cc = Client::new(&cc_dsn).unwrap();
    let call = cc
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let guid = get(&sim, "/_sim/connectcall/session?login=test-sls")["guid"]
        .as_str()
        .unwrap()
        .to_string();
    call.poll().unwrap();
    let echo = SimResponse::text(500, &format!("refused request guid={guid}&cmd=getStatus"));
    sim.arm_reply("connectcall.aspx", 3, echo.clone());
    let e1 = call.poll().unwrap_err();
    let other = Client::new(&cc_dsn).unwrap();
    let attached = other.attach(&call.reference()).unwrap();
    sim.arm_reply("connectcall.aspx", 3, echo);
    let e2 = attached.poll().unwrap_err();
    sim.clear_faults();
    assert!(
        seen()
            .iter()
            .any(|l| l.contains("refused request guid=***")),
        "the echo is logged, blanked"
    );
    assert_hidden("the session GUID", &guid, &seen(), &[&e1, &e2]);
    call.hangup().unwrap();

    // 42call: the x-authorization value, echoed back in an error.
    let password = "secret-test-sls";
    let now = SystemTime::now();
    let candidates: Vec<String> = (-5i64..=5)
        .map(|s| {
            let t = if s < 0 {
                now - Duration::from_secs(s.unsigned_abs())
            } else {
                now + Duration::from_secs(s as u64)
            };
            format!("test-sls:{}", signature(password, &x_date(t)))
        })
        .collect();
    sim.arm_reply(
        "?webcallback",
        1,
        SimResponse::json(
            200,
            &serde_json::json!({"error": true, "codes": [{"code": 1099,
                "description": format!("bad request, x-authorization was one of {}", candidates.join(" "))}],
                "body": []}),
        ),
    );
    let c42 = Client::new(&format!(
        "42call://test-sls:{password}@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=2000"
    ))
    .unwrap();
    let before = seen().len();
    let e3 = c42
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap_err();
    sim.clear_faults();
    let sent: Vec<String> = seen()[before..]
        .iter()
        .flat_map(|l| {
            l.match_indices("x-date: ")
                .map(|(i, m)| {
                    let rest = &l[i + m.len()..];
                    rest[..rest.find([',', ']']).unwrap_or(rest.len())].to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!sent.is_empty(), "no x-date logged");
    for d in &sent {
        let value = format!("test-sls:{}", signature(password, d));
        assert!(candidates.contains(&value), "the echo holds what was sent");
        assert_hidden("x-authorization", &value, &seen(), &[&e3]);
    }

    // PokeTALK: the call's event token.
    let pt = Client::new(&format!(
        "poketalk://test-sls-key@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=2000&event_secret=event-secret-test-sls-0123456789&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fev"
    ))
    .unwrap();
    let pcall = pt
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let eventurl = get(&sim, &format!("/_sim/poketalk/call?custom={}", pcall.id()))["eventurl"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url::Url::parse(&eventurl.replace(['{', '}'], ""))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cc_tok")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_hidden("the event token", &token, &seen(), &[]);

    // VoipNow: the OAuth access token (read from its cache file), echoed back.
    let dir = std::env::temp_dir().join(format!("cc-sls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = dir.join("token.json");
    let vn = Client::new(&format!(
        "voipnow://test-sls:secret-test-sls@127.0.0.1:{port}?tls=0&default_country=49&timeout_ms=2000&extension=210&token_cache={}",
        cache.display()
    ))
    .unwrap();
    let vcall = vn
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let cached: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let access = cached["access_token"].as_str().unwrap().to_string();
    sim.arm_reply(
        "/uapi/phoneCalls/",
        3,
        SimResponse::text(500, &format!("refused: Authorization: Bearer {access}")),
    );
    let e4 = vcall.poll().unwrap_err();
    sim.clear_faults();
    assert!(
        seen().iter().any(|l| l.contains("Bearer ***")),
        "the echo is logged, blanked"
    );
    assert_hidden("the OAuth token", &access, &seen(), &[&e4]);
    let _ = std::fs::remove_dir_all(&dir);

    log::remove_logger().unwrap();
}
