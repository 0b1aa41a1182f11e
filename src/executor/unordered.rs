//! [`MapUnordered`]: the blocking iterator of [`Executor::map_unordered`],
//! results in completion order.
//!
//! Every job's future has a slot; the slot's index is what the core's fan-in
//! (`crate::fan_in`, as behind `as_completed`) reports when the job finishes,
//! so a result is found in O(1) and the map costs O(n) in all. A slot is
//! reused only once its result was yielded, when no report for it can still
//! come: there are at most `buffer_size` slots, however long the input.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;
use std::time::{Duration, Instant};

use super::map::{MapOptions, submitter};
use super::{Executor, lifecycle};
use crate::error::{Error, SubmitError};
use crate::fan_in::FanIn;
use crate::future::SharedFuture;
use crate::lease::Lender;
use crate::sync::Arc;

/// The results of [`Executor::map_unordered`] and `map_unordered_with`, as
/// they finish: `(index, Result<T, Error>)`, `index` being the item's
/// position in the input (as [`as_completed`](crate::as_completed) yields).
/// Python's `multiprocessing.Pool.imap_unordered`, with a bound.
///
/// At most `buffer_size` jobs are submitted and not yet yielded: the next
/// item is submitted when a result is yielded, at the following call to
/// `next`. Each call to `next` blocks until some result is ready.
///
/// # Dropping
///
/// As [`Map`](super::Map): once iteration has begun, dropping the iterator
/// cancels the jobs that have not started (running ones finish and their
/// results are dropped on the worker); one never advanced cancels nothing.
/// [`cancel_remaining`](MapUnordered::cancel_remaining) cancels explicitly.
/// (Dropping an [`AsCompleted`](crate::AsCompleted) cancels nothing.)
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let mut squares = vec![0; 5];
/// for (index, square) in pool.map_unordered(|x: u64| x * x, 0..5).unwrap() {
///     squares[index] = square.unwrap();
/// }
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// ```
#[must_use = "iterators are lazy; the jobs run anyway, but their results are dropped"]
pub struct MapUnordered<E, I, F, T>
where
    I: Iterator,
{
    /// A handle of the executor, as `Map` holds one.
    executor: E,
    /// Items not submitted yet; `None` once exhausted, refused or cancelled.
    items: Option<I>,
    f: Lender<F>,
    /// By slot: the input index and the future of a job not yielded yet.
    slots: Vec<Option<(usize, SharedFuture<T>)>>,
    /// Slots free for the next job.
    free: Vec<usize>,
    /// Jobs submitted and not yet yielded.
    in_flight: usize,
    /// Slots whose jobs are done, in the order found.
    ready: VecDeque<usize>,
    fan_in: Arc<FanIn>,
    /// The input index of the next item.
    next_index: usize,
    /// `buffer_size`, or unbounded (every item submitted at once).
    bound: Option<NonZeroUsize>,
    /// A result was yielded and its replacement is not submitted yet.
    refill_owed: bool,
    /// A result was asked for: dropping from now on cancels.
    started: bool,
    deadline: Option<Instant>,
    job_timeout: Option<Duration>,
}

impl<E, I, F, T> MapUnordered<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    /// What [`Executor::map_unordered_with`] makes, for any handle of an
    /// executor: owned, an `Arc`, or a reference (for an executor that is
    /// not `Clone`, such as `InlineExecutor`). `options.chunk_size` is
    /// ignored: one job per item, as Python's thread pool ignores
    /// `chunksize`.
    ///
    /// # Errors
    ///
    /// As [`Executor::map_unordered`].
    ///
    /// ```
    /// use concurrent_futures::{InlineExecutor, MapOptions, executor::MapUnordered};
    ///
    /// let executor = InlineExecutor::new();
    /// let mut squares: Vec<(usize, u32)> = MapUnordered::new(&executor, |x| x * x, 1..=3_u32, MapOptions::new())
    ///     .unwrap()
    ///     .map(|(index, square)| (index, square.unwrap()))
    ///     .collect();
    /// squares.sort();
    /// assert_eq!(squares, [(0, 1), (1, 4), (2, 9)]);
    /// ```
    pub fn new(
        executor: E,
        f: F,
        items: impl IntoIterator<IntoIter = I>,
        options: MapOptions,
    ) -> Result<Self, SubmitError> {
        let mut map = MapUnordered {
            executor,
            items: Some(items.into_iter()),
            f: Lender::new(f),
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            ready: VecDeque::new(),
            fan_in: FanIn::new(),
            next_index: 0,
            bound: options.buffer_size,
            refill_owed: false,
            started: false,
            deadline: options.deadline(),
            job_timeout: options.job_timeout,
        };
        let limit = map.bound.map_or(usize::MAX, NonZeroUsize::get);
        while map.in_flight < limit {
            match map.submit_next() {
                Some(Ok(())) => {}
                None => break,
                Some(Err((_, error))) => {
                    map.cancel_remaining();
                    return Err(error);
                }
            }
        }
        Ok(map)
    }

    /// Cancels every job that has not started and ends the iteration: no more
    /// items are submitted and nothing more is yielded. Running jobs finish
    /// and their results are dropped on the worker.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut results = pool.map_unordered(|x| x, 0..1000).unwrap();
    /// results.cancel_remaining();
    /// assert!(results.next().is_none());
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.items = None;
        self.ready.clear();
        self.in_flight = 0;
        self.free.clear();
        // A `Drop` of a finished value that panics does not keep the others
        // from being cancelled.
        lifecycle::finish_each(self.slots.drain(..).flatten(), |(_, future)| {
            future.cancel();
        });
    }

    /// Submits the next item into a free slot, if there is one; a refusal
    /// comes back with the item's index, and ends the input.
    fn submit_next(&mut self) -> Option<Result<(), (usize, SubmitError)>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        let index = self.next_index;
        self.next_index += 1;
        let lease = self.f.lend();
        let submitted = submitter(&self.executor, self.job_timeout)(item, lease);
        let mut future = match submitted {
            Ok(future) => future,
            Err(error) => {
                self.items = None;
                return Some(Err((index, error)));
            }
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        // Finished already: no report will come, so it is ready now.
        if future.register_fan_in(&self.fan_in, slot).is_some() {
            self.ready.push_back(slot);
        }
        self.slots[slot] = Some((index, future));
        self.in_flight += 1;
        Some(Ok(()))
    }

    /// The deadline passed with nothing finished: as the ordered `Map`, one
    /// `Timeout` (for the lowest input index not yielded), every job not
    /// started cancelled, and the end.
    fn time_out(&mut self) -> (usize, Result<T, Error>) {
        let index = self
            .slots
            .iter()
            .flatten()
            .map(|(index, _)| *index)
            .min()
            .expect("a job is in flight");
        self.cancel_remaining();
        (index, Err(Error::Timeout))
    }
}

impl<E, I, F, T> Iterator for MapUnordered<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        self.started = true;
        // The item owed for the result yielded last, submitted only now: a
        // result counts against the bound until it is yielded (as `Map`).
        if core::mem::take(&mut self.refill_owed) {
            if let Some(Err((index, error))) = self.submit_next() {
                return Some((index, Err(Error::from(error))));
            }
        }
        loop {
            if let Some(slot) = self.ready.pop_front() {
                let (index, mut future) = self.slots[slot]
                    .take()
                    .expect("a slot is reported once, while it is taken");
                self.free.push(slot);
                self.in_flight -= 1;
                self.refill_owed = self.bound.is_some();
                let outcome = future
                    .try_take()
                    .expect("a future reported done has its outcome");
                return Some((index, outcome));
            }
            if self.in_flight == 0 {
                return None;
            }
            if !self.fan_in.wait(&mut self.ready, self.deadline) {
                return Some(self.time_out());
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.items {
            None => (self.in_flight, Some(self.in_flight)),
            Some(items) => {
                let (low, high) = items.size_hint();
                (
                    low.saturating_add(self.in_flight),
                    high.and_then(|high| high.checked_add(self.in_flight)),
                )
            }
        }
    }
}

impl<E, I: Iterator, F, T> Drop for MapUnordered<E, I, F, T> {
    fn drop(&mut self) {
        if self.started {
            self.items = None;
            lifecycle::finish_each(self.slots.drain(..).flatten(), |(_, future)| {
                future.cancel();
            });
        }
    }
}

impl<E, I: Iterator, F, T> fmt::Debug for MapUnordered<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("in_flight", &self.in_flight)
            .field("ready", &self.ready.len())
            .field("more_items", &self.items.is_some())
            .field("deadline", &self.deadline)
            .finish()
    }
}
