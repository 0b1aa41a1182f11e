//! Migration guide: from Python's `concurrent.futures`, easynetwork's
//! `AsyncExecutor`, tokio's `spawn_blocking` and `blocking::unblock`.
//!
//! Each section shows the code you have, then its equivalent here (every Rust
//! block below is a doctest, but the process pool's, which is
//! `examples/process_async.rs`, run by CI).
//!
//! # Python `concurrent.futures`
//!
//! ```python
//! from concurrent.futures import ThreadPoolExecutor, wait, as_completed, FIRST_COMPLETED
//!
//! with ThreadPoolExecutor(max_workers=4, thread_name_prefix="io") as pool:
//!     future = pool.submit(pow, 2, 10)
//!     print(future.result(timeout=5))
//!     print(list(pool.map(lambda x: x * x, range(5))))
//!     futures = [pool.submit(pow, 3, n) for n in range(4)]
//!     done, not_done = wait(futures, return_when=FIRST_COMPLETED)
//!     for f in as_completed(futures):
//!         print(f.result())
//! # leaving `with` calls pool.shutdown(wait=True)
//! ```
//!
//! ```
//! use std::time::Duration;
//! use concurrent_futures::{as_completed, wait, Executor, ReturnWhen, ThreadPoolExecutor};
//!
//! let pool = ThreadPoolExecutor::builder().max_workers(4).thread_name_prefix("io").build()?;
//! let mut future = pool.submit(|| 2_u64.pow(10))?;
//! println!("{}", future.wait_timeout(Duration::from_secs(5))?);
//! let squares: Vec<u64> = pool.map(|x| x * x, 0..5_u64)?.collect::<Result<_, _>>()?;
//! println!("{squares:?}");
//! let mut futures: Vec<_> = (0..4).map(|n| pool.submit(move || 3_u64.pow(n))).collect::<Result<_, _>>()?;
//! let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
//! assert!(!waited.done.is_empty());
//! for (_index, outcome) in as_completed(futures, None) {
//!     println!("{}", outcome?);
//! }
//! pool.shutdown(concurrent_futures::CancelFutures::No); // Rust has no `with`: say it (or use `scope`, below)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What changes:
//! - A future has one consumer: waiting takes `&mut self`, the value is taken
//!   once (`Error::AlreadyTaken` afterwards). `wait` reports indices, and
//!   `as_completed` yields each index with its outcome, instead of sets of
//!   shared objects.
//! - Exceptions are panics: `Error::Panicked` carries the payload. Return a
//!   `Result` from the closure for ordinary errors; it comes back as the value.
//! - A future whose producer is lost reports `Error::Abandoned` instead of
//!   hanging forever, and a cancelled future counts as done at once (Python's
//!   "cancelled but not notified" state can hang `wait`).
//! - Dropping a `ThreadPoolExecutor` begins shutdown without waiting; call
//!   `shutdown` where Python's `with` would have waited.
//!
//! # easynetwork's `AsyncExecutor` and `unwrap_future`
//!
//! ```python
//! async with AsyncExecutor(ThreadPoolExecutor()) as executor:
//!     result = await executor.run(pow, 2, 10)
//!     async for square in executor.map(lambda x: x * x, range(5)):
//!         print(square)
//!     value = await unwrap_future(pool.submit(pow, 3, 3))
//! ```
//!
//! ```
//! use concurrent_futures::{unwrap_future, AsyncExecutor, Executor, ThreadPoolExecutor};
//! use futures::StreamExt;
//!
//! # futures::executor::block_on(async {
//! let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
//! let result = executor.run(|| 2_u64.pow(10)).await?;
//! assert_eq!(result, 1024);
//! let mut squares = executor.map(|x| x * x, 0..5_u64)?;
//! while let Some(square) = squares.next().await {
//!     println!("{}", square?);
//! }
//! drop(squares);
//! let value = unwrap_future(executor.wrapped().submit(|| 3_u64.pow(3))?).await?;
//! assert_eq!(value, 27);
//! executor.shutdown(concurrent_futures::CancelFutures::No).await; // `async with` exit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! What changes: a cancelled Python task becomes a dropped Rust future (the job
//! is cancelled if it has not started) or an explicit `UnwrapFuture::request_stop`
//! (easynetwork's accepted/refused rule). Jobs that want to stop early when
//! nobody waits any more take a `StopToken` (`run_stoppable`, `submit_stoppable`).
//! `handle_contexts` is the `tracing` feature: the caller's span is entered in
//! the worker.
//!
//! # easynetwork's `AsyncExecutor` over a `ProcessPoolExecutor`
//!
//! ```python
//! async with AsyncExecutor(ProcessPoolExecutor(), handle_contexts=False) as executor:
//!     async with backend.create_task_group() as task_group:
//!         tasks = [await task_group.start(executor.run, pow, a, b) for a, b in [(3, 4), (12, 2), (6, 8)]]
//!     results = [await t.join() for t in tasks]
//!     powers = [result async for result in executor.map(pow_50, (1, 4, 12))]
//! ```
//!
//! The same `AsyncExecutor` wraps the process pool (feature `process`): its
//! jobs are `process_fn!` functions and their arguments, as in Python.
//! `examples/process_async.rs` is this program whole, run by CI; the heart of
//! it:
//!
//! ```ignore
//! process_fn! { fn pow(base: u64, exp: u32) -> u64 { base.pow(exp) } }
//!
//! let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
//! let mut task_group = tokio::task::JoinSet::new();
//! let tasks: Vec<_> = [(3, 4), (12, 2), (6, 8)]
//!     .into_iter()
//!     .map(|(a, b)| task_group.spawn(executor.run(pow, (a, b))).id())
//!     .collect();
//! // ... join the group, then take each task's result in `tasks` order
//! let powers: Vec<BigUint> = executor.map(pow_50, [1, 4, 12])?.try_collect().await?;
//! executor.shutdown(CancelFutures::No).await; // `async with` exit
//! ```
//!
//! What changes: `process::init()` comes first in `main` (workers re-execute
//! the program), arguments go as one tuple, and a crashed worker fails only its
//! own job (`Error::Process`), where Python breaks the whole pool. What stays:
//! `max_workers` processes in all, each running every job function; a job is
//! running once sent to a worker (each holds at most one beyond the one it
//! runs, as Python's call queue holds `max_workers + 1`), and cancel reaches
//! every other job.
//!
//! # Names: Python's words, said at the call site
//!
//! | Python / easynetwork | here |
//! |---|---|
//! | `shutdown(wait=True, cancel_futures=False)` | `shutdown(CancelFutures::No)` (`shutdown` always waits; `shutdown_nowait` never does) |
//! | `shutdown(cancel_futures=True)` | `shutdown(CancelFutures::Yes)` |
//! | a flag of your own in every job, for Ctrl-C | `shutdown(CancelFutures::AndStopRunning)`: every running job's `StopToken` says stop |
//! | `map(fn, *iterables, timeout=, chunksize=, buffersize=)` | `map(f, items)` / `map_with(f, items, MapOptions::new().timeout(..).chunk_size(..).buffer_size(..))`, on every pool and on `AsyncExecutor` |
//! | `asyncio.timeout(..)` around each `run` | `run_with(f, JobOptions::new().timeout(..))`, `submit_with(f, JobOptions)`, `MapOptions::job_timeout` |
//! | a job that watches for cancellation | `submit_stoppable(\|token\| ..)`, `run_stoppable`, `Job::stoppable` |
//! | `multiprocessing.Pool.imap_unordered(fn, it)` (bounded) | `map_unordered_with(f, items, MapOptions::new().buffer_size(n))`: `(index, outcome)` as jobs finish |
//! | `asyncio.as_completed(fs)` / `asyncio.wait(fs)` | `async_executor::as_completed(futures, timeout)` / `async_executor::wait(&mut futures, timeout, return_when).await` |
//!
//! # tokio's `spawn_blocking`
//!
//! ```ignore
//! let hash = tokio::task::spawn_blocking(move || expensive_hash(&data)).await?;
//! ```
//!
//! ```
//! use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
//! # fn expensive_hash(data: &[u8]) -> u64 { data.iter().map(|&b| u64::from(b)).sum() }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let executor = AsyncExecutor::new(ThreadPoolExecutor::builder().max_workers(4).build()?);
//! let data = vec![1_u8, 2, 3];
//! let hash = executor.run(move || expensive_hash(&data)).await?;
//! assert_eq!(hash, 6);
//! executor.shutdown(concurrent_futures::CancelFutures::No).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! What you gain: the pool is yours (its size, names and lifecycle), jobs not
//! started are cancelled when the awaiting task goes away (`spawn_blocking`
//! runs them anyway), `shutdown(CancelFutures::Yes)` exists, and the same code runs
//! under any runtime. To keep tokio's blocking pool, wrap it:
//! `TokioBlockingExecutor::new(handle)` (feature `tokio`).
//!
//! # `blocking::unblock`
//!
//! ```ignore
//! let contents = blocking::unblock(move || std::fs::read_to_string(path)).await?;
//! ```
//!
//! ```
//! use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
//! # futures::executor::block_on(async {
//! let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
//! let path = std::env::temp_dir();
//! let exists = executor.run(move || path.exists()).await?;
//! assert!(exists);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! What changes: `unblock` uses one global pool; here the pool is an explicit
//! value you size, name, share (`pool.clone()`, a handle) and shut down, and
//! the future tells apart a panic (`Error::Panicked`), a cancellation and a
//! shutdown instead of resuming the panic in the awaiting task (call
//! `Error::resume_panic` for that).
