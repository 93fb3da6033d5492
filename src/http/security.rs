//! Security headers and load shedding.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// API answers are data, never pages: a CSP that forbids everything. The docs pages
/// load their own vendored scripts and styles and get a CSP that allows exactly that.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'";

pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_docs = {
        let p = req.uri().path();
        p == "/docs" || p.starts_with("/docs/") || p == "/redoc" || p.starts_with("/redoc/")
    };
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if is_docs { DOCS_CSP } else { API_CSP }),
    );
    response
}

/// How long a request may take before it is answered `504`.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub default: std::time::Duration,
    /// Uploads stream large bodies and get their own, longer budget.
    pub upload: std::time::Duration,
}

pub async fn request_timeout(State(t): State<Timeouts>, req: Request, next: Next) -> Response {
    let limit = if req.uri().path().ends_with("/documents/upload") {
        t.upload
    } else {
        t.default
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => crate::error::envelope_response(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the request took longer than allowed".into(),
            None,
        ),
    }
}

/// Past `MAX_IN_FLIGHT_REQUESTS` answer `503` at once instead of queueing without bound:
/// a client retrying later is better than every client timing out.
pub async fn load_shed(
    State(permits): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    match permits.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            let mut response =
                ApiError::ServiceUnavailable("the server is at capacity; retry shortly".into())
                    .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
