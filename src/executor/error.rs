//! The executor layer's errors: why an executor refused a job
//! ([`SubmitError`]), and why a pool broke ([`BrokenError`]).

#[cfg(feature = "std")]
use alloc::boxed::Box;
use core::fmt;

use crate::error::Error;

impl From<SubmitError> for Error {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Shutdown => Error::Shutdown,
            #[cfg(feature = "std")]
            SubmitError::Broken(broken) => Error::Broken(broken),
            #[cfg(feature = "std")]
            SubmitError::Spawn(kind) => Error::Spawn(kind),
        }
    }
}

/// Why an executor refused a job.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, InlineExecutor, SubmitError};
///
/// let executor = InlineExecutor::new();
/// executor.shutdown_nowait(concurrent_futures::CancelFutures::No);
/// assert!(matches!(executor.submit(|| 1), Err(SubmitError::Shutdown)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubmitError {
    /// Shutdown has begun: no new work is accepted.
    Shutdown,
    /// The executor is broken (a worker initializer failed).
    #[cfg(feature = "std")]
    Broken(BrokenError),
    /// No worker thread could be started to run the job.
    #[cfg(feature = "std")]
    Spawn(std::io::ErrorKind),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Error::from(self.clone()), f)
    }
}

impl core::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(feature = "std")]
            SubmitError::Broken(broken) => Some(broken),
            _ => None,
        }
    }
}

/// A pool became unusable because a worker's initializer failed: Python's
/// `BrokenThreadPool` (and, for the `process` feature's pool,
/// `BrokenProcessPool`). Carries the initializer's error as its
/// [`source`](core::error::Error::source).
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Error, Executor, SubmitError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder()
///     .initializer(|| Err::<(), _>("no database"))
///     .build()
///     .unwrap();
/// let mut future = pool.submit(|| 1).unwrap();
/// match future.wait() {
///     Err(Error::Broken(broken)) => assert!(broken.to_string().contains("no database")),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(pool.submit(|| 2), Err(SubmitError::Broken(_))));
/// ```
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct BrokenError {
    cause: crate::sync::Arc<BrokenCause>,
}

#[cfg(feature = "std")]
struct BrokenCause(Box<dyn core::error::Error + Send + Sync>);

#[cfg(feature = "std")]
impl BrokenError {
    pub(crate) fn new(cause: Box<dyn core::error::Error + Send + Sync>) -> Self {
        BrokenError {
            cause: crate::sync::Arc::new(BrokenCause(cause)),
        }
    }

    /// The initializer's error.
    ///
    /// ```
    /// use concurrent_futures::{Executor, SubmitError, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::builder().initializer(|| Err::<(), _>("bad")).build().unwrap();
    /// pool.shutdown(concurrent_futures::CancelFutures::No); // the broken worker has exited
    /// if let Err(SubmitError::Broken(broken)) = pool.submit(|| ()) {
    ///     assert_eq!(broken.cause().to_string(), "bad");
    /// }
    /// ```
    pub fn cause(&self) -> &(dyn core::error::Error + Send + Sync + 'static) {
        &*self.cause.0
    }
}

#[cfg(feature = "std")]
impl fmt::Debug for BrokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BrokenError").field(&self.cause.0).finish()
    }
}

#[cfg(feature = "std")]
impl fmt::Display for BrokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a worker initializer failed, the pool is not usable anymore: {}",
            self.cause.0
        )
    }
}

#[cfg(feature = "std")]
impl core::error::Error for BrokenError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&*self.cause.0)
    }
}
