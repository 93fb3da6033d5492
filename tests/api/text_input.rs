//! What people type: one rule on both databases. NUL (which PostgreSQL cannot store in
//! text) and control characters in a name are a `422` naming the field, never a `500`;
//! NUL anywhere in a JSON body is refused the same way.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    names_with_nul_line_breaks_or_direction_overrides_are_422_naming_the_field,
    nul_in_free_text_or_a_login_email_is_422_naming_the_field_not_a_server_error,
    names_in_any_script_are_kept_as_typed,
    an_uploaded_json_file_holding_nul_is_stored_without_it,
);

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, path, key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn names_with_nul_line_breaks_or_direction_overrides_are_422_naming_the_field(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    for name in ["Con\u{0}tracts", "Contracts\n2026", "evil\u{202E}fdp.exe"] {
        let response = post(&app, key, "/api/v1/workspaces", json!({ "name": name })).await;
        let body = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], "name", "{name:?}: {body}");

        let response = post(
            &app,
            key,
            "/api/v1/question-sets",
            json!({ "name": name, "questions": [{"text": "Q?"}] }),
        )
        .await;
        let body = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], "name", "{name:?}: {body}");
    }
    let listed: Value = app.get_json("/api/v1/workspaces", key).await;
    assert_eq!(listed["total"], 0, "nothing was written: {listed}");
}

async fn nul_in_free_text_or_a_login_email_is_422_naming_the_field_not_a_server_error(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let response = post(
        &app,
        key,
        "/api/v1/workspaces",
        json!({ "name": "Contracts", "description": "a\u{0}b" }),
    )
    .await;
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "description");

    let response = post(
        &app,
        key,
        "/api/v1/question-sets",
        json!({ "name": "Set", "questions": [{"text": "Term\u{0}?"}] }),
    )
    .await;
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "questions[0].text");

    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "a\u{0}@example.test", "password": "whatever-long" }))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "email");
}

async fn names_in_any_script_are_kept_as_typed(app: TestApp) {
    let org = app.create_org("Acme").await;
    let name = "Vertrag ünï 合同 🚀";
    let response = post(
        &app,
        &org.admin_key,
        "/api/v1/workspaces",
        json!({ "name": name }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], name);
}

/// A file's text is not something its uploader can retype: NUL in an uploaded JSON file
/// is dropped from the extracted text (PostgreSQL failed the whole upload job on it).
async fn an_uploaded_json_file_holding_nul_is_stored_without_it(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "Tenders").await;
    let file = br#"{"tender": "Road\u0000works", "lots": 3}"#.to_vec();
    let response = crate::documents::upload(&app, key, &ws, "tender.json", file).await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = crate::documents::finished_upload(&app, key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let documents: Value = app
        .get_json(&format!("/api/v1/workspaces/{ws}/documents"), key)
        .await;
    let id = documents["items"][0]["id"].as_str().unwrap().to_owned();
    let text: Value = app
        .get_json(&format!("/api/v1/documents/{id}/text"), key)
        .await;
    let page = text["pages"][0]["text"].as_str().unwrap();
    assert!(page.contains("Roadworks"), "{page}");
    assert!(!page.contains('\0'), "{page:?}");
}
