//! Handles: opaque values that stand for objects in a registry, never pointers.
//!
//! A handle is `generation << 32 | kind << 24 | slot`. A freed slot's generation moves
//! on, so a freed (or double-freed) handle, a forged value, or a handle of another kind
//! is recognised and refused instead of being dereferenced.

use std::sync::{Arc, LazyLock, RwLock};

use super::types::{cc_call, cc_client};
use crate::error::{Error, ErrorKind, Result};
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
}

struct Inner<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
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
                });
                inner.slots.len() - 1
            }
        };
        inner.slots[slot].value = Some(Arc::new(value));
        inner.live += 1;
        let generation = inner.slots[slot].generation;
        Ok(encode(generation, self.kind, slot))
    }

    /// The value behind a handle, or why there is none.
    pub fn get(&self, handle: usize) -> Result<Arc<T>> {
        let slot = self.check(handle)?;
        let inner = self.read();
        match inner.slots.get(slot.0) {
            Some(s) if s.generation == slot.1 && s.value.is_some() => Ok(s.value.clone().unwrap()),
            _ => Err(stale(self.kind)),
        }
    }

    /// Takes the value out; the handle is dead afterwards.
    pub fn remove(&self, handle: usize) -> Result<Arc<T>> {
        let (slot, generation) = self.check(handle)?;
        let mut inner = self.write();
        let taken = match inner.slots.get_mut(slot) {
            Some(s) if s.generation == generation && s.value.is_some() => {
                s.generation = s.generation.wrapping_add(1).max(1);
                s.value.take()
            }
            _ => None,
        };
        match taken {
            Some(v) => {
                inner.free.push(slot as u32);
                inner.live -= 1;
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
}
