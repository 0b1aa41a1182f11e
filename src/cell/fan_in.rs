//! [`FanIn`]: one blocked thread waiting on many futures, told *which* future
//! finished.
//!
//! `wait` and `as_completed` register a [`Waiter::FanIn`](crate::waiter::Waiter)
//! holding the fan-in and the future's index in every unfinished future's waiter
//! slot. The producer that finishes a future takes that waiter out (the cell's
//! ordinary protocol) and calls [`FanIn::notify`], which appends the index to a
//! list and unparks the thread that is parked on the fan-in, if any. The waiting
//! thread takes the whole list at once. So each completion costs O(1) on both
//! sides, no future that did not change is looked at again, and the work of a
//! fan-in over `n` futures is O(n) in all: Python's `_Waiter` objects, which
//! completions append to, without its per-future lock.
//!
//! The thread to unpark is recorded by [`FanIn::wait`] each time it is about to
//! park, never when the fan-in is made: an `AsCompleted` built on one thread and
//! iterated on another parks and is woken on the one that iterates. The async
//! fan-in (`async_executor::as_completed` and `wait`) records the polling
//! task's `Waker` the same way, through [`FanIn::poll`], each time a poll finds
//! nothing ready.
//!
//! # Why a lost wake-up cannot happen
//!
//! Both sides hold the fan-in's lock while they touch `ready` and `parked`. The
//! waiter records itself in `parked` only after seeing `ready` empty under the
//! lock, and parks after releasing it; a notifier that comes later finds the
//! record and unparks the thread. An `unpark` that lands before the `park`
//! leaves the thread's token, so the `park` returns at once. A spurious return
//! from `park` only makes the waiter look at `ready` again.

use alloc::collections::VecDeque;
use core::task::{Context, Waker};
use std::time::Instant;

use crate::sync::Arc;
use crate::sync::lock::Mutex;
use crate::sync::thread::{self, Thread};

/// Completions not yet collected, and the thread to wake for them.
pub(crate) struct FanIn {
    state: Mutex<FanInState>,
}

#[derive(Default)]
struct FanInState {
    /// Indices of futures that finished since the waiter last looked, in the
    /// order they finished.
    ready: VecDeque<usize>,
    /// The thread parked in [`FanIn::wait`], or the task that polled
    /// [`FanIn::poll`] last, recorded by itself under the lock right before it
    /// parks or returns `Pending`; taken by the notifier that wakes it.
    parked: Option<Parked>,
}

/// Who waits on a fan-in: a blocked thread or a polled task.
enum Parked {
    Thread(Thread),
    Task(Waker),
}

impl FanIn {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(FanIn {
            state: Mutex::new(FanInState::default()),
        })
    }

    /// Future `index` finished: record it and wake the waiting thread, if one
    /// is parked. Called by the producer, once per registration, from
    /// `Waiter::wake`.
    pub(crate) fn notify(&self, index: usize) {
        let parked = {
            let mut state = self.state.lock();
            state.ready.push_back(index);
            state.parked.take()
        };
        match parked {
            Some(Parked::Thread(thread)) => thread.unpark(),
            // Foreign code, outside the lock.
            Some(Parked::Task(waker)) => waker.wake(),
            None => {}
        }
    }

    /// Moves every recorded completion to the back of `into` and returns
    /// `true`; with none recorded, records the task of `cx` to be woken at the
    /// next one and returns `false` (the async `wait` and `as_completed`).
    pub(crate) fn poll(&self, into: &mut VecDeque<usize>, cx: &Context<'_>) -> bool {
        let mut state = self.state.lock();
        if !state.ready.is_empty() {
            into.append(&mut state.ready);
            return true;
        }
        if let Some(Parked::Task(waker)) = &state.parked {
            if waker.will_wake(cx.waker()) {
                return false;
            }
        }
        // `Waker::clone` is foreign code: never under the lock.
        drop(state);
        let waker = cx.waker().clone();
        let mut state = self.state.lock();
        if !state.ready.is_empty() {
            into.append(&mut state.ready);
            let stale = state.parked.take();
            drop(state);
            drop(stale);
            return true;
        }
        let stale = state.parked.replace(Parked::Task(waker));
        // The waker replaced is dropped outside the lock too.
        drop(state);
        drop(stale);
        false
    }

    /// Moves every recorded completion to the back of `into`, parking the
    /// calling thread until there is at least one or `deadline` passes.
    /// Returns `false` if the deadline passed with nothing recorded.
    pub(crate) fn wait(&self, into: &mut VecDeque<usize>, deadline: Option<Instant>) -> bool {
        // On a pool's worker, run its queued jobs until one of ours finished.
        let mut pending = || self.state.lock().ready.is_empty();
        let mut help = crate::executor::Help::new(0);
        help.run(&mut pending, deadline);
        let mut state = self.state.lock();
        loop {
            if !state.ready.is_empty() {
                into.append(&mut state.ready);
                state.parked = None;
                return true;
            }
            let stale = state.parked.replace(Parked::Thread(thread::current()));
            drop(state);
            drop(stale);
            let timed_out = thread::park_until(deadline);
            state = self.state.lock();
            if timed_out && state.ready.is_empty() {
                state.parked = None;
                return false;
            }
            if state.ready.is_empty() {
                // Woken for a job of the pool queued since (or spuriously).
                drop(state);
                help.run(&mut pending, deadline);
                state = self.state.lock();
            }
        }
    }
}
