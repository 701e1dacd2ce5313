//! What only the SQLite backend promises: the URL forms it accepts, the files it makes,
//! its `synchronous` flag, and exclusive claims between two processes' pools on one file.

use std::collections::HashSet;
use std::sync::Arc;

use jobhost_store::*;

const T0: Micros = 1_000_000_000;

fn job(n: i64) -> NewJob {
    NewJob {
        id: format!("j{n:04}"),
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

#[tokio::test]
async fn every_url_form_opens_and_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (n, form) in ["sqlite://", "sqlite:", ""].into_iter().enumerate() {
        let path = dir.path().join(format!("db{n}.sqlite"));
        let store = connect(
            &format!("{form}{}", path.display()),
            &ConnectOptions::default(),
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        assert!(path.exists(), "{form} creates the file");
        let wal = format!("{}-wal", path.display());
        assert_eq!(store.change_file(), Some(wal.into()));
        assert!(store.subscribe_changes().await.unwrap().is_none());
    }
}

#[tokio::test]
async fn urls_without_a_file_are_refused() {
    for url in ["sqlite://", "sqlite::memory:"] {
        assert!(
            connect(url, &ConnectOptions::default()).await.is_err(),
            "{url}"
        );
    }
}

#[test]
fn the_synchronous_flag_reads_back_what_it_prints() {
    for s in [
        Synchronous::Off,
        Synchronous::Normal,
        Synchronous::Full,
        Synchronous::Extra,
    ] {
        assert_eq!(s.to_string().parse::<Synchronous>(), Ok(s));
    }
    assert_eq!("FULL".parse::<Synchronous>(), Ok(Synchronous::Full));
    assert!("fast".parse::<Synchronous>().is_err());
    assert_eq!(Synchronous::default(), Synchronous::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_never_claim_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let options = ConnectOptions {
        sqlite_synchronous: Synchronous::Full,
        max_connections: Some(2),
    };
    let a = connect(&url, &options).await.unwrap();
    a.migrate().await.unwrap();
    let b = connect(&url, &options).await.unwrap();
    let jobs: Vec<NewJob> = (0..600).map(job).collect();
    a.enqueue(&jobs).await.unwrap();

    let mut tasks = Vec::new();
    for w in 0..6 {
        let store: Arc<dyn Store> = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let params = ClaimParams {
                    worker_id: format!("w{w}"),
                    limit: 5,
                    now: T0,
                };
                let got = store.claim(&params).await.unwrap().jobs;
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
    assert_eq!((all.len(), unique.len()), (600, 600));
}
