//! The guard against a model that passes without exploring its race: each
//! interleaving names the outcome it reached, and the run fails if an outcome
//! the model expects was never reached (as `loom-tests`' harness does). Copy it
//! into your own model crate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Runs `model` under loom and asserts that every outcome in `expected` was
/// returned by some interleaving; prints the interleavings and outcomes (see
/// them with `--nocapture`). `preemption_bound`: `None` is loom's default
/// (exhaustive, unless `LOOM_MAX_PREEMPTIONS` is set); a model that passes
/// `Some(n)` says why at its call site.
pub fn check_outcomes(
    name: &str,
    expected: &[&'static str],
    preemption_bound: Option<usize>,
    model: impl Fn() -> &'static str + Send + Sync + 'static,
) {
    // Plain std types: the bookkeeping is outside the model.
    let seen: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let record = Arc::clone(&seen);
    let mut builder = loom::model::Builder::new();
    if preemption_bound.is_some() {
        builder.preemption_bound = preemption_bound;
    }
    builder.check(move || {
        let outcome = model();
        *record.lock().unwrap().entry(outcome).or_default() += 1;
    });
    let seen = seen.lock().unwrap();
    eprintln!(
        "loom model {name}: {} interleavings, outcomes {seen:?}",
        seen.values().sum::<usize>()
    );
    for outcome in expected {
        assert!(
            seen.contains_key(outcome),
            "{name}: no interleaving reached `{outcome}` (seen: {seen:?})"
        );
    }
}
