//! [`MapStream`]: the ordered result stream of [`AsyncExecutor::map`].

use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::AsyncExecutor;
use crate::error::{Error, SubmitError};
#[cfg(feature = "std")]
use crate::executor::chunk::{Chunks, Drain, Outcomes};
use crate::executor::feed::Feed;
use crate::executor::{Executor, Job};
use crate::future::SharedFuture;
use crate::lease::Lease;
#[cfg(feature = "std")]
use alloc::{collections::VecDeque, vec::Vec};

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
    mode: Mode<I, F, T>,
    /// `MapOptions::job_timeout`: each job's deadline, from its submit.
    job_timeout: Option<Duration>,
    /// `MapOptions::timeout`'s deadline, as a timer that wakes the stream.
    #[cfg(feature = "std")]
    deadline: Option<futures_timer::Delay>,
}

/// One job per item, or (with `std`) one per chunk of items.
enum Mode<I: Iterator, F, T> {
    Items(Feed<I, F, T>),
    #[cfg(feature = "std")]
    Chunks {
        feed: Feed<Chunks<I>, F, Outcomes<T>>,
        /// The item count of each chunk in `feed`, in order.
        lengths: VecDeque<usize>,
        /// The outcomes of the chunk being yielded.
        current: Drain<T>,
    },
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
        #[cfg(feature = "std")] chunk: usize,
    ) -> Result<Self, SubmitError> {
        #[cfg(feature = "std")]
        let mode = if chunk > 1 {
            let (chunk, bound) = crate::executor::chunk::layout(chunk, bound);
            let mut lengths = VecDeque::new();
            let feed = Feed::start(
                Chunks::new(items, chunk),
                f,
                bound,
                chunk_submitter(&executor, job_timeout, &mut lengths),
            )?;
            Mode::Chunks {
                feed,
                lengths,
                current: Drain::empty(),
            }
        } else {
            Mode::Items(Feed::start(
                items,
                f,
                bound,
                submitter(&executor, job_timeout),
            )?)
        };
        #[cfg(not(feature = "std"))]
        let mode = Mode::Items(Feed::start(
            items,
            f,
            bound,
            submitter(&executor, job_timeout),
        )?);
        Ok(MapStream {
            executor,
            mode,
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
        match &mut self.mode {
            Mode::Items(feed) => feed.cancel(),
            #[cfg(feature = "std")]
            Mode::Chunks {
                feed,
                lengths,
                current,
            } => {
                feed.cancel();
                lengths.clear();
                crate::executor::lifecycle::finish_each(
                    core::mem::replace(current, Drain::empty()),
                    drop,
                );
            }
        }
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

/// How the async layer submits a chunk: one job running the chunk in the
/// caller's context, its length recorded first (as `Executor::map`'s).
#[cfg(feature = "std")]
fn chunk_submitter<'a, E, Item, F, T>(
    executor: &'a AsyncExecutor<E>,
    job_timeout: Option<Duration>,
    lengths: &'a mut VecDeque<usize>,
) -> impl FnMut(Vec<Item>, Lease<F>) -> Result<SharedFuture<Outcomes<T>>, SubmitError> + 'a
where
    E: Executor,
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    move |items, f| {
        lengths.push_back(items.len());
        let (job, future) = chunk_job(executor, items, f, job_timeout);
        executor.wrapped().execute(job).map(|()| future)
    }
}

/// A chunk's job for the async layer: `chunk::run` in the caller's context.
#[cfg(feature = "std")]
pub(super) fn chunk_job<E, Item, F, T>(
    executor: &AsyncExecutor<E>,
    items: Vec<Item>,
    f: Lease<F>,
    job_timeout: Option<Duration>,
) -> (Job, SharedFuture<Outcomes<T>>)
where
    E: Executor,
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let context = executor.context();
    let deadline = crate::executor::chunk::deadline(job_timeout);
    Job::stoppable(move |token| {
        super::in_context(context, move || {
            crate::executor::chunk::run(items, &*f, token, deadline)
        })()
    })
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
        match &mut this.mode {
            Mode::Items(feed) => {
                // The item owed for the result yielded last (see `Feed::refill`).
                feed.refill(submitter(&this.executor, this.job_timeout));
                let Some(front) = feed.front_mut() else {
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
                        // As the blocking `Map`: one `Timeout`, the jobs not
                        // started cancelled, and the end.
                        if let Some(front) = feed.pop_front() {
                            front.cancel();
                        }
                        feed.cancel();
                        return Poll::Ready(Some(Err(Error::Timeout)));
                    }
                    #[cfg(not(feature = "std"))]
                    Poll::Pending => return Poll::Pending,
                };
                feed.pop_front();
                Poll::Ready(Some(outcome))
            }
            #[cfg(feature = "std")]
            Mode::Chunks {
                feed,
                lengths,
                current,
            } => loop {
                if let Some(outcome) = current.next() {
                    return Poll::Ready(Some(outcome));
                }
                // A chunk counts against the bound until its last result is
                // yielded: its replacement is submitted only now.
                feed.refill(chunk_submitter(&this.executor, this.job_timeout, lengths));
                let Some(front) = feed.front_mut() else {
                    return Poll::Ready(None);
                };
                match core::future::Future::poll(Pin::new(front), cx) {
                    Poll::Ready(outcome) => {
                        feed.pop_front();
                        let length = lengths.pop_front().unwrap_or(1);
                        *current = Drain::new(outcome, length);
                    }
                    Poll::Pending => {
                        let expired = this.deadline.as_mut().is_some_and(|delay| {
                            core::future::Future::poll(Pin::new(delay), cx).is_ready()
                        });
                        if !expired {
                            return Poll::Pending;
                        }
                        // As the blocking `Map`'s chunks: the item waited for
                        // reports the timeout, and the end.
                        if let Some(front) = feed.pop_front() {
                            front.cancel();
                        }
                        feed.cancel();
                        lengths.clear();
                        return Poll::Ready(Some(Err(Error::Timeout)));
                    }
                }
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.mode {
            Mode::Items(feed) => feed.size_hint(),
            #[cfg(feature = "std")]
            Mode::Chunks {
                feed,
                lengths,
                current,
            } => {
                let queued = current.len() + lengths.iter().sum::<usize>();
                match feed.items() {
                    None => (queued, Some(queued)),
                    Some(chunks) => {
                        let (low, high) = chunks.items_hint();
                        (
                            low.saturating_add(queued),
                            high.and_then(|high| high.checked_add(queued)),
                        )
                    }
                }
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, T> Unpin for MapStream<E, I, F, T> {}

impl<E: Executor, I: Iterator, F, T> fmt::Debug for MapStream<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, more_items) = match &self.mode {
            Mode::Items(feed) => feed.progress(),
            #[cfg(feature = "std")]
            Mode::Chunks { feed, .. } => feed.progress(),
        };
        f.debug_struct("MapStream")
            .field("in_flight", &in_flight)
            .field("more_items", &more_items)
            .finish()
    }
}
