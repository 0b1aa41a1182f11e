//! Executors: Python's `concurrent.futures.Executor`.
//!
//! - [`Executor`]: the trait. An executor runs type-erased [`Job`]s; the provided
//!   [`submit`](Executor::submit) makes a job and its [`SharedFuture`] in one
//!   allocation.
//! - [`Job`]: a closure and the producer of its future.
//! - [`InlineExecutor`]: runs each job on the submitting thread (`no_std`).
//! - `ThreadPoolExecutor` (`std`): Python's `ThreadPoolExecutor`.
//! - `Map` (`std`): the blocking iterator of `Executor::map`.
//! - `RayonExecutor` (feature `rayon`) and `TokioBlockingExecutor` (feature
//!   `tokio`): adapters that give existing pools Python's lifecycle.

#[cfg(any(feature = "rayon", feature = "tokio"))]
mod adapter;
#[cfg(feature = "std")]
pub(crate) mod chunk;
mod error;
pub(crate) mod feed;
mod inline;
pub(crate) mod lifecycle;
#[cfg(feature = "std")]
mod map;
#[cfg(feature = "std")]
mod scope;
#[cfg(feature = "std")]
mod thread_pool;
#[cfg(feature = "std")]
mod unordered;

pub use crate::job::Job;
#[cfg(feature = "rayon")]
pub use adapter::RayonExecutor;
#[cfg(feature = "tokio")]
pub use adapter::TokioBlockingExecutor;
#[cfg(feature = "std")]
pub use error::BrokenError;
pub use error::SubmitError;
pub use inline::InlineExecutor;
#[cfg(feature = "std")]
pub use map::{Map, MapOptions};
#[cfg(feature = "std")]
pub use scope::{Scope, ScopeError, scope};
#[cfg(feature = "std")]
pub(crate) use thread_pool::Help;
#[cfg(feature = "std")]
pub use thread_pool::{BuildError, ThreadPoolBuilder, ThreadPoolExecutor};
#[cfg(feature = "std")]
pub use unordered::MapUnordered;

use crate::future::SharedFuture;

/// Something that runs jobs: Python's `concurrent.futures.Executor`.
///
/// Implementors provide [`execute`](Executor::execute) and the lifecycle
/// (`shutdown_nowait`, `is_shutdown`, `terminated`); `submit`, `map` and the
/// blocking `shutdown` are provided.
///
/// # Lifecycle (Python's `shutdown(wait, cancel_futures)`)
///
/// `shutdown` (with `std`) waits, as Python's `shutdown(wait=True)`;
/// [`shutdown_nowait`](Executor::shutdown_nowait) returns at once, as
/// easynetwork's (the same pair as [`AsyncExecutor`](crate::AsyncExecutor)'s).
/// Both take a [`CancelFutures`], Python's `cancel_futures` named at the call
/// site. Once either has been called, `execute` and `submit` return
/// [`SubmitError::Shutdown`] (never panic). With [`CancelFutures::Yes`],
/// every job still queued is cancelled (its future reports
/// [`Error::Cancelled`](crate::Error::Cancelled)); jobs already running
/// finish. [`CancelFutures::AndStopRunning`] also asks every running job to
/// stop: its [`StopToken`](crate::StopToken) reports a stop request (Rust
/// cannot interrupt a thread, and neither can Python; a job that looks at its
/// token returns early). [`terminated`](Executor::terminated) gives a future
/// that completes when the executor has shut down and finished every job it
/// accepted, so termination can be awaited without blocking a thread, or
/// waited for with `shutdown` (with `std`).
///
/// # Waiting from inside the executor
///
/// A job of the executor, or a done callback that the executor's thread runs,
/// cannot wait for the executor's termination: termination waits for that very
/// job. Every executor here detects it, on every path, instead of hanging:
///
/// - `shutdown` begins shutdown and
///   returns at once (Python raises `RuntimeError: cannot join current thread`);
/// - [`terminated`](Executor::terminated) returns a future already done with
///   [`Error::WouldDeadlock`](crate::Error::WouldDeadlock), so `wait()` on it,
///   and `AsyncExecutor::shutdown().await`, return at once.
///
/// An implementor of this trait should do the same.
///
/// # Contract for implementors
///
/// Every job passed to `execute` must eventually be run, cancelled or dropped
/// (its future then reports a value or panic, `Cancelled`, or `Abandoned`). On
/// `Err`, `execute` drops the job.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{CancelFutures, Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let mut square = pool.submit(|| 12 * 12).unwrap();
/// assert_eq!(square.wait().unwrap(), 144);
///
/// let cubes: Vec<u64> = pool.map(|x| x * x * x, 1..=4_u64).unwrap().map(Result::unwrap).collect();
/// assert_eq!(cubes, [1, 8, 27, 64]);
/// pool.shutdown(CancelFutures::No);
/// ```
pub trait Executor {
    /// Accepts a job to run later. On `Err` the job was dropped without running.
    ///
    /// ```
    /// use concurrent_futures::{Executor, InlineExecutor, Job};
    /// let (job, mut future) = Job::new(|| 5);
    /// InlineExecutor::new().execute(job).unwrap();
    /// assert_eq!(future.try_take().unwrap().unwrap(), 5);
    /// ```
    fn execute(&self, job: Job) -> Result<(), SubmitError>;

    /// easynetwork's `shutdown_nowait`: begins shutdown without blocking (Python's
    /// `shutdown(wait=False, cancel_futures=..)`): no new job is accepted.
    /// With [`CancelFutures::Yes`], queued jobs are cancelled; with
    /// [`CancelFutures::AndStopRunning`], also every running job's
    /// [`StopToken`](crate::StopToken) reports a stop request. Calling it again
    /// is harmless, and a later call may go further (`Yes` after `No` still
    /// cancels what is queued).
    ///
    /// ```
    /// use concurrent_futures::{CancelFutures, Executor, InlineExecutor};
    /// let executor = InlineExecutor::new();
    /// executor.shutdown_nowait(CancelFutures::No);
    /// assert!(executor.is_shutdown());
    /// ```
    fn shutdown_nowait(&self, cancel: CancelFutures);

    /// `true` once shutdown has begun.
    ///
    /// ```
    /// use concurrent_futures::{Executor, InlineExecutor};
    /// assert!(!InlineExecutor::new().is_shutdown());
    /// ```
    fn is_shutdown(&self) -> bool;

    /// A future that completes once shutdown has begun and every accepted job has
    /// finished (and, for a thread pool, every worker has stopped). Each call
    /// returns a new future; await it, or `wait()` on it.
    ///
    /// Made inside one of the executor's own jobs or callbacks, it is already
    /// done with [`Error::WouldDeadlock`](crate::Error::WouldDeadlock) (see
    /// [Waiting from inside the executor](Executor#waiting-from-inside-the-executor)).
    ///
    /// ```
    /// use concurrent_futures::{CancelFutures, Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut terminated = pool.terminated();
    /// pool.shutdown_nowait(CancelFutures::No);
    /// terminated.wait().unwrap();
    /// ```
    fn terminated(&self) -> SharedFuture<()>;

    /// Submits `f` and returns the future of its result: Python's `submit`. The
    /// job and its future are one allocation.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut future = pool.submit(|| "hello from a worker").unwrap();
    /// assert_eq!(future.wait().unwrap(), "hello from a worker");
    /// ```
    fn submit<F, T>(&self, f: F) -> Result<SharedFuture<T>, SubmitError>
    where
        Self: Sized,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, future) = Job::new(f);
        self.execute(job)?;
        Ok(future)
    }

    /// Like [`submit`](Executor::submit), for a closure that takes a
    /// [`StopToken`](crate::StopToken): while it runs, it can see that its
    /// consumer cancelled, dropped its future, or asked it to stop, or that
    /// the executor was shut down with [`CancelFutures::AndStopRunning`], and
    /// return early (cooperative cancellation; Rust cannot interrupt a thread).
    ///
    /// # Errors
    ///
    /// As [`submit`](Executor::submit): the executor's [`SubmitError`].
    ///
    /// ```
    /// use concurrent_futures::{Executor, InlineExecutor};
    /// let executor = InlineExecutor::new();
    /// let mut future = executor.submit_stoppable(|token| token.is_stop_requested()).unwrap();
    /// assert!(!future.try_take().unwrap().unwrap()); // still wanted while it ran
    /// ```
    fn submit_stoppable<F, T>(&self, f: F) -> Result<SharedFuture<T>, SubmitError>
    where
        Self: Sized,
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, future) = Job::stoppable(f);
        self.execute(job)?;
        Ok(future)
    }

    /// [`submit_stoppable`](Executor::submit_stoppable) with [`JobOptions`]:
    /// a deadline of the job's own (Python has none; easynetwork's users put
    /// `asyncio.timeout` around each `run`). Past the deadline the job's
    /// token reports a stop request, a job not started yet is skipped, and a
    /// value returned after it is dropped: the future reports
    /// [`Error::Timeout`](crate::Error::Timeout). Rust cannot interrupt a
    /// thread: a waiter is released when the job returns, at once if it looks
    /// at its token (for a bound on the wait whatever the job does, wait with
    /// [`SharedFuture::wait_deadline`] at the same deadline).
    ///
    /// # Errors
    ///
    /// As [`submit`](Executor::submit): the executor's [`SubmitError`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::{Error, Executor, JobOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let per_file = JobOptions::new().timeout(Duration::from_millis(50));
    /// let mut slow = pool
    ///     .submit_with(
    ///         |token| {
    ///             while !token.is_stop_requested() {
    ///                 std::hint::spin_loop(); // hashing a file that never ends
    ///             }
    ///             "partial"
    ///         },
    ///         per_file,
    ///     )
    ///     .unwrap();
    /// assert!(matches!(slow.wait(), Err(Error::Timeout)));
    /// ```
    #[cfg(feature = "std")]
    fn submit_with<F, T>(&self, f: F, options: JobOptions) -> Result<SharedFuture<T>, SubmitError>
    where
        Self: Sized,
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, future) = Job::with_options(f, options);
        self.execute(job)?;
        Ok(future)
    }

    /// Python's `map`: runs `f` on every item, possibly out of order, and yields
    /// the results in input order. Every item is submitted now; see
    /// [`map_with`](Executor::map_with) to bound the jobs in flight or set a
    /// timeout. Once iteration has begun, dropping the iterator cancels the
    /// jobs that have not started (one never advanced cancels nothing, as
    /// Python's generator; see [`Map`]).
    ///
    /// The iterator holds a clone of the executor handle (for a
    /// `ThreadPoolExecutor` or an `Arc<E>`, an atomic increment), so it can be
    /// returned from a function or sent to another thread, as Python's is. An
    /// executor that is not `Clone` (`InlineExecutor`) maps through a
    /// reference with [`Map::new`]`(&executor, ..)`.
    ///
    /// # Errors
    ///
    /// The executor's refusal of the first items ([`SubmitError`]); the jobs
    /// already submitted are cancelled. Each item yields `Ok(value)` or the
    /// job's [`Error`](crate::Error) (`Panicked`, `Cancelled` after a shutdown
    /// with `cancel_futures`, a later refusal as `Shutdown`).
    ///
    /// ```
    /// use concurrent_futures::{Executor, Map, ThreadPoolExecutor};
    ///
    /// // A helper that makes its own pool and returns the lazy results.
    /// fn lengths(words: Vec<&'static str>) -> impl Iterator<Item = usize> {
    ///     let pool = ThreadPoolExecutor::new();
    ///     pool.map(str::len, words).unwrap().map(Result::unwrap)
    /// }
    /// assert_eq!(lengths(vec!["a", "bb", "ccc"]).collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    #[cfg(feature = "std")]
    fn map<F, I, T>(&self, f: F, items: I) -> Result<Map<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self.clone(), f, items, MapOptions::new())
    }

    /// [`map`](Executor::map) with [`MapOptions`]: a bound on the jobs in
    /// flight (Python 3.14's `buffersize`, so an endless iterator works) and an
    /// overall timeout, and a chunk size: [`MapOptions::chunk_size`] items a
    /// job, results still yielded per item in input order (Python's
    /// `ThreadPoolExecutor.map` ignores `chunksize`; here it is honoured).
    ///
    /// # Errors
    ///
    /// As [`map`](Executor::map).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let options = MapOptions::new().buffer_size(NonZeroUsize::new(4).unwrap());
    /// let first: Vec<u64> = pool
    ///     .map_with(|x| x * 2, 1_u64.., options) // endless input, 4 jobs in flight
    ///     .unwrap()
    ///     .take(5)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(first, [2, 4, 6, 8, 10]);
    /// ```
    #[cfg(feature = "std")]
    fn map_with<F, I, T>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<Map<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self.clone(), f, items, options)
    }

    /// Python's `multiprocessing.Pool.imap_unordered(func, iterable)`: runs
    /// `f` on every item and yields `(index, Result<T, Error>)` as each job
    /// finishes, `index` being the item's position in the input. Every item
    /// is submitted now; see [`map_unordered_with`](Executor::map_unordered_with)
    /// to bound the jobs in flight or set a timeout. Dropping the iterator
    /// once iteration has begun cancels the jobs not started (see
    /// [`MapUnordered`]).
    ///
    /// # Errors
    ///
    /// The executor's refusal of the first items ([`SubmitError`]); the jobs
    /// already submitted are cancelled. Each item yields `Ok(value)` or the
    /// job's [`Error`](crate::Error) (`Panicked`, `Cancelled` after a
    /// shutdown with `cancel_futures`, a later refusal as `Shutdown` with
    /// the refused item's index, after which nothing more is submitted).
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let mut lengths: Vec<(usize, usize)> = pool
    ///     .map_unordered(str::len, ["a", "bb", "ccc"])
    ///     .unwrap()
    ///     .map(|(index, length)| (index, length.unwrap()))
    ///     .collect();
    /// lengths.sort();
    /// assert_eq!(lengths, [(0, 1), (1, 2), (2, 3)]);
    /// ```
    #[cfg(feature = "std")]
    fn map_unordered<F, I, T>(
        &self,
        f: F,
        items: I,
    ) -> Result<MapUnordered<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnordered::new(self.clone(), f, items, MapOptions::new())
    }

    /// [`map_unordered`](Executor::map_unordered) with [`MapOptions`]:
    /// `buffer_size` bounds the jobs submitted and not yet yielded (the next
    /// item is submitted once a result was yielded, so an endless input
    /// works); `timeout`, counted from this call, ends the map with one
    /// `Err(Error::Timeout)` (for the lowest input index not yielded) when
    /// nothing finished by then, cancelling the jobs not started, as
    /// [`Map`] does; `job_timeout` as for `map_with`; `chunk_size` items a
    /// job, each item still yielded as its own `(index, outcome)` once its
    /// chunk is done (see [`MapOptions::chunk_size`]; Python's thread pool
    /// ignores `chunksize`).
    ///
    /// # Errors
    ///
    /// As [`map_unordered`](Executor::map_unordered).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let options = MapOptions::new().buffer_size(NonZeroUsize::new(4).unwrap());
    /// let firsts = pool
    ///     .map_unordered_with(|x: u64| x * 2, 0_u64.., options) // endless input, 4 in flight
    ///     .unwrap()
    ///     .take(5)
    ///     .count();
    /// assert_eq!(firsts, 5);
    /// ```
    #[cfg(feature = "std")]
    fn map_unordered_with<F, I, T>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnordered::new(self.clone(), f, items, options)
    }

    /// Python's `shutdown(wait=True, cancel_futures=..)`: begins shutdown (see
    /// [`shutdown_nowait`](Executor::shutdown_nowait) for what `cancel` does)
    /// and blocks until [`terminated`](Executor::terminated) completes.
    ///
    /// Called from a job of the same executor (or a done callback it runs), it
    /// would wait for itself: it only begins shutdown and returns (see
    /// [Waiting from inside the executor](Executor#waiting-from-inside-the-executor)).
    ///
    /// ```
    /// use concurrent_futures::{CancelFutures, Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let future = pool.submit(|| 1).unwrap();
    /// pool.shutdown(CancelFutures::No); // waits: the queued job still runs
    /// assert!(future.is_done());
    /// ```
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel: CancelFutures) {
        self.shutdown_nowait(cancel);
        // The terminated future is completed by the executor, or abandoned if the
        // executor is dropped first; either way the wait ends.
        let _ = self.terminated().wait();
    }
}

/// What a shutdown does to the jobs it finds: Python's `cancel_futures`, named
/// where the choice is made (`shutdown(CancelFutures::No)` cannot be misread
/// as Python's `shutdown(wait=False)`), plus a stop request for running jobs.
///
/// Every variant refuses new jobs ([`SubmitError::Shutdown`]); whether the
/// call waits is the method's choice (`shutdown` waits, `shutdown_nowait`
/// does not).
///
/// ```
/// use concurrent_futures::{CancelFutures, Executor, ThreadPoolExecutor};
///
/// // A Ctrl-C handler: cancel the queue, ask every running job to stop, wait.
/// let pool = ThreadPoolExecutor::new();
/// let (started, is_started) = std::sync::mpsc::channel();
/// let mut job = pool
///     .submit_stoppable(move |token| {
///         started.send(()).unwrap();
///         while !token.is_stop_requested() {
///             std::hint::spin_loop();
///         }
///         "stopped early"
///     })
///     .unwrap();
/// is_started.recv().unwrap(); // running, so not cancelled: asked to stop
/// pool.shutdown(CancelFutures::AndStopRunning);
/// assert_eq!(job.wait().unwrap(), "stopped early");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelFutures {
    /// Python's `cancel_futures=False`: queued jobs still run, running jobs
    /// finish.
    No,
    /// Python's `cancel_futures=True`: queued jobs are cancelled (their
    /// futures report [`Error::Cancelled`](crate::Error::Cancelled)); running
    /// jobs finish.
    Yes,
    /// As `Yes`, and every running job's [`StopToken`](crate::StopToken)
    /// reports a stop request (a job that looks at it can return early; one
    /// that does not runs to the end). For the process pool, whose jobs have
    /// no token, the running jobs' worker processes get `SIGTERM` (see its
    /// docs).
    AndStopRunning,
}

impl CancelFutures {
    /// `true` for `Yes` and `AndStopRunning`: queued jobs are cancelled.
    ///
    /// ```
    /// use concurrent_futures::CancelFutures;
    /// assert!(CancelFutures::Yes.cancels_queued());
    /// assert!(!CancelFutures::No.cancels_queued());
    /// ```
    pub fn cancels_queued(self) -> bool {
        !matches!(self, CancelFutures::No)
    }

    /// `true` for `AndStopRunning`: running jobs are asked to stop.
    ///
    /// ```
    /// use concurrent_futures::CancelFutures;
    /// assert!(CancelFutures::AndStopRunning.stops_running());
    /// assert!(!CancelFutures::Yes.stops_running());
    /// ```
    pub fn stops_running(self) -> bool {
        matches!(self, CancelFutures::AndStopRunning)
    }
}

/// Options of one job ([`Executor::submit_with`],
/// [`AsyncExecutor::run_with`](crate::AsyncExecutor::run_with)): a deadline of
/// its own. Python has none; see `submit_with` for what a deadline does.
///
/// ```
/// use std::time::{Duration, Instant};
/// use concurrent_futures::JobOptions;
/// let by_duration = JobOptions::new().timeout(Duration::from_secs(5));
/// let by_instant = JobOptions::new().deadline(Instant::now() + Duration::from_secs(5));
/// assert_ne!(by_duration, JobOptions::new());
/// # let _ = by_instant;
/// ```
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct JobOptions {
    deadline: Option<std::time::Instant>,
}

#[cfg(feature = "std")]
impl JobOptions {
    /// No deadline.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::JobOptions::new(), concurrent_futures::JobOptions::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A deadline `timeout` from now (from this call, not from the submit).
    /// A timeout too large for the clock means no deadline.
    ///
    /// ```
    /// let options = concurrent_futures::JobOptions::new().timeout(std::time::Duration::from_millis(250));
    /// # let _ = options;
    /// ```
    pub fn timeout(mut self, timeout: core::time::Duration) -> Self {
        self.deadline = std::time::Instant::now().checked_add(timeout);
        self
    }

    /// A deadline at `deadline`.
    ///
    /// ```
    /// let options = concurrent_futures::JobOptions::new().deadline(std::time::Instant::now());
    /// # let _ = options;
    /// ```
    pub fn deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The deadline, if one was set.
    pub(crate) fn until(&self) -> Option<std::time::Instant> {
        self.deadline
    }
}

impl<E: Executor + ?Sized> Executor for &E {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        (**self).execute(job)
    }
    fn shutdown_nowait(&self, cancel: CancelFutures) {
        (**self).shutdown_nowait(cancel)
    }
    fn is_shutdown(&self) -> bool {
        (**self).is_shutdown()
    }
    fn terminated(&self) -> SharedFuture<()> {
        (**self).terminated()
    }
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel: CancelFutures) {
        (**self).shutdown(cancel)
    }
}

impl<E: Executor + ?Sized> Executor for alloc::sync::Arc<E> {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        (**self).execute(job)
    }
    fn shutdown_nowait(&self, cancel: CancelFutures) {
        (**self).shutdown_nowait(cancel)
    }
    fn is_shutdown(&self) -> bool {
        (**self).is_shutdown()
    }
    fn terminated(&self) -> SharedFuture<()> {
        (**self).terminated()
    }
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel: CancelFutures) {
        (**self).shutdown(cancel)
    }
}
