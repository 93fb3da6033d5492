//! The error envelope for framework-made errors (body limits, CORS) and list bounds.

use crate::helpers::{Backend, TestApp};

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
