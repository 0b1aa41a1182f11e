//! The waiter slot packed in two words (`src/cell/waiter.rs`: a task's waker as
//! its data and vtable pointers, a thread in place, a done callback as one
//! thin allocation, a fan-in as its `Arc` and a shifted index), tried through
//! the public API: raw-part wakers (null data, static and promoted vtables),
//! `will_wake` honoured, wakers replaced, every kind of waiter replacing
//! another, foreign code that panics (clone, wake, drop, callbacks, captures),
//! fan-ins of 10,000 futures, timeouts racing completion.
//! Every waker clone, callback and captured value is counted: each must be
//! dropped exactly once. Deterministic: channels and barriers, no sleeps for
//! synchronisation.

mod common;

use common::Tracked;
use concurrent_futures::CancelFutures;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use concurrent_futures::{
    Error, Executor, ReturnWhen, SharedFuture, ThreadPoolExecutor, as_completed, promise, wait,
};

const REPEAT: usize = if cfg!(miri) { 2 } else { 40 };

fn poll_once<T>(future: &mut SharedFuture<T>, waker: &Waker) -> Poll<Result<T, Error>> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

// ------------------------------------------------------------ raw wakers

/// Counters for one hand-made waker family.
struct Counts {
    clones: AtomicUsize,
    wakes: AtomicUsize,
    wake_by_refs: AtomicUsize,
    drops: AtomicUsize,
    panic_clone: AtomicBool,
    panic_wake: AtomicBool,
    panic_drop: AtomicBool,
}
impl Counts {
    const fn new() -> Self {
        Counts {
            clones: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
            wake_by_refs: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
            panic_clone: AtomicBool::new(false),
            panic_wake: AtomicBool::new(false),
            panic_drop: AtomicBool::new(false),
        }
    }
    /// Live wakers of the family: the original plus clones, minus the ones
    /// consumed by `wake` or dropped.
    fn live(&self) -> isize {
        1 + self.clones.load(SeqCst) as isize
            - self.wakes.load(SeqCst) as isize
            - self.drops.load(SeqCst) as isize
    }
    fn c(&self) -> usize {
        self.clones.load(SeqCst)
    }
    fn w(&self) -> usize {
        self.wakes.load(SeqCst)
    }
    fn d(&self) -> usize {
        self.drops.load(SeqCst)
    }
}

/// A module of wakers whose data pointer is a `&'static Counts`, with a vtable
/// declared `static` (one address) or `const` (promoted at each use: `&VT`
/// may or may not have one address across uses and codegen units). Each
/// counts its clones, wakes and drops, and panics on demand (`Counts`).
macro_rules! counting_wakers {
    ($(#[$doc:meta])* $module:ident, $kind:tt $vtable:ident) => {
        $(#[$doc])*
        mod $module {
            use super::*;
            pub $kind $vtable: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop);
            fn counts(p: *const ()) -> &'static Counts {
                // SAFETY: made from a `&'static Counts` in `waker`.
                unsafe { &*p.cast::<Counts>() }
            }
            unsafe fn clone(p: *const ()) -> RawWaker {
                let c = counts(p);
                if c.panic_clone.load(SeqCst) {
                    panic!("deliberate panic in Waker::clone");
                }
                c.clones.fetch_add(1, SeqCst);
                RawWaker::new(p, &$vtable)
            }
            unsafe fn wake(p: *const ()) {
                let c = counts(p);
                c.wakes.fetch_add(1, SeqCst);
                if c.panic_wake.load(SeqCst) {
                    panic!("deliberate panic in Waker::wake");
                }
            }
            unsafe fn wake_by_ref(p: *const ()) {
                counts(p).wake_by_refs.fetch_add(1, SeqCst);
            }
            unsafe fn drop(p: *const ()) {
                let c = counts(p);
                c.drops.fetch_add(1, SeqCst);
                if c.panic_drop.load(SeqCst) && !std::thread::panicking() {
                    panic!("deliberate panic in Waker::drop");
                }
            }
            pub fn waker(c: &'static Counts) -> Waker {
                // SAFETY: the vtable's contract holds for a `&'static Counts`.
                unsafe { Waker::from_raw(RawWaker::new(core::ptr::from_ref(c).cast(), &$vtable)) }
            }
        }
    };
}

counting_wakers!(
    /// The vtable is a `static`.
    static_vt, static VTABLE
);
counting_wakers!(
    /// A second static vtable with the same functions: same data, other vtable.
    static_vt2, static VTABLE2
);
counting_wakers!(
    /// The vtable is a `const`, promoted at each use.
    const_vt, const VT
);

/// Wakers with a null data pointer: the counters are a static of the module.
mod null_data {
    use super::*;
    pub static COUNTS: Counts = Counts::new();
    static VT: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop);
    unsafe fn clone(p: *const ()) -> RawWaker {
        assert!(p.is_null());
        COUNTS.clones.fetch_add(1, SeqCst);
        RawWaker::new(core::ptr::null(), &VT)
    }
    unsafe fn wake(p: *const ()) {
        assert!(p.is_null());
        COUNTS.wakes.fetch_add(1, SeqCst);
    }
    unsafe fn wake_by_ref(p: *const ()) {
        assert!(p.is_null());
        COUNTS.wake_by_refs.fetch_add(1, SeqCst);
    }
    unsafe fn drop(p: *const ()) {
        assert!(p.is_null());
        COUNTS.drops.fetch_add(1, SeqCst);
    }
    pub fn waker() -> Waker {
        // SAFETY: the functions ignore the (null) data pointer.
        unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VT)) }
    }
}

/// A value whose drops are counted, and whose `Drop` panics if `panic`.
fn tracked(panic: bool) -> (Arc<AtomicUsize>, Tracked) {
    let drops = Arc::new(AtomicUsize::new(0));
    let value = if panic {
        Tracked::panicking(&drops)
    } else {
        Tracked::counting(&drops)
    };
    (drops, value)
}

// ------------------------------------------------------------ task wakers

#[test]
fn null_data_waker_registered_reregistered_and_woken() {
    let c = &null_data::COUNTS;
    let waker = null_data::waker();
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &waker).is_pending());
    assert!(poll_once(&mut future, &waker).is_pending());
    assert!(poll_once(&mut future, &waker).is_pending());
    assert_eq!(c.c(), 1, "will_wake honoured: one clone for three polls");
    assert_eq!(c.d(), 0);
    producer.set_result(5).unwrap();
    assert_eq!(c.w(), 1);
    assert!(matches!(poll_once(&mut future, &waker), Poll::Ready(Ok(5))));
    drop(waker);
    drop(future);
    assert_eq!(c.live(), 0);
    assert_eq!(c.wake_by_refs.load(SeqCst), 0);
}

static STATIC_SAME: Counts = Counts::new();
#[test]
fn static_vtable_same_waker_is_cloned_once() {
    let c = &STATIC_SAME;
    let waker = static_vt::waker(c);
    let (producer, mut future) = promise::<String>();
    for _ in 0..if cfg!(miri) { 5 } else { 100 } {
        assert!(poll_once(&mut future, &waker).is_pending());
    }
    // Also a clone of the waker (same data, same vtable): will_wake.
    let clone = waker.clone();
    assert!(poll_once(&mut future, &clone).is_pending());
    assert_eq!(c.c(), 2, "one clone in the slot, one made by the test");
    assert_eq!(c.d(), 0);
    drop(producer); // abandoned
    assert_eq!(c.w(), 1);
    assert!(matches!(
        poll_once(&mut future, &waker),
        Poll::Ready(Err(Error::Abandoned))
    ));
    drop((waker, clone, future));
    assert_eq!(c.live(), 0);
}

static CONST_A: Counts = Counts::new();
#[test]
fn const_promoted_vtable_balances() {
    let c = &CONST_A;
    let waker = const_vt::waker(c);
    let (producer, mut future) = promise::<u8>();
    for _ in 0..if cfg!(miri) { 5 } else { 100 } {
        assert!(poll_once(&mut future, &waker).is_pending());
        // At most one waker of ours is in the slot: the others are dropped.
        assert_eq!(c.live(), 2);
    }
    producer.set_result(1).unwrap();
    assert_eq!(c.w(), 1);
    assert_eq!(c.live(), 1);
    drop((waker, future));
    assert_eq!(c.live(), 0);
}

static SAME_DATA_OTHER_VT: Counts = Counts::new();
#[test]
fn same_data_other_vtable_replaces() {
    let c = &SAME_DATA_OTHER_VT;
    let a = static_vt::waker(c);
    let b = static_vt2::waker(c);
    let (producer, mut future) = promise::<u8>();
    assert!(poll_once(&mut future, &a).is_pending());
    assert!(poll_once(&mut future, &b).is_pending());
    assert_eq!(c.c(), 2, "other vtable: not will_wake, cloned");
    assert_eq!(c.d(), 1, "the first clone dropped when replaced");
    assert!(poll_once(&mut future, &b).is_pending());
    assert_eq!(c.c(), 2);
    producer.set_result(1).unwrap();
    assert_eq!(c.w(), 1);
    drop((a, b, future));
    // Two originals here: live counts one original, so add one.
    assert_eq!(c.live() + 1, 0); // two originals: live() counts one
}

static REPL_A: Counts = Counts::new();
static REPL_B: Counts = Counts::new();
#[test]
fn different_waker_replaces_old_dropped_once_and_not_woken() {
    let (a, b) = (static_vt::waker(&REPL_A), static_vt::waker(&REPL_B));
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(poll_once(&mut future, &a).is_pending());
    assert!(poll_once(&mut future, &b).is_pending());
    assert_eq!((REPL_A.c(), REPL_A.d()), (1, 1));
    assert_eq!((REPL_B.c(), REPL_B.d()), (1, 0));
    producer.set_result(vec![1]).unwrap();
    assert_eq!(REPL_A.w(), 0);
    assert_eq!(REPL_B.w(), 1);
    drop((a, b, future));
    assert_eq!(REPL_A.live(), 0);
    assert_eq!(REPL_B.live(), 0);
}

static ALT_A: Counts = Counts::new();
static ALT_B: Counts = Counts::new();
#[test]
fn many_polls_alternating_two_wakers() {
    let n = if cfg!(miri) { 20 } else { 5000 };
    let (a, b) = (static_vt::waker(&ALT_A), static_vt::waker(&ALT_B));
    let (producer, mut future) = promise::<u64>();
    for i in 0..n {
        let w = if i % 2 == 0 { &a } else { &b };
        assert!(poll_once(&mut future, w).is_pending());
        // Exactly one clone of all is in the slot.
        assert_eq!(ALT_A.live() + ALT_B.live(), 3);
    }
    assert_eq!(ALT_A.c() + ALT_B.c(), n);
    producer.set_result(9).unwrap();
    assert_eq!(ALT_A.w() + ALT_B.w(), 1);
    assert_eq!(ALT_B.w(), 1, "the last poll (odd) registered b");
    assert!(matches!(poll_once(&mut future, &a), Poll::Ready(Ok(9))));
    drop((a, b, future));
    assert_eq!(ALT_A.live() + ALT_B.live(), 0);
}

static NOOP_MIX: Counts = Counts::new();
#[test]
fn noop_waker_registered_replaced_and_woken() {
    let noop = Waker::noop();
    let (producer, mut future) = promise::<u8>();
    assert!(poll_once(&mut future, noop).is_pending());
    assert!(poll_once(&mut future, noop).is_pending());
    assert!(poll_once(&mut future, &noop.clone()).is_pending());
    let counted = static_vt::waker(&NOOP_MIX);
    assert!(poll_once(&mut future, &counted).is_pending());
    assert!(poll_once(&mut future, noop).is_pending());
    assert_eq!((NOOP_MIX.c(), NOOP_MIX.d()), (1, 1));
    producer.set_result(3).unwrap(); // wakes the noop
    assert_eq!(NOOP_MIX.w(), 0);
    assert!(matches!(poll_once(&mut future, noop), Poll::Ready(Ok(3))));
    // A noop left in the slot of a dropped consumer.
    let (producer, mut future) = promise::<u8>();
    assert!(poll_once(&mut future, noop).is_pending());
    drop(future);
    assert!(producer.set_result(1).is_err());
    drop(counted);
    assert_eq!(NOOP_MIX.live(), 0);
}

static CLONE_PANICS: Counts = Counts::new();
static GOOD: Counts = Counts::new();
#[test]
fn waker_clone_panics_slot_untouched() {
    let bad = static_vt::waker(&CLONE_PANICS);
    let good = static_vt::waker(&GOOD);
    let (producer, mut future) = promise::<Vec<u8>>();
    // A good waker first, then a clone that panics: the good one stays.
    assert!(poll_once(&mut future, &good).is_pending());
    CLONE_PANICS.panic_clone.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &bad))).is_err());
    assert_eq!(GOOD.d(), 0, "the slot was untouched");
    // Again, and then the good one re-registers without a clone.
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &bad))).is_err());
    assert!(poll_once(&mut future, &good).is_pending());
    assert_eq!(GOOD.c(), 1);
    producer.set_result(vec![2]).unwrap();
    assert_eq!(GOOD.w(), 1);
    assert!(matches!(poll_once(&mut future, &good), Poll::Ready(Ok(ref v)) if v == &[2]));
    drop((good, future));
    assert_eq!(GOOD.live(), 0);
    CLONE_PANICS.panic_clone.store(false, SeqCst);
    drop(bad);
    assert_eq!(CLONE_PANICS.live(), 0);
}

static CLONE_PANICS2: Counts = Counts::new();
static LEFT: Counts = Counts::new();
#[test]
fn waker_clone_panics_then_completed_unregistered() {
    // After the reclaim the clone panics: `WAITER` is clear, the old waker is
    // still in the slot, owned by the consumer; completion wakes nobody, and
    // the old waker is dropped once, when the cell is freed.
    let left = static_vt::waker(&LEFT);
    let bad = static_vt::waker(&CLONE_PANICS2);
    CLONE_PANICS2.panic_clone.store(true, SeqCst);
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &left).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &bad))).is_err());
    producer.set_result(4).unwrap();
    assert_eq!(LEFT.w(), 0, "deregistered by the failed poll");
    assert_eq!(future.try_take().unwrap().unwrap(), 4);
    assert_eq!(LEFT.d(), 0, "still in the slot");
    drop(future);
    assert_eq!(LEFT.d(), 1);
    drop(left);
    assert_eq!(LEFT.live(), 0);
    CLONE_PANICS2.panic_clone.store(false, SeqCst);
    drop(bad);
    assert_eq!(CLONE_PANICS2.live(), 0);
}

static DROP_PANICS: Counts = Counts::new();
static AFTER: Counts = Counts::new();
#[test]
fn replaced_waker_drop_panics_registration_still_holds() {
    let a = static_vt::waker(&DROP_PANICS);
    let b = static_vt::waker(&AFTER);
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &a).is_pending());
    DROP_PANICS.panic_drop.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &b))).is_err());
    assert_eq!(DROP_PANICS.d(), 1);
    producer.set_result(8).unwrap();
    assert_eq!(AFTER.w(), 1, "b was registered before a's drop panicked");
    assert_eq!(DROP_PANICS.w(), 0);
    assert_eq!(future.try_take().unwrap().unwrap(), 8);
    drop(future);
    drop(b);
    assert_eq!(AFTER.live(), 0);
    DROP_PANICS.panic_drop.store(false, SeqCst);
    drop(a);
    assert_eq!(DROP_PANICS.live(), 0);
}

static DROP_PANICS_FREE: Counts = Counts::new();
#[test]
fn waker_drop_panics_in_free_and_in_consumer_drop() {
    // In the slot when the consumer drops (reclaimed, dropped after release).
    let a = static_vt::waker(&DROP_PANICS_FREE);
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(poll_once(&mut future, &a).is_pending());
    DROP_PANICS_FREE.panic_drop.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(move || drop(future))).is_err());
    assert_eq!(DROP_PANICS_FREE.d(), 1);
    assert!(producer.set_result(vec![1]).is_err());
    DROP_PANICS_FREE.panic_drop.store(false, SeqCst);
    drop(a);
    assert_eq!(DROP_PANICS_FREE.live(), 0);
}

static WAKE_PANICS: Counts = Counts::new();
#[test]
fn waker_wake_panics_into_the_producer() {
    let a = static_vt::waker(&WAKE_PANICS);
    let (drops, value) = tracked(false);
    let (producer, mut future) = promise::<Tracked>();
    assert!(poll_once(&mut future, &a).is_pending());
    WAKE_PANICS.panic_wake.store(true, SeqCst);
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        let _ = producer.set_result(value);
    }));
    assert!(unwound.is_err());
    assert_eq!(WAKE_PANICS.w(), 1);
    // Published before the wake: the value is there.
    assert!(future.is_done());
    let v = future.try_take().unwrap().unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    drop(v);
    drop(future);
    assert_eq!(drops.load(SeqCst), 1);
    drop(a);
    assert_eq!(WAKE_PANICS.live(), 0);
}

static ARC_DROPPED: Counts = Counts::new();
#[test]
fn waker_left_in_slot_replaced_by_thread_and_fan_in() {
    // A waker in the slot, then a blocking wait (a thread replaces it).
    let a = static_vt::waker(&ARC_DROPPED);
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &a).is_pending());
    let (tx, rx) = mpsc::channel::<()>();
    let waiter = std::thread::spawn(move || {
        tx.send(()).unwrap();
        future.wait()
    });
    rx.recv().unwrap();
    producer.set_result(11).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 11);
    // The waker may or may not have been replaced by the thread (the result
    // may have come before the wait registered); either way it was not woken
    // twice and is dropped once.
    assert!(ARC_DROPPED.w() <= 1);
    // A waker in the slot, then `wait` (a fan-in replaces it).
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &a).is_pending());
    let mut futures = [future];
    let waited = wait(&mut futures, Some(Duration::ZERO), ReturnWhen::AllCompleted);
    assert_eq!(waited.not_done, [0]);
    producer.set_result(12).unwrap();
    let [mut future] = futures;
    assert_eq!(future.try_take().unwrap().unwrap(), 12);
    drop(future);
    drop(a);
    assert_eq!(ARC_DROPPED.live(), 0);
}

// ------------------------------------------------------------ callbacks

#[test]
fn on_done_callback_panics_captures_dropped_once() {
    let (cap_drops, captured) = tracked(false);
    let (val_drops, value) = tracked(false);
    let (producer, future) = promise::<Tracked>();
    future.on_done(move |outcome| {
        let _keep = &captured;
        let _v = outcome.unwrap();
        panic!("deliberate panic in a done callback");
    });
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        let _ = producer.set_result(value);
    }));
    assert!(unwound.is_err());
    assert_eq!(cap_drops.load(SeqCst), 1);
    assert_eq!(val_drops.load(SeqCst), 1);
}

#[test]
fn on_done_captured_value_drop_panics_after_running() {
    let (cap_drops, captured) = tracked(true);
    let (val_drops, value) = tracked(false);
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = Arc::clone(&ran);
    let (producer, future) = promise::<Tracked>();
    future.on_done(move |outcome| {
        let _keep = &captured;
        drop(outcome.unwrap());
        ran2.fetch_add(1, SeqCst);
    });
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        let _ = producer.set_result(value);
    }));
    assert!(
        unwound.is_err(),
        "the captured value's Drop panics after the callback"
    );
    assert_eq!(ran.load(SeqCst), 1);
    assert_eq!(cap_drops.load(SeqCst), 1);
    assert_eq!(val_drops.load(SeqCst), 1);
}

#[test]
fn on_done_captured_value_drop_panics_already_done() {
    let (cap_drops, captured) = tracked(true);
    let (producer, future) = promise::<u8>();
    producer.set_result(1).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = Arc::clone(&ran);
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        future.on_done(move |outcome| {
            let _keep = &captured;
            assert_eq!(outcome.unwrap(), 1);
            ran2.fetch_add(1, SeqCst);
        })
    }));
    assert!(unwound.is_err());
    assert_eq!(ran.load(SeqCst), 1);
    assert_eq!(cap_drops.load(SeqCst), 1);
}

#[test]
fn on_done_already_finished_runs_at_once_on_this_thread() {
    let (producer, future) = promise::<String>();
    producer.set_result("x".to_owned()).unwrap();
    let me = std::thread::current().id();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = Arc::clone(&ran);
    future.on_done(move |outcome| {
        assert_eq!(std::thread::current().id(), me);
        assert_eq!(outcome.unwrap(), "x");
        ran2.fetch_add(1, SeqCst);
    });
    assert_eq!(ran.load(SeqCst), 1, "ran before on_done returned");
    // Cancelled before on_done.
    let (_producer, future) = promise::<String>();
    assert!(future.cancel());
    let ran2 = Arc::clone(&ran);
    future.on_done(move |outcome| {
        assert!(matches!(outcome, Err(Error::Cancelled)));
        ran2.fetch_add(1, SeqCst);
    });
    assert_eq!(ran.load(SeqCst), 2);
}

#[test]
fn on_done_then_producer_dropped_abandoned() {
    let (cap_drops, captured) = tracked(false);
    let (producer, future) = promise::<Vec<u8>>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| {
        let _keep = &captured;
        tx.send(matches!(outcome, Err(Error::Abandoned))).unwrap();
    });
    assert_eq!(cap_drops.load(SeqCst), 0);
    drop(producer);
    assert!(rx.recv().unwrap());
    assert_eq!(cap_drops.load(SeqCst), 1);
}

#[test]
fn on_done_replaces_a_waker() {
    let (producer, mut future) = promise::<u8>();
    static C: Counts = Counts::new();
    let w = static_vt::waker(&C);
    assert!(poll_once(&mut future, &w).is_pending());
    let (tx, rx) = mpsc::channel();
    future.on_done(move |o| tx.send(o.unwrap()).unwrap());
    assert_eq!(
        (C.c(), C.d()),
        (1, 1),
        "the waker dropped once, at replacement"
    );
    producer.set_result(6).unwrap();
    assert_eq!(rx.recv().unwrap(), 6);
    assert_eq!(C.w(), 0);
    drop(w);
    assert_eq!(C.live(), 0);
}

/// A callback whose closure is over-aligned and large: the thin callback
/// allocation must respect it.
#[test]
fn on_done_over_aligned_capture() {
    #[repr(align(128))]
    struct Big([u8; 512]);
    let big = Big([7; 512]);
    let (producer, future) = promise::<u8>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |o| {
        assert_eq!(core::ptr::from_ref(&big).addr() % 128, 0);
        tx.send((o.unwrap(), big.0[511])).unwrap();
    });
    producer.set_result(1).unwrap();
    assert_eq!(rx.recv().unwrap(), (1, 7));
    // A zero-sized callback.
    let (producer, future) = promise::<u8>();
    future.on_done(|o| assert_eq!(o.unwrap(), 2));
    producer.set_result(2).unwrap();
}

#[test]
fn on_done_on_jobs_cancelled_by_shutdown() {
    for round in 0..REPEAT.min(if cfg!(miri) { 1 } else { 10 }) {
        let n = if cfg!(miri) { 4 } else { 50 };
        let pool = common::pool(1);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release, gate) = mpsc::channel::<()>();
        let busy = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                gate.recv().unwrap();
            })
            .unwrap();
        started_rx.recv().unwrap();
        let (tx, rx) = mpsc::channel();
        let mut drops = Vec::new();
        let ran_job = Arc::new(AtomicUsize::new(0));
        for i in 0..n {
            let (d, captured) = tracked(false);
            drops.push(d);
            let tx = tx.clone();
            let ran_job = Arc::clone(&ran_job);
            let (jd, in_job) = tracked(false);
            drops.push(jd);
            pool.submit(move || {
                let _k = &in_job;
                ran_job.fetch_add(1, SeqCst);
                i
            })
            .unwrap()
            .on_done(move |outcome| {
                let _keep = &captured;
                let cancelled = matches!(outcome, Err(Error::Cancelled));
                tx.send((i, cancelled)).unwrap();
                // Some callbacks panic: the others must still run.
                if i % 7 == 3 {
                    panic!("deliberate panic in a cancelled job's callback");
                }
            });
        }
        drop(tx);
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            pool.shutdown_nowait(CancelFutures::Yes)
        }));
        // Whether shutdown_nowait re-raises a callback's panic is the pool's
        // policy; record it once.
        if round == 0 {
            eprintln!(
                "shutdown_nowait with panicking callbacks unwound: {}",
                unwound.is_err()
            );
        }
        release.send(()).unwrap();
        let mut seen: Vec<(usize, bool)> = rx.iter().collect();
        seen.sort();
        assert_eq!(seen.len(), n, "every callback ran once");
        assert!(seen.iter().enumerate().all(|(k, &(i, c))| k == i && c));
        assert_eq!(ran_job.load(SeqCst), 0);
        drop(busy);
        pool.shutdown(CancelFutures::No);
        for d in &drops {
            assert_eq!(d.load(SeqCst), 1);
        }
    }
}

#[test]
fn on_done_on_pool_with_panicking_callbacks_and_panicking_captures() {
    let n = if cfg!(miri) { 4 } else { 200 };
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let mut drops = Vec::new();
    for i in 0..n {
        let (d, captured) = tracked(i % 5 == 1);
        drops.push(d);
        let tx = tx.clone();
        pool.submit(move || i).unwrap().on_done(move |o| {
            let _keep = &captured;
            tx.send(o.unwrap()).unwrap();
            if i % 5 == 2 {
                panic!("deliberate");
            }
        });
    }
    drop(tx);
    let mut got: Vec<usize> = rx.iter().collect();
    got.sort();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    pool.shutdown(CancelFutures::Yes);
    assert!(drops.iter().all(|d| d.load(SeqCst) == 1));
}

// ------------------------------------------------------------ fan-in

#[test]
fn wait_many_futures_completed_in_reverse() {
    let n = if cfg!(miri) { 24 } else { 10_000 };
    let mut producers = Vec::with_capacity(n);
    let mut futures = Vec::with_capacity(n);
    let d = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let (p, f) = promise::<Tracked>();
        producers.push(p);
        futures.push(f);
    }
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let d2 = Arc::clone(&d);
    let completer = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        // The last index first: a fan-in with index n-1 is woken first.
        let last = producers.pop().unwrap();
        last.set_result(Tracked::counting(&d2)).unwrap();
        go_rx.recv().unwrap();
        while let Some(p) = producers.pop() {
            let _ = p.set_result(Tracked::counting(&d2));
        }
    });
    go_tx.send(()).unwrap();
    let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    assert!(waited.done.contains(&(n - 1)));
    go_tx.send(()).unwrap();
    let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_eq!(waited.done.len(), n);
    assert!(waited.not_done.is_empty());
    completer.join().unwrap();
    for f in &mut futures {
        assert!(f.try_take().unwrap().is_ok());
    }
    assert_eq!(d.load(SeqCst), n);
    drop(futures);
    assert_eq!(d.load(SeqCst), n);
}

#[test]
fn as_completed_many_futures_completed_in_reverse() {
    let n = if cfg!(miri) { 24 } else { 10_000 };
    let mut producers = Vec::with_capacity(n);
    let mut futures = Vec::with_capacity(n);
    for _ in 0..n {
        let (p, f) = promise::<usize>();
        producers.push(p);
        futures.push(f);
    }
    let iter = as_completed(futures, None);
    let completer = std::thread::spawn(move || {
        let mut i = producers.len();
        while let Some(p) = producers.pop() {
            i -= 1;
            p.set_result(i).unwrap();
        }
    });
    let mut seen = vec![false; n];
    for (index, outcome) in iter {
        assert_eq!(outcome.unwrap(), index);
        assert!(!std::mem::replace(&mut seen[index], true));
    }
    assert!(seen.iter().all(|&s| s));
    completer.join().unwrap();
}

#[test]
fn as_completed_dropped_and_timed_out_with_pending_futures() {
    let n = if cfg!(miri) { 8 } else { 2000 };
    let mut producers = Vec::new();
    let mut futures = Vec::new();
    for _ in 0..n {
        let (p, f) = promise::<Vec<u8>>();
        producers.push(p);
        futures.push(f);
    }
    // Half done before, a timeout of zero, then dropped with the rest
    // registered: each consumer drop reclaims its fan-in.
    for p in producers.drain(..n / 2).rev() {
        p.set_result(vec![1]).unwrap();
    }
    let mut iter = as_completed(futures, Some(Duration::ZERO));
    let mut ok = 0;
    for (_, o) in iter.by_ref().take(n / 2) {
        if o.is_ok() {
            ok += 1;
        }
    }
    drop(iter);
    assert!(ok <= n / 2);
    for p in producers {
        assert!(p.set_result(vec![2]).is_err(), "consumer dropped");
    }
    // into_remaining deregisters; then completed in reverse.
    let mut producers = Vec::new();
    let mut futures = Vec::new();
    for _ in 0..n {
        let (p, f) = promise::<u16>();
        producers.push(p);
        futures.push(f);
    }
    let iter = as_completed(futures, Some(Duration::ZERO));
    let mut remaining = iter.into_remaining();
    assert_eq!(remaining.len(), n);
    for (i, p) in producers.into_iter().enumerate().rev() {
        p.set_result(i as u16).unwrap();
    }
    for (i, f) in &mut remaining {
        assert_eq!(f.try_take().unwrap().unwrap() as usize, *i);
    }
}

#[test]
fn wait_racing_reverse_completion() {
    for _ in 0..REPEAT {
        let n = if cfg!(miri) { 6 } else { 300 };
        let mut producers = Vec::new();
        let mut futures = Vec::new();
        for _ in 0..n {
            let (p, f) = promise::<u32>();
            producers.push(p);
            futures.push(f);
        }
        let barrier = Arc::new(Barrier::new(2));
        let b2 = Arc::clone(&barrier);
        let completer = std::thread::spawn(move || {
            b2.wait();
            for p in producers.into_iter().rev() {
                p.set_result(1).unwrap();
            }
        });
        barrier.wait();
        let mut done = 0;
        while done < n {
            let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
            done = waited.done.len();
            assert!(done >= 1);
        }
        completer.join().unwrap();
        assert!(
            futures
                .iter_mut()
                .all(|f| f.try_take().unwrap().unwrap() == 1)
        );
    }
}

// ------------------------------------------------------------ threads

#[test]
fn blocking_waits_from_several_threads() {
    for _ in 0..REPEAT {
        let k = if cfg!(miri) { 3 } else { 8 };
        let barrier = Arc::new(Barrier::new(k + 1));
        let mut producers = Vec::new();
        let mut waiters = Vec::new();
        for i in 0..k {
            let (p, mut f) = promise::<usize>();
            producers.push(p);
            let barrier = Arc::clone(&barrier);
            waiters.push(std::thread::spawn(move || {
                barrier.wait();
                assert_eq!(f.wait().unwrap(), i);
                // Waited once more: the outcome was taken.
                assert!(matches!(f.wait(), Err(Error::AlreadyTaken)));
            }));
        }
        barrier.wait();
        for (i, p) in producers.into_iter().enumerate().rev() {
            p.set_result(i).unwrap();
        }
        for w in waiters {
            w.join().unwrap();
        }
    }
}

#[test]
fn wait_timeout_times_out_then_rewaited() {
    let (producer, mut future) = promise::<Vec<u8>>();
    for _ in 0..3 {
        assert!(matches!(
            future.wait_timeout(Duration::from_millis(1)),
            Err(Error::Timeout)
        ));
    }
    assert!(matches!(
        future.wait_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
    let (tx, rx) = mpsc::channel::<()>();
    let completer = std::thread::spawn(move || {
        rx.recv().unwrap();
        producer.set_result(vec![4]).unwrap();
    });
    tx.send(()).unwrap();
    assert_eq!(future.wait().unwrap(), vec![4]);
    completer.join().unwrap();
}

static AFTER_TIMEOUT: Counts = Counts::new();
#[test]
fn thread_deregistered_after_timeout_then_waker_then_completion() {
    let (producer, mut future) = promise::<u32>();
    assert!(matches!(
        future.wait_timeout(Duration::from_millis(1)),
        Err(Error::Timeout)
    ));
    // Move the consumer to another thread, time out there too.
    let mut future = std::thread::spawn(move || {
        assert!(matches!(
            future.wait_timeout(Duration::from_millis(1)),
            Err(Error::Timeout)
        ));
        future
    })
    .join()
    .unwrap();
    let w = static_vt::waker(&AFTER_TIMEOUT);
    assert!(poll_once(&mut future, &w).is_pending());
    producer.set_result(3).unwrap();
    assert_eq!(AFTER_TIMEOUT.w(), 1);
    assert!(matches!(poll_once(&mut future, &w), Poll::Ready(Ok(3))));
    drop((w, future));
    assert_eq!(AFTER_TIMEOUT.live(), 0);
}

#[test]
fn wait_timeout_racing_completion() {
    for i in 0..REPEAT * 2 {
        let (producer, mut future) = promise::<Tracked>();
        let (d, value) = tracked(false);
        let barrier = Arc::new(Barrier::new(2));
        let b2 = Arc::clone(&barrier);
        let completer = std::thread::spawn(move || {
            b2.wait();
            producer.set_result(value).unwrap();
        });
        barrier.wait();
        let timeout = Duration::from_micros((i % 5) as u64 * 20);
        match future.wait_timeout(timeout) {
            Ok(v) => drop(v),
            Err(Error::Timeout) => drop(future.wait().unwrap()),
            Err(e) => panic!("{e:?}"),
        }
        completer.join().unwrap();
        drop(future);
        assert_eq!(d.load(SeqCst), 1);
    }
}

#[test]
fn thread_waiter_consumer_dropped_while_producer_alive() {
    // A thread waiter times out (deregistered), then a waker registers, then
    // the consumer is dropped while registered, then the producer completes.
    static C: Counts = Counts::new();
    let w = static_vt::waker(&C);
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(matches!(
        future.wait_timeout(Duration::from_millis(1)),
        Err(Error::Timeout)
    ));
    assert!(poll_once(&mut future, &w).is_pending());
    drop(future);
    assert_eq!(C.d(), 1, "reclaimed and dropped by the consumer");
    assert!(producer.set_result(vec![1]).is_err());
    drop(w);
    assert_eq!(C.live(), 0);
}

#[test]
fn wait_deadline_on_cancelled_and_abandoned() {
    let (_p, mut future) = promise::<u8>();
    assert!(future.cancel());
    assert!(matches!(
        future.wait_deadline(std::time::Instant::now() + Duration::from_secs(60)),
        Err(Error::Cancelled)
    ));
    let (p, mut future) = promise::<u8>();
    let (tx, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        rx.recv().unwrap();
        drop(p);
    });
    tx.send(()).unwrap();
    assert!(matches!(
        future.wait_deadline(std::time::Instant::now() + Duration::from_secs(60)),
        Err(Error::Abandoned)
    ));
    t.join().unwrap();
}
