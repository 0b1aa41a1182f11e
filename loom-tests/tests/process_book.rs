//! Loom models of the process pool's bookkeeping: the `Book` state machine of
//! `src/process/book.rs` (exposed under `--cfg loom` as
//! `concurrent_futures::process_book`), driven from several loom threads
//! under a loom mutex, as the pool drives it under its one lock. Each job
//! carries a real `Promise<u32>`, marked by `set_running_or_notify_cancel`,
//! so a job the book loses shows up as a future whose promise was dropped.
//!
//! The dispatcher thread of the models is the pool's (`dispatch.rs`) with
//! the processes taken out: `take`, idle on a condition variable while
//! `is_idle`, "start" a worker, and "receive" one reply per round (it
//! completes the oldest job in flight with its id).
//!
//! Termination is observed twice: through `terminated()` made under the lock
//! (done once the latch is released, pending before), and through a
//! `terminated()` future made before the threads start, which the `Released`
//! that the book hands back completes (outside the lock, as the pool does).
#![cfg(loom)]

// Each model file uses a part of the shared helpers.
#[allow(dead_code)]
mod helpers;

use concurrent_futures::process_book::{Admitted, Book, Entry, Refused, Take};
use concurrent_futures::{Error, Promise, SharedFuture, promise};
use helpers::model;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A queued job: an id and the promise of its future.
struct TestJob {
    id: u32,
    promise: Promise<u32>,
}

impl Entry for TestJob {
    fn mark(&mut self) -> bool {
        self.promise.set_running_or_notify_cancel()
    }
}

fn job(id: u32) -> (TestJob, SharedFuture<u32>) {
    let (promise, future) = promise();
    (TestJob { id, promise }, future)
}

/// The pool's lock: the book, and whether the dispatcher has exited
/// (written in the critical section of `dispatcher_exited`).
struct Pool {
    book: Book<TestJob>,
    exited: bool,
}

/// The lock and the one dispatcher's condition variable (seat 0).
struct Shared {
    state: Mutex<Pool>,
    seat: Condvar,
}

impl Shared {
    fn new(book: Book<TestJob>) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(Pool {
                book,
                exited: false,
            }),
            seat: Condvar::new(),
        })
    }

    /// `true` if a `terminated()` future made now is done (the latch is
    /// released); asserts that it is released exactly when the dispatcher
    /// has exited.
    fn check_terminated(pool: &mut Pool) -> bool {
        let released = pool.book.terminated().is_done();
        assert_eq!(
            released, pool.exited,
            "terminated released before the dispatcher exited, or not after"
        );
        released
    }
}

/// The jobs a dispatcher holds: sent to its worker and not answered.
type InFlight = Vec<TestJob>;

/// The pool's dispatcher loop for seat 0, without processes: starts with
/// `in_flight` (and a worker if it is not empty) and runs until `Exit`.
fn dispatcher(shared: &Shared, mut has_worker: bool, mut in_flight: InFlight) {
    loop {
        let room = if has_worker { 2 - in_flight.len() } else { 0 };
        let take = {
            let mut pool = shared.state.lock().unwrap();
            loop {
                match pool.book.take(0, room, has_worker, in_flight.len()) {
                    Take::Idle => {
                        while pool.book.is_idle(0) {
                            pool = shared.seat.wait(pool).unwrap();
                        }
                    }
                    take => break take,
                }
            }
        };
        match take {
            Take::Exit => break,
            Take::Start => has_worker = true,
            Take::Send(jobs) => {
                in_flight.extend(jobs);
                // The oldest job's reply: it ran.
                let done = in_flight.remove(0);
                done.promise.set_result(done.id).unwrap();
            }
            Take::Idle => unreachable!("waited above"),
        }
    }
    let released = {
        let mut pool = shared.state.lock().unwrap();
        let released = pool.book.dispatcher_exited(0);
        pool.exited = true;
        Shared::check_terminated(&mut pool);
        released
    };
    released.complete();
}

/// The outcome of a job's future once the model is over: ran (its id) or
/// cancelled; a job the book lost (its promise dropped) fails the model.
fn ran(future: &mut SharedFuture<u32>, id: u32) -> bool {
    match future
        .try_take()
        .expect("every job ends before termination")
    {
        Ok(value) => {
            assert_eq!(value, id);
            true
        }
        Err(Error::Cancelled) => false,
        Err(other) => panic!("job {id} was lost: {other:?}"),
    }
}

/// A submit races `shutdown(cancel_futures=True)` while the pool's one
/// dispatcher runs (or idles after) the first job. Asserts: a refused
/// submit is refused with `Shutdown` (its job handed back); every accepted
/// job ends exactly once, as run or `Cancelled` (never lost: a lost job's
/// future would report its dropped promise); `terminated` is released only
/// in the critical section where the dispatcher exits, and is released once
/// every thread is done.
#[test]
fn submit_vs_shutdown_cancel_futures() {
    model(
        "submit_vs_shutdown_cancel_futures",
        &[
            "second job refused",
            "second job ran",
            "second job cancelled",
            "first job cancelled",
        ],
        |seen| {
            let mut book = Book::new(1);
            let mut early = book.terminated();
            let (first, mut first_future) = job(1);
            assert_eq!(book.submit(first).ok(), Some(Admitted::Start(0)));
            let shared = Shared::new(book);
            let dispatcher_thread = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || dispatcher(&shared, false, Vec::new()))
            };
            let (second, mut second_future) = job(2);
            let submitter = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let mut pool = shared.state.lock().unwrap();
                    match pool.book.submit(second) {
                        Ok(Admitted::Wake(seat)) => {
                            assert_eq!(seat, 0);
                            shared.seat.notify_one();
                            true
                        }
                        Ok(Admitted::Queued) => true,
                        Ok(Admitted::Start(seat)) => panic!("a second dispatcher {seat}"),
                        Err(Refused::Shutdown(job)) => {
                            // Handed back: dropped outside the lock.
                            drop(pool);
                            drop(job);
                            false
                        }
                        Err(Refused::Broken(..)) => panic!("not broken"),
                    }
                })
            };
            seen.after_spawn();
            let shut = {
                let mut pool = shared.state.lock().unwrap();
                let shut = pool.book.shut_down(true);
                for &seat in &shut.wake {
                    assert_eq!(seat, 0);
                    shared.seat.notify_one();
                }
                Shared::check_terminated(&mut pool);
                shut
            };
            let cancelled: Vec<u32> = shut.cancelled.iter().map(|job| job.id).collect();
            for job in shut.cancelled {
                job.promise.set_cancelled();
            }
            shut.released.complete();
            let accepted = submitter.join().unwrap();
            dispatcher_thread.join().unwrap();
            {
                let mut pool = shared.state.lock().unwrap();
                assert!(Shared::check_terminated(&mut pool));
            }
            assert!(
                matches!(early.try_take(), Some(Ok(()))),
                "the terminated future made first is completed"
            );
            if !ran(&mut first_future, 1) {
                assert!(cancelled.contains(&1));
                seen.saw("first job cancelled");
            }
            if accepted {
                let second_ran = ran(&mut second_future, 2);
                assert_eq!(!second_ran, cancelled.contains(&2));
                seen.saw(if second_ran {
                    "second job ran"
                } else {
                    "second job cancelled"
                });
            } else {
                assert!(matches!(second_future.try_take(), Some(Err(_))));
                seen.saw("second job refused");
            }
        },
    );
}

/// A book whose dispatcher (seat 0) has sent jobs 1 and 2 to its worker
/// (job 2 ahead); returns it and the two futures.
fn two_jobs_in_flight() -> (Book<TestJob>, InFlight, [SharedFuture<u32>; 2]) {
    let mut book = Book::new(1);
    let (first, first_future) = job(1);
    let (second, second_future) = job(2);
    assert_eq!(book.submit(first).ok(), Some(Admitted::Start(0)));
    assert_eq!(book.submit(second).ok(), Some(Admitted::Queued));
    assert!(matches!(book.take(0, 0, false, 0), Take::Start));
    let Take::Send(sent) = book.take(0, 2, true, 0) else {
        panic!("both jobs are sent")
    };
    assert_eq!(sent.iter().map(|job| job.id).collect::<Vec<_>>(), [1, 2]);
    (book, sent, [first_future, second_future])
}

/// The dispatcher of [`two_jobs_in_flight`] finds its worker dead: job 1
/// (which the worker started) fails, job 2 (never started) is put back;
/// then it goes on (with no worker) until `Exit`. Returns whether `put_back`
/// handed job 2 back to cancel.
fn worker_died(shared: &Shared, mut in_flight: InFlight) -> bool {
    let started = in_flight.remove(0);
    // `WorkerDied`: the model stands it in with an id no job has.
    started.promise.set_result(u32::MAX).unwrap();
    let cancelled = shared
        .state
        .lock()
        .unwrap()
        .book
        .put_back(in_flight.into_iter());
    let handed_back = !cancelled.is_empty();
    for job in cancelled {
        job.promise.set_cancelled();
    }
    dispatcher(shared, false, Vec::new());
    handed_back
}

/// Which way the put-back job went.
fn put_back_outcome(
    future: &mut SharedFuture<u32>,
    handed_back: bool,
    by_shutdown: bool,
) -> &'static str {
    let ran = ran(future, 2);
    assert!(
        !(ran && (handed_back || by_shutdown)),
        "the put-back job both ran and was cancelled"
    );
    match (ran, handed_back, by_shutdown) {
        (true, _, _) => "ran on the next worker",
        (false, true, false) => "cancelled by put_back",
        (false, false, true) => "cancelled from the queue",
        other => panic!("the put-back job was lost or cancelled twice: {other:?}"),
    }
}

/// A worker's death (its unstarted job put back) races
/// `shutdown(cancel_futures=True)`. Asserts: the job that died fails alone;
/// the put-back job is either run by the dispatcher or cancelled by the
/// shutdown's drain of the queue, never both, never lost; the dispatcher
/// exits and the pool terminates.
#[test]
fn worker_death_put_back_vs_shutdown_cancel_futures() {
    model(
        "worker_death_put_back_vs_shutdown_cancel_futures",
        &["ran on the next worker", "cancelled from the queue"],
        |seen| {
            let (book, in_flight, [mut died, mut put_back]) = two_jobs_in_flight();
            let shared = Shared::new(book);
            let dispatcher_thread = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || worker_died(&shared, in_flight))
            };
            seen.after_spawn();
            let shut = {
                let mut pool = shared.state.lock().unwrap();
                let shut = pool.book.shut_down(true);
                for _ in &shut.wake {
                    shared.seat.notify_one();
                }
                shut
            };
            let by_shutdown = shut.cancelled.iter().any(|job| job.id == 2);
            assert!(shut.cancelled.iter().all(|job| job.id == 2));
            for job in shut.cancelled {
                job.promise.set_cancelled();
            }
            shut.released.complete();
            let handed_back = dispatcher_thread.join().unwrap();
            assert_eq!(died.try_take().unwrap().unwrap(), u32::MAX);
            assert!(!handed_back, "a shutdown without stop keeps put-back jobs");
            seen.saw(put_back_outcome(&mut put_back, handed_back, by_shutdown));
            let mut pool = shared.state.lock().unwrap();
            assert!(Shared::check_terminated(&mut pool));
        },
    );
}

/// A worker's death races `stop()` (`terminate_workers` / `kill_workers`).
/// Asserts: the put-back job is run (it was put back and taken before the
/// stop), cancelled from the queue by `stop`, or handed back by `put_back`
/// because the pool is stopping: exactly one of the three, never lost.
#[test]
fn worker_death_put_back_vs_stop() {
    model(
        "worker_death_put_back_vs_stop",
        &[
            "ran on the next worker",
            "cancelled from the queue",
            "cancelled by put_back",
        ],
        |seen| {
            let (book, in_flight, [mut died, mut put_back]) = two_jobs_in_flight();
            let shared = Shared::new(book);
            let dispatcher_thread = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || worker_died(&shared, in_flight))
            };
            seen.after_spawn();
            let shut = {
                let mut pool = shared.state.lock().unwrap();
                let shut = pool.book.stop();
                for _ in &shut.wake {
                    shared.seat.notify_one();
                }
                shut
            };
            let by_stop = shut.cancelled.iter().any(|job| job.id == 2);
            assert!(shut.cancelled.iter().all(|job| job.id == 2));
            for job in shut.cancelled {
                job.promise.set_cancelled();
            }
            shut.released.complete();
            let handed_back = dispatcher_thread.join().unwrap();
            assert_eq!(died.try_take().unwrap().unwrap(), u32::MAX);
            seen.saw(put_back_outcome(&mut put_back, handed_back, by_stop));
            let mut pool = shared.state.lock().unwrap();
            assert!(Shared::check_terminated(&mut pool));
        },
    );
}

/// `stop()` signalling every pid of the book (under the lock, as
/// `kill_workers`) races a dispatcher reaping its worker (`waitpid`, modelled
/// as setting the pid's `reaped` flag, and `reaped(pid)` in the same critical
/// section), for two workers reaped one after the other. Asserts: the
/// stopper never signals a pid that was already reaped (it could have been
/// recycled), and every pid is either signalled or reaped first.
#[test]
fn stop_signalling_vs_reaping() {
    model(
        "stop_signalling_vs_reaping",
        &["signalled both", "signalled one", "both reaped first"],
        |seen| {
            let pids = [10_u32, 11];
            let mut book: Book<TestJob> = Book::new(2);
            for pid in pids {
                book.add_pid(pid);
            }
            let reaped = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
            let state = Arc::new(Mutex::new(book));
            let reaper = {
                let state = Arc::clone(&state);
                let reaped = Arc::clone(&reaped);
                thread::spawn(move || {
                    for (index, pid) in pids.into_iter().enumerate() {
                        let mut book = state.lock().unwrap();
                        // `waitpid` succeeded: from here the pid may be
                        // recycled by the kernel.
                        reaped[index].store(true, Ordering::Relaxed);
                        book.reaped(pid);
                    }
                })
            };
            seen.after_spawn();
            let signalled: Vec<u32> = {
                let mut book = state.lock().unwrap();
                let shut = book.stop();
                assert!(shut.cancelled.is_empty());
                shut.released.complete();
                let signalled = book.pids().to_vec();
                for &pid in &signalled {
                    let index = pids.iter().position(|&known| known == pid).unwrap();
                    assert!(
                        !reaped[index].load(Ordering::Relaxed),
                        "signalled pid {pid} after it was reaped"
                    );
                }
                signalled
            };
            reaper.join().unwrap();
            assert!(state.lock().unwrap().pids().is_empty());
            seen.saw(match signalled.len() {
                2 => "signalled both",
                1 => "signalled one",
                _ => "both reaped first",
            });
        },
    );
}
