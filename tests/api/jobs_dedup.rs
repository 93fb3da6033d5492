//! De-duplication keys, follow-up jobs and the drain helper: at the data layer (the app's
//! own workers run no `q.*` type) and end to end with the AnythingLLM double.

use std::time::Duration;

use anythingllm::testing::{TestDouble, endpoint};
use quire::jobs::repo::{self, Finish};
use quire::jobs::{NewJob, enqueue};
use serde_json::{Value, json};

use crate::documents::upload;
use crate::fixtures::contract_pdf;
use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;
use quire_ingest::fixtures::text_pdf;

on_both_databases!(
    an_identical_queued_job_is_not_enqueued_twice,
    jobs_of_one_dedup_key_never_run_at_the_same_time,
    follow_up_jobs_are_enqueued_with_the_success_and_not_after_a_lost_lease,
);

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn an_identical_queued_job_is_not_enqueued_twice(app: TestApp) {
    let acme = app.create_org("Acme").await;
    let other = app.create_org("Other").await;
    let db = &app.state.db;
    let job = |org: &str, key: &str| {
        NewJob::new(org, "q.embed", json!({ "workspace_id": key })).dedup_key(key)
    };
    let first = enqueue(db, job(&acme.org_id, "ws-1")).await.unwrap();
    let again = enqueue(db, job(&acme.org_id, "ws-1")).await.unwrap();
    assert_eq!(again.id, first.id, "the waiting job is returned");
    let other_key = enqueue(db, job(&acme.org_id, "ws-2")).await.unwrap();
    let other_org = enqueue(db, job(&other.org_id, "ws-1")).await.unwrap();
    let other_type = enqueue(
        db,
        NewJob::new(&acme.org_id, "q.other", json!({})).dedup_key("ws-1"),
    )
    .await
    .unwrap();
    let without_key = enqueue(db, NewJob::new(&acme.org_id, "q.embed", json!({})))
        .await
        .unwrap();
    let again_without_key = enqueue(db, NewJob::new(&acme.org_id, "q.embed", json!({})))
        .await
        .unwrap();
    let ids = [
        &first.id,
        &other_key.id,
        &other_org.id,
        &other_type.id,
        &without_key.id,
        &again_without_key.id,
    ];
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "only the identical job was folded"
    );
    let (_, total) = repo::list_jobs(&db.pool, &acme.org_id, &repo::JobFilter::default(), 100, 0)
        .await
        .unwrap();
    assert_eq!(total, 5, "Acme has five jobs, not six");

    // Once it started, the job no longer absorbs new requests: what it already read may
    // not include what the new request is about.
    let claimed = repo::claim_next(
        &app.queue(),
        "w",
        Duration::from_secs(60),
        &types(&["q.embed"]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(claimed.id, first.id);
    let after_start = enqueue(db, job(&acme.org_id, "ws-1")).await.unwrap();
    assert_ne!(after_start.id, first.id);
    assert_eq!(after_start.status, "queued");
    let twin = enqueue(db, job(&acme.org_id, "ws-1")).await.unwrap();
    assert_eq!(twin.id, after_start.id);
}

async fn jobs_of_one_dedup_key_never_run_at_the_same_time(app: TestApp) {
    let org = app.create_org("Acme").await;
    let db = &app.state.db;
    let queue = app.queue();
    let kinds = types(&["q.embed"]);
    let keyed = || NewJob::new(&org.org_id, "q.embed", json!({})).dedup_key("ws-1");
    let running = enqueue(db, keyed()).await.unwrap();
    repo::claim_next(&queue, "w1", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
        .unwrap();
    let waiting = enqueue(db, keyed()).await.unwrap();
    let unrelated = enqueue(db, NewJob::new(&org.org_id, "q.embed", json!({})))
        .await
        .unwrap();
    // Concurrent claimers: only the unrelated job can be taken while the twin runs.
    let mut claimers = Vec::new();
    for c in 0..4 {
        let queue = queue.clone();
        let kinds = kinds.clone();
        claimers.push(tokio::spawn(async move {
            repo::claim_next(&queue, &format!("c{c}"), Duration::from_secs(60), &kinds)
                .await
                .unwrap()
                .map(|j| j.id)
        }));
    }
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.extend(c.await.unwrap());
    }
    assert_eq!(claimed, vec![unrelated.id.clone()]);

    let mut conn = db.pool.acquire().await.unwrap();
    let done = Finish::Succeeded {
        result: json!({}),
        follow_ups: vec![],
    };
    assert!(
        repo::finish_attempt(&mut conn, queue.now_ms(), &running.id, "w1", &done)
            .await
            .unwrap()
    );
    let next = repo::claim_next(&queue, "w2", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
        .expect("the twin finished: the waiting job runs");
    assert_eq!(next.id, waiting.id);
}

async fn follow_up_jobs_are_enqueued_with_the_success_and_not_after_a_lost_lease(app: TestApp) {
    let org = app.create_org("Acme").await;
    let db = &app.state.db;
    let queue = app.queue();
    let kinds = types(&["q.upload"]);
    let follow_up = || NewJob::new(&org.org_id, "q.embed", json!({ "after": "upload" }));
    let first = app.enqueue(&org, "q.upload", json!({})).await;
    let second = app.enqueue(&org, "q.upload", json!({})).await;
    let mut conn = db.pool.acquire().await.unwrap();

    // The second attempt's lease is lost: nothing is written, so no follow-up either.
    repo::claim_next(&queue, "w1", Duration::from_secs(60), &kinds)
        .await
        .unwrap()
        .unwrap();
    let lost = Finish::Succeeded {
        result: json!({}),
        follow_ups: vec![follow_up()],
    };
    assert!(
        !repo::finish_attempt(&mut conn, queue.now_ms(), &second, "not-w1", &lost)
            .await
            .unwrap()
    );
    assert_eq!(follow_ups(&app, &org.org_id).await.len(), 0);

    let mut tx = db.pool.begin().await.unwrap();
    let done = Finish::Succeeded {
        result: json!({}),
        follow_ups: vec![follow_up()],
    };
    assert!(
        repo::finish_attempt(&mut tx, queue.now_ms(), &first, "w1", &done)
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        follow_ups(&app, &org.org_id).await.len(),
        0,
        "rolled back with the success"
    );
    assert!(
        repo::finish_attempt(&mut conn, queue.now_ms(), &first, "w1", &done)
            .await
            .unwrap()
    );
    let enqueued = follow_ups(&app, &org.org_id).await;
    assert_eq!(enqueued.len(), 1);
    assert_eq!(enqueued[0].status, "queued");
    assert_eq!(enqueued[0].payload_json(), json!({ "after": "upload" }));
}

async fn follow_ups(app: &TestApp, org_id: &str) -> Vec<quire::jobs::JobRow> {
    let filter = repo::JobFilter {
        job_type: Some("q.embed".into()),
        ..Default::default()
    };
    repo::list_jobs(&app.state.db.pool, org_id, &filter, 100, 0)
        .await
        .unwrap()
        .0
}

mod two_uploads_in_quick_succession_upload_each_document_to_anythingllm_once {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::two_uploads_in_quick_succession(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_uploads_in_quick_succession(super::Backend::Postgres).await;
    }
}

async fn two_uploads_in_quick_succession(backend: Backend) {
    let double = TestDouble::start().await.unwrap();
    // Slow uploads keep the first embed job busy while the second upload finishes.
    double.handle().set_latency(Duration::from_millis(300));
    let url = format!("--anythingllm-url={}", double.base_url());
    let key = format!("--anythingllm-api-key={}", double.api_key());
    let args = [
        url.as_str(),
        key.as_str(),
        "--anythingllm-retry-base-ms=1",
        "--anythingllm-timeout=10",
        "--max-concurrent-jobs=4",
    ];
    let Some(app) = TestApp::spawn_with(backend, &args).await else {
        return;
    };
    let org = app.create_org("Remote").await;
    let response = app
        .authed(reqwest::Method::POST, "/api/v1/workspaces", &org.admin_key)
        .json(&json!({ "name": "Remote", "backend": "anythingllm" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let ws = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three different documents (the same bytes twice would be one document).
    let files = [
        ("contract.pdf", contract_pdf()),
        (
            "order.pdf",
            text_pdf(&["Purchase order PO-77 for 400 office chairs."]),
        ),
        (
            "invoice.pdf",
            text_pdf(&["Invoice INV-2026-031: 129.00 GBP for one chair."]),
        ),
    ];
    for (name, bytes) in files {
        let accepted = upload(&app, &org.admin_key, &ws, name, bytes).await;
        assert_eq!(accepted.status(), 202, "{name}");
    }
    app.run_pending_jobs().await;

    let page: Value = app
        .get_json(
            &format!("/api/v1/workspaces/{ws}/documents?limit=200"),
            &org.admin_key,
        )
        .await;
    let docs = page["items"].as_array().unwrap();
    assert_eq!(docs.len(), 3, "{page}");
    assert!(
        docs.iter().all(|d| d["status"] == "embedded"),
        "every document embedded: {page}"
    );
    assert_eq!(
        double.handle().requests(endpoint::UPLOAD_TO_FOLDER),
        3,
        "each document uploaded once: {:?}",
        double.handle().request_counts()
    );
    assert_eq!(double.handle().document_locations().len(), 3);
}
