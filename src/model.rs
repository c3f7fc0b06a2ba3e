//! The neutral call model: one set of states for every carrier, moved only forward.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::money::Money;

/// Where a two-leg callback is. The order is the order of progress: a call never moves
/// to a lower state, and `Ended` / `Failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u32)]
#[non_exhaustive]
pub enum CallState {
    Initiating = 0,
    RingingA = 1,
    AAnswered = 2,
    RingingB = 3,
    Connected = 4,
    Ended = 5,
    Failed = 6,
}

impl CallState {
    pub fn is_final(self) -> bool {
        matches!(self, CallState::Ended | CallState::Failed)
    }
    pub fn name(self) -> &'static str {
        match self {
            CallState::Initiating => "INITIATING",
            CallState::RingingA => "RINGING_A",
            CallState::AAnswered => "A_ANSWERED",
            CallState::RingingB => "RINGING_B",
            CallState::Connected => "CONNECTED",
            CallState::Ended => "ENDED",
            CallState::Failed => "FAILED",
        }
    }
}

/// Why a call failed (or, with `Ended`, `Cancelled` when the host hung up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[repr(u32)]
#[non_exhaustive]
pub enum FailReason {
    #[default]
    None = 0,
    Busy = 1,
    NoAnswer = 2,
    Rejected = 3,
    InsufficientFunds = 4,
    InvalidNumber = 5,
    Cancelled = 6,
    ProviderError = 7,
    Unknown = 8,
}

impl FailReason {
    pub fn name(self) -> &'static str {
        match self {
            FailReason::None => "NONE",
            FailReason::Busy => "BUSY",
            FailReason::NoAnswer => "NO_ANSWER",
            FailReason::Rejected => "REJECTED",
            FailReason::InsufficientFunds => "INSUFFICIENT_FUNDS",
            FailReason::InvalidNumber => "INVALID_NUMBER",
            FailReason::Cancelled => "CANCELLED",
            FailReason::ProviderError => "PROVIDER_ERROR",
            FailReason::Unknown => "UNKNOWN",
        }
    }
}

/// Which leg a failure concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[repr(u32)]
#[non_exhaustive]
pub enum Leg {
    #[default]
    None = 0,
    A = 1,
    B = 2,
}

/// What a carrier said about a call at one moment. Fields left `None` say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Observation {
    pub state: Option<CallState>,
    pub reason: FailReason,
    pub failed_leg: Leg,
    pub duration_s: Option<u32>,
    pub cost: Option<Money>,
    /// The carrier's own status code, as text.
    pub raw_code: Option<String>,
}

impl Observation {
    pub(crate) fn state(state: CallState) -> Self {
        Observation {
            state: Some(state),
            ..Default::default()
        }
    }
    pub(crate) fn failed(reason: FailReason, leg: Leg) -> Self {
        Observation {
            state: Some(CallState::Failed),
            reason,
            failed_leg: leg,
            ..Default::default()
        }
    }
    pub(crate) fn raw(mut self, code: impl Into<String>) -> Self {
        self.raw_code = Some(code.into());
        self
    }
}

/// How far a reported duration may exceed the time since the call's start.
pub const PLAUSIBLE_MARGIN_S: i64 = 60;

/// What applying one observation did (see [`CallStatus::apply_checked`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The state moved.
    pub changed: bool,
    /// The observation showed the call alive (a state that is not final) after the call
    /// was final: the carrier still runs a call the library took as ended.
    pub alive_after_final: bool,
    /// The observation's duration was longer than the time since the start allows, and
    /// was not taken.
    pub implausible: bool,
}

/// The status of one call, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatus {
    pub state: CallState,
    pub reason: FailReason,
    pub failed_leg: Leg,
    pub duration_s: u32,
    pub cost: Option<Money>,
    pub raw_code: Option<String>,
    pub last_change: SystemTime,
    /// The carrier reports the call's progress (false: only what the library did is known).
    pub live: bool,
    /// The host asked for hang-up and the carrier has not confirmed the end yet.
    pub hangup_pending: bool,
    /// The host asked for hang-up (it stays asked after the end: a carrier that still
    /// reports the call alive is answered with its hang-up status).
    pub hangup_requested: bool,
    /// The call was closed by the library because nothing final came within its limits.
    pub timed_out: bool,
}

impl CallStatus {
    pub(crate) fn new(live: bool) -> Self {
        CallStatus {
            state: CallState::Initiating,
            reason: FailReason::None,
            failed_leg: Leg::None,
            duration_s: 0,
            cost: None,
            raw_code: None,
            last_change: SystemTime::now(),
            live,
            hangup_pending: false,
            hangup_requested: false,
            timed_out: false,
        }
    }

    /// Applies what a carrier said, under the rules of [`CallStatus::apply_checked`]
    /// (no start time known: every duration is plausible). Returns whether the state
    /// changed.
    pub(crate) fn apply(&mut self, obs: &Observation) -> bool {
        self.apply_checked(obs, None, unix_ms(SystemTime::now()))
            .changed
    }

    /// Applies what a carrier said at `now_ms` about a call placed at `started_ms`. The
    /// rules, the same in one process and in the call-state store (`store::merge`, and
    /// its Lua copy for Redis):
    /// - the state only moves forward; a late lower state writes no figures either;
    /// - the first final state's figures stand: after it nothing changes the state, the
    ///   reason, the duration, the cost or the raw code (a state that shows the call
    ///   alive is reported as [`Applied::alive_after_final`]); before it a cost never
    ///   goes down (a new currency replaces an unknown one);
    /// - a duration longer than the time since the start plus [`PLAUSIBLE_MARGIN_S`] is
    ///   not taken ([`Applied::implausible`]);
    /// - once the host asked for the end ([`CallStatus::hangup_requested`]), any final
    ///   state reads `ENDED`/`CANCELLED`.
    pub(crate) fn apply_checked(
        &mut self,
        obs: &Observation,
        started_ms: Option<i64>,
        now_ms: i64,
    ) -> Applied {
        let mut a = Applied::default();
        let mut duration = obs.duration_s;
        if let (Some(d), Some(start)) = (duration, started_ms.filter(|s| *s > 0)) {
            let allowed = (now_ms - start).max(0) / 1000 + PLAUSIBLE_MARGIN_S;
            if i64::from(d) > allowed {
                a.implausible = true;
                duration = None;
            }
        }
        if self.state.is_final() {
            a.alive_after_final = obs.state.is_some_and(|s| !s.is_final());
            return a;
        }
        let (mut state, mut reason, mut leg) = (obs.state, obs.reason, obs.failed_leg);
        if self.hangup_requested && state.is_some_and(CallState::is_final) {
            (state, reason, leg) = (Some(CallState::Ended), FailReason::Cancelled, Leg::None);
        }
        if let Some(new) = state {
            if new > self.state {
                self.state = new;
                self.last_change = from_unix_ms(now_ms);
                a.changed = true;
                if new == CallState::Failed {
                    self.reason = reason;
                    self.failed_leg = leg;
                } else if new == CallState::Ended && reason != FailReason::None {
                    self.reason = reason;
                }
                if new.is_final() {
                    self.hangup_pending = false;
                }
            }
        }
        // Figures fill in from an observation of the call's state (or of none): a late
        // RINGING_A does not write a connected call's figures.
        if state.is_none_or(|s| s == self.state) {
            if let Some(d) = duration {
                self.duration_s = self.duration_s.max(d);
            }
            if let Some(c) = &obs.cost {
                let higher = match &self.cost {
                    None => true,
                    Some(old) => {
                        (old.currency.is_none() || c.currency == old.currency)
                            && crate::money::decimal_ge(&c.amount, &old.amount)
                    }
                };
                if higher {
                    let currency = c
                        .currency
                        .clone()
                        .or_else(|| self.cost.as_ref().and_then(|old| old.currency.clone()));
                    self.cost = Some(Money {
                        amount: c.amount.clone(),
                        currency,
                    });
                }
            }
            if let Some(r) = &obs.raw_code {
                self.raw_code = Some(r.clone());
            }
        }
        a
    }

    /// Closes a call that heard nothing final by `deadline`.
    pub(crate) fn expire_if_past(&mut self, deadline: SystemTime) -> bool {
        if !self.state.is_final() && SystemTime::now() > deadline {
            self.state = CallState::Failed;
            self.reason = FailReason::Unknown;
            self.failed_leg = Leg::None;
            self.hangup_pending = false;
            self.timed_out = true;
            self.last_change = SystemTime::now();
            return true;
        }
        false
    }

    pub fn last_change_unix_ms(&self) -> i64 {
        unix_ms(self.last_change)
    }
}

/// The longest text option (`correlation`).
const MAX_TEXT_ARG: usize = 255;

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
    pub(crate) fn check(&self, scheme: &str, capabilities: Capabilities) -> Result<()> {
        let need = |set: bool, cap: Capabilities, name: &str| -> Result<()> {
            if set && !capabilities.contains(cap) {
                return Err(Error::unsupported(format!(
                    "{scheme} cannot honour the option {name}"
                )));
            }
            Ok(())
        };
        need(
            self.caller_id.is_some() || self.caller_id_b.is_some(),
            Capabilities::CALLER_ID,
            "caller_id",
        )?;
        need(
            self.max_duration_s.is_some(),
            Capabilities::MAX_DURATION,
            "max_duration_s",
        )?;
        need(
            self.wait_for_pickup_s.is_some(),
            Capabilities::WAIT_FOR_PICKUP,
            "wait_for_pickup_s",
        )?;
        need(self.max_cost.is_some(), Capabilities::MAX_COST, "max_cost")?;
        need(
            self.connect_type.is_some(),
            Capabilities::CONNECT_TYPE,
            "connect_type",
        )?;
        need(
            self.allow_public_transfer || self.video,
            Capabilities::CALL_FLAGS,
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

/// What a carrier can do, as a set of bits (the same values as `cc_capability` in the C
/// header, which `cc_capabilities` returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// Places two-leg callbacks.
    pub const CALLBACK: Capabilities = Capabilities(1 << 0);
    /// Reports a call's progress after the start.
    pub const LIVE_STATUS: Capabilities = Capabilities(1 << 1);
    /// Ends a call on request.
    pub const HANGUP: Capabilities = Capabilities(1 << 2);
    /// Sends SMS.
    pub const SMS: Capabilities = Capabilities(1 << 3);
    /// Tops the account up with a PIN.
    pub const TOPUP: Capabilities = Capabilities(1 << 4);
    /// Reports by events sent to the host (event URL).
    pub const EVENTS: Capabilities = Capabilities(1 << 5);
    /// Rings several A numbers at once (`n1|n2`).
    pub const RING_GROUP: Capabilities = Capabilities(1 << 6);
    /// Honours `caller_id` / `caller_id_b`.
    pub const CALLER_ID: Capabilities = Capabilities(1 << 7);
    /// Has account services (balance, rates, call records, cards, ...).
    pub const ACCOUNT: Capabilities = Capabilities(1 << 8);
    /// A start repeated after a fault does not place a second call.
    pub const IDEMPOTENT_START: Capabilities = Capabilities(1 << 9);
    /// Honours `max_duration_s`.
    pub const MAX_DURATION: Capabilities = Capabilities(1 << 10);
    /// Honours `wait_for_pickup_s`.
    pub const WAIT_FOR_PICKUP: Capabilities = Capabilities(1 << 11);
    /// Honours `max_cost`.
    pub const MAX_COST: Capabilities = Capabilities(1 << 12);
    /// Honours `connect_type`.
    pub const CONNECT_TYPE: Capabilities = Capabilities(1 << 13);
    /// Honours `allow_public_transfer` and `video`.
    pub const CALL_FLAGS: Capabilities = Capabilities(1 << 14);

    /// No capability.
    pub const fn empty() -> Capabilities {
        Capabilities(0)
    }

    /// The bits, as the C ABI carries them.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// A set from its bits (unknown bits are kept).
    pub const fn from_bits(bits: u32) -> Capabilities {
        Capabilities(bits)
    }

    /// Whether every capability of `other` is in this set.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        self.0 |= rhs.0;
    }
}

impl std::ops::BitAnd for Capabilities {
    type Output = Capabilities;
    fn bitand(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 & rhs.0)
    }
}

/// What a carrier returned when a call was placed.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// The carrier's id of the call (never empty).
    pub call_id: String,
    /// Carrier data a call needs later, stored in its reference: never a secret.
    pub extra: serde_json::Value,
    /// What is known right after the start.
    pub observation: Observation,
    /// Whether the carrier reports the call's progress afterwards.
    pub live: bool,
}

/// What the client gives a carrier to place a call with, besides the numbers and the
/// options: a fresh id, for carriers where the library names the call, and the call's
/// event URL when the client takes events.
#[derive(Debug, Clone)]
pub(crate) struct StartContext<'a> {
    /// A fresh call id (see `util::new_call_id`); the carrier may use it as the call's id.
    pub call_id: &'a str,
    /// The URL at which the carrier reports this call's progress; `None`: no events.
    pub event_url: Option<&'a str>,
}

/// A call as a carrier needs to see it again: its id and the data it stored.
#[derive(Debug, Clone)]
pub(crate) struct CallContext<'a> {
    pub call_id: &'a str,
    pub extra: &'a serde_json::Value,
}

pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) fn from_unix_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic() {
        let mut s = CallStatus::new(true);
        assert!(s.apply(&Observation::state(CallState::RingingA)));
        assert!(s.apply(&Observation::state(CallState::Connected)));
        // A late RINGING_A event does not move the call back.
        assert!(!s.apply(&Observation::state(CallState::RingingA)));
        assert_eq!(s.state, CallState::Connected);
        // A repeated CONNECTED with a longer duration fills the duration in.
        let mut o = Observation::state(CallState::Connected);
        o.duration_s = Some(60);
        assert!(!s.apply(&o));
        assert_eq!(s.duration_s, 60);
        assert!(s.apply(&Observation::state(CallState::Ended)));
        // Nothing moves a final call, not even FAILED (which ranks higher), nor fills in
        // its numbers.
        let mut late = Observation::failed(FailReason::Busy, Leg::B);
        late.duration_s = Some(999);
        assert!(!s.apply(&late));
        assert_eq!(s.state, CallState::Ended);
        assert_eq!(s.reason, FailReason::None);
        assert_eq!(s.duration_s, 60);
        // Nor does a repeated final state: the first final's figures stand.
        let mut again = Observation::state(CallState::Ended);
        again.duration_s = Some(61);
        again.cost = Some(Money::parse("0.000", None).unwrap());
        assert!(!s.apply(&again));
        assert_eq!((s.duration_s, s.cost.as_ref()), (60, None));
        // A live state after the end is reported.
        let a = s.apply_checked(&Observation::state(CallState::Connected), None, 0);
        assert!(a.alive_after_final && !a.changed);
    }

    #[test]
    fn failure_from_any_live_state() {
        let mut s = CallStatus::new(true);
        s.apply(&Observation::state(CallState::RingingB));
        assert!(s.apply(&Observation::failed(FailReason::NoAnswer, Leg::B)));
        assert_eq!(
            (s.state, s.reason, s.failed_leg),
            (CallState::Failed, FailReason::NoAnswer, Leg::B)
        );
    }

    #[test]
    fn expiry() {
        let mut s = CallStatus::new(false);
        assert!(!s.expire_if_past(SystemTime::now() + Duration::from_secs(60)));
        assert!(s.expire_if_past(SystemTime::now() - Duration::from_secs(1)));
        assert_eq!(
            (s.state, s.reason),
            (CallState::Failed, FailReason::Unknown)
        );
        assert!(s.timed_out);
    }

    #[test]
    fn a_change_of_state_stamps_last_change_and_later_news_fills_in() {
        let mut s = CallStatus::new(true);
        s.last_change = from_unix_ms(1_000);
        assert_eq!(s.last_change_unix_ms(), 1_000);
        // An observation without a state fills in, and changes nothing else.
        let o = Observation {
            duration_s: Some(3),
            raw_code: Some("x".into()),
            ..Default::default()
        };
        assert!(!s.apply(&o));
        assert_eq!(s.last_change_unix_ms(), 1_000);
        assert_eq!((s.duration_s, s.raw_code.as_deref()), (3, Some("x")));
        let before = unix_ms(SystemTime::now());
        assert!(s.apply(&Observation::state(CallState::Connected).raw("29")));
        assert!(s.last_change_unix_ms() >= before);
        assert_eq!(s.raw_code.as_deref(), Some("29"));
        // An older state neither moves the call nor rewrites its code or cost.
        let mut old = Observation::state(CallState::RingingA).raw("27");
        old.cost = Some(Money {
            amount: "9.99".into(),
            currency: Some("EUR".into()),
        });
        assert!(!s.apply(&old));
        assert_eq!(
            (s.state, s.raw_code.as_deref()),
            (CallState::Connected, Some("29"))
        );
        assert_eq!(s.cost, None);
    }

    #[test]
    fn an_end_keeps_its_reason_and_clears_a_pending_hang_up() {
        let mut s = CallStatus::new(true);
        s.hangup_pending = true;
        assert!(s.apply(&Observation::state(CallState::RingingB)));
        assert!(s.hangup_pending);
        let mut end = Observation::state(CallState::Ended);
        end.reason = FailReason::Cancelled;
        // A FAILED observation's leg is not taken by an ENDED one.
        end.failed_leg = Leg::B;
        assert!(s.apply(&end));
        assert_eq!(
            (s.state, s.reason, s.failed_leg, s.hangup_pending),
            (CallState::Ended, FailReason::Cancelled, Leg::None, false)
        );
        // Only a final observation gives a reason: one on a live state is not taken.
        let mut live = CallStatus::new(true);
        let mut odd = Observation::state(CallState::Connected);
        odd.reason = FailReason::Busy;
        assert!(live.apply(&odd));
        assert_eq!(live.reason, FailReason::None);
        // A plain end says nothing about why: the reason stays NONE.
        let mut plain = CallStatus::new(true);
        assert!(plain.apply(&Observation::state(CallState::Ended)));
        assert_eq!(plain.reason, FailReason::None);
        // A failure clears a pending hang-up too.
        let mut failed = CallStatus::new(true);
        failed.hangup_pending = true;
        assert!(failed.apply(&Observation::failed(FailReason::Busy, Leg::A)));
        assert!(!failed.hangup_pending);
        // The same state again is no change.
        assert!(!failed.apply(&Observation::failed(FailReason::Busy, Leg::A)));
    }

    #[test]
    fn a_final_call_never_expires_and_an_expired_one_is_closed_whole() {
        let past = SystemTime::now() - Duration::from_secs(1);
        let mut ended = CallStatus::new(true);
        ended.apply(&Observation::state(CallState::Ended));
        assert!(!ended.expire_if_past(past));
        assert_eq!((ended.state, ended.timed_out), (CallState::Ended, false));
        let mut s = CallStatus::new(true);
        s.apply(&Observation::state(CallState::RingingA));
        s.hangup_pending = true;
        s.failed_leg = Leg::B;
        s.last_change = from_unix_ms(0);
        assert!(s.expire_if_past(past));
        assert_eq!((s.failed_leg, s.hangup_pending), (Leg::None, false));
        assert!(s.last_change_unix_ms() > 0);
        assert!(!s.expire_if_past(past));
    }

    #[test]
    fn times_before_and_after_the_epoch() {
        for ms in [0i64, 1, 1_234, 1_700_000_000_123, -1, -1_234] {
            assert_eq!(unix_ms(from_unix_ms(ms)), ms);
        }
        assert_eq!(
            from_unix_ms(1_500),
            UNIX_EPOCH + Duration::from_millis(1_500)
        );
        assert_eq!(
            from_unix_ms(-1_500),
            UNIX_EPOCH - Duration::from_millis(1_500)
        );
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_millis(20)), -20);
    }

    #[test]
    fn capability_bits_are_the_c_values() {
        let all = [
            Capabilities::CALLBACK,
            Capabilities::LIVE_STATUS,
            Capabilities::HANGUP,
            Capabilities::SMS,
            Capabilities::TOPUP,
            Capabilities::EVENTS,
            Capabilities::RING_GROUP,
            Capabilities::CALLER_ID,
            Capabilities::ACCOUNT,
            Capabilities::IDEMPOTENT_START,
            Capabilities::MAX_DURATION,
            Capabilities::WAIT_FOR_PICKUP,
            Capabilities::MAX_COST,
            Capabilities::CONNECT_TYPE,
            Capabilities::CALL_FLAGS,
        ];
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.bits(), 1 << i, "{i}");
        }
        let two = Capabilities::HANGUP | Capabilities::SMS;
        assert_eq!(two.bits(), 0b1100);
        // A union, not a toggle: a capability named twice stays.
        assert_eq!(two | Capabilities::SMS, two);
        assert!(two.contains(Capabilities::SMS));
        assert!(!two.contains(Capabilities::SMS | Capabilities::TOPUP));
        assert!(!two.contains(Capabilities::CALLBACK));
        assert!(two.contains(Capabilities::empty()));
        assert_eq!(Capabilities::empty().bits(), 0);
        assert_eq!((two & Capabilities::SMS).bits(), 0b1000);
        assert_eq!((two & Capabilities::CALLBACK).bits(), 0);
        let mut grown = Capabilities::from_bits(1 << 20);
        grown |= Capabilities::CALLBACK;
        assert_eq!(grown.bits(), (1 << 20) | 1);
    }

    #[test]
    fn options_are_refused_by_name_where_the_carrier_cannot_honour_them() {
        let none = Capabilities::empty();
        assert!(CallOptions::default().check("x", none).is_ok());
        for (opts, name) in [
            (
                CallOptions {
                    caller_id_b: Some("B <+4930123>".into()),
                    ..Default::default()
                },
                "caller_id",
            ),
            (
                CallOptions {
                    video: true,
                    ..Default::default()
                },
                "allow_public_transfer/video",
            ),
            (
                CallOptions {
                    max_cost: Some("1.50".into()),
                    ..Default::default()
                },
                "max_cost",
            ),
        ] {
            let e = opts.check("x", none).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Unsupported, "{name}");
            assert!(e.message().ends_with(name), "{}", e.message());
        }
        let all = Capabilities::from_bits(u32::MAX);
        let long = CallOptions {
            correlation: Some("c".repeat(MAX_TEXT_ARG)),
            connect_type: Some(2),
            max_cost: Some("0".into()),
            ..Default::default()
        };
        assert!(long.check("x", all).is_ok());
        let too_long = CallOptions {
            correlation: Some("c".repeat(MAX_TEXT_ARG + 1)),
            ..Default::default()
        };
        assert!(too_long.check("x", all).is_err());
        for t in [0, 3] {
            let o = CallOptions {
                connect_type: Some(t),
                ..Default::default()
            };
            assert!(o.check("x", all).is_err(), "{t}");
        }
        let negative = CallOptions {
            max_cost: Some("-1".into()),
            ..Default::default()
        };
        assert!(negative.check("x", all).is_err());
    }

    #[test]
    fn names_are_the_c_names() {
        use CallState::*;
        let states = [
            (Initiating, "INITIATING"),
            (RingingA, "RINGING_A"),
            (AAnswered, "A_ANSWERED"),
            (RingingB, "RINGING_B"),
            (Connected, "CONNECTED"),
            (Ended, "ENDED"),
            (Failed, "FAILED"),
        ];
        for (i, (state, name)) in states.iter().enumerate() {
            assert_eq!((*state as usize, state.name()), (i, *name));
            assert_eq!(state.is_final(), i >= 5, "{name}");
        }
        let reasons = [
            (FailReason::None, "NONE"),
            (FailReason::Busy, "BUSY"),
            (FailReason::NoAnswer, "NO_ANSWER"),
            (FailReason::Rejected, "REJECTED"),
            (FailReason::InsufficientFunds, "INSUFFICIENT_FUNDS"),
            (FailReason::InvalidNumber, "INVALID_NUMBER"),
            (FailReason::Cancelled, "CANCELLED"),
            (FailReason::ProviderError, "PROVIDER_ERROR"),
            (FailReason::Unknown, "UNKNOWN"),
        ];
        for (i, (reason, name)) in reasons.iter().enumerate() {
            assert_eq!((*reason as usize, reason.name()), (i, *name));
        }
    }
}
