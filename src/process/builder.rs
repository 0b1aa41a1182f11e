//! [`ProcessPoolBuilder`]: a pool's configuration, and its error.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroUsize;

use super::book::Book;
use super::dispatch::{Shared, State};
use super::os::spawn_worker;
use super::pool::ProcessPoolExecutor;
use super::wire::encode;
use super::{NoInitializer, ProcessFn};
use crate::executor::lifecycle::Handle;
use crate::sync::lock::Mutex;

/// Why a [`ProcessPoolBuilder`] could not build a pool.
///
/// ```
/// use concurrent_futures::process::{ProcessBuildError, ProcessPoolExecutor};
/// let error = ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(error, ProcessBuildError::ZeroWorkers);
/// assert_eq!(error.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessBuildError {
    /// `max_workers` was 0: Python's `ValueError`.
    ZeroWorkers,
    /// `max_tasks_per_child` was 0: Python's `ValueError`.
    ZeroTasksPerChild,
    /// The initializer's arguments could not be serialised (the serializer's
    /// message).
    InitializerArguments(String),
}

impl fmt::Display for ProcessBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessBuildError::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
            ProcessBuildError::ZeroTasksPerChild => {
                f.write_str("max_tasks_per_child must be greater than 0")
            }
            ProcessBuildError::InitializerArguments(message) => {
                write!(
                    f,
                    "the initializer's arguments could not be serialised: {message}"
                )
            }
        }
    }
}

impl core::error::Error for ProcessBuildError {}

/// Configures a [`ProcessPoolExecutor`].
///
/// ```
/// use concurrent_futures::process::ProcessPoolExecutor;
/// let pool = ProcessPoolExecutor::builder().max_workers(2).max_tasks_per_child(100).build().unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder<Init: ProcessFn<Output = ()> = NoInitializer> {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    init_args: Init::Args,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            init_args: (),
        }
    }
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolBuilder<Init> {
    /// The most worker processes alive at once, whatever the number of job
    /// functions (Python's `max_workers`): every worker runs every
    /// [`process_fn!`](super::process_fn). Default: the number of cores
    /// (Python's `os.process_cpu_count()`). Zero is refused by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::process::ProcessPoolExecutor;
    /// assert!(ProcessPoolExecutor::builder().max_workers(0).build().is_err());
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// A worker process is replaced by a fresh one after it has run this many
    /// jobs (Python's `max_tasks_per_child`; a `map` chunk counts as one job).
    /// Default: never. Zero is refused by [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessBuildError, ProcessPoolExecutor};
    /// let error = ProcessPoolExecutor::builder().max_tasks_per_child(0).build().unwrap_err();
    /// assert_eq!(error, ProcessBuildError::ZeroTasksPerChild);
    /// ```
    pub fn max_tasks_per_child(mut self, tasks: usize) -> Self {
        self.max_tasks_per_child = Some(tasks);
        self
    }

    /// Runs `initializer(args)` in each worker process before its first job
    /// (Python's `initializer` and `initargs`). If it panics, the pool becomes
    /// broken, as Python's `BrokenProcessPool`: queued jobs fail with
    /// [`Error::Broken`](crate::Error::Broken) and later submits are refused with
    /// [`SubmitError::Broken`](crate::SubmitError::Broken).
    ///
    /// ```rust,standalone_crate
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    ///
    /// static SEED: AtomicU64 = AtomicU64::new(0);
    /// process::process_fn! {
    ///     fn set_seed(seed: u64) -> () { SEED.store(seed, Ordering::Relaxed) }
    ///     fn read_seed() -> u64 { SEED.load(Ordering::Relaxed) }
    /// }
    ///
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::builder().initializer(set_seed, 7).build().unwrap();
    ///     assert_eq!(pool.submit(read_seed, ()).unwrap().wait().unwrap(), 7);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn initializer<F: ProcessFn<Output = ()>>(
        self,
        initializer: F,
        args: F::Args,
    ) -> ProcessPoolBuilder<F> {
        let _ = initializer;
        ProcessPoolBuilder {
            max_workers: self.max_workers,
            max_tasks_per_child: self.max_tasks_per_child,
            init_args: args,
        }
    }

    /// Builds the pool. No process starts until the first job is submitted.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::builder().build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor<Init>, ProcessBuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(ProcessBuildError::ZeroWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        let max_tasks_per_child = match self.max_tasks_per_child {
            Some(0) => return Err(ProcessBuildError::ZeroTasksPerChild),
            Some(n) => NonZeroUsize::new(n),
            None => None,
        };
        let init_args = encode(&self.init_args).map_err(ProcessBuildError::InitializerArguments)?;
        Ok(ProcessPoolExecutor {
            shared: Handle::new(Shared {
                state: Mutex::new(State {
                    book: Book::new(max_workers),
                    seats: Vec::new(),
                    senders: Vec::new(),
                    handed: Vec::new(),
                    threads: Vec::new(),
                }),
                max_workers,
                max_tasks_per_child,
                init_args,
                spawn: spawn_worker::<Init>,
            }),
            initializer: PhantomData,
        })
    }
}

impl<Init: ProcessFn<Output = ()>> fmt::Debug for ProcessPoolBuilder<Init> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("initializer", &core::any::type_name::<Init>())
            .finish()
    }
}

impl ProcessPoolExecutor {
    /// A pool with the default configuration: up to one worker process per
    /// core, no initializer.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(pool.max_workers() >= 1);
    /// ```
    pub fn new() -> Self {
        ProcessPoolBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// A builder for a configured pool.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }
}

impl Default for ProcessPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}
