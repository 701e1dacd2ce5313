//! Attempts in the sandbox: each hostile plugin ends in exactly its classification,
//! and the runtime keeps serving well-behaved jobs right after.

mod common;

use std::time::Duration;

use common::{completed, input, load, run, runtime};
use jobhost_runtime::{CancelFlag, Outcome};

#[test]
fn echo_returns_its_payload_in_a_fresh_instance_each_time() {
    let rt = runtime();
    let echo = load(&rt, "echo");
    for n in 0..20 {
        let payload = format!(r#"{{"n":{n}}}"#);
        let attempt = run(&rt, &echo, "echo", &payload);
        assert_eq!(completed(&attempt.outcome), payload);
        assert!(attempt.fuel_used > 0);
        assert!(attempt.followups.is_empty());
    }
}

#[test]
fn a_runaway_loop_runs_out_of_fuel_at_the_same_point_every_time() {
    let rt = runtime();
    let looping = load(&rt, "loop_forever");
    let echo = load(&rt, "echo");
    let mut fuels = Vec::new();
    for _ in 0..2 {
        let attempt = run(&rt, &looping, "loop_forever", "{}");
        match &attempt.outcome {
            Outcome::Timeout(message) => assert!(message.contains("fuel"), "{message}"),
            other => panic!("expected a fuel timeout, got {other:?}"),
        }
        fuels.push(attempt.fuel_used);
        assert_eq!(completed(&run(&rt, &echo, "echo", "1").outcome), "1");
    }
    assert_eq!(fuels[0], 100_000_000, "the whole budget is burnt");
    assert_eq!(fuels[0], fuels[1]);
}

#[test]
fn a_loop_with_fuel_to_spare_is_stopped_by_the_deadline() {
    let rt = runtime();
    let looping = load(&rt, "loop_forever");
    let echo = load(&rt, "echo");
    let attempt = run(&rt, &looping, "loop_until_deadline", "{}");
    match &attempt.outcome {
        Outcome::Timeout(message) => assert!(message.contains("300 ms deadline"), "{message}"),
        other => panic!("expected a deadline timeout, got {other:?}"),
    }
    assert!(
        attempt.duration >= Duration::from_millis(300),
        "{:?}",
        attempt.duration
    );
    assert!(attempt.fuel_used < 1_000_000_000_000_000);
    assert_eq!(completed(&run(&rt, &echo, "echo", "5").outcome), "5");
}

#[test]
fn a_memory_bomb_hits_the_cap_and_is_out_of_memory() {
    let rt = runtime();
    let bomb = load(&rt, "eat_memory");
    let echo = load(&rt, "echo");
    let attempt = run(&rt, &bomb, "eat_memory", "{}");
    match &attempt.outcome {
        Outcome::OutOfMemory(message) => assert!(message.contains("32 MiB"), "{message}"),
        other => panic!("expected out of memory, got {other:?}"),
    }
    assert_eq!(completed(&run(&rt, &echo, "echo", "2").outcome), "2");
}

#[test]
fn a_panic_is_a_crash_with_its_message() {
    let rt = runtime();
    let trap = load(&rt, "trap");
    let echo = load(&rt, "echo");
    let attempt = run(&rt, &trap, "trap", "{}");
    match &attempt.outcome {
        Outcome::Crashed(message) => {
            assert!(
                message.contains("trap plugin panicked on purpose"),
                "{message}"
            );
            assert!(message.contains("unreachable"), "{message}");
            assert!(message.contains("wasm backtrace"), "{message}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    assert!(attempt.followups.is_empty());
    assert_eq!(completed(&run(&rt, &echo, "echo", "6").outcome), "6");
}

#[test]
fn handler_errors_come_back_as_retry_and_fail() {
    let rt = runtime();
    let flaky = load(&rt, "flaky");
    let job = |attempt| input("flaky", r#"{"fail_times":2}"#, attempt);
    let outcomes: Vec<Outcome> = (1..=3)
        .map(|a| rt.run(&flaky, &job(a), &CancelFlag::default()).outcome)
        .collect();
    assert!(matches!(&outcomes[0], Outcome::Retry(m) if m.contains("attempt 1 of 2")));
    assert!(matches!(&outcomes[1], Outcome::Retry(_)));
    assert_eq!(completed(&outcomes[2]), r#"{"succeeded_on_attempt":3}"#);

    let reject = load(&rt, "reject");
    let attempt = run(&rt, &reject, "reject", r#"{"reason":"no"}"#);
    assert_eq!(attempt.outcome, Outcome::Fail("rejected: no".into()));
}

#[test]
fn follow_ups_are_returned_only_from_a_completed_attempt() {
    let rt = runtime();
    let report = load(&rt, "generate_report");
    let attempt = run(
        &rt,
        &report,
        "generate_report",
        r#"{"report":"sales","rows":1000,"notify":"boss@example.com"}"#,
    );
    let summary: serde_json::Value = serde_json::from_str(completed(&attempt.outcome)).unwrap();
    assert_eq!(summary["rows"], 1000);
    assert_eq!(attempt.followups.len(), 1);
    let email = &attempt.followups[0];
    assert_eq!(email.job_type, "send_email");
    let payload: serde_json::Value = serde_json::from_str(&email.payload).unwrap();
    assert_eq!(payload["to"], "boss@example.com");
    assert_eq!(email.id.len(), 36);

    let without = run(
        &rt,
        &report,
        "generate_report",
        r#"{"report":"sales","rows":10}"#,
    );
    assert!(without.followups.is_empty());
}

#[test]
fn a_cancelled_attempt_stops_at_the_next_tick() {
    let rt = runtime();
    let looping = load(&rt, "loop_forever");
    let cancel = CancelFlag::default();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
        })
    };
    let attempt = rt.run(&looping, &input("loop_until_deadline", "{}", 1), &cancel);
    canceller.join().unwrap();
    assert_eq!(attempt.outcome, Outcome::Cancelled);
    assert!(attempt.duration < Duration::from_millis(300));
    let echo = load(&rt, "echo");
    assert_eq!(completed(&run(&rt, &echo, "echo", "7").outcome), "7");
}
