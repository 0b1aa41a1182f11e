//! [`ThreadPoolBuilder`]: a pool's configuration, checked by `build`.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use super::ThreadPoolExecutor;
use super::shared::Shared;
use crate::executor::lifecycle::Handle;

pub(super) type Initializer =
    Box<dyn Fn() -> Result<(), Box<dyn core::error::Error + Send + Sync>> + Send + Sync>;

/// Why a [`ThreadPoolBuilder`] could not build a pool.
///
/// ```
/// use concurrent_futures::{BuildError, ThreadPoolExecutor};
/// let error = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(error, BuildError::ZeroWorkers);
/// assert_eq!(error.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers` was 0: Python's `ValueError`.
    ZeroWorkers,
    /// The thread name prefix contains a NUL byte, which no thread name may
    /// hold (std would panic when starting the first worker).
    ///
    /// ```
    /// use concurrent_futures::{BuildError, ThreadPoolExecutor};
    /// let error = ThreadPoolExecutor::builder().thread_name_prefix("a\0").build().unwrap_err();
    /// assert_eq!(error, BuildError::InvalidThreadName);
    /// ```
    InvalidThreadName,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
            BuildError::InvalidThreadName => {
                f.write_str("the thread name prefix must not contain a NUL byte")
            }
        }
    }
}

impl core::error::Error for BuildError {}

/// Configures a [`ThreadPoolExecutor`].
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("io")
///     .stack_size(256 * 1024)
///     .initializer(|| Ok::<(), std::io::Error>(()))
///     .build()
///     .unwrap();
/// # drop(pool);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Default)]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
    keep_alive: Option<Duration>,
}

impl ThreadPoolBuilder {
    /// The most threads the pool starts. Default: `min(32, cores + 4)`, as in
    /// Python. Zero is refused by [`build`](Self::build).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
    /// assert_eq!(pool.max_workers(), 1);
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// Worker threads are named `{prefix}_{n}`. Default prefix:
    /// `ThreadPoolExecutor`. A prefix holding a NUL byte is refused by
    /// [`build`](Self::build) with [`BuildError::InvalidThreadName`].
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().thread_name_prefix("db").build();
    /// # drop(pool);
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// The stack size of worker threads, in bytes (default: std's).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().stack_size(1 << 20).build();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs in each worker thread before it takes any job. If it fails (returns
    /// `Err` or panics), the pool becomes broken, as Python's
    /// `BrokenThreadPool`: queued jobs fail with
    /// [`Error::Broken`](crate::Error::Broken) and later submits are refused
    /// with [`SubmitError::Broken`](crate::SubmitError::Broken).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// thread_local!(static READY: Cell<bool> = const { Cell::new(false) });
    /// let pool = ThreadPoolExecutor::builder()
    ///     .initializer(|| {
    ///         READY.set(true);
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(pool.submit(|| READY.get()).unwrap().wait().unwrap());
    /// ```
    pub fn initializer<F, E>(mut self, initializer: F) -> Self
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: Into<Box<dyn core::error::Error + Send + Sync>>,
    {
        self.initializer = Some(Box::new(move || initializer().map_err(Into::into)));
        self
    }

    /// Lets a worker that has been idle for `idle` (a duration; a worker is
    /// idle while it sleeps for want of work) exit; the pool starts a new one
    /// when work comes again. Off by default, as in Python, where threads live
    /// until shutdown (tokio's blocking pool keeps idle threads 10 s,
    /// `blocking` 500 ms). A retired worker's thread-locals are destroyed when
    /// it exits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder()
    ///     .keep_alive(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn keep_alive(mut self, idle: Duration) -> Self {
        self.keep_alive = Some(idle);
        self
    }

    /// Builds the pool. No thread starts until the first job is submitted.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`,
    /// [`BuildError::InvalidThreadName`] for a prefix holding a NUL byte.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => default_max_workers(),
        };
        if self
            .thread_name_prefix
            .as_ref()
            .is_some_and(|prefix| prefix.contains('\0'))
        {
            return Err(BuildError::InvalidThreadName);
        }
        Ok(ThreadPoolExecutor {
            shared: Handle::new(Shared::new(
                max_workers,
                self.thread_name_prefix
                    .unwrap_or_else(|| String::from("ThreadPoolExecutor")),
                self.stack_size,
                self.initializer,
                self.keep_alive,
            )),
        })
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("stack_size", &self.stack_size)
            .field("initializer", &self.initializer.is_some())
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}
