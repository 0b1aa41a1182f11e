//! Executors over existing pools: [`RayonExecutor`] (feature `rayon`) and
//! [`TokioBlockingExecutor`] (feature `tokio`).
//!
//! Neither pool has Python's lifecycle, so the adapter keeps it: accepted jobs
//! wait in the adapter's own FIFO queue, and each submit hands the pool one
//! *ticket* that runs the next queued job. That gives Python's semantics
//! exactly: `shutdown(cancel_futures = true)` cancels every job that has not
//! started, at once; jobs already running finish; `terminated` completes when
//! the queue is empty and nothing runs.
//!
//! # What an adapter cannot do
//!
//! - One allocation per job on our side (the job and its future), but the pool's
//!   own spawn allocates its task too (rayon's `HeapJob`, tokio's task cell).
//! - Threads belong to the pool: `shutdown` stops accepting work, but it does
//!   not stop the pool's threads, and termination means "every accepted job is
//!   done", not "threads exited".
//! - A pool that drops a ticket without running it (a tokio runtime shutting
//!   down) abandons one queued job: its future reports
//!   [`Error::Abandoned`](crate::Error::Abandoned), never hangs.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use super::lifecycle::{self, BeginShutdown, Handle, Inside, Latch, Released, run_quietly};
use super::{CancelFutures, Executor, Job};
use crate::error::SubmitError;
use crate::future::SharedFuture;
use crate::promise::StopSignal;
use crate::sync::Arc;
use crate::sync::lock::Mutex;

/// The lifecycle an adapter adds to a pool.
#[derive(Default)]
struct Lifecycle {
    state: Mutex<LifecycleState>,
    /// Raised by `shutdown(CancelFutures::AndStopRunning)`: every job run
    /// through this adapter watches it.
    stop: StopSignal,
}

#[derive(Default)]
struct LifecycleState {
    queue: VecDeque<Job>,
    running: usize,
    shutdown: bool,
    terminated: Latch,
}

impl Lifecycle {
    /// The address that marks this adapter's jobs on a thread's `Inside`
    /// list: stable while any ticket or handle holds the `Arc`.
    fn id(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    fn accept(&self, job: Job) -> Result<(), SubmitError> {
        let mut state = self.state.lock();
        if state.shutdown {
            return Err(SubmitError::Shutdown);
        }
        state.queue.push_back(job);
        Ok(())
    }

    /// Runs the next queued job (a ticket's work).
    fn run_next(&self) {
        let job = {
            let mut state = self.state.lock();
            let job = state.queue.pop_front();
            if job.is_some() {
                state.running += 1;
            }
            job
        };
        if let Some(job) = job {
            {
                // The job and the callbacks it runs are inside this adapter:
                // a wait for its termination from there returns at once.
                let _inside = Inside::enter(self.id());
                // `Job::run` catches the closure's panic; foreign code after it
                // (a waker, a callback) must not take the pool's thread down
                // either.
                run_quietly(|| job.run_under(&self.stop));
            }
            let released = {
                let mut state = self.state.lock();
                state.running -= 1;
                Self::take_if_terminated(&mut state)
            };
            released.complete();
        }
    }

    /// A ticket was dropped unrun: one queued job can never run; abandon it.
    fn abandon_next(&self) {
        let (job, released) = {
            let mut state = self.state.lock();
            let job = state.queue.pop_front();
            (job, Self::take_if_terminated(&mut state))
        };
        run_quietly(move || drop(job));
        released.complete();
    }

    fn take_if_terminated(state: &mut LifecycleState) -> Released {
        let terminated = state.shutdown && state.queue.is_empty() && state.running == 0;
        state.terminated.release_if(terminated)
    }

    /// Made inside one of this adapter's jobs (or a callback it runs), the
    /// future is already done with `WouldDeadlock`: termination waits for
    /// that very job.
    fn terminated(&self) -> SharedFuture<()> {
        if lifecycle::is_inside(self.id()) {
            return lifecycle::would_deadlock();
        }
        self.state.lock().terminated.future()
    }

    fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }
}

/// What the pool runs for each submit: the next queued job. Dropped unrun, it
/// abandons one queued job instead, so that no waiter hangs.
struct Ticket(Option<Arc<Lifecycle>>);

impl Ticket {
    fn run(mut self) {
        if let Some(lifecycle) = self.0.take() {
            lifecycle.run_next();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(lifecycle) = self.0.take() {
            lifecycle.abandon_next();
        }
    }
}

/// How a pool runs a ticket: the one thing in which the adapters differ.
trait SpawnTicket {
    fn spawn(&self, ticket: Ticket);
}

impl BeginShutdown for Lifecycle {
    /// `shutdown_nowait`; also what the last handle dropped does, so that a
    /// `terminated()` taken before completes `Ok(())` once the accepted jobs
    /// are done, instead of being abandoned with the lifecycle. Tickets hold
    /// the lifecycle itself: they are not handles.
    fn begin_shutdown(&self, cancel: CancelFutures) {
        let (cancelled, released) = {
            let mut state = self.state.lock();
            state.shutdown = true;
            let cancelled = if cancel.cancels_queued() {
                core::mem::take(&mut state.queue)
            } else {
                VecDeque::new()
            };
            (cancelled, Self::take_if_terminated(&mut state))
        };
        if cancel.stops_running() {
            // After the queue is taken, as in the thread pool.
            self.stop.request_stop();
        }
        lifecycle::cancel_all(cancelled);
        released.complete();
    }
}

/// The `Executor` impl of an adapter: a type with a
/// `lifecycle: Handle<Lifecycle>` field that implements [`SpawnTicket`].
macro_rules! adapter_executor {
    ($adapter:ty) => {
        impl Executor for $adapter {
            fn execute(&self, job: Job) -> Result<(), SubmitError> {
                self.lifecycle.accept(job)?;
                SpawnTicket::spawn(self, Ticket(Some(Arc::clone(self.lifecycle.state()))));
                Ok(())
            }

            fn shutdown_nowait(&self, cancel: CancelFutures) {
                self.lifecycle.begin_shutdown(cancel);
            }

            fn is_shutdown(&self) -> bool {
                self.lifecycle.is_shutdown()
            }

            fn terminated(&self) -> SharedFuture<()> {
                self.lifecycle.terminated()
            }

            /// Begins shutdown and, outside this adapter's own jobs, waits
            /// until every accepted job is done (the pool's threads are not
            /// the adapter's to join).
            fn shutdown(&self, cancel: CancelFutures) {
                lifecycle::shutdown_and_join(self, cancel, Vec::new);
            }
        }
    };
}

/// Runs jobs on a [`rayon::ThreadPool`], with Python's executor lifecycle.
///
/// The pool is yours: depend on `rayon` yourself (`rayon = "1"`) to build it,
/// and enable this crate's `rayon` feature. Clones share the adapter (its
/// queue and lifecycle).
///
/// # What an adapter cannot do
///
/// Our side allocates once per job (the job and its future), but the pool's own
/// spawn allocates its task too. `shutdown` stops accepting work and cancels
/// queued jobs at once (the adapter keeps its own queue), but the pool's threads
/// are not ours to stop: termination means every accepted job is done. A ticket
/// the pool drops unrun abandons one queued job (`Error::Abandoned`), never
/// leaves it hanging.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use concurrent_futures::{Executor, RayonExecutor};
///
/// let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
/// let executor = RayonExecutor::new(pool);
/// assert_eq!(executor.submit(|| 6 * 7).unwrap().wait().unwrap(), 42);
/// executor.shutdown(concurrent_futures::CancelFutures::No);
/// ```
#[cfg(feature = "rayon")]
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
#[derive(Clone)]
pub struct RayonExecutor {
    pool: Arc<rayon::ThreadPool>,
    lifecycle: Handle<Lifecycle>,
}

#[cfg(feature = "rayon")]
impl RayonExecutor {
    /// Runs jobs on `pool`.
    ///
    /// ```
    /// let pool = std::sync::Arc::new(rayon::ThreadPoolBuilder::new().build().unwrap());
    /// let executor = concurrent_futures::RayonExecutor::new(pool);
    /// # drop(executor);
    /// ```
    pub fn new(pool: Arc<rayon::ThreadPool>) -> Self {
        RayonExecutor {
            pool,
            lifecycle: Handle::new(Lifecycle::default()),
        }
    }

    /// The rayon pool.
    ///
    /// ```
    /// let pool = std::sync::Arc::new(rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap());
    /// let executor = concurrent_futures::RayonExecutor::new(pool);
    /// assert_eq!(executor.pool().current_num_threads(), 3);
    /// ```
    pub fn pool(&self) -> &Arc<rayon::ThreadPool> {
        &self.pool
    }
}

#[cfg(feature = "rayon")]
impl SpawnTicket for RayonExecutor {
    fn spawn(&self, ticket: Ticket) {
        self.pool.spawn(move || ticket.run());
    }
}

#[cfg(feature = "rayon")]
adapter_executor!(RayonExecutor);

#[cfg(feature = "rayon")]
impl fmt::Debug for RayonExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RayonExecutor")
            .field("threads", &self.pool.current_num_threads())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// Runs jobs through tokio's blocking pool (`spawn_blocking`) on a given
/// runtime [`Handle`](tokio::runtime::Handle), with Python's executor lifecycle.
/// Works from any thread, inside or outside the runtime. The runtime is yours:
/// depend on `tokio` yourself, and enable this crate's `tokio` feature. Clones
/// share the adapter (its queue and lifecycle).
///
/// # What an adapter cannot do
///
/// Our side allocates once per job (the job and its future), but the pool's own
/// spawn allocates its task too. `shutdown` stops accepting work and cancels
/// queued jobs at once (the adapter keeps its own queue), but the pool's threads
/// are not ours to stop: termination means every accepted job is done. A ticket
/// the pool drops unrun abandons one queued job (`Error::Abandoned`), never
/// leaves it hanging.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, TokioBlockingExecutor};
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
/// let executor = TokioBlockingExecutor::new(runtime.handle().clone());
/// assert_eq!(executor.submit(|| "blocking work").unwrap().wait().unwrap(), "blocking work");
/// executor.shutdown(concurrent_futures::CancelFutures::No);
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Clone)]
pub struct TokioBlockingExecutor {
    handle: tokio::runtime::Handle,
    lifecycle: Handle<Lifecycle>,
}

#[cfg(feature = "tokio")]
impl TokioBlockingExecutor {
    /// Runs jobs with `handle.spawn_blocking`.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let executor = concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone());
    /// # drop(executor);
    /// ```
    pub fn new(handle: tokio::runtime::Handle) -> Self {
        TokioBlockingExecutor {
            handle,
            lifecycle: Handle::new(Lifecycle::default()),
        }
    }

    /// The runtime handle.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let executor = concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone());
    /// let _handle: &tokio::runtime::Handle = executor.handle();
    /// ```
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

#[cfg(feature = "tokio")]
adapter_executor!(TokioBlockingExecutor);

#[cfg(feature = "tokio")]
impl SpawnTicket for TokioBlockingExecutor {
    fn spawn(&self, ticket: Ticket) {
        // The join handle is not needed: the job's own future carries the
        // outcome. A runtime that shuts down drops the ticket: see `Ticket`.
        drop(self.handle.spawn_blocking(move || ticket.run()));
    }
}

#[cfg(feature = "tokio")]
impl fmt::Debug for TokioBlockingExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioBlockingExecutor")
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
