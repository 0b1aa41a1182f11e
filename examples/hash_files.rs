//! A trial program's pattern: hash the files under a directory with a bounded
//! fan-in, in completion order, a deadline per file, and "stop after N".
//!
//! ```python
//! with ThreadPoolExecutor() as pool:
//!     futures = {pool.submit(hash_file, p): p for p in walk(root)}   # every file at once
//!     for f in as_completed(futures):                                # one deadline for all
//!         ...
//! ```
//!
//! Python's `as_completed` takes every future up front; stopping after N files
//! still hashes the rest, and a per-file deadline is written inside each job.
//! Here `map_unordered_with` keeps at most `buffer_size` files in flight
//! (Python's `imap_unordered`, bounded), yields `(index, outcome)` as each
//! finishes, `job_timeout` gives each file its own deadline (`Err(Timeout)` in
//! its place, and the map goes on), and dropping the iterator after `take(n)`
//! cancels the files not started. Run it with
//! `cargo run --example hash_files -- [DIR] [N]` (default: this crate's `src`, 10).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use concurrent_futures::{CancelFutures, Error, Executor, MapOptions, ThreadPoolExecutor};

/// FNV-1a over the file's bytes: a stand-in for a real digest.
fn hash_file(path: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    Ok(bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }))
}

/// Every file under `dir`, lazily enough for a demo.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(
        args.next()
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/src").into()),
    );
    let stop_after: usize = args.next().map_or(Ok(10), |n| n.parse())?;
    let files = walk(&root);

    let pool = ThreadPoolExecutor::new();
    let options = MapOptions::new()
        .buffer_size(NonZeroUsize::new(8).expect("8 is not zero")) // at most 8 files in flight
        .job_timeout(Duration::from_secs(5)); // each file's own deadline
    let hashes =
        pool.map_unordered_with(|path: PathBuf| hash_file(&path), files.clone(), options)?;
    let mut hashed = 0;
    for (index, outcome) in hashes.take(stop_after) {
        match outcome {
            Ok(Ok(hash)) => {
                hashed += 1;
                println!("{hash:016x}  {}", files[index].display());
            }
            Ok(Err(io)) => println!("unreadable  {}: {io}", files[index].display()),
            Err(Error::Timeout) => println!("too slow    {}", files[index].display()),
            Err(other) => println!("failed      {}: {other}", files[index].display()),
        }
    }
    // `take` dropped the iterator: the files not started were cancelled.
    pool.shutdown(CancelFutures::No);
    println!(
        "{hashed} hashed of {} files (stopped after {stop_after})",
        files.len()
    );
    assert!(hashed <= stop_after);
    Ok(())
}
