//! Entry points for the fuzz targets in `fuzz/` (not part of the API: hidden, and free
//! to change). Each takes any bytes and must never panic; where a parser has a property
//! beyond that (a normalised amount reads back as itself), it is checked here.
//!
//! | parser | entry point | carrier documents the seeds come from |
//! | --- | --- | --- |
//! | 42call reply envelope | [`call42_envelope`] | 42call REST v2 examples |
//! | DSN (every carrier's options) | [`dsn`] | README, DESIGN.md §4 |
//! | call reference | [`call_reference`] | references made by the library |
//! | phone number text | [`number`] | numbers as people type them |
//! | money text | [`money`] | carriers' amount forms |
//! | PokeTALK reply | [`poketalk_reply`] | PokeTALK Click-2-Call result codes |
//! | Connect Call XML | [`connectcall_xml`] | business-isp Connect Call replies |
//! | VoipNow JSON | [`voipnow_json`] | VoipNow UAPI examples |
//! | EventURL query | [`event_query`] | PokeTALK EventURL examples |
//!
//! A parser added later gets an entry here and a target in `fuzz/` (see
//! `docs/hardening.md`).

use std::sync::LazyLock;

use crate::providers::call42::Call42;
use crate::transport::{Effect, Response};

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

static CALL42: LazyLock<Call42> = LazyLock::new(|| {
    let dsn =
        crate::dsn::Dsn::parse("42call://fuzz:fuzz-secret@127.0.0.1:9?tls=0").expect("a good DSN");
    Call42::new(dsn).expect("a good DSN")
});

/// A 42call reply body, as a call start and as a hang-up would read it. The first byte
/// picks the HTTP status.
pub fn call42_envelope(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Some(body) = text(rest) else {
        return;
    };
    let status = [200, 401, 403, 404, 500, 502, 503, 504][usize::from(first % 8)];
    for effect in [Effect::Place, Effect::Write] {
        let resp = Response {
            status,
            date: None,
            content_type: Some("application/json".into()),
            body: body.to_string(),
        };
        if let Err(e) = CALL42.read_envelope(&resp, effect) {
            // A placing request whose reply was not understood is never reported as
            // "nothing happened".
            if effect == Effect::Place && e.kind() == crate::ErrorKind::Protocol {
                panic!("a placing request's unreadable reply must be OutcomeUnknown: {e}");
            }
        }
    }
}

/// A DSN, parsed alone and made into a client (which sends nothing).
pub fn dsn(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = crate::dsn::Dsn::parse(s);
        if let Err(e) = crate::Client::new(s) {
            let _ = e.to_string();
        }
    }
}

static CLIENT: LazyLock<crate::Client> = LazyLock::new(|| {
    crate::Client::new("42call://fuzz:fuzz-secret@127.0.0.1:9?tls=0").expect("a good DSN")
});

/// A call reference, as `cc_call_attach` reads it (sends nothing).
pub fn call_reference(data: &[u8]) {
    if let Some(s) = text(data) {
        if let Ok(call) = CLIENT.attach(s) {
            // What was read writes back into a reference that reads the same.
            let again = call.reference();
            let back = CLIENT
                .attach(&again)
                .expect("a reference of ours reads back");
            assert_eq!(back.id(), call.id());
        }
    }
}

/// A phone number as a person types it, with and without a default country, and lists.
pub fn number(data: &[u8]) {
    if let Some(s) = text(data) {
        for country in [None, Some(49), Some(1), Some(972)] {
            if let Ok(n) = crate::number::parse(s, country) {
                // The international form reads back as the same number.
                let again = crate::number::parse(&n.e164(), None).expect("E.164 reads back");
                assert_eq!(again, n);
            }
        }
        let _ = crate::number::parse_list(s, Some(49));
    }
}

/// An amount of money as carriers write it.
pub fn money(data: &[u8]) {
    if let Some(s) = text(data) {
        if let Ok(m) = crate::money::Money::parse(s, Some("eur")) {
            // A normalised amount is its own normal form.
            assert_eq!(
                crate::money::normalise_decimal(&m.amount).as_deref(),
                Some(m.amount.as_str())
            );
        }
    }
}

/// A PokeTALK reply body (bare code, or code wrapped in JSON), read as the call start does.
pub fn poketalk_reply(data: &[u8]) {
    if let Some(body) = text(data) {
        if let Some(code) = crate::providers::poketalk::parse_code(body) {
            let _ = crate::providers::poketalk::result_code(code);
        }
    }
}

/// A Connect Call XML reply; a code that parses is mapped to the neutral model.
pub fn connectcall_xml(data: &[u8]) {
    if let Some(body) = text(data) {
        if let Ok(reply) = crate::providers::connectcall::parse_reply(body) {
            let _ = crate::providers::connectcall::map_status(reply.code);
        }
    }
}

/// A VoipNow JSON reply, read as a live PhoneCall, as call records (found by id and by
/// destination), and (as text) as a caller id.
pub fn voipnow_json(data: &[u8]) {
    let Some(body) = text(data) else {
        return;
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let _ = crate::providers::voipnow::live_observation(&v);
        let _ = crate::providers::voipnow::cdr_observation(&v, "+49301234567");
        if let crate::providers::voipnow::RecordMatch::One(r) =
            crate::providers::voipnow::find_record(&v, "id", "+49301234567", Some(0), 0)
        {
            let _ = crate::providers::voipnow::cdr_observation(r, "+49301234567");
        }
    }
    let _ = crate::providers::voipnow::caller_id(body, "caller_id");
}

static POKETALK: LazyLock<crate::Client> = LazyLock::new(|| {
    crate::Client::new(
        "poketalk://fuzz-key@127.0.0.1:9?tls=0&event_url=http://127.0.0.1:9/ev\
         &event_secret=fuzz-secret-0123456789",
    )
    .expect("a good DSN")
});

/// An EventURL hit's query string, through the whole ingestion path of a PokeTALK client
/// (parsing, token check, routing): it must be refused or answered, never panic.
pub fn event_query(data: &[u8]) {
    if let Some(q) = text(data) {
        let _ = POKETALK.ingest_event(q);
    }
}
