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
//!
//! With `std`, [`lock`] holds the mutex and condition variable the executor
//! layer and the core use (a `lock()` that ignores poisoning, a wait with a
//! deadline), and `thread::park_until` parks with a deadline, written once for
//! both halves. The plain `Mutex`, `Condvar` and `MutexGuard` at the top are
//! std's (or loom's) own, the ones [`lock`] wraps; nothing else uses them.

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

        /// Parks the current thread until it is unparked, `deadline` passes
        /// (`None`: never), or a spurious wake-up. Returns `true` once the
        /// deadline has passed: a caller that loops on its own condition
        /// (every caller: wake-ups may be spurious) stops exactly then, never
        /// earlier on a spurious wake-up and never a whole park later.
        pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
            let Some(deadline) = deadline else {
                std::thread::park();
                return false;
            };
            let now = Instant::now();
            if now < deadline {
                std::thread::park_timeout(deadline - now);
            }
            Instant::now() >= deadline
        }
    }

    /// Waits on `condvar` while `condition` holds, until `deadline`; `true`
    /// if the deadline passed with `condition` still holding.
    #[cfg(feature = "std")]
    pub(super) fn wait_while_until<'a, T>(
        condvar: &Condvar,
        _mutex: &'a Mutex<T>,
        mut guard: MutexGuard<'a, T>,
        deadline: std::time::Instant,
        condition: &mut dyn FnMut(&mut T) -> bool,
    ) -> (MutexGuard<'a, T>, bool) {
        loop {
            if !condition(&mut guard) {
                return (guard, false);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return (guard, true);
            }
            guard = condvar
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
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
        /// that follows a timeout. `None` parks on loom's scheduler.
        pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
            if deadline.is_none() {
                loom::thread::park();
                return false;
            }
            loom::thread::yield_now();
            true
        }
    }

    /// Loom's `Condvar::wait_timeout` never times out; a timed wait is
    /// modelled as "the timeout may fire at any point": release the lock, let
    /// any other thread run, take the lock back and report the time passed if
    /// `condition` still holds. A notification sent meanwhile finds no
    /// waiter, which the caller must (and the pool does) tell from its own
    /// state under the lock: `condition` is that state.
    pub(super) fn wait_while_until<'a, T>(
        _condvar: &Condvar,
        mutex: &'a Mutex<T>,
        mut guard: MutexGuard<'a, T>,
        _deadline: std::time::Instant,
        condition: &mut dyn FnMut(&mut T) -> bool,
    ) -> (MutexGuard<'a, T>, bool) {
        if !condition(&mut guard) {
            return (guard, false);
        }
        drop(guard);
        loom::thread::yield_now();
        let mut guard = mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let timed_out = condition(&mut guard);
        (guard, timed_out)
    }
}

pub(crate) use imp::*;

/// A mutex whose `lock` ignores poisoning, and a condition variable with a
/// deadline wait: std's or loom's underneath, as the rest of the shim.
///
/// Poisoning is ignored, as tokio's `loom/std/mutex.rs` does: none of the
/// crate's critical sections runs foreign code, so a thread that panicked
/// while holding one (an allocation failure that unwinds, a bug caught by a
/// `debug_assert!`) left the state as consistent as any other step does.
#[cfg(feature = "std")]
pub(crate) mod lock {
    use std::time::Instant;

    pub(crate) use super::imp::MutexGuard;

    /// A mutex whose [`lock`](Mutex::lock) hands back the guard, poisoned or
    /// not.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(super::imp::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(super::imp::Mutex::new(value))
        }

        /// Locks the mutex, blocking until it is free; a poisoned lock is
        /// taken as it is.
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    /// A condition variable for a [`Mutex`]; its waits ignore poisoning too.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(super::imp::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(super::imp::Condvar::new())
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        /// Waits while `condition` holds of the guarded state, until
        /// `deadline` (`None`: for ever). A spurious wake-up re-checks
        /// `condition` and waits for the rest of the time. Returns the guard
        /// and `true` if the deadline passed with `condition` still holding.
        pub(crate) fn wait_while_until<'a, T>(
            &self,
            mutex: &'a Mutex<T>,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
            mut condition: impl FnMut(&mut T) -> bool,
        ) -> (MutexGuard<'a, T>, bool) {
            let Some(deadline) = deadline else {
                while condition(&mut guard) {
                    guard = self
                        .0
                        .wait(guard)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                return (guard, false);
            };
            super::imp::wait_while_until(&self.0, &mutex.0, guard, deadline, &mut condition)
        }
    }
}
