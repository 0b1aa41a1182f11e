//! The default executor: what `tokio::task::spawn_blocking` and
//! `blocking::unblock` users reach for, behind one free function.

use std::sync::OnceLock;
use std::time::Duration;

use super::{AsyncExecutor, UnwrapFuture};
use crate::executor::ThreadPoolExecutor;

/// How long an idle worker of the default executor lives (tokio's blocking
/// pool keeps idle threads 10 s).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The process-wide executor behind [`run_blocking`]: a
/// [`ThreadPoolExecutor`] with Python's default size (`min(32, cores + 4)`
/// threads) whose idle workers exit after 10 s, built on first use. Returns a
/// cheap clone of its handle (an atomic increment), for `map` and friends.
///
/// Shutting it down is allowed but final: later `run_blocking` calls resolve
/// to [`Error::Shutdown`](crate::Error::Shutdown). Make a pool of your own
/// to control its size or lifetime.
///
/// ```
/// use futures::StreamExt;
///
/// let squares: Vec<u64> = futures::executor::block_on(
///     concurrent_futures::default_executor()
///         .map(|x| x * x, 1..=4_u64)
///         .unwrap()
///         .map(Result::unwrap)
///         .collect(),
/// );
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
pub fn default_executor() -> AsyncExecutor<ThreadPoolExecutor> {
    static DEFAULT: OnceLock<AsyncExecutor<ThreadPoolExecutor>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            AsyncExecutor::new(
                ThreadPoolExecutor::builder()
                    .thread_name_prefix("concurrent-futures")
                    .keep_alive(KEEP_ALIVE)
                    .build()
                    .expect("the default configuration is valid"),
            )
        })
        .clone()
}

/// Runs blocking work `f` on the [`default_executor`] and resolves to its
/// result: this crate's `spawn_blocking` / `blocking::unblock`, from any
/// runtime.
///
/// Unlike tokio's `JoinHandle`, dropping the returned future cancels the job
/// if it has not started (a running one finishes; its value is dropped on the
/// worker); see [`UnwrapFuture`].
///
/// # Errors
///
/// Resolves to `Err(`[`Error::Panicked`](crate::Error::Panicked)`)` if `f`
/// panics, [`Error::Cancelled`](crate::Error::Cancelled) if the job was
/// cancelled before it started, [`Error::Shutdown`](crate::Error::Shutdown)
/// if the default executor was shut down, [`Error::Spawn`](crate::Error::Spawn)
/// if no worker thread could be started.
///
/// ```
/// let digest = futures::executor::block_on(concurrent_futures::run_blocking(|| {
///     (1..=10_u64).product::<u64>() // stands for hashing a file, say
/// }));
/// assert_eq!(digest.unwrap(), 3_628_800);
/// ```
pub fn run_blocking<F, T>(f: F) -> UnwrapFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_executor().run(f)
}
