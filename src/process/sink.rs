//! Where a job's outcome goes: the typed promise behind the type-erased
//! queue.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::ProcessError;
use super::wire::{Outcome, decode};
use crate::error::{Error, Panic};
use crate::future::SharedFuture;
use crate::promise::Promise;

/// The outcomes of one chunk's items.
pub(super) type ChunkOutcomes<T> = Vec<Result<T, Error>>;
/// The future of one chunk.
pub(super) type ChunkFuture<T> = SharedFuture<ChunkOutcomes<T>>;

/// Where a job's outcome goes: the typed promise behind the type-erased queue.
pub(super) trait Sink: Send {
    /// `set_running_or_notify_cancel`.
    fn start(&mut self) -> bool;
    /// The worker's outcomes, one per item.
    fn deliver(self: Box<Self>, outcomes: Vec<Outcome>);
    /// The whole job failed.
    fn fail(self: Box<Self>, error: Error);
    /// The job is cancelled before it started (`Promise::set_cancelled`).
    fn cancel(self: Box<Self>);
}

/// The promise of a `submit`.
pub(super) struct One<R> {
    pub(super) promise: Promise<R>,
}

impl<R: serde::de::DeserializeOwned + Send + 'static> Sink for One<R> {
    fn start(&mut self) -> bool {
        self.promise.set_running_or_notify_cancel()
    }

    fn deliver(self: Box<Self>, outcomes: Vec<Outcome>) {
        match outcomes.into_iter().next().map(item_result::<R>) {
            Some(Ok(value)) => {
                let _undelivered = self.promise.set_result(value);
            }
            Some(Err(error)) => self.promise.set_error(error),
            None => self.promise.set_error(no_outcome()),
        }
    }

    fn fail(self: Box<Self>, error: Error) {
        self.promise.set_error(error);
    }

    fn cancel(self: Box<Self>) {
        self.promise.set_cancelled();
    }
}

/// The promise of one `map` chunk: an outcome per item.
pub(super) struct Many<R> {
    pub(super) promise: Promise<Vec<Result<R, Error>>>,
    /// Items whose arguments could not be serialised here (sent as `None`).
    pub(super) unsent: Vec<(usize, String)>,
}

impl<R: serde::de::DeserializeOwned + Send + 'static> Sink for Many<R> {
    fn start(&mut self) -> bool {
        self.promise.set_running_or_notify_cancel()
    }

    fn deliver(self: Box<Self>, outcomes: Vec<Outcome>) {
        let Many { promise, unsent } = *self;
        let mut results: Vec<Result<R, Error>> =
            outcomes.into_iter().map(item_result::<R>).collect();
        for (index, message) in unsent {
            if let Some(slot) = results.get_mut(index) {
                *slot = Err(Error::Process(ProcessError::Arguments(message)));
            }
        }
        let _undelivered = promise.set_result(results);
    }

    fn fail(self: Box<Self>, error: Error) {
        self.promise.set_error(error);
    }

    fn cancel(self: Box<Self>) {
        self.promise.set_cancelled();
    }
}

/// One item's outcome, deserialised.
fn item_result<R: serde::de::DeserializeOwned>(outcome: Outcome) -> Result<R, Error> {
    match outcome {
        Outcome::Value(bytes) => {
            decode::<R>(&bytes).map_err(|message| Error::Process(ProcessError::Result(message)))
        }
        Outcome::Panicked(message) => Err(Error::Panicked(Panic::new(Box::new(message)))),
        Outcome::Arguments(message) => Err(Error::Process(ProcessError::Arguments(message))),
        Outcome::Result(message) => Err(Error::Process(ProcessError::Result(message))),
    }
}

fn no_outcome() -> Error {
    Error::Process(ProcessError::Result(String::from(
        "the worker sent no outcome",
    )))
}
