//! Health, metrics, API docs, request ids and security headers.

use serde_json::Value;

use crate::helpers::{TestApp, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    liveness_reports_ok_with_version_and_uptime,
    detailed_health_reports_the_database_and_storage,
    anonymous_detailed_health_shows_only_each_dependency_status,
    metrics_count_requests_by_route_template_not_raw_path,
    openapi_document_is_valid_openapi_3_1_with_our_routes,
    try_it_out_calls_the_url_of_the_route_not_the_prefix_twice,
    docs_pages_are_served_from_local_assets,
    every_response_carries_a_request_id_and_keeps_a_sane_incoming_one,
    security_headers_are_set_on_api_answers,
    unknown_route_answers_the_envelope_with_the_request_id,
    wrong_method_answers_405_in_the_envelope,
    migrations_are_recorded_and_a_second_run_is_a_no_op,
);

async fn liveness_reports_ok_with_version_and_uptime(app: TestApp) {
    let response = app.get("/api/v1/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
}

async fn detailed_health_reports_the_database_and_storage(app: TestApp) {
    // An admin sees the details.
    let org = app.create_org("Ops").await;
    let response = app
        .authed(
            reqwest::Method::GET,
            "/api/v1/health/detailed",
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let db = &body["checks"]["database"];
    assert_eq!(db["status"], "ok");
    let expected_kind = match app.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(db["kind"], expected_kind);
    assert!(db["latency_ms"].as_f64().is_some());
    assert_eq!(body["checks"]["storage"]["status"], "ok");
}

/// Readiness probes call it without credentials: they get each dependency's status and
/// nothing about where things live or what runs (the embedded engine's index path, the
/// database kind, the version).
async fn anonymous_detailed_health_shows_only_each_dependency_status(app: TestApp) {
    let response = app.get("/api/v1/health/detailed").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert!(body.get("version").is_none(), "{body}");
    let checks = body["checks"].as_object().unwrap();
    assert!(checks.contains_key("database") && checks.contains_key("storage"));
    for (name, check) in checks {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["status"], "{name}: {check}");
    }
    let text = body.to_string();
    let data_dir = app.data_path().display().to_string();
    assert!(!text.contains(&data_dir), "{text}");
}

async fn metrics_count_requests_by_route_template_not_raw_path(app: TestApp) {
    app.get("/api/v1/health").await;
    app.get("/api/v1/no-such-thing-12345").await;
    // A route with a parameter, unauthenticated: counted under its template.
    let job = app
        .get("/api/v1/jobs/0193c0de-0000-7000-8000-00000000abcd")
        .await;
    assert_eq!(job.status(), 401);
    app.get("/docs").await;
    let response = app.get("/api/v1/metrics").await;
    assert_eq!(response.status(), 200);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"api_requests_total{method="GET",endpoint="/api/v1/health",status_code="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"api_requests_total{method="GET",endpoint="/api/v1/jobs/{id}",status_code="401"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"api_requests_total{method="GET",endpoint="/docs",status_code="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"api_requests_total{method="GET",endpoint="unmatched",status_code="404"}"#),
        "{text}"
    );
    assert!(text.contains("api_request_duration_seconds_bucket"));
    for raw in ["no-such-thing-12345", "00000000abcd"] {
        assert!(
            !text.contains(raw),
            "raw paths must not become labels: {raw}"
        );
    }
}

/// Swagger UI's "Try it out" (and every generated client) resolves the document's server
/// URL against the document's own address and appends the operation's path. The paths
/// already carry `/api/v1`, so a server URL of `/api/v1` sent `/api/v1/api/v1/health`.
async fn try_it_out_calls_the_url_of_the_route_not_the_prefix_twice(app: TestApp) {
    let doc_url = reqwest::Url::parse(&app.url("/openapi.json")).unwrap();
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let servers = doc["servers"].as_array().cloned().unwrap_or_default();
    assert!(!servers.is_empty(), "the document names its server");
    for server in servers {
        let base = doc_url.join(server["url"].as_str().unwrap()).unwrap();
        let url = format!(
            "{}{}",
            base.as_str().trim_end_matches('/'),
            "/api/v1/health"
        );
        assert_eq!(url, app.url("/api/v1/health"));
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
}

async fn openapi_document_is_valid_openapi_3_1_with_our_routes(app: TestApp) {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Quire");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/health",
        "/api/v1/health/detailed",
        "/api/v1/metrics",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    // Every $ref must resolve inside the document.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
}

async fn docs_pages_are_served_from_local_assets(app: TestApp) {
    for (page, asset) in [
        ("/docs", "/docs/swagger-ui-bundle.js"),
        ("/redoc", "/redoc/redoc.standalone.js"),
    ] {
        let response = app.get(page).await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains(asset), "{page} must load {asset}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page} must not use a CDN"
        );
        let js = app.get(asset).await;
        assert_eq!(js.status(), 200);
        assert!(js.bytes().await.unwrap().len() > 100_000);
    }
    let css = app.get("/docs/swagger-ui.css").await;
    assert_eq!(css.status(), 200);
}

async fn every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(app: TestApp) {
    let response = app.get("/api/v1/health").await;
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());

    let kept = app
        .client
        .get(app.url("/api/v1/health"))
        .header("x-request-id", "client-trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "client-trace-42");

    let replaced = app
        .client
        .get(app.url("/api/v1/health"))
        .header("x-request-id", "bad id with spaces\tand tabs")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "an unsafe id is replaced, got {id}"
    );
}

async fn security_headers_are_set_on_api_answers(app: TestApp) {
    for path in ["/api/v1/health", "/api/v1/nope"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.contains_key("referrer-policy"));
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
}

async fn unknown_route_answers_the_envelope_with_the_request_id(app: TestApp) {
    let response = app.get("/api/v1/definitely/not/here").await;
    assert_error_envelope(response, 404, "not_found").await;
}

async fn wrong_method_answers_405_in_the_envelope(app: TestApp) {
    let response = app
        .client
        .delete(app.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_error_envelope(response, 405, "method_not_allowed").await;
}

async fn migrations_are_recorded_and_a_second_run_is_a_no_op(app: TestApp) {
    let before = app.state.db.applied_migrations().await.unwrap();
    assert!(!before.is_empty());
    app.state.db.migrate().await.unwrap();
    let after = app.state.db.applied_migrations().await.unwrap();
    assert_eq!(before, after);
}
