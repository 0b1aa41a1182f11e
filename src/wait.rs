//! Python's `concurrent.futures.wait` and `as_completed`, for blocked threads.
//!
//! Both register one [`FanIn`] as the waiter of every unfinished future, with
//! the same protocol as a single blocking wait, so a completion that lands
//! while they register is never missed: either the producer sees the
//! registration and notifies the fan-in, or the registration sees the finished
//! state. A completion reports its future's index, so after a wake-up only the
//! futures that finished are looked at: O(1) per completion, O(n) set-up.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::fan_in::FanIn;
use crate::future::SharedFuture;
use crate::sync::Arc;

/// When [`wait`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION` and
/// `ALL_COMPLETED`.
///
/// ```
/// use concurrent_futures::ReturnWhen;
/// assert_ne!(ReturnWhen::FirstCompleted, ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnWhen {
    /// As soon as any future is done (cancelled or finished).
    FirstCompleted,
    /// As soon as any future finishes with an error (a panic, a broken
    /// executor, or abandoned); cancelled futures do not count, as in Python.
    /// If none fails, this is `AllCompleted`.
    FirstException,
    /// When every future is done.
    #[default]
    AllCompleted,
}

/// What [`wait`] found: indices into the slice it was given, in order.
///
/// ```
/// let waited = concurrent_futures::Waited { done: vec![0], not_done: vec![1] };
/// assert_eq!(waited.done, [0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Waited {
    /// Futures that are done (cancelled or finished).
    pub done: Vec<usize>,
    /// Futures still pending or running.
    pub not_done: Vec<usize>,
}

/// Python's `concurrent.futures.wait(fs, timeout, return_when)`: blocks until
/// `return_when` is satisfied or `timeout` passes (`None`: no limit), then
/// reports which futures are done. Outcomes are not taken: use
/// [`SharedFuture::try_take`] on the `done` indices.
///
/// A timeout is not an error here, as in Python: the caller looks at
/// `not_done`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{ReturnWhen, promise, wait};
///
/// let (fast, fast_future) = promise::<u8>();
/// let (_slow, slow_future) = promise::<u8>();
/// let mut futures = [fast_future, slow_future];
/// std::thread::spawn(move || fast.set_result(1));
/// let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
/// assert_eq!(waited.done, [0]);
/// assert_eq!(waited.not_done, [1]);
/// assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
/// ```
pub fn wait<T>(
    futures: &mut [SharedFuture<T>],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Waited {
    let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
    let mut tally = Tally {
        done: alloc::vec![false; futures.len()],
        count: 0,
        failed: false,
        return_when,
    };
    // A first pass that only loads: futures already done need no registration,
    // and a wait already satisfied registers nothing.
    for (index, future) in futures.iter_mut().enumerate() {
        if let Some(seen) = future.finished_snapshot() {
            tally.mark(index, future.is_failure(seen));
        }
    }
    // Every future not done by now gets the fan-in as its waiter.
    let registered = !tally.satisfied();
    if registered {
        let fan_in = FanIn::new();
        for (index, future) in futures.iter_mut().enumerate() {
            if tally.done[index] {
                continue;
            }
            if let Some(seen) = future.register_fan_in(&fan_in, index) {
                tally.mark(index, future.is_failure(seen));
            }
        }
        // Each completion from now on arrives once, by index: O(1) each.
        let mut finished = VecDeque::new();
        while !tally.satisfied() && fan_in.wait(&mut finished, deadline) {
            for index in finished.drain(..) {
                let future = &mut futures[index];
                if let Some(seen) = future.finished_snapshot() {
                    tally.mark(index, future.is_failure(seen));
                }
            }
        }
    }
    let mut waited = Waited::default();
    for (index, future) in futures.iter_mut().enumerate() {
        // A future still registered is deregistered, unless it finished
        // meanwhile (its producer then owns the fan-in's waiter and drops it).
        if tally.done[index] || (registered && future.deregister().is_err()) {
            waited.done.push(index);
        } else {
            waited.not_done.push(index);
        }
    }
    waited
}

/// What [`wait`] has seen so far.
struct Tally {
    done: Vec<bool>,
    count: usize,
    failed: bool,
    return_when: ReturnWhen,
}

impl Tally {
    fn mark(&mut self, index: usize, failed: bool) {
        if !core::mem::replace(&mut self.done[index], true) {
            self.count += 1;
            self.failed |= failed;
        }
    }

    fn satisfied(&self) -> bool {
        let all = self.count == self.done.len();
        match self.return_when {
            ReturnWhen::FirstCompleted => self.count > 0 || all,
            ReturnWhen::FirstException => self.failed || all,
            ReturnWhen::AllCompleted => all,
        }
    }
}

/// Python's `concurrent.futures.as_completed(fs, timeout)`: an iterator that
/// yields, for each future, its index in the input and its outcome, as it
/// becomes done (futures already done first, in input order). Every index is
/// yielded exactly once: Python's `for f in as_completed(fs): f.result()` in
/// one step.
///
/// # Errors
///
/// Each outcome is the future's: `Ok(value)`, or its [`Error`]
/// (`Panicked`, `Cancelled`, `Abandoned`, `Broken`, ...). When `timeout`
/// passes first (counted from the first call to `next`, as in Python), every
/// future not done by then is yielded with `Err(Error::Timeout)`, in input
/// order, and the iteration ends; the futures themselves are not cancelled
/// (as in Python), and [`AsCompleted::into_remaining`] takes back those not
/// yielded yet.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (0..4_u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let mut squares = vec![0; 4];
/// for (index, outcome) in as_completed(futures, None) {
///     squares[index] = outcome.unwrap();
/// }
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
///
/// In async code, await the futures in a `futures::stream::FuturesUnordered`
/// (through [`unwrap_future`](crate::unwrap_future), so that dropping the
/// stream cancels the jobs not started):
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor, unwrap_future};
/// use futures::stream::{FuturesUnordered, StreamExt};
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (0..4_u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let mut completed: FuturesUnordered<_> = futures
///     .into_iter()
///     .enumerate()
///     .map(|(index, future)| async move { (index, unwrap_future(future).await) })
///     .collect();
/// futures::executor::block_on(async {
///     let mut squares = vec![0; 4];
///     while let Some((index, outcome)) = completed.next().await {
///         squares[index] = outcome.unwrap();
///     }
///     assert_eq!(squares, [0, 1, 4, 9]);
/// });
/// ```
pub fn as_completed<T>(
    futures: impl IntoIterator<Item = SharedFuture<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    let mut futures: Vec<Option<SharedFuture<T>>> = futures.into_iter().map(Some).collect();
    let fan_in = FanIn::new();
    let mut ready = VecDeque::new();
    for (index, slot) in futures.iter_mut().enumerate() {
        let future = slot.as_mut().expect("every slot is filled");
        let finished = match future.finished_snapshot() {
            Some(_) => true,
            None => future.register_fan_in(&fan_in, index).is_some(),
        };
        if finished {
            ready.push_back(index);
        }
    }
    AsCompleted {
        remaining: futures.len(),
        futures,
        ready,
        fan_in,
        timeout,
        deadline: None,
        timed_out_from: None,
    }
}

/// The iterator of [`as_completed`].
///
/// Every unfinished future is registered once, when the iterator is made; each
/// completion then hands its index to the iterator, so yielding a future costs
/// O(1) however many are still pending. The iterator may be moved to another
/// thread: it parks and is woken on the thread that calls `next`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct AsCompleted<T> {
    /// By input index; `None` once yielded.
    futures: Vec<Option<SharedFuture<T>>>,
    /// Futures not yielded yet.
    remaining: usize,
    /// Indices of futures known to be done and not yet yielded, in the order
    /// they were found done.
    ready: VecDeque<usize>,
    fan_in: Arc<FanIn>,
    timeout: Option<Duration>,
    /// Set at the first `next`, from `timeout`.
    deadline: Option<Instant>,
    /// Once the deadline passed: the next input index to look at when
    /// yielding what was not done in time.
    timed_out_from: Option<usize>,
}

impl<T> AsCompleted<T> {
    /// The futures not yielded yet, with their input indices, in input order
    /// (after a timeout, for example).
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::{Error, as_completed, promise};
    ///
    /// let (_first, first) = promise::<u8>();
    /// let (_second, second) = promise::<u8>();
    /// let mut iter = as_completed([first, second], Some(Duration::ZERO));
    /// let (index, outcome) = iter.next().unwrap();
    /// assert_eq!(index, 0);
    /// assert!(outcome.unwrap_err().is_timeout());
    /// let remaining = iter.into_remaining(); // the second, not yielded yet
    /// assert_eq!(remaining.len(), 1);
    /// assert_eq!(remaining[0].0, 1);
    /// ```
    pub fn into_remaining(mut self) -> Vec<(usize, SharedFuture<T>)> {
        let mut remaining = Vec::with_capacity(self.remaining);
        for (index, slot) in self.futures.iter_mut().enumerate() {
            if let Some(mut future) = slot.take() {
                // Finished meanwhile (`Err`): the producer owns the fan-in's
                // waiter and drops it; nothing to undo.
                let _ = future.deregister();
                remaining.push((index, future));
            }
        }
        remaining
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(timeout) = self.timeout.take() {
            self.deadline = Instant::now().checked_add(timeout);
        }
        loop {
            while let Some(index) = self.ready.pop_front() {
                // Each index is reported once (one registration, one wake-up);
                // a slot already empty would be a second report: skip it.
                if let Some(mut future) = self.futures[index].take() {
                    self.remaining -= 1;
                    let outcome = future
                        .try_take()
                        .expect("a future reported done has its outcome");
                    return Some((index, outcome));
                }
                debug_assert!(false, "future {index} was reported done twice");
            }
            if self.remaining == 0 {
                return None;
            }
            if let Some(from) = self.timed_out_from {
                return self.next_timed_out(from);
            }
            if !self.fan_in.wait(&mut self.ready, self.deadline) {
                self.timed_out_from = Some(0);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

impl<T> AsCompleted<T> {
    /// After the deadline: the next future not yielded yet, in input order,
    /// with `Timeout`, or with its outcome if it finished meanwhile.
    fn next_timed_out(&mut self, from: usize) -> Option<(usize, Result<T, Error>)> {
        for index in from..self.futures.len() {
            if let Some(mut future) = self.futures[index].take() {
                self.timed_out_from = Some(index + 1);
                self.remaining -= 1;
                let outcome = match future.deregister() {
                    Ok(()) => Err(Error::Timeout),
                    // Finished meanwhile: the outcome wins over the timeout.
                    Err(_) => future
                        .try_take()
                        .expect("a finished future has its outcome"),
                };
                return Some((index, outcome));
            }
        }
        None
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("ready", &self.ready.len())
            .field("timed_out", &self.timed_out_from.is_some())
            .finish()
    }
}
