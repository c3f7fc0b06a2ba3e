//! The event token and what it binds: a call's id and its limits.
//!
//! `cc_tok = base64url(HMAC-SHA1(event_secret, "callconnect-event-v1\n" + id + "\n" + lim))`,
//! checked in constant time (`Mac::verify_slice`). `cc_lim` is the call's [`Limits`]
//! (`DURATION_COST`), so that a process that never saw the call can still enforce them.

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::dsn::Secret;
use crate::error::{Error, Result};
use crate::model::{CallOptions, Observation};

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

const TOKEN_CONTEXT: &[u8] = b"callconnect-event-v1\n";

/// Signs and checks event tokens with the DSN's `event_secret`.
pub(crate) struct Signer {
    secret: Secret,
}

impl Signer {
    pub(crate) fn new(secret: Secret) -> Signer {
        Signer { secret }
    }

    fn mac(&self, call_id: &str, lim: &str) -> HmacSha1 {
        let mut mac = HmacSha1::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(TOKEN_CONTEXT);
        mac.update(call_id.as_bytes());
        mac.update(b"\n");
        mac.update(lim.as_bytes());
        mac
    }

    /// The token of a call id and its encoded limits.
    pub(crate) fn token(&self, call_id: &str, lim: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(call_id, lim).finalize().into_bytes())
    }

    /// Checks a token in constant time.
    pub(crate) fn verify(&self, call_id: &str, lim: &str, token: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(call_id, lim).verify_slice(&bytes).is_ok()
    }
}

/// The limits of one call that events enforce, bound into its token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_duration_s: Option<u32>,
    /// A normalised non-negative decimal (`"1.50"`).
    pub max_cost: Option<String>,
}

impl Limits {
    pub(crate) fn from_options(o: &CallOptions) -> Result<Limits> {
        let max_cost = match &o.max_cost {
            None => None,
            Some(c) => Some(
                crate::money::normalise_decimal(c)
                    .filter(|d| !d.starts_with('-'))
                    .ok_or_else(|| {
                        Error::invalid_argument("max_cost must be a decimal amount such as 1.50")
                    })?,
            ),
        };
        Ok(Limits {
            max_duration_s: o.max_duration_s,
            max_cost,
        })
    }

    /// `""` without limits, else `DURATION_COST` with either part empty (`300_`, `_1.50`).
    pub(crate) fn encode(&self) -> String {
        if self.max_duration_s.is_none() && self.max_cost.is_none() {
            return String::new();
        }
        format!(
            "{}_{}",
            self.max_duration_s
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.max_cost.as_deref().unwrap_or("")
        )
    }

    pub(crate) fn decode(text: &str) -> Result<Limits> {
        let bad = || Error::invalid_argument("the event's limits (cc_lim) are malformed");
        if text.is_empty() {
            return Ok(Limits::default());
        }
        let (d, c) = text.split_once('_').ok_or_else(bad)?;
        let max_duration_s = match d {
            "" => None,
            d => Some(d.parse().map_err(|_| bad())?),
        };
        let max_cost = match c {
            "" => None,
            c => Some(
                crate::money::normalise_decimal(c)
                    .filter(|n| n == c)
                    .ok_or_else(bad)?,
            ),
        };
        Ok(Limits {
            max_duration_s,
            max_cost,
        })
    }

    /// Whether what the carrier said puts the call at or past a limit.
    pub(crate) fn exceeded_by(&self, obs: &Observation) -> bool {
        let duration = self
            .max_duration_s
            .is_some_and(|m| obs.duration_s.is_some_and(|d| d >= m));
        let cost = self.max_cost.as_deref().is_some_and(|m| {
            obs.cost
                .as_ref()
                .is_some_and(|c| decimal_at_least(&c.amount, m))
        });
        duration || cost
    }
}

/// `a >= b` for normalised decimals (digits, one optional `.`, `b` not negative).
fn decimal_at_least(a: &str, b: &str) -> bool {
    if a.starts_with('-') {
        return false;
    }
    let (ai, af) = a.split_once('.').unwrap_or((a, ""));
    let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
    let (ai, bi) = (ai.trim_start_matches('0'), bi.trim_start_matches('0'));
    if ai.len() != bi.len() {
        return ai.len() > bi.len();
    }
    if ai != bi {
        return ai > bi;
    }
    let n = af.len().max(bf.len());
    format!("{af:0<n$}") >= format!("{bf:0<n$}")
}

/// Whether a text can be a call id in an event (the call-state store checks ids the same
/// way before they name a file or a key).
pub(crate) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        for (text, lim) in [
            ("", Limits::default()),
            (
                "60_",
                Limits {
                    max_duration_s: Some(60),
                    max_cost: None,
                },
            ),
            (
                "_0.5",
                Limits {
                    max_duration_s: None,
                    max_cost: Some("0.5".into()),
                },
            ),
        ] {
            assert_eq!(Limits::decode(text).unwrap(), lim);
            assert_eq!(lim.encode(), text);
        }
        for bad in ["x", "1_x", "-1_", "_1,5", "_01"] {
            assert!(Limits::decode(bad).is_err(), "{bad}");
        }
        let obs = |d: u32, c: &str| Observation {
            duration_s: Some(d),
            cost: Some(crate::Money::parse(c, None).unwrap()),
            ..Default::default()
        };
        let l = Limits {
            max_duration_s: Some(60),
            max_cost: Some("0.50".into()),
        };
        assert!(!l.exceeded_by(&obs(59, "0.499")));
        assert!(l.exceeded_by(&obs(60, "0")));
        assert!(l.exceeded_by(&obs(0, "0.5")));
        assert!(l.exceeded_by(&obs(0, "10.0")));
        assert!(!Limits::default().exceeded_by(&obs(100_000, "1000")));
    }

    #[test]
    fn decimals() {
        assert!(decimal_at_least("1.50", "1.5"));
        assert!(decimal_at_least("2", "1.99"));
        assert!(!decimal_at_least("0.9", "1"));
        assert!(decimal_at_least("10", "9.999"));
        assert!(!decimal_at_least("-5", "0"));
        assert!(decimal_at_least("0", "0"));
    }

    #[test]
    fn call_ids_in_events() {
        // Carrier and store ids use '-' and '_' (a generated id, PokeTALK's ids).
        for id in ["a", "a-b_c", "-", "_", "Z9", &"x".repeat(64)] {
            assert!(valid_id(id), "{id:?}");
        }
        for id in ["", "a/b", "../x", "a.b", "a b", "ä", &"x".repeat(65)] {
            assert!(!valid_id(id), "{id:?}");
        }
    }
}
