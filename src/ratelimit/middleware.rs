//! The rate-limit middleware: one budget per principal, or per client IP when the
//! request carries no valid credentials.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;

use crate::auth::Principal;
use crate::state::AppState;

/// Routes a load balancer, a scraper or a browser reading the docs calls freely.
pub fn is_exempt(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/health" | "/api/v1/health/detailed" | "/api/v1/metrics" | "/openapi.json"
    ) || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/redoc"
        || path.starts_with("/redoc/")
}

/// Does the rate limit count this request? Lets the stack skip the limiter's
/// machinery (and its allocation) for health checks and scrapes.
pub fn is_limited(state: &AppState, req: &Request) -> bool {
    state.settings.rate_limit_enabled && !is_exempt(req.uri().path())
}

/// The client's address as the socket reports it. Behind a reverse proxy every client
/// shares the proxy's address; forwarded headers are not trusted because any client can
/// set them.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The client IP as an extractor (never fails; `unknown` without connection info).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts)))
    }
}

/// Resolves the principal (once: the handler reuses it from the request's extensions),
/// counts the request against its budget, and answers `429` past it. Every counted
/// answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
pub async fn rate_limit_around<F, Fut>(state: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if !is_limited(state, &req) {
        return inner(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let key = match Principal::from_request_parts(&mut parts, state).await {
        Ok(principal) => principal.rate_limit_key(),
        Err(_) => format!("ip:{}", client_ip(&parts)),
    };
    let decision = state
        .rate_limiter
        .check(&key, state.settings.rate_limit_requests)
        .await;
    if !decision.allowed {
        return decision.rejection();
    }
    let mut response = inner(Request::from_parts(parts, body)).await;
    // A handler with a stricter budget of its own (login) has set the headers already.
    if !response.headers().contains_key("ratelimit-limit") {
        decision.write_headers(response.headers_mut());
    }
    response
}
