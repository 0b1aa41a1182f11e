//! A service's Ctrl-C handler: one call cancels the queue and asks every
//! running job to stop, then waits for the pool to finish.
//!
//! The service offloads CPU work through `AsyncExecutor` (here: jobs that
//! compute until told to stop). On Ctrl-C,
//! `shutdown(CancelFutures::AndStopRunning)` cancels the jobs no worker has
//! started (their futures report `Cancelled`) and raises the pool's stop
//! signal, which every running job's `StopToken` reports; each running job
//! returns what it has, and the shutdown resolves once the pool's threads are
//! gone. Python cannot interrupt a running thread either; there, every job
//! needs its own flag.
//!
//! Run it with `cargo run --example ctrl_c` and press Ctrl-C, or with
//! `cargo run --example ctrl_c -- --self` to have it send itself SIGINT once
//! its jobs are running (what CI does).

use std::time::Duration;

use concurrent_futures::{AsyncExecutor, CancelFutures, Error, ThreadPoolBuilder};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let executor = AsyncExecutor::new(ThreadPoolBuilder::default().max_workers(2).build()?);
    let (started, mut running) = mpsc::unbounded_channel();

    // Six requests on two workers: two run, four wait in the queue.
    let mut requests = JoinSet::new();
    for request in 0..6_u32 {
        let started = started.clone();
        requests.spawn(executor.run_stoppable(move |token| {
            let _ = started.send(request);
            let mut rounds = 0_u64;
            while !token.is_stop_requested() {
                rounds = rounds.wrapping_add(1); // CPU work, checking its token now and then
                std::hint::spin_loop();
            }
            (request, rounds)
        }));
    }

    // The handler: one call stops everything.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    if std::env::args().any(|arg| arg == "--self") {
        // Both workers busy: the queue holds the other four.
        for _ in 0..2 {
            running.recv().await;
        }
        // Installed before the signal is sent, so it is not lost.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)?;
        interrupt.recv().await;
    } else {
        println!("6 requests, 2 running; press Ctrl-C to stop them");
        ctrl_c.as_mut().await?;
    }
    println!("Ctrl-C: cancelling the queue and stopping the running jobs");
    let stopped = tokio::time::timeout(
        Duration::from_secs(30),
        executor.shutdown(CancelFutures::AndStopRunning),
    )
    .await;
    assert!(stopped.is_ok(), "every running job saw its token");

    let (mut finished, mut cancelled) = (0, 0);
    while let Some(request) = requests.join_next().await {
        match request? {
            Ok((request, rounds)) => {
                println!("request {request} stopped after {rounds} rounds");
                finished += 1;
            }
            Err(Error::Cancelled) => cancelled += 1,
            Err(other) => return Err(other.into()),
        }
    }
    println!("{finished} stopped while running, {cancelled} cancelled before they started");
    assert_eq!(finished + cancelled, 6);
    Ok(())
}
