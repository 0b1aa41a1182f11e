//! easynetwork's `handle_contexts=True`, in Rust: with the `tracing` feature, a
//! job submitted through an `AsyncExecutor` runs inside the caller's current
//! span (on the worker thread), unless `handle_contexts(false)` was chosen.
#![cfg(feature = "tracing")]

use concurrent_futures::CancelFutures;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

/// Records which span was entered on which thread, and tracks each thread's
/// current span (what `Span::current()` asks of a subscriber), as
/// `tracing-subscriber`'s registry does.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    entered: Mutex<Vec<(u64, ThreadId)>>,
    metadata: Mutex<HashMap<u64, &'static Metadata<'static>>>,
}

thread_local!(static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) });

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.metadata
            .lock()
            .unwrap()
            .insert(id, attributes.metadata());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        self.entered
            .lock()
            .unwrap()
            .push((span.into_u64(), std::thread::current().id()));
        STACK.with_borrow_mut(|stack| stack.push(span.into_u64()));
    }
    fn exit(&self, _: &Id) {
        STACK.with_borrow_mut(|stack| stack.pop());
    }
    fn current_span(&self) -> Current {
        match STACK.with_borrow(|stack| stack.last().copied()) {
            Some(id) => Current::new(Id::from_u64(id), self.metadata.lock().unwrap()[&id]),
            None => Current::none(),
        }
    }
}

fn run_in_span(handle_contexts: bool) -> (u64, ThreadId, Vec<(u64, ThreadId)>) {
    let recorder = Arc::new(Recorder::default());
    let dispatch = tracing::Dispatch::from(Arc::clone(&recorder));
    let (span_id, worker) = tracing::dispatcher::with_default(&dispatch, || {
        let executor = AsyncExecutor::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        )
        .handle_contexts(handle_contexts);
        let span = tracing::info_span!("request");
        let span_id = span.id().unwrap().into_u64();
        let _entered = span.enter();
        let worker =
            futures::executor::block_on(executor.run(|| std::thread::current().id())).unwrap();
        futures::executor::block_on(executor.shutdown(CancelFutures::No));
        (span_id, worker)
    });
    let entered = recorder.entered.lock().unwrap().clone();
    (span_id, worker, entered)
}

#[test]
fn the_callers_span_is_entered_in_the_worker() {
    let (span_id, worker, entered) = run_in_span(true);
    assert_ne!(worker, std::thread::current().id());
    assert!(entered.contains(&(span_id, worker)), "{entered:?}");
}

#[test]
fn handle_contexts_false_leaves_the_worker_outside_the_span() {
    let (_span_id, worker, entered) = run_in_span(false);
    assert!(
        entered.iter().all(|(_, thread)| *thread != worker),
        "{entered:?}"
    );
}
