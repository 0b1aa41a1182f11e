//! [`Backoff`]: how long a thread that expects work or a result soon stays
//! awake before it parks. Policy, not synchronization: it only decides when to
//! give up and take the slow path (park, or sleep on the pool's condition
//! variable), which is correct on its own.

use core::time::Duration;
use std::time::Instant;

use crate::sync::{spin_loop, thread};

/// A bounded wait before parking: rounds of spin hints that double each round,
/// then, for a pool worker, `yield_now`s for at most a budget of *elapsed
/// time*, and no more once the core is contended.
///
/// Parking and waking a thread costs microseconds (a futex call on each side,
/// and an idle core is slow to wake): a result or a job that arrives within
/// that time is cheaper to catch awake. But a `yield_now` on a busy machine
/// can hand the core to another runnable thread for a whole time slice
/// (milliseconds): a budget counted in yields would then keep a thread
/// runnable, competing with the work, for far longer than it saves. So the
/// budget is wall-clock time, and one yield that took longer than
/// [`Backoff::CONTENDED`] (another thread ran) ends the spinning at once.
///
/// Who yields:
///
/// - A **waiter** (a consumer in `wait`) only spins (the spin rounds, about
///   3 µs), then parks; it never yields. A yielding waiter is runnable, so the
///   producer's unpark does not wake it: behind CPU-bound threads it sees the
///   result a time slice late (measured with 4 CPU-bound threads on 2 cores:
///   in 2 to 6 of 11 rounds a round trip took 1.4 ms, against at most 0.2 ms
///   in any round once the waiter parked instead), while a parked thread is
///   woken with the scheduler's preference for threads that slept.
/// - A **worker** (a pool thread that found the queue empty) yields: the
///   consumer it just woke often needs its core, and the yield lets it run and
///   submit again (measured under the same load: the median `AsyncExecutor::run`
///   round trip went from 14-21 µs to 26-39 µs when workers spun instead).
///
/// Under loom and Miri the budget is zero: a model must not explore spins,
/// Miri's clock advances with the instructions it interprets (a spin would eat
/// the timeouts of timing tests), and the code after the spin is the same.
/// The measured effect of each budget is in BENCHMARKS.md.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: u32,
    /// The time the yields may take; zero once spinning stopped.
    budget: Duration,
    /// When the first yield began.
    yielding_since: Option<Instant>,
}

impl Backoff {
    /// Rounds of spin hints (1, 2, 4, ... 64 hints): 127 in all.
    const SPIN_ROUNDS: u32 = 7;
    /// A yield that took longer than this ran another thread: the core is
    /// contended, and spinning on would only compete with the work.
    const CONTENDED: Duration = Duration::from_micros(20);
    /// A consumer blocked in `wait`: the spin rounds only, no yield (see
    /// above).
    pub(crate) const WAITER: Duration = Duration::ZERO;
    /// A pool worker that just finished a job and found the queue empty: the
    /// spin rounds, then yields for up to this long. A caller woken by the
    /// result that submits again is then found awake.
    pub(crate) const WORKER: Duration = Duration::from_micros(50);

    /// A fresh budget: the spin rounds, then `yielding` of yields.
    #[inline]
    pub(crate) fn new(yielding: Duration) -> Self {
        let off = cfg!(any(loom, miri));
        Backoff {
            step: if off { Self::SPIN_ROUNDS } else { 0 },
            budget: if off { Duration::ZERO } else { yielding },
            yielding_since: None,
        }
    }

    /// Waits one round; `false` once the budget is spent or the core is
    /// contended (nothing was waited).
    #[inline]
    pub(crate) fn snooze(&mut self) -> bool {
        if self.step < Self::SPIN_ROUNDS {
            for _ in 0..1_u32 << self.step {
                spin_loop();
            }
            self.step += 1;
            return true;
        }
        if self.budget.is_zero() {
            return false;
        }
        let before = Instant::now();
        let since = *self.yielding_since.get_or_insert(before);
        if before.duration_since(since) >= self.budget {
            self.budget = Duration::ZERO;
            return false;
        }
        thread::yield_now();
        if before.elapsed() > Self::CONTENDED {
            self.budget = Duration::ZERO;
        }
        true
    }
}
