//! Helpers shared by the integration tests: a drop-counting value that can
//! panic in `Drop`, a panic payload whose `Drop` panics, a pool of n workers,
//! a gated job, and a guard against hangs.
#![allow(dead_code)] // each test file uses a part of these

#[cfg(all(feature = "process", unix))]
pub mod process;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use concurrent_futures::{Executor, SharedFuture, ThreadPoolExecutor};

/// A value that counts its drops, and can be told to panic in `Drop`.
pub struct Tracked {
    drops: Arc<AtomicUsize>,
    panic_on_drop: bool,
}

impl Tracked {
    /// A tracked value and its drop counter.
    pub fn new() -> (Tracked, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        (Tracked::counting(&drops), drops)
    }

    /// Another value counted by `drops`.
    pub fn counting(drops: &Arc<AtomicUsize>) -> Tracked {
        Tracked {
            drops: Arc::clone(drops),
            panic_on_drop: false,
        }
    }

    /// A value counted by `drops` whose `Drop` panics (after counting).
    pub fn panicking(drops: &Arc<AtomicUsize>) -> Tracked {
        Tracked {
            drops: Arc::clone(drops),
            panic_on_drop: true,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("deliberate panic in Drop of Tracked");
        }
    }
}

/// A panic payload whose `Drop` panics (unless already unwinding): what a
/// pool must drop without letting it escape.
pub struct PanickingPayload;

impl Drop for PanickingPayload {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the panic payload's Drop panics");
        }
    }
}

/// A thread pool of at most `workers` threads.
pub fn pool(workers: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

pub fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Submits a job that signals once it runs and then blocks until the returned
/// sender is used (or dropped): the pool's worker is then known to be busy.
pub fn gated<E: Executor, T: Send + 'static>(
    executor: &E,
    value: impl FnOnce() -> T + Send + 'static,
) -> (mpsc::Sender<()>, SharedFuture<T>) {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, gate) = mpsc::channel::<()>();
    let future = executor
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
            value()
        })
        .unwrap();
    started_rx.recv().unwrap();
    (release, future)
}

/// Runs `body` on its own thread and fails the test if it has not returned
/// within a minute: a hang becomes a failure with a name instead of a stuck
/// CI run. Not a timing test: the bound is orders of magnitude above the
/// expected time.
pub fn no_hang<R: Send + 'static>(what: &str, body: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done.send(body());
    });
    match result.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => {
            runner.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still blocked after 60 s"),
    }
}
