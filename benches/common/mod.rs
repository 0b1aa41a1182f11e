//! What every benchmark binary shares: the pools under test, built the same way
//! each time, with 2 workers, and shut down (threads joined) after each case.
//!
//! Each case makes its own pool and ends it, so that no thread of an earlier
//! case spins or waits on this 2-core machine while a later case is measured.
//! The exception is `blocking::unblock`, whose pool is global: it is capped at
//! 2 threads ([`cap_blocking_threads`]) and its idle threads exit by themselves
//! after 500 ms.

pub mod bulk;
pub mod trip;

use std::thread::JoinHandle;

use concurrent_futures::ThreadPoolExecutor;

/// The workers every pool gets.
pub const WORKERS: usize = 2;

/// Our pool, 2 workers.
pub fn ours() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("2 workers is a valid pool")
}

/// Our pool with both workers started, as the rayon and crossbeam-channel
/// pools' threads are from the start (ours start lazily, and reuse an idle
/// worker before starting another, as Python's do).
pub fn ours_started() -> ThreadPoolExecutor {
    use concurrent_futures::Executor;
    let pool = ours();
    let both = std::sync::Arc::new(std::sync::Barrier::new(WORKERS));
    let started: Vec<_> = (0..WORKERS)
        .map(|_| {
            let both = std::sync::Arc::clone(&both);
            pool.submit(move || {
                both.wait();
            })
            .expect("a live pool")
        })
        .collect();
    for mut future in started {
        future.wait().expect("a barrier job");
    }
    assert_eq!(pool.worker_count(), WORKERS);
    pool
}

/// A rayon pool of 2 threads.
pub fn rayon() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .expect("a rayon pool")
}

/// A tokio runtime whose blocking pool has 2 threads (and no other worker:
/// `block_on` drives the awaiting on the calling thread).
pub fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(WORKERS)
        .build()
        .expect("a tokio runtime")
}

/// Caps `blocking`'s global pool at 2 threads. Call first thing in `main`,
/// before any other thread exists and before the first `unblock`.
pub fn cap_blocking_threads() {
    // SAFETY: called at the start of `main`, while the process has one thread,
    // so no other thread reads the environment concurrently.
    unsafe { std::env::set_var("BLOCKING_MAX_THREADS", WORKERS.to_string()) };
}

type BoxedJob = Box<dyn FnOnce() + Send>;

/// The hand-made pool a user writes with crossbeam-channel: 2 threads
/// receiving boxed jobs from one unbounded channel.
pub struct CrossbeamPool {
    sender: Option<crossbeam_channel::Sender<BoxedJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl CrossbeamPool {
    /// Starts the threads.
    pub fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded::<BoxedJob>();
        let threads = (0..WORKERS)
            .map(|_| {
                let receiver = receiver.clone();
                std::thread::spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        job();
                    }
                })
            })
            .collect();
        CrossbeamPool {
            sender: Some(sender),
            threads,
        }
    }

    /// Runs `f` on the pool; its result comes back through a `oneshot`.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        self.sender
            .as_ref()
            .expect("not shut down")
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .expect("the workers live");
        rx
    }

    /// Closes the channel and joins the threads.
    pub fn shutdown(mut self) {
        self.sender = None;
        for thread in self.threads.drain(..) {
            thread.join().expect("a worker panicked");
        }
    }
}

/// rayon's plain way to get a value back from `spawn`: a `oneshot`.
pub fn rayon_submit<T: Send + 'static>(
    pool: &rayon::ThreadPool,
    f: impl FnOnce() -> T + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    pool.spawn(move || {
        let _ = tx.send(f());
    });
    rx
}
