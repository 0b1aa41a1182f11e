//! `MapOptions::job_timeout` on the process pool: a chunk answered after its
//! deadline reports `Timeout`, and chunks whose deadline passed before any
//! worker took them report `Timeout` without running.
#![cfg(all(feature = "process", unix))]

mod common;

use std::time::{Duration, Instant};

use common::no_hang;
use common::process::{Handshake, hold, release};
use concurrent_futures::process::ProcessPoolExecutor;
use concurrent_futures::{CancelFutures, Error, MapOptions};

procspawn::enable_test_support!();

#[test]
fn process_map_job_timeout_drops_late_replies_and_skips_expired_chunks() {
    no_hang("process job_timeout", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let handshake = Handshake::new("job-timeout");
        // Warm: the worker is started and idle, so the first item is sent
        // to it at once.
        {
            let mut warm = pool.submit(hold, handshake.path.clone()).unwrap();
            let (_, stream) = handshake.accept();
            release(stream);
            warm.wait().unwrap();
        }
        let job_timeout = Duration::from_millis(1);
        let started = Instant::now();
        let options = MapOptions::new().job_timeout(job_timeout);
        let items = vec![handshake.path.clone(); 3];
        let mut results = pool.map_with(hold, items, options).unwrap();
        // The first item runs; the others wait in the queue behind it.
        let (_, stream) = handshake.accept();
        // Past every item's deadline (a deadline, not a wait for another
        // thread: nothing else needs to run meanwhile).
        while started.elapsed() <= job_timeout * 2 {
            std::hint::spin_loop();
        }
        release(stream);
        for index in 0..3 {
            let outcome = results.next().unwrap();
            assert!(
                matches!(outcome, Err(Error::Timeout)),
                "item {index}: {outcome:?}"
            );
        }
        assert!(results.next().is_none());
        pool.shutdown(CancelFutures::No);
        // Had an expired item run, it would have connected: nobody did.
        handshake.assert_no_connection();
    });
}
