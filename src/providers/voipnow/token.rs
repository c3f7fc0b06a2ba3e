//! VoipNow's OAuth access token (client credentials) and its on-disk cache
//! (`token_cache=FILE`): fetched when needed, renewed before it runs out, shared with
//! other processes through the cache file (mode 0600, replaced atomically), and dropped
//! when the carrier refuses it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// A token reply without `expires_in` is kept this long.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(3600);
/// A token is renewed this long before it runs out (at most a tenth of its life).
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
pub(super) const TOKEN_SLOT: &str = "voipnow-access-token";
pub(super) struct Token {
    pub(super) value: Secret,
    pub(super) renew_at: Instant,
    /// When it runs out, in Unix seconds (for the token cache file).
    pub(super) expires_unix: u64,
}

impl VoipNow {
    /// The access token to send, fetching (or renewing) it when needed.
    pub(super) fn access_token(&self, deadline: Instant) -> Result<Secret> {
        if let Auth::Fixed(t) = &self.auth {
            return Ok(t.clone());
        }
        let mut slot = self
            .token
            .lock()
            .map_err(|_| Error::internal("the token lock was poisoned by an earlier panic"))?;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        if slot.is_none() {
            if let Some(t) = self.read_token_cache() {
                self.transport
                    .set_rotating_secret(TOKEN_SLOT, t.value.expose());
                let value = t.value.clone();
                *slot = Some(t);
                return Ok(value);
            }
        }
        let t = self.fetch_token(deadline)?;
        self.transport
            .set_rotating_secret(TOKEN_SLOT, t.value.expose());
        self.write_token_cache(&t);
        let value = t.value.clone();
        *slot = Some(t);
        Ok(value)
    }

    /// Forgets `used` after the carrier refused it (unless another thread has already
    /// put a newer token in its place). Returns whether a new token can be fetched.
    pub(super) fn forget_token(&self, used: &Secret) -> bool {
        if !matches!(self.auth, Auth::Client { .. }) {
            return false;
        }
        if let Ok(mut slot) = self.token.lock() {
            if slot.as_ref().is_some_and(|t| &t.value == used) {
                *slot = None;
                self.remove_token_cache(used);
            }
        }
        true
    }

    pub(super) fn fetch_token(&self, deadline: Instant) -> Result<Token> {
        let Auth::Client {
            id,
            secret,
            redirect_uri,
        } = &self.auth
        else {
            return Err(Error::internal("a fixed token is never fetched"));
        };
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.expose()),
            ("type", "unifiedapi"),
        ];
        if let Some(r) = redirect_uri {
            form.push(("redirect_uri", r.as_str()));
        }
        let sent = Instant::now();
        let sent_unix = unix_now();
        // Asking for a token twice does no harm: a fault is retried like a read.
        let req = Request::new(
            "POST",
            format!("{}/oauth/token.php", self.base),
            Effect::Read,
        )
        .header("accept", "application/json")
        .form(&form);
        let resp = self
            .transport
            .send_until(&req, deadline)
            .map_err(|e| e.context("VoipNow token"))?;
        let body: Option<Value> = serde_json::from_str(&resp.body).ok();
        if resp.status != 200 {
            let (code, text) = body
                .as_ref()
                .and_then(oauth_error)
                .unwrap_or_else(|| (String::new(), format!("HTTP {}", resp.status)));
            let kind = match resp.status {
                400 | 401 | 403 => ErrorKind::Auth,
                _ => ErrorKind::Provider,
            };
            let message = self.transport.redact(&format!(
                "VoipNow refused the client credentials: {text} (HTTP {})",
                resp.status
            ));
            return Err(if code.is_empty() {
                Error::new(kind, message)
            } else {
                Error::carrier(kind, code, message)
            });
        }
        let body = body.ok_or_else(|| {
            unreadable(&self.transport, "VoipNow's token reply is not JSON", &resp)
        })?;
        let value = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unreadable(
                    &self.transport,
                    "VoipNow's token reply has no access_token",
                    &resp,
                )
            })?;
        let life = body
            .get("expires_in")
            .and_then(as_u64)
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFE);
        Ok(Token {
            value: Secret::new(value),
            renew_at: sent + life - renew_margin(life),
            expires_unix: sent_unix + life.as_secs(),
        })
    }

    // ---- The token cache file (token_cache=PATH) ----

    /// Who a cached token belongs to: the carrier's address and the client id.
    pub(super) fn cache_owner(&self) -> Option<String> {
        match &self.auth {
            Auth::Client { id, .. } => Some(format!("{} {id}", self.base)),
            Auth::Fixed(_) => None,
        }
    }

    pub(super) fn read_token_cache(&self) -> Option<Token> {
        let path = self.token_cache.as_ref()?;
        let owner = self.cache_owner()?;
        let text = std::fs::read_to_string(path).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        if v.get("owner")?.as_str()? != owner {
            return None;
        }
        let value = v.get("access_token")?.as_str()?.to_string();
        let expires_unix = v.get("expires")?.as_u64()?;
        let now = unix_now();
        let left = Duration::from_secs(expires_unix.checked_sub(now)?);
        let life = Duration::from_secs(v.get("life")?.as_u64()?.max(1));
        let margin = renew_margin(life);
        if value.is_empty() || left <= margin {
            return None;
        }
        Some(Token {
            value: Secret::new(value),
            renew_at: Instant::now() + (left - margin),
            expires_unix,
        })
    }

    /// Writes the token for other processes (mode 0600, replaced atomically). A failure
    /// to write costs only a token fetch later, so it is not an error.
    pub(super) fn write_token_cache(&self, t: &Token) {
        let (Some(path), Some(owner)) = (self.token_cache.as_ref(), self.cache_owner()) else {
            return;
        };
        let life = t.expires_unix.saturating_sub(unix_now());
        let text = json!({
            "owner": owner,
            "access_token": t.value.expose(),
            "expires": t.expires_unix,
            "life": life,
        })
        .to_string();
        // A failure to write costs only a token fetch later.
        let _ = crate::util::write_atomically(path, text.as_bytes(), true);
    }

    pub(super) fn remove_token_cache(&self, refused: &Secret) {
        let Some(path) = self.token_cache.as_ref() else {
            return;
        };
        let holds_it = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| {
                v.get("access_token")
                    .and_then(Value::as_str)
                    .map(|s| s == refused.expose())
            })
            .unwrap_or(false);
        if holds_it {
            let _ = std::fs::remove_file(path);
        }
    }

    // ---- Exchanges ----
}

pub(super) fn renew_margin(life: Duration) -> Duration {
    TOKEN_MARGIN.min(life / 10)
}
