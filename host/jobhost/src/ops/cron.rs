//! Cron schedules as `jobhost cron` and the API's `/cron` routes both change them: a new
//! schedule is checked like an enqueue, once, so every firing makes a valid job; a
//! resumed one goes on from its next time after now.

use jobhost_store::{CronSchedule, Micros, SCHEDULE_BY_OPERATOR, Store, StoreError, now_micros};

use super::enqueue::TypeRules;
use crate::queue::EnqueueRequest;
use crate::queue::schedule::Schedule;

#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("{0}")]
    Invalid(String),
    #[error("no schedule is named {0:?}: `jobhost cron list` shows them")]
    NotFound(String),
    #[error("a schedule named {0:?} exists already: remove it first or pick another name")]
    Exists(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The first firing after now of `expr` read in `timezone` (an IANA name such as
/// `Europe/Paris`, or `UTC`), or why there is none.
pub fn next_run(expr: &str, timezone: &str) -> Result<Micros, CronError> {
    Schedule::parse_in(expr, timezone)
        .map_err(|e| CronError::Invalid(e.to_string()))?
        .next_after(now_micros())
        .ok_or_else(|| CronError::Invalid(format!("the cron expression {expr:?} never fires")))
}

/// Checks the schedule (its expression, and its job as an enqueue would) and adds it.
pub async fn add(
    store: &dyn Store,
    name: &str,
    expr: &str,
    timezone: &str,
    request: EnqueueRequest,
    rules: &TypeRules,
) -> Result<CronSchedule, CronError> {
    let next_run_at = next_run(expr, timezone)?;
    let now = now_micros();
    let job = request
        .into_new_job(rules.schema.as_ref(), rules.default_max_attempts, now)
        .map_err(|e| CronError::Invalid(format!("{e}; no schedule was added")))?;
    let schedule = CronSchedule {
        name: name.to_string(),
        expr: expr.to_string(),
        timezone: timezone.to_string(),
        source: SCHEDULE_BY_OPERATOR.to_string(),
        job_type: job.job_type,
        payload: job.payload,
        queue: job.queue,
        priority: job.priority,
        max_attempts: job.max_attempts,
        paused: false,
        next_run_at,
        last_run_at: None,
        created_at: now,
    };
    match store.add_schedule(&schedule).await {
        Err(StoreError::Exists { .. }) => Err(CronError::Exists(name.to_string())),
        other => Ok(other.map(|()| schedule)?),
    }
}

pub async fn remove(store: &dyn Store, name: &str) -> Result<(), CronError> {
    found(store.remove_schedule(name).await?, name)
}

pub async fn pause(store: &dyn Store, name: &str) -> Result<(), CronError> {
    found(store.set_schedule_paused(name, true, 0).await?, name)
}

/// Resumes a schedule from its next time after now; returns that time.
pub async fn resume(store: &dyn Store, name: &str) -> Result<Micros, CronError> {
    let schedules = store.list_schedules().await?;
    let Some(schedule) = schedules.into_iter().find(|s| s.name == name) else {
        return Err(CronError::NotFound(name.to_string()));
    };
    let next_run_at = next_run(&schedule.expr, &schedule.timezone)?;
    found(
        store.set_schedule_paused(name, false, next_run_at).await?,
        name,
    )?;
    Ok(next_run_at)
}

fn found(found: bool, name: &str) -> Result<(), CronError> {
    if found {
        Ok(())
    } else {
        Err(CronError::NotFound(name.to_string()))
    }
}
