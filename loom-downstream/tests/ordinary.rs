//! An ordinary test of the downstream crate: gated off under `--cfg loom`,
//! where std's threads and atomics are not loom's and would panic.
#![cfg(not(loom))]

use loom_downstream::Mailbox;

#[test]
fn one_claim() {
    let mailbox = Mailbox::default();
    let (producer, mut future) = mailbox.claim().unwrap();
    assert!(mailbox.claim().is_none());
    producer.set_result(7).unwrap();
    assert_eq!(future.wait().unwrap(), 7);
}
