//! Workspaces on both backends: the embedded engine, and AnythingLLM through its HTTP
//! test double (a real server following shared/reference, faults included).

use std::time::Duration;

use anythingllm::testing::{TestDouble, endpoint};
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{create_workspace, finished_upload, upload, wait_until_embedded};
use crate::fixtures::{GOVERNING_LAW, contract_pdf, mixed_bundle};
use crate::helpers::{Backend, TestApp, TestOrg, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    create_or_reuse_returns_the_existing_workspace_of_that_name,
    workspace_settings_are_validated_naming_the_field,
    workspaces_list_with_filters_and_update_partially,
    deleting_a_workspace_with_running_jobs_is_409_unless_forced,
    another_organisation_gets_404_on_every_workspace_route,
    a_thread_keeps_the_conversation_of_a_chat,
);

async fn post(app: &TestApp, org: &TestOrg, path: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, path, &org.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn create_or_reuse_returns_the_existing_workspace_of_that_name(app: TestApp) {
    let org = app.create_org("Reuse").await;
    let first = post(
        &app,
        &org,
        "/api/v1/workspaces",
        json!({"name": "Tenders", "prompt_preset": "procurement"}),
    )
    .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["backend"], "embedded");
    assert_eq!(first["slug"], "tenders");
    assert_eq!(first["document_count"], 0);
    let again = post(&app, &org, "/api/v1/workspaces", json!({"name": "Tenders"})).await;
    assert_error_envelope(again, 409, "conflict").await;
    let reused = post(
        &app,
        &org,
        "/api/v1/workspaces",
        json!({"name": "Tenders", "reuse_existing": true}),
    )
    .await;
    assert_eq!(reused.status(), 200);
    assert_eq!(reused.json::<Value>().await.unwrap()["id"], first["id"]);
}

async fn workspace_settings_are_validated_naming_the_field(app: TestApp) {
    let org = app.create_org("Validate").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "top_n": 0}), "top_n"),
        (
            json!({"name": "x", "similarity_threshold": 1.5}),
            "similarity_threshold",
        ),
        (
            json!({"name": "x", "prompt_preset": "pirate"}),
            "prompt_preset",
        ),
        (
            json!({"name": "x", "llm_config": {"temperature": 3.0}}),
            "llm_config.temperature",
        ),
        (json!({"name": "x", "backend": "anythingllm"}), "backend"),
    ] {
        let response = post(&app, &org, "/api/v1/workspaces", body.clone()).await;
        let error = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{body} → {error}");
    }
    let unknown = post(
        &app,
        &org,
        "/api/v1/workspaces",
        json!({"name": "x", "colour": "red"}),
    )
    .await;
    assert_error_envelope(unknown, 422, "validation_error").await;
}

async fn workspaces_list_with_filters_and_update_partially(app: TestApp) {
    let org = app.create_org("List").await;
    for name in ["Alpha contracts", "Beta tenders", "Gamma contracts"] {
        create_workspace(&app, &org, name).await;
    }
    let page: Value = app
        .get_json("/api/v1/workspaces?q=CONTRACTS&limit=1", &org.admin_key)
        .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let updated = app
        .authed(
            Method::PUT,
            &format!("/api/v1/workspaces/{id}"),
            &org.admin_key,
        )
        .json(&json!({"top_n": 8, "chat_mode": "chat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["top_n"], 8);
    assert_eq!(updated["chat_mode"], "chat");
    assert_eq!(
        updated["name"], page["items"][0]["name"],
        "absent fields keep their value"
    );
    let clash = app
        .authed(
            Method::PUT,
            &format!("/api/v1/workspaces/{id}"),
            &org.admin_key,
        )
        .json(&json!({"name": "Beta tenders"}))
        .send()
        .await
        .unwrap();
    assert_error_envelope(clash, 409, "conflict").await;
}

async fn deleting_a_workspace_with_running_jobs_is_409_unless_forced(app: TestApp) {
    let org = app.create_org("Delete").await;
    let ws = create_workspace(&app, &org, "Doomed").await;
    // A queued job of the workspace, scheduled far ahead so no worker takes it.
    let mut job =
        quire::jobs::NewJob::new(&org.org_id, "workspaces.embed", json!({"workspace_id": ws}));
    job.workspace_id = Some(ws.clone());
    job.run_at = Some(quire::time::now_ms() + 3_600_000);
    let job = quire::jobs::enqueue(&app.state.db, job).await.unwrap();
    let refused = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/workspaces/{ws}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(refused, 409, "conflict").await;
    let forced = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/workspaces/{ws}?force=true"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 204);
    let gone = app
        .authed(
            Method::GET,
            &format!("/api/v1/workspaces/{ws}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let job: Value = app
        .get_json(&format!("/api/v1/jobs/{}", job.id), &org.admin_key)
        .await;
    assert_eq!(job["status"], "cancelled");
}

async fn another_organisation_gets_404_on_every_workspace_route(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let other = app.create_org("Other").await;
    let ws = create_workspace(&app, &owner, "Private").await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/workspaces/{ws}"), None),
        (
            Method::PUT,
            format!("/api/v1/workspaces/{ws}"),
            Some(json!({"top_n": 9})),
        ),
        (Method::DELETE, format!("/api/v1/workspaces/{ws}"), None),
        (Method::POST, format!("/api/v1/workspaces/{ws}/embed"), None),
        (
            Method::POST,
            format!("/api/v1/workspaces/{ws}/chat"),
            Some(json!({"message": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/v1/workspaces/{ws}/documents"),
            None,
        ),
    ] {
        let mut request = app.authed(method.clone(), &path, &other.admin_key);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let list: Value = app.get_json("/api/v1/workspaces", &other.admin_key).await;
    assert_eq!(list["total"], 0);
    let still: Value = app
        .get_json(&format!("/api/v1/workspaces/{ws}"), &owner.admin_key)
        .await;
    assert_eq!(still["top_n"], 4, "nothing changed");
}

async fn a_thread_keeps_the_conversation_of_a_chat(app: TestApp) {
    let org = app.create_org("Threads").await;
    let ws = create_workspace(&app, &org, "Chat").await;
    let job = upload(&app, &org.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(&app, &org.admin_key, &job_id).await;
    wait_until_embedded(&app, &org.admin_key, &ws).await;
    let first: Value = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{ws}/chat"),
        json!({"message": "What is the governing law?", "new_thread": true}),
    )
    .await
    .json()
    .await
    .unwrap();
    let thread = first["thread_id"]
        .as_str()
        .expect("a thread was opened")
        .to_owned();
    assert!(first["answer"].as_str().unwrap().contains(GOVERNING_LAW));
    let second = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{ws}/chat"),
        json!({"message": "What is the liability cap?", "thread_id": thread}),
    )
    .await;
    assert_eq!(second.status(), 200);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM thread_messages WHERE thread_id = $1")
        .bind(&thread)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 4, "two questions and two answers kept");
    let unknown = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{ws}/chat"),
        json!({"message": "x", "thread_id": "nope"}),
    )
    .await;
    assert_error_envelope(unknown, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_on_one_postgres_answer_on_the_same_embedded_workspace() {
    let Some(first) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let second = first.spawn_alongside(&[]).await;
    let org = first.create_org("Shared").await;
    let ws = create_workspace(&first, &org, "Shared contracts").await;
    let job = upload(&first, &org.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(&first, &org.admin_key, &job_id).await;
    wait_until_embedded(&first, &org.admin_key, &ws).await;
    for app in [&second, &first] {
        let answer: Value = post(
            app,
            &org,
            &format!("/api/v1/workspaces/{ws}/chat"),
            json!({"message": "What is the governing law?"}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert!(
            answer["answer"].as_str().unwrap().contains(GOVERNING_LAW),
            "{answer}"
        );
    }
}

// --- AnythingLLM ---

async fn app_with_double(extra: &[&str]) -> (TestApp, TestDouble) {
    let double = TestDouble::start().await.unwrap();
    let url = format!("--anythingllm-url={}", double.base_url());
    let key = format!("--anythingllm-api-key={}", double.api_key());
    let mut args = vec![
        url.as_str(),
        key.as_str(),
        "--anythingllm-retry-base-ms=1",
        "--anythingllm-timeout=2",
    ];
    args.extend_from_slice(extra);
    let app = TestApp::spawn_with(Backend::Sqlite, &args).await.unwrap();
    (app, double)
}

async fn anythingllm_workspace(app: &TestApp, org: &TestOrg) -> Value {
    let response = post(
        app,
        org,
        "/api/v1/workspaces",
        json!({"name": "Remote Contracts", "backend": "anythingllm", "top_n": 6, "similarity_threshold": 0.3,
               "prompt_preset": "procurement", "llm_config": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.1}}),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anythingllm_workspace_mirrors_settings_documents_threads_and_deletion() {
    let (app, double) = app_with_double(&[]).await;
    let handle = double.handle();
    let org = app.create_org("Remote").await;
    let ws = anythingllm_workspace(&app, &org).await;
    let id = ws["id"].as_str().unwrap().to_owned();
    let slug = "remote-contracts";
    let settings = handle
        .last_settings(slug)
        .expect("the double got the workspace");
    assert_eq!(settings["topN"], 6);
    assert_eq!(settings["similarityThreshold"], 0.3);
    assert_eq!(settings["chatProvider"], "openai");
    assert_eq!(settings["chatModel"], "gpt-4o-mini");
    assert!(
        settings["openAiPrompt"]
            .as_str()
            .unwrap()
            .contains("procurement")
    );

    let updated = app
        .authed(
            Method::PUT,
            &format!("/api/v1/workspaces/{id}"),
            &org.admin_key,
        )
        .json(&json!({"top_n": 3, "system_prompt": "Answer tersely."}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let settings = handle.last_settings(slug).unwrap();
    assert_eq!(settings["topN"], 3);
    assert_eq!(settings["openAiPrompt"], "Answer tersely.");

    let job = upload(
        &app,
        &org.admin_key,
        &id,
        "bundle.zip",
        mixed_bundle().bytes,
    )
    .await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(&app, &org.admin_key, &job_id).await;
    let docs = wait_until_embedded(&app, &org.admin_key, &id).await;
    let scanned = docs
        .iter()
        .find(|d| d["archive_path"] == "scans/signed-page.pdf")
        .unwrap();
    // The collector finds no text in a scan and refuses it: a clear per-document failure.
    assert_eq!(scanned["status"], "embed_failed", "{scanned}");
    assert!(scanned["error"].as_str().is_some_and(|e| !e.is_empty()));
    let embedded: Vec<&Value> = docs.iter().filter(|d| d["status"] == "embedded").collect();
    assert_eq!(embedded.len(), 4, "{docs:?}");
    let locations = handle.document_locations();
    for folder in ["pdf/", "csv/", "json/"] {
        assert!(
            locations.iter().any(|l| l.starts_with(folder)),
            "grouped by type: {locations:?}"
        );
    }

    let answer = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{id}/chat"),
        json!({"message": "What is the governing law?", "new_thread": true}),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    // The double quotes the best-matching sentence of the embedded documents.
    assert!(
        answer["answer"].as_str().unwrap().contains("Governing law"),
        "{answer}"
    );
    assert_eq!(answer["sources"][0]["document_name"], "msa.pdf");
    let contract = docs
        .iter()
        .find(|d| d["archive_path"] == "contracts/msa.pdf")
        .unwrap();
    assert_eq!(answer["sources"][0]["document_id"], contract["id"]);
    assert_eq!(handle.requests(endpoint::NEW_THREAD), 1);
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 1);

    let health: Value = app
        .get_json("/api/v1/health/detailed", &org.admin_key)
        .await;
    assert_eq!(
        health["checks"]["backend:anythingllm"]["status"], "ok",
        "{health}"
    );
    assert_eq!(health["checks"]["backend:anythingllm"]["breaker"], "closed");

    let deleted = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/workspaces/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(handle.requests(endpoint::DELETE_WORKSPACE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_that_does_not_attach_fails_each_document_with_a_reason() {
    let (app, double) = app_with_double(&[]).await;
    double.handle().set_embeddings_attach(false);
    let org = app.create_org("Detached").await;
    let id = anythingllm_workspace(&app, &org).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = upload(&app, &org.admin_key, &id, "msa.pdf", contract_pdf()).await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(&app, &org.admin_key, &job_id).await;
    let docs = wait_until_embedded(&app, &org.admin_key, &id).await;
    assert_eq!(docs[0]["status"], "embed_failed");
    assert!(
        docs[0]["error"]
            .as_str()
            .unwrap()
            .contains("not in the workspace"),
        "{}",
        docs[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_server_errors_and_an_offline_collector_are_retried_to_success() {
    let (app, double) = app_with_double(&[]).await;
    let handle = double.handle();
    let org = app.create_org("Flaky").await;
    let id = anythingllm_workspace(&app, &org).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    handle.collector_offline_next(2);
    handle.fail_next_with(
        2,
        anythingllm::testing::StatusCode::BAD_GATEWAY,
        Some(endpoint::UPDATE_EMBEDDINGS),
    );
    let job = upload(&app, &org.admin_key, &id, "msa.pdf", contract_pdf()).await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(&app, &org.admin_key, &job_id).await;
    let docs = wait_until_embedded(&app, &org.admin_key, &id).await;
    assert_eq!(docs[0]["status"], "embedded", "{}", docs[0]);
    assert!(
        handle.requests(endpoint::UPLOAD_TO_FOLDER) >= 3,
        "the upload was retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_reply_is_a_failure_not_an_answer_and_an_open_breaker_is_reported() {
    let (app, double) = app_with_double(&[
        "--anythingllm-breaker-threshold=2",
        "--anythingllm-max-attempts=1",
    ])
    .await;
    let handle = double.handle();
    let org = app.create_org("Abort").await;
    let id = anythingllm_workspace(&app, &org).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    handle.abort_next_chats(1);
    let aborted = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{id}/chat"),
        json!({"message": "anything"}),
    )
    .await;
    let status = aborted.status();
    let text = aborted.text().await.unwrap();
    assert_eq!(status, 502, "{text}");

    handle.fail_next(10);
    for _ in 0..2 {
        let failed = post(
            &app,
            &org,
            &format!("/api/v1/workspaces/{id}/chat"),
            json!({"message": "anything"}),
        )
        .await;
        assert_eq!(failed.status(), 503);
    }
    let open = post(
        &app,
        &org,
        &format!("/api/v1/workspaces/{id}/chat"),
        json!({"message": "anything"}),
    )
    .await;
    let body = assert_error_envelope(open, 503, "service_unavailable").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("circuit"),
        "{body}"
    );
    let health: Value = app
        .get_json("/api/v1/health/detailed", &org.admin_key)
        .await;
    assert_eq!(
        health["checks"]["backend:anythingllm"]["breaker"], "open",
        "{health}"
    );
    assert_eq!(health["status"], "degraded");
    tokio::time::sleep(Duration::from_millis(1)).await;
}
