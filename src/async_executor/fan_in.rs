//! Python's `asyncio.as_completed` and `asyncio.wait`, for tasks: the
//! blocking [`as_completed`](crate::as_completed) and [`wait`](crate::wait)
//! with a `Waker` in place of a parked thread.
//!
//! Both register the same fan-in as the blocking functions: one waiter per
//! unfinished future, which reports its future's index when it finishes and
//! wakes the task that polled last. A poll then looks only at the futures
//! that finished: O(n) set-up, O(1) per completion, whatever the runtime.
//! Timeouts are `futures-timer` delays (its one timer thread, started on
//! first use), since the async layer has no runtime timer.

use alloc::collections::VecDeque;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Duration;

use futures_timer::Delay;

use crate::error::Error;
use crate::future::SharedFuture;
use crate::wait::{AsCompleted, ReturnWhen, Waited, Waiting};

/// Python's `asyncio.as_completed(aws, timeout=...)`: a
/// [`Stream`](futures_core::Stream) that yields, for each future, its index in
/// the input and its outcome, as it becomes done (futures already done
/// first, in input order). Every index is yielded exactly once. The items are
/// those of the blocking [`as_completed`](crate::as_completed), and so are
/// the rules below.
///
/// `timeout` is counted from the first poll of the stream; `None` waits
/// without limit.
///
/// # Errors
///
/// Each outcome is the future's: `Ok(value)` or its [`Error`] (`Panicked`,
/// `Cancelled`, `Abandoned`, `Broken`, ...). When `timeout` passes first,
/// every future not done by then is yielded with `Err(Error::Timeout)`, in
/// input order (one that finished meanwhile with its outcome), and the stream
/// ends. The futures are not cancelled by the timeout (as in Python);
/// [`AsCompletedStream::cancel_remaining`] cancels them.
///
/// # Dropping
///
/// Dropping the stream cancels nothing: the futures not yielded yet detach
/// and their jobs run. Dropping a [`MapStream`](super::MapStream),
/// [`MapUnorderedStream`](super::MapUnorderedStream) or
/// [`UnwrapFuture`](crate::UnwrapFuture) cancels the jobs not started.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor, async_executor::as_completed};
/// use futures::StreamExt;
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (0..4_u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// futures::executor::block_on(async {
///     let mut squares = vec![0; 4];
///     let mut completed = as_completed(futures, None);
///     while let Some((index, outcome)) = completed.next().await {
///         squares[index] = outcome.unwrap();
///     }
///     assert_eq!(squares, [0, 1, 4, 9]);
/// });
/// ```
pub fn as_completed<T>(
    futures: impl IntoIterator<Item = SharedFuture<T>>,
    timeout: Option<Duration>,
) -> AsCompletedStream<T> {
    let mut inner = crate::wait::as_completed(futures, timeout);
    let timeout = inner.take_timeout();
    AsCompletedStream {
        inner,
        timeout,
        deadline: None,
    }
}

/// The stream of [`as_completed`]: `(index, Result<T, Error>)` items in
/// completion order.
///
/// Each poll costs O(1) plus the completions it collects. The stream is
/// `Unpin` and `Send` (for `T: Send`): it can be moved into a spawned task.
///
/// # Dropping
///
/// Dropping an `AsCompletedStream` lets the futures not yielded yet run (a
/// dropped [`SharedFuture`] detaches); [`cancel_remaining`](Self::cancel_remaining)
/// cancels those not started. Dropping a [`MapStream`](super::MapStream),
/// [`MapUnorderedStream`](super::MapUnorderedStream) or
/// [`UnwrapFuture`](crate::UnwrapFuture) cancels the jobs not started.
///
/// ```
/// use concurrent_futures::{async_executor::as_completed, promise};
/// use futures::StreamExt;
///
/// let (producer, future) = promise::<u8>();
/// let mut stream = as_completed([future], None);
/// producer.set_result(7);
/// assert_eq!(futures::executor::block_on(stream.next()).unwrap().1.unwrap(), 7);
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedStream<T> {
    /// The blocking iterator's state, driven with a `Waker` instead of a
    /// parked thread.
    inner: AsCompleted<T>,
    /// Taken at the first poll, which starts `deadline`.
    timeout: Option<Duration>,
    deadline: Option<Delay>,
}

impl<T> AsCompletedStream<T> {
    /// Cancels every future not yielded yet that has not started (Python's
    /// `Future.cancel` on each), and ends the stream. Futures already running
    /// are not stopped; their results are dropped when they finish.
    ///
    /// ```
    /// use concurrent_futures::{async_executor::as_completed, promise};
    /// use futures::StreamExt;
    ///
    /// let (producer, future) = promise::<u8>();
    /// let mut stream = as_completed([future], None);
    /// stream.cancel_remaining();
    /// assert!(futures::executor::block_on(stream.next()).is_none());
    /// assert!(producer.is_cancelled());
    /// ```
    pub fn cancel_remaining(&mut self) {
        self.inner.cancel_remaining();
        self.deadline = None;
    }

    /// The futures not yielded yet, with their input indices, in input order
    /// (as [`AsCompleted::into_remaining`]).
    ///
    /// ```
    /// use concurrent_futures::{async_executor::as_completed, promise};
    ///
    /// let (_producer, future) = promise::<u8>();
    /// let remaining = as_completed([future], None).into_remaining();
    /// assert_eq!(remaining[0].0, 0);
    /// ```
    pub fn into_remaining(self) -> alloc::vec::Vec<(usize, SharedFuture<T>)> {
        self.inner.into_remaining()
    }
}

impl<T> futures_core::Stream for AsCompletedStream<T> {
    type Item = (usize, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(timeout) = this.timeout.take() {
            this.deadline = Some(Delay::new(timeout));
        }
        loop {
            if let Some(step) = this.inner.step() {
                if step.is_none() {
                    this.deadline = None;
                }
                return Poll::Ready(step);
            }
            // The waker is recorded before the fan-in is looked at again, so a
            // completion in between wakes this task.
            if this.inner.poll_completions(cx) {
                continue;
            }
            let expired = this
                .deadline
                .as_mut()
                .is_some_and(|delay| Pin::new(delay).poll(cx).is_ready());
            if !expired {
                return Poll::Pending;
            }
            this.deadline = None;
            this.inner.time_out();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> Unpin for AsCompletedStream<T> {}

impl<T> fmt::Debug for AsCompletedStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedStream")
            .field("inner", &self.inner)
            .finish()
    }
}

/// Python's `asyncio.wait(aws, timeout=..., return_when=...)`: resolves when
/// `return_when` is satisfied or `timeout` passes (`None`: no limit; counted
/// from the first poll), with which futures are done, as the blocking
/// [`wait`](crate::wait). Outcomes are not taken: use
/// [`SharedFuture::try_take`] on the `done` indices.
///
/// A timeout is not an error, as in Python: the caller looks at `not_done`.
/// Dropping the returned future before it resolves cancels nothing and leaves
/// every `SharedFuture` as it was (no waiter of this `wait` is woken later).
/// The future is `Send` when `T` is, and borrows `futures` until it resolves.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{ReturnWhen, async_executor::wait, promise};
///
/// let (fast, fast_future) = promise::<u8>();
/// let (_slow, slow_future) = promise::<u8>();
/// let mut futures = [fast_future, slow_future];
/// std::thread::spawn(move || fast.set_result(1));
/// let waited = futures::executor::block_on(wait(&mut futures, None, ReturnWhen::FirstCompleted));
/// assert_eq!(waited.done, [0]);
/// assert_eq!(waited.not_done, [1]);
/// assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
/// ```
pub fn wait<T>(
    futures: &mut [SharedFuture<T>],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> impl Future<Output = Waited> + '_ {
    WaitFuture {
        futures,
        return_when,
        timeout,
        deadline: None,
        waiting: None,
        finished: VecDeque::new(),
    }
}

/// The future of [`wait`]: registers at its first poll.
struct WaitFuture<'a, T> {
    futures: &'a mut [SharedFuture<T>],
    return_when: ReturnWhen,
    timeout: Option<Duration>,
    deadline: Option<Delay>,
    /// Set at the first poll; taken when the wait resolves.
    waiting: Option<Waiting>,
    finished: VecDeque<usize>,
}

impl<T> Future for WaitFuture<'_, T> {
    type Output = Waited;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited> {
        let this = self.get_mut();
        if let Some(timeout) = this.timeout.take() {
            this.deadline = Some(Delay::new(timeout));
        }
        let waiting = this
            .waiting
            .get_or_insert_with(|| Waiting::register(this.futures, this.return_when));
        loop {
            if waiting.tally.satisfied() {
                break;
            }
            let Some(fan_in) = &waiting.fan_in else {
                break;
            };
            if fan_in.poll(&mut this.finished, cx) {
                waiting.absorb(this.futures, &mut this.finished);
                continue;
            }
            let expired = this
                .deadline
                .as_mut()
                .is_some_and(|delay| Pin::new(delay).poll(cx).is_ready());
            if !expired {
                return Poll::Pending;
            }
            break;
        }
        let waiting = this.waiting.take().expect("set above");
        this.deadline = None;
        Poll::Ready(waiting.finish(this.futures))
    }
}

impl<T> Unpin for WaitFuture<'_, T> {}

impl<T> Drop for WaitFuture<'_, T> {
    fn drop(&mut self) {
        // Dropped before it resolved: deregister, as at the end of a wait.
        if let Some(waiting) = self.waiting.take() {
            let _ = waiting.finish(self.futures);
        }
    }
}
