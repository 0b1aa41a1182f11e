//! [`Lender`] and [`Lease`]: one value shared by its owner and by many
//! short-lived holders on other threads, counted so that the owner pays no
//! atomic operation per holder.
//!
//! `Executor::map` gives every job the function `f` to call. With an `Arc<F>`,
//! each submit is an atomic increment and each finished job an atomic
//! decrement of the same counter: the submitting thread and every worker write
//! one cache line per job, which moves between the cores each time (a
//! contended read-modify-write per job on the submitter's hot path). Here the
//! owner (the map's feed, one thread) reserves references [`BATCH`] at a time,
//! with one atomic add, and hands them out with a plain decrement of its own
//! field; only the holders' releases are atomic, and they happen on the
//! workers.
//!
//! The count is `Arc`'s: the number of references alive, the owner's own and
//! its unused reserve included. Whoever brings it to zero drops the value and
//! frees the block, so the value outlives every lease, including those of jobs
//! still running after the owner is gone (a dropped `Map` does not wait).

use core::alloc::Layout;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use crate::sync::{self, AtomicUsize, Ordering};

/// References the owner reserves with one atomic add.
const BATCH: usize = 1024;

/// The most references the count may hold: as `Arc`, far below `usize::MAX`,
/// so that no count of live references (each one at least a pointer in
/// memory) can wrap it.
const MAX_REFS: usize = isize::MAX as usize;

struct Inner<F> {
    /// References alive: the lender's (1), its unused reserve, every lease.
    refs: AtomicUsize,
    value: F,
}

/// The owner of a shared value: hands out [`Lease`]s of it.
pub(crate) struct Lender<F> {
    inner: NonNull<Inner<F>>,
    /// References counted in `refs` and not handed out yet.
    reserved: usize,
}

/// A reference to a [`Lender`]'s value, usable on any thread; the value is
/// dropped with its last reference, lender or lease.
pub(crate) struct Lease<F> {
    inner: NonNull<Inner<F>>,
}

// SAFETY: a lender and its leases share `&F` across threads (`Sync` needed)
// and the last of them, on any thread, drops the `F` (`Send` needed), exactly
// as with `Arc<F>`.
unsafe impl<F: Send + Sync> Send for Lender<F> {}
// SAFETY: as above; `&Lender` only gives `&F`.
unsafe impl<F: Send + Sync> Sync for Lender<F> {}
// SAFETY: as for `Lender`.
unsafe impl<F: Send + Sync> Send for Lease<F> {}
// SAFETY: as for `Lender`.
unsafe impl<F: Send + Sync> Sync for Lease<F> {}

impl<F> Lender<F> {
    /// Moves `value` into a new block, with one reference: the lender's.
    pub(crate) fn new(value: F) -> Self {
        let layout = Layout::new::<Inner<F>>();
        // SAFETY: `Inner` holds an `AtomicUsize`: its layout is not zero-sized.
        let raw = unsafe { sync::alloc(layout) }.cast::<Inner<F>>();
        let Some(inner) = NonNull::new(raw) else {
            alloc::alloc::handle_alloc_error(layout)
        };
        // SAFETY: just allocated with `Inner<F>`'s layout.
        unsafe {
            inner.as_ptr().write(Inner {
                refs: AtomicUsize::new(1),
                value,
            });
        }
        Lender { inner, reserved: 0 }
    }

    /// A new lease of the value: an atomic add once every [`BATCH`] leases,
    /// a plain decrement otherwise.
    #[inline]
    pub(crate) fn lend(&mut self) -> Lease<F> {
        if self.reserved == 0 {
            self.reserve();
        }
        self.reserved -= 1;
        Lease { inner: self.inner }
    }

    #[cold]
    fn reserve(&mut self) {
        // ORDERING: relaxed, as `Arc::clone`: new references are made from a
        // live one (the lender's), so the count cannot reach zero meanwhile,
        // and taking them publishes nothing.
        // SAFETY: the lender's own reference keeps the block alive.
        let before = unsafe { self.inner.as_ref() }
            .refs
            .fetch_add(BATCH, Ordering::Relaxed);
        // Live leases are held by jobs, each in an allocation of its own (even
        // a leaked job keeps its memory), so they number far fewer than
        // `MAX_REFS`. Should a later change break that, the count is put
        // back and the map panics, rather than let it wrap (`Arc::clone`
        // aborts instead; `abort` is not in `core`).
        if before > MAX_REFS - BATCH {
            // SAFETY: as above.
            unsafe { self.inner.as_ref() }
                .refs
                .fetch_sub(BATCH, Ordering::Relaxed);
            panic!("more than isize::MAX leases of a map's function are alive");
        }
        self.reserved = BATCH;
    }
}

impl<F> Deref for Lease<F> {
    type Target = F;

    #[inline]
    fn deref(&self) -> &F {
        // SAFETY: this lease is one of the references counted: the block is
        // alive and its value initialized; it is only shared (`&F`) until the
        // last reference drops it.
        unsafe { &self.inner.as_ref().value }
    }
}

impl<F> Drop for Lender<F> {
    fn drop(&mut self) {
        // SAFETY: gives back the lender's own reference and its reserve, once.
        unsafe { release(self.inner, self.reserved + 1) }
    }
}

impl<F> Drop for Lease<F> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: gives back this lease's reference, once.
        unsafe { release(self.inner, 1) }
    }
}

/// Gives back `n` references; the holder of the last drops the value and
/// frees the block.
///
/// # Safety
///
/// The caller holds `n` of the references counted, and does not use the
/// block afterwards.
#[inline]
unsafe fn release<F>(inner: NonNull<Inner<F>>, n: usize) {
    // ORDERING: release, as `Arc`'s drop: this holder's uses of the value
    // (a job's call of `f`) happen before the count reaches zero, and so
    // before the drop of the value that the acquire load below orders after
    // every release. Weakened, loom sees the drop race a call
    // (`map_drop_vs_job_using_f` in `loom-tests/tests/thread_pool.rs`).
    // SAFETY: the caller's references keep the block alive until this RMW.
    if unsafe { inner.as_ref() }
        .refs
        .fetch_sub(n, Ordering::Release)
        != n
    {
        return;
    }
    // ORDERING: acquire: reads the last value of the count, which every
    // earlier release decrement is part of the release sequence of, so every
    // use of the value happens before it is dropped here. (A load rather
    // than `Arc`'s acquire fence, which is equivalent here and costs the
    // same once per map, so that the ordering-mutation check can weaken it:
    // a relaxed fence does not exist.)
    // SAFETY: the count is at zero and only this thread can reach the block.
    let _ = unsafe { inner.as_ref() }.refs.load(Ordering::Acquire);
    /// Frees the block even if the value's `Drop` unwinds.
    struct Free<F>(NonNull<Inner<F>>);
    impl<F> Drop for Free<F> {
        fn drop(&mut self) {
            // SAFETY: the block was allocated in `Lender::new` with this
            // layout, and nobody holds a reference to it any more.
            unsafe { sync::dealloc(self.0.as_ptr().cast::<u8>(), Layout::new::<Inner<F>>()) }
        }
    }
    let free = Free(inner);
    // SAFETY: the count reached zero: this is the only access left, and the
    // value is dropped exactly once, here.
    unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*inner.as_ptr()).value)) };
    drop(free);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::vec::Vec;

    /// Counts its drops.
    struct Tracked(Arc<StdAtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn the_value_is_dropped_once_after_the_lender_and_every_lease() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let mut lender = Lender::new(Tracked(Arc::clone(&drops)));
        let leases: Vec<_> = (0..3 * BATCH + 7).map(|_| lender.lend()).collect();
        drop(lender);
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 0);
        let last = leases.len() - 1;
        for (i, lease) in leases.into_iter().enumerate() {
            assert_eq!(
                drops.load(std::sync::atomic::Ordering::Relaxed),
                0,
                "lease {i} of {last}"
            );
            drop(lease);
        }
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn the_lender_last_drops_the_value() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let mut lender = Lender::new(Tracked(Arc::clone(&drops)));
        drop((lender.lend(), lender.lend()));
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 0);
        drop(lender);
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn leases_on_other_threads_read_the_value_and_the_last_one_drops_it() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let mut lender = Lender::new((Tracked(Arc::clone(&drops)), 42_u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lease = lender.lend();
                std::thread::spawn(move || lease.1)
            })
            .collect();
        drop(lender);
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 42);
        }
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_panicking_drop_of_the_value_still_frees_the_block() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the value's drop panics");
            }
        }
        let mut lender = Lender::new(Bomb);
        let lease = lender.lend();
        drop(lender);
        // Miri and the leak checkers see the block freed although the drop
        // unwinds.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(lease)));
        assert!(unwound.is_err());
    }
}
