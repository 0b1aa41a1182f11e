//! Values far larger than a thread's stack frame budget (issue #13, 8): the
//! cell is built in place on the heap, not on the stack and then moved, so a
//! `promise::<[u8; 1 << 20]>()` or a job returning such a value works on a
//! thread with a 2 MiB stack in a debug build. On the code before this,
//! `promise_of_a_mebibyte_on_a_small_stack` aborted with a stack overflow.

use concurrent_futures::CancelFutures;
use concurrent_futures::{Executor, Job, ThreadPoolExecutor, promise};

const MIB: usize = 1 << 20;

fn on_small_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(2 * MIB)
        .spawn(body)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn promise_of_a_mebibyte_on_a_small_stack() {
    on_small_stack(|| {
        let (producer, future) = promise::<[u8; MIB]>();
        assert!(future.is_pending());
        drop(producer);
        assert!(future.is_done());
    });
}

#[test]
fn job_of_a_mebibyte_is_made_on_a_small_stack() {
    on_small_stack(|| {
        let (job, future) = Job::new(|| [7_u8; MIB]);
        assert!(future.is_pending());
        job.cancel();
        assert!(future.is_cancelled());
    });
}

/// Boxed, so the value itself never sits on a stack: the job's own cell is
/// what must not be built on one.
#[test]
fn submit_of_a_job_returning_a_boxed_mebibyte() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let mut future = on_small_stack(move || {
        let future = pool.submit(|| vec![7_u8; MIB].into_boxed_slice()).unwrap();
        pool.shutdown(CancelFutures::No);
        future
    });
    let value = future.wait().unwrap();
    assert_eq!(value.len(), MIB);
    assert!(value.iter().all(|&byte| byte == 7));
}

/// A job returning the array by value, submitted from a small stack and run on
/// a worker with the default stack.
#[test]
fn submit_of_a_job_returning_a_mebibyte_array() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .stack_size(4 * MIB)
        .build()
        .unwrap();
    let future = on_small_stack(move || {
        let future = pool.submit(|| [7_u8; MIB]).unwrap();
        pool.shutdown(CancelFutures::No);
        future
    });
    // Taking the array by value needs room for it (and, in a debug build, its
    // temporaries) on the taking thread's stack.
    let sum = std::thread::Builder::new()
        .stack_size(16 * MIB)
        .spawn(move || {
            let mut future = future;
            let value = future.try_take().unwrap().unwrap();
            value.iter().map(|&byte| u64::from(byte)).sum::<u64>()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(sum, 7 * MIB as u64);
}
