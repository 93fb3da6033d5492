//! Rate limits: per principal (per IP when anonymous), a stricter budget for login per
//! email and IP, shared through Redis across instances, served from memory when Redis
//! is away.

use quire::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error_envelope, redis_test_url, unique_email};
use crate::on_both_databases;

on_both_databases!(flags = ["--rate-limit-requests=5"];
    the_sixth_request_in_a_window_gets_429_with_retry_after_and_ratelimit_headers,
    health_metrics_and_docs_are_not_rate_limited,
);
on_both_databases!(flags = ["--rate-limit-login-requests=3"];
    login_attempts_are_limited_per_email_and_ip,
);
on_both_databases!(flags = ["--rate-limit-enabled=false", "--rate-limit-requests=1"];
    rate_limiting_can_be_switched_off,
);
on_both_databases!(flags = ["--redis-url=redis://127.0.0.1:1", "--rate-limit-requests=3"];
    an_unreachable_redis_shows_degraded_and_requests_are_limited_in_memory,
);

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn the_sixth_request_in_a_window_gets_429_with_retry_after_and_ratelimit_headers(
    app: TestApp,
) {
    let org = app.create_org("Busy").await;
    for expected_remaining in (0..5).rev() {
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", &org.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), Some(5));
        assert_eq!(
            header(&response, "ratelimit-remaining"),
            Some(expected_remaining)
        );
        let reset = header(&response, "ratelimit-reset").unwrap();
        assert!((1..=3600).contains(&reset), "reset {reset}");
    }
    let sixth = app
        .authed(Method::GET, "/api/v1/auth/me", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(sixth.status(), 429);
    let retry_after = header(&sixth, "retry-after").expect("Retry-After");
    assert!((1..=3600).contains(&retry_after));
    assert_eq!(header(&sixth, "ratelimit-limit"), Some(5));
    assert_eq!(header(&sixth, "ratelimit-remaining"), Some(0));
    assert_eq!(header(&sixth, "ratelimit-reset"), Some(retry_after));
    let body = assert_error_envelope(sixth, 429, "rate_limited").await;
    assert_eq!(body["details"]["retry_after_seconds"], retry_after);

    // Budgets are per principal: another key, and anonymous callers, still have theirs.
    let other = app.create_key(&org, Role::Viewer).await;
    assert_eq!(app.status_with("/api/v1/auth/me", &other).await, 200);
    let anonymous = app.get("/api/v1/auth/me").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(header(&anonymous, "ratelimit-remaining"), Some(4));
}

async fn health_metrics_and_docs_are_not_rate_limited(app: TestApp) {
    for _ in 0..8 {
        for path in [
            "/api/v1/health",
            "/api/v1/health/detailed",
            "/api/v1/metrics",
            "/openapi.json",
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            assert!(!response.headers().contains_key("ratelimit-limit"));
        }
    }
}

async fn login_attempts_are_limited_per_email_and_ip(app: TestApp) {
    let email = unique_email("target");
    let password = "correct-horse-battery-staple";
    app.register("Target", &email, password).await;
    let attempt = |email: String, password: &'static str| {
        let body = json!({ "email": email, "password": password });
        let request = app.client.post(app.url("/api/v1/auth/login")).json(&body);
        async move { request.send().await.unwrap() }
    };
    for _ in 0..3 {
        let response = attempt(email.clone(), "wrong-guess-123").await;
        assert_eq!(response.status(), 401);
    }
    let fourth = attempt(email.to_uppercase(), "correct-horse-battery-staple").await;
    assert_eq!(fourth.status(), 429, "even the right password waits");
    assert_eq!(header(&fourth, "ratelimit-limit"), Some(3));
    assert!(header(&fourth, "retry-after").is_some());
    assert_error_envelope(fourth, 429, "rate_limited").await;
    let other = attempt(unique_email("other"), "whatever-password").await;
    assert_eq!(other.status(), 401, "another email has its own budget");
}

async fn rate_limiting_can_be_switched_off(app: TestApp) {
    let org = app.create_org("Unlimited").await;
    for _ in 0..5 {
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", &org.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("ratelimit-limit"));
    }
}

async fn an_unreachable_redis_shows_degraded_and_requests_are_limited_in_memory(app: TestApp) {
    let health = app.get("/api/v1/health/detailed").await;
    assert_eq!(health.status(), 200, "Redis is optional");
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["checks"]["redis"]["status"], "degraded");

    let org = app.create_org("Fallback").await;
    for _ in 0..3 {
        assert_eq!(
            app.status_with("/api/v1/auth/me", &org.admin_key).await,
            200
        );
    }
    assert_eq!(
        app.status_with("/api/v1/auth/me", &org.admin_key).await,
        429
    );
}

/// Two instances on one database and one Redis, as two `quire serve` processes behind a
/// load balancer: one budget between them.
async fn two_instances_share_one_budget(backend: Backend) {
    let Some(redis) = redis_test_url() else {
        return;
    };
    let prefix = format!("quire-test:{}:", uuid::Uuid::now_v7().simple());
    let flags = [
        format!("--redis-url={redis}"),
        format!("--rate-limit-redis-prefix={prefix}"),
        "--rate-limit-requests=5".to_owned(),
        // Short, so the test's counters leave Redis soon.
        "--rate-limit-window=60".to_owned(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(first) = TestApp::spawn_with(backend, &flags).await else {
        return;
    };
    let second = first.spawn_alongside(&flags).await;
    assert_ne!(first.address, second.address);
    let org = first.create_org("Shared").await;

    let health: Value = second
        .get("/api/v1/health/detailed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["checks"]["redis"]["status"], "ok", "{health}");

    let mut remaining = Vec::new();
    for i in 0..5 {
        let app = if i % 2 == 0 { &first } else { &second };
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", &org.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        remaining.push(header(&response, "ratelimit-remaining").unwrap());
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    for app in [&first, &second] {
        assert_eq!(
            app.status_with("/api/v1/auth/me", &org.admin_key).await,
            429
        );
    }
}

mod two_instances_share_one_budget_through_redis {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::two_instances_share_one_budget(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_instances_share_one_budget(super::Backend::Postgres).await;
    }
}
