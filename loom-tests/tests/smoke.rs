#![cfg(loom)]
use concurrent_futures::promise;
use loom::thread;

#[test]
fn smoke_blocking_wait_vs_completion() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let t = thread::spawn(move || producer.set_result(7).unwrap());
        assert_eq!(future.wait().unwrap(), 7);
        t.join().unwrap();
    });
}
