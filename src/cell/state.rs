//! The state word of a future's allocation, and every transition on it.
//!
//! One `AtomicUsize` holds the whole protocol. Every transition is a named method
//! here; the rest of the crate never touches the word directly.
//!
//! ```text
//!  bit  6                  5          4          3        2..0
//!      [CANCEL_REQUESTED] [CONSUMER] [PRODUCER] [WAITER] [LIFECYCLE]
//!
//!                       set_running_or_notify_cancel
//!      PENDING ─────────────────────────────────────────────▶ RUNNING
//!       │  │                                                   │   │
//!       │  │ set_result (COMPLETE), set_panic (PANICKED),      │   │
//!       │  │ an executor's error (FAILED),                     │   │
//!       │  │ producer dropped (ABANDONED)                      │   │
//!       │  ▼                                                   │   │
//!       │ COMPLETE | PANICKED | FAILED | ABANDONED ◀───────────┘   │
//!       │   │        │          │        the same, from RUNNING    │
//!       │   └────────┴──────────┴──▶ TAKEN                         │
//!       │      the consumer's take (`take`)                        │
//!       │                                                          │
//!       │ consumer's cancel, or                   producer's       │
//!       │ producer's set_cancelled                set_cancelled    │
//!       ▼                                                          │
//!     CANCELLED ◀──────────────────────────────────────────────────┘
//! ```
//!
//! CANCELLED, COMPLETE, PANICKED, FAILED, ABANDONED and TAKEN are *finished*:
//! the producer's part is over. The only transition between finished values
//! is the consumer's `take`, from one of the three that hold an outcome to
//! TAKEN.
//!
//! # Lifecycle values (bits 0..=2)
//!
//! | value | name        | outcome slot holds                       |
//! |------:|-------------|------------------------------------------|
//! | 0     | `PENDING`   | nothing                                  |
//! | 1     | `RUNNING`   | nothing (the producer may be writing it) |
//! | 2     | `CANCELLED` | nothing, ever                            |
//! | 3     | `COMPLETE`  | a `T`                                    |
//! | 4     | `ABANDONED` | nothing, ever                            |
//! | 5     | `PANICKED`  | a `Panic` (one pointer)                  |
//! | 6     | `FAILED`    | a `Box<Error>` (one pointer)             |
//! | 7     | `TAKEN`     | nothing any more (moved out)             |
//!
//! The tag of the outcome (value, panic or error) is the lifecycle value
//! itself, published by the same release RMW that finishes the future, so the
//! slot is a bare union of the three and a `promise::<u64>()` takes 32 bytes
//! (state word, two-word waiter slot, one-word outcome). The three values that
//! hold an outcome are the three with two of the three bits set, and TAKEN has
//! all three: `take` is `lifecycle | 0b111` from any of them.
//!
//! - `PENDING`: nobody has started the work. The consumer may cancel.
//! - `RUNNING`: the producer called `set_running_or_notify_cancel` and got `true`.
//!   Cancellation is refused from here on (Python's rule).
//! - `CANCELLED`: reached from PENDING by the consumer's `cancel()` (never from
//!   RUNNING: Python's rule) or a queued job cancelled by an executor shutdown,
//!   or by the producer declining the work with `Promise::set_cancelled`, from
//!   PENDING or (a producer that had started) RUNNING. The outcome slot is never
//!   written.
//! - `COMPLETE`, `PANICKED`, `FAILED`: the producer wrote the outcome slot (a
//!   value, a captured panic, an executor's or a job's error) *before*
//!   publishing this value with a release RMW. Reached from PENDING or RUNNING.
//! - `ABANDONED`: the producer was dropped without an answer. Reached from PENDING
//!   or RUNNING. The outcome slot is never written.
//! - `TAKEN`: the consumer moved the outcome out (`wait`, `try_take`, `poll`);
//!   a second take reports `Error::AlreadyTaken`, and `free` drops nothing.
//!   Reached only from COMPLETE, PANICKED or FAILED, only by the consumer.
//!
//! # Flag bits
//!
//! - `WAITER`: the waiter slot holds a waiter that the producer must wake. Set
//!   (release) by the consumer only, after writing the slot, and only while not
//!   finished. Cleared by the consumer to reclaim the slot (only while not
//!   finished), or by `cancel`. Never cleared by the producer: once the producer
//!   publishes a finished lifecycle with `WAITER` set, the slot is the producer's.
//! - `PRODUCER`: the producer handle (a `Promise` or a queued job) is alive. Cleared
//!   once, by the producer, when it lets go of the allocation.
//! - `CONSUMER`: the `SharedFuture` is alive. Cleared once, when it is dropped.
//! - `CANCEL_REQUESTED`: the consumer asked a *running* job to stop (a refused
//!   `request_stop`, or an `UnwrapFuture` dropped while the job runs).
//!   Set only while RUNNING, by the consumer; never cleared; carried unchanged by
//!   every later transition. It guards no memory: the job only reads it through
//!   its `StopToken` and decides for itself.
//!
//! Whoever clears the second of `PRODUCER`/`CONSUMER` frees the allocation. Both
//! clears are acquire-release RMWs (or, for the consumer, an acquire load that saw
//! `PRODUCER` already clear), so the freeing side sees every write of the other.
//!
//! # Who may touch which field
//!
//! | field          | producer may access                          | consumer may access                               |
//! |----------------|----------------------------------------------|---------------------------------------------------|
//! | outcome slot   | write while not finished (before publishing) | move out once it has seen COMPLETE, PANICKED or FAILED (acquire), marking TAKEN |
//! | waiter slot    | take, after publishing with `WAITER` set     | read/write while not finished and `WAITER` clear  |
//! | closure (jobs) | always (the consumer never sees it)          | never                                             |
//!
//! # Races walked through
//!
//! **Completion vs registration.** The consumer writes its waiter while `WAITER`
//! is clear, then CASes `WAITER` in (release). The producer publishes with a CAS.
//! Exactly one of the two CASes sees the other's result: either the producer's
//! CAS sees `WAITER` (and wakes it), or the consumer's CAS fails because the
//! state became finished (and the consumer reads the outcome itself). No wake
//! is lost and none is doubled.
//!
//! **Re-registration with a new waker.** The consumer first CASes `WAITER` out
//! while not finished. If that fails because the state is finished, the producer
//! owns the old waiter and will wake it; the consumer reads the outcome. If it
//! succeeds, the producer will not look at the slot, and the consumer replaces the
//! waiter and registers again as above.
//!
//! **Cancel vs start.** Both are CASes from PENDING; one wins. `cancel` clears
//! `WAITER` in the same CAS, since a cancelled future is never published by the
//! producer, so the consumer takes its slot back.
//!
//! **Completion vs consumer drop.** The producer's publishing CAS clears
//! `PRODUCER` in the same step when there is no waiter to wake (one RMW on the
//! happy path), otherwise after taking the waiter out. If the consumer is already
//! gone the producer does not publish; it takes its value back. The consumer's
//! drop reclaims a registered waiter first, then clears `CONSUMER`.
//!
//! **Take vs the producer's release.** The consumer marks TAKEN after moving
//! the outcome out. If the state it acquired shows `PRODUCER` clear (the
//! happy path: the publishing RMW released the producer), nobody else writes
//! the word again (every other consumer transition needs `&mut` or fails on a
//! finished state), so the mark is a plain relaxed store, no RMW. If
//! `PRODUCER` is still set (the producer published with `WAITER` set and is
//! taking the waiter out), its `release_producer` may race the mark: then the
//! mark is a `fetch_or`, so neither bit is lost. Whoever frees reads TAKEN
//! either way: the consumer in program order, the producer through the
//! consumer's acq-rel `release_consumer`, which comes after the mark. (Loom:
//! `take_of_a_value_vs_producer_release`, `take_of_a_panic_vs_producer_release`;
//! with the `fetch_or` made a store, they fail.)

use crate::sync::{AtomicUsize, Ordering};

pub(crate) const LIFECYCLE: usize = 0b111;
pub(crate) const PENDING: usize = 0;
pub(crate) const RUNNING: usize = 1;
pub(crate) const CANCELLED: usize = 2;
pub(crate) const COMPLETE: usize = 3;
pub(crate) const ABANDONED: usize = 4;
pub(crate) const PANICKED: usize = 5;
pub(crate) const FAILED: usize = 6;
pub(crate) const TAKEN: usize = 7;

// `take` is `| LIFECYCLE` from each of the values that hold an outcome.
const _: () = assert!(COMPLETE | LIFECYCLE == TAKEN && PANICKED | LIFECYCLE == TAKEN);
const _: () = assert!(FAILED | LIFECYCLE == TAKEN && TAKEN == LIFECYCLE);

pub(crate) const WAITER: usize = 1 << 3;
pub(crate) const PRODUCER: usize = 1 << 4;
pub(crate) const CONSUMER: usize = 1 << 5;
pub(crate) const CANCEL_REQUESTED: usize = 1 << 6;

/// The protocol's bits (0..=7). On 64-bit targets the bits above hold the
/// allocation's layout ([`crate::raw::BlockLayout`]), written once by
/// [`StateWord::new`] and carried unchanged by every transition (each one
/// changes only protocol bits): one word of the header saved, and read for
/// free by the side that frees, which has just loaded the state.
pub(crate) const PROTOCOL_BITS: usize = 0xff;

/// A value read from the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    #[inline]
    pub(crate) fn lifecycle(self) -> usize {
        self.0 & LIFECYCLE
    }

    #[inline]
    pub(crate) fn is_finished(self) -> bool {
        self.lifecycle() >= CANCELLED
    }

    #[inline]
    pub(crate) fn has_waiter(self) -> bool {
        self.0 & WAITER != 0
    }

    #[inline]
    pub(crate) fn producer_alive(self) -> bool {
        self.0 & PRODUCER != 0
    }

    #[inline]
    pub(crate) fn consumer_alive(self) -> bool {
        self.0 & CONSUMER != 0
    }

    #[inline]
    pub(crate) fn cancel_requested(self) -> bool {
        self.0 & CANCEL_REQUESTED != 0
    }

    /// The bits above the protocol's: the layout, on 64-bit targets.
    #[cfg(target_pointer_width = "64")]
    #[inline]
    pub(crate) fn layout_bits(self) -> usize {
        self.0 & !PROTOCOL_BITS
    }
}

impl core::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let lifecycle = match self.lifecycle() {
            PENDING => "PENDING",
            RUNNING => "RUNNING",
            CANCELLED => "CANCELLED",
            COMPLETE => "COMPLETE",
            ABANDONED => "ABANDONED",
            PANICKED => "PANICKED",
            FAILED => "FAILED",
            _ => "TAKEN",
        };
        write!(f, "{lifecycle}")?;
        for (bit, name) in [
            (WAITER, "WAITER"),
            (PRODUCER, "PRODUCER"),
            (CONSUMER, "CONSUMER"),
        ] {
            if self.0 & bit != 0 {
                write!(f, "|{name}")?;
            }
        }
        Ok(())
    }
}

/// A finished lifecycle that the producer publishes: typed, so that no other
/// value can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// A value was written: COMPLETE.
    Value,
    /// A captured panic was written: PANICKED.
    Panicked,
    /// A boxed error was written: FAILED.
    Failed,
    /// The producer declined: CANCELLED.
    Cancelled,
    /// The producer was dropped without an answer: ABANDONED.
    Abandoned,
}

impl Finish {
    #[inline]
    fn lifecycle(self) -> usize {
        match self {
            Finish::Value => COMPLETE,
            Finish::Panicked => PANICKED,
            Finish::Failed => FAILED,
            Finish::Cancelled => CANCELLED,
            Finish::Abandoned => ABANDONED,
        }
    }
}

/// What the producer must do after trying to publish a finished lifecycle.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    /// Published, and the producer's reference was released in the same RMW:
    /// the producer must not touch the allocation again.
    Released,
    /// Published with a waiter registered: the producer owns the waiter slot. It
    /// must take the waiter, call [`StateWord::release_producer`], then wake.
    TakeWaiter,
    /// The consumer cancelled first: nothing was published. The producer still
    /// holds its reference and owns the outcome slot.
    Cancelled,
    /// The consumer is gone: nothing was published. The producer still holds its
    /// reference and owns the outcome slot.
    NoConsumer,
}

/// What `cancel` did.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// PENDING became CANCELLED. If `reclaimed_waiter`, the consumer owns a
    /// waiter it had registered and should drop it.
    Cancelled { reclaimed_waiter: bool },
    /// It was already cancelled.
    AlreadyCancelled,
    /// It is running or finished: cancellation refused.
    Refused,
}

/// The atomic state word.
pub(crate) struct StateWord(AtomicUsize);

impl StateWord {
    /// A fresh future: pending, both handles alive, no waiter. `layout_bits`
    /// (zero in the protocol's bits) rides along above them, unchanged.
    #[inline]
    pub(crate) fn new(layout_bits: usize) -> Self {
        debug_assert_eq!(layout_bits & PROTOCOL_BITS, 0);
        Self(AtomicUsize::new(
            PENDING | PRODUCER | CONSUMER | layout_bits,
        ))
    }

    /// Reads the state with acquire ordering.
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        // ORDERING: acquire pairs with the producer's release when it publishes a
        // finished state, so a COMPLETE snapshot makes the outcome slot readable,
        // and with both releases of a handle, so a lone survivor may free.
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// Reads the state for a query whose answer guards no memory access.
    #[inline]
    pub(crate) fn load_relaxed(&self) -> Snapshot {
        // ORDERING: relaxed: its callers either only report the value, or
        // (`RawCell::free`) have already synchronized with the other side's
        // last write (both handles released, the second with an acquire), so
        // the value read is the final one and the slots it points at are
        // visible.
        Snapshot(self.0.load(Ordering::Relaxed))
    }

    /// One CAS-loop helper for every conditional transition. `f` maps the current
    /// state to the next one, or to `Err(r)` to stop without writing.
    #[inline]
    fn update<R>(
        &self,
        success: Ordering,
        failure: Ordering,
        mut f: impl FnMut(Snapshot) -> Result<usize, R>,
    ) -> Result<Snapshot, R> {
        let mut current = self.0.load(failure);
        loop {
            let next = f(Snapshot(current))?;
            // The block's layout rides above the protocol bits (64-bit
            // targets): no transition may change it.
            debug_assert_eq!(
                next & !PROTOCOL_BITS,
                current & !PROTOCOL_BITS,
                "a transition changed the layout bits"
            );
            match self
                .0
                .compare_exchange_weak(current, next, success, failure)
            {
                Ok(previous) => return Ok(Snapshot(previous)),
                Err(actual) => current = actual,
            }
        }
    }

    // ---------------------------------------------------------------- producer

    /// Python's `set_running_or_notify_cancel`: PENDING becomes RUNNING. Returns
    /// `false` if the future was cancelled; `true` if it is (now or already)
    /// running.
    #[inline]
    pub(crate) fn start(&self) -> bool {
        // ORDERING: relaxed. The transition only decides, through the modification
        // order of this word, whether `cancel` or `start` won; neither side reads
        // memory on the strength of it.
        let result = self.update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            match s.lifecycle() {
                PENDING => Ok((s.0 & !LIFECYCLE) | RUNNING),
                RUNNING => Err(true),
                CANCELLED => Err(false),
                _ => unreachable!("the producer is alive, so the future is not finished: {s:?}"),
            }
        });
        match result {
            Ok(_) => true,
            Err(running) => running,
        }
    }

    /// Publishes `target` if the consumer is still there and has not
    /// cancelled. See [`Publish`] for what follows.
    #[inline]
    pub(crate) fn publish(&self, target: Finish) -> Publish {
        let target = target.lifecycle();
        // ORDERING: release on success publishes the outcome slot written before
        // this call (and, when `PRODUCER` is cleared here, every producer write
        // before the consumer frees); acquire on success makes the consumer's
        // waiter write (released by `register`) visible before the producer takes
        // it. On failure nothing is read: relaxed.
        let result = self.update(Ordering::AcqRel, Ordering::Relaxed, |s| {
            debug_assert!(s.producer_alive(), "publish after release: {s:?}");
            match s.lifecycle() {
                PENDING | RUNNING => {}
                CANCELLED => return Err(Publish::Cancelled),
                _ => unreachable!("the producer publishes once: {s:?}"),
            }
            if !s.consumer_alive() {
                return Err(Publish::NoConsumer);
            }
            let mut next = (s.0 & !LIFECYCLE) | target;
            if !s.has_waiter() {
                next &= !PRODUCER;
            }
            Ok(next)
        });
        match result {
            Ok(previous) if previous.has_waiter() => Publish::TakeWaiter,
            Ok(_) => Publish::Released,
            Err(outcome) => outcome,
        }
    }

    /// Lets go of the producer's reference. Returns the final state if the
    /// consumer is gone too: the caller must free the allocation.
    #[inline]
    pub(crate) fn release_producer(&self) -> Option<Snapshot> {
        // ORDERING: acq-rel: release hands the producer's writes to a consumer that
        // frees later; acquire takes the consumer's writes if we free now.
        let previous = Snapshot(self.0.fetch_and(!PRODUCER, Ordering::AcqRel));
        debug_assert!(previous.producer_alive());
        (!previous.consumer_alive()).then_some(Snapshot(previous.0 & !PRODUCER))
    }

    // ---------------------------------------------------------------- consumer

    /// Registers the waiter the consumer has just written to the slot. `seen` is
    /// the state the consumer last observed with `WAITER` clear and not finished.
    /// On failure, returns the actual state (acquired, so a finished state makes
    /// the outcome readable).
    #[inline]
    pub(crate) fn register(&self, seen: Snapshot) -> Result<(), Snapshot> {
        debug_assert!(!seen.has_waiter() && !seen.is_finished());
        // ORDERING: release publishes the waiter written to the slot; acquire on
        // failure because the caller reads the outcome if the state is finished.
        self.0
            .compare_exchange(
                seen.0,
                seen.0 | WAITER,
                Ordering::Release,
                Ordering::Acquire,
            )
            .map(drop)
            .map_err(Snapshot)
    }

    /// Takes the waiter slot back from the producer: clears `WAITER` if the future
    /// is not finished. `Ok` carries the new state (the slot is the consumer's);
    /// `Err` carries a finished state (acquired: the outcome is readable, and the
    /// producer owns the waiter it will wake).
    #[inline]
    pub(crate) fn reclaim(&self) -> Result<Snapshot, Snapshot> {
        // ORDERING: acquire on failure: the caller reads the outcome of the
        // finished state it gets. Relaxed on success: the caller then touches
        // only the waiter slot, last written by the consumer itself (the producer
        // takes it only after publishing, which would make this fail), and the
        // `Ok` state guards no other memory (freeing waits for the acq-rel
        // `release_consumer`). Nor is there a release to pair with: a successful
        // reclaim reads a not-finished state, written by the consumer or by the
        // producer's relaxed `start`. (The ordering-mutation check found no model
        // that needed the acquire; issue #15.)
        self.update(Ordering::Relaxed, Ordering::Acquire, |s| {
            if s.is_finished() {
                Err(s)
            } else {
                Ok(s.0 & !WAITER)
            }
        })
        .map(|previous| Snapshot(previous.0 & !WAITER))
    }

    /// Python's `cancel()`: PENDING becomes CANCELLED.
    #[inline]
    pub(crate) fn cancel(&self) -> Cancel {
        // ORDERING: relaxed on success: the CAS races only with `start` and
        // `publish`, decided by modification order; the waiter slot it takes back
        // was written by this same consumer. Relaxed on failure: only the value is
        // reported.
        let result = self.update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            match s.lifecycle() {
                PENDING => Ok((s.0 & !(LIFECYCLE | WAITER)) | CANCELLED),
                CANCELLED => Err(Cancel::AlreadyCancelled),
                _ => Err(Cancel::Refused),
            }
        });
        match result {
            Ok(previous) => Cancel::Cancelled {
                reclaimed_waiter: previous.has_waiter(),
            },
            Err(outcome) => outcome,
        }
    }

    /// Cancels like [`StateWord::cancel`]; if the job is already running, sets
    /// `CANCEL_REQUESTED` instead (the result is then `Refused`, as for `cancel`).
    #[inline]
    pub(crate) fn request_stop(&self) -> Cancel {
        // ORDERING: as in `cancel`; the flag guards no memory.
        let result = self.update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            match s.lifecycle() {
                PENDING => Ok((s.0 & !(LIFECYCLE | WAITER)) | CANCELLED),
                RUNNING if !s.cancel_requested() => Ok(s.0 | CANCEL_REQUESTED),
                CANCELLED => Err(Cancel::AlreadyCancelled),
                _ => Err(Cancel::Refused),
            }
        });
        match result {
            Ok(previous) if previous.lifecycle() == PENDING => Cancel::Cancelled {
                reclaimed_waiter: previous.has_waiter(),
            },
            Ok(_) => Cancel::Refused,
            Err(outcome) => outcome,
        }
    }

    /// Marks the outcome taken: COMPLETE, PANICKED or FAILED becomes TAKEN.
    /// `seen` is the finished state the consumer acquired and moved the
    /// outcome out on.
    #[inline]
    pub(crate) fn mark_taken(&self, seen: Snapshot) {
        debug_assert!(matches!(seen.lifecycle(), COMPLETE | PANICKED | FAILED));
        if !seen.producer_alive() {
            // ORDERING: relaxed, and a store, not an RMW: with the producer
            // released and the state finished, no other thread writes the word
            // again (see "Take vs the producer's release"), so `seen` is still
            // its value. The mark guards no memory for another thread: only the
            // consumer reads the slot, and the free that reads the mark is
            // this thread's own.
            self.0.store(seen.0 | LIFECYCLE, Ordering::Relaxed);
        } else {
            // ORDERING: relaxed: an RMW only so that the producer's concurrent
            // `release_producer` is not lost. A producer that frees afterwards
            // reads the mark through the consumer's acq-rel `release_consumer`,
            // which follows this in the consumer's program order.
            self.0.fetch_or(LIFECYCLE, Ordering::Relaxed);
        }
    }

    /// Lets go of the consumer's reference. Returns the final state if the
    /// producer is gone too: the caller must free the allocation.
    #[inline]
    pub(crate) fn release_consumer(&self) -> Option<Snapshot> {
        // ORDERING: acq-rel, as in `release_producer`.
        let previous = Snapshot(self.0.fetch_and(!CONSUMER, Ordering::AcqRel));
        debug_assert!(previous.consumer_alive());
        (!previous.producer_alive()).then_some(Snapshot(previous.0 & !CONSUMER))
    }
}
