//! Prometheus metrics: request counts and latencies labelled by route template.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Renders the process-wide registry. The recorder is global to the process, so every
/// app built in one process (as the tests do) shares it.
#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl MetricsHandle {
    pub fn install() -> anyhow::Result<Self> {
        let handle = HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        });
        handle
            .clone()
            .map(MetricsHandle)
            .ok_or_else(|| anyhow::anyhow!("could not install the metrics recorder"))
    }

    pub fn render(&self) -> String {
        self.0.run_upkeep();
        self.0.render()
    }
}

/// Records `api_requests_total` and `api_request_duration_seconds`. The endpoint label is
/// the matched route template (`/api/v1/jobs/{id}`), never the raw path, so label
/// cardinality stays bounded whatever clients send.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "api_requests_total",
        "method" => method.clone(),
        "endpoint" => endpoint.clone(),
        "status_code" => status
    )
    .increment(1);
    metrics::histogram!(
        "api_request_duration_seconds",
        "method" => method,
        "endpoint" => endpoint
    )
    .record(started.elapsed().as_secs_f64());
    response
}
