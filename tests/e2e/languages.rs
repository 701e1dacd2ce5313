//! Handlers written in other languages than Rust (`plugins/python`, `plugins/js`), built
//! from source by `plugins/build.sh` into `plugins/dist/lang/`, run by the real daemon
//! like any other plugin: a job completes with the handler's result, a payload failing
//! the schema its `describe` declares is refused at enqueue, its two kinds of error
//! become a retry and a permanent failure, and any other exception a crash.
//!
//! Each test starts the daemon first and then copies the component in (a hot add): these
//! components embed an interpreter and take tens of seconds to compile when the compile
//! cache is cold, which is the plugin loader's business, not the daemon's start-up's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{World, wait_until};

/// A cold compile of an interpreter component on a busy 2-core machine.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// One greeter handler: its file under `dist/lang/`, and what it says of itself.
struct Greeter {
    /// `NAME.wasm` in `dist/lang/`, and the job type it handles.
    name: &'static str,
    /// The `language` field of its result.
    language: &'static str,
    /// What it logs when it greets Ada.
    log_line: &'static str,
}

fn wait_completed(world: &World, id: &str) -> Value {
    wait_until(&format!("job {id} to complete"), JOB_TIMEOUT, || {
        world.job(id)["job"]["status"] == "completed"
    });
    world.job(id)
}

fn wait_dead(world: &World, id: &str) -> Value {
    wait_until(
        &format!("job {id} to be dead-lettered"),
        JOB_TIMEOUT,
        || world.cli(&["dlq", "show", id]).status.success(),
    );
    world.dead(id)
}

fn greets_end_to_end(greeter: Greeter) {
    let name = greeter.name;
    let world = World::new();
    let daemon = world.start_daemon(&["--backoff-base", "50ms", "--poll-interval", "10ms"]);
    world.install(&format!("lang/{name}.wasm"), &format!("{name}.wasm"));
    daemon.wait_for_log("plugin loaded", LOAD_TIMEOUT);
    assert!(
        !daemon.log_text().contains("plugin not loaded"),
        "{}",
        daemon.log_text()
    );

    // A good payload completes with the handler's JSON result.
    let id = world.enqueue(name, r#"{"name":"Ada"}"#, &[]);
    let shown = wait_completed(&world, &id);
    let result: Value = serde_json::from_str(shown["job"]["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({ "greeting": "hello, Ada", "language": greeter.language })
    );
    daemon.wait_for_log(greeter.log_line, JOB_TIMEOUT);
    let id = world.enqueue(name, r#"{"name":"Ada","shout":true}"#, &[]);
    let shown = wait_completed(&world, &id);
    let result: Value = serde_json::from_str(shown["job"]["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["greeting"], "HELLO, ADA!");

    // The schema its describe declared is enforced at enqueue, naming the field.
    for (payload, field) in [
        (r#"{"name":""}"#, "/name"),
        (r#"{"name":"Ada","shout":"yes"}"#, "/shout"),
        (r#"{"nom":"Ada"}"#, "name"),
    ] {
        let out = world.cli(&["enqueue", name, payload]);
        assert!(!out.status.success(), "{payload} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(field),
            "the refusal of {payload} must name {field}: {stderr}"
        );
        assert!(stderr.contains("nothing was enqueued"), "{stderr}");
    }

    // A retryable error is retried while attempts remain, then dead-lettered.
    let later = world.enqueue(name, r#"{"name":"later"}"#, &["--max-attempts", "2"]);
    let dead = wait_dead(&world, &later);
    assert_eq!(
        dead["dead_letter"]["reason"], "max_retries_exceeded",
        "{dead}"
    );
    assert_eq!(dead["dead_letter"]["attempts"], 2, "{dead}");
    let error = dead["dead_letter"]["last_error"].as_str().unwrap();
    assert!(error.contains("not yet (attempt 2 of 2)"), "{error}");

    // A permanent error goes to the dead-letter queue at once.
    let mallory = world.enqueue(name, r#"{"name":"mallory"}"#, &["--max-attempts", "5"]);
    let dead = wait_dead(&world, &mallory);
    assert_eq!(dead["dead_letter"]["reason"], "permanent_failure", "{dead}");
    assert_eq!(dead["dead_letter"]["attempts"], 1, "{dead}");
    let error = dead["dead_letter"]["last_error"].as_str().unwrap();
    assert!(error.contains("mallory is never greeted"), "{error}");

    // An exception that is not a job error is a bug: the attempt crashes, and the
    // dead-letter record keeps the exception's message.
    let crash = world.enqueue(name, r#"{"name":"crash"}"#, &["--max-attempts", "1"]);
    let dead = wait_dead(&world, &crash);
    assert_eq!(dead["dead_letter"]["reason"], "crashed", "{dead}");
    let error = dead["dead_letter"]["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{name} crashed on purpose")),
        "{error}"
    );
}

#[test]
fn a_python_handler_runs_end_to_end() {
    greets_end_to_end(Greeter {
        name: "py_greet",
        language: "python",
        log_line: "greeting Ada from Python",
    });
}

#[test]
fn a_javascript_handler_runs_end_to_end() {
    greets_end_to_end(Greeter {
        name: "js_greet",
        language: "javascript",
        log_line: "greeting Ada from JavaScript",
    });
}
