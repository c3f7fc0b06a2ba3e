//! PokeTALK Click-2-Call: a callback started by one POST; its progress comes back as
//! HTTP GETs on an EventURL, and the host ends a call by answering one of them 412.
//!
//! `poketalk://API_KEY@HOST[:PORT][/PATH]` with the common options and the event ones
//! (see `events`): `event_url`, `event_secret`, `event_listen`; `store=` (the client's
//! call-state store) carries its events and hang-ups across processes.
//!
//! Choices where the carrier's document is silent (change them here):
//! - `from` is leg A (rung first), `to` is leg B;
//! - the library names the call: `custom` is the fresh id the client gives
//!   (`StartContext::call_id`), and the
//!   event URL carries the same id in `cc_id` with the call's token; PokeTALK's
//!   `webcallid` is read but not relied on;
//! - the reply's format is not documented: the result code is read as text (`00`,
//!   `40`, `40 ERROR. ...`), or from JSON (`40`, `"00"`, `{"code": "00"}`);
//! - event `status` 2, 4 and 6 do not say why a leg failed: FAILED with reason UNKNOWN
//!   and the leg (4, A left before B answered, is A's); after the host asked for the
//!   end, any final event reads ENDED/CANCELLED;
//! - `debit` is a cost without a currency (PokeTALK bills in the account's currency);
//! - without `event_url` and `event_secret` PokeTALK reports nothing and cannot end a
//!   call: the client then only places calls (capability CALLBACK alone);
//! - result code 90 ("can't calculate timeout") is left PROVIDER: it may mean no credit
//!   or no rate for the destination, the document does not say.

use crate::dsn::{Dsn, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    CallContext, CallOptions, CallState, Capabilities, FailReason, Leg, Observation, StartContext,
    Started,
};
use crate::money::Money;
use crate::number::{self, Number};
use crate::providers::{EventProtocol, Provider};
use crate::transport::{self, Effect, Request, Response, Transport};

/// The path of the Click-2-Call API when the DSN gives none.
pub const DEFAULT_PATH: &str = "/index.php/api/click2call";
/// What PokeTALK takes as "end this call" in answer to an event.
pub const HANGUP_STATUS: u16 = 412;
/// The longest `eventurl` and `custom` PokeTALK takes.
pub const MAX_EVENT_URL: usize = 255;
/// PokeTALK's run-time variables, appended to every event URL.
pub const EVENT_VARS: &str = "webcallid=$webcallid&status=$status&duration=$duration&debit=$debit";

pub struct PokeTalk {
    api_key: Secret,
    endpoint: String,
    default_country: Option<u16>,
    transport: Transport,
}

impl PokeTalk {
    pub fn from_dsn(dsn: Dsn) -> Result<Box<dyn Provider>> {
        let api_key = dsn.require_user("PokeTALK API key")?;
        let mut transport = Transport::for_dsn(&dsn)?;
        transport.add_secret(&api_key);
        if dsn.secret.is_some() {
            return Err(Error::invalid_argument(
                "DSN: PokeTALK takes an API key only (poketalk://API_KEY@HOST), no password",
            ));
        }
        dsn.finish()?;
        let path = if dsn.path == "/" {
            DEFAULT_PATH
        } else {
            dsn.path.as_str()
        };
        Ok(Box::new(PokeTalk {
            api_key: Secret::new(api_key),
            endpoint: format!("{}{path}", dsn.origin()),
            default_country: dsn.default_country,
            transport,
        }))
    }

    fn number(&self, typed: &str) -> Result<Number> {
        number::parse(typed, self.default_country)
    }
}

/// What a Click-2-Call result code means: its kind and the carrier's text.
pub fn result_code(code: u32) -> (ErrorKind, &'static str) {
    match code {
        0 => (ErrorKind::Provider, "OK"),
        10 => (
            ErrorKind::InvalidArgument,
            "ERROR. Empty 'api_key' parameter.",
        ),
        20 => (ErrorKind::InvalidArgument, "ERROR. Empty 'from' parameter."),
        30 => (ErrorKind::InvalidArgument, "ERROR. Empty 'to' parameter."),
        40 => (ErrorKind::Auth, "ERROR. Unknown API user."),
        50 => (ErrorKind::Provider, "ERROR. Can`t get service provider."),
        60 => (
            ErrorKind::Provider,
            "ERROR. 'from' or 'to' number in blacklist.",
        ),
        70 => (ErrorKind::Provider, "ERROR. Can`t get gateway list."),
        90 => (ErrorKind::Provider, "ERROR. Can`t calculate timeout."),
        100 => (ErrorKind::Auth, "ERROR. Unknown API IP address."),
        _ => (
            ErrorKind::Provider,
            "result code not in PokeTALK's documents",
        ),
    }
}

fn code_error(code: u32) -> Error {
    let (kind, text) = result_code(code);
    Error::carrier(kind, format!("{code:02}"), format!("PokeTALK: {text}"))
}

/// Reads the result code of a reply: bare text (`00`, `40 ERROR. ...`) or JSON.
pub fn parse_code(body: &str) -> Option<u32> {
    let t = body.trim().trim_start_matches('\u{feff}').trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
        if let Some(c) = code_of_json(&v, 0) {
            return Some(c);
        }
    }
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let rest = &t[digits.len()..];
    let separated =
        rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || ".:-,;".contains(c));
    if digits.is_empty() || digits.len() > 4 || !separated {
        return None;
    }
    digits.parse().ok()
}

fn code_of_json(v: &serde_json::Value, depth: u32) -> Option<u32> {
    use serde_json::Value;
    match v {
        Value::Number(n) => n.as_u64().filter(|n| *n <= 9999).map(|n| n as u32),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        Value::Array(a) if a.len() == 1 && depth == 0 => code_of_json(&a[0], 1),
        Value::Object(o) if depth == 0 => ["code", "result", "response", "status"]
            .iter()
            .find_map(|k| o.get(*k))
            .and_then(|c| code_of_json(c, 1)),
        _ => None,
    }
}

/// The reply to a call start: `Ok` for 00, the mapped error for any other code.
fn read_reply(transport: &Transport, resp: &Response) -> Result<()> {
    match parse_code(&resp.body) {
        Some(0) => Ok(()),
        Some(code) => Err(code_error(code)),
        None => {
            let e = match resp.status {
                401 | 403 => {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!("PokeTALK refused the request (HTTP {})", resp.status),
                    ))
                }
                503 => {
                    // "Service unavailable": not served, nothing acted on (as for 42call).
                    return Err(Error::new(
                        ErrorKind::Network,
                        "PokeTALK is unavailable (HTTP 503)",
                    ));
                }
                s if s >= 400 => {
                    Error::new(ErrorKind::Provider, format!("PokeTALK answered HTTP {s}"))
                }
                // The reply format is not documented beyond "00 int OK": the body goes
                // into the message (and DEBUG), so that a real reply can be seen.
                _ => crate::providers::unreadable(
                    transport,
                    "PokeTALK's reply holds no result code",
                    resp,
                ),
            };
            // The call may have been placed: never repeated, never called a failure.
            Err(transport::unknown(e))
        }
    }
}

/// What an event's `status` says (the table of the EventURL section).
fn observation_of(status: u32) -> Option<Observation> {
    Some(match status {
        1 => Observation::state(CallState::RingingA),
        2 => Observation::failed(FailReason::Unknown, Leg::A),
        3 => Observation::state(CallState::AAnswered),
        4 => Observation::failed(FailReason::Unknown, Leg::A),
        5 => Observation::state(CallState::RingingB),
        6 => Observation::failed(FailReason::Unknown, Leg::B),
        7 => Observation::state(CallState::Connected),
        8 => Observation::state(CallState::Ended),
        _ => return None,
    })
}

impl Provider for PokeTalk {
    fn scheme(&self) -> &'static str {
        "poketalk"
    }

    fn capabilities(&self) -> Capabilities {
        // Without events PokeTALK reports nothing and cannot end a call; with them the
        // client adds `EVENTS.capabilities()`.
        Capabilities::CALLBACK
    }

    fn start_call(
        &self,
        a: &str,
        b: &str,
        _options: &CallOptions,
        start: &StartContext<'_>,
    ) -> Result<Started> {
        let a = self.number(a).map_err(|e| e.context("A number"))?;
        let b = self.number(b).map_err(|e| e.context("B number"))?;
        let id = start.call_id;
        let event_url = start.event_url;
        let mut form = vec![
            ("to", b.international_digits()),
            ("from", a.international_digits()),
            ("api_key", self.api_key.expose()),
            ("custom", id),
        ];
        if let Some(u) = event_url {
            form.push(("eventurl", u));
        }
        let req = Request::new("POST", self.endpoint.clone(), Effect::Place).form(&form);
        // On a failure the client forgets the call's event room (unless the outcome is
        // unknown).
        self.transport
            .send(&req)
            .and_then(|resp| read_reply(&self.transport, &resp))?;
        Ok(Started {
            call_id: id.to_string(),
            extra: serde_json::Value::Null,
            observation: Observation::state(CallState::Initiating),
            live: event_url.is_some(),
        })
    }

    fn poll(&self, _call: &CallContext<'_>) -> Result<Option<Observation>> {
        // Nothing to ask: the status arrives as events (see `events::catch_up`).
        Ok(None)
    }

    fn hangup(&self, _call: &CallContext<'_>) -> Result<Observation> {
        // With events the client ends a call itself (the answer to its next event is
        // 412); this is only reached without them.
        Err(Error::unsupported(
            "PokeTALK ends a call only by answering its next event with 412: the DSN needs \
             event_url and event_secret",
        ))
    }
}

/// PokeTALK's event protocol: the hook the client's event machinery reads.
pub(crate) struct PokeTalkEvents;

/// The one instance the carrier registry names.
pub(crate) static EVENTS: PokeTalkEvents = PokeTalkEvents;

impl EventProtocol for PokeTalkEvents {
    fn name(&self) -> &'static str {
        "PokeTALK"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::LIVE_STATUS
            | Capabilities::HANGUP
            | Capabilities::EVENTS
            | Capabilities::MAX_DURATION
            | Capabilities::MAX_COST
    }

    fn hangup_status(&self) -> u16 {
        HANGUP_STATUS
    }

    fn url_vars(&self) -> &'static str {
        EVENT_VARS
    }

    fn max_url_len(&self) -> usize {
        MAX_EVENT_URL
    }

    fn observe(&self, params: &[(String, String)]) -> Result<Observation> {
        // A variable PokeTALK did not replace (`$status`) or left empty says nothing.
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty() && !v.starts_with('$'))
        };
        let mut obs = Observation::default();
        if let Some(s) = get("status") {
            let raw: String = s.chars().take(31).collect();
            obs = s
                .parse()
                .ok()
                .and_then(observation_of)
                .unwrap_or_default()
                .raw(raw);
        }
        obs.duration_s = get("duration").and_then(|d| {
            let whole = d.split('.').next().unwrap_or(d);
            whole.parse().ok()
        });
        obs.cost = get("debit").and_then(|d| Money::parse(d, None).ok());
        Ok(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_forms() {
        for (body, code) in [
            ("00", Some(0)),
            ("0", Some(0)),
            (" 40\r\n", Some(40)),
            ("100", Some(100)),
            ("40 ERROR. Unknown API user.", Some(40)),
            ("\u{feff}60", Some(60)),
            ("{\"code\":\"00\"}", Some(0)),
            ("{\"result\":60}", Some(60)),
            ("[\"100\"]", Some(100)),
            ("\"00\"", Some(0)),
            ("", None),
            ("OK", None),
            ("<html>500</html>", None),
            ("00abc", None),
            ("{\"code\":\"x\"}", None),
            ("123456", None),
        ] {
            assert_eq!(parse_code(body), code, "{body:?}");
        }
    }

    #[test]
    fn every_documented_code() {
        use ErrorKind::*;
        for (code, kind) in [
            (10, InvalidArgument),
            (20, InvalidArgument),
            (30, InvalidArgument),
            (40, Auth),
            (50, Provider),
            (60, Provider),
            (70, Provider),
            (90, Provider),
            (100, Auth),
            (77, Provider),
        ] {
            let e = code_error(code);
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.carrier_code(), Some(format!("{code:02}").as_str()));
            assert!(e.message().starts_with("PokeTALK: "));
        }
        assert!(code_error(60).message().contains("blacklist"));
    }

    #[test]
    fn event_statuses() {
        let p = &EVENTS;
        let ev = |q: &str| {
            let params: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            p.observe(&params).unwrap()
        };
        let o = ev("webcallid=x&status=7&duration=300&debit=0.515");
        assert_eq!(o.state, Some(CallState::Connected));
        assert_eq!(o.duration_s, Some(300));
        assert_eq!(o.cost.unwrap().amount, "0.515");
        assert_eq!(o.raw_code.as_deref(), Some("7"));
        let o = ev("status=6");
        assert_eq!((o.state, o.failed_leg), (Some(CallState::Failed), Leg::B));
        let o = ev("status=0&duration=$duration");
        assert_eq!((o.state, o.raw_code.as_deref()), (None, Some("0")));
        assert_eq!(o.duration_s, None);
        let o = ev("status=42");
        assert_eq!((o.state, o.raw_code.as_deref()), (None, Some("42")));
        let o = ev("status=$status&debit=abc");
        assert_eq!(o, Observation::default());
    }

    #[test]
    fn more_reply_forms_and_their_limits() {
        for (body, code) in [
            ("40:x", Some(40)),
            ("40-x", Some(40)),
            ("40,x", Some(40)),
            ("40;x", Some(40)),
            ("40.", Some(40)),
            ("9999", Some(9999)),
            ("12345", None),
            ("40x", None),
            ("9999 ok", Some(9999)),
            ("10000 ok", None),
            ("{\"status\":\"40\"}", Some(40)),
            ("{\"response\":30}", Some(30)),
            ("{\"code\":9999}", Some(9999)),
            ("{\"code\":10000}", None),
            ("{\"code\":\"10000\"}", None),
            ("{\"code\":\"\"}", None),
            ("{\"code\":{\"code\":0}}", None),
            ("[[\"00\"]]", None),
            ("[1,2]", None),
            ("[40]", Some(40)),
            ("{\"other\":1}", None),
        ] {
            assert_eq!(parse_code(body), code, "{body:?}");
        }
    }

    #[test]
    fn result_texts_are_the_documents() {
        assert_eq!(result_code(0), (ErrorKind::Provider, "OK"));
        for code in [10, 20, 30, 40, 50, 60, 70, 90, 100] {
            let (_, text) = result_code(code);
            assert!(text.starts_with("ERROR. "), "{code}: {text}");
        }
        assert_eq!(result_code(40).1, "ERROR. Unknown API user.");
        assert_eq!(result_code(100).1, "ERROR. Unknown API IP address.");
        assert_eq!(
            result_code(77),
            (
                ErrorKind::Provider,
                "result code not in PokeTALK's documents"
            )
        );
        assert_eq!(
            code_error(40).message(),
            "PokeTALK: ERROR. Unknown API user."
        );
    }

    #[test]
    fn every_event_status() {
        use CallState::*;
        for (status, state, leg) in [
            (1, RingingA, Leg::None),
            (2, Failed, Leg::A),
            (3, AAnswered, Leg::None),
            (4, Failed, Leg::A),
            (5, RingingB, Leg::None),
            (6, Failed, Leg::B),
            (7, Connected, Leg::None),
            (8, Ended, Leg::None),
        ] {
            let o = observation_of(status).unwrap();
            assert_eq!((o.state, o.failed_leg), (Some(state), leg), "{status}");
            let want = if state == Failed {
                FailReason::Unknown
            } else {
                FailReason::None
            };
            assert_eq!(o.reason, want, "{status}");
        }
        assert!(observation_of(0).is_none());
        assert!(observation_of(9).is_none());
    }

    #[test]
    fn event_values_are_trimmed_cut_and_whole_seconds() {
        let params = |q: &[(&str, &str)]| -> Vec<(String, String)> {
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let o = EVENTS
            .observe(&params(&[("status", " 7 "), ("duration", "12.7")]))
            .unwrap();
        assert_eq!(o.state, Some(CallState::Connected));
        assert_eq!(o.duration_s, Some(12));
        let long = "9".repeat(40);
        let o = EVENTS.observe(&params(&[("status", &long)])).unwrap();
        assert_eq!(o.raw_code.as_deref(), Some(&long[..31]));
        assert_eq!(o.state, None);
        let o = EVENTS
            .observe(&params(&[("status", ""), ("duration", " ")]))
            .unwrap();
        assert_eq!(o, Observation::default());
    }

    #[test]
    fn what_the_event_protocol_declares() {
        assert_eq!(EVENTS.name(), "PokeTALK");
        assert_eq!(
            EVENTS.capabilities(),
            Capabilities::LIVE_STATUS
                | Capabilities::HANGUP
                | Capabilities::EVENTS
                | Capabilities::MAX_DURATION
                | Capabilities::MAX_COST
        );
        assert_eq!(EVENTS.capabilities().bits(), 0b1_0100_0010_0110);
        assert_eq!(EVENTS.hangup_status(), 412);
        assert_eq!(EVENTS.max_url_len(), 255);
        assert_eq!(
            EVENTS.url_vars(),
            "webcallid=$webcallid&status=$status&duration=$duration&debit=$debit"
        );
    }

    #[test]
    fn replies_without_a_code_by_http_status() {
        let transport = Transport::new(std::time::Duration::from_secs(1));
        let reply = |status: u16, body: &str| {
            let resp = Response {
                status,
                date: None,
                content_type: Some("text/plain".into()),
                body: body.into(),
            };
            read_reply(&transport, &resp)
        };
        assert!(reply(200, "00").is_ok());
        // A code in the body decides, whatever the HTTP status.
        assert_eq!(reply(403, "40").unwrap_err().kind(), ErrorKind::Auth);
        assert_eq!(reply(200, "60").unwrap_err().carrier_code(), Some("60"));
        for (status, kind) in [
            (401, ErrorKind::Auth),
            (403, ErrorKind::Auth),
            // Not served: nothing was acted on.
            (503, ErrorKind::Network),
            // Anything else may have placed the call.
            (500, ErrorKind::OutcomeUnknown),
            (404, ErrorKind::OutcomeUnknown),
            (400, ErrorKind::OutcomeUnknown),
            (200, ErrorKind::OutcomeUnknown),
            (399, ErrorKind::OutcomeUnknown),
        ] {
            let e = reply(status, "Forbidden").unwrap_err();
            assert_eq!(e.kind(), kind, "HTTP {status}: {e}");
        }
        // Which of the two unknowns: an HTTP error is named as one, a 2xx/3xx without a
        // code shows what came.
        assert!(reply(500, "x")
            .unwrap_err()
            .message()
            .contains("answered HTTP 500"));
        assert!(reply(400, "x")
            .unwrap_err()
            .message()
            .contains("answered HTTP 400"));
        let e = reply(399, "odd").unwrap_err();
        assert!(e.message().contains("holds no result code"), "{e}");
        assert!(e.message().contains("odd"), "{e}");
    }

    #[test]
    fn the_provider_names_its_scheme() {
        let p = PokeTalk::from_dsn(Dsn::parse("poketalk://KEY@127.0.0.1?tls=0").unwrap()).unwrap();
        assert_eq!(p.scheme(), "poketalk");
        assert_eq!(p.capabilities(), Capabilities::CALLBACK);
    }
}
