//! Python's `ProcessPoolExecutor` (feature `process`, Linux and macOS): jobs
//! run in worker processes, so a job that aborts, overflows its stack, leaks or
//! corrupts memory cannot take the caller down.
//!
//! Rust threads have no GIL; what processes still give a Rust program is
//! **isolation**. Python fails the whole pool when one worker dies
//! (`BrokenProcessPool`); here only the job that worker was running fails, with
//! [`ProcessError::WorkerDied`] naming the signal or exit status, and the
//! worker is replaced.
//!
//! # The `init()` rule
//!
//! Worker processes are this same executable, started again by
//! [`procspawn`](https://docs.rs/procspawn). Call [`init`] as the **first
//! thing in `main`**: in a worker process it never returns (the worker serves
//! jobs, then exits), and whatever `main` does before it runs again in every
//! worker (printing, parsing arguments, opening files). In tests, use
//! `procspawn::enable_test_support!()` once per test binary instead (procspawn's
//! `test-support` feature).
//!
//! Sending to a worker that has just died is how the pool notices some deaths;
//! ipc-channel does not mask `SIGPIPE` there, and Rust programs ignore
//! `SIGPIPE` by default (the runtime sets it so before `main`). A program that
//! restores its default action (`-Zon-broken-pipe=kill`, or `signal(SIGPIPE,
//! SIG_DFL)`) should not use this pool.
//!
//! # Jobs are declared with [`process_fn!`]
//!
//! A job is a function that captures nothing, with serialisable arguments and
//! result (serde). A closure cannot cross a process boundary, and neither can
//! a function pointer without `unsafe`; so [`process_fn!`] turns a function
//! into a unit type implementing [`ProcessFn`]. `pool.submit(pow, (3, 4))`
//! then reads like Python's `executor.submit(pow, 3, 4)`. A job names its
//! function by its place in the executable (the worker is the same
//! executable, as Python's worker imports the function by its qualified
//! name), so every worker process runs every job function: `max_workers`
//! counts the pool's processes, as in Python, started lazily and shared by
//! every function.
//!
//! # The pool's layout
//!
//! - `pool`: the handle, submits, shutdown; `builder`: its configuration;
//!   `map` and `unordered`: the maps;
//! - `book`: the bookkeeping as a state machine without I/O (queue, idle
//!   dispatchers, shutdown, stopping, termination, live pids), loom-modelled;
//! - `dispatch`: the threads that feed the worker processes, one per process;
//!   `os`: spawning, signalling and reaping;
//! - `worker`: the worker process's side and the wire format; `entry`: how a
//!   job names its function.
//!
//! # Async: the same `AsyncExecutor`
//!
//! [`ProcessPoolExecutor`] does not implement [`Executor`](crate::Executor):
//! that trait's jobs are closures, which cannot cross a process boundary. The
//! async layer wraps it all the same, as easynetwork's
//! `AsyncExecutor(ProcessPoolExecutor())`: `AsyncExecutor::new(pool)` has
//! `run(f, args)`, `map(f, items)` and `map_with(f, items, options)` as
//! streams, `shutdown(cancel).await`, `shutdown_nowait`, `wrapped()`, and the
//! same cancellation rules (dropping a `run` future cancels a job no worker
//! has taken). Its futures are this crate's
//! [`SharedFuture`](crate::SharedFuture)s: await them directly, or through
//! [`unwrap_future`](crate::unwrap_future), from any runtime.
//!
//! # Examples
//!
//! ```rust,standalone_crate
//! use concurrent_futures::process::{self, ProcessPoolExecutor};
//!
//! process::process_fn! {
//!     /// Python's `pow(base, exp)`.
//!     fn pow(base: u64, exp: u32) -> u64 {
//!         base.pow(exp)
//!     }
//! }
//!
//! fn main() {
//!     process::init(); // first: workers start here and never return
//!     let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
//!     let mut futures: Vec<_> =
//!         [(3, 4), (12, 2)].into_iter().map(|args| pool.submit(pow, args).unwrap()).collect();
//!     let results: Vec<u64> = futures.iter_mut().map(|f| f.wait().unwrap()).collect();
//!     assert_eq!(results, [81, 144]);
//!     pool.shutdown(concurrent_futures::CancelFutures::No);
//! }
//! ```

mod async_pool;
pub(crate) mod book;
mod builder;
mod dispatch;
mod entry;
mod error;
mod map;
mod os;
mod pool;
mod sink;
mod unordered;
mod wire;
mod worker;

pub use builder::{ProcessBuildError, ProcessPoolBuilder};
pub use error::{Exit, ProcessError};
pub use map::{ProcessMap, ProcessMapStream};
pub use pool::ProcessPoolExecutor;
pub use unordered::{ProcessMapUnordered, ProcessMapUnorderedStream};

/// Re-exported for [`process_fn!`]'s expansion.
#[doc(hidden)]
pub use serde as __serde;

/// A function that can run in a worker process: a type with an associated
/// function (no `self`, so nothing is captured), serialisable arguments and a
/// serialisable result. Usually written with [`process_fn!`].
///
/// # Examples
///
/// By hand (what [`process_fn!`] writes):
///
/// ```
/// use concurrent_futures::process::ProcessFn;
///
/// struct Double;
/// impl ProcessFn for Double {
///     type Args = u64;
///     type Output = u64;
///     fn call(x: u64) -> u64 {
///         x * 2
///     }
/// }
/// assert_eq!(Double::call(21), 42);
/// ```
pub trait ProcessFn: 'static {
    /// The arguments, serialised in the caller and deserialised in the worker
    /// (a tuple for several).
    type Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
    /// The result, serialised in the worker and deserialised in the caller.
    type Output: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
    /// Runs the function (in a worker process, when submitted to a pool).
    fn call(args: Self::Args) -> Self::Output;
}

/// The initializer of a pool without one: does nothing.
///
/// ```
/// use concurrent_futures::process::{NoInitializer, ProcessFn};
/// NoInitializer::call(());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInitializer;

impl ProcessFn for NoInitializer {
    type Args = ();
    type Output = ();
    fn call((): ()) {}
}

/// Declares functions that can run in a [`ProcessPoolExecutor`]: each
/// `fn name(a: A, b: B) -> R { ... }` becomes a unit value `name` whose type
/// implements [`ProcessFn`] with `Args = (A, B)` (just `A` for one argument)
/// and `Output = R`. Being a unit struct, `name` cannot also be a local
/// variable's name in the same scope. Submit it as `pool.submit(name, (a, b))`; call it
/// locally as `ProcessFn::call` (or `<name as ProcessFn>::call((a, b))`).
///
/// # Examples
///
/// ```
/// use concurrent_futures::process::{ProcessFn, process_fn};
///
/// process_fn! {
///     /// Python's `pow(base, exp)`.
///     pub fn pow(base: u64, exp: u32) -> u64 {
///         base.pow(exp)
///     }
///
///     fn shout(text: String) -> String {
///         text.to_uppercase()
///     }
/// }
///
/// assert_eq!(<pow as ProcessFn>::call((3, 4)), 81);
/// assert_eq!(<shout as ProcessFn>::call("hi".into()), "HI");
/// ```
#[macro_export]
macro_rules! process_fn {
    () => {};
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident ( $arg:ident : $ty:ty $(,)? ) -> $ret:ty $body:block
        $($rest:tt)*
    ) => {
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        impl $crate::process::ProcessFn for $name {
            type Args = $ty;
            type Output = $ret;
            fn call($arg: $ty) -> $ret $body
        }

        $crate::process_fn! { $($rest)* }
    };
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty $body:block
        $($rest:tt)*
    ) => {
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        impl $crate::process::ProcessFn for $name {
            type Args = ($($ty,)*);
            type Output = $ret;
            #[allow(unused_parens)]
            fn call(($($arg,)*): ($($ty,)*)) -> $ret $body
        }

        $crate::process_fn! { $($rest)* }
    };
}

pub use crate::process_fn;

/// Starts procspawn: call it as the **first thing in `main`**. In a worker
/// process it runs the worker and never returns; in the parent it returns at
/// once. Everything `main` does before this call runs again in every worker.
/// (This is `procspawn::init()`.)
///
/// ```no_run
/// concurrent_futures::process::init(); // the first line of `main`
/// // Application setup starts here, after the call.
/// ```
pub fn init() {
    // procspawn's marker of a process it started (its `ENV_NAME`).
    if std::env::var_os("__PROCSPAWN_CONTENT_PROCESS_ID").is_some() {
        worker::quiet_when_orphaned();
    }
    procspawn::init();
}
