//! The one error type every handler returns, and the one JSON envelope every
//! non-2xx answer carries.
//!
//! Handlers return `Result<_, ApiError>`. Responses the framework produces itself
//! (unknown route, wrong method, body too large, timeout, panic) are rewritten into
//! the same envelope by [`crate::http::EdgeService`], so a client parses one shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::current_request_id;

/// The body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `validation_error`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured context such as the offending field; `null` when there is none.
    pub details: Option<Value>,
    /// Equals the response's `X-Request-ID`; quote it when reporting a problem.
    pub correlation_id: String,
    /// When the error happened (RFC 3339, UTC).
    pub timestamp: String,
}

/// Marks a response whose body already is the envelope, so the middleware leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeWritten;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Option<Value>,
    },
    #[error("{message}")]
    Validation {
        message: String,
        details: Option<Value>,
    },
    /// A `422` with a code of its own (`llm_required`): the request is valid field by
    /// field but cannot be served as the server is configured.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A backend (AnythingLLM, an LLM API) answered, but not with something usable.
    #[error("{0}")]
    Upstream(String),
    /// Anything unexpected. Its text is logged with the correlation id and never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            details: None,
        }
    }

    /// A 422 naming the field at fault, so clients can show it next to the input.
    /// LLM settings that cannot work: a 422 naming `{prefix}.{field}`.
    pub fn invalid_llm_settings(prefix: &str, e: &quire_llm::SettingsError) -> Self {
        let field = match e.field() {
            "" => prefix.to_owned(),
            field => format!("{prefix}.{field}"),
        };
        Self::invalid_field(&field, e.reason())
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            details: Some(serde_json::json!({ "field": field, "reason": message })),
            message: format!("{field}: {message}"),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation { .. } | Self::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::BadRequest { details, .. }
            | Self::Validation { details, .. }
            | Self::Unprocessable { details, .. } => details.clone(),
            Self::RateLimited { retry_after_secs } => {
                Some(serde_json::json!({ "retry_after_seconds": retry_after_secs }))
            }
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if database_unavailable(&e) {
            tracing::warn!(error = %e, "the database is unavailable");
            return Self::ServiceUnavailable(DATABASE_UNAVAILABLE.to_owned());
        }
        Self::Internal(anyhow::Error::new(e))
    }
}

/// What a client is told while the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable at the moment; retry shortly";

/// True when `e` says the database could not be reached or went away (stopped,
/// restarting, connection lost, no connection within the pool's wait) rather than that
/// the query was wrong: the request may succeed when it is retried, so it is a `503`.
pub fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Connection exceptions (08…) and operator intervention: admin shutdown, crash
        // shutdown, cannot connect now (57P01–57P03).
        sqlx::Error::Database(db) => {
            db.code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
                || says_database_went_away(db.message())
        }
        // A connection closed in the middle of a message.
        sqlx::Error::Protocol(message) => {
            let m = message.to_lowercase();
            m.contains("closed") || m.contains("eof") || m.contains("connection")
        }
        _ => false,
    }
}

/// PostgreSQL's words when it ends connections or refuses new ones (stop, restart,
/// recovery), for errors that reach us without their SQLSTATE.
fn says_database_went_away(message: &str) -> bool {
    const PHRASES: [&str; 4] = [
        "terminating connection due to administrator command",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
    ];
    PHRASES.iter().any(|p| message.contains(p))
}

/// True when an error (or one of its causes) is [`database_unavailable`], also when a
/// wrapper kept only its text.
fn chain_says_database_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(database_unavailable)
            || says_database_went_away(&cause.to_string())
    })
}

/// The stable code clients switch on, for a status the framework produced.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_error",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::BAD_GATEWAY => "backend_error",
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

/// Builds the envelope response; used by [`ApiError`] and by the middleware that
/// rewrites framework-made errors.
pub fn envelope_response(
    status: StatusCode,
    code: &str,
    message: String,
    details: Option<Value>,
) -> Response {
    let body = ErrorBody {
        error: code.to_owned(),
        message,
        details,
        correlation_id: current_request_id().unwrap_or_default(),
        timestamp: crate::time::now_rfc3339(),
    };
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(EnvelopeWritten);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // An unexpected error caused by the database being away is the same `503` as
        // one converted directly from `sqlx::Error`, however deep it was wrapped.
        let this = match self {
            Self::Internal(e) if chain_says_database_unavailable(&e) => {
                tracing::warn!(error = %format!("{e:#}"), "the database is unavailable");
                Self::ServiceUnavailable(DATABASE_UNAVAILABLE.to_owned())
            }
            other => other,
        };
        let status = this.status();
        let message = match &this {
            Self::Internal(e) => {
                // Logged once, here, inside the request span that carries the correlation id.
                tracing::error!(error = %format!("{e:#}"), "request failed");
                "an internal error occurred; quote the correlation_id when reporting it".to_owned()
            }
            other => other.to_string(),
        };
        let code = match &this {
            Self::Validation { .. } => "validation_error",
            Self::Unprocessable { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            _ => code_for_status(status),
        };
        let mut response = envelope_response(status, code, message, this.details());
        if let Self::RateLimited { retry_after_secs } = this
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
