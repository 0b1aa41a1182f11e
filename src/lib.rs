//! Python's `concurrent.futures` and easynetwork's `AsyncExecutor`, done
//! right in Rust.
//!
//! Thread and process pools with Python's `submit`, `map`, `wait`,
//! `as_completed` and `shutdown`; an async layer that awaits them from any
//! runtime; `scope` for jobs that borrow; and underneath, a lock-free
//! completion cell: a [`SharedFuture<T>`] and its [`Promise<T>`], made together
//! in one allocation, whose one atomic state word carries Python's states
//! (pending, running, cancelled, finished), which handles are alive, and a
//! waiter slot that serves async tasks and blocked threads alike. The protocol
//! is drawn and argued in the source of the `state` module and checked under
//! loom, interleaving by interleaving, in `loom-tests/`.
//!
//! # Examples
//!
//! ```
//! use concurrent_futures::{AsyncExecutor, Executor, MapOptions, ThreadPoolExecutor, as_completed};
//!
//! let pool = ThreadPoolExecutor::new(); // Python's ThreadPoolExecutor()
//! let futures: Vec<_> = (1..=4_u64).map(|n| pool.submit(move || n * n)).collect::<Result<_, _>>()?;
//! for (index, square) in as_completed(futures, None) {
//!     println!("job {index} gave {}", square?); // in the order the jobs finish
//! }
//! let bounded = MapOptions::new().buffer_size(8.try_into()?); // at most 8 jobs in flight
//! let total: u64 = pool.map_with(|n| n % 7, 1..=1_000_u64, bounded)?.sum::<Result<_, _>>()?;
//! let executor = AsyncExecutor::new(pool); // easynetwork's AsyncExecutor, for any runtime
//! let answer = futures::executor::block_on(executor.run(move || total + 42))?;
//! assert_eq!(answer, 3_045);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The cell itself, for producers of your own:
//!
//! ```
//! use concurrent_futures::{promise, Error};
//!
//! // A worker thread holds the producer and answers.
//! let (mut producer, mut future) = promise::<u64>();
//! let worker = std::thread::spawn(move || {
//!     if producer.set_running_or_notify_cancel() {
//!         producer.set_result((1..=20).product()).unwrap();
//!     }
//! });
//! assert_eq!(future.wait().unwrap(), 2_432_902_008_176_640_000);
//! worker.join().unwrap();
//!
//! // Cancelled before it started: the worker skips the work.
//! let (mut producer, mut future) = promise::<u64>();
//! assert!(future.cancel());
//! assert!(!producer.set_running_or_notify_cancel());
//! assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
//! ```
//!
//! The core is `no_std` + `alloc`; the default `std` feature adds blocking
//! waits and the pools.
//!
//! # Features
//!
//! - `std` (default): blocking waits, panic capture, `ThreadPoolExecutor`,
//!   `wait`, `as_completed`, `Executor::map`.
//! - `tracing`: `AsyncExecutor` jobs run inside the caller's `tracing` span.
//! - `rayon`: `RayonExecutor`, jobs on a given `rayon::ThreadPool`.
//! - `tokio`: `TokioBlockingExecutor`, jobs through `spawn_blocking`.
//! - `process` (Linux and macOS): the `process` module's
//!   `ProcessPoolExecutor`, jobs in worker processes with crash isolation.
//!
//! Coming from Python, tokio's `spawn_blocking` or `blocking::unblock`? See the
//! `migration` module.
//!
//! # Loom
//!
//! Built with `RUSTFLAGS="--cfg loom"`, every atomic, cell, allocation and thread
//! park in this crate is loom's, so a downstream crate's own loom models see our
//! internals too.
#![no_std]
// The unsafe code lives in the core (`cell/`) and the shim (`sync`); the four
// exceptions elsewhere are allowed by name: the scope's lifetime erasure
// (`Scope::submit`), `UnwrapFuture::into_inner` (a move out of a `Drop` type),
// `Panic`'s `Sync`, and the process pool's `entry::resolve` (a job's function
// named by its offset in the executable, as procspawn names a spawn's).
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(any(feature = "std", loom))]
extern crate std;

pub mod async_executor;
#[cfg(feature = "std")]
mod backoff;
#[allow(unsafe_code)]
mod cell;
mod error;
pub mod executor;
#[cfg(feature = "std")]
pub mod migration;
#[cfg(all(feature = "process", unix, not(loom)))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "process", unix))))]
pub mod process;
/// The process pool's bookkeeping (a state machine without I/O), built under
/// `--cfg loom` for `loom-tests/tests/process_book.rs`; not part of the API.
#[cfg(all(loom, feature = "std"))]
#[doc(hidden)]
#[path = "process/book.rs"]
pub mod process_book;
#[allow(unsafe_code)]
mod sync;
#[cfg(feature = "std")]
mod wait;

// The core's modules under their short names, for the layers above.
#[cfg(feature = "std")]
use cell::fan_in;
use cell::{future, job, lease, promise, raw, state, waiter};

pub use async_executor::{AsyncExecutor, MapStream, UnwrapFuture, unwrap_future};

/// The README's code blocks, run as doctests (the first screen is real use).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
#[cfg(feature = "std")]
pub use async_executor::{AsCompletedStream, MapUnorderedStream};
#[cfg(all(feature = "std", not(loom)))]
pub use async_executor::{default_executor, run_blocking};
pub use error::{Error, Panic, Undelivered, UndeliveredReason};
#[cfg(feature = "std")]
pub use executor::BrokenError;
#[cfg(feature = "std")]
pub use executor::JobOptions;
#[cfg(feature = "rayon")]
pub use executor::RayonExecutor;
pub use executor::SubmitError;
#[cfg(feature = "tokio")]
pub use executor::TokioBlockingExecutor;
#[cfg(feature = "std")]
pub use executor::{
    BuildError, Map, MapOptions, MapUnordered, Scope, ScopeError, ThreadPoolBuilder,
    ThreadPoolExecutor, scope,
};
pub use executor::{CancelFutures, Executor, InlineExecutor, Job};
pub use future::{SharedFuture, State};
pub use promise::{Promise, StopSignal, StopToken, promise};
#[cfg(feature = "std")]
pub use wait::{AsCompleted, ReturnWhen, Waited, as_completed, wait};
