//! This daemon's registration and heartbeat, and the rescue of jobs left `running` by
//! daemons that died: at start (a dead process on this host is known at once) and
//! periodically (a daemon anywhere whose heartbeat stopped).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use jobhost_store::{Micros, RescueParams, Store, StoreError, WorkerInfo, now_micros};
use tracing::{info, warn};

pub fn this_worker() -> WorkerInfo {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let pid = std::process::id();
    let now = now_micros();
    WorkerInfo {
        id: format!("{host}:{pid}:{}", &jobhost_store::new_job_id()[24..]),
        host,
        pid,
        started_at: now,
        heartbeat_at: now,
    }
}

/// Workers registered from this host whose process is gone.
async fn dead_local_workers(store: &dyn Store, me: &WorkerInfo) -> Result<Vec<String>> {
    let workers = store.list_workers().await.context("listing workers")?;
    Ok(workers
        .into_iter()
        .filter(|w| w.host == me.host && w.id != me.id)
        .filter(|w| w.pid == me.pid || !process_alive(w.pid))
        .map(|w| w.id)
        .collect())
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn micros(d: Duration) -> Micros {
    d.as_micros() as Micros
}

/// Rescues the jobs of dead local workers and of any worker silent for `stale_after`.
pub async fn rescue(store: &dyn Store, me: &WorkerInfo, stale_after: Duration) -> Result<()> {
    let now = now_micros();
    let params = RescueParams {
        now,
        dead_workers: dead_local_workers(store, me).await?,
        stale_before: now - micros(stale_after),
    };
    let report = store
        .rescue(&params)
        .await
        .context("rescuing jobs of dead daemons")?;
    if !report.workers_removed.is_empty() {
        info!(
            workers = ?report.workers_removed,
            requeued = report.requeued.len(),
            dead_lettered = report.dead_lettered.len(),
            "rescued the jobs of daemons that stopped"
        );
    }
    Ok(())
}

/// Beats the heartbeat and sweeps for silent daemons until the task is aborted.
pub async fn run(
    store: Arc<dyn Store>,
    me: WorkerInfo,
    heartbeat_interval: Duration,
    stale_after: Duration,
) {
    let mut ticker = tokio::time::interval(heartbeat_interval);
    loop {
        ticker.tick().await;
        match store.heartbeat_worker(&me.id, now_micros()).await {
            Ok(()) => {}
            // Another daemon took this one for dead (it was silent too long, say while
            // the machine was suspended) and rescued its jobs: register again, or this
            // daemon's new claims would look orphaned too.
            Err(StoreError::NotFound { .. }) => {
                warn!("this daemon was taken for dead; registering again");
                let again = WorkerInfo {
                    heartbeat_at: now_micros(),
                    ..me.clone()
                };
                if let Err(e) = store.register_worker(&again).await {
                    warn!("could not register again: {e}");
                }
            }
            Err(e) => {
                warn!("could not record the heartbeat: {e}");
                continue;
            }
        }
        if let Err(e) = rescue(store.as_ref(), &me, stale_after).await {
            warn!("{e:#}");
        }
    }
}
