//! Small helpers shared across the library: lock recovery, random ids and atomic file
//! writes. Nothing here knows a carrier, a call or the client.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// A lock whose data stays consistent even if a holder panicked (no user code runs
/// under the library's locks).
pub(crate) fn lock_or_recover<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// [`lock_or_recover`] for reading a `RwLock`.
pub(crate) fn read_or_recover<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// [`lock_or_recover`] for writing a `RwLock`.
pub(crate) fn write_or_recover<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// 64 unpredictable bits: the standard library's randomly keyed hasher (`RandomState` is
/// seeded from the operating system's random source) over `salt`, a counter, the
/// process and the time. Unique across processes and time; not for keys.
pub(crate) fn random_u64(salt: u64) -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(now_nanos());
    h.finish()
}

/// A new call id for carriers where the library names the call (PokeTALK's `custom`):
/// 19 lower-case hex digits, the time in ms then 32 random bits. Unique across
/// processes and time; not secret (the event token is what proves an event).
pub(crate) fn new_call_id() -> String {
    let ms = (now_nanos() / 1_000_000) as i64;
    format!("{:011x}{:08x}", ms.max(0), random_u64(0) as u32)
}

/// A fresh nonce: 32 random hex characters.
pub(crate) fn new_nonce() -> String {
    format!("{:016x}{:016x}", random_u64(0x5eed), random_u64(!0x5eed))
}

/// A name no other writer (thread or process) uses at the same time: `prefix`, the
/// process and a counter.
pub(crate) fn unique_name(prefix: &str) -> String {
    static FILE_SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        FILE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `bytes` to `path` through a `.tmp-*` file in the same directory and a rename,
/// so that a reader never sees half a file; the temporary file is removed on failure.
/// `private`: readable by the owner alone (mode 0600 on Unix) and synced before the
/// rename (a token cache).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp-"));
    let written = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        if private {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let a = new_call_id();
        let b = new_call_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        assert_ne!(new_nonce(), new_nonce());
        assert_eq!(new_nonce().len(), 32);
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(unique_name("cc-util-test-"));
        fs::create_dir_all(&dir).unwrap();
        write_atomically(&dir.join("f"), b"one", false).unwrap();
        write_atomically(&dir.join("f"), b"two", true).unwrap();
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
