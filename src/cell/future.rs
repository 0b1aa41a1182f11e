//! [`SharedFuture`], the consumer side of the completion cell.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::Error;
use crate::raw::RawCell;
use crate::state::{self, Snapshot};
use crate::waiter::WaiterRef;

/// The state of a future, as Python's `concurrent.futures.Future` has it.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{promise, State};
///
/// let (mut producer, future) = promise::<u8>();
/// assert_eq!(future.state(), State::Pending);
/// assert!(producer.set_running_or_notify_cancel());
/// assert_eq!(future.state(), State::Running);
/// producer.set_result(1).unwrap();
/// assert_eq!(future.state(), State::Finished);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started; can still be cancelled. Python's `PENDING`.
    Pending,
    /// Started by its producer; can no longer be cancelled. Python's `RUNNING`.
    Running,
    /// Cancelled without an outcome: by its consumer's
    /// [`cancel`](SharedFuture::cancel) before it started (Python's rule), by an
    /// executor's `shutdown(cancel_futures = true)` before it started, or
    /// declined by its producer ([`Promise::set_cancelled`](crate::Promise::set_cancelled),
    /// which may come after the start). Python's `CANCELLED` (and
    /// `CANCELLED_AND_NOTIFIED`: a cancelled future here is done at once).
    Cancelled,
    /// Finished with a value, a panic, or abandoned by its producer. Python's
    /// `FINISHED`. Cancelled futures are *done* ([`SharedFuture::is_done`],
    /// Python's `done()`) but not finished.
    Finished,
}

impl State {
    pub(crate) fn from_snapshot(snapshot: Snapshot) -> Self {
        match snapshot.lifecycle() {
            state::PENDING => State::Pending,
            state::RUNNING => State::Running,
            state::CANCELLED => State::Cancelled,
            _ => State::Finished,
        }
    }
}

/// The consumer side of a lock-free, single-allocation completion cell: Python's
/// `concurrent.futures.Future`, owned by one waiter at a time.
///
/// It has exactly one consumer and is not `Clone`: its outcome is taken once.
/// For several waiters, fan out from [`on_done`](Self::on_done), send the
/// outcome down a channel, or put `futures::future::Shared` over it (after
/// mapping the outcome to a `Clone` type: [`Error`] is not one).
///
/// ```compile_fail,E0599
/// let (_producer, future) = concurrent_futures::promise::<u32>();
/// let second_waiter = future.clone(); // no `Clone`: one consumer
/// ```
///
/// A `SharedFuture<T>` is made together with its producer, a
/// [`Promise<T>`](crate::Promise), by [`promise()`](crate::promise) (or by an
/// executor's `submit`). It can be awaited (it implements
/// [`Future`]), waited for by a blocked thread (`wait`,
/// `wait_timeout`, with `std`), polled without blocking
/// ([`try_take`](Self::try_take)) and cancelled while it is still pending
/// ([`cancel`](Self::cancel)).
///
/// Waiting takes `&mut self` (or `Pin<&mut Self>`), so there is never more than
/// one waiter: one waiter slot suffices and no lock is needed. Queries and
/// `cancel` take `&self` and may run from any thread.
///
/// The outcome is yielded once: after it was taken, further takes return
/// [`Error::AlreadyTaken`] (a cancelled or abandoned future keeps reporting
/// that).
///
/// # Examples
///
/// ```
/// use concurrent_futures::promise;
///
/// let (mut producer, mut future) = promise::<u64>();
/// let worker = std::thread::spawn(move || {
///     if producer.set_running_or_notify_cancel() {
///         producer.set_result(6 * 7).unwrap();
///     }
/// });
/// assert_eq!(future.wait().unwrap(), 42);
/// worker.join().unwrap();
/// ```
#[must_use = "dropping a SharedFuture discards the work's outcome (it does not cancel it)"]
pub struct SharedFuture<T> {
    raw: RawCell<T>,
    _owns: PhantomData<T>,
}

// SAFETY: the handle moves a `T` across threads (taking the outcome), so it is
// `Send` when `T` is.
unsafe impl<T: Send> Send for SharedFuture<T> {}
// SAFETY: every `&self` method only reads or CASes the state word (and `cancel`
// may drop the consumer's own waiter); none touches a `T`.
unsafe impl<T: Send> Sync for SharedFuture<T> {}
// The outcome lives in the heap cell and is never pinned: moving the handle is
// always fine.
impl<T> Unpin for SharedFuture<T> {}

impl<T> SharedFuture<T> {
    pub(crate) fn from_raw(raw: RawCell<T>) -> Self {
        SharedFuture {
            raw,
            _owns: PhantomData,
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn raw(&self) -> RawCell<T> {
        self.raw
    }

    /// The current state.
    ///
    /// ```
    /// use concurrent_futures::{promise, State};
    /// let (_producer, future) = promise::<()>();
    /// assert_eq!(future.state(), State::Pending);
    /// ```
    pub fn state(&self) -> State {
        State::from_snapshot(self.raw.state().load_relaxed())
    }

    /// `true` while nobody has started the work. Python has no direct method
    /// (`not running() and not done()`).
    ///
    /// ```
    /// let (_producer, future) = concurrent_futures::promise::<()>();
    /// assert!(future.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        self.state() == State::Pending
    }

    /// Python's `running()`.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// producer.set_running_or_notify_cancel();
    /// assert!(future.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.state() == State::Running
    }

    /// Python's `cancelled()`.
    ///
    /// ```
    /// let (_producer, future) = concurrent_futures::promise::<()>();
    /// future.cancel();
    /// assert!(future.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.state() == State::Cancelled
    }

    /// Python's `done()`: `true` if the future was cancelled or finished (with a
    /// value, a panic, or abandoned).
    ///
    /// ```
    /// let (producer, future) = concurrent_futures::promise::<()>();
    /// assert!(!future.is_done());
    /// drop(producer); // abandoned: done, with `Error::Abandoned`
    /// assert!(future.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        matches!(self.state(), State::Cancelled | State::Finished)
    }

    /// Python's `cancel()`: cancels the work if it has not started. Returns `true`
    /// if the future is now cancelled (including when it already was), `false` if
    /// it is running or done. Waiters then get [`Error::Cancelled`] and the
    /// producer's [`set_running_or_notify_cancel`](crate::Promise::set_running_or_notify_cancel)
    /// returns `false`.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// assert!(future.cancel());
    /// assert!(future.cancel()); // already cancelled
    /// assert!(!producer.set_running_or_notify_cancel());
    ///
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// assert!(producer.set_running_or_notify_cancel());
    /// assert!(!future.cancel()); // running: refused
    /// ```
    pub fn cancel(&self) -> bool {
        self.raw.cancel()
    }

    /// Like [`cancel`](Self::cancel), and if the job is already running (so
    /// cancellation is refused), also asks it to stop: the job can see the
    /// request through its [`StopToken`](crate::StopToken) and decide to
    /// return early. Returns what `cancel` returns; nothing else changes.
    ///
    /// ```
    /// let (mut producer, future) = concurrent_futures::promise::<()>();
    /// producer.set_running_or_notify_cancel();
    /// assert!(!future.request_stop()); // running: not cancelled...
    /// assert!(producer.is_stop_requested()); // ...but the producer can see the request
    /// ```
    pub fn request_stop(&self) -> bool {
        self.raw.request_stop()
    }

    /// Python's `add_done_callback`: runs `callback` with the outcome exactly
    /// once, when the future is done: at once on this thread if it already is,
    /// otherwise on the thread that completes it (a worker, typically).
    ///
    /// The callback takes the future's one waiter slot, so it consumes the
    /// future: a future has one awaiting task, one blocked thread, or one
    /// callback, never two (use the callback to fan out). A callback that panics
    /// unwinds into the completing thread after the future was published and
    /// released; its outcome is dropped once, and nothing else is affected (a
    /// pool worker catches it and keeps serving).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let (tx, rx) = mpsc::channel();
    /// pool.submit(|| 6 * 7).unwrap().on_done(move |outcome| tx.send(outcome.unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    pub fn on_done<F>(self, callback: F)
    where
        F: FnOnce(Result<T, Error>) + Send + 'static,
        T: Send + 'static,
    {
        let raw = self.raw;
        let mut consumer = self;
        let run = crate::waiter::Callback::new(move || {
            let outcome = consumer
                .try_take()
                .expect("a done callback runs once the future is done");
            // The consumer handle is released before the callback runs.
            drop(consumer);
            callback(outcome);
        });
        // SAFETY: the consumer handle now lives inside `run`, which nobody can
        // call yet: this is the only consumer call.
        if let Err(waiter) = unsafe { raw.register_owned(crate::waiter::Waiter::Callback(run)) } {
            waiter.wake();
        }
    }

    /// Takes the outcome without blocking: `None` while the future is pending or
    /// running.
    ///
    /// ```
    /// let (producer, mut future) = concurrent_futures::promise::<&str>();
    /// assert!(future.try_take().is_none());
    /// producer.set_result("ready").unwrap();
    /// assert_eq!(future.try_take().unwrap().unwrap(), "ready");
    /// assert!(matches!(
    ///     future.try_take(),
    ///     Some(Err(concurrent_futures::Error::AlreadyTaken))
    /// ));
    /// ```
    pub fn try_take(&mut self) -> Option<Result<T, Error>> {
        let seen = self.raw.state().load();
        // SAFETY: `&mut self`: we are the only consumer call; `seen` was read
        // with acquire ordering.
        unsafe { self.raw.take_if_finished(seen) }
    }
}

#[cfg(feature = "std")]
impl<T> SharedFuture<T> {
    /// Blocks the current thread until the future is done and takes its outcome:
    /// Python's `result()` with no timeout.
    ///
    /// The thread first re-checks briefly (a bounded spin), then parks; the
    /// producer unparks it exactly once. No busy-waiting.
    ///
    /// Do not call this from the only worker that must complete the future: it
    /// would wait forever (as in Python).
    ///
    /// ```
    /// let (producer, mut future) = concurrent_futures::promise::<u8>();
    /// std::thread::spawn(move || producer.set_result(5));
    /// assert_eq!(future.wait().unwrap(), 5);
    /// ```
    #[inline]
    pub fn wait(&mut self) -> Result<T, Error> {
        self.wait_until(None)
    }

    /// Like [`wait`](Self::wait), but gives up after `timeout` with
    /// [`Error::Timeout`], leaving the future usable: Python's
    /// `result(timeout)`. A zero timeout only checks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::Error;
    ///
    /// let (producer, mut future) = concurrent_futures::promise::<u8>();
    /// assert!(matches!(future.wait_timeout(Duration::ZERO), Err(Error::Timeout)));
    /// producer.set_result(3).unwrap();
    /// assert_eq!(future.wait_timeout(Duration::from_secs(1)).unwrap(), 3);
    /// ```
    pub fn wait_timeout(&mut self, timeout: std::time::Duration) -> Result<T, Error> {
        // A timeout too long to represent is no timeout.
        self.wait_until(std::time::Instant::now().checked_add(timeout))
    }

    /// Like [`wait_timeout`](Self::wait_timeout), with an absolute deadline.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_producer, mut future) = concurrent_futures::promise::<u8>();
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// assert!(future.wait_deadline(deadline).unwrap_err().to_string().contains("timed out"));
    /// ```
    pub fn wait_deadline(&mut self, deadline: std::time::Instant) -> Result<T, Error> {
        self.wait_until(Some(deadline))
    }

    /// The common case inline (the outcome is already there), the rest out of
    /// line.
    #[inline]
    fn wait_until(&mut self, deadline: Option<std::time::Instant>) -> Result<T, Error> {
        let seen = self.raw.state().load();
        // A value first: one test in the common case.
        if seen.lifecycle() == state::COMPLETE {
            // SAFETY: `&mut self`; COMPLETE, acquired.
            return Ok(unsafe { self.raw.take_value(seen) });
        }
        if seen.is_finished() {
            // SAFETY: `&mut self`; finished, acquired.
            return unsafe { self.raw.take_other(seen) };
        }
        self.wait_pending(deadline)
    }

    /// `wait_until` once the state was seen pending: a bounded spin, then park.
    #[inline(never)]
    fn wait_pending(&mut self, deadline: Option<std::time::Instant>) -> Result<T, Error> {
        use crate::backoff::Backoff;
        use crate::sync::thread;

        let mut seen;
        // A deadline already passed (a zero timeout) only checks.
        if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            return Err(Error::Timeout);
        }
        // On a pool's worker, run that pool's queued jobs meanwhile (the one
        // waited for first): a job that waits for another of its own pool
        // does not deadlock the pool.
        let raw = self.raw;
        let mut pending = || !raw.state().load().is_finished();
        let mut help = crate::executor::Help::new(raw.addr());
        help.run(&mut pending, deadline);
        seen = self.raw.state().load();
        if seen.is_finished() {
            // SAFETY: `&mut self`; finished, acquired.
            return unsafe { self.raw.take(seen) };
        }
        // A bounded wait first: a result that lands within a few microseconds
        // is taken without parking, which costs a futex call on both sides
        // (none under loom).
        if let Some(mut backoff) = Backoff::waiter() {
            while backoff.snooze() {
                seen = self.raw.state().load();
                if seen.is_finished() {
                    Backoff::waiter_spun(true);
                    // SAFETY: `&mut self`; finished, acquired.
                    return unsafe { self.raw.take(seen) };
                }
            }
            Backoff::waiter_spun(false);
        }
        let me = thread::current();
        // SAFETY: `&mut self`: the only consumer call.
        if let Poll::Ready(seen) = unsafe { self.raw.poll_finished(WaiterRef::Thread(&me)) } {
            // SAFETY: finished, acquired by `poll_finished`.
            return unsafe { self.raw.take(seen) };
        }
        loop {
            let timed_out = thread::park_until(deadline);
            // Our registration stays valid until the state is finished, so a
            // spurious wake-up only needs a re-check.
            let seen = self.raw.state().load();
            if seen.is_finished() {
                // SAFETY: finished, acquired.
                return unsafe { self.raw.take(seen) };
            }
            if timed_out {
                // SAFETY: `&mut self`: the only consumer call.
                return match unsafe { self.raw.deregister() } {
                    Ok(()) => Err(Error::Timeout),
                    // Finished while we gave up: the outcome wins over the timeout.
                    // SAFETY: finished, acquired by `deregister`.
                    Err(seen) => unsafe { self.raw.take(seen) },
                };
            }
            // Woken for a job of the pool queued since (or spuriously): run
            // it, still registered, so its completion's wake-up is not lost.
            help.run(&mut pending, deadline);
        }
    }
}

/// Awaiting a `SharedFuture` directly **detaches**: dropping it (a cancelled
/// task, a `select!` branch not taken, a `tokio::time::timeout` that fires)
/// drops the consumer handle and does **not** cancel the job, which still
/// runs and whose value is dropped on the worker. This is Python's
/// `asyncio.shield(asyncio.wrap_future(f))`, and the same as dropping a
/// `SharedFuture` anywhere: the handle is Python's `Future` object, which
/// cancels nothing when released.
///
/// To cancel a job that has not started when the awaiting task goes away
/// (Python's `asyncio.wrap_future(f)`, easynetwork's `unwrap_future`), await
/// [`unwrap_future(future)`](crate::unwrap_future) instead, or submit through
/// [`AsyncExecutor::run`](crate::AsyncExecutor::run), which does.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use concurrent_futures::{Executor, ThreadPoolExecutor, unwrap_future};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
/// let (release, gate) = std::sync::mpsc::channel::<()>();
/// let _busy = pool.submit(move || gate.recv().unwrap()).unwrap(); // the only worker
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
///
/// let (ran_detached, ran_cancelled) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
/// let flag = Arc::clone(&ran_detached);
/// let detached = pool.submit(move || flag.store(true, Ordering::SeqCst)).unwrap();
/// let flag = Arc::clone(&ran_cancelled);
/// let cancelled = pool.submit(move || flag.store(true, Ordering::SeqCst)).unwrap();
///
/// // Both waits time out while the jobs are still queued.
/// runtime.block_on(async {
///     assert!(tokio::time::timeout(Duration::ZERO, detached).await.is_err());
///     assert!(tokio::time::timeout(Duration::ZERO, unwrap_future(cancelled)).await.is_err());
/// });
///
/// release.send(()).unwrap();
/// pool.shutdown(concurrent_futures::CancelFutures::No); // waits for what is left
/// assert!(ran_detached.load(Ordering::SeqCst)); // awaited directly: it still ran
/// assert!(!ran_cancelled.load(Ordering::SeqCst)); // through unwrap_future: cancelled
/// ```
impl<T> Future for SharedFuture<T> {
    type Output = Result<T, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let raw = self.raw;
        // The common case inline: the outcome is already there.
        let seen = raw.state().load();
        // A value first: one test in the common case.
        if seen.lifecycle() == state::COMPLETE {
            // SAFETY: `Pin<&mut Self>`: the only consumer call; COMPLETE, acquired.
            return Poll::Ready(Ok(unsafe { raw.take_value(seen) }));
        }
        if seen.is_finished() {
            // SAFETY: as above; finished, acquired.
            return Poll::Ready(unsafe { raw.take_other(seen) });
        }
        // SAFETY: `Pin<&mut Self>`: the only consumer call.
        match unsafe { raw.poll_finished(WaiterRef::Task(cx.waker())) } {
            // SAFETY: finished, acquired by `poll_finished`.
            Poll::Ready(seen) => Poll::Ready(unsafe { raw.take(seen) }),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Consumer-side steps of `wait` and `as_completed` (`crate::wait`): one
/// registration of a fan-in per future, and the checks around it.
#[cfg(feature = "std")]
impl<T> SharedFuture<T> {
    /// Registers the fan-in as this future's waiter, reporting `index` when
    /// it finishes; `Some` (and nothing registered) if already finished.
    pub(crate) fn register_fan_in(
        &mut self,
        fan_in: &crate::sync::Arc<crate::fan_in::FanIn>,
        index: usize,
    ) -> Option<Snapshot> {
        let waiter = crate::waiter::Waiter::FanIn(crate::sync::Arc::clone(fan_in), index);
        // SAFETY: `&mut self`: the only consumer call.
        match unsafe { self.raw().register_owned(waiter) } {
            Ok(()) => None,
            // Finished: `register_owned` only hands the waiter back then, and
            // the state can no longer change.
            Err(_waiter) => self.finished_snapshot(),
        }
    }

    /// The state, if finished (acquired).
    pub(crate) fn finished_snapshot(&self) -> Option<Snapshot> {
        let seen = self.raw().state().load();
        seen.is_finished().then_some(seen)
    }

    /// Removes a registered waiter. `Err` if the future finished first (its
    /// producer then owns the waiter).
    pub(crate) fn deregister(&mut self) -> Result<(), Snapshot> {
        // SAFETY: `&mut self`: the only consumer call.
        unsafe { self.raw().deregister() }
    }

    /// Whether a finished future holds a failure (Python: `exception()` is set).
    pub(crate) fn is_failure(&mut self, seen: Snapshot) -> bool {
        RawCell::<T>::is_failure(seen)
    }
}

impl<T> Drop for SharedFuture<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: dropped once; the handle is not used again.
        unsafe { self.raw.drop_consumer() }
    }
}

impl<T> fmt::Debug for SharedFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFuture")
            .field("state", &self.state())
            .finish()
    }
}
