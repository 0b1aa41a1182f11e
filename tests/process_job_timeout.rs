//! `MapOptions::job_timeout` on the process pool: a chunk answered after its
//! deadline reports `Timeout`, and chunks whose deadline passed before any
//! worker took them report `Timeout` without running.
#![cfg(all(feature = "process", unix))]

mod common;

use std::time::{Duration, Instant};

use std::path::PathBuf;

use common::no_hang;
use common::process::{Handshake, hold, release};
use concurrent_futures::process::{ProcessFn, ProcessPoolExecutor, process_fn};
use concurrent_futures::{CancelFutures, Error, MapOptions};

procspawn::enable_test_support!();

process_fn! {
    /// Item 0 is held at the handshake (`hold`); every other item leaves a
    /// marker file named by its index, so the test sees which ones ran.
    fn held_or_marked(socket: PathBuf, markers: PathBuf, index: u32) -> u32 {
        if index == 0 {
            <hold as ProcessFn>::call(socket)
        } else {
            std::fs::write(markers.join(index.to_string()), b"ran").unwrap();
            index
        }
    }
}

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
        let markers = std::env::temp_dir().join(format!("cf-job-timeout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&markers);
        std::fs::create_dir_all(&markers).unwrap();
        let job_timeout = Duration::from_millis(1);
        let started = Instant::now();
        let options = MapOptions::new().job_timeout(job_timeout);
        let items = (0..3).map(|index| (handshake.path.clone(), markers.clone(), index));
        let mut results = pool.map_with(held_or_marked, items, options).unwrap();
        // The first item runs; item 1 may be sent ahead of it (then it runs
        // after it, late); item 2 waits in the queue.
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
        // Item 2 was past its deadline before any worker could take it: it
        // never ran (one job at most is sent ahead of the running one).
        assert!(!markers.join("2").exists(), "an expired item ran");
        let _ = std::fs::remove_dir_all(&markers);
    });
}
