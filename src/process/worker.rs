//! The worker process's side: what crosses the pipes, and the loop that runs
//! in the child.
//!
//! Arguments and results cross as bytes that this module serialises itself
//! (postcard, the format ipc-channel uses), one buffer per item, so that one
//! item that cannot be serialised fails alone and the parent's queue holds no
//! job types. ipc-channel carries the messages, over five channels per worker:
//!
//! - `jobs`, parent → worker: one [`WireJob`] per message (one item, or a
//!   `map` chunk of several), naming its function by
//!   [offset](super::entry). The parent keeps at most
//!   [`AHEAD`](super::dispatch::AHEAD) jobs in this pipe beyond the one the
//!   worker runs.
//! - `large_jobs`, parent → worker: the message of a job too large for one
//!   write to `jobs`, in shared memory, announced by an empty message on
//!   `jobs` (so that no write of the parent can block on a worker that
//!   stopped reading or died: see `dispatch::send_job`).
//! - `started`, worker → parent: one empty message when the worker, idle,
//!   takes a job from its pipe (a job it takes right after a reply is
//!   announced in that reply instead: `Reply::Done::next_started`). The
//!   parent reads it after the job's reply, or after the worker's death: that
//!   is how it knows exactly which jobs a dead worker had started, that is,
//!   taken from its pipe (those fail with `WorkerDied`), and which it never
//!   started (those run on another worker, or are cancelled when the pool is
//!   stopping).
//! - `replies`, worker → parent: first [`Reply::Ready`] (or
//!   [`Reply::InitFailed`]) once the initializer ran, then one
//!   [`Reply::Done`] per job.
//! - `lifeline`, parent → worker: never written. It closes when the parent
//!   process is gone, however it ended; a thread of the worker waits on it
//!   and ends the worker then, even in the middle of a job. On Linux the
//!   worker also asks the kernel for `SIGKILL` when the parent's thread that
//!   spawned it exits (`PR_SET_PDEATHSIG`; the pool spawns each worker from
//!   the dispatcher thread that owns it for its whole life).
//!
//! Every piece of foreign code the worker runs (the initializer, a job,
//! `Serialize` and `Deserialize` impls, the `Drop` of arguments, results and
//! panic payloads) runs under `catch_unwind`, and a payload whose own `Drop`
//! panics is leaked: a worker dies only of what kills a process (a signal, an
//! abort, `exit`), never of a panic.

use alloc::string::String;
use alloc::vec::Vec;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::ipc::IpcBytesReceiver;

use super::ProcessFn;
use super::entry::{self, RunItem};
use super::wire::{Outcome, Reply, WireJob, WorkerArgs, decode, describe, encode};
use crate::executor::lifecycle::drop_quietly;

/// The exit status of a worker that ends because its parent is gone.
const ORPHANED: i32 = 70;

/// In a worker process, before procspawn's bootstrap runs: a panic raised by
/// procspawn's own code (its bootstrap, or the send of the worker's result)
/// means the parent's end of a pipe closed, that is, the parent is gone or
/// going; nobody is left to read a message, so the worker ends quietly
/// instead of printing procspawn's `Disconnected` panic on the terminal the
/// program shared. Every other panic goes to the hooks as before.
pub(super) fn quiet_when_orphaned() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(alloc::boxed::Box::new(move |info| {
        if info
            .location()
            .is_some_and(|location| location.file().contains("procspawn"))
        {
            std::process::exit(ORPHANED);
        }
        previous(info);
    }));
}

/// Ends this process when the parent is gone: on Linux by the kernel's
/// parent-death signal, everywhere by a thread that waits on the lifeline.
fn watch_parent(parent: u32, lifeline: IpcBytesReceiver) {
    #[cfg(target_os = "linux")]
    {
        // Fires when the parent's *thread* that spawned this process exits;
        // the pool spawns each worker from the dispatcher thread that owns it
        // until it is reaped.
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    }
    // The parent may have died before the request above: then this process
    // was adopted already.
    if std::os::unix::process::parent_id() != parent {
        std::process::exit(ORPHANED);
    }
    let watcher = std::thread::Builder::new()
        .name(String::from("ProcessPoolExecutor_lifeline"))
        .spawn(move || {
            // Never written: `recv` returns once every sender is gone, that
            // is, once the parent process is.
            while lifeline.recv().is_ok() {}
            std::process::exit(ORPHANED);
        });
    if watcher.is_err() {
        // Without a watcher, a job could outlive the parent: refuse to run.
        std::process::exit(ORPHANED);
    }
}

/// The body of a worker process: runs the initializer `I`, then every job it
/// is sent, of any function, until the parent closes the job channel.
///
/// procspawn starts the child with this function's address (a plain generic
/// function, marshalled by procspawn's documented `spawn`); each job names
/// its own function by offset.
pub(super) fn worker_main<I: ProcessFn<Output = ()>>(args: WorkerArgs) {
    let WorkerArgs {
        jobs,
        large_jobs,
        started,
        replies,
        lifeline,
        parent,
        layout,
        init_args,
    } = args;
    watch_parent(parent, lifeline);
    let ready = if layout != self::layout() {
        Reply::InitFailed(String::from(
            "the worker process runs another executable than the pool's",
        ))
    } else {
        initialize::<I>(&init_args)
    };
    let failed = matches!(ready, Reply::InitFailed(_));
    if replies.send(ready).is_err() || failed {
        return;
    }
    // A job taken from the pipe before the previous reply, announced in it.
    let mut next: Option<Vec<u8>> = None;
    loop {
        let bytes = match next.take() {
            Some(bytes) => bytes,
            // `recv` fails once the parent drops its sender (retirement,
            // shutdown) or dies: either way the worker is done.
            None => match jobs.recv() {
                Ok(bytes) => {
                    // Taken while idle: its start is signalled on its own
                    // pipe, which the parent reads after the reply (or after
                    // this worker's death).
                    if started.send(&[]).is_err() {
                        return;
                    }
                    bytes
                }
                Err(_) => return,
            },
        };
        // An empty message announces a large job, sent in shared memory
        // before it (`dispatch::send_job`); every other job is the message
        // itself.
        let shared;
        let bytes: &[u8] = if bytes.is_empty() {
            let Ok(memory) = large_jobs.recv() else {
                return;
            };
            shared = memory;
            &shared
        } else {
            &bytes
        };
        // The parent serialised the job itself; one that does not decode
        // would be a bug: exit, and the parent reports the job.
        let Ok(job) = decode::<WireJob>(bytes) else {
            return;
        };
        // SAFETY: the parent took `job.entry` from `entry::offset_of` in the
        // same executable: `layout` matched above.
        #[allow(unsafe_code)]
        let run: RunItem = unsafe { entry::resolve(job.entry) };
        let outcomes = job
            .items
            .iter()
            .map(|item| {
                catch_unwind(AssertUnwindSafe(|| run(item.as_deref())))
                    .unwrap_or_else(|payload| Outcome::Panicked(describe(payload)))
            })
            .collect();
        // The next job, if the parent sent it ahead, is taken now and
        // begun right after the reply, which says so: a worker under load
        // sends one message per job.
        next = jobs.try_recv().ok();
        let reply = Reply::Done {
            outcomes,
            next_started: next.is_some(),
        };
        if replies.send(reply).is_err() {
            return;
        }
    }
}

/// Runs the initializer, containing every panic (its arguments' `Drop`, its
/// payload's `Drop`).
fn initialize<I: ProcessFn<Output = ()>>(init_args: &[u8]) -> Reply {
    let args = match decode::<I::Args>(init_args) {
        Ok(args) => args,
        Err(error) => {
            return Reply::InitFailed(alloc::format!(
                "the initializer's arguments could not be read: {error}"
            ));
        }
    };
    match catch_unwind(AssertUnwindSafe(|| I::call(args))) {
        Ok(()) => Reply::Ready,
        Err(payload) => Reply::InitFailed(alloc::format!(
            "the initializer panicked: {}",
            describe(payload)
        )),
    }
}

/// Runs one item of function `J`: deserialise, call, serialise, drop the
/// result, each step's panic contained. Named across processes by
/// [`entry::offset_of`].
pub(super) fn run_item<J: ProcessFn>(bytes: Option<&[u8]>) -> Outcome {
    let Some(bytes) = bytes else {
        // The parent reports its own serializer's message.
        return Outcome::Arguments(String::new());
    };
    let args = match decode::<J::Args>(bytes) {
        Ok(args) => args,
        Err(error) => return Outcome::Arguments(error),
    };
    match catch_unwind(AssertUnwindSafe(|| J::call(args))) {
        Ok(value) => {
            let outcome = match encode(&value) {
                Ok(bytes) => Outcome::Value(bytes),
                Err(error) => Outcome::Result(error),
            };
            // The result's `Drop` is foreign code: its panic is the worker's
            // to contain; the value was computed and is delivered.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
                drop_quietly(payload);
            }
            outcome
        }
        Err(payload) => Outcome::Panicked(describe(payload)),
    }
}

/// A fingerprint of the executable's layout: the offsets of two functions of
/// this module, as the parent and the worker each see them. Equal in both
/// processes when both run the same image.
pub(super) fn layout() -> (isize, isize) {
    (
        entry::offset_of(run_item::<super::NoInitializer>),
        entry::offset_of_main(worker_main::<super::NoInitializer>),
    )
}
