//! The process pool's bookkeeping as a state machine without I/O: the queue,
//! the dispatchers (idle, counted, numbered), shutdown, stopping, a broken
//! pool, termination and the live worker processes' ids.
//!
//! The pool keeps one [`Book`] under its one mutex. Every method is one
//! critical section that only decides: it returns what the caller must do
//! outside the lock (send, receive, spawn, wake, complete futures), so that
//! no serialisation, pipe I/O or foreign code ever runs under the lock, and
//! so that the races between those sections can be modelled: the loom models
//! in `loom-tests/tests/process_book.rs` drive a `Book` under loom's mutex
//! from several threads (submit vs `shutdown(cancel_futures)`, a worker's
//! death vs requeue and shutdown, `kill_workers` vs reaping).
//!
//! Words used with one meaning each:
//! - a **dispatcher** is a thread of the parent that owns at most one worker
//!   process at a time and feeds it; its **seat** is its number, which also
//!   names its thread;
//! - a **worker** is a worker process;
//! - a job is **marked** once its future was moved to running
//!   (`set_running_or_notify_cancel`), which happens when a dispatcher takes
//!   it to send; it is **started** when the worker begins it (the worker
//!   says so on its `started` pipe). A marked job that no worker started (its
//!   worker died first) is put back, still marked, and can still be
//!   cancelled by a shutdown: it never ran.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::error::BrokenError;
use crate::executor::lifecycle::{Latch, Released};

/// What the book needs of a queued job.
pub trait Entry {
    /// Moves the job's future to running (`set_running_or_notify_cancel`):
    /// `false` if it was cancelled meanwhile (then it is dropped, not sent).
    /// Runs no foreign code.
    fn mark(&mut self) -> bool;
}

/// A queued job and whether it is marked already (put back after its worker
/// died before starting it).
struct Queued<J> {
    job: J,
    marked: bool,
}

/// Why a submit was refused; the job is handed back.
pub enum Refused<J> {
    Shutdown(J),
    Broken(BrokenError, J),
}

/// What a submit's caller does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Queued; a busy dispatcher will take it.
    Queued,
    /// Queued; wake the idle dispatcher of this seat.
    Wake(usize),
    /// Queued; start a dispatcher thread for this new seat (if that fails,
    /// call [`Book::dispatcher_not_started`]).
    Start(usize),
}

/// What a dispatcher does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Take<J> {
    /// Send these jobs (marked) to its worker, in order, then receive the
    /// next reply (the list is empty when it only has replies to wait for).
    Send(Vec<J>),
    /// There is work and it has no worker: start one first.
    Start,
    /// Nothing to do: it is on the idle list; wait until
    /// [`Book::is_idle`] is `false`.
    Idle,
    /// Shut down (or broken) with nothing left: retire its worker and exit
    /// (then call [`Book::dispatcher_exited`]).
    Exit,
}

/// Jobs to cancel and dispatchers to wake after [`Book::shut_down`] or
/// [`Book::stop`].
pub struct ShutDown<J> {
    pub cancelled: Vec<J>,
    pub wake: Vec<usize>,
    pub released: Released,
}

/// The bookkeeping. See the module's documentation.
pub struct Book<J> {
    queue: VecDeque<Queued<J>>,
    max_workers: usize,
    /// Dispatcher threads alive (or being started).
    dispatchers: usize,
    /// By seat: waiting for work (on the idle list). Cleared by whoever takes
    /// the seat off the list.
    idle: Vec<bool>,
    /// Seats waiting for work, most recently idle last (taken first: its
    /// worker is the warmest).
    idle_seats: Vec<usize>,
    /// By seat: jobs sent and not answered, as of the dispatcher's last
    /// [`take`](Book::take); `None` once it exited (or never started).
    in_flight: Vec<Option<usize>>,
    shutdown: bool,
    /// `terminate_workers`, `kill_workers` or `CancelFutures::AndStopRunning`:
    /// no worker is started again and jobs put back are cancelled.
    stopping: bool,
    broken: Option<BrokenError>,
    terminated: Latch,
    /// Worker processes started and not reaped yet.
    pids: Vec<u32>,
}

impl<J: Entry> Book<J> {
    /// An empty book for a pool of at most `max_workers` processes.
    pub fn new(max_workers: usize) -> Self {
        Book {
            queue: VecDeque::new(),
            max_workers,
            dispatchers: 0,
            idle: Vec::new(),
            idle_seats: Vec::new(),
            in_flight: Vec::new(),
            shutdown: false,
            stopping: false,
            broken: None,
            terminated: Latch::default(),
            pids: Vec::new(),
        }
    }

    /// Queues `job` (refused after shutdown or once broken) and says who
    /// runs it: an idle dispatcher, a new one, or a busy one later.
    pub fn submit(&mut self, job: J) -> Result<Admitted, Refused<J>> {
        if let Some(broken) = &self.broken {
            return Err(Refused::Broken(broken.clone(), job));
        }
        if self.shutdown {
            return Err(Refused::Shutdown(job));
        }
        self.queue.push_back(Queued { job, marked: false });
        if let Some(seat) = self.idle_seats.pop() {
            self.idle[seat] = false;
            return Ok(Admitted::Wake(seat));
        }
        if self.dispatchers >= self.max_workers {
            return Ok(Admitted::Queued);
        }
        self.dispatchers += 1;
        let seat = self.idle.len();
        self.idle.push(false);
        self.in_flight.push(Some(0));
        Ok(Admitted::Start(seat))
    }

    /// The dispatcher thread of an [`Admitted::Start`] could not be spawned:
    /// with no dispatcher left, nobody would run what is queued, so it is
    /// handed back to fail (and the pool may be terminated now).
    pub fn dispatcher_not_started(&mut self, seat: usize) -> (Vec<J>, Released) {
        self.dispatchers -= 1;
        self.in_flight[seat] = None;
        let stranded = if self.dispatchers == 0 {
            self.take_queue()
        } else {
            Vec::new()
        };
        (stranded, self.take_if_terminated())
    }

    /// What the dispatcher of `seat` does next. `room`: how many more jobs its
    /// worker may be sent now; `has_worker`: it owns a live worker;
    /// `in_flight`: jobs sent and not answered yet.
    ///
    /// A job beyond the one a worker runs (sent *ahead*) is taken only when
    /// the queue holds more jobs than the other dispatchers without work
    /// (idle, or starting their worker) can take: a job never waits behind
    /// another job while a worker is free for it.
    pub fn take(
        &mut self,
        seat: usize,
        room: usize,
        has_worker: bool,
        in_flight: usize,
    ) -> Take<J> {
        self.in_flight[seat] = Some(in_flight);
        let mut jobs = Vec::new();
        if has_worker {
            let hungry = self
                .in_flight
                .iter()
                .enumerate()
                .filter(|&(other, jobs)| other != seat && *jobs == Some(0))
                .count();
            while jobs.len() < room {
                if in_flight + jobs.len() > 0 && self.queue.len() <= hungry {
                    break;
                }
                let Some(mut queued) = self.queue.pop_front() else {
                    break;
                };
                // Cancelled meanwhile: dropped here (its future reports it).
                if queued.marked || queued.job.mark() {
                    queued.marked = true;
                    jobs.push(queued.job);
                }
            }
        }
        if !jobs.is_empty() || in_flight > 0 {
            self.in_flight[seat] = Some(in_flight + jobs.len());
            return Take::Send(jobs);
        }
        if !self.queue.is_empty() {
            // Stopping empties the queue and puts nothing back, so a stopping
            // pool never gets here.
            return Take::Start;
        }
        if self.shutdown || self.broken.is_some() {
            return Take::Exit;
        }
        self.idle[seat] = true;
        self.idle_seats.push(seat);
        Take::Idle
    }

    /// A submit that woke the idle dispatcher of `seat` sends its job to that
    /// dispatcher's worker itself: the job (the newest, just queued) is taken
    /// here, marked, and counted in flight for `seat`. `None` if it was
    /// cancelled meanwhile (it cannot be: its future was not handed out yet).
    pub fn hand_off(&mut self, seat: usize) -> Option<J> {
        let mut queued = self.queue.pop_back()?;
        if !(queued.marked || queued.job.mark()) {
            return None;
        }
        self.in_flight[seat] = Some(1);
        Some(queued.job)
    }

    /// The dispatcher of `seat` still waits for work.
    pub fn is_idle(&self, seat: usize) -> bool {
        self.idle[seat]
    }

    /// Puts back, at the front and in order, jobs that a dead worker had not
    /// started. When the pool is stopping they are handed back to cancel
    /// instead: they never ran.
    pub fn put_back(&mut self, jobs: impl DoubleEndedIterator<Item = J>) -> Vec<J> {
        if self.stopping || self.broken.is_some() {
            return jobs.collect();
        }
        for job in jobs.rev() {
            self.queue.push_front(Queued { job, marked: true });
        }
        Vec::new()
    }

    /// Python's `shutdown`: refuses new jobs; with `cancel_queued`, hands back
    /// every queued job to cancel (put-back ones too: no worker started
    /// them); wakes every idle dispatcher.
    pub fn shut_down(&mut self, cancel_queued: bool) -> ShutDown<J> {
        self.shutdown = true;
        let cancelled = if cancel_queued {
            self.take_queue()
        } else {
            Vec::new()
        };
        ShutDown {
            cancelled,
            wake: self.wake_idle(),
            released: self.take_if_terminated(),
        }
    }

    /// `terminate_workers` / `kill_workers`: shuts down with the queue
    /// cancelled, and no worker starts again. The caller signals every pid of
    /// [`pids`](Self::pids) before it lets go of the lock.
    pub fn stop(&mut self) -> ShutDown<J> {
        self.stopping = true;
        self.shut_down(true)
    }

    /// `true` once [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// A worker's initializer failed: the pool is broken (Python's
    /// `BrokenProcessPool`). Hands back the queued jobs to fail and the
    /// dispatchers to wake.
    pub fn break_pool(
        &mut self,
        broken: impl FnOnce() -> BrokenError,
    ) -> (BrokenError, Vec<J>, Vec<usize>) {
        let broken = self.broken.get_or_insert_with(broken).clone();
        let failed = self.take_queue();
        (broken, failed, self.wake_idle())
    }

    /// The queue, handed back to fail: a worker could not be started, and
    /// whatever stopped this start would stop the next one.
    pub fn fail_queued(&mut self) -> Vec<J> {
        self.take_queue()
    }

    /// Every queued job, in order, taken out of the book.
    fn take_queue(&mut self) -> Vec<J> {
        self.queue.drain(..).map(|queued| queued.job).collect()
    }

    /// A dispatcher left: the pool is terminated if it was the last one of a
    /// pool shut down or broken.
    pub fn dispatcher_exited(&mut self, seat: usize) -> Released {
        self.dispatchers -= 1;
        self.in_flight[seat] = None;
        self.take_if_terminated()
    }

    /// A `terminated` future (done once the pool is).
    pub fn terminated(&mut self) -> crate::future::SharedFuture<()> {
        self.terminated.future()
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown
    }

    pub fn broken(&self) -> Option<&BrokenError> {
        self.broken.as_ref()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// A worker process was started: its pid is kept until it is reaped, so
    /// that a signal sent under the lock never reaches a recycled pid.
    pub fn add_pid(&mut self, pid: u32) {
        self.pids.push(pid);
    }

    /// A worker process was reaped (in the same critical section).
    pub fn reaped(&mut self, pid: u32) {
        self.pids.retain(|&live| live != pid);
    }

    /// Worker processes started and not reaped.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    fn wake_idle(&mut self) -> Vec<usize> {
        let seats: Vec<usize> = self.idle_seats.drain(..).collect();
        for &seat in &seats {
            self.idle[seat] = false;
        }
        seats
    }

    fn take_if_terminated(&mut self) -> Released {
        let terminated = (self.shutdown || self.broken.is_some()) && self.dispatchers == 0;
        self.terminated.release_if(terminated)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A job that is cancelled (refuses to be marked) or not.
    #[derive(Debug, PartialEq, Eq)]
    struct TestJob {
        id: u32,
        cancelled: bool,
    }

    impl Entry for TestJob {
        fn mark(&mut self) -> bool {
            !self.cancelled
        }
    }

    fn job(id: u32) -> TestJob {
        TestJob {
            id,
            cancelled: false,
        }
    }

    fn ids(jobs: &[TestJob]) -> Vec<u32> {
        jobs.iter().map(|job| job.id).collect()
    }

    #[test]
    fn dispatchers_start_lazily_up_to_max_workers_then_jobs_queue() {
        let mut book = Book::new(2);
        assert_eq!(book.submit(job(1)).ok(), Some(Admitted::Start(0)));
        assert_eq!(book.submit(job(2)).ok(), Some(Admitted::Start(1)));
        assert_eq!(book.submit(job(3)).ok(), Some(Admitted::Queued));
        assert_eq!(book.queued(), 3);
    }

    #[test]
    fn a_dispatcher_starts_a_worker_then_takes_at_most_its_room_in_order() {
        let mut book = Book::new(1);
        for id in 1..=3 {
            let _ = book.submit(job(id));
        }
        assert_eq!(book.take(0, 2, false, 0), Take::Start);
        let Take::Send(sent) = book.take(0, 2, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [1, 2]);
        // Full: only replies to wait for.
        assert_eq!(book.take(0, 0, true, 2), Take::Send(Vec::new()));
        let Take::Send(sent) = book.take(0, 1, true, 1) else {
            panic!()
        };
        assert_eq!(ids(&sent), [3]);
    }

    #[test]
    fn no_job_is_sent_ahead_while_another_dispatcher_has_no_work() {
        let mut book = Book::new(2);
        let _ = book.submit(job(1)); // starts seat 0
        let _ = book.submit(job(2)); // starts seat 1
        // Seat 0 takes its first job, but not job 2: seat 1 (starting its
        // worker) will take it.
        let Take::Send(sent) = book.take(0, 2, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [1]);
        assert_eq!(book.take(0, 1, true, 1), Take::Send(Vec::new()));
        let Take::Send(sent) = book.take(1, 2, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [2]);
        // Both busy: a third job goes ahead to whoever asks first.
        let _ = book.submit(job(3));
        let Take::Send(sent) = book.take(0, 1, true, 1) else {
            panic!()
        };
        assert_eq!(ids(&sent), [3]);
    }

    #[test]
    fn a_cancelled_job_is_skipped_and_an_idle_dispatcher_is_woken_by_a_submit() {
        let mut book = Book::new(1);
        let _ = book.submit(TestJob {
            id: 1,
            cancelled: true,
        });
        assert_eq!(book.take(0, 2, true, 0), Take::Idle);
        assert!(book.is_idle(0));
        assert_eq!(book.submit(job(2)).ok(), Some(Admitted::Wake(0)));
        assert!(!book.is_idle(0));
    }

    #[test]
    fn put_back_jobs_go_first_and_are_not_marked_twice() {
        let mut book = Book::new(1);
        let _ = book.submit(job(3));
        assert!(book.put_back([job(1), job(2)].into_iter()).is_empty());
        // Marked already: a put-back job is sent even though `mark` would
        // now refuse (its future is running).
        let Take::Send(sent) = book.take(0, 3, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [1, 2, 3]);
    }

    #[test]
    fn shutdown_with_cancel_hands_back_queued_and_put_back_jobs_and_terminates_last() {
        let mut book = Book::new(1);
        let _ = book.submit(job(1));
        let _ = book.put_back([job(0)].into_iter());
        let mut terminated = book.terminated();
        let shut = book.shut_down(true);
        assert_eq!(ids(&shut.cancelled), [0, 1]);
        shut.released.complete();
        assert!(!terminated.is_done());
        assert!(matches!(book.submit(job(2)), Err(Refused::Shutdown(_))));
        assert_eq!(book.take(0, 2, true, 0), Take::Exit);
        book.dispatcher_exited(0).complete();
        assert!(terminated.wait().is_ok());
    }

    #[test]
    fn stopping_cancels_what_a_dead_worker_had_not_started() {
        let mut book = Book::new(1);
        let _ = book.submit(job(1));
        let _ = book.stop();
        assert_eq!(ids(&book.put_back([job(2)].into_iter())), [2]);
        assert!(book.is_stopping());
    }

    #[test]
    fn a_broken_pool_fails_the_queue_refuses_submits_and_wakes_idle_dispatchers() {
        let mut book = Book::new(2);
        let _ = book.submit(job(1));
        let _ = book.submit(job(2));
        let Take::Send(sent) = book.take(0, 2, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [1]);
        let Take::Send(sent) = book.take(1, 2, true, 0) else {
            panic!()
        };
        assert_eq!(ids(&sent), [2]);
        // Seat 1's job answered: it idles.
        assert_eq!(book.take(1, 2, true, 0), Take::Idle);
        let (_, failed, wake) = book.break_pool(|| BrokenError::new("init".into()));
        assert!(failed.is_empty());
        assert_eq!(wake, [1]);
        assert!(!book.is_idle(1));
        assert!(matches!(book.submit(job(3)), Err(Refused::Broken(..))));
        // A broken pool's dispatchers exit once nothing is in flight.
        assert_eq!(book.take(1, 2, true, 0), Take::Exit);
    }

    #[test]
    fn breaking_hands_back_the_queue_to_fail() {
        let mut book = Book::new(1);
        let _ = book.submit(job(1));
        let _ = book.submit(job(2));
        let (_, failed, _) = book.break_pool(|| BrokenError::new("init".into()));
        assert_eq!(ids(&failed), [1, 2]);
    }

    #[test]
    fn a_dispatcher_that_could_not_start_strands_the_queue_only_when_it_was_the_last() {
        let mut book = Book::new(2);
        let _ = book.submit(job(1));
        let (stranded, released) = book.dispatcher_not_started(0);
        released.complete();
        assert_eq!(ids(&stranded), [1]);
    }

    #[test]
    fn pids_stay_until_reaped() {
        let mut book: Book<TestJob> = Book::new(1);
        book.add_pid(10);
        book.add_pid(11);
        book.reaped(10);
        assert_eq!(book.pids(), [11]);
    }
}
