//! Issue 20's contract defects that are not about one capability: error answers in the
//! user's terms and with one mapping (400 malformed, 415 media type, 422 values), an
//! empty ZIP, download names, the upload job's JSON, the metrics token, workspace
//! names. On SQLite and PostgreSQL.

use std::time::Duration;

use quire_ingest::fixtures::zip_of;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::documents::{create_workspace, finished_upload, upload};
use crate::helpers::{TestApp, assert_error_envelope};
use crate::job_helpers::read_event_stream;
use crate::on_both_databases;

on_both_databases!(
    an_empty_zip_is_refused_with_422_naming_the_file,
    a_json_body_sent_to_the_upload_endpoint_is_415,
    an_unknown_multipart_field_is_422_naming_it,
    a_null_body_is_described_in_json_terms_not_by_the_rust_type,
    a_download_names_the_file_in_utf8_with_an_ascii_fallback,
    an_upload_job_shows_its_report_once_no_storage_key_and_the_cancel_link_of_its_events,
    workspace_names_that_differ_only_in_case_are_409_and_line_breaks_or_overrides_422,
);

on_both_databases!(flags = ["--metrics-token=scrape-token-for-tests"];
    with_a_metrics_token_the_metrics_answer_only_the_token_or_an_admin,
);

async fn an_empty_zip_is_refused_with_422_naming_the_file(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let empty = zip_of(&[]).unwrap();
    let response = upload(&app, &org.admin_key, &ws, "empty.zip", empty).await;
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "file", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("no entries"),
        "{body}"
    );
    let jobs: Value = app.get_json("/api/v1/documents/jobs", &org.admin_key).await;
    assert_eq!(jobs["total"], 0, "no job for a refused upload: {jobs}");
}

async fn a_json_body_sent_to_the_upload_endpoint_is_415(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let response = app
        .authed(Method::POST, "/api/v1/documents/upload", &org.admin_key)
        .json(&json!({ "workspace_id": ws, "file": "contract.pdf" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 415, "unsupported_media_type").await;
}

async fn an_unknown_multipart_field_is_422_naming_it(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let form = Form::new()
        .text("workspace_id", ws)
        .text("metdata", r#"{"source":"test"}"#)
        .part(
            "file",
            Part::bytes(br#"{"a": 1}"#.to_vec()).file_name("a.json"),
        );
    let response = app
        .authed(Method::POST, "/api/v1/documents/upload", &org.admin_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "metdata", "{body}");
}

async fn a_null_body_is_described_in_json_terms_not_by_the_rust_type(app: TestApp) {
    let org = app.create_org("Acme").await;
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", &org.admin_key)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    let text = body.to_string();
    assert!(!text.contains("CreateWorkspaceRequest"), "{text}");
    assert!(!text.contains("struct"), "{text}");
    assert!(text.contains("expected a JSON object"), "{text}");
}

async fn a_download_names_the_file_in_utf8_with_an_ascii_fallback(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let name = "🚀 Vertrag ünï 合同.json";
    // Sent as UTF-8, as browsers do (reqwest would percent-encode it by default).
    let form = Form::new()
        .percent_encode_noop()
        .text("workspace_id", ws.clone())
        .part(
            "file",
            Part::bytes(br#"{"terms": "net 30"}"#.to_vec()).file_name(name),
        );
    let response = app
        .authed(Method::POST, "/api/v1/documents/upload", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished_upload(&app, key, &job_id).await;
    let id = job["report"]["entries"][0]["document_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{job}"))
        .to_owned();
    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/documents/{id}/download"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains(
            "filename*=UTF-8''%F0%9F%9A%80%20Vertrag%20%C3%BCn%C3%AF%20%E5%90%88%E5%90%8C.json"
        ),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename=\"_ Vertrag _n_ __.json\""),
        "{disposition}"
    );
}

async fn an_upload_job_shows_its_report_once_no_storage_key_and_the_cancel_link_of_its_events(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = create_workspace(&app, &org, "Contracts").await;
    let bundle = zip_of(&[("terms.json", br#"{"terms": "net 30"}"#.as_slice())]).unwrap();
    let response = upload(&app, key, &ws, "bundle.zip", bundle).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let job_id = accepted["job_id"].as_str().unwrap().to_owned();
    let cancel = format!("/api/v1/jobs/{job_id}/cancel");
    assert_eq!(accepted["links"]["cancel"], cancel.as_str());

    let job = finished_upload(&app, key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["report"]["entries"].is_array(), "{job}");
    assert!(job["result"].is_null(), "the report is not repeated: {job}");
    assert!(job["payload"].get("bundle_key").is_none(), "{job}");
    assert_eq!(job["links"]["cancel"], cancel.as_str());
    let generic: Value = app.get_json(&format!("/api/v1/jobs/{job_id}"), key).await;
    assert!(generic["payload"].get("bundle_key").is_none(), "{generic}");
    assert_eq!(generic["links"]["cancel"], cancel.as_str());

    let events = read_event_stream(
        &app,
        key,
        &format!("/api/v1/jobs/{job_id}/events"),
        Duration::from_secs(10),
    )
    .await;
    assert!(!events.is_empty());
    for event in &events {
        if let Some(links) = event.data.get("links") {
            assert_eq!(links["cancel"], cancel.as_str(), "{:?}", event);
        }
        if let Some(payload) = event.data.get("payload") {
            assert!(payload.get("bundle_key").is_none(), "{:?}", event);
        }
    }
    assert!(
        events.iter().any(|e| e.data.get("links").is_some()),
        "{events:?}"
    );
}

async fn workspace_names_that_differ_only_in_case_are_409_and_line_breaks_or_overrides_422(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    create_workspace(&app, &org, "Contracts 2026").await;
    let create = |name: &str| {
        app.authed(Method::POST, "/api/v1/workspaces", &org.admin_key)
            .json(&json!({ "name": name }))
            .send()
    };
    let twin = create("contracts 2026").await.unwrap();
    let body = assert_error_envelope(twin, 409, "conflict").await;
    assert!(
        body["message"].as_str().unwrap().contains("Contracts 2026"),
        "{body}"
    );
    for bad in ["two\nlines", "evil\u{202E}fdp.exe"] {
        let response = create(bad).await.unwrap();
        let body = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], "name", "{body}");
    }
    // Renaming another workspace onto the twin's slug is refused too.
    let other = create_workspace(&app, &org, "Tenders").await;
    let renamed = app
        .authed(
            Method::PUT,
            &format!("/api/v1/workspaces/{other}"),
            &org.admin_key,
        )
        .json(&json!({ "name": "CONTRACTS-2026" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(renamed, 409, "conflict").await;
}

async fn with_a_metrics_token_the_metrics_answer_only_the_token_or_an_admin(app: TestApp) {
    let org = app.create_org("Acme").await;
    let anonymous = app.get("/api/v1/metrics").await;
    assert_error_envelope(anonymous, 401, "unauthorized").await;
    let wrong = app
        .client
        .get(app.url("/api/v1/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraper = app
        .client
        .get(app.url("/api/v1/metrics"))
        .bearer_auth("scrape-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(scraper.status(), 200);
    assert!(scraper.text().await.unwrap().contains("api_requests_total"));
    let admin = app
        .authed(Method::GET, "/api/v1/metrics", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
}
