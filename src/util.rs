//! Small helpers shared across the library: lock recovery, random ids, atomic file
//! writes and what a forked process must know ([`fork`]). Nothing here knows a carrier, a
//! call or the client.

pub(crate) mod fork;

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
/// process and a counter (the tests' scratch directories).
#[cfg(test)]
pub(crate) fn unique_name(prefix: &str) -> String {
    static FILE_SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        FILE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The directory a file at `path` lives in (`.` for a bare name).
fn parent_dir(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// Refuses a directory any user may write to without the sticky bit: there another user
/// may rename or delete this user's files, and so swap in their own.
pub(crate) fn check_shared_dir(path: &Path) -> std::io::Result<()> {
    let dir = parent_dir(path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&dir)?.permissions().mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is writable by every user and has no sticky bit: another user could \
                     replace a file there; choose a private directory",
                    dir.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `path` so that a reader never sees half a file and no other local
/// user can read it or redirect it at any moment: the directory is checked
/// ([`check_shared_dir`]); the bytes go to a new file under a random name
/// (`.NAME.<24 hex>.tmp`), created exclusively (`O_CREAT|O_EXCL`) without following links
/// (`O_NOFOLLOW`), mode 0600, then renamed over `path` (a link planted there is replaced,
/// never followed); the temporary file is removed on failure. `sync`: synced before the
/// rename (a token cache).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    check_shared_dir(path)?;
    let dir = parent_dir(path);
    let mut random = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| std::io::Error::other("the system's random source failed"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{hex}.tmp"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = options.open(&tmp)?;
    let written = (|| {
        #[cfg(unix)]
        {
            // The mode asked at creation is narrowed by the umask only; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Reads `path` if it is a regular file of this user that no one else may read or write
/// (not a link); `None` otherwise, as for a missing file. For files that hold secrets
/// (a token cache): one planted by someone else is never trusted.
pub(crate) fn read_private(path: &Path) -> Option<String> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = options.open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me || meta.mode() & 0o077 != 0 {
            return None;
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut f, &mut text).ok()?;
    Some(text)
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

#[cfg(all(test, unix))]
mod private_file_tests {
    use super::*;
    use std::io;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    fn dir(name: &str, mode: u32) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cc-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }

    #[test]
    fn writes_a_private_file_and_replaces_a_planted_link() {
        let d = dir("link", 0o1777);
        let victim = d.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let target = d.join("token.json");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomically(&target, b"secret", true).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.uid(), unsafe { libc::geteuid() });
        assert_eq!(read_private(&target).as_deref(), Some("secret"));
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "{left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_a_shared_directory_without_sticky_bit() {
        let d = dir("open", 0o777);
        let e = write_atomically(&d.join("token.json"), b"secret", true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("sticky"), "{e}");
        assert!(std::fs::read_dir(&d).unwrap().next().is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reads_only_own_private_regular_files() {
        let d = dir("read", 0o700);
        let open = d.join("open.json");
        std::fs::write(&open, "x").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_private(&open), None);
        let link = d.join("link.json");
        let private = d.join("private.json");
        write_atomically(&private, b"y", true).unwrap();
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert_eq!(read_private(&link), None);
        assert_eq!(read_private(&private).as_deref(), Some("y"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
