//! A deleted document does not answer: deleting a document, taking it out of a
//! workspace or deleting the workspace an upload brought it into removes its copies from
//! every backend (the embedded index cache of each workspace, AnythingLLM's embedding
//! and stored file), so neither `/chat` nor a question run retrieves it afterwards.
//! On SQLite and PostgreSQL, on the embedded engine and against the AnythingLLM double.

use anythingllm::testing::{TestDouble, endpoint};
use quire_ingest::fixtures::zip_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{create_workspace, finished_upload, upload, wait_until_embedded};
use crate::helpers::{Backend, TestApp, TestOrg};
use crate::on_both_databases;
use crate::questions::{execute, finished_run, results};

on_both_databases!(flags = ["--rate-limit-enabled=false"];
    a_deleted_document_answers_neither_a_chat_nor_a_question_run,
    deleting_a_workspace_takes_its_uploaded_documents_out_of_every_other_workspace,
);

const FACT: &str = "The delivery deadline is 14 March 2027.";
const QUESTION: &str = "What is the delivery deadline?";

async fn create_document(app: &TestApp, org: &TestOrg, workspace_id: &str) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/documents", &org.admin_key)
        .json(
            &json!({ "title": "Terms", "content": format!("Terms of delivery. {FACT}"),
                       "workspace_ids": [workspace_id] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn chat(app: &TestApp, org: &TestOrg, ws: &str) -> Value {
    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/chat"),
            &org.admin_key,
        )
        .json(&json!({ "message": QUESTION }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn chat_quotes_the_fact(app: &TestApp, org: &TestOrg, ws: &str) -> bool {
    chat(app, org, ws)
        .await
        .to_string()
        .contains("14 March 2027")
}

/// A one-question run on the workspace; its result and whether it quotes the fact.
async fn run_quotes_the_fact(app: &TestApp, org: &TestOrg, ws: &str) -> bool {
    let key = &org.admin_key;
    let id = execute(
        app,
        key,
        json!({ "workspace_id": ws, "questions": [
            { "id": "deadline", "text": QUESTION, "expected_fragments": ["14 March 2027"] }
        ] }),
    )
    .await;
    let run = finished_run(app, key, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let page = results(app, key, &id, "").await;
    let result = &page["items"][0];
    let quoted = result["response"]
        .as_str()
        .is_some_and(|r| r.contains("14 March 2027"))
        || result["sources"].to_string().contains("14 March 2027");
    assert_eq!(result["success"], quoted, "{result}");
    quoted
}

async fn delete(app: &TestApp, org: &TestOrg, path: &str) {
    let response = app
        .authed(Method::DELETE, path, &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "DELETE {path}");
}

async fn a_deleted_document_answers_neither_a_chat_nor_a_question_run(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let id = create_document(&app, &org, &ws).await;
    wait_until_embedded(&app, &org.admin_key, &ws).await;
    // Asked first, so this instance's index cache holds the document.
    assert!(chat_quotes_the_fact(&app, &org, &ws).await);
    assert!(run_quotes_the_fact(&app, &org, &ws).await);

    delete(&app, &org, &format!("/api/v1/documents/{id}")).await;
    assert!(!chat_quotes_the_fact(&app, &org, &ws).await);
    assert!(!run_quotes_the_fact(&app, &org, &ws).await);
    // Re-embedding the workspace brings nothing back.
    let embed = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/embed"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert!(embed.status().is_success(), "{}", embed.status());
    app.run_pending_jobs().await;
    assert!(!chat_quotes_the_fact(&app, &org, &ws).await);
}

async fn deleting_a_workspace_takes_its_uploaded_documents_out_of_every_other_workspace(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let first = create_workspace(&app, &org, "First").await;
    let second = create_workspace(&app, &org, "Second").await;
    let bundle = zip_of(&[(
        "terms.json",
        json!({ "terms": format!("Terms of delivery. {FACT}") })
            .to_string()
            .as_bytes(),
    )])
    .unwrap();
    let response = upload(&app, key, &first, "bundle.zip", bundle).await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished_upload(&app, key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let docs = wait_until_embedded(&app, key, &first).await;
    let id = docs[0]["id"].as_str().unwrap().to_owned();
    let added = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{second}/documents/{id}"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    wait_until_embedded(&app, key, &second).await;
    assert!(chat_quotes_the_fact(&app, &org, &second).await);

    // The upload's document goes with its workspace, and out of the other one too.
    delete(&app, &org, &format!("/api/v1/workspaces/{first}")).await;
    let gone = app
        .authed(Method::GET, &format!("/api/v1/documents/{id}"), key)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(!chat_quotes_the_fact(&app, &org, &second).await);
    assert!(!run_quotes_the_fact(&app, &org, &second).await);
}

// --- Against the AnythingLLM test double -------------------------------------------

async fn app_with_double(backend: Backend) -> Option<(TestDouble, TestApp)> {
    let double = TestDouble::start().await.unwrap();
    let url = format!("--anythingllm-url=http://{}", double.addr());
    let key = format!("--anythingllm-api-key={}", double.api_key());
    let flags = [
        url.as_str(),
        key.as_str(),
        "--rate-limit-enabled=false",
        "--anythingllm-retry-base-ms=1",
    ];
    let app = TestApp::spawn_with(backend, &flags).await?;
    Some((double, app))
}

async fn anythingllm_workspace(app: &TestApp, org: &TestOrg, name: &str) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", &org.admin_key)
        .json(&json!({ "name": name, "backend": "anythingllm" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

macro_rules! with_the_double_on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if crate::helpers::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}

with_the_double_on_both_databases!(
    a_deleted_document_leaves_the_anythingllm_workspace_and_its_storage,
    deleting_an_anythingllm_workspace_purges_its_stored_files,
);

async fn a_deleted_document_leaves_the_anythingllm_workspace_and_its_storage(backend: Backend) {
    let Some((double, app)) = app_with_double(backend).await else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let first = anythingllm_workspace(&app, &org, "Remote One").await;
    let second = anythingllm_workspace(&app, &org, "Remote Two").await;
    let id = create_document(&app, &org, &first).await;
    let added = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{second}/documents/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let in_first = wait_until_embedded(&app, &org.admin_key, &first).await;
    wait_until_embedded(&app, &org.admin_key, &second).await;
    assert_eq!(in_first[0]["status"], "embedded", "{in_first:?}");
    assert_eq!(handle.document_locations().len(), 2);
    assert!(chat_quotes_the_fact(&app, &org, &first).await);
    assert!(chat_quotes_the_fact(&app, &org, &second).await);

    // Out of one workspace: its file there is purged, the other stays.
    delete(
        &app,
        &org,
        &format!("/api/v1/workspaces/{first}/documents/{id}"),
    )
    .await;
    assert!(!chat_quotes_the_fact(&app, &org, &first).await);
    assert!(chat_quotes_the_fact(&app, &org, &second).await);
    assert_eq!(handle.document_locations().len(), 1);

    delete(&app, &org, &format!("/api/v1/documents/{id}")).await;
    assert!(!chat_quotes_the_fact(&app, &org, &second).await);
    assert!(!run_quotes_the_fact(&app, &org, &second).await);
    assert!(
        handle.document_locations().is_empty(),
        "{:?}",
        handle.document_locations()
    );
    assert_eq!(handle.requests(endpoint::REMOVE_DOCUMENTS), 2);
}

async fn deleting_an_anythingllm_workspace_purges_its_stored_files(backend: Backend) {
    let Some((double, app)) = app_with_double(backend).await else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let ws = anythingllm_workspace(&app, &org, "Remote").await;
    create_document(&app, &org, &ws).await;
    wait_until_embedded(&app, &org.admin_key, &ws).await;
    assert_eq!(handle.document_locations().len(), 1);

    delete(&app, &org, &format!("/api/v1/workspaces/{ws}")).await;
    assert_eq!(handle.requests(endpoint::DELETE_WORKSPACE), 1);
    assert!(
        handle.document_locations().is_empty(),
        "{:?}",
        handle.document_locations()
    );
}
