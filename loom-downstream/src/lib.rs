//! A downstream library built on `concurrent-futures`: a one-slot mailbox whose
//! reply travels through a `SharedFuture`. Its own synchronization (one
//! atomic flag) comes from loom under `--cfg loom`, as the crate's does, so
//! its loom model checks both together.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering};

use concurrent_futures::{Promise, SharedFuture, promise};

/// Hands out at most one reply slot.
pub struct Mailbox {
    taken: AtomicBool,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            taken: AtomicBool::new(false),
        }
    }
}

impl Mailbox {
    /// The one reply slot, to the first caller only.
    pub fn claim(&self) -> Option<(Promise<u32>, SharedFuture<u32>)> {
        // ORDERING: the flag guards no memory: the reply travels through the
        // future, which orders it.
        (!self.taken.swap(true, Ordering::Relaxed)).then(promise)
    }
}
