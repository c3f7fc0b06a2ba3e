//! `callconnect sim`: the carrier simulator (crate `callconnect-sim`) in this process,
//! with a DSN per carrier to paste. The accounts are the simulator's demo accounts.

use std::net::SocketAddr;

use callconnect_sim::{Config, Simulator};
use serde_json::json;

use crate::codes::Failure;
use crate::out::Out;

/// The key of the PokeTALK event tokens in the simulator's DSN (a local demo value).
const SIM_EVENT_SECRET: &str = "sim-event-secret-0123456789";

/// A DSN per carrier for a simulator on `port`. PokeTALK's takes its events with the
/// library's built-in listener and shares them through a spool, so that `status` and
/// `hangup` in another process see what the `call --follow` process heard.
pub fn dsns(port: u16) -> Vec<(&'static str, String)> {
    let spool = std::env::temp_dir().join(format!("callconnect-sim-{port}-events"));
    let spool: String =
        url::form_urlencoded::byte_serialize(spool.to_string_lossy().as_bytes()).collect();
    let base = format!("127.0.0.1:{port}");
    vec![
        (
            "42call",
            format!("42call://demo:demo-secret@{base}?tls=0&default_country=49&realm=testRealm"),
        ),
        (
            "connectcall",
            format!("connectcall://demo:demo-secret@{base}/api/?tls=0&default_country=49"),
        ),
        (
            "voipnow",
            format!("voipnow://demo:demo-secret@{base}?tls=0&default_country=49&extension=210"),
        ),
        (
            "poketalk",
            format!(
                "poketalk://demo-key@{base}?tls=0&default_country=49&event_secret={SIM_EVENT_SECRET}&event_listen=127.0.0.1:0&event_spool={spool}"
            ),
        ),
    ]
}

pub fn run(port: u16, step_ms: u64, out: &Out) -> Result<i32, Failure> {
    let bind: SocketAddr = ([127, 0, 0, 1], port).into();
    let stop = crate::interrupt_channel()?;
    let sim = Simulator::start(Config { bind, step_ms }).map_err(|e| Failure {
        kind: callconnect::ErrorKind::Network,
        message: format!("the simulator cannot listen on {bind}: {}", e.kind()),
        carrier_code: None,
    })?;
    let port = sim.port();
    let dsns = dsns(port);
    if out.json {
        let map: serde_json::Map<String, serde_json::Value> = dsns
            .iter()
            .map(|(c, d)| (c.to_string(), json!(d)))
            .collect();
        out.line(&json!({"port": port, "step_ms": step_ms, "dsns": map}).to_string());
    } else {
        out.line(&format!(
            "carrier simulator on 127.0.0.1:{port} (one call stage every {step_ms} ms); Ctrl-C stops it."
        ));
        out.line("Its demo accounts, one DSN per carrier (paste one into your shell):");
        for (carrier, dsn) in &dsns {
            out.line(&format!("  # {carrier}\n  export CALLCONNECT_DSN='{dsn}'"));
        }
        out.line("Magic numbers (last three digits): 486 busy, 408 no answer, 603 rejected, 404 invalid, 402 no credit.");
    }
    let _ = stop.recv();
    drop(sim);
    Ok(0)
}
