//! The middleware stack around handlers: panics, timeouts, load shedding, body limits,
//! JSON errors and CORS. Uses the real stack (`with_http_stack`) around test routes.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use quire::http::ApiJson;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error_envelope, settings_from};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    quantity: u32,
    item: String,
}

async fn boom() -> &'static str {
    panic!("secret internal detail 9f3a")
}

/// Serves test routes behind the production middleware stack on a random port.
async fn stack_with_test_routes(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![format!("--data-dir={}", dir.path().display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let settings = settings_from(&args);
    let routes = Router::new()
        .route("/boom", get(boom))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "done"
            }),
        )
        .route("/orders", post(|ApiJson(_): ApiJson<Order>| async { "ok" }))
        .route(
            "/echo",
            post(|ApiJson(v): ApiJson<Value>| async move { v.to_string() }),
        );
    let app = quire::http::stack::with_http_stack(routes, &settings, Default::default(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    std::mem::forget(dir);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_without_internals_and_the_server_lives_on() {
    let base = stack_with_test_routes(&[]).await;
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/boom")).send().await.unwrap();
    let body = assert_error_envelope(response, 500, "internal_error").await;
    assert!(
        !body.to_string().contains("9f3a"),
        "panic text leaked: {body}"
    );
    let again = client
        .post(format!("{base}/echo"))
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn a_request_over_the_timeout_answers_504_in_the_envelope() {
    let base = stack_with_test_routes(&["--request-timeout=1"]).await;
    let response = reqwest::get(format!("{base}/slow")).await.unwrap();
    assert_error_envelope(response, 504, "timeout").await;
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_shed_with_503_and_retry_after() {
    let base = stack_with_test_routes(&["--max-in-flight-requests=1"]).await;
    let client = reqwest::Client::new();
    let slow = tokio::spawn({
        let (client, url) = (client.clone(), format!("{base}/slow"));
        async move { client.get(url).send().await.unwrap().status() }
    });
    let echo = || async {
        client
            .post(format!("{base}/echo"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
    };
    // Wait until the slow request holds the only permit.
    let mut shed = None;
    for _ in 0..100 {
        let r = echo().await;
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = shed.expect("a second concurrent request is shed");
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_error_envelope(shed, 503, "service_unavailable").await;
    assert_eq!(slow.await.unwrap(), 200);
    // The slow request and the shed ones gave their slots back: the next one is served.
    assert_eq!(echo().await.status(), 200);
}

#[tokio::test]
async fn an_oversized_json_body_answers_413_in_the_envelope() {
    let base = stack_with_test_routes(&["--max-request-body-size=1KB"]).await;
    let big = json!({ "blob": "x".repeat(4096) });
    let response = reqwest::Client::new()
        .post(format!("{base}/echo"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn an_oversized_chunked_body_without_a_length_answers_413_too() {
    let base = stack_with_test_routes(&["--max-request-body-size=1KB"]).await;
    let body = serde_json::to_vec(&json!({ "blob": "x".repeat(4096) })).unwrap();
    // A streamed body is sent chunked: no Content-Length for the server to judge up front.
    let chunks = futures::stream::iter(
        body.chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = reqwest::Client::new()
        .post(format!("{base}/echo"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn malformed_json_answers_400_with_its_position() {
    let base = stack_with_test_routes(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/orders"))
        .header("content-type", "application/json")
        .body("{\"quantity\": 3,")
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 400, "bad_request").await;
    assert!(body["details"]["position"]["line"].is_u64(), "{body}");
}

#[tokio::test]
async fn a_mistyped_field_answers_422_naming_the_field() {
    let base = stack_with_test_routes(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/orders"))
        .json(&json!({"quantity": "three", "item": "chair"}))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "quantity", "{body}");
}

#[tokio::test]
async fn a_body_without_json_content_type_answers_415() {
    let base = stack_with_test_routes(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/orders"))
        .body("quantity=3")
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &["--allowed-origins=https://app.example.com"],
    )
    .await
    .unwrap();
    let allowed = app
        .client
        .get(app.url("/api/v1/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = app
        .client
        .get(app.url("/api/v1/health"))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// Sends request headers that declare a body of `declared` bytes and no body, and returns
/// the status line of the answer, or `None` when none came within five seconds (the body
/// limit alone waited for the body until the request timeout).
async fn status_for_a_declared_length(app: &TestApp, path: &str, declared: u64) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n",
        app.address
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
    match read {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .map(str::to_owned),
        _ => None,
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_at_once_with_413_even_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for (path, declared) in [
        ("/api/v1/auth/login", 99_999_999_999u64),
        ("/api/v1/workspaces", 3_000_000),
    ] {
        let status = status_for_a_declared_length(&app, path, declared).await;
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 413 Payload Too Large"),
            "{path} with Content-Length {declared}"
        );
    }
    // The envelope, as for every error.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 3_000_000])
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 413, "payload_too_large").await;
}
