//! [`scope`]: Python's `with ThreadPoolExecutor() as pool:` and
//! `std::thread::scope` in one: jobs that borrow from the enclosing stack, and
//! a block that waits for all of them before it returns.

use core::fmt;
use core::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::{Executor, Job};
use crate::error::SubmitError;
use crate::future::SharedFuture;
use crate::sync::lock::Mutex;
use crate::sync::{Arc, AtomicUsize, Ordering};

/// Runs `f` with a [`Scope`] whose jobs run on `executor` and may borrow
/// anything that outlives the call (`'env`), then waits until every job
/// submitted through the scope has finished (run, or been cancelled or
/// dropped by the executor) and its future is done, before returning: Python's
/// `with ThreadPoolExecutor() as pool:` block, which waits on exit, and
/// `std::thread::scope` / `rayon::scope`, which let jobs borrow.
///
/// The wait happens even if `f` panics; `f`'s panic is then resumed.
///
/// # Errors
///
/// [`ScopeError`] if any job of the scope panicked (each panic also stays in
/// its job's future, as [`Error::Panicked`](crate::Error::Panicked)). The
/// scope's value is in the error, so that nothing `f` computed is lost.
///
/// # Waiting inside the pool: helping, and what it does not cover
///
/// The scope waits for its jobs on the calling thread. Called from a job of a
/// `ThreadPoolExecutor` (on one of its workers), the wait *helps*: it runs
/// the pool's queued jobs, this scope's among them, on the waiting thread, as
/// rayon's `scope` does, so a scope opened inside the only worker of its pool
/// completes; while it waits with nothing to run, the pool wakes it for any
/// job queued later that no other worker is free to take (see
/// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor)'s "Waiting inside the
/// pool" for the rules). On the adapters
/// (`RayonExecutor`, `TokioBlockingExecutor`) the queue is ours but the
/// threads are not: the wait does not help, so a scope opened in a job of a
/// one-thread rayon pool (or inside its `install`) waits for a thread that
/// never comes; use rayon's own `scope` there, which helps with rayon's
/// queue. Called from a job of the same executor with no worker free and
/// nothing to help with, the wait cannot end (as in Python).
///
/// # Examples
///
/// ```
/// use concurrent_futures::{ThreadPoolExecutor, scope};
///
/// let pool = ThreadPoolExecutor::new();
/// let words = vec!["alpha".to_owned(), "beta".to_owned(), "gamma".to_owned()]; // not 'static
/// let mut lengths = Vec::new();
/// scope(&pool, |s| {
///     for word in &words {
///         lengths.push(s.submit(move || word.len()).unwrap()); // borrows `words`
///     }
/// })
/// .unwrap();
/// // Every job has finished here.
/// let lengths: Vec<usize> = lengths.iter_mut().map(|f| f.try_take().unwrap().unwrap()).collect();
/// assert_eq!(lengths, [5, 4, 5]);
/// ```
pub fn scope<'env, E, F, R>(executor: &'env E, f: F) -> Result<R, ScopeError<R>>
where
    E: Executor + ?Sized,
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env, E>) -> R,
{
    let scope = Scope {
        executor,
        state: Arc::new(ScopeState::default()),
        _scope: PhantomData,
        _env: PhantomData,
    };
    // Waits on every path out of here, a panic of `f` included.
    struct WaitOnExit<'a>(&'a ScopeState);
    impl Drop for WaitOnExit<'_> {
        fn drop(&mut self) {
            self.0.wait_for_jobs();
        }
    }
    let value = {
        let _wait = WaitOnExit(&scope.state);
        match catch_unwind(AssertUnwindSafe(|| f(&scope))) {
            Ok(value) => value,
            Err(payload) => {
                drop(_wait);
                resume_unwind(payload)
            }
        }
    };
    // ORDERING: relaxed: every increment (in `Scope::submit`'s job) is
    // sequenced before that job's `job_finished`, which unlocks the count that
    // `wait_for_jobs` locked and found at zero: the lock makes each increment
    // happen before this load, so the load sees them all, and the count
    // guards no other memory.
    match scope.state.panicked.load(Ordering::Relaxed) {
        0 => Ok(value),
        panicked => Err(ScopeError { panicked, value }),
    }
}

/// The scope of [`scope`]: submits jobs that may borrow from `'env`.
///
/// `'scope` is the scope's own lifetime (the jobs' futures may outlive it:
/// their values are `'static`); `'env` is what the jobs may borrow.
pub struct Scope<'scope, 'env: 'scope, E: Executor + ?Sized> {
    executor: &'env E,
    state: Arc<ScopeState>,
    // Invariant in both, as `std::thread::Scope`.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, E: Executor + ?Sized> Scope<'scope, '_, E> {
    /// Submits `f`, which may borrow from the scope's environment, and returns
    /// the future of its result. The job is counted until it has run (or been
    /// cancelled or dropped by the executor, which drops `f` unrun).
    ///
    /// # Errors
    ///
    /// The executor's refusal ([`SubmitError`]); `f` is dropped unrun.
    ///
    /// ```
    /// use concurrent_futures::{ThreadPoolExecutor, scope};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let mut total = 0;
    /// let numbers = [1, 2, 3, 4];
    /// scope(&pool, |s| {
    ///     let mut halves = [
    ///         s.submit(|| numbers[..2].iter().sum::<i32>()).unwrap(),
    ///         s.submit(|| numbers[2..].iter().sum::<i32>()).unwrap(),
    ///     ];
    ///     total = halves.iter_mut().map(|half| half.wait().unwrap()).sum();
    /// })
    /// .unwrap();
    /// assert_eq!(total, 10);
    /// ```
    #[allow(unsafe_code)] // the lifetime erasure: see the SAFETY comment
    pub fn submit<F, T>(&'scope self, f: F) -> Result<SharedFuture<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'static,
    {
        self.state.job_started();
        let state = Arc::clone(&self.state);
        let work = move || {
            // Counts the job as panicked if `f` unwinds; the job itself
            // catches the panic into the future. No `catch_unwind` here: it
            // would add copies of a `T` that may be large.
            let mut panicked = CountPanic { state, armed: true };
            let value = f();
            panicked.armed = false;
            value
        };
        let count_out = CountOut(Arc::clone(&self.state));
        // SAFETY: the job drops `count_out` only once its future is finished
        // (published, cancelled, failed or abandoned), after the closure (with
        // its borrows of 'env and 'scope) was consumed or dropped; `scope`
        // does not return before every job is counted out. The value is
        // 'static, so the future may outlive the scope.
        let (job, future) = unsafe { Job::new_scoped(work, count_out) };
        self.executor.execute(job)?;
        Ok(future)
    }

    /// Submits `f` without keeping its future, as `rayon::Scope::spawn`: the
    /// scope still waits for it, and reports its panic
    /// ([`ScopeError`]); its value is dropped on the worker.
    ///
    /// # Errors
    ///
    /// The executor's refusal ([`SubmitError`]); `f` is dropped unrun.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use concurrent_futures::{ThreadPoolExecutor, scope};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let sum = AtomicU64::new(0);
    /// let data = [1_u64, 2, 3, 4];
    /// scope(&pool, |s| {
    ///     for x in &data {
    ///         s.spawn(|| {
    ///             sum.fetch_add(*x, Ordering::Relaxed);
    ///         })
    ///         .unwrap();
    ///     }
    /// })
    /// .unwrap();
    /// assert_eq!(sum.into_inner(), 10);
    /// ```
    pub fn spawn<F>(&'scope self, f: F) -> Result<(), SubmitError>
    where
        F: FnOnce() + Send + 'scope,
    {
        self.submit(f).map(drop)
    }

    /// The executor the scope submits to.
    ///
    /// ```
    /// use concurrent_futures::{ThreadPoolExecutor, scope};
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// scope(&pool, |s| assert_eq!(s.executor().max_workers(), 2)).unwrap();
    /// ```
    pub fn executor(&self) -> &E {
        self.executor
    }
}

impl<E: Executor + ?Sized> fmt::Debug for Scope<'_, '_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("jobs", &self.state.jobs.lock().running)
            .finish()
    }
}

/// Why [`scope`] reports failure: some of its jobs panicked. Each panic also
/// stays in its job's future as [`Error::Panicked`](crate::Error::Panicked).
/// Holds the value the scope's closure returned.
///
/// ```
/// use concurrent_futures::{ThreadPoolExecutor, scope};
///
/// let pool = ThreadPoolExecutor::new();
/// let error = scope(&pool, |s| {
///     let _ = s.submit(|| panic!("one job fails"));
///     "the closure's value"
/// })
/// .unwrap_err();
/// assert_eq!(error.panicked(), 1);
/// assert_eq!(error.into_value(), "the closure's value");
/// ```
#[derive(Debug)]
pub struct ScopeError<R> {
    panicked: usize,
    value: R,
}

impl<R> ScopeError<R> {
    /// How many jobs of the scope panicked.
    ///
    /// ```
    /// # use concurrent_futures::{ThreadPoolExecutor, scope};
    /// # let pool = ThreadPoolExecutor::new();
    /// let error = scope(&pool, |s| { let _ = s.submit(|| panic!()); }).unwrap_err();
    /// assert_eq!(error.panicked(), 1);
    /// ```
    pub fn panicked(&self) -> usize {
        self.panicked
    }

    /// The value the scope's closure returned.
    ///
    /// ```
    /// # use concurrent_futures::{ThreadPoolExecutor, scope};
    /// # let pool = ThreadPoolExecutor::new();
    /// let error = scope(&pool, |s| { let _ = s.submit(|| panic!()); 7 }).unwrap_err();
    /// assert_eq!(error.into_value(), 7);
    /// ```
    pub fn into_value(self) -> R {
        self.value
    }
}

impl<R> fmt::Display for ScopeError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} job(s) of the scope panicked", self.panicked)
    }
}

impl<R: fmt::Debug> core::error::Error for ScopeError<R> {}

/// The jobs of a scope still counted, and the thread waiting for them.
#[derive(Default)]
struct ScopeState {
    jobs: Mutex<Jobs>,
    panicked: AtomicUsize,
}

/// Under the scope's lock.
#[derive(Default)]
struct Jobs {
    /// Jobs submitted through the scope whose future is not finished.
    running: usize,
    /// The thread that waits for them (at the end of `scope`), once it
    /// parks: unparked by the last job. A thread park rather than a
    /// condition variable, so that a pool can wake the same thread for a job
    /// to help with (see `Help`).
    waiter: Option<crate::sync::thread::Thread>,
}

impl ScopeState {
    fn job_started(&self) {
        self.jobs.lock().running += 1;
    }

    /// A job's future is finished (its closure gone before): count it out.
    /// The last one wakes the scope. Runs on the job's thread; the state is
    /// in an `Arc`, so the scope may return (and free its frame) while this
    /// finishes.
    fn job_finished(&self) {
        let waiter = {
            let mut jobs = self.jobs.lock();
            jobs.running -= 1;
            if jobs.running == 0 {
                jobs.waiter.take()
            } else {
                None
            }
        };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }

    fn wait_for_jobs(&self) {
        // On a pool's worker, run its queued jobs (this scope's among them)
        // instead of only waiting, and again each time the pool wakes this
        // thread for a job queued since: a scope opened inside the only
        // worker of its pool completes.
        let mut pending = || self.jobs.lock().running > 0;
        let mut help = crate::executor::Help::new(0);
        loop {
            help.run(&mut pending, None);
            {
                let mut jobs = self.jobs.lock();
                if jobs.running == 0 {
                    jobs.waiter = None;
                    return;
                }
                jobs.waiter = Some(crate::sync::thread::current());
            }
            // A wake-up that came before (the last job, or the pool) left
            // its token: this returns at once. Spurious ones loop.
            crate::sync::thread::park();
        }
    }
}

/// Counts a panic of the job whose closure holds it: dropped while still
/// armed, the closure unwound. (Not `thread::panicking()`: a scope run inside
/// a `Drop` during an unrelated panic would count its jobs that returned.)
struct CountPanic {
    state: Arc<ScopeState>,
    armed: bool,
}

impl Drop for CountPanic {
    fn drop(&mut self) {
        if self.armed {
            // ORDERING: relaxed: read by `scope` after the wait, which the
            // scope's lock orders (see `ScopeState::panicked`).
            self.state.panicked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts a job out of its scope when dropped: by the job, once its future
/// is finished (so every future is done when `scope` returns).
struct CountOut(Arc<ScopeState>);

impl Drop for CountOut {
    fn drop(&mut self) {
        self.0.job_finished();
    }
}
