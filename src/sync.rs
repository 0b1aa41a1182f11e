//! The one place that atomics, `UnsafeCell`, `Arc`, raw allocation and thread
//! parking come from.
//!
//! Under `--cfg loom` every item here is loom's instead of std's, so the code that
//! ships is the code that the models in `loom-tests/` check. Nothing else in the
//! crate imports `core::sync::atomic`, `core::cell::UnsafeCell`, `alloc::sync`,
//! `alloc::alloc` or `std::thread` parking directly.
//!
//! `UnsafeCell` has loom's closure API (`with`, `with_mut`) in both halves, so no
//! use site needs a `#[cfg]` of its own.

#[cfg(not(loom))]
mod imp {
    pub(crate) use alloc::alloc::{alloc, dealloc};
    #[cfg(feature = "std")]
    pub(crate) use core::hint::spin_loop;
    pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) use alloc::sync::Arc;
    #[cfg(feature = "std")]
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
    #[cfg(feature = "std")]
    pub(crate) use std::thread_local;

    /// `core::cell::UnsafeCell` with loom's closure-based access API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        /// Shared access to the contents through a raw pointer.
        #[inline(always)]
        #[cfg_attr(not(feature = "std"), allow(dead_code))]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Exclusive access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Thread parking for blocking waits.
    #[cfg(feature = "std")]
    pub(crate) mod thread {
        pub(crate) use std::thread::{Builder, JoinHandle, Thread, current, park};
        use std::time::Instant;

        /// Parks the current thread until it is unparked, `deadline` passes, or a
        /// spurious wake-up. Returns `true` when the deadline had already passed
        /// before parking (the caller then stops waiting).
        pub(crate) fn park_until(deadline: Instant) -> bool {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::park_timeout(deadline - now);
            false
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::alloc::{alloc, dealloc};
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::hint::spin_loop;
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread_local;

    /// Thread parking for blocking waits, on loom's scheduler.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{Builder, JoinHandle, Thread, current, park};
        use std::time::Instant;

        /// Loom has no clock: a timed park is modelled as "the timeout may fire
        /// at any point", by yielding once and then reporting the deadline as
        /// passed. The model explores completion racing with the deregistration
        /// that follows a timeout.
        pub(crate) fn park_until(_deadline: Instant) -> bool {
            loom::thread::yield_now();
            true
        }
    }
}

pub(crate) use imp::*;

/// How many times a waiter checks the state word, with a spin hint between
/// checks, before it parks. Zero under loom: a model must not explore spins.
#[cfg(all(feature = "std", not(loom)))]
#[inline(always)]
pub(crate) fn spin_limit() -> u32 {
    64
}

/// How many times a waiter checks the state word before it parks: zero under
/// loom, where a model must not explore spins.
#[cfg(loom)]
#[inline(always)]
pub(crate) fn spin_limit() -> u32 {
    0
}
