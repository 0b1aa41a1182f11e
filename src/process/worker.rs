//! The worker process's side: what crosses the pipe, and the loop that runs
//! in the child.
//!
//! Arguments and results cross as bytes that this module serialises itself
//! (postcard, the format ipc-channel uses), one buffer per item, so that one
//! item that cannot be serialised fails alone and the parent's queue holds no
//! job types. ipc-channel carries the messages:
//!
//! - parent → worker: a batch of jobs, `Vec<WireJob>` (each job one item, or
//!   a `map` chunk of several);
//! - worker → parent: first [`Reply::Ready`] (or [`Reply::InitFailed`]) once
//!   the initializer ran, then one [`Reply::Done`] per job, sent as soon as
//!   the job finished. Because results come back job by job, a worker that
//!   dies mid-batch tells the parent exactly which job it was running: the
//!   first without a reply.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::ipc::{IpcBytesReceiver, IpcSender};
use serde::{Deserialize, Serialize};

use super::ProcessFn;
use crate::error::Panic;

/// One job on the wire: the serialised arguments of its items (`None` for an
/// item whose arguments could not be serialised in the parent: not run).
#[derive(Serialize, Deserialize)]
pub(super) struct WireJob {
    pub(super) items: Vec<Option<Vec<u8>>>,
}

/// What a worker sends back.
#[derive(Serialize, Deserialize)]
pub(super) enum Reply {
    /// The initializer ran; jobs may come.
    Ready,
    /// The initializer panicked (the message) or its arguments could not be
    /// read; the worker exits.
    InitFailed(String),
    /// The outcomes of one job, one per item, in order.
    Done(Vec<Outcome>),
}

/// The outcome of one item.
#[derive(Serialize, Deserialize)]
pub(super) enum Outcome {
    /// The serialised result.
    Value(Vec<u8>),
    /// The function panicked; the panic message.
    Panicked(String),
    /// The arguments could not be deserialised here.
    Arguments(String),
    /// The result could not be serialised here.
    Result(String),
}

/// What a worker process is started with (procspawn serialises it, channels
/// included, into the child).
#[derive(Serialize, Deserialize)]
pub(super) struct WorkerArgs {
    /// Batches of jobs, `Vec<WireJob>` serialised by the parent.
    pub(super) jobs: IpcBytesReceiver,
    pub(super) replies: IpcSender<Reply>,
    /// The initializer's serialised arguments.
    pub(super) init_args: Vec<u8>,
}

/// Serialises a value for the wire; a panicking `Serialize` is an error too.
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    match catch_unwind(AssertUnwindSafe(|| postcard::to_allocvec(value))) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(alloc::format!(
            "Serialize panicked: {}",
            Panic::new(payload)
        )),
    }
}

/// Deserialises a value from the wire; a panicking `Deserialize` is an error
/// too.
pub(super) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(|| postcard::from_bytes(bytes))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(alloc::format!(
            "Deserialize panicked: {}",
            Panic::new(payload)
        )),
    }
}

/// The body of a worker process: runs the initializer `I`, then every job of
/// function `J` it is sent, until the parent closes the job channel.
///
/// procspawn starts the child with this function's address (a plain generic
/// function, marshalled by procspawn's documented `spawn`), so the child knows
/// `I` and `J` statically: no function pointer crosses the pipe.
pub(super) fn worker_main<I: ProcessFn<Output = ()>, J: ProcessFn>(args: WorkerArgs) {
    let WorkerArgs {
        jobs,
        replies,
        init_args,
    } = args;
    let ready = match decode::<I::Args>(&init_args) {
        Ok(init_args) => match catch_unwind(AssertUnwindSafe(|| I::call(init_args))) {
            Ok(()) => Reply::Ready,
            Err(payload) => Reply::InitFailed(alloc::format!(
                "the initializer panicked: {}",
                Panic::new(payload)
            )),
        },
        Err(error) => Reply::InitFailed(alloc::format!(
            "the initializer's arguments could not be read: {error}"
        )),
    };
    let failed = matches!(ready, Reply::InitFailed(_));
    if replies.send(ready).is_err() || failed {
        return;
    }
    // `recv` fails once the parent drops its sender (retirement, shutdown) or
    // dies: either way the worker is done.
    while let Ok(bytes) = jobs.recv() {
        // The parent serialised the batch itself; a batch that does not
        // decode would be a bug: exit, and the parent reports the jobs.
        let Ok(batch) = decode::<Vec<WireJob>>(&bytes) else {
            return;
        };
        for job in batch {
            let outcomes = job
                .items
                .iter()
                .map(|item| run_one::<J>(item.as_deref()))
                .collect();
            if replies.send(Reply::Done(outcomes)).is_err() {
                return;
            }
        }
    }
}

/// Runs one item: deserialise, call (catching a panic), serialise.
fn run_one<J: ProcessFn>(bytes: Option<&[u8]>) -> Outcome {
    let Some(bytes) = bytes else {
        // The parent reports its own serializer's message.
        return Outcome::Arguments(String::new());
    };
    let args = match decode::<J::Args>(bytes) {
        Ok(args) => args,
        Err(error) => return Outcome::Arguments(error),
    };
    match catch_unwind(AssertUnwindSafe(|| J::call(args))) {
        Ok(value) => match encode(&value) {
            Ok(bytes) => Outcome::Value(bytes),
            Err(error) => Outcome::Result(error),
        },
        Err(payload) => Outcome::Panicked(Panic::new(payload).to_string()),
    }
}
