//! Throwaway PostgreSQL databases for tests: each test creates its own, so tests run in
//! parallel without seeing each other's rows, and drops it when done, so a run leaves
//! nothing behind (a run killed outright may leave a `jobhost_test_*` database).
//!
//! The server is the one [`ADMIN_URL_ENV`] names, by default [`DEFAULT_ADMIN_URL`] (the
//! project's machines run PostgreSQL there, trust auth, user `postgres`). A test that
//! needs PostgreSQL and cannot reach it fails with a message saying so: it never skips.
//!
//! The work happens on a thread of its own with its own small runtime, so these calls
//! are the same from a plain `#[test]` and from inside a tokio runtime.

use sqlx::{Connection, Executor, PgConnection};

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
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(sqlx::Error::Io)?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&admin_url).await?;
            conn.execute(sql.as_str()).await?;
            conn.close().await
        })
    })
    .join()
    .unwrap_or_else(|_| Err(sqlx::Error::Protocol("the admin thread panicked".into())))
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
