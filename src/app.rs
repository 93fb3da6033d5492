//! The assembly: the one module that knows every capability. It builds the state,
//! merges the capabilities' routers into the served service and registers their job
//! handlers. No capability imports it (they import `crate::state`); adding a capability
//! is a folder, a line in [`api_routes`] and, if it has jobs, a line in [`job_registry`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Settings;
use crate::docs::ApiDoc;
use crate::documents::jobs::{EMBED_JOB_TYPE, EmbedDocuments, ProcessUpload, UPLOAD_JOB_TYPE};
use crate::error::ApiError;
use crate::http::RouteTemplates;
use crate::http::stack::{HttpService, with_http_stack};
use crate::jobs::{JobRegistry, WorkerPool};
use crate::questions::run::{RUN_JOB_TYPE, RunQuestions};
use crate::state::AppState;
use crate::statements::jobs::{EXTRACT_JOB_TYPE, ExtractStatements};
use crate::summaries::jobs::{BULK_JOB_TYPE, BulkSummaries, GENERATE_JOB_TYPE, GenerateSummary};

/// The capabilities' job handlers, added to `base` (the diagnostics
/// `jobs::registry_from_settings` enables, or a test's own job types); and, once per
/// state, their subscriptions to other capabilities' changes ([`subscribe`]). Every
/// process that serves or runs jobs assembles through here.
pub fn job_registry(state: &AppState, base: JobRegistry) -> JobRegistry {
    subscribe(state);
    base.register(UPLOAD_JOB_TYPE, ProcessUpload(state.clone()))
        .register(EMBED_JOB_TYPE, EmbedDocuments(state.clone()))
        .register(RUN_JOB_TYPE, RunQuestions(state.clone()))
        .register(GENERATE_JOB_TYPE, GenerateSummary(state.clone()))
        .register(BULK_JOB_TYPE, BulkSummaries(state.clone()))
        .register(EXTRACT_JOB_TYPE, ExtractStatements(state.clone()))
}

/// The capabilities' subscriptions to document changes (`crate::hooks`), made once.
pub fn subscribe(state: &AppState) {
    if state.document_hooks.is_empty() {
        state
            .document_hooks
            .on_content_changed(Arc::new(crate::summaries::hooks::StaleSummaries));
    }
}

/// Starts this process's job workers with every capability's handlers.
pub async fn start_workers(state: &AppState) -> anyhow::Result<WorkerPool> {
    let base = crate::jobs::registry_from_settings(&state.settings);
    state
        .start_workers(Arc::new(job_registry(state, base)))
        .await
}

/// The service bound to its listener, ready to run.
pub struct Application {
    listener: TcpListener,
    service: HttpService,
    pub state: AppState,
    /// What this instance's workers will run once [`Application::run`] starts them.
    pub job_registry: Arc<JobRegistry>,
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
        let state = AppState::initialise(settings).await?;
        let job_registry = Arc::new(job_registry(&state, registry));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        // Only serving instances authenticate, so only they need to hear auth changes.
        state.principals.listen_for_changes(
            state.settings.database_url(),
            state.db.kind,
            state.shutdown.clone(),
        );
        state
            .events
            .start(
                state.settings.database_url().as_str().to_owned(),
                state.shutdown.clone(),
            )
            .await;
        let service = build_router(state.clone())?;
        Ok(Self {
            listener,
            service,
            state,
            job_registry,
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
        let workers = self.state.start_workers(self.job_registry).await?;
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
        .merge(crate::templates::router())
        .merge(crate::summaries::router())
        .merge(crate::statements::router())
        .merge(crate::events::routes::router())
}

pub fn build_router(state: AppState) -> anyhow::Result<HttpService> {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api_routes())
        .split_for_parts();
    // The standard answers first: the API-Version header is declared on every answer,
    // the added 401/403/422… included.
    crate::docs::finish(&mut openapi);
    crate::http::version::declare(&mut openapi);
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
