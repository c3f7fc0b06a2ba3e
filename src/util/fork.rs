//! Processes made by `fork()`: which one this is, and the listening sockets a forked
//! process must not keep.
//!
//! A process that forks (a pre-forking daemon, gunicorn with `preload_app`, Python's
//! `multiprocessing` with `fork`) gives its children a copy of its memory and of its file
//! descriptors, not of its threads. A client made before the fork is the parent's: its
//! pooled connections are sockets the parent goes on using (two processes reading replies
//! from one socket would take each other's), its event listener's threads exist only in
//! the parent, and stopping them from the child would wake the parent's. So the library
//! counts forks: [`epoch`] is 0 in a process that was not forked after the library was
//! loaded and one more in each child than in its parent (a `pthread_atfork` handler
//! counts it, registered by [`watch`]); a handle remembers the epoch it was made in, and
//! the C ABI refuses an inherited one (`src/ffi/handles.rs`).
//!
//! The event listeners' listening sockets are closed in the child at the fork
//! ([`ListeningSocket`]): a child never holds the port its parent listens on, so the
//! port is free again when the parent's client is freed, even while children live on.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Once;

static EPOCH: AtomicU32 = AtomicU32::new(0);

/// How many listening sockets the child closes at a fork: the listeners of this many
/// clients at once (a client has at most one). Beyond that a listener still works; a
/// child made while it lives keeps a copy of its socket until the child ends.
const LISTENERS: usize = 64;

/// The listening sockets to close in a child, -1 where none.
static LISTENING: [AtomicI32; LISTENERS] = [const { AtomicI32::new(-1) }; LISTENERS];

/// The fork epoch of this process (see the module comment).
pub(crate) fn epoch() -> u32 {
    EPOCH.load(Ordering::Acquire)
}

/// Registers the handler that counts forks, once per process (a child inherits it).
pub(crate) fn watch() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        // SAFETY: `in_child` is an `extern "C"` function without arguments, as
        // pthread_atfork wants; it only touches atomics and calls close(2), both
        // async-signal-safe, which is what a child of a multi-threaded process may do
        // before it returns from fork(). A failure (ENOMEM) leaves forks uncounted: the
        // library then behaves as before it counted them.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

extern "C" fn in_child() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    for slot in &LISTENING {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: the descriptor is the parent's listening socket, copied into this
            // child by the fork; nothing of the child uses it (the listener's threads
            // did not come along). Closing the copy leaves the parent's socket open.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// A listening socket that a forked child closes at the fork. Registered while the
/// socket is open; unregistered ([`ListeningSocket::unregister`], or when dropped) before
/// it is closed, so that a child never closes a descriptor number the parent has reused
/// for something else.
#[derive(Debug)]
pub(crate) struct ListeningSocket {
    slot: Option<usize>,
    /// The fork epoch it was registered in.
    epoch: u32,
}

impl ListeningSocket {
    pub(crate) fn register(fd: RawFd) -> ListeningSocket {
        watch();
        let slot = LISTENING.iter().position(|s| {
            s.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        ListeningSocket {
            slot,
            epoch: epoch(),
        }
    }

    /// Whether this is a forked child's copy: the socket, and whatever serves it, are the
    /// parent's (the child closed its copy of the socket at the fork).
    pub(crate) fn inherited(&self) -> bool {
        self.epoch != epoch()
    }

    /// Takes the socket out of the table now. A copy in a forked child leaves the table
    /// alone: the fork emptied it, and the slot may be the child's own listener's by now.
    pub(crate) fn unregister(&mut self) {
        if let Some(slot) = self.slot.take() {
            if !self.inherited() {
                LISTENING[slot].store(-1, Ordering::Release);
            }
        }
    }
}

impl Drop for ListeningSocket {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Runs `child` in a forked child of this test and returns its exit code (`child`'s
/// answer; 100 when it panicked, 200 + the signal when one ended it). The child ends with
/// `_exit`: no destructor, no test harness of its own.
#[cfg(test)]
pub(crate) fn in_forked_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only `child` (registry, descriptor and socket calls; glibc's
    // fork leaves malloc usable) and ends with _exit.
    match unsafe { libc::fork() } {
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(100);
            unsafe { libc::_exit(code) }
        }
        pid => {
            assert!(pid > 0, "fork failed");
            let mut status = 0;
            // SAFETY: waits for the child just made.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            if libc::WIFSIGNALED(status) {
                return 200 + libc::WTERMSIG(status);
            }
            libc::WEXITSTATUS(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    /// Whether `fd` is open in a forked child of this test.
    fn open_in_child(fd: RawFd) -> bool {
        let code = in_forked_child(|| {
            // SAFETY: fcntl(2) only asks about a descriptor.
            let open = |n| unsafe { libc::fcntl(n, libc::F_GETFD) } != -1;
            let epoch_moved = epoch() > 0;
            // Nothing else closed, and no slot left naming a descriptor.
            let standard_open = (0..3).all(open);
            let slots_cleared = LISTENING.iter().all(|s| s.load(Ordering::Acquire) == -1);
            i32::from(open(fd))
                | i32::from(epoch_moved) << 1
                | i32::from(standard_open && slots_cleared) << 2
        });
        assert!(code < 8, "the child ended with {code}");
        assert_eq!(code & 2, 2, "the child's fork epoch did not move");
        assert_eq!(
            code & 4,
            4,
            "the child closed another descriptor or kept a slot"
        );
        code & 1 == 1
    }

    #[test]
    fn a_child_closes_its_copy_of_a_registered_listening_socket_and_only_while_registered() {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_raw_fd();
        assert!(open_in_child(fd), "an unregistered socket is left alone");
        let registered = ListeningSocket::register(fd);
        assert!(registered.slot.is_some());
        assert!(!open_in_child(fd), "the child closed its copy");
        // The parent's socket is open and listening still.
        assert!(std::net::TcpStream::connect(socket.local_addr().unwrap()).is_ok());
        let slot = registered.slot.unwrap();
        drop(registered);
        // (another test's listener may take the slot at once: it then names another
        // descriptor, never this one, which is still open)
        assert_ne!(
            LISTENING[slot].load(Ordering::Acquire),
            fd,
            "the slot is free again"
        );
        assert!(open_in_child(fd), "unregistered again: left alone");
        assert_eq!(epoch(), 0, "the parent's epoch never moves");
    }

    #[test]
    fn a_childs_copy_of_a_registration_leaves_the_childs_own_alone() {
        let parents = TcpListener::bind("127.0.0.1:0").unwrap();
        let registered = ListeningSocket::register(parents.as_raw_fd());
        let slot = registered.slot.unwrap();
        let code = in_forked_child(move || {
            // The child's own listeners fill the table up to the parent's slot (the fork
            // emptied it), then the child's copy of the parent's registration goes.
            let own = TcpListener::bind("127.0.0.1:0").unwrap();
            let mine: Vec<ListeningSocket> = (0..=slot)
                .map(|_| ListeningSocket::register(own.as_raw_fd()))
                .collect();
            if mine.last().and_then(|m| m.slot) != Some(slot) || !registered.inherited() {
                return 1;
            }
            drop(registered);
            i32::from(LISTENING[slot].load(Ordering::Acquire) != own.as_raw_fd()) * 2
        });
        assert_eq!(code, 0);
    }
}
