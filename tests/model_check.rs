//! Model-based property test: random sequences of operations on a
//! `SharedFuture`/`Promise` pair (and on a `Job` with an `InlineExecutor`),
//! checked step by step against a plain reference model of Python's
//! `concurrent.futures.Future` semantics (plus "abandoned" and the
//! cancel-request flag). Every observable result must agree.

use concurrent_futures::CancelFutures;
use std::sync::Mutex;

use concurrent_futures::{
    Error, Executor, InlineExecutor, Job, Promise, SharedFuture, State, SubmitError,
    UndeliveredReason, promise,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lifecycle {
    Pending,
    Running,
    Cancelled,
    Value(u8),
    Panicked,
    Abandoned,
}

/// The reference: a straightforward state machine behind a `Mutex`.
#[derive(Debug)]
struct Model {
    lifecycle: Lifecycle,
    taken: bool,
    consumer_alive: bool,
    cancel_requested: bool,
}

impl Model {
    fn finished(&self) -> bool {
        !matches!(self.lifecycle, Lifecycle::Pending | Lifecycle::Running)
    }
    fn state(&self) -> State {
        match self.lifecycle {
            Lifecycle::Pending => State::Pending,
            Lifecycle::Running => State::Running,
            Lifecycle::Cancelled => State::Cancelled,
            _ => State::Finished,
        }
    }
    /// Python's cancel(); `request` also flags a running job.
    fn cancel(&mut self, request: bool) -> bool {
        match self.lifecycle {
            Lifecycle::Pending => {
                self.lifecycle = Lifecycle::Cancelled;
                true
            }
            Lifecycle::Cancelled => true,
            Lifecycle::Running => {
                self.cancel_requested |= request;
                false
            }
            _ => false,
        }
    }
    /// What the consumer gets from a non-blocking take.
    fn take(&mut self) -> Option<Result<u8, &'static str>> {
        if !self.finished() {
            return None;
        }
        Some(match self.lifecycle {
            Lifecycle::Cancelled => Err("Cancelled"),
            Lifecycle::Abandoned => Err("Abandoned"),
            _ if self.taken => Err("AlreadyTaken"),
            Lifecycle::Value(v) => {
                self.taken = true;
                Ok(v)
            }
            Lifecycle::Panicked => {
                self.taken = true;
                Err("Panicked")
            }
            _ => unreachable!(),
        })
    }
    /// The producer answers: `Err(reason)` if it was not delivered.
    fn answer(&mut self, outcome: Lifecycle) -> Result<(), UndeliveredReason> {
        if self.lifecycle == Lifecycle::Cancelled {
            return Err(UndeliveredReason::Cancelled);
        }
        if !self.consumer_alive {
            return Err(UndeliveredReason::ConsumerDropped);
        }
        self.lifecycle = outcome;
        Ok(())
    }
    /// The producer gives up: cancelled or abandoned, unless already cancelled
    /// or nobody can see it.
    fn give_up(&mut self, outcome: Lifecycle) {
        if self.consumer_alive && matches!(self.lifecycle, Lifecycle::Pending | Lifecycle::Running)
        {
            self.lifecycle = outcome;
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Cancel,
    RequestCancel,
    TryTake,
    DropConsumer,
    Start,
    SetResult(u8),
    SetPanic,
    ProducerCancel,
    DropProducer,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Cancel),
        Just(Op::RequestCancel),
        Just(Op::TryTake),
        Just(Op::DropConsumer),
        Just(Op::Start),
        any::<u8>().prop_map(Op::SetResult),
        Just(Op::SetPanic),
        Just(Op::ProducerCancel),
        Just(Op::DropProducer),
    ]
}

fn observed_take(taken: Option<Result<u8, Error>>) -> Option<Result<u8, &'static str>> {
    taken.map(|r| {
        r.map_err(|e| match e {
            Error::Cancelled => "Cancelled",
            Error::Abandoned => "Abandoned",
            Error::AlreadyTaken => "AlreadyTaken",
            Error::Panicked(_) => "Panicked",
            other => panic!("unexpected {other:?}"),
        })
    })
}

/// Compares every query either side can make.
fn check_queries(
    model: &Model,
    consumer: &Option<SharedFuture<u8>>,
    producer: &Option<Promise<u8>>,
) {
    if let Some(consumer) = consumer {
        assert_eq!(consumer.state(), model.state());
        assert_eq!(consumer.is_pending(), model.lifecycle == Lifecycle::Pending);
        assert_eq!(consumer.is_running(), model.lifecycle == Lifecycle::Running);
        assert_eq!(
            consumer.is_cancelled(),
            model.lifecycle == Lifecycle::Cancelled
        );
        assert_eq!(consumer.is_done(), model.finished());
    }
    if let Some(producer) = producer {
        assert_eq!(producer.state(), model.state());
        assert_eq!(
            producer.is_cancelled(),
            model.lifecycle == Lifecycle::Cancelled
        );
        assert_eq!(producer.is_consumer_dropped(), !model.consumer_alive);
        assert_eq!(
            producer.is_stop_requested(),
            model.lifecycle == Lifecycle::Cancelled
                || model.cancel_requested
                || !model.consumer_alive
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn promise_pair_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..24)) {
        let model = Mutex::new(Model { lifecycle: Lifecycle::Pending, taken: false, consumer_alive: true, cancel_requested: false });
        let (producer, consumer) = promise::<u8>();
        let (mut producer, mut consumer) = (Some(producer), Some(consumer));
        for op in ops {
            let mut m = model.lock().unwrap();
            match op {
                Op::Cancel => if let Some(c) = &consumer { prop_assert_eq!(c.cancel(), m.cancel(false)); },
                Op::RequestCancel => if let Some(c) = &consumer { prop_assert_eq!(c.request_stop(), m.cancel(true)); },
                Op::TryTake => if let Some(c) = &mut consumer { prop_assert_eq!(observed_take(c.try_take()), m.take()); },
                Op::DropConsumer => if consumer.take().is_some() { m.consumer_alive = false; },
                Op::Start => if let Some(p) = &mut producer {
                    let expected = match m.lifecycle {
                        Lifecycle::Pending => { m.lifecycle = Lifecycle::Running; true }
                        Lifecycle::Running => true,
                        _ => false,
                    };
                    prop_assert_eq!(p.set_running_or_notify_cancel(), expected);
                },
                Op::SetResult(v) => if let Some(p) = producer.take() {
                    let expected = m.answer(Lifecycle::Value(v));
                    let got = p.set_result(v).map_err(|u| { assert_eq!(u.reason(), expected.unwrap_err()); (u.reason(), u.into_inner()) });
                    match got {
                        Ok(()) => prop_assert!(expected.is_ok()),
                        Err((reason, value)) => { prop_assert_eq!(Err(reason), expected); prop_assert_eq!(value, v); }
                    }
                },
                Op::SetPanic => if let Some(p) = producer.take() {
                    let expected = m.answer(Lifecycle::Panicked);
                    prop_assert_eq!(p.set_panic(Box::new("model")).map_err(|u| u.reason()), expected);
                },
                Op::ProducerCancel => if let Some(p) = producer.take() { m.give_up(Lifecycle::Cancelled); p.set_cancelled(); },
                Op::DropProducer => if producer.take().is_some() { m.give_up(Lifecycle::Abandoned); },
            }
            check_queries(&m, &consumer, &producer);
        }
    }

    /// A job behaves like a producer that starts, runs the closure and answers;
    /// an executor that refuses it drops it (abandoned, unseen).
    #[test]
    fn jobs_agree_with_the_model(cancel_first in any::<bool>(), panics in any::<bool>(), shut_down in any::<bool>(), value in any::<u8>()) {
        let executor = InlineExecutor::new();
        if shut_down {
            executor.shutdown_nowait(CancelFutures::No);
        }
        let (job, mut future) = Job::new(move || { if panics { panic!("model job") } value });
        if cancel_first {
            prop_assert!(future.cancel());
        }
        let submitted = executor.execute(job);
        prop_assert_eq!(submitted.is_err(), shut_down);
        if let Err(error) = submitted {
            prop_assert!(matches!(error, SubmitError::Shutdown));
        }
        let expected = match (cancel_first, shut_down, panics) {
            (true, _, _) => Err("Cancelled"),
            (false, true, _) => Err("Abandoned"),
            (false, false, true) => Err("Panicked"),
            (false, false, false) => Ok(value),
        };
        prop_assert_eq!(observed_take(future.try_take()), Some(expected));
    }
}
