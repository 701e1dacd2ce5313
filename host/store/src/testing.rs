//! Throwaway PostgreSQL databases for tests: each test creates its own, so tests run in
//! parallel without seeing each other's rows, and drops it when done, so a run leaves
//! nothing behind (a run killed outright may leave a `jobhost_test_*` database).
//!
//! The server is the one [`ADMIN_URL_ENV`] names, by default [`DEFAULT_ADMIN_URL`] (the
//! project's machines run PostgreSQL there, trust auth, user `postgres`). A test that
//! needs PostgreSQL and cannot reach it fails with a message saying so: it never skips.
//!
//! For tests of upgrades, [`migrate_up_to`] leaves a database (of either backend) at an
//! older schema version, and [`record_unknown_migration`] makes it look migrated by a
//! newer build.
//!
//! The work happens on a thread of its own with its own small runtime, so these calls
//! are the same from a plain `#[test]` and from inside a tokio runtime.

use std::borrow::Cow;
use std::future::Future;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection, Executor, PgConnection, SqliteConnection};

/// The environment variable that names the server (any database on it) to create test
/// databases through.
pub const ADMIN_URL_ENV: &str = "JOBHOST_TEST_PG";
/// The server tests use when [`ADMIN_URL_ENV`] is not set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The URL test databases are created through.
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// A fresh, empty (unmigrated) database, dropped with this guard.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `jobhost_test_<unique>` on the server [`admin_url`] names.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses: the test needing it fails.
    pub fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("jobhost_test_{}", uuid::Uuid::now_v7().simple());
        let url = with_database(&admin_url, &name);
        let sql = format!(r#"CREATE DATABASE "{name}""#);
        if let Err(e) = on_admin_connection(&admin_url, sql) {
            panic!(
                "cannot create a test database on the PostgreSQL server at {} ({e}). \
                 The tests need a PostgreSQL server: start one there (trust auth, user \
                 postgres), or set {ADMIN_URL_ENV} to the URL of one.",
                crate::redact_url(&admin_url)
            );
        }
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cuts every connection to this database (`pg_terminate_backend`), as a failover
    /// or a network fault would; the server and other databases are left alone. Returns
    /// how many it cut.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn terminate_connections(&self) -> u64 {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let cut = on_own_thread(async move {
            let mut conn = PgConnection::connect(&admin_url).await?;
            let cut: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()) AS cut",
            )
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
            conn.close().await?;
            Ok(cut)
        });
        cut.unwrap_or_else(|e| panic!("terminating the connections to {}: {e}", self.name)) as u64
    }
}

/// The sessions that have ended on a database, as the server counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSessions {
    pub total: u64,
    /// Those whose client went away without ending the session: the server logs each
    /// as a reset connection ("could not receive data from client").
    pub abandoned: u64,
}

impl TestDatabase {
    /// The sessions that have ended on this database, once none is open any more and
    /// the server's counts have settled.
    ///
    /// # Panics
    /// When the server cannot be reached, or sessions are still open after 10 s.
    pub fn ended_sessions(&self) -> EndedSessions {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let read = on_own_thread(async move {
            let mut conn = PgConnection::connect(&admin_url).await?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut last = None;
            loop {
                let (open, total, abandoned): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1), \
                     sessions, sessions_abandoned FROM pg_stat_database WHERE datname = $1",
                )
                .bind(&name)
                .fetch_one(&mut conn)
                .await?;
                let now = (open, total, abandoned);
                // Settled: nothing open, and the counts the same as a moment ago (a
                // backend reports its end as it exits).
                if open == 0 && last == Some(now) {
                    conn.close().await?;
                    return Ok(Some(EndedSessions {
                        total: total as u64,
                        abandoned: abandoned as u64,
                    }));
                }
                if std::time::Instant::now() > deadline {
                    return Ok(None);
                }
                last = Some(now);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        match read {
            Ok(Some(sessions)) => sessions,
            Ok(None) => panic!("sessions on {} were still open after 10 s", self.name),
            Err(e) => panic!("reading the sessions of {}: {e}", self.name),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE closes whatever connections are still open on it (a store's pool, a
        // daemon killed a moment ago).
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        if let Err(e) = on_admin_connection(&self.admin_url, sql) {
            // A panic here, while a failed test unwinds, would abort the whole run.
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs one statement on a fresh connection to the admin database.
fn on_admin_connection(admin_url: &str, sql: String) -> Result<(), sqlx::Error> {
    let admin_url = admin_url.to_string();
    on_own_thread(async move {
        let mut conn = PgConnection::connect(&admin_url).await?;
        conn.execute(sql.as_str()).await?;
        conn.close().await
    })
}

/// Runs `work` to completion on a thread of its own, in a runtime of its own.
fn on_own_thread<T: Send + 'static>(
    work: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T, sqlx::Error> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(sqlx::Error::Io)?;
        runtime.block_on(work)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(sqlx::Error::Protocol(
            "the test helper's thread panicked".into(),
        ))
    })
}

/// Adds `n` completed jobs (type `noop`) to the migrated PostgreSQL database at `url`, as
/// months of finished work would leave them, and analyzes the table as autovacuum
/// would: for measuring what finished rows cost the claims. Then it checkpoints, so that
/// what is measured next does not share the machine with a checkpoint the rows set off
/// (a million of them write most of `max_wal_size`'s default). Called with no rows, it
/// leaves the table in the same state as with many: analyzed, and just checkpointed
/// (after which the first change to each page logs the whole page, in both cases).
///
/// # Panics
/// When the database cannot be written.
pub fn add_completed_jobs(url: &str, n: u64) {
    let owned_url = url.to_string();
    let done = on_own_thread(async move {
        let mut conn = PgConnection::connect(&owned_url).await?;
        let insert = sqlx::query(
            "INSERT INTO jobs (id, job_type, queue, payload, priority, status, attempt, \
             max_attempts, run_at, created_at, started_at, finished_at, completed_by, result) \
             SELECT 'done-' || n, 'noop', 'default', '{}', 0, 'completed', 1, 3, n, n, n, n, \
             'bench', 'null' FROM generate_series(1, $1) AS n",
        )
        .bind(n as i64);
        conn.execute(insert).await?;
        conn.close().await
    });
    done.unwrap_or_else(|e| panic!("adding {n} completed jobs: {e}"));
    vacuum_and_checkpoint(url);
}

/// Vacuums and analyzes `jobs` in the PostgreSQL database at `url`, as autovacuum
/// would, then checkpoints: so that what is measured next starts from a tidy table and
/// shares the machine with neither autovacuum nor a checkpoint that earlier writes set
/// off.
///
/// # Panics
/// When the database cannot be reached.
pub fn vacuum_and_checkpoint(url: &str) {
    let url = url.to_string();
    let done = on_own_thread(async move {
        let mut conn = PgConnection::connect(&url).await?;
        conn.execute("VACUUM ANALYZE jobs").await?;
        conn.execute("CHECKPOINT").await?;
        conn.close().await
    });
    done.unwrap_or_else(|e| panic!("vacuuming jobs: {e}"));
}

/// How long each of `n` bare commits took, in microseconds, `spacing` apart: each a
/// transaction that takes a transaction id, so its commit waits for the server's WAL
/// to reach the disk, as an enqueue's does. For telling the server's (and its disk's)
/// own commit latency from what jobhost adds to it.
///
/// # Panics
/// When the database cannot be reached.
pub fn commit_times(url: &str, n: usize, spacing: std::time::Duration) -> Vec<i64> {
    let url = url.to_string();
    let timed = on_own_thread(async move {
        let mut conn = PgConnection::connect(&url).await?;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let start = std::time::Instant::now();
            conn.execute("SELECT txid_current()").await?;
            times.push(start.elapsed().as_micros() as i64);
            tokio::time::sleep(spacing).await;
        }
        conn.close().await?;
        Ok(times)
    });
    timed.unwrap_or_else(|e| panic!("timing commits: {e}"))
}

/// The version of a migration no build of jobhost has: [`record_unknown_migration`]'s.
pub const UNKNOWN_MIGRATION: i64 = 9999;

/// Records in the database at `url` (either backend) a migration this build does not
/// know, version [`UNKNOWN_MIGRATION`], as a newer jobhost would have left it.
///
/// # Panics
/// When the database cannot be opened or written.
pub fn record_unknown_migration(url: &str) {
    const SQL: &str = "INSERT INTO _sqlx_migrations \
         (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer jobhost', TRUE, $2, 0)";
    let url = url.to_string();
    let done = on_own_thread(async move {
        let checksum = vec![0u8; 48];
        if crate::is_postgres(&url) {
            let mut conn = PgConnection::connect(&url).await?;
            let insert = sqlx::query(SQL).bind(UNKNOWN_MIGRATION).bind(checksum);
            conn.execute(insert).await?;
        } else {
            let mut conn = sqlite_connection(&url).await?;
            let insert = sqlx::query(SQL).bind(UNKNOWN_MIGRATION).bind(checksum);
            conn.execute(insert).await?;
        }
        Ok(())
    });
    done.unwrap_or_else(|e| panic!("recording an unknown migration: {e}"));
}

/// Applies to the database at `url` (either backend) only the migrations up to
/// `version`: a database as an older build of jobhost left it.
///
/// # Panics
/// When the database cannot be opened or migrated.
pub fn migrate_up_to(url: &str, version: i64) {
    fn older(migrator: &Migrator, version: i64) -> Migrator {
        let migrations = migrator.iter().filter(|m| m.version <= version);
        Migrator {
            migrations: Cow::Owned(migrations.cloned().collect()),
            ..Migrator::DEFAULT
        }
    }
    let url = url.to_string();
    let done = on_own_thread(async move {
        let migrated = if crate::is_postgres(&url) {
            let pool = sqlx::PgPool::connect(&url).await?;
            let migrated = older(&crate::postgres::schema::MIGRATOR, version)
                .run(&pool)
                .await;
            pool.close().await;
            migrated
        } else {
            let mut conn = sqlite_connection(&url).await?;
            older(&crate::sqlite::schema::MIGRATOR, version)
                .run_direct(&mut conn)
                .await
        };
        migrated.map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    });
    done.unwrap_or_else(|e| panic!("migrating up to version {version}: {e}"));
}

async fn sqlite_connection(url: &str) -> Result<SqliteConnection, sqlx::Error> {
    let path = crate::sqlite::path_of(url)
        .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_test_database_url_keeps_everything_but_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
