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
use super::stream::{chunk_job, submitter};
use crate::error::{Error, SubmitError};
use crate::executor::Executor;
use crate::executor::chunk::{Chunks, Drain, Outcomes};
use crate::future::SharedFuture;
use crate::lease::{Lease, Lender};
use alloc::vec::Vec;

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
    mode: Mode<E, I, F, T>,
}

/// One job per item, or one per chunk of items (whose outcomes are yielded
/// one by one, with their indices, once the chunk is done).
enum Mode<E: Executor, I: Iterator, F, T> {
    Items(Units<E, I, F, T>),
    Chunks {
        units: Units<E, Chunks<I>, F, Outcomes<T>>,
        /// The input index of `current`'s next outcome.
        index: usize,
        current: Drain<T>,
    },
}

/// How a unit (an item or a chunk) is submitted.
type Submit<E, Unit, F, U> =
    fn(&AsyncExecutor<E>, Option<Duration>, Unit, Lease<F>) -> Result<SharedFuture<U>, SubmitError>;

/// The core of [`MapUnorderedStream`] over units of work: an item each, or
/// a chunk each (a unit of `length` items takes as many input indices).
struct Units<E: Executor, I: Iterator, F, U> {
    executor: AsyncExecutor<E>,
    /// Items not submitted yet; `None` once exhausted, refused or cancelled.
    items: Option<I>,
    f: Lender<F>,
    submit: Submit<E, I::Item, F, U>,
    /// The items a unit holds.
    length: fn(&I::Item) -> usize,
    running: FuturesUnordered<Indexed<U>>,
    next_index: usize,
    /// `buffer_size`, in units.
    bound: Option<NonZeroUsize>,
    /// A result was yielded and its replacement is not submitted yet.
    refill_owed: bool,
    /// Polled once: dropping from now on cancels.
    started: bool,
    job_timeout: Option<Duration>,
    /// `MapOptions::timeout`'s deadline, from the call.
    deadline: Option<Delay>,
}

/// A finished unit: its first input index, its item count, its outcome.
type Unit<U> = (usize, usize, Result<U, Error>);

/// A unit's future with its first input index and item count.
struct Indexed<U> {
    index: usize,
    length: usize,
    future: SharedFuture<U>,
}

impl<U> Future for Indexed<U> {
    type Output = (usize, usize, Result<U, Error>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut this.future)
            .poll(cx)
            .map(|outcome| (this.index, this.length, outcome))
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
        let mode = match options.chunk() {
            1 => Mode::Items(Units::new(
                executor,
                f,
                items,
                options,
                options.buffer_size,
                |executor, job_timeout, item, f| submitter(executor, job_timeout)(item, f),
                |_| 1,
            )?),
            chunk => {
                let (chunk, bound) = crate::executor::chunk::layout(chunk, options.buffer_size);
                Mode::Chunks {
                    units: Units::new(
                        executor,
                        f,
                        Chunks::new(items, chunk),
                        options,
                        bound,
                        |executor, job_timeout, items, f| {
                            let (job, future) = chunk_job(executor, items, f, job_timeout);
                            executor.wrapped().execute(job).map(|()| future)
                        },
                        Vec::len,
                    )?,
                    index: 0,
                    current: Drain::empty(),
                }
            }
        };
        Ok(MapUnorderedStream { mode })
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
        match &mut self.mode {
            Mode::Items(units) => units.cancel(),
            Mode::Chunks { units, current, .. } => {
                units.cancel();
                crate::executor::lifecycle::finish_each(
                    core::mem::replace(current, Drain::empty()),
                    drop,
                );
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, U> Units<E, I, F, U> {
    /// Submits up to `bound` units; a refusal cancels what was submitted.
    fn new(
        executor: AsyncExecutor<E>,
        f: F,
        items: I,
        options: crate::MapOptions,
        bound: Option<NonZeroUsize>,
        submit: Submit<E, I::Item, F, U>,
        length: fn(&I::Item) -> usize,
    ) -> Result<Self, SubmitError> {
        let mut stream = Units {
            executor,
            items: Some(items),
            f: Lender::new(f),
            submit,
            length,
            running: FuturesUnordered::new(),
            next_index: 0,
            bound,
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
                Some(Err((_, _, error))) => {
                    stream.cancel();
                    return Err(error);
                }
            }
        }
        Ok(stream)
    }

    /// Submits the next unit, if there is one; a refusal comes back with the
    /// unit's first index and length, and ends the input.
    fn submit_next(&mut self) -> Option<Result<(), (usize, usize, SubmitError)>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        let index = self.next_index;
        let length = (self.length)(&item);
        self.next_index += length;
        let lease = self.f.lend();
        match (self.submit)(&self.executor, self.job_timeout, item, lease) {
            Ok(future) => {
                self.running.push(Indexed {
                    index,
                    length,
                    future,
                });
                Some(Ok(()))
            }
            Err(error) => {
                self.items = None;
                Some(Err((index, length, error)))
            }
        }
    }

    fn cancel(&mut self) {
        self.items = None;
        self.deadline = None;
        let running = core::mem::take(&mut self.running);
        crate::executor::lifecycle::finish_each(running, |job| {
            job.future.cancel();
        });
    }

    /// The next unit done: its first index, its item count and its outcome.
    fn poll_unit(&mut self, cx: &mut Context<'_>) -> Poll<Option<Unit<U>>> {
        self.started = true;
        // The unit owed for the result yielded last: a result counts against
        // the bound until it is yielded (as `MapStream`).
        if core::mem::take(&mut self.refill_owed) {
            if let Some(Err((index, length, error))) = self.submit_next() {
                return Poll::Ready(Some((index, length, Err(Error::from(error)))));
            }
        }
        if self.running.is_empty() {
            return Poll::Ready(None);
        }
        match self.running.poll_next_unpin(cx) {
            Poll::Ready(Some(unit)) => {
                self.refill_owed = self.bound.is_some();
                Poll::Ready(Some(unit))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|delay| Pin::new(delay).poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                // As the blocking `MapUnordered`: one `Timeout`, for the
                // lowest input index not yielded, the jobs not started
                // cancelled, and the end.
                let index = self
                    .running
                    .iter()
                    .map(|job| job.index)
                    .min()
                    .expect("a job is in flight");
                self.cancel();
                Poll::Ready(Some((index, 1, Err(Error::Timeout))))
            }
        }
    }

    /// Bounds in items, given the items in flight and the hint of the items
    /// not submitted.
    fn size_hint(
        &self,
        in_flight: usize,
        items: impl Fn(&I) -> (usize, Option<usize>),
    ) -> (usize, Option<usize>) {
        match &self.items {
            None => (in_flight, Some(in_flight)),
            Some(rest) => {
                let (low, high) = items(rest);
                (
                    low.saturating_add(in_flight),
                    high.and_then(|high| high.checked_add(in_flight)),
                )
            }
        }
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
        match &mut self.get_mut().mode {
            Mode::Items(units) => units
                .poll_unit(cx)
                .map(|unit| unit.map(|(index, _, outcome)| (index, outcome))),
            Mode::Chunks {
                units,
                index,
                current,
            } => loop {
                if let Some(outcome) = current.next() {
                    *index += 1;
                    return Poll::Ready(Some((*index - 1, outcome)));
                }
                let Some((first, length, outcome)) = core::task::ready!(units.poll_unit(cx)) else {
                    return Poll::Ready(None);
                };
                *index = first;
                *current = Drain::new(outcome, length);
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.mode {
            Mode::Items(units) => units.size_hint(units.running.len(), Iterator::size_hint),
            Mode::Chunks { units, current, .. } => {
                let in_flight: usize = units.running.iter().map(|job| job.length).sum();
                units.size_hint(in_flight + current.len(), Chunks::items_hint)
            }
        }
    }
}

impl<E: Executor, I: Iterator, F, T> Unpin for MapUnorderedStream<E, I, F, T> {}

impl<E: Executor, I: Iterator, F, U> Drop for Units<E, I, F, U> {
    fn drop(&mut self) {
        if self.started {
            self.cancel();
        }
    }
}

impl<E: Executor, I: Iterator, F, T> fmt::Debug for MapUnorderedStream<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, more_items) = match &self.mode {
            Mode::Items(units) => (units.running.len(), units.items.is_some()),
            Mode::Chunks { units, .. } => (units.running.len(), units.items.is_some()),
        };
        f.debug_struct("MapUnorderedStream")
            .field("in_flight", &in_flight)
            .field("more_items", &more_items)
            .finish()
    }
}
