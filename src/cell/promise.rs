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
use crate::sync::{AtomicBool, Ordering};

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
        match unsafe { self.into_raw().complete_value(value) } {
            Ok(()) => Ok(()),
            Err((value, reason)) => Err(Undelivered::new(value, reason)),
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
        StopToken::of(self.raw.state(), None)
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
/// task), the consumer asked the running job to stop
/// ([`SharedFuture::request_stop`], `UnwrapFuture::request_stop`), the
/// executor was shut down with
/// [`CancelFutures::AndStopRunning`](crate::CancelFutures::AndStopRunning)
/// (through its [`StopSignal`]), or the job's deadline
/// (`JobOptions`, with `std`) has passed. The job still
/// decides what to return; nothing else changes. (A *stop* is a request to
/// running work; *cancelled* always means the future's state, Python's
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
///     .submit_stoppable(move |token| {
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
    /// The executor's stop for all its running jobs, if it has one.
    signal: Option<&'a StopSignal>,
    /// The job's deadline, if it was given one.
    #[cfg(feature = "std")]
    deadline: Option<std::time::Instant>,
}

impl<'a> StopToken<'a> {
    /// The token of the cell whose state is `state`, watching `signal`.
    pub(crate) fn of(state: &'a crate::state::StateWord, signal: Option<&'a StopSignal>) -> Self {
        StopToken {
            state,
            signal,
            #[cfg(feature = "std")]
            deadline: None,
        }
    }

    /// The same token, also reporting a stop from `deadline` on.
    #[cfg(feature = "std")]
    pub(crate) fn until(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// `true` once the answer is no longer wanted (see the type's docs).
    ///
    /// Costs one relaxed load of the future's state, one of the executor's
    /// signal, and for a job with a deadline a read of the clock.
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// drop(future);
    /// assert!(producer.token().is_stop_requested());
    /// ```
    #[inline]
    pub fn is_stop_requested(&self) -> bool {
        let seen = self.state.load_relaxed();
        if seen.lifecycle() == state::CANCELLED || seen.cancel_requested() || !seen.consumer_alive()
        {
            return true;
        }
        if self.signal.is_some_and(StopSignal::is_stop_requested) {
            return true;
        }
        #[cfg(feature = "std")]
        if self
            .deadline
            .is_some_and(|deadline| std::time::Instant::now() >= deadline)
        {
            return true;
        }
        false
    }
}

/// A stop request shared by every job an executor runs: what
/// `shutdown(CancelFutures::AndStopRunning)` raises, and what each running
/// job's [`StopToken`] then reports. An executor of your own keeps one and runs
/// its jobs with [`Job::run_under`](crate::Job::run_under).
///
/// The request is advisory and one-way: once raised it stays raised, and
/// nothing is published through it (a job that sees it only decides to return
/// early), so its loads and its store are relaxed.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Job, StopSignal};
///
/// let signal = StopSignal::new();
/// let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
/// signal.request_stop(); // say, a shutdown began while the job waited
/// job.run_under(&signal);
/// assert!(future.try_take().unwrap().unwrap()); // the job saw the request
/// ```
pub struct StopSignal {
    requested: AtomicBool,
}

impl StopSignal {
    /// A signal that has not been raised.
    ///
    /// ```
    /// assert!(!concurrent_futures::StopSignal::new().is_stop_requested());
    /// ```
    pub fn new() -> Self {
        StopSignal {
            requested: AtomicBool::new(false),
        }
    }

    /// Raises the signal: every token watching it reports a stop request from
    /// now on. Calling it again is harmless.
    ///
    /// ```
    /// let signal = concurrent_futures::StopSignal::new();
    /// signal.request_stop();
    /// assert!(signal.is_stop_requested());
    /// ```
    pub fn request_stop(&self) {
        // Relaxed: nothing is published through the flag (see the type's docs).
        self.requested.store(true, Ordering::Relaxed);
    }

    /// `true` once [`request_stop`](Self::request_stop) was called.
    ///
    /// ```
    /// assert!(!concurrent_futures::StopSignal::default().is_stop_requested());
    /// ```
    #[inline]
    pub fn is_stop_requested(&self) -> bool {
        // Relaxed: as in `request_stop`.
        self.requested.load(Ordering::Relaxed)
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopSignal")
            .field("stop_requested", &self.is_stop_requested())
            .finish()
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
