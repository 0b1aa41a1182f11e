//! What crosses the pipes between the pool and a worker process, and how it
//! is serialised. See [`worker`](super::worker) for the five channels.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use crate::executor::lifecycle::drop_quietly;

/// One job on the wire: which function, and the serialised arguments of its
/// items (`None` for an item whose arguments could not be serialised in the
/// parent: not run).
#[derive(Serialize, Deserialize)]
pub(super) struct WireJob {
    /// The function's [offset](super::entry::offset_of): `run_item::<J>`.
    pub(super) entry: isize,
    pub(super) items: Vec<Option<Vec<u8>>>,
}

/// What a worker sends back.
#[derive(Serialize, Deserialize)]
pub(super) enum Reply {
    /// The initializer ran; jobs may come.
    Ready,
    /// The initializer panicked (the message), its arguments could not be
    /// read, or the worker runs another executable than the parent; the
    /// worker exits.
    InitFailed(String),
    /// The outcomes of one job, one per item, in order; `next_started`: the
    /// worker has already taken its next job from the pipe and begins it
    /// right after this reply (so that job sends no start signal).
    Done {
        outcomes: Vec<Outcome>,
        next_started: bool,
    },
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
    pub(super) jobs: IpcBytesReceiver,
    /// The messages of large jobs, each announced by an empty message on
    /// `jobs`.
    pub(super) large_jobs: IpcReceiver<IpcSharedMemory>,
    pub(super) started: IpcBytesSender,
    pub(super) replies: IpcSender<Reply>,
    pub(super) lifeline: IpcBytesReceiver,
    /// The parent's process id, to notice a parent that died before the
    /// worker asked to be told.
    pub(super) parent: u32,
    /// The parent's [`entry::layout`].
    pub(super) layout: (isize, isize),
    /// The initializer's serialised arguments.
    pub(super) init_args: Vec<u8>,
}

/// The text of a panic payload, then the payload dropped (quietly: its `Drop`
/// is foreign code).
pub(super) fn describe(payload: alloc::boxed::Box<dyn core::any::Any + Send>) -> String {
    let text = if let Some(text) = payload.downcast_ref::<&'static str>() {
        String::from(*text)
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("Box<dyn Any>")
    };
    drop_quietly(payload);
    text
}

/// Serialises a value for the wire; a panicking `Serialize` is an error too.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    match catch_unwind(AssertUnwindSafe(|| postcard::to_allocvec(value))) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(alloc::format!("Serialize panicked: {}", describe(payload))),
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
            describe(payload)
        )),
    }
}
