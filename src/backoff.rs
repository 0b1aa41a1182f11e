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
/// - A **waiter** (a consumer in `wait`) only spins (the spin rounds, a few
///   microseconds), then parks; it never yields, and it spins only while
///   spinning pays on its thread ([`Backoff::waiter`]). A yielding waiter is
///   runnable, so the producer's unpark does not wake it: behind CPU-bound
///   threads it sees the result a time slice late (measured with 4 CPU-bound
///   threads on 2 cores: in 2 to 6 of 11 rounds a round trip took 1.4 ms,
///   against at most 0.2 ms in any round once the waiter parked instead),
///   while a parked thread is woken with the scheduler's preference for
///   threads that slept.
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
    #[cfg(not(any(loom, miri)))]
    pub(crate) const WAITER: Duration = Duration::ZERO;
    /// A pool worker that just finished a job and found the queue empty: the
    /// spin rounds, then yields for up to this long. A caller woken by the
    /// result that submits again is then found awake.
    pub(crate) const WORKER: Duration = Duration::from_micros(50);

    /// The wait of a consumer blocked in `wait`: the spin rounds, if spinning
    /// has been paying on this thread; `None`: park at once. Report how a
    /// spin went with [`Backoff::waiter_spun`].
    ///
    /// A spin pays when the result lands within it: on an idle machine, a
    /// round trip through a pool then takes well under a microsecond instead
    /// of a park and a wake-up (several). On a busy one the result is rarely
    /// that quick, and a spinning waiter holds a core that the worker may
    /// need (measured, 2 and 4 CPU-bound threads on 2 cores: `submit` +
    /// `wait` round trips of 11-35 µs with the spin, 6-23 µs without). So
    /// each thread keeps a record: after [`Backoff::WAITER_MISSES`] spins in a
    /// row that missed, it stops spinning, and then tries one spin every
    /// [`Backoff::WAITER_PROBE`] waits to see whether spinning pays again.
    /// Under loom and Miri a waiter never spins.
    #[inline]
    pub(crate) fn waiter() -> Option<Self> {
        #[cfg(not(any(loom, miri)))]
        // A thread whose thread-locals are being destroyed spins as a fresh
        // one would.
        if WAITER_RECORD
            .try_with(WaiterRecord::should_spin)
            .unwrap_or(true)
        {
            return Some(Backoff::new(Self::WAITER));
        }
        None
    }

    /// Records whether a waiter's spin ([`Backoff::waiter`]) caught the result.
    #[inline]
    pub(crate) fn waiter_spun(caught: bool) {
        #[cfg(not(any(loom, miri)))]
        let _ = WAITER_RECORD.try_with(|record| record.spun(caught));
        #[cfg(any(loom, miri))]
        let _ = caught;
    }

    /// Spins that missed in a row before a waiter stops spinning.
    #[cfg(not(any(loom, miri)))]
    const WAITER_MISSES: u8 = 2;
    /// While stopped, a waiter spins once every this many waits.
    #[cfg(not(any(loom, miri)))]
    const WAITER_PROBE: u8 = 32;

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

/// A thread's record of its waits' spins (see [`Backoff::waiter`]).
#[cfg(not(any(loom, miri)))]
struct WaiterRecord {
    /// Misses still allowed before spinning stops; 0: stopped.
    credit: core::cell::Cell<u8>,
    /// Waits without a spin since spinning stopped.
    skipped: core::cell::Cell<u8>,
}

#[cfg(not(any(loom, miri)))]
crate::sync::thread_local! {
    static WAITER_RECORD: WaiterRecord = const {
        WaiterRecord {
            credit: core::cell::Cell::new(Backoff::WAITER_MISSES),
            skipped: core::cell::Cell::new(0),
        }
    };
}

#[cfg(not(any(loom, miri)))]
impl WaiterRecord {
    fn should_spin(&self) -> bool {
        if self.credit.get() > 0 {
            return true;
        }
        let skipped = self.skipped.get() + 1;
        let probe = skipped >= Backoff::WAITER_PROBE;
        self.skipped.set(if probe { 0 } else { skipped });
        probe
    }

    fn spun(&self, caught: bool) {
        if caught {
            self.credit.set(Backoff::WAITER_MISSES);
            self.skipped.set(0);
        } else {
            self.credit.set(self.credit.get().saturating_sub(1));
        }
    }
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn record() -> WaiterRecord {
        WaiterRecord {
            credit: core::cell::Cell::new(Backoff::WAITER_MISSES),
            skipped: core::cell::Cell::new(0),
        }
    }

    #[test]
    fn a_waiter_stops_spinning_after_its_misses_and_probes_now_and_then() {
        let record = record();
        for _ in 0..Backoff::WAITER_MISSES {
            assert!(record.should_spin());
            record.spun(false);
        }
        // Stopped: one wait in `WAITER_PROBE` spins.
        let spins: Vec<bool> = (0..3 * u32::from(Backoff::WAITER_PROBE))
            .map(|_| record.should_spin())
            .collect();
        assert_eq!(spins.iter().filter(|&&spin| spin).count(), 3);
        assert!(spins[usize::from(Backoff::WAITER_PROBE) - 1]);
    }

    #[test]
    fn a_spin_that_catches_the_result_restores_spinning() {
        let record = record();
        for _ in 0..Backoff::WAITER_MISSES {
            record.spun(false);
        }
        assert!(!record.should_spin());
        record.spun(true);
        for _ in 0..Backoff::WAITER_MISSES {
            assert!(record.should_spin());
            record.spun(false);
        }
        assert!(!record.should_spin());
    }
}
