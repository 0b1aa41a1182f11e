//! A worker thread: its start, busy, looking, sleeping and exit phases (see
//! the module docs in `mod.rs`).

use alloc::collections::VecDeque;

use super::help;
use super::shared::{Shared, Wake};
use crate::error::Error;
use crate::executor::Job;
use crate::executor::lifecycle::{self, run_quietly};
use crate::job::Completion;
use crate::sync::{Arc, thread};

// Loom's `thread_local!` does not accept a `const { }` initializer.
#[allow(clippy::missing_const_for_thread_local)]
mod locals {
    crate::sync::thread_local! {
        /// The worker's exit guard: armed first thing in the thread, so that
        /// its destructor runs after those of the thread-locals that jobs set
        /// up (thread-local destructors run in reverse order of registration).
        pub(super) static EXIT_GUARD: core::cell::RefCell<Option<super::ExitGuard>> =
            core::cell::RefCell::new(None);
    }
}
use locals::EXIT_GUARD;

/// Lowers the worker count when its thread exits, from a thread-local
/// destructor (see `EXIT_GUARD`): `terminated` completes only after the
/// worker's other thread-locals were destroyed. Runs on every exit, a panic
/// included, so the count stays true.
struct ExitGuard {
    shared: Option<Arc<Shared>>,
    /// The worker retired (no longer in `workers`, counted in `retiring`).
    retired: bool,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        // A panic in a thread-local destructor aborts the process: nothing
        // foreign may unwind out of here (a waiter's wake, or the pool's own
        // drop, with its initializer, if this is the last reference).
        run_quietly(move || {
            let mut wake = Wake::Nobody;
            let mut stranded = (VecDeque::new(), std::io::ErrorKind::Other);
            let released = {
                let mut state = shared.state.lock();
                if self.retired {
                    debug_assert!(state.retiring > 0, "a worker exited twice");
                    state.retiring -= 1;
                    // Its thread held a place under `max_workers` that a
                    // queued job may have waited for.
                    if !state.queue.is_empty() && state.broken.is_none() {
                        match Shared::dispatch(&shared, &mut state) {
                            Ok(sent) => wake = sent,
                            Err(kind) if state.workers == 0 && state.retiring == 0 => {
                                // Nobody left to run them: fail them, as a
                                // submit that cannot start a worker does.
                                stranded = (core::mem::take(&mut state.queue), kind);
                                shared.sync_queued(&state);
                            }
                            Err(_) => {}
                        }
                    }
                } else {
                    debug_assert!(state.workers > 0, "a worker exited twice");
                    state.workers -= 1;
                }
                Shared::take_if_terminated(&mut state)
            };
            wake.send(&shared);
            let (stranded, kind) = stranded;
            lifecycle::finish_each(stranded, |job| job.fail(Error::Spawn(kind)));
            released.complete();
            drop(shared);
        });
    }
}

/// The body of a worker thread.
pub(super) fn worker_main(shared: Arc<Shared>) {
    EXIT_GUARD.with(|guard| {
        *guard.borrow_mut() = Some(ExitGuard {
            shared: Some(Arc::clone(&shared)),
            retired: false,
        });
    });
    lifecycle::enter_for_life(shared.id());
    help::start(&shared);
    if shared.initialize() {
        Worker {
            shared,
            unpublished: None,
            may_spin: false,
        }
        .serve();
    }
    help::stop();
}

/// What a worker holds while it publishes the previous job's outcome.
enum Held {
    /// The next job, popped from the queue and not started.
    Job(Job),
    /// A looking mark (`Idle::start_looking`).
    Looking,
    /// Nothing (what it held went back to the pool).
    Nothing,
}

/// A worker's own state, across its phases.
struct Worker {
    shared: Arc<Shared>,
    /// The outcome of the last job run, written and not yet published.
    unpublished: Option<Completion>,
    /// Set by running a job: the worker may spin a little for the next one
    /// before it sleeps. Spinning happens only right after work.
    may_spin: bool,
}

impl Worker {
    /// The busy, looking and sleeping phases, until the pool shuts down.
    fn serve(mut self) {
        let shared = Arc::clone(&self.shared);
        let mut state = shared.state.lock();
        loop {
            // Busy.
            if let Some(job) = state.queue.pop_front() {
                shared.sync_queued(&state);
                drop(state);
                if let Held::Job(job) = self.publish(Held::Job(job)) {
                    self.run(job);
                }
                state = shared.state.lock();
                continue;
            }
            // Looking.
            if self.unpublished.is_some() || self.may_spin {
                state.idle.start_looking();
                let spin = self.may_spin && !state.shutdown;
                drop(state);
                let held = self.publish(Held::Looking);
                let still_looking = matches!(held, Held::Looking);
                if still_looking && spin {
                    shared.spin_for_work();
                }
                self.may_spin = false;
                state = shared.state.lock();
                if still_looking {
                    // Take an unclaimed mark back; if none is left, ours was
                    // claimed and the job left to us is in the queue.
                    let _ = state.idle.stop_looking();
                }
                continue;
            }
            // Exit.
            if state.shutdown || state.broken.is_some() {
                return;
            }
            // Sleeping.
            state.idle.fall_asleep();
            let (guard, idle_too_long) = shared.wait(state);
            state = guard;
            // Claimed: the job is in the queue (or taken by another worker
            // meanwhile, which is as good); back to the busy phase.
            let claimed = state.idle.wake_up();
            if !claimed && idle_too_long && state.queue.is_empty() && !state.shutdown {
                // Retire: out of `workers` now, so that a submit starts a new
                // worker instead of counting on this one; still counted in
                // `retiring` until its thread-locals are destroyed.
                state.workers -= 1;
                state.retiring += 1;
                let me = thread::current().id();
                let handle = state
                    .handles
                    .iter()
                    .position(|handle| handle.thread().id() == me)
                    .map(|index| state.handles.swap_remove(index));
                drop(state);
                // Detached: nobody joins a retired worker; `terminated` waits
                // for its exit guard instead.
                drop(handle);
                EXIT_GUARD.with(|guard| {
                    if let Some(guard) = guard.borrow_mut().as_mut() {
                        guard.retired = true;
                    }
                });
                return;
            }
        }
    }

    /// Runs a job, keeping its outcome unpublished.
    fn run(&mut self, job: Job) {
        // `run_unpublished` catches the closure's panic; what can still unwind
        // is the `Drop` of a cancelled job's closure. The worker survives it.
        self.unpublished = run_quietly(|| job.run_unpublished(Some(&self.shared.stop))).flatten();
        self.may_spin = true;
    }

    /// Publishes the last job's outcome and wakes its waiter; hands back what
    /// the worker still holds. A done callback is run only once the worker
    /// holds nothing: the job it held goes back to the front of the queue, a
    /// looking mark is withdrawn, and either is handed to another worker if
    /// one can take it. Foreign code that unwinds here (a waker, a callback,
    /// the `Drop` of an undelivered value) is caught: the worker goes on.
    fn publish(&mut self, held: Held) -> Held {
        let Some(completion) = self.unpublished.take() else {
            return held;
        };
        let Some(Some(waiter)) = run_quietly(|| completion.publish_deferred()) else {
            return held;
        };
        if !waiter.is_callback() {
            run_quietly(|| waiter.wake());
            return held;
        }
        let shared = &self.shared;
        let wake = {
            let mut state = shared.state.lock();
            let job_waiting = match held {
                Held::Job(job) => {
                    state.queue.push_front(job);
                    shared.sync_queued(&state);
                    true
                }
                // Our mark was unclaimed, or claimed: then a job was left to us.
                Held::Looking => !state.idle.stop_looking() && !state.queue.is_empty(),
                Held::Nothing => false,
            };
            // If no worker can take it now, it waits for this one.
            if job_waiting {
                Shared::dispatch(shared, &mut state).unwrap_or(Wake::Nobody)
            } else {
                Wake::Nobody
            }
        };
        wake.send(shared);
        run_quietly(|| waiter.wake());
        Held::Nothing
    }
}
