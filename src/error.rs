//! Errors: why a future has no value for its consumer, and why a producer's value
//! could not be delivered.

use alloc::boxed::Box;
use core::any::Any;
use core::fmt;

#[cfg(feature = "std")]
pub(crate) use crate::executor::BrokenError;
pub(crate) use crate::executor::SubmitError;

/// Why a [`SharedFuture`](crate::SharedFuture) (or work built on it) gave no value.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{promise, Error};
///
/// let (producer, mut future) = promise::<u32>();
/// assert!(future.cancel());
/// drop(producer);
/// assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The future was cancelled: before it started, by its consumer's `cancel()`
    /// or an executor shutdown with `cancel_futures`; or at any time before it
    /// finished, by its producer's `Promise::set_cancelled`. Python's
    /// `CancelledError`.
    Cancelled,
    /// The job (the producer) panicked; the payload is kept so that it can be inspected or
    /// resumed. Python's exception set by `set_exception`.
    Panicked(Panic),
    /// The producer was dropped without an answer (for example a job that was
    /// dropped by its executor without running). No Python equivalent: Python
    /// futures can hang forever in this case; ours cannot.
    Abandoned,
    /// The outcome was already taken by an earlier call; a future yields its value
    /// once.
    AlreadyTaken,
    /// A blocking wait gave up at its deadline. The future is still usable.
    /// Python's `TimeoutError`.
    Timeout,
    /// The executor was shut down, so the job was not accepted. Python's
    /// `RuntimeError('cannot schedule new futures after shutdown')`.
    Shutdown,
    /// The executor is broken (a worker initializer failed); the job will never
    /// run. Python's `BrokenThreadPool` / `BrokenProcessPool`.
    #[cfg(feature = "std")]
    Broken(BrokenError),
    /// The executor could not start a worker thread, and has none to run the job.
    #[cfg(feature = "std")]
    Spawn(std::io::ErrorKind),
    /// The wait could never end: it was asked for from inside one of the
    /// executor's own jobs (or a done callback it runs), which the awaited
    /// termination would have to outlive. What an executor's
    /// [`terminated`](crate::Executor::terminated) future holds when it is
    /// made there. Python raises `RuntimeError('cannot join current thread')`
    /// in the same case.
    WouldDeadlock,
    /// A job of a `ProcessPoolExecutor` failed at the process boundary: its
    /// worker process died while running it (the signal or exit status is
    /// named), or its arguments or result could not be serialised, or no
    /// worker process could be started. Feature `process` (Unix).
    #[cfg(all(feature = "process", unix, not(loom)))]
    Process(crate::process::ProcessError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled => f.write_str("the future was cancelled"),
            Error::Panicked(panic) => write!(f, "the job panicked: {panic}"),
            Error::Abandoned => f.write_str("the producer was dropped without an answer"),
            Error::AlreadyTaken => f.write_str("the future's outcome was already taken"),
            Error::Timeout => f.write_str("timed out waiting for the future"),
            Error::Shutdown => f.write_str("cannot schedule new work after shutdown"),
            #[cfg(feature = "std")]
            Error::Broken(broken) => fmt::Display::fmt(broken, f),
            #[cfg(feature = "std")]
            Error::Spawn(kind) => write!(f, "could not start a worker thread: {kind}"),
            Error::WouldDeadlock => f.write_str(
                "waiting for the executor's termination from inside one of its own jobs would never end",
            ),
            #[cfg(all(feature = "process", unix, not(loom)))]
            Error::Process(process) => fmt::Display::fmt(process, f),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(feature = "std")]
            Error::Broken(broken) => Some(broken),
            #[cfg(all(feature = "process", unix, not(loom)))]
            Error::Process(process) => Some(process),
            _ => None,
        }
    }
}

impl Error {
    /// `true` for [`Error::Cancelled`].
    ///
    /// ```
    /// assert!(concurrent_futures::Error::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled)
    }

    /// `true` for [`Error::Panicked`].
    ///
    /// ```
    /// assert!(!concurrent_futures::Error::Timeout.is_panicked());
    /// ```
    pub fn is_panicked(&self) -> bool {
        matches!(self, Error::Panicked(_))
    }

    /// `true` for [`Error::Timeout`]: a wait gave up; the work goes on.
    ///
    /// ```
    /// assert!(concurrent_futures::Error::Timeout.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// `true` for [`Error::Shutdown`]: the executor had shut down and refused
    /// the work.
    ///
    /// ```
    /// assert!(concurrent_futures::Error::Shutdown.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Error::Shutdown)
    }

    /// `true` for [`Error::Abandoned`]: the producer was dropped without an
    /// answer.
    ///
    /// ```
    /// assert!(concurrent_futures::Error::Abandoned.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        matches!(self, Error::Abandoned)
    }

    /// Re-raises a captured panic on the current thread; any other error is
    /// returned unchanged.
    ///
    /// ```
    /// use concurrent_futures::Error;
    /// let error = Error::Abandoned.resume_panic();
    /// assert!(matches!(error, Error::Abandoned));
    /// ```
    #[cfg(feature = "std")]
    pub fn resume_panic(self) -> Self {
        match self {
            Error::Panicked(panic) => panic.resume(),
            other => other,
        }
    }
}

/// A captured panic payload.
///
/// The payload is `Send` but not necessarily `Sync`; `Panic` is `Sync` anyway
/// because it never hands out a shared reference to the payload (only to its
/// message, which is a `&str`), so errors holding it can be boxed into
/// `Box<dyn Error + Send + Sync>`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{promise, Error};
///
/// let (producer, mut future) = promise::<()>();
/// producer.set_panic(Box::new("boom")).unwrap();
/// match future.try_take() {
///     Some(Err(Error::Panicked(panic))) => assert_eq!(panic.message(), Some("boom")),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub struct Panic {
    /// Boxed once more, so that `Panic` (and with it [`Error`] and every
    /// future's outcome slot) is one pointer wide: the extra allocation is
    /// made only when something panicked.
    payload: Box<Box<dyn Any + Send>>,
}

// SAFETY: `Panic` gives no `&` access to the payload of type `dyn Any + Send`
// (which may be `!Sync`): `message` only downcasts to `&'static str` or `String`,
// which are `Sync`, and every other access takes `self` or `&mut self`.
#[allow(unsafe_code)]
unsafe impl Sync for Panic {}

impl Panic {
    /// Wraps a panic payload, as returned by `std::panic::catch_unwind`.
    ///
    /// ```
    /// let panic = concurrent_futures::Panic::new(Box::new(String::from("oops")));
    /// assert_eq!(panic.message(), Some("oops"));
    /// ```
    pub fn new(payload: Box<dyn Any + Send>) -> Self {
        Panic {
            payload: Box::new(payload),
        }
    }

    /// The panic message, when the payload is a `&'static str` or a `String` (as
    /// `panic!` makes it).
    ///
    /// ```
    /// let panic = concurrent_futures::Panic::new(Box::new(42_u8));
    /// assert_eq!(panic.message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        let payload: &(dyn Any + Send) = &**self.payload;
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            payload
                .downcast_ref::<alloc::string::String>()
                .map(|s| s.as_str())
        }
    }

    /// The payload, for `std::panic::resume_unwind` or a downcast.
    ///
    /// ```
    /// let panic = concurrent_futures::Panic::new(Box::new(7_i32));
    /// assert_eq!(*panic.into_payload().downcast::<i32>().unwrap(), 7);
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        *self.payload
    }

    /// Resumes unwinding with the payload on the current thread.
    ///
    /// ```should_panic
    /// concurrent_futures::Panic::new(Box::new("again")).resume();
    /// ```
    #[cfg(feature = "std")]
    pub fn resume(self) -> ! {
        std::panic::resume_unwind(*self.payload)
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panic")
            .field(&self.message().unwrap_or("<non-string payload>"))
            .finish()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().unwrap_or("<non-string payload>"))
    }
}

/// Why a producer's answer was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndeliveredReason {
    /// The consumer cancelled the future before the answer came.
    Cancelled,
    /// The consumer dropped its `SharedFuture`: nobody will read the answer.
    ConsumerDropped,
}

/// An answer that could not be delivered, handed back to the producer instead of
/// being dropped silently.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{promise, UndeliveredReason};
///
/// let (producer, future) = promise::<String>();
/// drop(future);
/// let undelivered = producer.set_result("hello".to_owned()).unwrap_err();
/// assert_eq!(undelivered.reason(), UndeliveredReason::ConsumerDropped);
/// assert_eq!(undelivered.into_inner(), "hello");
/// ```
pub struct Undelivered<T> {
    value: T,
    reason: UndeliveredReason,
}

impl<T> Undelivered<T> {
    pub(crate) fn new(value: T, reason: UndeliveredReason) -> Self {
        Undelivered { value, reason }
    }

    /// Why it was not delivered.
    ///
    /// ```
    /// use concurrent_futures::{promise, UndeliveredReason};
    /// let (producer, future) = promise::<u8>();
    /// future.cancel();
    /// assert_eq!(producer.set_result(1).unwrap_err().reason(), UndeliveredReason::Cancelled);
    /// ```
    pub fn reason(&self) -> UndeliveredReason {
        self.reason
    }

    /// The answer that was not delivered.
    ///
    /// ```
    /// use concurrent_futures::promise;
    /// let (producer, future) = promise::<u8>();
    /// drop(future);
    /// assert_eq!(producer.set_result(9).unwrap_err().into_inner(), 9);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for Undelivered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Undelivered")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Undelivered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            UndeliveredReason::Cancelled => {
                f.write_str("answer not delivered: the future was cancelled")
            }
            UndeliveredReason::ConsumerDropped => {
                f.write_str("answer not delivered: the consumer dropped its future")
            }
        }
    }
}

impl<T> core::error::Error for Undelivered<T> {}
