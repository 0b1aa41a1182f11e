//! One conformance suite for every executor: the behaviour tests are written
//! once, generic over `E: Executor`, and run for `ThreadPoolExecutor`,
//! `InlineExecutor`, and (with their features) `RayonExecutor` and
//! `TokioBlockingExecutor`.

use concurrent_futures::CancelFutures;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use concurrent_futures::{
    Error, Executor, InlineExecutor, Job, Map, MapOptions, SubmitError, ThreadPoolExecutor,
};

/// How many jobs the executor runs at once (`None`: it runs each job inside
/// `submit`, so nothing ever queues).
type Capacity = Option<usize>;

fn submit_returns_the_value<E: Executor>(executor: &E) {
    assert_eq!(
        executor.submit(|| 2_u64.pow(8)).unwrap().wait().unwrap(),
        256
    );
}

fn map_keeps_input_order<E: Executor>(executor: &E) {
    // `E` need not be `Clone`: `&E` is an executor, and a copyable handle.
    let results: Vec<u32> = Map::new(executor, |x| x * x, 0..50_u32, MapOptions::new())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..50).map(|x| x * x).collect::<Vec<_>>());
}

fn cancelled_before_start_skips_the_closure<E: Executor>(executor: &E) {
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let (job, mut future) = Job::new(move || counter.fetch_add(1, Ordering::SeqCst));
    assert!(future.cancel());
    executor.execute(job).unwrap();
    assert!(matches!(future.wait(), Err(Error::Cancelled)));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

fn panics_are_reported_and_the_executor_keeps_serving<E: Executor>(executor: &E) {
    match executor
        .submit(|| -> u8 { panic!("job panicked") })
        .unwrap()
        .wait()
    {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("job panicked")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(executor.submit(|| 1).unwrap().wait().unwrap(), 1);
}

fn shutdown_cancel_futures_cancels_queued_jobs<E: Executor>(executor: &E, capacity: Capacity) {
    let Some(workers) = capacity else {
        return; // nothing ever queues
    };
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let busy: Vec<_> = (0..workers)
        .map(|_| {
            let started = started_tx.clone();
            let gate = Arc::clone(&gate);
            executor
                .submit(move || {
                    started.send(()).unwrap();
                    drop(gate.lock().unwrap());
                    "finished"
                })
                .unwrap()
        })
        .collect();
    for _ in 0..workers {
        started_rx.recv().unwrap(); // every worker is busy
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..10)
        .map(|_| {
            let ran = Arc::clone(&ran);
            executor
                .submit(move || ran.fetch_add(1, Ordering::SeqCst))
                .unwrap()
        })
        .collect();
    executor.shutdown_nowait(CancelFutures::Yes);
    for future in &queued {
        assert!(
            future.is_cancelled(),
            "cancelled at once, not when a worker gets to it"
        );
    }
    drop(held);
    for mut future in busy {
        assert_eq!(future.wait().unwrap(), "finished", "running jobs finish");
    }
    executor.terminated().wait().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    for mut future in queued {
        assert!(matches!(future.wait(), Err(Error::Cancelled)));
    }
}

fn submit_after_shutdown_is_refused_and_termination_follows<E: Executor>(executor: &E) {
    let accepted: Vec<_> = (0..20_u32)
        .map(|i| executor.submit(move || i).unwrap())
        .collect();
    let mut terminated = executor.terminated();
    executor.shutdown_nowait(CancelFutures::No);
    assert!(executor.is_shutdown());
    assert!(matches!(executor.submit(|| 0), Err(SubmitError::Shutdown)));
    terminated.wait().unwrap();
    for (i, mut future) in accepted.into_iter().enumerate() {
        assert_eq!(
            future.try_take().expect("done before termination").unwrap(),
            i as u32
        );
    }
    executor.shutdown_nowait(CancelFutures::Yes); // harmless again
    executor.terminated().wait().unwrap();
}

/// The whole suite, against fresh executors from `make`.
fn conformance<E: Executor>(make: impl Fn() -> E, capacity: Capacity) {
    let executor = make();
    submit_returns_the_value(&executor);
    map_keeps_input_order(&executor);
    cancelled_before_start_skips_the_closure(&executor);
    panics_are_reported_and_the_executor_keeps_serving(&executor);
    submit_after_shutdown_is_refused_and_termination_follows(&executor);
    shutdown_cancel_futures_cancels_queued_jobs(&make(), capacity);
}

#[test]
fn thread_pool_executor() {
    conformance(
        || {
            ThreadPoolExecutor::builder()
                .max_workers(2)
                .build()
                .unwrap()
        },
        Some(2),
    );
}

#[test]
fn inline_executor() {
    conformance(InlineExecutor::new, None);
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_executor() {
    conformance(
        || {
            concurrent_futures::RayonExecutor::new(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap(),
            ))
        },
        Some(2),
    );
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_blocking_executor() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    conformance(
        || concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone()),
        Some(2),
    );
}

/// A runtime that shuts down drops the adapter's unstarted tickets: their jobs
/// are abandoned, never left hanging.
#[cfg(feature = "tokio")]
#[test]
fn tokio_runtime_shutdown_abandons_unstarted_jobs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let executor = concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone());
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, blocked) = mpsc::channel::<()>();
    let mut busy = executor
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = blocked.recv();
        })
        .unwrap();
    started_rx.recv().unwrap();
    let mut queued = executor.submit(|| 1).unwrap();
    release.send(()).unwrap();
    runtime.shutdown_background();
    // The queued job either ran before the runtime stopped, or was abandoned.
    assert!(matches!(queued.wait(), Ok(1) | Err(Error::Abandoned)));
    assert!(busy.wait().is_ok());
}
