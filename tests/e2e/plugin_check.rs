//! `plugins check` before a deploy, and the daemon refusing what the check refuses.

use std::process::Command;
use std::time::Duration;

use crate::support::{BINARY, World, dist, wait_until};

#[test]
fn check_shows_what_a_good_plugin_declares_and_needs() {
    let world = World::new();
    let file = dist().join("send_email.wasm");
    let report = world.cli_json(&["plugins", "check", file.to_str().unwrap()]);
    assert_eq!(report["runnable"], true);
    assert_eq!(report["plugin"]["name"], "send_email");
    let job_type = &report["plugin"]["job_types"][0];
    assert_eq!(job_type["name"], "send_email");
    assert_eq!(job_type["payload_schema"]["required"][0], "to");
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.contains(&"jobhost:plugin/host@0.1.0"),
        "{imports:?}"
    );
    assert!(report["size_bytes"].as_u64().unwrap() > 0);
    assert!(report["compile_ms"].as_f64().is_some());

    let text = world.cli_ok(&["plugins", "check", file.to_str().unwrap()]);
    assert!(text.contains("ok: this host can run it"), "{text}");
    assert!(text.contains("payload schema of send_email"), "{text}");
}

#[test]
fn check_compiles_once_and_leaves_the_compilation_in_the_cache() {
    let world = World::new();
    let cache = world.dir.path().join("cache");
    let file = dist().join("echo.wasm");
    let out = Command::new(BINARY)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--json", "plugins", "check", file.to_str().unwrap()])
        .env("JOBHOST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = report["digest"].as_str().unwrap();
    // The load after the timed compile found that compilation instead of making another.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("compile cache hit"), "{log}");
    let cached: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with(digest), "{cached:?}");
}

#[test]
fn check_refuses_a_plugin_that_imports_what_the_host_does_not_offer() {
    let world = World::new();
    let file = dist().join("extra/needs_vault.wasm");
    let out = world.cli(&["plugins", "check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("acme:vault/secrets"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("acme:vault/secrets"),
        "imports are listed: {stdout}"
    );
}

#[test]
fn check_refuses_a_file_that_is_not_a_component() {
    let world = World::new();
    let file = world.plugins().join("garbage.wasm");
    std::fs::write(&file, b"not wasm at all").unwrap();
    let out = world.cli(&["plugins", "check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a WebAssembly component"), "{stderr}");

    let missing = world.cli(&["plugins", "check", "/nonexistent/x.wasm"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.wasm"));
}

#[test]
fn the_daemon_refuses_a_plugin_with_an_import_it_does_not_offer_and_names_it() {
    let world = World::new();
    world.install_plugin("echo");
    let daemon = world.start_daemon(&[]);
    world.install("extra/needs_vault.wasm", "needs_vault.wasm");
    daemon.wait_for_log("plugin not loaded", Duration::from_secs(30));
    let log = daemon.log_text();
    assert!(log.contains("needs_vault.wasm"), "{log}");
    assert!(log.contains("acme:vault/secrets"), "{log}");

    let id = world.enqueue("echo", r#"{"beside":"needs_vault"}"#, &[]);
    wait_until("echo to complete", Duration::from_secs(30), || {
        world.job(&id)["job"]["status"] == "completed"
    });
    // Its job type was never loaded: a job for it ends as job_not_found.
    let needs_vault = world.enqueue("needs_vault", "{}", &[]);
    wait_until(
        "needs_vault to be dead-lettered",
        Duration::from_secs(30),
        || world.cli(&["dlq", "show", &needs_vault]).status.success(),
    );
    assert_eq!(
        world.dead(&needs_vault)["dead_letter"]["reason"],
        "job_not_found"
    );
}
