//! Batches: a plugin built for the `batch-plugin` world (the `send_email` example)
//! takes its type in batches, and one `run-batch` call gives each job its own outcome.

mod common;

use common::{completed, dist, load, runtime};
use jobhost_runtime::{CancelFlag, JobInput, LoadError, Outcome};

fn email(n: u32, to: &str) -> JobInput {
    JobInput {
        id: format!("email-{n}"),
        job_type: "send_email".into(),
        payload: format!(r#"{{"to":"{to}","subject":"hello {n}"}}"#),
        attempt: 1,
        max_attempts: 3,
    }
}

#[test]
fn a_batching_plugin_declares_its_batch_size_and_a_plain_one_none() {
    let runtime = runtime();
    let sender = load(&runtime, "send_email");
    assert!(sender.takes_batches());
    assert_eq!(sender.job_type("send_email").unwrap().batch_size, Some(10));
    let plain = load(&runtime, "noop");
    assert!(!plain.takes_batches());
    assert_eq!(plain.job_type("noop").unwrap().batch_size, None);
}

#[test]
fn one_call_settles_each_job_of_the_batch_by_its_own_outcome() {
    let runtime = runtime();
    let sender = load(&runtime, "send_email");
    let jobs = [
        email(1, "ops@example.com"),
        email(2, "nobody@bounce.invalid"),
        email(3, "busy@tempfail.invalid"),
        email(4, "dev@example.com"),
    ];
    let attempts = runtime.run_batch(&sender, &jobs, &CancelFlag::default());
    assert_eq!(attempts.len(), 4);
    assert!(completed(&attempts[0].outcome).contains("email-1@jobhost.example"));
    assert!(
        matches!(&attempts[1].outcome, Outcome::Fail(m) if m.contains("does not exist")),
        "{:?}",
        attempts[1].outcome
    );
    assert!(
        matches!(&attempts[2].outcome, Outcome::Retry(m) if m.contains("busy")),
        "{:?}",
        attempts[2].outcome
    );
    assert!(completed(&attempts[3].outcome).contains("email-4@jobhost.example"));
    // One call: each job is charged an equal share of the fuel it burnt.
    assert!(attempts[0].fuel_used > 0);
    assert!(
        attempts
            .iter()
            .all(|a| a.fuel_used == attempts[0].fuel_used)
    );
    // A job alone still runs through `run`.
    let alone = runtime.run(&sender, &email(5, "x@example.com"), &CancelFlag::default());
    assert!(completed(&alone.outcome).contains("email-5"));
}

#[test]
fn a_batch_size_without_the_batch_export_is_refused_at_load() {
    let runtime = runtime();
    let err = runtime
        .load_file(&dist().join("extra/batch_unexported.wasm"))
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::BadDescription { reason, .. } if reason.contains("batch-handler")),
        "{err}"
    );
}
