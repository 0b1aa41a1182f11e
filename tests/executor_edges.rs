//! The executor layer's edges (issue 23 §2), on every executor they concern:
//! a crate thread-local read from a thread-local's destructor, a scope run
//! inside a `Drop` during an unrelated panic, the last handle dropped after
//! `terminated()` was taken, and `max_workers` as the most threads alive.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use concurrent_futures::{
    CancelFutures, Executor, InlineExecutor, SharedFuture, ThreadPoolExecutor, scope,
};

/// Runs `check(executor)` from a thread-local's destructor on a fresh thread,
/// after the crate's own thread-locals of that thread were destroyed: the
/// value is made before the crate's are first touched, so it is destroyed
/// after them. Before the fix, the "am I inside this executor" check read its
/// destroyed thread-local and the process aborted.
fn from_a_thread_local_destructor<E: Executor + Clone + Send + 'static>(executor: E) {
    struct AtExit<E: Executor>(Option<E>, mpsc::Sender<bool>);
    impl<E: Executor> Drop for AtExit<E> {
        fn drop(&mut self) {
            if let Some(executor) = self.0.take() {
                let mut terminated = executor.terminated();
                executor.shutdown(CancelFutures::No);
                let _ = self.1.send(terminated.wait().is_ok());
            }
        }
    }
    thread_local! {
        static AT_EXIT: RefCell<Option<Box<dyn Send>>> = const { RefCell::new(None) };
    }
    let (done, is_done) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let for_exit = executor.clone();
        AT_EXIT.with(|slot| *slot.borrow_mut() = Some(Box::new(AtExit(Some(for_exit), done))));
        // Now the crate's thread-locals: registered after ours, destroyed first.
        executor.submit(|| ()).unwrap().wait().unwrap();
        drop(executor.terminated());
    });
    thread.join().expect("the thread exited without a panic");
    assert!(
        is_done.recv().unwrap(),
        "terminated resolved Ok from the destructor"
    );
}

#[test]
fn a_thread_pool_is_usable_from_a_thread_local_destructor() {
    from_a_thread_local_destructor(ThreadPoolExecutor::new());
}

#[cfg(feature = "rayon")]
#[test]
fn a_rayon_executor_is_usable_from_a_thread_local_destructor() {
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap(),
    );
    from_a_thread_local_destructor(concurrent_futures::RayonExecutor::new(pool));
}

#[cfg(feature = "tokio")]
#[test]
fn a_tokio_blocking_executor_is_usable_from_a_thread_local_destructor() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    from_a_thread_local_destructor(concurrent_futures::TokioBlockingExecutor::new(
        runtime.handle().clone(),
    ));
}

/// A scope on `InlineExecutor`, run inside a `Drop` while an unrelated panic
/// unwinds: its one job returned, so the scope is `Ok`.
#[test]
fn a_scope_inside_an_unwinding_drop_counts_only_its_own_panics() {
    struct RunsScopes(Arc<Mutex<Vec<usize>>>);
    impl Drop for RunsScopes {
        fn drop(&mut self) {
            let executor = InlineExecutor::new();
            let returned = scope(&executor, |s| s.spawn(|| ()).unwrap());
            let panicked = scope(&executor, |s| s.spawn(|| panic!("its own")).unwrap());
            let mut seen = self.0.lock().unwrap();
            seen.push(returned.err().map_or(0, |error| error.panicked()));
            seen.push(panicked.err().map_or(0, |error| error.panicked()));
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let guard = RunsScopes(Arc::clone(&seen));
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        let _guard = guard;
        panic!("unrelated");
    }));
    assert!(unwound.is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        [0, 1],
        "0 panics in the first scope, 1 in the second"
    );
}

/// The same on a thread pool (the job runs on a worker, where nothing
/// unwinds, but the scope's wait runs in the unwinding `Drop`).
#[test]
fn a_pool_scope_inside_an_unwinding_drop_is_ok() {
    struct RunsScope(ThreadPoolExecutor, Arc<Mutex<Option<bool>>>);
    impl Drop for RunsScope {
        fn drop(&mut self) {
            let ok = scope(&self.0, |s| s.spawn(|| ()).unwrap()).is_ok();
            *self.1.lock().unwrap() = Some(ok);
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let guard = RunsScope(ThreadPoolExecutor::new(), Arc::clone(&seen));
    let _ = catch_unwind(AssertUnwindSafe(move || {
        let _guard = guard;
        panic!("unrelated");
    }));
    assert_eq!(*seen.lock().unwrap(), Some(true));
}

/// Takes `terminated()`, runs a job, drops the last handle: the drop begins
/// shutdown, so the future resolves `Ok(())` once the job is done, on every
/// executor (it was `Err(Abandoned)` on the adapters).
fn last_handle_dropped_after_terminated<E: Executor>(executor: E) {
    let mut terminated: SharedFuture<()> = executor.terminated();
    let mut job = executor.submit(|| 7).unwrap();
    drop(executor);
    assert_eq!(job.wait().unwrap(), 7);
    assert!(
        terminated.wait().is_ok(),
        "dropping the last handle began shutdown"
    );
}

#[test]
fn a_thread_pool_terminates_when_its_last_handle_drops() {
    last_handle_dropped_after_terminated(ThreadPoolExecutor::new());
}

#[cfg(feature = "rayon")]
#[test]
fn a_rayon_executor_terminates_when_its_last_handle_drops() {
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap(),
    );
    let executor = concurrent_futures::RayonExecutor::new(pool);
    let clone = executor.clone();
    drop(clone); // not the last: nothing happens
    assert!(!executor.is_shutdown());
    last_handle_dropped_after_terminated(executor);
}

#[cfg(feature = "tokio")]
#[test]
fn a_tokio_blocking_executor_terminates_when_its_last_handle_drops() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let executor = concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone());
    let clone = executor.clone();
    drop(clone);
    assert!(!executor.is_shutdown());
    last_handle_dropped_after_terminated(executor);
}

/// With `keep_alive`, a worker that retires keeps its place under
/// `max_workers` until its thread-locals are destroyed: a job submitted
/// meanwhile waits for it, so no more than `max_workers` threads are alive.
#[test]
fn a_retiring_worker_counts_until_its_thread_locals_are_gone() {
    static ALIVE: AtomicUsize = AtomicUsize::new(0);
    struct Slow(Arc<Mutex<mpsc::Receiver<()>>>, mpsc::Sender<()>);
    impl Drop for Slow {
        fn drop(&mut self) {
            let _ = self.1.send(()); // the worker retired and is exiting
            let _ = self.0.lock().unwrap().recv(); // held until the test says
            ALIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    thread_local! {
        static SLOW: RefCell<Option<Slow>> = const { RefCell::new(None) };
    }
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let (dropping, is_dropping) = mpsc::channel::<()>();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .keep_alive(Duration::from_millis(1))
        .build()
        .unwrap();
    let (gate_for_job, dropping_for_job) = (Arc::clone(&gate), dropping.clone());
    pool.submit(move || {
        ALIVE.fetch_add(1, Ordering::SeqCst);
        SLOW.with(|slow| *slow.borrow_mut() = Some(Slow(gate_for_job, dropping_for_job)));
    })
    .unwrap()
    .wait()
    .unwrap();
    // The worker idles past its keep-alive, retires, and blocks in `Slow`'s drop.
    is_dropping.recv().unwrap();
    let mut next = pool.submit(|| ALIVE.load(Ordering::SeqCst)).unwrap();
    // The old thread is blocked in its thread-locals' teardown, so its exit
    // guard has not run: the submit started no second thread.
    assert_eq!(
        pool.worker_count(),
        0,
        "a second thread while the retiring one lives"
    );
    release.send(()).unwrap();
    assert_eq!(
        next.wait().unwrap(),
        0,
        "the job ran only once the old thread was gone"
    );
    pool.shutdown(CancelFutures::No);
}
