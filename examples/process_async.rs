//! The seed's second example, line for line: `AsyncExecutor` over a process
//! pool, `pow` jobs started from a task group, then `executor.map(pow_50, ..)`
//! as an async stream.
//!
//! ```python
//! async with AsyncExecutor(ProcessPoolExecutor(), handle_contexts=False) as executor:
//!     async with backend.create_task_group() as task_group:
//!         tasks = [await task_group.start(executor.run, pow, a, b) for a, b in [(3, 4), (12, 2), (6, 8)]]
//!     results = [await t.join() for t in tasks]
//!     powers = [result async for result in executor.map(pow_50, (1, 4, 12))]
//! ```
//!
//! The task group is tokio's `JoinSet`: leaving the `async with` block joins
//! every task, and each task's id stands for Python's task object. 12^50 does
//! not fit in a `u128` (about 9.1e53 > 3.4e38): like Python's integers,
//! `num_bigint::BigUint` holds it, and crosses the process boundary through
//! serde. (`handle_contexts` exists with the `tracing` feature; a span cannot
//! cross a process boundary, so there is nothing to turn off here.) Run it with
//! `cargo run --features process --example process_async`.

use std::collections::HashMap;

use concurrent_futures::process::{self, ProcessPoolExecutor, process_fn};
use concurrent_futures::{AsyncExecutor, CancelFutures};
use futures::TryStreamExt;
use num_bigint::BigUint;
use tokio::task::JoinSet;

process_fn! {
    /// Python's `pow(base, exp)`.
    fn pow(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }

    /// `x ** 50`, exactly.
    fn pow_50(x: u32) -> BigUint {
        BigUint::from(x).pow(50)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing in `main`, before the runtime starts: worker processes
    // start here and never return.
    process::init();
    tokio::runtime::Runtime::new()?.block_on(seed())
}

async fn seed() -> Result<(), Box<dyn std::error::Error>> {
    // async with AsyncExecutor(ProcessPoolExecutor(), handle_contexts=False) as executor:
    let executor = AsyncExecutor::new(ProcessPoolExecutor::new());
    let arguments = [(3, 4), (12, 2), (6, 8)];

    // async with backend.create_task_group() as task_group:
    let results = {
        let mut task_group = JoinSet::new();
        //     tasks = [await task_group.start(executor.run, pow, a, b) for a, b in ...]
        let tasks: Vec<_> = arguments
            .into_iter()
            .map(|(a, b)| task_group.spawn(executor.run(pow, (a, b))).id())
            .collect();
        // (the task group's exit: every task joined)
        let mut joined = HashMap::new();
        while let Some(task) = task_group.join_next_with_id().await {
            let (id, result) = task?;
            joined.insert(id, result);
        }
        // results = [await t.join() for t in tasks]
        tasks
            .iter()
            .map(|task| joined.remove(task).expect("every task was joined"))
            .collect::<Result<Vec<u64>, _>>()?
    };
    for ((a, b), result) in arguments.into_iter().zip(&results) {
        println!("pow({a}, {b}) = {result}");
    }

    // powers = [result async for result in executor.map(pow_50, (1, 4, 12))]
    let powers: Vec<BigUint> = executor.map(pow_50, [1, 4, 12])?.try_collect().await?;
    for (x, power) in [1, 4, 12].into_iter().zip(&powers) {
        println!("pow_50({x}) = {power}");
    }

    // (the `async with` exit: shutdown, awaited without blocking the runtime)
    executor.shutdown(CancelFutures::No).await;
    Ok(())
}
