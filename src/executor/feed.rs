//! [`Feed`]: what `Executor::map` and `AsyncExecutor::map` share. It submits
//! items in input order (all at once, or up to a bound), keeps their futures in
//! order, tops the buffer up, and cancels what has not started.

use alloc::collections::VecDeque;
use core::num::NonZeroUsize;

use crate::error::{Error, SubmitError};
use crate::future::SharedFuture;
use crate::lease::{Lease, Lender};
use crate::promise;

/// Ordered futures of submitted items, and the items still to submit.
pub(crate) struct Feed<I: Iterator, F, T> {
    /// Items not submitted yet (only with a bound).
    items: Option<I>,
    /// The function, lent to each job without an atomic operation per
    /// submit (see `crate::lease`).
    f: Lender<F>,
    in_flight: VecDeque<SharedFuture<T>>,
    /// A result was asked for: from now on, dropping cancels what remains (a
    /// Python generator that never started cancels nothing).
    started: bool,
    /// A result was yielded and its replacement not submitted yet: submitted
    /// on the next request, so that a result counts against the bound until it
    /// is yielded (CPython gh-131466).
    refill_owed: bool,
}

impl<I: Iterator, F, T> Feed<I, F, T> {
    /// Submits every item, or up to `bound` of them, through `submit`. If the
    /// executor refuses one, what was submitted is cancelled and the refusal is
    /// returned, as Python raises at once.
    pub(crate) fn start(
        items: I,
        f: F,
        bound: Option<NonZeroUsize>,
        mut submit: impl FnMut(I::Item, Lease<F>) -> Result<SharedFuture<T>, SubmitError>,
    ) -> Result<Self, SubmitError> {
        let mut feed = Feed {
            items: Some(items),
            f: Lender::new(f),
            in_flight: VecDeque::new(),
            started: false,
            refill_owed: false,
        };
        let limit = bound.map_or(usize::MAX, NonZeroUsize::get);
        while feed.in_flight.len() < limit {
            match feed.submit_next(&mut submit) {
                Some(Ok(())) => {}
                None => break,
                Some(Err(error)) => {
                    feed.cancel();
                    return Err(error);
                }
            }
        }
        if bound.is_none() {
            feed.items = None;
        }
        Ok(feed)
    }

    /// Submits the next item, if there is one.
    fn submit_next(
        &mut self,
        submit: &mut impl FnMut(I::Item, Lease<F>) -> Result<SharedFuture<T>, SubmitError>,
    ) -> Option<Result<(), SubmitError>> {
        let item = self.items.as_mut()?.next();
        let Some(item) = item else {
            self.items = None;
            return None;
        };
        Some(submit(item, self.f.lend()).map(|future| self.in_flight.push_back(future)))
    }

    /// Keeps a bounded buffer full: submits the item owed for the result
    /// yielded last, if any. If the executor refuses it, the refusal is queued
    /// after the results already submitted, and no further item is submitted.
    /// Call at the start of every request for a result.
    pub(crate) fn refill(
        &mut self,
        mut submit: impl FnMut(I::Item, Lease<F>) -> Result<SharedFuture<T>, SubmitError>,
    ) {
        if !core::mem::take(&mut self.refill_owed) {
            return;
        }
        if let Some(Err(error)) = self.submit_next(&mut submit) {
            self.items = None;
            self.in_flight
                .push_back(promise::failed(Error::from(error)));
        }
    }

    /// The next future in input order.
    pub(crate) fn front_mut(&mut self) -> Option<&mut SharedFuture<T>> {
        self.started = true;
        self.in_flight.front_mut()
    }

    /// Takes the next future in input order, to yield its result; the item
    /// that replaces it is submitted by the next [`refill`](Self::refill).
    pub(crate) fn pop_front(&mut self) -> Option<SharedFuture<T>> {
        self.started = true;
        let future = self.in_flight.pop_front();
        self.refill_owed = future.is_some();
        future
    }

    /// Cancels every job not started yet; nothing more is submitted or yielded.
    /// Each future is cancelled, then dropped, which may drop a finished
    /// value or panic payload (foreign code): a `Drop` that panics does not
    /// keep the others from being cancelled.
    pub(crate) fn cancel(&mut self) {
        self.items = None;
        crate::executor::lifecycle::finish_each(self.in_flight.drain(..), |future| {
            future.cancel();
        });
    }

    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        let queued = self.in_flight.len();
        match &self.items {
            None => (queued, Some(queued)),
            Some(items) => {
                let (low, high) = items.size_hint();
                (
                    low.saturating_add(queued),
                    high.and_then(|high| high.checked_add(queued)),
                )
            }
        }
    }

    /// The items not submitted yet, if any remain (for a chunked map's
    /// size hint, which needs `std`).
    #[cfg(feature = "std")]
    pub(crate) fn items(&self) -> Option<&I> {
        self.items.as_ref()
    }

    /// (futures in flight, whether items remain to submit), for `Debug`.
    pub(crate) fn progress(&self) -> (usize, bool) {
        (self.in_flight.len(), self.items.is_some())
    }
}

impl<I: Iterator, F, T> Drop for Feed<I, F, T> {
    fn drop(&mut self) {
        if self.started {
            self.cancel();
        }
    }
}
