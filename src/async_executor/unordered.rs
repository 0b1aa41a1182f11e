//! [`MapUnorderedStream`]: the stream of [`AsyncExecutor::map_unordered`],
//! results in completion order, on `futures_util`'s `FuturesUnordered` (a
//! completion wakes only its own entry: O(1) per result, no rescans).

use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use futures_timer::Delay;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::AsyncExecutor;
use super::stream::submitter;
use crate::error::{Error, SubmitError};
use crate::executor::Executor;
use crate::future::SharedFuture;
use crate::lease::Lender;

/// The results of [`AsyncExecutor::map_unordered`] and `map_unordered_with`
/// as they finish, as a [`Stream`](futures_core::Stream) of
/// `(index, Result<T, Error>)`, `index` being the item's position in the
/// input: Python's `multiprocessing.Pool.imap_unordered`, awaited, with a
/// bound.
///
/// # Dropping
///
/// As [`MapStream`](super::MapStream): once the stream has been polled,
/// dropping it cancels every job not started yet (running jobs finish and
/// their values are dropped on the workers); one never polled cancels
/// nothing. [`cancel_remaining`](MapUnorderedStream::cancel_remaining)
/// cancels explicitly. (Dropping an [`AsCompletedStream`](super::AsCompletedStream)
/// cancels nothing.)
///
/// ```
/// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
/// use futures::StreamExt;
///
/// futures::executor::block_on(async {
///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
///     let mut squares = vec![0; 4];
///     let mut results = executor.map_unordered(|x: u64| x * x, 0..4).unwrap();
///     while let Some((index, square)) = results.next().await {
///         squares[index] = square.unwrap();
///     }
///     assert_eq!(squares, [0, 1, 4, 9]);
/// });
/// ```
#[must_use = "streams do nothing unless polled; once polled, dropping this one cancels the jobs not started"]
pub struct MapUnorderedStream<E: Executor, I: Iterator, F, T> {
    executor: AsyncExecutor<E>,
    /// Items not submitted yet; `None` once exhausted, refused or cancelled.
    items: Option<I>,
    f: Lender<F>,
    running: FuturesUnordered<Indexed<T>>,
    next_index: usize,
    bound: Option<NonZeroUsize>,
    /// A result was yielded and its replacement is not submitted yet.
    refill_owed: bool,
    /// Polled once: dropping from now on cancels.
    started: bool,
    job_timeout: Option<Duration>,
    /// `MapOptions::timeout`'s deadline, from the call.
    deadline: Option<Delay>,
}

/// A job's future with its input index.
struct Indexed<T> {
    index: usize,
    future: SharedFuture<T>,
}

impl<T> Future for Indexed<T> {
    type Output = (usize, Result<T, Error>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut this.future)
            .poll(cx)
            .map(|outcome| (this.index, outcome))
    }
}

impl<E, I, F, T> MapUnorderedStream<E, I, F, T>
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
        options: crate::MapOptions,
    ) -> Result<Self, SubmitError> {
        let mut stream = MapUnorderedStream {
            executor,
            items: Some(items),
            f: Lender::new(f),
            running: FuturesUnordered::new(),
            next_index: 0,
            bound: options.buffer_size,
            refill_owed: false,
            started: false,
            job_timeout: options.job_timeout,
            deadline: options.timeout.map(Delay::new),
        };
        let limit = stream.bound.map_or(usize::MAX, NonZeroUsize::get);
        while stream.running.len() < limit {
            match stream.submit_next() {
                Some(Ok(())) => {}
                None => break,
                Some(Err((_, error))) => {
                    stream.cancel_remaining();
                    return Err(error);
                }
            }
        }
        Ok(stream)
    }

    /// Cancels every job not started yet and ends the stream; running jobs
    /// finish and their values are dropped on the workers.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let mut results = executor.map_unordered(|x| x, 0..1000).unwrap();
    ///     results.cancel_remaining();
    ///     assert!(results.next().await.is_none());
    /// });
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.cancel();
    }

    /// Submits the next item, if there is one; a refusal comes back with the
    /// item's index and ends the input.
    fn submit_next(&mut self) -> Option<Result<(), (usize, SubmitError)>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        let index = self.next_index;
        self.next_index += 1;
        let lease = self.f.lend();
        match submitter(&self.executor, self.job_timeout)(item, lease) {
            Ok(future) => {
                self.running.push(Indexed { index, future });
                Some(Ok(()))
            }
            Err(error) => {
                self.items = None;
                Some(Err((index, error)))
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, T> MapUnorderedStream<E, I, F, T> {
    fn cancel(&mut self) {
        self.items = None;
        self.deadline = None;
        let running = core::mem::take(&mut self.running);
        crate::executor::lifecycle::finish_each(running, |job| {
            job.future.cancel();
        });
    }
}

impl<E, I, F, T> futures_core::Stream for MapUnorderedStream<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = (usize, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.started = true;
        // The item owed for the result yielded last: a result counts against
        // the bound until it is yielded (as `MapStream`).
        if core::mem::take(&mut this.refill_owed) {
            if let Some(Err((index, error))) = this.submit_next() {
                return Poll::Ready(Some((index, Err(Error::from(error)))));
            }
        }
        if this.running.is_empty() {
            return Poll::Ready(None);
        }
        match this.running.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                this.refill_owed = this.bound.is_some();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|delay| Pin::new(delay).poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                // As the blocking `MapUnordered`: one `Timeout`, for the
                // lowest input index not yielded, the jobs not started
                // cancelled, and the end.
                let index = this
                    .running
                    .iter()
                    .map(|job| job.index)
                    .min()
                    .expect("a job is in flight");
                this.cancel();
                Poll::Ready(Some((index, Err(Error::Timeout))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let queued = self.running.len();
        match &self.items {
            None => (queued, Some(queued)),
            Some(items) => {
                let (low, high) = items.size_hint();
                (
                    low.saturating_add(queued),
                    high.and_then(|high| high.checked_add(queued)),
                )
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, T> Unpin for MapUnorderedStream<E, I, F, T> {}

impl<E: Executor, I: Iterator, F, T> Drop for MapUnorderedStream<E, I, F, T> {
    fn drop(&mut self) {
        if self.started {
            self.cancel();
        }
    }
}

impl<E: Executor, I: Iterator, F, T> fmt::Debug for MapUnorderedStream<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnorderedStream")
            .field("in_flight", &self.running.len())
            .field("more_items", &self.items.is_some())
            .finish()
    }
}
