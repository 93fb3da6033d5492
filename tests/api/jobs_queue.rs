//! The queue at the data layer: claim atomicity, leases, fairness between organisations.
//! The app's own workers run no job types here, so only the test claims.

use std::collections::HashSet;
use std::time::Duration;

use quire::jobs::repo::{self, Finish};
use quire::jobs::{NewJob, enqueue};
use quire_jobs::ManualClock;
use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    concurrent_claimers_never_get_the_same_job,
    a_job_whose_lease_expired_is_claimed_again_and_the_old_lease_can_no_longer_write,
    a_renewed_lease_keeps_the_job_from_other_claimers,
    one_organisations_backlog_does_not_delay_another_organisations_single_job,
    a_job_is_not_claimed_before_its_run_at_nor_by_a_worker_without_its_type,
    a_cancel_requested_during_a_failing_attempt_wins_over_the_retry,
);

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn concurrent_claimers_never_get_the_same_job(app: TestApp) {
    let org = app.create_org("Acme").await;
    for i in 0..200 {
        app.enqueue(&org, "q.work", json!({ "i": i })).await;
    }
    let mut claimers = Vec::new();
    for c in 0..8 {
        let db = app.queue();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let lease = format!("claimer-{c}-{}", mine.len());
                match repo::claim_next(&db, &lease, Duration::from_secs(60), &types(&["q.work"]))
                    .await
                    .expect("claim")
                {
                    Some(job) => {
                        assert_eq!(job.status, "running");
                        assert_eq!(job.lease_owner.as_deref(), Some(lease.as_str()));
                        mine.push(job.id);
                    }
                    None => return mine,
                }
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200, "every job claimed");
    assert_eq!(distinct.len(), 200, "no job claimed twice");
}

async fn a_job_whose_lease_expired_is_claimed_again_and_the_old_lease_can_no_longer_write(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "q.work", json!({})).await;
    // The clock moves only when the test says so: the lease expires without a sleep.
    let clock = ManualClock::starting_now();
    let queue = app.queue().with_clock(clock.clone());
    let db = &queue;
    let kinds = types(&["q.work"]);
    let short = Duration::from_millis(300);

    let first = repo::claim_next(db, "worker-a", short, &kinds)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id.as_str(), first.attempts), (id.as_str(), 1));
    assert!(
        repo::claim_next(db, "worker-b", short, &kinds)
            .await
            .unwrap()
            .is_none(),
        "a leased job is not claimable"
    );

    clock.advance(Duration::from_millis(299));
    assert!(
        repo::claim_next(db, "worker-b", short, &kinds)
            .await
            .unwrap()
            .is_none(),
        "a lease is good until it ends"
    );
    // Worker A "dies": its lease runs out.
    clock.advance(Duration::from_millis(2));
    let second = repo::claim_next(db, "worker-b", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
        .expect("the expired job is claimed again");
    assert_eq!(second.id, id);
    assert_eq!(second.attempts, 2);
    assert_eq!(second.lease_owner.as_deref(), Some("worker-b"));

    // A, waking up, can neither renew nor finish nor report.
    let pool = &db.pool;
    let now = clock_now(db);
    assert_eq!(
        repo::renew_lease(db, &id, "worker-a", short).await.unwrap(),
        None
    );
    assert!(
        !repo::update_progress(pool, now, &id, "worker-a", 50.0, None)
            .await
            .unwrap()
    );
    let mut conn = pool.acquire().await.unwrap();
    let done = Finish::Succeeded {
        result: json!("from a"),
        follow_ups: vec![],
    };
    assert!(
        !repo::finish_attempt(&mut conn, now, &id, "worker-a", &done)
            .await
            .unwrap()
    );
    // B can.
    let done = Finish::Succeeded {
        result: json!("from b"),
        follow_ups: vec![],
    };
    assert!(
        repo::finish_attempt(&mut conn, now, &id, "worker-b", &done)
            .await
            .unwrap()
    );
    let row = repo::find_job(pool, &org.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.result.as_deref(), Some(r#""from b""#));
    assert!(
        repo::claim_next(db, "worker-c", short, &kinds)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_renewed_lease_keeps_the_job_from_other_claimers(app: TestApp) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "q.work", json!({})).await;
    let clock = ManualClock::starting_now();
    let queue = app.queue().with_clock(clock.clone());
    let db = &queue;
    let kinds = types(&["q.work"]);
    let lease = Duration::from_millis(400);
    repo::claim_next(db, "worker-a", lease, &kinds)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..4 {
        // Four renewals 300 ms apart: 1.2 s in all, three times the lease.
        clock.advance(Duration::from_millis(300));
        let renewed = repo::renew_lease(db, &id, "worker-a", lease).await.unwrap();
        assert_eq!(renewed, Some(false), "still ours, no cancel requested");
        assert!(
            repo::claim_next(db, "worker-b", lease, &kinds)
                .await
                .unwrap()
                .is_none()
        );
    }
}

async fn one_organisations_backlog_does_not_delay_another_organisations_single_job(app: TestApp) {
    let busy = app.create_org("Busy").await;
    let quiet = app.create_org("Quiet").await;
    for i in 0..100 {
        app.enqueue(&busy, "q.work", json!({ "i": i })).await;
    }
    let single = app.enqueue(&quiet, "q.work", json!({})).await;
    let kinds = types(&["q.work"]);
    let mut order = Vec::new();
    while let Some(job) = repo::claim_next(&app.queue(), "w", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
    {
        order.push((job.id.clone(), job.payload_json()["i"].as_i64()));
    }
    assert_eq!(order.len(), 101);
    let position = order.iter().position(|(id, _)| *id == single).unwrap();
    assert!(
        position <= 1,
        "the quiet organisation's job is claimed first or second, not at {position}"
    );

    // Within one organisation, oldest first.
    let busy_order: Vec<i64> = order.iter().filter_map(|(_, i)| *i).collect();
    assert_eq!(busy_order, (0..100).collect::<Vec<i64>>());
}

async fn a_job_is_not_claimed_before_its_run_at_nor_by_a_worker_without_its_type(app: TestApp) {
    let org = app.create_org("Acme").await;
    let clock = ManualClock::starting_now();
    let queue = app.queue().with_clock(clock.clone());
    let db = &queue;
    let mut later = NewJob::new(&org.org_id, "q.work", json!({}));
    later.run_at = Some(clock_now(db) + 400);
    let later = quire_jobs::enqueue(db, later).await.unwrap().id;
    let other = app.enqueue(&org, "q.other", json!({})).await;
    let kinds = types(&["q.work"]);
    assert!(
        repo::claim_next(db, "w", Duration::from_secs(60), &kinds)
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(Duration::from_millis(500));
    let job = repo::claim_next(db, "w", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, later);
    let job = repo::claim_next(
        db,
        "w",
        Duration::from_secs(60),
        &types(&["q.other", "q.work"]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(job.id, other);
    assert!(
        enqueue(
            &app.state.db,
            NewJob::new(&org.org_id, "Bad Type", json!({}))
        )
        .await
        .is_err(),
        "job type names are checked"
    );
}

async fn a_cancel_requested_during_a_failing_attempt_wins_over_the_retry(app: TestApp) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "q.work", json!({})).await;
    let db = &app.queue();
    repo::claim_next(db, "w", Duration::from_secs(60), &types(&["q.work"]))
        .await
        .unwrap()
        .unwrap();
    let outcome = repo::request_cancel(&db.pool, &org.org_id, &id)
        .await
        .unwrap();
    assert_eq!(outcome, repo::CancelOutcome::Requested);
    let now = db.now_ms();
    let retry = Finish::Retry {
        error: "timeout".into(),
        run_at: now,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(
        repo::finish_attempt(&mut conn, now, &id, "w", &retry)
            .await
            .unwrap()
    );
    let row = repo::find_job(&db.pool, &org.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "cancelled");
    assert!(row.completed_at.is_some());
    assert!(
        repo::claim_next(db, "w2", Duration::from_secs(60), &types(&["q.work"]))
            .await
            .unwrap()
            .is_none()
    );
}

fn clock_now(queue: &quire::jobs::Queue) -> i64 {
    queue.now_ms()
}
