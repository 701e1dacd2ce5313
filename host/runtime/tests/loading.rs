//! Loading plugins: what `describe` declares, schemas that name the failing field, the
//! compile cache, manifests, and the registry's hot reload rules.

mod common;

use std::fs;

use common::{completed, dist, load, run, runtime};
use jobhost_runtime::{LoadError, Registry, RegistryEvent, Runtime, RuntimeConfig};
use serde_json::json;

#[test]
fn describe_declares_types_limits_and_schemas() {
    let rt = runtime();
    let looping = load(&rt, "loop_forever");
    let names: Vec<&str> = looping
        .job_types()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["loop_forever", "loop_until_deadline"]);
    assert_eq!(
        looping.job_type("loop_forever").unwrap().limits.fuel,
        100_000_000
    );
    let deadline = looping.job_type("loop_until_deadline").unwrap();
    assert_eq!(deadline.limits.timeout.as_millis(), 300);
    assert_eq!(
        deadline.limits.memory_mib,
        jobhost_runtime::DEFAULT_MEMORY_MIB
    );
    assert_eq!(looping.digest().len(), 64);
    assert_eq!(
        load(&rt, "flaky").job_type("flaky").unwrap().max_attempts,
        Some(5)
    );
}

#[test]
fn a_payload_against_the_schema_is_refused_naming_the_field() {
    let rt = runtime();
    let email = load(&rt, "send_email");
    let spec = email.job_type("send_email").unwrap();
    let good = json!({"to": "a@example.com", "subject": "hi"});
    assert!(spec.validate_payload(&good).is_ok());
    let err = spec
        .validate_payload(&json!({"to": "nobody", "subject": "hi"}))
        .unwrap_err();
    assert!(err.to_string().contains("field `/to`"), "{err}");
    let err = spec
        .validate_payload(&json!({"to": "a@example.com"}))
        .unwrap_err();
    assert!(err.to_string().contains("subject"), "{err}");
}

#[test]
fn a_second_runtime_loads_from_the_compile_cache_and_survives_a_corrupt_entry() {
    let cache = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        pooling: false,
        ..RuntimeConfig::default()
    };
    let first = Runtime::new(config()).unwrap();
    let echo = first.load_file(&dist().join("echo.wasm")).unwrap();
    let entries: Vec<_> = fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(echo.digest())
    );

    let second = Runtime::new(config()).unwrap();
    let cached = second.load_file(&dist().join("echo.wasm")).unwrap();
    assert_eq!(completed(&run(&second, &cached, "echo", "3").outcome), "3");

    // Corrupt the entry the way a bad disk would leave it: a new file under the name.
    // (Truncating it in place would pull the pages from under the runtimes that have
    // it mapped; jobhost itself only ever replaces cache files by rename.)
    let corrupt = cache.path().join("corrupt");
    fs::write(&corrupt, b"not a compiled component").unwrap();
    fs::rename(&corrupt, &entries[0]).unwrap();
    let third = Runtime::new(config()).unwrap();
    let recompiled = third.load_file(&dist().join("echo.wasm")).unwrap();
    assert_eq!(
        completed(&run(&third, &recompiled, "echo", "4").outcome),
        "4"
    );
}

#[test]
fn garbage_is_refused_with_a_clear_error() {
    let rt = runtime();
    let err = rt
        .load_bytes("junk.wasm", b"\0asm\x01\0\0\0garbage")
        .unwrap_err();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("junk.wasm"));
}

#[test]
fn a_manifest_overrides_limits_and_rejects_unknown_keys() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("loop_forever.wasm");
    fs::copy(dist().join("loop_forever.wasm"), &wasm).unwrap();
    fs::write(
        dir.path().join("loop_forever.toml"),
        "[limits]\nmemory_mib = 16\n\n[types.loop_forever]\nfuel = 5000\n",
    )
    .unwrap();
    let plugin = rt.load_file(&wasm).unwrap();
    let looping = plugin.job_type("loop_forever").unwrap();
    assert_eq!((looping.limits.fuel, looping.limits.memory_mib), (5000, 16));
    let deadline = plugin.job_type("loop_until_deadline").unwrap();
    assert_eq!(deadline.limits.memory_mib, 16);
    assert_eq!(
        deadline.limits.timeout.as_millis(),
        300,
        "the plugin's own limit stays"
    );

    fs::write(
        dir.path().join("loop_forever.toml"),
        "[limits]\nfuell = 5\n",
    )
    .unwrap();
    let err = rt.load_file(&wasm).unwrap_err();
    assert!(matches!(err, LoadError::BadManifest { .. }), "{err}");
    assert!(err.to_string().contains("fuell"), "{err}");
}

#[test]
fn flow_limits_unique_fields_and_schedules_come_from_describe_and_the_manifest() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("overlap.wasm");
    fs::copy(dist().join("overlap.wasm"), &wasm).unwrap();
    let plugin = rt.load_file(&wasm).unwrap();
    let limited = plugin.job_type("overlap_limited").unwrap();
    assert_eq!(
        (limited.rate_per_minute, limited.concurrency),
        (None, Some(2))
    );
    let keyed = plugin.job_type("overlap_keyed").unwrap();
    assert_eq!(keyed.unique_key_fields, ["key"]);
    let payload = serde_json::json!({ "key": "a", "ms": 3 });
    assert_eq!(keyed.default_unique_key(&payload).as_deref(), Some("a"));
    let schedules = plugin.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(
        (schedules[0].name.as_str(), schedules[0].timezone.as_deref()),
        ("overlap_new_year", Some("Europe/Paris"))
    );

    // The manifest overrides the declared concurrency, adds a rate, and 0 lifts a limit.
    fs::write(
        dir.path().join("overlap.toml"),
        "[limits]
rate_per_minute = 30

[types.overlap_limited]
concurrency = 0
",
    )
    .unwrap();
    let plugin = rt.load_file(&wasm).unwrap();
    let limited = plugin.job_type("overlap_limited").unwrap();
    assert_eq!(
        (limited.rate_per_minute, limited.concurrency),
        (Some(30), None)
    );
    let plain = plugin.job_type("overlap").unwrap();
    assert_eq!((plain.rate_per_minute, plain.concurrency), (Some(30), None));

    fs::write(
        dir.path().join("overlap.toml"),
        "[limits]
rate = 30
",
    )
    .unwrap();
    let err = rt.load_file(&wasm).unwrap_err();
    assert!(matches!(err, LoadError::BadManifest { .. }), "{err}");
}

fn loaded(events: &[RegistryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RegistryEvent::Loaded { plugin, .. } => Some(plugin.file_name().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_registry_follows_the_directory() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(rt.clone(), dir.path().to_path_buf());
    assert!(registry.sync().is_empty());

    fs::copy(
        dist().join("repairable.wasm"),
        dir.path().join("repairable.wasm"),
    )
    .unwrap();
    assert_eq!(loaded(&registry.sync()), ["repairable.wasm"]);
    assert!(
        registry.sync().is_empty(),
        "an unchanged file is not reloaded"
    );
    let v1 = registry.get("repairable").unwrap();
    assert_eq!(v1.version(), "1.0.0");

    // Replace it: the new version serves, and the old one still runs for whoever holds it.
    fs::copy(
        dist().join("extra/repairable.wasm"),
        dir.path().join("repairable.wasm"),
    )
    .unwrap();
    let events = registry.sync();
    assert!(
        matches!(&events[..], [RegistryEvent::Loaded { replaced: Some(old), .. }] if old.digest() == v1.digest())
    );
    let v2 = registry.get("repairable").unwrap();
    assert_eq!(v2.version(), "2.0.0");
    assert!(matches!(
        run(&rt, &v1, "repairable", "{}").outcome,
        jobhost_runtime::Outcome::Fail(_)
    ));
    completed(&run(&rt, &v2, "repairable", "{}").outcome);

    // Corrupt it: reported, and v2 keeps serving.
    fs::write(dir.path().join("repairable.wasm"), b"broken").unwrap();
    let events = registry.sync();
    assert!(
        matches!(&events[..], [RegistryEvent::Failed { file_name, .. }] if file_name == "repairable.wasm")
    );
    assert_eq!(registry.get("repairable").unwrap().digest(), v2.digest());

    // A second file claiming the same type is refused, naming both files.
    fs::copy(
        dist().join("extra/repairable.wasm"),
        dir.path().join("repairable-copy.wasm"),
    )
    .unwrap();
    fs::copy(
        dist().join("repairable.wasm"),
        dir.path().join("repairable.wasm"),
    )
    .unwrap();
    let events = registry.sync();
    let refusal = events.iter().find_map(|e| match e {
        RegistryEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert!(
        refusal.is_some_and(|e| e.contains("already served by")),
        "{events:?}"
    );

    // Removing the files removes the type.
    fs::remove_file(dir.path().join("repairable.wasm")).unwrap();
    fs::remove_file(dir.path().join("repairable-copy.wasm")).unwrap();
    registry.sync();
    assert!(registry.get("repairable").is_none());
}
