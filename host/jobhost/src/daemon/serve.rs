//! Start-up and shutdown, in order. Start: open and migrate the database, register,
//! rescue what dead daemons left running, load every plugin, then start claiming and
//! firing cron schedules. Stop: stop claiming, drain the pool within the grace period,
//! deregister.

use std::sync::Arc;

use anyhow::{Context, Result};
use jobhost_runtime::{Registry, Runtime};
use jobhost_store::{Store, WorkerInfo};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::{cron, liveness, maintenance, open_store, plugins, signal, wake};
use crate::api::ApiContext;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::worker::{PoolContext, StoreKv, WorkerPool};

/// A running daemon: what `serve` runs until a signal, and what tests start in-process.
pub struct Daemon {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub worker: WorkerInfo,
    config: Config,
    pool: WorkerPool,
    liveness: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
    http: Option<crate::api::Running>,
    cron: tokio::task::JoinHandle<()>,
    _plugin_watcher: jobhost_runtime::Watcher,
    _db_watcher: Option<notify::RecommendedWatcher>,
    db_listener: Option<wake::Listening>,
}

impl Daemon {
    pub async fn start(config: Config) -> Result<Daemon> {
        config.validate().context("invalid configuration")?;
        let store = open_store(&config).await?;
        let worker = liveness::this_worker();
        store
            .register_worker(&worker)
            .await
            .context("registering this daemon")?;
        liveness::rescue(store.as_ref(), &worker, config.stale_after).await?;

        std::fs::create_dir_all(&config.plugins_dir).with_context(|| {
            format!(
                "creating the plugins directory {}",
                config.plugins_dir.display()
            )
        })?;
        let kv = Arc::new(StoreKv::new(store.clone()));
        let runtime = Runtime::with_kv(config.runtime_config(true), kv.clone())
            .context("starting the WebAssembly runtime")?;
        let registry = Arc::new(Registry::new(runtime.clone(), config.plugins_dir.clone()));
        plugins::load_all(store.as_ref(), registry.clone()).await;
        let plugin_watcher =
            plugins::watch(store.clone(), &registry).context("watching the plugins directory")?;

        let wake = Arc::new(Notify::new());
        let db_watcher = match store.change_file() {
            Some(file) => Some(wake::watch_file(&file, wake.clone())?),
            None => None,
        };
        // Listening starts before the first claim, so no notification falls between.
        let db_listener = store
            .subscribe_changes()
            .await
            .context("listening to the database for new work")?
            .map(|changes| wake::listen(changes, wake.clone()));
        let metrics = Arc::new(Metrics::new());
        let ctx = Arc::new(PoolContext {
            store: store.clone(),
            runtime,
            registry: registry.clone(),
            config: config.clone(),
            worker_id: worker.id.clone(),
            wake,
            kv,
            metrics: metrics.clone(),
        });
        let pool = WorkerPool::start(ctx);
        let liveness = tokio::spawn(liveness::run(
            store.clone(),
            worker.clone(),
            config.heartbeat_interval,
            config.stale_after,
        ));
        let maintenance = tokio::spawn(maintenance::run(
            store.clone(),
            config.retain_completed,
            config.maintenance_interval,
        ));
        let http = match &config.http {
            Some(http) => {
                let context = ApiContext {
                    store: store.clone(),
                    registry: Some(registry.clone()),
                    metrics,
                };
                Some(crate::api::start(http, context).await?)
            }
            None => None,
        };
        let cron = tokio::spawn(cron::run(store.clone(), config.poll_interval));
        let job_types: Vec<String> = registry
            .plugins()
            .iter()
            .flat_map(|p| p.job_types().iter().map(|t| t.name.clone()))
            .collect();
        info!(
            worker = %worker.id,
            concurrency = config.concurrency,
            plugins = registry.plugins().len(),
            ?job_types,
            "daemon ready"
        );
        Ok(Daemon {
            store,
            registry,
            worker,
            config,
            pool,
            liveness,
            maintenance,
            http,
            cron,
            _plugin_watcher: plugin_watcher,
            _db_watcher: db_watcher,
            db_listener,
        })
    }

    /// Stops claiming, lets running attempts finish within the grace period, puts the
    /// rest back, and deregisters.
    pub async fn stop(self) {
        info!(grace = ?self.config.shutdown_grace, "stopping: no new claims");
        self.pool.shutdown(self.config.shutdown_grace).await;
        self.cron.abort();
        self.liveness.abort();
        self.maintenance.abort();
        drop(self.http);
        if let Err(e) = self.store.remove_worker(&self.worker.id).await {
            warn!("could not deregister this daemon: {e}");
        }
        if let Some(listening) = self.db_listener {
            listening.stop().await;
        }
        self.store.close().await;
        info!("stopped");
    }
}

/// `jobhost serve`: runs until SIGINT or SIGTERM, then stops gracefully.
pub async fn serve(config: Config) -> Result<()> {
    let mut signals = signal::StopSignals::install()?;
    let daemon = Daemon::start(config).await?;
    let signal = signals.recv().await;
    info!("{signal} received");
    daemon.stop().await;
    Ok(())
}
