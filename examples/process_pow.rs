//! The seed's `ProcessPoolExecutor` example, in Rust: `pow` jobs in worker
//! processes, submitted, waited for together, then read.
//!
//! ```python
//! with ProcessPoolExecutor() as executor:
//!     futures = [executor.submit(pow, a, b) for a, b in [(3, 4), (12, 2), (6, 8)]]
//!     wait(futures)
//!     results = [f.result() for f in futures]
//! ```
//!
//! Run it with `cargo run --features process --example process_pow`.

use concurrent_futures::CancelFutures;
use concurrent_futures::process::{self, ProcessPoolExecutor, process_fn};
use concurrent_futures::{ReturnWhen, wait};

process_fn! {
    /// Python's `pow(base, exp)`, run in a worker process.
    fn pow(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing in `main`: worker processes start here and never return.
    process::init();

    // `with ProcessPoolExecutor() as executor:`
    let executor = ProcessPoolExecutor::new();
    let inputs = [(3, 4), (12, 2), (6, 8)];
    let mut futures = inputs
        .iter()
        .map(|&args| executor.submit(pow, args))
        .collect::<Result<Vec<_>, _>>()?;
    wait(&mut futures, None, ReturnWhen::AllCompleted);
    for ((base, exp), future) in inputs.iter().zip(&mut futures) {
        println!("pow({base}, {exp}) = {}", future.wait()?);
    }
    // Leaving the `with` block: wait for the workers to exit.
    executor.shutdown(CancelFutures::No);
    Ok(())
}
