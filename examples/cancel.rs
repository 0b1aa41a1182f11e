//! Cooperative cancellation of a running job.
//!
//! Rust cannot interrupt a thread. A job that takes a `StopToken` can look,
//! and stop early, when nobody wants its answer any more: the awaiting task
//! dropped its `run` future, or asked for cancellation while the job runs
//! (easynetwork's rule refuses that cancellation, but the job can still see it).
//!
//! Run it with `cargo run --example cancel`.

use concurrent_futures::CancelFutures;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};

/// Counts primes below `limit`, checking the token between candidates.
fn count_primes(limit: u64, token: &concurrent_futures::StopToken<'_>) -> Option<u64> {
    let mut count = 0;
    for n in 2..limit {
        if n % 1024 == 0 && token.is_stop_requested() {
            return None; // nobody is waiting: stop early
        }
        if (2..).take_while(|d| d * d <= n).all(|d| n % d != 0) {
            count += 1;
        }
    }
    Some(count)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures::executor::block_on(async {
        let executor = AsyncExecutor::new(ThreadPoolExecutor::builder().max_workers(2).build()?);

        // A job that finishes: nobody cancels it.
        let primes = executor
            .run_stoppable(|token| count_primes(10_000, token))
            .await?;
        println!("primes below 10,000: {primes:?}");

        // A huge job, asked to stop while it runs: the request is refused (the
        // job is running), but the job sees it and returns early.
        let (started_tx, started) = mpsc::channel();
        let mut job = executor.run_stoppable(move |token| {
            started_tx.send(Instant::now()).unwrap();
            count_primes(u64::MAX, token)
        });
        let started_at = started.recv()?;
        let accepted = job.request_stop();
        let outcome = job.await?;
        println!(
            "cancel accepted: {accepted}; the job returned {outcome:?} after {:?}",
            started_at.elapsed().max(Duration::ZERO)
        );
        assert!(!accepted && outcome.is_none());

        executor.shutdown(CancelFutures::No).await;
        Ok(())
    })
}
