//! [`Map`]: the blocking, ordered iterator of [`Executor::map`].

use alloc::collections::VecDeque;
use core::fmt;
use core::num::NonZeroUsize;
use std::time::{Duration, Instant};

use super::Executor;
use crate::error::{Error, SubmitError};
use crate::future::SharedFuture;
use crate::sync::Arc;

/// Options of [`Executor::map_with`].
///
/// ```
/// use std::{num::NonZeroUsize, time::Duration};
/// let options = concurrent_futures::MapOptions::new()
///     .buffer_size(NonZeroUsize::new(8).unwrap())
///     .timeout(Duration::from_secs(30));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct MapOptions {
    buffer_size: Option<NonZeroUsize>,
    timeout: Option<Duration>,
}

impl MapOptions {
    /// No bound (every item is submitted at once) and no timeout.
    ///
    /// ```
    /// let options = concurrent_futures::MapOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `jobs` submitted and not yet yielded (Python 3.14's `buffersize`):
    /// the next item is submitted each time a result is taken, so an endless
    /// input works.
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
    /// `timeout`). When a result is not ready by then, the iterator yields
    /// [`Error::Timeout`], cancels every job not yet started, and ends.
    ///
    /// ```
    /// let options = concurrent_futures::MapOptions::new().timeout(std::time::Duration::from_secs(5));
    /// # let _ = options;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
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
/// `test_map_submits_without_iteration`). Call [`cancel`](Map::cancel) to cancel
/// explicitly.
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new();
/// let mut results = pool.map(0..3, |x| x + 1).unwrap();
/// assert_eq!(results.next().unwrap().unwrap(), 1);
/// drop(results); // iteration began: jobs not started yet are cancelled
/// ```
#[must_use = "iterators are lazy; the jobs run anyway, but their results are dropped"]
pub struct Map<'e, E, I, F, T>
where
    I: Iterator,
{
    executor: &'e E,
    /// Items not submitted yet (only when a buffer size is set).
    items: Option<I>,
    f: Arc<F>,
    in_flight: VecDeque<SharedFuture<T>>,
    deadline: Option<Instant>,
    /// `next` was called at least once: dropping cancels what remains.
    started: bool,
}

impl<'e, E, I, F, T> Map<'e, E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(
        executor: &'e E,
        items: I,
        f: F,
        options: MapOptions,
    ) -> Result<Self, SubmitError> {
        let deadline = options
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let mut map = Map {
            executor,
            items: Some(items),
            f: Arc::new(f),
            in_flight: VecDeque::new(),
            deadline,
            started: false,
        };
        let limit = options.buffer_size.map_or(usize::MAX, NonZeroUsize::get);
        while map.in_flight.len() < limit {
            match map.submit_next() {
                Some(Ok(())) => {}
                None => break,
                // Python submits eagerly and raises at once; cancel what was
                // already submitted.
                Some(Err(error)) => {
                    map.cancel();
                    return Err(error);
                }
            }
        }
        if options.buffer_size.is_none() {
            map.items = None;
        }
        Ok(map)
    }

    /// Submits the next item, if there is one.
    fn submit_next(&mut self) -> Option<Result<(), SubmitError>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        let f = Arc::clone(&self.f);
        Some(
            self.executor
                .submit(move || f(item))
                .map(|future| self.in_flight.push_back(future)),
        )
    }

    /// Cancels every job that has not started and ends the iteration: no more
    /// items are submitted and nothing more is yielded.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let mut results = pool.map(0..1000, |x| x).unwrap();
    /// results.cancel();
    /// assert!(results.next().is_none());
    /// ```
    pub fn cancel(&mut self) {
        self.items = None;
        for future in self.in_flight.drain(..) {
            future.cancel();
        }
    }
}

impl<E, I, F, T> Iterator for Map<'_, E, I, F, T>
where
    E: Executor,
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.started = true;
        let mut future = self.in_flight.pop_front()?;
        // Keep the buffer full before blocking, as Python 3.14 does.
        if let Some(Err(error)) = self.submit_next() {
            // The executor refused more work: yield what was submitted, then the
            // refusal, then stop.
            self.items = None;
            self.in_flight
                .push_back(crate::promise::failed(Error::from(error)));
        }
        let result = match self.deadline {
            None => future.wait(),
            Some(deadline) => future.wait_deadline(deadline),
        };
        if matches!(result, Err(Error::Timeout)) {
            future.cancel();
            self.cancel();
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.items {
            None => (self.in_flight.len(), Some(self.in_flight.len())),
            Some(items) => {
                let (low, high) = items.size_hint();
                let queued = self.in_flight.len();
                (
                    low.saturating_add(queued),
                    high.and_then(|high| high.checked_add(queued)),
                )
            }
        }
    }
}

impl<E, I: Iterator, F, T> Drop for Map<'_, E, I, F, T> {
    fn drop(&mut self) {
        if self.started {
            for future in self.in_flight.drain(..) {
                future.cancel();
            }
        }
    }
}

impl<E, I: Iterator, F, T> fmt::Debug for Map<'_, E, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.in_flight.len())
            .field("more_items", &self.items.is_some())
            .field("deadline", &self.deadline)
            .finish()
    }
}
