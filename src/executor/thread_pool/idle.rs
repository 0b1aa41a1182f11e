//! The pool's counts of workers free to take a job, and the claims a submit
//! makes on them (as rayon keeps its sleeping workers' counters in its own
//! `sleep` module). Kept under the pool's lock: every count changes in the
//! same critical section as the fact it counts, a claim is consumed by
//! exactly one worker, and underflow is asserted, not saturated.
//!
//! Three kinds of free worker, in the order a submit claims them:
//!
//! - a *sleeper*, inside the condition variable's wait (`sleeping`), not yet
//!   notified (`notified < sleeping`): the submit counts a notification and
//!   sends one `notify_one` once the lock is dropped;
//! - a *looking* worker, that finished a job and will look at the queue again
//!   before it sleeps: the submit takes its mark and leaves the job in the
//!   queue for it; the worker, coming back, takes an unclaimed mark back if
//!   one is left, and if none is, its own was claimed;
//! - a *parked helper*, a worker whose job waits (see `Help`) and that found
//!   the queue empty: the submit takes it out of the list and unparks it.

use alloc::vec::Vec;

use crate::sync::thread::Thread;

/// The free workers of one pool; see the module docs.
#[derive(Default)]
pub(super) struct Idle {
    /// Workers inside the condition variable's wait.
    sleeping: usize,
    /// Notifications sent to sleepers and not consumed yet: `<= sleeping`.
    notified: usize,
    /// Looking workers whose mark no submit has claimed.
    looking: usize,
    /// Parked helpers no submit has claimed, in the order they parked.
    helpers: Vec<Thread>,
}

/// A free worker claimed for a job just queued.
#[derive(Debug)]
#[must_use = "a claimed sleeper or helper must be woken"]
pub(super) enum Claim {
    /// A sleeper: notify one on the condition variable.
    Sleeper,
    /// A looking worker: it finds the job by itself.
    Looking,
    /// A parked helper: unpark it.
    Helper(Thread),
}

impl Idle {
    /// Claims a sleeper or a looking worker, in that order: the workers that
    /// are free whatever the job they serve.
    pub(super) fn claim_worker(&mut self) -> Option<Claim> {
        if self.sleeping > self.notified {
            self.notified += 1;
            return Some(Claim::Sleeper);
        }
        if self.looking > 0 {
            self.looking -= 1;
            return Some(Claim::Looking);
        }
        None
    }

    /// Claims a parked helper (the last one parked: its stack is the one in
    /// use most recently).
    pub(super) fn claim_helper(&mut self) -> Option<Claim> {
        self.helpers.pop().map(Claim::Helper)
    }

    /// A worker begins its sleep.
    pub(super) fn fall_asleep(&mut self) {
        self.sleeping += 1;
        debug_assert!(self.notified <= self.sleeping);
    }

    /// Whether a notification waits for a sleeper to consume it (the
    /// condition a sleeper waits for, with shutdown).
    pub(super) fn is_notified(&self) -> bool {
        self.notified > 0
    }

    /// A sleeper woke up; `true` if it consumed a notification (it was
    /// claimed for a job), `false` if it woke for another reason (its
    /// keep-alive, shutdown).
    pub(super) fn wake_up(&mut self) -> bool {
        assert!(self.sleeping > 0, "a worker woke up that was not asleep");
        self.sleeping -= 1;
        let claimed = self.notified > 0;
        if claimed {
            self.notified -= 1;
        }
        debug_assert!(self.notified <= self.sleeping);
        claimed
    }

    /// A worker will look at the queue again before it sleeps.
    pub(super) fn start_looking(&mut self) {
        self.looking += 1;
    }

    /// A looking worker came back to the queue (or withdrew): takes an
    /// unclaimed mark back; `false` if none was left, that is if its own was
    /// claimed and a job was left in the queue for it.
    pub(super) fn stop_looking(&mut self) -> bool {
        if self.looking > 0 {
            self.looking -= 1;
            true
        } else {
            false
        }
    }

    /// Counts `helper` as a parked helper (it withdrew before it looked, so
    /// it is not counted yet).
    pub(super) fn park_helper(&mut self, helper: Thread) {
        debug_assert!(!self.helpers.iter().any(|parked| parked.id() == helper.id()));
        self.helpers.push(helper);
    }

    /// Withdraws `helper`; `false` if a submit had claimed it.
    pub(super) fn unpark_helper(&mut self, helper: &Thread) -> bool {
        match self
            .helpers
            .iter()
            .position(|parked| parked.id() == helper.id())
        {
            Some(at) => {
                self.helpers.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// Helpers parked and not claimed (shown by the pool's `Debug`).
    pub(super) fn parked_helpers(&self) -> usize {
        self.helpers.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Claim, Idle};

    #[test]
    fn nothing_to_claim_in_a_new_pool() {
        let mut idle = Idle::default();
        assert!(idle.claim_worker().is_none());
        assert!(idle.claim_helper().is_none());
        assert!(!idle.is_notified());
    }

    #[test]
    fn a_sleeper_is_claimed_once_and_consumes_its_notification() {
        let mut idle = Idle::default();
        idle.fall_asleep();
        assert!(matches!(idle.claim_worker(), Some(Claim::Sleeper)));
        // Its one notification is outstanding: no second claim on it.
        assert!(idle.claim_worker().is_none());
        assert!(idle.is_notified());
        assert!(idle.wake_up(), "woken for the job");
        assert!(!idle.is_notified());
    }

    #[test]
    fn a_sleeper_that_wakes_unclaimed_consumes_nothing() {
        let mut idle = Idle::default();
        idle.fall_asleep();
        idle.fall_asleep();
        assert!(matches!(idle.claim_worker(), Some(Claim::Sleeper)));
        // Either sleeper may consume the one notification; the other, woken
        // by its keep-alive, finds none left.
        assert!(idle.wake_up());
        assert!(!idle.wake_up());
    }

    #[test]
    fn sleepers_are_claimed_before_looking_workers() {
        let mut idle = Idle::default();
        idle.start_looking();
        idle.fall_asleep();
        assert!(matches!(idle.claim_worker(), Some(Claim::Sleeper)));
        assert!(matches!(idle.claim_worker(), Some(Claim::Looking)));
        assert!(idle.claim_worker().is_none());
    }

    #[test]
    fn a_looking_worker_whose_mark_was_claimed_knows_it() {
        let mut idle = Idle::default();
        idle.start_looking();
        assert!(idle.stop_looking(), "unclaimed: takes its mark back");
        idle.start_looking();
        assert!(matches!(idle.claim_worker(), Some(Claim::Looking)));
        assert!(!idle.stop_looking(), "claimed: a job waits for it");
    }

    #[test]
    fn helpers_are_claimed_last_parked_first_and_withdraw() {
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(std::thread::current).join().unwrap();
            let second = scope.spawn(std::thread::current).join().unwrap();
            (first, second)
        });
        let mut idle = Idle::default();
        idle.park_helper(first.clone());
        idle.park_helper(second.clone());
        assert_eq!(idle.parked_helpers(), 2);
        // A helper is not a worker free whatever the job: not claimed there.
        assert!(idle.claim_worker().is_none());
        match idle.claim_helper() {
            Some(Claim::Helper(claimed)) => assert_eq!(claimed.id(), second.id()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!idle.unpark_helper(&second), "claimed: no longer counted");
        assert!(idle.unpark_helper(&first), "unclaimed: withdrawn");
        assert_eq!(idle.parked_helpers(), 0);
        assert!(idle.claim_helper().is_none());
    }

    #[test]
    #[should_panic(expected = "not asleep")]
    fn a_wake_up_without_a_sleeper_is_a_bug() {
        let _ = Idle::default().wake_up();
    }
}
