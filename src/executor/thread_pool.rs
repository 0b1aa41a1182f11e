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
//! - `sleeping` counts workers inside `Condvar::wait`; `notified <= sleeping`
//!   counts wake-ups sent to them and not yet consumed (a woken sleeper consumes
//!   one, if any is outstanding).
//! - `looking` counts workers that finished a job and will look at the queue
//!   again before they sleep, minus the submits that claimed one of them (a
//!   submit that claims one leaves its job in the queue for it). A worker that
//!   comes back takes one unclaimed mark back if there is one; if there is none,
//!   its own was claimed, and it pops the job left to it.
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

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::lifecycle::{self, BeginShutdown, Handle, Latch, Released, run_quietly};
use super::{CancelFutures, Executor, Job};
use crate::backoff::Backoff;
use crate::error::{BrokenError, Error, SubmitError};
use crate::future::SharedFuture;
use crate::job::Completion;
use crate::promise::StopSignal;
use crate::sync::lock::{Condvar, Mutex, MutexGuard};
use crate::sync::{Arc, AtomicUsize, Ordering, thread};

// Loom's `thread_local!` does not accept a `const { }` initializer.
#[allow(clippy::missing_const_for_thread_local)]
mod worker_locals {
    crate::sync::thread_local! {
        /// The worker's exit guard: armed first thing in the thread, so that
        /// its destructor runs after those of the thread-locals that jobs set
        /// up (thread-local destructors run in reverse order of registration).
        pub(super) static EXIT_GUARD: core::cell::RefCell<Option<super::ExitGuard>> =
            core::cell::RefCell::new(None);
        /// The pool whose queue this worker helps with while a job of it
        /// waits (see `help_while`).
        pub(super) static HELPING: core::cell::RefCell<Option<crate::sync::Arc<super::Shared>>> =
            core::cell::RefCell::new(None);
        /// How many helped jobs are running on this thread, nested.
        pub(super) static HELP_DEPTH: core::cell::Cell<usize> = core::cell::Cell::new(0);
    }
}
use worker_locals::{EXIT_GUARD, HELP_DEPTH, HELPING};

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
/// `PoolState::helpers`) before it parks: a submit that finds no other free
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
                    state.helpers.remove(&me);
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
                    state.helpers.park(me.clone());
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
            if state.helpers.remove(&me) || state.queue.is_empty() || state.broken.is_some() {
                Wake::Nobody
            } else {
                Shared::dispatch(shared, &mut state).unwrap_or(Wake::Nobody)
            }
        };
        wake.send(shared);
    }
}

type Initializer =
    Box<dyn Fn() -> Result<(), Box<dyn core::error::Error + Send + Sync>> + Send + Sync>;

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

struct Shared {
    state: Mutex<PoolState>,
    work_ready: Condvar,
    /// 1 while the queue holds a job, else 0: stored under the lock when that
    /// changes, so that a worker spinning for work can watch it without taking
    /// the lock. Only a hint: the worker pops under the lock.
    queued: AtomicUsize,
    /// Raised by `shutdown(CancelFutures::AndStopRunning)`: every job a
    /// worker runs watches it through its token.
    stop: StopSignal,
    max_workers: usize,
    thread_name_prefix: String,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
    /// How long an idle worker waits for work before it exits; `None`: for
    /// ever (Python's behaviour).
    keep_alive: Option<Duration>,
}

/// The pool's bookkeeping; see the module's invariants.
#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Worker threads spawned that serve the pool (not exited or retiring).
    workers: usize,
    /// Workers that retired after `keep_alive` idle and have not finished
    /// exiting (their thread-locals are still being destroyed).
    retiring: usize,
    /// Threads ever started, for their names.
    started: usize,
    /// Workers inside `Condvar::wait`.
    sleeping: usize,
    /// Wake-ups sent to sleepers and not yet consumed.
    notified: usize,
    /// Workers that will look at the queue again before sleeping, not yet
    /// claimed by a submit.
    looking: usize,
    /// Workers whose job waits (helping) and that found nothing to run, not
    /// yet claimed by a submit.
    helpers: ParkedHelpers,
    shutdown: bool,
    broken: Option<BrokenError>,
    terminated: Latch,
    /// Every worker thread spawned, until `shutdown` joins it.
    handles: Vec<thread::JoinHandle<()>>,
}

/// The pool's parked helpers (see [`Help`]): each a worker thread whose job
/// waits and that found the queue empty when it last looked, counted until it
/// looks again, its wait ends, or a submit claims it.
#[derive(Default)]
struct ParkedHelpers(Vec<thread::Thread>);

impl ParkedHelpers {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// Counts `helper` (not counted yet: a helper withdraws before it looks).
    fn park(&mut self, helper: thread::Thread) {
        debug_assert!(!self.0.iter().any(|parked| parked.id() == helper.id()));
        self.0.push(helper);
    }

    /// Withdraws `helper`; `false` if a submit had claimed it.
    fn remove(&mut self, helper: &thread::Thread) -> bool {
        match self.0.iter().position(|parked| parked.id() == helper.id()) {
            Some(at) => {
                self.0.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// Claims one helper for a job just queued (the last one parked).
    fn claim(&mut self) -> Option<thread::Thread> {
        self.0.pop()
    }
}

/// Whom to wake for a job just queued, once the pool's lock is dropped: the
/// claim [`Shared::dispatch`] made.
#[must_use = "a claimed worker must be woken"]
enum Wake {
    /// A claimed looking worker, a new thread, or a busy worker finds it.
    Nobody,
    /// One sleeper on `work_ready` (counted in `notified`).
    Sleeper,
    /// A parked helper, claimed (out of `helpers`): unpark it.
    Helper(thread::Thread),
}

impl Wake {
    fn send(self, shared: &Shared) {
        match self {
            Wake::Nobody => {}
            Wake::Sleeper => shared.work_ready.notify_one(),
            Wake::Helper(helper) => helper.unpark(),
        }
    }
}

/// Why a [`ThreadPoolBuilder`] could not build a pool.
///
/// ```
/// use concurrent_futures::{BuildError, ThreadPoolExecutor};
/// let error = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(error, BuildError::ZeroWorkers);
/// assert_eq!(error.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers` was 0: Python's `ValueError`.
    ZeroWorkers,
    /// The thread name prefix contains a NUL byte, which no thread name may
    /// hold (std would panic when starting the first worker).
    ///
    /// ```
    /// use concurrent_futures::{BuildError, ThreadPoolExecutor};
    /// let error = ThreadPoolExecutor::builder().thread_name_prefix("a\0").build().unwrap_err();
    /// assert_eq!(error, BuildError::InvalidThreadName);
    /// ```
    InvalidThreadName,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
            BuildError::InvalidThreadName => {
                f.write_str("the thread name prefix must not contain a NUL byte")
            }
        }
    }
}

impl core::error::Error for BuildError {}

/// Configures a [`ThreadPoolExecutor`].
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("io")
///     .stack_size(256 * 1024)
///     .initializer(|| Ok::<(), std::io::Error>(()))
///     .build()
///     .unwrap();
/// # drop(pool);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Default)]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
    keep_alive: Option<Duration>,
}

impl ThreadPoolBuilder {
    /// The most threads the pool starts. Default: `min(32, cores + 4)`, as in
    /// Python. Zero is refused by [`build`](Self::build).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
    /// assert_eq!(pool.max_workers(), 1);
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// Worker threads are named `{prefix}_{n}`. Default prefix:
    /// `ThreadPoolExecutor`. A prefix holding a NUL byte is refused by
    /// [`build`](Self::build) with [`BuildError::InvalidThreadName`].
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().thread_name_prefix("db").build();
    /// # drop(pool);
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// The stack size of worker threads, in bytes (default: std's).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().stack_size(1 << 20).build();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs in each worker thread before it takes any job. If it fails (returns
    /// `Err` or panics), the pool becomes broken, as Python's
    /// `BrokenThreadPool`: queued jobs fail with
    /// [`Error::Broken`](crate::Error::Broken) and later submits are refused
    /// with [`SubmitError::Broken`].
    ///
    /// ```
    /// use std::cell::Cell;
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// thread_local!(static READY: Cell<bool> = const { Cell::new(false) });
    /// let pool = ThreadPoolExecutor::builder()
    ///     .initializer(|| {
    ///         READY.set(true);
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(pool.submit(|| READY.get()).unwrap().wait().unwrap());
    /// ```
    pub fn initializer<F, E>(mut self, initializer: F) -> Self
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: Into<Box<dyn core::error::Error + Send + Sync>>,
    {
        self.initializer = Some(Box::new(move || initializer().map_err(Into::into)));
        self
    }

    /// Lets a worker that has been idle for `idle` (a duration; a worker is
    /// idle while it sleeps for want of work) exit; the pool starts a new one
    /// when work comes again. Off by default, as in Python, where threads live
    /// until shutdown (tokio's blocking pool keeps idle threads 10 s,
    /// `blocking` 500 ms). A retired worker's thread-locals are destroyed when
    /// it exits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder()
    ///     .keep_alive(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn keep_alive(mut self, idle: Duration) -> Self {
        self.keep_alive = Some(idle);
        self
    }

    /// Builds the pool. No thread starts until the first job is submitted.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`,
    /// [`BuildError::InvalidThreadName`] for a prefix holding a NUL byte.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => default_max_workers(),
        };
        if self
            .thread_name_prefix
            .as_ref()
            .is_some_and(|prefix| prefix.contains('\0'))
        {
            return Err(BuildError::InvalidThreadName);
        }
        Ok(ThreadPoolExecutor {
            shared: Handle::new(Shared {
                state: Mutex::new(PoolState::default()),
                work_ready: Condvar::new(),
                queued: AtomicUsize::new(0),
                stop: StopSignal::new(),
                max_workers,
                thread_name_prefix: self
                    .thread_name_prefix
                    .unwrap_or_else(|| String::from("ThreadPoolExecutor")),
                stack_size: self.stack_size,
                initializer: self.initializer,
                keep_alive: self.keep_alive,
            }),
        })
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("stack_size", &self.stack_size)
            .field("initializer", &self.initializer.is_some())
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
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

impl Shared {
    /// Mirrors whether the queue is empty into `queued`; call after changing
    /// the queue. Stored only when it changes (the queue became empty, or
    /// stopped being empty), so that a stream of submits into a busy pool does
    /// not write a cache line that spinning workers read.
    fn sync_queued(&self, state: &PoolState) {
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
    fn spin_for_work(&self) {
        let mut backoff = Backoff::new(Backoff::WORKER);
        // ORDERING: relaxed: a hint; the job is popped under the lock.
        while backoff.snooze() && self.queued.load(Ordering::Relaxed) == 0 {}
    }

    /// The sleeping phase's wait: on the condition variable until this
    /// worker may have been claimed (a wake-up counted in `notified`) or the
    /// pool shuts down or breaks, for at most `keep_alive` if set; `true` if
    /// that time passed first. A spurious wake-up sleeps on.
    fn wait<'a>(&'a self, guard: MutexGuard<'a, PoolState>) -> (MutexGuard<'a, PoolState>, bool) {
        // A `keep_alive` too long to add to now is for ever.
        let deadline = self
            .keep_alive
            .and_then(|idle| std::time::Instant::now().checked_add(idle));
        self.work_ready
            .wait_while_until(&self.state, guard, deadline, |state| {
                state.notified == 0 && !state.shutdown && state.broken.is_none()
            })
    }

    /// Releases the `terminated` futures if the pool is shut down (or broken)
    /// with no worker left; they are completed outside the lock.
    fn take_if_terminated(state: &mut PoolState) -> Released {
        let terminated =
            (state.shutdown || state.broken.is_some()) && state.workers == 0 && state.retiring == 0;
        debug_assert!(!terminated || state.queue.is_empty());
        state.terminated.release_if(terminated)
    }

    /// The address that marks this pool's workers (`lifecycle::is_inside`):
    /// stable while any handle or worker holds the state.
    fn id(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Finds a worker for a job just queued: wakes a sleeper, claims a looking
    /// worker, starts a thread while there are fewer than `max_workers`, or
    /// else claims a parked helper (a worker whose job waits, with nothing
    /// to run when it looked); if there is none, a busy worker pops it. The
    /// [`Wake`] is to be sent once the lock is dropped. `Err` only when a
    /// thread was to be started, could not be, and no helper was parked.
    fn dispatch(this: &Arc<Self>, state: &mut PoolState) -> Result<Wake, std::io::ErrorKind> {
        if state.sleeping > state.notified {
            state.notified += 1;
            return Ok(Wake::Sleeper);
        }
        if state.looking > 0 {
            // A worker that just finished a job will find this one before it
            // sleeps: Python's idle-semaphore reuse, without the race.
            state.looking -= 1;
            return Ok(Wake::Nobody);
        }
        // A retiring worker's thread is still alive (its thread-locals are
        // being destroyed): it counts against `max_workers`, the most threads
        // alive (Python's word). Its exit guard dispatches what waits.
        let spawned = if state.workers + state.retiring < this.max_workers {
            Some(Shared::spawn_worker(this, state))
        } else {
            None
        };
        match spawned {
            Some(Ok(())) => Ok(Wake::Nobody),
            // Every worker is busy (or no thread could start): a worker whose
            // job waits for this one (or for one it will submit) would
            // otherwise wait for a worker that never comes.
            _ if !state.helpers.is_empty() => {
                Ok(state.helpers.claim().map_or(Wake::Nobody, Wake::Helper))
            }
            Some(Err(kind)) => Err(kind),
            None => Ok(Wake::Nobody),
        }
    }

    /// Starts a worker thread, under the lock: the thread is counted and its
    /// handle stored in the same step as it is spawned, so a shutdown never
    /// sees one without the other. A spawn that fails (or panics) changes
    /// nothing.
    fn spawn_worker(this: &Arc<Self>, state: &mut PoolState) -> Result<(), std::io::ErrorKind> {
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
    fn initialize(&self) -> bool {
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
fn worker_main(shared: Arc<Shared>) {
    EXIT_GUARD.with(|guard| {
        *guard.borrow_mut() = Some(ExitGuard {
            shared: Some(Arc::clone(&shared)),
            retired: false,
        });
    });
    lifecycle::enter_for_life(shared.id());
    HELPING.with(|helping| *helping.borrow_mut() = Some(Arc::clone(&shared)));
    if shared.initialize() {
        Worker {
            shared,
            unpublished: None,
            may_spin: false,
        }
        .serve();
    }
    // Dropped here, not by the thread-local's destructor: the pool's last
    // reference may be this one, and its drop belongs before the exit guard.
    let _ = HELPING.try_with(|helping| helping.borrow_mut().take());
}

/// What a worker holds while it publishes the previous job's outcome.
enum Held {
    /// The next job, popped from the queue and not started.
    Job(Job),
    /// A looking mark (`PoolState::looking`).
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
                state.looking += 1;
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
                    if state.looking > 0 {
                        state.looking -= 1;
                    }
                }
                continue;
            }
            // Exit.
            if state.shutdown || state.broken.is_some() {
                return;
            }
            // Sleeping.
            state.sleeping += 1;
            let (guard, idle_too_long) = shared.wait(state);
            state = guard;
            state.sleeping -= 1;
            if state.notified > 0 {
                state.notified -= 1;
            } else if idle_too_long && state.queue.is_empty() && !state.shutdown {
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
            debug_assert!(state.notified <= state.sleeping);
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
                Held::Looking if state.looking > 0 => {
                    state.looking -= 1;
                    false
                }
                // Our mark was claimed: a job was left to us.
                Held::Looking => !state.queue.is_empty(),
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
    /// workers, it is already done with [`Error::WouldDeadlock`]: that
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
            .field("parked_helpers", &state.helpers.len())
            .field("shutdown", &state.shutdown)
            .field("broken", &state.broken.is_some())
            .finish()
    }
}
