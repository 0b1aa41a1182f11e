//! [`ProcessPoolExecutor`]: the handle, its submits and its lifecycle. The
//! bookkeeping is [`book`](super::book) (no I/O), the threads that feed the
//! worker processes are [`dispatch`](super::dispatch), the processes' side is
//! [`worker`](super::worker); the builder is [`builder`](super::builder), the
//! maps are in [`map`](super::map) and [`unordered`](super::unordered).
//!
//! A submit serialises its job outside the lock, queues it, and wakes an idle
//! dispatcher (or starts one, up to `max_workers`): it never blocks on a
//! process, and no serialisation, pipe I/O or foreign code runs under the
//! pool's lock.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use serde::Serialize;

use super::NoInitializer;
use super::ProcessFn;
use super::book::{Admitted, Refused};
use super::dispatch::{HANDOFF_MAX, Job, Shared, dispatcher, finish, wake};
use super::entry;
use super::error::ProcessError;
use super::sink::{ChunkFuture, Many, One, Sink};
use super::wire::encode;
use super::worker::run_item;
use crate::error::{Error, SubmitError};
use crate::executor::CancelFutures;
use crate::executor::lifecycle::{self, BeginShutdown, Handle};
use crate::future::SharedFuture;
use crate::promise::promise;
use crate::sync::lock::Condvar;
use crate::sync::{Arc, thread};

/// A job's wire message, serialised from borrowed items (the same bytes as a
/// [`WireJob`](super::wire::WireJob)).
#[derive(Serialize)]
struct WireJobRef<'a> {
    entry: isize,
    items: &'a [Option<Vec<u8>>],
}

/// A pool of worker processes that run submitted jobs: Python's
/// `concurrent.futures.ProcessPoolExecutor`, with crash isolation.
///
/// - [`submit`](Self::submit) returns this crate's [`SharedFuture`]: pending,
///   then running once the job is sent to a worker process (cancel works
///   until then), then done. A worker is sent at most one job beyond the one
///   it runs, so that it never waits for the parent between two jobs
///   (Python likewise marks running the `max_workers + 1` calls it moves to
///   its call queue); a job so sent that its worker never started (the
///   worker died first) runs on the next worker, or is cancelled by a
///   shutdown that cancels the queue.
/// - [`max_workers`](super::ProcessPoolBuilder::max_workers) worker processes at
///   most, as in Python, whatever the number of job functions: every worker
///   runs every [`process_fn!`](super::process_fn) of the program (a job
///   names its function, as Python pickles a function by its qualified
///   name).
/// - A job that panics reports [`Error::Panicked`] with its message; a worker
///   that dies (abort, signal, `exit`, stack overflow, `kill -9` from outside)
///   fails only the job it was running, with
///   [`Error::Process`]`(`[`ProcessError::WorkerDied`]`)` naming the signal or
///   exit status, and is replaced; an argument or result that cannot be
///   serialised fails its own future with [`ProcessError::Arguments`] or
///   [`ProcessError::Result`]. The pool goes on in every case.
/// - `Init` is the type of the initializer (see
///   [`ProcessPoolBuilder::initializer`](super::ProcessPoolBuilder::initializer)); [`NoInitializer`] by default.
///
/// The program must call [`init`](super::init) first in `main` (see the
/// [module documentation](super)).
///
/// # Done callbacks
///
/// A done callback of a job runs on the dispatcher thread of the worker
/// process that ran the job, before that dispatcher reads the worker's next
/// reply (Python runs callbacks on its queue-management thread likewise):
/// a callback that waits for another job of the same pool may wait until
/// another dispatcher runs it. Waiting for the pool's own termination there
/// returns at once (`Error::WouldDeadlock`).
///
/// # Dropping
///
/// Dropping the pool begins shutdown without cancelling and without
/// blocking: queued jobs still run, and the workers exit when the queue is
/// empty. Call [`shutdown`](Self::shutdown) first to wait.
///
/// # Examples
///
/// ```rust,standalone_crate
/// use concurrent_futures::process::{self, ProcessPoolExecutor};
///
/// process::process_fn! {
///     fn square(x: u64) -> u64 { x * x }
/// }
///
/// fn main() {
///     process::init();
///     let pool = ProcessPoolExecutor::new();
///     let mut future = pool.submit(square, 12).unwrap();
///     assert_eq!(future.wait().unwrap(), 144);
///     pool.shutdown(concurrent_futures::CancelFutures::No);
/// }
/// ```
pub struct ProcessPoolExecutor<Init: ProcessFn<Output = ()> = NoInitializer> {
    /// The last handle dropped begins shutdown (the executors' one
    /// `lifecycle::Handle`); dispatcher threads hold the `Arc<Shared>`.
    pub(super) shared: Handle<Shared>,
    pub(super) initializer: PhantomData<fn() -> Init>,
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolExecutor<Init> {
    /// The most worker processes alive at once (Python's `max_workers`).
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// Worker processes alive now (started and not yet reaped).
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert_eq!(pool.worker_count(), 0); // processes start lazily
    /// ```
    pub fn worker_count(&self) -> usize {
        self.shared.lock().book.pids().len()
    }

    /// Submits `job(args)` and returns the future of its result: Python's
    /// `executor.submit(fn, *args)`. `job` is a function declared with
    /// [`process_fn!`](super::process_fn). If `args` cannot be serialised, the
    /// returned future fails with [`ProcessError::Arguments`] (the pool is
    /// fine). Refused after shutdown.
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn add(a: i64, b: i64) -> i64 { a + b }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     assert_eq!(pool.submit(add, (2, 3)).unwrap().wait().unwrap(), 5);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn submit<J: ProcessFn>(
        &self,
        f: J,
        args: J::Args,
    ) -> Result<SharedFuture<J::Output>, SubmitError> {
        let _ = f;
        let (promise, future) = promise();
        let bytes = match encode(&args) {
            Ok(bytes) => bytes,
            Err(message) => {
                promise.set_error(Error::Process(ProcessError::Arguments(message)));
                return Ok(future);
            }
        };
        self.enqueue::<J>(&[Some(bytes)], Box::new(One { promise }), None)?;
        Ok(future)
    }

    /// Submits one `map` chunk: `J` over every item, one future for all.
    pub(super) fn submit_chunk<J: ProcessFn>(
        &self,
        chunk: Vec<J::Args>,
        job_timeout: Option<Duration>,
    ) -> Result<ChunkFuture<J::Output>, SubmitError> {
        let mut items = Vec::with_capacity(chunk.len());
        let mut unsent = Vec::new();
        for (index, args) in chunk.iter().enumerate() {
            match encode(args) {
                Ok(bytes) => items.push(Some(bytes)),
                Err(message) => {
                    items.push(None);
                    unsent.push((index, message));
                }
            }
        }
        // The arguments' own `Drop` is foreign code: not under the lock.
        drop(chunk);
        let (promise, future) = promise();
        let deadline = job_timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        self.enqueue::<J>(&items, Box::new(Many { promise, unsent }), deadline)?;
        Ok(future)
    }

    /// Queues a job of function `J` (its wire message serialised here, outside
    /// the lock), and wakes or starts a dispatcher for it.
    fn enqueue<J: ProcessFn>(
        &self,
        items: &[Option<Vec<u8>>],
        sink: Box<dyn Sink>,
        deadline: Option<Instant>,
    ) -> Result<(), SubmitError> {
        let wire = WireJobRef {
            entry: entry::offset_of(run_item::<J>),
            items,
        };
        let message = match encode(&wire) {
            Ok(message) => message,
            Err(message) => {
                // Not expected: the items are bytes already.
                finish(sink, Error::Process(ProcessError::Arguments(message)));
                return Ok(());
            }
        };
        let small = message.len() <= HANDOFF_MAX;
        let shared = &self.shared;
        let mut state = shared.lock();
        match state.book.submit(Job {
            message,
            sink,
            deadline,
        }) {
            Ok(Admitted::Queued) => Ok(()),
            Ok(Admitted::Wake(seat)) => {
                let sender = if small {
                    state.senders[seat].take()
                } else {
                    None
                };
                let handed = sender.and_then(|sender| {
                    let job = state.book.hand_off(seat)?;
                    // A copy (small): the job keeps its message, in case its
                    // worker dies before starting it and it goes back to the
                    // queue.
                    let message = job.message.clone();
                    state.handed[seat] = Some(job);
                    Some((sender, message))
                });
                wake(&state, &[seat]);
                drop(state);
                if let Some((sender, message)) = handed {
                    // Outside the lock, and it cannot block (`HANDOFF_MAX`):
                    // the woken dispatcher only waits for the reply, so its
                    // wake-up overlaps the worker's run. A failed send means
                    // a dead worker: the dispatcher finds out, and the job,
                    // never started, goes back.
                    let _ = sender.send(&message);
                }
                Ok(())
            }
            Ok(Admitted::Start(seat)) => {
                // The dispatcher is spawned, counted and its handle stored in
                // one critical section: a shutdown never sees one without the
                // others.
                state.seats.push(Arc::new(Condvar::new()));
                state.senders.push(None);
                state.handed.push(None);
                let for_thread = Arc::clone(shared.state());
                let spawned = thread::Builder::new()
                    .name(alloc::format!("ProcessPoolExecutor_{seat}"))
                    .spawn(move || dispatcher(for_thread, seat));
                match spawned {
                    Ok(handle) => {
                        state.threads.push(handle);
                        Ok(())
                    }
                    Err(error) => {
                        // With no dispatcher, nobody would run what is
                        // queued: fail it rather than leave it hanging.
                        let (stranded, released) = state.book.dispatcher_not_started(seat);
                        drop(state);
                        for job in stranded {
                            finish(job.sink, Error::Spawn(error.kind()));
                        }
                        released.complete();
                        Ok(())
                    }
                }
            }
            Err(refused) => {
                drop(state);
                // The job's promise is dropped outside the lock; its future
                // was never handed out.
                Err(match refused {
                    Refused::Shutdown(_) => SubmitError::Shutdown,
                    Refused::Broken(broken, _) => SubmitError::Broken(broken),
                })
            }
        }
    }

    /// Python's `shutdown(wait=False, cancel_futures=..)`: no new job is
    /// accepted; with [`CancelFutures::Yes`], queued jobs are cancelled; jobs
    /// that a worker has taken finish. A process job has no
    /// [`StopToken`](crate::StopToken), so what
    /// [`CancelFutures::AndStopRunning`] can honestly offer is a signal: it
    /// does what [`terminate_workers`](Self::terminate_workers) does (queued
    /// jobs cancelled, `SIGTERM` to every worker process; a job that installs
    /// a handler can stop cleanly, others fail with
    /// [`ProcessError::WorkerDied`]). Returns at once; calling it again is
    /// harmless.
    ///
    /// ```
    /// use concurrent_futures::{CancelFutures, SubmitError, process::{ProcessPoolExecutor, process_fn}};
    /// process_fn! { fn one() -> u8 { 1 } }
    /// let pool = ProcessPoolExecutor::new();
    /// pool.shutdown_nowait(CancelFutures::No);
    /// assert!(pool.is_shutdown());
    /// assert!(matches!(pool.submit(one, ()), Err(SubmitError::Shutdown)));
    /// ```
    pub fn shutdown_nowait(&self, cancel: CancelFutures) {
        BeginShutdown::begin_shutdown(&*self.shared, cancel);
    }

    /// `true` once shutdown has begun.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(!pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.lock().book.is_shutdown()
    }

    /// `true` once a worker's initializer has failed.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(!pool.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.shared.lock().book.broken().is_some()
    }

    /// A future that completes once shutdown has begun, every accepted job has
    /// finished and every worker process has exited and been reaped. Await it,
    /// or `wait()` on it.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// let mut terminated = pool.terminated();
    /// pool.shutdown_nowait(concurrent_futures::CancelFutures::No);
    /// terminated.wait().unwrap();
    /// ```
    ///
    /// Made on one of the pool's dispatcher threads (a done callback of one of
    /// its jobs), it is already done with
    /// [`Error::WouldDeadlock`](crate::Error::WouldDeadlock): that thread's
    /// exit would have to come first.
    pub fn terminated(&self) -> SharedFuture<()> {
        if lifecycle::is_inside(self.id()) {
            return lifecycle::would_deadlock();
        }
        self.shared.lock().book.terminated()
    }

    /// The address that marks this pool's dispatcher threads.
    fn id(&self) -> usize {
        self.shared.id()
    }

    /// Python's `shutdown(wait=True, cancel_futures=..)`: begins shutdown (as
    /// [`shutdown_nowait`](Self::shutdown_nowait)), waits until every accepted
    /// job has finished and every worker process has exited, and joins the
    /// dispatcher threads.
    ///
    /// ```
    /// use concurrent_futures::CancelFutures;
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// pool.shutdown(CancelFutures::Yes);
    /// assert!(pool.terminated().is_done());
    /// ```
    ///
    /// Called from a done callback that one of the pool's dispatcher threads
    /// runs, it would wait for itself: it only begins shutdown.
    pub fn shutdown(&self, cancel: CancelFutures) {
        self.shutdown_nowait(cancel);
        if lifecycle::is_inside(self.id()) {
            return;
        }
        let _ = self.terminated().wait();
        self.join_dispatchers();
    }

    /// Joins the dispatcher threads once the pool is terminated (each one's
    /// last act was to count itself out, so this does not wait for work).
    /// Not on a dispatcher thread: it would join itself.
    pub(super) fn join_dispatchers(&self) {
        if lifecycle::is_inside(self.id()) {
            return;
        }
        let threads = core::mem::take(&mut self.shared.lock().threads);
        for thread in threads {
            // A dispatcher catches the panics it can meet; a join error is
            // not expected, and there is nothing to do with one but go on.
            let _ = thread.join();
        }
    }

    /// Python 3.14's `terminate_workers()`: shuts down with `cancel_futures`
    /// and sends `SIGTERM` to every worker process. Jobs they were running
    /// fail with [`ProcessError::WorkerDied`] (unless they finish first); no
    /// worker is started again. Returns at once; await
    /// [`terminated`](Self::terminated) to see them gone.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// pool.terminate_workers();
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn terminate_workers(&self) {
        self.stop_workers(Signal::SIGTERM);
    }

    /// Python 3.14's `kill_workers()`: as
    /// [`terminate_workers`](Self::terminate_workers), with `SIGKILL`.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// pool.kill_workers();
    /// pool.terminated().wait().unwrap();
    /// ```
    pub fn kill_workers(&self) {
        self.stop_workers(Signal::SIGKILL);
    }

    fn stop_workers(&self, signal: Signal) {
        self.shared.stop_workers(signal);
    }
}

impl<Init: ProcessFn<Output = ()>> Clone for ProcessPoolExecutor<Init> {
    /// Another handle to the same pool (an atomic increment): a `map` holds
    /// one, so it can be returned or sent away.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// let handle = pool.clone();
    /// drop(pool); // not the last handle: the pool goes on
    /// assert!(!handle.is_shutdown());
    /// ```
    fn clone(&self) -> Self {
        ProcessPoolExecutor {
            shared: self.shared.clone(),
            initializer: PhantomData,
        }
    }
}

impl<Init: ProcessFn<Output = ()>> fmt::Debug for ProcessPoolExecutor<Init> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("max_tasks_per_child", &self.shared.max_tasks_per_child)
            .field("workers", &state.book.pids().len())
            .field("queued", &state.book.queued())
            .field("shutdown", &state.book.is_shutdown())
            .field("broken", &state.book.broken().is_some())
            .finish()
    }
}
