//! [`Map`]: the blocking, ordered iterator of [`Executor::map`].

use core::fmt;
use core::num::NonZeroUsize;
use std::time::{Duration, Instant};

use alloc::collections::VecDeque;

use super::chunk::{self, Chunks, Drain, Outcomes};
use super::feed::Feed;
use super::{Executor, Job, JobOptions, lifecycle};
use crate::error::{Error, SubmitError};
use crate::future::SharedFuture;
use crate::lease::Lease;

/// Options of every `map_with`: [`Executor::map_with`],
/// [`AsyncExecutor::map_with`](crate::AsyncExecutor::map_with) and the process
/// pool's `map_with`: Python's `timeout`, `chunksize` and 3.14's `buffersize`.
///
/// ```
/// use std::{num::NonZeroUsize, time::Duration};
/// let options = concurrent_futures::MapOptions::new()
///     .buffer_size(NonZeroUsize::new(8).unwrap())
///     .timeout(Duration::from_secs(30));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct MapOptions {
    pub(crate) chunk_size: Option<NonZeroUsize>,
    pub(crate) buffer_size: Option<NonZeroUsize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) job_timeout: Option<Duration>,
}

impl MapOptions {
    /// One item per job (chunk size 1), no bound (every item is submitted at
    /// once) and no timeout.
    ///
    /// ```
    /// let options = concurrent_futures::MapOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `jobs` submitted and not yet yielded (Python 3.14's
    /// `buffersize`): the next job is submitted each time a result is yielded,
    /// so an endless input works and at most `jobs` calls of `f` run at once.
    ///
    /// With a [`chunk_size`](Self::chunk_size), an executor of closures (a
    /// thread pool, the adapters, `AsyncExecutor` over them) counts *items*:
    /// at most `jobs` items are submitted and not yet yielded. The buffer
    /// holds whole chunks (`jobs / chunk_size`, rounded down, at least one),
    /// a chunk larger than the buffer is cut to `jobs` items, and a chunk's
    /// replacement is submitted once its last result was yielded. The process
    /// pool counts chunks (a chunk is one of its jobs).
    ///
    /// ```
    /// let options = concurrent_futures::MapOptions::new().buffer_size(1.try_into().unwrap());
    /// # let _ = options;
    /// ```
    pub fn buffer_size(mut self, jobs: NonZeroUsize) -> Self {
        self.buffer_size = Some(jobs);
        self
    }

    /// An overall deadline, counted from the call to `map_with` (Python's
    /// `timeout`). When a result is not ready by then, the map yields
    /// [`Error::Timeout`], cancels every job not yet started, and ends (the
    /// async stream too: it is woken at the deadline by a timer thread that
    /// `futures-timer` starts on first use).
    ///
    /// ```
    /// let options = concurrent_futures::MapOptions::new().timeout(std::time::Duration::from_secs(5));
    /// # let _ = options;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A deadline for each job, `timeout` after it is submitted (Python has
    /// none): a job not started by then is skipped and one that returns
    /// after it has its value dropped; either yields [`Error::Timeout`] in
    /// the job's place, and the map goes on with the next item (unlike
    /// [`timeout`](Self::timeout), which ends the map). The map's function
    /// takes no token, so it cannot see the deadline while it runs; for jobs
    /// that should stop early, submit them with `Executor::submit_with` and
    /// [`JobOptions`](crate::JobOptions). On the process pool it applies to
    /// each chunk (a job): a chunk not sent to a worker by then, or answered
    /// after it, yields `Timeout` for each of its items; a running process
    /// job is not interrupted.
    ///
    /// ```
    /// let per_job = concurrent_futures::MapOptions::new().job_timeout(std::time::Duration::from_secs(2));
    /// # let _ = per_job;
    /// ```
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = Some(timeout);
        self
    }

    /// Python's `chunksize`: `items` consecutive items run as one job (one
    /// allocation, one future), so that trivial items share the cost of a
    /// job. Results are still yielded per item: `map` in input order,
    /// `map_unordered` as `(index, outcome)` for each item, in the order the
    /// chunks finish. Default 1: one job per item.
    ///
    /// Python's `ThreadPoolExecutor.map` ignores `chunksize`; here every
    /// executor honours it. For an executor of closures (a thread pool,
    /// `InlineExecutor`, the rayon and tokio adapters, `AsyncExecutor` over
    /// them):
    ///
    /// - **Panics**: each item runs under its own `catch_unwind`, so a panic
    ///   fails only its own item (`Error::Panicked`) and the next items of the
    ///   chunk still run with the same function (it is `Fn`, shared by every
    ///   job anyway, as with one job per item). Python's process pool fails
    ///   per chunk (the exception of one item is raised for the whole chunk);
    ///   per item is what a chunk size of 1 gives, so changing the chunk size
    ///   changes speed, not outcomes.
    /// - **Results become visible per chunk**: a map waits for a whole chunk,
    ///   then yields its items one by one.
    /// - **Cancellation** stays per item from the caller's view: dropping a
    ///   map that was advanced, [`cancel_remaining`](crate::Map::cancel_remaining),
    ///   a map [`timeout`](Self::timeout), or a shutdown with
    ///   [`CancelFutures::Yes`](crate::CancelFutures::Yes) cancels the chunks
    ///   not started (each of their items reports `Cancelled`, or is dropped
    ///   unrun); a running chunk checks before each item whether it is still
    ///   wanted (a relaxed load) and drops the items it did not start. A
    ///   chunk that fails as a whole (refused, cancelled) reports its error
    ///   once for each of its items.
    /// - **Timeouts**: a map `timeout` that expires while its chunk runs
    ///   yields `Timeout` for the item waited for, as with one job per item,
    ///   and ends the map. [`job_timeout`](Self::job_timeout) is per item,
    ///   counted from the chunk's submit (every item of a chunk has the same
    ///   deadline): an item not started by then is dropped and one that
    ///   returns after it has its value dropped, each reporting `Timeout`,
    ///   and the other items of the chunk keep their own outcomes. As for one
    ///   job, the deadline is cooperative: an item that is running is not
    ///   interrupted, and the items after it wait for it.
    /// - [`buffer_size`](Self::buffer_size) counts items.
    ///
    /// Inside a chunk an item costs one call, a push into a vector allocated
    /// once per chunk and one relaxed load: no allocation and no atomic
    /// read-modify-write per item. Chunks of a few thousand trivial items
    /// cut a map's cost per item by more than ten times against one job per
    /// item; rayon's `par_iter().map().collect()` is still faster on such
    /// items (`benches/paired.rs`, group `chunked_map`, gives the ratio).
    /// For items that each take long, keep the default, which balances best.
    ///
    /// For the process pool, `items` are sent to a worker process as one job,
    /// so that small jobs share one round trip. A chunk is one job for
    /// cancellation, `max_tasks_per_child`, the bound and a worker's death
    /// (which fails every item of the chunk); a panic fails only its own item.
    ///
    /// ```
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let options = MapOptions::new().chunk_size(1024.try_into().unwrap());
    /// let squares: Vec<u64> = pool
    ///     .map_with(|x: u64| x * x, 0..10_000, options) // 10 jobs, not 10,000
    ///     .unwrap()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(squares[9_999], 9_999 * 9_999);
    /// ```
    pub fn chunk_size(mut self, items: NonZeroUsize) -> Self {
        self.chunk_size = Some(items);
        self
    }

    /// Items per job: the chunk size, 1 by default.
    pub(crate) fn chunk(&self) -> usize {
        self.chunk_size.map_or(1, NonZeroUsize::get)
    }

    /// The deadline `timeout` gives, counted from now.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout
            .and_then(|timeout| Instant::now().checked_add(timeout))
    }
}

/// The results of [`Executor::map`], in input order. Each call to `next` blocks
/// until the next result is ready.
///
/// # Dropping
///
/// As with Python's generator: once iteration has begun, dropping the iterator
/// cancels the jobs that have not started (running ones finish and their results
/// are dropped on the worker). An iterator that was never advanced cancels
/// nothing: every submitted job runs (CPython's
/// `test_map_submits_without_iteration`). Call [`cancel_remaining`](Map::cancel_remaining) to cancel
/// explicitly. (Dropping an [`AsCompleted`](crate::AsCompleted) cancels nothing.)
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new();
/// let mut results = pool.map(|x| x + 1, 0..3).unwrap();
/// assert_eq!(results.next().unwrap().unwrap(), 1);
/// drop(results); // iteration began: jobs not started yet are cancelled
/// ```
#[must_use = "iterators are lazy; the jobs run anyway, but their results are dropped"]
pub struct Map<E, I, F, T>
where
    I: Iterator,
{
    /// A handle of the executor (a clone, an `Arc`, or a reference): the
    /// iterator owns what it needs, so it can be returned or sent away.
    executor: E,
    mode: Mode<I, F, T>,
    deadline: Option<Instant>,
    job_timeout: Option<Duration>,
}

/// One job per item, or one per chunk of items.
enum Mode<I: Iterator, F, T> {
    Items(Feed<I, F, T>),
    Chunks {
        feed: Feed<Chunks<I>, F, Outcomes<T>>,
        /// The item count of each chunk in `feed`, in order.
        lengths: VecDeque<usize>,
        /// The outcomes of the chunk being yielded.
        current: Drain<T>,
    },
}

impl<E, I, F, T> Map<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    /// What [`Executor::map_with`] makes, for any handle of an executor: an
    /// owned one, an `Arc`, or a reference (the way to map on an executor that
    /// is not `Clone`, such as `InlineExecutor`).
    ///
    /// # Errors
    ///
    /// As [`Executor::map`].
    ///
    /// ```
    /// use concurrent_futures::{InlineExecutor, Map, MapOptions};
    /// let executor = InlineExecutor::new();
    /// let squares: Vec<u32> = Map::new(&executor, |x| x * x, 1..=3_u32, MapOptions::new())
    ///     .unwrap()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(squares, [1, 4, 9]);
    /// ```
    pub fn new(
        executor: E,
        f: F,
        items: impl IntoIterator<IntoIter = I>,
        options: MapOptions,
    ) -> Result<Self, SubmitError> {
        let deadline = options.deadline();
        let items = items.into_iter();
        let mode = match options.chunk() {
            1 => Mode::Items(Feed::start(
                items,
                f,
                options.buffer_size,
                submitter(&executor, options.job_timeout),
            )?),
            chunk => {
                let (chunk, bound) = chunk::layout(chunk, options.buffer_size);
                let mut lengths = VecDeque::new();
                let feed = Feed::start(
                    Chunks::new(items, chunk),
                    f,
                    bound,
                    chunk::submitter(&executor, options.job_timeout, &mut lengths),
                )?;
                Mode::Chunks {
                    feed,
                    lengths,
                    current: Drain::empty(),
                }
            }
        };
        Ok(Map {
            executor,
            mode,
            deadline,
            job_timeout: options.job_timeout,
        })
    }

    /// Cancels every job that has not started and ends the iteration: no more
    /// items are submitted and nothing more is yielded.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut results = pool.map(|x| x, 0..1000).unwrap();
    /// results.cancel_remaining();
    /// assert!(results.next().is_none());
    /// ```
    pub fn cancel_remaining(&mut self) {
        match &mut self.mode {
            Mode::Items(feed) => feed.cancel(),
            Mode::Chunks {
                feed,
                lengths,
                current,
            } => {
                feed.cancel();
                lengths.clear();
                // Values already computed: dropped here, each once, a
                // panicking `Drop` not stopping the others.
                lifecycle::finish_each(core::mem::replace(current, Drain::empty()), drop);
            }
        }
    }
}

/// How `Executor::map` submits an item: `f(item)`, as a plain job, or with
/// a deadline `job_timeout` from now.
pub(super) fn submitter<E, Item, F, T>(
    executor: &E,
    job_timeout: Option<Duration>,
) -> impl FnMut(Item, Lease<F>) -> Result<SharedFuture<T>, SubmitError> + '_
where
    E: Executor,
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    move |item, f| {
        let (job, future) = match job_timeout {
            None => Job::new(move || f(item)),
            Some(timeout) => {
                Job::with_options(move |_| f(item), JobOptions::new().timeout(timeout))
            }
        };
        executor.execute(job).map(|()| future)
    }
}

impl<E, I, F, T> Iterator for Map<E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let Map {
            executor,
            mode,
            deadline,
            job_timeout,
        } = self;
        match mode {
            Mode::Items(feed) => {
                // The item owed for the result yielded last is submitted now,
                // not before that result was yielded: a result counts against
                // the bound until it is yielded (CPython gh-131466, where the
                // refill came first and ran one job too many).
                feed.refill(submitter(executor, *job_timeout));
                let mut future = feed.pop_front()?;
                let result = match deadline {
                    None => future.wait(),
                    Some(deadline) => future.wait_deadline(*deadline),
                };
                // The map's own timeout leaves the job unfinished; a job that
                // timed out itself (`job_timeout`) is done, and the map goes on.
                if matches!(result, Err(Error::Timeout)) && !future.is_done() {
                    future.cancel();
                    feed.cancel();
                }
                Some(result)
            }
            Mode::Chunks {
                feed,
                lengths,
                current,
            } => loop {
                if let Some(result) = current.next() {
                    return Some(result);
                }
                // A chunk counts against the bound until its last result is
                // yielded: its replacement is submitted only now.
                feed.refill(chunk::submitter(executor, *job_timeout, lengths));
                let mut future = feed.pop_front()?;
                let length = lengths.pop_front().unwrap_or(1);
                let outcome = match deadline {
                    None => future.wait(),
                    Some(deadline) => future.wait_deadline(*deadline),
                };
                // As one job per item: the item waited for reports the
                // timeout, the chunks not started are cancelled, a running one
                // is asked to stop (its items not started are dropped), and
                // the map ends.
                if matches!(outcome, Err(Error::Timeout)) && !future.is_done() {
                    future.cancel();
                    feed.cancel();
                    lengths.clear();
                    return Some(Err(Error::Timeout));
                }
                *current = Drain::new(outcome, length);
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.mode {
            Mode::Items(feed) => feed.size_hint(),
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

impl<E, I: Iterator, F, T> fmt::Debug for Map<E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (in_flight, more_items) = match &self.mode {
            Mode::Items(feed) => feed.progress(),
            Mode::Chunks { feed, .. } => feed.progress(),
        };
        f.debug_struct("Map")
            .field("in_flight", &in_flight)
            .field("more_items", &more_items)
            .field("deadline", &self.deadline)
            .finish()
    }
}
