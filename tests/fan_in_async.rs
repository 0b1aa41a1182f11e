//! The async fan-in: `async_executor::as_completed` and `async_executor::wait`
//! (issue 22 §4, item 2), under `futures::executor`, tokio and smol, and
//! `cancel_remaining` on the stream and on the blocking `AsCompleted`
//! (item 3). Deterministic: completions are driven by promises and gates,
//! never by sleeps; the timeout tests use futures that never finish.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use common::{Tracked, count, gated, no_hang, pool};
use concurrent_futures::async_executor::{as_completed, wait};
use concurrent_futures::{
    Error, Executor, Promise, ReturnWhen, SharedFuture, as_completed as blocking_as_completed,
    promise,
};
use futures::{Stream, StreamExt};

fn pairs(n: usize) -> (Vec<Promise<usize>>, Vec<SharedFuture<usize>>) {
    (0..n).map(|_| promise::<usize>()).unzip()
}

/// Completes promise `order[k]` on another thread each time the test asks,
/// and checks that the stream yields exactly that index next.
async fn completion_order_body() {
    let (promises, futures) = pairs(4);
    let mut promises: Vec<Option<Promise<usize>>> = promises.into_iter().map(Some).collect();
    let (ask, asked) = mpsc::channel::<Promise<usize>>();
    let completer = thread::spawn(move || {
        for (value, promise) in asked.iter().enumerate() {
            promise.set_result(value).unwrap();
        }
    });
    let mut stream = as_completed(futures, None);
    for (step, index) in [2, 0, 3, 1].into_iter().enumerate() {
        ask.send(promises[index].take().unwrap()).unwrap();
        let (yielded, outcome) = stream.next().await.unwrap();
        assert_eq!((yielded, outcome.unwrap()), (index, step));
    }
    assert!(stream.next().await.is_none());
    drop(ask);
    completer.join().unwrap();
}

#[test]
fn as_completed_yields_in_completion_order_under_futures_executor() {
    no_hang("futures::executor", || {
        futures::executor::block_on(completion_order_body())
    });
}

#[test]
fn as_completed_yields_in_completion_order_under_tokio() {
    no_hang("tokio", || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(async { tokio::spawn(completion_order_body()).await.unwrap() })
    });
}

#[test]
fn as_completed_yields_in_completion_order_under_smol() {
    no_hang("smol", || smol::block_on(completion_order_body()));
}

#[test]
fn as_completed_yields_futures_already_done_first_in_input_order() {
    let (promises, futures) = pairs(3);
    let mut promises = promises.into_iter();
    let first = promises.next().unwrap();
    let second = promises.next().unwrap();
    let third = promises.next().unwrap();
    third.set_result(30).unwrap();
    first.set_result(10).unwrap();
    let mut stream = as_completed(futures, None);
    futures::executor::block_on(async {
        assert_eq!(stream.next().await.unwrap().0, 0);
        assert_eq!(stream.next().await.unwrap().0, 2);
        second.set_result(20).unwrap();
        assert_eq!(stream.next().await.unwrap().0, 1);
        assert!(stream.next().await.is_none());
    });
}

#[test]
fn as_completed_yields_a_hundred_thousand_each_index_once() {
    const MANY: usize = 100_000;
    let (promises, futures) = pairs(MANY);
    // Completed in reverse order from another thread while the task polls:
    // with a rescan per wake-up this would be quadratic.
    let completer = thread::spawn(move || {
        for (index, promise) in promises.into_iter().enumerate().rev() {
            promise.set_result(index).unwrap();
        }
    });
    let seen = no_hang("100_000 futures", move || {
        futures::executor::block_on(async move {
            let mut seen = vec![false; MANY];
            let mut stream = as_completed(futures, None);
            assert_eq!(Stream::size_hint(&stream), (MANY, Some(MANY)));
            while let Some((index, outcome)) = stream.next().await {
                assert_eq!(outcome.unwrap(), index);
                assert!(!std::mem::replace(&mut seen[index], true), "{index} twice");
            }
            seen
        })
    });
    completer.join().unwrap();
    assert!(seen.into_iter().all(|seen| seen));
}

#[test]
fn as_completed_times_out_each_index_left_in_input_order() {
    let (promises, futures) = pairs(3);
    let mut promises = promises.into_iter();
    let never_0 = promises.next().unwrap();
    let done = promises.next().unwrap();
    let never_2 = promises.next().unwrap();
    done.set_result(1).unwrap();
    let items: Vec<_> = futures::executor::block_on(
        as_completed(futures, Some(Duration::from_millis(20))).collect::<Vec<_>>(),
    );
    let indices: Vec<_> = items.iter().map(|(index, _)| *index).collect();
    assert_eq!(indices, [1, 0, 2]);
    assert_eq!(*items[0].1.as_ref().unwrap(), 1);
    assert!(matches!(items[1].1, Err(Error::Timeout)));
    assert!(matches!(items[2].1, Err(Error::Timeout)));
    // A timeout cancels nothing, as in Python.
    assert!(!never_0.is_cancelled() && !never_2.is_cancelled());
}

/// A pool of one worker held by a gate, and jobs queued behind it that
/// count their runs and hold a `Tracked` (each closure dropped exactly once).
struct Queued {
    pool: concurrent_futures::ThreadPoolExecutor,
    release: mpsc::Sender<()>,
    futures: Vec<SharedFuture<()>>,
    ran: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

fn queued_behind_gate(n: usize) -> Queued {
    let pool = pool(1);
    let (release, gate_future) = gated(&pool, || ());
    drop(gate_future);
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let futures = (0..n)
        .map(|_| {
            let ran = Arc::clone(&ran);
            let tracked = Tracked::counting(&drops);
            pool.submit(move || {
                let _tracked = &tracked;
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    Queued {
        pool,
        release,
        futures,
        ran,
        drops,
    }
}

#[test]
fn as_completed_stream_cancel_remaining_cancels_jobs_not_started() {
    let Queued {
        pool,
        release,
        futures,
        ran,
        drops,
    } = queued_behind_gate(3);
    let mut stream = as_completed(futures, None);
    stream.cancel_remaining();
    assert!(futures::executor::block_on(stream.next()).is_none());
    release.send(()).unwrap();
    pool.shutdown(concurrent_futures::CancelFutures::No);
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 3);
}

#[test]
fn dropping_as_completed_stream_lets_the_jobs_run() {
    let Queued {
        pool,
        release,
        futures,
        ran,
        drops,
    } = queued_behind_gate(3);
    let mut stream = as_completed(futures, None);
    // Polled once (nothing is done yet), then dropped.
    assert!(futures::executor::block_on(futures::future::poll_immediate(stream.next())).is_none());
    drop(stream);
    release.send(()).unwrap();
    pool.shutdown(concurrent_futures::CancelFutures::No);
    assert_eq!(count(&ran), 3);
    assert_eq!(count(&drops), 3);
}

#[test]
fn blocking_as_completed_cancel_remaining_cancels_jobs_not_started() {
    let Queued {
        pool,
        release,
        futures,
        ran,
        drops,
    } = queued_behind_gate(3);
    let mut iter = blocking_as_completed(futures, None);
    iter.cancel_remaining();
    assert!(iter.next().is_none());
    assert_eq!(iter.len(), 0);
    release.send(()).unwrap();
    pool.shutdown(concurrent_futures::CancelFutures::No);
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 3);
}

#[test]
fn blocking_as_completed_cancel_remaining_after_some_were_yielded() {
    let (promises, futures) = pairs(3);
    let mut promises = promises.into_iter();
    let first = promises.next().unwrap();
    let rest: Vec<_> = promises.collect();
    first.set_result(5).unwrap();
    let mut iter = blocking_as_completed(futures, None);
    assert_eq!(iter.next().unwrap().1.unwrap(), 5);
    iter.cancel_remaining();
    assert!(iter.next().is_none());
    assert!(rest.iter().all(Promise::is_cancelled));
}

#[test]
fn wait_first_completed_returns_at_the_first_completion() {
    let (promises, mut futures) = pairs(3);
    let mut promises = promises.into_iter();
    let _a = promises.next().unwrap();
    let b = promises.next().unwrap();
    let _c = promises.next().unwrap();
    let (go, gone) = mpsc::channel::<()>();
    let completer = thread::spawn(move || {
        gone.recv().unwrap();
        b.set_result(2).unwrap();
    });
    let waited = futures::executor::block_on(async {
        let waiting = wait(&mut futures, None, ReturnWhen::FirstCompleted);
        go.send(()).unwrap();
        waiting.await
    });
    completer.join().unwrap();
    assert_eq!(waited.done, [1]);
    assert_eq!(waited.not_done, [0, 2]);
    assert_eq!(futures[1].try_take().unwrap().unwrap(), 2);
}

#[test]
fn wait_all_completed_under_tokio_and_smol() {
    for runtime in ["tokio", "smol"] {
        let (promises, mut futures) = pairs(50);
        let completer = thread::spawn(move || {
            for (index, promise) in promises.into_iter().enumerate().rev() {
                promise.set_result(index).unwrap();
            }
        });
        let body = async move {
            let waited = wait(&mut futures, None, ReturnWhen::AllCompleted).await;
            (waited, futures)
        };
        let (waited, mut futures) = match runtime {
            "tokio" => tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(body),
            _ => smol::block_on(body),
        };
        completer.join().unwrap();
        assert_eq!(waited.done, (0..50).collect::<Vec<_>>());
        assert!(waited.not_done.is_empty());
        assert_eq!(futures[7].try_take().unwrap().unwrap(), 7);
    }
}

#[test]
fn wait_first_exception_returns_at_a_failure() {
    let pool = pool(2);
    let (_release, _held) = gated(&pool, || 0_u8);
    let failing = pool.submit(|| -> u8 { panic!("deliberate") }).unwrap();
    let (_pending_promise, pending) = promise::<u8>();
    let mut futures = [pending, failing];
    let waited = futures::executor::block_on(wait(&mut futures, None, ReturnWhen::FirstException));
    assert_eq!(waited.done, [1]);
    assert!(matches!(
        futures[1].try_take(),
        Some(Err(Error::Panicked(_)))
    ));
}

#[test]
fn wait_times_out_with_the_futures_not_done() {
    let (promises, mut futures) = pairs(2);
    let mut promises = promises.into_iter();
    let done = promises.next().unwrap();
    let _never = promises.next().unwrap();
    done.set_result(0).unwrap();
    let waited = futures::executor::block_on(wait(
        &mut futures,
        Some(Duration::from_millis(20)),
        ReturnWhen::AllCompleted,
    ));
    assert_eq!(waited.done, [0]);
    assert_eq!(waited.not_done, [1]);
}

#[test]
fn dropping_a_pending_wait_deregisters_and_leaves_the_futures_usable() {
    let (promises, mut futures) = pairs(2);
    {
        let waiting = wait(&mut futures, None, ReturnWhen::AllCompleted);
        futures::pin_mut!(waiting);
        assert!(
            futures::executor::block_on(futures::future::poll_immediate(&mut waiting)).is_none()
        );
    }
    for (value, promise) in promises.into_iter().enumerate() {
        promise.set_result(value).unwrap();
    }
    assert_eq!(futures[1].try_take().unwrap().unwrap(), 1);
    let mut stream = as_completed(futures, None);
    assert_eq!(futures::executor::block_on(stream.next()).unwrap().0, 0);
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn async_fan_in_futures_are_send_for_spawned_tasks() {
    let (_producer, future) = promise::<u8>();
    let mut futures = [future];
    let waiting = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_send(&waiting);
    drop(waiting);
    let stream = as_completed(futures, None);
    assert_send(&stream);
}
