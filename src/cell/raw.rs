//! The single allocation behind a `SharedFuture`/`Promise` pair, and the slot
//! operations that follow the protocol in [`crate::state`].
//!
//! ```text
//!  Cell<T> (repr(C))                       Job cell (repr(C), job.rs)
//!  ┌───────────────────────────┐          ┌───────────────────────────┐
//!  │ Header                    │          │ Cell<T>                   │
//!  │   state: StateWord        │          │   Header ...              │
//!  │   waiter: WaiterSlot      │          │   outcome ...             │
//!  │  (layout: BlockLayout)    │          ├───────────────────────────┤
//!  ├───────────────────────────┤          │ the closure F             │
//!  │ outcome: Slot<T>          │          └───────────────────────────┘
//!  └───────────────────────────┘
//! ```
//!
//! Both handles point at the `Cell<T>` at offset 0. The header records the
//! layout the whole block was allocated with, which is how a `SharedFuture<T>`
//! can free a job's allocation without knowing the closure type (with a direct
//! call: no function pointer on the freeing path). On 64-bit targets the layout
//! rides in the state word's upper bits (see `state::PROTOCOL_BITS`), so the
//! header has no field for it; elsewhere it is a field of its own.
//!
//! The outcome slot is a union of a `T`, a [`Panic`] and a `Box<Error>`,
//! without a tag of its own: which one it holds (if any) is the lifecycle
//! value of the state word (COMPLETE, PANICKED, FAILED; see `crate::state`),
//! published by the same RMW that finishes the future. For a `u64` the slot is
//! one word and the cell 32 bytes (the state word and the two-word waiter
//! slot), `oneshot`'s size; a `Result<u64, Error>` would take two.

use alloc::boxed::Box;
use core::alloc::Layout;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::{self, NonNull};
use core::task::Poll;

use crate::error::{Error, Panic, UndeliveredReason};
use crate::state::{self, Finish, Publish, Snapshot, StateWord};

/// How a producer finishes without an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empty {
    /// `Promise::set_cancelled`, a cancelled job: CANCELLED.
    Cancelled,
    /// A producer dropped without an answer: ABANDONED.
    Abandoned,
}
use crate::sync::{self, UnsafeCell};
use crate::waiter::{Waiter, WaiterRef, WaiterSlot};

/// What a producer hands over: the value, or a failure to report (a captured
/// panic, or an executor's or a job's error). The slot stores it untagged
/// ([`Slot`]); the state word keeps the tag.
pub(crate) type Outcome<T> = Result<T, Error>;

/// The outcome slot: a value, a panic or a boxed error, overlapping, with the
/// tag in the state word (COMPLETE, PANICKED, FAILED); uninitialized in every
/// other lifecycle value (TAKEN included: taking moves the outcome out). An
/// error other than a panic is boxed so that the slot is no wider than a `T`
/// or a pointer: that costs an allocation on a path that reports an
/// executor's or a deadline's error, never on a value's or a panic's.
#[repr(C)]
pub(crate) union Slot<T> {
    value: ManuallyDrop<T>,
    panic: ManuallyDrop<Panic>,
    error: ManuallyDrop<Box<Error>>,
}

// The whole point of the untagged slot: a panic and an error take one word,
// so the slot is no wider than a `T` or a pointer.
const _: () = assert!(core::mem::size_of::<Slot<()>>() == core::mem::size_of::<usize>());
const _: () =
    assert!(core::mem::size_of::<Slot<[usize; 3]>>() == 3 * core::mem::size_of::<usize>());

#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: StateWord,
    waiter: UnsafeCell<WaiterSlot>,
    /// The layout of the whole allocation (which may be larger than `Cell<T>`),
    /// to free its memory once its contents were dropped. On 64-bit targets it
    /// is in the state word instead.
    #[cfg(not(target_pointer_width = "64"))]
    layout: BlockLayout,
}

/// A block's `Layout` in one word (a `Layout` takes two): on 64-bit targets,
/// `size << 16 | log2(align) << 8`, which leaves the state word's protocol bits
/// (0..=7) zero; elsewhere, a `u32` size and a `u32` alignment, in a field of
/// the header.
#[derive(Clone, Copy)]
pub(crate) struct BlockLayout {
    #[cfg(target_pointer_width = "64")]
    bits: usize,
    #[cfg(not(target_pointer_width = "64"))]
    size: u32,
    #[cfg(not(target_pointer_width = "64"))]
    align: u32,
}

impl BlockLayout {
    /// The layout of `C`. Evaluated at compile time (`const { }` at the call
    /// sites): a type too large to encode (256 TiB on 64-bit targets, 4 GiB
    /// elsewhere, far beyond what can be moved through a stack) fails to compile.
    pub(crate) const fn of<C>() -> Self {
        let layout = Layout::new::<C>();
        #[cfg(target_pointer_width = "64")]
        {
            assert!(layout.size() < 1 << 48, "a block of 256 TiB or more");
            BlockLayout {
                bits: layout.size() << 16 | (layout.align().trailing_zeros() as usize) << 8,
            }
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            assert!(
                layout.size() <= u32::MAX as usize,
                "a block of 4 GiB or more"
            );
            BlockLayout {
                size: layout.size() as u32,
                align: layout.align() as u32,
            }
        }
    }

    /// The bits the state word carries: the layout on 64-bit targets, else none.
    #[inline]
    fn state_bits(self) -> usize {
        #[cfg(target_pointer_width = "64")]
        return self.bits;
        #[cfg(not(target_pointer_width = "64"))]
        return 0;
    }

    /// The layout a block was allocated with, from the state word (64-bit
    /// targets) or the header's field.
    ///
    /// # Safety
    ///
    /// `header` is live, and `seen` was loaded from its state word.
    #[inline]
    unsafe fn of_block(header: NonNull<Header>, seen: Snapshot) -> Layout {
        #[cfg(target_pointer_width = "64")]
        {
            let _ = header;
            let bits = seen.layout_bits();
            // SAFETY: the bits were written by `of` from a valid `Layout` and
            // carried unchanged by every transition.
            unsafe { Layout::from_size_align_unchecked(bits >> 16, 1 << ((bits >> 8) & 0xff)) }
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            let _ = seen;
            // SAFETY: the header is live (the caller's contract); `size` and
            // `align` were read from a valid `Layout` in `of`.
            unsafe {
                let layout = (*header.as_ptr()).layout;
                Layout::from_size_align_unchecked(layout.size as usize, layout.align as usize)
            }
        }
    }
}

#[repr(C)]
pub(crate) struct Cell<T> {
    header: Header,
    outcome: UnsafeCell<MaybeUninit<Slot<T>>>,
}

impl<T> Cell<T> {
    /// Makes a fresh cell in place: pending, both handles alive, the outcome
    /// slot uninitialized. Nothing of `T`'s size is built on the stack, so a
    /// cell for a value of megabytes needs no stack of megabytes (a debug
    /// build would otherwise build it there and move it).
    /// `layout` is that of the whole block the cell is the head of.
    ///
    /// # Safety
    ///
    /// `ptr` is valid for writes of a `Cell<T>` and aligned for it.
    #[inline]
    pub(crate) unsafe fn init(ptr: NonNull<Cell<T>>, layout: BlockLayout) {
        let cell = ptr.as_ptr();
        // SAFETY: the caller's contract: `cell` is valid for writes; each
        // field is written once, through a raw place (no reference to the
        // uninitialized cell is made).
        unsafe {
            ptr::addr_of_mut!((*cell).header).write(Header {
                state: StateWord::new(layout.state_bits()),
                waiter: UnsafeCell::new(WaiterSlot::new()),
                #[cfg(not(target_pointer_width = "64"))]
                layout,
            });
            sync::init_uninit(ptr::addr_of_mut!((*cell).outcome));
        }
    }
}

/// Allocates uninitialized memory for a `C` through the sync shim (loom tracks
/// it for leaks and double frees). Aborts through `handle_alloc_error` when out
/// of memory.
pub(crate) fn allocate_uninit<C>() -> NonNull<C> {
    let layout = Layout::new::<C>();
    // SAFETY: every `C` allocated here embeds a `Header`, so the layout is
    // non-zero.
    let raw = unsafe { sync::alloc(layout) }.cast::<C>();
    let Some(ptr) = NonNull::new(raw) else {
        alloc::alloc::handle_alloc_error(layout)
    };
    ptr
}

/// An untyped pointer to a cell's header, `Copy`; the handles wrap one.
pub(crate) struct RawCell<T> {
    ptr: NonNull<Cell<T>>,
}

impl<T> Clone for RawCell<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawCell<T> {}

impl<T> RawCell<T> {
    /// The cell's address: what tells a queued job apart (`Job::addr`).
    #[cfg(feature = "std")]
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// Allocates a stand-alone `Cell<T>` (a `promise()` pair), in place.
    pub(crate) fn allocate() -> Self {
        let ptr = allocate_uninit::<Cell<T>>();
        // SAFETY: just allocated with `Cell<T>`'s layout.
        unsafe { Cell::init(ptr, const { BlockLayout::of::<Cell<T>>() }) };
        RawCell { ptr }
    }

    /// # Safety
    ///
    /// `ptr` must point at a live `Cell<T>` at offset 0 of an allocation whose
    /// recorded `BlockLayout` (given to `Cell::init`) is the allocation's own.
    pub(crate) unsafe fn from_ptr(ptr: NonNull<Cell<T>>) -> Self {
        RawCell { ptr }
    }

    /// The state word. Only atomics are reached through this reference, so it
    /// may outlive a release by this side (as `Arc`'s counter does).
    #[inline]
    pub(crate) fn state(&self) -> &StateWord {
        // SAFETY: a handle holding this pointer keeps the allocation alive; the
        // header is initialized and only ever accessed through shared references.
        unsafe { &(*self.ptr.as_ptr()).header.state }
    }

    #[inline]
    fn waiter(&self) -> &UnsafeCell<WaiterSlot> {
        // SAFETY: as in `state`; the waiter slot is an `UnsafeCell` whose access
        // rules are the protocol's (see `crate::state`).
        unsafe { &(*self.ptr.as_ptr()).header.waiter }
    }

    #[inline]
    fn outcome(&self) -> &UnsafeCell<MaybeUninit<Slot<T>>> {
        // SAFETY: as in `waiter`.
        unsafe { &(*self.ptr.as_ptr()).outcome }
    }

    // ------------------------------------------------------------ consumer side

    /// Checks for a finished state, registering `waiter` if there is none yet.
    ///
    /// # Safety
    ///
    /// Only the consumer may call this, and not concurrently with itself (the
    /// public API takes `&mut self`).
    pub(crate) unsafe fn poll_finished(&self, waiter: WaiterRef<'_>) -> Poll<Snapshot> {
        let mut seen = self.state().load();
        loop {
            if seen.is_finished() {
                return Poll::Ready(seen);
            }
            if seen.has_waiter() {
                match self.state().reclaim() {
                    Ok(now) => seen = now,
                    Err(finished) => return Poll::Ready(finished),
                }
            }
            // The slot is ours: `WAITER` is clear and the state is not finished,
            // so the producer will not look at it.
            // SAFETY: exclusive access to the slot per the protocol above; the
            // consumer is not re-entered (the caller's contract).
            let replaced = self.waiter().with_mut(|slot| unsafe {
                if (*slot).wakes_same(waiter) {
                    None
                } else {
                    // `to_owned` may panic (a foreign `Waker::clone`): the slot is
                    // untouched then and `WAITER` is clear, which is consistent.
                    (*slot).replace(Some(waiter.to_owned()))
                }
            });
            let registered = self.state().register(seen);
            // Dropping the old waiter runs foreign code: do it once the state is
            // consistent again.
            drop(replaced);
            match registered {
                Ok(()) => return Poll::Pending,
                // Finished meanwhile: we still own the slot; the loop reports it.
                // Otherwise (PENDING became RUNNING) register again: the slot already
                // holds the right waiter, so the next round only CASes.
                Err(actual) => seen = actual,
            }
        }
    }

    /// Removes a registered waiter (after a timeout). `Err` carries the finished
    /// state if the producer already owns the waiter.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::poll_finished`].
    #[cfg(feature = "std")]
    pub(crate) unsafe fn deregister(&self) -> Result<(), Snapshot> {
        let seen = self.state().load();
        if seen.is_finished() {
            return Err(seen);
        }
        if seen.has_waiter() {
            self.state().reclaim()?;
        }
        // SAFETY: `WAITER` is clear and not finished: the slot is the consumer's.
        let waiter = self.waiter().with_mut(|slot| unsafe { (*slot).take() });
        drop(waiter);
        Ok(())
    }

    /// Takes the outcome of a finished future.
    ///
    /// # Safety
    ///
    /// Only the consumer may call this, with a finished `seen` obtained with
    /// acquire ordering (from `StateWord::load` or a failed RMW of this module).
    #[inline]
    pub(crate) unsafe fn take(&self, seen: Snapshot) -> Result<T, Error> {
        debug_assert!(seen.is_finished());
        // SAFETY: forwarded.
        match unsafe { self.take_if_finished(seen) } {
            Some(outcome) => outcome,
            None => unreachable!("not finished: {seen:?}"),
        }
    }

    /// Takes the outcome if `seen` is finished, else `None`.
    ///
    /// # Safety
    ///
    /// Only the consumer may call this, with `seen` obtained with acquire
    /// ordering (from `StateWord::load` or a failed RMW of this module).
    #[inline]
    pub(crate) unsafe fn take_if_finished(&self, seen: Snapshot) -> Option<Result<T, Error>> {
        if seen.lifecycle() == state::COMPLETE {
            // SAFETY: forwarded; COMPLETE.
            return Some(Ok(unsafe { self.take_value(seen) }));
        }
        if !seen.is_finished() {
            return None;
        }
        // SAFETY: forwarded.
        Some(unsafe { self.take_other(seen) })
    }

    /// Takes the value of a COMPLETE future: the hot path of `wait`,
    /// `try_take` and `poll`, which test for COMPLETE before anything else
    /// (one test in the common case) and call [`RawCell::take_other`] for
    /// every other finished state.
    ///
    /// # Safety
    ///
    /// Only the consumer may call this, with a COMPLETE `seen` obtained with
    /// acquire ordering.
    #[inline]
    pub(crate) unsafe fn take_value(&self, seen: Snapshot) -> T {
        debug_assert_eq!(seen.lifecycle(), state::COMPLETE);
        // SAFETY: COMPLETE was published (release) after the producer wrote
        // the value, and we acquired it; the producer never touches the slot
        // again, so the consumer has it exclusively. It moves the value out
        // and marks TAKEN right after: read once.
        let value = self
            .outcome()
            .with_mut(|slot| unsafe { ptr::read(slot.cast::<T>()) });
        self.state().mark_taken(seen);
        value
    }

    /// `take` of anything but a value: out of line.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::take`].
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn take_other(&self, seen: Snapshot) -> Result<T, Error> {
        // SAFETY (both reads): as in `take_value`, for the failure that the
        // lifecycle names: published after the write, acquired, the
        // consumer's alone, read once (TAKEN is marked right after).
        let outcome = match seen.lifecycle() {
            state::PANICKED => {
                // SAFETY: see above.
                let panic = self
                    .outcome()
                    .with_mut(|slot| unsafe { ptr::read(slot.cast::<Panic>()) });
                Err(Error::Panicked(panic))
            }
            state::FAILED => {
                // SAFETY: see above.
                let error = self
                    .outcome()
                    .with_mut(|slot| unsafe { ptr::read(slot.cast::<Box<Error>>()) });
                Err(*error)
            }
            state::TAKEN => return Err(Error::AlreadyTaken),
            state::CANCELLED => return Err(Error::Cancelled),
            state::ABANDONED => return Err(Error::Abandoned),
            _ => unreachable!("not finished: {seen:?}"),
        };
        self.state().mark_taken(seen);
        outcome
    }

    /// Whether a finished future's outcome is a failure: a panic or an error
    /// in the slot, or abandoned. Cancelled and taken outcomes are not
    /// failures (Python's `FIRST_EXCEPTION` ignores cancelled futures). The
    /// tag is in the state word: the slot is not read.
    #[cfg(feature = "std")]
    pub(crate) fn is_failure(seen: Snapshot) -> bool {
        matches!(
            seen.lifecycle(),
            state::ABANDONED | state::PANICKED | state::FAILED
        )
    }

    /// Python's `cancel()`.
    pub(crate) fn cancel(&self) -> bool {
        self.after_cancel(self.state().cancel())
    }

    /// `cancel`, or, if the job is running, a request it can see.
    pub(crate) fn request_stop(&self) -> bool {
        self.after_cancel(self.state().request_stop())
    }

    fn after_cancel(&self, outcome: state::Cancel) -> bool {
        match outcome {
            state::Cancel::Cancelled { reclaimed_waiter } => {
                if reclaimed_waiter {
                    // SAFETY: the CAS to CANCELLED cleared `WAITER`, and a cancelled
                    // future is never published by the producer: the slot is ours.
                    // Only one `cancel` can win that CAS, and registration needs
                    // `&mut`, so nobody else is in the slot.
                    let waiter = self.waiter().with_mut(|slot| unsafe { (*slot).take() });
                    drop(waiter);
                }
                true
            }
            state::Cancel::AlreadyCancelled => true,
            state::Cancel::Refused => false,
        }
    }

    /// Registers an owned waiter (a done callback). `Err` hands it back if the
    /// future is already finished.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::poll_finished`].
    pub(crate) unsafe fn register_owned(&self, mut waiter: Waiter) -> Result<(), Waiter> {
        let mut seen = self.state().load();
        loop {
            if seen.is_finished() {
                return Err(waiter);
            }
            if seen.has_waiter() {
                match self.state().reclaim() {
                    Ok(now) => seen = now,
                    Err(_finished) => return Err(waiter),
                }
            }
            // SAFETY: `WAITER` clear and not finished: the slot is the consumer's.
            let replaced = self
                .waiter()
                .with_mut(|slot| unsafe { (*slot).replace(Some(waiter)) });
            match self.state().register(seen) {
                Ok(()) => {
                    drop(replaced);
                    return Ok(());
                }
                Err(actual) => {
                    // Not registered: the slot is still ours; take ours back.
                    // SAFETY: as above.
                    waiter = self
                        .waiter()
                        .with_mut(|slot| unsafe { (*slot).replace(replaced) })
                        .expect("the waiter just written");
                    seen = actual;
                }
            }
        }
    }

    /// Drops the consumer's reference.
    ///
    /// # Safety
    ///
    /// Called once, by the consumer, which must not use the cell afterwards.
    #[inline]
    pub(crate) unsafe fn drop_consumer(self) {
        let seen = self.state().load();
        if !seen.producer_alive() {
            // SAFETY: the producer released (acquired above) and we are the
            // last; `seen` is final (nobody else writes the word any more).
            unsafe { self.free(seen) };
            return;
        }
        // SAFETY: forwarded.
        unsafe { self.drop_consumer_slow(seen) }
    }

    /// `drop_consumer` while the producer is alive.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::drop_consumer`]; `seen` was just loaded.
    #[cold]
    unsafe fn drop_consumer_slow(self, seen: Snapshot) {
        // Reclaim a registered waiter so that the task it belongs to is not kept
        // alive until the producer finishes.
        // SAFETY: we are the consumer.
        let waiter = if seen.has_waiter() && self.state().reclaim().is_ok() {
            // SAFETY: reclaimed: the slot is the consumer's.
            self.waiter().with_mut(|slot| unsafe { (*slot).take() })
        } else {
            None
        };
        if let Some(last) = self.state().release_consumer() {
            // SAFETY: the producer released before us (acq-rel): we are the
            // last, and `last` is the final state.
            unsafe { self.free(last) };
        }
        drop(waiter);
    }

    // ------------------------------------------------------------ producer side

    /// Python's `set_running_or_notify_cancel`.
    pub(crate) fn start(&self) -> bool {
        self.state().start()
    }

    /// Publishes a value or a failure. On `Err` the outcome is handed back
    /// (the consumer cancelled or is gone); either way the producer's
    /// reference is released.
    ///
    /// # Safety
    ///
    /// Called once, by the producer, which must not use the cell afterwards.
    #[inline]
    pub(crate) unsafe fn complete(
        self,
        outcome: Outcome<T>,
    ) -> Result<(), (Outcome<T>, UndeliveredReason)> {
        // SAFETY: forwarded: the producer, once.
        unsafe {
            let written = self.write_outcome(outcome);
            self.publish_outcome(written)
        }
    }

    /// Publishes a value: `complete(Ok(value))` without building the
    /// `Result` (`Promise::set_result`, the hot path). On `Err` the value is
    /// handed back.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::complete`].
    #[inline]
    pub(crate) unsafe fn complete_value(self, value: T) -> Result<(), (T, UndeliveredReason)> {
        // SAFETY: not finished yet (the producer publishes once, and a
        // cancelled future never gets an outcome): the producer owns the slot.
        self.outcome()
            .with_mut(|slot| unsafe { slot.cast::<T>().write(value) });
        match self.state().publish(Finish::Value) {
            Publish::Released => Ok(()),
            // SAFETY: forwarded: the producer, once, after publishing a value.
            other => unsafe { self.after_publish_value(other) },
        }
    }

    /// `after_publish` for [`RawCell::complete_value`], handing back a bare
    /// value: out of line, so the inline path is the publish alone.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::after_publish`], with a value written.
    #[cold]
    #[inline(never)]
    unsafe fn after_publish_value(self, publish: Publish) -> Result<(), (T, UndeliveredReason)> {
        // SAFETY: forwarded.
        match unsafe { self.after_publish(publish, Finish::Value) } {
            Ok(()) => Ok(()),
            Err((Ok(value), reason)) => Err((value, reason)),
            Err((Err(_), _)) => unreachable!("a value was written"),
        }
    }

    /// Writes the outcome without publishing it yet (a worker publishes after it
    /// has taken its next job, see `executor::thread_pool`). Returns the tag
    /// to publish it with.
    ///
    /// # Safety
    ///
    /// Called at most once, by the producer, before [`RawCell::publish_outcome`].
    pub(crate) unsafe fn write_outcome(&self, outcome: Outcome<T>) -> Finish {
        // SAFETY: forwarded.
        unsafe {
            self.write_outcome_with(|place| match outcome {
                Ok(value) => {
                    place.write(value);
                    Ok(())
                }
                Err(error) => Err(error),
            })
        }
    }

    /// Writes the outcome that `make` produces, calling it with the slot in
    /// hand, so that a value goes from the call into the slot without a chain
    /// of copies (a large `T` in a debug build): `make` writes the value to
    /// the place it is given and returns `Ok`, or writes nothing and returns
    /// the error. If `make` unwinds, it must have written nothing; nothing is
    /// published then. Returns the tag to publish the outcome with.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::write_outcome`]; `make` keeps its contract above.
    #[inline]
    pub(crate) unsafe fn write_outcome_with(
        &self,
        make: impl FnOnce(&mut MaybeUninit<T>) -> Result<(), Error>,
    ) -> Finish {
        // SAFETY: not finished yet (the producer publishes once, and a cancelled
        // future never gets an outcome): the producer owns the outcome slot.
        // Every field of the `repr(C)` union is at its offset 0.
        self.outcome().with_mut(|slot| unsafe {
            match make(&mut *slot.cast::<MaybeUninit<T>>()) {
                Ok(()) => Finish::Value,
                Err(Error::Panicked(panic)) => {
                    slot.cast::<Panic>().write(panic);
                    Finish::Panicked
                }
                Err(error) => {
                    slot.cast::<Box<Error>>().write(Box::new(error));
                    Finish::Failed
                }
            }
        })
    }

    /// Publishes the outcome written by [`RawCell::write_outcome`] with the tag
    /// it returned; see [`RawCell::complete`].
    ///
    /// # Safety
    ///
    /// Called once, by the producer, after `write_outcome` returned `written`;
    /// the producer must not use the cell afterwards.
    #[inline]
    pub(crate) unsafe fn publish_outcome(
        self,
        written: Finish,
    ) -> Result<(), (Outcome<T>, UndeliveredReason)> {
        match self.state().publish(written) {
            Publish::Released => Ok(()),
            // SAFETY: forwarded: the producer, once, after publishing.
            other => unsafe { self.after_publish(other, written) },
        }
    }

    /// The rarer outcomes of `publish_outcome`: a waiter to wake, or nothing
    /// published (the outcome is handed back).
    ///
    /// # Safety
    ///
    /// The producer just got `publish` (not `Released`) from publishing the
    /// outcome it wrote as `written`, and does not use the cell afterwards.
    #[cold]
    unsafe fn after_publish(
        self,
        publish: Publish,
        written: Finish,
    ) -> Result<(), (Outcome<T>, UndeliveredReason)> {
        let reason = match publish {
            Publish::Released => unreachable!("the callers handle `Released` inline"),
            Publish::TakeWaiter => {
                // SAFETY: published with `WAITER` set, by the producer.
                unsafe { self.wake_published() };
                return Ok(());
            }
            Publish::Cancelled => UndeliveredReason::Cancelled,
            Publish::NoConsumer => UndeliveredReason::ConsumerDropped,
        };
        // SAFETY: nothing was published: the slot is still the producer's, and
        // its `written` field was initialized by `write_outcome`.
        let outcome = unsafe { self.read_written(written) };
        // SAFETY: we are the producer, done with the cell.
        unsafe { self.release_producer() };
        Err((outcome, reason))
    }

    /// Moves the outcome written as `written` out of the slot.
    ///
    /// # Safety
    ///
    /// The caller has the slot exclusively, its `written` field is
    /// initialized, and it is not read again.
    #[inline]
    unsafe fn read_written(&self, written: Finish) -> Outcome<T> {
        // SAFETY: the caller's contract.
        self.outcome().with_mut(|slot| unsafe {
            match written {
                Finish::Value => Ok(ptr::read(slot.cast::<T>())),
                Finish::Panicked => Err(Error::Panicked(ptr::read(slot.cast::<Panic>()))),
                Finish::Failed => Err(*ptr::read(slot.cast::<Box<Error>>())),
                Finish::Cancelled | Finish::Abandoned => {
                    unreachable!("no outcome is written for {written:?}")
                }
            }
        })
    }

    /// Finishes without an outcome: cancelled (the producer declines) or
    /// abandoned (the producer is dropped). If the consumer cancelled first or
    /// is gone, nothing changes but the release.
    ///
    /// # Safety
    ///
    /// Called once, by the producer, which must not use the cell afterwards.
    pub(crate) unsafe fn finish_empty(self, target: Empty) {
        let target = match target {
            Empty::Cancelled => Finish::Cancelled,
            Empty::Abandoned => Finish::Abandoned,
        };
        match self.state().publish(target) {
            Publish::Released => {}
            // SAFETY: published with `WAITER` set, by the producer.
            Publish::TakeWaiter => unsafe { self.wake_published() },
            // SAFETY: we are the producer, done with the cell.
            Publish::Cancelled | Publish::NoConsumer => unsafe { self.release_producer() },
        }
    }

    /// After a publish that found a waiter: take it, release, then wake. The wake
    /// runs foreign code (which may panic) after the state machine is done with.
    ///
    /// # Safety
    ///
    /// The producer just got `Publish::TakeWaiter`.
    unsafe fn wake_published(self) {
        // SAFETY: forwarded.
        if let Some(waiter) = unsafe { self.take_published_waiter() } {
            waiter.wake();
        }
    }

    /// After a publish that found a waiter: take it and release the producer's
    /// reference; the caller wakes the waiter.
    ///
    /// # Safety
    ///
    /// The producer just got `Publish::TakeWaiter`, and does not use the cell
    /// afterwards.
    unsafe fn take_published_waiter(self) -> Option<Waiter> {
        // SAFETY: a finished state was published with `WAITER` set: the consumer
        // will not touch the slot again, so the producer owns it.
        let waiter = self.waiter().with_mut(|slot| unsafe { (*slot).take() });
        debug_assert!(waiter.is_some(), "WAITER set with an empty slot");
        // SAFETY: the producer is done with the cell.
        unsafe { self.release_producer() };
        waiter
    }

    /// Publishes the outcome written by [`RawCell::write_outcome`] like
    /// [`RawCell::publish_outcome`], but hands the waiter back instead of
    /// waking it, so that a pool worker can see whether it is a done callback
    /// (foreign code that may block) before it runs it. An undelivered outcome
    /// is dropped here, after the release (its `Drop` may unwind; the cell is
    /// consistent by then, and there is no waiter in that case).
    ///
    /// # Safety
    ///
    /// As for [`RawCell::publish_outcome`], with the `written` tag.
    #[cfg(feature = "std")]
    pub(crate) unsafe fn publish_outcome_deferred(self, written: Finish) -> Option<Waiter> {
        match self.state().publish(written) {
            Publish::Released => None,
            // SAFETY: published with `WAITER` set, by the producer, once.
            Publish::TakeWaiter => unsafe { self.take_published_waiter() },
            other => {
                // SAFETY: forwarded: nothing was published, the producer, once.
                drop(unsafe { self.after_publish(other, written) });
                None
            }
        }
    }

    /// Releases the producer's reference, freeing the cell if it was the last.
    ///
    /// # Safety
    ///
    /// Called once, by the producer, which must not use the cell afterwards.
    pub(crate) unsafe fn release_producer(self) {
        if let Some(last) = self.state().release_producer() {
            // SAFETY: the consumer released before us (acq-rel): we are the
            // last, and `last` is the final state.
            unsafe { self.free(last) };
        }
    }

    /// Frees the allocation: drops the outcome (if any), the waiter slot, and the
    /// memory.
    ///
    /// # Safety
    ///
    /// Both handles have released, and the caller synchronized with the other
    /// side's release (acquire); `seen` is the state word's final value (as
    /// the caller's last load or RMW gave it; only the lifecycle and the
    /// layout are read). Nobody uses the cell afterwards.
    #[inline]
    pub(crate) unsafe fn free(self, seen: Snapshot) {
        // The common case inline: the outcome was taken (or there never was
        // one) and the waiter slot is empty, so there is nothing to drop but
        // the memory, and nothing that can unwind. Everything else (a value
        // never taken, a failure, a waiter left in the slot) is out of line.
        // SAFETY: both handles have released: the slot is ours alone; the
        // read goes through the cell, so loom checks it against the
        // producer's take.
        let waiter_left = self.waiter().with(|slot| unsafe { !(*slot).is_empty() });
        // One bit test: the lifecycle values that leave something in the
        // outcome slot to drop (a value only if `T` has drop glue).
        let owning: u32 = 1 << state::PANICKED
            | 1 << state::FAILED
            | (core::mem::needs_drop::<T>() as u32) << state::COMPLETE;
        let outcome_left = owning >> seen.lifecycle() & 1 != 0;
        if waiter_left || outcome_left {
            // SAFETY: forwarded.
            return unsafe { self.free_slow(seen) };
        }
        // SAFETY: the block holds nothing to drop (above); it is freed with
        // the layout it was allocated with.
        unsafe { dealloc_block(self.ptr.cast::<Header>(), seen) }
    }

    /// `free` of a cell that still holds an outcome or a waiter.
    ///
    /// # Safety
    ///
    /// As for [`RawCell::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(self, seen: Snapshot) {
        struct FreeHeader(NonNull<Header>, Snapshot);
        impl Drop for FreeHeader {
            #[inline]
            fn drop(&mut self) {
                // SAFETY: runs once, even if dropping the outcome panicked.
                unsafe { dealloc_block(self.0, self.1) }
            }
        }
        // The waiter is taken out through the cell, so that loom checks this
        // access against the producer's take, and it is dropped only after the
        // memory is freed: a panicking `Drop` of a waker cannot leak the
        // allocation.
        // SAFETY: both handles have released: the slot is ours alone.
        let waiter = self.waiter().with_mut(|slot| unsafe { (*slot).take() });
        let free_header = FreeHeader(self.ptr.cast::<Header>(), seen);
        // An outcome never taken is dropped exactly once, here; a taken one
        // and the outcome-less states own nothing in the slot.
        match seen.lifecycle() {
            // SAFETY: COMPLETE means the producer wrote the value, and nobody
            // moved it out (that would have marked TAKEN); both handles have
            // released, so it is ours.
            state::COMPLETE => self
                .outcome()
                .with_mut(|slot| unsafe { ptr::drop_in_place(slot.cast::<T>()) }),
            // SAFETY: as above, for the failure the lifecycle names.
            state::PANICKED | state::FAILED => unsafe { self.drop_failure(seen) },
            _ => {}
        }
        drop(free_header);
        drop(waiter);
    }
}

/// Frees a block's memory with the layout it was allocated with.
///
/// # Safety
///
/// `header` heads a block whose contents own nothing any more (its waiter
/// slot is empty, its outcome dropped or moved out), `seen` was loaded from
/// its state word, and nobody uses the block afterwards.
#[inline]
unsafe fn dealloc_block(header: NonNull<Header>, seen: Snapshot) {
    // SAFETY: the caller's contract. The header owns nothing by then (the
    // state word is an integer), so there is nothing to drop first; under
    // loom its cells are dropped, for loom's bookkeeping.
    unsafe {
        let layout = BlockLayout::of_block(header, seen);
        #[cfg(loom)]
        ptr::drop_in_place(header.as_ptr());
        sync::dealloc(header.as_ptr().cast::<u8>(), layout);
    }
}

impl<T> RawCell<T> {
    /// Drops a failure nobody took, out of line (the rare case; its drop glue
    /// would swell the inline `free`).
    ///
    /// # Safety
    ///
    /// `seen` is PANICKED or FAILED, the slot holds that failure, and the
    /// caller has it exclusively; it is not read again.
    #[cold]
    #[inline(never)]
    unsafe fn drop_failure(&self, seen: Snapshot) {
        // SAFETY: the caller's contract.
        self.outcome().with_mut(|slot| unsafe {
            if seen.lifecycle() == state::PANICKED {
                ptr::drop_in_place(slot.cast::<Panic>());
            } else {
                ptr::drop_in_place(slot.cast::<Box<Error>>());
            }
        });
    }
}
