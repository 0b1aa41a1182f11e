//! The bound of `Executor::map_with(.., MapOptions::buffer_size(n))` and of
//! `AsyncExecutor::map_buffered(.., n)`: at most `n` items submitted and not
//! yet yielded, so at most `n` calls of `f` at once (issue #13, 7; CPython
//! gh-131466). On the code before this, `map_with_keeps_the_bound` saw 3
//! submitted and not yielded for a bound of 2: `next` submitted the next item
//! before it waited for the current one.

use concurrent_futures::CancelFutures;
use std::cell::Cell;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use concurrent_futures::{
    AsyncExecutor, Executor, InlineExecutor, Job, Map, MapOptions, SharedFuture, SubmitError,
    ThreadPoolExecutor,
};
use futures::StreamExt;

/// Runs each job inline, and checks at every submit that the jobs submitted
/// and not yet yielded stay within `bound`.
struct BoundChecker {
    inner: InlineExecutor,
    submitted: Cell<usize>,
    yielded: Rc<Cell<usize>>,
    bound: usize,
    most: Cell<usize>,
}

impl BoundChecker {
    fn new(bound: usize) -> (BoundChecker, Rc<Cell<usize>>) {
        let yielded = Rc::new(Cell::new(0));
        let checker = BoundChecker {
            inner: InlineExecutor::new(),
            submitted: Cell::new(0),
            yielded: Rc::clone(&yielded),
            bound,
            most: Cell::new(0),
        };
        (checker, yielded)
    }
}

impl Executor for BoundChecker {
    fn execute(&self, job: Job) -> Result<(), SubmitError> {
        self.submitted.set(self.submitted.get() + 1);
        let outstanding = self.submitted.get() - self.yielded.get();
        self.most.set(self.most.get().max(outstanding));
        assert!(
            outstanding <= self.bound,
            "{outstanding} submitted and not yielded, bound {}",
            self.bound
        );
        self.inner.execute(job)
    }
    fn shutdown_nowait(&self, cancel: CancelFutures) {
        self.inner.shutdown_nowait(cancel)
    }
    fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown()
    }
    fn terminated(&self) -> SharedFuture<()> {
        self.inner.terminated()
    }
}

#[test]
fn map_with_keeps_the_bound() {
    for bound in 1..=4 {
        let (executor, yielded) = BoundChecker::new(bound);
        let options = MapOptions::new().buffer_size(NonZeroUsize::new(bound).unwrap());
        let results = Map::new(&executor, |x| x * 2, 0..20_u32, options).unwrap();
        for (index, result) in results.enumerate() {
            assert_eq!(result.unwrap(), index as u32 * 2);
            yielded.set(yielded.get() + 1);
        }
        assert_eq!(executor.most.get(), bound, "the buffer is kept full");
    }
}

#[test]
fn map_buffered_keeps_the_bound() {
    for bound in 1..=4 {
        let (checker, yielded) = BoundChecker::new(bound);
        let executor = AsyncExecutor::new(&checker);
        futures::executor::block_on(async {
            let mut results = executor
                .map_with(
                    |x| x * 2,
                    0..20_u32,
                    MapOptions::new().buffer_size(NonZeroUsize::new(bound).unwrap()),
                )
                .unwrap();
            let mut index = 0;
            while let Some(result) = results.next().await {
                assert_eq!(result.unwrap(), index * 2);
                index += 1;
                yielded.set(yielded.get() + 1);
            }
            assert_eq!(index, 20);
        });
        assert_eq!(checker.most.get(), bound);
    }
}

/// On a pool with more workers than the bound, no more than `bound` calls of
/// `f` are ever running at once.
#[test]
fn map_with_on_a_pool_runs_at_most_bound_calls() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most));
    let options = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
    let total: u64 = pool
        .map_with(
            move |x| {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                std::hint::black_box((0..1_000).sum::<u64>());
                r.fetch_sub(1, Ordering::SeqCst);
                x
            },
            0..200_u64,
            options,
        )
        .unwrap()
        .map(Result::unwrap)
        .sum();
    assert_eq!(total, (0..200).sum());
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "{} at once",
        most.load(Ordering::SeqCst)
    );
}
