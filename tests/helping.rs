//! A worker that waits for a future of its own pool runs that pool's queued
//! jobs meanwhile (rayon's rule; Python's `ThreadPoolExecutor` documents the
//! deadlock this avoids), on every blocking wait: `wait`, `wait_timeout`,
//! `Map::next`, `as_completed`, `wait(..)` and the end of a `scope`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use concurrent_futures::{
    CancelFutures, Error, Executor, Job, ReturnWhen, ThreadPoolExecutor, as_completed, scope, wait,
};

fn one_worker() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap()
}

/// Python's documented deadlock, with `max_workers=1`: a job that submits to
/// its own pool and waits for the result.
#[test]
fn pythons_deadlock_example_completes() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || inner_pool.submit(|| 6 * 7).unwrap().wait().unwrap())
        .unwrap();
    assert_eq!(outer.wait().unwrap(), 42);
    // The same with Python's second example: two jobs waiting on each other's
    // *results* in order (a chain, not a cycle).
    let (a, b) = (pool.clone(), pool.clone());
    let mut chain = pool
        .submit(move || {
            let c = a.clone();
            let mut middle = a
                .submit(move || c.submit(|| 1).unwrap().wait().unwrap() + 1)
                .unwrap();
            middle.wait().unwrap() + 1
        })
        .unwrap();
    assert_eq!(chain.wait().unwrap(), 3);
    drop(b);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn a_timed_wait_helps_too() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            inner_pool
                .submit(|| "inner")
                .unwrap()
                .wait_timeout(Duration::from_secs(60))
                .unwrap()
        })
        .unwrap();
    assert_eq!(outer.wait().unwrap(), "inner");
}

/// The one waited for is taken first, even behind others in the queue.
#[test]
fn the_awaited_job_is_taken_first() {
    let pool = one_worker();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (inner_pool, log) = (pool.clone(), Arc::clone(&order));
    let mut outer = pool
        .submit(move || {
            let first = Arc::clone(&log);
            let _other = inner_pool
                .submit(move || first.lock().unwrap().push("queued first"))
                .unwrap();
            let wanted = Arc::clone(&log);
            let mut awaited = inner_pool
                .submit(move || wanted.lock().unwrap().push("awaited"))
                .unwrap();
            awaited.wait().unwrap();
            log.lock().unwrap().push("outer resumed");
        })
        .unwrap();
    outer.wait().unwrap();
    pool.shutdown(CancelFutures::No);
    let order = order.lock().unwrap();
    assert_eq!(order[0], "awaited", "{order:?}");
    assert_eq!(order[1], "outer resumed", "{order:?}");
}

/// `Map::next`, `as_completed` and `wait(..)` inside the only worker.
#[test]
fn map_as_completed_and_wait_help() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let doubled: Vec<u32> = inner_pool
                .map(|x| x * 2, 0..5_u32)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let futures: Vec<_> = (0..4_u32)
                .map(|x| inner_pool.submit(move || x).unwrap())
                .collect();
            let mut seen: Vec<u32> = as_completed(futures, None)
                .map(|(_, outcome)| outcome.unwrap())
                .collect();
            seen.sort_unstable();
            let mut more: Vec<_> = (0..3_u32)
                .map(|x| inner_pool.submit(move || x).unwrap())
                .collect();
            let waited = wait(&mut more, None, ReturnWhen::AllCompleted);
            (doubled, seen, waited.done.len())
        })
        .unwrap();
    let (doubled, seen, done) = outer.wait().unwrap();
    assert_eq!(doubled, [0, 2, 4, 6, 8]);
    assert_eq!(seen, [0, 1, 2, 3]);
    assert_eq!(done, 3);
}

/// A scope opened inside the only worker of its pool.
#[test]
fn a_scope_inside_the_only_worker_completes() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let data = [1_u64, 2, 3, 4];
            let sum = AtomicUsize::new(0);
            scope(&inner_pool, |s| {
                for x in &data {
                    let sum = &sum;
                    s.spawn(move || {
                        sum.fetch_add(*x as usize, Ordering::Relaxed);
                    })
                    .unwrap();
                }
            })
            .unwrap();
            sum.into_inner()
        })
        .unwrap();
    assert_eq!(outer.wait().unwrap(), 10);
}

/// A helped job that panics fails its own future; the waiter goes on.
#[test]
fn a_helped_panic_stays_in_its_own_future() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let mut failing = inner_pool
                .submit(|| -> u8 { panic!("helped job") })
                .unwrap();
            matches!(failing.wait(), Err(Error::Panicked(_)))
        })
        .unwrap();
    assert!(
        outer.wait().unwrap(),
        "the panic was the inner job's outcome"
    );
    assert_eq!(
        pool.submit(|| 5).unwrap().wait().unwrap(),
        5,
        "the worker survived"
    );
}

/// Helped jobs nest (a helped job that waits helps in turn) up to a bound of
/// 16 per worker: a chain of 10 waits completes on one worker.
#[test]
fn nested_helping_completes_a_chain_on_one_worker() {
    fn chain(pool: ThreadPoolExecutor, depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let next = pool.clone();
        pool.submit(move || chain(next, depth - 1))
            .unwrap()
            .wait()
            .unwrap()
            + 1
    }
    let pool = one_worker();
    let inner = pool.clone();
    assert_eq!(
        pool.submit(move || chain(inner, 10))
            .unwrap()
            .wait()
            .unwrap(),
        10
    );
}

/// Past the bound a wait is a plain wait: a chain of 20 on one worker would
/// wait for a worker that never comes, as in Python; a timed wait reports it.
#[test]
fn past_the_bound_a_wait_is_a_plain_wait() {
    fn chain(pool: ThreadPoolExecutor, depth: u32) -> Result<u32, Error> {
        if depth == 0 {
            return Ok(0);
        }
        let next = pool.clone();
        let mut inner = pool.submit(move || chain(next, depth - 1)).unwrap();
        Ok(inner.wait_timeout(Duration::from_millis(200))?? + 1)
    }
    let pool = one_worker();
    let inner = pool.clone();
    let outcome = pool
        .submit(move || chain(inner, 20))
        .unwrap()
        .wait()
        .unwrap();
    assert!(matches!(outcome, Err(Error::Timeout)), "{outcome:?}");
}

/// A job already running on another worker is not run twice: the helper
/// finds the queue empty and parks until it is done.
#[test]
fn a_job_running_elsewhere_is_waited_for() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let (started, is_started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let mut busy = pool
        .submit(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            started.send(()).unwrap();
            gate.recv().unwrap();
            9
        })
        .unwrap();
    is_started.recv().unwrap();
    let mut waiter = pool.submit(move || busy.wait().unwrap()).unwrap();
    release.send(()).unwrap();
    assert_eq!(waiter.wait().unwrap(), 9);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Waits until the pool's only worker counts as a parked helper: its job
/// waits, and it found nothing to run. Polls the pool's state (its `Debug`),
/// not the clock; 30 s without it fails the test.
fn until_the_worker_is_a_parked_helper(pool: &ThreadPoolExecutor) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !format!("{pool:?}").contains("parked_helpers: 1") {
        assert!(
            Instant::now() < deadline,
            "the worker never parked: {pool:?}"
        );
        std::thread::yield_now();
    }
}

/// The helping gap: the only worker's job A waits for a future whose job B
/// the main thread queues only after A found nothing to run and parked. The
/// submit finds no free worker and no room for a thread, so it wakes the
/// parked helper, which runs B. Without that wake-up, B would wait for A and
/// A for B: the 30 s timed wait fails the test.
#[test]
fn a_parked_helper_is_woken_for_a_job_queued_later() {
    for how in ["wait", "wait_timeout", "wait(..)"] {
        let pool = one_worker();
        let (job_b, mut b) = Job::new(|| 42);
        let (about_to_wait, is_about_to_wait) = mpsc::channel();
        let mut a = pool
            .submit(move || {
                about_to_wait.send(()).unwrap();
                match how {
                    "wait" => b.wait().unwrap(),
                    "wait_timeout" => b.wait_timeout(Duration::from_secs(60)).unwrap(),
                    _ => {
                        let mut futures = [b];
                        let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
                        assert_eq!(waited.done, [0]);
                        futures[0].try_take().unwrap().unwrap()
                    }
                }
            })
            .unwrap();
        is_about_to_wait.recv().unwrap();
        until_the_worker_is_a_parked_helper(&pool);
        pool.execute(job_b).unwrap();
        let outcome = a.wait_timeout(Duration::from_secs(30));
        assert_eq!(
            outcome.ok(),
            Some(42),
            "{how}: the parked helper was not woken"
        );
        assert!(
            format!("{pool:?}").contains("parked_helpers: 0"),
            "{pool:?}"
        );
        pool.shutdown(CancelFutures::No);
    }
}

/// A parked helper claimed by a submit whose wait then ends before it looks
/// again hands the claim on: here its job returns, and the worker loop runs
/// the queued job; nothing is lost either way.
#[test]
fn a_claimed_helper_whose_wait_ends_leaves_the_job_to_the_pool() {
    let pool = one_worker();
    let (producer, mut awaited) = concurrent_futures::promise::<u8>();
    let (about_to_wait, is_about_to_wait) = mpsc::channel();
    let mut a = pool
        .submit(move || {
            about_to_wait.send(()).unwrap();
            awaited.wait().unwrap()
        })
        .unwrap();
    is_about_to_wait.recv().unwrap();
    until_the_worker_is_a_parked_helper(&pool);
    producer.set_result(7).unwrap();
    let mut later = pool.submit(|| 8_u8).unwrap();
    assert_eq!(a.wait_timeout(Duration::from_secs(30)).ok(), Some(7));
    assert_eq!(later.wait_timeout(Duration::from_secs(30)).ok(), Some(8));
}
