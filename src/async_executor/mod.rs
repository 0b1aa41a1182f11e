//! The async layer: easynetwork's `AsyncExecutor` and `unwrap_future`.
//!
//! Runtime-agnostic: these futures and streams are driven only by the `Waker`s
//! their runtime passes in, and the executor's workers wake them through the
//! core's waiter slot. They work under tokio, smol, async-std and
//! `futures::executor` alike; no runtime is a dependency, and no helper thread
//! is ever started (shutdown is awaited through the executor's `terminated`
//! future).

#[cfg(all(feature = "std", not(loom)))]
mod default;
#[cfg(feature = "std")]
mod fan_in;
mod stream;
#[cfg(feature = "std")]
mod unordered;
mod unwrap;

#[cfg(all(feature = "std", not(loom)))]
pub use default::{default_executor, run_blocking};
#[cfg(feature = "std")]
pub use fan_in::{AsCompletedStream, as_completed, wait};
pub use stream::MapStream;
#[cfg(feature = "std")]
pub use unordered::MapUnorderedStream;
pub use unwrap::{UnwrapFuture, unwrap_future};

use core::fmt;

use crate::error::{Error, SubmitError};
use crate::executor::{CancelFutures, Executor, Job};
use crate::future::SharedFuture;
use crate::promise;

/// easynetwork's `AsyncExecutor`: awaits work handed to an [`Executor`].
///
/// | Python (`AsyncExecutor(executor)`)                 | Rust                                                                 |
/// |----------------------------------------------------|----------------------------------------------------------------------|
/// | `await run(func, *args)`                           | [`run(f).await`](AsyncExecutor::run) → `Result<T, Error>`            |
/// | `RuntimeError` when the executor is shut down      | `Err(Error::Shutdown)`                                               |
/// | `CancelledError` when a shutdown cancelled the job | `Err(Error::Cancelled)`                                              |
/// | the exception `func` raised                        | `Err(Error::Panicked(..))`                                           |
/// | the awaiting task is cancelled → `future.cancel()` | dropping the `run` future cancels the job if it has not started       |
/// | `async for x in map(func, *iterables)`             | [`map(f, items)`](AsyncExecutor::map): a `Stream` in input order     |
/// | `await shutdown(cancel_futures)`                   | [`shutdown(CancelFutures::Yes).await`](AsyncExecutor::shutdown) (or `No`, or `AndStopRunning`) |
/// | `shutdown_nowait(cancel_futures)`                  | [`shutdown_nowait(CancelFutures::..)`](AsyncExecutor::shutdown_nowait) |
/// | `wrapped()`                                        | [`wrapped()`](AsyncExecutor::wrapped)                                |
/// | `async with` → `shutdown()` on exit                | `shutdown(CancelFutures::No).await` before the end of the scope (no async drop) |
/// | `handle_contexts=True`                             | with the `tracing` feature, the caller's span is entered in the job  |
///
/// # Dropping
///
/// Dropping an `AsyncExecutor` drops the executor it wraps, and nothing else:
/// for a `ThreadPoolExecutor` that begins shutdown
/// without waiting (queued jobs still run). Await
/// [`shutdown`](AsyncExecutor::shutdown) first to wait for them.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{AsyncExecutor, CancelFutures, ThreadPoolExecutor};
///
/// futures::executor::block_on(async {
///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
///     let answer = executor.run(|| 6 * 7).await.unwrap();
///     assert_eq!(answer, 42);
///     executor.shutdown(CancelFutures::No).await;
/// });
/// ```
pub struct AsyncExecutor<E> {
    executor: E,
    #[cfg(feature = "tracing")]
    handle_contexts: bool,
}

impl<E: Clone> Clone for AsyncExecutor<E> {
    /// Another handle to the same executor (for a `ThreadPoolExecutor`, an
    /// atomic increment): hand one to each task instead of an `Arc`.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    /// let for_task = executor.clone();
    /// let answer = std::thread::spawn(move || futures::executor::block_on(for_task.run(|| 42)));
    /// assert_eq!(answer.join().unwrap().unwrap(), 42);
    /// ```
    fn clone(&self) -> Self {
        AsyncExecutor {
            executor: self.executor.clone(),
            #[cfg(feature = "tracing")]
            handle_contexts: self.handle_contexts,
        }
    }
}

impl<E> AsyncExecutor<E> {
    /// Wraps `executor`.
    ///
    /// ```
    /// let executor = concurrent_futures::AsyncExecutor::new(concurrent_futures::InlineExecutor::new());
    /// # drop(executor);
    /// ```
    pub fn new(executor: E) -> Self {
        AsyncExecutor {
            executor,
            #[cfg(feature = "tracing")]
            handle_contexts: true,
        }
    }

    /// Whether jobs run inside the caller's current `tracing::Span` (Python's
    /// `handle_contexts`). On by default.
    ///
    /// ```
    /// let executor = concurrent_futures::AsyncExecutor::new(concurrent_futures::InlineExecutor::new())
    ///     .handle_contexts(false);
    /// # drop(executor);
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn handle_contexts(mut self, enabled: bool) -> Self {
        self.handle_contexts = enabled;
        self
    }

    /// What a job carries from the caller into the worker.
    #[cfg(feature = "tracing")]
    fn context(&self) -> CallerContext {
        self.handle_contexts.then(tracing::Span::current)
    }

    #[cfg(not(feature = "tracing"))]
    fn context(&self) -> CallerContext {
        CallerContext
    }

    /// easynetwork's `wrapped`: the executor.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// let executor = AsyncExecutor::new(ThreadPoolExecutor::builder().max_workers(3).build().unwrap());
    /// assert_eq!(executor.wrapped().max_workers(), 3);
    /// ```
    pub fn wrapped(&self) -> &E {
        &self.executor
    }

    /// Unwraps the executor.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, InlineExecutor};
    /// let executor: InlineExecutor = AsyncExecutor::new(InlineExecutor::new()).into_inner();
    /// # drop(executor);
    /// ```
    pub fn into_inner(self) -> E {
        self.executor
    }
}

impl<E: Executor> AsyncExecutor<E> {
    /// Runs `f` on the executor and resolves to its result: easynetwork's
    /// `run`. Submission happens now, not at the first poll.
    ///
    /// Dropping the returned future before it resolves cancels the job if it
    /// has not started; if it is running, it finishes and its value is dropped
    /// on the worker. See [`UnwrapFuture`] for explicit cancellation requests.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, Error, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     assert_eq!(executor.run(|| "done").await.unwrap(), "done");
    ///     executor.shutdown_nowait(CancelFutures::No);
    ///     assert!(matches!(executor.run(|| "late").await, Err(Error::Shutdown)));
    /// });
    /// ```
    pub fn run<F, T>(&self, f: F) -> UnwrapFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.execute(Job::new(in_context(self.context(), f)))
    }

    /// Hands `job` to the executor and wraps its future.
    fn execute<T>(&self, (job, future): (Job, SharedFuture<T>)) -> UnwrapFuture<T> {
        match self.executor.execute(job) {
            Ok(()) => unwrap_future(future),
            // The job was dropped, so `future` is already abandoned; report why.
            Err(error) => unwrap_future(promise::failed(Error::from(error))),
        }
    }

    /// Like [`run`](AsyncExecutor::run), for a closure that takes a
    /// [`StopToken`](crate::StopToken): if the awaiting task drops the
    /// returned future, or requests cancellation with
    /// [`UnwrapFuture::request_stop`] while the job runs, or the executor is
    /// shut down with [`CancelFutures::AndStopRunning`](crate::CancelFutures),
    /// the job can see it and return early.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let wanted = executor.run_stoppable(|token| !token.is_stop_requested()).await.unwrap();
    ///     assert!(wanted);
    /// });
    /// ```
    pub fn run_stoppable<F, T>(&self, f: F) -> UnwrapFuture<T>
    where
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let context = self.context();
        self.execute(Job::stoppable(move |token: &crate::StopToken<'_>| {
            in_context(context, || f(token))()
        }))
    }

    /// [`run_stoppable`](AsyncExecutor::run_stoppable) with
    /// [`JobOptions`](crate::JobOptions): a deadline of the job's own, what
    /// easynetwork's users write as `asyncio.timeout` around `run`. Past it
    /// the job's token reports a stop request, a job not started is skipped,
    /// and a value returned later is dropped: the future resolves to
    /// [`Error::Timeout`] once the job returns (see
    /// [`Executor::submit_with`]; to release the task at the deadline whatever
    /// the job does, put your runtime's timeout around the await as well:
    /// dropping the future requests the stop).
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::{AsyncExecutor, Error, JobOptions, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let options = JobOptions::new().timeout(Duration::from_millis(20));
    ///     let outcome = executor
    ///         .run_with(
    ///             |token| {
    ///                 while !token.is_stop_requested() {
    ///                     std::hint::spin_loop();
    ///                 }
    ///             },
    ///             options,
    ///         )
    ///         .await;
    ///     assert!(matches!(outcome, Err(Error::Timeout)));
    /// });
    /// ```
    #[cfg(feature = "std")]
    pub fn run_with<F, T>(&self, f: F, options: crate::JobOptions) -> UnwrapFuture<T>
    where
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let context = self.context();
        self.execute(Job::with_options(
            move |token: &crate::StopToken<'_>| in_context(context, || f(token))(),
            options,
        ))
    }

    /// easynetwork's `map`: runs `f` on every item and yields the results in
    /// input order as a [`Stream`](futures_core::Stream); calls may run out of
    /// order. Every item is submitted now; once the stream has been polled,
    /// dropping it cancels the jobs that have not started (see [`MapStream`]).
    ///
    /// # Errors
    ///
    /// As `Executor::map`: the executor's refusal of the first items.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let doubled: Vec<u32> =
    ///         executor.map(|x| x * 2, 1..=3).unwrap().map(Result::unwrap).collect().await;
    ///     assert_eq!(doubled, [2, 4, 6]);
    /// });
    /// ```
    pub fn map<F, I, T>(
        &self,
        f: F,
        items: I,
    ) -> Result<MapStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapStream::new(
            self.clone(),
            f,
            items.into_iter(),
            None,
            None,
            #[cfg(feature = "std")]
            None,
            #[cfg(feature = "std")]
            1,
        )
    }

    /// [`map`](AsyncExecutor::map) with [`MapOptions`](crate::MapOptions),
    /// as [`Executor::map_with`]: at most `buffer_size` jobs submitted and
    /// not yet yielded (Python 3.14's `buffersize`: the next item is submitted
    /// as each result is yielded, so an endless iterator works), and an
    /// overall `timeout`, after which the stream yields [`Error::Timeout`],
    /// cancels the jobs not started and ends (a timer wakes it: the
    /// `futures-timer` crate's thread, started on first use). With a chunk size,
    /// one job runs that many items and the stream still yields one result
    /// per item, in input order (see
    /// [`MapOptions::chunk_size`](crate::MapOptions::chunk_size)).
    ///
    /// # Errors
    ///
    /// As [`Executor::map`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{AsyncExecutor, MapOptions, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let two_in_flight = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
    ///     let first: Vec<u64> = executor
    ///         .map_with(|x| x * x, 0_u64.., two_in_flight)
    ///         .unwrap()
    ///         .take(4)
    ///         .map(Result::unwrap)
    ///         .collect()
    ///         .await;
    ///     assert_eq!(first, [0, 1, 4, 9]);
    /// });
    /// ```
    #[cfg(feature = "std")]
    pub fn map_with<F, I, T>(
        &self,
        f: F,
        items: I,
        options: crate::MapOptions,
    ) -> Result<MapStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapStream::new(
            self.clone(),
            f,
            items.into_iter(),
            options.buffer_size,
            options.job_timeout,
            options.timeout,
            options.chunk(),
        )
    }

    /// Python's `multiprocessing.Pool.imap_unordered(func, iterable)`,
    /// awaited: runs `f` on every item and yields `(index, Result<T, Error>)`
    /// as each job finishes, `index` being the item's position in the input,
    /// as a [`Stream`](futures_core::Stream). Every item is submitted now;
    /// once the stream has been polled, dropping it cancels the jobs not
    /// started (see [`MapUnorderedStream`]).
    ///
    /// # Errors
    ///
    /// As [`Executor::map_unordered`]: the executor's refusal of the first
    /// items; later, each item yields `Ok(value)` or the job's [`Error`].
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let mut doubled: Vec<(usize, u32)> = executor
    ///         .map_unordered(|x| x * 2, 1..=3)
    ///         .unwrap()
    ///         .map(|(index, value)| (index, value.unwrap()))
    ///         .collect()
    ///         .await;
    ///     doubled.sort();
    ///     assert_eq!(doubled, [(0, 2), (1, 4), (2, 6)]);
    /// });
    /// ```
    #[cfg(feature = "std")]
    pub fn map_unordered<F, I, T>(
        &self,
        f: F,
        items: I,
    ) -> Result<MapUnorderedStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnorderedStream::new(self.clone(), f, items.into_iter(), crate::MapOptions::new())
    }

    /// [`map_unordered`](AsyncExecutor::map_unordered) with
    /// [`MapOptions`](crate::MapOptions), as
    /// [`Executor::map_unordered_with`]: at most `buffer_size` jobs submitted
    /// and not yet yielded; an overall `timeout` from this call, after which,
    /// if nothing finished, the stream yields one `Err(Error::Timeout)` (for
    /// the lowest input index not yielded), cancels the jobs not started and
    /// ends (woken by the `futures-timer` thread); `job_timeout` per job;
    /// `chunk_size` items a job, each still yielded as its own
    /// `(index, outcome)` (see
    /// [`MapOptions::chunk_size`](crate::MapOptions::chunk_size)).
    ///
    /// # Errors
    ///
    /// As [`Executor::map_unordered`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{AsyncExecutor, MapOptions, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let two_in_flight = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
    ///     let count = executor
    ///         .map_unordered_with(|x: u64| x * x, 0_u64.., two_in_flight)
    ///         .unwrap()
    ///         .take(4)
    ///         .count()
    ///         .await;
    ///     assert_eq!(count, 4);
    /// });
    /// ```
    #[cfg(feature = "std")]
    pub fn map_unordered_with<F, I, T>(
        &self,
        f: F,
        items: I,
        options: crate::MapOptions,
    ) -> Result<MapUnorderedStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnorderedStream::new(self.clone(), f, items.into_iter(), options)
    }

    /// easynetwork's `shutdown`: begins shutdown (see
    /// [`Executor::shutdown_nowait`] for what `cancel` does) and resolves once
    /// every accepted job has finished and the executor has stopped. No thread
    /// is blocked and no helper thread is started: this awaits the executor's
    /// [`terminated`](Executor::terminated) future.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let job = executor.run(|| 1);
    ///     executor.shutdown(CancelFutures::No).await;
    ///     assert_eq!(job.await.unwrap(), 1); // accepted before shutdown: it ran
    /// });
    /// ```
    pub async fn shutdown(&self, cancel: CancelFutures) {
        self.executor.shutdown_nowait(cancel);
        // Completed by the executor; abandoned only if it were dropped, which the
        // borrow of `self` rules out. Either way the wait ends.
        let _ = self.executor.terminated().await;
    }

    /// easynetwork's `shutdown_nowait`: begins shutdown and returns at once.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, Executor, InlineExecutor};
    /// let executor = AsyncExecutor::new(InlineExecutor::new());
    /// executor.shutdown_nowait(CancelFutures::Yes);
    /// assert!(executor.wrapped().is_shutdown());
    /// ```
    pub fn shutdown_nowait(&self, cancel: CancelFutures) {
        self.executor.shutdown_nowait(cancel);
    }
}

/// The caller's context a job runs in: its `tracing` span, if enabled.
#[cfg(feature = "tracing")]
type CallerContext = Option<tracing::Span>;
/// Without `tracing` there is no context to carry.
#[cfg(not(feature = "tracing"))]
struct CallerContext;

/// Runs `f` inside the caller's context. A free function, so that the closure
/// it returns does not capture the executor's type.
#[cfg(feature = "tracing")]
fn in_context<F: FnOnce() -> T, T>(context: CallerContext, f: F) -> impl FnOnce() -> T {
    move || match context {
        Some(span) => span.in_scope(f),
        None => f(),
    }
}

#[cfg(not(feature = "tracing"))]
fn in_context<F: FnOnce() -> T, T>(_: CallerContext, f: F) -> F {
    f
}

impl<E: fmt::Debug> fmt::Debug for AsyncExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExecutor")
            .field("executor", &self.executor)
            .finish()
    }
}
