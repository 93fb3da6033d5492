//! The queue across real processes: `quire worker` and `quire serve` children started with
//! the hidden `--enable-test-jobs` flag on the test's database. The test app itself runs
//! no `test.*` job types, so every such job here runs in a child.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use quire::jobs::{NewJob, repo};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::job_helpers::{QuireProcess, read_event_stream};
use crate::on_both_databases;

on_both_databases!(
    a_job_of_a_killed_server_is_reclaimed_after_its_lease_and_succeeds_without_duplicate_side_effects,
    the_event_stream_of_a_job_run_by_another_process_shows_progress_and_ends_with_the_terminal_state,
    a_worker_asked_to_stop_puts_its_unfinished_job_back_without_counting_the_attempt,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_postgres_drain_2000_jobs_each_run_exactly_once() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    quire::jobs::testing::prepare(&app.state.db.pool)
        .await
        .unwrap();
    let org = app.create_org("Acme").await;
    let other = app.create_org("Other").await;
    let workers = [
        QuireProcess::start(&app, "worker", &["--max-concurrent-jobs=4"]),
        QuireProcess::start(&app, "worker", &["--max-concurrent-jobs=4"]),
    ];

    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..2000 {
        let owner = if i % 10 == 0 { &other } else { &org };
        ids.push(app.enqueue(owner, "test.record", json!({ "i": i })).await);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (left,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE status <> 'succeeded'")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} jobs still not done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();

    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT job_id, worker FROM job_test_executions")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    let mut by_worker: HashMap<&str, usize> = HashMap::new();
    for (job, worker) in &rows {
        *runs.entry(job).or_default() += 1;
        *by_worker.entry(worker).or_default() += 1;
    }
    assert_eq!(rows.len(), 2000, "2,000 executions recorded");
    for id in &ids {
        assert_eq!(runs.get(id.as_str()), Some(&1), "job {id} ran exactly once");
    }
    let pids: Vec<String> = workers.iter().map(|w| format!("pid-{}", w.pid())).collect();
    for pid in &pids {
        assert!(
            by_worker.get(pid.as_str()).is_some_and(|n| *n > 0),
            "both processes took part: {by_worker:?}"
        );
    }
    let (attempts,): (i64,) = sqlx::query_as("SELECT MAX(attempts) FROM jobs")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);
    eprintln!("2,000 jobs drained by 2 processes in {elapsed:?}: {by_worker:?}");
}

async fn a_job_of_a_killed_server_is_reclaimed_after_its_lease_and_succeeds_without_duplicate_side_effects(
    app: TestApp,
) {
    quire::jobs::testing::prepare(&app.state.db.pool)
        .await
        .unwrap();
    let org = app.create_org("Acme").await;
    let lease = ["--job-lease-seconds=2", "--job-poll-interval-ms=100"];
    let mut first = QuireProcess::start(&app, "serve", &lease);

    // Ten steps of 300 ms; each step writes its row and the checkpoint in one fenced
    // transaction.
    let id = app
        .enqueue(
            &org,
            "test.steps",
            json!({ "steps": 10, "step_millis": 300 }),
        )
        .await;
    let job = app
        .wait_for_job(&org.admin_key, &id, Duration::from_secs(30), |j| {
            j["status"] == "running" && j["progress"].as_f64() >= Some(30.0)
        })
        .await;
    assert_eq!(job["attempts"], 1);
    first.kill();
    let killed_at = Instant::now();
    let done_before_kill = app.recorded_executions(&id).await.len();
    assert!(
        (3..10).contains(&done_before_kill),
        "{done_before_kill} steps done"
    );

    let _second = QuireProcess::start(&app, "serve", &lease);
    let job = app
        .wait_for_status(&org.admin_key, &id, "succeeded", Duration::from_secs(30))
        .await;
    let recovered_after = killed_at.elapsed();
    assert_eq!(job["attempts"], 2, "the second process took the job over");
    assert!(
        recovered_after >= Duration::from_millis(1500),
        "reclaimed only after the lease ran out ({recovered_after:?})"
    );
    let resumed_from = job["result"]["resumed_from"].as_u64().unwrap();
    assert!(
        resumed_from >= 3,
        "resumed from its checkpoint, not from scratch: {job}"
    );

    let rows = app.recorded_executions(&id).await;
    let steps: Vec<i64> = rows.iter().map(|(step, _, _)| *step).collect();
    assert_eq!(
        steps,
        (0..10).collect::<Vec<i64>>(),
        "every step exactly once"
    );
    let workers: std::collections::HashSet<_> = rows.iter().map(|(_, w, _)| w).collect();
    assert_eq!(workers.len(), 2, "both processes did part of the work");
}

async fn the_event_stream_of_a_job_run_by_another_process_shows_progress_and_ends_with_the_terminal_state(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let _worker = QuireProcess::start(&app, "worker", &["--job-poll-interval-ms=50"]);
    let mut job = NewJob::new(&org.org_id, "test.sleep", json!({ "millis": 1500 }));
    job.max_attempts = Some(1);
    let id = app.enqueue_job(job).await;

    let events = read_event_stream(
        &app,
        &org.admin_key,
        &format!("/api/v1/jobs/{id}/events"),
        Duration::from_secs(30),
    )
    .await;
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| e.event == "progress")
        .map(|e| e.data["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.len() >= 3,
        "progress from the other process: {events:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(
        events
            .iter()
            .any(|e| e.event == "state" && e.data["status"] == "running"),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.event, "state");
    assert_eq!(last.data["status"], "succeeded");
    // The job really ran elsewhere: this process has no handler for it.
    assert!(!app.job_registry.contains("test.sleep"));
    let row = repo::find_job(&app.state.db.pool, &org.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.lease_owner.is_none());
}

async fn a_worker_asked_to_stop_puts_its_unfinished_job_back_without_counting_the_attempt(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let mut worker = QuireProcess::start(&app, "worker", &["--shutdown-timeout=1"]);
    let id = app
        .enqueue(&org, "test.sleep", json!({ "millis": 60_000 }))
        .await;
    app.wait_for_status(&org.admin_key, &id, "running", Duration::from_secs(30))
        .await;

    let stopped = worker.terminate_and_wait(Duration::from_secs(30));
    assert!(stopped.success(), "the worker exits cleanly: {stopped:?}");
    let job = app.job(&org.admin_key, &id).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempts"], 0, "the interrupted attempt does not count");
    let row = repo::find_job(&app.state.db.pool, &org.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.lease_owner.is_none());
}
