//! The call-state store: one record per call, shared by every process (and, with Redis,
//! every server) that handles the calls of one carrier account.
//!
//! A record is the call's current state, not a log of what was said about it: the
//! neutral status, the figures of its first final state, whether the host asked for its
//! end, and the little carrier data another process needs (Connect Call: the newest call
//! of a session). Every change is a [`Update`] merged into the record atomically by the
//! backend, under the rules of [`merge`]:
//!
//! - the state only moves forward (`INITIATING` .. `CONNECTED`, then `ENDED`/`FAILED`);
//! - the first final state's figures stand: after it nothing changes the state, the
//!   reason, the duration or the cost; before it a cost never goes down;
//! - a duration longer than the time since the call's start (plus
//!   [`PLAUSIBLE_MARGIN_S`]) is implausible and is not taken;
//! - a hang-up request is never lost: once asked, always asked, and any final state that
//!   comes after it reads `ENDED`/`CANCELLED`.
//!
//! The same rules apply in one process ([`crate::call::CallStatus::apply`] goes through
//! [`merge`]) and on the Redis server (the Lua script in `redis.rs` is their copy; the
//! tests run the same sequences through both).
//!
//! Backends: `store=dir:PATH` ([`dir::DirStore`], one small file per call in a private
//! directory; `event_spool=PATH` is its older name) and `store=redis://...`
//! ([`redis::RedisStore`], one hash per call). Without a store option no call state
//! crosses processes.

pub mod dir;
pub mod redis;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
#[path = "../../tests/common/redis.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dsn::Dsn;
use crate::error::{Error, Result};
use crate::model::{from_unix_ms, Applied, CallState, CallStatus, FailReason, Leg, Observation};
use crate::money::Money;

/// How long a record is kept after its last change.
pub const KEEP: Duration = Duration::from_secs(48 * 3600);
pub use crate::model::PLAUSIBLE_MARGIN_S;
/// The longest raw carrier code kept.
pub const MAX_RAW: usize = 31;
/// The longest call id a store takes.
pub const MAX_ID: usize = 64;
/// The longest carrier data value kept in a record.
pub const MAX_DATA: usize = 256;

/// Whether a text can be a call id in a store: 1 to 64 of `[A-Za-z0-9_-]`. Checked
/// before an id ever names a file or a key: `../x`, `/etc/x` and empty ids are refused.
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_id(id: &str) -> Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "call-state store: the call id is not one this library makes \
             (1 to 64 letters, digits, '-' or '_')",
        ))
    }
}

fn check_data_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// One call's shared state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub state: CallState,
    #[serde(default)]
    pub reason: FailReason,
    #[serde(default)]
    pub failed_leg: Leg,
    #[serde(default)]
    pub duration_s: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_code: Option<String>,
    /// When the call was placed (Unix ms; 0: not known).
    #[serde(default)]
    pub started_ms: i64,
    /// When the state last moved (Unix ms).
    #[serde(default)]
    pub changed_ms: i64,
    /// When the host first asked for the call's end (Unix ms; 0: never).
    #[serde(default)]
    pub hangup_ms: i64,
    /// A number that only grows (Connect Call: the newest call of a session).
    #[serde(default)]
    pub seq: u64,
    /// Carrier data: each value, once written, stands.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            state: CallState::Initiating,
            reason: FailReason::None,
            failed_leg: Leg::None,
            duration_s: 0,
            cost: None,
            currency: None,
            raw_code: None,
            started_ms: 0,
            changed_ms: 0,
            hangup_ms: 0,
            seq: 0,
            data: BTreeMap::new(),
        }
    }
}

impl Record {
    pub fn hangup_requested(&self) -> bool {
        self.hangup_ms != 0
    }

    pub fn cost_money(&self) -> Option<Money> {
        self.cost.as_ref().map(|amount| Money {
            amount: amount.clone(),
            currency: self.currency.clone(),
        })
    }

    /// The record as a call's status (`live`: whether the carrier reports progress).
    pub fn status(&self, live: bool) -> CallStatus {
        let mut s = CallStatus::new(live);
        s.state = self.state;
        s.reason = self.reason;
        s.failed_leg = self.failed_leg;
        s.duration_s = self.duration_s;
        s.cost = self.cost_money();
        s.raw_code = self.raw_code.clone();
        if self.changed_ms != 0 {
            s.last_change = from_unix_ms(self.changed_ms);
        }
        s.hangup_requested = self.hangup_requested();
        s.hangup_pending = s.hangup_requested && !s.state.is_final();
        s
    }
}

/// One change to a call's record. Fields left `None`/`false` say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub obs: Observation,
    /// The call's start, kept if the record has none.
    pub started_ms: Option<i64>,
    /// The host asks for the call's end.
    pub hangup: bool,
    /// Raise the record's `seq` to at least this.
    pub seq: Option<u64>,
    /// Carrier data, each kept only if the record has no value of that name yet.
    pub data: Vec<(String, String)>,
    /// Create the record if there is none (otherwise an update of an unknown call changes
    /// nothing and the merge returns `None`).
    pub create: bool,
    /// The time of the update (Unix ms).
    pub now_ms: i64,
}

impl Update {
    pub fn new(now_ms: i64) -> Update {
        Update {
            now_ms,
            ..Default::default()
        }
    }

    #[cfg(test)]
    pub fn observation(obs: Observation, now_ms: i64) -> Update {
        Update {
            obs,
            now_ms,
            ..Default::default()
        }
    }
}

/// What a merge did, besides the record it left.
pub type Merge = Applied;

/// A record after a merge, and what the merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub record: Record,
    pub merge: Merge,
}

/// The merge rules: those of [`CallStatus::apply_checked`] for the status and its
/// figures, plus the record's own (a hang-up request is kept with its first time, the
/// start is kept once, `seq` only grows, carrier data is written once). `redis.rs`
/// holds their copy in Lua.
pub fn merge(rec: &mut Record, u: &Update) -> Merge {
    if u.hangup && rec.hangup_ms == 0 {
        rec.hangup_ms = u.now_ms.max(1);
    }
    if let Some(s) = u.started_ms {
        if rec.started_ms == 0 {
            rec.started_ms = s;
        }
    }
    if let Some(s) = u.seq {
        rec.seq = rec.seq.max(s);
    }
    for (k, v) in &u.data {
        if check_data_name(k) && v.len() <= MAX_DATA {
            rec.data.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut status = rec.status(false);
    let mut obs = u.obs.clone();
    obs.raw_code = obs.raw_code.map(|r| r.chars().take(MAX_RAW).collect());
    let m = status.apply_checked(&obs, Some(rec.started_ms), u.now_ms);
    rec.state = status.state;
    rec.reason = status.reason;
    rec.failed_leg = status.failed_leg;
    rec.duration_s = status.duration_s;
    rec.cost = status.cost.as_ref().map(|c| c.amount.clone());
    rec.currency = status.cost.and_then(|c| c.currency);
    rec.raw_code = status.raw_code;
    if m.changed {
        rec.changed_ms = u.now_ms;
    }
    m
}

/// Brings a call's status to its record, which holds what every process saw (each
/// change goes to the store before it is shown). A status the library closed itself
/// (timed out) stays closed.
pub fn absorb(status: &mut CallStatus, rec: &Record) {
    if status.state.is_final() && !rec.state.is_final() {
        return;
    }
    let mut s = rec.status(status.live);
    if rec.changed_ms == 0 || s.state == status.state {
        s.last_change = status.last_change;
    }
    s.timed_out = status.timed_out && s.state == status.state;
    s.hangup_requested |= status.hangup_requested;
    s.hangup_pending = (s.hangup_requested || status.hangup_pending) && !s.state.is_final();
    *status = s;
}

/// A call-state store. Implementations are shared between threads; each operation is
/// atomic across processes.
pub trait CallStore: Send + Sync {
    /// What the DSN said (`dir:/var/lib/x`, `redis://host:6379/0`), never a password.
    fn describe(&self) -> String;
    /// A call's record, `None` when the store has none.
    fn load(&self, id: &str) -> Result<Option<Record>>;
    /// Merges `update` into a call's record atomically and returns the result; `None`
    /// when the call has no record and `update.create` is false.
    fn merge(&self, id: &str, update: &Update) -> Result<Option<Merged>>;
    /// Forgets a call (a start the carrier refused).
    fn remove(&self, id: &str) -> Result<()>;
    /// Removes records unchanged for longer than `keep`; returns how many.
    fn purge(&self, keep: Duration) -> Result<usize>;
}

/// Marks a call's end as asked; returns its record.
pub fn request_hangup(store: &dyn CallStore, id: &str, now_ms: i64) -> Result<Record> {
    let u = Update {
        hangup: true,
        create: true,
        ..Update::new(now_ms)
    };
    store
        .merge(id, &u)?
        .map(|m| m.record)
        .ok_or_else(|| Error::internal("call-state store: a created record is missing"))
}

/// The prefix that keeps one carrier account's calls apart from another's in a shared
/// store: 16 hex digits of SHA-1 over the scheme, host, port and account name. Not
/// secret, and names no account.
pub fn account_prefix(dsn: &Dsn) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(b"callconnect-store-v1\n");
    h.update(dsn.scheme.as_bytes());
    h.update(b"\n");
    h.update(dsn.host.to_ascii_lowercase().as_bytes());
    h.update(b"\n");
    h.update(
        dsn.port
            .map(|p| p.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(b"\n");
    h.update(dsn.user.as_deref().unwrap_or("").as_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: {what}"))
}

/// Takes the store options out of a DSN (`store=dir:PATH` or `store=redis://...`,
/// `event_spool=PATH` as the older name of `store=dir:PATH`, `store_group=1`). `None`:
/// no store, no call state crosses processes.
pub fn from_dsn(dsn: &mut Dsn) -> Result<Option<Box<dyn CallStore>>> {
    let store = dsn.take_option("store");
    let spool = dsn.take_option("event_spool");
    let group = match dsn.take_option("store_group").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(dsn_error("store_group must be 0 or 1")),
    };
    let spec = match (store, spool) {
        (Some(_), Some(_)) => {
            return Err(dsn_error(
                "store and event_spool name the same thing: give one (event_spool=PATH is \
                 store=dir:PATH)",
            ))
        }
        (Some(s), None) => s,
        (None, Some(p)) => format!("dir:{p}"),
        (None, None) => {
            if group {
                return Err(dsn_error("store_group is given without a store"));
            }
            return Ok(None);
        }
    };
    let prefix = account_prefix(dsn);
    if let Some(path) = spec.strip_prefix("dir:") {
        return Ok(Some(Box::new(dir::DirStore::open(path, group, &prefix)?)));
    }
    if spec.starts_with("redis://") {
        if group {
            return Err(dsn_error("store_group is for store=dir: only"));
        }
        let store = redis::RedisStore::open(&spec, &prefix, dsn.timeout)?;
        // Blanked from every message the client hands out, not only the store's own.
        if let Some(p) = store.password() {
            dsn.secrets.add(p);
        }
        return Ok(Some(Box::new(store)));
    }
    Err(dsn_error(
        "store must be dir:PATH or redis://[:PASSWORD@]HOST:PORT/DB",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(state: Option<CallState>, d: Option<u32>, cost: Option<&str>) -> Observation {
        Observation {
            state,
            duration_s: d,
            cost: cost.map(|c| Money::parse(c, None).unwrap()),
            ..Default::default()
        }
    }

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn absorbing_a_record_into_a_status() {
        let t_local = from_unix_ms(T0 - 60_000);
        let local = |state: CallState| {
            let mut s = CallStatus::new(true);
            s.state = state;
            s.last_change = t_local;
            s
        };
        let rec = |state: CallState, changed_ms: i64| Record {
            state,
            changed_ms,
            duration_s: 30,
            ..Default::default()
        };
        // A status the library closed itself stays closed against a live record.
        let mut s = local(CallState::Ended);
        s.timed_out = true;
        absorb(&mut s, &rec(CallState::RingingB, T0));
        assert_eq!(
            (s.state, s.timed_out, s.duration_s),
            (CallState::Ended, true, 0)
        );
        // ... but takes a final record's detail; still timed out while the state is the same.
        absorb(&mut s, &rec(CallState::Ended, T0));
        assert_eq!(
            (s.state, s.timed_out, s.duration_s),
            (CallState::Ended, true, 30)
        );
        assert_eq!(
            s.last_change, t_local,
            "the same state keeps the local time"
        );
        // Another final state: no longer the library's own closing.
        absorb(&mut s, &rec(CallState::Failed, T0));
        assert_eq!((s.state, s.timed_out), (CallState::Failed, false));
        assert_eq!(
            s.last_change,
            from_unix_ms(T0),
            "a new state takes the record's time"
        );
        // A live status moves to the record's state and time; a record with no time keeps
        // the status's.
        let mut s = local(CallState::RingingA);
        absorb(&mut s, &rec(CallState::Connected, T0));
        assert_eq!(
            (s.state, s.last_change),
            (CallState::Connected, from_unix_ms(T0))
        );
        let mut s = local(CallState::RingingA);
        absorb(&mut s, &rec(CallState::Connected, 0));
        assert_eq!((s.state, s.last_change), (CallState::Connected, t_local));
        // A timed-out flag never appears from nowhere.
        let mut s = local(CallState::Ended);
        absorb(&mut s, &rec(CallState::Ended, T0));
        assert!(!s.timed_out);
        // A hang-up asked in this process and not yet in the record stays asked, and
        // pending while the call lives.
        let mut s = local(CallState::RingingB);
        s.hangup_requested = true;
        s.hangup_pending = true;
        absorb(&mut s, &rec(CallState::RingingB, T0));
        assert!(s.hangup_requested && s.hangup_pending);
        absorb(&mut s, &rec(CallState::Ended, T0));
        assert!(s.hangup_requested && !s.hangup_pending);
        // Neither asked here nor in the record: neither.
        let mut s = local(CallState::RingingB);
        absorb(&mut s, &rec(CallState::Connected, T0));
        assert!(!s.hangup_requested && !s.hangup_pending);
        // Pending here (asked, the carrier not yet told) though the flag came from elsewhere.
        let mut s = local(CallState::RingingB);
        s.hangup_pending = true;
        absorb(&mut s, &rec(CallState::Connected, T0));
        assert!(s.hangup_pending);
    }

    #[test]
    fn a_record_read_as_a_status() {
        let live = Record {
            state: CallState::RingingB,
            changed_ms: T0,
            hangup_ms: T0 + 5,
            ..Default::default()
        };
        let s = live.status(true);
        assert_eq!(s.state, CallState::RingingB);
        assert_eq!(s.last_change, from_unix_ms(T0));
        assert!(s.hangup_requested && s.hangup_pending);
        // Ended after the request: requested, no longer pending.
        let ended = Record {
            state: CallState::Ended,
            ..live.clone()
        };
        let s = ended.status(true);
        assert!(s.hangup_requested && !s.hangup_pending);
        // Never asked to end: neither.
        let s = Record {
            hangup_ms: 0,
            ..live.clone()
        }
        .status(true);
        assert!(!s.hangup_requested && !s.hangup_pending);
        // A record that never moved keeps the status's own time (now), not 1970.
        let s = Record {
            changed_ms: 0,
            ..live
        }
        .status(true);
        assert!(s.last_change > from_unix_ms(T0));
    }

    fn started() -> Record {
        Record {
            started_ms: T0,
            ..Default::default()
        }
    }

    fn at(secs: i64, o: Observation) -> Update {
        Update::observation(o, T0 + secs * 1000)
    }

    #[test]
    fn ids() {
        for good in [
            "a",
            "0189abcdef0123456",
            "cc-0123456789abcdef-2",
            &"x".repeat(64),
        ] {
            assert!(valid_id(good), "{good}");
        }
        for bad in [
            "",
            "../../x",
            "/etc/passwd",
            "a/b",
            "a.b",
            ".",
            "..",
            "a b",
            "é",
            &"x".repeat(65),
            "a\0b",
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn state_only_moves_forward() {
        let mut r = started();
        assert!(merge(&mut r, &at(1, obs(Some(CallState::Connected), None, None))).changed);
        let m = merge(
            &mut r,
            &at(2, obs(Some(CallState::RingingA), Some(5), Some("9"))),
        );
        assert!(!m.changed);
        assert_eq!(r.state, CallState::Connected);
        // A late lower state does not write figures either.
        assert_eq!((r.duration_s, r.cost.as_deref()), (0, None));
    }

    #[test]
    fn first_final_figures_stand() {
        let mut r = started();
        merge(
            &mut r,
            &at(30, obs(Some(CallState::Connected), Some(10), Some("0.020"))),
        );
        // A forged final with a genuine token: accepted, then frozen.
        merge(
            &mut r,
            &at(31, obs(Some(CallState::Ended), Some(1), Some("0.001"))),
        );
        // Before the final a cost never went down: 0.020 stands, the duration too.
        assert_eq!((r.state, r.duration_s), (CallState::Ended, 10));
        assert_eq!(r.cost.as_deref(), Some("0.020"));
        // A replayed final with other figures changes nothing.
        let before = r.clone();
        let m = merge(
            &mut r,
            &at(40, obs(Some(CallState::Ended), Some(39), Some("0.000"))),
        );
        assert_eq!(r, before);
        assert!(!m.changed && !m.alive_after_final);
        // Nor does a FAILED, which ranks higher.
        let mut f = Observation::failed(FailReason::Busy, Leg::B);
        f.duration_s = Some(20);
        merge(&mut r, &at(41, f));
        assert_eq!(r, before);
        // A live state after the end is flagged.
        let m = merge(
            &mut r,
            &at(42, obs(Some(CallState::Connected), Some(41), None)),
        );
        assert!(m.alive_after_final);
        assert_eq!(r, before);
        // So is a figure-only event? No: it shows nothing about the call being alive.
        let m = merge(&mut r, &at(43, obs(None, Some(42), None)));
        assert!(!m.alive_after_final);
        assert_eq!(r, before);
    }

    #[test]
    fn costs_never_go_down() {
        let mut r = started();
        merge(
            &mut r,
            &at(60, obs(Some(CallState::Connected), Some(60), Some("0.120"))),
        );
        merge(
            &mut r,
            &at(61, obs(Some(CallState::Connected), Some(61), Some("0.05"))),
        );
        assert_eq!(r.cost.as_deref(), Some("0.120"));
        assert_eq!(r.duration_s, 61);
        merge(&mut r, &at(62, obs(None, None, Some("0.13"))));
        assert_eq!(r.cost.as_deref(), Some("0.13"));
    }

    #[test]
    fn implausible_durations_are_refused() {
        let mut r = started();
        let m = merge(
            &mut r,
            &at(10, obs(Some(CallState::Ended), Some(9999), Some("0.000"))),
        );
        assert!(m.implausible && m.changed);
        assert_eq!((r.state, r.duration_s), (CallState::Ended, 0));
        let mut r = started();
        // 10 s after the start, up to 70 s is taken.
        assert!(!merge(&mut r, &at(10, obs(None, Some(70), None))).implausible);
        assert!(merge(&mut r, &at(10, obs(None, Some(71), None))).implausible);
        assert_eq!(r.duration_s, 70);
        // Without a known start, nothing to compare with.
        let mut r = Record::default();
        assert!(!merge(&mut r, &at(0, obs(None, Some(9999), None))).implausible);
    }

    #[test]
    fn hang_up_is_never_lost() {
        let mut r = started();
        merge(&mut r, &at(5, obs(Some(CallState::Connected), None, None)));
        let mut u = Update::new(T0 + 6000);
        u.hangup = true;
        merge(&mut r, &u);
        assert_eq!(r.hangup_ms, T0 + 6000);
        // A later request keeps the first time.
        let mut u = Update::new(T0 + 9000);
        u.hangup = true;
        merge(&mut r, &u);
        assert_eq!(r.hangup_ms, T0 + 6000);
        // Any final after it reads ENDED/CANCELLED.
        merge(
            &mut r,
            &at(10, Observation::failed(FailReason::Unknown, Leg::A)),
        );
        assert_eq!(
            (r.state, r.reason, r.failed_leg),
            (CallState::Ended, FailReason::Cancelled, Leg::None)
        );
        assert!(r.hangup_requested());
        // Asked after the end: still kept (the next event of a call the carrier runs
        // gets the hang-up answer).
        let mut r = started();
        merge(
            &mut r,
            &at(1, obs(Some(CallState::Ended), Some(1), Some("0.001"))),
        );
        let mut u = Update::new(T0 + 2000);
        u.hangup = true;
        merge(&mut r, &u);
        assert!(r.hangup_requested());
    }

    #[test]
    fn carrier_data() {
        let mut r = Record::default();
        let mut u = Update::new(T0);
        u.seq = Some(3);
        u.data = vec![("guid_hash".into(), "a".into()), ("Bad".into(), "x".into())];
        merge(&mut r, &u);
        u.seq = Some(2);
        u.data = vec![("guid_hash".into(), "b".into())];
        merge(&mut r, &u);
        assert_eq!(r.seq, 3);
        assert_eq!(r.data.len(), 1);
        assert_eq!(r.data["guid_hash"], "a");
    }

    #[test]
    fn decimals() {
        use crate::money::decimal_ge;
        assert!(decimal_ge("1.50", "1.5"));
        assert!(decimal_ge("2", "1.99"));
        assert!(!decimal_ge("0.9", "1"));
        assert!(decimal_ge("10", "9.999"));
        assert!(!decimal_ge("-5", "0"));
        assert!(decimal_ge("0", "-0.1"));
        assert!(decimal_ge("-0.1", "-0.2"));
        assert!(decimal_ge("0", "0"));
        assert!(!decimal_ge("0.000", "0.001"));
    }

    #[test]
    fn dsn_options() {
        let parse = |q: &str| {
            let mut dsn = Dsn::parse(&format!("poketalk://k@h?{q}")).unwrap();
            from_dsn(&mut dsn).map(|s| s.map(|s| s.describe()))
        };
        assert_eq!(parse("tls=0").unwrap(), None);
        for bad in [
            "store=file:/x",
            "store=dir:",
            "store=dir:/x&event_spool=/y",
            "store_group=1",
            "store=dir:/x&store_group=2",
            "store=redis://:hunter2-pw@127.0.0.1:1/0&store_group=1",
            "store=redis://:hunter2-pw@127.0.0.1:1/x",
        ] {
            let e = parse(&bad.replace('/', "%2F").replace(':', "%3A")).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
            assert!(!e.message().contains("hunter2"), "{}", e.message());
        }
    }

    #[test]
    fn prefixes_part_accounts() {
        let p = |d: &str| account_prefix(&Dsn::parse(d).unwrap());
        let a = p("poketalk://key-a@h");
        assert_eq!(a.len(), 16);
        assert_eq!(a, p("poketalk://key-a@H?tls=0"));
        assert_ne!(a, p("poketalk://key-b@h"));
        assert_ne!(a, p("poketalk://key-a@h2"));
        assert_ne!(a, p("poketalk://key-a@h:8080"));
        assert_ne!(p("42call://u:p@h"), p("connectcall://u:p@h"));
        assert!(!a.contains("key-a"));
    }
}
