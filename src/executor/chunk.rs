//! Chunked maps for executors of closures ([`MapOptions::chunk_size`]): one
//! job runs `chunk_size` consecutive items and its future holds one outcome
//! per item, which the maps then yield item by item.
//!
//! The per-item cost inside a chunk is what makes a map of trivial items
//! cheap: one call of `f` under `catch_unwind` (free unless it panics), one
//! push into a vector allocated once per chunk, and one relaxed load of the
//! job's state word (the stop check). No allocation, no atomic
//! read-modify-write per item; the job, its future, the items' vector and the
//! outcomes' vector are per chunk.
//!
//! [`MapOptions::chunk_size`]: super::MapOptions::chunk_size

use alloc::boxed::Box;
use alloc::vec::{self, Vec};
use core::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::lifecycle::run_quietly;
use super::{Executor, Job};
use crate::error::{Error, Panic, SubmitError};
use crate::future::SharedFuture;
use crate::lease::Lease;
use crate::promise::StopToken;

/// Groups items into chunks of `size` (the last one may be shorter).
pub(crate) struct Chunks<I> {
    items: I,
    size: usize,
}

impl<I: Iterator> Chunks<I> {
    pub(crate) fn new(items: I, size: usize) -> Self {
        Chunks { items, size }
    }

    /// The size hint of the items not yet grouped (not of the chunks).
    pub(crate) fn items_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl<I: Iterator> Iterator for Chunks<I> {
    type Item = Vec<I::Item>;

    fn next(&mut self) -> Option<Vec<I::Item>> {
        let mut chunk = Vec::with_capacity(self.size);
        chunk.extend(self.items.by_ref().take(self.size));
        (!chunk.is_empty()).then_some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self.items.size_hint();
        (
            low.div_ceil(self.size),
            high.map(|high| high.div_ceil(self.size)),
        )
    }
}

/// The outcomes of one chunk's items, in input order.
pub(crate) type Outcomes<T> = Vec<Result<T, Error>>;

/// The chunk size and the bound in chunks for `chunk_size` items a job and a
/// `buffer_size` counted in items: a chunk larger than the buffer is cut to
/// it, and the buffer holds whole chunks (rounded down, at least one), so at
/// most `buffer_size` items are submitted and not yet yielded.
pub(crate) fn layout(chunk: usize, buffer: Option<NonZeroUsize>) -> (usize, Option<NonZeroUsize>) {
    match buffer {
        None => (chunk, None),
        Some(items) => {
            let chunk = chunk.min(items.get());
            (chunk, NonZeroUsize::new(items.get() / chunk))
        }
    }
}

/// The deadline of the items of a chunk submitted now with `job_timeout`.
pub(crate) fn deadline(job_timeout: Option<Duration>) -> Option<Instant> {
    job_timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

/// Runs one chunk: `f` on each item in order, each under its own
/// `catch_unwind`, so a panic fails only its item and the next items still
/// run. Once the token reports a stop (the map cancelled or dropped the
/// chunk's future, or the executor was shut down with
/// `CancelFutures::AndStopRunning`), the items not started are dropped and
/// report `Cancelled`, as jobs not started do. With a `deadline`
/// (`MapOptions::job_timeout`), an item not started by then is dropped and
/// one that returns after it has its value dropped: both report `Timeout`.
/// A panicking `Drop` of an item or a value dropped here is caught: the
/// item's outcome is the same.
pub(crate) fn run<Item, F, T>(
    items: Vec<Item>,
    f: &F,
    token: &StopToken<'_>,
    deadline: Option<Instant>,
) -> Outcomes<T>
where
    F: Fn(Item) -> T,
{
    let mut outcomes = Vec::with_capacity(items.len());
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        // A relaxed load of the job's own state word, which only the
        // consumer writes (to cancel): it stays in this core's cache.
        if token.is_stop_requested() {
            skip(item, Error::Cancelled, &mut outcomes);
            for item in items.by_ref() {
                skip(item, Error::Cancelled, &mut outcomes);
            }
            break;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            skip(item, Error::Timeout, &mut outcomes);
            continue;
        }
        let outcome = match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(value) => match deadline {
                Some(deadline) if Instant::now() > deadline => {
                    run_quietly(move || drop(value));
                    Err(Error::Timeout)
                }
                _ => Ok(value),
            },
            Err(payload) => Err(Error::Panicked(Panic::new(payload))),
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// An item that is not run: dropped (a panicking `Drop` caught), `error` in
/// its place.
fn skip<Item, T>(item: Item, error: Error, outcomes: &mut Outcomes<T>) {
    run_quietly(move || drop(item));
    outcomes.push(Err(error));
}

/// A chunk's job for `Executor::map`: [`run`] with the map's function; the
/// lease of the function is given back when the chunk ends.
pub(crate) fn job<Item, F, T>(
    items: Vec<Item>,
    f: Lease<F>,
    job_timeout: Option<Duration>,
) -> (Job, SharedFuture<Outcomes<T>>)
where
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let deadline = deadline(job_timeout);
    Job::stoppable(move |token| run(items, &*f, token, deadline))
}

/// How `Executor::map` submits a chunk: as one job, its length recorded in
/// `lengths` first (so that a chunk that fails as a whole, refused or
/// cancelled, reports its error once for each of its items).
pub(crate) fn submitter<'a, E, Item, F, T>(
    executor: &'a E,
    job_timeout: Option<Duration>,
    lengths: &'a mut alloc::collections::VecDeque<usize>,
) -> impl FnMut(Vec<Item>, Lease<F>) -> Result<SharedFuture<Outcomes<T>>, SubmitError> + 'a
where
    E: Executor,
    Item: Send + 'static,
    F: Fn(Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    move |items, f| {
        lengths.push_back(items.len());
        let (job, future) = job(items, f, job_timeout);
        executor.execute(job).map(|()| future)
    }
}

/// The outcomes of one chunk, yielded item by item: its values, or, for a
/// chunk that failed as a whole, its error once for each item.
pub(crate) enum Drain<T> {
    Done(vec::IntoIter<Result<T, Error>>),
    Failed { error: Option<Error>, left: usize },
}

impl<T> Drain<T> {
    /// Nothing to yield.
    pub(crate) fn empty() -> Self {
        Drain::Failed {
            error: None,
            left: 0,
        }
    }

    /// The outcome of a chunk of `length` items.
    pub(crate) fn new(outcome: Result<Outcomes<T>, Error>, length: usize) -> Self {
        match outcome {
            Ok(outcomes) => Drain::Done(outcomes.into_iter()),
            Err(error) => Drain::Failed {
                error: Some(error),
                left: length,
            },
        }
    }

    /// Outcomes not yielded yet.
    pub(crate) fn len(&self) -> usize {
        match self {
            Drain::Done(outcomes) => outcomes.len(),
            Drain::Failed { left, .. } => *left,
        }
    }
}

impl<T> Iterator for Drain<T> {
    type Item = Result<T, Error>;

    #[inline]
    fn next(&mut self) -> Option<Result<T, Error>> {
        match self {
            Drain::Done(outcomes) => outcomes.next(),
            Drain::Failed { error, left } => {
                *left = left.checked_sub(1)?;
                if *left == 0 {
                    error.take().map(Err)
                } else {
                    error.as_ref().map(|error| Err(replicate(error)))
                }
            }
        }
    }
}

/// A copy of `error` for another item of the same failed chunk.
pub(crate) fn replicate(error: &Error) -> Error {
    match error {
        Error::Cancelled => Error::Cancelled,
        // A chunk catches each item's panic: its job does not panic. Should
        // it, each item gets the message.
        Error::Panicked(panic) => Error::Panicked(Panic::new(Box::new(
            alloc::string::ToString::to_string(panic),
        ))),
        Error::Abandoned => Error::Abandoned,
        Error::AlreadyTaken => Error::AlreadyTaken,
        Error::Timeout => Error::Timeout,
        Error::Shutdown => Error::Shutdown,
        Error::Broken(broken) => Error::Broken(broken.clone()),
        Error::Spawn(kind) => Error::Spawn(*kind),
        Error::WouldDeadlock => Error::WouldDeadlock,
        #[cfg(all(feature = "process", unix, not(loom)))]
        Error::Process(process) => Error::Process(process.clone()),
    }
}
