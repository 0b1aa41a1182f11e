//! Python's `concurrent.futures.wait` and `as_completed`, for blocked threads.
//!
//! Both register the calling thread as the waiter of every unfinished future,
//! with the same protocol as a single blocking wait, so a completion that lands
//! while they register is never missed: either the producer sees the
//! registration and unparks the thread, or the registration sees the finished
//! state. After a wake-up they only re-read the state words.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::task::Poll;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::future::SharedFuture;
use crate::sync::thread::{self, Thread};
use crate::waiter::WaiterRef;

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
    let me = thread::current();
    let mut done = alloc::vec![false; futures.len()];
    let mut registered = false;
    loop {
        let mut failed = false;
        for (index, future) in futures.iter_mut().enumerate() {
            if done[index] {
                continue;
            }
            let finished = if registered {
                future.finished_snapshot()
            } else {
                future.register_thread(&me)
            };
            if let Some(seen) = finished {
                done[index] = true;
                failed |= future.is_failure(seen);
            }
        }
        registered = true;
        let all = done.iter().all(|&d| d);
        let satisfied = match return_when {
            ReturnWhen::FirstCompleted => done.iter().any(|&d| d) || futures.is_empty(),
            ReturnWhen::FirstException => failed || all,
            ReturnWhen::AllCompleted => all,
        };
        // A failure found on an earlier pass still counts on later ones.
        if satisfied || all || park_or_timeout(deadline) {
            break;
        }
        if return_when == ReturnWhen::FirstException {
            // Re-check failures among those already done, too.
            let any_failed = futures
                .iter_mut()
                .enumerate()
                .filter(|(index, _)| done[*index])
                .any(|(_, future)| {
                    future
                        .finished_snapshot()
                        .is_some_and(|seen| future.is_failure(seen))
                });
            if any_failed {
                break;
            }
        }
    }
    let mut waited = Waited::default();
    for (index, future) in futures.iter_mut().enumerate() {
        if done[index] || future.finished_snapshot().is_some() {
            waited.done.push(index);
        } else {
            future.deregister_thread();
            waited.not_done.push(index);
        }
    }
    waited
}

/// Parks until unparked or `deadline`; `true` once the deadline has passed.
fn park_or_timeout(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            thread::park();
            false
        }
        Some(deadline) => thread::park_until(deadline),
    }
}

/// Python's `concurrent.futures.as_completed(fs, timeout)`: an iterator that
/// yields each future, with its index in the input, as it becomes done
/// (futures already done first, in input order).
///
/// When `timeout` passes first, it yields `Err(Error::Timeout)` once and ends;
/// the futures not yet yielded can be taken back with
/// [`AsCompleted::into_remaining`]. As in Python, the timeout is counted from
/// the first call to `next`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (0..4_u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let mut squares: Vec<u64> = as_completed(futures, None)
///     .map(|item| item.unwrap().1.try_take().unwrap().unwrap())
///     .collect();
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn as_completed<T>(
    futures: impl IntoIterator<Item = SharedFuture<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    AsCompleted {
        pending: futures
            .into_iter()
            .enumerate()
            .map(|(index, future)| (index, future, false))
            .collect(),
        ready: VecDeque::new(),
        timeout,
        deadline: None,
        me: thread::current(),
        timed_out: false,
    }
}

/// The iterator of [`as_completed`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct AsCompleted<T> {
    /// Not yet done: (input index, future, registered).
    pending: Vec<(usize, SharedFuture<T>, bool)>,
    ready: VecDeque<(usize, SharedFuture<T>)>,
    timeout: Option<Duration>,
    /// Set at the first `next`, from `timeout`.
    deadline: Option<Instant>,
    me: Thread,
    timed_out: bool,
}

impl<T> AsCompleted<T> {
    /// The futures not yielded yet, with their input indices (after a timeout,
    /// for example).
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::{Error, as_completed, promise};
    ///
    /// let (_producer, future) = promise::<u8>();
    /// let mut iter = as_completed([future], Some(Duration::ZERO));
    /// assert!(matches!(iter.next(), Some(Err(Error::Timeout))));
    /// assert!(iter.next().is_none());
    /// let remaining = iter.into_remaining();
    /// assert_eq!(remaining.len(), 1);
    /// assert_eq!(remaining[0].0, 0);
    /// ```
    pub fn into_remaining(mut self) -> Vec<(usize, SharedFuture<T>)> {
        let mut remaining: Vec<_> = self.ready.drain(..).collect();
        for (index, mut future, registered) in self.pending.drain(..) {
            if registered {
                future.deregister_thread();
            }
            remaining.push((index, future));
        }
        remaining.sort_by_key(|(index, _)| *index);
        remaining
    }

    fn collect_done(&mut self) {
        let mut index = 0;
        while index < self.pending.len() {
            let (_, future, registered) = &mut self.pending[index];
            let finished = if *registered {
                future.finished_snapshot()
            } else {
                future.register_thread(&self.me)
            };
            *registered = true;
            if finished.is_some() {
                let (input_index, future, _) = self.pending.remove(index);
                self.ready.push_back((input_index, future));
            } else {
                index += 1;
            }
        }
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<(usize, SharedFuture<T>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(timeout) = self.timeout.take() {
            self.deadline = Instant::now().checked_add(timeout);
        }
        loop {
            if let Some(ready) = self.ready.pop_front() {
                return Some(Ok(ready));
            }
            if self.pending.is_empty() || self.timed_out {
                return None;
            }
            self.collect_done();
            if !self.ready.is_empty() {
                continue;
            }
            if park_or_timeout(self.deadline) {
                self.collect_done();
                if self.ready.is_empty() {
                    self.timed_out = true;
                    return Some(Err(Error::Timeout));
                }
            }
        }
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.pending.len())
            .field("ready", &self.ready.len())
            .field("timed_out", &self.timed_out)
            .finish()
    }
}

// Consumer-side helpers shared by `wait` and `as_completed`.
impl<T> SharedFuture<T> {
    /// Registers `thread` as the waiter unless already finished.
    fn register_thread(&mut self, thread: &Thread) -> Option<crate::state::Snapshot> {
        // SAFETY: `&mut self`: the only consumer call.
        match unsafe { self.raw().poll_finished(WaiterRef::Thread(thread)) } {
            Poll::Ready(seen) => Some(seen),
            Poll::Pending => None,
        }
    }

    /// The state, if finished (acquired).
    fn finished_snapshot(&self) -> Option<crate::state::Snapshot> {
        let seen = self.raw().state().load();
        seen.is_finished().then_some(seen)
    }

    /// Removes this thread's registration, if the future is still unfinished.
    fn deregister_thread(&mut self) {
        // SAFETY: `&mut self`: the only consumer call.
        let _ = unsafe { self.raw().deregister() };
    }

    /// Whether a finished future holds a failure (Python: `exception()` is set).
    fn is_failure(&mut self, seen: crate::state::Snapshot) -> bool {
        // SAFETY: `&mut self`: the only consumer call; `seen` is finished and
        // was acquired.
        unsafe { self.raw().is_failure(seen) }
    }
}
