//! Conformance: jobs that wait on other jobs (`enqueue --after`, follow-ups' `after`).

use std::sync::Arc;

use jobhost_store::*;

use super::{T0, claim, job, settlement};

fn after(id: &str, created_at: Micros, prerequisites: &[&str]) -> NewJob {
    NewJob {
        after: prerequisites.iter().map(|p| p.to_string()).collect(),
        ..job(id, 0, created_at)
    }
}

fn complete() -> SettleAction {
    SettleAction::Complete {
        result: "{}".into(),
        followups: vec![],
        kv_writes: vec![],
    }
}

async fn status(store: &dyn Store, id: &str) -> JobStatus {
    store.get_job(id).await.unwrap().unwrap().status
}

async fn finish(store: &dyn Store, job: &ClaimedJob, action: SettleAction) -> SettleReport {
    store
        .settle(&[settlement(job, "w1", action)])
        .await
        .unwrap()
}

pub async fn a_job_after_others_waits_until_every_one_completed(store: Arc<dyn Store>) {
    store
        .enqueue(&[job("a", 0, T0), job("b", 0, T0 + 1)])
        .await
        .unwrap();
    let first = claim(store.as_ref(), "w1", 1, T0 + 10).await;
    assert_eq!(first[0].id, "a");
    // `a` is running, `b` pending: the new job waits on both.
    store
        .enqueue(&[after("c", T0 + 2, &["a", "b"])])
        .await
        .unwrap();
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Waiting);
    let second = claim(store.as_ref(), "w1", 10, T0 + 10).await;
    assert_eq!(
        second.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["b"],
        "a waiting job is never claimed"
    );
    assert_eq!(
        finish(store.as_ref(), &first[0], complete()).await.released,
        0
    );
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Waiting);
    assert!(claim(store.as_ref(), "w1", 10, T0 + 10).await.is_empty());
    assert_eq!(
        finish(store.as_ref(), &second[0], complete())
            .await
            .released,
        1
    );
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Pending);
    let third = claim(store.as_ref(), "w1", 10, T0 + 10).await;
    assert_eq!(third[0].id, "c");

    let links = store.job_links("c").await.unwrap();
    let waits: Vec<(&str, DependencyState, &str)> = links
        .waits_on
        .iter()
        .map(|l| (l.job.id.as_str(), l.state, l.job.status.as_str()))
        .collect();
    assert_eq!(
        waits,
        [
            ("a", DependencyState::Done, "completed"),
            ("b", DependencyState::Done, "completed")
        ]
    );
    let waiters = store.job_links("a").await.unwrap().waited_on_by;
    assert_eq!(waiters.len(), 1);
    assert_eq!(waiters[0].job.id, "c");
}

pub async fn a_job_after_a_completed_one_is_pending_and_after_an_unknown_one_is_refused(
    store: Arc<dyn Store>,
) {
    store.enqueue(&[job("x", 0, T0)]).await.unwrap();
    let x = claim(store.as_ref(), "w1", 1, T0).await;
    finish(store.as_ref(), &x[0], complete()).await;
    store
        .enqueue(&[after("y", T0 + 1, &["x", "x"])])
        .await
        .unwrap();
    assert_eq!(status(store.as_ref(), "y").await, JobStatus::Pending);

    let refused = store
        .enqueue(&[job("fine", 0, T0 + 2), after("z", T0 + 2, &["x", "nope"])])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::NotFound { id, .. } if id == "nope"),
        "{refused}"
    );
    assert!(store.get_job("z").await.unwrap().is_none());
    assert!(
        store.get_job("fine").await.unwrap().is_none(),
        "a refused batch stores nothing"
    );
}

pub async fn a_dead_prerequisite_blocks_its_waiters_and_a_replay_releases_them(
    store: Arc<dyn Store>,
) {
    store
        .enqueue(&[job("a", 0, T0), job("b", 0, T0 + 1)])
        .await
        .unwrap();
    store
        .enqueue(&[after("c", T0 + 2, &["a", "b"])])
        .await
        .unwrap();
    let claimed = claim(store.as_ref(), "w1", 2, T0 + 10).await;
    let dead = SettleAction::DeadLetter {
        reason: DeadReason::PermanentFailure,
        error: "no".into(),
    };
    finish(store.as_ref(), &claimed[0], dead).await;
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Blocked);
    finish(store.as_ref(), &claimed[1], complete()).await;
    assert_eq!(
        status(store.as_ref(), "c").await,
        JobStatus::Blocked,
        "the other one completing does not release it"
    );
    let stats = store.stats(T0 + 20).await.unwrap();
    assert_eq!((stats.blocked, stats.waiting), (1, 0));
    assert_eq!(
        store.job_links("c").await.unwrap().waits_on[0],
        DependencyLink {
            job: JobRef {
                id: "a".into(),
                job_type: "echo".into(),
                status: "dead".into()
            },
            state: DependencyState::Failed,
        }
    );

    store
        .replay_dead(&ReplayParams {
            dead_id: "a".into(),
            new_job_id: "a2".into(),
            now: T0 + 30,
            max_attempts: None,
            queue: None,
            priority: None,
            keep_attempts: false,
        })
        .await
        .unwrap();
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Waiting);
    let waits = store.job_links("c").await.unwrap().waits_on;
    assert!(
        waits
            .iter()
            .any(|l| l.job.id == "a2" && l.state == DependencyState::Waiting),
        "{waits:?}"
    );
    let again = claim(store.as_ref(), "w1", 10, T0 + 40).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, "a2");
    assert_eq!(
        finish(store.as_ref(), &again[0], complete()).await.released,
        1
    );
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Pending);

    // A job enqueued after a replayed dead letter waits on its replacement.
    store.enqueue(&[after("d", T0 + 50, &["a"])]).await.unwrap();
    assert_eq!(status(store.as_ref(), "d").await, JobStatus::Pending);
}

pub async fn cancelling_a_prerequisite_blocks_its_waiters_which_can_be_cancelled(
    store: Arc<dyn Store>,
) {
    store.enqueue(&[job("a", 0, T0)]).await.unwrap();
    store.enqueue(&[after("c", T0 + 1, &["a"])]).await.unwrap();
    assert_eq!(
        store.cancel_job("a", T0 + 2).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Blocked);
    // A job enqueued after a cancelled one is blocked from the start.
    store.enqueue(&[after("d", T0 + 3, &["a"])]).await.unwrap();
    assert_eq!(status(store.as_ref(), "d").await, JobStatus::Blocked);
    assert_eq!(
        store.cancel_job("c", T0 + 4).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(status(store.as_ref(), "c").await, JobStatus::Cancelled);
    assert!(claim(store.as_ref(), "w1", 10, T0 + 10).await.is_empty());
}

pub async fn follow_ups_are_children_and_may_wait_on_their_siblings(store: Arc<dyn Store>) {
    store.enqueue(&[job("order", 0, T0)]).await.unwrap();
    let parent = claim(store.as_ref(), "w1", 1, T0).await;
    let child = |id: &str| NewJob {
        parent_id: Some("order".into()),
        ..job(id, 0, T0 + 20)
    };
    let fan_in = NewJob {
        after: vec!["invoice".into(), "inventory".into()],
        ..child("report")
    };
    let done = SettleAction::Complete {
        result: "{}".into(),
        followups: vec![child("invoice"), child("inventory"), fan_in],
        kv_writes: vec![],
    };
    finish(store.as_ref(), &parent[0], done).await;
    assert_eq!(status(store.as_ref(), "report").await, JobStatus::Waiting);
    let links = store.job_links("order").await.unwrap();
    let mut children: Vec<&str> = links.children.iter().map(|c| c.id.as_str()).collect();
    children.sort();
    assert_eq!(children, ["inventory", "invoice", "report"]);
    assert_eq!(
        store.job_links("report").await.unwrap().parent.unwrap().id,
        "order"
    );

    let siblings = claim(store.as_ref(), "w1", 10, T0 + 30).await;
    assert_eq!(siblings.len(), 2, "the fan-in job is not claimed with them");
    let batch: Vec<Settlement> = siblings
        .iter()
        .map(|s| settlement(s, "w1", complete()))
        .collect();
    assert_eq!(store.settle(&batch).await.unwrap().released, 1);
    assert_eq!(
        claim(store.as_ref(), "w1", 10, T0 + 30).await[0].id,
        "report"
    );
}

/// A waiter enqueued while its prerequisite is being settled (by another connection)
/// either sees it running, and is released by the settlement, or sees it completed:
/// it never waits forever.
pub async fn a_waiter_racing_its_prerequisites_settlement_is_never_stranded(store: Arc<dyn Store>) {
    for round in 0..20 {
        let (p, w) = (format!("p{round}"), format!("w{round}"));
        store.enqueue(&[job(&p, 0, T0)]).await.unwrap();
        let claimed = claim(store.as_ref(), "w1", 1, T0).await;
        let settle = {
            let store = store.clone();
            let s = settlement(&claimed[0], "w1", complete());
            tokio::spawn(async move { store.settle(&[s]).await.unwrap() })
        };
        let enqueue = {
            let store = store.clone();
            let waiter = after(&w, T0 + 1, &[&p]);
            tokio::spawn(async move { store.enqueue(&[waiter]).await.unwrap() })
        };
        settle.await.unwrap();
        enqueue.await.unwrap();
        assert_eq!(status(store.as_ref(), &w).await, JobStatus::Pending, "{w}");
        let got = claim(store.as_ref(), "w1", 1, T0 + 10).await;
        assert_eq!(got[0].id, w);
        finish(store.as_ref(), &got[0], complete()).await;
    }
}

/// A prerequisite whose worker died on its last attempt is dead-lettered by the rescue,
/// and that blocks its waiters as a failed settlement would; one that goes back to
/// pending leaves them waiting.
pub async fn a_rescue_that_dead_letters_a_prerequisite_blocks_its_waiters(store: Arc<dyn Store>) {
    let mut last_try = job("last", 0, T0);
    last_try.max_attempts = 1;
    store
        .enqueue(&[last_try, job("again", 0, T0 + 1)])
        .await
        .unwrap();
    store
        .enqueue(&[
            after("on-last", T0 + 2, &["last"]),
            after("on-again", T0 + 3, &["again"]),
        ])
        .await
        .unwrap();
    assert_eq!(claim(store.as_ref(), "gone", 2, T0 + 10).await.len(), 2);
    let report = store
        .rescue(&RescueParams {
            now: T0 + 20,
            dead_workers: vec!["gone".into()],
            stale_before: 0,
        })
        .await
        .unwrap();
    assert_eq!(report.dead_lettered, ["last"]);
    assert_eq!(status(store.as_ref(), "on-last").await, JobStatus::Blocked);
    assert_eq!(status(store.as_ref(), "on-again").await, JobStatus::Waiting);
}
