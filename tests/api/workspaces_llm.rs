//! Generated answers on embedded workspaces, through `quire-llm`'s in-process fakes
//! of the OpenAI and Anthropic APIs: which settings reach the model (server default ←
//! workspace ← request, field by field), where the server's key may go, and how
//! unusable settings are reported.

use quire_llm::testing::FakeLlm;
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{finished_upload, upload, wait_until_embedded};
use crate::fixtures::{GOVERNING_LAW, contract_pdf};
use crate::helpers::{Backend, TestApp, TestOrg, assert_error_envelope};
use crate::on_both_databases;
use crate::questions::{execute, finished_run};

on_both_databases!(
    an_embedded_workspace_asks_its_model_with_the_request_override_on_top,
    llm_settings_that_cannot_work_are_a_422_naming_the_field,
    a_run_with_questions_of_their_own_llm_config_asks_each_with_its_settings,
);

const QUESTION: &str = "What is the governing law?";
const SERVER_KEY: &str = "sk-server-5e1d";

async fn post(app: &TestApp, org: &TestOrg, path: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, path, &org.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// An embedded workspace with `llm_config` and the sample contract embedded.
async fn workspace_with_contract(app: &TestApp, org: &TestOrg, llm_config: Value) -> String {
    let created = post(
        app,
        org,
        "/api/v1/workspaces",
        json!({"name": "Generated", "llm_config": llm_config}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let ws = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = upload(app, &org.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    let job_id = job.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished_upload(app, &org.admin_key, &job_id).await;
    wait_until_embedded(app, &org.admin_key, &ws).await;
    ws
}

async fn chat(app: &TestApp, org: &TestOrg, ws: &str, body: Value) -> reqwest::Response {
    post(app, org, &format!("/api/v1/workspaces/{ws}/chat"), body).await
}

async fn an_embedded_workspace_asks_its_model_with_the_request_override_on_top(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Generated").await;
    let ws = workspace_with_contract(
        &app,
        &org,
        json!({"provider": "ollama", "base_url": fake.base_url(), "model": "ws-model", "temperature": 0.3}),
    )
    .await;

    let answer = chat(&app, &org, &ws, json!({"message": QUESTION})).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["answer"],
        format!("Fake answer to: Question: {QUESTION}")
    );
    assert!(!answer["sources"].as_array().unwrap().is_empty());
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "ws-model");
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["max_tokens"], 1024);
    let prompt = sent.body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains(GOVERNING_LAW), "{prompt}");

    let overridden = chat(
        &app,
        &org,
        &ws,
        json!({"message": QUESTION, "llm_config": {"model": "request-model", "max_tokens": 50}}),
    )
    .await;
    assert_eq!(overridden.status(), 200);
    let sent = &fake.requests()[1];
    assert_eq!(sent.body["model"], "request-model");
    assert_eq!(sent.body["max_tokens"], 50);
    assert_eq!(sent.body["temperature"], 0.3, "the workspace's field stays");

    let extractive: Value = chat(
        &app,
        &org,
        &ws,
        json!({"message": QUESTION, "llm_config": {"provider": "extractive"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        extractive["answer"]
            .as_str()
            .unwrap()
            .contains(GOVERNING_LAW)
    );
    assert_eq!(
        fake.request_count(),
        2,
        "no model asked for an extractive answer"
    );
}

async fn llm_settings_that_cannot_work_are_a_422_naming_the_field(app: TestApp) {
    let org = app.create_org("Unusable").await;
    // No LLM_BASE_URL on this server, and the workspace names none.
    let ws = workspace_with_contract(&app, &org, json!({"provider": "openai", "model": "m"})).await;
    let response = chat(&app, &org, &ws, json!({"message": QUESTION})).await;
    let error = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "llm_config.base_url");

    let response = chat(
        &app,
        &org,
        &ws,
        json!({"message": QUESTION, "llm_config": {"provider": "gemini", "base_url": "http://127.0.0.1:9"}}),
    )
    .await;
    let error = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "llm_config.provider");

    let response = chat(
        &app,
        &org,
        &ws,
        json!({"message": QUESTION, "llm_config": {"timeout": 0}}),
    )
    .await;
    let error = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "llm_config.timeout");
}

async fn a_run_with_questions_of_their_own_llm_config_asks_each_with_its_settings(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Run overrides").await;
    let ws = workspace_with_contract(
        &app,
        &org,
        json!({"provider": "openai", "base_url": fake.base_url(), "model": "ws-model"}),
    )
    .await;
    let id = execute(
        &app,
        &org.admin_key,
        json!({ "workspace_id": ws, "llm_config": {"temperature": 0.5}, "questions": [
            {"id": "own", "text": "Who are the parties?", "expected_fragments": ["Fake"],
             // Question files may carry keys of other tools; they are left out.
             "llm_config": {"model": "question-model", "vars": {"x": 1}}},
            {"id": "plain", "text": "What is the governing law?", "expected_fragments": ["Fake"]}
        ] }),
    )
    .await;
    let run = finished_run(&app, &org.admin_key, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["passed"], 2, "{run}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let sent_for = |question: &str| {
        requests
            .iter()
            .find(|r| {
                r.body["messages"][1]["content"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(question))
            })
            .unwrap_or_else(|| panic!("no request for {question}"))
            .body
            .clone()
    };
    let own = sent_for("Who are the parties?");
    assert_eq!(own["model"], "question-model");
    assert_eq!(own["temperature"], 0.5);
    let plain = sent_for(QUESTION);
    assert_eq!(plain["model"], "ws-model");
    assert_eq!(plain["temperature"], 0.5);
}

/// The server default (LLM_* settings) is the lowest layer; its key goes to its own
/// endpoint and never to a base URL a workspace set.
async fn the_server_default_model_gets_the_key_and_a_tenants_endpoint_does_not(backend: Backend) {
    let server_llm = FakeLlm::start_with_key(SERVER_KEY).await.unwrap();
    let tenant_llm = FakeLlm::start().await.unwrap();
    let flags = [
        "--llm-provider=anthropic".to_owned(),
        format!("--llm-base-url={}", server_llm.base_url()),
        "--llm-model=server-model".to_owned(),
        format!("--llm-api-key={SERVER_KEY}"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(app) = TestApp::spawn_with(backend, &flags).await else {
        return;
    };
    let org = app.create_org("Default model").await;
    let ws = workspace_with_contract(&app, &org, json!({"temperature": 0.0})).await;

    let answer = chat(&app, &org, &ws, json!({"message": QUESTION})).await;
    assert_eq!(answer.status(), 200);
    let sent = &server_llm.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(SERVER_KEY));
    assert_eq!(sent.body["model"], "server-model");
    assert_eq!(sent.body["temperature"], 0.0);

    let elsewhere = chat(
        &app,
        &org,
        &ws,
        json!({"message": QUESTION, "llm_config": {"base_url": tenant_llm.base_url()}}),
    )
    .await;
    assert_eq!(elsewhere.status(), 200);
    let sent = &tenant_llm.requests()[0];
    assert_eq!(sent.body["model"], "server-model");
    assert_eq!(
        sent.header("x-api-key"),
        None,
        "the server's key stays home"
    );
    assert_eq!(server_llm.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_default_model_gets_the_key_and_a_tenants_endpoint_does_not_sqlite() {
    the_server_default_model_gets_the_key_and_a_tenants_endpoint_does_not(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_default_model_gets_the_key_and_a_tenants_endpoint_does_not_postgres() {
    the_server_default_model_gets_the_key_and_a_tenants_endpoint_does_not(Backend::Postgres).await;
}
