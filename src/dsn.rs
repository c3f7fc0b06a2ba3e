//! The client's configuration: one DSN string, in the manner of database URLs.
//!
//! `SCHEME://USER:SECRET@HOST[:PORT][/PATH][?OPTION=VALUE&...]`
//!
//! Options common to every carrier are read here (`tls`, `timeout_ms`,
//! `default_country`); each carrier takes its own options with [`Dsn::take_option`] and
//! then calls [`Dsn::finish`], which refuses any option nobody took. No message built
//! here ever contains the user-info part of the DSN.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::secrets::Secrets;

/// A secret string (password, API key, token). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The default timeout of one operation, retries included.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;
const MAX_TIMEOUT_MS: u64 = 600_000;

/// A parsed DSN.
#[derive(Debug, Clone)]
pub struct Dsn {
    /// The carrier's scheme, lower case (`42call`, `poketalk`, `connectcall`, `voipnow`).
    pub scheme: String,
    pub user: Option<String>,
    pub secret: Option<Secret>,
    pub host: String,
    pub port: Option<u16>,
    /// The path after the host, always starting with `/` (just `/` when none was given).
    pub path: String,
    /// `tls=0` turns HTTPS off (loopback tests, legacy endpoints). Default: HTTPS.
    pub tls: bool,
    /// `timeout_ms`: the limit of one library call's network work, retries included.
    pub timeout: Duration,
    /// The client's registry of secrets, which the carrier's transport shares
    /// (`Transport::with_secrets`). Empty when parsed; the client registers the
    /// credentials.
    pub secrets: Arc<Secrets>,
    /// `default_country`: the country calling code used to read national numbers (`49`).
    pub default_country: Option<u16>,
    /// `ca_file=PATH`: a PEM file of one or more CA certificates trusted for this client's
    /// HTTPS besides the usual public roots (endpoints with a private CA keep TLS).
    pub ca_file: Option<String>,
    options: BTreeMap<String, String>,
}

impl Dsn {
    pub fn parse(text: &str) -> Result<Dsn> {
        let bad = |what: &str| Error::invalid_argument(format!("DSN: {what}"));
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("empty string"));
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("no scheme (expected e.g. 42call://USER:SECRET@HOST)"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        {
            return Err(bad("the scheme is not a carrier name"));
        }
        // `url` wants a scheme that starts with a letter; ours may not (`42call`).
        let url = url::Url::parse(&format!("cc://{rest}")).map_err(|e| {
            // url's messages name the fault, never the text.
            bad(&format!("malformed ({e})"))
        })?;
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(bad("no host")),
        };
        let host = host.to_string();
        let decode = |s: &str, what: &str| -> Result<String> {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad(&format!("the {what} is not UTF-8 after percent-decoding")))
        };
        let user = match url.username() {
            "" => None,
            u => Some(decode(u, "user name")?),
        };
        let secret = match url.password() {
            None | Some("") => None,
            Some(p) => Some(Secret::new(decode(p, "secret")?)),
        };
        let mut options = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            if options.insert(k.to_string(), v.to_string()).is_some() {
                return Err(bad(&format!("option '{k}' is given twice")));
            }
        }
        let path = if url.path().is_empty() {
            "/".to_string()
        } else {
            url.path().to_string()
        };
        let mut dsn = Dsn {
            scheme,
            user,
            secret,
            host,
            port: url.port(),
            path,
            tls: true,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            secrets: Arc::new(Secrets::default()),
            default_country: None,
            ca_file: None,
            options,
        };
        if let Some(v) = dsn.take_option("tls") {
            dsn.tls = match v.as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("option tls must be 0 or 1")),
            };
        }
        if let Some(v) = dsn.take_option("timeout_ms") {
            let ms: u64 = v
                .parse()
                .ok()
                .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                .ok_or_else(|| {
                    bad(&format!(
                        "option timeout_ms must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                    ))
                })?;
            dsn.timeout = Duration::from_millis(ms);
        }
        if let Some(v) = dsn.take_option("ca_file") {
            if v.is_empty() {
                return Err(bad("option ca_file must name a PEM file"));
            }
            dsn.ca_file = Some(v);
        }
        if let Some(v) = dsn.take_option("default_country") {
            let v = v.trim_start_matches('+');
            let code: u16 = v
                .parse()
                .ok()
                .filter(|c| crate::number::is_country_code(*c))
                .ok_or_else(|| {
                    bad("option default_country must be a country calling code such as 49")
                })?;
            dsn.default_country = Some(code);
        }
        Ok(dsn)
    }

    /// Takes a carrier option out of the DSN (so that [`Dsn::finish`] does not refuse it).
    pub fn take_option(&mut self, name: &str) -> Option<String> {
        self.options.remove(name)
    }

    /// Refuses any option that no part of the library took.
    pub fn finish(&self) -> Result<()> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(k) => Err(Error::invalid_argument(format!(
                "DSN: unknown option '{k}' for {}",
                self.scheme
            ))),
        }
    }

    /// `https://HOST[:PORT]` (or `http://` with `tls=0`), without a trailing slash.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        }
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.0/8`, `::1`): where
    /// `tls=0` exposes nothing on a network.
    pub fn host_is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        self.host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
    }

    /// The user name, or an error naming what is missing.
    pub fn require_user(&self, what: &str) -> Result<String> {
        self.user
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::invalid_argument(format!("DSN: the {what} is missing")))
    }

    /// The secret, or an error naming what is missing.
    pub fn require_secret(&self, what: &str) -> Result<Secret> {
        self.secret
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid_argument(format!("DSN: the {what} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_parts() {
        let mut d = Dsn::parse(
            "42call://demo:p%40ss%3Aw@127.0.0.1:8080/x/?tls=0&timeout_ms=2500&default_country=49&foo=bar",
        )
        .unwrap();
        assert_eq!(d.scheme, "42call");
        assert_eq!(d.user.as_deref(), Some("demo"));
        assert_eq!(d.secret.as_ref().unwrap().expose(), "p@ss:w");
        assert_eq!(d.host, "127.0.0.1");
        assert_eq!(d.port, Some(8080));
        assert_eq!(d.path, "/x/");
        assert!(!d.tls);
        assert_eq!(d.timeout, Duration::from_millis(2500));
        assert_eq!(d.default_country, Some(49));
        assert_eq!(d.origin(), "http://127.0.0.1:8080");
        assert!(d.finish().is_err());
        assert_eq!(d.take_option("foo").as_deref(), Some("bar"));
        assert!(d.finish().is_ok());
    }

    #[test]
    fn defaults_to_https() {
        let d = Dsn::parse("poketalk://KEY@www.poketalk.com").unwrap();
        assert!(d.tls);
        assert_eq!(d.origin(), "https://www.poketalk.com");
        assert_eq!(d.user.as_deref(), Some("KEY"));
        assert!(d.secret.is_none());
        assert_eq!(d.path, "/");
    }

    #[test]
    fn errors_name_the_part_and_hide_the_secret() {
        for (dsn, part) in [
            ("", "empty"),
            ("demo:hunter2@host", "scheme"),
            ("42call://demo:hunter2@", "host"),
            ("42call://demo:hunter2@h?tls=maybe", "tls"),
            ("42call://demo:hunter2@h?timeout_ms=0", "timeout_ms"),
            (
                "42call://demo:hunter2@h?default_country=999",
                "default_country",
            ),
            ("42call://demo:hunter2@h?a=1&a=2", "twice"),
            ("42call://demo:hunter2@h:99999", "malformed"),
        ] {
            let e = Dsn::parse(dsn).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{dsn}");
            assert!(e.message().contains(part), "{dsn}: {}", e.message());
            assert!(!e.to_string().contains("hunter2"), "{}", e);
        }
    }

    #[test]
    fn ca_file_and_loopback() {
        let d = Dsn::parse("42call://demo:pw@127.0.0.2?ca_file=/etc/ca.pem&tls=0").unwrap();
        assert_eq!(d.ca_file.as_deref(), Some("/etc/ca.pem"));
        assert!(d.host_is_loopback());
        assert!(Dsn::parse("42call://demo:pw@[::1]")
            .unwrap()
            .host_is_loopback());
        assert!(Dsn::parse("42call://demo:pw@LocalHost")
            .unwrap()
            .host_is_loopback());
        assert!(!Dsn::parse("42call://demo:pw@api.42call.com")
            .unwrap()
            .host_is_loopback());
        assert!(!Dsn::parse("42call://demo:pw@10.0.0.1")
            .unwrap()
            .host_is_loopback());
        assert!(Dsn::parse("42call://demo:pw@h?ca_file=").is_err());
    }

    #[test]
    fn host_names_are_taken_as_written() {
        // A DSN's host is never IDNA-mapped (`cc://` is not one of url's special schemes),
        // which is why idna needs no Unicode data here (Cargo.toml, idna_adapter): an
        // internationalised name is written in its xn-- form.
        let d = Dsn::parse("42call://demo:hunter2@xn--bcher-kva.example").unwrap();
        assert_eq!(d.host, "xn--bcher-kva.example");
        let d = Dsn::parse("42call://demo:hunter2@bücher.example").unwrap();
        assert_ne!(d.host, "xn--bcher-kva.example");
    }

    #[test]
    fn secret_is_not_printed() {
        let d = Dsn::parse("42call://demo:hunter2@h").unwrap();
        assert!(!format!("{d:?}").contains("hunter2"));
        // Printed, a secret says that there is one, never what it is.
        let secret = d.secret.unwrap();
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn the_scheme_is_a_name_and_the_host_is_required() {
        for dsn in [
            "://demo@h",
            "42_call://demo@h",
            "voip now://demo@h",
            "vö://demo@h",
        ] {
            let e = Dsn::parse(dsn).unwrap_err();
            assert!(e.message().contains("scheme"), "{dsn}: {}", e.message());
        }
        // Letters, digits, `+`, `-` and `.`, as RFC 3986 allows: a name the client then
        // looks up among the carriers.
        let d = Dsn::parse("A.b+c-42://demo@h").unwrap();
        assert_eq!(d.scheme, "a.b+c-42");
        for dsn in ["42call://demo@:80", "42call://demo@/path"] {
            assert!(Dsn::parse(dsn).is_err(), "{dsn}");
        }
    }

    #[test]
    fn required_parts_are_named_when_missing_or_empty() {
        let mut d = Dsn::parse("42call://demo:pw@h").unwrap();
        assert_eq!(d.require_user("login").unwrap(), "demo");
        assert_eq!(d.require_secret("password").unwrap().expose(), "pw");
        d.user = Some(String::new());
        d.secret = Some(Secret::new(""));
        assert!(d.secret.as_ref().unwrap().is_empty());
        let e = d.require_user("login").unwrap_err();
        assert_eq!(e.message(), "DSN: the login is missing");
        let e = d.require_secret("password").unwrap_err();
        assert_eq!(e.message(), "DSN: the password is missing");
        d.user = None;
        d.secret = None;
        assert!(d.require_user("login").is_err());
        assert!(d.require_secret("password").is_err());
    }

    #[test]
    fn an_ipv6_host_is_bracketed_in_the_origin() {
        let d = Dsn::parse("voipnow://a:b@[::1]:8443?tls=1").unwrap();
        assert_eq!(d.host, "::1");
        assert_eq!(d.origin(), "https://[::1]:8443");
    }
}
