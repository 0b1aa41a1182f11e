//! [`Promise`], the producer side of the completion cell, and [`promise()`].

use alloc::boxed::Box;
use core::any::Any;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use crate::error::{Error, Panic, Undelivered};
use crate::future::{SharedFuture, State};
use crate::raw::{Empty, RawCell};
use crate::state;

/// Makes a pending future and its producer, in one allocation.
///
/// # Examples
///
/// ```
/// let (producer, mut future) = concurrent_futures::promise::<String>();
/// producer.set_result("hi".to_owned()).unwrap();
/// assert_eq!(future.try_take().unwrap().unwrap(), "hi");
/// ```
pub fn promise<T>() -> (Promise<T>, SharedFuture<T>) {
    let raw = RawCell::allocate();
    (Promise::from_raw(raw), SharedFuture::from_raw(raw))
}

/// A future that is already done with `error`.
pub(crate) fn failed<T>(error: Error) -> SharedFuture<T> {
    let (producer, future) = promise();
    producer.set_error(error);
    future
}

/// The producer side of a [`SharedFuture`]: what a worker holds.
///
/// It answers once: [`set_result`](Self::set_result),
/// [`set_panic`](Self::set_panic) or [`set_cancelled`](Self::set_cancelled) consume it. Dropped
/// without an answer, it leaves the future done with
/// [`Error::Abandoned`](crate::Error::Abandoned), so a waiter never hangs.
///
/// # Examples
///
/// ```
/// use concurrent_futures::promise;
///
/// let (mut producer, mut future) = promise::<u32>();
/// std::thread::spawn(move || {
///     // Python's protocol: skip the work if the future was cancelled meanwhile.
///     if producer.set_running_or_notify_cancel() {
///         let _ = producer.set_result(2 + 2);
///     }
/// });
/// assert_eq!(future.wait().unwrap(), 4);
/// ```
#[must_use = "dropping a Promise without an answer abandons its future"]
pub struct Promise<T> {
    raw: RawCell<T>,
    _owns: PhantomData<T>,
}

// SAFETY: the producer moves a `T` into the cell, possibly from another thread.
unsafe impl<T: Send> Send for Promise<T> {}
// SAFETY: `&self` methods only read the state word.
unsafe impl<T: Send> Sync for Promise<T> {}
impl<T> Unpin for Promise<T> {}

impl<T> Promise<T> {
    pub(crate) fn from_raw(raw: RawCell<T>) -> Self {
        Promise {
            raw,
            _owns: PhantomData,
        }
    }

    /// The cell, for the producer's own writes (a job writes its outcome in
    /// place); the handle keeps the producer's reference.
    pub(crate) fn raw(&self) -> RawCell<T> {
        self.raw
    }

    /// Gives up the handle without running its `Drop`; the caller takes over
    /// the producer's reference.
    pub(crate) fn into_raw(self) -> RawCell<T> {
        ManuallyDrop::new(self).raw
    }

    /// Python's `set_running_or_notify_cancel()`: marks the future running and
    /// returns `true`, or returns `false` if it was cancelled (the work should
    /// then be skipped). Once running, the future cannot be cancelled. Calling it
    /// again while running returns `true`.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// assert!(producer.set_running_or_notify_cancel());
    /// assert!(!future.cancel());
    /// ```
    pub fn set_running_or_notify_cancel(&mut self) -> bool {
        self.raw.start()
    }

    /// Python's `set_result()`: completes the future with `value` and wakes its
    /// waiter. If the future was cancelled or its consumer dropped, the value is
    /// handed back in the error instead of being lost.
    ///
    /// ```
    /// let (producer, mut future) = concurrent_futures::promise::<Vec<u8>>();
    /// producer.set_result(vec![1, 2]).unwrap();
    /// assert_eq!(future.wait().unwrap(), [1, 2]);
    /// ```
    pub fn set_result(self, value: T) -> Result<(), Undelivered<T>> {
        // SAFETY: `into_raw` gives up the handle: the cell is completed once and
        // not used by this side again.
        match unsafe { self.into_raw().complete(Ok(value)) } {
            Ok(()) => Ok(()),
            Err((Ok(value), reason)) => Err(Undelivered::new(value, reason)),
            Err(_) => unreachable!("the cell hands back what it was given"),
        }
    }

    /// Python's `set_exception()`, for Rust's only exception: completes the
    /// future with a panic payload (as caught by `std::panic::catch_unwind`). The
    /// waiter gets [`Error::Panicked`](crate::Error::Panicked). If the future was
    /// cancelled or its consumer dropped, the payload is handed back.
    ///
    /// ```
    /// use concurrent_futures::Error;
    /// let (producer, mut future) = concurrent_futures::promise::<u8>();
    /// producer.set_panic(Box::new("failed")).unwrap();
    /// assert!(matches!(future.wait(), Err(Error::Panicked(_))));
    /// ```
    pub fn set_panic(
        self,
        payload: Box<dyn Any + Send>,
    ) -> Result<(), Undelivered<Box<dyn Any + Send>>> {
        let outcome = Err(Error::Panicked(Panic::new(payload)));
        // SAFETY: as in `set_result`.
        match unsafe { self.into_raw().complete(outcome) } {
            Ok(()) => Ok(()),
            Err((Err(Error::Panicked(panic)), reason)) => {
                Err(Undelivered::new(panic.into_payload(), reason))
            }
            Err(_) => unreachable!("the cell hands back what it was given"),
        }
    }

    /// Completes the future with an executor's error (for example
    /// [`Error::Broken`](crate::Error)); the error is dropped if nobody can
    /// receive it.
    pub(crate) fn set_error(self, error: Error) {
        // SAFETY: as in `set_result`.
        let _undelivered = unsafe { self.into_raw().complete(Err(error)) };
    }

    /// The producer declines to do the work: completes the future as cancelled
    /// (waiters get [`Error::Cancelled`](crate::Error::Cancelled)), even if the
    /// producer had already called `set_running_or_notify_cancel` (only the
    /// consumer's [`cancel`](SharedFuture::cancel) is refused once running).
    /// The producer's counterpart of `set_result` and `set_panic`; an executor
    /// shutdown with `cancel_futures` does this to a queued job.
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// producer.set_cancelled();
    /// assert!(future.is_cancelled());
    /// ```
    pub fn set_cancelled(self) {
        // SAFETY: as in `set_result`.
        unsafe { self.into_raw().finish_empty(Empty::Cancelled) }
    }

    /// `true` if the consumer cancelled the future (the work can be skipped).
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// future.cancel();
    /// assert!(producer.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.raw.state().load_relaxed().lifecycle() == state::CANCELLED
    }

    /// `true` if the consumer dropped its [`SharedFuture`]: nobody will read the
    /// answer.
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// drop(future);
    /// assert!(producer.is_consumer_dropped());
    /// ```
    pub fn is_consumer_dropped(&self) -> bool {
        !self.raw.state().load_relaxed().consumer_alive()
    }

    /// `true` once the answer is no longer wanted: the future was cancelled,
    /// the consumer asked the running work to stop
    /// ([`SharedFuture::request_stop`]), or dropped its future. What the job's
    /// [`StopToken`] reports.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// producer.set_running_or_notify_cancel();
    /// assert!(!producer.is_stop_requested());
    /// future.request_stop();
    /// assert!(producer.is_stop_requested());
    /// ```
    pub fn is_stop_requested(&self) -> bool {
        self.token().is_stop_requested()
    }

    /// A token that tells the work whether its answer is still wanted.
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<u8>();
    /// assert!(!producer.token().is_stop_requested());
    /// future.cancel();
    /// assert!(producer.token().is_stop_requested());
    /// ```
    pub fn token(&self) -> StopToken<'_> {
        StopToken {
            state: self.raw.state(),
        }
    }

    /// The future's current state.
    ///
    /// ```
    /// use concurrent_futures::State;
    /// let (producer, _future) = concurrent_futures::promise::<()>();
    /// assert_eq!(producer.state(), State::Pending);
    /// ```
    pub fn state(&self) -> State {
        State::from_snapshot(self.raw.state().load_relaxed())
    }
}

/// What running work can see of its consumer: whether the answer is still
/// wanted. Rust cannot interrupt a thread; a job that looks at its token can stop
/// early instead.
///
/// A stop is requested once the future was cancelled, the consumer dropped its
/// future (for example an `AsyncExecutor::run` future dropped by a cancelled
/// task), or the consumer asked the running job to stop
/// ([`SharedFuture::request_stop`], `UnwrapFuture::request_stop`). The job
/// still decides what to return; nothing else changes. (A *stop* is a request
/// to running work; *cancelled* always means the future's state, Python's
/// `cancelled()`.)
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let (started, is_started) = std::sync::mpsc::channel();
/// let mut future = pool
///     .submit_with(move |token| {
///         started.send(()).unwrap();
///         let mut rounds = 0_u64;
///         while !token.is_stop_requested() {
///             rounds += 1; // a long computation, checking now and then
///             std::hint::spin_loop();
///         }
///         rounds
///     })
///     .unwrap();
/// is_started.recv().unwrap();
/// assert!(!future.request_stop()); // running: not cancelled, but asked to stop
/// assert!(future.wait().is_ok()); // the job saw the request and returned
/// ```
#[derive(Clone, Copy)]
pub struct StopToken<'a> {
    state: &'a crate::state::StateWord,
}

impl StopToken<'_> {
    /// `true` once the answer is no longer wanted (see the type's docs).
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// drop(future);
    /// assert!(producer.token().is_stop_requested());
    /// ```
    pub fn is_stop_requested(&self) -> bool {
        let seen = self.state.load_relaxed();
        seen.lifecycle() == state::CANCELLED || seen.cancel_requested() || !seen.consumer_alive()
    }
}

impl fmt::Debug for StopToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("stop_requested", &self.is_stop_requested())
            .finish()
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        // SAFETY: dropped once; the handle is not used again.
        unsafe { self.raw.finish_empty(Empty::Abandoned) }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("state", &self.state())
            .finish()
    }
}
