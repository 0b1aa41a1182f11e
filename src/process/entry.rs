//! How a job names its function across the process boundary.
//!
//! Python pickles a function by its qualified name and the worker imports it.
//! A Rust worker process is the same executable, re-executed by procspawn, so
//! the same function sits at the same distance from any other function of the
//! image in both processes, whatever address the loader chose for each. A job
//! therefore names its function by that distance: the offset of
//! [`run_item::<J>`](super::worker::run_item) from [`anchor`], computed in the
//! parent and added back in the worker. This is how procspawn itself finds
//! the function a process was spawned for (its `MarshalledCall` keeps the
//! offset of its generic `run_func::<A, R>` from its `init`), so the pool
//! assumes nothing of the executable that every procspawn spawn does not.
//!
//! One worker can then run every [`ProcessFn`](super::ProcessFn) of the
//! program: the pool's `max_workers` counts processes, as in Python, not
//! processes per function.
//!
//! The one `unsafe` outside the core: turning the offset back into a function
//! pointer. Its guard is the worker's layout fingerprint (`worker::layout`): a worker compares the parent's layout
//! fingerprint with its own before it accepts a job, and refuses to start
//! (the pool reports the initializer's failure) if they differ.

use super::wire::{Outcome, WorkerArgs};

/// Runs one item of a job in a worker: deserialises the arguments, calls the
/// function, serialises the result (`None`: the parent could not serialise
/// the arguments).
pub(super) type RunItem = fn(Option<&[u8]>) -> Outcome;

/// The fixed point that offsets are measured from: a function of this crate,
/// never inlined, so that it has one address in the image.
#[inline(never)]
fn anchor() -> u8 {
    // A body that cannot be merged with another function's (identical code
    // folding could give two functions one address, which would be harmless
    // here, but the fingerprint below is clearer without it).
    0x5a
}

fn anchor_address() -> isize {
    anchor as fn() -> u8 as usize as isize
}

/// The offset that names `run` in this executable.
pub(super) fn offset_of(run: RunItem) -> isize {
    (run as usize as isize).wrapping_sub(anchor_address())
}

/// The offset of a worker's main function (for the layout fingerprint).
pub(super) fn offset_of_main(main: fn(WorkerArgs)) -> isize {
    (main as usize as isize).wrapping_sub(anchor_address())
}

/// The function that `offset` names in this executable.
///
/// # Safety
///
/// `offset` must come from [`offset_of`] in a process running the same
/// executable image as this one.
#[allow(unsafe_code)]
pub(super) unsafe fn resolve(offset: isize) -> RunItem {
    let address = anchor_address().wrapping_add(offset) as usize;
    // SAFETY: by the caller's contract, `offset` is the distance from `anchor`
    // to a function of type `RunItem` (a monomorphised `run_item::<J>`) in the
    // same image, so `address` is that function's address in this process:
    // the loader moves the image as one piece. A function pointer and a
    // `usize` have the same size on every platform this module builds for
    // (Linux, macOS).
    unsafe { core::mem::transmute::<usize, RunItem>(address) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessFn;

    struct Twice;
    impl ProcessFn for Twice {
        type Args = u32;
        type Output = u32;
        fn call(x: u32) -> u32 {
            x * 2
        }
    }

    #[test]
    fn an_offset_resolves_to_the_function_it_was_taken_from() {
        let offset = offset_of(super::super::worker::run_item::<Twice>);
        // SAFETY: taken in this very process.
        #[allow(unsafe_code)]
        let run = unsafe { resolve(offset) };
        let bytes = super::super::wire::encode(&21_u32).unwrap();
        match run(Some(&bytes)) {
            Outcome::Value(bytes) => {
                assert_eq!(super::super::wire::decode::<u32>(&bytes).unwrap(), 42)
            }
            _ => panic!("expected a value"),
        }
    }

    #[test]
    fn the_layout_is_stable_within_a_process() {
        let layout = super::super::worker::layout;
        assert_eq!(layout(), layout());
        assert_ne!(layout().0, layout().1);
    }
}
