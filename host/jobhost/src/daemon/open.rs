//! Opening the database, and what each command does about its schema.
//!
//! No command runs against a database a newer build migrated: it says which version it
//! found, which it knows, and what to do. `jobhost migrate` applies this build's
//! migrations explicitly. Every other command (`serve` included) migrates a database by
//! itself only where that surprises no one:
//! - a fresh database (no jobhost tables yet), on either backend, so a first `serve` or
//!   `enqueue` just works;
//! - a SQLite file that is behind, since it belongs to the one host using it.
//!
//! A PostgreSQL database that is behind is refused with "run `jobhost migrate`": it is
//! shared by several daemons, and its schema should change when an operator says so
//! (before rolling the daemons onto the new build), not when the first upgraded daemon
//! happens to start.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use jobhost_store::{ConnectOptions, SchemaVersion, Store, redact_url};

use crate::config::Config;

/// Connects to the configured database without looking at its schema.
pub async fn connect(config: &Config) -> Result<Arc<dyn Store>> {
    let options = ConnectOptions {
        sqlite_synchronous: config.sqlite_synchronous,
        max_connections: config.db_pool_size,
    };
    jobhost_store::connect(&config.db_url, &options)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&config.db_url)))
}

/// Opens the database for a command other than `migrate`: refuses a schema this build
/// does not know, migrates where the module's rules allow, refuses the rest.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let store = connect(config).await?;
    let version = store
        .schema_version()
        .await
        .context("reading the database's schema version")?;
    version.refuse_newer()?;
    if version.is_current() {
        return Ok(store);
    }
    let shared = jobhost_store::is_postgres(&config.db_url);
    if let (Some(found), true) = (version.found, shared) {
        bail!(
            "the database's schema is at version {found} and this build of jobhost needs \
             version {known}: run `jobhost migrate` (with this build) to bring it up to \
             date, then start the daemons. A shared PostgreSQL database is migrated only \
             when asked to",
            known = version.known
        );
    }
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// `jobhost migrate`: applies the migrations the database lacks; returns the version it
/// was at and the one it is at now.
pub async fn migrate(config: &Config) -> Result<(SchemaVersion, SchemaVersion)> {
    let store = connect(config).await?;
    let before = store
        .schema_version()
        .await
        .context("reading the database's schema version")?;
    store.migrate().await.context("migrating the database")?;
    let after = store
        .schema_version()
        .await
        .context("reading the database's schema version")?;
    store.close().await;
    Ok((before, after))
}
