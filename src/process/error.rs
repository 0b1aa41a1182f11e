//! [`ProcessError`]: what can go wrong for a job that crosses a process
//! boundary, and [`Exit`], how a worker process ended.

use alloc::string::String;
use core::fmt;

/// Why a job of a [`ProcessPoolExecutor`](super::ProcessPoolExecutor) gave no
/// value, beyond the errors every executor has: carried by
/// [`Error::Process`](crate::Error::Process).
///
/// # Examples
///
/// ```
/// use concurrent_futures::process::{Exit, ProcessError};
///
/// let died = ProcessError::WorkerDied { pid: 4242, exit: Exit::Signal(9) };
/// assert_eq!(
///     died.to_string(),
///     "worker process 4242 died while running the job: killed by signal 9 (SIGKILL)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessError {
    /// The worker process running the job died before it answered: it aborted,
    /// overflowed its stack, called `exit`, or was killed by a signal from
    /// outside. Only the job it was running fails; the pool replaces the
    /// worker and goes on. (Python's `BrokenProcessPool`, which fails the whole
    /// pool.)
    WorkerDied {
        /// The worker's process id.
        pid: u32,
        /// How it ended.
        exit: Exit,
    },
    /// An argument could not be serialised (in the caller) or deserialised (in
    /// the worker); the job did not run. The message is the serializer's.
    Arguments(String),
    /// The job ran, but its result could not be serialised (in the worker) or
    /// deserialised (in the caller). The message is the serializer's.
    Result(String),
    /// No worker process could be started to run the job (for example, the
    /// program did not call [`init`](super::init) first in `main`). The message
    /// says why.
    Spawn(String),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::WorkerDied { pid, exit } => {
                write!(f, "worker process {pid} died while running the job: {exit}")
            }
            ProcessError::Arguments(message) => {
                write!(
                    f,
                    "the job's arguments could not be sent to the worker: {message}"
                )
            }
            ProcessError::Result(message) => {
                write!(
                    f,
                    "the job's result could not be sent back from the worker: {message}"
                )
            }
            ProcessError::Spawn(message) => {
                write!(f, "could not start a worker process: {message}")
            }
        }
    }
}

impl core::error::Error for ProcessError {}

/// How a worker process ended, as `waitpid` reports it.
///
/// ```
/// use concurrent_futures::process::Exit;
/// assert_eq!(Exit::Signal(6).signal_name(), Some("SIGABRT"));
/// assert_eq!(Exit::Code(3).to_string(), "exited with status 3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Killed by this signal: `SIGABRT` (6) for `std::process::abort` and a
    /// stack overflow, `SIGKILL` (9) for `kill -9`, `SIGSEGV` (11) for a
    /// memory fault.
    Signal(i32),
    /// Exited by itself with this status (`std::process::exit(n)`).
    Code(i32),
    /// The status could not be read (the process was reaped elsewhere).
    Unknown,
}

impl Exit {
    /// The signal's name (`"SIGKILL"`), for [`Exit::Signal`] with a signal
    /// this platform knows.
    ///
    /// ```
    /// use concurrent_futures::process::Exit;
    /// assert_eq!(Exit::Signal(9).signal_name(), Some("SIGKILL"));
    /// assert_eq!(Exit::Code(0).signal_name(), None);
    /// ```
    pub fn signal_name(&self) -> Option<&'static str> {
        match self {
            Exit::Signal(number) => nix::sys::signal::Signal::try_from(*number)
                .ok()
                .map(|signal| signal.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.signal_name()) {
            (Exit::Signal(number), Some(name)) => write!(f, "killed by signal {number} ({name})"),
            (Exit::Signal(number), None) => write!(f, "killed by signal {number}"),
            (Exit::Code(code), _) => write!(f, "exited with status {code}"),
            (Exit::Unknown, _) => f.write_str("exited, status unknown"),
        }
    }
}
