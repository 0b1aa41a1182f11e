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
mod stream;
mod unwrap;

#[cfg(all(feature = "std", not(loom)))]
pub use default::{default_executor, run_blocking};
pub use stream::MapStream;
pub use unwrap::{UnwrapFuture, unwrap_future};

use core::fmt;
use core::num::NonZeroUsize;

use crate::error::{Error, SubmitError};
use crate::executor::{Executor, Job};
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
/// | `async for x in map(func, *iterables)`             | [`map(items, f)`](AsyncExecutor::map): a `Stream` in input order     |
/// | `await shutdown(cancel_futures)`                   | [`shutdown(cancel_futures).await`](AsyncExecutor::shutdown)          |
/// | `shutdown_nowait(cancel_futures)`                  | [`shutdown_nowait(cancel_futures)`](AsyncExecutor::shutdown_nowait)  |
/// | `wrapped()`                                        | [`wrapped()`](AsyncExecutor::wrapped)                                |
/// | `async with` → `shutdown()` on exit                | `shutdown(false).await` before the end of the scope (no async drop)  |
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
/// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
///
/// futures::executor::block_on(async {
///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
///     let answer = executor.run(|| 6 * 7).await.unwrap();
///     assert_eq!(answer, 42);
///     executor.shutdown(false).await;
/// });
/// ```
pub struct AsyncExecutor<E: Executor> {
    executor: E,
    #[cfg(feature = "tracing")]
    handle_contexts: bool,
}

impl<E: Executor + Clone> Clone for AsyncExecutor<E> {
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

impl<E: Executor> AsyncExecutor<E> {
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

    /// Runs `f` on the executor and resolves to its result: easynetwork's
    /// `run`. Submission happens now, not at the first poll.
    ///
    /// Dropping the returned future before it resolves cancels the job if it
    /// has not started; if it is running, it finishes and its value is dropped
    /// on the worker. See [`UnwrapFuture`] for explicit cancellation requests.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, Error, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     assert_eq!(executor.run(|| "done").await.unwrap(), "done");
    ///     executor.shutdown_nowait(false);
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
    /// [`UnwrapFuture::request_stop`] while the job runs, the job can see it and
    /// return early.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let wanted = executor.run_with(|token| !token.is_stop_requested()).await.unwrap();
    ///     assert!(wanted);
    /// });
    /// ```
    pub fn run_with<F, T>(&self, f: F) -> UnwrapFuture<T>
    where
        F: FnOnce(&crate::StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let context = self.context();
        self.execute(Job::with_token(move |token: &crate::StopToken<'_>| {
            in_context(context, || f(token))()
        }))
    }

    /// easynetwork's `map`: runs `f` on every item and yields the results in
    /// input order as a [`Stream`](futures_core::Stream); calls may run out of
    /// order. Every item is submitted now; once the stream has been polled,
    /// dropping it cancels the jobs that have not started (see [`MapStream`]).
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let doubled: Vec<u32> =
    ///         executor.map(1..=3, |x| x * 2).unwrap().map(Result::unwrap).collect().await;
    ///     assert_eq!(doubled, [2, 4, 6]);
    /// });
    /// ```
    pub fn map<I, F, T>(
        &self,
        items: I,
        f: F,
    ) -> Result<MapStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapStream::new(self.clone(), items.into_iter(), f, None)
    }

    /// [`map`](AsyncExecutor::map) with at most `buffer_size` jobs submitted
    /// and not yet yielded (Python 3.14's `buffersize`, and the bound of
    /// `MapOptions::buffer_size`): the next
    /// item is submitted as each result is yielded, so an endless iterator
    /// works and at most `buffer_size` calls of `f` run at once.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let first: Vec<u64> = executor
    ///         .map_buffered(0_u64.., |x| x * x, NonZeroUsize::new(2).unwrap())
    ///         .unwrap()
    ///         .take(4)
    ///         .map(Result::unwrap)
    ///         .collect()
    ///         .await;
    ///     assert_eq!(first, [0, 1, 4, 9]);
    /// });
    /// ```
    pub fn map_buffered<I, F, T>(
        &self,
        items: I,
        f: F,
        buffer_size: NonZeroUsize,
    ) -> Result<MapStream<E, I::IntoIter, F, T>, SubmitError>
    where
        E: Clone,
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapStream::new(self.clone(), items.into_iter(), f, Some(buffer_size))
    }

    /// easynetwork's `shutdown`: begins shutdown (cancelling queued jobs with
    /// `cancel_futures`) and resolves once every accepted job has finished and
    /// the executor has stopped. No thread is blocked and no helper thread is
    /// started: this awaits the executor's [`terminated`](Executor::terminated)
    /// future.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let job = executor.run(|| 1);
    ///     executor.shutdown(false).await;
    ///     assert_eq!(job.await.unwrap(), 1); // accepted before shutdown: it ran
    /// });
    /// ```
    pub async fn shutdown(&self, cancel_futures: bool) {
        self.executor.shutdown_nowait(cancel_futures);
        // Completed by the executor; abandoned only if it were dropped, which the
        // borrow of `self` rules out. Either way the wait ends.
        let _ = self.executor.terminated().await;
    }

    /// easynetwork's `shutdown_nowait`: begins shutdown and returns at once.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, Executor, InlineExecutor};
    /// let executor = AsyncExecutor::new(InlineExecutor::new());
    /// executor.shutdown_nowait(true);
    /// assert!(executor.wrapped().is_shutdown());
    /// ```
    pub fn shutdown_nowait(&self, cancel_futures: bool) {
        self.executor.shutdown_nowait(cancel_futures);
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

impl<E: Executor + fmt::Debug> fmt::Debug for AsyncExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExecutor")
            .field("executor", &self.executor)
            .finish()
    }
}
