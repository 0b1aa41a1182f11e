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
    let mut waiting = Waiting::register(futures, return_when);
    if let Some(fan_in) = waiting.fan_in.clone() {
        // Each completion from now on arrives once, by index: O(1) each.
        let mut finished = VecDeque::new();
        while !waiting.tally.satisfied() && fan_in.wait(&mut finished, deadline) {
            waiting.absorb(futures, &mut finished);
        }
    }
    waiting.finish(futures)
}

/// The steps of [`wait`], shared with the async `wait`
/// (`crate::async_executor::wait`): register, absorb completions, report.
pub(crate) struct Waiting {
    pub(crate) tally: Tally,
    /// The fan-in registered with every future not done at the start; `None`
    /// if the wait was satisfied without registering.
    pub(crate) fan_in: Option<Arc<FanIn>>,
}

impl Waiting {
    /// Marks the futures already done and registers one fan-in with the others,
    /// unless that already satisfies `return_when`.
    pub(crate) fn register<T>(futures: &mut [SharedFuture<T>], return_when: ReturnWhen) -> Self {
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
        if tally.satisfied() {
            return Waiting {
                tally,
                fan_in: None,
            };
        }
        // Every future not done by now gets the fan-in as its waiter.
        let fan_in = FanIn::new();
        for (index, future) in futures.iter_mut().enumerate() {
            if tally.done[index] {
                continue;
            }
            if let Some(seen) = future.register_fan_in(&fan_in, index) {
                tally.mark(index, future.is_failure(seen));
            }
        }
        Waiting {
            tally,
            fan_in: Some(fan_in),
        }
    }

    /// Marks the futures whose completions the fan-in reported.
    pub(crate) fn absorb<T>(
        &mut self,
        futures: &mut [SharedFuture<T>],
        finished: &mut VecDeque<usize>,
    ) {
        for index in finished.drain(..) {
            let future = &mut futures[index];
            if let Some(seen) = future.finished_snapshot() {
                self.tally.mark(index, future.is_failure(seen));
            }
        }
    }

    /// Deregisters what is still registered and reports what is done.
    pub(crate) fn finish<T>(self, futures: &mut [SharedFuture<T>]) -> Waited {
        let registered = self.fan_in.is_some();
        let mut waited = Waited::default();
        for (index, future) in futures.iter_mut().enumerate() {
            // A future still registered is deregistered, unless it finished
            // meanwhile (its producer then owns the fan-in's waiter and drops it).
            if self.tally.done[index] || (registered && future.deregister().is_err()) {
                waited.done.push(index);
            } else {
                waited.not_done.push(index);
            }
        }
        waited
    }
}

/// What [`wait`] has seen so far.
pub(crate) struct Tally {
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

    pub(crate) fn satisfied(&self) -> bool {
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
/// In async code, use [`async_executor::as_completed`](crate::async_executor::as_completed),
/// a `Stream` with the same items.
///
/// # Dropping
///
/// Dropping the iterator lets the futures not yielded yet run to the end (a
/// dropped [`SharedFuture`] detaches, as in Python); call
/// [`AsCompleted::cancel_remaining`] first to cancel those not started. This
/// differs from [`Map`](crate::executor::Map), [`MapStream`](crate::MapStream),
/// [`MapUnordered`](crate::MapUnordered) and
/// [`UnwrapFuture`](crate::UnwrapFuture), whose drop cancels the jobs not
/// started: they own the jobs they submitted, `as_completed` is given futures.
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
///
/// # Dropping
///
/// Dropping an `AsCompleted` cancels nothing: the futures not yielded yet
/// detach and their jobs run (Python's `as_completed` cancels nothing
/// either). [`cancel_remaining`](AsCompleted::cancel_remaining) cancels those
/// not started; dropping a [`Map`](crate::executor::Map),
/// [`MapStream`](crate::MapStream), [`MapUnordered`](crate::MapUnordered) or
/// [`UnwrapFuture`](crate::UnwrapFuture) does that by itself.
///
/// ```
/// use concurrent_futures::{as_completed, promise};
///
/// let (producer, future) = promise::<u8>();
/// drop(as_completed([future], None));
/// assert!(!producer.is_cancelled()); // the job would still run
/// ```
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
        remaining.extend(self.take_remaining());
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
            if let Some(step) = self.step() {
                return step;
            }
            if !self.fan_in.wait(&mut self.ready, self.deadline) {
                self.time_out();
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

/// The steps of the iteration, shared with the async `AsCompletedStream`
/// (`crate::async_executor::AsCompletedStream`), which waits on the same
/// fan-in with a `Waker` instead of parking.
impl<T> AsCompleted<T> {
    /// What the iteration yields without waiting: `Some(item)` (the end as
    /// `Some(None)`), or `None` if it must wait for a completion.
    pub(crate) fn step(&mut self) -> Option<Option<(usize, Result<T, Error>)>> {
        while let Some(index) = self.ready.pop_front() {
            // Each index is reported once (one registration, one wake-up);
            // a slot already empty would be a second report: skip it.
            if let Some(mut future) = self.futures[index].take() {
                self.remaining -= 1;
                let outcome = future
                    .try_take()
                    .expect("a future reported done has its outcome");
                return Some(Some((index, outcome)));
            }
            debug_assert!(false, "future {index} was reported done twice");
        }
        if self.remaining == 0 {
            return Some(None);
        }
        if let Some(from) = self.timed_out_from {
            return Some(self.next_timed_out(from));
        }
        None
    }

    /// Collects the completions reported since the last look; with none,
    /// records the task of `cx` to be woken at the next (`false`).
    pub(crate) fn poll_completions(&mut self, cx: &core::task::Context<'_>) -> bool {
        self.fan_in.poll(&mut self.ready, cx)
    }

    /// The deadline passed: from now on every future not yielded is yielded
    /// with `Timeout`, or its outcome if it finished meanwhile, in input order.
    pub(crate) fn time_out(&mut self) {
        self.timed_out_from.get_or_insert(0);
    }

    /// The timeout given to `as_completed`, taken (it is counted from the
    /// first poll of the async stream).
    pub(crate) fn take_timeout(&mut self) -> Option<Duration> {
        self.timeout.take()
    }

    /// The futures not yielded yet (`cancel_remaining`, `into_remaining`).
    fn take_remaining(&mut self) -> impl Iterator<Item = (usize, SharedFuture<T>)> + '_ {
        self.remaining = 0;
        self.ready.clear();
        self.futures
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| slot.take().map(|future| (index, future)))
            .map(|(index, mut future)| {
                // Finished meanwhile (`Err`): the producer owns the fan-in's
                // waiter and drops it; nothing to undo.
                let _ = future.deregister();
                (index, future)
            })
    }

    /// Cancels every future not yielded yet that has not started (Python's
    /// `Future.cancel` on each), and ends the iteration: `next` returns
    /// `None` from now on. Futures already running are not stopped; they run
    /// on, and their results are dropped when they finish, as are the
    /// outcomes of futures that finished but were not yielded.
    ///
    /// Dropping the iterator instead cancels nothing (see
    /// [`AsCompleted`]'s `# Dropping`).
    ///
    /// ```
    /// use concurrent_futures::{as_completed, promise};
    ///
    /// let (first, first_future) = promise::<u8>();
    /// let (second, second_future) = promise::<u8>();
    /// let mut iter = as_completed([first_future, second_future], None);
    /// iter.cancel_remaining();
    /// assert!(iter.next().is_none());
    /// assert!(first.is_cancelled() && second.is_cancelled());
    /// ```
    pub fn cancel_remaining(&mut self) {
        for (_, future) in self.take_remaining() {
            future.cancel();
        }
    }

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
