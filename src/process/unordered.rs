//! [`ProcessMapUnordered`]: the results of
//! [`ProcessPoolExecutor::map_unordered`](super::ProcessPoolExecutor::map_unordered)
//! as chunks finish, as a blocking iterator and as a stream.
//!
//! Each chunk's future has a slot whose index the core's fan-in (as behind
//! `as_completed`) reports when the chunk finishes: the iterator parks on it,
//! the stream registers its `Waker` with it. O(1) per chunk, no rescans.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Instant;

use super::ProcessFn;
use super::map::{ChunkFuture, ChunkOutcomes, Chunks, replicate};
use super::pool::ProcessPoolExecutor;
use crate::error::{Error, SubmitError};
use crate::executor::MapOptions;
use crate::fan_in::FanIn;
use crate::sync::Arc;

/// A chunk submitted and not yet taken: its first input index, its length
/// and its future.
struct InFlight<T> {
    start: usize,
    length: usize,
    future: ChunkFuture<T>,
}

/// One item of the map: its input index and its outcome.
type Indexed<T> = (usize, Result<T, Error>);

/// The results of
/// [`ProcessPoolExecutor::map_unordered`](super::ProcessPoolExecutor::map_unordered)
/// and `map_unordered_with`, chunk by chunk as the chunks finish: one
/// `(index, Result<T, Error>)` per item, `index` being its position in the
/// input (Python's `multiprocessing.Pool.imap_unordered`; within a chunk, in
/// input order). Each call to `next` blocks until a result is ready;
/// [`into_stream`](ProcessMapUnordered::into_stream) makes it a
/// [`Stream`](futures_core::Stream) that waits without blocking.
///
/// At most `buffer_size` chunks are submitted and not fully yielded.
///
/// # Dropping
///
/// As [`ProcessMap`](super::ProcessMap): once iteration (or polling) has
/// begun, dropping it cancels the chunks that have not started; one never
/// advanced cancels nothing. [`cancel_remaining`](ProcessMapUnordered::cancel_remaining)
/// cancels explicitly.
///
/// ```rust,standalone_crate
/// use concurrent_futures::process::{self, ProcessPoolExecutor};
///
/// process::process_fn! {
///     fn negate(x: i32) -> i32 { -x }
/// }
/// fn main() {
///     process::init();
///     let pool = ProcessPoolExecutor::new();
///     let mut negated = vec![0; 3];
///     for (index, value) in pool.map_unordered(negate, [1, 2, 3]).unwrap() {
///         negated[index] = value.unwrap();
///     }
///     assert_eq!(negated, [-1, -2, -3]);
///     pool.shutdown(concurrent_futures::CancelFutures::No);
/// }
/// ```
#[must_use = "iterators and streams are lazy; the jobs run anyway, but their results are dropped"]
pub struct ProcessMapUnordered<
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
> {
    pool: ProcessPoolExecutor<Init>,
    /// Chunks not submitted yet; `None` once exhausted, refused or cancelled.
    chunks: Option<Chunks<I>>,
    /// By slot: a chunk not yet taken.
    slots: Vec<Option<InFlight<J::Output>>>,
    free: Vec<usize>,
    /// Chunks submitted and not yet taken.
    in_flight: usize,
    /// Slots whose chunks are done, in the order found.
    done: VecDeque<usize>,
    fan_in: Arc<FanIn>,
    /// The input index of the next chunk's first item.
    next_index: usize,
    bound: Option<NonZeroUsize>,
    /// Results of the chunk being yielded.
    ready: VecDeque<Indexed<J::Output>>,
    /// A chunk was taken and its replacement is not submitted yet: submitted
    /// once all its results were yielded.
    refill_owed: bool,
    started: bool,
    deadline: Option<Instant>,
    /// `MapOptions::job_timeout`, for each chunk.
    job_timeout: Option<core::time::Duration>,
}

impl<Init, J, I> ProcessMapUnordered<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    pub(super) fn new(
        pool: ProcessPoolExecutor<Init>,
        chunks: Chunks<I>,
        options: MapOptions,
    ) -> Result<Self, SubmitError> {
        let mut map = ProcessMapUnordered {
            pool,
            chunks: Some(chunks),
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            done: VecDeque::new(),
            fan_in: FanIn::new(),
            next_index: 0,
            bound: options.buffer_size,
            ready: VecDeque::new(),
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

    /// Cancels every chunk that has not started and ends the iteration.
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessPoolExecutor, process_fn};
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let pool = ProcessPoolExecutor::new();
    /// // An empty input submits nothing: no worker is needed.
    /// let mut results = pool.map_unordered(id, []).unwrap();
    /// results.cancel_remaining();
    /// assert!(results.next().is_none());
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.chunks = None;
        self.done.clear();
        self.ready.clear();
        self.free.clear();
        self.in_flight = 0;
        crate::executor::lifecycle::finish_each(self.slots.drain(..).flatten(), |chunk| {
            chunk.future.cancel();
        });
    }

    /// The same results as a [`Stream`](futures_core::Stream), for async
    /// code; the map's `timeout` applies as to the iterator (a
    /// `futures-timer` delay wakes the stream).
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessPoolExecutor, process_fn};
    /// use futures::StreamExt;
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let pool = ProcessPoolExecutor::new();
    /// let mut stream = pool.map_unordered(id, []).unwrap().into_stream();
    /// assert!(futures::executor::block_on(stream.next()).is_none());
    /// ```
    pub fn into_stream(self) -> ProcessMapUnorderedStream<Init, J, I> {
        let timer = self.deadline.map(|deadline| {
            futures_timer::Delay::new(deadline.saturating_duration_since(Instant::now()))
        });
        ProcessMapUnorderedStream { map: self, timer }
    }

    /// Submits the next chunk into a free slot, if there is one; a refusal
    /// comes back with the chunk's first index and ends the input.
    fn submit_next(&mut self) -> Option<Result<(), (usize, SubmitError)>> {
        let chunk = self.chunks.as_mut()?.next();
        let Some(chunk) = chunk else {
            self.chunks = None;
            return None;
        };
        let (start, length) = (self.next_index, chunk.len());
        self.next_index += length;
        let mut future = match self.pool.submit_chunk::<J>(chunk, self.job_timeout) {
            Ok(future) => future,
            Err(error) => {
                self.chunks = None;
                return Some(Err((start, error)));
            }
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if future.register_fan_in(&self.fan_in, slot).is_some() {
            self.done.push_back(slot);
        }
        self.slots[slot] = Some(InFlight {
            start,
            length,
            future,
        });
        self.in_flight += 1;
        Some(Ok(()))
    }

    /// What the map yields without waiting: `Some(item)` (the end as
    /// `Some(None)`), or `None` if it must wait for a chunk.
    fn step(&mut self) -> Option<Option<Indexed<J::Output>>> {
        self.started = true;
        loop {
            if let Some(result) = self.ready.pop_front() {
                return Some(Some(result));
            }
            // The chunk owed for the chunk yielded last, once all its results
            // were yielded: it counts against the bound until then.
            if core::mem::take(&mut self.refill_owed) {
                if let Some(Err((index, error))) = self.submit_next() {
                    return Some(Some((index, Err(Error::from(error)))));
                }
            }
            let Some(slot) = self.done.pop_front() else {
                return (self.in_flight == 0).then_some(None);
            };
            let InFlight {
                start,
                length,
                mut future,
            } = self.slots[slot]
                .take()
                .expect("a slot is reported once, while it is taken");
            self.free.push(slot);
            self.in_flight -= 1;
            self.refill_owed = self.bound.is_some();
            let outcome = future
                .try_take()
                .expect("a chunk reported done has its outcome");
            self.settle(start, length, outcome);
        }
    }

    /// A finished chunk's outcome into `ready`, each result with its index (a
    /// failed chunk's error repeated for each of its items).
    fn settle(
        &mut self,
        start: usize,
        length: usize,
        outcome: Result<ChunkOutcomes<J::Output>, Error>,
    ) {
        match outcome {
            Ok(results) => self.ready.extend((start..).zip(results)),
            Err(error) => {
                for index in start..start + length - 1 {
                    self.ready.push_back((index, Err(replicate(&error))));
                }
                self.ready.push_back((start + length - 1, Err(error)));
            }
        }
    }

    /// The deadline passed with nothing finished: as `ProcessMap`, one
    /// `Timeout` (for the lowest input index not yielded), the chunks not
    /// started cancelled, and the end.
    fn time_out(&mut self) -> (usize, Result<J::Output, Error>) {
        let index = self
            .slots
            .iter()
            .flatten()
            .map(|chunk| chunk.start)
            .min()
            .expect("a chunk is in flight");
        self.cancel_remaining();
        (index, Err(Error::Timeout))
    }
}

impl<Init, J, I> Iterator for ProcessMapUnordered<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    type Item = (usize, Result<J::Output, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(step) = self.step() {
                return step;
            }
            if !self.fan_in.wait(&mut self.done, self.deadline) {
                return Some(self.time_out());
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Chunks hold up to `chunk_size` items: only a lower bound is exact.
        (self.ready.len(), None)
    }
}

impl<Init, J, I> Drop for ProcessMapUnordered<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    fn drop(&mut self) {
        if self.started {
            self.cancel_remaining();
        }
    }
}

/// [`ProcessMapUnordered`] as a [`Stream`](futures_core::Stream): made by
/// [`ProcessMapUnordered::into_stream`]; the same items, without blocking,
/// under any runtime.
#[must_use = "streams do nothing unless polled; dropping this one cancels the chunks not started"]
pub struct ProcessMapUnorderedStream<
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
> {
    map: ProcessMapUnordered<Init, J, I>,
    timer: Option<futures_timer::Delay>,
}

impl<Init, J, I> ProcessMapUnorderedStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    /// Cancels every chunk that has not started and ends the stream.
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessPoolExecutor, process_fn};
    /// use futures::StreamExt;
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let pool = ProcessPoolExecutor::new();
    /// let mut stream = pool.map_unordered(id, []).unwrap().into_stream();
    /// stream.cancel_remaining();
    /// assert!(futures::executor::block_on(stream.next()).is_none());
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.map.cancel_remaining();
        self.timer = None;
    }
}

impl<Init, J, I> futures_core::Stream for ProcessMapUnorderedStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    type Item = (usize, Result<J::Output, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let ProcessMapUnorderedStream { map, timer } = self.get_mut();
        loop {
            if let Some(step) = map.step() {
                return Poll::Ready(step);
            }
            if map.fan_in.poll(&mut map.done, cx) {
                continue;
            }
            let expired = timer
                .as_mut()
                .is_some_and(|timer| core::future::Future::poll(Pin::new(timer), cx).is_ready());
            if !expired {
                return Poll::Pending;
            }
            *timer = None;
            return Poll::Ready(Some(map.time_out()));
        }
    }
}

impl<Init, J, I> Unpin for ProcessMapUnordered<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
}

impl<Init, J, I> Unpin for ProcessMapUnorderedStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
}

impl<Init, J, I> fmt::Debug for ProcessMapUnordered<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessMapUnordered")
            .field("chunks_in_flight", &self.in_flight)
            .field("more_items", &self.chunks.is_some())
            .field("ready", &self.ready.len())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<Init, J, I> fmt::Debug for ProcessMapUnorderedStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessMapUnorderedStream")
            .field(&self.map)
            .finish()
    }
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolExecutor<Init> {
    /// Python's `multiprocessing.Pool.imap_unordered(func, iterable)`: runs
    /// `f` on every item in worker processes and yields
    /// `(index, Result<T, Error>)` as each job finishes, `index` being the
    /// item's position in the input. Every item is submitted now (one job
    /// per item); see [`map_unordered_with`](Self::map_unordered_with) for a
    /// chunk size, a bound and a timeout. [`ProcessMapUnordered::into_stream`]
    /// makes it a [`Stream`](futures_core::Stream).
    ///
    /// # Errors
    ///
    /// The pool's refusal of the first items ([`SubmitError`]); each item
    /// then yields `Ok(value)` or its [`Error`] (`Panicked`, `Process(..)`
    /// when its worker died, `Cancelled`, ...).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn cube(x: u64) -> u64 { x * x * x }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let mut cubes: Vec<(usize, u64)> = pool
    ///         .map_unordered(cube, 1..=4)
    ///         .unwrap()
    ///         .map(|(index, value)| (index, value.unwrap()))
    ///         .collect();
    ///     cubes.sort();
    ///     assert_eq!(cubes, [(0, 1), (1, 8), (2, 27), (3, 64)]);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_unordered<J, I>(
        &self,
        f: J,
        items: I,
    ) -> Result<ProcessMapUnordered<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_unordered_with(f, items, MapOptions::new())
    }

    /// [`map_unordered`](Self::map_unordered) with [`MapOptions`]:
    /// `chunk_size` items per job (the results of a chunk are yielded
    /// together, when it finishes, in input order), at most `buffer_size`
    /// chunks submitted and not fully yielded, and an overall `timeout` from
    /// this call: when nothing finished by then, one `Err(Error::Timeout)`
    /// (for the lowest input index not yielded), the chunks not started
    /// cancelled, and the end, as [`map_with`](Self::map_with).
    ///
    /// # Errors
    ///
    /// As [`map_unordered`](Self::map_unordered).
    ///
    /// ```rust,standalone_crate
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::MapOptions;
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn double(x: u64) -> u64 { x * 2 }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let options = MapOptions::new()
    ///         .chunk_size(NonZeroUsize::new(256).unwrap())
    ///         .buffer_size(NonZeroUsize::new(4).unwrap());
    ///     let sum: u64 = pool
    ///         .map_unordered_with(double, 0..10_000, options)
    ///         .unwrap()
    ///         .map(|(_, value)| value.unwrap())
    ///         .sum();
    ///     assert_eq!(sum, 99_990_000);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_unordered_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMapUnordered<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        let _ = f;
        ProcessMapUnordered::new(
            self.clone(),
            Chunks::new(items.into_iter(), options.chunk()),
            options,
        )
    }
}
