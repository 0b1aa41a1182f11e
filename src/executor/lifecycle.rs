//! What every executor's lifecycle shares, written once so that no executor
//! can differ in it (issue 23 §3):
//!
//! - [`Handle`]: the handles of an executor, whose last drop begins shutdown
//!   (used by `ThreadPoolExecutor`, `RayonExecutor`, `TokioBlockingExecutor`);
//! - [`shutdown_and_join`]: `shutdown`, which begins shutdown, then outside
//!   the executor's own jobs waits for termination and joins its threads;
//! - [`Latch`]: the `terminated` futures, released once, when the owner's
//!   state says so ([`Latch::release_if`]), and completed outside its lock;
//! - [`Inside`] and [`is_inside`]: whether the current thread runs one of an
//!   executor's jobs (an adapter's ticket, a process pool's callback) or is
//!   one of its worker threads, readable during thread teardown;
//! - [`finish_each`], [`cancel_all`], [`run_quietly`]: finishing a batch of
//!   jobs whatever foreign code does.
//!
//! The process pool uses the same pieces: its handle is a [`Handle`], its
//! termination a [`Latch`] released by `release_if`, its dispatcher threads
//! are marked with [`Inside`], and its lock is the shim's.

use alloc::vec::Vec;

#[cfg(feature = "std")]
use super::{CancelFutures, Job};
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

    /// Releases the latch if `terminated` (the owner's own test, under its
    /// lock: shut down, nothing queued, nothing running) and it is not
    /// released yet; else nothing to complete. The one place where an
    /// executor turns its state into a released `terminated`.
    #[must_use = "the released futures must be completed"]
    pub(crate) fn release_if(&mut self, terminated: bool) -> Released {
        if terminated && !self.is_released() {
            self.release()
        } else {
            Released::NONE
        }
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

/// What the last [`Handle`] of an executor does when dropped: begin shutdown
/// without cancelling and without waiting, as `Executor::shutdown_nowait`.
#[cfg(feature = "std")]
pub(crate) trait BeginShutdown {
    fn begin_shutdown(&self, cancel: CancelFutures);
}

/// A handle to an executor whose state is `S`: clones share the state (a
/// clone is one atomic increment), and the last handle dropped begins
/// shutdown with [`CancelFutures::No`]: queued jobs still run, and a
/// `terminated()` taken before resolves `Ok(())` once they are done. What
/// the executor's own threads and tickets hold is an `Arc<S>` ([`state`]),
/// which is not a handle: a pool whose handles are all gone shuts down even
/// while its workers hold its state.
///
/// [`state`]: Handle::state
#[cfg(feature = "std")]
pub(crate) struct Handle<S: BeginShutdown>(crate::sync::Arc<LastHandle<S>>);

/// Shared by the clones of one [`Handle`]; dropped with the last of them.
#[cfg(feature = "std")]
struct LastHandle<S: BeginShutdown>(crate::sync::Arc<S>);

#[cfg(feature = "std")]
impl<S: BeginShutdown> Drop for LastHandle<S> {
    fn drop(&mut self) {
        self.0.begin_shutdown(CancelFutures::No);
    }
}

#[cfg(feature = "std")]
impl<S: BeginShutdown> Handle<S> {
    /// The first handle to `state`.
    pub(crate) fn new(state: S) -> Self {
        Handle(crate::sync::Arc::new(LastHandle(crate::sync::Arc::new(
            state,
        ))))
    }

    /// The executor's state, to be cloned for its threads and tickets.
    pub(crate) fn state(&self) -> &crate::sync::Arc<S> {
        &self.0.0
    }
}

#[cfg(feature = "std")]
impl<S: BeginShutdown> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Handle(crate::sync::Arc::clone(&self.0))
    }
}

#[cfg(feature = "std")]
impl<S: BeginShutdown> core::ops::Deref for Handle<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0.0
    }
}

/// `Executor::shutdown` for every executor: begins shutdown, then waits for
/// termination and joins the threads that `threads` hands back (Python's
/// `shutdown(wait=True)`), except inside one of the executor's own jobs (or
/// on one of its workers), where its `terminated()` is already
/// `Err(WouldDeadlock)`: there the wait would be for itself (Python raises
/// `RuntimeError: cannot join current thread`), so it only begins shutdown.
#[cfg(feature = "std")]
pub(crate) fn shutdown_and_join<E: super::Executor + ?Sized>(
    executor: &E,
    cancel: CancelFutures,
    threads: impl FnOnce() -> Vec<crate::sync::thread::JoinHandle<()>>,
) {
    executor.shutdown_nowait(cancel);
    if let Err(Error::WouldDeadlock) = executor.terminated().wait() {
        return;
    }
    for thread in threads() {
        // A worker catches every panic it can meet, so a join error is not
        // expected; there is nothing to do with one but go on joining.
        let _ = thread.join();
    }
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
/// a rayon thread can run another ticket while a job waits in `join`; and the
/// executor this thread is a worker of, if any.
#[cfg(feature = "std")]
mod inside {
    use alloc::vec::Vec;
    use core::cell::RefCell;

    // Loom's `thread_local!` does not accept a `const { }` initializer.
    #[allow(clippy::missing_const_for_thread_local)]
    mod tls {
        crate::sync::thread_local! {
            pub(super) static INSIDE: core::cell::RefCell<alloc::vec::Vec<usize>> =
                core::cell::RefCell::new(alloc::vec::Vec::new());
            /// The executor whose worker this thread is (0: none), for the
            /// thread's whole life, its thread-locals' destructors included:
            /// a `Cell<usize>` has no destructor, so it is never destroyed.
            pub(super) static WORKER_OF: core::cell::Cell<usize> = core::cell::Cell::new(0);
        }
    }

    /// Marks the current thread as running a job of the executor `id` (an
    /// address the executor owns while it runs jobs) until dropped: the
    /// adapters' tickets and the process pool's callbacks.
    #[cfg(any(
        feature = "rayon",
        feature = "tokio",
        all(feature = "process", unix, not(loom))
    ))]
    pub(crate) struct Inside(());

    #[cfg(any(
        feature = "rayon",
        feature = "tokio",
        all(feature = "process", unix, not(loom))
    ))]
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

    #[cfg(any(
        feature = "rayon",
        feature = "tokio",
        all(feature = "process", unix, not(loom))
    ))]
    impl Drop for Inside {
        fn drop(&mut self) {
            let _ = tls::INSIDE.try_with(|inside: &RefCell<Vec<usize>>| inside.borrow_mut().pop());
        }
    }

    /// Marks the current thread, for the rest of its life, as a worker
    /// thread of the executor `id` (an address the executor owns while any
    /// of its workers lives): every job and callback it runs is inside.
    pub(crate) fn enter_for_life(id: usize) {
        let _ = tls::WORKER_OF.try_with(|worker_of| worker_of.set(id));
    }

    /// Whether the current thread is running a job of the executor `id`, or
    /// is one of its worker threads. Never panics, during thread teardown
    /// included: once the list of running jobs is destroyed, a thread runs
    /// no adapter's job any more.
    pub(crate) fn is_inside(id: usize) -> bool {
        tls::WORKER_OF
            .try_with(|worker_of| worker_of.get() == id)
            .unwrap_or(false)
            || tls::INSIDE
                .try_with(|inside: &RefCell<Vec<usize>>| inside.borrow().contains(&id))
                .unwrap_or(false)
    }
}

#[cfg(any(
    feature = "rayon",
    feature = "tokio",
    all(feature = "process", unix, not(loom))
))]
pub(crate) use inside::Inside;
#[cfg(feature = "std")]
pub(crate) use inside::{enter_for_life, is_inside};
