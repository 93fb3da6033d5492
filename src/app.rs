//! Application state and the assembled HTTP service.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::future::RouteFuture;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::cache::PrincipalCache;
use crate::auth::tokens::JwtKeys;
use crate::backends::Backends;
use crate::backends::anythingllm::AnythingLlmBackend;
use crate::backends::embedded::EmbeddedBackend;
use crate::config::{Secret, Settings};
use crate::db::{Db, PoolSize};
use crate::docs::ApiDoc;
use crate::documents::jobs::{EMBED_JOB_TYPE, EmbedDocuments, ProcessUpload, UPLOAD_JOB_TYPE};
use crate::error::ApiError;
use crate::http::{Edge, EdgeService, InFlight, MetricsHandle, RouteTemplates, Timeouts};
use crate::jobs::{JobRegistry, WorkerPool};
use crate::questions::pacing::BackendLimits;
use crate::questions::service::{RUN_JOB_TYPE, RunQuestions};
use crate::ratelimit::{RateLimiter, is_limited, rate_limit_around};
use crate::storage::Storage;

/// Everything a handler may need. Cloned for every request and middleware, so it is one
/// `Arc`: a clone is a single atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub metrics: MetricsHandle,
    pub secret_key: Secret,
    pub jwt: JwtKeys,
    pub storage: Storage,
    pub started_at: Instant,
    /// Per-principal request budgets (Redis-shared when `REDIS_URL` is set).
    pub rate_limiter: RateLimiter,
    /// Cancelled when the process is asked to stop; long-lived tasks watch it.
    pub shutdown: CancellationToken,
    /// The job types this process's workers run.
    pub job_registry: Arc<JobRegistry>,
    /// The workspace backends (embedded engine, and AnythingLLM when configured).
    pub backends: Arc<Backends>,
    /// Questions in flight per backend, shared by every question run of this process.
    pub ask_limits: Arc<BackendLimits>,
    /// Recently authenticated keys and sessions (emptied on every auth change).
    pub principals: Arc<PrincipalCache>,
}

/// The application state for job handlers, which are registered before the state
/// exists (the state holds the registry) and filled in right after.
#[derive(Clone, Default)]
pub struct LateState(Arc<OnceLock<AppState>>);

impl LateState {
    pub fn get(&self) -> Result<AppState, crate::jobs::JobError> {
        self.0
            .get()
            .cloned()
            .ok_or_else(|| crate::jobs::JobError::Retryable("the service is still starting".into()))
    }
}

impl AppState {
    /// Connects to the database and applies migrations. Workers run the service's job types
    /// (plus the `test.*` diagnostics with `QUIRE_ENABLE_TEST_JOBS`).
    pub async fn initialise(settings: Settings) -> anyhow::Result<Self> {
        let registry = crate::jobs::registry_from_settings(&settings);
        Self::initialise_with(settings, registry).await
    }

    /// Like [`AppState::initialise`], with the job handlers given (tests and benchmarks add
    /// their own job types this way).
    pub async fn initialise_with(
        settings: Settings,
        job_registry: JobRegistry,
    ) -> anyhow::Result<Self> {
        let secret_key = settings.resolve_secret_key()?;
        let db = Db::connect(&settings.database_url(), PoolSize::from_settings(&settings)).await?;
        db.migrate().await?;
        let storage = Storage::from_settings(&settings)?;
        let settings_jwt_algorithm = settings.jwt_algorithm;
        let settings_backend_limit = settings.backend_max_concurrency;
        let rate_limiter = RateLimiter::from_settings(&settings)?;
        let backends = Arc::new(Backends {
            anythingllm: AnythingLlmBackend::from_settings(&settings)?,
            embedded: EmbeddedBackend::new(db.clone(), &settings)?,
        });
        let principals = Arc::new(PrincipalCache::new(
            Duration::from_secs(settings.auth_cache_seconds),
            db.kind,
        ));
        let late = LateState::default();
        let job_registry = job_registry
            .register(UPLOAD_JOB_TYPE, ProcessUpload(late.clone()))
            .register(EMBED_JOB_TYPE, EmbedDocuments(late.clone()))
            .register(RUN_JOB_TYPE, RunQuestions(late.clone()));
        let state = Self(Arc::new(AppStateInner {
            settings: Arc::new(settings),
            db,
            metrics: MetricsHandle::install()?,
            jwt: JwtKeys::new(secret_key.expose(), settings_jwt_algorithm),
            secret_key,
            storage,
            started_at: Instant::now(),
            rate_limiter,
            shutdown: CancellationToken::new(),
            job_registry: Arc::new(job_registry),
            backends,
            ask_limits: Arc::new(BackendLimits::new(settings_backend_limit)),
            principals,
        }));
        // Set once, here, right after creation: `set` cannot fail.
        let _ = late.0.set(state.clone());
        Ok(state)
    }

    /// Starts `MAX_CONCURRENT_JOBS` job workers; they stop when [`AppState::shutdown`] fires.
    pub async fn start_workers(&self) -> anyhow::Result<WorkerPool> {
        crate::jobs::start_workers(
            &self.db,
            self.job_registry.clone(),
            &self.settings,
            self.shutdown.clone(),
        )
        .await
    }

    /// Can originals be written and read back?
    pub async fn storage_probe(&self) -> Result<(), String> {
        self.storage.probe().await
    }

    /// Health of dependencies the service can run without (Redis, backends).
    pub async fn optional_dependency_checks(&self) -> Vec<(String, Value)> {
        let mut checks = Vec::new();
        if let Some(redis) = self.rate_limiter.redis_health().await {
            checks.push(("redis".to_owned(), redis));
        }
        checks.extend(self.backends.health().await);
        checks
    }

    /// Gauges computed from the database at scrape time.
    pub async fn refresh_gauges(&self) {
        crate::jobs::metrics::refresh_gauges(&self.db.pool, &self.job_registry.job_types()).await;
    }
}

/// The service bound to its listener, ready to run.
pub struct Application {
    listener: TcpListener,
    service: HttpService,
    pub state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let registry = crate::jobs::registry_from_settings(&settings);
        Self::build_with(settings, registry).await
    }

    /// Like [`Application::build`], with the job handlers given: tests and benchmarks
    /// register their own job types this way, before any worker starts.
    pub async fn build_with(settings: Settings, registry: JobRegistry) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(settings.host, settings.port);
        let state = AppState::initialise_with(settings, registry).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        // Only serving instances authenticate, so only they need to hear auth changes.
        state.principals.listen_for_changes(
            state.settings.database_url(),
            state.db.kind,
            state.shutdown.clone(),
        );
        let service = build_router(state.clone())?;
        Ok(Self {
            listener,
            service,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves, and runs the job workers, until `stop` is cancelled; then lets in-flight
    /// requests finish within `SHUTDOWN_TIMEOUT` and running jobs finish or go back to the
    /// queue (see [`crate::jobs::worker`]).
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let grace = self.state.settings.shutdown_timeout();
        let workers = self.state.start_workers().await?;
        // Long-lived work (workers, event streams) stops when the process is asked to.
        let shutdown = self.state.shutdown.clone();
        let asked = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = asked.cancelled() => shutdown.cancel(),
                _ = shutdown.cancelled() => {}
            }
        });
        let service = self.service;
        let stopping = stop.clone();
        let server = axum::serve(self.listener, service)
            .with_graceful_shutdown(async move { stopping.cancelled().await });
        let server = tokio::spawn(async move { server.await });
        stop.cancelled().await;
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "shutting down: finishing in-flight requests and jobs"
        );
        let served = tokio::time::timeout(grace, server).await;
        // The workers give handlers the same grace, then a few seconds to react to it.
        if tokio::time::timeout(grace + Duration::from_secs(10), workers.join())
            .await
            .is_err()
        {
            tracing::warn!("job workers did not stop in time");
        }
        match served {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.into()),
            Ok(Err(join)) => Err(anyhow::anyhow!("server task failed: {join}")),
            Err(_) => {
                tracing::warn!("in-flight requests did not finish within the shutdown timeout");
                Ok(())
            }
        }
    }
}

/// Every `/api/v1` route. Handlers declare their full path rather than being nested under
/// the prefix: axum's `nest` strips the prefix from every request's URI at run time.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::health::router())
        .merge(crate::documents::router())
        .merge(crate::workspaces::router())
        .merge(crate::auth::router())
        .merge(crate::users::router())
        .merge(crate::api_keys::router())
        .merge(crate::orgs::router())
        .merge(crate::jobs::routes::router())
        .merge(crate::questions::router())
}

pub fn build_router(state: AppState) -> anyhow::Result<HttpService> {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api_routes())
        .split_for_parts();
    let settings = state.settings.clone();
    // Every `/api/v1` route is declared through utoipa, so the document lists them all.
    let templates = RouteTemplates::new(
        openapi
            .paths
            .paths
            .keys()
            .map(String::as_str)
            .chain(crate::docs::ROUTES.iter().copied()),
    )?;
    let routes = Router::new()
        .merge(api)
        .merge(crate::docs::router(&openapi))
        .fallback(|| async { ApiError::NotFound("route") })
        .with_state(state.clone());

    Ok(with_http_stack(routes, &settings, templates, Some(state)))
}

/// Wraps `routes` in what every answer passes through — including a 405 or a fallback
/// 404: the rate limit (when `rate_limit` is given), the body limit, CORS (only when
/// `ALLOWED_ORIGINS` is set) and the edge ([`crate::http::EdgeService`]: request id, span,
/// load shedding, timeout, panics, envelope, metrics labelled by `templates`, security
/// headers). The result is served as it is by `axum::serve`.
///
/// None of it is a route-level layer: `Router::layer` wraps every route in another boxed
/// route, cloned and boxed again on every request.
pub fn with_http_stack(
    routes: Router,
    settings: &Settings,
    templates: RouteTemplates,
    rate_limit: Option<AppState>,
) -> HttpService {
    let edge = Edge {
        in_flight: InFlight::new(settings.max_in_flight_requests as usize),
        timeouts: Timeouts {
            default: settings.request_timeout(),
            upload: Duration::from_secs(u64::from(settings.upload_timeout)),
        },
        routes: templates,
    };
    let routes = LimitedRoutes {
        routes: RateLimitedRoutes {
            router: routes,
            state: rate_limit,
        },
        body_limit: DefaultBodyLimit::max(settings.max_request_body_size.0 as usize),
        cors: (!settings.allowed_origins.0.is_empty())
            .then(|| Arc::new(cors_layer(&settings.allowed_origins.0))),
    };
    EdgeService::new(routes, edge)
}

/// The router behind the rate limit, which resolves the principal itself (handlers then
/// reuse it from the request's extensions) and leaves health, metrics and docs alone.
/// Only requests it counts take the boxed path.
#[derive(Clone)]
pub struct RateLimitedRoutes {
    router: Router,
    state: Option<AppState>,
}

type BoxedAnswer =
    futures::future::BoxFuture<'static, Result<axum::response::Response, Infallible>>;

impl Service<axum::extract::Request> for RateLimitedRoutes {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = futures::future::Either<RouteFuture<Infallible>, BoxedAnswer>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // A `Router` is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use futures::future::Either::{Left, Right};
        let state = match &self.state {
            Some(state) if is_limited(state, &req) => state.clone(),
            _ => return Left(self.router.call(req)),
        };
        let mut router = self.router.clone();
        Right(Box::pin(async move {
            let response = rate_limit_around(&state, req, |req| async move {
                match router.call(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
            .await;
            Ok(response)
        }))
    }
}

/// The served service: the edge around the routes.
pub type HttpService = EdgeService<LimitedRoutes>;

/// The routes behind the body limit and, when `ALLOWED_ORIGINS` is set, CORS. A named
/// service (rather than a `ServiceBuilder` stack, whose body-limit type cannot be named)
/// so that `HttpService` needs no boxing.
#[derive(Clone)]
pub struct LimitedRoutes {
    routes: RateLimitedRoutes,
    body_limit: DefaultBodyLimit,
    cors: Option<Arc<CorsLayer>>,
}

impl Service<axum::extract::Request> for LimitedRoutes {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = futures::future::Either<
        tower_http::cors::ResponseFuture<
            <RateLimitedRoutes as Service<axum::extract::Request>>::Future,
        >,
        <RateLimitedRoutes as Service<axum::extract::Request>>::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.routes.poll_ready(cx)
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use futures::future::Either::{Left, Right};
        // The limit is a request extension that body extractors read; a request without a
        // body (most GETs) has nothing to limit, so it is spared the extension.
        let has_body = !axum::body::HttpBody::is_end_stream(req.body());
        let router = &mut self.routes;
        match (&self.cors, has_body) {
            (Some(cors), true) => Left(cors.layer(self.body_limit.layer(router)).call(req)),
            (Some(cors), false) => Left(cors.layer(router).call(req)),
            (None, true) => Right(self.body_limit.layer(router).call(req)),
            (None, false) => Right(router.call(req)),
        }
    }
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    base.allow_origin(AllowOrigin::list(list))
}
