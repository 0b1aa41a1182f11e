//! `ProcessPoolExecutor` beside Python's `concurrent.futures.ProcessPoolExecutor`
//! (`benches/process_pool.py` measures the same three cases there): 2 workers,
//! `pow(3, 4)` jobs.
//!
//! - `submit`: 20,000 submits, then a wait for all (µs per job);
//! - `round_trip`: submit one job and wait for it, sequentially (µs per job);
//! - `map_chunked`: `map` over 20,000 items with a chunk size of 256 (µs per item).
//!
//! Each figure is the median of 5 rounds, after a warm-up that starts the
//! workers. Prints `process <case> <µs>` lines; `bash benches/report.sh` puts
//! them beside Python's in BENCHMARKS.md.
//!
//! ```sh
//! cargo bench --features process --bench process
//! ```

use concurrent_futures::CancelFutures;
use std::num::NonZeroUsize;
use std::time::Instant;

use concurrent_futures::MapOptions;
use concurrent_futures::process::{self, ProcessPoolExecutor, process_fn};

process_fn! {
    fn pow(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }
}

const JOBS: usize = 20_000;
const TRIPS: usize = 2_000;
const ROUNDS: usize = 5;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    process::init();
    // `cargo bench` passes `--bench`; the filter arguments are not ours.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    // Warm up: both workers started.
    let warm: Vec<_> = (0..64).map(|_| pool.submit(pow, (3, 4)).unwrap()).collect();
    for mut future in warm {
        future.wait().unwrap();
    }

    let mut submit = Vec::new();
    let mut round_trip = Vec::new();
    let mut map_chunked = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let futures: Vec<_> = (0..JOBS)
            .map(|_| pool.submit(pow, (3, 4)).unwrap())
            .collect();
        for mut future in futures {
            assert_eq!(future.wait().unwrap(), 81);
        }
        submit.push(started.elapsed().as_secs_f64() * 1e6 / JOBS as f64);

        let started = Instant::now();
        for _ in 0..TRIPS {
            assert_eq!(pool.submit(pow, (3, 4)).unwrap().wait().unwrap(), 81);
        }
        round_trip.push(started.elapsed().as_secs_f64() * 1e6 / TRIPS as f64);

        let started = Instant::now();
        let options = MapOptions::new().chunk_size(NonZeroUsize::new(256).unwrap());
        let sum: u64 = pool
            .map_with(pow, std::iter::repeat_n((3, 4), JOBS), options)
            .unwrap()
            .map(Result::unwrap)
            .sum();
        assert_eq!(sum, 81 * JOBS as u64);
        map_chunked.push(started.elapsed().as_secs_f64() * 1e6 / JOBS as f64);
    }
    pool.shutdown(CancelFutures::No);
    println!("process submit {:.2}", median(submit));
    println!("process round_trip {:.2}", median(round_trip));
    println!("process map_chunked {:.3}", median(map_chunked));
}
