//! Where the DSN comes from (a file or the environment: never the command line, where
//! `ps` and shell history would show it) and how it is shown (redacted).

use std::path::Path;

use crate::codes::Failure;

/// The environment variable that holds the DSN when no `--dsn-file` is given.
pub const DSN_ENV: &str = "CALLCONNECT_DSN";

/// Reads the DSN: the first line of `file` that is neither empty nor a `#` comment, or
/// else `$CALLCONNECT_DSN`.
pub fn load(file: Option<&Path>) -> Result<String, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::argument(format!(
                "cannot read the DSN file {}: {}",
                path.display(),
                e.kind()
            ))
        })?;
        return text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .ok_or_else(|| {
                Failure::argument(format!("the DSN file {} holds no DSN", path.display()))
            });
    }
    match std::env::var(DSN_ENV) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(Failure::argument(format!(
            "no DSN: give --dsn-file PATH or set {DSN_ENV} (see `callconnect sim` for the simulator's)"
        ))),
    }
}

/// Whether an option of this name holds a secret (`event_secret`, `token`, ...).
fn secret_option(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret", "token", "password", "passwd", "key", "pin", "auth",
    ]
    .iter()
    .any(|w| n.contains(w))
}

const BLANK: &str = "***";

/// The scheme and the rest as a URL (`url` wants a scheme that starts with a letter;
/// carriers' may not: `42call`), as the library reads a DSN.
fn parse(dsn: &str) -> Option<(String, url::Url)> {
    let (scheme, rest) = dsn.trim().split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let u = url::Url::parse(&format!("cc://{rest}")).ok()?;
    Some((scheme.to_ascii_lowercase(), u))
}

/// The DSN with its secrets blanked: the password, the user when it stands alone (an
/// API key in the user's place, as PokeTALK's DSN has it), and every option whose name
/// says secret. Something that is not a URL at all is shown as its scheme only.
pub fn redact(dsn: &str) -> String {
    let Some((scheme, mut u)) = parse(dsn) else {
        // The scheme only when there is one: a text without `://` may be a bare secret.
        let scheme: String = match dsn.split_once("://") {
            Some((scheme, _)) => scheme
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .take(16)
                .collect(),
            None => String::new(),
        };
        return format!("{scheme}://{BLANK} (not a valid URL)");
    };
    if u.password().is_some() {
        let _ = u.set_password(Some(BLANK));
    } else if !u.username().is_empty() {
        let _ = u.set_username(BLANK);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_option(&k) {
                    BLANK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // Keep `***` readable (the URL serialiser would percent-encode it in the query).
    let rest = u.to_string().replace("%2A%2A%2A", BLANK);
    format!("{scheme}://{}", rest.trim_start_matches("cc://"))
}

/// Every secret of the DSN as plain text (password, lone user, secret options), each at
/// least 4 characters long: what `check` makes sure never reaches its report.
pub fn secrets(dsn: &str) -> Vec<String> {
    let Some((_, u)) = parse(dsn) else {
        return Vec::new();
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut out = Vec::new();
    match u.password() {
        Some(p) => out.push(decode(p)),
        None if !u.username().is_empty() => out.push(decode(u.username())),
        None => {}
    }
    for (k, v) in u.query_pairs() {
        if secret_option(&k) {
            out.push(v.into_owned());
        }
    }
    out.retain(|s| s.len() >= 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact("42call://demo:s3cr%2Ft@login.42call.com?tls=0&default_country=49"),
            "42call://demo:***@login.42call.com?tls=0&default_country=49"
        );
        assert_eq!(
            redact("poketalk://KEY123456@www.poketalk.com?event_secret=abcdefghijklmnop&event_listen=127.0.0.1:0"),
            "poketalk://***@www.poketalk.com?event_secret=***&event_listen=127.0.0.1%3A0"
        );
        assert_eq!(
            redact("voipnow://id:sec@h?extension=210&token=abc"),
            "voipnow://id:***@h?extension=210&token=***"
        );
        assert_eq!(redact("nonsense secret"), "://*** (not a valid URL)");
        assert_eq!(
            redact("42call://u:p@[::1"),
            "42call://*** (not a valid URL)"
        );
        assert_eq!(
            secrets("42call://demo:s3cr%2Ft@h?event_secret=abcdefghijklmnop"),
            vec!["s3cr/t".to_string(), "abcdefghijklmnop".to_string()]
        );
        assert_eq!(
            secrets("poketalk://KEY123456@h"),
            vec!["KEY123456".to_string()]
        );
    }
}
