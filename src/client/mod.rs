//! The Rust API: a [`Client`] per carrier account, [`Call`]s it places.
//!
//! Both are `Send + Sync`; a call keeps its client alive, and a call whose client was
//! closed answers every request with `InvalidHandle`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use crate::dsn::Dsn;
use crate::error::{Error, ErrorKind, Result};
use crate::events::listener::{Bound, Listener};
use crate::events::{EventOptions, EventRefused, EventReply, Events, LiveCalls};
use crate::log::{log_at, Level};
use crate::model::{
    from_unix_ms, unix_ms, CallContext, CallOptions, CallStatus, Capabilities, FailReason, Leg,
    Observation, StartContext,
};
use crate::money::Money;
use crate::providers::{self, Provider};
use crate::secrets::Secrets;
use crate::store::{self, CallStore, Update};
use crate::util::{lock_or_recover, new_call_id};

mod account;

/// How long a call may ring before the library stops expecting an answer, when the host
/// gives no `wait_for_pickup` (both legs together).
pub const DEFAULT_WAIT_FOR_PICKUP_S: u32 = 120;
/// How long a call may last when the host gives no `max_duration`.
pub const DEFAULT_MAX_DURATION_S: u32 = 4 * 3600;
/// Added to a call's limits before the library gives up on hearing its end.
pub const EXPIRY_MARGIN_S: u32 = 120;
/// The longest SMS text accepted (ten concatenated parts).
pub const MAX_SMS_TEXT: usize = 1530;

/// A call alive in this process, as the client's index holds it: its status (weakly)
/// and when it was placed (Unix ms).
type LiveCall = (Weak<Mutex<CallStatus>>, i64);

struct ClientShared {
    provider: Box<dyn Provider>,
    /// Where carrier events are taken, when the DSN configured them (`event_*`).
    events: Option<Events>,
    /// The call-state store (`store=`, `event_spool=`): what crosses processes.
    store: Option<Box<dyn CallStore>>,
    closed: AtomicBool,
    /// Every secret of this client, shared with its carrier's transport (see
    /// [`Client::redact`]).
    secrets: Arc<Secrets>,
    /// The calls of this client alive in this process, by id: where carrier events for
    /// them are applied (see `events`).
    calls: Mutex<HashMap<String, Vec<LiveCall>>>,
    /// The built-in event listener, when the DSN asked for one (`event_listen`).
    listener: Mutex<Option<Listener>>,
    /// The account's keys for call references (see `crate::reference`).
    ref_keys: crate::reference::Keys,
}

/// A connection to one carrier account. Cheap to clone; all clones are one client.
#[derive(Clone)]
pub struct Client {
    shared: Arc<ClientShared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("carrier", &self.shared.provider.scheme())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client from its DSN. Sends nothing.
    pub fn new(dsn: &str) -> Result<Client> {
        let mut dsn = Dsn::parse(dsn)?;
        // The secret, or the user-info's only part when there is no secret (an API key
        // in the user's place, as PokeTALK's DSN has it).
        let secret = match (&dsn.secret, &dsn.user) {
            (Some(s), _) => s.expose().to_string(),
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        };
        // The one registry of secrets: the carrier's transport shares it (`dsn.secrets`).
        let secrets = dsn.secrets.clone();
        secrets.add(&secret);
        let carrier = providers::find(&dsn.scheme)?;
        // The store is every carrier's (`event_spool` is its older name).
        let store = store::from_dsn(&mut dsn)?;
        // The event options are the client's: taken before the carrier reads the rest,
        // and only for a carrier that reports by events (for others they are unknown
        // options, refused by the carrier's `finish`).
        let mut events = None;
        if let Some(protocol) = carrier.events {
            if let Some(options) = EventOptions::take(&mut dsn)? {
                secrets.add(options.secret.expose());
                let bound = options
                    .listen
                    .map(|a| Bound::bind(a, options.listener.clone()))
                    .transpose()?;
                let addr = bound.as_ref().map(Bound::addr);
                events = Some((Events::new(options, protocol, addr)?, bound));
            }
        }
        let ref_keys = crate::reference::keys_for(&dsn);
        let provider = (carrier.build)(dsn)?;
        let (events, bound) = match events {
            Some((e, b)) => (Some(e), b),
            None => (None, None),
        };
        let client = Client {
            shared: Arc::new(ClientShared {
                provider,
                events,
                store,
                closed: AtomicBool::new(false),
                secrets,
                calls: Mutex::new(HashMap::new()),
                listener: Mutex::new(None),
                ref_keys,
            }),
        };
        if let Some(bound) = bound {
            let weak = client.downgrade();
            let listener = Listener::start(bound, move |query| match weak.upgrade() {
                Some(c) => match c.ingest_event(query) {
                    Ok(reply) => reply.http_status,
                    Err(refused) => refused.http_status,
                },
                None => 503,
            })?;
            *lock_or_recover(&client.shared.listener) = Some(listener);
        }
        Ok(client)
    }

    /// An error with every secret blanked out: the DSN's, the carrier's own (derived keys,
    /// tokens) and `also` (a PIN in flight). Every carrier error passes through here, so
    /// that a carrier echoing a credential in its error text never shows it to the host.
    fn redact(&self, e: Error, also: &[&str]) -> Error {
        e.redacted(|t| self.shared.secrets.redact_with(t, also))
    }

    /// The carrier, unless the client was closed.
    pub(crate) fn live(&self) -> Result<&dyn Provider> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::InvalidHandle, "the client was freed"));
        }
        Ok(self.shared.provider.as_ref())
    }

    /// The carrier's DSN scheme.
    pub fn carrier(&self) -> &'static str {
        self.shared.provider.scheme()
    }

    /// What this client's carrier can do (with events, when the DSN configured them).
    pub fn capabilities(&self) -> Capabilities {
        let mut caps = self.shared.provider.capabilities();
        if let Some(events) = &self.shared.events {
            caps |= events.capabilities();
        }
        caps
    }

    /// Places a two-leg callback: ring `a`, then bridge to `b`. Never repeated on a
    /// fault: an unknown outcome is `ErrorKind::OutcomeUnknown`.
    pub fn start_call(&self, a: &str, b: &str, options: &CallOptions) -> Result<Call> {
        let provider = self.live()?;
        options.check(provider.scheme(), self.capabilities())?;
        let call_id = new_call_id();
        // Before anything is sent: the call cannot have been connected earlier (the
        // bound of a plausible duration).
        let started_ms = unix_ms(SystemTime::now());
        let store = self.shared.store.as_deref();
        let event_url = match &self.shared.events {
            Some(ev) => {
                let url = ev.prepare_call(&call_id, options)?;
                // The call's record, before the carrier can send its first event (to
                // any process): a call that could not be followed is not placed.
                if let Some(s) = store {
                    let u = Update {
                        started_ms: Some(started_ms),
                        create: true,
                        ..Update::new(started_ms)
                    };
                    s.merge(&call_id, &u).map_err(|e| self.redact(e, &[]))?;
                }
                Some(url)
            }
            None => None,
        };
        if let Some(token) = event_url.as_deref().and_then(crate::events::url_token) {
            // The call's event token proves its events: a secret from now on.
            self.shared.secrets.remember_recent("event-token", token);
        }
        let start = StartContext {
            call_id: &call_id,
            event_url: event_url.as_deref(),
        };
        let started = provider.start_call(a, b, options, &start).map_err(|e| {
            if e.kind() != ErrorKind::OutcomeUnknown {
                if let Some(ev) = &self.shared.events {
                    ev.forget_call(&call_id);
                    if let Some(s) = store {
                        let _ = s.remove(&call_id);
                    }
                }
            }
            self.redact(e, &[])
        })?;
        let wait = options
            .wait_for_pickup_s
            .unwrap_or(DEFAULT_WAIT_FOR_PICKUP_S);
        let max = options.max_duration_s.unwrap_or(DEFAULT_MAX_DURATION_S);
        let mut status = CallStatus::new(started.live);
        status.apply(&started.observation);
        let record = CallReference {
            carrier: provider.scheme().to_string(),
            id: started.call_id,
            started_ms,
            limit_s: wait
                .saturating_add(max)
                .saturating_add(EXPIRY_MARGIN_S)
                .min(crate::reference::MAX_LIMIT_S),
            correlation: options.correlation.clone(),
            extra: started.extra,
        };
        if let Some(s) = store {
            // The call is placed: a store that fails now must not make the host believe
            // it was not (it would place it again). The call works in this process.
            if let Err(e) = self.record_start(s, &record, &started.observation) {
                log_at!(
                    Level::Warn,
                    "call {}: placed, but its record could not be written to {}: {}",
                    record.id,
                    s.describe(),
                    self.redact(e, &[])
                );
            }
        }
        Ok(Call::new(self.clone(), record, status))
    }

    /// Writes a placed call's record, and for a carrier with sessions the session's
    /// newest call (so that a reference to an older call never acts on this one).
    fn record_start(
        &self,
        s: &dyn CallStore,
        record: &CallReference,
        obs: &Observation,
    ) -> Result<()> {
        let now = unix_ms(SystemTime::now());
        let u = Update {
            obs: obs.clone(),
            started_ms: Some(record.started_ms),
            create: true,
            ..Update::new(now)
        };
        s.merge(&record.id, &u)?;
        let ctx = CallContext {
            call_id: &record.id,
            extra: &record.extra,
        };
        if let Some((session, seq)) = self.shared.provider.session_slot(&ctx) {
            let u = Update {
                seq: Some(seq),
                create: true,
                ..Update::new(now)
            };
            s.merge(&session, &u)?;
        }
        Ok(())
    }

    /// Turns a reference from [`Call::reference`] (possibly made by another process of
    /// the same account) back into a call. Sends nothing; the next poll asks the carrier.
    /// A reference that was altered, cut, made by another account or in the old unsigned
    /// format is refused (`InvalidArgument`, the message says which).
    pub fn attach(&self, reference: &str) -> Result<Call> {
        let provider = self.live()?;
        let record = self
            .shared
            .ref_keys
            .decode(reference, unix_ms(SystemTime::now()))?;
        if record.carrier != provider.scheme() {
            return Err(Error::invalid_argument(format!(
                "the reference is of a {} call, this client speaks {}",
                record.carrier,
                provider.scheme()
            )));
        }
        let live = self.capabilities().contains(Capabilities::LIVE_STATUS);
        let mut status = CallStatus::new(live);
        status.last_change = from_unix_ms(record.started_ms);
        Ok(Call::new(self.clone(), record, status))
    }

    /// Sends `text` to one or more recipients (`n1|n2|...`); returns the carrier's id of
    /// the message.
    pub fn send_sms(&self, recipients: &str, text: &str) -> Result<String> {
        let provider = self.live()?;
        if text.is_empty() {
            return Err(Error::invalid_argument("the SMS text is empty"));
        }
        if text.chars().count() > MAX_SMS_TEXT {
            return Err(Error::invalid_argument(format!(
                "the SMS text is longer than {MAX_SMS_TEXT} characters"
            )));
        }
        provider
            .send_sms(recipients, text)
            .map_err(|e| self.redact(e, &[]))
    }

    /// Tops the account up with a PIN; returns the new balance if the carrier told it.
    pub fn topup(&self, pin: &str) -> Result<Option<Money>> {
        let provider = self.live()?;
        let pin = pin.trim();
        if pin.is_empty() || pin.len() > 64 || !pin.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::invalid_argument(
                "the PIN must be 1 to 64 letters or digits",
            ));
        }
        provider.topup(pin).map_err(|e| self.redact(e, &[pin]))
    }

    /// The balance the carrier reported last (42call sends it with every reply).
    pub fn known_balance(&self) -> Option<Money> {
        self.shared.provider.known_balance()
    }

    /// Ends the client: later use of it, or of its calls, is `InvalidHandle`. Carriers
    /// with sessions log out here. Idempotent.
    pub fn close(&self) {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            // Dropping the listener stops it and joins its threads.
            drop(lock_or_recover(&self.shared.listener).take());
            self.shared.provider.close();
        }
    }
}

/// Events: taken from the host's web server or the built-in listener.
impl Client {
    /// Takes one event: the query string of a hit on the call's event URL. On success
    /// the host answers [`EventReply::http_status`]; on refusal (nothing changed)
    /// [`EventRefused::http_status`].
    pub fn ingest_event(&self, query: &str) -> std::result::Result<EventReply, EventRefused> {
        let refuse = |http_status: u16, error: Error| EventRefused { http_status, error };
        let provider = self.live().map_err(|e| refuse(503, e))?;
        let Some(events) = &self.shared.events else {
            return Err(refuse(
                404,
                Error::unsupported(format!(
                    "this {} client takes no events (its DSN has no event_url and event_secret)",
                    provider.scheme()
                )),
            ));
        };
        events.ingest(query, self, self.shared.store.as_deref())
    }

    /// The address of the built-in event listener (`event_listen`), with the port the
    /// system chose when the DSN said `:0`.
    pub fn event_listen_addr(&self) -> Option<SocketAddr> {
        self.live().ok()?;
        self.shared.events.as_ref()?.listen_addr()
    }
}

impl LiveCalls for Client {
    fn with_live_calls(
        &self,
        id: &str,
        f: &mut dyn FnMut(&mut CallStatus, i64),
        none: &mut dyn FnMut(),
    ) -> usize {
        Client::with_live_calls(self, id, f, none)
    }
}

/// A client that does not keep the client alive (held by its event listener).
#[derive(Clone)]
pub(crate) struct WeakClient(Weak<ClientShared>);

impl WeakClient {
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|shared| Client { shared })
    }
}

/// Event support: the client finds its live calls by id.
impl Client {
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.shared))
    }

    /// Runs `f` on the status of every call with this id alive in this process (a call
    /// and the same call attached again are two), or `none` when there is none; both
    /// under the index's lock, so that a call registered meanwhile is seen by one of the
    /// two. Returns how many calls `f` ran on.
    fn with_live_calls(
        &self,
        id: &str,
        f: &mut dyn FnMut(&mut CallStatus, i64),
        none: &mut dyn FnMut(),
    ) -> usize {
        let index = lock_or_recover(&self.shared.calls);
        let mut n = 0;
        for (weak, started_ms) in index.get(id).into_iter().flatten() {
            if let Some(status) = weak.upgrade() {
                let mut status = lock_or_recover(&status);
                f(&mut status, *started_ms);
                n += 1;
            }
        }
        if n == 0 {
            none();
        }
        n
    }

    fn register_call(&self, id: &str, inner: &Arc<Mutex<CallStatus>>, started_ms: i64) {
        let mut index = lock_or_recover(&self.shared.calls);
        // No entry is ever dead: each handle takes its own out in its `Drop`.
        let list = index.entry(id.to_string()).or_default();
        list.push((Arc::downgrade(inner), started_ms));
    }

    fn forget_call(&self, id: &str, inner: &Arc<Mutex<CallStatus>>) {
        let mut index = lock_or_recover(&self.shared.calls);
        if let Some(list) = index.get_mut(id) {
            list.retain(|(w, _)| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(inner)));
            if list.is_empty() {
                index.remove(id);
            }
        }
    }
}

/// What a call's reference holds (see `crate::reference` for its signed form).
type CallReference = crate::reference::Payload;

impl CallReference {
    fn deadline(&self) -> SystemTime {
        from_unix_ms(self.started_ms) + Duration::from_secs(u64::from(self.limit_s))
    }
}

/// One placed call. Safe to share between threads; requests on one call are serialised.
pub struct Call {
    client: Client,
    /// What the call's reference holds: set at the start, never changed.
    record: CallReference,
    /// The call's status, shared with the client's index of live calls (weakly), where
    /// events land.
    status: Arc<Mutex<CallStatus>>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.record.id)
            .finish_non_exhaustive()
    }
}

impl Call {
    fn new(client: Client, record: CallReference, status: CallStatus) -> Call {
        let status = Arc::new(Mutex::new(status));
        client.register_call(&record.id, &status, record.started_ms);
        Call {
            client,
            record,
            status,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, CallStatus>> {
        self.status
            .lock()
            .map_err(|_| Error::internal("a call's lock was poisoned by an earlier panic"))
    }

    /// The carrier's id of the call.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The host's correlation string, if one was given at the start.
    pub fn correlation(&self) -> Option<&str> {
        self.record.correlation.as_deref()
    }

    /// Asks the carrier (where it can tell) and returns the call's status. A final
    /// status is returned without asking again. With a store, what the carrier said is
    /// merged into the call's record and the status is read from it: it then holds
    /// what every process saw (events, hang-ups, the end).
    pub fn poll(&self) -> Result<CallStatus> {
        let provider = self.client.live()?;
        let mut status = self.lock()?;
        if status.state.is_final() {
            return Ok(status.clone());
        }
        let record = &self.record;
        let store = self.client.shared.store.as_deref();
        let ctx = CallContext {
            call_id: &record.id,
            extra: &record.extra,
        };
        let obs = match self.superseded(store, &ctx)? {
            // Never asked about on its session, which now names a newer call.
            Some(end) => end,
            None => provider
                .poll(&ctx)
                .map_err(|e| self.client.redact(e, &[]))?,
        };
        self.settle(store, record, &mut status, obs)?;
        // Events that came before the call was known here (without a store).
        if let Some(events) = &self.client.shared.events {
            events.catch_up(&record.id, &mut status, record.started_ms);
        }
        status.expire_if_past(record.deadline());
        Ok(status.clone())
    }

    /// The last known status, without asking the carrier.
    pub fn status(&self) -> Result<CallStatus> {
        Ok(self.lock()?.clone())
    }

    /// Asks the carrier to end the call.
    ///
    /// A carrier that reports by events ends a call when the answer to its next event
    /// says so: the request is noted (with a store, in the call's record, for whichever
    /// process takes that event) whatever the call's state here, even after an end the
    /// carrier may not have made (a forged final event): every later event that shows
    /// the call not over is answered with the hang-up status. The call reads
    /// HANGUP_PENDING until its final event.
    ///
    /// Other carriers are asked at once; a call that has already ended is left alone,
    /// and a call that a newer call of its session replaced is never hung up on that
    /// session.
    pub fn hangup(&self) -> Result<CallStatus> {
        let provider = self.client.live()?;
        let mut status = self.lock()?;
        let record = &self.record;
        let store = self.client.shared.store.as_deref();
        if self.client.shared.events.is_some() {
            if let Some(s) = store {
                let now = unix_ms(SystemTime::now());
                let rec = store::request_hangup(s, &record.id, now)
                    .map_err(|e| self.client.redact(e, &[]))?;
                store::absorb(&mut status, &rec);
            }
            status.hangup_requested = true;
            if !status.state.is_final() {
                status.hangup_pending = true;
            }
            return Ok(status.clone());
        }
        if status.state.is_final() {
            return Ok(status.clone());
        }
        let ctx = CallContext {
            call_id: &record.id,
            extra: &record.extra,
        };
        let obs = match self.superseded(store, &ctx)? {
            Some(end) => end,
            None => Some(
                provider
                    .hangup(&ctx)
                    .map_err(|e| self.client.redact(e, &[]))?,
            ),
        };
        self.settle(store, record, &mut status, obs)?;
        if !status.state.is_final() {
            status.hangup_pending = true;
        }
        Ok(status.clone())
    }

    /// For a call of a carrier with sessions, when a newer call of its session was
    /// placed (by any process sharing the store): what is known of its own end (its
    /// record's final state, else FAILED/UNKNOWN). `None`: the call is its session's
    /// newest, or there is no store.
    fn superseded(
        &self,
        store: Option<&dyn CallStore>,
        ctx: &CallContext<'_>,
    ) -> Result<Option<Option<Observation>>> {
        let (Some(s), Some((session, seq))) = (store, self.client.live()?.session_slot(ctx)) else {
            return Ok(None);
        };
        let redact = |e| self.client.redact(e, &[]);
        let newest = s.load(&session).map_err(redact)?.map_or(0, |r| r.seq);
        if newest <= seq {
            return Ok(None);
        }
        let own = s.load(ctx.call_id).map_err(redact)?;
        Ok(Some(match own {
            Some(r) if r.state.is_final() => None,
            _ => Some(Observation::failed(FailReason::Unknown, Leg::None)),
        }))
    }

    /// Takes what the carrier said (if anything) into the call's status: through the
    /// store's record when there is one, else directly.
    fn settle(
        &self,
        store: Option<&dyn CallStore>,
        record: &CallReference,
        status: &mut CallStatus,
        obs: Option<Observation>,
    ) -> Result<()> {
        let now = unix_ms(SystemTime::now());
        let Some(s) = store else {
            if let Some(o) = obs {
                status.apply_checked(&o, Some(record.started_ms), now);
            }
            return Ok(());
        };
        let merged = match obs {
            Some(o) => {
                let u = Update {
                    obs: o,
                    started_ms: Some(record.started_ms),
                    create: true,
                    ..Update::new(now)
                };
                s.merge(&record.id, &u).map(|m| m.map(|m| m.record))
            }
            None => s.load(&record.id),
        };
        if let Some(rec) = merged.map_err(|e| self.client.redact(e, &[]))? {
            store::absorb(status, &rec);
        }
        Ok(())
    }

    /// A text that names this call and can be stored (it holds no secret: the carrier's
    /// data in it is sealed, the whole is signed) and turned back into a call with
    /// [`Client::attach`] by a client of the same account, in this process or another.
    pub fn reference(&self) -> String {
        self.client.shared.ref_keys.encode(&self.record)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.client.forget_call(&self.record.id, &self.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let o = CallOptions {
            caller_id: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            o.check("42call", Capabilities::CALLBACK)
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
        assert!(o.check("x", Capabilities::CALLER_ID).is_ok());
        let o = CallOptions {
            max_cost: Some("-1".into()),
            ..Default::default()
        };
        assert_eq!(
            o.check("x", Capabilities::MAX_COST).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn the_event_secret_is_registered_with_the_transport() {
        let secret = "0123456789abcdef-event-secret";
        let c = Client::new(&format!(
            "poketalk://the-api-key@127.0.0.1:9?tls=0&event_url=http%3A%2F%2Fh%2F&event_secret={secret}"
        ))
        .unwrap();
        // One registry: what the client blanks is what the carrier's transport blanks.
        assert_eq!(c.shared.secrets.redact(secret), "***");
        assert_eq!(c.shared.secrets.redact("the-api-key"), "***");
        assert!(c.capabilities().contains(Capabilities::EVENTS));
    }

    #[test]
    fn a_client_shows_its_carrier_and_nothing_else() {
        let c = Client::new("42call://user:hunter2@127.0.0.1:9?tls=0&realm=r").unwrap();
        assert_eq!(format!("{c:?}"), r#"Client { carrier: "42call", .. }"#);
    }

    /// The client's index of live calls (where events land) holds each live handle of a
    /// call, and forgets each handle when it is dropped, not before and not another's.
    #[test]
    fn the_index_holds_each_handle_of_a_call_until_it_is_dropped() {
        let c = Client::new("42call://user:hunter2@127.0.0.1:9?tls=0&realm=r").unwrap();
        let r = c.shared.ref_keys.encode(&CallReference {
            carrier: "42call".into(),
            id: "4AF46744-C346-44FF-80E3-33D89FBE963B".into(),
            started_ms: unix_ms(SystemTime::now()),
            limit_s: 600,
            correlation: None,
            extra: serde_json::json!({}),
        });
        let one = c.attach(&r).unwrap();
        let two = c.attach(&r).unwrap();
        assert_eq!(
            format!("{one:?}"),
            r#"Call { id: "4AF46744-C346-44FF-80E3-33D89FBE963B", .. }"#
        );
        let held = |c: &Client| -> Vec<*const Mutex<CallStatus>> {
            let index = c.shared.calls.lock().unwrap();
            index
                .get("4AF46744-C346-44FF-80E3-33D89FBE963B")
                .map(|l| l.iter().map(|(w, _)| w.as_ptr()).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            held(&c),
            [Arc::as_ptr(&one.status), Arc::as_ptr(&two.status)]
        );
        drop(one);
        assert_eq!(held(&c), [Arc::as_ptr(&two.status)]);
        drop(two);
        assert!(c.shared.calls.lock().unwrap().is_empty());
    }

    /// The SMS text's cap counts characters, not bytes; a PIN is 1 to 64 letters or
    /// digits, spaces around it aside. What is refused is refused before anything is sent
    /// (this client's carrier is at a port where nothing listens).
    #[test]
    fn sms_texts_and_pins_are_checked_before_sending() {
        let c = Client::new("42call://user:hunter2@127.0.0.1:9?tls=0&realm=r").unwrap();
        let sent = |r: Result<()>| r.unwrap_err().kind() != ErrorKind::InvalidArgument;
        let sms = |text: &str| c.send_sms("+491711234567", text).map(|_| ());
        let topup = |pin: &str| c.topup(pin).map(|_| ());
        assert!(sent(sms(&"é".repeat(MAX_SMS_TEXT))));
        assert!(!sent(sms(&"é".repeat(MAX_SMS_TEXT + 1))));
        assert!(!sent(sms("")));
        assert!(sent(topup(&"9".repeat(64))));
        assert!(sent(topup(" 12 ")));
        for pin in ["", "   ", "12 34", "12-34", &"9".repeat(65)] {
            assert!(!sent(topup(pin)), "{pin:?}");
        }
    }
}
