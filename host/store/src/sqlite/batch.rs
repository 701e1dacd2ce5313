//! Statements over many rows at once: `VALUES (…), (…)` lists and `IN (…)` lists, cut
//! into chunks that stay within SQLite's limit on bound parameters.

use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::Result;
use crate::error::db;
use crate::model::Settlement;

/// Rows per statement. SQLite binds at most 32,766 parameters to one statement; the
/// widest row any batch binds has 10.
pub const CHUNK: usize = 500;

/// Runs `head VALUES (…), (…) tail` for every chunk of `items`.
pub async fn for_chunks<'a, T>(
    conn: &mut SqliteConnection,
    context: &'static str,
    items: &'a [T],
    head: &str,
    tail: &str,
    mut bind: impl FnMut(&mut Separated<'_, 'a, Sqlite, &'static str>, &'a T),
) -> Result<()> {
    for chunk in items.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new(head);
        query.push_values(chunk, |mut row, item| bind(&mut row, item));
        query.push(tail);
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db(context))?;
    }
    Ok(())
}

/// Runs `head (id, id, …)` for every chunk of `settlements`.
pub async fn for_ids(
    conn: &mut SqliteConnection,
    context: &'static str,
    settlements: &[&Settlement],
    head: &str,
) -> Result<()> {
    for chunk in settlements.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new(head);
        query.push(" (");
        let mut ids = query.separated(", ");
        for s in chunk {
            ids.push_bind(&s.record.job_id);
        }
        query.push(")");
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db(context))?;
    }
    Ok(())
}
