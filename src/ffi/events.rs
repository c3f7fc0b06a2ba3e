//! Carrier events in: the status callbacks some carriers send to the host (PokeTALK's
//! EventURL), fed to the library by the host's web server or by the built-in listener.

use std::ffi::{c_char, c_int};

use super::handles::client_of;
use super::types::{cc_client, cc_result};
use super::util::{ffi_boundary, opt_out, str_arg};
use crate::events::MAX_QUERY;

/// Takes one event: `query_string` is the query of a hit on a call's event URL (PHP:
/// `$_SERVER['QUERY_STRING']`; a leading `?`, or the whole request target
/// `/path?query`, is taken too). The event is checked against
/// the call's token (the library put it in the event URL; PokeTALK signs nothing), then
/// applied to the call: states only move forward, so late and repeated events never
/// move a call back. The call is found among the calls of `client` alive in this
/// process, or, with `event_spool=DIR` in the DSN, in the spool, where `cc_poll_status`
/// of the same call in another process (attached with `cc_call_attach`) reads it.
///
/// `*out_http_status` is the status to answer the carrier with, an empty body beside
/// it. Unlike other out-parameters it is written on failure too (when not NULL),
/// because the carrier must get an answer either way:
/// - 200: taken;
/// - 412 (PokeTALK): taken, and the carrier is asked to end the call, because the host
///   called `cc_hangup` (in any process sharing the spool) or the call reached its
///   `max_duration_s` or `max_cost`. `cc_hangup` on PokeTALK only marks the call
///   (CC_STATUS_HANGUP_PENDING) until this answer ends it: up to
///   CC_MAX_HANGUP_DELAY_S seconds;
/// - 400 malformed, 403 a token that does not match (forged, or made for another call),
///   404 a call unknown here (or a client that takes no events), 500 an invalid client
///   handle or an internal fault. The event changed nothing.
///
/// Ownership: borrows its arguments; `*out_http_status` is caller-owned memory.
/// Thread safety: any thread; a web server may take several events at once on several
/// threads.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE (500), CC_ERR_INVALID_ARGUMENT (NULL, not UTF-8, too
/// long, or malformed: 400), CC_ERR_AUTH (403), CC_ERR_NOT_FOUND (404),
/// CC_ERR_UNSUPPORTED (the client's DSN configured no events: 404), CC_ERR_INTERNAL
/// (the spool could not be written: 500).
#[no_mangle]
pub extern "C" fn cc_event_ingest(
    client: *mut cc_client,
    query_string: *const c_char,
    out_http_status: *mut c_int,
) -> cc_result {
    let mut http_status: u16 = 500;
    let result = ffi_boundary! {
        let c = client_of(client)?;
        http_status = 400;
        let query = str_arg(query_string, "query_string", MAX_QUERY)?;
        match c.ingest_event(query) {
            Ok(reply) => {
                http_status = reply.http_status;
                Ok(())
            }
            Err(refused) => {
                http_status = refused.http_status;
                Err(refused.error)
            }
        }
    };
    if let Some(out) = opt_out(out_http_status) {
        out.set(c_int::from(http_status));
    }
    result
}
