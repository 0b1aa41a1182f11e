//! The seed's async example on a process pool, in Rust: `pow` jobs started
//! from a task group and awaited through `unwrap_future`, then
//! `[r async for r in executor.map(pow_50, (1, 4, 12))]` as a stream.
//!
//! ```python
//! async with AsyncExecutor(ProcessPoolExecutor()) as executor:
//!     async with asyncio.TaskGroup() as tg:
//!         tasks = [tg.create_task(executor.run(pow, a, b)) for a, b in [(3, 4), (12, 2), (6, 8)]]
//!     print([t.result() for t in tasks])
//!     print([r async for r in executor.map(pow_50, (1, 4, 12))])
//! ```
//!
//! 12^50 does not fit in a `u128` (about 9.1e53 > 3.4e38): like Python's
//! integers, `num_bigint::BigUint` holds it, and crosses the process boundary
//! through serde. Run it with
//! `cargo run --features process --example process_async`.

use concurrent_futures::process::{self, ProcessPoolExecutor, process_fn};
use concurrent_futures::unwrap_future;
use futures::StreamExt;
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
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let executor = ProcessPoolExecutor::new();

    // The task group: each task awaits one job; dropping a task's wait would
    // cancel its job if no worker had taken it yet.
    let mut group = JoinSet::new();
    for (index, (base, exp)) in [(3, 4), (12, 2), (6, 8)].into_iter().enumerate() {
        let future = executor.submit(pow, (base, exp))?;
        group.spawn(async move { (index, base, exp, unwrap_future(future).await) });
    }
    let mut results = Vec::new();
    while let Some(joined) = group.join_next().await {
        let (index, base, exp, result) = joined?;
        results.push((index, base, exp, result?));
    }
    // Completion order varies; print in input order.
    results.sort();
    for (_, base, exp, value) in &results {
        println!("pow({base}, {exp}) = {value}");
    }

    // `[r async for r in executor.map(pow_50, (1, 4, 12))]`: a stream in input order.
    let mut powers = executor.map(pow_50, [1, 4, 12])?.into_stream();
    let mut x = [1, 4, 12].into_iter();
    while let Some(power) = powers.next().await {
        println!("pow_50({}) = {}", x.next().unwrap_or_default(), power?);
    }
    drop(powers);

    // `async with` exit: await termination without blocking the runtime.
    executor.shutdown_nowait(false);
    executor.terminated().await?;
    Ok(())
}
