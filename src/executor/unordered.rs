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

use super::chunk::{self, Chunks, Drain, Outcomes};
use super::map::{MapOptions, submitter};
use super::{Executor, lifecycle};
use crate::error::{Error, SubmitError};
use crate::fan_in::FanIn;
use crate::future::SharedFuture;
use crate::lease::{Lease, Lender};
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
    mode: Mode<E, I, F, T>,
}

/// One job per item, or one per chunk of items (whose outcomes are yielded
/// one by one, with their indices, once the chunk is done).
enum Mode<E, I: Iterator, F, T> {
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
    fn(&E, Option<Duration>, Unit, Lease<F>) -> Result<SharedFuture<U>, SubmitError>;

/// The core of [`MapUnordered`] over units of work: an item each, or a chunk
/// each (a unit of `length` items takes as many input indices).
struct Units<E, I, F, U>
where
    I: Iterator,
{
    /// A handle of the executor, as `Map` holds one.
    executor: E,
    /// Items not submitted yet; `None` once exhausted, refused or cancelled.
    items: Option<I>,
    f: Lender<F>,
    submit: Submit<E, I::Item, F, U>,
    /// The items a unit holds.
    length: fn(&I::Item) -> usize,
    /// By slot: the first input index, the item count, and the future of a
    /// unit not yielded yet.
    slots: Vec<Option<(usize, usize, SharedFuture<U>)>>,
    /// Slots free for the next job.
    free: Vec<usize>,
    /// Jobs submitted and not yet yielded.
    in_flight: usize,
    /// Slots whose jobs are done, in the order found.
    ready: VecDeque<usize>,
    fan_in: Arc<FanIn>,
    /// The input index of the next item.
    next_index: usize,
    /// `buffer_size` (in units), or unbounded (every item submitted at once).
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
    /// not `Clone`, such as `InlineExecutor`). With `options.chunk_size`, one
    /// job runs that many items (see [`MapOptions::chunk_size`]).
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
        let items = items.into_iter();
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
                let (chunk, bound) = chunk::layout(chunk, options.buffer_size);
                Mode::Chunks {
                    units: Units::new(
                        executor,
                        f,
                        Chunks::new(items, chunk),
                        options,
                        bound,
                        |executor, job_timeout, items, f| {
                            let (job, future) = chunk::job(items, f, job_timeout);
                            executor.execute(job).map(|()| future)
                        },
                        Vec::len,
                    )?,
                    index: 0,
                    current: Drain::empty(),
                }
            }
        };
        Ok(MapUnordered { mode })
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
        match &mut self.mode {
            Mode::Items(units) => units.cancel_remaining(),
            Mode::Chunks { units, current, .. } => {
                units.cancel_remaining();
                lifecycle::finish_each(core::mem::replace(current, Drain::empty()), drop);
            }
        }
    }
}

impl<E, I, F, U> Units<E, I, F, U>
where
    E: Executor,
    I: Iterator,
{
    /// Submits up to `bound` units; a refusal cancels what was submitted.
    fn new(
        executor: E,
        f: F,
        items: I,
        options: MapOptions,
        bound: Option<NonZeroUsize>,
        submit: Submit<E, I::Item, F, U>,
        length: fn(&I::Item) -> usize,
    ) -> Result<Self, SubmitError> {
        let mut map = Units {
            executor,
            items: Some(items),
            f: Lender::new(f),
            submit,
            length,
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            ready: VecDeque::new(),
            fan_in: FanIn::new(),
            next_index: 0,
            bound,
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
                Some(Err((_, _, error))) => {
                    map.cancel_remaining();
                    return Err(error);
                }
            }
        }
        Ok(map)
    }

    fn cancel_remaining(&mut self) {
        self.items = None;
        self.ready.clear();
        self.in_flight = 0;
        self.free.clear();
        // A `Drop` of a finished value that panics does not keep the others
        // from being cancelled.
        lifecycle::finish_each(self.slots.drain(..).flatten(), |(_, _, future)| {
            future.cancel();
        });
    }

    /// Submits the next unit into a free slot, if there is one; a refusal
    /// comes back with the unit's first index and length, and ends the input.
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
        let mut future = match (self.submit)(&self.executor, self.job_timeout, item, lease) {
            Ok(future) => future,
            Err(error) => {
                self.items = None;
                return Some(Err((index, length, error)));
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
        self.slots[slot] = Some((index, length, future));
        self.in_flight += 1;
        Some(Ok(()))
    }

    /// The deadline passed with nothing finished: as the ordered `Map`, one
    /// `Timeout` (for the lowest input index not yielded), every job not
    /// started cancelled, and the end.
    fn time_out(&mut self) -> (usize, usize, Result<U, Error>) {
        let index = self
            .slots
            .iter()
            .flatten()
            .map(|(index, _, _)| *index)
            .min()
            .expect("a job is in flight");
        self.cancel_remaining();
        (index, 1, Err(Error::Timeout))
    }

    /// The next unit done: its first index, its item count and its outcome.
    fn next_unit(&mut self) -> Option<(usize, usize, Result<U, Error>)> {
        self.started = true;
        // The unit owed for the result yielded last, submitted only now: a
        // result counts against the bound until it is yielded (as `Map`).
        if core::mem::take(&mut self.refill_owed) {
            if let Some(Err((index, length, error))) = self.submit_next() {
                return Some((index, length, Err(Error::from(error))));
            }
        }
        loop {
            if let Some(slot) = self.ready.pop_front() {
                let (index, length, mut future) = self.slots[slot]
                    .take()
                    .expect("a slot is reported once, while it is taken");
                self.free.push(slot);
                self.in_flight -= 1;
                self.refill_owed = self.bound.is_some();
                let outcome = future
                    .try_take()
                    .expect("a future reported done has its outcome");
                return Some((index, length, outcome));
            }
            if self.in_flight == 0 {
                return None;
            }
            if !self.fan_in.wait(&mut self.ready, self.deadline) {
                return Some(self.time_out());
            }
        }
    }

    /// Units in flight and the items not submitted: bounds in items, given
    /// the items' hint.
    fn size_hint(
        &self,
        in_flight_items: usize,
        items: impl Fn(&I) -> (usize, Option<usize>),
    ) -> (usize, Option<usize>) {
        match &self.items {
            None => (in_flight_items, Some(in_flight_items)),
            Some(rest) => {
                let (low, high) = items(rest);
                (
                    low.saturating_add(in_flight_items),
                    high.and_then(|high| high.checked_add(in_flight_items)),
                )
            }
        }
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
        match &mut self.mode {
            Mode::Items(units) => units
                .next_unit()
                .map(|(index, _, outcome)| (index, outcome)),
            Mode::Chunks {
                units,
                index,
                current,
            } => loop {
                if let Some(outcome) = current.next() {
                    *index += 1;
                    return Some((*index - 1, outcome));
                }
                let (first, length, outcome) = units.next_unit()?;
                *index = first;
                *current = Drain::new(outcome, length);
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.mode {
            Mode::Items(units) => units.size_hint(units.in_flight, Iterator::size_hint),
            Mode::Chunks { units, current, .. } => {
                let in_flight: usize = units
                    .slots
                    .iter()
                    .flatten()
                    .map(|(_, length, _)| length)
                    .sum();
                units.size_hint(in_flight + current.len(), Chunks::items_hint)
            }
        }
    }
}

impl<E, I: Iterator, F, U> Drop for Units<E, I, F, U> {
    fn drop(&mut self) {
        if self.started {
            self.items = None;
            lifecycle::finish_each(self.slots.drain(..).flatten(), |(_, _, future)| {
                future.cancel();
            });
        }
    }
}

impl<E, I: Iterator, F, T> fmt::Debug for MapUnordered<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, ready, more_items, deadline) = match &self.mode {
            Mode::Items(units) => units.progress(),
            Mode::Chunks { units, .. } => units.progress(),
        };
        f.debug_struct("MapUnordered")
            .field("in_flight", &in_flight)
            .field("ready", &ready)
            .field("more_items", &more_items)
            .field("deadline", &deadline)
            .finish()
    }
}

impl<E, I: Iterator, F, U> Units<E, I, F, U> {
    /// (jobs in flight, jobs ready, whether items remain, the deadline), for
    /// `Debug`.
    fn progress(&self) -> (usize, usize, bool, Option<Instant>) {
        (
            self.in_flight,
            self.ready.len(),
            self.items.is_some(),
            self.deadline,
        )
    }
}
