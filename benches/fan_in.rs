//! Fan-in: `as_completed` over n futures, beside the ecosystem's way (oneshot
//! receivers in a `futures::stream::FuturesUnordered`), at 100,000 and
//! 1,000,000 futures, with every future already done ("done") and with a
//! producer thread completing them while the consumer waits ("live").
//!
//! Prints `fanin <case> <n> <ns per future, median> <min> <max>` over
//! interleaved rounds (each round runs every case once). Run with
//! `cargo bench --bench fan_in`; `bash benches/report.sh` puts the figures in
//! BENCHMARKS.md.

use std::time::Instant;

use concurrent_futures::{Promise, SharedFuture, as_completed, promise};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

const ROUNDS: usize = 5;

/// A case: its name, what runs it (n futures, live) -> ns per future, and live.
type Case = (&'static str, fn(usize, bool) -> f64, bool);

fn ours(n: usize, live: bool) -> f64 {
    let (producers, futures): (Vec<Promise<u64>>, Vec<SharedFuture<u64>>) =
        (0..n).map(|_| promise()).unzip();
    let start = Instant::now();
    let completer = if live {
        let iter = as_completed(futures, None);
        let completer = std::thread::spawn(move || {
            for (value, producer) in producers.into_iter().enumerate() {
                let _ = producer.set_result(value as u64);
            }
        });
        consume_ours(iter, n);
        Some(completer)
    } else {
        for (value, producer) in producers.into_iter().enumerate() {
            let _ = producer.set_result(value as u64);
        }
        consume_ours(as_completed(futures, None), n);
        None
    };
    let elapsed = start.elapsed();
    if let Some(completer) = completer {
        completer.join().unwrap();
    }
    elapsed.as_nanos() as f64 / n as f64
}

fn consume_ours(iter: concurrent_futures::AsCompleted<u64>, n: usize) {
    let mut sum = 0_u64;
    let mut count = 0;
    for (_, outcome) in iter {
        sum = sum.wrapping_add(outcome.unwrap());
        count += 1;
    }
    assert_eq!(count, n);
    std::hint::black_box(sum);
}

fn oneshot_unordered(n: usize, live: bool) -> f64 {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..n).map(|_| oneshot::async_channel::<u64>()).unzip();
    let start = Instant::now();
    let completer = if live {
        let set: FuturesUnordered<_> = receivers.into_iter().collect();
        let completer = std::thread::spawn(move || {
            for (value, sender) in senders.into_iter().enumerate() {
                let _ = sender.send(value as u64);
            }
        });
        consume_unordered(set, n);
        Some(completer)
    } else {
        for (value, sender) in senders.into_iter().enumerate() {
            let _ = sender.send(value as u64);
        }
        consume_unordered(receivers.into_iter().collect(), n);
        None
    };
    let elapsed = start.elapsed();
    if let Some(completer) = completer {
        completer.join().unwrap();
    }
    elapsed.as_nanos() as f64 / n as f64
}

fn consume_unordered(mut set: FuturesUnordered<oneshot::AsyncReceiver<u64>>, n: usize) {
    futures::executor::block_on(async {
        let mut sum = 0_u64;
        let mut count = 0;
        while let Some(value) = set.next().await {
            sum = sum.wrapping_add(value.unwrap());
            count += 1;
        }
        assert_eq!(count, n);
        std::hint::black_box(sum);
    });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once small.
    let quick = std::env::args().any(|arg| arg == "--test") || cfg!(debug_assertions);
    let sizes: &[usize] = if quick {
        &[1_000]
    } else {
        &[100_000, 1_000_000]
    };
    let cases: [Case; 4] = [
        ("ours_as_completed_done", ours, false),
        ("futures_unordered_oneshot_done", oneshot_unordered, false),
        ("ours_as_completed_live", ours, true),
        ("futures_unordered_oneshot_live", oneshot_unordered, true),
    ];
    let rounds = if quick { 1 } else { ROUNDS };
    for &n in sizes {
        let mut samples = vec![Vec::new(); cases.len()];
        for _ in 0..rounds {
            for (index, (_, run, live)) in cases.iter().enumerate() {
                samples[index].push(run(n, *live));
            }
        }
        for ((name, _, _), mut ns) in cases.iter().zip(samples) {
            ns.sort_by(f64::total_cmp);
            println!(
                "fanin {name} {n} {:.1} {:.1} {:.1}",
                ns[ns.len() / 2],
                ns[0],
                ns[ns.len() - 1]
            );
        }
    }
}
