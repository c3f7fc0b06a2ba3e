//! The one registry of secrets: every value that must never appear in a message or a
//! log line (the DSN's credentials, the event secret, keys a carrier derives, tokens it
//! fetches, PINs and passwords that arrive in replies). The client builds it when it
//! reads the DSN (`Dsn::secrets`), the carrier's transport registers and blanks with the
//! same one, and every error a host sees passes through [`Secrets::redact`].

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use crate::util::{lock_or_recover, read_or_recover, write_or_recover};

/// The forms in which a secret may show up in text: as it is, form-urlencoded (a body or
/// query) and percent-encoded (a URL's user-info). Empty for an empty secret.
pub(crate) fn secret_forms(secret: &str) -> Vec<String> {
    if secret.is_empty() {
        return Vec::new();
    }
    let mut forms = vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    forms.dedup();
    forms
}

/// `text` with each of `secrets` replaced by `***`, the longest first (so that a secret
/// containing another is blanked whole).
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// The most secrets one registry keeps (credentials plus those learnt from replies).
/// Past it, new ones are no longer remembered (`remember_secret` says so); the bound
/// keeps a long-running daemon's memory flat. Messages are built from values known not
/// to be secret in any case: redaction is the second line of defence.
const MAX_SECRETS: usize = 16_384;

/// The registry. Cheap to share (`Arc`); safe between threads.
#[derive(Default)]
pub struct Secrets {
    /// Every form of every registered secret, longest first (so that a secret containing
    /// another is blanked whole). Behind a lock so that secrets learnt from replies (card
    /// PINs, SIP passwords) can be added to a shared client.
    fixed: RwLock<Vec<String>>,
    /// Secrets learnt after the client was built (e.g. an OAuth token), by slot: a new
    /// value replaces the slot's old one, so renewals do not pile up.
    rotating: Mutex<BTreeMap<&'static str, Vec<String>>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

impl Secrets {
    /// Registers a value that must never be shown, in each of its forms. Returns false
    /// when the registry is full.
    pub fn add(&self, secret: &str) -> bool {
        if secret.is_empty() {
            return true;
        }
        let mut fixed = write_or_recover(&self.fixed);
        for form in secret_forms(secret) {
            if !fixed.contains(&form) {
                if fixed.len() >= MAX_SECRETS {
                    return false;
                }
                fixed.push(form);
            }
        }
        fixed.sort_by_key(|s| std::cmp::Reverse(s.len()));
        true
    }

    /// Registers a secret learnt while the client works; it replaces the value last set
    /// in the same `slot`.
    pub fn set_rotating(&self, slot: &'static str, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let forms = vec![
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        ];
        lock_or_recover(&self.rotating).insert(slot, forms);
    }

    /// `text` with every registered secret, and each of `also` (a PIN in flight), replaced
    /// by `***`.
    pub fn redact_with(&self, text: &str, also: &[&str]) -> String {
        let mut all: Vec<String> = read_or_recover(&self.fixed).clone();
        all.extend(lock_or_recover(&self.rotating).values().flatten().cloned());
        for s in also {
            all.extend(secret_forms(s));
        }
        redact(text, &all)
    }

    /// `text` with every registered secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.redact_with(text, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_and_the_longest_first() {
        let s = Secrets::default();
        assert!(s.add("p@ss word"));
        assert!(s.add("p@ss"));
        s.set_rotating("token", "tok-1");
        s.set_rotating("token", "tok-2");
        assert_eq!(
            s.redact("p@ss word p%40ss+word p%40ss%20word p@ss tok-1 tok-2"),
            "*** *** *** *** tok-1 ***"
        );
        assert_eq!(s.redact_with("pin 1234", &["1234"]), "pin ***");
    }
}
