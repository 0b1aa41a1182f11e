//! [`ThreadPoolExecutor`]: Python's `ThreadPoolExecutor`.
//!
//! # Design
//!
//! One mutex guards the pool's bookkeeping and its FIFO queue; workers sleep on
//! one condition variable. Neither is on the hot path of the futures themselves
//! (those are lock-free), and both come from the sync shim, so the pool's
//! protocols are checked under loom like the rest.
//!
//! ## Invariants (each kept under the lock, in one step)
//!
//! - `workers` counts worker threads that were spawned and have not finished
//!   exiting: it is raised in the same critical section that spawns the thread
//!   and stores its `JoinHandle` (so `shutdown` joins every worker it
//!   counted), and lowered by the worker's exit guard, a thread-local whose
//!   destructor runs after those of any thread-local the jobs set up.
//!   `workers <= max_workers`; a spawn that fails changes no count.
//! - `idle` (the `Idle` type of `idle.rs`, with its own unit tests) counts the
//!   workers free to take a job and the claims on them: `sleeping` workers
//!   inside the condition variable's wait, with `notified <= sleeping`
//!   wake-ups sent and not yet consumed (a woken sleeper consumes one, if any
//!   is outstanding); `looking` workers that finished a job and will look at
//!   the queue again before they sleep, minus the submits that claimed one (a
//!   submit that claims one leaves its job in the queue for it; a worker that
//!   comes back takes one unclaimed mark back if there is one, and if there
//!   is none, its own was claimed and it pops the job left to it); and the
//!   parked helpers, workers whose job waits and that found the queue empty
//!   (`help.rs`), claimed last, once no sleeper, looking worker or new thread
//!   can take the job.
//! - `retiring` counts workers that left `workers` after `keep_alive` idle and
//!   whose exit guard has not run yet; their handles are detached. Their
//!   threads are still alive, so `workers + retiring <= max_workers`: a job
//!   that finds no place waits in the queue, and the exit guard of the
//!   retiring worker dispatches it.
//! - The pool is terminated (the latch is released) exactly when it is shut
//!   down or broken, the queue is empty and `workers == retiring == 0`.
//!
//! ## Phases of a worker
//!
//! - **Start**: arm the exit guard, mark the thread as the pool's, run the
//!   initializer. A failing initializer breaks the pool (Python's
//!   `BrokenThreadPool`): every queued job fails with `Error::Broken`.
//! - **Busy**: pop the next job, publish the previous job's outcome, run the
//!   job. The outcome is written by the job and published only after the
//!   worker took its next job (or counted itself looking), so a caller woken by
//!   the result who submits again finds the worker available (Python's
//!   `test_idle_thread_reuse`, without its race), and the lock is taken once
//!   per job while there is work. A done callback, though, is foreign code that
//!   may block, submit and wait, or shut the pool down: before running one, the
//!   worker puts the job it holds back at the front of the queue (or withdraws
//!   its looking mark) and hands it to another worker if one can take it, so
//!   the callback never delays, hides or holds another job.
//! - **Looking**: the queue is empty. Still counted as looking, the worker
//!   watches `queued` (whether the queue holds a job, mirrored in an atomic)
//!   for a bounded time (`Backoff::WORKER` of elapsed time, less once the core
//!   is contended) before it sleeps: waking a
//!   sleeping thread costs a futex call and, on an idle core, tens of
//!   microseconds. It never spins without having just worked, so an idle pool
//!   uses no CPU.
//! - **Sleeping**: on the condition variable, until a submit or shutdown; with
//!   a `keep_alive`, a worker that sleeps that long without being woken for
//!   work retires (exits), and a later submit starts a new one.
//! - **Exit**: once shut down (or broken) with the queue empty. The exit guard
//!   lowers `workers` and, for the last worker, releases the `terminated`
//!   futures; `shutdown` then also joins the threads, as Python does.
//!
//! Every loop that finishes a batch of jobs (shutdown's cancel, a broken
//! pool's failures) finishes every job whatever one job's closure, value or
//! callback does when dropped or called.

//!
//! ## Files
//!
//! `mod.rs` the handle and its public API; `builder.rs` the configuration;
//! `shared.rs` the bookkeeping under the lock and the dispatch of a job;
//! `idle.rs` the counts of free workers and the claims on them; `worker.rs`
//! a worker's phases; `help.rs` helping.

mod builder;
mod help;
mod idle;
mod shared;
mod worker;

use core::fmt;

use super::lifecycle::{self, BeginShutdown, Handle, run_quietly};
use super::{CancelFutures, Executor, Job};
use crate::error::SubmitError;
use crate::future::SharedFuture;

pub use builder::{BuildError, ThreadPoolBuilder};
pub(crate) use help::Help;
use shared::Shared;

/// A pool of worker threads that run submitted jobs: Python's
/// `concurrent.futures.ThreadPoolExecutor`.
///
/// Threads start lazily, up to `max_workers` (Python's default:
/// `min(32, cores + 4)`); an idle worker is reused before a new thread is
/// started. A panicking job is reported to its waiter as
/// [`Error::Panicked`](crate::Error::Panicked) and the worker keeps serving.
///
/// # Done callbacks and wakers
///
/// A done callback ([`SharedFuture::on_done`]) runs on the worker that
/// finished the job, and may block, submit more jobs and wait for them, or
/// shut the pool down: before running it, the worker hands the job it had
/// taken back to the queue, and the callback is not counted as an available
/// worker. A task's `Waker` or a blocked thread is woken in place, while the
/// worker holds its next job: a `Waker::wake` must not block (no runtime's
/// does), as every executor that wakes tasks assumes.
///
/// # Waiting inside the pool: helping
///
/// Python's documentation shows a deadlock: with `max_workers=1`, a job that
/// submits another job to its own pool and waits for its result waits
/// forever. Here it completes, as in rayon: a blocking wait on one of the
/// pool's workers (`SharedFuture::wait`, `wait_timeout`, `wait_deadline`,
/// `Map::next`, `as_completed`, `wait(..)`, the end of a `scope`) first runs
/// the pool's queued jobs on the waiting thread:
///
/// - the job it waits for first, if it is still queued, then the others in
///   queue order, until its wait is over;
/// - a helped job runs as on any worker: on this thread (its thread-locals),
///   under the pool's stop signal (its `StopToken`), its panic caught into
///   its own future and nothing foreign unwinding into the waiter's frame;
/// - helped jobs nest (a helped job that waits helps in turn) at most 16 deep
///   per worker; deeper, the wait is a plain wait;
/// - when the queue is empty (the awaited job runs on another worker, or is
///   not submitted yet), the waiting worker parks, counted as a free worker:
///   a job queued later, while no other worker is free and no thread can be
///   started, wakes it, and it runs that job (the job it waits for may be
///   submitted by another thread after the wait began, even on a
///   one-worker pool).
///
/// Only the blocking waits above help. An async wait run to completion inside
/// a job (`futures::executor::block_on(executor.run(..))`, or polling a
/// `SharedFuture`, `UnwrapFuture` or stream under any `block_on`) parks the
/// worker in the runtime's own loop, which this pool cannot see: on a pool
/// with no other free worker it waits for ever, as in Python. Inside a job,
/// wait with `SharedFuture::wait` (or `Map`, `as_completed`, `wait`)
/// instead.
///
/// What helping cannot do: a cycle of running jobs that wait on each other,
/// or a chain deeper than the bound with no free worker, still waits for
/// ever, as in Python (a timed wait reports `Error::Timeout`); and a helped
/// job that blocks (on a channel, say) holds the waiter under it until it
/// returns, as in rayon. A job that waits for *another* pool's future does
/// not help it.
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// // Python's deadlock example, with max_workers=1: it completes.
/// let pool = ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
/// let same_pool = pool.clone();
/// let mut outer = pool
///     .submit(move || same_pool.submit(|| 6 * 7).unwrap().wait().unwrap())
///     .unwrap();
/// assert_eq!(outer.wait().unwrap(), 42);
/// ```
///
/// # Cloning and dropping
///
/// A `ThreadPoolExecutor` is a handle: clones share the one pool (a clone is
/// an atomic increment), so a pool can be handed to tasks, threads and
/// iterators that outlive the scope that made it.
///
/// Dropping the last handle begins shutdown without cancelling and without
/// blocking: queued jobs still run, their futures stay valid, and the workers
/// exit when the queue is empty. To wait for them, call
/// [`shutdown`](Executor::shutdown) first, await
/// [`terminated`](Executor::terminated), or run the jobs in a
/// [`scope`](crate::scope), which waits.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(2).thread_name_prefix("demo").build()?;
/// let mut name = pool.submit(|| std::thread::current().name().map(str::to_owned)).unwrap();
/// assert!(name.wait().unwrap().unwrap().starts_with("demo_"));
/// pool.shutdown(concurrent_futures::CancelFutures::No);
/// # Ok::<(), concurrent_futures::BuildError>(())
/// ```
pub struct ThreadPoolExecutor {
    /// The last handle dropped begins shutdown (`lifecycle::Handle`).
    shared: Handle<Shared>,
}

impl ThreadPoolExecutor {
    /// A pool with the default configuration.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::new();
    /// assert!(pool.max_workers() >= 5);
    /// ```
    pub fn new() -> Self {
        ThreadPoolBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a configured pool.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The most threads this pool starts.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().max_workers(7).build().unwrap();
    /// assert_eq!(pool.max_workers(), 7);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// Worker threads alive now.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// assert_eq!(pool.worker_count(), 0); // threads start lazily
    /// pool.submit(|| ()).unwrap().wait().unwrap();
    /// assert_eq!(pool.worker_count(), 1);
    /// ```
    pub fn worker_count(&self) -> usize {
        self.shared.state.lock().workers
    }

    /// `true` when called from one of this pool's worker threads.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// assert!(!pool.is_worker_thread());
    /// let inside = pool.clone(); // a handle: an atomic increment
    /// assert!(pool.submit(move || inside.is_worker_thread()).unwrap().wait().unwrap());
    /// ```
    pub fn is_worker_thread(&self) -> bool {
        lifecycle::is_inside(self.shared.id())
    }

    /// `true` once a worker initializer has failed.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::new();
    /// assert!(!pool.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.shared.state.lock().broken.is_some()
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor for ThreadPoolExecutor {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        let shared = self.shared.state();
        let mut state = shared.state.lock();
        if let Some(broken) = &state.broken {
            return Err(SubmitError::Broken(broken.clone()));
        }
        if state.shutdown {
            return Err(SubmitError::Shutdown);
        }
        state.queue.push_back(job);
        shared.sync_queued(&state);
        match Shared::dispatch(shared, &mut state) {
            Ok(wake) => {
                drop(state);
                wake.send(shared);
                Ok(())
            }
            // The live workers will run it.
            Err(_) if state.workers > 0 => Ok(()),
            Err(kind) => {
                // No worker at all: the queue holds only this job (a pool with
                // no worker is never left with jobs), so it is the last one.
                let job = state.queue.pop_back();
                debug_assert!(state.queue.is_empty());
                shared.sync_queued(&state);
                drop(state);
                // "On `Err` the job was dropped": its future reports Abandoned.
                run_quietly(move || drop(job));
                Err(SubmitError::Spawn(kind))
            }
        }
    }

    fn shutdown_nowait(&self, cancel: CancelFutures) {
        self.shared.begin_shutdown(cancel);
    }

    fn is_shutdown(&self) -> bool {
        self.shared.state.lock().shutdown
    }

    /// Begins shutdown, waits for termination, and joins every worker thread
    /// (Python's `shutdown(wait=True)`), except when called from one of this
    /// pool's own workers (a job, or a done callback that a worker runs): that
    /// worker would wait for itself (Python raises `RuntimeError: cannot join
    /// current thread`), so it only begins shutdown and returns.
    fn shutdown(&self, cancel: CancelFutures) {
        lifecycle::shutdown_and_join(self, cancel, || {
            core::mem::take(&mut self.shared.state.lock().handles)
        });
    }

    /// Completes once the pool is shut down and every worker thread has
    /// exited (its thread-locals destroyed). Made on one of this pool's own
    /// workers, it is already done with [`Error::WouldDeadlock`](crate::Error::WouldDeadlock): that
    /// worker's exit would have to come first.
    fn terminated(&self) -> SharedFuture<()> {
        if lifecycle::is_inside(self.shared.id()) {
            return lifecycle::would_deadlock();
        }
        self.shared.state.lock().terminated.future()
    }
}

impl Clone for ThreadPoolExecutor {
    /// Another handle to the same pool.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let handle = pool.clone();
    /// drop(pool); // not the last handle: the pool goes on
    /// assert_eq!(handle.submit(|| 1).unwrap().wait().unwrap(), 1);
    /// ```
    fn clone(&self) -> Self {
        ThreadPoolExecutor {
            shared: self.shared.clone(),
        }
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("workers", &state.workers)
            .field("queued", &state.queue.len())
            .field("parked_helpers", &state.idle.parked_helpers())
            .field("shutdown", &state.shutdown)
            .field("broken", &state.broken.is_some())
            .finish()
    }
}
