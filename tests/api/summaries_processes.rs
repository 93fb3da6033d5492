//! Summaries across real processes (issue 13): a `quire serve` child killed (SIGKILL)
//! in the middle of a bulk run of 200 documents, and a second one started on the same
//! database, end the run with exactly one complete summary per document. The model is
//! the in-process fake OpenAI server with 100 ms a call, so the kill lands mid-way.
//! SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use quire_llm::testing::{FakeLlm, Fault};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::job_helpers::QuireProcess;

const DOCUMENTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_bulk_and_restarting_ends_with_exactly_200_summaries_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite app");
    killing_the_server_mid_bulk_and_restarting_ends_with_exactly_200_summaries(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_bulk_and_restarting_ends_with_exactly_200_summaries_postgres() {
    if let Some(app) = TestApp::spawn(Backend::Postgres).await {
        killing_the_server_mid_bulk_and_restarting_ends_with_exactly_200_summaries(app).await;
    }
}

/// `(complete, failed, pending)` summaries of the bulk run `parent`.
async fn counts(app: &TestApp, parent: &str) -> (i64, i64, i64) {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM summaries WHERE parent_job_id = $1 GROUP BY status",
    )
    .bind(parent)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let of = |s: &str| {
        rows.iter()
            .find(|(status, _)| status == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    (of("complete"), of("failed"), of("pending"))
}

async fn killing_the_server_mid_bulk_and_restarting_ends_with_exactly_200_summaries(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    // Every call (first run, retries after the kill, the second run) takes 100 ms.
    fake.fail_next(4 * DOCUMENTS, Fault::Slow(Duration::from_millis(100)));
    let org = app.create_org("Bulk crash").await;
    let mut ids = Vec::new();
    for n in 0..DOCUMENTS {
        let response = app
            .authed(reqwest::Method::POST, "/api/v1/documents", &org.admin_key)
            .json(&json!({
                "title": format!("Agreement {n}"),
                "content": format!("Agreement number {n} between Northwind and the City. \
                    The supplier shall deliver {n} boxes of paper each month. \
                    Payment is due within 30 days of delivery.")
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // From here on only the child processes serve and run jobs.
    app.stop_serving().await;

    let flags = [
        "--job-lease-seconds=5",
        "--job-poll-interval-ms=100",
        "--max-concurrent-jobs=4",
    ];
    let mut first = QuireProcess::start(&app, "serve", &flags);
    let client = reqwest::Client::new();
    let base = first
        .base_url()
        .expect("serve prints its address")
        .to_owned();
    let response = client
        .post(format!("{base}/api/v1/summaries/bulk"))
        .bearer_auth(&org.admin_key)
        .json(&json!({
            "document_ids": ids,
            "format": "text",
            "llm": {"provider": "openai", "base_url": fake.base_url(), "model": "summary-model"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["total_documents"], DOCUMENTS);
    let parent = accepted["job"]["id"].as_str().unwrap().to_owned();

    // Kill once some, but far from all, summaries are done.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (complete, _, _) = counts(&app, &parent).await;
        if complete >= 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no progress: {complete} complete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let (complete_at_kill, failed_at_kill, _) = counts(&app, &parent).await;
    let (checkpoint,): (Option<String>,) =
        sqlx::query_as("SELECT checkpoint FROM jobs WHERE id = $1")
            .bind(&parent)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    let enqueued_at_kill = checkpoint
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|c| c["next"].as_u64())
        .unwrap_or(0);
    assert_eq!(failed_at_kill, 0);
    assert!(
        complete_at_kill > 0 && (complete_at_kill as usize) < DOCUMENTS,
        "the kill landed mid-way: {complete_at_kill} complete"
    );
    assert!(
        (enqueued_at_kill as usize) < DOCUMENTS,
        "the parent had not enqueued every document yet: {enqueued_at_kill}"
    );

    // A new server on the same data finishes the run.
    let second = QuireProcess::start(&app, "serve", &flags);
    let base = second.base_url().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job: Value = client
            .get(format!("{base}/api/v1/jobs/{parent}"))
            .bearer_auth(&org.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "the bulk run never ended: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    // The second server took the parent over (a third attempt is possible when a
    // loaded machine let a heartbeat miss the lease).
    assert!(
        job["attempts"].as_u64() >= Some(2),
        "the second server took the parent over: {job}"
    );
    assert_eq!(job["result"]["total"], DOCUMENTS, "{job}");
    assert_eq!(job["result"]["complete"], DOCUMENTS, "{job}");
    assert_eq!(job["result"]["failed"], 0, "{job}");
    assert_eq!(job["progress"], 100.0);

    // Exactly one summary per document, each complete, through the API and in the table.
    assert_eq!(counts(&app, &parent).await, (DOCUMENTS as i64, 0, 0));
    let (rows, documents): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT document_id) FROM summaries WHERE org_id = $1",
    )
    .bind(&org.org_id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!((rows, documents), (DOCUMENTS as i64, DOCUMENTS as i64));
    let listed: Value = client
        .get(format!("{base}/api/v1/summaries?status=complete&limit=1"))
        .bearer_auth(&org.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], DOCUMENTS, "{listed}");
    let (texts,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM summaries WHERE org_id = $1 AND summary_text LIKE 'Fake answer to:%'",
    )
    .bind(&org.org_id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        texts, DOCUMENTS as i64,
        "every summary is the model's answer"
    );
    // Every document was asked about at least once; no more calls than documents plus
    // those cut short by the kill (at most the child jobs running then).
    let requests = fake.request_count();
    assert!(
        (DOCUMENTS..=DOCUMENTS + 4).contains(&requests),
        "{requests} model calls"
    );
}
