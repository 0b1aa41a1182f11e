//! easynetwork's `map` example, in Rust: `pow_50` over a thread pool, results in
//! input order as an async stream.
//!
//! ```python
//! def pow_50(x): return x ** 50
//! async with AsyncExecutor(ThreadPoolExecutor()) as executor:
//!     async for result in executor.map(pow_50, range(6)):
//!         print(result)
//! ```
//!
//! Python's integers are unbounded; here `u128` holds `x^50` exactly for
//! `x <= 5`, and `checked_pow` would report an overflow for larger inputs.
//! Driven by `futures::executor::block_on`: no async runtime needed.
//!
//! Run it with `cargo run --example map`.

use concurrent_futures::CancelFutures;
use concurrent_futures::{AsyncExecutor, ThreadPoolExecutor};
use futures::StreamExt;

fn pow_50(x: u128) -> Option<u128> {
    x.checked_pow(50)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures::executor::block_on(async {
        let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
        let mut results = executor.map(pow_50, 0..=5_u128)?;
        let mut x = 0;
        while let Some(result) = results.next().await {
            match result? {
                Some(power) => println!("{x}^50 = {power}"),
                None => println!("{x}^50 overflows u128"),
            }
            x += 1;
        }
        drop(results);
        executor.shutdown(CancelFutures::No).await;
        Ok(())
    })
}
