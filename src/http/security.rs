//! Security headers and the time limits of requests (applied by [`super::edge`]).

use axum::http::{HeaderMap, HeaderValue, header};

/// API answers are data, never pages: a CSP that forbids everything. The docs pages
/// load their own vendored scripts and styles and get a CSP that allows exactly that.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'";

pub fn is_docs_path(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/") || path == "/redoc" || path.starts_with("/redoc/")
}

pub fn add_security_headers(h: &mut HeaderMap, is_docs: bool) {
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
}

/// How long a request may take before it is answered `504`.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub default: std::time::Duration,
    /// Uploads stream large bodies and get their own, longer budget.
    pub upload: std::time::Duration,
}
