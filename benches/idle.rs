//! Idle cost: a pool whose 2 workers are alive, with no work. The process's CPU
//! time (user + system, `getrusage`) is measured over the first idle second
//! right after a burst of work (so any spinning after work is counted), and
//! over the second after that.
//!
//! Prints one `idle <case> <first second ms> <next second ms>` line per case
//! for `benches/report.sh`. Run with `cargo bench --bench idle`.

#[allow(dead_code)]
mod common;

use concurrent_futures::CancelFutures;
use std::hint::black_box;
use std::time::Duration;

use concurrent_futures::Executor;
use futures::executor::block_on;

/// `struct rusage` of Linux: two `timeval`s, then 14 `long`s.
#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    rest: [i64; 14],
}

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// CPU time used so far by every thread of this process.
fn process_cpu() -> Duration {
    let mut usage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        rest: [0; 14],
    };
    // SAFETY: `RUSAGE_SELF` (0) and a pointer to a buffer laid out as Linux's
    // `struct rusage`, which the call fills in.
    let result = unsafe { getrusage(0, &mut usage) };
    assert_eq!(result, 0, "getrusage failed");
    let micros = |time: [i64; 2]| Duration::from_micros((time[0] * 1_000_000 + time[1]) as u64);
    micros(usage.utime) + micros(usage.stime)
}

/// Runs `burst` (work that leaves the pool's workers alive), then measures the
/// CPU time of the two idle seconds that follow.
fn measure(case: &str, burst: impl FnOnce()) {
    burst();
    let start = process_cpu();
    std::thread::sleep(Duration::from_secs(1));
    let first = process_cpu();
    std::thread::sleep(Duration::from_secs(1));
    let second = process_cpu();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{case:<24} first idle second: {:>6.2} ms CPU, next second: {:>6.2} ms CPU",
        ms(first - start),
        ms(second - first)
    );
    println!(
        "idle {case} {:.2} {:.2}",
        ms(first - start),
        ms(second - first)
    );
}

const BURST: u64 = 10_000;

fn main() {
    common::cap_blocking_threads();
    {
        let pool = common::ours();
        measure("ours", || {
            let futures: Vec<_> = (0..BURST)
                .map(|i| pool.submit(move || i).unwrap())
                .collect();
            for mut future in futures {
                black_box(future.wait().unwrap());
            }
            for i in 0..100 {
                black_box(pool.submit(move || i).unwrap().wait().unwrap());
            }
            assert_eq!(pool.worker_count(), common::WORKERS);
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        measure("rayon", || {
            let receivers: Vec<_> = (0..BURST)
                .map(|i| common::rayon_submit(&pool, move || i))
                .collect();
            for receiver in receivers {
                black_box(receiver.recv().unwrap());
            }
            for i in 0..100 {
                black_box(common::rayon_submit(&pool, move || i).recv().unwrap());
            }
        });
    }
    {
        let pool = common::CrossbeamPool::new();
        measure("crossbeam_pool", || {
            for i in 0..100 {
                black_box(pool.submit(move || i).recv().unwrap());
            }
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        measure("tokio_spawn_blocking", || {
            for i in 0..100 {
                black_box(block_on(runtime.spawn_blocking(move || i)).unwrap());
            }
        });
    }
    measure("blocking_unblock", || {
        for i in 0..100 {
            black_box(block_on(blocking::unblock(move || i)));
        }
    });
}
