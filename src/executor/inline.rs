//! [`InlineExecutor`]: runs each job on the submitting thread.

use core::cell::{Cell, RefCell};

use super::lifecycle::{self, Latch};
use super::{CancelFutures, Executor, Job};
use crate::error::SubmitError;
use crate::future::SharedFuture;
use crate::promise::StopSignal;

/// Runs each job at once, on the thread that submits it, inside `execute`.
/// For tests, `no_std` users, and work too small to send anywhere.
///
/// It is single-threaded (`!Sync`): a job may submit to it again (re-entrantly),
/// or shut it down. `terminated` completes once shutdown has begun and no job is
/// running. Made inside one of its jobs (where any blocking wait for it would
/// wait for itself), the `terminated` future is already done with
/// [`Error::WouldDeadlock`](crate::Error::WouldDeadlock), and
/// `shutdown` only begins shutdown.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, InlineExecutor};
///
/// let executor = InlineExecutor::new();
/// let mut future = executor.submit(|| 2 + 2).unwrap();
/// assert!(future.is_done()); // it already ran
/// assert_eq!(future.try_take().unwrap().unwrap(), 4);
/// ```
#[derive(Default)]
pub struct InlineExecutor {
    shutdown: Cell<bool>,
    /// Raised by a shutdown with `CancelFutures::AndStopRunning` from inside a
    /// job: the jobs running (nested) see it.
    stop: StopSignal,
    running: Cell<usize>,
    terminated: RefCell<Latch>,
}

impl InlineExecutor {
    /// A new executor.
    ///
    /// ```
    /// let executor = concurrent_futures::InlineExecutor::new();
    /// # let _ = executor;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn is_terminated(&self) -> bool {
        self.shutdown.get() && self.running.get() == 0
    }

    fn notify_if_terminated(&self) {
        // Completed outside the borrow: completing a future wakes its
        // waiter, which may call back into this executor.
        let released = self
            .terminated
            .borrow_mut()
            .release_if(self.is_terminated());
        released.complete();
    }
}

impl Executor for InlineExecutor {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        if self.shutdown.get() {
            return Err(SubmitError::Shutdown);
        }
        struct Running<'a>(&'a InlineExecutor);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.running.set(self.0.running.get() - 1);
                self.0.notify_if_terminated();
            }
        }
        self.running.set(self.running.get() + 1);
        let _running = Running(self);
        job.run_under(&self.stop);
        Ok(())
    }

    fn shutdown_nowait(&self, cancel: CancelFutures) {
        // Nothing is ever queued: jobs run inside `execute`. Those running
        // (a shutdown from inside a job) can be asked to stop.
        if cancel.stops_running() {
            self.stop.request_stop();
        }
        self.shutdown.set(true);
        self.notify_if_terminated();
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.get()
    }

    fn terminated(&self) -> SharedFuture<()> {
        if self.running.get() > 0 {
            // Inside a job (`!Sync`: only the running thread can call): no
            // blocking wait for termination here could end.
            return lifecycle::would_deadlock();
        }
        self.terminated.borrow_mut().future()
    }
}

impl core::fmt::Debug for InlineExecutor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InlineExecutor")
            .field("shutdown", &self.shutdown.get())
            .field("running", &self.running.get())
            .finish()
    }
}
