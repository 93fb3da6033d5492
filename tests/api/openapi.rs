//! The OpenAPI document is the contract: every protected operation says how to
//! authenticate and answers `401` without credentials, every status the server can give
//! is declared with the envelope, bounds and formats the server enforces are in the
//! schemas, the event stream is described, and what Swagger UI and ReDoc show as plain
//! text holds no Markdown. Walks the served `/openapi.json`, so a route added later is
//! checked without being listed here. On SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    every_protected_operation_declares_security_and_its_401_and_403,
    every_protected_operation_answers_401_without_credentials,
    every_operation_declares_the_statuses_its_shape_can_answer,
    bounds_and_formats_the_server_enforces_are_in_the_document,
    the_job_event_stream_is_described_as_objects,
    every_tag_is_described_and_plain_text_fields_hold_no_markdown,
    what_the_document_allows_the_server_takes,
);

/// The operations anyone may call: health probes, metrics, and the account routes that
/// create or trade credentials.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/health/detailed"),
    ("get", "/api/v1/metrics"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    // A signed download link: the signature in its query is the credential.
    ("get", "/api/v1/documents/{id}/signed"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                all.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    assert!(all.len() > 40, "the document lists the API: {}", all.len());
    all
}

fn is_public(method: &str, path: &str) -> bool {
    PUBLIC.contains(&(method, path))
}

fn response_schema_ref(op: &Value, status: &str) -> Option<String> {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .map(str::to_owned)
}

async fn every_protected_operation_declares_security_and_its_401_and_403(app: TestApp) {
    let doc = document(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("bearer") && schemes.contains_key("api_key"));
    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        let declared: Vec<String> = op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter()
                    .flat_map(|r| r.as_object().unwrap().keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        if is_public(&method, &path) {
            if !op["security"].is_null() {
                problems.push(format!("{method} {path} is public but declares security"));
            }
            continue;
        }
        for scheme in ["bearer", "api_key"] {
            if !declared.iter().any(|d| d == scheme) {
                problems.push(format!("{method} {path} does not declare {scheme}"));
            }
        }
        for status in ["401", "403"] {
            if response_schema_ref(&op, status).as_deref() != Some("#/components/schemas/ErrorBody")
            {
                problems.push(format!(
                    "{method} {path} does not declare {status} with the envelope"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The list comes from the document: each operation that declares security is called
/// without credentials (path parameters filled with an id that exists nowhere, a JSON
/// body of `{}`), and must be refused with a `401` envelope before anything else is
/// looked at. Each public one answers something else than `401`.
async fn every_protected_operation_answers_401_without_credentials(app: TestApp) {
    let doc = document(&app).await;
    let mut called = 0;
    for (method, path, op) in operations(&doc) {
        let url = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = app.client.request(method.clone(), app.url(&url));
        if op.get("requestBody").is_some() {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if op["security"].is_null() {
            if method == Method::GET {
                assert_ne!(status, 401, "public GET {path} needs no credentials");
            }
            continue;
        }
        called += 1;
        assert_eq!(status, 401, "{method} {path} without credentials");
        assert_error_envelope(response, 401, "unauthorized").await;
    }
    assert!(called > 40, "protected operations called: {called}");
}

async fn every_operation_declares_the_statuses_its_shape_can_answer(app: TestApp) {
    let doc = document(&app).await;
    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let has = |place: &str| params.iter().any(|p| p["in"] == place);
        let mut expected = vec!["503", "504"];
        if op.get("requestBody").is_some() {
            expected.extend(["400", "413", "415", "422"]);
        }
        if has("query") {
            expected.push("422");
        }
        if has("path") {
            expected.push("404");
        }
        if !path.starts_with("/api/v1/health") && path != "/api/v1/metrics" {
            expected.push("429");
        }
        for status in expected {
            if path == "/api/v1/health/detailed" && status == "503" {
                continue; // its report says which dependency is down
            }
            match response_schema_ref(&op, status) {
                Some(r) if r == "#/components/schemas/ErrorBody" => {}
                other => problems.push(format!("{method} {path} {status}: {other:?}")),
            }
        }
        // Whatever else it declares as an error carries the envelope too (the detailed
        // health check's 503 is its own report).
        for (status, response) in op["responses"].as_object().unwrap() {
            let code: u16 = status.parse().unwrap();
            if code >= 400 && path != "/api/v1/health/detailed" {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if schema != "#/components/schemas/ErrorBody" {
                    problems.push(format!("{method} {path} {status} is not the envelope"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Finds a parameter of an operation.
fn parameter<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    schema
}

/// A property's schema, following a `$ref` or an `oneOf` with `null` (an `Option`).
fn property<'a>(doc: &'a Value, schema_name: &str, field: &str) -> &'a Value {
    let mut p = &schema(doc, schema_name)["properties"][field];
    assert!(p.is_object(), "{schema_name}.{field} is documented");
    if let Some(variants) = p["oneOf"].as_array() {
        p = variants.iter().find(|v| v["type"] != "null").unwrap();
    }
    if let Some(r) = p["$ref"].as_str() {
        p = schema(doc, r.trim_start_matches("#/components/schemas/"));
    }
    p
}

async fn bounds_and_formats_the_server_enforces_are_in_the_document(app: TestApp) {
    let doc = document(&app).await;
    for path in [
        "/api/v1/workspaces",
        "/api/v1/documents",
        "/api/v1/jobs",
        "/api/v1/question-sets",
    ] {
        let limit = &parameter(&doc, "get", path, "limit")["schema"];
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(200)),
            "{path} limit"
        );
        let offset = &parameter(&doc, "get", path, "offset")["schema"];
        assert_eq!(offset["minimum"].as_u64(), Some(0), "{path} offset");
        assert_eq!(
            offset["maximum"].as_u64(),
            Some(9_007_199_254_740_991),
            "{path} offset"
        );
    }
    for (schema_name, field, min, max) in [
        ("ExecuteRequest", "concurrency", 1.0, 50.0),
        ("ExecuteRequest", "repeats", 1.0, 10.0),
        ("ExecuteRequest", "threshold", 0.0, 1.0),
        ("CreateWorkspaceRequest", "top_n", 1.0, 50.0),
        ("CreateWorkspaceRequest", "similarity_threshold", 0.0, 1.0),
        ("UpdateWorkspaceRequest", "top_n", 1.0, 50.0),
    ] {
        let p = property(&doc, schema_name, field);
        assert_eq!(
            (p["minimum"].as_f64(), p["maximum"].as_f64()),
            (Some(min), Some(max)),
            "{schema_name}.{field}: {p}"
        );
    }
    for (schema_name, field, max) in [
        ("CreateWorkspaceRequest", "name", 255),
        ("UpdateWorkspaceRequest", "name", 255),
        ("QuestionSetRequest", "name", 255),
        ("CreateDocumentRequest", "title", 500),
        ("RegisterRequest", "organisation_name", 200),
        ("CreateApiKeyRequest", "name", 200),
        ("UpdateOrganisationRequest", "name", 200),
    ] {
        let p = property(&doc, schema_name, field);
        assert_eq!(p["minLength"], 1, "{schema_name}.{field}: {p}");
        assert_eq!(p["maxLength"], max, "{schema_name}.{field}: {p}");
        assert!(p["pattern"].is_string(), "{schema_name}.{field}: {p}");
    }
    for (schema_name, field) in [
        ("RegisterRequest", "email"),
        ("LoginRequest", "email"),
        ("CreateUserRequest", "email"),
    ] {
        assert_eq!(property(&doc, schema_name, field)["format"], "email");
    }
    assert_eq!(
        property(&doc, "CreateApiKeyRequest", "expires_at")["format"],
        "date-time"
    );
}

async fn the_job_event_stream_is_described_as_objects(app: TestApp) {
    let doc = document(&app).await;
    let ok = &doc["paths"]["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"];
    let stream = &ok["content"]["text/event-stream"]["schema"];
    let name = stream["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("the stream's schema is a named object: {stream}"))
        .trim_start_matches("#/components/schemas/");
    let event = schema(&doc, name);
    assert_eq!(event["type"], "object");
    let kinds = property(&doc, name, "event");
    let kinds: Vec<&str> = kinds["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["state", "progress", "error"]);
    let data = &event["properties"]["data"];
    let data = schema(
        &doc,
        data["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/"),
    );
    let variants: Vec<&str> = data["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["$ref"].as_str().unwrap_or_default())
        .collect();
    assert!(
        variants.contains(&"#/components/schemas/JobResponse"),
        "{variants:?}"
    );
}

/// Swagger UI and ReDoc render descriptions as CommonMark, but an operation's summary, a
/// tag's name and the title as plain text: backticks there show as backticks.
async fn every_tag_is_described_and_plain_text_fields_hold_no_markdown(app: TestApp) {
    let doc = document(&app).await;
    let tags = doc["tags"].as_array().unwrap();
    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        for tag in op["tags"].as_array().unwrap() {
            let described = tags
                .iter()
                .find(|t| t["name"] == *tag)
                .is_some_and(|t| t["description"].as_str().is_some_and(|d| !d.is_empty()));
            if !described {
                problems.push(format!("{method} {path}: tag {tag} has no description"));
            }
        }
        if let Some(summary) = op["summary"].as_str()
            && summary.contains('`')
        {
            problems.push(format!("{method} {path} summary: {summary}"));
        }
    }
    if doc["info"]["title"].as_str().unwrap().contains('`') {
        problems.push("the title".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Requests schemathesis found valid by the document and refused by the server: the
/// optional cleanup body sent as `null`, and a list filter's empty value (now outside
/// the document's list of values, and still refused).
async fn what_the_document_allows_the_server_takes(app: TestApp) {
    let org = app.create_org("Acme").await;
    let response = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &org.admin_key)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc = document(&app).await;
    let status = &parameter(&doc, "get", "/api/v1/jobs", "status")["schema"];
    assert!(
        !status["enum"].as_array().unwrap().iter().any(|v| v == ""),
        "{status}"
    );
    let response = app
        .authed(Method::GET, "/api/v1/jobs?status=", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 422, "validation_error").await;
}
