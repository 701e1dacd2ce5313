//! Fires due cron schedules. Every daemon does, each poll interval; the store lets one
//! of them enqueue each firing (a conditional UPDATE of the schedule's next run), so
//! several daemons on one database enqueue each firing once. A schedule that missed
//! firings while no daemon ran fires once, then goes on from the present.

use std::sync::Arc;
use std::time::Duration;

use jobhost_store::{CronSchedule, FireParams, Micros, NewJob, Store, new_job_id, now_micros};
use tracing::{info, warn};

use crate::queue::schedule::Schedule;

pub async fn run(store: Arc<dyn Store>, interval: Duration) {
    loop {
        if let Err(e) = fire_due(store.as_ref(), now_micros()).await {
            warn!("could not fire cron schedules, will try again: {e}");
        }
        tokio::time::sleep(interval).await;
    }
}

async fn fire_due(store: &dyn Store, now: Micros) -> jobhost_store::Result<()> {
    for due in store.due_schedules(now).await? {
        let Some(params) = firing(&due, now) else {
            continue;
        };
        if store.fire_schedule(&params).await? {
            info!(schedule = %due.name, job_id = %params.job.id, "cron schedule fired");
        }
    }
    Ok(())
}

/// The firing of a due schedule: its job (due at the time it was scheduled for) and its
/// next run, the first after `now`.
fn firing(due: &CronSchedule, now: Micros) -> Option<FireParams> {
    let next = Schedule::parse_in(&due.expr, &due.timezone)
        .map_err(|e| warn!(schedule = %due.name, "{e}"))
        .ok()?
        .next_after(now);
    let Some(next_run_at) = next else {
        warn!(schedule = %due.name, expr = %due.expr, "the schedule never fires again");
        return None;
    };
    Some(FireParams {
        name: due.name.clone(),
        due_at: due.next_run_at,
        next_run_at,
        job: NewJob {
            id: new_job_id(),
            job_type: due.job_type.clone(),
            queue: due.queue.clone(),
            payload: due.payload.clone(),
            priority: due.priority,
            max_attempts: due.max_attempts,
            run_at: due.next_run_at,
            created_at: now,
            parent_id: None,
            after: vec![],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Micros = 60_000_000;

    #[test]
    fn a_schedule_that_missed_many_firings_fires_once_and_resumes_from_now() {
        let due = CronSchedule {
            name: "every-minute".into(),
            expr: "* * * * *".into(),
            timezone: "UTC".into(),
            source: "operator".into(),
            job_type: "echo".into(),
            payload: "{}".into(),
            queue: "default".into(),
            priority: 0,
            max_attempts: 3,
            paused: false,
            next_run_at: 10 * MINUTE,
            last_run_at: None,
            created_at: 0,
        };
        let now = 100 * MINUTE + 5;
        let params = firing(&due, now).unwrap();
        assert_eq!(params.due_at, 10 * MINUTE);
        assert_eq!(params.job.run_at, 10 * MINUTE);
        assert_eq!(params.next_run_at, 101 * MINUTE);
    }
}
