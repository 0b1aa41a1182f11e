//! Regression tests from an adversarial review of the process pool: done
//! callbacks that shut the pool down or panic with a payload whose `Drop`
//! panics (the dispatcher used to die and the pool hang), shutdown with
//! `cancel_futures` past such a callback, and the map bound (yield first,
//! then refill).
#![cfg(all(feature = "process", unix))]

mod common;

use concurrent_futures::CancelFutures;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::no_hang;
use common::process::{Handshake, hold};
use concurrent_futures::Error;
use concurrent_futures::process::{ProcessPoolExecutor, process_fn};

procspawn::enable_test_support!();

process_fn! {
    fn one() -> u8 { 1 }
}

#[test]
fn process_callback_self_shutdown() {
    no_hang("process callback self shutdown", || {
        let pool = Arc::new(
            ProcessPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        );
        let handshake = Handshake::new("selfwait");
        let f = pool.submit(hold, handshake.path.clone()).unwrap();
        let (_, stream) = handshake.accept();
        let (tx, rx) = mpsc::channel();
        let inner = Arc::clone(&pool);
        f.on_done(move |_| {
            inner.shutdown(CancelFutures::No);
            let t = inner.terminated().wait();
            tx.send(t.map_err(|e| matches!(e, Error::WouldDeadlock)))
                .unwrap();
        });
        drop(stream); // releases the job (read returns 0)
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)).unwrap(), Err(true));
        pool.shutdown(CancelFutures::No);
    });
}

/// A done callback on the dispatcher panics with a payload whose Drop panics:
/// the pool must still run later jobs and shut down.
#[test]
fn process_callback_panicking_payload() {
    no_hang("process payload", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let handshake = Handshake::new("payload");
        let f = pool.submit(hold, handshake.path.clone()).unwrap();
        let (_, stream) = handshake.accept();
        f.on_done(|_| std::panic::panic_any(common::PanickingPayload));
        drop(stream);
        let mut later = pool.submit(one, ()).unwrap();
        let later = later.wait_timeout(Duration::from_secs(30));
        pool.shutdown(CancelFutures::No);
        assert!(
            later.is_ok(),
            "a job after the panicking callback: {later:?}"
        );
    });
}

/// shutdown_nowait(CancelFutures::Yes) with queued jobs, one callback panicking with a
/// payload whose Drop panics: the others still report Cancelled, and
/// shutdown does not panic.
#[test]
fn process_shutdown_cancel_with_panicking_payload() {
    no_hang("process cancel payload", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let handshake = Handshake::new("cancel");
        let _busy = pool.submit(hold, handshake.path.clone()).unwrap();
        let (_, stream) = handshake.accept();
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let f = pool.submit(one, ()).unwrap();
            let tx = tx.clone();
            f.on_done(move |outcome| {
                tx.send((i, outcome.map_err(|e| e.is_cancelled()))).unwrap();
                if i == 0 {
                    std::panic::panic_any(common::PanickingPayload);
                }
            });
        }
        drop(tx);
        let escaped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.shutdown_nowait(CancelFutures::Yes)
        }))
        .is_err();
        drop(stream);
        pool.shutdown(CancelFutures::No);
        let mut seen: Vec<_> = rx.iter().collect();
        seen.sort_by_key(|x| x.0);
        assert_eq!(
            seen,
            [(0, Err(true)), (1, Err(true)), (2, Err(true))],
            "escaped: {escaped}"
        );
        assert!(!escaped, "shutdown_nowait(CancelFutures::Yes) panicked");
        assert_eq!(seen, [(0, Err(true)), (1, Err(true)), (2, Err(true))]);
    });
}

/// The process map's bound (issue 13, 7, on the process pool): with
/// buffer_size 1 and chunk_size 1, once `next` has returned result 0 and
/// before `next` is called again, no second job may have been submitted
/// (at most `buffer_size` submitted and not yet yielded). A second job that
/// connects to the socket in that window is the fault.
#[test]
fn process_map_bound_yield_before_refill() {
    use concurrent_futures::MapOptions;
    use std::num::NonZeroUsize;
    no_hang("process map bound", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .build()
            .unwrap();
        let handshake = Arc::new(Handshake::new("bound"));
        let (conn_tx, conn_rx) = mpsc::channel();
        {
            let handshake = Arc::clone(&handshake);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    if conn_tx.send(handshake.accept().1).is_err() {
                        break;
                    }
                }
            });
        }
        let options = MapOptions::new()
            .buffer_size(NonZeroUsize::new(1).unwrap())
            .chunk_size(NonZeroUsize::new(1).unwrap());
        let paths = vec![handshake.path.clone(); 3];
        let mut map = pool.map_with(hold, paths, options).unwrap();
        let first = conn_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        drop(first); // release job 0
        let r0 = map.next().unwrap();
        assert!(r0.is_ok(), "{r0:?}");
        // Result 0 is yielded; job 1 must not have been submitted yet.
        let early = conn_rx.recv_timeout(Duration::from_secs(5));
        let violated = early.is_ok();
        drop(early);
        // Drain the rest.
        std::thread::spawn(move || {
            while let Ok(s) = conn_rx.recv() {
                drop(s);
            }
        });
        let rest: Vec<_> = map.collect();
        pool.shutdown(CancelFutures::No);
        assert_eq!(rest.len(), 2);
        assert!(
            !violated,
            "job 1 was submitted before result 0 was yielded: 2 in flight with buffer_size 1"
        );
    });
}

process_fn! {
    fn triple(x: u64) -> u64 {
        x * 3
    }
}

/// Issue #14, 2 on the process pool: a helper that makes a pool and returns
/// its map (E0597 "`pool` does not live long enough" before: the map borrowed
/// the pool); the map holds a handle, and the pool shuts down when the map,
/// its last handle, is dropped.
fn tripled(items: Vec<u64>) -> impl Iterator<Item = u64> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    pool.map(triple, items).unwrap().map(Result::unwrap)
}

#[test]
fn process_map_returned_from_the_function_that_made_the_pool() {
    let results: Vec<u64> = no_hang("owned process map", || tripled(vec![1, 2, 3]).collect());
    assert_eq!(results, [3, 6, 9]);
}
