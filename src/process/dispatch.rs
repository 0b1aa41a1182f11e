//! The pool's shared state and its dispatcher threads: each owns at most one
//! worker process at a time and feeds it jobs from the pool's one queue.
//!
//! A dispatcher loops on [`Book::take`] (under the lock) and does what it
//! says outside the lock:
//!
//! - **start** a worker (`procspawn::spawn` of `worker_main::<I>`, from this
//!   thread, which owns the worker until it is reaped) and wait for its
//!   initializer's `Ready`;
//! - **send** jobs, each marked running when taken, keeping at most
//!   [`AHEAD`] jobs in the worker's pipe beyond the one it runs (Python keeps
//!   `max_workers + 1` calls in its call queue): cancel reaches every other
//!   job, and the worker never waits for the parent between two jobs;
//! - **receive** one reply and complete its job's future; a job the worker
//!   had started is the one that fails with [`ProcessError::WorkerDied`] if
//!   the reply channel breaks, and jobs it had not started go back to the
//!   front of the queue (still marked: they run on the next worker), or are
//!   cancelled if the pool is stopping;
//! - **idle** on its seat's condition variable, with its worker alive, until
//!   a submit, a shutdown or a broken pool wakes it;
//! - **exit** when the pool is shut down and nothing is left: close the
//!   worker's job channel (it exits by itself) and reap it.
//!
//! Reaping never blocks: the dispatcher polls `waitpid(WNOHANG)` under the
//! lock, with a growing pause outside it, and kills a worker that has not
//! ended [`GRACE`] after its channel closed (a job that replaced the worker
//! by `exec`, or one that ignores the end of its input). A pid leaves the
//! book in the critical section that reaps it, so `kill_workers`, which
//! signals under the lock, reaches every process until it is reaped and
//! never a recycled pid.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use core::time::Duration;
use std::time::Instant;

use ipc_channel::ipc::{IpcBytesSender, IpcSharedMemory};
use ipc_channel::{IpcError, TryRecvError};
use nix::sys::signal::Signal;

use super::book::{Book, Entry, ShutDown, Take};
use super::error::{Exit, ProcessError};
use super::os::{self, SpawnFn, Worker};
use super::sink::Sink;
use super::wire::Reply;
use crate::error::{BrokenError, Error};
use crate::executor::CancelFutures;
use crate::executor::lifecycle::{self, BeginShutdown, Inside};
use crate::sync::lock::{Condvar, Mutex, MutexGuard};
use crate::sync::{Arc, thread};

/// Jobs sent to a worker beyond the one it runs. Each is marked running when
/// sent, so a `cancel` of it is refused; a shutdown that cancels the queue
/// still cancels it if its worker dies before starting it.
pub(super) const AHEAD: usize = 1;

/// Jobs in a worker's pipe at most: the one it runs and [`AHEAD`].
const WINDOW: usize = 1 + AHEAD;

/// The largest job message a submit sends to an idle worker itself. Such a
/// worker has read everything it was sent (its dispatcher was idle: every job
/// was answered), so its pipe is empty, and a message this small fits in the
/// socket's buffer: the send cannot block, even on a stopped worker.
pub(super) const HANDOFF_MAX: usize = 16 * 1024;

/// The largest job message written to a worker's `jobs` pipe itself; a
/// larger one goes in shared memory (see [`send_job`]).
const INLINE: usize = 32 * 1024;

/// How long a worker whose channel closed (or was closed) may take to end
/// before it is killed.
pub(super) const GRACE: Duration = Duration::from_secs(2);

/// A queued job: its wire message (serialised by the submitter, outside the
/// lock) and where its outcome goes.
pub(super) struct Job {
    pub(super) message: Vec<u8>,
    pub(super) sink: Box<dyn Sink>,
    /// `MapOptions::job_timeout`: not sent after it, and a reply that comes
    /// after it is dropped; either way the job reports `Error::Timeout`.
    pub(super) deadline: Option<Instant>,
}

impl Job {
    fn expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

impl Entry for Job {
    fn mark(&mut self) -> bool {
        self.sink.start()
    }
}

/// The pool's state, behind its handles (`lifecycle::Handle`: the last one
/// dropped begins shutdown) and held by its dispatcher threads.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) max_workers: usize,
    pub(super) max_tasks_per_child: Option<NonZeroUsize>,
    /// The initializer's serialised arguments.
    pub(super) init_args: Vec<u8>,
    pub(super) spawn: SpawnFn,
}

pub(super) struct State {
    pub(super) book: Book<Job>,
    /// Each dispatcher's condition variable, by seat.
    pub(super) seats: Vec<Arc<Condvar>>,
    /// By seat, while its dispatcher idles with a live worker: that worker's
    /// job channel, so that a submit can send a small job itself.
    pub(super) senders: Vec<Option<IpcBytesSender>>,
    /// By seat: a job a submit sent that way; its dispatcher receives the
    /// reply.
    pub(super) handed: Vec<Option<Job>>,
    /// Dispatcher threads to join in `shutdown`.
    pub(super) threads: Vec<thread::JoinHandle<()>>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // No foreign code runs under the lock, so a poisoned lock still
        // guards consistent state (the shim's lock ignores poisoning).
        self.state.lock()
    }

    /// Refuses new jobs, and cancels the queued ones if `cancel_queued`.
    pub(super) fn begin_shutdown(&self, cancel_queued: bool) {
        let shut = {
            let mut state = self.lock();
            let shut = state.book.shut_down(cancel_queued);
            wake(&state, &shut.wake);
            shut
        };
        complete_shutdown(shut);
    }

    /// `terminate_workers` / `kill_workers`: stops the pool and sends `signal`
    /// to every worker process.
    pub(super) fn stop_workers(&self, signal: Signal) {
        let shut = {
            let mut state = self.lock();
            let shut = state.book.stop();
            // Signalled under the lock: a pid leaves the book in the critical
            // section that reaps it, so it cannot have been recycled.
            for &pid in state.book.pids() {
                os::signal(pid, signal);
            }
            wake(&state, &shut.wake);
            shut
        };
        complete_shutdown(shut);
    }

    /// The address that marks this pool's dispatcher threads.
    pub(super) fn id(&self) -> usize {
        self as *const Shared as usize
    }

    /// How many more jobs `worker` may be sent before it is retired.
    fn tasks_left(&self, worker: &Worker) -> usize {
        self.max_tasks_per_child
            .map_or(usize::MAX, |max| max.get().saturating_sub(worker.done))
    }
}

/// Completes a job's future with `error`, surviving a panicking `Drop` or
/// waker on the way.
pub(super) fn finish(sink: Box<dyn Sink>, error: Error) {
    lifecycle::run_quietly(|| sink.fail(error));
}

/// Cancels a job that no worker started, surviving a panicking waker.
pub(super) fn cancel(sink: Box<dyn Sink>) {
    lifecycle::run_quietly(|| sink.cancel());
}

/// Cancels what a shutdown took from the queue (outside the lock: a cancelled
/// future wakes its waiter) and completes the `terminated` futures it
/// released.
fn complete_shutdown(shut: ShutDown<Job>) {
    for job in shut.cancelled {
        cancel(job.sink);
    }
    shut.released.complete();
}

impl BeginShutdown for Shared {
    /// The last handle dropped: `shutdown_nowait`.
    fn begin_shutdown(&self, cancel: CancelFutures) {
        if cancel.stops_running() {
            self.stop_workers(Signal::SIGTERM);
        } else {
            Shared::begin_shutdown(self, cancel.cancels_queued());
        }
    }
}

/// Puts back jobs that no worker started (a stopping pool hands them back:
/// they are cancelled, outside the lock).
fn put_back(shared: &Shared, jobs: Vec<Job>) {
    let cancelled = shared.lock().book.put_back(jobs.into_iter());
    for job in cancelled {
        cancel(job.sink);
    }
}

/// Wakes the dispatchers of `seats` (under the lock, so none misses it).
pub(super) fn wake(state: &State, seats: &[usize]) {
    for &seat in seats {
        state.seats[seat].notify_one();
    }
}

/// What a dispatcher was told under the lock.
enum Next {
    Take(Take<Job>),
    /// A submit sent this job to the worker itself.
    Handed(Job),
}

/// The body of the dispatcher thread of `seat`.
pub(super) fn dispatcher(shared: Arc<Shared>, seat: usize) {
    // Done callbacks of the pool's jobs run here: a wait for the pool's
    // termination from one of them returns at once.
    let _inside = Inside::enter(shared.id());
    let mut worker: Option<Worker> = None;
    let mut in_flight: VecDeque<Job> = VecDeque::new();
    loop {
        let room = worker.as_ref().map_or(0, |worker| {
            WINDOW
                .min(shared.tasks_left(worker))
                .saturating_sub(in_flight.len())
        });
        let take = {
            let mut state = shared.lock();
            loop {
                match state
                    .book
                    .take(seat, room, worker.is_some(), in_flight.len())
                {
                    Take::Idle => {
                        let ready = Arc::clone(&state.seats[seat]);
                        state.senders[seat] = worker.as_ref().map(|worker| worker.jobs.clone());
                        // Woken only by whoever took the seat off the idle
                        // list (a submit, a shutdown, a broken pool).
                        (state, _) = ready.wait_while_until(&shared.state, state, None, |state| {
                            state.book.is_idle(seat)
                        });
                        state.senders[seat] = None;
                        if let Some(job) = state.handed[seat].take() {
                            break Next::Handed(job);
                        }
                    }
                    take => break Next::Take(take),
                }
            }
        };
        let take = match take {
            Next::Take(take) => take,
            Next::Handed(job) => {
                match worker.take() {
                    Some(running) => {
                        // Sent by the submit (or about to be): nothing else is
                        // sent before its reply, so replies stay in the order
                        // of sends.
                        in_flight.push_back(job);
                        worker = receive(&shared, running, &mut in_flight);
                    }
                    None => {
                        // Not expected (a seat offers its worker's channel
                        // only while it has one): the job goes back, never
                        // started.
                        put_back(&shared, alloc::vec![job]);
                    }
                }
                continue;
            }
        };
        match take {
            Take::Exit => break,
            Take::Start => match start_worker(&shared) {
                Ok(started) => worker = Some(started),
                Err(StartError::Broken | StartError::Stopping) => {}
                Err(StartError::Failed(error)) => {
                    // Whatever stopped this start would stop the next one:
                    // fail what is queued now rather than loop.
                    let failed = shared.lock().book.fail_queued();
                    for job in failed {
                        finish(job.sink, Error::Process(error.clone()));
                    }
                }
            },
            Take::Send(jobs) => {
                let Some(running) = worker.take() else {
                    // `take` sends only to a dispatcher with a worker.
                    put_back(&shared, jobs);
                    continue;
                };
                for job in jobs {
                    if job.expired() {
                        // Past its `job_timeout` before any worker took it:
                        // not run.
                        finish(job.sink, Error::Timeout);
                        continue;
                    }
                    // A failed send means a dead worker: the receive below
                    // finds out, and the job, never started, goes back.
                    send_job(&running, &job.message);
                    in_flight.push_back(job);
                }
                worker = if in_flight.is_empty() {
                    Some(running)
                } else {
                    receive(&shared, running, &mut in_flight)
                };
            }
            Take::Idle => {}
        }
    }
    if let Some(worker) = worker {
        bury(&shared, worker, false);
    }
    let released = shared.lock().book.dispatcher_exited(seat);
    released.complete();
}

/// Sends one job message to `worker` without blocking on it.
///
/// A message larger than the pipe's buffer cannot be written at once, and
/// ipc-channel sends such a message in fragments over a channel of its own
/// whose receiving end the *sender* keeps open until the last fragment is
/// written: a worker that stops reading (`SIGSTOP`) or dies mid-message
/// leaves the dispatcher blocked in that send for ever, never reaping it,
/// and its jobs' futures never resolve (not even after `kill_workers`);
/// and a job sent ahead while the worker writes a large reply deadlocks the
/// two. So a message above [`INLINE`] goes in shared memory (one small write
/// carrying a file descriptor) announced by an empty message on `jobs`;
/// every write is then small, at most [`WINDOW`] jobs are in the pipe, and a
/// write to a dead worker fails at once. If the shared memory cannot be made,
/// the message goes through the pipe as before.
fn send_job(worker: &Worker, message: &[u8]) {
    if message.len() > INLINE {
        // ipc-channel asserts (panics) when it cannot create the memory.
        if let Ok(memory) = std::panic::catch_unwind(|| IpcSharedMemory::from_bytes(message)) {
            if worker.large_jobs.send(memory).is_ok() {
                let _ = worker.jobs.send(&[]);
            }
            return;
        }
    }
    let _ = worker.jobs.send(message);
}

/// Receives `worker`'s next reply and completes the oldest job in flight.
/// Returns the worker if it is still usable.
fn receive(shared: &Shared, mut worker: Worker, in_flight: &mut VecDeque<Job>) -> Option<Worker> {
    match next_reply(shared, &mut worker) {
        Ok(Reply::Done {
            outcomes,
            next_started,
        }) => {
            if !worker.front_started {
                // The job's start signal, written to the other pipe before
                // its reply: read so that the pipe never fills.
                let _ = worker.started.try_recv();
            }
            worker.front_started = next_started;
            worker.done += 1;
            if let Some(job) = in_flight.pop_front() {
                if job.expired() {
                    // Ran, but answered after its `job_timeout`.
                    drop(outcomes);
                    finish(job.sink, Error::Timeout);
                } else {
                    lifecycle::run_quietly(|| job.sink.deliver(outcomes));
                }
            }
            if in_flight.is_empty() && shared.tasks_left(&worker) == 0 {
                // `max_tasks_per_child`: retired; a fresh one starts when
                // there is work.
                bury(shared, worker, false);
                return None;
            }
            Some(worker)
        }
        other => {
            // The worker died (or broke the protocol: then it is killed).
            // It runs one job at a time, so only the oldest in flight can
            // have started: announced by the last reply, or signalled on
            // the start pipe (read after the death: the pipe keeps it).
            let started = worker.front_started || worker.started.try_recv().is_ok();
            let force = !matches!(other, Err(IpcError::Disconnected));
            let pid = worker.pid;
            let exit = bury(shared, worker, force);
            let mut jobs = in_flight.drain(..);
            if started {
                if let Some(job) = jobs.next() {
                    finish(
                        job.sink,
                        Error::Process(ProcessError::WorkerDied { pid, exit }),
                    );
                }
            }
            let not_started: Vec<Job> = jobs.collect();
            put_back(shared, not_started);
            None
        }
    }
}

/// How often a dispatcher waiting for a reply checks that its worker is
/// alive. A reply ends the wait at once; the check is for a worker that died
/// while another process (a job's forked child) holds its pipes open, so that
/// the channel never closes.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// The worker's next reply, or why none will come: the channel broke, or the
/// worker was found dead (and reaped: `worker.reaped`) while the channel
/// stayed open. Waits by `poll` with a timeout of [`LIVENESS_CHECK`], and
/// between two waits reaps the worker with `waitpid(WNOHANG)` under the lock
/// (so `kill_workers`, which signals under the lock, never meets a recycled
/// pid). A reply written just before the death is still read first.
fn next_reply(shared: &Shared, worker: &mut Worker) -> Result<Reply, IpcError> {
    loop {
        match worker.replies.try_recv_timeout(LIVENESS_CHECK) {
            Ok(reply) => return Ok(reply),
            Err(TryRecvError::IpcError(error)) => return Err(error),
            Err(TryRecvError::Empty) => {}
        }
        if worker.reaped.is_some() {
            // Dead, and nothing more came: the channel will not close.
            return Err(IpcError::Disconnected);
        }
        let mut state = shared.lock();
        if let Some(exit) = os::try_reap(worker.pid) {
            state.book.reaped(worker.pid);
            worker.reaped = Some(exit);
            // Read once more: a reply may have come between the poll and
            // the death.
        }
    }
}

/// Closes `worker`'s job channel (a healthy worker exits by itself), kills it
/// first with `force`, and reaps it without blocking: [`GRACE`] after the
/// channel closed, a worker still alive is killed.
fn bury(shared: &Shared, worker: Worker, force: bool) -> Exit {
    let Worker {
        handle,
        pid,
        jobs,
        lifeline,
        reaped,
        ..
    } = worker;
    drop(jobs);
    if let Some(exit) = reaped {
        // Reaped while a process it left behind holds its pipes: procspawn's
        // join would wait for that process too, so it joins elsewhere (it
        // only marks the handle exited, so that dropping it signals nothing).
        drop(lifeline);
        // If no thread can be spawned, the closure is dropped and the
        // handle with it, not dropped: leaked rather than let its drop signal
        // a pid that may be recycled by now.
        let handle = core::mem::ManuallyDrop::new(handle);
        let _ = thread::Builder::new()
            .name(String::from("ProcessPoolExecutor_join"))
            .spawn(move || {
                let _ = core::mem::ManuallyDrop::into_inner(handle).join();
            });
        return exit;
    }
    if force {
        // Not reaped yet, so `pid` is still this worker.
        os::signal(pid, Signal::SIGKILL);
    }
    let since = Instant::now();
    let mut pause = Duration::from_micros(50);
    let mut killed = force;
    let exit = loop {
        {
            let mut state = shared.lock();
            if let Some(exit) = os::try_reap(pid) {
                // In the critical section that reaped it: `kill_workers`
                // never signals a recycled pid.
                state.book.reaped(pid);
                break exit;
            }
        }
        if !killed && since.elapsed() >= GRACE {
            os::signal(pid, Signal::SIGKILL);
            killed = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    };
    drop(lifeline);
    // procspawn's own wait finds the process reaped (and ignores that), and
    // marks it exited, so dropping the handle signals nothing.
    let _ = handle.join();
    exit
}

/// Why a dispatcher has no worker to run the queue.
enum StartError {
    /// The initializer failed: the pool is broken (already recorded).
    Broken,
    /// `terminate_workers` / `kill_workers` was called.
    Stopping,
    /// The process could not be started.
    Failed(ProcessError),
}

/// Starts a worker and waits for its initializer.
fn start_worker(shared: &Shared) -> Result<Worker, StartError> {
    let mut worker = (shared.spawn)(&shared.init_args).map_err(StartError::Failed)?;
    {
        let mut state = shared.lock();
        state.book.add_pid(worker.pid);
        if state.book.is_stopping() {
            drop(state);
            bury(shared, worker, true);
            return Err(StartError::Stopping);
        }
    }
    match next_reply(shared, &mut worker) {
        Ok(Reply::Ready) => Ok(worker),
        Ok(Reply::InitFailed(message)) => {
            bury(shared, worker, false);
            break_pool(shared, message);
            Err(StartError::Broken)
        }
        Ok(Reply::Done { .. }) => {
            let pid = worker.pid;
            let exit = bury(shared, worker, true);
            Err(StartError::Failed(ProcessError::Spawn(alloc::format!(
                "worker process {pid} broke the protocol at startup ({exit})"
            ))))
        }
        Err(error) => {
            let pid = worker.pid;
            let exit = bury(shared, worker, !matches!(error, IpcError::Disconnected));
            Err(StartError::Failed(ProcessError::Spawn(alloc::format!(
                "worker process {pid} died during startup: {exit}"
            ))))
        }
    }
}

/// Records a failed initializer: every queued job fails with `Error::Broken`,
/// and dispatchers exit.
fn break_pool(shared: &Shared, message: String) {
    let (broken, failed) = {
        let mut state = shared.lock();
        let (broken, failed, seats) = state.book.break_pool(|| BrokenError::new(message.into()));
        wake(&state, &seats);
        (broken, failed)
    };
    for job in failed {
        finish(job.sink, Error::Broken(broken.clone()));
    }
}
