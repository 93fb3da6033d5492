//! What handlers and jobs may use: [`AppState`].
//!
//! This module imports no capability (documents, workspaces, questions, ...): the
//! capabilities import it. The module that assembles the application (`crate::app`)
//! builds the state first, then hands clones of it to the routers and to the job
//! handlers it registers, so nothing has to be filled in after the fact.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::cache::PrincipalCache;
use crate::auth::tokens::JwtKeys;
use crate::backends::Backends;
use crate::backends::anythingllm::AnythingLlmBackend;
use crate::backends::embedded::EmbeddedBackend;
use crate::backends::limits::BackendLimits;
use crate::cache::Cache;
use crate::config::{Secret, Settings};
use crate::db::{Db, PoolSize};
use crate::http::MetricsHandle;
use crate::jobs::{JobRegistry, WorkerPool};
use crate::ratelimit::RateLimiter;
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
    /// The workspace backends (embedded engine, and AnythingLLM when configured).
    pub backends: Arc<Backends>,
    /// Questions in flight per backend, shared by every question run of this process.
    pub ask_limits: Arc<BackendLimits>,
    /// The cache (memory, or Redis when `REDIS_URL` is set): question runs' answers.
    pub cache: Arc<Cache>,
    /// Recently authenticated keys and sessions (emptied on every auth change).
    pub principals: Arc<PrincipalCache>,
    /// LLM clients of the summaries, one breaker and connection pool per endpoint.
    pub llm_clients: Arc<quire_llm::LlmClients>,
    /// The server's LLM (`LLM_PROVIDER` + `LLM_BASE_URL`), the resolver's lowest layer;
    /// `None`: extractive unless a request names a model.
    pub default_llm: Option<quire_llm::LlmSettings>,
    /// Subscribers to document changes (filled by the assembly: `crate::app::job_registry`).
    pub document_hooks: crate::hooks::DocumentHooks,
    /// Live events: publishing, and this instance's feed of them (`crate::events`).
    pub events: Arc<crate::events::EventBus>,
    /// The job types this process's workers run, recorded when they start, so the
    /// queue gauges read 0 (not their last value) for a type with no job left.
    job_types: OnceLock<Vec<String>>,
}

impl AppState {
    /// Connects to the database, applies migrations and builds the shared parts.
    pub async fn initialise(settings: Settings) -> anyhow::Result<Self> {
        let secret_key = settings.resolve_secret_key()?;
        let mut db =
            Db::connect(&settings.database_url(), PoolSize::from_settings(&settings)).await?;
        db.migrate().await?;
        let events = crate::events::EventBus::new(
            db.clone(),
            settings.event_retention_seconds,
            settings.redis_url.as_ref().map(|url| url.expose()),
            settings.ws_max_connections_per_org,
        )?;
        // Every job change made through this `Db` becomes a `job.*` event.
        db.jobs_observer = events.job_observer();
        let storage = Storage::from_settings(&settings)?;
        let rate_limiter = RateLimiter::from_settings(&settings)?;
        let backends = Arc::new(Backends {
            anythingllm: AnythingLlmBackend::from_settings(&settings)?,
            embedded: EmbeddedBackend::new(db.clone(), &settings)?,
        });
        let principals = Arc::new(PrincipalCache::new(
            Duration::from_secs(settings.auth_cache_seconds),
            db.kind,
        ));
        let default_llm = settings.llm_default()?;
        let cache = Arc::new(Cache::new(settings.redis_url.as_ref().map(|u| u.expose()))?);
        Ok(Self(Arc::new(AppStateInner {
            llm_clients: Arc::new(quire_llm::LlmClients::new(quire_llm::ClientOptions {
                breaker: quire_llm::BreakerConfig {
                    failure_threshold: settings.llm_breaker_threshold,
                    open_for: Duration::from_secs(u64::from(settings.llm_breaker_cooldown)),
                    ..quire_llm::BreakerConfig::default()
                },
                ..quire_llm::ClientOptions::default()
            })),
            default_llm,
            document_hooks: crate::hooks::DocumentHooks::default(),
            events,
            metrics: MetricsHandle::install()?,
            jwt: JwtKeys::new(secret_key.expose(), settings.jwt_algorithm),
            ask_limits: Arc::new(BackendLimits::new(settings.backend_max_concurrency)),
            settings: Arc::new(settings),
            db,
            secret_key,
            storage,
            started_at: Instant::now(),
            rate_limiter,
            shutdown: CancellationToken::new(),
            backends,
            principals,
            cache,
            job_types: OnceLock::new(),
        })))
    }

    /// Starts `MAX_CONCURRENT_JOBS` workers running `registry`'s job types; they stop
    /// when [`AppStateInner::shutdown`] fires. The registry comes from the assembly
    /// (`crate::app::job_registry`), which knows the capabilities' handlers.
    pub async fn start_workers(&self, registry: Arc<JobRegistry>) -> anyhow::Result<WorkerPool> {
        // A second pool in one process keeps the first one's list: both run one registry.
        let _ = self.job_types.set(registry.job_types());
        crate::jobs::start_workers(&self.db, registry, &self.settings, self.shutdown.clone()).await
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
        let known = self.job_types.get().map(Vec::as_slice).unwrap_or_default();
        crate::jobs::metrics::refresh_gauges(&self.db.pool, known).await;
    }
}
