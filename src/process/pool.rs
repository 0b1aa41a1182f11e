//! [`ProcessPoolExecutor`]: Python's `ProcessPoolExecutor`, with crash
//! isolation.
//!
//! # Design
//!
//! One mutex guards the pool's bookkeeping: per job function (a *group*), a
//! FIFO queue and its idle dispatchers; per dispatcher, a *seat* with its own
//! condition variable. Each worker process has a **dispatcher thread** in the
//! parent that owns it:
//!
//! - it waits for work on its group's queue; with work and no live process,
//!   it starts one (`procspawn::spawn` of `worker_main::<I, J>` with two ipc
//!   channels) and waits for the initializer's `Ready`;
//! - it takes a batch (up to [`MAX_BATCH`] jobs, a fair share of the queue,
//!   and no more than the worker may still run under `max_tasks_per_child`),
//!   marks each job running with `set_running_or_notify_cancel` (a job
//!   cancelled meanwhile is skipped: cancel works until a worker takes the
//!   job), and sends the batch in one message;
//! - it receives one reply per job, in order, and completes each future as
//!   its reply comes;
//! - when the reply channel breaks, the worker is dead: it reaps the process
//!   (`waitpid`: signal or exit status), fails **the job it was running** with
//!   [`ProcessError::WorkerDied`], puts the batch's jobs that had not started
//!   back at the front of the queue (already running, they are not run twice:
//!   no reply means no run), and starts a new worker for them;
//! - after `max_tasks_per_child` jobs it closes the worker's job channel (the
//!   worker exits by itself) and starts a new one when there is work.
//!
//! A submit never blocks on a process: it queues the job and, if a dispatcher
//! of that function is idle with a live worker, sends the job to that worker
//! itself (under the lock, marked running) and wakes the dispatcher, which
//! then only waits for the reply: its wake-up overlaps the worker's run
//! instead of preceding it. Otherwise it wakes an idle dispatcher or starts a
//! new one (threads and processes start lazily, up to `max_workers` per job
//! function). Every pid is kept in the bookkeeping and
//! removed, under the lock, before the process is reaped, so `kill_workers`
//! never signals a recycled pid. Shutdown sets a flag and wakes every
//! dispatcher; each exits once its queue is empty, after its worker has
//! exited. The last one out completes the `terminated` futures.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::any::TypeId;
use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::IpcError;
use ipc_channel::ipc::{self, IpcBytesSender, IpcReceiver};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::ProcessFn;
use super::error::{Exit, ProcessError};
use super::map::{ChunkFuture, Chunks, ProcessMap};
use super::unordered::ProcessMapUnordered;
use super::worker::{Outcome, Reply, WireJob, WorkerArgs, decode, encode, worker_main};
use crate::error::{BrokenError, Error, Panic, SubmitError};
use crate::executor::lifecycle::{self, Inside, Latch, Released};
use crate::executor::{CancelFutures, MapOptions};
use crate::future::SharedFuture;
use crate::promise::{Promise, promise};
use crate::sync::{Arc, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, thread};

/// The most jobs a dispatcher hands its worker in one message. Python marks
/// `max_workers + 1` jobs running ahead of the workers; batching more makes
/// small jobs cheap (one message for many) at the price of marking them
/// running earlier: a job in a batch can no longer be cancelled.
const MAX_BATCH: usize = 32;

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

/// A pool of worker processes that run submitted jobs: Python's
/// `concurrent.futures.ProcessPoolExecutor`, with crash isolation.
///
/// - [`submit`](Self::submit) returns this crate's [`SharedFuture`]: pending,
///   then running once the job is handed to a worker process (cancel works
///   until then), then done. When the queue is long, a worker is handed a
///   batch of up to 32 jobs at once, all marked running (Python likewise marks
///   running the calls it moves to its call queue).
/// - A job that panics reports [`Error::Panicked`] with its message; a worker
///   that dies (abort, signal, `exit`, stack overflow, `kill -9` from outside)
///   fails only the job it was running, with
///   [`Error::Process`]`(`[`ProcessError::WorkerDied`]`)` naming the signal or
///   exit status, and is replaced; an argument or result that cannot be
///   serialised fails its own future with [`ProcessError::Arguments`] or
///   [`ProcessError::Result`]. The pool goes on in every case.
/// - `Init` is the type of the initializer (see
///   [`ProcessPoolBuilder::initializer`]); [`NoInitializer`] by default.
///
/// The program must call [`init`](super::init) first in `main` (see the
/// [module documentation](super)).
///
/// # Done callbacks
///
/// A done callback of a job runs on the dispatcher thread of the worker
/// process that ran the job, before that dispatcher reads the next reply of
/// its batch (Python runs callbacks on its queue-management thread likewise):
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
    shared: Arc<Shared>,
    initializer: PhantomData<fn() -> Init>,
}

/// Starts a worker process for one job function: `spawn_worker::<I, J>`.
type SpawnFn = fn(&[u8]) -> Result<Worker, ProcessError>;

struct Shared {
    /// `ProcessPoolExecutor` handles alive; the last one dropped shuts down.
    handles: AtomicUsize,
    state: Mutex<PoolState>,
    max_workers: usize,
    max_tasks_per_child: Option<NonZeroUsize>,
    /// The initializer's serialised arguments.
    init_args: Vec<u8>,
}

#[derive(Default)]
struct PoolState {
    groups: Vec<Group>,
    /// Dispatcher threads alive, in every group.
    dispatchers: usize,
    /// Dispatcher threads ever started, for their names.
    started: usize,
    shutdown: bool,
    /// `terminate_workers` or `kill_workers` was called: no worker is started
    /// again, and the jobs of a killed worker fail instead of being re-queued.
    stopping: bool,
    broken: Option<BrokenError>,
    terminated: Latch,
    /// Live worker processes (not reaped yet), for `terminate_workers`.
    pids: Vec<u32>,
    /// Every dispatcher's seat, by its number.
    seats: Vec<Seat>,
    /// Dispatcher threads to join in `shutdown`.
    handles: Vec<thread::JoinHandle<()>>,
}

/// The queue and dispatchers of one job function.
struct Group {
    job_type: TypeId,
    spawn: SpawnFn,
    queue: VecDeque<Queued>,
    /// Dispatchers of this group alive.
    workers: usize,
    /// The seats of this group's dispatchers that wait for work, most
    /// recently idle last (taken first: its worker is the warmest).
    idle: Vec<usize>,
}

/// One dispatcher's place in the bookkeeping: how a submit hands it work.
struct Seat {
    /// Waiting on `ready` for work; cleared by whoever wakes it.
    idle: bool,
    /// While idle with a live worker: a clone of that worker's job channel,
    /// so that a submit can send its job to the worker itself, and the
    /// dispatcher's wake-up overlaps the worker's run.
    jobs: Option<IpcBytesSender>,
    /// A job sent that way: the dispatcher receives its reply.
    handed: Option<Vec<Queued>>,
    ready: Arc<Condvar>,
}

/// A job in a queue: its serialised arguments and where its outcome goes.
struct Queued {
    job: WireJob,
    /// Marked running already (a job re-queued after its worker died).
    started: bool,
    sink: Box<dyn Sink>,
}

/// A worker process and its channels, owned by one dispatcher.
struct Worker {
    handle: procspawn::JoinHandle<()>,
    pid: u32,
    jobs: IpcBytesSender,
    replies: IpcReceiver<Reply>,
    /// Jobs it has run, for `max_tasks_per_child`.
    done: usize,
}

/// Where a job's outcome goes: the typed promise behind the type-erased queue.
trait Sink: Send {
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
struct One<R> {
    promise: Promise<R>,
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
struct Many<R> {
    promise: Promise<Vec<Result<R, Error>>>,
    /// Items whose arguments could not be serialised here (sent as `None`).
    unsent: Vec<(usize, String)>,
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

/// Why a [`ProcessPoolBuilder`] could not build a pool.
///
/// ```
/// use concurrent_futures::process::{ProcessBuildError, ProcessPoolExecutor};
/// let error = ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(error, ProcessBuildError::ZeroWorkers);
/// assert_eq!(error.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessBuildError {
    /// `max_workers` was 0: Python's `ValueError`.
    ZeroWorkers,
    /// `max_tasks_per_child` was 0: Python's `ValueError`.
    ZeroTasksPerChild,
    /// The initializer's arguments could not be serialised (the serializer's
    /// message).
    InitializerArguments(String),
}

impl fmt::Display for ProcessBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessBuildError::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
            ProcessBuildError::ZeroTasksPerChild => {
                f.write_str("max_tasks_per_child must be greater than 0")
            }
            ProcessBuildError::InitializerArguments(message) => {
                write!(
                    f,
                    "the initializer's arguments could not be serialised: {message}"
                )
            }
        }
    }
}

impl core::error::Error for ProcessBuildError {}

/// Configures a [`ProcessPoolExecutor`].
///
/// ```
/// use concurrent_futures::process::ProcessPoolExecutor;
/// let pool = ProcessPoolExecutor::builder().max_workers(2).max_tasks_per_child(100).build().unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder<Init: ProcessFn<Output = ()> = NoInitializer> {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    init_args: Init::Args,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            init_args: (),
        }
    }
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolBuilder<Init> {
    /// The most worker processes per job function. Default: the number of
    /// cores (Python's `os.process_cpu_count()`). Zero is refused by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::process::ProcessPoolExecutor;
    /// assert!(ProcessPoolExecutor::builder().max_workers(0).build().is_err());
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// A worker process is replaced by a fresh one after it has run this many
    /// jobs (Python's `max_tasks_per_child`; a `map` chunk counts as one job).
    /// Default: never. Zero is refused by [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::process::{ProcessBuildError, ProcessPoolExecutor};
    /// let error = ProcessPoolExecutor::builder().max_tasks_per_child(0).build().unwrap_err();
    /// assert_eq!(error, ProcessBuildError::ZeroTasksPerChild);
    /// ```
    pub fn max_tasks_per_child(mut self, tasks: usize) -> Self {
        self.max_tasks_per_child = Some(tasks);
        self
    }

    /// Runs `initializer(args)` in each worker process before its first job
    /// (Python's `initializer` and `initargs`). If it panics, the pool becomes
    /// broken, as Python's `BrokenProcessPool`: queued jobs fail with
    /// [`Error::Broken`] and later submits are refused with
    /// [`SubmitError::Broken`].
    ///
    /// ```rust,standalone_crate
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    ///
    /// static SEED: AtomicU64 = AtomicU64::new(0);
    /// process::process_fn! {
    ///     fn set_seed(seed: u64) -> () { SEED.store(seed, Ordering::Relaxed) }
    ///     fn read_seed() -> u64 { SEED.load(Ordering::Relaxed) }
    /// }
    ///
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::builder().initializer(set_seed, 7).build().unwrap();
    ///     assert_eq!(pool.submit(read_seed, ()).unwrap().wait().unwrap(), 7);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn initializer<F: ProcessFn<Output = ()>>(
        self,
        initializer: F,
        args: F::Args,
    ) -> ProcessPoolBuilder<F> {
        let _ = initializer;
        ProcessPoolBuilder {
            max_workers: self.max_workers,
            max_tasks_per_child: self.max_tasks_per_child,
            init_args: args,
        }
    }

    /// Builds the pool. No process starts until the first job is submitted.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::builder().build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor<Init>, ProcessBuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(ProcessBuildError::ZeroWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        let max_tasks_per_child = match self.max_tasks_per_child {
            Some(0) => return Err(ProcessBuildError::ZeroTasksPerChild),
            Some(n) => NonZeroUsize::new(n),
            None => None,
        };
        let init_args = encode(&self.init_args).map_err(ProcessBuildError::InitializerArguments)?;
        Ok(ProcessPoolExecutor {
            shared: Arc::new(Shared {
                handles: AtomicUsize::new(1),
                state: Mutex::new(PoolState::default()),
                max_workers,
                max_tasks_per_child,
                init_args,
            }),
            initializer: PhantomData,
        })
    }
}

impl<Init: ProcessFn<Output = ()>> fmt::Debug for ProcessPoolBuilder<Init> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("initializer", &core::any::type_name::<Init>())
            .finish()
    }
}

impl ProcessPoolExecutor {
    /// A pool with the default configuration: up to one worker process per
    /// core for each job function, no initializer.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(pool.max_workers() >= 1);
    /// ```
    pub fn new() -> Self {
        ProcessPoolBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// A builder for a configured pool.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }
}

impl Default for ProcessPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl<Init: ProcessFn<Output = ()>> ProcessPoolExecutor<Init> {
    /// The most worker processes per job function.
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
        self.shared.lock().pids.len()
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
        let job = WireJob {
            items: alloc::vec![Some(bytes)],
        };
        self.enqueue::<J>(job, Box::new(One { promise }))?;
        Ok(future)
    }

    /// Submits one `map` chunk: `J` over every item, one future for all.
    pub(super) fn submit_chunk<J: ProcessFn>(
        &self,
        chunk: Vec<J::Args>,
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
        let (promise, future) = promise();
        self.enqueue::<J>(WireJob { items }, Box::new(Many { promise, unsent }))?;
        Ok(future)
    }

    /// Python's `map(fn, iterable, chunksize=1)`: runs `f` on every item in
    /// worker processes and yields the results in input order. Every item is
    /// submitted now (one job per item); see [`map_with`](Self::map_with) for
    /// a chunk size, a bound and a timeout. The result is a blocking
    /// [`Iterator`]; [`ProcessMap::into_stream`] makes it a
    /// [`Stream`](futures_core::Stream).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn cube(x: u64) -> u64 { x * x * x }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let cubes: Vec<u64> = pool.map(cube, 1..=4).unwrap().map(Result::unwrap).collect();
    ///     assert_eq!(cubes, [1, 8, 27, 64]);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map<J, I>(&self, f: J, items: I) -> Result<ProcessMap<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](Self::map) with [`MapOptions`]: Python's `chunksize` (items
    /// per job, so small jobs share one round trip), a bound on the jobs
    /// (chunks) in flight (Python 3.14's `buffersize`) and an overall timeout.
    ///
    /// # Errors
    ///
    /// The pool's refusal of the first chunks ([`SubmitError`]).
    ///
    /// ```rust,standalone_crate
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::MapOptions;
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn double(x: u64) -> u64 { x * 2 }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let options = MapOptions::new()
    ///         .chunk_size(NonZeroUsize::new(256).unwrap())
    ///         .buffer_size(NonZeroUsize::new(4).unwrap());
    ///     let sum: u64 = pool.map_with(double, 0..10_000, options).unwrap().map(Result::unwrap).sum();
    ///     assert_eq!(sum, 99_990_000);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMap<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        let _ = f;
        ProcessMap::new(
            self.clone(),
            Chunks::new(items.into_iter(), options.chunk()),
            options,
        )
    }

    /// Python's `multiprocessing.Pool.imap_unordered(func, iterable)`: runs
    /// `f` on every item in worker processes and yields
    /// `(index, Result<T, Error>)` as each job finishes, `index` being the
    /// item's position in the input. Every item is submitted now (one job
    /// per item); see [`map_unordered_with`](Self::map_unordered_with) for a
    /// chunk size, a bound and a timeout. [`ProcessMapUnordered::into_stream`]
    /// makes it a [`Stream`](futures_core::Stream).
    ///
    /// # Errors
    ///
    /// The pool's refusal of the first items ([`SubmitError`]); each item
    /// then yields `Ok(value)` or its [`Error`] (`Panicked`, `Process(..)`
    /// when its worker died, `Cancelled`, ...).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn cube(x: u64) -> u64 { x * x * x }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let mut cubes: Vec<(usize, u64)> = pool
    ///         .map_unordered(cube, 1..=4)
    ///         .unwrap()
    ///         .map(|(index, value)| (index, value.unwrap()))
    ///         .collect();
    ///     cubes.sort();
    ///     assert_eq!(cubes, [(0, 1), (1, 8), (2, 27), (3, 64)]);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_unordered<J, I>(
        &self,
        f: J,
        items: I,
    ) -> Result<ProcessMapUnordered<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_unordered_with(f, items, MapOptions::new())
    }

    /// [`map_unordered`](Self::map_unordered) with [`MapOptions`]:
    /// `chunk_size` items per job (the results of a chunk are yielded
    /// together, when it finishes, in input order), at most `buffer_size`
    /// chunks submitted and not fully yielded, and an overall `timeout` from
    /// this call: when nothing finished by then, one `Err(Error::Timeout)`
    /// (for the lowest input index not yielded), the chunks not started
    /// cancelled, and the end, as [`map_with`](Self::map_with).
    ///
    /// # Errors
    ///
    /// As [`map_unordered`](Self::map_unordered).
    ///
    /// ```rust,standalone_crate
    /// use std::num::NonZeroUsize;
    /// use concurrent_futures::MapOptions;
    /// use concurrent_futures::process::{self, ProcessPoolExecutor};
    /// process::process_fn! {
    ///     fn double(x: u64) -> u64 { x * 2 }
    /// }
    /// fn main() {
    ///     process::init();
    ///     let pool = ProcessPoolExecutor::new();
    ///     let options = MapOptions::new()
    ///         .chunk_size(NonZeroUsize::new(256).unwrap())
    ///         .buffer_size(NonZeroUsize::new(4).unwrap());
    ///     let sum: u64 = pool
    ///         .map_unordered_with(double, 0..10_000, options)
    ///         .unwrap()
    ///         .map(|(_, value)| value.unwrap())
    ///         .sum();
    ///     assert_eq!(sum, 99_990_000);
    ///     pool.shutdown(concurrent_futures::CancelFutures::No);
    /// }
    /// ```
    pub fn map_unordered_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMapUnordered<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        let _ = f;
        ProcessMapUnordered::new(
            self.clone(),
            Chunks::new(items.into_iter(), options.chunk()),
            options,
        )
    }

    /// Queues a job of function `J`, and wakes or starts a dispatcher for it.
    fn enqueue<J: ProcessFn>(&self, job: WireJob, sink: Box<dyn Sink>) -> Result<(), SubmitError> {
        let shared = &self.shared;
        let mut state = shared.lock();
        if let Some(broken) = &state.broken {
            return Err(SubmitError::Broken(broken.clone()));
        }
        if state.shutdown {
            return Err(SubmitError::Shutdown);
        }
        let index = state.group_of(TypeId::of::<J>(), spawn_worker::<Init, J>);
        let group = &mut state.groups[index];
        group.queue.push_back(Queued {
            job,
            started: false,
            sink,
        });
        if let Some(seat) = group.idle.pop() {
            state.hand_off(index, seat);
            return Ok(());
        }
        if group.workers >= shared.max_workers {
            // Every dispatcher is busy; one of them will take the job.
            return Ok(());
        }
        // The dispatcher is spawned, counted and its handle stored in one
        // critical section: a shutdown never sees one without the others.
        let number = state.started;
        let for_thread = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(alloc::format!("ProcessPoolExecutor_{number}"))
            .spawn(move || dispatcher(for_thread, index, number));
        match spawned {
            Ok(handle) => {
                state.groups[index].workers += 1;
                state.dispatchers += 1;
                state.started += 1;
                state.seats.push(Seat {
                    idle: false,
                    jobs: None,
                    handed: None,
                    ready: Arc::new(Condvar::new()),
                });
                state.handles.push(handle);
            }
            Err(error) => {
                // With no dispatcher for this function, nobody would run what
                // is queued: fail it rather than leave it hanging.
                let group = &mut state.groups[index];
                let stranded = if group.workers == 0 {
                    core::mem::take(&mut group.queue)
                } else {
                    VecDeque::new()
                };
                let released = take_if_terminated(&mut state);
                drop(state);
                for queued in stranded {
                    finish(queued.sink, Error::Spawn(error.kind()));
                }
                released.complete();
            }
        }
        Ok(())
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
        if cancel.stops_running() {
            self.stop_workers(Signal::SIGTERM);
            return;
        }
        self.begin_shutdown(cancel.cancels_queued());
    }

    /// Refuses new jobs, and cancels the queued ones if `cancel_queued`.
    fn begin_shutdown(&self, cancel_queued: bool) {
        let mut state = self.shared.lock();
        state.shutdown = true;
        let mut cancelled = Vec::new();
        for group in &mut state.groups {
            if cancel_queued {
                // Jobs re-queued after their worker died are running already:
                // they stay.
                let (started, queued): (VecDeque<_>, VecDeque<_>) =
                    core::mem::take(&mut group.queue)
                        .into_iter()
                        .partition(|q| q.started);
                group.queue = started;
                cancelled.extend(queued);
            }
        }
        state.wake_idle();
        let released = take_if_terminated(&mut state);
        drop(state);
        // Dropping a queued promise would report `Abandoned`: cancel it.
        for queued in cancelled {
            cancel(queued.sink);
        }
        released.complete();
    }

    /// `true` once shutdown has begun.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(!pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.lock().shutdown
    }

    /// `true` once a worker's initializer has failed.
    ///
    /// ```
    /// let pool = concurrent_futures::process::ProcessPoolExecutor::new();
    /// assert!(!pool.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.shared.lock().broken.is_some()
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
        self.shared.lock().terminated.future()
    }

    /// The address that marks this pool's dispatcher threads.
    fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
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
        let handles = core::mem::take(&mut self.shared.lock().handles);
        for handle in handles {
            // A dispatcher catches the panics it can meet; a join error is
            // not expected, and there is nothing to do with one but go on.
            let _ = handle.join();
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
        self.shared.lock().stopping = true;
        self.begin_shutdown(true);
        let state = self.shared.lock();
        // Signalled under the lock: a pid leaves `pids` (under the lock)
        // before it is reaped, so it cannot have been recycled.
        for &pid in &state.pids {
            if let Some(pid) = to_pid(pid) {
                let _ = kill(pid, signal);
            }
        }
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
        // ORDERING: relaxed, as `Arc::clone`: made from a live handle, and the
        // count guards no memory (every use of the pool takes its lock).
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        ProcessPoolExecutor {
            shared: Arc::clone(&self.shared),
            initializer: PhantomData,
        }
    }
}

impl<Init: ProcessFn<Output = ()>> Drop for ProcessPoolExecutor<Init> {
    /// The last handle begins shutdown, without cancelling or waiting.
    fn drop(&mut self) {
        // ORDERING: acquire-release, as `Arc`'s drop. MUTATION: relaxed would be
        // right: the count guards no memory (see `Clone`); AcqRel is the
        // conventional choice on a rarely taken path.
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shutdown_nowait(CancelFutures::No);
        }
    }
}

impl<Init: ProcessFn<Output = ()>> fmt::Debug for ProcessPoolExecutor<Init> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("max_tasks_per_child", &self.shared.max_tasks_per_child)
            .field("workers", &state.pids.len())
            .field(
                "queued",
                &state
                    .groups
                    .iter()
                    .map(|group| group.queue.len())
                    .sum::<usize>(),
            )
            .field("shutdown", &state.shutdown)
            .field("broken", &state.broken.is_some())
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // No foreign code runs under the lock, so a poisoned lock still
        // guards consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PoolState {
    /// The index of `job_type`'s group, made on first use.
    fn group_of(&mut self, job_type: TypeId, spawn: SpawnFn) -> usize {
        if let Some(index) = self
            .groups
            .iter()
            .position(|group| group.job_type == job_type)
        {
            return index;
        }
        self.groups.push(Group {
            job_type,
            spawn,
            queue: VecDeque::new(),
            workers: 0,
            idle: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// Wakes the idle dispatcher of `seat` (in group `index`) for the job just
    /// queued. If it has a live worker, the job is sent to that worker here
    /// and now, under the lock (so that a job is sent once and a dispatcher
    /// receives the replies in the order of its sends): the dispatcher then
    /// only waits for the reply, and its wake-up overlaps the worker's run.
    fn hand_off(&mut self, index: usize, seat: usize) {
        let PoolState { groups, seats, .. } = self;
        let seat = &mut seats[seat];
        seat.idle = false;
        if let Some(jobs) = seat.jobs.take() {
            let queue = &mut groups[index].queue;
            while let Some(mut queued) = queue.pop_front() {
                // Cancelled meanwhile: skipped (its future reports it).
                if !(queued.started || queued.sink.start()) {
                    continue;
                }
                queued.started = true;
                // A slice, not an array: the worker reads a length-prefixed
                // sequence.
                let batch: &[&WireJob] = &[&queued.job];
                let sent = encode(&batch).is_ok_and(|bytes| jobs.send(&bytes).is_ok());
                if sent {
                    seat.handed = Some(alloc::vec![queued]);
                } else {
                    // The dispatcher sends it again, and finds out why.
                    queue.push_front(queued);
                }
                break;
            }
        }
        seat.ready.notify_one();
    }

    /// Wakes every idle dispatcher (shutdown, a broken pool).
    fn wake_idle(&mut self) {
        let PoolState { groups, seats, .. } = self;
        for group in groups {
            for seat in group.idle.drain(..) {
                let seat = &mut seats[seat];
                seat.idle = false;
                seat.jobs = None;
                seat.ready.notify_one();
            }
        }
    }
}

/// Marks the pool terminated if it is shut down (or broken) with no dispatcher
/// left, handing back the futures to complete (outside the lock).
fn take_if_terminated(state: &mut PoolState) -> Released {
    if !state.terminated.is_released()
        && (state.shutdown || state.broken.is_some())
        && state.dispatchers == 0
    {
        state.terminated.release()
    } else {
        Released::NONE
    }
}

/// Completes a job's future with `error` (or cancels it), surviving a
/// panicking `Drop` or waker on the way.
fn finish(sink: Box<dyn Sink>, error: Error) {
    lifecycle::run_quietly(|| sink.fail(error));
}

/// Cancels a job that has not started, surviving a panicking waker.
fn cancel(sink: Box<dyn Sink>) {
    lifecycle::run_quietly(|| sink.cancel());
}

fn to_pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().map(Pid::from_raw)
}

/// Starts a worker process for function `J` with initializer `I`.
fn spawn_worker<I: ProcessFn<Output = ()>, J: ProcessFn>(
    init_args: &[u8],
) -> Result<Worker, ProcessError> {
    let io = |error: std::io::Error| ProcessError::Spawn(error.to_string());
    let (jobs, jobs_rx) = ipc::bytes_channel().map_err(io)?;
    let (replies_tx, replies) = ipc::channel().map_err(io)?;
    let args = WorkerArgs {
        jobs: jobs_rx,
        replies: replies_tx,
        init_args: init_args.to_vec(),
    };
    // procspawn panics when `init` was not called; that is the caller's
    // mistake to report on the job, not a reason to lose the dispatcher.
    let handle = catch_unwind(AssertUnwindSafe(|| {
        procspawn::spawn(args, worker_main::<I, J>)
    }))
    .map_err(|payload| {
        ProcessError::Spawn(alloc::format!(
            "{} (call concurrent_futures::process::init() first in main)",
            Panic::new(payload)
        ))
    })?;
    match handle.pid() {
        Some(pid) => Ok(Worker {
            handle,
            pid,
            jobs,
            replies,
            done: 0,
        }),
        None => Err(ProcessError::Spawn(match handle.join() {
            Err(error) => error.to_string(),
            Ok(()) => String::from("no process id"),
        })),
    }
}

/// Reaps a dead (or dying) worker: its pid leaves the bookkeeping first, then
/// `waitpid` reads how it ended. With `force`, it is killed first (its reply
/// channel broke for another reason than its exit).
fn bury(shared: &Shared, worker: Worker, force: bool) -> Exit {
    shared.lock().pids.retain(|&pid| pid != worker.pid);
    let Some(pid) = to_pid(worker.pid) else {
        return Exit::Unknown;
    };
    if force {
        let _ = kill(pid, Signal::SIGKILL);
    }
    let exit = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break Exit::Code(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => break Exit::Signal(signal as i32),
            Err(nix::errno::Errno::EINTR) => {}
            _ => break Exit::Unknown,
        }
    };
    // procspawn's own wait finds the process reaped (and ignores that), and
    // marks it exited, so dropping the handle signals nothing.
    let _ = worker.handle.join();
    exit
}

/// Retires a healthy worker: closing its job channel makes it exit by itself.
fn retire(shared: &Shared, worker: Worker) {
    shared.lock().pids.retain(|&pid| pid != worker.pid);
    let Worker { handle, jobs, .. } = worker;
    drop(jobs);
    let _ = handle.join();
}

/// Why a dispatcher has no worker to run its queue.
enum StartError {
    /// The initializer failed: the pool is broken (already recorded).
    Broken,
    /// `terminate_workers` / `kill_workers` was called.
    Stopping,
    /// The process could not be started.
    Failed(ProcessError),
}

/// Starts a worker for `group` and waits for its initializer.
fn start_worker(shared: &Shared, spawn: SpawnFn) -> Result<Worker, StartError> {
    let worker = spawn(&shared.init_args).map_err(StartError::Failed)?;
    {
        let mut state = shared.lock();
        if state.stopping {
            drop(state);
            bury(shared, worker, true);
            return Err(StartError::Stopping);
        }
        state.pids.push(worker.pid);
    }
    match worker.replies.recv() {
        Ok(Reply::Ready) => Ok(worker),
        Ok(Reply::InitFailed(message)) => {
            retire(shared, worker);
            break_pool(shared, message);
            Err(StartError::Broken)
        }
        Ok(Reply::Done(_)) => {
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
    let mut state = shared.lock();
    let broken = state
        .broken
        .get_or_insert_with(|| BrokenError::new(message.into()))
        .clone();
    let mut failed = Vec::new();
    for group in &mut state.groups {
        failed.extend(core::mem::take(&mut group.queue));
    }
    state.wake_idle();
    drop(state);
    for queued in failed {
        finish(queued.sink, Error::Broken(broken.clone()));
    }
}

/// The body of a dispatcher thread: owns one worker process at a time for
/// group `index` and feeds it batches.
fn dispatcher(shared: Arc<Shared>, index: usize, number: usize) {
    // Done callbacks of the pool's jobs run here: a wait for the pool's
    // termination from one of them returns at once.
    let _inside = Inside::enter(Arc::as_ptr(&shared) as usize);
    let mut worker: Option<Worker> = None;
    loop {
        let mut state = shared.lock();
        let batch = loop {
            if state.groups[index].queue.is_empty() {
                if state.shutdown || state.broken.is_some() {
                    break None;
                }
                let seat = &mut state.seats[number];
                seat.idle = true;
                seat.jobs = worker.as_ref().map(|worker| worker.jobs.clone());
                let ready = Arc::clone(&seat.ready);
                state.groups[index].idle.push(number);
                // Woken only by whoever took the seat off the idle list and
                // cleared `idle` (a submit, shutdown, a broken pool).
                while state.seats[number].idle {
                    state = ready
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                let seat = &mut state.seats[number];
                seat.jobs = None;
                if let Some(handed) = seat.handed.take() {
                    break Some((handed, true));
                }
                continue;
            }
            if worker.is_none() {
                // Start the process before taking jobs, so that they can be
                // cancelled while it starts.
                let spawn = state.groups[index].spawn;
                drop(state);
                match start_worker(&shared, spawn) {
                    Ok(started) => worker = Some(started),
                    Err(StartError::Broken) => {}
                    Err(StartError::Stopping) => {}
                    Err(StartError::Failed(error)) => {
                        // Whatever stops this start would stop the next one:
                        // fail what is queued now rather than loop.
                        let failed = core::mem::take(&mut shared.lock().groups[index].queue);
                        for queued in failed {
                            finish(queued.sink, Error::Process(error.clone()));
                        }
                    }
                }
                state = shared.lock();
                if state.stopping && worker.is_none() {
                    let failed = core::mem::take(&mut state.groups[index].queue);
                    drop(state);
                    for queued in failed {
                        cancel(queued.sink);
                    }
                    state = shared.lock();
                }
                continue;
            }
            let group = &mut state.groups[index];
            let remaining = match (shared.max_tasks_per_child, &worker) {
                (Some(max), Some(worker)) => max.get().saturating_sub(worker.done).max(1),
                _ => usize::MAX,
            };
            let share = group.queue.len().div_ceil(group.workers.max(1));
            let limit = MAX_BATCH.min(share).min(remaining).max(1);
            let mut batch = Vec::with_capacity(limit);
            while batch.len() < limit {
                let Some(mut queued) = group.queue.pop_front() else {
                    break;
                };
                // Cancelled meanwhile: skipped (its future reports it).
                if queued.started || queued.sink.start() {
                    queued.started = true;
                    batch.push(queued);
                }
            }
            if batch.is_empty() {
                continue;
            }
            break Some((batch, false));
        };
        drop(state);
        let Some((batch, sent)) = batch else {
            break;
        };
        if let Some(running) = worker.take() {
            worker = run_batch(&shared, index, running, batch, sent);
        }
    }
    if let Some(worker) = worker {
        retire(&shared, worker);
    }
    let mut state = shared.lock();
    state.dispatchers -= 1;
    state.groups[index].workers -= 1;
    let released = take_if_terminated(&mut state);
    drop(state);
    released.complete();
}

/// Sends `batch` to `worker` (unless a submit already did: `already_sent`)
/// and completes each job as its reply comes.
/// Returns the worker if it is still usable.
fn run_batch(
    shared: &Shared,
    index: usize,
    mut worker: Worker,
    batch: Vec<Queued>,
    already_sent: bool,
) -> Option<Worker> {
    let message = if already_sent {
        Ok(Vec::new())
    } else {
        let jobs: Vec<&WireJob> = batch.iter().map(|queued| &queued.job).collect();
        encode(&jobs)
    };
    let bytes = match message {
        Ok(bytes) => bytes,
        Err(message) => {
            // Not expected (the batch is bytes already); the worker is fine.
            for queued in batch {
                finish(
                    queued.sink,
                    Error::Process(ProcessError::Arguments(message.clone())),
                );
            }
            return Some(worker);
        }
    };
    let sent = already_sent || worker.jobs.send(&bytes).is_ok();
    let mut batch = VecDeque::from(batch);
    if sent {
        while let Some(queued) = batch.pop_front() {
            match worker.replies.recv() {
                Ok(Reply::Done(outcomes)) => {
                    lifecycle::run_quietly(|| queued.sink.deliver(outcomes));
                    worker.done += 1;
                }
                other => {
                    // The worker died running this job (or broke the
                    // protocol, then it is killed).
                    let force = !matches!(other, Err(IpcError::Disconnected));
                    let pid = worker.pid;
                    let exit = bury(shared, worker, force);
                    finish(
                        queued.sink,
                        Error::Process(ProcessError::WorkerDied { pid, exit }),
                    );
                    requeue(shared, index, batch);
                    return None;
                }
            }
        }
    } else {
        // The batch never reached the worker: it died while idle. Nothing
        // ran; every job goes back to the queue.
        bury(shared, worker, true);
        requeue(shared, index, batch);
        return None;
    }
    match shared.max_tasks_per_child {
        Some(max) if worker.done >= max.get() => {
            retire(shared, worker);
            None
        }
        _ => Some(worker),
    }
}

/// Puts jobs that a dead worker had not started back at the front of the
/// queue (in order), or cancels them if the workers are being stopped
/// (`terminate_workers`, `kill_workers`, `CancelFutures::AndStopRunning`):
/// they never ran, so they are `Cancelled`, as the jobs the shutdown found
/// queued, never "died while running the job".
fn requeue(shared: &Shared, index: usize, rest: VecDeque<Queued>) {
    if rest.is_empty() {
        return;
    }
    let mut state = shared.lock();
    if state.stopping {
        drop(state);
        for queued in rest {
            cancel(queued.sink);
        }
        return;
    }
    let queue = &mut state.groups[index].queue;
    for queued in rest.into_iter().rev() {
        queue.push_front(queued);
    }
}
