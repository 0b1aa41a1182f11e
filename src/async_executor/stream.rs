//! [`MapStream`]: the ordered result stream of [`AsyncExecutor::map`].

use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::AsyncExecutor;
use crate::error::{Error, SubmitError};
use crate::executor::feed::Feed;
use crate::executor::{Executor, Job};
use crate::future::SharedFuture;
use crate::lease::Lease;

/// The results of [`AsyncExecutor::map`] and `map_with`, in input order, as a
/// [`Stream`](futures_core::Stream) of `Result<T, Error>`.
///
/// Only the front job's waker is registered at any time, so a poll costs
/// O(1).
///
/// # Dropping
///
/// As with easynetwork's async generator: once the stream has been polled,
/// dropping it cancels every job not started yet (running jobs finish and their
/// values are dropped on the workers). A stream that was never polled cancels
/// nothing: every submitted job runs. [`cancel_remaining`](MapStream::cancel_remaining) cancels
/// explicitly. (Dropping an `AsCompletedStream` cancels nothing.)
///
/// ```
/// use concurrent_futures::{AsyncExecutor, InlineExecutor};
/// use futures::StreamExt;
///
/// futures::executor::block_on(async {
///     let inline = InlineExecutor::new(); // not `Clone`: wrapped by reference
///     let executor = AsyncExecutor::new(&inline);
///     let mut results = executor.map(str::to_uppercase, ["a", "b"]).unwrap();
///     assert_eq!(results.next().await.unwrap().unwrap(), "A");
///     assert_eq!(results.next().await.unwrap().unwrap(), "B");
///     assert!(results.next().await.is_none());
/// });
/// ```
#[must_use = "streams do nothing unless polled; once polled, dropping this one cancels the jobs not started"]
pub struct MapStream<E: Executor, I: Iterator, F, T> {
    /// A handle of the executor: the stream owns what it needs, so it can be
    /// returned or moved into a spawned task.
    executor: AsyncExecutor<E>,
    feed: Feed<I, F, T>,
    /// `MapOptions::job_timeout`: each job's deadline, from its submit.
    job_timeout: Option<Duration>,
    /// `MapOptions::timeout`'s deadline, as a timer that wakes the stream.
    #[cfg(feature = "std")]
    deadline: Option<futures_timer::Delay>,
}

impl<E, I, F, T> MapStream<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(super) fn new(
        executor: AsyncExecutor<E>,
        f: F,
        items: I,
        bound: Option<NonZeroUsize>,
        job_timeout: Option<Duration>,
        #[cfg(feature = "std")] timeout: Option<Duration>,
    ) -> Result<Self, SubmitError> {
        let feed = Feed::start(items, f, bound, submitter(&executor, job_timeout))?;
        Ok(MapStream {
            executor,
            feed,
            job_timeout,
            #[cfg(feature = "std")]
            deadline: timeout.map(futures_timer::Delay::new),
        })
    }

    /// Cancels every job not started yet and ends the stream.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let mut results = executor.map(|x| x, 0..1000).unwrap();
    ///     results.cancel_remaining();
    ///     assert!(results.next().await.is_none());
    /// });
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.feed.cancel();
    }
}

/// How the async layer submits an item: `f(item)` in the caller's context,
/// with a deadline `job_timeout` from now if one is given (only with `std`,
/// where `MapOptions` exists).
pub(super) fn submitter<E, Item, F, T>(
    executor: &AsyncExecutor<E>,
    job_timeout: Option<Duration>,
) -> impl FnMut(Item, Lease<F>) -> Result<SharedFuture<T>, SubmitError> + '_
where
    E: Executor,
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    move |item, f| {
        let call = super::in_context(executor.context(), move || f(item));
        let (job, future) = match job_timeout {
            #[cfg(feature = "std")]
            Some(timeout) => {
                Job::with_options(move |_| call(), crate::JobOptions::new().timeout(timeout))
            }
            _ => Job::new(call),
        };
        executor.wrapped().execute(job).map(|()| future)
    }
}

impl<E, I, F, T> futures_core::Stream for MapStream<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `MapStream` is `Unpin`: it holds no self-references.
        let this = self.get_mut();
        // The item owed for the result yielded last (see `Feed::refill`).
        this.feed
            .refill(submitter(&this.executor, this.job_timeout));
        let Some(front) = this.feed.front_mut() else {
            return Poll::Ready(None);
        };
        let outcome = match core::future::Future::poll(Pin::new(front), cx) {
            Poll::Ready(outcome) => outcome,
            #[cfg(feature = "std")]
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|delay| {
                    core::future::Future::poll(Pin::new(delay), cx).is_ready()
                });
                if !expired {
                    return Poll::Pending;
                }
                // As the blocking `Map`: one `Timeout`, the jobs not started
                // cancelled, and the end.
                if let Some(front) = this.feed.pop_front() {
                    front.cancel();
                }
                this.feed.cancel();
                return Poll::Ready(Some(Err(Error::Timeout)));
            }
            #[cfg(not(feature = "std"))]
            Poll::Pending => return Poll::Pending,
        };
        this.feed.pop_front();
        Poll::Ready(Some(outcome))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.feed.size_hint()
    }
}

impl<E: Executor, I: Iterator, F, T> Unpin for MapStream<E, I, F, T> {}

impl<E: Executor, I: Iterator, F, T> fmt::Debug for MapStream<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, more_items) = self.feed.progress();
        f.debug_struct("MapStream")
            .field("in_flight", &in_flight)
            .field("more_items", &more_items)
            .finish()
    }
}
