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

/// The names an event token's parameter (`cc_tok`) takes in a text: as it is, and
/// percent-encoded once or twice (`_` encoded or not), any case.
const TOKEN_KEYS: &[&str] = &["cc_tok", "cc%5ftok", "cc%255ftok"];
/// What may stand between the name and the value: `=`, once or twice encoded.
const TOKEN_EQUALS: &[&str] = &["=", "%3d", "%253d"];

/// `text` with the value of every per-call event token (`cc_tok=...` in an event URL,
/// however deep it is encoded: inside PokeTALK's `eventurl` form field, in a URL in a
/// JSON body...) replaced by `***`. A token is a bearer capability for its call:
/// whoever holds one can send that call's events. Borrowed when there is none.
pub(crate) fn event_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("cc_tok") && !lower.contains("cc%5ftok") && !lower.contains("cc%255ftok") {
        return std::borrow::Cow::Borrowed(text);
    }
    let (bytes, lower) = (text.as_bytes(), lower.as_bytes());
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        let key = TOKEN_KEYS
            .iter()
            .find(|k| lower[i..].starts_with(k.as_bytes()));
        let Some(key) = key else {
            i += 1;
            continue;
        };
        let after_key = i + key.len();
        let Some(eq) = TOKEN_EQUALS
            .iter()
            .find(|e| lower[after_key..].starts_with(e.as_bytes()))
        else {
            i = after_key;
            continue;
        };
        let start = after_key + eq.len();
        let end = start + token_value_len(&lower[start..]);
        if end > start {
            out.push_str(&text[copied..start]);
            out.push_str("***");
            copied = end;
        }
        i = end.max(start);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

/// The length of a token's value at the start of `rest` (lower-cased): URL-safe
/// characters and percent-escapes, up to an encoded `&` or anything else.
fn token_value_len(rest: &[u8]) -> usize {
    let mut n = 0;
    while n < rest.len() {
        let b = rest[n];
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'*' | b'+') {
            n += 1;
            continue;
        }
        let hex = |at: usize| rest.get(at).is_some_and(u8::is_ascii_hexdigit);
        if b == b'%' && hex(n + 1) && hex(n + 2) {
            // `%26` (an encoded `&`) and `%2526` end the value.
            if rest[n + 1..].starts_with(b"26") || rest[n + 1..].starts_with(b"2526") {
                break;
            }
            n += 3;
            continue;
        }
        break;
    }
    n
}

/// `text` with each of `secrets` replaced by `***`, the longest first (so that a secret
/// containing another is blanked whole), and every per-call event token blanked
/// ([`event_tokens`]).
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    // Per-call event tokens are secrets too, though never registered: each call has its own.
    let mut out = event_tokens(text).into_owned();
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
    fn event_tokens_are_blanked_in_every_encoding() {
        let tok = "mV0q1Xh2-Ab_Zk9Qe3TtY7uPLwX";
        for (text, shown) in [
            (
                format!("http://h/cb?cc_id=abc&cc_tok={tok}&status=1"),
                "http://h/cb?cc_id=abc&cc_tok=***&status=1".to_string(),
            ),
            (
                format!("eventurl=https%3A%2F%2Fh%2F%3Fcc_id%3Dabc%26cc_tok%3D{tok}%26status%3D%24status"),
                "eventurl=https%3A%2F%2Fh%2F%3Fcc_id%3Dabc%26cc_tok%3D***%26status%3D%24status"
                    .to_string(),
            ),
            (
                format!("x=cc%255Ftok%253D{tok}%2526y"),
                "x=cc%255Ftok%253D***%2526y".to_string(),
            ),
            (
                format!("CC_TOK={tok}"),
                "CC_TOK=***".to_string(),
            ),
            (
                format!("{{\"url\":\"/e?cc_tok={tok}\"}} cc_tok={tok}"),
                "{\"url\":\"/e?cc_tok=***\"} cc_tok=***".to_string(),
            ),
        ] {
            assert_eq!(event_tokens(&text), shown);
        }
        let percent: String = tok.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(
            event_tokens(&format!("cc%5Ftok%3D{percent}&a=1")),
            "cc%5Ftok%3D***&a=1"
        );
        // Nothing else is touched.
        for plain in [
            "cc_tok",
            "cc_tok=",
            "cc_tok=&a",
            "cc_tokens=5",
            "status=1&cc_id=x",
        ] {
            assert_eq!(event_tokens(plain), plain);
        }
    }

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
