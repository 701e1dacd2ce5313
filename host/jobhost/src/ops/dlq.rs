//! Dead letters in bulk: walking the rows a filter selects page by page (keyset, so a
//! walk over 100,000 rows holds one page at a time), replaying them (with a dry run),
//! cleaning up old ones, exporting them.

use std::io::Write;

use jobhost_store::{
    DeadFilter, DeadJob, DeadReason, Micros, ReplayParams, Store, StoreError, new_job_id,
    now_micros,
};
use serde::{Deserialize, Serialize};

/// A dead-letter reason as typed.
pub fn parse_reason(text: &str) -> Result<DeadReason, String> {
    DeadReason::parse(text).ok_or_else(|| {
        let all: Vec<&str> = DeadReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("{text:?} is not a reason; one of: {}", all.join(", "))
    })
}

/// Rows fetched per page.
pub const PAGE: u32 = 1000;

/// The rows a filter selects, newest first, a page at a time.
pub struct Pages {
    filter: DeadFilter,
    /// Rows still wanted; `None`: all of them.
    left: Option<u64>,
    done: bool,
}

impl Pages {
    /// `limit` caps the rows walked (`None`: every row); the filter's own limit and
    /// cursor are replaced.
    pub fn new(filter: &DeadFilter, limit: Option<u64>) -> Pages {
        Pages {
            filter: DeadFilter {
                after: None,
                limit: PAGE,
                ..filter.clone()
            },
            left: limit,
            done: false,
        }
    }

    /// The next page; empty when the walk is over.
    pub async fn next(&mut self, store: &dyn Store) -> Result<Vec<DeadJob>, StoreError> {
        if self.done || self.left == Some(0) {
            return Ok(Vec::new());
        }
        if let Some(left) = self.left {
            self.filter.limit = PAGE.min(left as u32);
        }
        let page = store.list_dead(&self.filter).await?;
        self.done = page.len() < self.filter.limit as usize;
        if let Some(left) = &mut self.left {
            *left -= page.len() as u64;
        }
        self.filter.after = page.last().map(DeadJob::cursor);
        Ok(page)
    }
}

/// What a replay changes about the new job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayOptions {
    pub max_attempts: Option<u32>,
    pub queue: Option<String>,
    pub priority: Option<i32>,
    /// Count on from the attempts the dead job spent instead of starting afresh.
    pub keep_attempts: bool,
}

/// Why this row cannot be replayed with these options, if it cannot.
pub fn replay_problem(dead: &DeadJob, options: &ReplayOptions) -> Option<String> {
    let max_attempts = options.max_attempts.unwrap_or(dead.max_attempts);
    if max_attempts == 0 {
        return Some("--max-attempts must be at least 1".into());
    }
    if options.keep_attempts && dead.attempts >= max_attempts {
        return Some(format!(
            "it spent {} of {} attempts, so with --keep-attempts it would have none left; \
             give --max-attempts above {}, or replay without --keep-attempts",
            dead.attempts, max_attempts, dead.attempts
        ));
    }
    None
}

/// Replays one row: a new pending job, and the row counting the replay. Returns the
/// new job's id.
pub async fn replay(
    store: &dyn Store,
    dead: &DeadJob,
    options: &ReplayOptions,
) -> Result<String, StoreError> {
    let params = ReplayParams {
        dead_id: dead.id.clone(),
        new_job_id: new_job_id(),
        now: now_micros(),
        max_attempts: options.max_attempts,
        queue: options.queue.clone(),
        priority: options.priority,
        keep_attempts: options.keep_attempts,
    };
    store.replay_dead(&params).await?;
    Ok(params.new_job_id)
}

/// What became of one row of a bulk replay.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub dead_id: String,
    /// The new job, or `None` if the row was skipped (see `skipped`).
    pub new_job_id: Option<String>,
    pub skipped: Option<String>,
}

/// The filter a bulk replay walks: only rows that failed before it started, so jobs it
/// replays that fail again are not replayed by the same run.
pub fn bulk_filter(filter: &DeadFilter, started: Micros) -> DeadFilter {
    DeadFilter {
        until: Some(filter.until.map_or(started, |until| until.min(started))),
        ..filter.clone()
    }
}

/// Replays every row the filter selects, one transaction per row, reporting each to
/// `on_row`. Rows these options cannot replay are skipped and reported, not fatal.
pub async fn replay_all(
    store: &dyn Store,
    filter: &DeadFilter,
    options: &ReplayOptions,
    mut on_row: impl FnMut(Replayed),
) -> Result<(), StoreError> {
    let mut pages = Pages::new(filter, None);
    loop {
        let page = pages.next(store).await?;
        if page.is_empty() {
            return Ok(());
        }
        for dead in &page {
            let outcome = match replay_problem(dead, options) {
                Some(problem) => Replayed {
                    dead_id: dead.id.clone(),
                    new_job_id: None,
                    skipped: Some(problem),
                },
                None => Replayed {
                    dead_id: dead.id.clone(),
                    new_job_id: Some(replay(store, dead, options).await?),
                    skipped: None,
                },
            };
            on_row(outcome);
        }
    }
}

/// A bulk replay of more rows than this asks first (the CLI on its terminal or
/// `--yes`; the API `"yes": true`).
pub const CONFIRM_ABOVE: u64 = 100;
/// Rows a dry run names.
pub const DRY_RUN_SHOWN: usize = 20;

/// Why a bulk replay may not go ahead with what it was given, if it may not: it needs a
/// filter or an explicit all.
pub fn bulk_problem(all: bool, narrows: bool) -> Option<&'static str> {
    (!all && !narrows).then_some(
        "name the dead letter to replay, or select rows by type, reason, since, until or \
         reviewed, or ask for all of them",
    )
}

/// The rows a bulk replay takes: those the filter selects that failed before `started`,
/// and, unless `include_replayed`, that were never replayed.
pub fn bulk_selection(filter: &DeadFilter, include_replayed: bool, started: Micros) -> DeadFilter {
    DeadFilter {
        replayed: (!include_replayed).then_some(false),
        ..bulk_filter(filter, started)
    }
}

/// What a bulk replay would do.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub would_replay: u64,
    /// The first [`DRY_RUN_SHOWN`] rows it would replay.
    pub first: Vec<DeadJob>,
    /// Rows these options cannot replay, with the reason.
    pub skipped: Vec<Replayed>,
}

/// Walks the selection without changing anything.
pub async fn dry_run(
    store: &dyn Store,
    filter: &DeadFilter,
    options: &ReplayOptions,
) -> Result<DryRun, StoreError> {
    let mut run = DryRun {
        would_replay: 0,
        first: Vec::new(),
        skipped: Vec::new(),
    };
    let mut pages = Pages::new(filter, None);
    loop {
        let page = pages.next(store).await?;
        if page.is_empty() {
            return Ok(run);
        }
        for dead in page {
            if let Some(problem) = replay_problem(&dead, options) {
                run.skipped.push(Replayed {
                    dead_id: dead.id,
                    new_job_id: None,
                    skipped: Some(problem),
                });
                continue;
            }
            run.would_replay += 1;
            if run.first.len() < DRY_RUN_SHOWN {
                run.first.push(dead);
            }
        }
    }
}

/// Rows deleted per transaction by [`cleanup`].
pub const CLEANUP_BATCH: u32 = 1000;

/// Deletes (or, dry, counts) the dead letters that failed more than `days` days
/// before `now`, [`CLEANUP_BATCH`] to a transaction.
pub async fn cleanup(
    store: &dyn Store,
    days: u32,
    dry_run: bool,
    now: Micros,
) -> Result<u64, StoreError> {
    let filter = DeadFilter {
        until: Some(now - i64::from(days) * 86_400_000_000),
        limit: CLEANUP_BATCH,
        ..DeadFilter::default()
    };
    if dry_run {
        return store.count_dead(&filter).await;
    }
    let mut total = 0;
    loop {
        let deleted = store.purge_dead(&filter).await?;
        total += deleted;
        if deleted < u64::from(filter.limit) {
            return Ok(total);
        }
    }
}

/// How `dlq export` writes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// JSON lines: one JSON object per row, as `dlq show --json` prints the row.
    Json,
    /// CSV with a header line; times are microseconds since the Unix epoch.
    Csv,
}

/// The CSV header: every field of [`DeadJob`], in its order.
const CSV_HEADER: [&str; 19] = [
    "id",
    "job_type",
    "queue",
    "payload",
    "priority",
    "attempts",
    "max_attempts",
    "reason",
    "last_error",
    "plugin_digest",
    "fuel_used",
    "created_at",
    "failed_at",
    "reviewed",
    "reviewed_at",
    "notes",
    "resurrection_count",
    "replayed_job_id",
    "parent_id",
];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("could not write a CSV row: {0}")]
    Csv(#[from] csv::Error),
}

impl ExportFormat {
    /// The media type of an export in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// An export in progress: each call to [`Exporter::next_chunk`] reads one page and
/// returns its rows, written out; so a file or an HTTP response is written as the rows
/// are read, one page in memory at a time.
pub struct Exporter {
    pages: Pages,
    sink: Sink<Buffer>,
    written: u64,
}

/// One page of an export, written out.
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub rows: u64,
}

impl Exporter {
    /// Every row the filter selects (at most `limit`), newest first.
    pub fn new(
        filter: &DeadFilter,
        limit: Option<u64>,
        format: ExportFormat,
    ) -> Result<Exporter, ExportError> {
        Ok(Exporter {
            pages: Pages::new(filter, limit),
            sink: Sink::new(format, Buffer::default())?,
            written: 0,
        })
    }

    /// The next page written out (the CSV header comes with the first); `None` when
    /// every row was.
    pub async fn next_chunk(&mut self, store: &dyn Store) -> Result<Option<Chunk>, ExportError> {
        let page = self.pages.next(store).await?;
        for dead in &page {
            self.sink.write(dead)?;
        }
        self.written += page.len() as u64;
        let bytes = self.sink.take()?;
        if page.is_empty() && bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Chunk {
            bytes,
            rows: page.len() as u64,
        }))
    }
}

/// Writes every row the filter selects (at most `limit`), newest first, calling
/// `on_rows` after each page with its row count; returns how many were written.
pub async fn export(
    store: &dyn Store,
    filter: &DeadFilter,
    limit: Option<u64>,
    format: ExportFormat,
    mut out: impl Write,
    mut on_rows: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let mut exporter = Exporter::new(filter, limit, format)?;
    let mut written = 0;
    while let Some(chunk) = exporter.next_chunk(store).await? {
        out.write_all(&chunk.bytes)?;
        written += chunk.rows;
        on_rows(chunk.rows);
    }
    out.flush()?;
    Ok(written)
}

enum Sink<W: Write> {
    Json(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    fn new(format: ExportFormat, out: W) -> Result<Sink<W>, ExportError> {
        Ok(match format {
            ExportFormat::Json => Sink::Json(out),
            ExportFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                writer.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, dead: &DeadJob) -> Result<(), ExportError> {
        match self {
            Sink::Json(out) => {
                serde_json::to_writer(&mut *out, dead).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(writer) => writer.serialize(dead)?,
        }
        Ok(())
    }

    #[cfg(test)]
    fn finish(self) -> Result<(), ExportError> {
        match self {
            Sink::Json(mut out) => out.flush()?,
            Sink::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

impl Sink<Buffer> {
    /// What was written since the last call.
    fn take(&mut self) -> Result<Vec<u8>, ExportError> {
        let buffer = match self {
            Sink::Json(out) => out.clone(),
            Sink::Csv(writer) => {
                writer.flush()?;
                writer.get_ref().clone()
            }
        };
        let mut bytes = buffer.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::take(&mut *bytes))
    }
}

/// Where an [`Exporter`] writes a page before handing it on: shared, because the CSV
/// writer owns its output and only lends it.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DeadJob {
        DeadJob {
            id: "j1".into(),
            job_type: "echo".into(),
            queue: "default".into(),
            payload: r#"{"to":"a, b"}"#.into(),
            priority: 0,
            attempts: 2,
            max_attempts: 2,
            reason: DeadReason::Timeout,
            last_error: "line one\nline \"two\"".into(),
            plugin_digest: None,
            fuel_used: 7,
            created_at: 1,
            failed_at: 2,
            reviewed: false,
            reviewed_at: None,
            notes: None,
            resurrection_count: 0,
            replayed_job_id: None,
            parent_id: None,
        }
    }

    #[test]
    fn a_csv_row_has_one_field_per_header_column_and_survives_quoting() {
        let mut out = Vec::new();
        let mut sink = Sink::new(ExportFormat::Csv, &mut out).unwrap();
        sink.write(&row()).unwrap();
        sink.finish().unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.iter().collect::<Vec<_>>(), CSV_HEADER);
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(record.len(), CSV_HEADER.len());
        assert_eq!(&record[3], r#"{"to":"a, b"}"#);
        assert_eq!(&record[7], "timeout");
        assert_eq!(&record[8], "line one\nline \"two\"");
    }

    #[test]
    fn keeping_attempts_needs_some_left() {
        let keep = ReplayOptions {
            keep_attempts: true,
            ..ReplayOptions::default()
        };
        assert!(
            replay_problem(&row(), &keep)
                .unwrap()
                .contains("--max-attempts above 2")
        );
        let more = ReplayOptions {
            max_attempts: Some(3),
            ..keep
        };
        assert_eq!(replay_problem(&row(), &more), None);
        assert_eq!(replay_problem(&row(), &ReplayOptions::default()), None);
    }
}
