//! Conformance: rate and concurrency limits, as every claim on either backend honours
//! them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jobhost_store::*;

use super::{T0, claim, ids, job, on_queue, settlement};

const SECOND: Micros = 1_000_000;

/// A limit as a listing shows it: scope, name, rate, concurrency, source.
type ListedLimit = (LimitScope, String, Option<u32>, Option<u32>, LimitSource);

fn limit(
    scope: LimitScope,
    name: &str,
    rate: Option<u32>,
    k: Option<u32>,
    now: Micros,
) -> SetLimit {
    SetLimit {
        scope,
        name: name.into(),
        rate_per_minute: rate,
        concurrency: k,
        now,
    }
}

fn typed(id: &str, job_type: &str, created_at: Micros) -> NewJob {
    NewJob {
        job_type: job_type.into(),
        ..job(id, 0, created_at)
    }
}

pub async fn a_rate_limit_spaces_claims_and_a_held_job_spends_no_attempt(store: Arc<dyn Store>) {
    // 60 a minute: a token a second, at most limits::RATE_BURST (2) at once.
    let set = limit(LimitScope::Type, "echo", Some(60), None, T0);
    store.set_limit(&set).await.unwrap();
    let mut jobs: Vec<NewJob> = (0..5).map(|i| job(&format!("e{i}"), 0, T0 + i)).collect();
    jobs.push(typed("other", "mail", T0 + 10));
    store.enqueue(&jobs).await.unwrap();

    // The burst of two, and the unlimited job beside them.
    let first = claim(store.as_ref(), "w1", 10, T0 + SECOND / 10).await;
    assert_eq!(ids(&first), ["e0", "e1", "other"]);
    assert!(
        claim(store.as_ref(), "w1", 10, T0 + SECOND / 10)
            .await
            .is_empty()
    );
    let held = store.get_job("e2").await.unwrap().unwrap();
    assert_eq!((held.status, held.attempt), (JobStatus::Pending, 0));

    // Half a token later: still nothing, and the next token's time is known.
    let half = T0 + SECOND / 10 + SECOND / 2;
    assert!(claim(store.as_ref(), "w2", 10, half).await.is_empty());
    assert_eq!(
        store.next_limited_claim(half).await.unwrap(),
        Some(T0 + SECOND / 10 + SECOND)
    );
    assert_eq!(
        ids(&claim(store.as_ref(), "w2", 10, T0 + SECOND / 10 + SECOND).await),
        ["e2"]
    );
    // A long wait fills the bucket to its burst, no more.
    assert_eq!(
        ids(&claim(store.as_ref(), "w2", 10, T0 + 100 * SECOND).await),
        ["e3", "e4"]
    );
    for id in ["e2", "e3", "e4"] {
        let j = store.get_job(id).await.unwrap().unwrap();
        assert_eq!((j.status, j.attempt), (JobStatus::Running, 1), "{id}");
    }
    let out_of_tokens = store.next_limited_claim(T0 + 100 * SECOND).await.unwrap();
    assert_eq!(out_of_tokens, Some(T0 + 101 * SECOND));
}

/// A claim whose next jobs are all unlimited takes them as they are; once a limited job
/// is among them, the limit holds, and the unlimited jobs around it are still taken in
/// claim order.
pub async fn a_claim_takes_unlimited_jobs_around_limited_ones(store: Arc<dyn Store>) {
    let set = limit(LimitScope::Type, "mail", None, Some(1), T0);
    store.set_limit(&set).await.unwrap();
    let mut jobs: Vec<NewJob> = (0..3).map(|i| job(&format!("e{i}"), 0, T0 + i)).collect();
    jobs.extend((3..9).map(|i| {
        let id = format!("{}{i}", if i % 2 == 1 { "m" } else { "e" });
        if i % 2 == 1 {
            typed(&id, "mail", T0 + i)
        } else {
            job(&id, 0, T0 + i)
        }
    }));
    store.enqueue(&jobs).await.unwrap();

    let first = claim(store.as_ref(), "w1", 2, T0 + SECOND).await;
    assert_eq!(ids(&first), ["e0", "e1"]);
    // Concurrency 1 for mail: m3 is taken, m5 and m7 passed over.
    let second = claim(store.as_ref(), "w1", 4, T0 + SECOND).await;
    assert_eq!(ids(&second), ["e2", "m3", "e4", "e6"]);
}

/// A claim that takes fewer jobs than asked says whether a limit held due jobs back
/// (passed them over, or, its room spent, did not look for them): the dispatcher claims
/// again when room frees only then, since otherwise the claim took every due job there
/// was.
pub async fn a_claim_says_whether_a_limit_held_due_jobs_back(store: Arc<dyn Store>) {
    store
        .enqueue(&[job("e0", 0, T0), job("e1", 0, T0 + 1)])
        .await
        .unwrap();
    let claim_ten = ClaimParams {
        worker_id: "w".into(),
        limit: 10,
        now: T0 + SECOND,
    };
    let all_due = store.claim(&claim_ten).await.unwrap();
    assert_eq!(
        (ids(&all_due.jobs), all_due.held_back),
        (vec!["e0", "e1"], false)
    );
    let none_due = store.claim(&claim_ten).await.unwrap();
    assert_eq!(none_due, Claim::default());

    let set = limit(LimitScope::Type, "mail", None, Some(1), T0);
    store.set_limit(&set).await.unwrap();
    store
        .enqueue(&[typed("m0", "mail", T0 + 2), typed("m1", "mail", T0 + 3)])
        .await
        .unwrap();
    let first = store.claim(&claim_ten).await.unwrap();
    assert_eq!((ids(&first.jobs), first.held_back), (vec!["m0"], true));
    let held = store.claim(&claim_ten).await.unwrap();
    assert_eq!((held.jobs.len(), held.held_back), (0, true));

    let done = SettleAction::Complete {
        result: "{}".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    store
        .settle(&[settlement(&first.jobs[0], "w", done)])
        .await
        .unwrap();
    let freed = store.claim(&claim_ten).await.unwrap();
    assert_eq!((ids(&freed.jobs), freed.held_back), (vec!["m1"], false));
    assert_eq!(store.claim(&claim_ten).await.unwrap(), Claim::default());
}

pub async fn a_concurrency_limit_holds_across_concurrent_claimers(store: Arc<dyn Store>) {
    const LIMIT: u64 = 3;
    const JOBS: usize = 40;
    let set = limit(LimitScope::Queue, "bulk", None, Some(LIMIT as u32), T0);
    store.set_limit(&set).await.unwrap();
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| on_queue(&format!("b{i:02}"), "bulk", 0, T0 + i as Micros))
        .collect();
    store.enqueue(&jobs).await.unwrap();

    let most_seen = Arc::new(AtomicU64::new(0));
    let mut claimers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        let most_seen = most_seen.clone();
        claimers.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            for _ in 0..2_000 {
                let got = claim(store.as_ref(), &worker, 5, T0 + SECOND).await;
                let running = store
                    .list_jobs(&JobFilter {
                        status: Some(JobStatus::Running),
                        queue: Some("bulk".into()),
                        limit: 1_000,
                        ..JobFilter::default()
                    })
                    .await
                    .unwrap()
                    .len() as u64;
                most_seen.fetch_max(running, Ordering::SeqCst);
                let done: Vec<Settlement> = got
                    .iter()
                    .map(|j| {
                        let action = SettleAction::Complete {
                            result: "{}".into(),
                            followups: vec![],
                            kv_writes: vec![],
                        };
                        settlement(j, &worker, action)
                    })
                    .collect();
                mine.extend(got.iter().map(|j| j.id.clone()));
                if !done.is_empty() {
                    store.settle(&done).await.unwrap();
                }
                let pending = store.stats(T0 + SECOND).await.unwrap().pending;
                if pending == 0 {
                    break;
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (JOBS, JOBS),
        "each job claimed once"
    );
    let most = most_seen.load(Ordering::SeqCst);
    assert!((1..=LIMIT).contains(&most), "{most} running at once");
}

pub async fn a_job_under_a_type_and_a_queue_limit_needs_room_in_both(store: Arc<dyn Store>) {
    store
        .set_limit(&limit(LimitScope::Type, "mail", None, Some(2), T0))
        .await
        .unwrap();
    store
        .set_limit(&limit(LimitScope::Queue, "bulk", None, Some(1), T0))
        .await
        .unwrap();
    store
        .enqueue(&[
            NewJob {
                queue: "bulk".into(),
                ..typed("mail-bulk", "mail", T0)
            },
            NewJob {
                queue: "bulk".into(),
                ..typed("mail-bulk-2", "mail", T0 + 1)
            },
            typed("mail-1", "mail", T0 + 2),
            typed("mail-2", "mail", T0 + 3),
            on_queue("echo-bulk", "bulk", 0, T0 + 4),
            job("echo", -5, T0 + 5),
        ])
        .await
        .unwrap();
    // Claim order, each while its limits have room: the bulk queue's one slot goes to
    // the first mail job, the mail type's second slot to mail-1.
    let got = claim(store.as_ref(), "w1", 10, T0 + 10).await;
    assert_eq!(ids(&got), ["mail-bulk", "mail-1", "echo"]);
    assert!(claim(store.as_ref(), "w1", 10, T0 + 20).await.is_empty());
    // Finishing the bulk one frees the queue's slot and one of the type's.
    let action = SettleAction::Complete {
        result: "{}".into(),
        followups: vec![],
        kv_writes: vec![],
    };
    store
        .settle(&[settlement(&got[0], "w1", action)])
        .await
        .unwrap();
    assert_eq!(
        ids(&claim(store.as_ref(), "w1", 10, T0 + 30).await),
        ["mail-bulk-2"]
    );
}

pub async fn limits_are_set_replaced_and_removed_and_a_plugin_never_overrides_an_operator(
    store: Arc<dyn Store>,
) {
    let plugin = |t: &str, rate, k| PluginLimit {
        job_type: t.into(),
        rate_per_minute: rate,
        concurrency: k,
    };
    store
        .set_plugin_limits(
            &[
                plugin("mail", Some(100), None),
                plugin("echo", None, Some(4)),
            ],
            T0,
        )
        .await
        .unwrap();
    store
        .set_limit(&limit(LimitScope::Type, "echo", Some(30), None, T0 + 1))
        .await
        .unwrap();
    store
        .set_limit(&limit(LimitScope::Queue, "bulk", None, Some(2), T0 + 2))
        .await
        .unwrap();
    // A reload of the plugin changes its own limit, not the operator's.
    store
        .set_plugin_limits(
            &[
                plugin("mail", Some(50), Some(1)),
                plugin("echo", Some(1), None),
            ],
            T0 + 3,
        )
        .await
        .unwrap();
    let listed: Vec<ListedLimit> = store
        .list_limits()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.scope, l.name, l.rate_per_minute, l.concurrency, l.source))
        .collect();
    assert_eq!(
        listed,
        [
            (
                LimitScope::Queue,
                "bulk".into(),
                None,
                Some(2),
                LimitSource::Operator
            ),
            (
                LimitScope::Type,
                "echo".into(),
                Some(30),
                None,
                LimitSource::Operator
            ),
            (
                LimitScope::Type,
                "mail".into(),
                Some(50),
                Some(1),
                LimitSource::Plugin
            ),
        ]
    );
    // A plugin version that drops its limit removes its row.
    store
        .set_plugin_limits(&[plugin("mail", None, None)], T0 + 4)
        .await
        .unwrap();
    assert!(store.remove_limit(LimitScope::Queue, "bulk").await.unwrap());
    assert!(!store.remove_limit(LimitScope::Queue, "bulk").await.unwrap());
    let left: Vec<String> = store
        .list_limits()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, ["echo"]);
    // Without limits the plain claim takes everything again.
    assert!(store.remove_limit(LimitScope::Type, "echo").await.unwrap());
    let jobs: Vec<NewJob> = (0..5).map(|i| job(&format!("j{i}"), 0, T0 + i)).collect();
    store.enqueue(&jobs).await.unwrap();
    assert_eq!(claim(store.as_ref(), "w", 10, T0 + 10).await.len(), 5);
    assert_eq!(store.next_limited_claim(T0 + 10).await.unwrap(), None);
}
