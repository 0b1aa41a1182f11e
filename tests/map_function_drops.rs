//! A map's function `f` is dropped exactly once on every path, by whichever
//! side lets go of it last (the map, or a job still holding its lease:
//! `src/cell/lease.rs`), and called once per item that ran: maps consumed,
//! dropped early, cancelled, refused, bounded over endless input, with a
//! panicking `f` or a panicking `Drop`, on the thread pool, a custom executor,
//! `InlineExecutor` and `AsyncExecutor`, across several reserve batches
//! (1024 leases each). Public API only.

mod common;

use common::Tracked;
use concurrent_futures::CancelFutures;

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};

use concurrent_futures::{
    AsyncExecutor, Error, Executor, InlineExecutor, Job, Map, MapOptions, SharedFuture, promise,
};

/// Item counts: above two reserve batches (1024 each) natively; small under
/// Miri except where a test says otherwise.
const BIG: usize = if cfg!(miri) { 12 } else { 3000 };
const SIZES: &[usize] = if cfg!(miri) {
    &[0, 1, 5]
} else {
    &[0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 3073]
};

// ---------------------------------------------------------------- helpers

struct Counters {
    drops: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}
impl Counters {
    fn new() -> Self {
        Counters {
            drops: Arc::new(AtomicUsize::new(0)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
    fn drops(&self) -> usize {
        self.drops.load(SeqCst)
    }
    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }
    /// `f(x) = x * 2`, counting calls and its own drops.
    fn f(&self) -> impl Fn(usize) -> usize + Send + Sync + 'static {
        self.f_panicking_drop(false)
    }
    fn f_panicking_drop(
        &self,
        panic_on_drop: bool,
    ) -> impl Fn(usize) -> usize + Send + Sync + 'static {
        let tracked = if panic_on_drop {
            Tracked::panicking(&self.drops)
        } else {
            Tracked::counting(&self.drops)
        };
        let calls = Arc::clone(&self.calls);
        move |x| {
            let _ = &tracked; // f owns it: it is dropped with f
            calls.fetch_add(1, SeqCst);
            x * 2
        }
    }
}

/// An executor that keeps the jobs it accepts (up to `accept`), refusing the
/// rest; the test decides when (and whether) they run.
struct Hoard {
    jobs: Mutex<Vec<Job>>,
    accept: usize,
}
impl Hoard {
    fn new(accept: usize) -> Self {
        Hoard {
            jobs: Mutex::new(Vec::new()),
            accept,
        }
    }
    fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap())
    }
}
impl Executor for Hoard {
    fn execute(&self, job: Job) -> Result<(), concurrent_futures::SubmitError> {
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.len() >= self.accept {
            return Err(concurrent_futures::SubmitError::Shutdown);
        }
        jobs.push(job);
        Ok(())
    }
    fn shutdown_nowait(&self, _cancel: CancelFutures) {}
    fn is_shutdown(&self) -> bool {
        false
    }
    fn terminated(&self) -> SharedFuture<()> {
        let (producer, future) = promise();
        producer.set_result(()).unwrap();
        future
    }
}

// ------------------------------------------------- Executor::map, thread pool

#[test]
fn pool_map_fully_consumed_every_size() {
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(2);
        let map = pool.map(c.f(), 0..n).unwrap();
        let results: Vec<usize> = map.map(Result::unwrap).collect(); // map dropped here
        assert_eq!(results, (0..n).map(|x| x * 2).collect::<Vec<_>>());
        // Every job's closure (and lease) was consumed before its result was
        // published, and the map is gone: f is dropped already.
        assert_eq!(c.drops(), 1, "n = {n}: f dropped once right after the map");
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        assert_eq!(c.calls(), n);
    }
}

#[test]
fn pool_map_dropped_before_next_runs_everything() {
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(1); // the gate holds the only worker
        let (release, _gated) = common::gated(&pool, || ());
        let map = pool.map(c.f(), 0..n).unwrap();
        drop(map); // never advanced: cancels nothing
        assert_eq!(c.drops(), usize::from(n == 0), "n = {n}: jobs still hold f");
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        assert_eq!(c.calls(), n, "n = {n}: every job ran");
    }
}

#[test]
fn pool_map_dropped_midway_with_jobs_queued_and_running() {
    for &n in SIZES.iter().filter(|&&n| n >= 2) {
        let c = Counters::new();
        let pool = common::pool(2);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let calls = Arc::clone(&c.calls);
        let tracked = Tracked::counting(&c.drops);
        // Item 1 blocks its worker until told to go: it is running when the
        // map is dropped.
        let mut map = pool
            .map(
                move |x: usize| {
                    let _ = &tracked; // f owns it: it is dropped with f
                    calls.fetch_add(1, SeqCst);
                    if x == 1 {
                        let _ = go_rx.lock().unwrap().recv();
                    }
                    x
                },
                0..n,
            )
            .unwrap();
        assert_eq!(map.next().unwrap().unwrap(), 0);
        drop(map); // cancels what has not started
        let _ = go_tx.send(()); // f (and the receiver) may be gone if item 1 never started
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        assert!(c.calls() >= 1 && c.calls() <= n);
    }
}

#[test]
fn pool_map_cancel_remaining() {
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(1);
        let (release, _gated) = common::gated(&pool, || ());
        let mut map = pool.map(c.f(), 0..n).unwrap();
        map.cancel_remaining(); // every job is queued behind the gate
        assert!(map.next().is_none());
        // The cancelled jobs are still in the queue (their closures unrun);
        // dropping the map must not drop f while they hold it.
        drop(map);
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        assert_eq!(c.calls(), 0, "n = {n}: all cancelled before running");
    }
}

#[test]
fn pool_shutdown_cancel_futures_with_map_jobs_queued() {
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(1);
        let (release, _gated) = common::gated(&pool, || ());
        let map = pool.map(c.f(), 0..n).unwrap();
        pool.shutdown_nowait(CancelFutures::Yes); // cancels the queued map jobs
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 0, "n = {n}: the map still holds f");
        let results: Vec<_> = map.collect();
        assert_eq!(results.len(), n);
        assert!(results.iter().all(|r| matches!(r, Err(Error::Cancelled))));
        assert_eq!(c.drops(), 1, "n = {n}");
        assert_eq!(c.calls(), 0);
    }
}

#[test]
fn pool_shut_down_refuses_map() {
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(1);
        pool.shutdown(CancelFutures::No);
        match pool.map(c.f(), 0..n) {
            Err(_) => assert!(n > 0),
            Ok(map) => {
                assert_eq!(n, 0);
                assert_eq!(map.count(), 0);
            }
        }
        assert_eq!(c.drops(), 1, "n = {n}: f dropped with the refused map");
        assert_eq!(c.calls(), 0);
    }
}

#[test]
fn pool_bounded_map_over_endless_input() {
    let take = if cfg!(miri) { 7 } else { 2500 };
    for bound in [1, 3, 1024, 1500] {
        let c = Counters::new();
        let pool = common::pool(2);
        let options = MapOptions::new().buffer_size(NonZeroUsize::new(bound).unwrap());
        let map = pool.map_with(c.f(), 0.., options).unwrap();
        let got: Vec<usize> = map.take(take).map(Result::unwrap).collect();
        assert_eq!(got, (0..take).map(|x| x * 2).collect::<Vec<_>>());
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "bound = {bound}");
        assert!(c.calls() >= take && c.calls() <= take + bound);
    }
}

#[test]
fn pool_bounded_map_refused_midway() {
    // The pool shuts down while a bounded map still has items to submit: the
    // refill is refused.
    let c = Counters::new();
    let pool = common::pool(1);
    let options = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
    let mut map = pool.map_with(c.f(), 0..BIG, options).unwrap();
    assert_eq!(map.next().unwrap().unwrap(), 0);
    pool.shutdown(CancelFutures::No);
    let rest: Vec<_> = map.by_ref().collect();
    assert!(
        rest.iter().any(|r| matches!(r, Err(Error::Shutdown))),
        "{rest:?}"
    );
    assert_eq!(c.drops(), 0);
    drop(map);
    assert_eq!(c.drops(), 1);
}

#[test]
fn pool_map_with_panicking_f() {
    let drops = Arc::new(AtomicUsize::new(0));
    let tracked = Tracked::counting(&drops);
    let pool = common::pool(2);
    let map = pool
        .map(
            move |x: usize| {
                let _ = &tracked; // f owns it: it is dropped with f
                if x % 3 == 1 {
                    panic!("f panics on {x}");
                }
                x
            },
            0..BIG,
        )
        .unwrap();
    for (i, result) in map.enumerate() {
        if i % 3 == 1 {
            assert!(matches!(result, Err(Error::Panicked(_))));
        } else {
            assert_eq!(result.unwrap(), i);
        }
    }
    pool.shutdown(CancelFutures::No);
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn pool_map_f_whose_drop_panics_last_in_the_map() {
    let c = Counters::new();
    let pool = common::pool(2);
    let map = pool.map(c.f_panicking_drop(true), 0..BIG).unwrap();
    let mut map = map;
    for i in 0..BIG {
        assert_eq!(map.next().unwrap().unwrap(), i * 2);
    }
    pool.shutdown(CancelFutures::No);
    let unwound = catch_unwind(AssertUnwindSafe(move || drop(map)));
    assert!(
        unwound.is_err(),
        "the map's drop is the last: f's drop panics there"
    );
    assert_eq!(c.drops(), 1);
}

#[test]
fn pool_map_f_whose_drop_panics_last_in_a_worker() {
    let c = Counters::new();
    let pool = common::pool(1);
    let (release, _gated) = common::gated(&pool, || ());
    let map = pool.map(c.f_panicking_drop(true), 0..BIG).unwrap();
    drop(map); // not started: every job runs; the last lease is on the worker
    release.send(()).unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(c.drops(), 1);
    assert_eq!(c.calls(), BIG);
}

#[test]
fn pool_map_f_whose_drop_panics_last_in_a_worker_pool_survives() {
    let c = Counters::new();
    let pool = common::pool(1);
    let (release, _gated) = common::gated(&pool, || ());
    let map = pool.map(c.f_panicking_drop(true), 0..BIG).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    drop(map);
    // A job after the map's: runs once the pool survived the panicking drop.
    let mut after = pool.submit(move || done_tx.send(()).unwrap()).unwrap();
    release.send(()).unwrap();
    after.wait().unwrap();
    done_rx.recv().unwrap();
    assert_eq!(c.drops(), 1);
    assert!(!pool.is_broken());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn pool_map_sent_to_another_thread_and_dropped_there() {
    let c = Counters::new();
    let pool = common::pool(2);
    let mut map = pool.map(c.f(), 0..BIG).unwrap();
    assert_eq!(map.next().unwrap().unwrap(), 0);
    std::thread::spawn(move || {
        let _ = map.next();
        drop(map);
    })
    .join()
    .unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(c.drops(), 1);
}

#[test]
fn pool_map_timeout_cancels_and_drops_f_once() {
    let c = Counters::new();
    let pool = common::pool(1);
    let (release, _gated) = common::gated(&pool, || ());
    let options = MapOptions::new().timeout(std::time::Duration::ZERO);
    let mut map = pool.map_with(c.f(), 0..BIG, options).unwrap();
    assert!(matches!(map.next(), Some(Err(Error::Timeout))));
    assert!(map.next().is_none());
    drop(map);
    release.send(()).unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(c.drops(), 1);
    assert_eq!(c.calls(), 0);
}

#[test]
fn many_maps_in_parallel_threads() {
    // Several maps on one pool from several threads, each dropped at a
    // different point.
    let maps = if cfg!(miri) { 3 } else { 8 };
    let pool = common::pool(2);
    let barrier = Arc::new(Barrier::new(maps));
    let counters: Vec<_> = (0..maps).map(|_| Counters::new()).collect();
    let threads: Vec<_> = counters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let pool = pool.clone();
            let f = c.f();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut map = pool.map(f, 0..BIG).unwrap();
                for _ in 0..(i * BIG / maps) {
                    map.next().unwrap().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    pool.shutdown(CancelFutures::No);
    for c in &counters {
        assert_eq!(c.drops(), 1);
    }
}

// ------------------------------------------- custom executor (public trait)

#[test]
fn hoarded_jobs_outlive_the_map_and_still_call_f() {
    // The jobs are run only after the map is gone: the leases must keep f
    // alive (Miri would flag a use after free).
    let n = if cfg!(miri) { 5 } else { 2100 };
    let c = Counters::new();
    let hoard = Hoard::new(usize::MAX);
    let map = Map::new(&hoard, c.f(), 0..n, MapOptions::new()).unwrap();
    drop(map); // not started: nothing cancelled
    assert_eq!(c.drops(), 0);
    let jobs = hoard.take();
    assert_eq!(jobs.len(), n);
    let last = jobs.len() - 1;
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(c.drops(), 0, "job {i} of {last}");
        job.run();
    }
    assert_eq!(c.drops(), 1);
    assert_eq!(c.calls(), n);
}

#[test]
fn hoarded_jobs_dropped_unrun_across_threads() {
    let n = if cfg!(miri) { 6 } else { 2100 };
    let c = Counters::new();
    let hoard = Hoard::new(usize::MAX);
    let map = Map::new(&hoard, c.f(), 0..n, MapOptions::new()).unwrap();
    let mut jobs = hoard.take();
    let other = jobs.split_off(n / 2);
    let t = std::thread::spawn(move || {
        for job in other {
            job.run();
        }
    });
    drop(jobs); // dropped unrun on this thread
    drop(map);
    t.join().unwrap();
    assert_eq!(c.drops(), 1);
}

#[test]
fn executor_refuses_midway_through_the_first_batch() {
    // The executor accepts some items, then refuses: `map` returns Err and the
    // accepted jobs (still held by the executor) keep their leases.
    for accept in [0, 1, 1023, 1024, 1025, 2048, 2049] {
        if cfg!(miri) && accept > 5 {
            continue;
        }
        let c = Counters::new();
        let hoard = Hoard::new(accept);
        let refused = Map::new(&hoard, c.f(), 0..5000, MapOptions::new());
        assert!(refused.is_err());
        let jobs = hoard.take();
        assert_eq!(jobs.len(), accept);
        assert_eq!(c.drops(), usize::from(accept == 0), "accept = {accept}");
        for job in jobs {
            assert!(job.is_cancelled(), "the refusal cancels what was submitted");
            job.run();
        }
        assert_eq!(c.drops(), 1, "accept = {accept}");
        assert_eq!(c.calls(), 0);
    }
}

#[test]
fn executor_panics_in_execute() {
    struct Bomb(AtomicUsize);
    impl Executor for Bomb {
        fn execute(&self, job: Job) -> Result<(), concurrent_futures::SubmitError> {
            if self.0.fetch_add(1, SeqCst) == if cfg!(miri) { 3 } else { 1500 } {
                panic!("execute panics");
            }
            job.run();
            Ok(())
        }
        fn shutdown_nowait(&self, _: concurrent_futures::CancelFutures) {}
        fn is_shutdown(&self) -> bool {
            false
        }
        fn terminated(&self) -> SharedFuture<()> {
            let (p, f) = promise();
            p.set_result(()).unwrap();
            f
        }
    }
    let c = Counters::new();
    let bomb = Bomb(AtomicUsize::new(0));
    let f = c.f();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        Map::new(&bomb, f, 0..5000, MapOptions::new()).map(drop)
    }));
    assert!(unwound.is_err());
    assert_eq!(c.drops(), 1);
}

// ----------------------------------------------------------- InlineExecutor

#[test]
fn inline_map_every_path() {
    let sizes: &[usize] = if cfg!(miri) { &[0, 1, 1025] } else { SIZES };
    for &n in sizes {
        // consumed
        let c = Counters::new();
        let inline = InlineExecutor::new();
        let got: Vec<usize> = Map::new(&inline, c.f(), 0..n, MapOptions::new())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), n);
        assert_eq!(c.drops(), 1);
        // dropped before next
        let c = Counters::new();
        drop(Map::new(&inline, c.f(), 0..n, MapOptions::new()).unwrap());
        assert_eq!(c.drops(), 1);
        assert_eq!(c.calls(), n);
        // bounded, endless, midway
        let c = Counters::new();
        let options = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
        let mut map = Map::new(&inline, c.f(), 0.., options).unwrap();
        for i in 0..n {
            assert_eq!(map.next().unwrap().unwrap(), i * 2);
        }
        drop(map);
        assert_eq!(c.drops(), 1);
        // panicking drop of f
        let c = Counters::new();
        let map = Map::new(&inline, c.f_panicking_drop(true), 0..n, MapOptions::new()).unwrap();
        assert!(catch_unwind(AssertUnwindSafe(move || drop(map))).is_err());
        assert_eq!(c.drops(), 1);
        // shut down: refused
        let c = Counters::new();
        let shut = InlineExecutor::new();
        shut.shutdown(CancelFutures::No);
        let refused = Map::new(&shut, c.f(), 0..n, MapOptions::new());
        assert_eq!(refused.is_err(), n > 0);
        drop(refused);
        assert_eq!(c.drops(), 1);
    }
}

// ----------------------------------------------------------- AsyncExecutor

#[test]
fn async_map_futures_block_on() {
    use futures::StreamExt;
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(2);
        let executor = AsyncExecutor::new(pool.clone());
        futures::executor::block_on(async {
            let got: Vec<usize> = executor
                .map(c.f(), 0..n)
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(got.len(), n);
        });
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        // dropped midway
        let c = Counters::new();
        let pool2 = common::pool(1);
        let executor = AsyncExecutor::new(pool2.clone());
        futures::executor::block_on(async {
            let mut stream = executor.map(c.f(), 0..n).unwrap();
            if n > 0 {
                assert_eq!(stream.next().await.unwrap().unwrap(), 0);
            }
            drop(stream);
        });
        pool2.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
        // buffered over endless input, dropped midway
        let c = Counters::new();
        let pool3 = common::pool(2);
        let executor = AsyncExecutor::new(pool3.clone());
        futures::executor::block_on(async {
            let mut stream = executor
                .map_with(
                    c.f(),
                    0..,
                    MapOptions::new().buffer_size(NonZeroUsize::new(3).unwrap()),
                )
                .unwrap();
            for i in 0..n {
                assert_eq!(stream.next().await.unwrap().unwrap(), i * 2);
            }
            drop(stream);
        });
        pool3.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");
    }
}

#[cfg(not(miri))]
#[test]
fn async_map_tokio_dropped_midway_and_cancel_remaining() {
    use futures::StreamExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for &n in SIZES {
        let c = Counters::new();
        let pool = common::pool(2);
        let executor = AsyncExecutor::new(pool.clone());
        let f = c.f();
        let handle = runtime.spawn(async move {
            let mut stream = executor.map(f, 0..n).unwrap();
            let mut seen = 0;
            while seen < n / 2 {
                stream.next().await.unwrap().unwrap();
                seen += 1;
            }
            stream.cancel_remaining();
            assert!(stream.next().await.is_none());
        });
        runtime.block_on(handle).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "n = {n}");

        // A task aborted while awaiting the stream.
        let c = Counters::new();
        let pool = common::pool(1);
        let (release, _gated) = common::gated(&pool, || ());
        let executor = AsyncExecutor::new(pool.clone());
        let f = c.f();
        let (polled_tx, polled_rx) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let mut stream = executor.map(f, 0..n).unwrap();
            let mut polled_tx = Some(polled_tx);
            let next = futures::future::poll_fn(|cx| {
                let poll = stream.poll_next_unpin(cx);
                if let Some(tx) = polled_tx.take() {
                    let _ = tx.send(());
                }
                poll
            });
            next.await
        });
        runtime.block_on(polled_rx).unwrap();
        task.abort();
        let _ = runtime.block_on(task);
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(c.drops(), 1, "aborted, n = {n}");
    }
}

#[test]
fn async_map_refused_and_inline() {
    let c = Counters::new();
    let pool = common::pool(1);
    pool.shutdown(CancelFutures::No);
    let executor = AsyncExecutor::new(pool);
    assert!(executor.map(c.f(), 0..BIG).is_err());
    assert_eq!(c.drops(), 1);

    // AsyncExecutor over a shared InlineExecutor reference is not possible
    // (not Sync); use an Arc<ThreadPool> instead.
    let c = Counters::new();
    let pool = Arc::new(common::pool(1));
    let executor = AsyncExecutor::new(Arc::clone(&pool));
    let stream = executor.map(c.f(), 0..BIG).unwrap();
    drop(stream); // never polled: everything runs
    pool.shutdown(CancelFutures::No);
    assert_eq!(c.drops(), 1);
    assert_eq!(c.calls(), BIG);
}
