//! The event spool (`event_spool=DIR`): where events of a call reach a process that did
//! not take them (hosts such as PHP, where the process that takes the event is not the
//! one that polls). Behind a small interface ([`Spool::open`], `create_call`,
//! `remove_call`, `record`, `request_hangup`, `hangup_requested_at`, `events`, `sweep`)
//! so that another store can take its place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::token::valid_id;
use crate::error::{Error, Result};
use crate::model::unix_ms;
use crate::util::{unique_name, write_atomically};

/// How long a spooled call's files are kept after its last event.
pub(crate) const SPOOL_KEEP: Duration = Duration::from_secs(48 * 3600);
/// Files read from the spool for one call, at most.
const SPOOL_MAX_EVENTS: usize = 10_000;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// One event as kept in the spool or the early buffer: the carrier's own parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub received_ms: i64,
    pub params: Vec<(String, String)>,
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: {what}"))
}

/// The event spool: one directory per call (`DIR/<call id>/`) holding one small JSON
/// file per event (`<received ms>-<pid>-<seq>.json`, written to a `.tmp-*` file and
/// renamed, so that a reader never sees half a file) and, once the host asked to end
/// the call, a `hangup` file with the time of the request in ms.
pub(crate) struct Spool {
    dir: PathBuf,
}

fn spool_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!(
        "event spool: cannot {what} {}: {e}",
        path.display()
    ))
}

impl Spool {
    pub(crate) fn open(dir: &str) -> Result<Spool> {
        if dir.trim().is_empty() {
            return Err(dsn_error("event_spool is empty"));
        }
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir)
            .map_err(|e| dsn_error(format!("event_spool: cannot create {}: {e}", dir.display())))?;
        let spool = Spool { dir };
        // A spool this process cannot write to would lose events later: say so now.
        let probe = spool.dir.join(unique_name(".probe-"));
        fs::write(&probe, b"").map_err(|e| {
            dsn_error(format!(
                "event_spool: cannot write in {}: {e}",
                spool.dir.display()
            ))
        })?;
        let _ = fs::remove_file(&probe);
        Ok(spool)
    }

    /// The spool's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn call_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub(crate) fn create_call(&self, id: &str) -> Result<()> {
        let d = self.call_dir(id);
        match fs::create_dir(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(spool_error("create", &d, e)),
        }
    }

    pub(crate) fn remove_call(&self, id: &str) {
        let _ = fs::remove_dir_all(self.call_dir(id));
    }

    /// Writes one event of a call the spool knows; `false` when it does not know it.
    pub(crate) fn record(&self, id: &str, ev: &StoredEvent) -> Result<bool> {
        let d = self.call_dir(id);
        if !d.is_dir() {
            return Ok(false);
        }
        let name = format!(
            "{:013}-{}-{:08}.json",
            ev.received_ms.max(0),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let body = serde_json::to_vec(ev).map_err(|_| Error::internal("event spool: encoding"))?;
        write(&d.join(name), &body)?;
        Ok(true)
    }

    pub(crate) fn request_hangup(&self, id: &str) -> Result<()> {
        self.create_call(id)?;
        let d = self.call_dir(id);
        if d.join("hangup").exists() {
            return Ok(());
        }
        let now = unix_ms(SystemTime::now()).to_string();
        write(&d.join("hangup"), now.as_bytes())
    }

    pub(crate) fn hangup_requested_at(&self, id: &str) -> Option<i64> {
        fs::read_to_string(self.call_dir(id).join("hangup"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The call's events in the order they came.
    pub(crate) fn events(&self, id: &str) -> Result<Vec<StoredEvent>> {
        let d = self.call_dir(id);
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(spool_error("read", &d, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
            .collect();
        names.sort();
        names.truncate(SPOOL_MAX_EVENTS);
        Ok(names
            .iter()
            .filter_map(|n| fs::read(d.join(n)).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect())
    }

    /// Removes calls whose last event is older than [`SPOOL_KEEP`], and leftovers of
    /// writers that died between writing and renaming. Run when a call ends.
    pub(crate) fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = e.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if meta.is_dir() && valid_id(&name) && age > SPOOL_KEEP {
                let _ = fs::remove_dir_all(e.path());
            } else if meta.is_file() && name.starts_with(".tmp-") && age > Duration::from_secs(3600)
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, false).map_err(|e| spool_error("write", path, e))
}
