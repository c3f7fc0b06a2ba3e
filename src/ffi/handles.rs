//! Handles: opaque values that stand for objects in a registry, never pointers.
//!
//! A handle is `generation << 32 | kind << 24 | slot`. A freed slot's generation moves
//! on, so a freed (or double-freed) handle, a forged value, or a handle of another kind
//! is recognised and refused instead of being dereferenced.
//!
//! A handle belongs to the process that made it. In a process forked after it was made
//! (`util::fork`), it is refused: the client's connections and event listener are the
//! parent's. Freeing it there takes it out of the child's registry and leaves the value
//! alone (kept, never dropped: dropping would stop the parent's listener from the
//! child). The registries' locks are taken around a fork (`pthread_atfork`), so a child
//! never starts with one held by a thread it does not have.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock, Once, RwLock, RwLockWriteGuard};

use super::types::{cc_call, cc_client};
use crate::error::{Error, ErrorKind, Result};
use crate::util::fork;
use crate::util::{read_or_recover, write_or_recover};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("callconnect's handle encoding needs 64-bit pointers");

const SLOT_BITS: u32 = 24;
const MAX_SLOTS: usize = 1 << SLOT_BITS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Client = 0x31,
    Call = 0x32,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Call => "call",
        }
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
    /// The fork epoch the value was made in.
    epoch: u32,
}

struct Inner<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    /// Values a forked child freed: the parent's, kept and never dropped here (held rather
    /// than forgotten, so that a leak checker sees them reachable).
    inherited: Vec<Arc<T>>,
}

pub struct Registry<T> {
    kind: Kind,
    inner: RwLock<Inner<T>>,
}

impl<T> Registry<T> {
    pub const fn new(kind: Kind) -> Self {
        Registry {
            kind,
            inner: RwLock::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
                inherited: Vec::new(),
            }),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<T>> {
        // A panic never happens while the lock is held (no user code runs under it), but
        // if one did, the registry's data is still consistent: keep going.
        write_or_recover(&self.inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<T>> {
        read_or_recover(&self.inner)
    }

    /// Stores a value and returns its handle.
    pub fn insert(&self, value: T) -> Result<usize> {
        watch_forks();
        let epoch = fork::epoch();
        let mut inner = self.write();
        let slot = match inner.free.pop() {
            Some(s) => s as usize,
            None => {
                if inner.slots.len() >= MAX_SLOTS {
                    return Err(Error::internal("too many live handles"));
                }
                inner.slots.push(Slot {
                    generation: 1,
                    value: None,
                    epoch,
                });
                inner.slots.len() - 1
            }
        };
        inner.slots[slot].value = Some(Arc::new(value));
        inner.slots[slot].epoch = epoch;
        inner.live += 1;
        let generation = inner.slots[slot].generation;
        Ok(encode(generation, self.kind, slot))
    }

    /// The value behind a handle, or why there is none.
    pub fn get(&self, handle: usize) -> Result<Arc<T>> {
        let slot = self.check(handle)?;
        let inner = self.read();
        match inner.slots.get(slot.0) {
            Some(s) if s.generation == slot.1 && s.value.is_some() => {
                if s.epoch != fork::epoch() {
                    return Err(inherited(self.kind));
                }
                Ok(s.value.clone().unwrap())
            }
            _ => Err(stale(self.kind)),
        }
    }

    /// Takes the value out; the handle is dead afterwards. A handle of the parent in a
    /// forked child dies too, but its value is kept, not given back (the module comment).
    pub fn remove(&self, handle: usize) -> Result<Arc<T>> {
        let (slot, generation) = self.check(handle)?;
        let mut inner = self.write();
        let taken = match inner.slots.get_mut(slot) {
            Some(s) if s.generation == generation && s.value.is_some() => {
                s.generation = s.generation.wrapping_add(1).max(1);
                s.value.take().map(|v| (v, s.epoch != fork::epoch()))
            }
            _ => None,
        };
        match taken {
            Some((v, inherited_value)) => {
                inner.free.push(slot as u32);
                inner.live -= 1;
                if inherited_value {
                    inner.inherited.push(v);
                    return Err(inherited(self.kind));
                }
                Ok(v)
            }
            None => Err(stale(self.kind)),
        }
    }

    /// How many handles of this kind are alive.
    pub fn live(&self) -> usize {
        self.read().live
    }

    fn check(&self, handle: usize) -> Result<(usize, u32)> {
        if handle == 0 {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!("the {} handle is NULL", self.kind.name()),
            ));
        }
        let (generation, kind, slot) = decode(handle);
        if kind != self.kind as u8 {
            let what = match kind {
                k if k == Kind::Client as u8 => "a client handle",
                k if k == Kind::Call as u8 => "a call handle",
                _ => "something that is not a handle of this library",
            };
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "{what} was passed where a {} handle is expected",
                    self.kind.name()
                ),
            ));
        }
        Ok((slot, generation))
    }
}

fn inherited(kind: Kind) -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        format!(
            "the {} handle was made in the parent process, before fork(): a forked process \
             makes its own client (cc_client_new) and takes over a call by its reference \
             (cc_call_ref in the parent, cc_call_attach in the child)",
            kind.name()
        ),
    )
}

fn stale(kind: Kind) -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        format!("the {} handle was freed (or never issued)", kind.name()),
    )
}

fn encode(generation: u32, kind: Kind, slot: usize) -> usize {
    ((generation as usize) << 32) | ((kind as usize) << SLOT_BITS) | slot
}

fn decode(handle: usize) -> (u32, u8, usize) {
    (
        (handle >> 32) as u32,
        ((handle >> SLOT_BITS) & 0xff) as u8,
        handle & (MAX_SLOTS - 1),
    )
}

pub static CLIENTS: LazyLock<Registry<crate::Client>> =
    LazyLock::new(|| Registry::new(Kind::Client));
pub static CALLS: LazyLock<Registry<crate::Call>> = LazyLock::new(|| Registry::new(Kind::Call));

thread_local! {
    /// The locks the forking thread holds from `pthread_atfork`'s prepare handler until
    /// the fork has returned (in the parent and in the child).
    static HELD_FOR_FORK: RefCell<Option<HeldForFork>> = const { RefCell::new(None) };
}

/// What the forking thread holds across a fork: every lock of the library that another
/// thread may hold at the moment of the fork.
struct HeldForFork {
    _clients: RwLockWriteGuard<'static, Inner<crate::Client>>,
    _calls: RwLockWriteGuard<'static, Inner<crate::Call>>,
    _strings: super::util::OutStringsHeld,
    log: crate::log::HeldForFork,
    _numbers: RwLockWriteGuard<'static, ()>,
}

/// Registered when the library is loaded (an ELF constructor, before any thread can use
/// it): had it waited for the first handle, a fork made while another thread was
/// registering would give a child that waits forever for that registration to end.
#[used]
#[cfg_attr(target_os = "linux", link_section = ".init_array")]
static WATCH_FORKS_AT_LOAD: extern "C" fn() = watch_forks_at_load;

extern "C" fn watch_forks_at_load() {
    watch_forks();
}

/// Registers, once, the handlers that count forks (`util::fork`) and that take the
/// library's locks before a fork and let them go after it: a thread of the parent that
/// held one at the fork does not exist in the child, which would otherwise wait for it
/// forever (at its first handle, its first number, its next change of log sink). Done at
/// load on Linux ([`WATCH_FORKS_AT_LOAD`]); at the first handle elsewhere. None of these
/// locks is held while host code runs (a log sink), so the prepare handler never waits
/// for the host: at most for a thread to finish reading a number (`number::READING`).
fn watch_forks() {
    static WATCH: Once = Once::new();
    fork::watch();
    WATCH.call_once(|| {
        // SAFETY: the three are `extern "C"` functions without arguments, as
        // pthread_atfork wants. A failure (ENOMEM) leaves forks without them, as before.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork),
                Some(after_fork_in_child),
            );
        }
    });
}

extern "C" fn before_fork() {
    // One order, always: none of these is taken inside another elsewhere.
    let held = HeldForFork {
        _clients: CLIENTS.write(),
        _calls: CALLS.write(),
        _strings: super::util::hold_out_strings(),
        log: crate::log::hold_for_fork(),
        _numbers: crate::number::hold_for_fork(),
    };
    HELD_FOR_FORK.with(|h| *h.borrow_mut() = Some(held));
}

extern "C" fn after_fork() {
    let held = HELD_FOR_FORK.with(|h| h.borrow_mut().take());
    drop(held);
}

extern "C" fn after_fork_in_child() {
    let held = HELD_FOR_FORK.with(|h| h.borrow_mut().take());
    if let Some(held) = &held {
        held.log.in_child();
    }
    drop(held);
}

/// The client behind a `cc_client *` handle.
pub(crate) fn client_of(p: *const cc_client) -> Result<Arc<crate::Client>> {
    CLIENTS.get(p as usize)
}

/// The call behind a `cc_call *` handle.
pub(crate) fn call_of(p: *const cc_call) -> Result<Arc<crate::Call>> {
    CALLS.get(p as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::fork::in_forked_child;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn lifecycle() {
        let r: Registry<String> = Registry::new(Kind::Call);
        let h = r.insert("a".into()).unwrap();
        assert_eq!(*r.get(h).unwrap(), "a");
        r.remove(h).unwrap();
        assert_eq!(r.get(h).unwrap_err().kind(), ErrorKind::InvalidHandle);
        assert_eq!(r.remove(h).unwrap_err().kind(), ErrorKind::InvalidHandle);
        // The slot is reused with a new generation: the old handle stays dead.
        let h2 = r.insert("b".into()).unwrap();
        assert_ne!(h, h2);
        assert!(r.get(h).is_err());
        assert_eq!(*r.get(h2).unwrap(), "b");
        assert!(r.get(0).unwrap_err().message().contains("NULL"));
        let other: Registry<String> = Registry::new(Kind::Client);
        let c = other.insert("c".into()).unwrap();
        assert!(r.get(c).unwrap_err().message().contains("a client handle"));
        assert!(r.get(0xdead_beef).is_err());
        assert_eq!(r.live(), 1);
    }

    #[test]
    fn a_stale_handle_never_reaches_the_value_that_reuses_its_slot() {
        let r: Registry<String> = Registry::new(Kind::Call);
        let old = r.insert("old".into()).unwrap();
        r.remove(old).unwrap();
        let new = r.insert("new".into()).unwrap();
        assert_eq!(
            new & (MAX_SLOTS - 1),
            old & (MAX_SLOTS - 1),
            "the slot is reused"
        );
        assert!(r.remove(old).unwrap_err().message().contains("freed"));
        assert_eq!(*r.get(new).unwrap(), "new");
        assert_eq!(r.live(), 1);
    }

    #[test]
    fn a_refused_handle_is_named_by_its_kind() {
        let calls: Registry<String> = Registry::new(Kind::Call);
        let clients: Registry<String> = Registry::new(Kind::Client);
        assert_eq!(
            calls.get(0).unwrap_err().message(),
            "the call handle is NULL"
        );
        assert_eq!(
            clients.get(0).unwrap_err().message(),
            "the client handle is NULL"
        );
        let call = calls.insert("a".into()).unwrap();
        let client = clients.insert("b".into()).unwrap();
        assert_eq!(
            clients.get(call).unwrap_err().message(),
            "a call handle was passed where a client handle is expected"
        );
        assert_eq!(
            calls.get(client).unwrap_err().message(),
            "a client handle was passed where a call handle is expected"
        );
        let forged = encode(1, Kind::Call, 0) ^ (0x7f << SLOT_BITS);
        assert_eq!(
            calls.get(forged).unwrap_err().message(),
            "something that is not a handle of this library was passed where a call handle is expected"
        );
    }

    #[test]
    fn a_child_forked_while_another_thread_reads_a_registry_can_write_it() {
        // Another thread holds the clients' registry for reading while this one forks:
        // the fork waits for it (the prepare handler takes the lock), so the child does
        // not start with a reader it does not have, and can make a handle.
        let (held, hold) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let guard = CLIENTS.read();
            held.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(guard);
        });
        hold.recv().unwrap();
        let code = in_forked_child(|| {
            // SAFETY: alarm(2) only arms a timer; a child left waiting ends by SIGALRM.
            unsafe { libc::alarm(5) };
            drop(CLIENTS.write());
            0
        });
        reader.join().unwrap();
        assert_eq!(code, 0);
    }

    #[test]
    fn a_child_forked_while_another_thread_runs_the_log_sink_can_replace_it() {
        // A thread of the host is inside its sink (an interpreter's callback waiting for
        // the lock the forking thread holds, say) when another forks: the fork does not
        // wait for it, and the child, which does not have that thread, can still change
        // its sink (Python's wrapper does at exit).
        use crate::log::{remove_logger, set_logger, Level, SinkHeld};
        let held = SinkHeld::new();
        let code = in_forked_child(|| {
            // SAFETY: alarm(2) only arms a timer; a child left waiting ends by SIGALRM.
            unsafe { libc::alarm(5) };
            let replaced = set_logger(Some(Level::Info), Box::new(|_, _| {})).is_ok();
            i32::from(!replaced || remove_logger().is_err())
        });
        held.release();
        assert_eq!(code, 0);
    }

    #[test]
    fn a_sink_that_forks_leaves_its_child_inside_it() {
        // The forking thread is itself running the sink: in the child it still is (it
        // returns from the sink there too), so the child's replacing waits for it alone.
        use crate::log::{emit, remove_logger, running_now, set_logger, Level};
        use std::sync::atomic::AtomicI32;
        static CHILD: AtomicI32 = AtomicI32::new(-1);
        let _one_at_a_time = crate::log::SINK_TESTS
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        set_logger(
            Some(Level::Info),
            Box::new(|_, line| {
                if line == "fork" {
                    let code = in_forked_child(|| {
                        // SAFETY: as above.
                        unsafe { libc::alarm(5) };
                        // Inside the sink: refused, as in any process; counted as the
                        // one thread running it, which returns from it in the child too.
                        i32::from(remove_logger().is_ok()) | i32::from(running_now() != 1) << 1
                    });
                    CHILD.store(code, Ordering::SeqCst);
                }
            }),
        )
        .unwrap();
        emit(Level::Info, "fork");
        remove_logger().unwrap();
        assert_eq!(CHILD.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_fork_waits_for_the_numbers_being_read() {
        // Another thread is reading numbers (decoding metadata, building a pattern's
        // matcher, each behind a once-only lock) when this one forks: the fork waits for
        // it to finish, so the child never starts with one of those locks held.
        use std::sync::atomic::AtomicBool;
        static FINISHED: AtomicBool = AtomicBool::new(false);
        let (reading, read) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            crate::number::while_reading(|| {
                reading.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(200));
                FINISHED.store(true, Ordering::SeqCst);
            })
        });
        read.recv().unwrap();
        let code = in_forked_child(|| {
            // SAFETY: as above.
            unsafe { libc::alarm(5) };
            let parsed = crate::number::parse("+49 30 1234567", None).is_ok();
            i32::from(!FINISHED.load(Ordering::SeqCst)) | i32::from(!parsed) << 1
        });
        reader.join().unwrap();
        assert_eq!(
            code, 0,
            "1: forked while a number was being read; 2: the child could not read one"
        );
    }

    /// A value that counts its drops.
    #[derive(Debug)]
    struct Counted(&'static AtomicUsize);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_forked_child_is_refused_the_parents_handles_and_never_drops_their_values() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let r: Registry<Counted> = Registry::new(Kind::Client);
        let parents = r.insert(Counted(&DROPS)).unwrap();
        let code = in_forked_child(|| {
            let refused = match r.get(parents) {
                Ok(_) => return 1,
                Err(e) => e,
            };
            if refused.kind() != ErrorKind::InvalidHandle || !refused.message().contains("fork()") {
                return 2;
            }
            // Freed in the child: gone from its registry, kept, not dropped.
            match r.remove(parents) {
                Err(e) if e.message().contains("fork()") => {}
                _ => return 3,
            }
            if DROPS.load(Ordering::SeqCst) != 0 || r.live() != 0 {
                return 4;
            }
            if !r.get(parents).unwrap_err().message().contains("freed") || r.remove(parents).is_ok()
            {
                return 5;
            }
            // The child's own handles work, and are dropped when freed.
            let own = r.insert(Counted(&DROPS)).unwrap();
            if r.get(own).is_err() || r.remove(own).is_err() || DROPS.load(Ordering::SeqCst) != 1 {
                return 6;
            }
            0
        });
        assert_eq!(code, 0);
        // The parent's handle is the parent's still.
        assert!(r.get(parents).is_ok());
        drop(r.remove(parents).unwrap());
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_child_of_a_child_is_refused_its_parents_handles_too() {
        let r: Registry<String> = Registry::new(Kind::Call);
        let code = in_forked_child(|| {
            let childs = r.insert("child's".into()).unwrap();
            let grandchild = in_forked_child(|| i32::from(r.get(childs).is_ok()));
            i32::from(grandchild != 0 || r.get(childs).is_err()) * 7
        });
        assert_eq!(code, 0);
    }
}
