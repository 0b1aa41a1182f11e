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
pub use thread_pool::{BuildError, ThreadPoolBuilder, ThreadPoolExecutor};

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
/// Once either has been called, `execute` and `submit`
/// return [`SubmitError::Shutdown`] (never panic). With `cancel_futures`, every
/// job still queued is cancelled (its future reports
/// [`Error::Cancelled`](crate::Error::Cancelled)); jobs already running finish.
/// [`terminated`](Executor::terminated) gives a future that completes when the
/// executor has shut down and finished every job it accepted, so termination
/// can be awaited without blocking a thread, or waited for with
/// `shutdown` (with `std`).
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
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let mut square = pool.submit(|| 12 * 12).unwrap();
/// assert_eq!(square.wait().unwrap(), 144);
///
/// let cubes: Vec<u64> = pool.map(1..=4_u64, |x| x * x * x).unwrap().map(Result::unwrap).collect();
/// assert_eq!(cubes, [1, 8, 27, 64]);
/// pool.shutdown(false);
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
    /// `shutdown(wait=False)`): no new job is accepted. With
    /// `cancel_futures`, queued jobs are cancelled; running jobs always finish.
    /// Calling it again is harmless (a later `cancel_futures = true` still
    /// cancels what is queued).
    ///
    /// ```
    /// use concurrent_futures::{Executor, InlineExecutor};
    /// let executor = InlineExecutor::new();
    /// executor.shutdown_nowait(false);
    /// assert!(executor.is_shutdown());
    /// ```
    fn shutdown_nowait(&self, cancel_futures: bool);

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
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut terminated = pool.terminated();
    /// pool.shutdown_nowait(false);
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
    /// consumer cancelled, dropped its future, or asked it to stop, and return
    /// early (cooperative cancellation; Rust cannot interrupt a thread).
    ///
    /// ```
    /// use concurrent_futures::{Executor, InlineExecutor};
    /// let executor = InlineExecutor::new();
    /// let mut future = executor.submit_with(|token| token.is_stop_requested()).unwrap();
    /// assert!(!future.try_take().unwrap().unwrap()); // still wanted while it ran
    /// ```
    fn submit_with<F, T>(&self, f: F) -> Result<SharedFuture<T>, SubmitError>
    where
        Self: Sized,
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, future) = Job::with_token(f);
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
    ///     pool.map(words, str::len).unwrap().map(Result::unwrap)
    /// }
    /// assert_eq!(lengths(vec!["a", "bb", "ccc"]).collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    #[cfg(feature = "std")]
    fn map<I, F, T>(&self, items: I, f: F) -> Result<Map<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self.clone(), items.into_iter(), f, MapOptions::new())
    }

    /// [`map`](Executor::map) with options: a bound on the jobs in flight
    /// (Python 3.14's `buffersize`, so an endless iterator works) and an overall
    /// timeout.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let options = MapOptions::new().buffer_size(NonZeroUsize::new(4).unwrap());
    /// let first: Vec<u64> = pool
    ///     .map_with(1_u64.., |x| x * 2, options) // endless input, 4 jobs in flight
    ///     .unwrap()
    ///     .take(5)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(first, [2, 4, 6, 8, 10]);
    /// ```
    #[cfg(feature = "std")]
    fn map_with<I, F, T>(
        &self,
        items: I,
        f: F,
        options: MapOptions,
    ) -> Result<Map<Self, I::IntoIter, F, T>, SubmitError>
    where
        Self: Sized + Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self.clone(), items.into_iter(), f, options)
    }

    /// Python's `shutdown(wait=True, cancel_futures=...)`: begins shutdown and
    /// blocks until [`terminated`](Executor::terminated) completes.
    ///
    /// Called from a job of the same executor (or a done callback it runs), it
    /// would wait for itself: it only begins shutdown and returns (see
    /// [Waiting from inside the executor](Executor#waiting-from-inside-the-executor)).
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let future = pool.submit(|| 1).unwrap();
    /// pool.shutdown(false);
    /// assert!(future.is_done());
    /// ```
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel_futures: bool) {
        self.shutdown_nowait(cancel_futures);
        // The terminated future is completed by the executor, or abandoned if the
        // executor is dropped first; either way the wait ends.
        let _ = self.terminated().wait();
    }
}

impl<E: Executor + ?Sized> Executor for &E {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        (**self).execute(job)
    }
    fn shutdown_nowait(&self, cancel_futures: bool) {
        (**self).shutdown_nowait(cancel_futures)
    }
    fn is_shutdown(&self) -> bool {
        (**self).is_shutdown()
    }
    fn terminated(&self) -> SharedFuture<()> {
        (**self).terminated()
    }
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel_futures: bool) {
        (**self).shutdown(cancel_futures)
    }
}

impl<E: Executor + ?Sized> Executor for alloc::sync::Arc<E> {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        (**self).execute(job)
    }
    fn shutdown_nowait(&self, cancel_futures: bool) {
        (**self).shutdown_nowait(cancel_futures)
    }
    fn is_shutdown(&self) -> bool {
        (**self).is_shutdown()
    }
    fn terminated(&self) -> SharedFuture<()> {
        (**self).terminated()
    }
    #[cfg(feature = "std")]
    fn shutdown(&self, cancel_futures: bool) {
        (**self).shutdown(cancel_futures)
    }
}
