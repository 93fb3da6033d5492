//! Prometheus metrics: request counts and latencies labelled by route template.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Renders the process-wide registry. The recorder is global to the process, so every
/// app built in one process (as the tests do) shares it.
#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

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
            // Histogram samples queue up until upkeep folds them into buckets; without a
            // scrape that queue would grow with every request, so fold them regularly.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
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

/// The handles of one (method, route, status): registering labels costs allocations and
/// a registry lookup, so each combination is registered once and reused.
#[derive(Clone)]
struct RouteHandles {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RouteHandles {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

/// Route template → (method, status) → handles. Keyed by the template first so a lookup
/// borrows the `&str` and allocates nothing.
type HandleMap = HashMap<String, HashMap<(axum::http::Method, u16), RouteHandles>>;

static HANDLES: OnceLock<RwLock<HandleMap>> = OnceLock::new();

thread_local! {
    /// Each worker thread's copy of the handles it has used, so the hot path takes no
    /// lock shared between cores (the shared map's lock word bounced between them).
    static LOCAL_HANDLES: std::cell::RefCell<HandleMap> = Default::default();
}

/// Counts one answer in `api_requests_total` and `api_request_duration_seconds`. The
/// thread's own copy of the handles is used in place: cloning them would bump reference
/// counts that every core shares.
pub fn record_request(
    method: &axum::http::Method,
    endpoint: &str,
    status: u16,
    elapsed: std::time::Duration,
) {
    let seconds = elapsed.as_secs_f64();
    let key = (method.clone(), status);
    let recorded = LOCAL_HANDLES.with_borrow(|map| {
        map.get(endpoint)
            .and_then(|by| by.get(&key))
            .map(|handles| handles.record(seconds))
            .is_some()
    });
    if recorded {
        return;
    }
    let handles = shared_handles_for(method, endpoint, status);
    handles.record(seconds);
    LOCAL_HANDLES.with_borrow_mut(|map| {
        map.entry(endpoint.to_owned())
            .or_default()
            .insert(key, handles);
    });
}

fn shared_handles_for(method: &axum::http::Method, endpoint: &str, status: u16) -> RouteHandles {
    let map = HANDLES.get_or_init(Default::default);
    let key = (method.clone(), status);
    if let Ok(read) = map.read()
        && let Some(found) = read.get(endpoint).and_then(|by| by.get(&key))
    {
        return found.clone();
    }
    let handles = RouteHandles {
        requests: metrics::counter!(
            "api_requests_total",
            "method" => method.as_str().to_owned(),
            "endpoint" => endpoint.to_owned(),
            "status_code" => status.to_string()
        ),
        duration: metrics::histogram!(
            "api_request_duration_seconds",
            "method" => method.as_str().to_owned(),
            "endpoint" => endpoint.to_owned()
        ),
    };
    if let Ok(mut write) = map.write() {
        write
            .entry(endpoint.to_owned())
            .or_default()
            .insert(key, handles.clone());
    }
    handles
}

/// The service's route templates, for labelling a request by the route it matches
/// (`/api/v1/jobs/{id}`), never by its raw path, so label cardinality stays bounded
/// whatever clients send. Looked up at the edge, which needs no route-level layer:
/// wrapping every route in one boxed and cloned the route per request.
#[derive(Clone, Default)]
pub struct RouteTemplates(std::sync::Arc<matchit::Router<Box<str>>>);

/// The label of a request that matches no route.
const UNMATCHED: &str = "unmatched";

impl RouteTemplates {
    /// The templates use axum's syntax (`{id}`, `{*rest}`), as the routes themselves do.
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Self> {
        let mut router = matchit::Router::new();
        for template in templates {
            router
                .insert(template, template.into())
                .map_err(|e| anyhow::anyhow!("route template {template}: {e}"))?;
        }
        Ok(Self(std::sync::Arc::new(router)))
    }

    /// The template `path` matches, or [`UNMATCHED`].
    pub fn label(&self, path: &str) -> &str {
        self.0.at(path).map_or(UNMATCHED, |found| &**found.value)
    }
}
