//! What every executor's lifecycle shares: the termination latch, finishing a
//! batch of jobs whatever foreign code does, and knowing whether the current
//! thread is inside one of an executor's own jobs.

use alloc::vec::Vec;

#[cfg(feature = "std")]
use super::Job;
use crate::error::Error;
use crate::future::SharedFuture;
use crate::promise::{self, Promise};

/// The `terminated` futures of an executor: pending until [`release`], done
/// from then on. The owner keeps it under its own lock (or in a `RefCell`).
///
/// [`release`]: Latch::release
#[derive(Default)]
pub(crate) struct Latch {
    released: bool,
    waiters: Vec<Promise<()>>,
}

impl Latch {
    /// A future that completes when the latch is released (at once if it is).
    /// Runs no foreign code: the new future has no waiter yet.
    pub(crate) fn future(&mut self) -> SharedFuture<()> {
        let (producer, future) = promise::promise();
        if self.released {
            let _ = producer.set_result(());
        } else {
            self.waiters.push(producer);
        }
        future
    }

    pub(crate) fn is_released(&self) -> bool {
        self.released
    }

    /// Releases the latch. The futures it hands back are to be completed with
    /// [`Released::complete`] once the owner's lock is dropped: completing one
    /// wakes its waiter, which is foreign code.
    #[must_use = "the released futures must be completed"]
    pub(crate) fn release(&mut self) -> Released {
        self.released = true;
        Released(core::mem::take(&mut self.waiters))
    }
}

/// The futures of a released [`Latch`], to complete outside the owner's lock.
///
/// Nominally `pub` (the module is crate-private, so it is not part of the
/// API), as is [`complete`](Released::complete): the process pool's `Book`,
/// built under `--cfg loom` as the public `process_book` for the loom models
/// in `loom-tests/`, hands one back, and a type that is `pub(crate)` could not
/// even be dropped there ("type `Released` is private").
#[must_use = "the released futures must be completed"]
pub struct Released(Vec<Promise<()>>);

impl Released {
    /// Nothing to complete.
    #[cfg(feature = "std")]
    pub(crate) const NONE: Released = Released(Vec::new());

    /// Completes every future. A waiter's panicking wake does not keep the
    /// others from being completed.
    pub fn complete(self) {
        finish_each(self.0, |producer| {
            // A consumer that is gone needs no answer.
            let _ = producer.set_result(());
        });
    }
}

/// A future that is already done with [`Error::WouldDeadlock`]: what
/// `terminated()` gives inside one of the executor's own jobs.
pub(crate) fn would_deadlock() -> SharedFuture<()> {
    promise::failed(Error::WouldDeadlock)
}

/// Runs `finish` on every item, even if it panics for some of them (a
/// closure's or a value's `Drop`, a waker, a done callback): each item is
/// finished as documented, and the panics are swallowed. Without `std`
/// (no unwinding to catch), a plain loop.
pub(crate) fn finish_each<I: IntoIterator>(items: I, mut finish: impl FnMut(I::Item)) {
    for item in items {
        run_quietly(|| finish(item));
    }
}

/// Cancels every job (`shutdown(cancel_futures = true)`): each future reports
/// `Cancelled`, whatever the `Drop` of a closure or a done callback does.
#[cfg(feature = "std")]
pub(crate) fn cancel_all(jobs: impl IntoIterator<Item = Job>) {
    finish_each(jobs, Job::cancel);
}

/// Runs `f`, catching a panic; `None` if it panicked. The panic's payload is
/// dropped here, and a payload whose own `Drop` panics is leaked rather than
/// allowed to unwind further.
#[cfg(feature = "std")]
pub(crate) fn run_quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            drop_quietly(payload);
            None
        }
    }
}

#[cfg(not(feature = "std"))]
pub(crate) fn run_quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    Some(f())
}

/// Drops a caught panic's payload; one whose `Drop` panics is leaked.
#[cfg(feature = "std")]
pub(crate) fn drop_quietly(payload: alloc::boxed::Box<dyn core::any::Any + Send>) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        core::mem::forget(second);
    }
}

/// Which executors have a job (or a done callback) running on this thread,
/// innermost last: a job of one executor can run a job of another inline, and
/// a rayon thread can run another ticket while a job waits in `join`.
#[cfg(any(
    feature = "rayon",
    feature = "tokio",
    all(feature = "process", unix, not(loom))
))]
mod inside {
    use alloc::vec::Vec;
    use core::cell::RefCell;

    // Loom's `thread_local!` does not accept a `const { }` initializer.
    #[allow(clippy::missing_const_for_thread_local)]
    mod tls {
        crate::sync::thread_local! {
            pub(super) static INSIDE: core::cell::RefCell<alloc::vec::Vec<usize>> =
                core::cell::RefCell::new(alloc::vec::Vec::new());
        }
    }

    /// Marks the current thread as running a job of the executor `id` (an
    /// address the executor owns while it runs jobs) until dropped.
    pub(crate) struct Inside(());

    impl Inside {
        pub(crate) fn enter(id: usize) -> Inside {
            // `try_with` everywhere: during the thread's teardown (a
            // thread-local's destructor) the list may be gone; no job of an
            // executor is recorded as running there, and reading it must not
            // panic ("cannot access a Thread Local Storage value during or
            // after destruction" would abort inside a destructor).
            let _ =
                tls::INSIDE.try_with(|inside: &RefCell<Vec<usize>>| inside.borrow_mut().push(id));
            Inside(())
        }
    }

    impl Drop for Inside {
        fn drop(&mut self) {
            let _ = tls::INSIDE.try_with(|inside: &RefCell<Vec<usize>>| inside.borrow_mut().pop());
        }
    }

    /// Whether the current thread is running a job of the executor `id`.
    /// `false` once the thread's list is destroyed: a thread tearing down
    /// runs no adapter's job.
    pub(crate) fn is_inside(id: usize) -> bool {
        tls::INSIDE
            .try_with(|inside: &RefCell<Vec<usize>>| inside.borrow().contains(&id))
            .unwrap_or(false)
    }
}

#[cfg(any(
    feature = "rayon",
    feature = "tokio",
    all(feature = "process", unix, not(loom))
))]
pub(crate) use inside::{Inside, is_inside};
