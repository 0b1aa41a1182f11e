//! [`Job`]: a type-erased unit of work and the producer of its future, in the
//! future's own allocation.

use core::fmt;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::NonNull;

use crate::error::Error;
#[cfg(feature = "std")]
use crate::error::Panic;
use crate::future::SharedFuture;
use crate::promise::{Promise, StopSignal, StopToken};
use crate::raw::{self, Cell, Header, RawCell};
use crate::state::{self, Finish};
use crate::sync::UnsafeCell;
#[cfg(feature = "std")]
use crate::waiter::Waiter;

/// What a job runs: a plain closure, one that looks at its stop token, or
/// (with `std`) one with a deadline. Each compiles to a direct call; the token
/// costs nothing when unused.
trait Work<T> {
    /// Runs the work and writes its value to `place` (the cell's outcome
    /// slot: no copy of a large `T` through the frames between), or writes
    /// nothing and reports why it gave no value (a deadline passed).
    fn call(self, token: StopToken<'_>, place: &mut MaybeUninit<T>) -> Result<(), Error>;
}

/// Writes `value` to `place` with one copy. `MaybeUninit::write` would make
/// more in a debug build (a value moved through its frames), which a `T` of a
/// mebibyte on a worker's stack does not survive (`tests/large_values.rs`).
#[inline(always)]
fn put<T>(place: &mut MaybeUninit<T>, value: T) {
    // SAFETY: `place` is a `&mut`: valid for writes and aligned; the old
    // contents are uninitialized, so nothing is overwritten without a drop.
    unsafe { place.as_mut_ptr().write(value) }
}

struct Plain<F>(F);

impl<F: FnOnce() -> T, T> Work<T> for Plain<F> {
    #[inline(always)]
    fn call(self, _: StopToken<'_>, place: &mut MaybeUninit<T>) -> Result<(), Error> {
        put(place, (self.0)());
        Ok(())
    }
}

struct WithToken<F>(F);

impl<F: FnOnce(&StopToken<'_>) -> T, T> Work<T> for WithToken<F> {
    #[inline(always)]
    fn call(self, token: StopToken<'_>, place: &mut MaybeUninit<T>) -> Result<(), Error> {
        put(place, (self.0)(&token));
        Ok(())
    }
}

/// A job with a deadline ([`JobOptions`](crate::JobOptions)): not started by
/// then, it is skipped; its token reports a stop from then on; finished after
/// it, its value is dropped. Either way the outcome is `Err(Timeout)`.
#[cfg(feature = "std")]
struct WithDeadline<F> {
    f: F,
    deadline: std::time::Instant,
}

/// Drops what a deadline made useless (a skipped closure, a late value)
/// quietly: a `Drop` that panics does not turn the timeout into a panic, as a
/// cancelled job's closure does not (the executor layer's `run_quietly`).
#[cfg(feature = "std")]
fn drop_quietly<V>(value: V) {
    crate::executor::lifecycle::run_quietly(move || drop(value));
}

#[cfg(feature = "std")]
impl<F: FnOnce(&StopToken<'_>) -> T, T> Work<T> for WithDeadline<F> {
    fn call(self, token: StopToken<'_>, place: &mut MaybeUninit<T>) -> Result<(), Error> {
        let WithDeadline { f, deadline } = self;
        if std::time::Instant::now() >= deadline {
            drop_quietly(f);
            return Err(Error::Timeout);
        }
        let value = f(&token.until(deadline));
        if std::time::Instant::now() >= deadline {
            drop_quietly(value);
            return Err(Error::Timeout);
        }
        put(place, value);
        Ok(())
    }
}

/// The allocation of a job: the future's cell first (so a `SharedFuture<T>` can
/// point at it without knowing `F`), then the closure, then what is dropped
/// once the future is finished (`()` for every job but a scoped one, whose
/// guard counts it out of its scope: zero bytes, no code).
#[repr(C)]
struct JobCell<F, T, A> {
    cell: Cell<T>,
    /// Initialized until the job takes it out, exactly once, to run, cancel,
    /// fail or drop the job.
    func: UnsafeCell<MaybeUninit<F>>,
    /// Initialized until the job's future is finished: taken out right before
    /// the outcome is published (or with the closure, when the job finishes
    /// without running), and dropped after.
    after: UnsafeCell<MaybeUninit<A>>,
}

struct JobVTable {
    /// Runs the closure (unless cancelled) and writes its outcome; `Some`
    /// (the tag to publish it with) if an outcome now waits for `publish`.
    run_unpublished: unsafe fn(NonNull<Header>, Option<&StopSignal>) -> Option<Finish>,
    publish: unsafe fn(NonNull<Header>, Finish),
    #[cfg(feature = "std")]
    publish_deferred: unsafe fn(NonNull<Header>, Finish) -> Option<Waiter>,
    cancel: unsafe fn(NonNull<Header>),
    #[cfg(feature = "std")]
    fail: unsafe fn(NonNull<Header>, Error),
    drop: unsafe fn(NonNull<Header>),
}

/// A unit of work for an [`Executor`](crate::Executor): a closure and the
/// producer side of its [`SharedFuture`], in one allocation.
///
/// An executor receives jobs through [`Executor::execute`](crate::Executor::execute)
/// and must eventually [`run`](Job::run), [`cancel`](Job::cancel) or drop each
/// one. Whatever it does, the job's future learns of it: a value or a panic
/// from `run`, [`Error::Cancelled`](crate::Error::Cancelled) from `cancel` (or when the future was
/// cancelled before `run`), [`Error::Abandoned`](crate::Error::Abandoned) from a drop. A waiter never
/// hangs on a job that was lost.
///
/// # Examples
///
/// ```
/// use concurrent_futures::Job;
///
/// let (job, mut future) = Job::new(|| 6 * 7);
/// job.run(); // any thread may run it
/// assert_eq!(future.try_take().unwrap().unwrap(), 42);
///
/// let (job, mut future) = Job::new(|| unreachable!("never runs"));
/// assert!(future.cancel());
/// job.run(); // sees the cancellation and skips the closure
/// assert!(future.try_take().unwrap().unwrap_err().is_cancelled());
/// ```
#[must_use = "a dropped job never runs; its future reports Error::Abandoned"]
pub struct Job {
    header: NonNull<Header>,
    vtable: &'static JobVTable,
}

// SAFETY: a job is made only from `F: Send` and `T: Send`, and its cell's
// protocol is thread-safe.
unsafe impl Send for Job {}

impl Job {
    /// Makes a job that runs `f`, and the future of its result, in one
    /// allocation.
    ///
    /// ```
    /// let (job, mut future) = concurrent_futures::Job::new(|| "done");
    /// std::thread::spawn(move || job.run());
    /// assert_eq!(future.wait().unwrap(), "done");
    /// ```
    pub fn new<F, T>(f: F) -> (Job, SharedFuture<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Self::from_work(Plain(f), ())
    }

    /// Like [`Job::new`], for a closure that takes a [`StopToken`]: it can see
    /// that its consumer cancelled, dropped its future, or asked it to stop
    /// while it runs, and return early.
    ///
    /// ```
    /// use concurrent_futures::Job;
    /// let (job, future) = Job::stoppable(|token| token.is_stop_requested());
    /// drop(future); // nobody wants the answer any more
    /// job.run(); // the closure runs and sees it
    /// ```
    pub fn stoppable<F, T>(f: F) -> (Job, SharedFuture<T>)
    where
        F: FnOnce(&StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        Self::from_work(WithToken(f), ())
    }

    /// Like [`Job::stoppable`], with [`JobOptions`](crate::JobOptions): with a
    /// deadline, a job not started by then is skipped, its token reports a
    /// stop request from then on, and a value it returns after it is dropped;
    /// in each case its future reports [`Error::Timeout`]. Still one
    /// allocation.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent_futures::{Job, JobOptions};
    /// let (job, mut future) = Job::with_options(|_token| 1, JobOptions::new().timeout(Duration::ZERO));
    /// job.run(); // past its deadline: skipped
    /// assert!(future.try_take().unwrap().unwrap_err().is_timeout());
    /// ```
    #[cfg(feature = "std")]
    pub fn with_options<F, T>(f: F, options: crate::JobOptions) -> (Job, SharedFuture<T>)
    where
        F: FnOnce(&StopToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        match options.until() {
            Some(deadline) => Self::from_work(WithDeadline { f, deadline }, ()),
            None => Self::from_work(WithToken(f), ()),
        }
    }

    /// A job whose closure may borrow from the caller's stack (a scoped job):
    /// the executor sees an ordinary `Job`.
    ///
    /// # Safety
    ///
    /// The job must be run, cancelled or dropped (which drops `f`) before
    /// anything `f` borrows goes away, and the caller must not return before
    /// then: `executor::scope` waits for every job it made this way.
    #[cfg(feature = "std")]
    pub(crate) unsafe fn new_scoped<F, T, A>(f: F, after: A) -> (Job, SharedFuture<T>)
    where
        F: FnOnce() -> T + Send,
        T: Send + 'static,
        A: Send,
    {
        Self::from_work(Plain(f), after)
    }

    /// Safe for `W: 'static` (`new`, `stoppable`, `with_options`); otherwise
    /// see `new_scoped`.
    fn from_work<W, T, A>(work: W, after: A) -> (Job, SharedFuture<T>)
    where
        W: Work<T> + Send,
        T: Send + 'static,
        A: Send,
    {
        // Built in place: the cell's outcome slot (the size of `T`) is never
        // on the stack.
        let ptr = raw::allocate_uninit::<JobCell<W, T, A>>();
        // SAFETY: just allocated with `JobCell<W, T, A>`'s layout; `JobCell`
        // is `repr(C)` with the `Cell<T>` at offset 0, and each field is
        // written once through a raw place.
        unsafe {
            Cell::<T>::init(
                ptr.cast::<Cell<T>>(),
                const { raw::BlockLayout::of::<JobCell<W, T, A>>() },
            );
            core::ptr::addr_of_mut!((*ptr.as_ptr()).func)
                .write(UnsafeCell::new(MaybeUninit::new(work)));
            core::ptr::addr_of_mut!((*ptr.as_ptr()).after)
                .write(UnsafeCell::new(MaybeUninit::new(after)));
        }
        // SAFETY: `JobCell` is `repr(C)` with the `Cell<T>` at offset 0, and
        // the cell records `JobCell<W, T, A>`'s layout (given to `Cell::init`),
        // which frees the whole block.
        let raw = unsafe { RawCell::from_ptr(ptr.cast::<Cell<T>>()) };
        let job = Job {
            header: ptr.cast::<Header>(),
            vtable: &JobVTable {
                run_unpublished: run_unpublished::<W, T, A>,
                publish: publish::<W, T, A>,
                #[cfg(feature = "std")]
                publish_deferred: publish_deferred::<W, T, A>,
                cancel: cancel::<W, T, A>,
                #[cfg(feature = "std")]
                fail: fail::<W, T, A>,
                drop: drop_job::<W, T, A>,
            },
        };
        (job, SharedFuture::from_raw(raw))
    }

    /// Runs the job on the current thread, unless its future was cancelled, and
    /// completes the future with the result. With `std`, a panic of the closure
    /// is caught and delivered as [`Error::Panicked`](crate::Error::Panicked); this call then returns
    /// normally.
    ///
    /// Foreign code can still unwind out of `run`: a panicking `Waker::wake` of
    /// the waiter, or the panicking `Drop` of a result nobody was waiting for.
    /// The future is consistent in either case.
    ///
    /// ```
    /// use concurrent_futures::{Error, Job};
    /// let (job, mut future) = Job::new(|| -> u8 { panic!("job failed") });
    /// job.run();
    /// assert!(matches!(future.wait(), Err(Error::Panicked(_))));
    /// ```
    pub fn run(self) {
        if let Some(completion) = self.run_unpublished(None) {
            completion.publish();
        }
    }

    /// Like [`run`](Job::run), with the job's [`StopToken`] also watching
    /// `signal`, the executor's stop for its running jobs (what an executor
    /// of your own raises on `shutdown(CancelFutures::AndStopRunning)`).
    ///
    /// ```
    /// use concurrent_futures::{Job, StopSignal};
    /// let signal = StopSignal::new();
    /// let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
    /// job.run_under(&signal);
    /// assert!(!future.try_take().unwrap().unwrap()); // not raised: still wanted
    /// ```
    pub fn run_under(self, signal: &StopSignal) {
        if let Some(completion) = self.run_unpublished(Some(signal)) {
            completion.publish();
        }
    }

    /// Runs the job like [`run`](Job::run) but leaves the outcome unpublished:
    /// the waiter is not woken until the returned [`Completion`] is published
    /// (or dropped). A worker uses the gap to take its next job first. `None`
    /// if the future was cancelled and the closure skipped.
    pub(crate) fn run_unpublished(self, signal: Option<&StopSignal>) -> Option<Completion> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the job is consumed: its entry runs once.
        let written = unsafe { (this.vtable.run_unpublished)(this.header, signal) };
        // A `Completion` publishes when dropped, so one must exist only when
        // an outcome was written.
        written.map(|written| Completion {
            header: this.header,
            vtable: this.vtable,
            written,
        })
    }

    /// Drops the closure without running it; the future reports
    /// [`Error::Cancelled`](crate::Error::Cancelled). What `shutdown(cancel_futures = true)` does to a
    /// queued job.
    ///
    /// ```
    /// let (job, future) = concurrent_futures::Job::new(|| 1);
    /// job.cancel();
    /// assert!(future.is_cancelled());
    /// ```
    pub fn cancel(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the job is consumed: its entry runs once.
        unsafe { (this.vtable.cancel)(this.header) }
    }

    /// Drops the closure without running it and completes the future with
    /// `error` (a broken pool fails its queued jobs this way).
    #[cfg(feature = "std")]
    pub(crate) fn fail(self, error: Error) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the job is consumed: its entry runs once.
        unsafe { (this.vtable.fail)(this.header, error) }
    }

    /// The address of the job's cell, the same as its future's
    /// (`RawCell::addr`): a waiting worker finds the job it waits for in the
    /// queue by it.
    #[cfg(feature = "std")]
    pub(crate) fn addr(&self) -> usize {
        self.header.as_ptr().addr()
    }

    /// `true` if the job's future was cancelled: running it would skip the
    /// closure.
    ///
    /// ```
    /// let (job, future) = concurrent_futures::Job::new(|| 1);
    /// future.cancel();
    /// assert!(job.is_cancelled());
    /// # drop(job);
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: the job holds the producer's reference, so the header is alive.
        let state = unsafe { &(*self.header.as_ptr()).state };
        state.load_relaxed().lifecycle() == state::CANCELLED
    }
}

/// A job's outcome, written to its future's cell but not yet published.
/// Publishing happens exactly once: by [`Completion::publish`], or on drop.
pub(crate) struct Completion {
    header: NonNull<Header>,
    vtable: &'static JobVTable,
    /// What was written (value, panic or error): the tag `publish` puts in
    /// the state word.
    written: Finish,
}

// SAFETY: as for `Job`: the outcome is `Send`, and publishing is thread-safe.
unsafe impl Send for Completion {}

impl Completion {
    /// Publishes the outcome and wakes the waiter. May unwind from foreign code
    /// (a waker, or the `Drop` of an undelivered value); the future is
    /// consistent either way.
    pub(crate) fn publish(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the completion is consumed: it publishes once.
        unsafe { (this.vtable.publish)(this.header, this.written) }
    }

    /// Publishes the outcome but hands back the waiter instead of waking it
    /// (see `RawCell::publish_outcome_deferred`): a pool worker runs a done
    /// callback only once it holds no other job. May unwind from the `Drop`
    /// of an undelivered value; the future is consistent either way.
    #[cfg(feature = "std")]
    pub(crate) fn publish_deferred(self) -> Option<Waiter> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the completion is consumed: it publishes once.
        unsafe { (this.vtable.publish_deferred)(this.header, this.written) }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // SAFETY: dropped once, never published before (`publish` forgets self).
        unsafe { (self.vtable.publish)(self.header, self.written) }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: dropped once; the handle is not used again.
        unsafe { (self.vtable.drop)(self.header) }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Takes the closure out of the job, and the job's producer handle.
///
/// # Safety
///
/// `header` is a `JobCell<F, T, A>` whose closure was not taken yet; called once.
unsafe fn take<F, T, A>(header: NonNull<Header>) -> (F, Promise<T>) {
    let job = header.cast::<JobCell<F, T, A>>();
    // SAFETY: the job exclusively owns its closure (the consumer never touches
    // it), and it is initialized until taken, which happens once, here.
    let func = unsafe {
        (*job.as_ptr())
            .func
            .with_mut(|slot| (*slot).assume_init_read())
    };
    // SAFETY: `Cell<T>` is at offset 0 of the `JobCell`; the job held the
    // producer's reference, which the promise now holds.
    let promise = Promise::from_raw(unsafe { RawCell::from_ptr(job.cast::<Cell<T>>()) });
    (func, promise)
}

/// Takes out what is dropped once the future is finished.
///
/// # Safety
///
/// `header` is a `JobCell<F, T, A>` whose `after` was not taken yet; called
/// once, while the producer still holds its reference.
unsafe fn take_after<F, T, A>(header: NonNull<Header>) -> A {
    let job = header.cast::<JobCell<F, T, A>>();
    // SAFETY: only the producer side touches `after`, initialized until this
    // one take.
    unsafe {
        (*job.as_ptr())
            .after
            .with_mut(|slot| (*slot).assume_init_read())
    }
}

/// # Safety
///
/// As for [`take`].
unsafe fn run_unpublished<W: Work<T>, T, A>(
    header: NonNull<Header>,
    signal: Option<&StopSignal>,
) -> Option<Finish> {
    // SAFETY: forwarded.
    let (work, mut promise) = unsafe { take::<W, T, A>(header) };
    if !promise.set_running_or_notify_cancel() {
        // Cancelled before it started: the closure is dropped unrun (its captures
        // are released on this thread), and dropping the promise only releases it.
        // SAFETY: the producer still holds its reference; taken once.
        let after = unsafe { take_after::<W, T, A>(header) };
        drop(work);
        drop(promise);
        drop(after);
        return None;
    }
    let raw = promise.raw();
    let token = StopToken::of(raw.state(), signal);
    // The value is written into the cell's slot right where the call returns
    // it, not passed through a chain of frames (each one a copy of a `T` that
    // may be megabytes, in a debug build).
    let call = || {
        // SAFETY: the producer writes the slot once, before publishing; a
        // panic in `call` leaves it unwritten (every `Work` writes the value
        // last, and only when it returns `Ok`).
        unsafe { raw.write_outcome_with(|place| work.call(token, place)) }
    };
    #[cfg(feature = "std")]
    let written = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(written) => written,
        // SAFETY: as above: the call panicked before writing.
        Err(payload) => unsafe { raw.write_outcome(Err(Error::Panicked(Panic::new(payload)))) },
    };
    // Without `std` a panic cannot be caught: unwinding drops `promise`, which
    // abandons the future, so the waiter still does not hang.
    #[cfg(not(feature = "std"))]
    let written = call();
    // The producer's reference moves to the `Completion` that publishes.
    let _ = promise.into_raw();
    Some(written)
}

/// # Safety
///
/// `header` is a `JobCell<W, T, A>` whose outcome was written by
/// `run_unpublished` and not yet published; called once.
unsafe fn publish<W, T, A>(header: NonNull<Header>, written: Finish) {
    // Out of the cell before the publish, which may free it.
    // SAFETY: the completion still holds the producer's reference; once.
    let after = unsafe { take_after::<W, T, A>(header) };
    // SAFETY: `Cell<T>` is at offset 0; the completion holds the producer's
    // reference and publishes once.
    let raw = unsafe { RawCell::<T>::from_ptr(header.cast::<Cell<T>>()) };
    // SAFETY: as above. An undelivered outcome (consumer gone) is dropped here,
    // on the worker.
    drop(unsafe { raw.publish_outcome(written) });
    drop(after);
}

/// # Safety
///
/// As for [`publish`].
#[cfg(feature = "std")]
unsafe fn publish_deferred<W, T, A>(header: NonNull<Header>, written: Finish) -> Option<Waiter> {
    // SAFETY: as in `publish`.
    let after = unsafe { take_after::<W, T, A>(header) };
    // SAFETY: `Cell<T>` is at offset 0; the completion holds the producer's
    // reference and publishes once.
    let raw = unsafe { RawCell::<T>::from_ptr(header.cast::<Cell<T>>()) };
    // Dropped after the publish, even if an undelivered value's `Drop` unwinds.
    let _after = after;
    // SAFETY: as above.
    unsafe { raw.publish_outcome_deferred(written) }
}

/// Finishes a job's promise when dropped: after its closure was dropped
/// unrun, even if that `Drop` unwinds. The closure goes first, so its captures
/// are released before anyone can see the future done.
struct FinishOnDrop<T> {
    promise: Option<Promise<T>>,
    /// `None`: cancel; `Some`: fail with this error.
    #[cfg(feature = "std")]
    error: Option<Error>,
}

impl<T> Drop for FinishOnDrop<T> {
    fn drop(&mut self) {
        let Some(promise) = self.promise.take() else {
            return;
        };
        #[cfg(feature = "std")]
        if let Some(error) = self.error.take() {
            promise.set_error(error);
            return;
        }
        promise.set_cancelled();
    }
}

/// # Safety
///
/// As for [`take`].
unsafe fn cancel<F, T, A>(header: NonNull<Header>) {
    // SAFETY: forwarded; `after` taken once, with the closure.
    let (func, promise, _after) = unsafe {
        let (func, promise) = take::<F, T, A>(header);
        (func, promise, take_after::<F, T, A>(header))
    };
    let _cancel = FinishOnDrop {
        promise: Some(promise),
        #[cfg(feature = "std")]
        error: None,
    };
    drop(func);
}

/// # Safety
///
/// As for [`take`].
#[cfg(feature = "std")]
unsafe fn fail<F, T, A>(header: NonNull<Header>, error: Error) {
    // SAFETY: forwarded; `after` taken once, with the closure.
    let (func, promise, _after) = unsafe {
        let (func, promise) = take::<F, T, A>(header);
        (func, promise, take_after::<F, T, A>(header))
    };
    let _fail = FinishOnDrop {
        promise: Some(promise),
        error: Some(error),
    };
    drop(func);
}

/// # Safety
///
/// As for [`take`].
unsafe fn drop_job<F, T, A>(header: NonNull<Header>) {
    // SAFETY: forwarded; `after` taken once, with the closure.
    let (func, promise, _after) = unsafe {
        let (func, promise) = take::<F, T, A>(header);
        (func, promise, take_after::<F, T, A>(header))
    };
    drop(func);
    drop(promise);
}
