//! The core: the completion cell behind every `SharedFuture`, and all of the
//! crate's unsafe code but a handful of blocks.
//!
//! - `state`: the one atomic state word and every transition on it, drawn and
//!   argued (who may touch which field in which state, each race walked
//!   through).
//! - `raw`: the single allocation (state word, waiter slot, outcome slot) and
//!   the slot operations that follow the protocol.
//! - `waiter`: the one waiter slot's contents: an async task, a blocked
//!   thread, a done callback, or a fan-in (`fan_in`: one thread waiting on many
//!   futures, told which one finished).
//! - `future`, `promise`: the consumer and producer handles.
//! - `job`: a closure appended to its future's own cell (one allocation per
//!   submitted job), type-erased for executors.
//! - `lease`: the function of a `map`, shared by its jobs without an atomic
//!   operation per submit.
//!
//! An audit of the unsafe code reads this folder; outside it, the scope's one
//! call of `Job::new_scoped` is the only `unsafe` block of the executors and
//! the async layer.

#[cfg(feature = "std")]
pub(crate) mod fan_in;
pub(crate) mod future;
pub(crate) mod job;
pub(crate) mod lease;
pub(crate) mod promise;
pub(crate) mod raw;
pub(crate) mod state;
pub(crate) mod waiter;
