//! `store=redis://[USER][:PASSWORD@]HOST[:PORT]/DB`: the call-state store in Redis, for
//! portals that run on several machines.
//!
//! - One hash per call, `cc:<account prefix>:<call id>`: two carrier accounts sharing
//!   one Redis never see each other's calls. Every write renews the key's TTL
//!   ([`super::KEEP`]): Redis removes old records itself.
//! - The merge runs on the server, in one Lua script ([`MERGE_LUA`], sent by EVALSHA,
//!   loaded on the first NOSCRIPT): atomic whatever other processes do. It is the copy of
//!   [`super::merge`]; the backend tests run the same updates through both.
//! - The blocking client of the `redis` crate, no async runtime; one connection per
//!   client, opened on first use and again after a fault. A merge is idempotent (merging
//!   the same update twice leaves the same record), so an operation whose connection
//!   broke is sent once more on a fresh one.
//! - Redis unreachable: the operation fails with `ErrorKind::Network` and a message that
//!   names the store (`redis://HOST:PORT/DB`), never its password.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::{check_id, CallStore, Merge, Merged, Record, Update, KEEP, PLAUSIBLE_MARGIN_S};
use crate::dsn::Secret;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{CallState, FailReason, Leg};

/// The longest one Redis operation may take (connect, or one command).
const MAX_TIMEOUT: Duration = Duration::from_secs(5);

/// The merge rules of [`super::merge`] on the server. `KEYS[1]`: the call's hash.
/// `ARGV`: create, now_ms, state (-1: none), reason, leg, duration (-1: none), cost ('':
/// none), currency, raw code, started_ms (0: none), hangup (0/1), seq, ttl_s, margin_s,
/// then carrier data as name, value pairs. Returns `{}` when there is no record and
/// `create` is 0, else `{changed, alive_after_final, implausible, field, value, ...}`.
pub const MERGE_LUA: &str = r#"
local key = KEYS[1]
local now = tonumber(ARGV[2])
local exists = redis.call('EXISTS', key) == 1
if not exists and ARGV[1] ~= '1' then return {} end
local h = {}
if exists then
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
end
local function num(f) return tonumber(h[f] or '0') or 0 end
local sets = {}
local function set(f, v) h[f] = v; sets[#sets + 1] = f; sets[#sets + 1] = v end
local function dec_ge(a, b)
  local an, bn = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if an ~= bn then return bn end
  if an then a, b = b:sub(2), a:sub(2) end
  local ai, af = a:match('^(%d*)%.?(%d*)$')
  local bi, bf = b:match('^(%d*)%.?(%d*)$')
  if ai == nil or bi == nil then return false end
  ai = ai:gsub('^0+', ''); bi = bi:gsub('^0+', '')
  if #ai ~= #bi then return #ai > #bi end
  if ai ~= bi then return ai > bi end
  local n = math.max(#af, #bf)
  af = af .. string.rep('0', n - #af); bf = bf .. string.rep('0', n - #bf)
  return af >= bf
end
local function is_final(s) return s == 5 or s == 6 end
local changed, alive, implausible = 0, 0, 0
if ARGV[11] == '1' and num('hu') == 0 then set('hu', ARGV[2]) end
if tonumber(ARGV[10]) ~= 0 and num('sa') == 0 then set('sa', ARGV[10]) end
if tonumber(ARGV[12]) > num('sq') then set('sq', ARGV[12]) end
for i = 15, #ARGV, 2 do
  local f = 'd.' .. ARGV[i]
  if h[f] == nil then set(f, ARGV[i + 1]) end
end
local dur = tonumber(ARGV[6])
if dur >= 0 and num('sa') > 0 then
  local allowed = math.floor(math.max(now - num('sa'), 0) / 1000) + tonumber(ARGV[14])
  if dur > allowed then implausible = 1; dur = -1 end
end
local st = num('st')
local new = tonumber(ARGV[3])
if is_final(st) then
  if new >= 0 and not is_final(new) then alive = 1 end
else
  local reason, leg = tonumber(ARGV[4]), tonumber(ARGV[5])
  if num('hu') ~= 0 and is_final(new) then new = 5; reason = 6; leg = 0 end
  if new > st then
    st = new; changed = 1
    set('st', tostring(new)); set('ch', ARGV[2])
    if new == 6 then set('rs', tostring(reason)); set('lg', tostring(leg))
    elseif new == 5 and reason ~= 0 then set('rs', tostring(reason)) end
  end
  if new < 0 or new == st then
    if dur >= 0 and dur > num('du') then set('du', tostring(dur)) end
    if ARGV[7] ~= '' then
      local cur = h['cu']
      local same = cur == nil or (ARGV[8] ~= '' and ARGV[8] == cur)
      if h['co'] == nil or (same and dec_ge(ARGV[7], h['co'])) then
        set('co', ARGV[7])
        if ARGV[8] ~= '' then set('cu', ARGV[8]) end
      end
    end
    if ARGV[9] ~= '' then set('rc', ARGV[9]) end
  end
end
set('up', ARGV[2])
redis.call('HSET', key, unpack(sets))
redis.call('EXPIRE', key, tonumber(ARGV[13]))
local out = {tostring(changed), tostring(alive), tostring(implausible)}
for f, v in pairs(h) do out[#out + 1] = f; out[#out + 1] = v end
return out
"#;

pub struct RedisStore {
    client: redis::Client,
    /// `redis://HOST:PORT/DB`: what messages name.
    shown: String,
    password: Option<Secret>,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<redis::Connection>>,
    script: redis::Script,
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: store: {what}"))
}

fn state_of(n: u32) -> CallState {
    match n {
        1 => CallState::RingingA,
        2 => CallState::AAnswered,
        3 => CallState::RingingB,
        4 => CallState::Connected,
        5 => CallState::Ended,
        6 => CallState::Failed,
        _ => CallState::Initiating,
    }
}

fn reason_of(n: u32) -> FailReason {
    match n {
        1 => FailReason::Busy,
        2 => FailReason::NoAnswer,
        3 => FailReason::Rejected,
        4 => FailReason::InsufficientFunds,
        5 => FailReason::InvalidNumber,
        6 => FailReason::Cancelled,
        7 => FailReason::ProviderError,
        8 => FailReason::Unknown,
        _ => FailReason::None,
    }
}

fn leg_of(n: u32) -> Leg {
    match n {
        1 => Leg::A,
        2 => Leg::B,
        _ => Leg::None,
    }
}

/// A record from a hash's fields; `None` for an empty hash (no record).
fn record_of(fields: &HashMap<String, String>) -> Option<Record> {
    if fields.is_empty() {
        return None;
    }
    let n = |f: &str| {
        fields
            .get(f)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let text = |f: &str| fields.get(f).cloned();
    Some(Record {
        state: state_of(n("st") as u32),
        reason: reason_of(n("rs") as u32),
        failed_leg: leg_of(n("lg") as u32),
        duration_s: u32::try_from(n("du")).unwrap_or(0),
        cost: text("co"),
        currency: text("cu"),
        raw_code: text("rc"),
        started_ms: n("sa"),
        changed_ms: n("ch"),
        hangup_ms: n("hu"),
        seq: u64::try_from(n("sq")).unwrap_or(0),
        data: fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("d.")?.to_string(), v.clone())))
            .collect(),
    })
}

impl RedisStore {
    /// Reads `spec` (`redis://[USER][:PASSWORD@]HOST[:PORT]/DB`). Connects on first use.
    pub fn open(spec: &str, prefix: &str, timeout: Duration) -> Result<RedisStore> {
        let url =
            url::Url::parse(spec).map_err(|e| dsn_error(format!("not a redis:// URL ({e})")))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(dsn_error("the redis:// URL names no host")),
        };
        let port = url.port().unwrap_or(6379);
        let db: i64 = match url.path().trim_matches('/') {
            "" => 0,
            p => p
                .parse()
                .ok()
                .filter(|d| (0..=1_000_000).contains(d))
                .ok_or_else(|| dsn_error("the redis:// URL's path must be a database number"))?,
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(dsn_error("the redis:// URL takes no query or fragment"));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| dsn_error("the redis:// URL's user or password is not UTF-8"))
        };
        let mut settings = RedisConnectionInfo::default().set_db(db);
        if !url.username().is_empty() {
            settings = settings.set_username(decode(url.username())?);
        }
        let password = match url.password() {
            None | Some("") => None,
            Some(p) => Some(Secret::new(decode(p)?)),
        };
        if let Some(p) = &password {
            settings = settings.set_password(p.expose());
        }
        let shown = format!("redis://{}:{port}/{db}", url.host_str().unwrap_or(&host));
        let info: ConnectionInfo = ConnectionAddr::Tcp(host, port)
            .into_connection_info()
            .map_err(|_| dsn_error(format!("{shown} is not a Redis address")))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info)
            .map_err(|_| dsn_error(format!("{shown} is not a Redis address")))?;
        Ok(RedisStore {
            client,
            shown,
            password,
            prefix: format!("cc:{prefix}:"),
            timeout: timeout.min(MAX_TIMEOUT),
            conn: Mutex::new(None),
            script: redis::Script::new(MERGE_LUA),
        })
    }

    /// The password the URL gave, if any (for the client's registry of secrets).
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose())
    }

    fn key(&self, id: &str) -> Result<String> {
        check_id(id)?;
        Ok(format!("{}{id}", self.prefix))
    }

    /// The error for a fault of the store: Network, naming the store, no password.
    fn error(&self, e: &redis::RedisError) -> Error {
        let mut text = e.to_string();
        if let Some(p) = &self.password {
            for form in crate::secrets::secret_forms(p.expose()) {
                if !form.is_empty() {
                    text = text.replace(&form, crate::log::BLANK);
                }
            }
        }
        let what = if e.is_connection_refusal() || e.is_io_error() || e.is_timeout() {
            "is unreachable"
        } else {
            "failed"
        };
        Error::new(
            ErrorKind::Network,
            format!("call-state store {} {what}: {text}", self.shown),
        )
    }

    fn conn(&self) -> MutexGuard<'_, Option<redis::Connection>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection (opened if needed); once more on a fresh connection if
    /// the first one broke.
    fn run<T>(&self, f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T> {
        let mut guard = self.conn();
        let mut tries = 0;
        loop {
            tries += 1;
            if guard.is_none() {
                let c = self
                    .client
                    .get_connection_with_timeout(self.timeout)
                    .map_err(|e| self.error(&e))?;
                c.set_read_timeout(Some(self.timeout))
                    .and_then(|_| c.set_write_timeout(Some(self.timeout)))
                    .map_err(|e| self.error(&e))?;
                *guard = Some(c);
            }
            let Some(c) = guard.as_mut() else { continue };
            match f(c) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // Any I/O fault (a dropped or refused connection, a timeout after
                    // which a late reply may still come) or a fault the client says
                    // needs a new connection (an unreadable reply).
                    let broken = e.is_io_error() || e.is_unrecoverable_error();
                    if broken {
                        *guard = None;
                    }
                    if !broken || tries >= 2 {
                        return Err(self.error(&e));
                    }
                }
            }
        }
    }
}

impl CallStore for RedisStore {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn load(&self, id: &str) -> Result<Option<Record>> {
        let key = self.key(id)?;
        let fields: HashMap<String, String> =
            self.run(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        Ok(record_of(&fields))
    }

    fn merge(&self, id: &str, u: &Update) -> Result<Option<Merged>> {
        let key = self.key(id)?;
        let o = &u.obs;
        let state = o.state.map_or(-1, |s| s as i64);
        let duration = o.duration_s.map_or(-1, i64::from);
        let (cost, currency) = match &o.cost {
            Some(m) => (m.amount.clone(), m.currency.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        let raw: String = o
            .raw_code
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(31)
            .collect();
        let data: Vec<&(String, String)> = u
            .data
            .iter()
            .filter(|(k, v)| super::check_data_name(k) && v.len() <= super::MAX_DATA)
            .collect();
        let reply: Vec<String> = self.run(|c| {
            let mut inv = self.script.key(&key);
            inv.arg(if u.create { "1" } else { "0" })
                .arg(u.now_ms)
                .arg(state)
                .arg(o.reason as u32)
                .arg(o.failed_leg as u32)
                .arg(duration)
                .arg(&cost)
                .arg(&currency)
                .arg(&raw)
                .arg(u.started_ms.unwrap_or(0))
                .arg(if u.hangup { "1" } else { "0" })
                .arg(u.seq.unwrap_or(0))
                .arg(KEEP.as_secs())
                .arg(PLAUSIBLE_MARGIN_S);
            for (k, v) in &data {
                inv.arg(k).arg(v);
            }
            inv.invoke(c)
        })?;
        if reply.is_empty() {
            return Ok(None);
        }
        let bad = || Error::internal(format!("call-state store {}: odd script reply", self.shown));
        if reply.len() < 3 || (reply.len() - 3) % 2 != 0 {
            return Err(bad());
        }
        let flag = |i: usize| reply[i] == "1";
        let merge = Merge {
            changed: flag(0),
            alive_after_final: flag(1),
            implausible: flag(2),
        };
        let fields: HashMap<String, String> = reply[3..]
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        let record = record_of(&fields).ok_or_else(bad)?;
        Ok(Some(Merged { record, merge }))
    }

    fn remove(&self, id: &str) -> Result<()> {
        let key = self.key(id)?;
        self.run(|c| redis::cmd("DEL").arg(&key).query::<i64>(c))?;
        Ok(())
    }

    fn purge(&self, _keep: Duration) -> Result<usize> {
        // Every record carries a TTL: Redis removes old ones itself.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn urls() {
        let s = RedisStore::open("redis://:pw-secret@127.0.0.1:6390/3", "p", MAX_TIMEOUT).unwrap();
        assert_eq!(s.describe(), "redis://127.0.0.1:6390/3");
        assert_eq!(s.key("abc").unwrap(), "cc:p:abc");
        assert!(s.key("../x").is_err());
        let s = RedisStore::open("redis://localhost", "p", MAX_TIMEOUT).unwrap();
        assert_eq!(s.describe(), "redis://localhost:6379/0");
        for bad in [
            "redis://:pw-secret@",
            "redis://:pw-secret@h/x",
            "redis://:pw-secret@h/0?x=1",
            "redis://:pw-secret@h:99999/0",
        ] {
            let e = RedisStore::open(bad, "p", MAX_TIMEOUT).err().unwrap();
            assert!(!e.message().contains("pw-secret"), "{}", e.message());
        }
    }

    #[test]
    fn user_password_and_database_reach_the_connection() {
        let s =
            RedisStore::open("redis://alice:p%40ss@127.0.0.1:6390/3", "p", MAX_TIMEOUT).unwrap();
        let info = s.client.get_connection_info().redis_settings();
        assert_eq!(
            (info.username(), info.password(), info.db()),
            (Some("alice"), Some("p@ss"), 3)
        );
        assert_eq!(s.password(), Some("p@ss"));
        let s = RedisStore::open("redis://127.0.0.1/0", "p", MAX_TIMEOUT).unwrap();
        let info = s.client.get_connection_info().redis_settings();
        assert_eq!((info.username(), info.password()), (None, None));
        assert_eq!(s.password(), None);
        // Redis removes old records itself (their TTL): a purge removes none.
        assert_eq!(s.purge(KEEP).unwrap(), 0);
    }

    /// A fault is NETWORK, "unreachable" for an I/O fault and "failed" otherwise; the
    /// password is blanked wherever the client's text has it, and the rest kept.
    #[test]
    fn store_errors_say_unreachable_or_failed_never_the_password() {
        let s = RedisStore::open("redis://:pw-secret@127.0.0.1:6390/0", "p", MAX_TIMEOUT).unwrap();
        let io = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "lost the line to pw-secret",
        ));
        let other = redis::RedisError::from((
            redis::ErrorKind::Client,
            "refused",
            "no pw-secret here".to_string(),
        ));
        for (e, what, kept) in [
            (io, "is unreachable", "lost the line to"),
            (other, "failed", "refused"),
        ] {
            let e = s.error(&e);
            let m = e.message();
            assert_eq!(e.kind(), ErrorKind::Network);
            assert!(
                m.starts_with("call-state store redis://127.0.0.1:6390/0 "),
                "{m}"
            );
            assert!(m.contains(what) && m.contains(kept), "{m}");
            assert!(!m.contains("pw-secret"), "{m}");
            assert_eq!(m.matches(crate::log::BLANK).count(), 1, "{m}");
        }
    }

    /// A stand-in for Redis on a free port: it answers each connection's setup (`CLIENT
    /// SETINFO`) with OK, an `EVALSHA` with `script_reply` if given, and nothing else.
    /// Returns its port and how many connections it took.
    fn fake_redis(script_reply: Option<&'static [u8]>) -> (u16, Arc<AtomicUsize>) {
        let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = fake.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for c in fake.incoming() {
                let Ok(mut c) = c else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        for _ in 0..text.matches("SETINFO").count() {
                            let _ = c.write_all(b"+OK\r\n");
                        }
                        if let Some(reply) = script_reply.filter(|_| text.contains("EVALSHA")) {
                            let _ = c.write_all(reply);
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn store_at(port: u16) -> RedisStore {
        let spec = format!("redis://127.0.0.1:{port}/0");
        RedisStore::open(&spec, "p", Duration::from_millis(300)).unwrap()
    }

    /// A Redis that sets up connections and never answers a command: an operation times
    /// out, is tried once more on a fresh connection (a late reply may still come on the
    /// first), then fails as unreachable.
    #[test]
    fn a_silent_server_is_tried_on_two_connections() {
        let (port, accepted) = fake_redis(None);
        let e = store_at(port).load("abc").unwrap_err();
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "{}", e.message());
        assert!(e.message().contains("is unreachable"), "{}", e.message());
    }

    /// A merge script's reply not shaped as the script writes it (three flags, then
    /// field and value pairs) is an error, never a record made up from it.
    #[test]
    fn an_odd_script_reply_is_an_error() {
        for reply in [
            &b"*1\r\n$1\r\n1\r\n"[..],
            &b"*4\r\n$1\r\n1\r\n$1\r\n0\r\n$1\r\n0\r\n$2\r\nst\r\n"[..],
        ] {
            let (port, _) = fake_redis(Some(reply));
            let u = Update {
                create: true,
                ..Update::new(1)
            };
            let e = store_at(port).merge("abc", &u).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Internal, "{}", e.message());
            assert!(e.message().contains("odd script reply"), "{}", e.message());
        }
    }

    #[test]
    fn unreachable_is_network_and_names_the_store_not_the_password() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = RedisStore::open(
            &format!("redis://:pw-secret-7@127.0.0.1:{port}/0"),
            "p",
            Duration::from_secs(1),
        )
        .unwrap();
        let e = s.load("abc").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
        assert!(e.message().contains(&format!("redis://127.0.0.1:{port}/0")));
        assert!(e.message().contains("unreachable"), "{}", e.message());
        assert!(!e.message().contains("pw-secret"), "{}", e.message());
    }
}
