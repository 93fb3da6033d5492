use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(liveness))
        .routes(routes!(detailed_health))
        .routes(routes!(prometheus_metrics))
}

#[derive(Serialize, ToSchema)]
pub struct LivenessResponse {
    /// Always `ok` when the process answers.
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
}

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses((status = 200, body = LivenessResponse)))]
async fn liveness(State(state): State<AppState>) -> Json<LivenessResponse> {
    Json(LivenessResponse {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started_at.elapsed().as_secs(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct DetailedHealthResponse {
    /// `ok`, `degraded` (an optional dependency is down) or `down` (a required one is).
    status: String,
    /// Only for an authenticated admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    /// Only for an authenticated admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_seconds: Option<u64>,
    /// One entry per dependency with its `status`; for an authenticated admin also
    /// `latency_ms` and what it is (kind, breaker state, ...).
    #[schema(value_type = Object)]
    checks: Map<String, Value>,
}

/// Dependency health: database round trip, storage, and the optional Redis and backends.
/// `503` when a required dependency (database, storage) is down. Public, because
/// readiness probes call it without credentials; so it tells an anonymous caller only
/// each dependency's status, and an admin (API key or JWT) the details too (kinds,
/// latencies, versions, where things live).
#[utoipa::path(get, path = "/api/v1/health/detailed", tag = "health",
    responses((status = 200, body = DetailedHealthResponse),
              (status = 503, body = DetailedHealthResponse)))]
async fn detailed_health(
    State(state): State<AppState>,
    caller: Result<Principal, ApiError>,
) -> impl IntoResponse {
    let full = caller.is_ok_and(|p| p.require(Role::Admin).is_ok());
    let mut checks = Map::new();
    let mut required_down = false;
    let mut optional_down = false;

    let started = Instant::now();
    let db = state.db.ping().await;
    required_down |= db.is_err();
    checks.insert(
        "database".into(),
        json!({
            "status": if db.is_ok() { "ok" } else { "down" },
            "kind": format!("{:?}", state.db.kind).to_lowercase(),
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": db.err().map(|_| "database did not answer"),
        }),
    );

    let started = Instant::now();
    let storage = state.storage_probe().await;
    required_down |= storage.is_err();
    checks.insert(
        "storage".into(),
        json!({
            "status": if storage.is_ok() { "ok" } else { "down" },
            "kind": state.settings.storage_type_name(),
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": storage.err(),
        }),
    );

    for (name, check) in state.optional_dependency_checks().await {
        if check.get("status").and_then(Value::as_str) != Some("ok") {
            optional_down = true;
        }
        checks.insert(name, check);
    }

    let status = if required_down {
        "down"
    } else if optional_down {
        "degraded"
    } else {
        "ok"
    };
    let code = if required_down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    if !full {
        for check in checks.values_mut() {
            let status = check.get("status").cloned().unwrap_or(Value::Null);
            *check = json!({ "status": status });
        }
    }
    (
        code,
        Json(DetailedHealthResponse {
            status: status.to_owned(),
            version: full.then_some(env!("CARGO_PKG_VERSION")),
            uptime_seconds: full.then(|| state.started_at.elapsed().as_secs()),
            checks,
        }),
    )
}

/// Prometheus metrics in the text exposition format. With `METRICS_TOKEN` set, only for
/// `Authorization: Bearer <METRICS_TOKEN>` or an admin; otherwise public.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 401, description = "METRICS_TOKEN is set and was not presented", body = crate::error::ErrorBody)))]
async fn prometheus_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Principal, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = &state.settings.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let token_ok = presented.is_some_and(|p| {
            use subtle::ConstantTimeEq;
            bool::from(p.as_bytes().ct_eq(token.expose().as_bytes()))
        });
        let admin = caller.is_ok_and(|p| p.require(Role::Admin).is_ok());
        if !token_ok && !admin {
            return Err(ApiError::Unauthorized(
                "the metrics need METRICS_TOKEN as a bearer token, or an admin".into(),
            ));
        }
    }
    state.refresh_gauges().await;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}
