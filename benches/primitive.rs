//! The completion cell alone, no threads: make a pair, send a `u64`, receive it.
//!
//! - `blocking`: the receiver takes the value with its blocking call (ours:
//!   `SharedFuture::wait`; `oneshot`: `Receiver::recv`).
//! - `one_poll`: the receiver is a `Future` polled once with a no-op waker
//!   (ours: `SharedFuture`; `oneshot`'s `AsyncReceiver`; `tokio::sync::oneshot`;
//!   `futures::channel::oneshot`).
//!
//! Run with `cargo bench --bench primitive`.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

/// A group of short cases: 1 s of samples each.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50);
    group
}

fn blocking(c: &mut Criterion) {
    let mut group = group(c, "primitive_blocking");
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (producer, mut future) = concurrent_futures::promise::<u64>();
            producer.set_result(black_box(7)).unwrap();
            future.wait().unwrap()
        })
    });
    group.bench_function("oneshot", |b| {
        b.iter(|| {
            let (sender, receiver) = oneshot::channel::<u64>();
            sender.send(black_box(7)).unwrap();
            receiver.recv().unwrap()
        })
    });
    group.finish();
}

/// Polls `future` once; it must be ready.
fn poll_once<F: Future + Unpin>(mut future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the value was sent before the poll"),
    }
}

fn one_poll(c: &mut Criterion) {
    let mut group = group(c, "primitive_one_poll");
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (producer, future) = concurrent_futures::promise::<u64>();
            producer.set_result(black_box(7)).unwrap();
            poll_once(future).unwrap()
        })
    });
    group.bench_function("oneshot", |b| {
        b.iter(|| {
            let (sender, receiver) = oneshot::async_channel::<u64>();
            sender.send(black_box(7)).unwrap();
            poll_once(receiver).unwrap()
        })
    });
    group.bench_function("tokio_oneshot", |b| {
        b.iter(|| {
            let (sender, receiver) = tokio::sync::oneshot::channel::<u64>();
            sender.send(black_box(7)).unwrap();
            poll_once(receiver).unwrap()
        })
    });
    group.bench_function("futures_oneshot", |b| {
        b.iter(|| {
            let (sender, receiver) = futures::channel::oneshot::channel::<u64>();
            sender.send(black_box(7)).unwrap();
            poll_once(receiver).unwrap()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    blocking(&mut c);
    one_poll(&mut c);
    c.final_summary();
}
