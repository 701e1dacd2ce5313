//! Schema versions: `jobhost migrate` applies migrations explicitly; no command runs on
//! a database a newer build migrated, and each says what it found, what it knows and
//! what to do; a PostgreSQL database an older build left is refused until migrated,
//! a SQLite one is migrated by whichever command opens it. On both backends.

use std::time::Duration;

use jobhost_store::testing::{UNKNOWN_MIGRATION, migrate_up_to, record_unknown_migration};

use crate::support::World;

const REFUSAL_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema version this build knows, from `jobhost migrate --json` on a fresh database.
fn migrate_fresh(world: &World) -> i64 {
    let out = world.cli_json(&["migrate"]);
    assert!(out["from"].is_null(), "a fresh database: {out}");
    out["to"].as_i64().unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn a_newer_schema_is_refused(world: World) {
    let known = migrate_fresh(&world);
    assert!(
        world.cli_ok(&["migrate"]).contains("is up to date"),
        "migrating again applies nothing"
    );
    record_unknown_migration(&world.db());

    let out = world.serve_refused(REFUSAL_TIMEOUT);
    assert!(!out.status.success());
    let said = stderr(&out);
    for needle in [
        format!("schema is at version {UNKNOWN_MIGRATION}"),
        format!("newer than this build of jobhost knows (version {known})"),
        "Run the newer jobhost here".to_string(),
    ] {
        assert!(
            said.contains(&needle),
            "serve should say {needle:?}: {said}"
        );
    }
    assert!(!said.contains("daemon ready"), "{said}");
    for command in [&["stats"][..], &["migrate"], &["enqueue", "noop", "{}"]] {
        let out = world.cli(command);
        assert!(!out.status.success(), "{command:?} ran on a newer schema");
        assert!(
            stderr(&out).contains(&format!("schema is at version {UNKNOWN_MIGRATION}")),
            "{command:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_database_a_newer_build_migrated_is_refused_on_sqlite() {
    a_newer_schema_is_refused(World::new());
}

#[test]
fn a_database_a_newer_build_migrated_is_refused_on_postgres() {
    a_newer_schema_is_refused(World::on_postgres());
}

#[test]
fn a_postgres_database_an_older_build_left_waits_for_jobhost_migrate() {
    let world = World::on_postgres();
    world.install_plugin("noop");
    migrate_up_to(&world.db(), 5);

    let out = world.serve_refused(REFUSAL_TIMEOUT);
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("schema is at version 5"), "{said}");
    assert!(said.contains("run `jobhost migrate`"), "{said}");
    assert!(!world.cli(&["stats"]).status.success());

    let migrated = world.cli_ok(&["migrate"]);
    assert!(migrated.contains("from schema version 5 to"), "{migrated}");
    let daemon = world.start_daemon(&[]);
    let id = world.enqueue("noop", "{}", &[]);
    crate::support::wait_until("the job to complete", Duration::from_secs(30), || {
        world.job(&id)["job"]["status"] == "completed"
    });
    assert!(daemon.terminate().success());
}

#[test]
fn a_sqlite_file_an_older_build_left_is_migrated_by_the_first_command() {
    let world = World::new();
    migrate_up_to(&world.db(), 5);
    world.cli_ok(&["stats"]);
    let out = world.cli_json(&["migrate"]);
    assert_eq!(out["from"], out["to"], "stats migrated it already: {out}");
    assert!(out["to"].as_i64().unwrap() > 5, "{out}");
}
