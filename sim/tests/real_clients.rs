//! The request shapes the carriers' own public clients send, written here as raw HTTP
//! from what those clients are documented to send (never through callconnect), so that
//! the simulator keeps accepting them the way the real services do:
//!
//! - 42call: 42com's PHP sample for REST v2 (mitchobrian/api.rest.v2.42com) and its SMS
//!   web app (mitchobrian/42call-sms), whose x-date is `new Date().toISOString()`;
//!   the web-callback document's `stopcallback` with `callerId`; `cdr-callshop` asked
//!   with `date('d.m.Y')` as the PHP sample does.
//! - VoipNow: 4PSA's current client (4psa/mcp-voipnow) ends every path with `/` and
//!   puts `nonce` on the PhoneCall beside `extension`; the UAPI document's examples send
//!   no nonce; an HTTP client may send its target in absolute form.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use callconnect_sim::{call42::md5_hex, Config, Simulator};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 2000,
        ..Default::default()
    })
    .unwrap()
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one raw HTTP/1.1 request (`Connection: close`) and reads the whole reply.
fn raw(sim: &Simulator, request_line: &str, headers: &[(&str, String)], body: &str) -> Reply {
    let mut s = TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = format!("{request_line} HTTP/1.1\r\nHost: {}\r\n", sim.addr());
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(text.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").expect("a reply with headers");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply { status, body }
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        b = &rest[n + 2..];
    }
    out
}

// ---- 42call ----

fn civil(secs: u64) -> (i64, i64, i64, u64) {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d, secs % 86_400)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// JavaScript's `new Date().toISOString()`: `2026-11-26T10:00:00.000Z`.
fn iso_x_date() -> String {
    let (y, m, d, t) = civil(now_secs());
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// PHP's `$xDate->format('Y-m-d H:i:s.u T')` of a UTC DateTime.
fn php_x_date() -> String {
    let (y, m, d, t) = civil(now_secs());
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.000000 GMT+0000",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// `base64_encode(hash_hmac('sha1', md5($password) . "\n" . $xDate, md5($password), true))`
fn signed(user: &str, x_date: &str) -> Vec<(&'static str, String)> {
    let key = md5_hex(&format!("secret-{user}"));
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{key}\n{x_date}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("x-date", x_date.to_string()),
        ("x-authorization", format!("{user}:{sig}")),
    ]
}

fn form_headers(user: &str, x_date: &str) -> Vec<(&'static str, String)> {
    let mut h = signed(user, x_date);
    h.push((
        "Content-Type",
        "application/x-www-form-urlencoded; charset=UTF-8".into(),
    ));
    h
}

fn trycallback(sim: &Simulator, user: &str, x_date: &str) -> Reply {
    raw(
        sim,
        "POST /api/rest/v2/?webcallback",
        &form_headers(user, x_date),
        "act=trycallback&aNumber=0302434299&bNumber=0302434298",
    )
}

#[test]
fn call42_iso_8601_x_date_is_taken() {
    let sim = sim();
    let r = trycallback(&sim, "test-rc-iso", &iso_x_date());
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], false, "{v}");
    assert!(v["body"]["callId"].as_str().is_some_and(|s| !s.is_empty()));
    // The signature still matters in that form.
    let mut bad = form_headers("test-rc-iso", &iso_x_date());
    bad[1].1.push('x');
    let r = raw(
        &sim,
        "POST /api/rest/v2/?webcallback",
        &bad,
        "act=trycallback&aNumber=0302434299&bNumber=0302434298",
    );
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn call42_stopcallback_names_the_call_by_caller_id() {
    let sim = sim();
    let user = "test-rc-stop";
    let started = trycallback(&sim, user, &php_x_date()).json();
    let id = started["body"]["callId"].as_str().unwrap().to_string();
    let r = raw(
        &sim,
        "POST /api/rest/v2/?webcallback",
        &form_headers(user, &php_x_date()),
        &format!("act=stopcallback&callerId={id}"),
    );
    let v = r.json();
    assert_eq!(v["error"], false, "{v}");
    assert_eq!(v["codes"][0]["code"], 200, "{v}");
    let stage: Value = serde_json::from_str(
        &raw(
            &sim,
            &format!("GET /_sim/42call/call?user={user}&id={id}"),
            &[],
            "",
        )
        .body,
    )
    .unwrap();
    assert_eq!(stage["stage"], "hung_up", "{stage}");
}

#[test]
fn call42_callshop_records_asked_with_dotted_dates() {
    let sim = sim();
    let (y, m, d, _) = civil(now_secs());
    let day = format!("{d:02}.{m:02}.{y:04}");
    let r = raw(
        &sim,
        &format!("GET /api/rest/v2/?cdr-callshop&from={day}&to={day}"),
        &signed("test-rc-shop", &php_x_date()),
        "",
    );
    let v = r.json();
    assert_eq!(v["error"], false, "{v}");
    // The document's own form keeps working.
    let day = format!("{y:04}-{m:02}-{d:02}");
    let v = raw(
        &sim,
        &format!("GET /api/rest/v2/?cdr-callshop&from={day}&to={day}&show=2"),
        &signed("test-rc-shop", &php_x_date()),
        "",
    )
    .json();
    assert_eq!(v["error"], false, "{v}");
}

// ---- VoipNow ----

fn token(sim: &Simulator, app: &str, request_line: &str) -> Reply {
    // 4psa/uapi-example-python 01_req_token.py and mcp-voipnow token/utils.ts: a form
    // with the client credentials, `type=unifiedapi` and a redirect_uri.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app)
        .append_pair("client_secret", &format!("secret-{app}"))
        .append_pair("type", "unifiedapi")
        .append_pair(
            "redirect_uri",
            &format!("http://{}/ouath/token.php", sim.addr()),
        )
        .finish();
    raw(
        sim,
        request_line,
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        )],
        &body,
    )
}

fn bearer(sim: &Simulator, app: &str) -> Vec<(&'static str, String)> {
    let t = token(sim, app, "POST /oauth/token.php").json();
    vec![
        (
            "Authorization",
            format!("Bearer {}", t["access_token"].as_str().unwrap()),
        ),
        ("Content-Type", "application/json".into()),
        ("Accept", "application/json".into()),
    ]
}

fn create(sim: &Simulator, app: &str, path: &str, payload: &Value) -> Reply {
    raw(
        sim,
        &format!("POST {path}"),
        &bearer(sim, app),
        &payload.to_string(),
    )
}

fn placed_id(r: &Reply) -> String {
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()[0]["id"].as_str().unwrap().to_string()
}

fn calls_placed(sim: &Simulator, app: &str) -> u64 {
    let v: Value = serde_json::from_str(
        &raw(sim, &format!("GET /_sim/voipnow/client?id={app}"), &[], "").body,
    )
    .unwrap();
    v["calls_placed"].as_u64().unwrap()
}

fn view() -> Value {
    json!([{"source": ["5354353"], "destination": ["3235742879"], "callerId": "John Doe <4242425>"}])
}

#[test]
fn voipnow_create_with_a_trailing_slash() {
    let sim = sim();
    let r = create(
        &sim,
        "test-rc-slash",
        "/uapi/phoneCalls/@me/simple/",
        &json!({"extension": "210", "phoneCallView": view(), "nonce": "130c5a97768be67df6543b5f5fa3cc51"}),
    );
    placed_id(&r);
    assert_eq!(calls_placed(&sim, "test-rc-slash"), 1);
}

#[test]
fn voipnow_nonce_at_the_phone_call_level_is_read_there() {
    let sim = sim();
    let app = "test-rc-nonce";
    let nonce = "130c5a97768be67df6543b5f5fa3cc51";
    let r = create(
        &sim,
        app,
        "/uapi/phoneCalls/@me/simple",
        &json!({"extension": "210", "phoneCallView": view(), "nonce": nonce}),
    );
    let id = placed_id(&r);
    // The PhoneCall, listed live, carries the nonce it was created with.
    let list = raw(
        &sim,
        "GET /uapi/phoneCalls/@me/210/",
        &bearer(&sim, app),
        "",
    )
    .json();
    let entry = list["entry"].as_array().unwrap();
    let pc = entry.iter().find(|pc| pc["id"] == id.as_str()).unwrap();
    assert_eq!(pc["nonce"], nonce, "{list}");
}

#[test]
fn voipnow_create_without_any_nonce() {
    let sim = sim();
    // The document's own example payload, as it is.
    let r = create(
        &sim,
        "test-rc-none",
        "/uapi/phoneCalls/@me/simple",
        &json!({"extension": "210", "phoneCallView": view()}),
    );
    placed_id(&r);
    assert_eq!(calls_placed(&sim, "test-rc-none"), 1);
}

#[test]
fn voipnow_token_request_in_absolute_form() {
    let sim = sim();
    let r = token(
        &sim,
        "test-rc-abs",
        &format!("POST http://{}/oauth/token.php", sim.addr()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}

#[test]
fn voipnow_a_repeated_nonce_places_a_second_call() {
    let sim = sim();
    let app = "test-rc-repeat";
    let payload = json!({"extension": "210", "phoneCallView": view(), "nonce": "5b0f00aa5b0f00aa"});
    let first = placed_id(&create(&sim, app, "/uapi/phoneCalls/@me/simple", &payload));
    let second = placed_id(&create(&sim, app, "/uapi/phoneCalls/@me/simple", &payload));
    assert_ne!(first, second);
    assert_eq!(calls_placed(&sim, app), 2);
    // With the switch on, the simulator plays a server that does de-duplicate.
    let on = raw(
        &sim,
        &format!("GET /_sim/voipnow/dedup?client={app}&on=1"),
        &[],
        "",
    );
    assert_eq!(on.body, "ok");
    let third = placed_id(&create(&sim, app, "/uapi/phoneCalls/@me/simple", &payload));
    assert_eq!(third, first);
    assert_eq!(calls_placed(&sim, app), 2);
}
