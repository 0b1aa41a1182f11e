//! Round trip, throughput and contention, ours and every anchor, measured in
//! interleaved rounds: each round runs every case once (in an order rotated
//! from round to round), and each case's figure is its median over the rounds.
//!
//! Why not criterion for these: on a shared 2-core VM the machine's speed
//! drifts by 10-50 % over tens of seconds, and criterion measures one case
//! after the other, so two cases measured a minute apart see different
//! machines and their ratio moves with the drift. Interleaving puts every case
//! under the same drift; the ratios of medians are what `benches/report.sh`
//! writes to BENCHMARKS.md. (`round_trip.rs` and `throughput.rs` run the same
//! cases under criterion, for a closer look at one of them.)
//!
//! Every run of a case builds its pool (2 workers), warms it up, times the
//! measured part, and shuts the pool down (threads joined), so no thread of one
//! case spins or sleeps into the next; `blocking`'s pool is global (capped at 2
//! threads, its idle threads exit after 500 ms). The `throughput_kept` cases
//! instead make their pools once and keep them across every round, as a
//! server does; so do `round_trip_kept` (round trips, blocking and async,
//! issue 24) and `chunked_map` (a map of 1,000,000 trivial items with
//! `MapOptions::chunk_size` beside rayon's `par_iter`).
//!
//! Prints a table, and one `paired <group> <case> <median ns/op> <min> <max>`
//! line per case for `benches/report.sh`. `PAIRED_ROUNDS` sets the number of
//! rounds (default 21). `PAIRED_LOAD=N` runs N threads that burn CPU for the
//! whole measurement beside it (a busy server: on this 2-core machine, 2 and 4
//! such threads leave the pools no idle core). `PAIRED_ITEMS` sets the
//! chunked map's item count (default 1,000,000; small for a smoke run). Run with
//! `cargo bench --bench paired`.

#[allow(dead_code)]
mod common;

use concurrent_futures::CancelFutures;
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{bulk, trip};
use concurrent_futures::{AsyncExecutor, Executor};

/// Round trips per timed run, after `TRIP_WARM_UP` untimed ones.
const TRIPS: u64 = 2_000;
const TRIP_WARM_UP: u64 = 200;
/// Jobs per timed bulk run (`bulk::JOBS`), after a warm-up run of this many.
const BULK_WARM_UP: u64 = 20_000;

struct Case {
    group: &'static str,
    name: &'static str,
    /// Operations per timed run: the figure is the run's time ÷ this.
    ops: u64,
    run: Box<dyn Fn() -> Duration>,
}

/// Runs `run(warm_up)` untimed, then times `run(measured)`.
fn timed<R>(run: impl Fn(u64) -> R, warm_up: u64, measured: u64) -> Duration {
    black_box(run(warm_up));
    let start = Instant::now();
    black_box(run(measured));
    start.elapsed()
}

fn round_trip_cases() -> Vec<Case> {
    let case = |name, run: Box<dyn Fn() -> Duration>| Case {
        group: "round_trip",
        name,
        ops: TRIPS,
        run,
    };
    vec![
        case(
            "ours_submit_wait",
            Box::new(|| {
                let pool = common::ours();
                let time = timed(|n| trip::ours_submit_wait(&pool, n), TRIP_WARM_UP, TRIPS);
                pool.shutdown(CancelFutures::No);
                time
            }),
        ),
        case(
            "ours_async_run",
            Box::new(|| {
                let executor = AsyncExecutor::new(common::ours());
                let time = timed(|n| trip::ours_async_run(&executor, n), TRIP_WARM_UP, TRIPS);
                executor.wrapped().shutdown(CancelFutures::No);
                time
            }),
        ),
        case(
            "rayon_oneshot",
            Box::new(|| {
                let pool = common::rayon();
                timed(|n| trip::rayon_oneshot(&pool, n), TRIP_WARM_UP, TRIPS)
            }),
        ),
        case(
            "blocking_unblock",
            Box::new(|| timed(trip::blocking_unblock, TRIP_WARM_UP, TRIPS)),
        ),
        case(
            "crossbeam_pool_oneshot",
            Box::new(|| {
                let pool = common::CrossbeamPool::new();
                let time = timed(|n| trip::crossbeam_oneshot(&pool, n), TRIP_WARM_UP, TRIPS);
                pool.shutdown();
                time
            }),
        ),
        case(
            "tokio_spawn_blocking",
            Box::new(|| {
                let runtime = common::tokio();
                timed(
                    |n| trip::tokio_spawn_blocking(&runtime, n),
                    TRIP_WARM_UP,
                    TRIPS,
                )
            }),
        ),
    ]
}

/// The throughput (`two == false`) or contention (`two == true`) cases.
fn bulk_cases(two: bool) -> Vec<Case> {
    let group = if two { "contention" } else { "throughput" };
    let case = |name, run: Box<dyn Fn() -> Duration>| Case {
        group,
        name,
        ops: bulk::JOBS,
        run,
    };
    // One submitting thread, or two submitting half the jobs each.
    let submit = move |f: &(dyn Fn(u64, u64) -> u64 + Sync), jobs: u64| {
        if two {
            let half = jobs / 2;
            std::thread::scope(|scope| {
                let other = scope.spawn(|| f(half, half));
                f(0, half).wrapping_add(other.join().unwrap())
            })
        } else {
            f(0, jobs)
        }
    };
    let mut cases = vec![case(
        "ours_submit",
        Box::new(move || {
            let pool = common::ours_started();
            let f = |from, jobs| bulk::ours_submit(&pool, from, jobs);
            let time = timed(|n| submit(&f, n), BULK_WARM_UP, bulk::JOBS);
            pool.shutdown(CancelFutures::No);
            time
        }),
    )];
    if !two {
        cases.push(case(
            "ours_map",
            Box::new(|| {
                let pool = common::ours();
                let time = timed(|n| bulk::ours_map(&pool, n), BULK_WARM_UP, bulk::JOBS);
                pool.shutdown(CancelFutures::No);
                time
            }),
        ));
        cases.push(case(
            "ours_async_map",
            Box::new(|| {
                let executor = AsyncExecutor::new(common::ours());
                let time = timed(
                    |n| bulk::ours_async_map(&executor, n),
                    BULK_WARM_UP,
                    bulk::JOBS,
                );
                executor.wrapped().shutdown(CancelFutures::No);
                time
            }),
        ));
    }
    cases.push(case(
        "rayon_oneshot",
        Box::new(move || {
            let pool = common::rayon();
            let f = |from, jobs| bulk::rayon_oneshot(&pool, from, jobs);
            timed(|n| submit(&f, n), BULK_WARM_UP, bulk::JOBS)
        }),
    ));
    cases.push(case(
        "blocking_unblock",
        Box::new(move || {
            let f = bulk::blocking_unblock;
            timed(|n| submit(&f, n), BULK_WARM_UP, bulk::JOBS)
        }),
    ));
    cases.push(case(
        "crossbeam_pool_oneshot",
        Box::new(move || {
            let pool = common::CrossbeamPool::new();
            let f = |from, jobs| bulk::crossbeam_oneshot(&pool, from, jobs);
            let time = timed(|n| submit(&f, n), BULK_WARM_UP, bulk::JOBS);
            pool.shutdown();
            time
        }),
    ));
    cases.push(case(
        "tokio_spawn_blocking",
        Box::new(move || {
            let runtime = common::tokio();
            let f = |from, jobs| bulk::tokio_spawn_blocking(&runtime, from, jobs);
            timed(|n| submit(&f, n), BULK_WARM_UP, bulk::JOBS)
        }),
    ));
    cases
}

/// Throughput with each pool made once and kept across every round (group
/// `throughput_kept`): a long-lived server's pool, whose threads are started,
/// warm and asleep (or spinning down) when a burst arrives. The pools live
/// until the process exits; between their runs they are idle, so they cost the
/// other cases nothing (`benches/idle.rs`).
fn kept_cases() -> Vec<Case> {
    let case = |name, run: Box<dyn Fn() -> Duration>| Case {
        group: "throughput_kept",
        name,
        ops: bulk::JOBS,
        run,
    };
    let ours = common::ours_started();
    let ours_for_map = common::ours_started();
    let rayon = common::rayon();
    let crossbeam = common::CrossbeamPool::new();
    vec![
        case(
            "ours_submit",
            Box::new(move || timed(|n| bulk::ours_submit(&ours, 0, n), BULK_WARM_UP, bulk::JOBS)),
        ),
        case(
            "ours_map",
            Box::new(move || {
                timed(
                    |n| bulk::ours_map(&ours_for_map, n),
                    BULK_WARM_UP,
                    bulk::JOBS,
                )
            }),
        ),
        case(
            "rayon_oneshot",
            Box::new(move || {
                timed(
                    |n| bulk::rayon_oneshot(&rayon, 0, n),
                    BULK_WARM_UP,
                    bulk::JOBS,
                )
            }),
        ),
        case(
            "crossbeam_pool_oneshot",
            Box::new(move || {
                timed(
                    |n| bulk::crossbeam_oneshot(&crossbeam, 0, n),
                    BULK_WARM_UP,
                    bulk::JOBS,
                )
            }),
        ),
    ]
}

/// Round trips with each pool made once and kept across every round (group
/// `round_trip_kept`, issue 24 target 1): a service's pool, whose workers
/// have gone through their spin-then-park cycle many times, not one whose
/// workers have just started. Blocking (`submit` + `wait` against rayon
/// `spawn` + oneshot `recv`) and async (`AsyncExecutor::run` under
/// `block_on` against rayon `spawn` + the oneshot awaited under `block_on`).
fn round_trip_kept_cases() -> Vec<Case> {
    let case = |name, run: Box<dyn Fn() -> Duration>| Case {
        group: "round_trip_kept",
        name,
        ops: TRIPS,
        run,
    };
    let ours = common::ours_started();
    let ours_async = AsyncExecutor::new(common::ours_started());
    let rayon = std::sync::Arc::new(common::rayon());
    let rayon_async = std::sync::Arc::clone(&rayon);
    vec![
        case(
            "ours_submit_wait",
            Box::new(move || timed(|n| trip::ours_submit_wait(&ours, n), TRIP_WARM_UP, TRIPS)),
        ),
        case(
            "ours_async_run",
            Box::new(move || {
                timed(
                    |n| trip::ours_async_run(&ours_async, n),
                    TRIP_WARM_UP,
                    TRIPS,
                )
            }),
        ),
        case(
            "rayon_oneshot",
            Box::new(move || timed(|n| trip::rayon_oneshot(&rayon, n), TRIP_WARM_UP, TRIPS)),
        ),
        case(
            "rayon_oneshot_async",
            Box::new(move || {
                timed(
                    |n| trip::rayon_oneshot_async(&rayon_async, n),
                    TRIP_WARM_UP,
                    TRIPS,
                )
            }),
        ),
    ]
}

/// A map of `PAIRED_ITEMS` (default 1,000,000) trivial `u64` items on kept
/// pools (group `chunked_map`, issue 24 target 4): `Executor::map_with` with
/// `CHUNK` items a job, collected in input order, against rayon's
/// `par_iter().map().collect()` on its own 2 threads, in the same run. The
/// figure is ns per item.
fn chunked_map_cases() -> Vec<Case> {
    use rayon::iter::{IntoParallelIterator, ParallelIterator};
    const CHUNK: usize = 4096;
    let items: u64 = std::env::var("PAIRED_ITEMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let warm_up = (items / 10).max(1);
    let case = |name, run: Box<dyn Fn() -> Duration>| Case {
        group: "chunked_map",
        name,
        ops: items,
        run,
    };
    let ours = common::ours_started();
    let rayon = common::rayon();
    let options = concurrent_futures::MapOptions::new()
        .chunk_size(std::num::NonZeroUsize::new(CHUNK).expect("not zero"));
    vec![
        case(
            "ours_map_chunked",
            Box::new(move || {
                timed(
                    |n| {
                        let results: Vec<u64> = ours
                            .map_with(bulk::job, 0..n, options)
                            .expect("the pool accepts the map")
                            .map(|result| result.expect("no item fails"))
                            .collect();
                        results
                    },
                    warm_up,
                    items,
                )
            }),
        ),
        case(
            "rayon_par_iter",
            Box::new(move || {
                timed(
                    |n| {
                        rayon
                            .install(|| (0..n).into_par_iter().map(bulk::job).collect::<Vec<u64>>())
                    },
                    warm_up,
                    items,
                )
            }),
        ),
    ]
}

/// Threads that burn CPU until dropped: the load of a busy machine.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(threads: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0_u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = black_box(
                                x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                            );
                        }
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn main() {
    common::cap_blocking_threads();
    // `cargo bench` passes `--bench`; a filter narrows the cases by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let rounds: usize = std::env::var("PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let mut cases = round_trip_cases();
    cases.extend(bulk_cases(false));
    cases.extend(bulk_cases(true));
    cases.extend(kept_cases());
    cases.extend(round_trip_kept_cases());
    cases.extend(chunked_map_cases());
    cases.retain(|case| {
        filter
            .as_deref()
            .is_none_or(|f| format!("{}/{}", case.group, case.name).contains(f))
    });
    let load: usize = std::env::var("PAIRED_LOAD")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let _load = Load::start(load);
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        for k in 0..cases.len() {
            let index = (round + k) % cases.len();
            let case = &cases[index];
            let time = (case.run)();
            samples[index].push(time.as_nanos() as f64 / case.ops as f64);
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    for (case, samples) in cases.iter().zip(&mut samples) {
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        let (min, max) = (samples[0], samples[samples.len() - 1]);
        println!(
            "{:<15} {:<24} median {median:>10.1} ns/op  (min {min:.1}, max {max:.1}, {rounds} rounds)",
            case.group, case.name
        );
        println!(
            "paired {} {} {median:.1} {min:.1} {max:.1}",
            case.group, case.name
        );
        if std::env::var_os("PAIRED_SAMPLES").is_some() {
            let all: Vec<String> = samples.iter().map(|s| format!("{s:.0}")).collect();
            println!("samples {} {} {}", case.group, case.name, all.join(" "));
        }
    }
}
