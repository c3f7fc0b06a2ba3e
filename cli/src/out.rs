//! What the commands print: human text by default, JSON with `--json`. Results go to
//! standard output; warnings and (without `--json`) errors to standard error.

use std::io::Write;
use std::time::Duration;

use callconnect::{Call, CallStatus, FailReason, Money};
use serde_json::{json, Value};

use crate::codes::Failure;

pub struct Out {
    pub json: bool,
}

/// Money as the library's JSON writes it: `{"amount": "18.40", "currency": "EUR"}`.
pub fn money(m: &Money) -> Value {
    json!({ "amount": m.amount, "currency": m.currency })
}

impl Out {
    pub fn new(json: bool) -> Self {
        Out { json }
    }

    /// One line to standard output, flushed at once (a script may be reading it live).
    pub fn line(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }

    /// A result: `v` as JSON, or the human text.
    pub fn value(&self, v: &Value, human: impl FnOnce() -> String) {
        if self.json {
            self.line(&v.to_string());
        } else {
            self.line(&human());
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("callconnect: {text}");
    }

    pub fn failure(&self, f: &Failure) {
        if self.json {
            self.line(&f.json().to_string());
        } else {
            eprintln!("callconnect: {f}");
        }
    }

    pub fn started(&self, carrier: &str, id: &str, reference: &str) {
        self.value(
            &json!({"event": "started", "carrier": carrier, "id": id, "reference": reference}),
            || format!("call placed ({carrier}, id {id})\nreference: {reference}"),
        );
    }

    pub fn status(&self, s: &CallStatus) {
        let v = crate::status_json(s);
        self.value(&v, || status_text(s));
    }

    /// A progress line of `call --follow`.
    pub fn progress(&self, elapsed: Duration, s: &CallStatus) {
        if self.json {
            let mut v = crate::status_json(s);
            v["event"] = json!("state");
            v["elapsed_ms"] = json!(elapsed.as_millis() as u64);
            self.line(&v.to_string());
        } else {
            self.line(&format!(
                "[{:>6.1}s] {}",
                elapsed.as_secs_f64(),
                status_text(s)
            ));
        }
    }

    pub fn interrupt(&self) {
        if self.json {
            self.line(&json!({"event": "interrupt"}).to_string());
        } else {
            self.line("Ctrl-C: hanging the call up");
        }
    }

    /// Tells how to reach a call that this command leaves behind.
    pub fn note_reference(&self, call: &Call) {
        self.warn(&format!("the call's reference: {}", call.reference()));
    }
}

/// `CONNECTED, 12 s, 0.10 EUR (carrier code 29)`.
pub fn status_text(s: &CallStatus) -> String {
    let mut t = s.state.name().to_string();
    if s.reason != FailReason::None {
        t.push_str(&format!(" {}", s.reason.name()));
    }
    match s.failed_leg {
        callconnect::Leg::A => t.push_str(" (leg A)"),
        callconnect::Leg::B => t.push_str(" (leg B)"),
        _ => {}
    }
    if s.duration_s > 0 {
        t.push_str(&format!(", {} s", s.duration_s));
    }
    if let Some(c) = &s.cost {
        t.push_str(&format!(", {}", c.display()));
    }
    if let Some(r) = &s.raw_code {
        t.push_str(&format!(" (carrier code {r})"));
    }
    if s.hangup_pending {
        t.push_str(", hang-up asked, waiting for the carrier");
    }
    if s.timed_out {
        t.push_str(", closed: nothing final was heard within the call's limits");
    }
    if !s.live {
        t.push_str(" [this carrier reports no progress: only what was done here is known]");
    }
    t
}

/// A result of the account services as indented `key: value` lines.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    write_human(v, 0, &mut out);
    out.trim_end().to_string()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("-".into()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Object(m) if m.len() == 2 && m.contains_key("amount") => {
            // Money.
            let amount = m["amount"].as_str().unwrap_or_default();
            Some(match m["currency"].as_str() {
                Some(c) => format!("{amount} {c}"),
                None => amount.to_string(),
            })
        }
        Value::Array(a) if a.iter().all(|x| x.is_string()) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Value::Object(m) if m.is_empty() => Some("-".into()),
        _ => None,
    }
}

fn write_human(v: &Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match scalar(x) {
                    Some(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_human(x, depth + 1, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str(&format!("{pad}(none)\n"));
            }
            for (i, x) in items.iter().enumerate() {
                match scalar(x) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}#{}\n", i + 1));
                        write_human(x, depth + 1, out);
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}
