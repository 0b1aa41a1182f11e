//! easynetwork's `AsyncExecutor(ProcessPoolExecutor())`: the async layer over
//! the process pool, with the same names and cancellation rules as over a
//! thread pool.
//!
//! One `AsyncExecutor` type serves both kinds of pool: over an
//! [`Executor`](crate::Executor) its jobs are closures; over a
//! [`ProcessPoolExecutor`] they are [`process_fn!`](super::process_fn)
//! functions and their arguments, as in Python's `run(pow, 3, 4)`.

use super::ProcessFn;
use super::map::ProcessMapStream;
use super::pool::ProcessPoolExecutor;
use super::unordered::ProcessMapUnorderedStream;
use crate::async_executor::{AsyncExecutor, UnwrapFuture, unwrap_future};
use crate::error::{Error, SubmitError};
use crate::executor::{CancelFutures, MapOptions};
use crate::promise;

impl<Init: ProcessFn<Output = ()>> AsyncExecutor<ProcessPoolExecutor<Init>> {
    /// easynetwork's `await run(func, *args)` over a process pool: submits
    /// `f(args)` to a worker process now and resolves to its result.
    ///
    /// Dropping the returned future before it resolves cancels the job if no
    /// worker has taken it (easynetwork's rule, as over a thread pool); a job
    /// a worker has taken runs to its end and its result is dropped.
    ///
    /// # Errors
    ///
    /// The future resolves to [`Error::Shutdown`] or [`Error::Broken`] if the
    /// pool refused the job, [`Error::Panicked`] if the function panicked,
    /// [`Error::Cancelled`] if a shutdown cancelled it, and
    /// [`Error::Process`] for a failure at the process boundary (the worker
    /// died, the arguments or result could not be serialised).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, process::{self, ProcessPoolExecutor}};
    /// process::process_fn! {
    ///     fn pow(base: u64, exp: u32) -> u64 { base.pow(exp) }
    /// }
    /// fn main() {
    ///     process::init();
    ///     futures::executor::block_on(async {
    ///         let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    ///         assert_eq!(executor.run(pow, (3, 4)).await.unwrap(), 81);
    ///         executor.shutdown(CancelFutures::No).await;
    ///     });
    /// }
    /// ```
    pub fn run<J: ProcessFn>(&self, f: J, args: J::Args) -> UnwrapFuture<J::Output> {
        match self.wrapped().submit(f, args) {
            Ok(future) => unwrap_future(future),
            Err(error) => unwrap_future(promise::failed(Error::from(error))),
        }
    }

    /// easynetwork's `async for result in executor.map(func, iterable)`: runs
    /// `f` on every item in worker processes and yields the results in input
    /// order as a [`Stream`](futures_core::Stream). Every item is submitted
    /// now; once the stream has been polled, dropping it cancels the jobs no
    /// worker has taken.
    ///
    /// # Errors
    ///
    /// The pool's refusal of the first items ([`SubmitError`]).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, process::{self, ProcessPoolExecutor}};
    /// use futures::StreamExt;
    /// process::process_fn! {
    ///     fn double(x: u64) -> u64 { x * 2 }
    /// }
    /// fn main() {
    ///     process::init();
    ///     futures::executor::block_on(async {
    ///         let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    ///         let doubled: Vec<u64> =
    ///             executor.map(double, [1, 2, 3]).unwrap().map(Result::unwrap).collect().await;
    ///         assert_eq!(doubled, [2, 4, 6]);
    ///         executor.shutdown(CancelFutures::No).await;
    ///     });
    /// }
    /// ```
    pub fn map<J, I>(
        &self,
        f: J,
        items: I,
    ) -> Result<ProcessMapStream<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](Self::map) with [`MapOptions`]: Python's `chunksize` (items per
    /// job), a bound on the jobs in flight (`buffersize`) and an overall
    /// `timeout` (a timer wakes the stream at the deadline).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, MapOptions, process::{self, ProcessPoolExecutor}};
    /// use futures::StreamExt;
    /// process::process_fn! {
    ///     fn square(x: u64) -> u64 { x * x }
    /// }
    /// fn main() {
    ///     process::init();
    ///     futures::executor::block_on(async {
    ///         let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    ///         let options = MapOptions::new().chunk_size(16.try_into().unwrap());
    ///         let sum: u64 = executor
    ///             .map_with(square, 0..100, options)
    ///             .unwrap()
    ///             .map(Result::unwrap)
    ///             .fold(0, |sum, x| async move { sum + x })
    ///             .await;
    ///         assert_eq!(sum, 328_350);
    ///         executor.shutdown(CancelFutures::No).await;
    ///     });
    /// }
    /// ```
    pub fn map_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMapStream<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        Ok(self.wrapped().map_with(f, items, options)?.into_stream())
    }

    /// Python's `imap_unordered` as a [`Stream`](futures_core::Stream), as
    /// `AsyncExecutor::map_unordered` over a thread pool: `(index, result)`
    /// as jobs finish. See [`map_unordered_with`](Self::map_unordered_with).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// ```rust,standalone_crate
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, process::{self, ProcessPoolExecutor}};
    /// use futures::StreamExt;
    /// process::process_fn! {
    ///     fn triple(x: u64) -> u64 { x * 3 }
    /// }
    /// fn main() {
    ///     process::init();
    ///     futures::executor::block_on(async {
    ///         let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    ///         let mut tripled = [0; 3];
    ///         let mut results = executor.map_unordered(triple, [1, 2, 3]).unwrap();
    ///         while let Some((index, result)) = results.next().await {
    ///             tripled[index] = result.unwrap();
    ///         }
    ///         assert_eq!(tripled, [3, 6, 9]);
    ///         executor.shutdown(CancelFutures::No).await;
    ///     });
    /// }
    /// ```
    pub fn map_unordered<J, I>(
        &self,
        f: J,
        items: I,
    ) -> Result<ProcessMapUnorderedStream<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        self.map_unordered_with(f, items, MapOptions::new())
    }

    /// [`map_unordered`](Self::map_unordered) with [`MapOptions`]: at most
    /// `buffer_size` jobs (chunks) submitted and not yet yielded, a chunk
    /// size, and an overall timeout, as the process pool's
    /// `map_unordered_with`.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, MapOptions, process::{ProcessPoolExecutor, process_fn}};
    /// process_fn! { fn id(x: u8) -> u8 { x } }
    /// let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    /// executor.shutdown_nowait(concurrent_futures::CancelFutures::No);
    /// assert!(executor.map_unordered_with(id, [1], MapOptions::new()).is_err()); // refused
    /// ```
    pub fn map_unordered_with<J, I>(
        &self,
        f: J,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMapUnorderedStream<Init, J, I::IntoIter>, SubmitError>
    where
        J: ProcessFn,
        I: IntoIterator<Item = J::Args>,
    {
        Ok(self
            .wrapped()
            .map_unordered_with(f, items, options)?
            .into_stream())
    }

    /// easynetwork's `await shutdown()`: begins shutdown (see
    /// [`ProcessPoolExecutor::shutdown_nowait`] for what `cancel` does) and
    /// resolves once every accepted job has finished, every worker process
    /// has exited and been reaped, and every dispatcher thread has ended. No
    /// thread is blocked: this awaits the pool's
    /// [`terminated`](ProcessPoolExecutor::terminated) future, then joins the
    /// dispatcher threads, whose last act was to complete it.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, process::ProcessPoolExecutor};
    /// futures::executor::block_on(async {
    ///     let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    ///     executor.shutdown(CancelFutures::Yes).await;
    ///     assert!(executor.wrapped().is_shutdown());
    /// });
    /// ```
    pub async fn shutdown(&self, cancel: CancelFutures) {
        self.wrapped().shutdown_nowait(cancel);
        // Completed by the pool once its last dispatcher is done; the borrow
        // of `self` keeps the pool alive, so it is never abandoned.
        let _ = self.wrapped().terminated().await;
        self.wrapped().join_dispatchers();
    }

    /// easynetwork's `shutdown_nowait()`: begins shutdown and returns at once.
    ///
    /// ```
    /// use concurrent_futures::{AsyncExecutor, CancelFutures, process::ProcessPoolExecutor};
    /// let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    /// executor.shutdown_nowait(CancelFutures::No);
    /// assert!(executor.wrapped().is_shutdown());
    /// ```
    pub fn shutdown_nowait(&self, cancel: CancelFutures) {
        self.wrapped().shutdown_nowait(cancel);
    }
}
