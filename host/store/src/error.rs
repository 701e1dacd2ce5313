//! What can go wrong in the store.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A newer jobhost migrated the database: this build does not know its schema.
    #[error(
        "the database's schema is at version {found}, newer than this build of jobhost \
         knows (version {known}): a newer jobhost migrated it. Run the newer jobhost here \
         (upgrade this host), or point --db at another database"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// Other writers kept changing what this one needed; trying again may succeed.
    #[error("{0}")]
    Contended(String),
    #[error("a {what} named {name:?} exists already")]
    Exists { what: &'static str, name: String },
}

/// Adds what the store was doing to a sqlx error: `.map_err(db("claiming jobs"))`.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { context, source }
}
