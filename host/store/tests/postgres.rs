//! What only the PostgreSQL backend promises: exclusive claims and consistent
//! settlements between pools (as between hosts), claims that stay cheap as finished rows
//! pile up, and wake-ups by LISTEN/NOTIFY that survive a dropped connection. Each test
//! has a database of its own (see `jobhost_store::testing`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobhost_store::testing::TestDatabase;
use jobhost_store::*;
use sqlx::{Connection, Executor, PgConnection};

const T0: Micros = 1_000_000_000;
/// How long a notification may take before a test calls it lost.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

fn job(n: i64) -> NewJob {
    NewJob {
        id: format!("j{n:06}"),
        job_type: "echo".into(),
        queue: DEFAULT_QUEUE.into(),
        payload: "{}".into(),
        priority: 0,
        max_attempts: 3,
        run_at: T0,
        created_at: T0 + n,
        parent_id: None,
        after: vec![],
    }
}

async fn open(database: &TestDatabase) -> Arc<dyn Store> {
    let store = connect(database.url(), &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn complete(job: &ClaimedJob, worker: &str, followups: Vec<NewJob>) -> Settlement {
    Settlement {
        record: AttemptRecord {
            job_id: job.id.clone(),
            attempt: job.attempt,
            worker_id: worker.into(),
            started_at: T0,
            finished_at: T0 + 1,
            outcome: "completed".into(),
            error: None,
            fuel_used: 1,
            plugin_digest: None,
        },
        action: SettleAction::Complete {
            result: "null".into(),
            followups,
            kv_writes: vec![],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_never_claim_the_same_job_and_each_completes_once() {
    let database = TestDatabase::create();
    let a = open(&database).await;
    let b = open(&database).await;
    let jobs: Vec<NewJob> = (0..1_200).map(job).collect();
    a.enqueue(&jobs).await.unwrap();

    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let params = ClaimParams {
                    worker_id: worker.clone(),
                    limit: 5,
                    now: T0,
                };
                let got = store.claim(&params).await.unwrap().jobs;
                if got.is_empty() {
                    return mine;
                }
                let batch: Vec<Settlement> =
                    got.iter().map(|j| complete(j, &worker, vec![])).collect();
                let report = store.settle(&batch).await.unwrap();
                assert_eq!((report.applied, report.stale), (batch.len(), 0));
                mine.extend(got.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (1_200, 1_200));
    let stats = a.stats(T0).await.unwrap();
    assert_eq!(
        (stats.completed, stats.pending, stats.running),
        (1_200, 0, 0)
    );
}

/// Fills `jobs` with `n` completed rows in one statement, and refreshes the planner's
/// statistics as autovacuum would.
async fn pile_up_completed(database: &TestDatabase, n: i64) {
    let mut conn = PgConnection::connect(database.url()).await.unwrap();
    conn.execute(
        format!(
            "INSERT INTO jobs (id, job_type, queue, payload, priority, status, attempt, \
             max_attempts, run_at, created_at, finished_at, result) \
             SELECT 'done' || n, 'echo', 'default', '{{}}', 0, 'completed', 1, 3, {T0}, \
             {T0} + n, {T0} + n, 'null' FROM generate_series(1, {n}) AS n"
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.execute("ANALYZE jobs").await.unwrap();
    conn.close().await.unwrap();
}

/// Claims `jobs` one at a time and returns the mean time per claim.
async fn time_claims(store: &dyn Store, jobs: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..jobs {
        let params = ClaimParams {
            worker_id: "w".into(),
            limit: 1,
            now: T0 + 1_000_000_000,
        };
        let claimed = store.claim(&params).await.unwrap().jobs;
        assert_eq!(claimed.len(), 1);
        assert!(claimed[0].id.starts_with('j'), "claimed {:?}", claimed[0]);
    }
    start.elapsed() / jobs as u32
}

// Prints the figures; asserts only what is claimed. (The plan is checked by a unit test
// beside the claim statement: it walks the partial index of pending jobs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_among_many_completed_rows_take_only_pending_jobs_in_order() {
    const PENDING: i64 = 300;
    const COMPLETED: i64 = 200_000;
    let mut costs = Vec::new();
    for completed in [0, COMPLETED] {
        let database = TestDatabase::create();
        let store = open(&database).await;
        pile_up_completed(&database, completed).await;
        let mut pending: Vec<NewJob> = (0..PENDING).map(job).collect();
        pending[PENDING as usize - 1].priority = 5;
        store.enqueue(&pending).await.unwrap();
        let first = store
            .claim(&ClaimParams {
                worker_id: "w".into(),
                limit: 2,
                now: T0 + 1_000_000_000,
            })
            .await
            .unwrap()
            .jobs;
        let ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [format!("j{:06}", PENDING - 1).as_str(), "j000000"]);
        costs.push(time_claims(store.as_ref(), PENDING as usize - 2).await);
        let stats = store.stats(T0).await.unwrap();
        assert_eq!((stats.completed, stats.pending), (completed as u64, 0));
    }
    println!(
        "mean claim of one job: {:?} with no completed rows, {:?} with {COMPLETED}",
        costs[0], costs[1]
    );
}

async fn next_change(changes: &mut ChangeStream) -> Change {
    tokio::time::timeout(NOTIFY_TIMEOUT, changes.next())
        .await
        .expect("no notification within the timeout")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_work_from_another_connection_notifies_a_listener() {
    let database = TestDatabase::create();
    let listening = open(&database).await;
    let other = open(&database).await;
    let mut changes = listening.subscribe_changes().await.unwrap().unwrap();
    assert_eq!(listening.change_file(), None);

    other.enqueue(&[job(1)]).await.unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Notified);

    // A completion with follow-ups is new work too.
    other
        .register_worker(&WorkerInfo {
            id: "w".into(),
            host: "h".into(),
            pid: 1,
            started_at: T0,
            heartbeat_at: T0,
        })
        .await
        .unwrap();
    let claimed = other
        .claim(&ClaimParams {
            worker_id: "w".into(),
            limit: 1,
            now: T0,
        })
        .await
        .unwrap()
        .jobs;
    other
        .settle(&[complete(&claimed[0], "w", vec![job(2)])])
        .await
        .unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Notified);

    // And so is a job a rescue puts back.
    other
        .claim(&ClaimParams {
            worker_id: "w".into(),
            limit: 1,
            now: T0,
        })
        .await
        .unwrap();
    let report = other
        .rescue(&RescueParams {
            now: T0 + 1,
            dead_workers: vec!["w".into()],
            stale_before: 0,
        })
        .await
        .unwrap();
    assert_eq!(report.requeued, ["j000002"]);
    assert_eq!(next_change(&mut changes).await, Change::Notified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_drops_reconnects_and_hears_again() {
    let database = TestDatabase::create();
    let store = open(&database).await;
    let mut changes = store.subscribe_changes().await.unwrap().unwrap();

    let mut admin = PgConnection::connect(database.url()).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'jobhost-listener'",
    )
    .bind(database.name())
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, 1);

    // The server says why it closed the connection (an error), then the listener finds
    // it closed and opens another.
    let deadline = Instant::now() + NOTIFY_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the listener never reconnected");
        match tokio::time::timeout(NOTIFY_TIMEOUT, changes.next()).await {
            Ok(Ok(Change::Reconnected)) => break,
            Ok(Ok(Change::Notified)) => panic!("a notification nobody sent"),
            Ok(Err(_)) => continue,
            Err(_) => panic!("the listener never noticed its connection dropped"),
        }
    }
    store.enqueue(&[job(1)]).await.unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Notified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rescues_racing_from_two_pools_rescue_each_job_once() {
    let database = TestDatabase::create();
    let a = open(&database).await;
    let b = open(&database).await;
    let jobs: Vec<NewJob> = (0..200).map(job).collect();
    a.enqueue(&jobs).await.unwrap();
    a.claim(&ClaimParams {
        worker_id: "gone".into(),
        limit: 200,
        now: T0,
    })
    .await
    .unwrap();
    let params = RescueParams {
        now: T0 + 1,
        dead_workers: vec![],
        stale_before: 0,
    };
    let (ra, rb) = tokio::join!(a.rescue(&params), b.rescue(&params));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.requeued.len() + rb.requeued.len(), 200);
    for n in [0, 199] {
        let attempts = a.job_attempts(&format!("j{n:06}")).await.unwrap();
        assert_eq!(attempts.len(), 1, "one rescued attempt recorded");
    }
}

#[tokio::test]
async fn a_missing_database_or_a_bad_url_is_reported_clearly() {
    let database = TestDatabase::create();
    let missing = database
        .url()
        .replace(database.name(), "jobhost_no_such_database");
    let Err(e) = connect(&missing, &ConnectOptions::default()).await else {
        panic!("connected to a database that does not exist");
    };
    let message = e.to_string();
    assert!(
        message.contains("connecting to the PostgreSQL database")
            && message.contains("jobhost_no_such_database"),
        "{message}"
    );
    let Err(e) = connect(
        "postgres://u:secret@host:notaport/db",
        &ConnectOptions::default(),
    )
    .await
    else {
        panic!("accepted a bad URL");
    };
    assert!(matches!(e, StoreError::InvalidUrl { .. }), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

// With a limit on one type, a claim whose next jobs no limit applies to takes them
// without the limits' row locks, so claimers of unlimited work never take turns, and
// neither do claims that find nothing. Here
// another connection holds those locks (as a claimer of limited work does for the
// length of its claim) while this one claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_of_unlimited_jobs_does_not_wait_for_the_limits_lock() {
    let database = TestDatabase::create();
    let store = open(&database).await;
    store
        .set_limit(&SetLimit {
            scope: LimitScope::Type,
            name: "throttled".into(),
            rate_per_minute: None,
            concurrency: Some(1),
            now: T0,
        })
        .await
        .unwrap();
    store
        .enqueue(&(0..10).map(job).collect::<Vec<_>>())
        .await
        .unwrap();

    let mut holder = PgConnection::connect(database.url()).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("SELECT * FROM job_limits FOR UPDATE")
        .await
        .unwrap();
    let params = ClaimParams {
        worker_id: "w".into(),
        limit: 5,
        now: T0 + 1,
    };
    let claimed = tokio::time::timeout(NOTIFY_TIMEOUT, store.claim(&params))
        .await
        .expect("the claim waited for the limits' lock")
        .unwrap()
        .jobs;
    // Nor does a claim that finds nothing due (an idle daemon's).
    let before_any_is_due = ClaimParams {
        now: T0 - 1,
        ..params.clone()
    };
    let nothing = tokio::time::timeout(NOTIFY_TIMEOUT, store.claim(&before_any_is_due))
        .await
        .expect("the empty claim waited for the limits' lock")
        .unwrap();
    assert!(nothing.jobs.is_empty());
    holder.execute("ROLLBACK").await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["j000000", "j000001", "j000002", "j000003", "j000004"]);
}

// Claims go through a connection of their own, outside the pool. When it is cut, the
// claim on it fails with an error that says so (the dispatcher then looks for jobs the
// lost answer held), and the next claim opens it again: every job is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claiming_connection_once_cut_is_opened_again_and_nothing_is_claimed_twice() {
    let database = TestDatabase::create();
    let store = open(&database).await;
    store
        .enqueue(&(0..4).map(job).collect::<Vec<_>>())
        .await
        .unwrap();
    let params = ClaimParams {
        worker_id: "w".into(),
        limit: 1,
        now: T0 + 1,
    };
    let mut claimed: Vec<String> = store
        .claim(&params)
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect();

    let mut admin = PgConnection::connect(database.url()).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'jobhost-claimer'",
    )
    .bind(database.name())
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "claims have one connection of their own");

    let mut failures = 0;
    while claimed.len() < 4 {
        match store.claim(&params).await {
            Ok(claim) => claimed.extend(claim.jobs.into_iter().map(|j| j.id)),
            Err(e) => {
                assert!(e.to_string().contains("claiming jobs"), "{e}");
                failures += 1;
                assert!(failures <= 1, "the claims did not recover: {e}");
            }
        }
    }
    assert_eq!(claimed, ["j000000", "j000001", "j000002", "j000003"]);
    assert!(store.claim(&params).await.unwrap().jobs.is_empty());
}
