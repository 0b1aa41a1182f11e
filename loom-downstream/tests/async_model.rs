//! Async models, with loom's `futures` feature: a task (driven by
//! `loom::future::block_on` on the model's main thread) awaits the mailbox's
//! reply while a loom thread sends it.
#![cfg(loom)]

mod helpers;

use std::future::{Future, poll_fn};
use std::pin::Pin;

use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor, unwrap_future};
use helpers::check_outcomes;
use loom::future::block_on;
use loom_downstream::Mailbox;

/// `block_on(future)`, and whether the task had to wait (it saw `Pending` and
/// was woken) or found the reply already there.
fn block_on_labelled<F: Future + Unpin>(mut future: F) -> (F::Output, &'static str) {
    let mut polls = 0;
    let output = block_on(poll_fn(|cx| {
        polls += 1;
        Pin::new(&mut future).poll(cx)
    }));
    let how = if polls == 1 {
        "ready at the first poll"
    } else {
        "pending, then woken"
    };
    (output, how)
}

/// The reply, sent by another thread, awaited through `unwrap_future`.
#[test]
fn reply_awaited_in_a_task() {
    check_outcomes(
        "reply_awaited_in_a_task",
        &["ready at the first poll", "pending, then woken"],
        None,
        || {
            let (producer, future) = Mailbox::default().claim().unwrap();
            let answer = loom::thread::spawn(move || producer.set_result(42).unwrap());
            let (reply, how) = block_on_labelled(unwrap_future(future));
            assert_eq!(reply.unwrap(), 42);
            answer.join().unwrap();
            how
        },
    );
}

/// The reply computed by a job on a one-worker `ThreadPoolExecutor` (its worker
/// is a loom thread), through an `AsyncExecutor`, and awaited in a task.
///
/// Bounded to 3 preemptions: the pool's queue, lock and condition variable
/// make the exhaustive state space too large for CI (not done after 30
/// minutes on 2 cores; 3 takes about 4 s, 84,790 interleavings), and the bugs
/// loom finds almost always need no more than 2 or 3 preemptions.
#[test]
fn reply_from_a_pool_job() {
    check_outcomes(
        "reply_from_a_pool_job",
        &["ready at the first poll", "pending, then woken"],
        Some(3),
        || {
            let pool = ThreadPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap();
            let executor = AsyncExecutor::new(pool);
            let (producer, future) = Mailbox::default().claim().unwrap();
            let job = executor.run(move || producer.set_result(42).is_ok());
            let (reply, how) = block_on_labelled(unwrap_future(future));
            assert_eq!(reply.unwrap(), 42);
            assert!(block_on(job).unwrap());
            block_on(executor.shutdown(concurrent_futures::CancelFutures::No));
            how
        },
    );
}
