//! Call references: the text a host stores to find a call again (`Call::reference`,
//! `Client::attach`), signed and bound to the account that placed the call.
//!
//! Format (version 2):
//!
//! ```text
//! cc2.<base64url(JSON)>.<base64url(HMAC-SHA256)>
//! JSON = {"v":2,"carrier":"42call","kid":"…","id":"…","started_ms":…,"limit_s":…,
//!         "correlation":"…","sealed":"…"}
//! ```
//!
//! - The MAC covers everything before the last `.`: any change to any byte is refused.
//! - Keys are derived with HKDF-SHA256 from the account's secret (the DSN's password or
//!   API key) and its identity (carrier, host, user): a client of the same account in
//!   any process derives the same keys; another account's client cannot attach, nor can
//!   anyone make a reference without the secret.
//! - `kid` is a short digest from the same derivation: it only tells "another account"
//!   from "altered" in the error message.
//! - `sealed` holds the carrier's own data for the call (Connect Call's session GUID,
//!   which is itself a credential; VoipNow's extension and B number) encrypted with
//!   ChaCha20-Poly1305 under a key derived the same way, with a synthetic nonce (a MAC
//!   of the sealed data under a third key).
//! - Readable by whoever holds a reference: the carrier, the carrier's call id, when the
//!   call started, its local expiry, and the host's correlation string.
//!
//! The crypto is ring's (HKDF, HMAC, AEAD), already in the build as rustls' provider.

use base64::Engine;
use ring::{aead, hkdf, hmac};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const PREFIX: &str = "cc2.";
const OLD_PREFIX: &str = "cc1.";
/// The longest reference read (a correlation of 255 bytes and carrier data fit easily).
pub const MAX_LEN: usize = 8192;
/// The longest a call may be followed locally (its limits and the margin together).
pub const MAX_LIMIT_S: u32 = 31 * 24 * 3600;
/// How far in the future a start may lie (clocks differ between machines; a day is
/// far more than any skew).
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;
const MAX_CORRELATION: usize = 255;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const NONCE_LEN: usize = 12;
const KID_LEN: usize = 8;

/// What a reference says about a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub carrier: String,
    pub id: String,
    pub started_ms: i64,
    /// Seconds after the start past which a call with no final word is closed.
    pub limit_s: u32,
    pub correlation: Option<String>,
    /// The carrier's data for the call (sealed in the reference).
    pub extra: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    carrier: String,
    kid: String,
    id: String,
    started_ms: i64,
    limit_s: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

/// One account's reference keys, derived once per client.
pub(crate) struct Keys {
    mac: hmac::Key,
    nonce: hmac::Key,
    seal: aead::LessSafeKey,
    kid: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

struct KidLen;
impl hkdf::KeyType for KidLen {
    fn len(&self) -> usize {
        KID_LEN
    }
}

impl Keys {
    /// The keys of the account `user` at `scheme://host`, from its `secret`.
    pub fn derive(scheme: &str, host: &str, user: &str, secret: &str) -> Keys {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"callconnect call reference v2");
        let prk = salt.extract(secret.as_bytes());
        let host = host.to_ascii_lowercase();
        let info = |purpose: &'static [u8]| -> [&[u8]; 7] {
            [
                scheme.as_bytes(),
                b"\0",
                host.as_bytes(),
                b"\0",
                user.as_bytes(),
                b"\0",
                purpose,
            ]
        };
        let mac_info = info(b"mac");
        let nonce_info = info(b"nonce");
        let seal_info = info(b"seal");
        let kid_info = info(b"kid");
        let mac: hmac::Key = prk
            .expand(&mac_info, hmac::HMAC_SHA256)
            .expect("HKDF output of one hash length")
            .into();
        let nonce: hmac::Key = prk
            .expand(&nonce_info, hmac::HMAC_SHA256)
            .expect("HKDF output of one hash length")
            .into();
        let seal: aead::UnboundKey = prk
            .expand(&seal_info, &aead::CHACHA20_POLY1305)
            .expect("HKDF output of one key length")
            .into();
        let mut kid = [0u8; KID_LEN];
        prk.expand(&kid_info, KidLen)
            .and_then(|okm| okm.fill(&mut kid))
            .expect("HKDF output of 8 bytes");
        Keys {
            mac,
            nonce,
            seal: aead::LessSafeKey::new(seal),
            kid: B64.encode(kid),
        }
    }

    /// The reference of a call.
    pub fn encode(&self, p: &Payload) -> String {
        let sealed = if p.extra.is_null() {
            None
        } else {
            let mut buf =
                serde_json::to_vec(&p.extra).expect("a call's carrier data always serialises");
            let aad = aad(&p.carrier, &p.id);
            // A synthetic nonce (as in SIV): a MAC of what is sealed, under a key of its
            // own. Distinct data never share a nonce; no random source is needed, and
            // the same data sealed twice only shows that it is the same.
            let mut mac = hmac::Context::with_key(&self.nonce);
            mac.update(aad.as_bytes());
            mac.update(&buf);
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&mac.sign().as_ref()[..NONCE_LEN]);
            self.seal
                .seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::from(aad.as_bytes()),
                    &mut buf,
                )
                .expect("ChaCha20-Poly1305 seals any buffer this size");
            let mut out = nonce.to_vec();
            out.extend_from_slice(&buf);
            Some(B64.encode(out))
        };
        let wire = Wire {
            v: 2,
            carrier: p.carrier.clone(),
            kid: self.kid.clone(),
            id: p.id.clone(),
            started_ms: p.started_ms,
            limit_s: p.limit_s,
            correlation: p.correlation.clone(),
            sealed,
        };
        let json = serde_json::to_vec(&wire).expect("a call reference always serialises");
        let body = format!("{PREFIX}{}", B64.encode(json));
        let tag = hmac::sign(&self.mac, body.as_bytes());
        format!("{body}.{}", B64.encode(tag.as_ref()))
    }

    /// Reads a reference made by a client of this account, refusing any other.
    /// `now_ms`: the current time (Unix ms), against which the start is judged.
    pub fn decode(&self, reference: &str, now_ms: i64) -> Result<Payload> {
        let bad = |why: &str| Error::invalid_argument(format!("refused call reference: {why}"));
        if reference.len() > MAX_LEN {
            return Err(bad("longer than any reference this library makes"));
        }
        let reference = reference.trim();
        if reference.starts_with(OLD_PREFIX) {
            return Err(bad(
                "it is unsigned (the old cc1 format, which anyone could have written); only \
                 signed cc2 references are attached: follow such a call by its id at the carrier",
            ));
        }
        if !reference.starts_with(PREFIX) {
            return Err(bad("not a call reference made by this library"));
        }
        let damaged = || bad("truncated or damaged (it does not read as a whole signed reference)");
        let (body, tag) = reference.rsplit_once('.').ok_or_else(damaged)?;
        if body.len() <= PREFIX.len() {
            return Err(damaged());
        }
        let tag = B64.decode(tag).map_err(|_| damaged())?;
        if tag.len() != hmac::HMAC_SHA256.digest_algorithm().output_len() {
            return Err(damaged());
        }
        let json = B64.decode(&body[PREFIX.len()..]).map_err(|_| damaged())?;
        let wire: Wire = match serde_json::from_slice(&json) {
            Ok(w) => w,
            // A body that no longer parses was cut or changed: say which when the MAC
            // tells (a whole body that does not parse would have been made by no one).
            Err(_) => return Err(damaged()),
        };
        if wire.v != 2 {
            return Err(bad("a format version this library does not know"));
        }
        if wire.kid != self.kid {
            return Err(bad(
                "it was issued by another account (or for another carrier host): only the \
                 account that placed a call can attach to it",
            ));
        }
        if hmac::verify(&self.mac, body.as_bytes(), &tag).is_err() {
            return Err(bad(
                "it was altered (its signature does not match its content)",
            ));
        }
        // Signed by this account: what follows guards against a client of the account
        // that wrote nonsense, and keeps the limits sane.
        if wire.started_ms <= 0 || wire.started_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(bad("its start time is implausible (more than a day ahead)"));
        }
        if wire.limit_s == 0 || wire.limit_s > MAX_LIMIT_S {
            return Err(bad("its limits are out of range"));
        }
        if !plausible_id(&wire.carrier, &wire.id) {
            return Err(bad(&format!(
                "its call id is not of the shape {} gives",
                wire.carrier
            )));
        }
        if wire
            .correlation
            .as_ref()
            .is_some_and(|c| c.len() > MAX_CORRELATION)
        {
            return Err(bad("its correlation is too long"));
        }
        let extra = match &wire.sealed {
            None => serde_json::Value::Null,
            Some(s) => {
                let raw = B64.decode(s).map_err(|_| damaged())?;
                if raw.len() < NONCE_LEN {
                    return Err(damaged());
                }
                let (nonce, ct) = raw.split_at(NONCE_LEN);
                let mut ct = ct.to_vec();
                let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
                let plain = self
                    .seal
                    .open_in_place(
                        nonce,
                        aead::Aad::from(aad(&wire.carrier, &wire.id).as_bytes()),
                        &mut ct,
                    )
                    .map_err(|_| bad("its sealed carrier data does not open"))?;
                serde_json::from_slice(plain).map_err(|_| damaged())?
            }
        };
        Ok(Payload {
            carrier: wire.carrier,
            id: wire.id,
            started_ms: wire.started_ms,
            limit_s: wire.limit_s,
            correlation: wire.correlation,
            extra,
        })
    }
}

/// The reference keys of the account a DSN names: its secret (or, with no secret, the
/// user-info's only part: an API key in the user's place, as PokeTALK's DSN has it).
pub(crate) fn keys_for(dsn: &crate::dsn::Dsn) -> Keys {
    let secret = match (&dsn.secret, &dsn.user) {
        (Some(s), _) => s.expose(),
        (None, Some(u)) => u.as_str(),
        (None, None) => "",
    };
    Keys::derive(
        &dsn.scheme,
        &dsn.host,
        dsn.user.as_deref().unwrap_or(""),
        secret,
    )
}

/// A reference signed with the keys of the account `dsn` names, holding whatever it is
/// given: for tools that must name a call they did not place (the command's field
/// check) and tests of what a carrier does with odd ids. It takes the account's secret,
/// as every reference does.
#[doc(hidden)]
pub fn sign_with_dsn(
    dsn: &str,
    id: &str,
    started_ms: i64,
    limit_s: u32,
    extra: serde_json::Value,
) -> Result<String> {
    let dsn = crate::dsn::Dsn::parse(dsn)?;
    Ok(keys_for(&dsn).encode(&Payload {
        carrier: dsn.scheme.clone(),
        id: id.to_string(),
        started_ms,
        limit_s,
        correlation: None,
        extra,
    }))
}

fn aad(carrier: &str, id: &str) -> String {
    format!("cc2\0{carrier}\0{id}")
}

/// Whether `id` has the shape of a call id `carrier` gives (or, for carriers without
/// ids of their own, that this library gives).
pub(crate) fn plausible_id(carrier: &str, id: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    match carrier {
        // A GUID, as 42call's documents show it: 4AF46744-C346-44FF-80E3-33D89FBE963B.
        "42call" => {
            let parts: Vec<&str> = id.split('-').collect();
            parts.len() == 5
                && parts
                    .iter()
                    .zip([8, 4, 4, 4, 12])
                    .all(|(p, n)| p.len() == n && hex(p))
        }
        // The library's own: 11 hex digits of time and 8 of a random hash.
        "poketalk" => id.len() == 19 && hex(id),
        // The library's own: cc-<16 hex>-<the call's number in its session>.
        "connectcall" => {
            let mut parts = id.splitn(3, '-');
            parts.next() == Some("cc")
                && parts.next().is_some_and(|h| h.len() == 16 && hex(h))
                && parts.next().is_some_and(|n| {
                    (1..=10).contains(&n.len())
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && !n.starts_with('0')
                })
        }
        // The carrier's id, one path segment (documents: "c3e92a04ff422a7a0b9f").
        "voipnow" => {
            (1..=128).contains(&id.len())
                && id != "."
                && id != ".."
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn keys() -> Keys {
        Keys::derive("connectcall", "api.example", "alice", "s3cret")
    }

    fn payload() -> Payload {
        Payload {
            carrier: "connectcall".into(),
            id: "cc-0123456789abcdef-2".into(),
            started_ms: NOW - 1000,
            limit_s: 600,
            correlation: Some("booth-7".into()),
            extra: serde_json::json!({"guid": "4AF46744-C346-44FF-80E3-33D89FBE963B", "seq": 2}),
        }
    }

    fn refused(r: &str, what: &str) {
        let e = keys().decode(r, NOW).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{r}");
        assert!(e.message().contains(what), "{r}: {}", e.message());
    }

    #[test]
    fn round_trip_and_the_guid_is_sealed() {
        let r = keys().encode(&payload());
        assert!(r.starts_with("cc2."));
        assert_eq!(keys().decode(&r, NOW).unwrap(), payload());
        let body = B64.decode(r[4..].split('.').next().unwrap()).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("4AF46744"), "{text}");
        assert!(text.contains("booth-7"));
        // The nonce is synthetic: the same call gives the same reference; another
        // correlation gives another sealed part too (no nonce is reused for other data).
        assert_eq!(keys().encode(&payload()), r);
        let mut other = payload();
        other.extra = serde_json::json!({"guid": "5AF46744-C346-44FF-80E3-33D89FBE963B", "seq": 2});
        let sealed = |r: &str| {
            let body = B64.decode(r[4..].split('.').next().unwrap()).unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["sealed"].clone()
        };
        assert_ne!(sealed(&keys().encode(&other)), sealed(&r));
    }

    #[test]
    fn altered_truncated_foreign_unsigned_and_garbage_are_refused() {
        let r = keys().encode(&payload());
        // Every single-character change anywhere in the reference.
        for i in 4..r.len() {
            let mut b = r.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let s = String::from_utf8(b).unwrap();
            if s != r {
                assert!(keys().decode(&s, NOW).is_err(), "changed at {i}");
            }
        }
        for cut in [1, 10, r.len() / 2, r.len() - 5] {
            refused(&r[..cut], "refused");
        }
        refused(&r[..r.len() - 5], "truncated");
        let foreign =
            Keys::derive("connectcall", "api.example", "mallory", "s3cret").encode(&payload());
        refused(&foreign, "another account");
        let other_secret =
            Keys::derive("connectcall", "api.example", "alice", "other").encode(&payload());
        refused(&other_secret, "another account");
        refused("cc1.eyJ2IjoxfQ", "unsigned");
        refused("", "not a call reference");
        refused(&"x".repeat(8193), "longer");
        // 8192 bytes are read (and refused here for what they say, not for their length).
        refused(&"x".repeat(8192), "not a call reference");
        // A body re-signed with a wrong MAC but the right kid: altered.
        let (body, _) = r.rsplit_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&B64.decode(&body[4..]).unwrap()).unwrap();
        json["limit_s"] = serde_json::json!(1);
        let forged = format!(
            "cc2.{}.{}",
            B64.encode(json.to_string()),
            B64.encode([0u8; 32])
        );
        refused(&forged, "altered");
    }

    #[test]
    fn implausible_values_signed_by_the_account_are_refused() {
        let k = keys();
        let mut p = payload();
        p.started_ms = NOW + 2 * 24 * 3600 * 1000;
        refused(&k.encode(&p), "start time");
        let mut p = payload();
        p.limit_s = MAX_LIMIT_S + 1;
        refused(&k.encode(&p), "limits");
        let mut p = payload();
        p.id = "4AF46744-C346-44FF-80E3-33D89FBE963B".into();
        refused(&k.encode(&p), "shape");
    }

    /// A reference the account signed over a body written by hand.
    fn signed_by_hand(k: &Keys, json: serde_json::Value) -> String {
        let body = format!("{PREFIX}{}", B64.encode(json.to_string()));
        let tag = hmac::sign(&k.mac, body.as_bytes());
        format!("{body}.{}", B64.encode(tag.as_ref()))
    }

    #[test]
    fn correlations_up_to_255_bytes_and_sealed_parts_shorter_than_a_nonce() {
        let k = keys();
        let with = |correlation: usize| {
            let mut p = payload();
            p.correlation = Some("c".repeat(correlation));
            k.decode(&k.encode(&p), NOW)
        };
        assert!(with(255).is_ok());
        let e = with(256).unwrap_err();
        assert!(e.message().contains("correlation"), "{}", e.message());
        // A sealed part of 11 bytes cannot hold the nonce: damaged. One of exactly 12
        // (a nonce, no ciphertext or tag) is read as a nonce and does not open.
        let wire = |sealed: &[u8]| {
            serde_json::json!({"v": 2, "carrier": "connectcall", "kid": k.kid,
                "id": "cc-0123456789abcdef-2", "started_ms": NOW - 1000, "limit_s": 600,
                "sealed": B64.encode(sealed)})
        };
        refused(&signed_by_hand(&k, wire(&[7u8; 11])), "damaged");
        refused(&signed_by_hand(&k, wire(&[7u8; 12])), "does not open");
        // The same body without a sealed part is read: the hand-made body is well formed.
        let mut plain = wire(&[]);
        plain.as_object_mut().unwrap().remove("sealed");
        assert_eq!(
            k.decode(&signed_by_hand(&k, plain), NOW).unwrap().extra,
            serde_json::Value::Null
        );
    }

    #[test]
    fn a_reference_signed_with_a_dsn_is_read_by_that_account() {
        let dsn = "connectcall://alice:s3cret@api.example";
        let r = sign_with_dsn(
            dsn,
            "cc-0123456789abcdef-7",
            NOW - 5,
            60,
            serde_json::json!({"seq": 7}),
        )
        .unwrap();
        let p = keys_for(&crate::dsn::Dsn::parse(dsn).unwrap())
            .decode(&r, NOW)
            .unwrap();
        assert_eq!(
            (p.id.as_str(), p.started_ms, p.limit_s),
            ("cc-0123456789abcdef-7", NOW - 5, 60)
        );
        assert_eq!(p.extra, serde_json::json!({"seq": 7}));
        // keys_for takes the DSN's secret: the account alice with this secret is `keys()`.
        assert!(keys().decode(&r, NOW).is_ok());
    }

    #[test]
    fn keys_print_as_a_redaction() {
        // What a `{:?}` of a client's state shows for its keys: a marker, no key material.
        assert_eq!(format!("{:?}", keys()), "Keys(***)");
    }

    #[test]
    fn the_bounds_are_a_day_ahead_and_31_days_of_limits() {
        // Written out, not through the constants, so that a changed bound fails here.
        let k = keys();
        let at = |started_ms: i64, limit_s: u32| {
            let mut p = payload();
            p.started_ms = started_ms;
            p.limit_s = limit_s;
            k.decode(&k.encode(&p), NOW)
        };
        assert!(at(NOW + 86_400_000, 600).is_ok());
        assert!(at(NOW + 86_400_001, 600).is_err());
        assert!(at(1, 600).is_ok());
        assert!(at(0, 600).is_err());
        assert!(at(NOW, 2_678_400).is_ok());
        assert!(at(NOW, 2_678_401).is_err());
        assert!(at(NOW, 1).is_ok());
        assert!(at(NOW, 0).is_err());
    }

    #[test]
    fn id_shapes() {
        assert!(plausible_id(
            "42call",
            "4AF46744-C346-44FF-80E3-33D89FBE963B"
        ));
        assert!(!plausible_id("42call", "4AF46744"));
        assert!(plausible_id("poketalk", "0190f1e2d3c4a1b2c3d"));
        assert!(!plausible_id("poketalk", "../../x"));
        assert!(plausible_id("connectcall", "cc-0123456789abcdef-12"));
        assert!(!plausible_id("connectcall", "cc-0123456789abcdef-0"));
        assert!(plausible_id("voipnow", "c3e92a04ff422a7a0b9f"));
        assert!(!plausible_id("voipnow", ".."));
        assert!(!plausible_id("voipnow", "a/b"));
        // Each condition of a shape on its own: the right length but not hex, hex but
        // not the right length.
        assert!(!plausible_id(
            "42call",
            "ZZZZZZZZ-C346-44FF-80E3-33D89FBE963B"
        ));
        assert!(!plausible_id(
            "42call",
            "4AF46744-C346-44FF-80E3-33D89FBE963"
        ));
        assert!(!plausible_id("poketalk", "0190f1e2d3c4a1b2c3z"));
        assert!(!plausible_id("poketalk", "0190f1e2d3c4a1b2c3"));
        assert!(!plausible_id("connectcall", "cc-0123456789abcdeg-2"));
        assert!(!plausible_id("connectcall", "cc-0123456789abcde-2"));
        assert!(!plausible_id(
            "connectcall",
            "cc-0123456789abcdef-12345678901"
        ));
        assert!(plausible_id(
            "connectcall",
            "cc-0123456789abcdef-1234567890"
        ));
        assert!(!plausible_id("connectcall", "cc-0123456789abcdef-1a"));
        assert!(!plausible_id("connectcall", "xx-0123456789abcdef-1"));
        assert!(plausible_id("voipnow", "a_b-c.d"));
        assert!(plausible_id("voipnow", &"v".repeat(128)));
        assert!(!plausible_id("voipnow", &"v".repeat(129)));
        assert!(!plausible_id("voipnow", ""));
        // A carrier without a shape of its own: printable, 1 to 128 bytes.
        assert!(plausible_id("other", "a:b/c"));
        assert!(!plausible_id("other", ""));
        assert!(!plausible_id("other", "a b"));
        assert!(!plausible_id("other", &"o".repeat(129)));
        assert!(plausible_id("other", &"o".repeat(128)));
    }

    #[test]
    fn a_sealed_part_opens_only_in_the_reference_of_its_call() {
        // The account itself moves the sealed part of one call's reference into another
        // call's (a client of the account writing nonsense): it is bound to its carrier
        // and id, so it does not open there.
        let k = keys();
        let first = k.encode(&payload());
        let body = B64.decode(first[4..].split('.').next().unwrap()).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["id"] = serde_json::json!("cc-0123456789abcdef-3");
        refused(&signed_by_hand(&k, json), "does not open");
    }
}
