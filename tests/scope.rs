//! `scope`: jobs that borrow from the stack, and a block that waits for them
//! (issue #14, 3). Runs under Miri in CI: the scope erases the jobs'
//! lifetimes, so a scope that returned before a job let go of its borrows
//! would be a use after free there.

mod common;

use concurrent_futures::CancelFutures;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Tracked, count, gated, no_hang};
use concurrent_futures::{Error, Executor, InlineExecutor, ThreadPoolExecutor, scope};

fn pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap()
}

#[test]
fn jobs_borrow_from_the_stack_and_the_scope_waits() {
    let pool = pool();
    let data: Vec<u64> = (1..=100).collect();
    let total = AtomicUsize::new(0);
    scope(&pool, |s| {
        for chunk in data.chunks(10) {
            let total = &total;
            s.spawn(move || {
                total.fetch_add(chunk.iter().sum::<u64>() as usize, Ordering::SeqCst);
            })
            .unwrap();
        }
    })
    .unwrap();
    // Every job has finished: nothing to wait for.
    assert_eq!(total.load(Ordering::SeqCst), 5050);
}

#[test]
fn jobs_may_mutate_disjoint_borrows() {
    let pool = pool();
    let mut halves = [vec![1_u32, 2], vec![3, 4]];
    scope(&pool, |s| {
        for half in halves.iter_mut() {
            s.spawn(move || half.iter_mut().for_each(|x| *x *= 10))
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(halves, [vec![10, 20], vec![30, 40]]);
}

#[test]
fn a_job_submits_more_jobs_to_its_scope() {
    let pool = pool();
    let seen = Mutex::new(Vec::new());
    scope(&pool, |s| {
        let seen = &seen;
        s.spawn(move || {
            seen.lock().unwrap().push(0);
            s.spawn(move || seen.lock().unwrap().push(1)).unwrap();
        })
        .unwrap();
    })
    .unwrap();
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, [0, 1]);
}

#[test]
fn futures_outlive_the_scope() {
    let pool = pool();
    let name = String::from("scoped");
    let mut future = scope(&pool, |s| s.submit(|| name.len()).unwrap()).unwrap();
    assert!(future.is_done());
    assert_eq!(future.wait().unwrap(), 6);
}

#[test]
fn panicking_jobs_are_reported_and_kept_in_their_futures() {
    let pool = pool();
    let error = scope(&pool, |s| {
        let ok = s.submit(|| 1).unwrap();
        let failed = s.submit(|| -> u8 { panic!("a scoped job fails") }).unwrap();
        (ok, failed)
    })
    .unwrap_err();
    assert_eq!(error.panicked(), 1);
    assert!(error.to_string().contains("1 job"));
    let (mut ok, mut failed) = error.into_value();
    assert_eq!(ok.wait().unwrap(), 1);
    assert!(failed.wait().unwrap_err().is_panicked());
}

/// Jobs the executor cancels (shutdown with `cancel_futures`) drop their
/// closures unrun: the scope counts them out and returns.
#[test]
fn jobs_cancelled_by_a_shutdown_are_counted_out() {
    no_hang("cancelled scoped jobs", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let (release, busy) = gated(&pool, || ());
        let drops = Arc::new(AtomicUsize::new(0));
        let borrowed = String::from("borrowed");
        let futures = scope(&pool, |s| {
            let futures: Vec<_> = (0..3)
                .map(|_| {
                    let value = Tracked::counting(&drops);
                    let borrowed = &borrowed;
                    s.submit(move || {
                        drop(value);
                        borrowed.len()
                    })
                    .unwrap()
                })
                .collect();
            s.executor().shutdown_nowait(CancelFutures::Yes);
            release.send(()).unwrap();
            futures
        })
        .unwrap();
        assert_eq!(count(&drops), 3, "each closure dropped once");
        for mut future in futures {
            assert!(matches!(future.wait(), Err(Error::Cancelled)));
        }
        drop(busy);
    });
}

/// A submit the executor refuses drops the closure and is not counted.
#[test]
fn a_refused_submit_is_not_waited_for() {
    let pool = pool();
    pool.shutdown_nowait(CancelFutures::No);
    let drops = Arc::new(AtomicUsize::new(0));
    let refused = scope(&pool, |s| {
        let value = Tracked::counting(&drops);
        s.spawn(move || drop(value)).is_err()
    })
    .unwrap();
    assert!(refused);
    assert_eq!(count(&drops), 1);
}

/// The closure of `scope` panics with jobs still running: the scope waits for
/// them, then resumes the panic.
#[test]
fn the_scope_waits_before_resuming_a_panic_of_its_closure() {
    let pool = pool();
    let finished = AtomicUsize::new(0);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = scope(&pool, |s| {
            s.spawn(|| {
                finished.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            panic!("the scope's own closure fails");
        });
    }));
    assert!(outcome.is_err());
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[test]
fn an_inline_scope_runs_jobs_at_once() {
    let executor = InlineExecutor::new();
    let mut log = Vec::new();
    scope(&executor, |s| {
        let log = &mut log;
        s.spawn(move || log.push("ran")).unwrap();
    })
    .unwrap();
    assert_eq!(log, ["ran"]);
}
