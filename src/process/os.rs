//! What the pool asks of the operating system: starting a worker process,
//! signalling one, and reaping one without blocking.

use alloc::string::{String, ToString};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::ipc::{
    self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender, IpcSharedMemory,
};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::ProcessFn;
use super::error::{Exit, ProcessError};
use super::wire::{Reply, WorkerArgs, describe};
use super::worker::{self, worker_main};

/// A worker process and the parent's ends of its channels, owned by one
/// dispatcher.
pub(super) struct Worker {
    pub(super) handle: procspawn::JoinHandle<()>,
    pub(super) pid: u32,
    pub(super) jobs: IpcBytesSender,
    /// A job message too large for one write to the `jobs` pipe, in shared
    /// memory (see [`dispatch::send_job`](super::dispatch)).
    pub(super) large_jobs: IpcSender<IpcSharedMemory>,
    pub(super) started: IpcBytesReceiver,
    pub(super) replies: IpcReceiver<Reply>,
    /// Never written: the worker ends itself when this closes, which happens
    /// when the parent process is gone. Dropped only once the worker is
    /// reaped.
    pub(super) lifeline: IpcBytesSender,
    /// Jobs it has answered, for `max_tasks_per_child`.
    pub(super) done: usize,
    /// How it ended, once reaped while its reply channel was still open (a
    /// process that inherited the worker's pipes, such as a job's forked
    /// child, keeps the channel open after the worker's death).
    pub(super) reaped: Option<Exit>,
    /// The oldest job in flight is known to be started (announced by the
    /// previous reply); otherwise its start, if any, is on `started`.
    pub(super) front_started: bool,
}

/// Starts a worker process: `spawn_worker::<I>`, for the pool's initializer.
pub(super) type SpawnFn = fn(&[u8]) -> Result<Worker, ProcessError>;

/// Starts a worker process with initializer `I` (it runs every job
/// function). Called from the dispatcher thread that will own the worker:
/// on Linux, the worker's parent-death signal is tied to this thread.
pub(super) fn spawn_worker<I: ProcessFn<Output = ()>>(
    init_args: &[u8],
) -> Result<Worker, ProcessError> {
    let io = |error: std::io::Error| ProcessError::Spawn(error.to_string());
    let (jobs, jobs_rx) = ipc::bytes_channel().map_err(io)?;
    let (large_jobs, large_jobs_rx) = ipc::channel().map_err(io)?;
    let (started_tx, started) = ipc::bytes_channel().map_err(io)?;
    let (replies_tx, replies) = ipc::channel().map_err(io)?;
    let (lifeline, lifeline_rx) = ipc::bytes_channel().map_err(io)?;
    let args = WorkerArgs {
        jobs: jobs_rx,
        large_jobs: large_jobs_rx,
        started: started_tx,
        replies: replies_tx,
        lifeline: lifeline_rx,
        parent: std::process::id(),
        layout: worker::layout(),
        init_args: init_args.to_vec(),
    };
    // procspawn panics when `init` was not called; that is the caller's
    // mistake to report on the job, not a reason to lose the dispatcher.
    let handle = catch_unwind(AssertUnwindSafe(|| {
        procspawn::spawn(args, worker_main::<I>)
    }))
    .map_err(|payload| {
        ProcessError::Spawn(alloc::format!(
            "{} (call concurrent_futures::process::init() first in main)",
            describe(payload)
        ))
    })?;
    match handle.pid() {
        Some(pid) => Ok(Worker {
            handle,
            pid,
            jobs,
            large_jobs,
            started,
            replies,
            lifeline,
            done: 0,
            front_started: false,
            reaped: None,
        }),
        None => Err(ProcessError::Spawn(match handle.join() {
            Err(error) => error.to_string(),
            Ok(()) => String::from("no process id"),
        })),
    }
}

fn to_pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().map(Pid::from_raw)
}

/// Sends `signal` to `pid`. The caller guarantees that `pid` is not reaped
/// yet (so not recycled): it holds the pool's lock, under which pids are
/// reaped.
pub(super) fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = to_pid(pid) {
        let _ = kill(pid, signal);
    }
}

/// Reaps `pid` if it has ended (`waitpid` with `WNOHANG`): how it ended, or
/// `None` while it runs. Never blocks.
pub(super) fn try_reap(pid: u32) -> Option<Exit> {
    let pid = to_pid(pid)?;
    loop {
        return match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(Exit::Code(code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => Some(Exit::Signal(signal as i32)),
            Ok(WaitStatus::StillAlive) => None,
            // Stopped or continued: alive.
            Ok(_) => None,
            Err(nix::errno::Errno::EINTR) => continue,
            // Not our child (any more): nothing left to reap.
            Err(_) => Some(Exit::Unknown),
        };
    }
}
