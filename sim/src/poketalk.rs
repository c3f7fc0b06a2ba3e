//! PokeTALK Click-2-Call as its document describes it: `POST /index.php/api/click2call`
//! with the form fields `to`, `from`, `api_key`, `custom`, `eventurl`; the reply is the
//! bare result code (`00`). The call is played forward with the shared [`Timeline`] and
//! its progress is really sent to the EventURL (an HTTP GET from a thread of the
//! simulator, loopback addresses only) at every change of status and periodically
//! after A answered, with `$webcallid`, `$status`, `$duration` and `$debit` replaced. An
//! answer `412` ends the call, which then sends its final event.
//!
//! API keys and the IP address each is registered for: `demo-key`, and any key that
//! starts with `test`, from 127.0.0.1; `remote-key` from 192.0.2.10 (so from here:
//! code 100); any other key: code 40.
//!
//! Magic numbers, by their last three digits as in the other modules: `486` busy, `408`
//! no answer, `603` rejected, `404` unobtainable make that leg fail (status 2 on A, 6 on
//! B); `403` on either number is refused with code 60 (blacklisted); `402` with code 90
//! (the carrier cannot work out how long the call may last: no credit); `999` on B makes
//! a long call that talks until it is hung up. A number that is not full international
//! digits (no `+`, no leading zero, 8 to 15 digits) makes its leg fail and is counted
//! in `malformed_numbers`.
//!
//! Events while A is answered or the call is up repeat every 60 carrier seconds (12
//! steps); `/_sim/poketalk/settings?event_period_ms=N` changes that (0: back to the
//! default), `reply=json` answers `{"code":"00"}` instead of the bare code, and
//! `reply_delay_ms=N` holds the reply to a call start back while its events go out.
//! `/_sim/poketalk/next_code?key=K&code=N` makes the next request with key K answer
//! code N. `/_sim/poketalk/call?custom=ID` shows a call: its stage, its event URL, and
//! every event sent with the HTTP status it got.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::timeline::{Stage, Timeline, TALK_STEPS};
use crate::util::{fmt_amount, magic, Counter, Magic};
use crate::{Module, SimRequest, SimResponse};

pub const PATH: &str = "/index.php/api/click2call";
/// Steps between periodic events: 60 carrier seconds.
const PERIOD_STEPS: u64 = 60 / crate::timeline::SECS_PER_STEP as u64;
/// Steps of talk of a `999` call (it ends by hang-up long before).
const LONG_TALK_STEPS: u64 = 100_000;
/// 0.12 a minute, in ten-thousandths a second.
const PRICE_PER_SECOND: i64 = 20;

pub struct PokeTalk {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Settings {
    event_period_ms: Option<u64>,
    reply_json: bool,
    /// Holds the reply to a call start back, so that its first events come before it.
    reply_delay_ms: u64,
}

#[derive(Default)]
struct Stats {
    calls_placed: Counter,
    requests: Counter,
    auth_failures: Counter,
    events_sent: Counter,
    events_failed: Counter,
    events_412: Counter,
    events_refused: Counter,
    malformed_numbers: Counter,
    over_long_fields: Counter,
    last_numbers: Mutex<(String, String)>,
}

struct SimCall {
    from: String,
    to: String,
    eventurl: Option<String>,
    timeline: Mutex<Timeline>,
    /// Every event sent: (status, HTTP status or "error"/"refused").
    log: Mutex<Vec<(u32, String)>>,
    hung_up_by_412: AtomicBool,
}

struct Shared {
    step_ms: u64,
    stop: AtomicBool,
    settings: Mutex<Settings>,
    forced: Mutex<HashMap<String, u32>>,
    calls: Mutex<HashMap<String, Arc<SimCall>>>,
    agent: ureq::Agent,
    stats: Stats,
    next_id: std::sync::atomic::AtomicU64,
}

impl PokeTalk {
    pub fn new(step_ms: u64) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("ARS 0.1")
            .timeout_global(Some(Duration::from_secs(3)))
            .build()
            .new_agent();
        PokeTalk {
            shared: Arc::new(Shared {
                step_ms,
                stop: AtomicBool::new(false),
                settings: Mutex::new(Settings::default()),
                forced: Mutex::new(HashMap::new()),
                calls: Mutex::new(HashMap::new()),
                agent,
                stats: Stats::default(),
                next_id: std::sync::atomic::AtomicU64::new(1_323_041_193),
            }),
        }
    }
}

impl Drop for PokeTalk {
    fn drop(&mut self) {
        // Calls still playing stop sending events.
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The IP address an API key is registered for.
fn registered_ip(key: &str) -> Option<IpAddr> {
    match key {
        "demo-key" => Some([127, 0, 0, 1].into()),
        "remote-key" => Some([192, 0, 2, 10].into()),
        k if k.starts_with("test") => Some([127, 0, 0, 1].into()),
        _ => None,
    }
}

fn last3(number: &str) -> &str {
    number.get(number.len().saturating_sub(3)..).unwrap_or("")
}

/// Full international digits: no `+`, no leading zero, 8 to 15 digits.
fn well_formed(number: &str) -> bool {
    (8..=15).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
        && !number.starts_with('0')
}

/// The EventURL `status` of a stage; `None` before A rings.
fn status_of(stage: Stage) -> Option<u32> {
    Some(match stage {
        Stage::Initiating => return None,
        Stage::RingingA => 1,
        Stage::Failed { leg_b: false, .. } => 2,
        Stage::AAnswered => 3,
        Stage::AbandonedByA => 4,
        Stage::HungUp {
            connected: false, ..
        } => 4,
        Stage::RingingB => 5,
        Stage::Failed { leg_b: true, .. } => 6,
        Stage::Connected { .. } => 7,
        Stage::Ended { .. }
        | Stage::HungUp {
            connected: true, ..
        } => 8,
    })
}

/// The statuses of a normal call, in order.
const PROGRESS: [u32; 4] = [1, 3, 5, 7];

/// The statuses a call went through between `last` (sent) and `now`: the carrier
/// reports every change, even when a slow receiver kept it from seeing each stage.
fn passed(last: Option<u32>, now: u32) -> Vec<u32> {
    // The progress a status stands on: 2 fails A ringing, 6 ends B ringing, 8 ends the
    // bridge. 4 comes from a hang-up before the bridge, whenever it came: it adds
    // nothing.
    let reached = match now {
        1 | 2 => 1,
        3 => 3,
        4 => return vec![4],
        5 | 6 => 5,
        _ => 7,
    };
    let from = last
        .and_then(|l| PROGRESS.iter().position(|p| *p == l))
        .map_or(0, |i| i + 1);
    let mut out: Vec<u32> = PROGRESS
        .iter()
        .skip(from)
        .copied()
        .filter(|p| *p <= reached && *p != now)
        .collect();
    if last.is_some_and(|l| !PROGRESS.contains(&l)) {
        out.clear();
    }
    out.push(now);
    out
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Initiating => "initiating",
        Stage::RingingA => "ringing_a",
        Stage::AAnswered => "a_answered",
        Stage::RingingB => "ringing_b",
        Stage::Connected { .. } => "connected",
        Stage::Ended { .. } => "ended",
        Stage::Failed { .. } => "failed",
        Stage::AbandonedByA => "abandoned",
        Stage::HungUp { .. } => "hung_up",
    }
}

fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

impl Shared {
    fn reply(&self, code: u32) -> SimResponse {
        let text = format!("{code:02}");
        if self.settings.lock().unwrap().reply_json {
            SimResponse::json(200, &json!({ "code": text }))
        } else {
            SimResponse::new(200, "text/html; charset=UTF-8", text)
        }
    }

    /// Sends one event; returns the receiver's HTTP status.
    fn send_event(
        &self,
        call: &SimCall,
        webcallid: &str,
        status: u32,
        stage: Stage,
    ) -> Option<u16> {
        let template = call.eventurl.as_deref()?;
        let secs = stage.secs();
        let debit = fmt_amount(i64::from(secs) * PRICE_PER_SECOND, 3, false);
        let id: String = url::form_urlencoded::byte_serialize(webcallid.as_bytes()).collect();
        let url = template
            .replace("$webcallid", &id)
            .replace("$status", &status.to_string())
            .replace("$duration", &secs.to_string())
            .replace("$debit", &debit);
        let log = |what: String| call.log.lock().unwrap().push((status, what));
        if !is_loopback_url(&url) {
            self.stats.events_refused.add();
            log("refused".into());
            return None;
        }
        match self.agent.get(&url).call() {
            Ok(resp) => {
                self.stats.events_sent.add();
                let code = resp.status().as_u16();
                log(code.to_string());
                Some(code)
            }
            Err(_) => {
                self.stats.events_failed.add();
                log("error".into());
                None
            }
        }
    }
}

/// Plays one call forward and reports it to its EventURL until it is over.
fn play(shared: Arc<Shared>, call: Arc<SimCall>, webcallid: String) {
    let step = shared.step_ms;
    let period = Duration::from_millis(
        shared
            .settings
            .lock()
            .unwrap()
            .event_period_ms
            .unwrap_or(step * PERIOD_STEPS),
    );
    let tick = Duration::from_millis((step / 5).clamp(2, 50));
    let mut last: Option<u32> = None;
    let mut last_sent = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        let stage = call.timeline.lock().unwrap().stage();
        if let Some(status) = status_of(stage) {
            let periodic =
                matches!(status, 3 | 5 | 7) && !period.is_zero() && last_sent.elapsed() >= period;
            if last != Some(status) || periodic {
                let statuses = if last == Some(status) {
                    vec![status]
                } else {
                    passed(last, status)
                };
                for st in statuses {
                    // A status passed through says so with the time of its own stage.
                    let at = if st == status {
                        stage
                    } else {
                        Stage::Initiating
                    };
                    let http = shared.send_event(&call, &webcallid, st, at);
                    last = Some(st);
                    last_sent = Instant::now();
                    if http == Some(412) && !stage.is_final() {
                        shared.stats.events_412.add();
                        if call.timeline.lock().unwrap().hang_up() {
                            call.hung_up_by_412.store(true, Ordering::SeqCst);
                        }
                        break;
                    }
                }
            }
            if stage.is_final() {
                return;
            }
        }
        std::thread::sleep(tick);
    }
}

impl Module for PokeTalk {
    fn name(&self) -> &'static str {
        "poketalk"
    }

    fn matches(&self, path: &str) -> bool {
        path.starts_with("/index.php/api/")
    }

    fn handle(&self, req: &SimRequest) -> SimResponse {
        let s = &self.shared;
        s.stats.requests.add();
        if req.method != "POST" || req.path.trim_end_matches('/') != PATH {
            return SimResponse::text(404, "Not Found");
        }
        let field = |k: &str| req.form_param(k).unwrap_or_default().trim().to_string();
        let (key, from, to) = (field("api_key"), field("from"), field("to"));
        if key.is_empty() {
            return s.reply(10);
        }
        if from.is_empty() {
            return s.reply(20);
        }
        if to.is_empty() {
            return s.reply(30);
        }
        let remote = req
            .remote
            .map(|r| r.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        match registered_ip(&key) {
            None => {
                s.stats.auth_failures.add();
                return s.reply(40);
            }
            Some(ip) if ip != remote => {
                s.stats.auth_failures.add();
                return s.reply(100);
            }
            Some(_) => {}
        }
        if let Some(code) = s.forced.lock().unwrap().remove(&key) {
            return s.reply(code);
        }
        if last3(&from) == "403" || last3(&to) == "403" {
            return s.reply(60);
        }
        if magic(&from) == Magic::InsufficientFunds || magic(&to) == Magic::InsufficientFunds {
            return s.reply(90);
        }
        let custom = field("custom");
        let eventurl = req.form_param("eventurl").filter(|u| !u.trim().is_empty());
        if custom.len() > 255 || eventurl.as_ref().is_some_and(|u| u.len() > 255) {
            s.stats.over_long_fields.add();
        }
        let leg = |n: &str| {
            if well_formed(n) {
                magic(n)
            } else {
                s.stats.malformed_numbers.add();
                Magic::Invalid
            }
        };
        let (a, b) = (leg(&from), leg(&to));
        let talk = if last3(&to) == "999" {
            LONG_TALK_STEPS
        } else {
            TALK_STEPS
        };
        let webcallid = if custom.is_empty() {
            format!("web{}", s.next_id.fetch_add(1, Ordering::SeqCst))
        } else {
            custom
        };
        let call = Arc::new(SimCall {
            from: from.clone(),
            to: to.clone(),
            eventurl,
            timeline: Mutex::new(Timeline::new(s.step_ms, a, b).with_talk_steps(talk)),
            log: Mutex::new(Vec::new()),
            hung_up_by_412: AtomicBool::new(false),
        });
        s.calls
            .lock()
            .unwrap()
            .insert(webcallid.clone(), call.clone());
        s.stats.calls_placed.add();
        *s.stats.last_numbers.lock().unwrap() = (from, to);
        if call.eventurl.is_some() {
            let shared = s.clone();
            std::thread::spawn(move || play(shared, call, webcallid));
        }
        let delay = s.settings.lock().unwrap().reply_delay_ms;
        std::thread::sleep(Duration::from_millis(delay));
        s.reply(0)
    }

    fn control(&self, action: &str, req: &SimRequest) -> Option<SimResponse> {
        let s = &self.shared;
        match action {
            "settings" => {
                let mut settings = s.settings.lock().unwrap();
                if let Some(ms) = req.query_param("event_period_ms") {
                    let ms: u64 = ms.parse().ok()?;
                    settings.event_period_ms = (ms != 0).then_some(ms);
                }
                if let Some(r) = req.query_param("reply") {
                    settings.reply_json = r == "json";
                }
                if let Some(ms) = req.query_param("reply_delay_ms") {
                    settings.reply_delay_ms = ms.parse().ok()?;
                }
                Some(SimResponse::json(
                    200,
                    &json!({
                        "event_period_ms": settings.event_period_ms.unwrap_or(s.step_ms * PERIOD_STEPS),
                        "reply": if settings.reply_json { "json" } else { "text" },
                        "reply_delay_ms": settings.reply_delay_ms,
                    }),
                ))
            }
            "next_code" => {
                let key = req.query_param("key")?;
                let code: u32 = req.query_param("code")?.parse().ok()?;
                s.forced.lock().unwrap().insert(key, code);
                Some(SimResponse::text(200, "ok"))
            }
            "call" => {
                let id = req.query_param("custom")?;
                let call = s.calls.lock().unwrap().get(&id)?.clone();
                let stage = call.timeline.lock().unwrap().stage();
                let events: Vec<Value> = call
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(st, http)| json!({"status": st, "http": http}))
                    .collect();
                Some(SimResponse::json(
                    200,
                    &json!({
                        "stage": stage_name(stage),
                        "status": status_of(stage),
                        "secs": stage.secs(),
                        "from": call.from,
                        "to": call.to,
                        "eventurl": call.eventurl,
                        "events": events,
                        "hung_up_by_412": call.hung_up_by_412.load(Ordering::SeqCst),
                    }),
                ))
            }
            _ => None,
        }
    }

    fn stats(&self) -> Value {
        let st = &self.shared.stats;
        let (last_from, last_to) = st.last_numbers.lock().unwrap().clone();
        json!({
            "calls_placed": st.calls_placed.get(),
            "requests": st.requests.get(),
            "auth_failures": st.auth_failures.get(),
            "events_sent": st.events_sent.get(),
            "events_failed": st.events_failed.get(),
            "events_412": st.events_412.get(),
            "events_refused": st.events_refused.get(),
            "malformed_numbers": st.malformed_numbers.get(),
            "over_long_fields": st.over_long_fields.get(),
            "last_from": last_from,
            "last_to": last_to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(sim: &PokeTalk, body: &str, remote: &str) -> String {
        let resp = sim.handle(&SimRequest {
            method: "POST".into(),
            path: PATH.into(),
            query_string: String::new(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            remote: Some(remote.parse().unwrap()),
        });
        String::from_utf8(resp.body).unwrap()
    }

    #[test]
    fn codes() {
        let sim = PokeTalk::new(50);
        let ok = "to=4930123456&from=491711234567";
        assert_eq!(post(&sim, ok, "127.0.0.1:1"), "10");
        assert_eq!(post(&sim, "api_key=demo-key&to=1", "127.0.0.1:1"), "20");
        assert_eq!(post(&sim, "api_key=demo-key&from=1", "127.0.0.1:1"), "30");
        assert_eq!(
            post(&sim, &format!("{ok}&api_key=nobody"), "127.0.0.1:1"),
            "40"
        );
        assert_eq!(
            post(&sim, &format!("{ok}&api_key=remote-key"), "127.0.0.1:1"),
            "100"
        );
        assert_eq!(
            post(&sim, &format!("{ok}&api_key=demo-key"), "10.0.0.1:1"),
            "100"
        );
        assert_eq!(
            post(
                &sim,
                "api_key=demo-key&to=4930123403&from=491711234567",
                "127.0.0.1:1"
            ),
            "60"
        );
        assert_eq!(
            post(
                &sim,
                "api_key=demo-key&to=4930123402&from=491711234567",
                "127.0.0.1:1"
            ),
            "90"
        );
        assert_eq!(
            post(&sim, &format!("{ok}&api_key=demo-key"), "127.0.0.1:1"),
            "00"
        );
        assert_eq!(sim.stats()["calls_placed"], 1);
        assert_eq!(sim.stats()["auth_failures"], 3);
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(Stage::RingingA), Some(1));
        assert_eq!(
            status_of(Stage::HungUp {
                secs: 10,
                connected: true
            }),
            Some(8)
        );
        assert_eq!(status_of(Stage::Initiating), None);
        assert_eq!(passed(None, 1), [1]);
        assert_eq!(passed(Some(1), 7), [3, 5, 7]);
        assert_eq!(passed(Some(1), 8), [3, 5, 7, 8]);
        assert_eq!(passed(None, 2), [1, 2]);
        assert_eq!(passed(Some(3), 6), [5, 6]);
        assert_eq!(passed(Some(7), 8), [8]);
        assert_eq!(passed(None, 8), [1, 3, 5, 7, 8]);
        assert_eq!(passed(Some(1), 4), [4]);
        assert!(is_loopback_url("http://127.0.0.1:9/x?a=1"));
        assert!(is_loopback_url("http://[::1]:9/"));
        assert!(!is_loopback_url("http://192.0.2.1/"));
        assert!(!is_loopback_url("http://example.com/"));
    }
}
