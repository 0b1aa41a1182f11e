//! [`ProcessMap`]: the ordered results of
//! [`ProcessPoolExecutor::map`](super::ProcessPoolExecutor::map), as a blocking
//! iterator and as a stream.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::time::Instant;

use super::ProcessFn;
use super::pool::ProcessPoolExecutor;
use crate::error::{Error, SubmitError};
use crate::executor::MapOptions;
use crate::executor::feed::Feed;
use crate::lease::Lease;

pub(super) use super::sink::{ChunkFuture, ChunkOutcomes};
pub(super) use crate::executor::chunk::{Chunks, replicate};

/// The results of
/// [`ProcessPoolExecutor::map`](super::ProcessPoolExecutor::map), in input
/// order, one `Result` per item. Each call to `next` blocks until the next
/// result is ready; [`into_stream`](ProcessMap::into_stream) makes it a
/// [`Stream`](futures_core::Stream) that waits without blocking (under any
/// runtime).
///
/// # Dropping
///
/// Once iteration (or polling) has begun, dropping it cancels the chunks that
/// have not started; one that was never advanced cancels nothing (as Python's
/// generator). [`cancel_remaining`](ProcessMap::cancel_remaining) cancels explicitly.
///
/// ```rust,standalone_crate
/// use concurrent_futures::process::{self, ProcessPoolExecutor};
/// use futures::StreamExt;
///
/// process::process_fn! {
///     fn negate(x: i32) -> i32 { -x }
/// }
/// fn main() {
///     process::init();
///     let pool = ProcessPoolExecutor::new();
///     let negated: Vec<i32> = futures::executor::block_on(
///         pool.map(negate, [1, 2, 3]).unwrap().into_stream().map(Result::unwrap).collect(),
///     );
///     assert_eq!(negated, [-1, -2, -3]);
///     pool.shutdown(concurrent_futures::CancelFutures::No);
/// }
/// ```
#[must_use = "iterators and streams are lazy; the jobs run anyway, but their results are dropped"]
pub struct ProcessMap<Init: ProcessFn<Output = ()>, J: ProcessFn, I: Iterator<Item = J::Args>> {
    /// A handle of the pool: the map owns what it needs, so it can be
    /// returned or sent away.
    pool: ProcessPoolExecutor<Init>,
    feed: Feed<Chunks<I>, (), ChunkOutcomes<J::Output>>,
    /// The item count of each chunk in `feed`, in order.
    lengths: VecDeque<usize>,
    /// Results of the chunk being yielded.
    ready: VecDeque<Result<J::Output, Error>>,
    deadline: Option<Instant>,
    job_timeout: Option<Duration>,
}

impl<Init, J, I> ProcessMap<Init, J, I>
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
        let deadline = options.deadline();
        let mut lengths = VecDeque::new();
        let feed = Feed::start(
            chunks,
            (),
            options.buffer_size,
            submitter::<Init, J>(&pool, &mut lengths, options.job_timeout),
        )?;
        Ok(ProcessMap {
            pool,
            feed,
            lengths,
            ready: VecDeque::new(),
            deadline,
            job_timeout: options.job_timeout,
        })
    }

    /// Cancels every chunk that has not started and ends the iteration.
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessPoolExecutor, process_fn};
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let pool = ProcessPoolExecutor::new();
    /// pool.shutdown_nowait(concurrent_futures::CancelFutures::No);
    /// // A shut-down pool refuses the map at once.
    /// assert!(pool.map(id, [1, 2]).is_err());
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.feed.cancel();
        self.lengths.clear();
        self.ready.clear();
    }

    /// The same results as a [`Stream`](futures_core::Stream), for async
    /// code: `async for r in executor.map(...)`.
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessPoolExecutor, process_fn};
    /// use futures::StreamExt;
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let pool = ProcessPoolExecutor::new();
    /// // An empty input submits nothing: no worker is needed.
    /// let mut stream = pool.map(id, []).unwrap().into_stream();
    /// assert!(futures::executor::block_on(stream.next()).is_none());
    /// ```
    pub fn into_stream(self) -> ProcessMapStream<Init, J, I> {
        let timer = self.deadline.map(|deadline| {
            futures_timer::Delay::new(deadline.saturating_duration_since(Instant::now()))
        });
        ProcessMapStream { map: self, timer }
    }

    /// The map's end at its timeout, as `Executor::map`'s: one `Timeout`, the
    /// chunks not started cancelled.
    fn time_out(&mut self, front: ChunkFuture<J::Output>) -> Result<J::Output, Error> {
        front.cancel();
        self.cancel_remaining();
        Err(Error::Timeout)
    }

    /// Takes the front chunk's outcome into `ready` (an error is repeated for
    /// each of its items, so positions stay aligned).
    fn settle(&mut self, outcome: Result<ChunkOutcomes<J::Output>, Error>) {
        let length = self.lengths.pop_front().unwrap_or(1);
        match outcome {
            Ok(results) => self.ready.extend(results),
            Err(error) => {
                for _ in 1..length {
                    self.ready.push_back(Err(replicate(&error)));
                }
                self.ready.push_back(Err(error));
            }
        }
    }

    /// Submits the chunk owed for the chunk yielded last, once all of its
    /// results were yielded: a chunk counts against the bound until then
    /// (CPython gh-131466; the same order as `Executor::map_with`).
    fn refill(&mut self) {
        self.feed.refill(submitter::<Init, J>(
            &self.pool,
            &mut self.lengths,
            self.job_timeout,
        ));
    }
}

/// The result of submitting one chunk.
type Submitted<T> = Result<ChunkFuture<T>, SubmitError>;

/// How a map submits a chunk, recording its length.
fn submitter<'a, Init, J>(
    pool: &'a ProcessPoolExecutor<Init>,
    lengths: &'a mut VecDeque<usize>,
    job_timeout: Option<Duration>,
) -> impl FnMut(Vec<J::Args>, Lease<()>) -> Submitted<J::Output> + 'a
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
{
    move |chunk, _| {
        lengths.push_back(chunk.len());
        pool.submit_chunk::<J>(chunk, job_timeout)
    }
}

impl<Init, J, I> Iterator for ProcessMap<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    type Item = Result<J::Output, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.ready.pop_front() {
                return Some(result);
            }
            self.refill();
            let mut future = self.feed.pop_front()?;
            let outcome = match self.deadline {
                None => future.wait(),
                Some(deadline) => future.wait_deadline(deadline),
            };
            // The map's own timeout leaves the chunk unfinished; a chunk that
            // timed out itself (`job_timeout`) is done, and the map goes on.
            if matches!(outcome, Err(Error::Timeout)) && !future.is_done() {
                return Some(self.time_out(future));
            }
            self.settle(outcome);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Chunks hold up to `chunk_size` items: only a lower bound is exact.
        (self.ready.len(), None)
    }
}

/// [`ProcessMap`] as a [`Stream`](futures_core::Stream): made by
/// [`ProcessMap::into_stream`]. It waits without blocking, under any runtime;
/// the map's `timeout` applies as to the iterator (a timer wakes the stream:
/// the `futures-timer` crate's thread, started on first use).
#[must_use = "streams do nothing unless polled; dropping this one cancels the chunks not started"]
pub struct ProcessMapStream<Init: ProcessFn<Output = ()>, J: ProcessFn, I: Iterator<Item = J::Args>>
{
    map: ProcessMap<Init, J, I>,
    /// The map's deadline, as a timer that wakes the stream.
    timer: Option<futures_timer::Delay>,
}

impl<Init, J, I> futures_core::Stream for ProcessMapStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    type Item = Result<J::Output, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Both types are `Unpin`: they hold no self-references.
        let ProcessMapStream { map: this, timer } = self.get_mut();
        loop {
            if let Some(result) = this.ready.pop_front() {
                return Poll::Ready(Some(result));
            }
            this.refill();
            let Some(front) = this.feed.front_mut() else {
                return Poll::Ready(None);
            };
            let outcome = match core::future::Future::poll(Pin::new(front), cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    let expired = timer.as_mut().is_some_and(|timer| {
                        core::future::Future::poll(Pin::new(timer), cx).is_ready()
                    });
                    if !expired {
                        return Poll::Pending;
                    }
                    let front = this.feed.pop_front();
                    return Poll::Ready(front.map(|front| this.time_out(front)));
                }
            };
            this.feed.pop_front();
            this.settle(outcome);
        }
    }
}

impl<Init, J, I> Unpin for ProcessMapStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
}

impl<Init, J, I> fmt::Debug for ProcessMapStream<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessMapStream").field(&self.map).finish()
    }
}

impl<Init, J, I> Unpin for ProcessMap<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
}

impl<Init, J, I> fmt::Debug for ProcessMap<Init, J, I>
where
    Init: ProcessFn<Output = ()>,
    J: ProcessFn,
    I: Iterator<Item = J::Args>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, more_items) = self.feed.progress();
        f.debug_struct("ProcessMap")
            .field("chunks_in_flight", &in_flight)
            .field("more_items", &more_items)
            .field("ready", &self.ready.len())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolExecutor<Init> {
    /// Python's `map(fn, iterable, chunksize=1)`: runs `f` on every item in
    /// worker processes and yields the results in input order. Every item is
    /// submitted now (one job per item); see [`map_with`](Self::map_with) for
    /// a chunk size, a bound and a timeout. The result is a blocking
    /// [`Iterator`]; [`ProcessMap::into_stream`] makes it a
    /// [`Stream`](futures_core::Stream).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn cube(x: u64) -> u64 { x * x * x }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let cubes: Vec<u64> = pool.map(cube, 1..=4).unwrap().map(Result::unwrap).collect();
    ///     assert_eq!(cubes, [1, 8, 27, 64]);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map<J, I>(&self, f: J, items: I) -> Result<ProcessMap<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](Self::map) with [`MapOptions`]: Python's `chunksize` (items
    /// per job, so small jobs share one round trip), a bound on the jobs
    /// (chunks) in flight (Python 3.14's `buffersize`) and an overall timeout.
    ///
    /// # Errors
    ///
    /// The pool's refusal of the first chunks ([`SubmitError`]).
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
    ///     let sum: u64 = pool.map_with(double, 0..10_000, options).unwrap().map(Result::unwrap).sum();
    ///     assert_eq!(sum, 99_990_000);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMap<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        let _ = f;
        ProcessMap::new(
            self.clone(),
            Chunks::new(items.into_iter(), options.chunk()),
            options,
        )
    }
}
