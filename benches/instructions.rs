//! The primitive (make a pair, send a `u64`, receive it) in a plain loop, for
//! counting instructions under `valgrind --tool=callgrind`: no threads, no
//! timing code, nothing but the loop.
//!
//! `instructions <case> <iterations>` runs one case. `benches/report.sh` runs
//! each case twice under callgrind, with two iteration counts, and divides the
//! difference in instructions by the difference in iterations, which cancels
//! start-up and exit. Without arguments (as under `cargo bench`) it runs every
//! case once, natively, as a smoke test.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn poll_once<F: Future + Unpin>(mut future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the value was sent before the poll"),
    }
}

#[inline(never)]
fn ours_wait(iterations: u64) {
    for i in 0..iterations {
        let (producer, mut future) = concurrent_futures::promise::<u64>();
        producer.set_result(black_box(i)).unwrap();
        black_box(future.wait().unwrap());
    }
}

#[inline(never)]
fn oneshot_recv(iterations: u64) {
    for i in 0..iterations {
        let (sender, receiver) = oneshot::channel::<u64>();
        sender.send(black_box(i)).unwrap();
        black_box(receiver.recv().unwrap());
    }
}

#[inline(never)]
fn ours_poll(iterations: u64) {
    for i in 0..iterations {
        let (producer, future) = concurrent_futures::promise::<u64>();
        producer.set_result(black_box(i)).unwrap();
        black_box(poll_once(future).unwrap());
    }
}

#[inline(never)]
fn oneshot_poll(iterations: u64) {
    for i in 0..iterations {
        let (sender, receiver) = oneshot::async_channel::<u64>();
        sender.send(black_box(i)).unwrap();
        black_box(poll_once(receiver).unwrap());
    }
}

#[inline(never)]
fn tokio_oneshot_poll(iterations: u64) {
    for i in 0..iterations {
        let (sender, receiver) = tokio::sync::oneshot::channel::<u64>();
        sender.send(black_box(i)).unwrap();
        black_box(poll_once(receiver).unwrap());
    }
}

#[inline(never)]
fn futures_oneshot_poll(iterations: u64) {
    for i in 0..iterations {
        let (sender, receiver) = futures::channel::oneshot::channel::<u64>();
        sender.send(black_box(i)).unwrap();
        black_box(poll_once(receiver).unwrap());
    }
}

type Case = (&'static str, fn(u64));

const CASES: [Case; 6] = [
    ("ours_wait", ours_wait),
    ("oneshot_recv", oneshot_recv),
    ("ours_poll", ours_poll),
    ("oneshot_poll", oneshot_poll),
    ("tokio_oneshot_poll", tokio_oneshot_poll),
    ("futures_oneshot_poll", futures_oneshot_poll),
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.as_slice() {
        [case, iterations] => {
            let iterations: u64 = iterations.parse().expect("an iteration count");
            let (_, run) = CASES
                .iter()
                .find(|(name, _)| name == case)
                .unwrap_or_else(|| panic!("unknown case {case}"));
            run(iterations);
        }
        [] => {
            for (name, run) in CASES {
                run(1000);
                println!("{name}: ok (count its instructions with benches/report.sh)");
            }
        }
        _ => panic!("usage: instructions [<case> <iterations>]"),
    }
}
