//! The Rust API: a [`Client`] per carrier account, [`Call`]s it places.
//!
//! Both are `Send + Sync`; a call keeps its client alive, and a call whose client was
//! closed answers every request with `InvalidHandle`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use crate::call::{from_unix_ms, unix_ms, CallStatus};
use crate::dsn::Dsn;
use crate::error::{Error, ErrorKind, Result};
use crate::money::Money;
use crate::providers::{self, caps, CallContext, Provider};

/// How long a call may ring before the library stops expecting an answer, when the host
/// gives no `wait_for_pickup` (both legs together).
pub const DEFAULT_WAIT_FOR_PICKUP_S: u32 = 120;
/// How long a call may last when the host gives no `max_duration`.
pub const DEFAULT_MAX_DURATION_S: u32 = 4 * 3600;
/// Added to a call's limits before the library gives up on hearing its end.
pub const EXPIRY_MARGIN_S: u32 = 120;
const MAX_TEXT_ARG: usize = 255;
/// The longest SMS text accepted (ten concatenated parts).
pub const MAX_SMS_TEXT: usize = 1530;

/// Options of one call. `Default` (all empty) asks for the carrier's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Caller id shown to A (`"Name <+4930123456>"` or a number).
    pub caller_id: Option<String>,
    /// Caller id shown to B.
    pub caller_id_b: Option<String>,
    /// The host's own id for the call; kept in the call's reference. Up to 255 bytes.
    pub correlation: Option<String>,
    /// The longest the bridged call may last, in seconds.
    pub max_duration_s: Option<u32>,
    /// How long to ring before giving up, in seconds.
    pub wait_for_pickup_s: Option<u32>,
    /// The most the call may cost (decimal string in the account's currency).
    pub max_cost: Option<String>,
    /// 1: ring A first, then B; 2: ring both at once (carriers that offer the choice).
    pub connect_type: Option<u32>,
    pub allow_public_transfer: bool,
    pub video: bool,
}

impl CallOptions {
    /// Refuses options the carrier cannot honour, and malformed ones.
    fn check(&self, scheme: &str, capabilities: u32) -> Result<()> {
        let need = |set: bool, cap: u32, name: &str| -> Result<()> {
            if set && capabilities & cap == 0 {
                return Err(Error::unsupported(format!(
                    "{scheme} cannot honour the option {name}"
                )));
            }
            Ok(())
        };
        need(
            self.caller_id.is_some() || self.caller_id_b.is_some(),
            caps::CALLER_ID,
            "caller_id",
        )?;
        need(
            self.max_duration_s.is_some(),
            caps::MAX_DURATION,
            "max_duration_s",
        )?;
        need(
            self.wait_for_pickup_s.is_some(),
            caps::WAIT_FOR_PICKUP,
            "wait_for_pickup_s",
        )?;
        need(self.max_cost.is_some(), caps::MAX_COST, "max_cost")?;
        need(
            self.connect_type.is_some(),
            caps::CONNECT_TYPE,
            "connect_type",
        )?;
        need(
            self.allow_public_transfer || self.video,
            caps::CALL_FLAGS,
            "allow_public_transfer/video",
        )?;
        if let Some(c) = &self.correlation {
            if c.len() > MAX_TEXT_ARG {
                return Err(Error::invalid_argument(format!(
                    "correlation is longer than {MAX_TEXT_ARG} bytes"
                )));
            }
        }
        if let Some(t) = self.connect_type {
            if !(1..=2).contains(&t) {
                return Err(Error::invalid_argument(
                    "connect_type must be 1 (A first) or 2 (both at once)",
                ));
            }
        }
        if let Some(m) = &self.max_cost {
            crate::money::normalise_decimal(m)
                .filter(|d| !d.starts_with('-'))
                .ok_or_else(|| {
                    Error::invalid_argument("max_cost must be a decimal amount such as 1.50")
                })?;
        }
        Ok(())
    }
}

struct ClientShared {
    provider: Box<dyn Provider>,
    closed: AtomicBool,
    /// The DSN's secret in every form it may be shown in (see [`Client::redact`]).
    secrets: Vec<String>,
    /// The calls of this client alive in this process, by id: where carrier events for
    /// them are applied (see `events`).
    calls: Mutex<HashMap<String, Vec<Weak<Mutex<CallInner>>>>>,
    /// The built-in event listener, when the DSN asked for one (`event_listen`).
    listener: Mutex<Option<crate::events::Listener>>,
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
        let dsn = Dsn::parse(dsn)?;
        // The secret, or the user-info's only part when there is no secret (an API key
        // in the user's place, as PokeTALK's DSN has it).
        let secret = match (&dsn.secret, &dsn.user) {
            (Some(s), _) => s.expose().to_string(),
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        };
        let ref_keys = crate::reference::keys_for(&dsn);
        let provider = providers::build(dsn)?;
        let client = Client {
            shared: Arc::new(ClientShared {
                provider,
                closed: AtomicBool::new(false),
                secrets: crate::transport::secret_forms(&secret),
                calls: Mutex::new(HashMap::new()),
                listener: Mutex::new(None),
                ref_keys,
            }),
        };
        if let Some(listener) = crate::events::Listener::start(&client)? {
            *lock_or_recover(&client.shared.listener) = Some(listener);
        }
        Ok(client)
    }

    /// An error with every secret blanked out: the DSN's, the carrier's own (derived keys,
    /// tokens) and `also` (a PIN in flight). Every carrier error passes through here, so
    /// that a carrier echoing a credential in its error text never shows it to the host.
    fn redact(&self, e: Error, also: &[&str]) -> Error {
        let mut secrets = self.shared.secrets.clone();
        for s in also {
            secrets.extend(crate::transport::secret_forms(s));
        }
        let provider = &self.shared.provider;
        e.redacted(|t| provider.redact(&crate::transport::redact(t, &secrets)))
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

    /// The `caps::*` bits of this client's carrier.
    pub fn capabilities(&self) -> u32 {
        self.shared.provider.capabilities()
    }

    /// Places a two-leg callback: ring `a`, then bridge to `b`. Never repeated on a
    /// fault: an unknown outcome is `ErrorKind::OutcomeUnknown`.
    pub fn start_call(&self, a: &str, b: &str, options: &CallOptions) -> Result<Call> {
        let provider = self.live()?;
        options.check(provider.scheme(), provider.capabilities())?;
        let started = provider
            .start_call(a, b, options)
            .map_err(|e| self.redact(e, &[]))?;
        let wait = options
            .wait_for_pickup_s
            .unwrap_or(DEFAULT_WAIT_FOR_PICKUP_S);
        let max = options.max_duration_s.unwrap_or(DEFAULT_MAX_DURATION_S);
        let mut status = CallStatus::new(started.live);
        status.apply(&started.observation);
        let record = CallRecord {
            carrier: provider.scheme().to_string(),
            id: started.call_id,
            started_ms: unix_ms(SystemTime::now()),
            limit_s: wait
                .saturating_add(max)
                .saturating_add(EXPIRY_MARGIN_S)
                .min(crate::reference::MAX_LIMIT_S),
            correlation: options.correlation.clone(),
            extra: started.extra,
        };
        Ok(Call::new(self.clone(), record, status))
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
        let live = provider.capabilities() & caps::LIVE_STATUS != 0;
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
            let listener = lock_or_recover(&self.shared.listener).take();
            if let Some(mut l) = listener {
                l.stop();
            }
            self.shared.provider.close();
        }
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
    pub(crate) fn with_live_calls(
        &self,
        id: &str,
        mut f: impl FnMut(&mut CallStatus),
        none: impl FnOnce(),
    ) -> usize {
        let index = lock_or_recover(&self.shared.calls);
        let mut n = 0;
        for weak in index.get(id).into_iter().flatten() {
            if let Some(inner) = weak.upgrade() {
                let mut inner = lock_or_recover(&inner);
                f(&mut inner.status);
                n += 1;
            }
        }
        if n == 0 {
            none();
        }
        n
    }

    fn register_call(&self, id: &str, inner: &Arc<Mutex<CallInner>>) {
        let mut index = lock_or_recover(&self.shared.calls);
        let list = index.entry(id.to_string()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(inner));
    }

    fn forget_call(&self, id: &str, inner: &Arc<Mutex<CallInner>>) {
        let mut index = lock_or_recover(&self.shared.calls);
        if let Some(list) = index.get_mut(id) {
            list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(inner)));
            if list.is_empty() {
                index.remove(id);
            }
        }
    }
}

/// A lock whose data stays consistent even if a holder panicked (no user code runs
/// under these locks).
fn lock_or_recover<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a call's reference holds (see `crate::reference` for its signed form).
type CallRecord = crate::reference::Payload;

impl CallRecord {
    fn deadline(&self) -> SystemTime {
        from_unix_ms(self.started_ms) + Duration::from_secs(u64::from(self.limit_s))
    }
}

struct CallInner {
    record: CallRecord,
    status: CallStatus,
}

/// One placed call. Safe to share between threads; requests on one call are serialised.
pub struct Call {
    client: Client,
    /// Shared with the client's index of live calls (weakly), where events land.
    inner: Arc<Mutex<CallInner>>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

impl Call {
    fn new(client: Client, record: CallRecord, status: CallStatus) -> Call {
        let id = record.id.clone();
        let inner = Arc::new(Mutex::new(CallInner { record, status }));
        client.register_call(&id, &inner);
        Call { client, inner }
    }

    fn lock(&self) -> Result<MutexGuard<'_, CallInner>> {
        self.inner
            .lock()
            .map_err(|_| Error::internal("a call's lock was poisoned by an earlier panic"))
    }

    /// The carrier's id of the call.
    pub fn id(&self) -> Result<String> {
        Ok(self.lock()?.record.id.clone())
    }

    /// The host's correlation string, if one was given at the start.
    pub fn correlation(&self) -> Result<Option<String>> {
        Ok(self.lock()?.record.correlation.clone())
    }

    /// Asks the carrier (where it can tell) and returns the call's status. A final
    /// status is returned without asking again.
    pub fn poll(&self) -> Result<CallStatus> {
        let provider = self.client.live()?;
        let mut inner = self.lock()?;
        if inner.status.state.is_final() {
            return Ok(inner.status.clone());
        }
        let CallInner { record, status } = &mut *inner;
        let ctx = CallContext {
            call_id: &record.id,
            extra: &record.extra,
        };
        if let Some(obs) = provider
            .poll(&ctx)
            .map_err(|e| self.client.redact(e, &[]))?
        {
            status.apply(&obs);
        }
        // Events that reached another process (event spool) or came before the call
        // was known here.
        crate::events::catch_up(provider, &record.id, status)?;
        status.expire_if_past(record.deadline());
        Ok(status.clone())
    }

    /// The last known status, without asking the carrier.
    pub fn status(&self) -> Result<CallStatus> {
        Ok(self.lock()?.status.clone())
    }

    /// Asks the carrier to end the call. A call that has already ended is left alone.
    pub fn hangup(&self) -> Result<CallStatus> {
        let provider = self.client.live()?;
        let mut inner = self.lock()?;
        if inner.status.state.is_final() {
            return Ok(inner.status.clone());
        }
        let CallInner { record, status } = &mut *inner;
        let ctx = CallContext {
            call_id: &record.id,
            extra: &record.extra,
        };
        let obs = provider
            .hangup(&ctx)
            .map_err(|e| self.client.redact(e, &[]))?;
        if !status.apply(&obs) && !status.state.is_final() {
            status.hangup_pending = true;
        }
        Ok(status.clone())
    }

    /// A text that names this call and can be stored (it holds no secret: the carrier's
    /// data in it is sealed, the whole is signed) and turned back into a call with
    /// [`Client::attach`] by a client of the same account, in this process or another.
    pub fn reference(&self) -> Result<String> {
        let record = self.lock()?.record.clone();
        self.client.shared.ref_keys.encode(&record)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let id = lock_or_recover(&self.inner).record.id.clone();
        self.client.forget_call(&id, &self.inner);
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
            o.check("42call", caps::CALLBACK).unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        assert!(o.check("x", caps::CALLER_ID).is_ok());
        let o = CallOptions {
            max_cost: Some("-1".into()),
            ..Default::default()
        };
        assert_eq!(
            o.check("x", caps::MAX_COST).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
