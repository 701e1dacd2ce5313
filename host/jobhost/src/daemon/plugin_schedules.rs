//! The cron schedules a plugin declares in `describe`, written to the database when a
//! daemon loads the plugin. Every daemon that loads it writes the same rows (the store
//! keeps a schedule's next run unless its expression or zone changed), so they agree,
//! and each firing is still enqueued once (see `cron.rs`). A declared schedule whose
//! expression, zone or payload is wrong is logged and left out; one whose name an
//! operator's schedule holds is logged and left alone.

use jobhost_runtime::{Plugin, ScheduleSpec};
use jobhost_store::{CronSchedule, DEFAULT_QUEUE, Micros, Store, now_micros, schedule_by_plugin};
use tracing::{error, warn};

use crate::config::DEFAULT_MAX_ATTEMPTS;
use crate::queue::schedule::{DEFAULT_TIMEZONE, Schedule};

/// The row a declared schedule becomes, or why it cannot be one.
pub fn schedule_row(
    plugin: &Plugin,
    s: &ScheduleSpec,
    now: Micros,
) -> Result<CronSchedule, String> {
    let timezone = s
        .timezone
        .clone()
        .unwrap_or_else(|| DEFAULT_TIMEZONE.into());
    let next_run_at = Schedule::parse_in(&s.expression, &timezone)?
        .next_after(now)
        .ok_or_else(|| format!("the cron expression {:?} never fires", s.expression))?;
    let own_type = plugin.job_type(&s.job_type);
    if let Some(spec) = own_type {
        let payload = serde_json::from_str(&s.payload).map_err(|e| e.to_string())?;
        spec.validate_payload(&payload).map_err(|e| e.to_string())?;
    }
    Ok(CronSchedule {
        name: s.name.clone(),
        expr: s.expression.clone(),
        timezone,
        source: schedule_by_plugin(plugin.name()),
        job_type: s.job_type.clone(),
        payload: s.payload.clone(),
        queue: DEFAULT_QUEUE.into(),
        priority: 0,
        max_attempts: own_type
            .and_then(|t| t.max_attempts)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS),
        paused: false,
        next_run_at,
        last_run_at: None,
        created_at: now,
    })
}

/// Writes the plugin's schedules, and removes those its earlier versions declared and
/// this one does not.
pub async fn sync(store: &dyn Store, plugin: &Plugin) {
    let now = now_micros();
    let mut rows = Vec::new();
    for s in plugin.schedules() {
        match schedule_row(plugin, s, now) {
            Ok(row) => rows.push(row),
            Err(e) => error!(
                plugin = plugin.name(),
                schedule = %s.name,
                "the plugin's schedule is left out: {e}"
            ),
        }
    }
    match store
        .sync_plugin_schedules(&schedule_by_plugin(plugin.name()), &rows)
        .await
    {
        Ok(held) => {
            for name in held {
                warn!(
                    plugin = plugin.name(),
                    schedule = %name,
                    "another schedule holds this name; the plugin's is not written"
                );
            }
        }
        Err(e) => error!(
            plugin = plugin.name(),
            "could not write the plugin's schedules to the database: {e}"
        ),
    }
}
