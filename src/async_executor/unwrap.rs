//! [`unwrap_future`]: await a concurrent future with easynetwork's cancellation
//! rules.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::Error;
use crate::future::SharedFuture;

/// Awaits a [`SharedFuture`] with the cancellation rules of easynetwork's
/// `unwrap_future`, mapped onto Rust's two ways of cancelling async work.
///
/// | Python (`unwrap_future(future)`)                                    | Rust ([`UnwrapFuture`])                                                                                  |
/// |---------------------------------------------------------------------|----------------------------------------------------------------------------------------------------------|
/// | returns the future's result, or raises its exception                | resolves to `Ok(value)`, or `Err(Error::Panicked(..))` and the like                                      |
/// | the awaiting task is cancelled while the job is pending: `future.cancel()` succeeds, the cancellation is accepted and propagates | [`request_stop`](UnwrapFuture::request_stop) returns `true`; the next poll resolves to `Err(Error::Cancelled)`; the job never runs |
/// | the awaiting task is cancelled while the job is running: `future.cancel()` fails, the cancellation is rejected, the task keeps waiting for the result | [`request_stop`](UnwrapFuture::request_stop) returns `false`; keep awaiting: the result arrives as usual             |
/// | further cancellations after a rejected one are ignored              | later `request_stop` calls return `false` and change nothing                                                   |
/// | the future was cancelled by someone else (`shutdown(cancel_futures=True)`) | resolves to `Err(Error::Cancelled)`                                                               |
/// | the awaiting task is destroyed                                      | **dropping** the `UnwrapFuture` cancels the job if it has not started; a running job finishes and its value is dropped on the worker (Rust cannot block in `drop`) |
///
/// Dropping an `AsCompleted` or
/// `AsCompletedStream` instead cancels nothing.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor, unwrap_future};
///
/// let pool = ThreadPoolExecutor::new();
/// let future = pool.submit(|| 2_u64.pow(10)).unwrap();
/// let value = futures::executor::block_on(unwrap_future(future)).unwrap();
/// assert_eq!(value, 1024);
/// ```
pub fn unwrap_future<T>(future: SharedFuture<T>) -> UnwrapFuture<T> {
    UnwrapFuture {
        future,
        finished: false,
        stop_refused: false,
    }
}

/// The future returned by [`unwrap_future`] and
/// [`AsyncExecutor::run`](crate::AsyncExecutor::run).
#[must_use = "futures do nothing unless awaited; dropping this one cancels the job if it has not started"]
pub struct UnwrapFuture<T> {
    future: SharedFuture<T>,
    /// The outcome was returned by `poll`.
    finished: bool,
    /// A cancellation request was refused because the job was running; later
    /// requests are ignored.
    stop_refused: bool,
}

impl<T> UnwrapFuture<T> {
    /// Requests cancellation, as a cancelled Python task does: returns `true` if
    /// the job had not started and is now cancelled (the next poll yields
    /// [`Error::Cancelled`]); `false` if it is running or done, in which case the
    /// request is refused, the result will still be delivered, and every later
    /// request is ignored. A refused request is still visible to the running job
    /// through its [`StopToken`](crate::StopToken), which may return early.
    ///
    /// ```
    /// use concurrent_futures::{promise, unwrap_future, Error};
    ///
    /// let (_producer, future) = promise::<u8>();
    /// let mut waiting = unwrap_future(future);
    /// assert!(waiting.request_stop()); // pending: accepted
    /// let outcome = futures::executor::block_on(&mut waiting);
    /// assert!(matches!(outcome, Err(Error::Cancelled)));
    ///
    /// let (mut producer, future) = promise::<u8>();
    /// let mut waiting = unwrap_future(future);
    /// producer.set_running_or_notify_cancel();
    /// assert!(!waiting.request_stop()); // running: refused, keep waiting
    /// producer.set_result(7).unwrap();
    /// assert_eq!(futures::executor::block_on(waiting).unwrap(), 7);
    /// ```
    pub fn request_stop(&mut self) -> bool {
        if self.stop_refused || self.finished {
            return false;
        }
        // Also asks a running job to stop (its `StopToken` sees it).
        let accepted = self.future.request_stop();
        self.stop_refused = !accepted;
        accepted
    }

    /// `true` once a [`request_stop`](Self::request_stop) was refused: the job
    /// was running, so it was asked to stop (its token sees it) but not
    /// cancelled, and the await goes on until it returns.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// let mut waiting = concurrent_futures::unwrap_future(future);
    /// producer.set_running_or_notify_cancel();
    /// waiting.request_stop();
    /// assert!(waiting.is_stop_refused());
    /// ```
    pub fn is_stop_refused(&self) -> bool {
        self.stop_refused
    }

    /// The concurrent future being awaited.
    ///
    /// ```
    /// let (_producer, future) = concurrent_futures::promise::<()>();
    /// let waiting = concurrent_futures::unwrap_future(future);
    /// assert!(waiting.get_ref().is_pending());
    /// ```
    pub fn get_ref(&self) -> &SharedFuture<T> {
        &self.future
    }

    /// Gives the concurrent future back without cancelling it (a `SharedFuture`
    /// dropped on its own detaches: the job still runs).
    ///
    /// ```
    /// let (_producer, future) = concurrent_futures::promise::<()>();
    /// let future = concurrent_futures::unwrap_future(future).into_inner();
    /// assert!(!future.is_cancelled());
    /// ```
    #[allow(unsafe_code)] // a move out of a `Drop` type: see the SAFETY comment
    pub fn into_inner(self) -> SharedFuture<T> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the future is moved
        // out exactly once and `UnwrapFuture`'s `Drop` does not run.
        unsafe { core::ptr::read(&this.future) }
    }
}

impl<T> Future for UnwrapFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.future).poll(cx) {
            Poll::Ready(outcome) => {
                this.finished = true;
                Poll::Ready(outcome)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for UnwrapFuture<T> {
    fn drop(&mut self) {
        if !self.finished {
            // Cancels a job that has not started; a running job finishes (its
            // `StopToken` reports the request), and its value is dropped by the
            // producer once it sees the consumer gone.
            self.future.request_stop();
        }
    }
}

impl<T> fmt::Debug for UnwrapFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnwrapFuture")
            .field("future", &self.future)
            .field("finished", &self.finished)
            .field("stop_refused", &self.stop_refused)
            .finish()
    }
}
