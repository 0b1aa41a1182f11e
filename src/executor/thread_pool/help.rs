//! Helping: a worker whose job waits for a future runs its pool's queued jobs
//! meanwhile (see [`Help`]).

use super::shared::{Shared, Wake};
use crate::executor::lifecycle::run_quietly;
use crate::sync::{Arc, thread};

// Loom's `thread_local!` does not accept a `const { }` initializer.
#[allow(clippy::missing_const_for_thread_local)]
mod locals {
    crate::sync::thread_local! {
        /// The pool whose queue this worker helps with while a job of it
        /// waits.
        pub(super) static HELPING: core::cell::RefCell<Option<crate::sync::Arc<super::Shared>>> =
            core::cell::RefCell::new(None);
        /// How many helped jobs are running on this thread, nested.
        pub(super) static HELP_DEPTH: core::cell::Cell<usize> = core::cell::Cell::new(0);
    }
}
use locals::{HELP_DEPTH, HELPING};

/// Makes the current thread, a worker of `shared`, help that pool while its
/// jobs wait.
pub(super) fn start(shared: &Arc<Shared>) {
    HELPING.with(|helping| *helping.borrow_mut() = Some(Arc::clone(shared)));
}

/// The worker is done: it drops its reference here, not in the
/// thread-local's destructor, since the pool's last reference may be this
/// one and its drop belongs before the exit guard.
pub(super) fn stop() {
    let _ = HELPING.try_with(|helping| helping.borrow_mut().take());
}

/// How deep helped jobs may nest on one worker (a helped job that waits helps
/// in turn): past it, a wait is a plain wait, so the stack stays bounded.
const MAX_HELP_DEPTH: usize = 16;

/// Helping (rayon's rule for `join` and `scope`, where Python's
/// `ThreadPoolExecutor` deadlocks), for one blocking wait (`SharedFuture::wait*`,
/// the fan-in of `wait` and `as_completed`, the end of a `scope`): made before
/// the wait parks, [`run`](Help::run) again each time it wakes up, dropped
/// when the wait is over.
///
/// On a worker of a `ThreadPoolExecutor`, `run` takes queued jobs of that
/// pool and runs them on this thread while the wait goes on: first the job
/// whose cell is at `wanted` (the future waited for) if it is still queued,
/// then the others in queue order. When the queue is empty and the wait is
/// not over, the worker is counted as a *parked helper* of its pool (see
/// `idle::Idle`) before it parks: a submit that finds no other free
/// worker claims it and unparks it, and its wait's next `run` takes the job.
/// So a job queued after its waiter found nothing to run (the future it waits
/// for belongs to a job submitted later) still runs, even when the waiter is
/// the pool's only worker. Off a worker, and past the nesting bound, `Help`
/// does nothing: the wait is a plain wait.
///
/// A helped job runs as on any worker: under the pool's stop signal, with
/// this thread's thread-locals; its panic is caught into its own future, and
/// foreign code that unwinds from it (a waker, a callback) is caught too, so
/// nothing unwinds through the waiter's frame.
pub(crate) struct Help {
    /// The pool this thread works for; `None` off a worker or past the
    /// nesting bound.
    shared: Option<Arc<Shared>>,
    /// The cell address of the job waited for (0: none in particular); taken
    /// at the first look, so the queue is scanned for it once per wait.
    wanted: usize,
    /// This thread, while it is counted among the pool's parked helpers (it
    /// may have been claimed since: then it is no longer in the list).
    parked: Option<thread::Thread>,
}

impl Help {
    /// Helping for a wait for the job whose cell is at `wanted` (0: the wait
    /// is for several, or for none of the pool's jobs in particular).
    pub(crate) fn new(wanted: usize) -> Help {
        // `try_with`: a wait in a thread-local's destructor does not help.
        let shared = HELPING
            .try_with(|helping| helping.borrow().clone())
            .ok()
            .flatten()
            .filter(|_| {
                HELP_DEPTH
                    .try_with(core::cell::Cell::get)
                    .is_ok_and(|depth| depth < MAX_HELP_DEPTH)
            });
        Help {
            shared,
            wanted,
            parked: None,
        }
    }

    /// Runs the pool's queued jobs on this thread while `pending()` holds and
    /// `deadline` has not passed. Returns when the wait is over, or when the
    /// queue is empty: the thread is then counted as a parked helper, to be
    /// unparked by the next job queued while no other worker is free, and
    /// the caller parks (and calls `run` again when it wakes up).
    pub(crate) fn run(
        &mut self,
        pending: &mut dyn FnMut() -> bool,
        deadline: Option<std::time::Instant>,
    ) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        let depth = HELP_DEPTH.with(core::cell::Cell::get);
        struct Nested(usize);
        impl Drop for Nested {
            fn drop(&mut self) {
                HELP_DEPTH.with(|depth| depth.set(self.0));
            }
        }
        HELP_DEPTH.with(|cell| cell.set(depth + 1));
        let _nested = Nested(depth);
        while pending() && deadline.is_none_or(|deadline| std::time::Instant::now() < deadline) {
            let job = {
                let mut state = shared.state.lock();
                // Counted again below if it parks again; a claim, if any, is
                // consumed by this look at the queue.
                if let Some(me) = self.parked.take() {
                    state.idle.unpark_helper(&me);
                }
                // The one waited for, if queued: one scan per wait.
                let wanted = core::mem::take(&mut self.wanted);
                let at = Some(wanted)
                    .filter(|&wanted| wanted != 0)
                    .and_then(|wanted| state.queue.iter().position(|job| job.addr() == wanted))
                    .unwrap_or(0);
                let job = state.queue.remove(at);
                if job.is_some() {
                    shared.sync_queued(&state);
                } else {
                    // Nothing to run: counted as free for the next submit.
                    let me = thread::current();
                    state.idle.park_helper(me.clone());
                    self.parked = Some(me);
                }
                job
            };
            let Some(job) = job else {
                return;
            };
            run_quietly(|| job.run_under(&shared.stop));
        }
    }
}

impl Drop for Help {
    /// The wait is over: no longer a parked helper. A claim that this thread
    /// got and did not use (its wait ended first) is handed on, so that the
    /// job it was for does not wait for this worker's job to finish.
    fn drop(&mut self) {
        let (Some(shared), Some(me)) = (self.shared.as_ref(), self.parked.take()) else {
            return;
        };
        let wake = {
            let mut state = shared.state.lock();
            if state.idle.unpark_helper(&me) || state.queue.is_empty() || state.broken.is_some() {
                Wake::Nobody
            } else {
                Shared::dispatch(shared, &mut state).unwrap_or(Wake::Nobody)
            }
        };
        wake.send(shared);
    }
}
