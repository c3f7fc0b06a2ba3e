//! `store=dir:PATH`: the call-state store in a private directory on one machine.
//!
//! - One small JSON file per call, `<account prefix>-<call id>.json`, replaced whole:
//!   a new version is written to a temporary file created exclusively (`O_CREAT|O_EXCL|
//!   O_NOFOLLOW`, a random `.tmp-` name, mode 0600) and renamed over the old one, so a
//!   reader sees the old record or the new one, never half of one, and never follows a
//!   link someone planted. However many events a sender makes up, a call is one file
//!   and a poll one read.
//! - Read-merge-write is serialised across processes by `flock` on the directory itself
//!   (no lock file beside the records), and between threads that share one store by a
//!   mutex (a second `flock` through the same open file is granted at once). A merge
//!   holds the lock for one small read and one small write; readers take no lock (a
//!   rename is atomic). Compare-and-rename is not possible on POSIX (`rename` replaces
//!   whatever is there), so a lock it is.
//! - The directory is created 0700 (0770 with `store_group=1`, for PHP-FPM pools and
//!   workers that share a group; files are then 0660), whatever the umask. A directory
//!   anyone may write to is refused unless it has the sticky bit; in a sticky one, a
//!   record another user owns is not read.
//! - Call ids are checked ([`super::valid_id`]) before they name a file.
//! - Records unchanged for [`super::KEEP`] are removed when the store is opened and then
//!   at most once a minute as it is used, with leftovers of writers that died.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{check_id, merge, CallStore, Merged, Record, Update, KEEP};
use crate::error::{Error, Result};
use crate::model::unix_ms;

/// How often, at most, a store in use looks for old records.
const PURGE_EVERY_MS: i64 = 60_000;
/// A temporary file older than this is a dead writer's leftover.
const TMP_KEEP: Duration = Duration::from_secs(3600);
/// The largest record file read.
const MAX_RECORD: u64 = 64 * 1024;

pub struct DirStore {
    dir: PathBuf,
    prefix: String,
    group: bool,
    /// The directory, open: what `flock` locks (across processes and store handles).
    handle: File,
    /// Threads that share this handle: `flock` on one descriptor does not keep them
    /// apart (a second lock through the same open file is granted at once).
    local: Mutex<()>,
    /// Records of other users are ignored (a sticky, world-writable directory).
    shared_dir: bool,
    uid: u32,
    last_purge_ms: AtomicI64,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!(
        "call-state store: cannot {what} {}: {e}",
        path.display()
    ))
    .with_source(e)
}

fn dsn_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("DSN: store: {what}"))
}

/// An exclusive `flock` on the directory (and the handle's own mutex, for threads that
/// share it), released when dropped.
struct Locked<'a> {
    file: &'a File,
    /// Released after the `flock` (fields drop after `Drop::drop`).
    _local: MutexGuard<'a, ()>,
}

impl<'a> Locked<'a> {
    fn take(f: &'a File, local: &'a Mutex<()>, dir: &Path) -> Result<Locked<'a>> {
        let guard = local.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // SAFETY: flock on a descriptor this struct borrows for its whole life.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Locked {
                    file: f,
                    _local: guard,
                });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_error("lock", dir, e));
            }
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: as above; unlocking a lock this process holds.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

fn random_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the operating system's random source.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(unix_ms(SystemTime::now()));
    format!(".tmp-{:016x}", h.finish())
}

impl DirStore {
    /// Opens (creating it 0700, or 0770 with `group`) the store directory `path`.
    pub fn open(path: &str, group: bool, prefix: &str) -> Result<DirStore> {
        if path.trim().is_empty() {
            return Err(dsn_error("the directory is empty (store=dir:PATH)"));
        }
        let dir = PathBuf::from(path);
        let mode = if group { 0o770 } else { 0o700 };
        let created = match fs::DirBuilder::new().mode(mode).create(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            // A parent missing (or any other error, which the recursive creation meets
            // again and reports): parents are made as private as the store itself.
            Err(_) => {
                fs::DirBuilder::new()
                    .mode(mode)
                    .recursive(true)
                    .create(&dir)
                    .map_err(|e| dsn_error(format!("cannot create {}: {e}", dir.display())))?;
                true
            }
        };
        if created {
            // The umask may have taken bits away (0770 under umask 027): set them.
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                .map_err(|e| dsn_error(format!("cannot set the mode of {}: {e}", dir.display())))?;
        }
        let meta = fs::metadata(&dir)
            .map_err(|e| dsn_error(format!("cannot read {}: {e}", dir.display())))?;
        if !meta.is_dir() {
            return Err(dsn_error(format!("{} is not a directory", dir.display())));
        }
        let world_writable = meta.mode() & 0o002 != 0;
        if world_writable && meta.mode() & 0o1000 == 0 {
            return Err(dsn_error(format!(
                "{} may be written by anyone (mode {:o}) and has no sticky bit: anyone could \
                 replace a call's record; use a private directory (the library creates it \
                 0700)",
                dir.display(),
                meta.mode() & 0o7777
            )));
        }
        let handle = File::open(&dir)
            .map_err(|e| dsn_error(format!("cannot open {}: {e}", dir.display())))?;
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let store = DirStore {
            dir,
            prefix: prefix.to_string(),
            group,
            handle,
            local: Mutex::new(()),
            shared_dir: world_writable,
            uid,
            last_purge_ms: AtomicI64::new(0),
        };
        // A store this process cannot write to would lose events later: say so now.
        let probe = store
            .write_new(b"")
            .map_err(|e| dsn_error(format!("cannot write in {}: {e}", store.dir.display())))?;
        let _ = fs::remove_file(&probe);
        store.purge(KEEP)?;
        store
            .last_purge_ms
            .store(unix_ms(SystemTime::now()), Ordering::Relaxed);
        Ok(store)
    }

    /// The file of a call's record. The id is checked first: nothing outside the
    /// directory can ever be named.
    pub fn file_of(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.dir.join(format!("{}-{id}.json", self.prefix)))
    }

    fn file_mode(&self) -> u32 {
        if self.group {
            0o660
        } else {
            0o600
        }
    }

    /// Writes `bytes` to a new temporary file; returns its path.
    fn write_new(&self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        loop {
            let tmp = self.dir.join(random_name());
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(self.file_mode())
                // (std opens every file close-on-exec already.)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp);
            let mut file = match file {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let written = file
                .set_permissions(fs::Permissions::from_mode(self.file_mode()))
                .and_then(|_| file.write_all(bytes));
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            return Ok(tmp);
        }
    }

    fn read(&self, path: &Path) -> Result<Option<Record>> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);
        let file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", path, e)),
        };
        let meta = file.metadata().map_err(|e| io_error("read", path, e))?;
        if !meta.is_file() || (self.shared_dir && meta.uid() != self.uid) {
            // Not a record this library wrote: as if there were none.
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.take(MAX_RECORD)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error("read", path, e))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            Error::internal(format!(
                "call-state store: {} is not a record of this library",
                path.display()
            ))
        })
    }

    /// Looks for old records, at most once a minute.
    fn maybe_purge(&self) {
        let now = unix_ms(SystemTime::now());
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        if now - last >= PURGE_EVERY_MS
            && self
                .last_purge_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = self.purge(KEEP);
        }
    }
}

impl CallStore for DirStore {
    fn describe(&self) -> String {
        format!("dir:{}", self.dir.display())
    }

    fn load(&self, id: &str) -> Result<Option<Record>> {
        let path = self.file_of(id)?;
        self.maybe_purge();
        self.read(&path)
    }

    fn merge(&self, id: &str, update: &Update) -> Result<Option<Merged>> {
        let path = self.file_of(id)?;
        self.maybe_purge();
        let _lock = Locked::take(&self.handle, &self.local, &self.dir)?;
        let mut record = match self.read(&path)? {
            Some(r) => r,
            None if update.create => Record::default(),
            None => return Ok(None),
        };
        let m = merge(&mut record, update);
        let bytes = serde_json::to_vec(&record)
            .map_err(|_| Error::internal("call-state store: cannot encode a record"))?;
        let tmp = self
            .write_new(&bytes)
            .map_err(|e| io_error("write in", &self.dir, e))?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("write", &path, e));
        }
        Ok(Some(Merged { record, merge: m }))
    }

    fn remove(&self, id: &str) -> Result<()> {
        let path = self.file_of(id)?;
        let _lock = Locked::take(&self.handle, &self.local, &self.dir)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path, e)),
        }
    }

    fn purge(&self, keep: Duration) -> Result<usize> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io_error("read", &self.dir, e))?;
        let now = SystemTime::now();
        let mut removed = 0;
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            // Never follows a link: the entry's own metadata.
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || (self.shared_dir && meta.uid() != self.uid) {
                continue;
            }
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            let old = if name.starts_with(".tmp-") {
                age > TMP_KEEP.min(keep)
            } else {
                name.ends_with(".json") && age > keep
            };
            if old && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallState, Observation};

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "cc-store-unit-{tag}-{}-{}",
            std::process::id(),
            unix_ms(SystemTime::now())
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_record_of_several_kilobytes_is_read_back() {
        // Carrier data up to its cap in many names: a record file of about 5 KiB, well
        // within the 64 KiB read.
        let d = tempdir("big");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        let mut u = Update::observation(Observation::state(CallState::RingingA), 1);
        u.create = true;
        u.data = (0..16)
            .map(|i| {
                (
                    format!("key_{}", (b'a' + i) as char),
                    "v".repeat(super::super::MAX_DATA),
                )
            })
            .collect();
        s.merge("abc", &u).unwrap().unwrap();
        let len = fs::metadata(s.file_of("abc").unwrap()).unwrap().len();
        assert!(len > 4096, "{len}");
        let rec = s.load("abc").unwrap().unwrap();
        assert_eq!(rec.data.len(), 16);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symbolic_link_in_place_of_a_record_is_never_followed() {
        // Someone who can write in the directory links a call's record to another file
        // (here a valid record elsewhere): the store refuses to read through it.
        let d = tempdir("link");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        let mut u = Update::observation(Observation::state(CallState::Connected), 1);
        u.create = true;
        s.merge("real", &u).unwrap().unwrap();
        let elsewhere = d.join("elsewhere.json");
        fs::rename(s.file_of("real").unwrap(), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, s.file_of("abc").unwrap()).unwrap();
        let e = s.load("abc").unwrap_err();
        assert!(e.message().contains("cannot read"), "{}", e.message());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_store_whose_directory_is_gone_says_so() {
        // Removed under a running host: an error at once, not a retry without end.
        let d = tempdir("gone");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        fs::remove_dir_all(&d).unwrap();
        let mut u = Update::observation(Observation::state(CallState::RingingA), 1);
        u.create = true;
        assert!(s.merge("abc", &u).is_err());
        assert!(s.load("abc").unwrap().is_none());
    }

    #[test]
    fn a_directory_in_place_of_a_record() {
        // Read as no record; removing it is an error, removing a missing record is not.
        let d = tempdir("dirrec");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        assert_eq!(s.describe(), format!("dir:{}", d.display()));
        fs::create_dir(s.file_of("abc").unwrap()).unwrap();
        assert!(s.load("abc").unwrap().is_none());
        assert!(s.remove("abc").is_err());
        assert!(s.remove("never").is_ok());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_shared_sticky_directory_reads_its_own_records() {
        let d = tempdir("sticky");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        let mut u = Update::observation(Observation::state(CallState::Connected), 1);
        u.create = true;
        s.merge("mine", &u).unwrap().unwrap();
        assert_eq!(s.load("mine").unwrap().unwrap().state, CallState::Connected);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Another user's record (only root can make one here): ignored.
            s.merge("theirs", &u).unwrap().unwrap();
            std::os::unix::fs::chown(s.file_of("theirs").unwrap(), Some(65534), None).unwrap();
            assert!(s.load("theirs").unwrap().is_none());
            // Nor removed, however old: it is not this user's to purge.
            age_file(&s.file_of("theirs").unwrap(), 49 * 3600);
        }
        // This user's own old record in the shared directory is purged.
        age_file(&s.file_of("mine").unwrap(), 49 * 3600);
        assert_eq!(s.purge(KEEP).unwrap(), 1);
        assert!(!s.file_of("mine").unwrap().exists());
        fs::remove_dir_all(&d).unwrap();
    }

    fn age_file(f: &Path, secs: u64) {
        File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn a_dead_writers_temporary_file_is_removed_after_an_hour() {
        let d = tempdir("tmpfiles");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        let fresh = s.write_new(b"{}").unwrap();
        let old = s.write_new(b"{}").unwrap();
        age_file(&fresh, 30 * 60);
        age_file(&old, 2 * 3600);
        assert_eq!(s.purge(KEEP).unwrap(), 1);
        assert!(fresh.exists() && !old.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_store_in_use_purges_at_most_once_a_minute() {
        let d = tempdir("purge");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        let mut u = Update::observation(Observation::state(CallState::Ended), 1);
        u.create = true;
        s.merge("old", &u).unwrap().unwrap();
        let old = s.file_of("old").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(49 * 3600))
            .unwrap();
        // Purged 30 s ago: not again yet.
        let now = unix_ms(SystemTime::now());
        s.last_purge_ms.store(now - 30_000, Ordering::Relaxed);
        assert!(s.load("other").unwrap().is_none());
        assert!(old.exists());
        // Purged 61 s ago: this use purges.
        s.last_purge_ms.store(now - 61_000, Ordering::Relaxed);
        assert!(s.load("other").unwrap().is_none());
        assert!(!old.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temporary_names_are_marked_and_never_repeat() {
        // `purge` knows a dead writer's leftovers by the mark.
        let a = random_name();
        let b = random_name();
        assert!(a.starts_with(".tmp-") && b.starts_with(".tmp-"), "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn one_file_per_call_private_and_flat() {
        let d = tempdir("flat");
        let s = DirStore::open(d.to_str().unwrap(), false, "0123456789abcdef").unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        let mut u = Update::observation(Observation::state(CallState::RingingA), 1);
        u.create = true;
        for i in 0..200 {
            u.obs.duration_s = Some(i);
            s.merge("abc", &u).unwrap().unwrap();
        }
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["0123456789abcdef-abc.json"]);
        let f = d.join(&names[0]);
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        assert_eq!(s.load("abc").unwrap().unwrap().duration_s, 199);
        // An unknown call is not created by an update that does not ask for it.
        u.create = false;
        assert!(s.merge("other", &u).unwrap().is_none());
        assert!(s.load("other").unwrap().is_none());
        s.remove("abc").unwrap();
        assert!(s.load("abc").unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ids_never_leave_the_directory() {
        let d = tempdir("ids");
        let s = DirStore::open(d.to_str().unwrap(), false, "p").unwrap();
        for bad in ["../../x", "/tmp/x", "..", "a/b", ""] {
            assert!(s.file_of(bad).is_err(), "{bad}");
            assert!(s.load(bad).is_err());
            assert!(super::super::request_hangup(&s, bad, 1).is_err());
        }
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_a_world_writable_directory() {
        let d = tempdir("ww");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = DirStore::open(d.to_str().unwrap(), false, "p")
            .err()
            .unwrap();
        assert!(e.message().contains("sticky"), "{}", e.message());
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(DirStore::open(d.to_str().unwrap(), false, "p").is_ok());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn group_mode_and_purge() {
        let d = tempdir("group");
        let s = DirStore::open(d.to_str().unwrap(), true, "p").unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o770);
        super::super::request_hangup(&s, "abc", 5).unwrap();
        let f = s.file_of("abc").unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o660);
        assert_eq!(s.purge(KEEP).unwrap(), 0);
        let age = |hours: u64| {
            File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
                .unwrap();
        };
        // Unchanged for 47 hours: kept (records live 48 hours after their last change).
        age(47);
        assert_eq!(s.purge(KEEP).unwrap(), 0);
        assert!(f.exists());
        // Unchanged for longer: removed, by age alone.
        age(49);
        assert_eq!(s.purge(KEEP).unwrap(), 1);
        assert!(!f.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
