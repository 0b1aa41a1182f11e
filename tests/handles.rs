//! Handles that own what they need (issue #14, 2 and 6): `map` iterators and
//! streams that can be returned and sent away, cheap clones of pools and
//! `AsyncExecutor`s, the default executor, and the pool's idle keep-alive.

mod common;

use concurrent_futures::CancelFutures;
use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{Tracked, count, no_hang};
use concurrent_futures::{
    AsyncExecutor, Executor, Map, MapStream, ThreadPoolExecutor, default_executor, run_blocking,
};
use futures::StreamExt;

type Lengths =
    Map<ThreadPoolExecutor, std::vec::IntoIter<&'static str>, fn(&'static str) -> usize, usize>;

/// Python returns `executor.map(..)` from functions: so can we.
fn lengths(words: Vec<&'static str>) -> Lengths {
    let pool = ThreadPoolExecutor::new();
    pool.map(str::len as fn(&'static str) -> usize, words)
        .unwrap()
}

#[test]
fn map_returned_from_the_function_that_made_the_pool() {
    let results: Vec<usize> = lengths(vec!["a", "bb", "ccc"])
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [1, 2, 3]);
}

#[test]
fn map_moved_to_another_thread_with_the_pool_in_an_arc() {
    let pool = Arc::new(ThreadPoolExecutor::new());
    let results = pool.map(|x| x * 2, 0..100_u64).unwrap();
    let sum = std::thread::spawn(move || results.map(Result::unwrap).sum::<u64>())
        .join()
        .unwrap();
    assert_eq!(sum, 9_900);
}

#[test]
fn map_stream_moved_into_a_spawned_task() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    let stream: MapStream<_, _, _, u64> = executor.map(|x| x * x, 1..=10_u64).unwrap();
    drop(executor); // the stream holds its own handle
    let total = runtime
        .block_on(runtime.spawn(async move {
            stream
                .map(Result::unwrap)
                .fold(0, |a, b| async move { a + b })
                .await
        }))
        .unwrap();
    assert_eq!(total, 385);
}

#[test]
fn clones_share_one_pool_and_the_last_drop_shuts_it_down() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let clone = pool.clone();
    let mut terminated = pool.terminated();
    drop(pool);
    assert!(!clone.is_shutdown(), "a clone is still alive");
    assert_eq!(clone.submit(|| 5).unwrap().wait().unwrap(), 5);
    let other = clone.clone();
    drop(clone);
    assert!(!other.is_shutdown());
    drop(other);
    no_hang("terminated after the last handle", move || {
        terminated.wait().unwrap()
    });
}

#[test]
fn async_executor_clones_serve_many_tasks() {
    let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    let tasks: Vec<_> = (0..8_u64)
        .map(|n| {
            let executor = executor.clone();
            std::thread::spawn(move || futures::executor::block_on(executor.run(move || n * n)))
        })
        .collect();
    let total: u64 = tasks.into_iter().map(|t| t.join().unwrap().unwrap()).sum();
    assert_eq!(total, 140);
    futures::executor::block_on(executor.shutdown(CancelFutures::No));
}

thread_local! {
    static RETIREMENT: RefCell<Option<(Tracked, mpsc::Sender<()>)>> = const { RefCell::new(None) };
}

struct SignalOnDrop(mpsc::Sender<()>);
impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static EXITED: RefCell<Option<SignalOnDrop>> = const { RefCell::new(None) };
}

/// With a keep-alive, an idle worker exits (its thread-locals are destroyed),
/// and the next job starts a new worker.
#[test]
fn idle_workers_retire_after_the_keep_alive() {
    no_hang("keep-alive", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .keep_alive(Duration::from_millis(1))
            .build()
            .unwrap();
        let (exited_tx, exited) = mpsc::channel();
        pool.submit(move || EXITED.with(|e| *e.borrow_mut() = Some(SignalOnDrop(exited_tx))))
            .unwrap()
            .wait()
            .unwrap();
        exited.recv().unwrap(); // the worker retired and its thread-locals were destroyed
        assert_eq!(pool.worker_count(), 0);
        // A new worker serves the next job (and may retire again at once).
        assert_eq!(pool.submit(|| 7).unwrap().wait().unwrap(), 7);
        pool.shutdown(CancelFutures::No);
        assert_eq!(pool.worker_count(), 0);
    });
}

/// Without a keep-alive (the default, as in Python) workers stay.
#[test]
fn workers_stay_without_a_keep_alive() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&drops);
    pool.submit(move || {
        RETIREMENT.with(|r| *r.borrow_mut() = Some((Tracked::counting(&d), mpsc::channel().0)))
    })
    .unwrap()
    .wait()
    .unwrap();
    assert_eq!(pool.worker_count(), 1);
    assert_eq!(count(&drops), 0);
    pool.shutdown(CancelFutures::No);
    assert_eq!(count(&drops), 1, "destroyed at shutdown, not before");
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn run_blocking_works_from_tokio_and_from_futures() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let value = runtime.block_on(async { run_blocking(|| 6 * 7).await.unwrap() });
    assert_eq!(value, 42);
    let value = futures::executor::block_on(run_blocking(|| "plain"));
    assert_eq!(value.unwrap(), "plain");
    let panicked = futures::executor::block_on(run_blocking(|| -> u8 { panic!("in a job") }));
    assert!(panicked.unwrap_err().is_panicked());
    assert!(!default_executor().wrapped().is_shutdown());
}
