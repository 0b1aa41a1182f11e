//! Accounting stress test: many jobs from two submitting threads into one pool,
//! with random consumer cancels, random panics in jobs, consumers dropped at
//! random, and a `shutdown(cancel_futures = true)` in the middle. Every job is
//! accounted for exactly once, every drop counter balances, and no allocation
//! is left at the end. Bounded in count, never timed: each wait has a generous
//! bound that fails with a message instead of hanging.
//!
//! `cargo test --test accounting_stress` runs `STRESS_JOBS` jobs (default
//! 20,000); CI runs the ignored `stress_million` in release:
//! `cargo test --release --test accounting_stress -- --ignored --nocapture`.
//! `STRESS_SEED` picks the random seed (it is printed).

use concurrent_futures::CancelFutures;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use concurrent_futures::{Error, Executor, SharedFuture, SubmitError, ThreadPoolExecutor};

/// Counts live allocations, to show that nothing is left once all is dropped.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the counter does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A small seeded PRNG (xorshift64*): reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

/// Counts its drops.
struct Tracked(Arc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Counters {
    captures_made: AtomicUsize,
    captures_dropped: Arc<AtomicUsize>,
    values_made: AtomicUsize,
    values_dropped: Arc<AtomicUsize>,
    ran: AtomicUsize,
    panicked_in_job: AtomicUsize,
}

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    submitted: usize,
    refused: usize,
    consumer_cancelled: usize,
    cancel_refused: usize,
    consumer_dropped: usize,
    delivered: usize,
    cancelled: usize,
    panicked: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.submitted += o.submitted;
        self.refused += o.refused;
        self.consumer_cancelled += o.consumer_cancelled;
        self.cancel_refused += o.cancel_refused;
        self.consumer_dropped += o.consumer_dropped;
        self.delivered += o.delivered;
        self.cancelled += o.cancelled;
        self.panicked += o.panicked;
    }
}

const WAIT_BOUND: Duration = Duration::from_secs(120);

/// One submitting thread: `jobs` jobs, meeting the other submitter and the
/// main thread at `halfway` so that the shutdown lands in the middle, and
/// waiting at `shut_down` before its last submit, which is therefore refused
/// (the submits in between race the shutdown, whatever the scheduler does).
fn submitter(
    pool: &ThreadPoolExecutor,
    counters: &Arc<Counters>,
    seed: u64,
    jobs: usize,
    halfway: &mpsc::Sender<()>,
    shut_down: &Barrier,
) -> Tally {
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    let mut kept: Vec<SharedFuture<Tracked>> = Vec::new();
    for i in 0..jobs {
        if i == jobs / 2 {
            // Tell the main thread, without stopping: it shuts the pool down
            // while both submitters carry on, so queued jobs get cancelled and
            // submits race the shutdown (accepted before it, refused after).
            halfway.send(()).unwrap();
        }
        if i == jobs - 1 {
            shut_down.wait();
        }
        let panics = rng.percent() < 5;
        counters.captures_made.fetch_add(1, Ordering::Relaxed);
        let capture = Tracked(Arc::clone(&counters.captures_dropped));
        let job_counters = Arc::clone(counters);
        let submitted = pool.submit(move || {
            let _capture = capture;
            job_counters.ran.fetch_add(1, Ordering::Relaxed);
            // A little real work, so that jobs queue up behind the workers and
            // the shutdown in the middle has queued jobs to cancel.
            let mut x = i as u64;
            for _ in 0..256 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
            std::hint::black_box(x);
            if panics {
                job_counters.panicked_in_job.fetch_add(1, Ordering::Relaxed);
                panic!("job {i} panics on purpose");
            }
            job_counters.values_made.fetch_add(1, Ordering::Relaxed);
            Tracked(Arc::clone(&job_counters.values_dropped))
        });
        let future = match submitted {
            Ok(future) => future,
            Err(SubmitError::Shutdown) => {
                tally.refused += 1;
                continue;
            }
            Err(other) => panic!("unexpected refusal {other:?}"),
        };
        tally.submitted += 1;
        match rng.percent() {
            0..10 => {
                if future.cancel() {
                    tally.consumer_cancelled += 1;
                } else {
                    tally.cancel_refused += 1; // already running or done
                }
                kept.push(future);
            }
            10..20 => {
                drop(future);
                tally.consumer_dropped += 1;
            }
            _ => kept.push(future),
        }
        // Collect results now and then, so that completed jobs are consumed
        // while others are still running.
        if kept.len() >= 64 {
            collect(&mut kept, &mut tally);
        }
    }
    collect(&mut kept, &mut tally);
    tally
}

fn collect(kept: &mut Vec<SharedFuture<Tracked>>, tally: &mut Tally) {
    for mut future in kept.drain(..) {
        match future.wait_timeout(WAIT_BOUND) {
            Ok(value) => {
                drop(value);
                tally.delivered += 1;
            }
            Err(Error::Cancelled) => tally.cancelled += 1,
            Err(Error::Panicked(_)) => tally.panicked += 1,
            Err(Error::Timeout) => {
                panic!("a job did not finish within {WAIT_BOUND:?}: lost wake-up or hang")
            }
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
}

fn scenario(jobs: usize, seed: u64, measure_leaks: bool) {
    let live_before = LIVE.load(Ordering::SeqCst);
    let tally;
    let counters;
    {
        let pool = Arc::new(
            ThreadPoolExecutor::builder()
                .max_workers(4)
                .build()
                .unwrap(),
        );
        counters = Arc::new(Counters::default());
        let (halfway, reached_halfway) = mpsc::channel();
        let shut_down = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2_u64)
            .map(|t| {
                let (pool, counters, halfway, shut_down) = (
                    Arc::clone(&pool),
                    Arc::clone(&counters),
                    halfway.clone(),
                    Arc::clone(&shut_down),
                );
                std::thread::spawn(move || {
                    submitter(
                        &pool,
                        &counters,
                        seed.wrapping_add(t * 0x9E37),
                        jobs / 2,
                        &halfway,
                        &shut_down,
                    )
                })
            })
            .collect();
        reached_halfway.recv().unwrap();
        reached_halfway.recv().unwrap();
        pool.shutdown_nowait(CancelFutures::Yes); // cancels everything queued; later submits are refused
        shut_down.wait();
        let mut total = Tally::default();
        for thread in threads {
            total += thread.join().expect("a submitter failed");
        }
        let mut terminated = pool.terminated();
        terminated
            .wait_timeout(WAIT_BOUND)
            .expect("the pool terminates");
        // Joins the worker threads, so that their own allocations are gone too.
        pool.shutdown(CancelFutures::Yes);
        assert_eq!(pool.worker_count(), 0, "no worker thread left");
        tally = total;
    }
    let c = &counters;
    let load = |a: &AtomicUsize| a.load(Ordering::SeqCst);

    // Every job: submitted or refused, and the shutdown landed mid-run.
    assert_eq!(tally.submitted + tally.refused, jobs - jobs % 2);
    assert!(
        tally.submitted >= jobs / 2 && tally.refused > 0,
        "{tally:?}"
    );
    // Every kept future reported exactly one outcome.
    let kept = tally.submitted - tally.consumer_dropped;
    assert_eq!(
        tally.delivered + tally.cancelled + tally.panicked,
        kept,
        "{tally:?}"
    );
    // Every closure was dropped exactly once: run, cancelled, or refused.
    assert_eq!(
        load(&c.captures_made),
        load(&c.captures_dropped),
        "closure drops balance"
    );
    // Every value produced was dropped exactly once: by its taker, or on the
    // worker when nobody waited.
    assert_eq!(
        load(&c.values_made),
        load(&c.values_dropped),
        "value drops balance"
    );
    // Jobs that ran either produced a value or panicked.
    assert_eq!(
        load(&c.ran),
        load(&c.values_made) + load(&c.panicked_in_job)
    );
    // Kept futures saw every panic of the jobs they own, and nothing more.
    assert!(tally.panicked <= load(&c.panicked_in_job));
    // Every accepted consumer cancel is reported as Cancelled; the other
    // cancellations are shutdown(cancel_futures)'s.
    assert!(tally.cancelled >= tally.consumer_cancelled, "{tally:?}");
    let summary = format!(
        "stress: seed {seed:#x}, {jobs} jobs: {} submitted, {} refused after shutdown, {} ran ({} panicked), \
         {} delivered, {} cancelled ({} by their consumer, {} by shutdown(cancel_futures); {} consumer cancels refused as the \
         job was running), {} panics reported, {} consumers dropped early; closures dropped {}/{}, values dropped {}/{}; 0 allocations left",
        tally.submitted,
        tally.refused,
        load(&c.ran),
        load(&c.panicked_in_job),
        tally.delivered,
        tally.cancelled,
        tally.consumer_cancelled,
        tally.cancelled - tally.consumer_cancelled,
        tally.cancel_refused,
        tally.panicked,
        tally.consumer_dropped,
        load(&c.captures_dropped),
        load(&c.captures_made),
        load(&c.values_dropped),
        load(&c.values_made),
    );
    drop(counters);
    if measure_leaks {
        let leaked = LIVE.load(Ordering::SeqCst).saturating_sub(live_before + 1); // `summary` itself
        assert_eq!(leaked, 0, "allocations left after everything was dropped");
        println!("{summary}");
    }
}

/// A small warm-up run first, so that state the runtime allocates once and
/// keeps (lazily initialized thread and panic machinery; ThreadSanitizer's
/// instrumented std keeps a few such blocks) is in the baseline; then the
/// measured run, whose every allocation must be gone at the end.
fn stress(jobs: usize) {
    let seed = std::env::var("STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CAFE_u64);
    // Quiet the intentional panics' messages.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("on purpose") {
            eprintln!("{info}");
        }
    }));
    scenario(2_000, seed, false);
    scenario(jobs, seed, true);
    std::panic::set_hook(default_hook);
}

#[test]
fn stress_accounting() {
    let jobs = std::env::var("STRESS_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    stress(jobs);
}

#[test]
#[ignore = "1,000,000 jobs: run in release by CI"]
fn stress_million() {
    stress(1_000_000);
}
