//! [`MapStream`]: the ordered result stream of [`AsyncExecutor::map`].

use alloc::collections::VecDeque;
use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::AsyncExecutor;
use crate::error::{Error, SubmitError};
use crate::executor::{Executor, Job};
use crate::future::SharedFuture;
use crate::promise;
use crate::sync::Arc;

/// The results of [`AsyncExecutor::map`] in input order, as a
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
/// nothing: every submitted job runs. [`cancel`](MapStream::cancel) cancels
/// explicitly.
///
/// ```
/// use concurrent_futures::{AsyncExecutor, InlineExecutor};
/// use futures::StreamExt;
///
/// futures::executor::block_on(async {
///     let executor = AsyncExecutor::new(InlineExecutor::new());
///     let mut results = executor.map(["a", "b"], str::to_uppercase).unwrap();
///     assert_eq!(results.next().await.unwrap().unwrap(), "A");
///     assert_eq!(results.next().await.unwrap().unwrap(), "B");
///     assert!(results.next().await.is_none());
/// });
/// ```
#[must_use = "streams do nothing unless polled; dropping this one cancels the jobs not started"]
pub struct MapStream<'e, E: Executor, I: Iterator, F, T> {
    executor: &'e AsyncExecutor<E>,
    /// Items not submitted yet (only with a bound).
    items: Option<I>,
    f: Arc<F>,
    in_flight: VecDeque<SharedFuture<T>>,
    /// Polled at least once: dropping cancels what remains.
    started: bool,
}

impl<'e, E, I, F, T> MapStream<'e, E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(super) fn new(
        executor: &'e AsyncExecutor<E>,
        items: I,
        f: F,
        bound: Option<NonZeroUsize>,
    ) -> Result<Self, SubmitError> {
        let mut stream = MapStream {
            executor,
            items: Some(items),
            f: Arc::new(f),
            in_flight: VecDeque::new(),
            started: false,
        };
        let limit = bound.map_or(usize::MAX, NonZeroUsize::get);
        while stream.in_flight.len() < limit {
            match stream.submit_next() {
                Some(Ok(())) => {}
                None => break,
                Some(Err(error)) => {
                    stream.cancel();
                    return Err(error);
                }
            }
        }
        if bound.is_none() {
            stream.items = None;
        }
        Ok(stream)
    }

    /// Cancels every job not started yet and ends the stream.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    ///     let mut results = executor.map(0..1000, |x| x).unwrap();
    ///     results.cancel();
    ///     assert!(results.next().await.is_none());
    /// });
    /// ```
    pub fn cancel(&mut self) {
        self.items = None;
        for future in self.in_flight.drain(..) {
            future.cancel();
        }
    }

    fn submit_next(&mut self) -> Option<Result<(), SubmitError>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        let f = Arc::clone(&self.f);
        let (job, future) = Job::new(super::in_context(self.executor.context(), move || f(item)));
        Some(
            self.executor
                .wrapped()
                .execute(job)
                .map(|()| self.in_flight.push_back(future)),
        )
    }
}

impl<E, I, F, T> futures_core::Stream for MapStream<'_, E, I, F, T>
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
        this.started = true;
        let Some(front) = this.in_flight.front_mut() else {
            return Poll::Ready(None);
        };
        let outcome = match core::future::Future::poll(Pin::new(front), cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => return Poll::Pending,
        };
        this.in_flight.pop_front();
        if let Some(Err(error)) = this.submit_next() {
            // The executor refused more work: the refusal comes after the results
            // already submitted, then the stream ends.
            this.items = None;
            this.in_flight
                .push_back(promise::failed(Error::from(error)));
        }
        Poll::Ready(Some(outcome))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let queued = self.in_flight.len();
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

impl<E: Executor, I: Iterator, F, T> Unpin for MapStream<'_, E, I, F, T> {}

impl<E: Executor, I: Iterator, F, T> Drop for MapStream<'_, E, I, F, T> {
    fn drop(&mut self) {
        if self.started {
            for future in self.in_flight.drain(..) {
                future.cancel();
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, T> fmt::Debug for MapStream<'_, E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapStream")
            .field("in_flight", &self.in_flight.len())
            .field("more_items", &self.items.is_some())
            .finish()
    }
}
