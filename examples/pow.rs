//! easynetwork's first `AsyncExecutor` example, in Rust: `pow` jobs over a thread
//! pool, started in a group of tasks and joined.
//!
//! ```python
//! async with AsyncExecutor(ThreadPoolExecutor(max_workers=4)) as executor:
//!     async with asyncio.TaskGroup() as tg:
//!         tasks = [tg.create_task(executor.run(pow, 2, n)) for n in range(10)]
//!     print([t.result() for t in tasks])
//! ```
//!
//! Run it with `cargo run --example pow`.

use concurrent_futures::CancelFutures;
use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let executor = AsyncExecutor::new(ThreadPoolExecutor::builder().max_workers(4).build()?);

    // The group of tasks: each awaits one job on the pool.
    let mut group = JoinSet::new();
    for n in 0..10_u32 {
        let executor = executor.clone(); // a handle to the same pool
        group.spawn(async move { (n, executor.run(move || 2_u64.pow(n)).await) });
    }

    // Join the group; results arrive in completion order, so sort by input.
    let mut results = Vec::new();
    while let Some(joined) = group.join_next().await {
        let (n, result) = joined?;
        results.push((n, result?));
    }
    results.sort();
    for (n, power) in &results {
        println!("pow(2, {n}) = {power}");
    }

    // `async with` exit: wait for the pool to finish, without blocking the runtime.
    executor.shutdown(CancelFutures::No).await;
    Ok(())
}
