//! [`ThreadPoolExecutor`]: Python's `ThreadPoolExecutor`.
//!
//! # Design
//!
//! One mutex guards the pool's bookkeeping and its FIFO queue; workers sleep on
//! one condition variable. Neither is on the hot path of the futures themselves
//! (those are lock-free), and both come from the sync shim, so the pool's
//! protocols are checked under loom like the rest.
//!
//! - `submit` pushes the job and then, like Python's `_adjust_thread_count`,
//!   wakes a sleeping worker if one is not already being woken, or else starts
//!   a new worker while there are fewer than `max_workers`. Idle workers are
//!   reused before a thread is spawned; threads start lazily.
//! - `sleeping` counts workers inside `Condvar::wait`; `notified` counts wake-ups
//!   sent to them and not yet consumed; `looking` counts workers that finished a
//!   job and will check the queue again before sleeping. A job is never
//!   stranded: a worker only sleeps after seeing the queue empty under the lock,
//!   and a submit that finds no wake-able sleeper and no looking worker starts a
//!   worker (or leaves the job to the busy ones, which pop until the queue is
//!   empty). The counters only steer spawning; a stale count can cost an extra
//!   thread, never a job.
//! - A worker writes a job's outcome, then takes its next job (or counts itself
//!   as looking), and only then publishes the outcome. A caller woken by the
//!   result who submits again therefore finds the worker available (Python's
//!   `test_idle_thread_reuse`, without Python's race), and the lock is taken once
//!   per job while there is work.
//! - A worker that ran a job and finds the queue empty does not sleep at once:
//!   still counted as looking, it watches `queued` (whether the queue holds a
//!   job, mirrored in an atomic) for a bounded time (`sync::Backoff::WORKER`:
//!   127 spin hints, then 100 `yield_now`s, about 50 µs on a 2-core VM) and
//!   only then takes the lock and sleeps. Waking a sleeping thread costs a
//!   futex call and, on an idle core, tens of microseconds; a caller that
//!   submits one job after another finds the worker awake instead. It never
//!   spins without having just worked, so an idle pool uses no CPU.
//! - Shutdown sets a flag under the lock and wakes every worker; each exits once
//!   the queue is empty. The last worker out completes the `terminated` futures
//!   (so termination can be awaited without blocking a thread);
//!   `shutdown_and_wait` then also joins the threads, as Python does.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::job::Completion;
use super::{Executor, Job};
use crate::error::{BrokenError, Error, SubmitError};
use crate::future::SharedFuture;
use crate::promise::{Promise, complete_all, promise};
use crate::sync::{Arc, AtomicUsize, Backoff, Condvar, Mutex, MutexGuard, Ordering, thread};

// Loom's `thread_local!` does not accept a `const { }` initializer.
#[allow(clippy::missing_const_for_thread_local)]
mod current_pool {
    crate::sync::thread_local! {
        /// The pool a worker thread belongs to (its `Shared` address), or 0.
        pub(super) static CURRENT_POOL: core::cell::Cell<usize> = core::cell::Cell::new(0);
    }
}
use current_pool::CURRENT_POOL;

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
/// # Dropping
///
/// Dropping the pool begins shutdown without cancelling and without blocking:
/// queued jobs still run, their futures stay valid, and the workers exit when
/// the queue is empty. To wait for them, call
/// [`shutdown_and_wait`](Executor::shutdown_and_wait) first, or await
/// [`terminated`](Executor::terminated).
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(2).thread_name_prefix("demo").build()?;
/// let mut name = pool.submit(|| std::thread::current().name().map(str::to_owned)).unwrap();
/// assert!(name.wait().unwrap().unwrap().starts_with("demo_"));
/// pool.shutdown_and_wait(false);
/// # Ok::<(), concurrent_futures::BuildError>(())
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    work_ready: Condvar,
    /// 1 while the queue holds a job, else 0: stored under the lock when that
    /// changes, so that a worker spinning for work can watch it without taking
    /// the lock. Only a hint: the worker pops under the lock.
    queued: AtomicUsize,
    max_workers: usize,
    thread_name_prefix: String,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Live worker threads (started, not yet exited).
    workers: usize,
    /// Threads ever started, for their names.
    started: usize,
    /// Workers inside `Condvar::wait`.
    sleeping: usize,
    /// Wake-ups sent to sleepers and not yet consumed.
    notified: usize,
    /// Workers that just finished a job and will look at the queue again before
    /// sleeping, not yet claimed by a submit.
    looking: usize,
    shutdown: bool,
    broken: Option<BrokenError>,
    terminated: bool,
    on_terminated: Vec<Promise<()>>,
    /// Worker threads to join in `shutdown_and_wait`.
    handles: Vec<thread::JoinHandle<()>>,
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
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
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
    /// `ThreadPoolExecutor`.
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

    /// Builds the pool. No thread starts until the first job is submitted.
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
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                work_ready: Condvar::new(),
                queued: AtomicUsize::new(0),
                max_workers,
                thread_name_prefix: self
                    .thread_name_prefix
                    .unwrap_or_else(|| String::from("ThreadPoolExecutor")),
                stack_size: self.stack_size,
                initializer: self.initializer,
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
        self.shared.lock().workers
    }

    /// `true` when called from one of this pool's worker threads.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// use std::sync::Arc;
    /// let pool = Arc::new(ThreadPoolExecutor::new());
    /// assert!(!pool.is_worker_thread());
    /// let inside = Arc::clone(&pool);
    /// assert!(pool.submit(move || inside.is_worker_thread()).unwrap().wait().unwrap());
    /// ```
    pub fn is_worker_thread(&self) -> bool {
        CURRENT_POOL.with(|pool| pool.get()) == Arc::as_ptr(&self.shared) as usize
    }

    /// `true` once a worker initializer has failed.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::new();
    /// assert!(!pool.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.shared.lock().broken.is_some()
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The pool never runs foreign code while holding the lock, so a poisoned
        // lock still guards consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

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

    fn wait<'a>(&self, guard: MutexGuard<'a, PoolState>) -> MutexGuard<'a, PoolState> {
        self.work_ready
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks the pool terminated if it is shut down (or broken) with no worker
    /// left, handing back the futures to complete (outside the lock).
    fn take_if_terminated(state: &mut PoolState) -> Vec<Promise<()>> {
        if !state.terminated && (state.shutdown || state.broken.is_some()) && state.workers == 0 {
            debug_assert!(state.queue.is_empty());
            state.terminated = true;
            core::mem::take(&mut state.on_terminated)
        } else {
            Vec::new()
        }
    }
}

/// Publishes a job's outcome. Foreign code can unwind out of it (a panicking
/// waker, or the `Drop` of a value nobody waited for); the worker survives it.
fn publish(completion: Option<Completion>) {
    if let Some(completion) = completion {
        let _ = catch_unwind(AssertUnwindSafe(|| completion.publish()));
    }
}

/// The body of a worker thread.
fn worker_main(shared: Arc<Shared>) {
    CURRENT_POOL.with(|pool| pool.set(Arc::as_ptr(&shared) as usize));
    if let Some(initializer) = &shared.initializer {
        let failure = match catch_unwind(AssertUnwindSafe(initializer)) {
            Ok(Ok(())) => None,
            Ok(Err(cause)) => Some(cause),
            Err(payload) => {
                let message = crate::error::Panic::new(payload).to_string();
                Some(Box::<dyn core::error::Error + Send + Sync>::from(
                    alloc::format!("the initializer panicked: {message}"),
                ))
            }
        };
        if let Some(cause) = failure {
            let mut state = shared.lock();
            let broken = state
                .broken
                .get_or_insert_with(|| BrokenError::new(cause))
                .clone();
            let queued = core::mem::take(&mut state.queue);
            shared.sync_queued(&state);
            state.workers -= 1;
            let terminated = Shared::take_if_terminated(&mut state);
            drop(state);
            // Other workers exit once the queue is empty: wake the sleepers.
            shared.work_ready.notify_all();
            for job in queued {
                job.fail(Error::Broken(broken.clone()));
            }
            complete_all(terminated);
            return;
        }
    }

    // The outcome of the last job run, published only once this worker has
    // taken its next job or counted itself as looking for one: whoever the
    // publication wakes, and submits again, finds the worker available instead
    // of starting a new thread. It also keeps the lock to one acquisition per
    // job while the queue is not empty.
    let mut unpublished: Option<Completion> = None;
    // Set by running a job: the worker may then spin a little for the next one
    // before it sleeps. Spinning happens only right after work.
    let mut may_spin = false;
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            shared.sync_queued(&state);
            drop(state);
            publish(unpublished.take());
            // `run_unpublished` catches the closure's panic; what can still
            // unwind is the `Drop` of a cancelled job's closure. The worker
            // survives it and keeps serving.
            unpublished = catch_unwind(AssertUnwindSafe(|| job.run_unpublished())).unwrap_or(None);
            may_spin = true;
            state = shared.lock();
            continue;
        }
        if unpublished.is_some() || may_spin {
            // Counted as looking: a submit meanwhile leaves its job to us.
            state.looking += 1;
            let spin = may_spin && !state.shutdown;
            drop(state);
            publish(unpublished.take());
            if spin {
                shared.spin_for_work();
            }
            may_spin = false;
            state = shared.lock();
            state.looking = state.looking.saturating_sub(1);
            continue;
        }
        if state.shutdown || state.broken.is_some() {
            break;
        }
        state.sleeping += 1;
        state = shared.wait(state);
        state.sleeping -= 1;
        state.notified = state.notified.saturating_sub(1);
    }
    state.workers -= 1;
    let terminated = Shared::take_if_terminated(&mut state);
    drop(state);
    complete_all(terminated);
}

impl Executor for ThreadPoolExecutor {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        let shared = &self.shared;
        let mut state = shared.lock();
        if let Some(broken) = &state.broken {
            return Err(SubmitError::Broken(broken.clone()));
        }
        if state.shutdown {
            return Err(SubmitError::Shutdown);
        }
        state.queue.push_back(job);
        shared.sync_queued(&state);
        if state.sleeping > state.notified {
            state.notified += 1;
            drop(state);
            shared.work_ready.notify_one();
            return Ok(());
        }
        if state.looking > 0 {
            // A worker that just finished a job will find this one before it
            // sleeps: Python's idle-semaphore reuse, without the race.
            state.looking -= 1;
            return Ok(());
        }
        if state.workers >= shared.max_workers {
            // Every worker is busy; one of them will pop the job.
            return Ok(());
        }
        state.workers += 1;
        let index = state.started;
        state.started += 1;
        drop(state);

        let mut builder =
            thread::Builder::new().name(alloc::format!("{}_{index}", shared.thread_name_prefix));
        if let Some(bytes) = shared.stack_size {
            builder = builder.stack_size(bytes);
        }
        let for_worker = Arc::clone(shared);
        match builder.spawn(move || worker_main(for_worker)) {
            Ok(handle) => {
                shared.lock().handles.push(handle);
                Ok(())
            }
            Err(error) => {
                let mut state = shared.lock();
                state.workers -= 1;
                if state.workers > 0 {
                    // The live workers will run the job.
                    return Ok(());
                }
                // Nobody can run what is queued: hand every queued job back as
                // abandoned rather than leave its waiter hanging.
                let stranded = core::mem::take(&mut state.queue);
                shared.sync_queued(&state);
                let terminated = Shared::take_if_terminated(&mut state);
                drop(state);
                drop(stranded);
                complete_all(terminated);
                Err(SubmitError::Spawn(error.kind()))
            }
        }
    }

    fn shutdown(&self, cancel_futures: bool) {
        let mut state = self.shared.lock();
        state.shutdown = true;
        let cancelled = if cancel_futures {
            core::mem::take(&mut state.queue)
        } else {
            VecDeque::new()
        };
        self.shared.sync_queued(&state);
        let terminated = Shared::take_if_terminated(&mut state);
        drop(state);
        self.shared.work_ready.notify_all();
        for job in cancelled {
            job.cancel();
        }
        complete_all(terminated);
    }

    fn is_shutdown(&self) -> bool {
        self.shared.lock().shutdown
    }

    /// Begins shutdown, waits for termination, and joins every worker thread
    /// (Python's `shutdown(wait=True)`), except when called from one of this
    /// pool's own workers: that worker would wait for itself (Python raises
    /// `RuntimeError: cannot join current thread`), so it only begins shutdown.
    fn shutdown_and_wait(&self, cancel_futures: bool) {
        self.shutdown(cancel_futures);
        if self.is_worker_thread() {
            return;
        }
        let _ = self.terminated().wait();
        let handles = core::mem::take(&mut self.shared.lock().handles);
        for handle in handles {
            // A worker catches every panic it can meet, so a join error is not
            // expected; there is nothing to do with one but go on joining.
            let _ = handle.join();
        }
    }

    fn terminated(&self) -> SharedFuture<()> {
        let (producer, future) = promise();
        let mut state = self.shared.lock();
        if state.terminated {
            drop(state);
            let _ = producer.set_result(());
        } else {
            state.on_terminated.push(producer);
        }
        future
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("workers", &state.workers)
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .field("broken", &state.broken.is_some())
            .finish()
    }
}
