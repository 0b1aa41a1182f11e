//! The downstream model: two threads race to claim the mailbox; the winner
//! answers through the future. Under `--cfg loom` every atomic, including
//! those inside `concurrent-futures`, is loom's.
#![cfg(loom)]

mod helpers;

use std::sync::Arc;

use helpers::check_outcomes;
use loom_downstream::Mailbox;

#[test]
fn two_claimers_one_reply() {
    // Both winners must be seen: a model whose race never happens fails.
    check_outcomes(
        "two_claimers_one_reply",
        &["main thread won", "other thread won"],
        None,
        || {
            let mailbox = Arc::new(Mailbox::default());
            let other = {
                let mailbox = Arc::clone(&mailbox);
                loom::thread::spawn(move || mailbox.claim())
            };
            let mine = mailbox.claim();
            let theirs = other.join().unwrap();
            let (winner, (producer, mut future)) = match (mine, theirs) {
                (Some(slot), None) => ("main thread won", slot),
                (None, Some(slot)) => ("other thread won", slot),
                _ => panic!("exactly one claim wins"),
            };
            let answer = loom::thread::spawn(move || producer.set_result(42).unwrap());
            assert_eq!(future.wait().unwrap(), 42);
            answer.join().unwrap();
            winner
        },
    );
}
