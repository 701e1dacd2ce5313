//! The store's conformance suite: what every backend must do. Each test is an async fn
//! that talks to a fresh database only through the `Store` trait; `on_every_backend!`
//! at the end runs each one twice, as `sqlite::NAME` (a temp-dir file) and
//! `postgres::NAME` (a database of its own on the test server, see
//! `jobhost_store::testing`). A test fn left out of that list is dead code, which the
//! lint gate refuses: no test runs on one backend only by accident.

use std::collections::HashSet;
use std::sync::Arc;

use jobhost_store::testing::TestDatabase;
use jobhost_store::*;

#[path = "conformance/limits.rs"]
mod limits;
use limits::*;
#[path = "conformance/workflows.rs"]
mod workflows;
use workflows::*;

/// A fresh, migrated database, and what keeps it while the test runs: its temp dir, or
/// its PostgreSQL database (dropped after the store, as fields drop in order).
struct Fresh {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _database: Option<TestDatabase>,
}

/// A fresh SQLite file in a temp dir.
async fn fresh_sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = connect(&url, &ConnectOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    Fresh {
        store,
        _dir: Some(dir),
        _database: None,
    }
}

/// A fresh PostgreSQL database, dropped when the test ends (or fails).
async fn fresh_postgres() -> Fresh {
    let database = TestDatabase::create();
    let store = connect(database.url(), &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Fresh {
        store,
        _dir: None,
        _database: Some(database),
    }
}

/// Generates `mod sqlite` and `mod postgres`, each with one test per name that runs
/// the test fn of that name on a fresh database of its backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fresh = super::fresh_sqlite().await;
                    super::$name(fresh.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fresh = super::fresh_postgres().await;
                    super::$name(fresh.store.clone()).await;
                }
            )*
        }
    };
}

const T0: Micros = 1_000_000_000;

fn job(id: &str, priority: i32, created_at: Micros) -> NewJob {
    NewJob {
        id: id.into(),
        job_type: "echo".into(),
        queue: DEFAULT_QUEUE.into(),
        payload: format!(r#"{{"id":"{id}"}}"#),
        priority,
        max_attempts: 3,
        run_at: created_at,
        created_at,
        parent_id: None,
        after: vec![],
    }
}

async fn claim(store: &dyn Store, worker: &str, limit: u32, now: Micros) -> Vec<ClaimedJob> {
    store
        .claim(&ClaimParams {
            worker_id: worker.into(),
            limit,
            now,
        })
        .await
        .unwrap()
        .jobs
}

async fn register(store: &dyn Store, id: &str, heartbeat_at: Micros) {
    store
        .register_worker(&WorkerInfo {
            id: id.into(),
            host: "test-host".into(),
            pid: 1,
            started_at: heartbeat_at,
            heartbeat_at,
        })
        .await
        .unwrap();
}

fn settlement(job: &ClaimedJob, worker: &str, action: SettleAction) -> Settlement {
    let outcome = match &action {
        SettleAction::Complete { .. } => "completed",
        SettleAction::Retry { .. } => "retry",
        SettleAction::DeadLetter { reason, .. } => reason.as_str(),
        SettleAction::Release => "interrupted",
        SettleAction::Cancel => "cancelled",
    };
    Settlement {
        record: AttemptRecord {
            job_id: job.id.clone(),
            attempt: job.attempt,
            worker_id: worker.into(),
            started_at: T0 + 10,
            finished_at: T0 + 20,
            outcome: outcome.into(),
            error: None,
            fuel_used: 100,
            plugin_digest: Some("digest".into()),
        },
        action,
    }
}

fn ids(jobs: &[ClaimedJob]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

async fn claims_by_priority_then_age_and_never_before_run_at(store: Arc<dyn Store>) {
    let mut later = job("later", 100, T0);
    later.run_at = T0 + 1_000_000;
    store
        .enqueue(&[
            job("old-low", -10, T0),
            job("new-high", 10, T0 + 2),
            job("old-high", 10, T0 + 1),
            later,
        ])
        .await
        .unwrap();
    let claimed = claim(store.as_ref(), "w1", 10, T0 + 100).await;
    assert_eq!(ids(&claimed), ["old-high", "new-high", "old-low"]);
    assert!(claimed.iter().all(|j| j.attempt == 1));
    assert!(claim(store.as_ref(), "w1", 10, T0 + 100).await.is_empty());
    assert_eq!(
        ids(&claim(store.as_ref(), "w1", 10, T0 + 1_000_000).await),
        ["later"]
    );
}

async fn concurrent_claims_never_hand_out_a_job_twice(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..400)
        .map(|n| job(&format!("j{n:03}"), 0, T0 + n))
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = claim(store.as_ref(), &format!("w{w}"), 7, T0 + 1_000).await;
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 400, "every job claimed");
    assert_eq!(unique.len(), 400, "no job claimed twice");
}

async fn completing_stores_the_result_and_inserts_follow_ups_with_it(store: Arc<dyn Store>) {
    store.enqueue(&[job("parent", 0, T0)]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    assert!(store.get_job("child").await.unwrap().is_none());
    let mut child = job("child", 0, T0 + 5);
    child.parent_id = Some("parent".into());
    let complete = SettleAction::Complete {
        result: r#"{"ok":true}"#.into(),
        followups: vec![child],
        kv_writes: vec![],
    };
    let report = store
        .settle(&[settlement(&claimed[0], "w1", complete)])
        .await
        .unwrap();
    assert_eq!(
        report,
        SettleReport {
            applied: 1,
            stale: 0,
            released: 0
        }
    );

    let parent = store.get_job("parent").await.unwrap().unwrap();
    assert_eq!(parent.status, JobStatus::Completed);
    assert_eq!(parent.result.as_deref(), Some(r#"{"ok":true}"#));
    assert_eq!(parent.fuel_used, 100);
    assert_eq!(parent.finished_at, Some(T0 + 20));
    assert_eq!(parent.locked_by, None);
    let child = store.get_job("child").await.unwrap().unwrap();
    assert_eq!(
        (child.status, child.parent_id.as_deref()),
        (JobStatus::Pending, Some("parent"))
    );
    assert_eq!(store.job_attempts("parent").await.unwrap().len(), 1);
}

async fn a_retry_waits_until_its_run_at_and_keeps_the_error(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    let retry = SettleAction::Retry {
        error: "busy".into(),
        run_at: T0 + 5_000,
    };
    store
        .settle(&[settlement(&claimed[0], "w1", retry)])
        .await
        .unwrap();
    let stored = store.get_job("j").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempt), (JobStatus::Pending, 1));
    assert_eq!(stored.last_error.as_deref(), Some("busy"));
    assert!(claim(store.as_ref(), "w1", 1, T0 + 4_999).await.is_empty());
    let again = claim(store.as_ref(), "w1", 1, T0 + 5_000).await;
    assert_eq!(again[0].attempt, 2);
}

async fn a_dead_letter_leaves_jobs_with_everything_kept(store: Arc<dyn Store>) {
    let mut new = job("j", 7, T0);
    new.queue = "mail".into();
    store.enqueue(&[new]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    let dead = SettleAction::DeadLetter {
        reason: DeadReason::OutOfMemory,
        error: "hit the cap".into(),
    };
    store
        .settle(&[settlement(&claimed[0], "w1", dead)])
        .await
        .unwrap();
    assert!(store.get_job("j").await.unwrap().is_none());
    let row = store.get_dead("j").await.unwrap().unwrap();
    assert_eq!(row.reason, DeadReason::OutOfMemory);
    assert_eq!(
        (row.queue.as_str(), row.priority, row.attempts),
        ("mail", 7, 1)
    );
    assert_eq!(row.last_error, "hit the cap");
    assert_eq!(row.plugin_digest.as_deref(), Some("digest"));
    assert_eq!(
        (row.fuel_used, row.failed_at, row.created_at),
        (100, T0 + 20, T0)
    );
    assert_eq!(store.job_attempts("j").await.unwrap()[0].job_id, "j");
    let listed = store
        .list_dead(&DeadFilter {
            reason: Some(DeadReason::OutOfMemory),
            ..DeadFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

async fn a_release_gives_the_attempt_back_and_records_nothing(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    store
        .settle(&[settlement(&claimed[0], "w1", SettleAction::Release)])
        .await
        .unwrap();
    let stored = store.get_job("j").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempt), (JobStatus::Pending, 0));
    assert!(store.job_attempts("j").await.unwrap().is_empty());
}

async fn a_rescued_job_cannot_be_settled_by_its_old_worker(store: Arc<dyn Store>) {
    register(store.as_ref(), "old", T0).await;
    register(store.as_ref(), "new", T0).await;
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let first = claim(store.as_ref(), "old", 1, T0).await;
    let report = store
        .rescue(&RescueParams {
            now: T0 + 1,
            dead_workers: vec!["old".into()],
            stale_before: 0,
        })
        .await
        .unwrap();
    assert_eq!(report.requeued, ["j"]);
    assert_eq!(report.workers_removed, ["old"]);
    let second = claim(store.as_ref(), "new", 1, T0 + 2).await;
    assert_eq!(second[0].attempt, 2);

    let done = |result: &str| SettleAction::Complete {
        result: result.into(),
        followups: vec![],
        kv_writes: vec![],
    };
    let stale = store
        .settle(&[settlement(&first[0], "old", done("old"))])
        .await
        .unwrap();
    assert_eq!(
        stale,
        SettleReport {
            applied: 0,
            stale: 1,
            released: 0
        }
    );
    store
        .settle(&[settlement(&second[0], "new", done("new"))])
        .await
        .unwrap();
    let stored = store.get_job("j").await.unwrap().unwrap();
    assert_eq!(stored.result.as_deref(), Some("new"));
    let outcomes: Vec<String> = store
        .job_attempts("j")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["rescued", "completed"]);
}

async fn rescue_takes_silent_workers_and_dead_letters_jobs_without_attempts_left(
    store: Arc<dyn Store>,
) {
    register(store.as_ref(), "silent", T0).await;
    register(store.as_ref(), "alive", T0 + 1_000).await;
    let mut last_try = job("last-try", 0, T0);
    last_try.max_attempts = 1;
    store
        .enqueue(&[
            last_try,
            job("more-tries", 0, T0 + 1),
            job("alive-job", 0, T0 + 2),
        ])
        .await
        .unwrap();
    claim(store.as_ref(), "silent", 2, T0 + 10).await;
    claim(store.as_ref(), "alive", 1, T0 + 10).await;

    let report = store
        .rescue(&RescueParams {
            now: T0 + 2_000,
            dead_workers: vec![],
            stale_before: T0 + 500,
        })
        .await
        .unwrap();
    assert_eq!(report.workers_removed, ["silent"]);
    assert_eq!(report.requeued, ["more-tries"]);
    assert_eq!(report.dead_lettered, ["last-try"]);
    let dead = store.get_dead("last-try").await.unwrap().unwrap();
    assert_eq!(dead.reason, DeadReason::MaxRetriesExceeded);
    let alive = store.get_job("alive-job").await.unwrap().unwrap();
    assert_eq!(
        alive.status,
        JobStatus::Running,
        "a live worker's job is left alone"
    );
    assert_eq!(store.list_workers().await.unwrap().len(), 1);
}

async fn a_replay_creates_a_new_job_and_keeps_the_row(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 3, T0)]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    let dead = SettleAction::DeadLetter {
        reason: DeadReason::PermanentFailure,
        error: "bug".into(),
    };
    store
        .settle(&[settlement(&claimed[0], "w1", dead)])
        .await
        .unwrap();
    let replay = ReplayParams {
        dead_id: "j".into(),
        new_job_id: "j2".into(),
        now: T0 + 100,
        max_attempts: Some(9),
        queue: None,
        priority: None,
        keep_attempts: false,
    };
    store.replay_dead(&replay).await.unwrap();
    let new = store.get_job("j2").await.unwrap().unwrap();
    assert_eq!(
        (new.status, new.attempt, new.max_attempts, new.priority),
        (JobStatus::Pending, 0, 9, 3)
    );
    assert_eq!(new.payload, r#"{"id":"j"}"#);
    let row = store.get_dead("j").await.unwrap().unwrap();
    assert_eq!(
        (row.resurrection_count, row.replayed_job_id.as_deref()),
        (1, Some("j2"))
    );

    let missing = ReplayParams {
        dead_id: "nope".into(),
        ..replay
    };
    assert!(matches!(
        store.replay_dead(&missing).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn stats_count_every_state(store: Arc<dyn Store>) {
    let mut scheduled = job("scheduled", 0, T0);
    scheduled.run_at = T0 + 10_000_000;
    store
        .enqueue(&[
            job("a", 0, T0),
            job("b", 0, T0),
            job("c", 0, T0),
            job("d", 0, T0),
            scheduled,
        ])
        .await
        .unwrap();
    let claimed = claim(store.as_ref(), "w1", 3, T0 + 1).await;
    let complete = SettleAction::Complete {
        result: "null".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    let dead = SettleAction::DeadLetter {
        reason: DeadReason::Crashed,
        error: "trap".into(),
    };
    store
        .settle(&[
            settlement(&claimed[0], "w1", complete),
            settlement(&claimed[1], "w1", dead),
        ])
        .await
        .unwrap();
    let stats = store.stats(T0 + 1_000).await.unwrap();
    assert_eq!(
        (
            stats.pending,
            stats.scheduled,
            stats.running,
            stats.completed,
            stats.dead
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!((stats.completed_last_hour, stats.failed_last_hour), (1, 1));
    assert_eq!(stats.oldest_pending_age, Some(1_000));
    assert_eq!(stats.by_type.len(), 1);
    assert_eq!(
        stats.by_type[0].pending, 2,
        "pending by type counts scheduled jobs too"
    );
}

async fn plugin_records_keep_history_and_the_newest_job_type_wins(store: Arc<dyn Store>) {
    let record = |digest: &str, loaded_at: Micros, schema: &str| PluginRecord {
        digest: digest.into(),
        file: "send_email.wasm".into(),
        name: "send_email".into(),
        version: "1".into(),
        loaded_at,
        retired_at: None,
        error: None,
        job_types: vec![JobTypeRecord {
            name: "send_email".into(),
            plugin_digest: digest.into(),
            payload_schema: Some(schema.into()),
            max_attempts: Some(4),
            unique_key_fields: vec!["to".into(), "subject".into()],
        }],
    };
    store.record_plugin(&record("v1", T0, "{}")).await.unwrap();
    store
        .record_plugin(&record("v2", T0 + 1, r#"{"type":"object"}"#))
        .await
        .unwrap();
    let newest = store.job_type("send_email").await.unwrap().unwrap();
    assert_eq!(newest.plugin_digest, "v2");
    assert_eq!(
        newest.payload_schema.as_deref(),
        Some(r#"{"type":"object"}"#)
    );
    assert_eq!(newest.max_attempts, Some(4));
    assert_eq!(newest.unique_key_fields, ["to", "subject"]);
    assert!(store.job_type("unknown").await.unwrap().is_none());
    let history = store.list_plugins().await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|p| p.digest.as_str())
            .collect::<Vec<_>>(),
        ["v2", "v1"]
    );
}

async fn a_replaced_version_is_retired_and_the_history_keeps_both(store: Arc<dyn Store>) {
    let record = |digest: &str, loaded_at: Micros, error: Option<&str>| PluginRecord {
        digest: digest.into(),
        file: "resize.wasm".into(),
        name: "resize".into(),
        version: digest.into(),
        loaded_at,
        retired_at: None,
        error: error.map(String::from),
        job_types: vec![],
    };
    store.record_plugin(&record("v1", T0, None)).await.unwrap();
    store
        .record_plugin(&record("v2", T0 + 1, Some("bad component")))
        .await
        .unwrap();
    store
        .record_plugin(&record("v3", T0 + 2, None))
        .await
        .unwrap();
    store
        .retire_plugin("resize.wasm", "v1", T0 + 2)
        .await
        .unwrap();
    // Retiring what does not serve changes nothing: a failed load, another file.
    store
        .retire_plugin("resize.wasm", "v2", T0 + 3)
        .await
        .unwrap();
    store
        .retire_plugin("other.wasm", "v3", T0 + 3)
        .await
        .unwrap();

    let history: Vec<(String, Option<Micros>)> = store
        .list_plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.digest, p.retired_at))
        .collect();
    assert_eq!(
        history,
        [
            ("v3".to_string(), None),
            ("v2".to_string(), None),
            ("v1".to_string(), Some(T0 + 2)),
        ]
    );
}

async fn a_heartbeat_for_an_unknown_worker_says_so(store: Arc<dyn Store>) {
    register(store.as_ref(), "w1", T0).await;
    store.heartbeat_worker("w1", T0 + 5).await.unwrap();
    assert_eq!(store.list_workers().await.unwrap()[0].heartbeat_at, T0 + 5);
    assert!(matches!(
        store.heartbeat_worker("ghost", T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn enqueue_takes_big_batches_whole_or_not_at_all(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..20_000)
        .map(|n| job(&format!("j{n:05}"), 0, T0 + n))
        .collect();
    store.enqueue(&jobs).await.unwrap();
    assert_eq!(store.stats(T0 + 20_000).await.unwrap().pending, 20_000);

    // The duplicate comes last, after a first chunk of new rows: none of them stays.
    let mut batch: Vec<NewJob> = (0..1_000)
        .map(|n| job(&format!("new{n:04}"), 0, T0))
        .collect();
    batch.push(job("j00000", 0, T0));
    assert!(store.enqueue(&batch).await.is_err());
    assert!(store.get_job("new0000").await.unwrap().is_none());
    assert_eq!(store.stats(T0 + 20_000).await.unwrap().pending, 20_000);
}

async fn one_batch_settles_every_kind_of_outcome_and_skips_the_stale(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = ["done", "again", "dead", "back", "late"]
        .iter()
        .enumerate()
        .map(|(n, id)| job(id, 0, T0 + n as Micros))
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 5, T0 + 10).await;
    let [done, again, dead, back, late] = &claimed[..] else {
        panic!("claimed {claimed:?}");
    };
    let mut followup = job("follow", 0, T0 + 20);
    followup.parent_id = Some("done".into());
    let mut wrong_attempt = settlement(late, "w1", SettleAction::Release);
    wrong_attempt.record.attempt += 1;
    let complete = SettleAction::Complete {
        result: "1".into(),
        followups: vec![followup],
        kv_writes: vec![],
    };
    let batch = [
        settlement(done, "w1", complete.clone()),
        settlement(
            again,
            "w1",
            SettleAction::Retry {
                error: "later".into(),
                run_at: T0 + 99,
            },
        ),
        settlement(
            dead,
            "w1",
            SettleAction::DeadLetter {
                reason: DeadReason::InvalidArguments,
                error: "no".into(),
            },
        ),
        settlement(back, "w1", SettleAction::Release),
        // Stale: another worker, another attempt, and the same attempt settled twice.
        settlement(late, "w2", SettleAction::Release),
        wrong_attempt,
        settlement(done, "w1", complete),
    ];
    let report = store.settle(&batch).await.unwrap();
    assert_eq!(
        report,
        SettleReport {
            applied: 4,
            stale: 3,
            released: 0
        }
    );

    let status = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .get_job(id)
                .await
                .unwrap()
                .map(|j| (j.status, j.attempt))
        }
    };
    assert_eq!(status("done").await, Some((JobStatus::Completed, 1)));
    assert_eq!(status("again").await, Some((JobStatus::Pending, 1)));
    assert_eq!(status("dead").await, None);
    assert_eq!(status("back").await, Some((JobStatus::Pending, 0)));
    assert_eq!(status("late").await, Some((JobStatus::Running, 1)));
    assert_eq!(status("follow").await, Some((JobStatus::Pending, 0)));
    assert!(store.get_dead("dead").await.unwrap().is_some());
    assert_eq!(store.job_attempts("done").await.unwrap().len(), 1);
    assert!(store.job_attempts("late").await.unwrap().is_empty());
}

async fn a_stale_completion_inserts_no_follow_ups_and_writes_no_keys(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 1, T0).await;
    let complete = SettleAction::Complete {
        result: "null".into(),
        followups: vec![job("child", 0, T0)],
        kv_writes: vec![set("echo", "k", "stale")],
    };
    let report = store
        .settle(&[settlement(&claimed[0], "someone-else", complete)])
        .await
        .unwrap();
    assert_eq!(report.stale, 1);
    assert!(store.get_job("child").await.unwrap().is_none());
    assert_eq!(store.kv_get("echo", "k").await.unwrap(), None);
    assert_eq!(
        store.get_job("j").await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

async fn attempts_keep_the_history_of_a_job_oldest_first(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    for n in 0..2 {
        let claimed = claim(store.as_ref(), "w1", 1, T0 + n).await;
        let mut retry = settlement(
            &claimed[0],
            "w1",
            SettleAction::Retry {
                error: format!("try {n}"),
                run_at: T0 + n + 1,
            },
        );
        retry.record.error = Some(format!("try {n}"));
        retry.record.started_at = T0 + n;
        store.settle(&[retry]).await.unwrap();
    }
    let claimed = claim(store.as_ref(), "w1", 1, T0 + 2).await;
    let complete = SettleAction::Complete {
        result: "null".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    let mut done = settlement(&claimed[0], "w1", complete);
    done.record.started_at = T0 + 2;
    store.settle(&[done]).await.unwrap();

    let attempts = store.job_attempts("j").await.unwrap();
    let summary: Vec<(u32, &str, Option<&str>)> = attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str(), a.error.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "retry", Some("try 0")),
            (2, "retry", Some("try 1")),
            (3, "completed", None)
        ]
    );
    let stored = store.get_job("j").await.unwrap().unwrap();
    assert_eq!((stored.attempt, stored.fuel_used), (3, 300));
}

/// The completing attempt reads back exactly as it was settled, whether a backend keeps
/// it as a row of its own or in the job row.
async fn the_completing_attempt_keeps_its_worker_times_fuel_and_plugin(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let first = claim(store.as_ref(), "w1", 1, T0).await;
    let retry = SettleAction::Retry {
        error: "busy".into(),
        run_at: T0 + 1,
    };
    let mut failed = settlement(&first[0], "w1", retry);
    failed.record.fuel_used = 40;
    store.settle(&[failed]).await.unwrap();
    let second = claim(store.as_ref(), "w2", 1, T0 + 100).await;
    let complete = SettleAction::Complete {
        result: "1".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    let mut done = settlement(&second[0], "w2", complete);
    done.record = AttemptRecord {
        started_at: T0 + 150,
        finished_at: T0 + 170,
        fuel_used: 7,
        plugin_digest: Some("v2".into()),
        ..done.record
    };
    store.settle(std::slice::from_ref(&done)).await.unwrap();

    let attempts = store.job_attempts("j").await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1], done.record);
    assert_eq!(attempts[0].fuel_used, 40);
    let stored = store.get_job("j").await.unwrap().unwrap();
    assert_eq!(stored.fuel_used, 47);
    assert_eq!(stored.started_at, Some(T0 + 150));
}

async fn rescue_takes_back_running_jobs_that_no_registered_worker_holds(store: Arc<dyn Store>) {
    register(store.as_ref(), "alive", T0).await;
    store
        .enqueue(&[job("orphan", 0, T0), job("kept", 0, T0 + 1)])
        .await
        .unwrap();
    // A worker that never registered (or was forgotten already) claims a job.
    claim(store.as_ref(), "ghost", 1, T0 + 1).await;
    claim(store.as_ref(), "alive", 1, T0 + 1).await;
    let report = store
        .rescue(&RescueParams {
            now: T0 + 5,
            dead_workers: vec![],
            stale_before: 0,
        })
        .await
        .unwrap();
    assert_eq!(report.requeued, ["orphan"]);
    assert!(report.workers_removed.is_empty());
    let orphan = store.get_job("orphan").await.unwrap().unwrap();
    assert_eq!(
        (orphan.status, orphan.attempt, orphan.locked_by),
        (JobStatus::Pending, 1, None)
    );
    assert_eq!(
        orphan.last_error.as_deref(),
        Some("the worker running it (ghost) stopped")
    );
    assert_eq!(
        store.get_job("kept").await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

async fn lists_are_newest_first_filtered_and_limited(store: Arc<dyn Store>) {
    let mut jobs: Vec<NewJob> = (0..150)
        .map(|n| job(&format!("j{n:03}"), 0, T0 + n))
        .collect();
    jobs[0].job_type = "mail".into();
    jobs[1].queue = "slow".into();
    store.enqueue(&jobs).await.unwrap();
    claim(store.as_ref(), "w1", 1, T0 + 1_000).await;

    let all = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(all.len(), 100, "0 means the default limit");
    assert_eq!((all[0].id.as_str(), all[99].id.as_str()), ("j149", "j050"));
    let list = |filter: JobFilter| {
        let store = store.clone();
        async move {
            let found = store.list_jobs(&filter).await.unwrap();
            found.into_iter().map(|j| j.id).collect::<Vec<_>>()
        }
    };
    let running = JobFilter {
        status: Some(JobStatus::Running),
        ..JobFilter::default()
    };
    assert_eq!(list(running).await, ["j000"]);
    let mail = JobFilter {
        job_type: Some("mail".into()),
        ..JobFilter::default()
    };
    assert_eq!(list(mail).await, ["j000"]);
    let slow = JobFilter {
        queue: Some("slow".into()),
        ..JobFilter::default()
    };
    assert_eq!(list(slow).await, ["j001"]);
    let three = JobFilter {
        limit: 3,
        ..JobFilter::default()
    };
    assert_eq!(list(three).await, ["j149", "j148", "j147"]);

    let claimed = claim(store.as_ref(), "w1", 2, T0 + 1_000).await;
    for (n, job) in claimed.iter().enumerate() {
        let mut dead = settlement(
            job,
            "w1",
            SettleAction::DeadLetter {
                reason: DeadReason::Timeout,
                error: "slow".into(),
            },
        );
        dead.record.finished_at = T0 + 2_000 + n as Micros;
        store.settle(&[dead]).await.unwrap();
    }
    let dead = store.list_dead(&DeadFilter::default()).await.unwrap();
    let ids: Vec<&str> = dead.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [claimed[1].id.as_str(), claimed[0].id.as_str()]);
    let unreviewed = DeadFilter {
        reviewed: Some(false),
        job_type: Some("echo".into()),
        ..DeadFilter::default()
    };
    assert_eq!(store.list_dead(&unreviewed).await.unwrap().len(), 2);
    let crashed = DeadFilter {
        reason: Some(DeadReason::Crashed),
        ..DeadFilter::default()
    };
    assert!(store.list_dead(&crashed).await.unwrap().is_empty());
}

async fn a_failed_load_never_answers_for_a_job_type(store: Arc<dyn Store>) {
    let record = |digest: &str, loaded_at: Micros, error: Option<&str>| PluginRecord {
        digest: digest.into(),
        file: "resize.wasm".into(),
        name: "resize".into(),
        version: digest.into(),
        loaded_at,
        retired_at: None,
        error: error.map(String::from),
        job_types: vec![JobTypeRecord {
            name: "resize".into(),
            plugin_digest: digest.into(),
            payload_schema: None,
            max_attempts: None,
            unique_key_fields: vec![],
        }],
    };
    store
        .record_plugin(&record("good", T0, None))
        .await
        .unwrap();
    store
        .record_plugin(&record("broken", T0 + 1, Some("bad component")))
        .await
        .unwrap();
    let found = store.job_type("resize").await.unwrap().unwrap();
    assert_eq!(found.plugin_digest, "good");

    // Loading the good version again (a restart) is history too, and answers.
    store
        .record_plugin(&record("good", T0 + 2, None))
        .await
        .unwrap();
    let history = store.list_plugins().await.unwrap();
    let summary: Vec<(&str, Micros, bool, usize)> = history
        .iter()
        .map(|p| {
            (
                p.digest.as_str(),
                p.loaded_at,
                p.error.is_some(),
                p.job_types.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("good", T0 + 2, false, 1),
            ("broken", T0 + 1, true, 1),
            ("good", T0, false, 1)
        ]
    );
    assert_eq!(history[1].job_types[0].plugin_digest, "broken");
}

async fn registering_again_updates_the_worker_and_removing_forgets_it(store: Arc<dyn Store>) {
    register(store.as_ref(), "w1", T0).await;
    store
        .register_worker(&WorkerInfo {
            id: "w1".into(),
            host: "other-host".into(),
            pid: 42,
            started_at: T0 + 10,
            heartbeat_at: T0 + 10,
        })
        .await
        .unwrap();
    let workers = store.list_workers().await.unwrap();
    assert_eq!(
        (workers.len(), workers[0].host.as_str(), workers[0].pid),
        (1, "other-host", 42)
    );
    store.remove_worker("w1").await.unwrap();
    assert!(store.list_workers().await.unwrap().is_empty());
}

async fn worker_loads_count_the_jobs_each_worker_is_running(store: Arc<dyn Store>) {
    register(store.as_ref(), "w1", T0).await;
    register(store.as_ref(), "w2", T0 + 1).await;
    register(store.as_ref(), "idle", T0 + 2).await;
    let jobs: Vec<NewJob> = (0..5).map(|n| job(&format!("j{n}"), 0, T0 + n)).collect();
    store.enqueue(&jobs).await.unwrap();
    let first = claim(store.as_ref(), "w1", 3, T0 + 10).await;
    claim(store.as_ref(), "w2", 2, T0 + 10).await;
    let done = settlement(&first[0], "w1", complete_with(vec![]));
    store.settle(&[done]).await.unwrap();

    let loads = store.worker_loads().await.unwrap();
    let seen: Vec<(&str, &str, u64)> = loads
        .iter()
        .map(|l| (l.worker.id.as_str(), l.worker.host.as_str(), l.running))
        .collect();
    assert_eq!(
        seen,
        [
            ("w1", "test-host", 2),
            ("w2", "test-host", 2),
            ("idle", "test-host", 0)
        ]
    );
    assert_eq!(loads[1].worker.started_at, T0 + 1);
}

async fn lost_claims_are_the_running_jobs_a_worker_does_not_know_it_holds(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..4).map(|n| job(&format!("j{n}"), 0, T0 + n)).collect();
    store.enqueue(&jobs).await.unwrap();
    let mine = claim(store.as_ref(), "w1", 3, T0 + 10).await;
    claim(store.as_ref(), "w2", 1, T0 + 10).await;
    let known = vec![mine[0].id.clone()];
    let lost = store.lost_claims("w1", &known).await.unwrap();
    assert_eq!(ids(&lost), ["j1", "j2"]);
    assert_eq!(
        lost[0], mine[1],
        "a lost claim comes back as the claim returned it"
    );
    let all: Vec<String> = mine.iter().map(|j| j.id.clone()).collect();
    assert!(store.lost_claims("w1", &all).await.unwrap().is_empty());
    assert!(store.lost_claims("nobody", &[]).await.unwrap().is_empty());
}

async fn a_migrated_database_is_at_the_version_this_build_knows(store: Arc<dyn Store>) {
    let version = store.schema_version().await.unwrap();
    assert!(version.is_current(), "{version:?}");
    assert!(version.known >= 6, "{version:?}");
    version.refuse_newer().unwrap();
    // Migrating again applies nothing and changes nothing.
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), version);
}

/// Enqueues, claims and dead-letters one job per entry: `(id, type, reason, failed_at)`.
/// Each fails after one retried attempt, so each has two attempt rows.
async fn dead_letters(store: &dyn Store, rows: &[(&str, &str, DeadReason, Micros)]) {
    for (id, job_type, reason, failed_at) in rows {
        let mut new = job(id, 0, T0);
        new.job_type = job_type.to_string();
        store.enqueue(&[new]).await.unwrap();
        let first = claim(store, "w1", 1, T0).await;
        let retry = SettleAction::Retry {
            error: "again".into(),
            run_at: T0,
        };
        store
            .settle(&[settlement(&first[0], "w1", retry)])
            .await
            .unwrap();
        let second = claim(store, "w1", 1, T0).await;
        let mut dead = settlement(
            &second[0],
            "w1",
            SettleAction::DeadLetter {
                reason: *reason,
                error: format!("{id} failed"),
            },
        );
        dead.record.finished_at = *failed_at;
        store.settle(&[dead]).await.unwrap();
    }
}

async fn dead_ids(store: &dyn Store, filter: DeadFilter) -> Vec<String> {
    let found = store.list_dead(&filter).await.unwrap();
    found.into_iter().map(|d| d.id).collect()
}

async fn dead_letters_filter_by_time_and_replay_and_page_by_keyset(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // Two rows share a failure time: the cursor must still take each exactly once.
    dead_letters(
        s,
        &[
            ("a", "echo", DeadReason::Timeout, T0 + 100),
            ("b", "echo", DeadReason::Crashed, T0 + 200),
            ("c", "mail", DeadReason::Timeout, T0 + 200),
            ("d", "mail", DeadReason::Timeout, T0 + 300),
            ("e", "echo", DeadReason::Timeout, T0 + 400),
        ],
    )
    .await;
    let window = DeadFilter {
        since: Some(T0 + 200),
        until: Some(T0 + 400),
        ..DeadFilter::default()
    };
    assert_eq!(dead_ids(s, window.clone()).await, ["d", "c", "b"]);
    assert_eq!(s.count_dead(&window).await.unwrap(), 3);
    let timeouts = DeadFilter {
        reason: Some(DeadReason::Timeout),
        job_type: Some("mail".into()),
        ..window
    };
    assert_eq!(s.count_dead(&timeouts).await.unwrap(), 2);

    let mut pages = Vec::new();
    let mut filter = DeadFilter {
        limit: 2,
        ..DeadFilter::default()
    };
    loop {
        let page = s.list_dead(&filter).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.after = Some(last.cursor());
        pages.push(page.iter().map(|d| d.id.clone()).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec!["e", "d"], vec!["c", "b"], vec!["a"]]);

    s.replay_dead(&ReplayParams {
        dead_id: "c".into(),
        new_job_id: "c2".into(),
        now: T0 + 500,
        max_attempts: None,
        queue: None,
        priority: None,
        keep_attempts: false,
    })
    .await
    .unwrap();
    let never_replayed = DeadFilter {
        replayed: Some(false),
        ..DeadFilter::default()
    };
    assert_eq!(dead_ids(s, never_replayed).await, ["e", "d", "b", "a"]);
    let replayed = DeadFilter {
        replayed: Some(true),
        ..DeadFilter::default()
    };
    assert_eq!(dead_ids(s, replayed).await, ["c"]);
}

async fn a_replay_can_keep_the_spent_attempts_and_move_the_job(store: Arc<dyn Store>) {
    let s = store.as_ref();
    dead_letters(s, &[("j", "echo", DeadReason::Timeout, T0 + 100)]).await;
    s.replay_dead(&ReplayParams {
        dead_id: "j".into(),
        new_job_id: "kept".into(),
        now: T0 + 200,
        max_attempts: Some(5),
        queue: Some("rerun".into()),
        priority: Some(10),
        keep_attempts: true,
    })
    .await
    .unwrap();
    let kept = s.get_job("kept").await.unwrap().unwrap();
    assert_eq!(
        (
            kept.attempt,
            kept.max_attempts,
            kept.queue.as_str(),
            kept.priority
        ),
        (2, 5, "rerun", 10)
    );
    let next = claim(s, "w1", 1, T0 + 200).await;
    assert_eq!(
        next[0].attempt, 3,
        "the next attempt counts on from the dead job's"
    );
    let row = s.get_dead("j").await.unwrap().unwrap();
    assert_eq!(
        (row.resurrection_count, row.replayed_job_id.as_deref()),
        (1, Some("kept"))
    );
}

async fn a_review_marks_the_row_with_its_time_and_note(store: Arc<dyn Store>) {
    let s = store.as_ref();
    dead_letters(s, &[("j", "echo", DeadReason::Crashed, T0 + 100)]).await;
    let review = ReviewParams {
        id: "j".into(),
        note: Some("upstream bug, fixed in 1.2".into()),
        now: T0 + 500,
    };
    s.review_dead(&review).await.unwrap();
    let row = s.get_dead("j").await.unwrap().unwrap();
    assert_eq!(
        (row.reviewed, row.reviewed_at, row.notes.as_deref()),
        (true, Some(T0 + 500), Some("upstream bug, fixed in 1.2"))
    );
    let unreviewed = DeadFilter {
        reviewed: Some(false),
        ..DeadFilter::default()
    };
    assert_eq!(s.count_dead(&unreviewed).await.unwrap(), 0);
    // Reviewing again without a note keeps the note.
    s.review_dead(&ReviewParams {
        note: None,
        now: T0 + 600,
        ..review.clone()
    })
    .await
    .unwrap();
    let row = s.get_dead("j").await.unwrap().unwrap();
    assert_eq!(row.notes.as_deref(), Some("upstream bug, fixed in 1.2"));
    let missing = ReviewParams {
        id: "nope".into(),
        ..review
    };
    assert!(matches!(
        s.review_dead(&missing).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn deleting_and_purging_dead_letters_takes_their_attempts_along(store: Arc<dyn Store>) {
    let s = store.as_ref();
    dead_letters(
        s,
        &[
            ("old1", "echo", DeadReason::Timeout, T0 + 100),
            ("old2", "echo", DeadReason::Timeout, T0 + 200),
            ("old3", "echo", DeadReason::Crashed, T0 + 300),
            ("new", "echo", DeadReason::Timeout, T0 + 10_000),
        ],
    )
    .await;
    assert_eq!(s.job_attempts("old3").await.unwrap().len(), 2);
    s.delete_dead("old3").await.unwrap();
    assert!(s.get_dead("old3").await.unwrap().is_none());
    assert!(s.job_attempts("old3").await.unwrap().is_empty());
    assert!(matches!(
        s.delete_dead("old3").await,
        Err(StoreError::NotFound { .. })
    ));

    let older = DeadFilter {
        until: Some(T0 + 1_000),
        limit: 1,
        ..DeadFilter::default()
    };
    assert_eq!(s.purge_dead(&older).await.unwrap(), 1, "one batch of one");
    assert_eq!(s.purge_dead(&older).await.unwrap(), 1);
    assert_eq!(s.purge_dead(&older).await.unwrap(), 0);
    assert_eq!(dead_ids(s, DeadFilter::default()).await, ["new"]);
    for id in ["old1", "old2"] {
        assert!(s.job_attempts(id).await.unwrap().is_empty());
    }
    assert_eq!(s.job_attempts("new").await.unwrap().len(), 2);
}

async fn dead_stats_sum_up_the_filtered_rows_by_reason_and_type(store: Arc<dyn Store>) {
    let s = store.as_ref();
    dead_letters(
        s,
        &[
            ("a", "echo", DeadReason::Timeout, T0 + 100),
            ("b", "mail", DeadReason::Timeout, T0 + 200),
            ("c", "mail", DeadReason::Crashed, T0 + 300),
            ("d", "mail", DeadReason::Timeout, T0 + 400),
        ],
    )
    .await;
    s.review_dead(&ReviewParams {
        id: "d".into(),
        note: None,
        now: T0 + 500,
    })
    .await
    .unwrap();
    let all = s.dead_stats(&DeadFilter::default()).await.unwrap();
    let named = |counts: &[NamedCount]| {
        counts
            .iter()
            .map(|c| (c.name.clone(), c.count))
            .collect::<Vec<_>>()
    };
    assert_eq!((all.total, all.unreviewed), (4, 3));
    assert_eq!(
        named(&all.by_reason),
        [("timeout".to_string(), 3), ("crashed".to_string(), 1)]
    );
    assert_eq!(
        named(&all.by_type),
        [("mail".to_string(), 3), ("echo".to_string(), 1)]
    );
    assert_eq!(all.oldest_failed_at, Some(T0 + 100));
    let recent = DeadFilter {
        since: Some(T0 + 300),
        ..DeadFilter::default()
    };
    let recent = s.dead_stats(&recent).await.unwrap();
    assert_eq!(
        (recent.total, recent.unreviewed, recent.oldest_failed_at),
        (2, 1, Some(T0 + 300))
    );
    let nothing = DeadFilter {
        since: Some(T0 + 10_000),
        ..DeadFilter::default()
    };
    assert_eq!(s.dead_stats(&nothing).await.unwrap(), DeadStats::default());
}

/// Completes every claimable job, the attempt ending at `finished_at`.
async fn complete_all(store: &dyn Store, finished_at: Micros) {
    let claimed = claim(store, "w1", 100, T0).await;
    let settled: Vec<Settlement> = claimed
        .iter()
        .map(|j| {
            let mut s = settlement(
                j,
                "w1",
                SettleAction::Complete {
                    result: "{}".into(),
                    followups: vec![],
                    kv_writes: vec![],
                },
            );
            s.record.finished_at = finished_at;
            s
        })
        .collect();
    store.settle(&settled).await.unwrap();
}

async fn purging_completed_jobs_goes_in_batches_and_spares_the_rest(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let old: Vec<NewJob> = (0..5).map(|n| job(&format!("old{n}"), 0, T0)).collect();
    s.enqueue(&old).await.unwrap();
    complete_all(s, T0 + 100).await;
    s.enqueue(&[job("recent", 0, T0)]).await.unwrap();
    complete_all(s, T0 + 10_000).await;
    s.enqueue(&[job("waiting", 0, T0 + 50_000)]).await.unwrap();

    assert_eq!(s.count_completed(T0 + 1_000).await.unwrap(), 5);
    let batch = PurgeParams {
        before: T0 + 1_000,
        limit: 2,
    };
    let mut batches = Vec::new();
    loop {
        let purged = s.purge_completed(&batch).await.unwrap();
        if purged == 0 {
            break;
        }
        batches.push(purged);
    }
    assert_eq!(batches, [2, 2, 1]);
    assert_eq!(s.count_completed(T0 + 1_000).await.unwrap(), 0);
    assert!(s.get_job("old0").await.unwrap().is_none());
    assert!(s.job_attempts("old0").await.unwrap().is_empty());
    for kept in ["recent", "waiting"] {
        assert!(s.get_job(kept).await.unwrap().is_some(), "{kept}");
    }
}

async fn recent_attempts_hold_failed_and_completing_ones_with_their_type(store: Arc<dyn Store>) {
    let s = store.as_ref();
    dead_letters(s, &[("dead", "mail", DeadReason::Timeout, T0 + 300)]).await;
    let mut done = job("done", 0, T0);
    done.job_type = "report".into();
    s.enqueue(&[done]).await.unwrap();
    complete_all(s, T0 + 400).await;

    let recent = s.recent_attempts(T0, 100).await.unwrap();
    let seen: Vec<(&str, &str, Micros, u64)> = recent
        .iter()
        .map(|a| {
            (
                a.job_type.as_str(),
                a.outcome.as_str(),
                a.finished_at - a.started_at,
                a.fuel_used,
            )
        })
        .collect();
    // The dead job's retried attempt and its last one (rows), and the completing one
    // (rebuilt from the job row), newest first.
    assert_eq!(
        seen,
        [
            ("report", "completed", 390, 100),
            ("mail", "timeout", 290, 100),
            ("mail", "retry", 10, 100),
        ]
    );
    assert_eq!(s.recent_attempts(T0 + 350, 100).await.unwrap().len(), 1);
    assert_eq!(s.recent_attempts(T0, 2).await.unwrap().len(), 2);
}

fn set(plugin: &str, key: &str, value: &str) -> KvWrite {
    KvWrite {
        plugin: plugin.into(),
        key: key.into(),
        value: Some(value.into()),
    }
}

fn remove(plugin: &str, key: &str) -> KvWrite {
    KvWrite {
        plugin: plugin.into(),
        key: key.into(),
        value: None,
    }
}

fn complete_with(kv_writes: Vec<KvWrite>) -> SettleAction {
    SettleAction::Complete {
        result: "null".into(),
        followups: vec![],
        kv_writes,
    }
}

async fn key_value_writes_are_committed_with_the_completion(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..3).map(|n| job(&format!("j{n}"), 0, T0 + n)).collect();
    store.enqueue(&jobs).await.unwrap();
    let claimed = claim(store.as_ref(), "w1", 3, T0 + 10).await;
    assert_eq!(store.kv_get("once", "a").await.unwrap(), None);
    let first = vec![set("once", "a", "1"), set("once", "gone", "x")];
    store
        .settle(&[settlement(&claimed[0], "w1", complete_with(first))])
        .await
        .unwrap();
    assert_eq!(
        store.kv_get("once", "a").await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        store.kv_get("other", "a").await.unwrap(),
        None,
        "scoped by plugin"
    );

    // In one batch, the later completion's write to a key wins; removals apply too.
    let second = vec![set("once", "a", "2"), set("other", "a", "theirs")];
    let third = vec![set("once", "a", "3"), remove("once", "gone")];
    store
        .settle(&[
            settlement(&claimed[1], "w1", complete_with(second)),
            settlement(&claimed[2], "w1", complete_with(third)),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.kv_get("once", "a").await.unwrap().as_deref(),
        Some("3")
    );
    assert_eq!(store.kv_get("once", "gone").await.unwrap(), None);
    assert_eq!(
        store.kv_get("other", "a").await.unwrap().as_deref(),
        Some("theirs")
    );
}

async fn a_failed_attempt_writes_no_keys_and_its_retry_can(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    let first = claim(store.as_ref(), "w1", 1, T0).await;
    // A failed attempt's settlement carries no writes: there is nowhere to put them.
    let retry = SettleAction::Retry {
        error: "boom".into(),
        run_at: T0 + 100,
    };
    store
        .settle(&[settlement(&first[0], "w1", retry)])
        .await
        .unwrap();
    assert_eq!(store.kv_get("once", "done").await.unwrap(), None);
    let second = claim(store.as_ref(), "w1", 1, T0 + 100).await;
    let done = complete_with(vec![set("once", "done", "yes")]);
    store
        .settle(&[settlement(&second[0], "w1", done)])
        .await
        .unwrap();
    assert_eq!(
        store.kv_get("once", "done").await.unwrap().as_deref(),
        Some("yes")
    );
}

async fn a_pending_job_is_cancelled_at_once_and_never_claimed(store: Arc<dyn Store>) {
    store.enqueue(&[job("j", 0, T0)]).await.unwrap();
    assert_eq!(
        store.cancel_job("j", T0 + 1).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert!(claim(store.as_ref(), "w1", 10, T0 + 2).await.is_empty());
    let j = store.get_job("j").await.unwrap().unwrap();
    assert_eq!(
        (j.status, j.finished_at),
        (JobStatus::Cancelled, Some(T0 + 1))
    );
    assert_eq!(
        store.cancel_job("j", T0 + 3).await.unwrap(),
        CancelOutcome::AlreadyEnded(JobStatus::Cancelled)
    );
    assert_eq!(
        store.cancel_job("nope", T0).await.unwrap(),
        CancelOutcome::NotFound
    );
}

async fn a_running_job_is_marked_for_its_worker_which_settles_it_cancelled(store: Arc<dyn Store>) {
    store
        .enqueue(&[job("j1", 0, T0), job("j2", 0, T0 + 1)])
        .await
        .unwrap();
    let claimed = claim(store.as_ref(), "w1", 2, T0 + 10).await;
    assert_eq!(
        store.cancel_job("j1", T0 + 11).await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(store.cancel_requests("w1").await.unwrap(), vec!["j1"]);
    assert!(store.cancel_requests("w2").await.unwrap().is_empty());
    assert_eq!(
        store.get_job("j1").await.unwrap().unwrap().status,
        JobStatus::Running,
        "a running job ends only when its worker stops it"
    );

    store
        .settle(&[settlement(&claimed[0], "w1", SettleAction::Cancel)])
        .await
        .unwrap();
    let j1 = store.get_job("j1").await.unwrap().unwrap();
    assert_eq!((j1.status, j1.locked_by), (JobStatus::Cancelled, None));
    assert_eq!(j1.fuel_used, 100);
    let attempts = store.job_attempts("j1").await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "cancelled");
    assert!(store.get_dead("j1").await.unwrap().is_none());
    assert!(store.cancel_requests("w1").await.unwrap().is_empty());
    assert_eq!(
        store.get_job("j2").await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

async fn a_marked_job_that_fails_or_is_put_back_is_cancelled_not_retried(store: Arc<dyn Store>) {
    store
        .enqueue(&[job("failed", 0, T0), job("put_back", 0, T0 + 1)])
        .await
        .unwrap();
    let claimed = claim(store.as_ref(), "w1", 2, T0 + 10).await;
    for id in ["failed", "put_back"] {
        store.cancel_job(id, T0 + 11).await.unwrap();
    }
    let retry = SettleAction::Retry {
        error: "boom".into(),
        run_at: T0 + 20,
    };
    store
        .settle(&[
            settlement(&claimed[0], "w1", retry),
            settlement(&claimed[1], "w1", SettleAction::Release),
        ])
        .await
        .unwrap();
    for id in ["failed", "put_back"] {
        let j = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(j.status, JobStatus::Cancelled, "{id}");
    }
    assert!(
        claim(store.as_ref(), "w1", 10, T0 + 1_000_000)
            .await
            .is_empty()
    );
}

fn on_queue(id: &str, queue: &str, priority: i32, created_at: Micros) -> NewJob {
    NewJob {
        queue: queue.into(),
        ..job(id, priority, created_at)
    }
}

async fn a_paused_queue_takes_jobs_and_hands_out_none_until_resumed(store: Arc<dyn Store>) {
    assert!(store.pause_queue("bulk", T0).await.unwrap());
    assert!(
        !store.pause_queue("bulk", T0 + 1).await.unwrap(),
        "paused already"
    );
    store
        .enqueue(&[
            on_queue("b1", "bulk", 10, T0),
            on_queue("d1", "default", 0, T0 + 1),
            on_queue("b2", "bulk", 0, T0 + 2),
        ])
        .await
        .unwrap();
    assert_eq!(ids(&claim(store.as_ref(), "w1", 10, T0 + 10).await), ["d1"]);
    assert_eq!(
        store.list_queues().await.unwrap(),
        vec![
            QueueInfo {
                queue: "bulk".into(),
                pending: 2,
                running: 0,
                paused: true,
                paused_at: Some(T0),
            },
            QueueInfo {
                queue: "default".into(),
                pending: 0,
                running: 1,
                paused: false,
                paused_at: None,
            },
        ]
    );

    assert!(store.resume_queue("bulk").await.unwrap());
    assert!(!store.resume_queue("bulk").await.unwrap(), "not paused");
    assert_eq!(
        ids(&claim(store.as_ref(), "w1", 10, T0 + 20).await),
        ["b1", "b2"]
    );
    // A paused queue with no jobs is still listed, so it is not forgotten.
    store.pause_queue("empty", T0).await.unwrap();
    let queues = store.list_queues().await.unwrap();
    let names: Vec<(&str, bool)> = queues
        .iter()
        .map(|q| (q.queue.as_str(), q.paused))
        .collect();
    assert_eq!(
        names,
        [("bulk", false), ("default", false), ("empty", true)]
    );
}

async fn a_unique_key_is_held_by_one_live_job_of_its_type(store: Arc<dyn Store>) {
    let first = store
        .enqueue_unique(&job("a", 0, T0), "k", None)
        .await
        .unwrap();
    assert_eq!(
        first,
        UniqueEnqueue {
            id: "a".into(),
            created: true
        }
    );
    let again = store
        .enqueue_unique(&job("b", 0, T0 + 1), "k", None)
        .await
        .unwrap();
    assert_eq!(
        again,
        UniqueEnqueue {
            id: "a".into(),
            created: false
        }
    );
    assert!(store.get_job("b").await.unwrap().is_none());
    let other_type = NewJob {
        job_type: "noop".into(),
        ..job("c", 0, T0 + 2)
    };
    assert!(
        store
            .enqueue_unique(&other_type, "k", None)
            .await
            .unwrap()
            .created
    );

    // Running, the job still holds its key; completed, it lets go.
    let claimed = claim(store.as_ref(), "w1", 1, T0 + 10).await;
    assert_eq!(ids(&claimed), ["a"]);
    let held = store
        .enqueue_unique(&job("d", 0, T0 + 11), "k", None)
        .await
        .unwrap();
    assert_eq!(held.id, "a");
    let done = SettleAction::Complete {
        result: "null".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    store
        .settle(&[settlement(&claimed[0], "w1", done)])
        .await
        .unwrap();
    let after = store
        .enqueue_unique(&job("e", 0, T0 + 12), "k", None)
        .await
        .unwrap();
    assert_eq!(
        after,
        UniqueEnqueue {
            id: "e".into(),
            created: true
        }
    );
}

async fn a_unique_key_stays_reserved_for_its_window_after_completion(store: Arc<dyn Store>) {
    let first = store
        .enqueue_unique(&job("a", 0, T0), "w", Some(100))
        .await
        .unwrap();
    assert!(first.created);
    let claimed = claim(store.as_ref(), "w1", 1, T0 + 10).await;
    let done = SettleAction::Complete {
        result: "null".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    // It finishes at T0 + 20: the key is reserved until T0 + 120.
    store
        .settle(&[settlement(&claimed[0], "w1", done)])
        .await
        .unwrap();
    let within = store
        .enqueue_unique(&job("b", 0, T0 + 119), "w", None)
        .await
        .unwrap();
    assert_eq!(
        within,
        UniqueEnqueue {
            id: "a".into(),
            created: false
        }
    );
    assert!(store.get_job("b").await.unwrap().is_none());
    let after = store
        .enqueue_unique(&job("c", 0, T0 + 120), "w", None)
        .await
        .unwrap();
    assert_eq!(
        after,
        UniqueEnqueue {
            id: "c".into(),
            created: true
        }
    );
}

async fn racing_unique_enqueues_create_one_job(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .enqueue_unique(&job(&format!("j{n}"), 0, T0 + n), "race", None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let created: Vec<&UniqueEnqueue> = outcomes.iter().filter(|o| o.created).collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o.id == created[0].id),
        "{outcomes:?}"
    );
    assert_eq!(claim(store.as_ref(), "w1", 100, T0 + 100).await.len(), 1);
}

fn schedule(name: &str, next_run_at: Micros) -> CronSchedule {
    CronSchedule {
        name: name.into(),
        expr: "* * * * *".into(),
        timezone: "UTC".into(),
        source: SCHEDULE_BY_OPERATOR.into(),
        job_type: "echo".into(),
        payload: r#"{"from":"cron"}"#.into(),
        queue: DEFAULT_QUEUE.into(),
        priority: 0,
        max_attempts: 3,
        paused: false,
        next_run_at,
        last_run_at: None,
        created_at: T0,
    }
}

fn firing(s: &CronSchedule, job_id: &str, next_run_at: Micros) -> FireParams {
    FireParams {
        name: s.name.clone(),
        due_at: s.next_run_at,
        next_run_at,
        job: job(job_id, 0, s.next_run_at),
    }
}

async fn schedules_are_added_listed_paused_resumed_and_removed(store: Arc<dyn Store>) {
    store.add_schedule(&schedule("b", T0 + 60)).await.unwrap();
    store.add_schedule(&schedule("a", T0 + 30)).await.unwrap();
    let err = store.add_schedule(&schedule("a", T0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Exists { .. }), "{err}");
    let names: Vec<String> = store
        .list_schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a", "b"]);

    assert_eq!(ids_of(store.due_schedules(T0 + 30).await.unwrap()), ["a"]);
    assert!(store.set_schedule_paused("a", true, 0).await.unwrap());
    assert!(
        store
            .due_schedules(T0 + 100)
            .await
            .unwrap()
            .iter()
            .all(|s| s.name != "a")
    );
    // Resuming sets the next firing anew: what was missed while paused is skipped.
    assert!(
        store
            .set_schedule_paused("a", false, T0 + 500)
            .await
            .unwrap()
    );
    let a = &store.list_schedules().await.unwrap()[0];
    assert_eq!((a.paused, a.next_run_at), (false, T0 + 500));
    assert!(!store.set_schedule_paused("nope", true, 0).await.unwrap());

    assert!(store.remove_schedule("a").await.unwrap());
    assert!(!store.remove_schedule("a").await.unwrap());
    assert_eq!(store.list_schedules().await.unwrap().len(), 1);
}

async fn a_plugins_schedules_are_synced_without_losing_a_due_firing(store: Arc<dyn Store>) {
    let by_plugin = schedule_by_plugin("reports");
    let declared = |name: &str, expr: &str, next_run_at| CronSchedule {
        expr: expr.into(),
        timezone: "Europe/Paris".into(),
        source: by_plugin.clone(),
        ..schedule(name, next_run_at)
    };
    // An operator's schedule holds the name "taken": the plugin's is not written.
    store.add_schedule(&schedule("taken", T0)).await.unwrap();
    let held = store
        .sync_plugin_schedules(
            &by_plugin,
            &[
                declared("nightly", "0 3 * * *", T0 + 100),
                declared("taken", "0 4 * * *", T0),
            ],
        )
        .await
        .unwrap();
    assert_eq!(held, ["taken"]);
    let listed = store.list_schedules().await.unwrap();
    let nightly = listed.iter().find(|s| s.name == "nightly").unwrap();
    assert_eq!(
        (nightly.timezone.as_str(), nightly.source.as_str()),
        ("Europe/Paris", "plugin reports")
    );
    let taken = listed.iter().find(|s| s.name == "taken").unwrap();
    assert_eq!(
        (taken.source.as_str(), taken.expr.as_str()),
        ("operator", "* * * * *")
    );

    // Another daemon loads the same plugin later: the next run it computes is not
    // written over the one already due, so that firing still happens, once.
    store
        .sync_plugin_schedules(&by_plugin, &[declared("nightly", "0 3 * * *", T0 + 900)])
        .await
        .unwrap();
    let nightly = store.list_schedules().await.unwrap();
    let nightly = nightly.iter().find(|s| s.name == "nightly").unwrap();
    assert_eq!(nightly.next_run_at, T0 + 100);
    // A changed expression takes its new next run.
    store
        .sync_plugin_schedules(&by_plugin, &[declared("nightly", "0 5 * * *", T0 + 700)])
        .await
        .unwrap();
    let nightly = store.list_schedules().await.unwrap();
    let nightly = nightly.iter().find(|s| s.name == "nightly").unwrap();
    assert_eq!(
        (nightly.expr.as_str(), nightly.next_run_at),
        ("0 5 * * *", T0 + 700)
    );
    // A version that declares none removes the plugin's, never the operator's.
    store.sync_plugin_schedules(&by_plugin, &[]).await.unwrap();
    assert_eq!(ids_of(store.list_schedules().await.unwrap()), ["taken"]);
}

fn ids_of(schedules: Vec<CronSchedule>) -> Vec<String> {
    schedules.into_iter().map(|s| s.name).collect()
}

async fn a_firing_enqueues_its_job_once_however_many_race_for_it(store: Arc<dyn Store>) {
    let s = schedule("every", T0);
    store.add_schedule(&s).await.unwrap();
    let due = store.due_schedules(T0 + 5).await.unwrap();
    assert_eq!(due, vec![s.clone()]);
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            let params = firing(&s, &format!("fired{n}"), T0 + 60);
            tokio::spawn(async move { store.fire_schedule(&params).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(claim(store.as_ref(), "w1", 100, T0 + 10).await.len(), 1);
    let after = &store.list_schedules().await.unwrap()[0];
    assert_eq!((after.next_run_at, after.last_run_at), (T0 + 60, Some(T0)));
    assert!(store.due_schedules(T0 + 59).await.unwrap().is_empty());

    // A paused schedule does not fire, even for a firer that read it before the pause.
    let next = after.clone();
    store.set_schedule_paused("every", true, 0).await.unwrap();
    assert!(
        !store
            .fire_schedule(&firing(&next, "late", T0 + 120))
            .await
            .unwrap()
    );
    assert!(store.get_job("late").await.unwrap().is_none());
}

on_every_backend! {
    lost_claims_are_the_running_jobs_a_worker_does_not_know_it_holds,
    worker_loads_count_the_jobs_each_worker_is_running,
    a_migrated_database_is_at_the_version_this_build_knows,
    a_unique_key_stays_reserved_for_its_window_after_completion,
    a_plugins_schedules_are_synced_without_losing_a_due_firing,
    a_rate_limit_spaces_claims_and_a_held_job_spends_no_attempt,
    a_claim_takes_unlimited_jobs_around_limited_ones,
    a_claim_says_whether_a_limit_held_due_jobs_back,
    a_concurrency_limit_holds_across_concurrent_claimers,
    a_job_under_a_type_and_a_queue_limit_needs_room_in_both,
    limits_are_set_replaced_and_removed_and_a_plugin_never_overrides_an_operator,
    a_job_after_others_waits_until_every_one_completed,
    a_job_after_a_completed_one_is_pending_and_after_an_unknown_one_is_refused,
    a_dead_prerequisite_blocks_its_waiters_and_a_replay_releases_them,
    cancelling_a_prerequisite_blocks_its_waiters_which_can_be_cancelled,
    follow_ups_are_children_and_may_wait_on_their_siblings,
    a_waiter_racing_its_prerequisites_settlement_is_never_stranded,
    a_rescue_that_dead_letters_a_prerequisite_blocks_its_waiters,
    schedules_are_added_listed_paused_resumed_and_removed,
    a_firing_enqueues_its_job_once_however_many_race_for_it,
    a_unique_key_is_held_by_one_live_job_of_its_type,
    racing_unique_enqueues_create_one_job,
    a_paused_queue_takes_jobs_and_hands_out_none_until_resumed,
    a_pending_job_is_cancelled_at_once_and_never_claimed,
    a_running_job_is_marked_for_its_worker_which_settles_it_cancelled,
    a_marked_job_that_fails_or_is_put_back_is_cancelled_not_retried,
    key_value_writes_are_committed_with_the_completion,
    a_failed_attempt_writes_no_keys_and_its_retry_can,
    claims_by_priority_then_age_and_never_before_run_at,
    concurrent_claims_never_hand_out_a_job_twice,
    completing_stores_the_result_and_inserts_follow_ups_with_it,
    a_retry_waits_until_its_run_at_and_keeps_the_error,
    a_dead_letter_leaves_jobs_with_everything_kept,
    a_release_gives_the_attempt_back_and_records_nothing,
    a_rescued_job_cannot_be_settled_by_its_old_worker,
    rescue_takes_silent_workers_and_dead_letters_jobs_without_attempts_left,
    a_replay_creates_a_new_job_and_keeps_the_row,
    stats_count_every_state,
    plugin_records_keep_history_and_the_newest_job_type_wins,
    a_replaced_version_is_retired_and_the_history_keeps_both,
    a_heartbeat_for_an_unknown_worker_says_so,
    enqueue_takes_big_batches_whole_or_not_at_all,
    one_batch_settles_every_kind_of_outcome_and_skips_the_stale,
    a_stale_completion_inserts_no_follow_ups_and_writes_no_keys,
    attempts_keep_the_history_of_a_job_oldest_first,
    the_completing_attempt_keeps_its_worker_times_fuel_and_plugin,
    rescue_takes_back_running_jobs_that_no_registered_worker_holds,
    lists_are_newest_first_filtered_and_limited,
    a_failed_load_never_answers_for_a_job_type,
    registering_again_updates_the_worker_and_removing_forgets_it,
    dead_letters_filter_by_time_and_replay_and_page_by_keyset,
    a_replay_can_keep_the_spent_attempts_and_move_the_job,
    a_review_marks_the_row_with_its_time_and_note,
    deleting_and_purging_dead_letters_takes_their_attempts_along,
    dead_stats_sum_up_the_filtered_rows_by_reason_and_type,
    purging_completed_jobs_goes_in_batches_and_spares_the_rest,
    recent_attempts_hold_failed_and_completing_ones_with_their_type,
}
