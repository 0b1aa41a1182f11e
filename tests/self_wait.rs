//! Waiting for an executor's termination from inside its own job or done
//! callback (issue #13, 3): on every executor and every path (the blocking
//! `shutdown`, `terminated()`, `AsyncExecutor::shutdown().await`),
//! the wait returns instead of waiting for itself. `shutdown` begins
//! shutdown and returns; `terminated()` is already done with
//! `Error::WouldDeadlock`.
//!
//! On the code before this, `rayon_job_shutdown_returns` (and the
//! tokio, inline and `terminated` cases) never returned.

mod common;

use concurrent_futures::CancelFutures;
use std::sync::{Arc, mpsc};

use common::no_hang;
use concurrent_futures::{AsyncExecutor, Error, Executor, InlineExecutor, ThreadPoolExecutor};

/// Every path, from inside a job of `executor`: returns what each gave.
fn from_inside_a_job<E: Executor + Send + Sync + 'static>(executor: Arc<E>) {
    let inside = Arc::clone(&executor);
    let mut job = executor
        .submit(move || {
            let terminated = inside.terminated().wait();
            inside.shutdown(CancelFutures::No);
            let awaited = futures::executor::block_on(async {
                let async_executor = AsyncExecutor::new(Arc::clone(&inside));
                async_executor.shutdown(CancelFutures::No).await;
                async_executor.wrapped().is_shutdown()
            });
            (terminated, inside.is_shutdown(), awaited)
        })
        .unwrap();
    let (terminated, shut_down, awaited) = job.wait().unwrap();
    assert!(matches!(terminated, Err(Error::WouldDeadlock)));
    assert!(shut_down, "shutdown began shutdown");
    assert!(awaited);
    // From outside, the wait is a real one.
    executor.shutdown(CancelFutures::No);
    executor.terminated().wait().unwrap();
}

/// The same from a done callback that runs on the executor's thread: the
/// callback is registered while the job is blocked, so the worker runs it.
fn from_a_done_callback<E: Executor + Send + Sync + 'static>(executor: Arc<E>) {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let job = executor
        .submit(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        })
        .unwrap();
    started.recv().unwrap();
    let (report, reported) = mpsc::channel();
    let inside = Arc::clone(&executor);
    job.on_done(move |_| {
        let terminated = inside.terminated().wait();
        inside.shutdown(CancelFutures::No);
        report.send(terminated).unwrap();
    });
    release.send(()).unwrap();
    assert!(matches!(
        reported.recv().unwrap(),
        Err(Error::WouldDeadlock)
    ));
    executor.shutdown(CancelFutures::No);
    executor.terminated().wait().unwrap();
}

#[test]
fn thread_pool_job_shutdown_returns() {
    no_hang("thread pool job", || {
        from_inside_a_job(Arc::new(ThreadPoolExecutor::new()))
    });
}

#[test]
fn thread_pool_callback_shutdown_returns() {
    no_hang("thread pool callback", || {
        from_a_done_callback(Arc::new(ThreadPoolExecutor::new()))
    });
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_job_shutdown_returns() {
    no_hang("rayon job", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        from_inside_a_job(Arc::new(concurrent_futures::RayonExecutor::new(Arc::new(
            pool,
        ))))
    });
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_callback_shutdown_returns() {
    no_hang("rayon callback", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        from_a_done_callback(Arc::new(concurrent_futures::RayonExecutor::new(Arc::new(
            pool,
        ))))
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_job_shutdown_returns() {
    no_hang("tokio job", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        from_inside_a_job(Arc::new(concurrent_futures::TokioBlockingExecutor::new(
            runtime.handle().clone(),
        )))
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_callback_shutdown_returns() {
    no_hang("tokio callback", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        from_a_done_callback(Arc::new(concurrent_futures::TokioBlockingExecutor::new(
            runtime.handle().clone(),
        )))
    });
}

thread_local! {
    static INLINE: InlineExecutor = InlineExecutor::new();
}

#[test]
fn inline_job_shutdown_returns() {
    no_hang("inline job", || {
        INLINE.with(|executor| {
            let mut job = executor
                .submit(|| {
                    INLINE.with(|inside| {
                        let terminated = inside.terminated().wait();
                        inside.shutdown(CancelFutures::No);
                        (terminated, inside.is_shutdown())
                    })
                })
                .unwrap();
            let (terminated, shut_down) = job.try_take().unwrap().unwrap();
            assert!(matches!(terminated, Err(Error::WouldDeadlock)));
            assert!(shut_down);
            // Outside the job, termination is reached.
            executor.terminated().wait().unwrap();
        });
    });
}

/// A wait that the waiter does not prevent still waits: a job of one pool
/// shutting down another pool waits for that pool's jobs.
#[test]
fn waiting_for_another_executor_from_a_job_still_waits() {
    no_hang("other pool", || {
        let outer = ThreadPoolExecutor::new();
        let inner = Arc::new(ThreadPoolExecutor::new());
        let (release, gate) = mpsc::channel::<()>();
        let mut inner_job = inner.submit(move || gate.recv().unwrap()).unwrap();
        let for_outer = Arc::clone(&inner);
        let mut outer_job = outer
            .submit(move || {
                release.send(()).unwrap();
                for_outer.shutdown(CancelFutures::No);
                for_outer.terminated().wait()
            })
            .unwrap();
        assert!(outer_job.wait().unwrap().is_ok());
        assert!(inner_job.is_done());
        inner_job.wait().unwrap();
    });
}
