//! `callconnect check`: the field check of a real carrier account.
//!
//! It sends only harmless requests (authenticate, read the balance, prices and records,
//! fetch a token and read the status of a call that does not exist, log in and out);
//! one real call only when asked with `--call`. The library's log sink is installed at
//! DEBUG, so every exchange is in the transcript, already redacted by the library; the
//! check then makes sure that no secret of the DSN is in it in any form. From what the
//! exchanges showed it answers the open questions about each carrier (the ones that
//! only the real service can settle): confirmed, not confirmed, or contradicted.
//!
//! The output is meant to be attached to a bug report as it is.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use callconnect::{
    remove_logger, set_logger, Call, CallOptions, CallState, CallStatus, Capabilities, Client,
    Error, Level, RecordSource,
};
use serde_json::{json, Value};

use crate::codes::{self, Failure};
use crate::out::Out;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Place one real call, ringing this number first (leg A). Without it nothing is
    /// placed.
    #[arg(long, value_name = "NUMBER")]
    call: Option<String>,
    /// Leg B of that call (default: the --call number).
    #[arg(long, value_name = "NUMBER", requires = "call")]
    call_to: Option<String>,
    /// A number to price and check (harmless reads).
    #[arg(long, value_name = "NUMBER", default_value = "+49 30 12345678")]
    number: String,
    /// With --call: hang up once connected, or after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "S")]
    call_seconds: u64,
    /// With --call: how long to wait for the carrier to confirm the end.
    #[arg(long, default_value_t = 120, value_name = "S")]
    hangup_wait: u64,
    /// How often to ask for a call's status, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Confirmed,
    NotConfirmed,
    Contradicted,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::NotConfirmed => "not confirmed",
            Verdict::Contradicted => "contradicted",
        }
    }
}

struct Finding {
    question: String,
    verdict: Verdict,
    detail: String,
}

/// One HTTP exchange read back from the DEBUG log.
#[derive(Debug, Clone, Default)]
struct Exchange {
    method: String,
    url: String,
    /// The request line after the URL (headers, body), as logged.
    request: String,
    status: Option<u16>,
    reply: String,
}

struct Step {
    name: String,
    outcome: Result<String, Failure>,
    lines: Vec<(Level, String)>,
}

type Lines = Arc<Mutex<Vec<(Level, String)>>>;

struct Check {
    lines: Lines,
    steps: Vec<Step>,
    findings: Vec<Finding>,
}

impl Check {
    fn taken(&self) -> usize {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn since(&self, from: usize) -> Vec<(Level, String)> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())[from..].to_vec()
    }

    /// Runs one step; returns its result and the exchanges it made.
    fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<T, Error>,
        summary: impl FnOnce(&T) -> String,
    ) -> (Result<T, Failure>, Vec<Exchange>) {
        let from = self.taken();
        let result = f().map_err(Failure::from);
        let lines = self.since(from);
        let exchanges = exchanges(&lines);
        self.steps.push(Step {
            name: name.to_string(),
            outcome: match &result {
                Ok(v) => Ok(summary(v)),
                Err(e) => Err(e.clone()),
            },
            lines,
        });
        (result, exchanges)
    }

    fn find(&mut self, question: &str, verdict: Verdict, detail: impl Into<String>) {
        self.findings.push(Finding {
            question: question.to_string(),
            verdict,
            detail: detail.into(),
        });
    }
}

/// Reads the exchanges out of log lines: `-> METHOD URL ...` and the `<- HTTP N ...`
/// that follows it.
fn exchanges(lines: &[(Level, String)]) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for (level, line) in lines {
        if *level != Level::Debug {
            continue;
        }
        if let Some(rest) = line.strip_prefix("-> ") {
            let mut parts = rest.splitn(3, ' ');
            out.push(Exchange {
                method: parts.next().unwrap_or_default().to_string(),
                url: parts.next().unwrap_or_default().to_string(),
                request: parts.next().unwrap_or_default().to_string(),
                ..Default::default()
            });
        } else if let Some(rest) = line.strip_prefix("<- HTTP ") {
            if let Some(x) = out.last_mut().filter(|x| x.status.is_none()) {
                let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                x.status = status.parse().ok();
                // `in N ms [content type] body`
                let rest = rest.split_once(" ms").map_or("", |(_, r)| r).trim_start();
                let body = match rest.strip_prefix('[') {
                    Some(r) => r.split_once(']').map_or("", |(_, b)| b),
                    None => rest,
                };
                x.reply = body.trim().to_string();
            }
        }
    }
    out
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Now as `YYYY-MM-DD HH:MM:SS UTC`.
fn now_utc() -> String {
    let secs = unix_ms() / 1000;
    let t = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        today(),
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// Today (UTC) as `YYYY-MM-DD` (civil from days, H. Hinnant).
fn today() -> String {
    let days = (unix_ms() / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn run(dsn: &str, args: &Args, out: &Out) -> Result<i32, Failure> {
    let lines: Lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    set_logger(
        Some(Level::Debug),
        Box::new(move |level, line| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((level, line.to_string()));
        }),
    )?;
    let mut check = Check {
        lines,
        steps: Vec::new(),
        findings: Vec::new(),
    };
    let (client, _) = check.step(
        "make the client from the DSN (nothing sent)",
        || Client::new(dsn),
        |c: &Client| format!("carrier {}", c.carrier()),
    );
    let mut carrier = String::from("?");
    let mut capabilities = Vec::new();
    if let Ok(client) = &client {
        carrier = client.carrier().to_string();
        capabilities = codes::capability_names(client.capabilities());
        match client.carrier() {
            "42call" => check_42call(&mut check, client, args),
            "voipnow" => check_voipnow(&mut check, client, args),
            "connectcall" => check_connectcall(&mut check, client, args),
            "poketalk" => check_poketalk(&mut check, client, args),
            other => check.find(
                "carrier",
                Verdict::NotConfirmed,
                format!("the check has no questions for {other}"),
            ),
        }
        let from = check.taken();
        client.close();
        let lines = check.since(from);
        if !lines.is_empty() {
            let closing = exchanges(&lines);
            if carrier == "connectcall" {
                logout_finding(&mut check, &closing);
            }
            check.steps.push(Step {
                name: "close the client (log out where the carrier has sessions)".into(),
                outcome: Ok(String::new()),
                lines,
            });
        }
    }
    let _ = remove_logger();
    let leaked = scrub(&mut check, &crate::dsn::secrets(dsn));
    if leaked {
        check.find(
            "the library's log holds no secret",
            Verdict::Contradicted,
            "a secret of the DSN appeared in the library's log; it is blanked in this report. Please report this.",
        );
    }
    // Secrets of the session rather than of the DSN: a Connect Call session GUID (it
    // stands for the login) and PokeTALK's per-call event tokens.
    let (guids, tokens) = session_secrets(&check);
    let guid_leaked = scrub(&mut check, &guids);
    scrub(&mut check, &tokens);
    if guid_leaked {
        check.find(
            "the library's log holds no session GUID",
            Verdict::Contradicted,
            "the Connect Call session GUID is written in the library's log (the login reply and every `guid=`); it is blanked in this report",
        );
    }
    report(
        &check,
        &carrier,
        &capabilities,
        dsn,
        leaked || guid_leaked,
        out,
    );
    // The exit code: the first step that failed, or 0.
    Ok(check
        .steps
        .iter()
        .find_map(|s| s.outcome.as_ref().err().map(Failure::code))
        .unwrap_or(0))
}

/// The session GUIDs (`guid=` in a URL, the message of a `103` login reply) and event
/// tokens (`cc_tok=`) in the transcript.
fn session_secrets(check: &Check) -> (Vec<String>, Vec<String>) {
    let value_after = |line: &str, key: &str| -> Vec<String> {
        line.match_indices(key)
            .map(|(i, _)| {
                line[i + key.len()..]
                    .split(['&', ' ', '"', '\\', ']'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .filter(|v| v.len() >= 4)
            .collect()
    };
    let mut guids = Vec::new();
    let mut tokens = Vec::new();
    for step in &check.steps {
        for (_, line) in &step.lines {
            guids.extend(value_after(line, "guid="));
            if xml_code(line).as_deref() == Some("103") {
                if let Some(start) = line.find("<message>") {
                    let rest = &line[start + "<message>".len()..];
                    if let Some(end) = rest.find("</message>") {
                        guids.push(rest[..end].trim().to_string());
                    }
                }
            }
            tokens.extend(value_after(line, "cc_tok="));
        }
    }
    guids.retain(|g| g.len() >= 4 && g != "***");
    guids.sort();
    guids.dedup();
    tokens.sort();
    tokens.dedup();
    (guids, tokens)
}

/// Every form a secret may be written in.
fn forms(secret: &str) -> Vec<String> {
    let mut v = vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    v.sort();
    v.dedup();
    v
}

/// Blanks any secret of the DSN left in the report; true if there was one.
fn scrub(check: &mut Check, secrets: &[String]) -> bool {
    let all: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
    let mut leaked = false;
    let mut clean = |text: &mut String| {
        for s in &all {
            if text.contains(s.as_str()) {
                *text = text.replace(s.as_str(), "***");
                leaked = true;
            }
        }
    };
    for step in &mut check.steps {
        for (_, line) in &mut step.lines {
            clean(line);
        }
        match &mut step.outcome {
            Ok(s) => clean(s),
            Err(f) => clean(&mut f.message),
        }
    }
    for f in &mut check.findings {
        clean(&mut f.detail);
    }
    leaked
}

fn report(check: &Check, carrier: &str, capabilities: &[&str], dsn: &str, leaked: bool, out: &Out) {
    let redacted = crate::dsn::redact(dsn);
    if out.json {
        let steps: Vec<Value> = check
            .steps
            .iter()
            .map(|s| {
                json!({
                    "step": s.name,
                    "ok": s.outcome.is_ok(),
                    "result": s.outcome.as_ref().ok(),
                    "error": s.outcome.as_ref().err().map(|f| f.json()["error"].clone()),
                    "transcript": s.lines.iter().map(|(l, t)| format!("{} {t}", l.name())).collect::<Vec<_>>(),
                })
            })
            .collect();
        let findings: Vec<Value> = check
            .findings
            .iter()
            .map(|f| json!({"question": f.question, "verdict": f.verdict.name(), "detail": f.detail}))
            .collect();
        out.line(
            &json!({
                "check": "callconnect field check",
                "version": env!("CARGO_PKG_VERSION"),
                "carrier": carrier,
                "dsn": redacted,
                "capabilities": capabilities,
                "steps": steps,
                "findings": findings,
                "secret_in_log": leaked,
            })
            .to_string(),
        );
        return;
    }
    out.line("callconnect field check");
    out.line(&format!(
        "version {} · carrier {carrier} · {}",
        env!("CARGO_PKG_VERSION"),
        now_utc()
    ));
    out.line(&format!("dsn {redacted}"));
    out.line(&format!("capabilities {}", capabilities.join(" ")));
    out.line("");
    out.line("== Transcript (the library's DEBUG log; secrets are blanked by the library)");
    for s in &check.steps {
        out.line(&format!("-- {}", s.name));
        for (level, line) in &s.lines {
            out.line(&format!("   {} {line}", level.name()));
        }
        match &s.outcome {
            Ok(summary) if summary.is_empty() => out.line("   ok"),
            Ok(summary) => out.line(&format!("   ok: {summary}")),
            Err(f) => out.line(&format!("   FAILED: {f}")),
        }
    }
    out.line("");
    out.line(&format!("== Findings ({carrier})"));
    for f in &check.findings {
        out.line(&format!(
            "{:<14} {}: {}",
            f.verdict.name(),
            f.question,
            f.detail
        ));
    }
    out.line("");
    out.line(if leaked {
        "== Secrets: a secret was in the library's log (blanked above; see the findings): please report"
    } else {
        "== Secrets: no secret of the DSN or the session appears in this report (checked in plain, URL-encoded and base64 forms)"
    });
}

// ---- 42call ----

fn check_42call(check: &mut Check, client: &Client, args: &Args) {
    let (account, xs) = check.step(
        "read the account and its balance (GET ?account)",
        || client.account(),
        |a| format!("balance {}", a.balance.display()),
    );
    const SIGNING: &str = "signing (key md5(password), message md5(password) LF x-date, HMAC-SHA1)";
    const XDATE: &str = "x-date as `YYYY-MM-DD HH:MM:SS.uuuuuu GMT+0000`, within 180 s";
    match &account {
        Ok(_) => {
            check.find(SIGNING, Verdict::Confirmed, "the carrier accepted a signed request");
            check.find(XDATE, Verdict::Confirmed, "the carrier accepted the date");
        }
        Err(f) if matches!(f.carrier_code.as_deref(), Some("1011" | "1012")) => {
            check.find(SIGNING, Verdict::NotConfirmed, "the date was refused first");
            check.find(
                XDATE,
                Verdict::Contradicted,
                format!("refused with code {} (clock skew or the date's form)", f.carrier_code.as_deref().unwrap_or("")),
            );
        }
        Err(f) if f.kind == callconnect::ErrorKind::Auth => check.find(
            SIGNING,
            Verdict::NotConfirmed,
            format!("credentials refused ({f}): a wrong password, or a signature the carrier does not accept"),
        ),
        Err(f) => check.find(SIGNING, Verdict::NotConfirmed, format!("no answer to judge by ({f})")),
    }
    envelope_finding(check, &xs);

    let number = args.number.clone();
    let (rates, xs) = check.step(
        &format!("price a number (GET ?rates, {number})"),
        || client.rates(&number),
        |r| {
            r.iter()
                .map(|r| match &r.price {
                    Some(p) => format!("{} {}", r.number, p.display()),
                    None => format!("{} no rate", r.number),
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    const RATES: &str = "rates take numbers in the 00 form and echo them so";
    let sent = xs.first().map(|x| x.url.clone()).unwrap_or_default();
    match &rates {
        Ok(r) if r.iter().all(|r| r.price.is_some()) => check.find(
            RATES,
            Verdict::Confirmed,
            format!("sent {sent}; the reply priced the number under the form sent"),
        ),
        Ok(_) => {
            let reply = xs.first().map(|x| x.reply.clone()).unwrap_or_default();
            if reply.contains("\"body\":[]") || reply.contains("\"body\":{}") || reply.is_empty() {
                check.find(
                    RATES,
                    Verdict::NotConfirmed,
                    "the carrier has no rate for the number: try another with --number",
                )
            } else {
                check.find(
                    RATES,
                    Verdict::Contradicted,
                    "the reply did not echo the number in the form sent (see the transcript)",
                )
            }
        }
        Err(f) => check.find(RATES, Verdict::NotConfirmed, format!("{f}")),
    }

    let day = today();
    let (cdrs, _) = check.step(
        &format!("read today's call records (GET ?cdrs, {day})"),
        || client.call_records(RecordSource::Cdrs, &day, None, Some(5)),
        |r| format!("{} records", r.len()),
    );
    const CDRS: &str = "cdrs take dates as DD.MM.YYYY";
    match &cdrs {
        Ok(r) => check.find(
            CDRS,
            Verdict::Confirmed,
            format!("accepted ({} records today)", r.len()),
        ),
        Err(f) => check.find(CDRS, Verdict::NotConfirmed, format!("{f}")),
    }
    let (shop, _) = check.step(
        &format!("read today's callshop records (GET ?cdr-callshop, {day})"),
        || client.call_records(RecordSource::Callshop, &day, None, Some(5)),
        |r| format!("{} records", r.len()),
    );
    const SHOP: &str =
        "cdr-callshop takes dates as YYYY-MM-DD (42com's PHP sample sends DD.MM.YYYY)";
    match &shop {
        Ok(r) => check.find(
            SHOP,
            Verdict::Confirmed,
            format!("accepted without error ({} records today; whether the dates filtered cannot be told from an empty day)", r.len()),
        ),
        Err(f) if f.kind == callconnect::ErrorKind::Provider => {
            check.find(SHOP, Verdict::Contradicted, format!("refused: {f}"))
        }
        Err(f) => check.find(SHOP, Verdict::NotConfirmed, format!("{f}")),
    }

    // No card of that number is an answer, not a failure of the check.
    let (card, xs) = check.step(
        &format!("look a calling card up (card module, act=show, {number})"),
        || match client.card_show(&number) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.kind() == callconnect::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
        |c| match c {
            Some(c) => format!("card {}, active {}", c.number, c.active),
            None => "no card of this number".to_string(),
        },
    );
    const CARD: &str = "the card module answers at /api/rest/v2/?mycard-v2 (the DSN's card_path)";
    let reply = xs.iter().find(|x| x.status.is_some());
    match (&card, reply) {
        (Ok(Some(_)), _) => check.find(CARD, Verdict::Confirmed, "it showed the card"),
        (Ok(None), Some(x)) => check.find(
            CARD,
            Verdict::Confirmed,
            format!(
                "HTTP {}: it knows no card of this number",
                x.status.unwrap_or(0)
            ),
        ),
        (Err(_), Some(x)) if x.status == Some(404) => check.find(
            CARD,
            Verdict::Contradicted,
            "HTTP 404: no card module at this path (ask 42com for it; set card_path)",
        ),
        (Ok(None), None) => check.find(CARD, Verdict::NotConfirmed, "no reply"),
        (Err(f), _) => check.find(CARD, Verdict::NotConfirmed, format!("{f}")),
    }

    if let Some(call) = placed_call(check, client, args) {
        const START: &str = "trycallback takes numbers in the 00 form";
        match &call.start {
            Ok(()) => check.find(START, Verdict::Confirmed, "the carrier placed the call"),
            Err(f) if f.kind == callconnect::ErrorKind::InvalidNumber => check.find(
                START,
                Verdict::NotConfirmed,
                format!("refused here before sending: {f}"),
            ),
            Err(f) if f.kind == callconnect::ErrorKind::Provider => {
                check.find(START, Verdict::Contradicted, format!("refused: {f}"))
            }
            Err(f) => check.find(START, Verdict::NotConfirmed, format!("{f}")),
        }
        const STOP: &str = "stopcallback names the call with callId";
        match &call.hangup {
            Some(Ok(())) => check.find(
                STOP,
                Verdict::Confirmed,
                "the carrier answered OK (did the phones stop ringing? say so in the report)",
            ),
            Some(Err(f)) if f.kind == callconnect::ErrorKind::Provider => {
                check.find(STOP, Verdict::Contradicted, format!("refused: {f}"))
            }
            Some(Err(f)) => check.find(STOP, Verdict::NotConfirmed, format!("{f}")),
            None => check.find(STOP, Verdict::NotConfirmed, "no call to hang up"),
        }
    }
}

/// 42call's reply envelope `{error, codes: [{code, description}], body}`.
fn envelope_finding(check: &mut Check, xs: &[Exchange]) {
    const Q: &str = "replies are `{error, codes: [{code, description}], body}`";
    let Some(x) = xs.iter().find(|x| x.status.is_some()) else {
        check.find(Q, Verdict::NotConfirmed, "no reply");
        return;
    };
    match serde_json::from_str::<Value>(&x.reply) {
        Ok(v)
            if v["codes"]
                .as_array()
                .is_some_and(|c| c.iter().all(|c| c.get("code").is_some())) =>
        {
            check.find(
                Q,
                Verdict::Confirmed,
                format!("HTTP {}", x.status.unwrap_or(0)),
            )
        }
        Ok(_) => check.find(
            Q,
            Verdict::Contradicted,
            "JSON without `codes` (see the transcript)",
        ),
        Err(_) => check.find(
            Q,
            Verdict::Contradicted,
            "the reply is not JSON (see the transcript)",
        ),
    }
}

// ---- VoipNow ----

fn check_voipnow(check: &mut Check, client: &Client, args: &Args) {
    // A harmless read that needs a token: the status of a PhoneCall id that cannot
    // exist. The Rust API reads a call's status only through a call, so the check makes
    // the reference `Client::attach` takes (the library's `cc1.` + base64url JSON record;
    // no public constructor exists for a call that was not placed). An unknown id is
    // answered 404, and the library then looks the call up in the call records (a read).
    let destination: String = args.number.chars().filter(|c| !c.is_whitespace()).collect();
    let probe_id = format!("callconnect-check-{:x}", unix_ms());
    let record = json!({
        "v": 1, "carrier": "voipnow", "id": probe_id,
        "started_ms": unix_ms() as i64, "limit_s": 600,
        "extra": {"b": destination},
    });
    let reference = format!(
        "cc1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(record.to_string())
    );
    let (probe, xs) = check.step(
        "fetch a token and read the status of a call id that does not exist (reads only)",
        || client.attach(&reference)?.poll(),
        |s: &CallStatus| crate::out::status_text(s),
    );
    token_findings(check, &xs, probe.as_ref().err());
    const STATUS: &str =
        "an unknown PhoneCall id: GET /uapi/phoneCalls/{user}/{ext}/{id} answers 404";
    match xs
        .iter()
        .find(|x| x.method == "GET" && x.url.contains("/uapi/phoneCalls/"))
    {
        Some(x) if x.status == Some(404) => {
            check.find(STATUS, Verdict::Confirmed, "404 (and the token was taken)")
        }
        Some(x) if x.status == Some(200) => check.find(
            STATUS,
            Verdict::Contradicted,
            "answered 200 (the reply's shape is in the transcript)",
        ),
        Some(x) => check.find(
            STATUS,
            Verdict::NotConfirmed,
            format!("HTTP {}", x.status.map_or("none".into(), |s| s.to_string())),
        ),
        None => check.find(STATUS, Verdict::NotConfirmed, "no status request was made"),
    }
    cdr_findings(check, &xs);
    if let Some(call) = placed_call(check, client, args) {
        const PLUS: &str = "numbers as E.164 with + pass the extension's dial plan";
        match &call.start {
            Ok(()) => check.find(PLUS, Verdict::Confirmed, "the carrier placed the call"),
            Err(f) => check.find(PLUS, Verdict::NotConfirmed, format!("{f}")),
        }
        // Where the nonce went, and why the check cannot tell whether the carrier used
        // it: that takes a second start with the same nonce, which could place a second
        // call.
        const NONCE: &str = "the carrier de-duplicates starts on their nonce";
        let start = call
            .exchanges
            .iter()
            .find(|x| x.method == "POST" && x.url.contains("/uapi/phoneCalls/"));
        let placement = start
            .and_then(|x| {
                let body = x.request.find('{').map(|i| &x.request[i..])?;
                serde_json::from_str::<Value>(body).ok()
            })
            .map(|v| {
                if v.get("nonce").is_some() {
                    "at the top level"
                } else if v["phoneCallView"][0].get("nonce").is_some() {
                    "in the first phoneCallView"
                } else {
                    "nowhere"
                }
            })
            .unwrap_or("(start request not in the log)");
        check.find(
            NONCE,
            Verdict::NotConfirmed,
            format!("the start carried its nonce {placement}; telling whether the carrier reads it would take a second start with the same nonce, which this check never sends"),
        );
        const ANSWERED: &str = "a live view's `answered` is a date (not a flag)";
        let seen: Vec<Value> = call
            .exchanges
            .iter()
            .filter(|x| x.method == "GET" && x.url.contains("/uapi/phoneCalls/"))
            .filter_map(|x| serde_json::from_str::<Value>(&x.reply).ok())
            .flat_map(|v| answered_values(&v))
            .collect();
        if seen.iter().any(Value::is_string) {
            check.find(
                ANSWERED,
                Verdict::Confirmed,
                format!(
                    "seen {}",
                    seen.iter().find(|v| v.is_string()).unwrap_or(&Value::Null)
                ),
            )
        } else if seen.iter().any(|v| v.is_boolean() || v.is_number()) {
            check.find(ANSWERED, Verdict::Contradicted, format!("seen {}", seen[0]))
        } else {
            check.find(
                ANSWERED,
                Verdict::NotConfirmed,
                "no live view carried `answered`",
            )
        }
        cdr_findings(check, &call.exchanges);
    }
}

fn answered_values(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "answered" && !x.is_null() {
                    out.push(x.clone());
                } else {
                    out.extend(answered_values(x));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| out.extend(answered_values(x))),
        _ => {}
    }
    out
}

fn token_findings(check: &mut Check, xs: &[Exchange], error: Option<&Failure>) {
    const TOKEN: &str =
        "token: POST /oauth/token.php, grant_type=client_credentials, type=unifiedapi";
    const REDIRECT: &str = "the token request needs no redirect_uri";
    const LIFETIME: &str = "token lifetime (expires_in)";
    let Some(x) = xs.iter().find(|x| x.url.contains("/oauth/token.php")) else {
        let why = error.map_or("no token request was made".to_string(), |f| f.to_string());
        check.find(TOKEN, Verdict::NotConfirmed, why);
        return;
    };
    match x.status {
        Some(200) => {
            check.find(TOKEN, Verdict::Confirmed, "HTTP 200");
            if x.request.contains("redirect_uri=") {
                check.find(
                    REDIRECT,
                    Verdict::NotConfirmed,
                    "the DSN sends redirect_uri: run again without it to learn whether it is needed",
                );
            } else {
                check.find(
                    REDIRECT,
                    Verdict::Confirmed,
                    "the token was issued without one",
                );
            }
            match serde_json::from_str::<Value>(&x.reply)
                .ok()
                .and_then(|v| v.get("expires_in").cloned())
            {
                Some(v) => check.find(LIFETIME, Verdict::Confirmed, format!("expires_in {v} s")),
                None => check.find(
                    LIFETIME,
                    Verdict::Contradicted,
                    "the reply has no expires_in",
                ),
            }
        }
        Some(s @ (400 | 401 | 403)) => {
            let hint = if x.request.contains("redirect_uri=") {
                ""
            } else {
                " (the request had no redirect_uri: add redirect_uri= to the DSN and run again to tell whether that is why)"
            };
            check.find(
                TOKEN,
                Verdict::NotConfirmed,
                format!("refused with HTTP {s}: wrong credentials or a missing field{hint}"),
            );
        }
        other => check.find(TOKEN, Verdict::NotConfirmed, format!("HTTP {other:?}")),
    }
}

fn cdr_findings(check: &mut Check, xs: &[Exchange]) {
    const CDR: &str = "GET /uapi/cdr/{user}?destination=&count= is served for this user";
    const SHAPE: &str = "call records come as `entry` keyed by id, with `phoneCallView`s holding disposition and duration (the wiki)";
    let Some(x) = xs.iter().rev().find(|x| x.url.contains("/uapi/cdr/")) else {
        return;
    };
    match x.status {
        Some(200) => check.find(CDR, Verdict::Confirmed, "HTTP 200"),
        Some(s) => {
            check.find(CDR, Verdict::Contradicted, format!("HTTP {s}"));
            return;
        }
        None => {
            check.find(CDR, Verdict::NotConfirmed, "no reply");
            return;
        }
    }
    let Ok(v) = serde_json::from_str::<Value>(&x.reply) else {
        check.find(SHAPE, Verdict::Contradicted, "the reply is not JSON");
        return;
    };
    match v.get("entry") {
        Some(Value::Object(m)) if !m.is_empty() => {
            let views = m
                .values()
                .all(|r| r.get("phoneCallView").is_some_and(Value::is_array));
            if views {
                check.find(
                    SHAPE,
                    Verdict::Confirmed,
                    format!("{} records keyed by id", m.len()),
                )
            } else {
                check.find(
                    SHAPE,
                    Verdict::Contradicted,
                    "records keyed by id, but without phoneCallView",
                )
            }
        }
        Some(Value::Array(a)) if !a.is_empty() => check.find(
            SHAPE,
            Verdict::Contradicted,
            format!(
                "`entry` is a list of {} records{}",
                a.len(),
                if a.iter().all(|r| r.get("disposition").is_some()) {
                    " with disposition on the record"
                } else {
                    ""
                }
            ),
        ),
        _ => check.find(
            SHAPE,
            Verdict::NotConfirmed,
            "no record to look at for this destination",
        ),
    }
}

// ---- Connect Call ----

fn check_connectcall(check: &mut Check, client: &Client, args: &Args) {
    let Some(call) = placed_call(check, client, args) else {
        check.find(
            "log in and out",
            Verdict::NotConfirmed,
            "Connect Call logs in with the first call (there is no login alone): nothing was sent; run with --call NUMBER",
        );
        return;
    };
    const LOGIN: &str = "the login places the first call and answers 103 with a session GUID";
    const XML: &str = "replies are `<response><code/><message/></response>`";
    const NUMBERS: &str = "numbers in the 00 form";
    let login = call
        .exchanges
        .iter()
        .find(|x| x.url.contains("login=") || x.url.contains("source="));
    match (&call.start, login) {
        (Ok(()), Some(x)) => {
            let code = xml_code(&x.reply);
            if code.as_deref() == Some("103") {
                check.find(
                    LOGIN,
                    Verdict::Confirmed,
                    "code 103 (the GUID is a secret: not shown)",
                )
            } else {
                check.find(LOGIN, Verdict::Contradicted, format!("code {code:?}"))
            }
            check.find(NUMBERS, Verdict::Confirmed, "the carrier placed the call");
        }
        (Err(f), _) => {
            check.find(LOGIN, Verdict::NotConfirmed, format!("{f}"));
            if f.kind == callconnect::ErrorKind::Provider {
                check.find(NUMBERS, Verdict::NotConfirmed, format!("refused: {f}"));
            }
        }
        (Ok(()), None) => check.find(LOGIN, Verdict::NotConfirmed, "no login request in the log"),
    }
    let replies: Vec<&Exchange> = call
        .exchanges
        .iter()
        .filter(|x| x.status.is_some())
        .collect();
    if replies.is_empty() {
        check.find(XML, Verdict::NotConfirmed, "no reply");
    } else if replies.iter().all(|x| xml_code(&x.reply).is_some()) {
        check.find(
            XML,
            Verdict::Confirmed,
            format!("{} replies", replies.len()),
        );
    } else {
        check.find(
            XML,
            Verdict::Contradicted,
            "a reply without <code> (see the transcript)",
        );
    }
    let mut codes: Vec<String> = call
        .exchanges
        .iter()
        .filter(|x| x.url.contains("getStatus"))
        .filter_map(|x| xml_code(&x.reply))
        .collect();
    codes.dedup();
    if !codes.is_empty() {
        const KNOWN: &[&str] = &[
            "3", "4", "5", "7", "9", "10", "11", "12", "16", "24", "25", "26", "27", "28", "29",
            "30", "31", "32", "33",
        ];
        let unknown: Vec<&String> = codes
            .iter()
            .filter(|c| !KNOWN.contains(&c.as_str()))
            .collect();
        let q = "getStatus answers only the documented codes";
        if unknown.is_empty() {
            check.find(
                q,
                Verdict::Confirmed,
                format!("seen in order: {}", codes.join(", ")),
            );
        } else {
            check.find(
                q,
                Verdict::Contradicted,
                format!(
                    "seen in order: {}; not in the document: {unknown:?}",
                    codes.join(", ")
                ),
            );
        }
    }
    const HANGUP: &str = "hangUp answers 100";
    match call.exchanges.iter().find(|x| x.url.contains("hangUp")) {
        Some(x) if xml_code(&x.reply).as_deref() == Some("100") => {
            check.find(HANGUP, Verdict::Confirmed, "code 100")
        }
        Some(x) => check.find(
            HANGUP,
            Verdict::Contradicted,
            format!("code {:?}", xml_code(&x.reply)),
        ),
        None => check.find(
            HANGUP,
            Verdict::NotConfirmed,
            "the call ended before a hang-up was needed",
        ),
    }
    if let Some(after) = &call.after_end {
        let q = "getStatus after the end keeps the final code";
        match after {
            Ok(code)
                if [
                    "4", "7", "10", "11", "12", "16", "24", "25", "30", "31", "32", "33",
                ]
                .contains(&code.as_str()) =>
            {
                check.find(q, Verdict::Confirmed, format!("code {code}"))
            }
            Ok(code) => check.find(q, Verdict::Contradicted, format!("code {code}")),
            Err(f) => check.find(q, Verdict::NotConfirmed, format!("{f}")),
        }
    }
}

fn logout_finding(check: &mut Check, xs: &[Exchange]) {
    const Q: &str = "end (log out) answers 100";
    if let Some(x) = xs.iter().find(|x| x.url.contains("cmd=end")) {
        match xml_code(&x.reply) {
            Some(c) if c == "100" => check.find(Q, Verdict::Confirmed, "code 100"),
            other => check.find(Q, Verdict::Contradicted, format!("code {other:?}")),
        }
    }
}

fn xml_code(reply: &str) -> Option<String> {
    let start = reply.find("<code>")? + "<code>".len();
    let end = reply[start..].find("</code>")?;
    Some(reply[start..start + end].trim().to_string())
}

// ---- PokeTALK ----

fn check_poketalk(check: &mut Check, client: &Client, args: &Args) {
    let events = client.capabilities().contains(Capabilities::EVENTS);
    let Some(call) = placed_call(check, client, args) else {
        check.find(
            "the API key is accepted from this IP",
            Verdict::NotConfirmed,
            "PokeTALK's only request places a call: nothing was sent; run with --call NUMBER",
        );
        return;
    };
    const KEY: &str = "the API key is accepted from this IP (codes 40 and 100)";
    const BODY: &str = "the click2call reply is the bare code as text (`00`)";
    match &call.start {
        Ok(()) => check.find(KEY, Verdict::Confirmed, "code 00"),
        Err(f) if f.carrier_code.as_deref() == Some("100") => check.find(
            KEY,
            Verdict::Contradicted,
            "code 100: the key is not registered for this IP",
        ),
        Err(f) => check.find(KEY, Verdict::NotConfirmed, format!("{f}")),
    }
    match call
        .exchanges
        .iter()
        .find(|x| x.method == "POST" && x.status.is_some())
    {
        Some(x) => {
            let body = x.reply.trim();
            if !body.is_empty()
                && body.len() <= 64
                && body
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
            {
                check.find(BODY, Verdict::Confirmed, format!("`{body}`"))
            } else if body.starts_with(['{', '[']) {
                check.find(
                    BODY,
                    Verdict::Contradicted,
                    format!("JSON: `{}`", body.chars().take(80).collect::<String>()),
                )
            } else {
                check.find(
                    BODY,
                    Verdict::Contradicted,
                    format!("`{}`", body.chars().take(80).collect::<String>()),
                )
            }
        }
        None => check.find(BODY, Verdict::NotConfirmed, "no reply"),
    }
    const EVENTS: &str = "events reach the event receiver (GET on the EventURL)";
    const ENDS: &str = "answering an event with 412 ends the call";
    if !events {
        check.find(
            EVENTS,
            Verdict::NotConfirmed,
            "the DSN configures no events (event_url, event_secret)",
        );
        return;
    }
    if call.start.is_ok() {
        if call.states.iter().any(|s| *s != CallState::Initiating) {
            let seen: Vec<&str> = call.states.iter().map(|s| s.name()).collect();
            check.find(
                EVENTS,
                Verdict::Confirmed,
                format!("states heard: {}", seen.join(" → ")),
            );
        } else {
            check.find(
                EVENTS,
                Verdict::NotConfirmed,
                "no event arrived (is event_url reachable from the carrier?)",
            );
        }
        match (&call.hangup, &call.last) {
            (Some(Ok(())), Some(s)) if s.state.is_final() => check.find(
                ENDS,
                Verdict::Confirmed,
                format!("then {}", crate::out::status_text(s)),
            ),
            (Some(Ok(())), _) => check.find(
                ENDS,
                Verdict::NotConfirmed,
                "no final event after the hang-up was asked",
            ),
            (Some(Err(f)), _) => check.find(ENDS, Verdict::NotConfirmed, format!("{f}")),
            (None, _) => check.find(
                ENDS,
                Verdict::NotConfirmed,
                "the call ended before a hang-up was needed",
            ),
        }
        check.find(
            "`from` is leg A (rung first)",
            Verdict::NotConfirmed,
            "a person must say which phone rang first: the library sent A as `from`",
        );
    }
}

// ---- One real call (--call) ----

struct PlacedCall {
    start: Result<(), Failure>,
    /// The states heard, in order.
    states: Vec<CallState>,
    hangup: Option<Result<(), Failure>>,
    last: Option<CallStatus>,
    /// Connect Call: the carrier's code for the call asked again after its end.
    after_end: Option<Result<String, Failure>>,
    exchanges: Vec<Exchange>,
}

/// Places the one call `--call` asks for, follows it, hangs it up once connected or
/// after `--call-seconds`, and waits for the end. `None` without `--call`.
fn placed_call(check: &mut Check, client: &Client, args: &Args) -> Option<PlacedCall> {
    let a = args.call.clone()?;
    let b = args.call_to.clone().unwrap_or_else(|| a.clone());
    let from = check.taken();
    let interval = Duration::from_millis(args.interval_ms);
    let (call, _) = check.step(
        &format!("place one call: A {a}, B {b}"),
        || client.start_call(&a, &b, &CallOptions::default()),
        |c: &Call| format!("id {}", c.id()),
    );
    let mut placed = PlacedCall {
        start: call.as_ref().map(|_| ()).map_err(Failure::clone),
        states: Vec::new(),
        hangup: None,
        last: None,
        after_end: None,
        exchanges: Vec::new(),
    };
    if let Ok(call) = &call {
        let mut seen: Option<CallState> = None;
        let limit = Duration::from_secs(args.call_seconds);
        let mut watch =
            |check: &mut Check, placed: &mut PlacedCall, name: &str, until: Duration| {
                let step_from = check.taken();
                let started = Instant::now();
                let mut error = None;
                loop {
                    match call.poll() {
                        Ok(s) => {
                            if seen != Some(s.state) {
                                seen = Some(s.state);
                                placed.states.push(s.state);
                            }
                            let stop = s.state.is_final()
                                || (placed.hangup.is_none() && s.state >= CallState::Connected);
                            placed.last = Some(s);
                            if stop {
                                break;
                            }
                        }
                        Err(e) => error = Some(Failure::from(e)),
                    }
                    if started.elapsed() >= until {
                        break;
                    }
                    std::thread::sleep(interval);
                }
                let lines = check.since(step_from);
                let states: Vec<&str> = placed.states.iter().map(|s| s.name()).collect();
                check.steps.push(Step {
                    name: name.to_string(),
                    outcome: match error {
                        Some(f) if placed.last.is_none() => Err(f),
                        _ => Ok(format!("states heard: {}", states.join(" → "))),
                    },
                    lines,
                });
            };
        watch(check, &mut placed, "follow the call (status)", limit);
        if !placed.last.as_ref().is_some_and(|s| s.state.is_final()) {
            let (h, _) = check.step(
                "hang the call up",
                || call.hangup(),
                |s: &CallStatus| crate::out::status_text(s),
            );
            placed.hangup = Some(h.map(|_| ()));
            watch(
                check,
                &mut placed,
                "wait for the end",
                Duration::from_secs(args.hangup_wait),
            );
        }
        if client.carrier() == "connectcall" {
            {
                let reference = call.reference();
                let (again, _) = check.step(
                    "ask for the ended call's status again (getStatus)",
                    || client.attach(&reference)?.poll(),
                    |s: &CallStatus| crate::out::status_text(s),
                );
                placed.after_end = Some(again.map(|s| s.raw_code.unwrap_or_default()));
            }
        }
    }
    placed.exchanges = exchanges(&check.since(from));
    Some(placed)
}
