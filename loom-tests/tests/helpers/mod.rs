//! Shared helpers of the loom models: a model runner that runs each model in
//! two passes, reports its iteration counts and checks that every expected
//! outcome was reached; a counting waker; and a drop-counting value. Every counter is a loom
//! atomic in a loom `Arc`, so its updates are part of the model and loom's leak
//! check covers the wakers' and values' `Arc`s too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use concurrent_futures::{Error, SharedFuture};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

/// Runs `body` under loom, exhaustively (loom's defaults: no preemption bound
/// unless `LOOM_MAX_PREEMPTIONS` is set), in two passes, then prints how many
/// interleavings it explored and how often each outcome was seen (shown with
/// `--nocapture`), and asserts that every outcome in `expected` was reached in
/// some interleaving: a model whose race never happens fails instead of passing
/// vacuously.
///
/// The two passes differ only at [`Seen::after_spawn`]: in the second, the
/// spawning thread yields there, so the spawned thread starts first. Loom 0.7's
/// DPOR misses interleavings when a spawned thread's first access to an atomic
/// is a load (tokio-rs/loom#392, #166): its later RMW on that atomic is never
/// moved before the spawner's own earlier load. Every CAS loop here starts with
/// a load, so one pass alone misses, for example, "the producer published
/// before the consumer's first look" (`completion_vs_first_poll`).
pub fn model(
    name: &str,
    expected: &'static [&'static str],
    body: impl Fn(&Seen) + Sync + Send + 'static,
) {
    model_bounded(name, expected, None, body);
}

/// [`model`] with loom's preemption bound set to `preemptions` (`None`:
/// exhaustive). A model that sets one says why at its call site: the bound
/// trades completeness for a state space that finishes in CI.
pub fn model_bounded(
    name: &str,
    expected: &'static [&'static str],
    preemptions: Option<usize>,
    body: impl Fn(&Seen) + Sync + Send + 'static,
) {
    let seen = std::sync::Arc::new(Seen::default());
    let body = std::sync::Arc::new(body);
    let mut per_pass = [0; 2];
    for (pass, iterations) in per_pass.iter_mut().enumerate() {
        seen.spawned_first.store(pass == 1, StdOrdering::Relaxed);
        let in_model = std::sync::Arc::clone(&seen);
        let body = std::sync::Arc::clone(&body);
        let mut builder = loom::model::Builder::new();
        if preemptions.is_some() {
            builder.preemption_bound = preemptions;
        }
        builder.check(move || {
            in_model.iterations.fetch_add(1, StdOrdering::Relaxed);
            body(&in_model);
        });
        *iterations = seen.iterations.swap(0, StdOrdering::Relaxed);
    }
    let outcomes = seen.outcomes.lock().unwrap();
    eprintln!(
        "loom model {name}: {} iterations ({} + {} spawned-first), outcomes {outcomes:?}",
        per_pass[0] + per_pass[1],
        per_pass[0],
        per_pass[1],
    );
    for label in expected {
        assert!(
            outcomes.contains_key(label),
            "{name}: no interleaving reached `{label}`"
        );
    }
}

/// The outcomes a model reached, across its interleavings.
#[derive(Default)]
pub struct Seen {
    iterations: StdAtomicUsize,
    spawned_first: std::sync::atomic::AtomicBool,
    outcomes: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>,
}

impl Seen {
    /// Records that this interleaving reached `outcome`.
    pub fn saw(&self, outcome: &'static str) {
        *self.outcomes.lock().unwrap().entry(outcome).or_default() += 1;
    }

    /// Call right after spawning the model's other thread: in the second pass
    /// the caller yields here, so the spawned thread runs first (see [`model`]).
    pub fn after_spawn(&self) {
        if self.spawned_first.load(StdOrdering::Relaxed) {
            loom::thread::yield_now();
        }
    }
}

/// Silences the default panic message for the models' deliberate panics (their
/// payload is [`DELIBERATE`]; they happen once per interleaving); every other
/// panic, a failed assertion included, is reported as usual.
fn quiet_deliberate_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                previous(info);
            }
        }));
    });
}

/// The payload of every deliberate panic of the models.
const DELIBERATE: &str = "deliberate panic of a loom model";

/// What happened to one waker and its clones.
pub struct WakerCounts {
    wakes: AtomicUsize,
    clones: AtomicUsize,
    drops: AtomicUsize,
    panics: Panics,
    /// Cleared by [`WakerCounts::disarm`]; plain std, not part of the model.
    armed: std::sync::atomic::AtomicBool,
}

/// Which of a waker's operations panic (after counting).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Panics {
    Never,
    OnWake,
    OnClone,
    OnDrop,
}

impl WakerCounts {
    /// `wake` and `wake_by_ref` calls.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    /// `Waker::clone` calls.
    pub fn clones(&self) -> usize {
        self.clones.load(Ordering::SeqCst)
    }

    /// Handles let go of: dropped, or consumed by `wake`.
    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Stops the configured panics (so that the model can drop its own handle).
    pub fn disarm(&self) {
        self.armed.store(false, StdOrdering::Relaxed);
    }

    fn panics(&self, on: Panics) -> bool {
        self.panics == on && self.armed.load(StdOrdering::Relaxed)
    }

    /// Handles alive: the original (until dropped) plus clones not yet let go of.
    pub fn live(&self) -> usize {
        1 + self.clones() - self.drops()
    }
}

/// A waker that counts its wakes, clones and drops.
pub fn counting_waker() -> (Waker, Arc<WakerCounts>) {
    panicking_waker(Panics::Never)
}

/// A counting waker whose `wake`/`wake_by_ref`, `clone` or `drop` panic, as
/// `panics` says (until [`WakerCounts::disarm`]). A panicking operation counts first, and a consumed or cloned handle
/// is accounted for (and its reference released) even though it panics.
pub fn panicking_waker(panics: Panics) -> (Waker, Arc<WakerCounts>) {
    if panics != Panics::Never {
        quiet_deliberate_panics();
    }
    let counts = Arc::new(WakerCounts {
        wakes: AtomicUsize::new(0),
        clones: AtomicUsize::new(0),
        drops: AtomicUsize::new(0),
        panics,
        armed: std::sync::atomic::AtomicBool::new(true),
    });
    let data = Arc::into_raw(Arc::clone(&counts)).cast::<()>();
    // SAFETY: `data` is a strong reference made by `Arc::into_raw`, owned by the
    // new waker; the vtable keeps the reference count in step with the handles.
    let waker = unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) };
    (waker, counts)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// # Safety
///
/// `data` is a live strong reference made by `Arc::<WakerCounts>::into_raw`.
unsafe fn counts<'a>(data: *const ()) -> &'a WakerCounts {
    // SAFETY: the caller's contract.
    unsafe { &*data.cast::<WakerCounts>() }
}

unsafe fn clone_raw(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned owns a strong reference.
    let counts = unsafe { counts(data) };
    if counts.panics(Panics::OnClone) {
        // No clone was made: nothing to count.
        std::panic::panic_any(DELIBERATE);
    }
    counts.clones.fetch_add(1, Ordering::SeqCst);
    // SAFETY: as above; the new handle owns the new reference.
    unsafe { Arc::increment_strong_count(data.cast::<WakerCounts>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake_raw(data: *const ()) {
    // SAFETY: `wake` consumes the handle's strong reference; the `Arc` releases
    // it even if we panic below.
    let counts = unsafe { Arc::from_raw(data.cast::<WakerCounts>()) };
    counts.drops.fetch_add(1, Ordering::SeqCst);
    counts.wakes.fetch_add(1, Ordering::SeqCst);
    if counts.panics(Panics::OnWake) {
        std::panic::panic_any(DELIBERATE);
    }
}

unsafe fn wake_by_ref_raw(data: *const ()) {
    // SAFETY: the handle is alive for the call.
    let counts = unsafe { counts(data) };
    counts.wakes.fetch_add(1, Ordering::SeqCst);
    if counts.panics(Panics::OnWake) {
        std::panic::panic_any(DELIBERATE);
    }
}

unsafe fn drop_raw(data: *const ()) {
    // SAFETY: the handle owns a strong reference, released here.
    let counts = unsafe { Arc::from_raw(data.cast::<WakerCounts>()) };
    counts.drops.fetch_add(1, Ordering::SeqCst);
    if counts.panics(Panics::OnDrop) {
        std::panic::panic_any(DELIBERATE);
    }
}

/// Polls `future` once with `waker`.
pub fn poll<T>(future: &mut SharedFuture<T>, waker: &Waker) -> Poll<Result<T, Error>> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// A value that counts its drops; optionally its `Drop` panics (after counting).
pub struct Tracked {
    drops: Arc<AtomicUsize>,
    panic_on_drop: bool,
}

impl Tracked {
    /// A value whose drops are counted in `drops`.
    pub fn new(drops: &Arc<AtomicUsize>) -> Self {
        Tracked {
            drops: Arc::clone(drops),
            panic_on_drop: false,
        }
    }

    /// A counted value whose `Drop` panics.
    pub fn panicking(drops: &Arc<AtomicUsize>) -> Self {
        quiet_deliberate_panics();
        Tracked {
            drops: Arc::clone(drops),
            panic_on_drop: true,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop {
            std::panic::panic_any(DELIBERATE);
        }
    }
}

/// A fresh drop counter.
pub fn drop_counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Reads a counter.
pub fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// `loom::future::block_on`, also returning how many times `future` was polled
/// (more than once: it was `Pending` and then woken).
pub fn block_on_counting<F: Future + Unpin>(mut future: F) -> (F::Output, usize) {
    let mut polls = 0;
    let output = loom::future::block_on(std::future::poll_fn(|cx| {
        polls += 1;
        Pin::new(&mut future).poll(cx)
    }));
    (output, polls)
}
