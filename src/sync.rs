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
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[cfg(feature = "std")]
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
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Exclusive access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Makes an empty `UnsafeCell<MaybeUninit<T>>` at `place` without building
    /// a `T`-sized value anywhere: nothing to write, since uninitialized bytes
    /// are a valid `MaybeUninit` and the wrapper holds nothing else.
    ///
    /// # Safety
    ///
    /// `place` is valid for writes.
    #[inline(always)]
    pub(crate) unsafe fn init_uninit<T>(place: *mut UnsafeCell<core::mem::MaybeUninit<T>>) {
        let _ = place;
    }

    /// Thread parking for blocking waits.
    #[cfg(feature = "std")]
    pub(crate) mod thread {
        pub(crate) use std::thread::{Builder, JoinHandle, Thread, current, park, yield_now};
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

    /// Waits on `condvar` (which `guard` of `mutex` goes with) for at most
    /// `timeout`; `true` if the time passed. The guard is handed back either
    /// way, poisoned or not: the caller's state is kept consistent under it.
    #[cfg(feature = "std")]
    pub(crate) fn wait_timeout<'a, T>(
        condvar: &Condvar,
        _mutex: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
        timeout: core::time::Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (guard, result) = condvar
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard, result.timed_out())
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::alloc::{alloc, dealloc};
    pub(crate) use loom::cell::UnsafeCell;

    /// Loom's `UnsafeCell` tracks accesses in a field of its own, which must
    /// be written: the value is built and moved (models use small types).
    ///
    /// # Safety
    ///
    /// `place` is valid for writes.
    pub(crate) unsafe fn init_uninit<T>(place: *mut UnsafeCell<core::mem::MaybeUninit<T>>) {
        // SAFETY: the caller's contract.
        unsafe { place.write(UnsafeCell::new(core::mem::MaybeUninit::uninit())) };
    }
    pub(crate) use loom::hint::spin_loop;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread_local;

    /// Thread parking for blocking waits, on loom's scheduler.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{Builder, JoinHandle, Thread, current, park, yield_now};
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

    /// Loom's `Condvar::wait_timeout` never times out; a timed wait is
    /// modelled as "the timeout may fire at any point": release the lock, let
    /// any other thread run, take the lock back and report the time passed.
    /// A notification sent meanwhile finds no waiter, which the caller must
    /// (and the pool does) tell from its own state under the lock.
    pub(crate) fn wait_timeout<'a, T>(
        _condvar: &Condvar,
        mutex: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
        _timeout: core::time::Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        drop(guard);
        loom::thread::yield_now();
        let guard = mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard, true)
    }
}

pub(crate) use imp::*;
