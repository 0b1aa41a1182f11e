//! The pool's shared state: the bookkeeping under one lock (see the module
//! invariants in `mod.rs`), the dispatch of a job just queued to a free
//! worker, the start of a worker thread, and shutdown.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::builder::Initializer;
use super::idle::{Claim, Idle};
use super::worker::worker_main;
use crate::backoff::Backoff;
use crate::error::{BrokenError, Error};
use crate::executor::lifecycle::{self, BeginShutdown, Latch, Released, run_quietly};
use crate::executor::{CancelFutures, Job};
use crate::promise::StopSignal;
use crate::sync::lock::{Condvar, Mutex, MutexGuard};
use crate::sync::{Arc, AtomicUsize, Ordering, thread};

/// What a pool's handles, workers and helpers share.
pub(super) struct Shared {
    pub(super) state: Mutex<PoolState>,
    pub(super) work_ready: Condvar,
    /// 1 while the queue holds a job, else 0: stored under the lock when that
    /// changes, so that a worker spinning for work can watch it without taking
    /// the lock. Only a hint: the worker pops under the lock.
    pub(super) queued: AtomicUsize,
    /// Raised by `shutdown(CancelFutures::AndStopRunning)`: every job a
    /// worker runs watches it through its token.
    pub(super) stop: StopSignal,
    pub(super) max_workers: usize,
    pub(super) thread_name_prefix: String,
    pub(super) stack_size: Option<usize>,
    pub(super) initializer: Option<Initializer>,
    /// How long an idle worker waits for work before it exits; `None`: for
    /// ever (Python's behaviour).
    pub(super) keep_alive: Option<Duration>,
}

/// The pool's bookkeeping; see the module's invariants.
#[derive(Default)]
pub(super) struct PoolState {
    pub(super) queue: VecDeque<Job>,
    /// Worker threads spawned that serve the pool (not exited or retiring).
    pub(super) workers: usize,
    /// Workers that retired after `keep_alive` idle and have not finished
    /// exiting (their thread-locals are still being destroyed).
    pub(super) retiring: usize,
    /// Threads ever started, for their names.
    pub(super) started: usize,
    /// The workers free to take a job (sleeping, looking, parked helpers)
    /// and the claims on them.
    pub(super) idle: Idle,
    pub(super) shutdown: bool,
    pub(super) broken: Option<BrokenError>,
    pub(super) terminated: Latch,
    /// Every worker thread spawned, until `shutdown` joins it.
    pub(super) handles: Vec<thread::JoinHandle<()>>,
}

/// Whom to wake for a job just queued, once the pool's lock is dropped: the
/// claim [`Shared::dispatch`] made.
#[must_use = "a claimed worker must be woken"]
pub(super) enum Wake {
    /// A claimed looking worker, a new thread, or a busy worker finds it.
    Nobody,
    /// A claimed sleeper or parked helper.
    Claimed(Claim),
}

impl Wake {
    pub(super) fn send(self, shared: &Shared) {
        match self {
            Wake::Nobody | Wake::Claimed(Claim::Looking) => {}
            Wake::Claimed(Claim::Sleeper) => shared.work_ready.notify_one(),
            Wake::Claimed(Claim::Helper(helper)) => helper.unpark(),
        }
    }
}

impl Shared {
    /// A pool with no worker started yet, as configured.
    pub(super) fn new(
        max_workers: usize,
        thread_name_prefix: String,
        stack_size: Option<usize>,
        initializer: Option<Initializer>,
        keep_alive: Option<Duration>,
    ) -> Shared {
        Shared {
            state: Mutex::new(PoolState::default()),
            work_ready: Condvar::new(),
            queued: AtomicUsize::new(0),
            stop: StopSignal::new(),
            max_workers,
            thread_name_prefix,
            stack_size,
            initializer,
            keep_alive,
        }
    }

    /// Mirrors whether the queue is empty into `queued`; call after changing
    /// the queue. Stored only when it changes (the queue became empty, or
    /// stopped being empty), so that a stream of submits into a busy pool does
    /// not write a cache line that spinning workers read.
    pub(super) fn sync_queued(&self, state: &PoolState) {
        let non_empty = usize::from(!state.queue.is_empty());
        // ORDERING: relaxed: a hint for spinning workers, who then take the
        // lock; it is written only under the lock, so the load sees the last
        // store.
        if self.queued.load(Ordering::Relaxed) != non_empty {
            self.queued.store(non_empty, Ordering::Relaxed);
        }
    }

    /// A worker that just ran a job waits a little for the next one before it
    /// sleeps (see [`Backoff`]): waking a sleeping thread costs far more than a
    /// job. Returns when a job is queued or the budget is spent.
    pub(super) fn spin_for_work(&self) {
        let mut backoff = Backoff::new(Backoff::WORKER);
        // ORDERING: relaxed: a hint; the job is popped under the lock.
        while backoff.snooze() && self.queued.load(Ordering::Relaxed) == 0 {}
    }

    /// The sleeping phase's wait: on the condition variable until this
    /// worker may have been claimed (a wake-up counted in `notified`) or the
    /// pool shuts down or breaks, for at most `keep_alive` if set; `true` if
    /// that time passed first. A spurious wake-up sleeps on.
    pub(super) fn wait<'a>(
        &'a self,
        guard: MutexGuard<'a, PoolState>,
    ) -> (MutexGuard<'a, PoolState>, bool) {
        // A `keep_alive` too long to add to now is for ever.
        let deadline = self
            .keep_alive
            .and_then(|idle| std::time::Instant::now().checked_add(idle));
        self.work_ready
            .wait_while_until(&self.state, guard, deadline, |state| {
                !state.idle.is_notified() && !state.shutdown && state.broken.is_none()
            })
    }

    /// Releases the `terminated` futures if the pool is shut down (or broken)
    /// with no worker left; they are completed outside the lock.
    pub(super) fn take_if_terminated(state: &mut PoolState) -> Released {
        let terminated =
            (state.shutdown || state.broken.is_some()) && state.workers == 0 && state.retiring == 0;
        debug_assert!(!terminated || state.queue.is_empty());
        state.terminated.release_if(terminated)
    }

    /// The address that marks this pool's workers (`lifecycle::is_inside`):
    /// stable while any handle or worker holds the state.
    pub(super) fn id(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Finds a worker for a job just queued: wakes a sleeper, claims a looking
    /// worker, starts a thread while there are fewer than `max_workers`, or
    /// else claims a parked helper (a worker whose job waits, with nothing
    /// to run when it looked); if there is none, a busy worker pops it. The
    /// [`Wake`] is to be sent once the lock is dropped. `Err` only when a
    /// thread was to be started, could not be, and no helper was parked.
    pub(super) fn dispatch(
        this: &Arc<Self>,
        state: &mut PoolState,
    ) -> Result<Wake, std::io::ErrorKind> {
        if let Some(claim) = state.idle.claim_worker() {
            // A looking worker that just finished a job will find this one
            // before it sleeps: Python's idle-semaphore reuse, without the
            // race.
            return Ok(Wake::Claimed(claim));
        }
        // A retiring worker's thread is still alive (its thread-locals are
        // being destroyed): it counts against `max_workers`, the most threads
        // alive (Python's word). Its exit guard dispatches what waits.
        let spawned = if state.workers + state.retiring < this.max_workers {
            match Shared::spawn_worker(this, state) {
                Ok(()) => return Ok(Wake::Nobody),
                Err(kind) => Err(kind),
            }
        } else {
            Ok(Wake::Nobody)
        };
        // Every worker is busy (or no thread could start): a worker whose
        // job waits for this one (or for one it will submit) would otherwise
        // wait for a worker that never comes.
        match state.idle.claim_helper() {
            Some(helper) => Ok(Wake::Claimed(helper)),
            None => spawned,
        }
    }

    /// Starts a worker thread, under the lock: the thread is counted and its
    /// handle stored in the same step as it is spawned, so a shutdown never
    /// sees one without the other. A spawn that fails (or panics) changes
    /// nothing.
    pub(super) fn spawn_worker(
        this: &Arc<Self>,
        state: &mut PoolState,
    ) -> Result<(), std::io::ErrorKind> {
        let name = alloc::format!("{}_{}", this.thread_name_prefix, state.started);
        let mut builder = thread::Builder::new().name(name);
        if let Some(bytes) = this.stack_size {
            builder = builder.stack_size(bytes);
        }
        let for_worker = Arc::clone(this);
        match run_quietly(|| builder.spawn(move || worker_main(for_worker))) {
            Some(Ok(handle)) => {
                state.workers += 1;
                state.started += 1;
                state.handles.push(handle);
                debug_assert!(state.workers + state.retiring <= this.max_workers);
                Ok(())
            }
            Some(Err(error)) => Err(error.kind()),
            None => Err(std::io::ErrorKind::Other),
        }
    }

    /// The start phase: runs the initializer. `false` if it failed: the pool
    /// is broken and this worker exits.
    pub(super) fn initialize(&self) -> bool {
        let Some(initializer) = &self.initializer else {
            return true;
        };
        let cause = match catch_unwind(AssertUnwindSafe(initializer)) {
            Ok(Ok(())) => return true,
            Ok(Err(cause)) => cause,
            Err(payload) => {
                let panic = crate::error::Panic::new(payload);
                let message = panic.to_string();
                run_quietly(move || drop(panic));
                Box::<dyn core::error::Error + Send + Sync>::from(alloc::format!(
                    "the initializer panicked: {message}"
                ))
            }
        };
        let (broken, queued) = {
            let mut state = self.state.lock();
            let broken = state
                .broken
                .get_or_insert_with(|| BrokenError::new(cause))
                .clone();
            let queued = core::mem::take(&mut state.queue);
            self.sync_queued(&state);
            (broken, queued)
        };
        // Other workers exit once the queue is empty: wake the sleepers.
        self.work_ready.notify_all();
        lifecycle::finish_each(queued, |job| job.fail(Error::Broken(broken.clone())));
        false
    }
}

impl BeginShutdown for Shared {
    /// `shutdown_nowait`: refuses new jobs, cancels the queued ones if asked,
    /// wakes every sleeper so that idle workers exit.
    fn begin_shutdown(&self, cancel: CancelFutures) {
        let (cancelled, released) = {
            let mut state = self.state.lock();
            state.shutdown = true;
            let cancelled = if cancel.cancels_queued() {
                core::mem::take(&mut state.queue)
            } else {
                VecDeque::new()
            };
            self.sync_queued(&state);
            (cancelled, Shared::take_if_terminated(&mut state))
        };
        if cancel.stops_running() {
            // After the queue is taken: every job a worker took before is
            // running and sees the request at its token's next look, and no
            // job freed by the stop can take a queued one meant to be
            // cancelled (raised before, it could).
            self.stop.request_stop();
        }
        self.work_ready.notify_all();
        lifecycle::cancel_all(cancelled);
        released.complete();
    }
}
