//! The one waiter slot: an async task's `Waker` or a blocked thread.
//!
//! Blocking waits and `poll` run the same state machine; only the way of waking
//! differs.

use alloc::boxed::Box;
use core::task::Waker;

#[cfg(feature = "std")]
use crate::fan_in::FanIn;
#[cfg(feature = "std")]
use crate::sync::Arc;
#[cfg(feature = "std")]
use crate::sync::thread::Thread;

/// A registered waiter, owned by the waiter slot.
pub(crate) enum Waiter {
    Task(Waker),
    #[cfg(feature = "std")]
    Thread(Thread),
    /// A done callback (`SharedFuture::on_done`); it owns the consumer handle.
    Callback(Box<dyn FnOnce() + Send>),
    /// One of many futures that a thread waits on together (`wait`,
    /// `as_completed`): waking tells the fan-in which one finished.
    #[cfg(feature = "std")]
    FanIn(Arc<FanIn>, usize),
}

/// A borrowed waiter, offered at registration; cloned into the slot only if the
/// slot does not already hold an equivalent one.
#[derive(Clone, Copy)]
pub(crate) enum WaiterRef<'a> {
    Task(&'a Waker),
    #[cfg(feature = "std")]
    Thread(&'a Thread),
}

impl Waiter {
    /// Wakes the waiter, consuming it.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Task(waker) => waker.wake(),
            #[cfg(feature = "std")]
            Waiter::Thread(thread) => thread.unpark(),
            Waiter::Callback(callback) => callback(),
            #[cfg(feature = "std")]
            Waiter::FanIn(fan_in, index) => fan_in.notify(index),
        }
    }

    /// Whether waking runs a done callback: foreign code that may block, unlike
    /// a wake-up, which only schedules a task or unparks a thread.
    #[cfg(feature = "std")]
    pub(crate) fn is_callback(&self) -> bool {
        matches!(self, Waiter::Callback(_))
    }

    /// Whether waking `self` would wake the same task or thread as `other`.
    pub(crate) fn wakes_same(&self, other: WaiterRef<'_>) -> bool {
        match (self, other) {
            (Waiter::Task(a), WaiterRef::Task(b)) => a.will_wake(b),
            #[cfg(feature = "std")]
            (Waiter::Thread(a), WaiterRef::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

impl WaiterRef<'_> {
    /// Clones the waiter into an owned one. May run foreign code (`Waker::clone`).
    pub(crate) fn to_owned(self) -> Waiter {
        match self {
            WaiterRef::Task(waker) => Waiter::Task(waker.clone()),
            #[cfg(feature = "std")]
            WaiterRef::Thread(thread) => Waiter::Thread(thread.clone()),
        }
    }
}
