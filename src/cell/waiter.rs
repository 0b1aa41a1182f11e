//! The one waiter slot: an async task's `Waker`, a blocked thread, a done
//! callback, or a fan-in (one thread waiting on many futures), and how a cell
//! stores it in two words ([`WaiterSlot`]).
//!
//! Blocking waits and `poll` run the same state machine; only the way of waking
//! differs.

use alloc::boxed::Box;
use core::task::Waker;

#[cfg(feature = "std")]
use crate::fan_in::FanIn;
#[cfg(feature = "std")]
use crate::sync::Arc;
#[cfg(feature = "std")]
use crate::sync::thread::Thread;

/// A registered waiter, owned by the waiter slot.
pub(crate) enum Waiter {
    Task(Waker),
    #[cfg(feature = "std")]
    Thread(Thread),
    /// A done callback (`SharedFuture::on_done`); it owns the consumer handle.
    Callback(Callback),
    /// One of many futures that a thread waits on together (`wait`,
    /// `as_completed`): waking tells the fan-in which one finished.
    #[cfg(feature = "std")]
    FanIn(Arc<FanIn>, usize),
}

/// A borrowed waiter, offered at registration; cloned into the slot only if the
/// slot does not already hold an equivalent one.
#[derive(Clone, Copy)]
pub(crate) enum WaiterRef<'a> {
    Task(&'a Waker),
    #[cfg(feature = "std")]
    Thread(&'a Thread),
}

impl Waiter {
    /// Wakes the waiter, consuming it.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Task(waker) => waker.wake(),
            #[cfg(feature = "std")]
            Waiter::Thread(thread) => thread.unpark(),
            Waiter::Callback(callback) => callback.run(),
            #[cfg(feature = "std")]
            Waiter::FanIn(fan_in, index) => fan_in.notify(index),
        }
    }

    /// Whether waking runs a done callback: foreign code that may block, unlike
    /// a wake-up, which only schedules a task or unparks a thread.
    #[cfg(feature = "std")]
    pub(crate) fn is_callback(&self) -> bool {
        matches!(self, Waiter::Callback(_))
    }
}

impl WaiterRef<'_> {
    /// Clones the waiter into an owned one. May run foreign code (`Waker::clone`).
    pub(crate) fn to_owned(self) -> Waiter {
        match self {
            WaiterRef::Task(waker) => Waiter::Task(waker.clone()),
            #[cfg(feature = "std")]
            WaiterRef::Thread(thread) => Waiter::Thread(thread.clone()),
        }
    }
}

/// The waiter slot as a cell stores it: a waiter packed into two words, 16
/// bytes on 64-bit targets (an `Option<Waiter>` takes 24: four variants of up
/// to two words need a tag word of their own). The kind is in the low bits of
/// the second word, which a task's vtable pointer leaves free (it is aligned
/// to at least 4):
///
/// | waiter   | first word                       | second word              |
/// |----------|----------------------------------|--------------------------|
/// | none     | (unused)                         | null                     |
/// | task     | the `Waker`'s data pointer       | its `&RawWakerVTable`    |
/// | thread   | the `Thread` itself (one word)   | 1                        |
/// | callback | the thin `Callback` pointer      | 2                        |
/// | fan-in   | the `Arc<FanIn>`                 | `index << 2 \| 3`        |
pub(crate) struct WaiterSlot {
    first: First,
    /// Null when empty; else a task's vtable pointer or a tag (see above).
    second: *const (),
}

/// The first word of a [`WaiterSlot`]: a pointer, or a `Thread` in place (a
/// `Thread` is one word; were it larger, the slot would grow with it).
#[repr(C)]
union First {
    ptr: *const (),
    #[cfg(feature = "std")]
    thread: core::mem::ManuallyDrop<Thread>,
}

#[cfg(feature = "std")]
const THREAD: usize = 1;
const CALLBACK: usize = 2;
#[cfg(feature = "std")]
const FAN_IN: usize = 3;
const TAG: usize = 3;

// A task's vtable pointer must leave the tag bits free.
const _: () = assert!(core::mem::align_of::<core::task::RawWakerVTable>() > TAG);

impl WaiterSlot {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        WaiterSlot {
            first: First {
                ptr: core::ptr::null(),
            },
            second: core::ptr::null(),
        }
    }

    /// Whether the slot holds a waiter.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.second.is_null()
    }

    /// Takes the waiter out, leaving the slot empty.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Waiter> {
        if self.is_empty() {
            return None;
        }
        let packed = core::mem::take(self);
        // SAFETY: a non-empty slot was filled by `put` from an owned waiter,
        // whose ownership moves out here once (the slot is empty again).
        Some(unsafe { packed.unpack() })
    }

    /// Puts `waiter` in and hands back the one it replaces, if any.
    #[inline]
    pub(crate) fn replace(&mut self, waiter: Option<Waiter>) -> Option<Waiter> {
        let old = self.take();
        if let Some(waiter) = waiter {
            *self = WaiterSlot::pack(waiter);
        }
        old
    }

    /// Whether the slot holds a waiter that wakes the same task (a waker that
    /// `will_wake` it: same data and vtable) or thread as `other`.
    pub(crate) fn wakes_same(&self, other: WaiterRef<'_>) -> bool {
        if self.is_empty() {
            return false;
        }
        match (self.second.addr() & TAG, other) {
            (0, WaiterRef::Task(waker)) => {
                // SAFETY: tag 0 (and not empty): the first word is a waker's
                // data pointer, and the second its vtable (`pack`).
                let data = unsafe { self.first.ptr };
                core::ptr::eq(waker.data(), data)
                    && core::ptr::eq(
                        waker.vtable(),
                        self.second.cast::<core::task::RawWakerVTable>(),
                    )
            }
            #[cfg(feature = "std")]
            (THREAD, WaiterRef::Thread(thread)) => {
                // SAFETY: tag THREAD: the first word is a `Thread` (`pack`),
                // borrowed here.
                let mine: &Thread = unsafe { &self.first.thread };
                mine.id() == thread.id()
            }
            _ => false,
        }
    }

    fn pack(waiter: Waiter) -> Self {
        match waiter {
            Waiter::Task(waker) => {
                let waker = core::mem::ManuallyDrop::new(waker);
                WaiterSlot {
                    first: First { ptr: waker.data() },
                    second: core::ptr::from_ref(waker.vtable()).cast(),
                }
            }
            #[cfg(feature = "std")]
            Waiter::Thread(thread) => WaiterSlot {
                first: First {
                    thread: core::mem::ManuallyDrop::new(thread),
                },
                second: core::ptr::without_provenance(THREAD),
            },
            Waiter::Callback(callback) => WaiterSlot {
                first: First {
                    ptr: callback.into_raw(),
                },
                second: core::ptr::without_provenance(CALLBACK),
            },
            #[cfg(feature = "std")]
            Waiter::FanIn(fan_in, index) => {
                // An index of a slice of futures is far below `usize::MAX >> 2`.
                debug_assert!(index <= usize::MAX >> 2);
                WaiterSlot {
                    first: First {
                        ptr: Arc::into_raw(fan_in).cast(),
                    },
                    second: core::ptr::without_provenance(index << 2 | FAN_IN),
                }
            }
        }
    }

    /// The waiter packed in `self`, which must not be used again.
    ///
    /// # Safety
    ///
    /// `self` is not empty and was made by `pack`; its waiter is owned by the
    /// caller from here on (the packed copy is forgotten).
    unsafe fn unpack(self) -> Waiter {
        let this = core::mem::ManuallyDrop::new(self);
        let second = this.second;
        match second.addr() & TAG {
            0 => {
                // SAFETY: tag 0: `pack` stored a waker's data pointer and its
                // `&'static` vtable, and forgot the waker; it is rebuilt once.
                let waker = unsafe {
                    Waker::new(
                        this.first.ptr,
                        &*second.cast::<core::task::RawWakerVTable>(),
                    )
                };
                Waiter::Task(waker)
            }
            #[cfg(feature = "std")]
            THREAD => {
                // SAFETY: tag THREAD: `pack` moved a `Thread` into the first
                // word; it is moved out once (the slot is forgotten).
                let thread = unsafe { core::ptr::read(&this.first.thread) };
                Waiter::Thread(core::mem::ManuallyDrop::into_inner(thread))
            }
            CALLBACK => {
                // SAFETY: tag CALLBACK: `pack` stored `Callback::into_raw`;
                // the callback is rebuilt once.
                Waiter::Callback(unsafe { Callback::from_raw(this.first.ptr) })
            }
            #[cfg(feature = "std")]
            _ => {
                // SAFETY: tag FAN_IN: `pack` stored `Arc::into_raw` of the
                // fan-in, whose reference is taken back once.
                let fan_in = unsafe { Arc::from_raw(this.first.ptr.cast::<FanIn>()) };
                Waiter::FanIn(fan_in, second.addr() >> 2)
            }
            #[cfg(not(feature = "std"))]
            _ => unreachable!("no fan-in without std"),
        }
    }
}

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl Default for WaiterSlot {
    fn default() -> Self {
        WaiterSlot::new()
    }
}

/// A done callback behind one thin pointer: one allocation holding the
/// function that runs or drops it, then the closure (a `Box<dyn FnOnce()>` is
/// two words, which the waiter slot has no room for beside its tag).
pub(crate) struct Callback {
    ptr: core::ptr::NonNull<CallbackHeader>,
}

/// What a [`Callback`]'s allocation starts with.
#[repr(C)]
struct CallbackHeader {
    /// Frees the allocation and runs the closure (`true`) or drops it.
    finish: unsafe fn(core::ptr::NonNull<CallbackHeader>, bool),
}

#[repr(C)]
struct CallbackCell<F> {
    header: CallbackHeader,
    f: F,
}

// SAFETY: made only from an `F: Send` (`Callback::new`).
unsafe impl Send for Callback {}

impl Callback {
    /// Boxes `f`, in one allocation.
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Self {
        let cell = Box::new(CallbackCell {
            header: CallbackHeader {
                finish: finish::<F>,
            },
            f,
        });
        Callback {
            ptr: core::ptr::NonNull::from(Box::leak(cell)).cast(),
        }
    }

    /// Runs the closure; the allocation is freed first, so a panicking
    /// closure leaks nothing.
    pub(crate) fn run(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the pointer is a live `CallbackCell` made by `new`, whose
        // `finish` matches its closure type; it is finished once (`self` is
        // forgotten).
        unsafe { (this.ptr.as_ref().finish)(this.ptr, true) }
    }

    fn into_raw(self) -> *const () {
        core::mem::ManuallyDrop::new(self)
            .ptr
            .as_ptr()
            .cast_const()
            .cast()
    }

    /// # Safety
    ///
    /// `ptr` came from `into_raw`, and is rebuilt once.
    unsafe fn from_raw(ptr: *const ()) -> Self {
        // SAFETY: `into_raw` gave a non-null pointer (the caller's contract).
        let ptr = unsafe { core::ptr::NonNull::new_unchecked(ptr.cast_mut().cast()) };
        Callback { ptr }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // SAFETY: as in `run`; dropped once.
        unsafe { (self.ptr.as_ref().finish)(self.ptr, false) }
    }
}

/// The `finish` of a `CallbackCell<F>`.
///
/// # Safety
///
/// `ptr` is a live `CallbackCell<F>` made by `Callback::new`, finished once.
unsafe fn finish<F: FnOnce()>(ptr: core::ptr::NonNull<CallbackHeader>, run: bool) {
    // SAFETY: the caller's contract; moving the cell out frees the allocation
    // before the closure runs or is dropped.
    let cell = *unsafe { Box::from_raw(ptr.cast::<CallbackCell<F>>().as_ptr()) };
    if run {
        (cell.f)();
    }
}
