//! An in-process imitation of AnythingLLM's developer API, for tests.
//!
//! [`TestDouble::start`] binds a real HTTP server on `127.0.0.1:0` before it
//! returns, so tests never wait for it. It keeps workspaces, documents,
//! threads and chats in memory and answers the endpoints [`crate::Client`]
//! uses with the real server's statuses and bodies, quirks included (403 for a
//! bad key, plain-text errors, an array from GET workspace, HTML 200 for
//! unknown paths). Chat replies are deterministic: sentences of the embedded
//! documents that share words with the question, quoted and listed as
//! sources.
//!
//! Faults are switched at runtime through a [`DoubleHandle`].

mod server;
mod world;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Re-exported so that users of [`DoubleHandle::fail_next_with`] need no direct
/// dependency on axum.
pub use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{ApiKey, ClientConfig, RetryPolicy};
use world::World;

/// Keys of [`DoubleHandle::requests`]: the method and the route as the real
/// server declares it, without the `/api` prefix.
pub mod endpoint {
    pub const PING: &str = "GET /ping";
    pub const AUTH: &str = "GET /v1/auth";
    pub const NEW_WORKSPACE: &str = "POST /v1/workspace/new";
    pub const LIST_WORKSPACES: &str = "GET /v1/workspaces";
    pub const GET_WORKSPACE: &str = "GET /v1/workspace/{slug}";
    pub const DELETE_WORKSPACE: &str = "DELETE /v1/workspace/{slug}";
    pub const UPDATE_WORKSPACE: &str = "POST /v1/workspace/{slug}/update";
    pub const UPDATE_EMBEDDINGS: &str = "POST /v1/workspace/{slug}/update-embeddings";
    pub const CHAT: &str = "POST /v1/workspace/{slug}/chat";
    pub const NEW_THREAD: &str = "POST /v1/workspace/{slug}/thread/new";
    pub const DELETE_THREAD: &str = "DELETE /v1/workspace/{slug}/thread/{thread_slug}";
    pub const THREAD_CHAT: &str = "POST /v1/workspace/{slug}/thread/{thread_slug}/chat";
    pub const UPLOAD: &str = "POST /v1/document/upload";
    pub const UPLOAD_TO_FOLDER: &str = "POST /v1/document/upload/{folder}";
    pub const RAW_TEXT: &str = "POST /v1/document/raw-text";
    pub const CREATE_FOLDER: &str = "POST /v1/document/create-folder";
    pub const MOVE_FILES: &str = "POST /v1/document/move-files";
    pub const REMOVE_DOCUMENTS: &str = "DELETE /v1/system/remove-documents";
}

/// A running double. Dropping it stops the server and releases any request
/// held by [`DoubleHandle::hang_next`].
#[derive(Debug)]
pub struct TestDouble {
    addr: SocketAddr,
    base_url: String,
    api_key: String,
    handle: DoubleHandle,
}

impl TestDouble {
    /// The key [`TestDouble::start`] accepts.
    pub const API_KEY: &'static str = "test-double-api-key";

    pub async fn start() -> io::Result<Self> {
        Self::start_with_key(Self::API_KEY).await
    }

    pub async fn start_with_key(api_key: &str) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, mut stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            world: Mutex::new(World::new()),
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(BTreeMap::new()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            shutdown,
        });
        let app = server::router(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "AnythingLLM test double stopped with an error");
            }
        });
        Ok(Self {
            addr,
            base_url: format!("http://{addr}/api"),
            api_key: api_key.to_owned(),
            handle: DoubleHandle { shared },
        })
    }

    /// The API root, `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The switches and counters; clones share them.
    pub fn handle(&self) -> DoubleHandle {
        self.handle.clone()
    }

    /// A client configuration for this double with test-sized waits: retries
    /// 1–5 ms apart and a 2 s call timeout.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.base_url.clone(), ApiKey::new(&self.api_key));
        config.retry = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        config.call_timeout = Duration::from_secs(2);
        config.embed_timeout = Duration::from_secs(5);
        config.chat_timeout = Duration::from_secs(5);
        config
    }
}

impl Drop for TestDouble {
    fn drop(&mut self) {
        self.handle.shared.shutdown.send_replace(true);
    }
}

/// Runtime switches and observations of a [`TestDouble`].
#[derive(Debug, Clone)]
pub struct DoubleHandle {
    shared: Arc<Shared>,
}

impl DoubleHandle {
    /// Delay every matched request by `latency` before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults().latency = latency;
    }

    /// Answer the next `n` requests to any route with a bare 500.
    pub fn fail_next(&self, n: u32) {
        self.fail_next_with(n, StatusCode::INTERNAL_SERVER_ERROR, None);
    }

    /// Answer the next `n` requests to `endpoint` (an [`endpoint`] constant),
    /// or to any route if `None`, with a bare `status`.
    pub fn fail_next_with(&self, n: u32, status: StatusCode, endpoint: Option<&str>) {
        self.shared.faults().failure = Some(Burst {
            remaining: n,
            status,
            endpoint: endpoint.map(str::to_owned),
        });
    }

    /// Hold the next `n` requests (to `endpoint`, or to any route if `None`)
    /// without answering, until the double is dropped or five minutes pass:
    /// long enough for any client timeout to fire.
    pub fn hang_next(&self, n: u32, endpoint: Option<&str>) {
        self.shared.faults().hang = Some(Burst {
            remaining: n,
            status: StatusCode::OK,
            endpoint: endpoint.map(str::to_owned),
        });
    }

    /// The next `n` uploads find the collector offline.
    pub fn collector_offline_next(&self, n: u32) {
        self.shared.faults().collector_offline_next = n;
    }

    /// Every upload finds the collector offline until switched back.
    pub fn set_collector_offline(&self, offline: bool) {
        self.shared.faults().collector_offline_always = offline;
    }

    /// The next `n` chats answer 200 with `type:"abort"`.
    pub fn abort_next_chats(&self, n: u32) {
        self.shared.faults().abort_next = n;
    }

    /// Every chat answers 200 with `type:"abort"` until switched back.
    pub fn set_chat_abort(&self, abort: bool) {
        self.shared.faults().abort_always = abort;
    }

    /// With `false`, update-embeddings (and `addToWorkspaces`) answer success
    /// but attach nothing, as when the embedder fails on the real server.
    pub fn set_embeddings_attach(&self, attach: bool) {
        self.shared.faults().embeddings_attach = attach;
    }

    /// With `true` (the default, as in production), unknown paths answer 200
    /// with HTML; with `false`, 404 `Not Found` as in development.
    pub fn set_unknown_paths_html(&self, html: bool) {
        self.shared.faults().unknown_paths_html = html;
    }

    /// Imitates `WORKSPACE_DELETION_PROTECTION`: deletes answer 403.
    pub fn set_deletion_protection(&self, on: bool) {
        self.shared.faults().deletion_protection = on;
    }

    /// Clears every fault switch back to a healthy server.
    pub fn reset_faults(&self) {
        *self.shared.faults() = Faults::default();
    }

    /// Requests received for `endpoint` (an [`endpoint`] constant), faulted
    /// and refused ones included.
    pub fn requests(&self, endpoint: &str) -> u64 {
        self.shared.counts().get(endpoint).copied().unwrap_or(0)
    }

    /// Every endpoint's request count; unknown paths appear as they were sent.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts().clone()
    }

    /// The most requests the double was handling at one time.
    pub fn max_concurrent_requests(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The last JSON body received by create or update for `slug`, as sent.
    pub fn last_settings(&self, slug: &str) -> Option<Value> {
        self.shared.world().last_settings(slug)
    }

    /// Locations of every stored document.
    pub fn document_locations(&self) -> Vec<String> {
        self.shared.world().document_locations()
    }

    /// Storage folders, `custom-documents` included.
    pub fn folders(&self) -> Vec<String> {
        self.shared.world().folders()
    }

    /// `(prompt, reply)` of each chat saved in the workspace, threads included.
    pub fn chat_log(&self, slug: &str) -> Vec<(String, String)> {
        self.shared
            .world()
            .chats(slug)
            .into_iter()
            .map(|c| (c.prompt, c.response))
            .collect()
    }

    /// Session ids of the saved chats, in order (`None` for thread chats and
    /// chats without one).
    pub fn chat_sessions(&self, slug: &str) -> Vec<Option<String>> {
        self.shared
            .world()
            .chats(slug)
            .into_iter()
            .map(|c| c.session_id.or(c.thread.map(|t| format!("thread:{t}"))))
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Burst {
    remaining: u32,
    status: StatusCode,
    endpoint: Option<String>,
}

impl Burst {
    /// Uses one occurrence if it applies to `endpoint`.
    fn take(slot: &mut Option<Burst>, endpoint: &str) -> Option<StatusCode> {
        let burst = slot.as_mut()?;
        if burst.remaining == 0 || burst.endpoint.as_deref().is_some_and(|e| e != endpoint) {
            return None;
        }
        burst.remaining -= 1;
        let status = burst.status;
        if burst.remaining == 0 {
            *slot = None;
        }
        Some(status)
    }
}

#[derive(Debug, Clone)]
struct Faults {
    latency: Duration,
    failure: Option<Burst>,
    hang: Option<Burst>,
    collector_offline_next: u32,
    collector_offline_always: bool,
    abort_next: u32,
    abort_always: bool,
    embeddings_attach: bool,
    unknown_paths_html: bool,
    deletion_protection: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            failure: None,
            hang: None,
            collector_offline_next: 0,
            collector_offline_always: false,
            abort_next: 0,
            abort_always: false,
            embeddings_attach: true,
            unknown_paths_html: true,
            deletion_protection: false,
        }
    }
}

#[derive(Debug)]
struct Shared {
    api_key: String,
    world: Mutex<World>,
    faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn counts(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, endpoint: String) {
        *self.counts().entry(endpoint).or_insert(0) += 1;
    }

    /// Tracks concurrency until the returned guard is dropped.
    fn enter(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight {
            shared: Arc::clone(self),
        }
    }

    /// The latency, whether to hang, and the failure status, for one request.
    fn take_faults(&self, endpoint: &str) -> (Duration, bool, Option<StatusCode>) {
        let mut faults = self.faults();
        let hang = Burst::take(&mut faults.hang, endpoint).is_some();
        let failure = Burst::take(&mut faults.failure, endpoint);
        (faults.latency, hang, failure)
    }

    fn take_collector_offline(&self) -> bool {
        let mut faults = self.faults();
        if faults.collector_offline_always {
            return true;
        }
        if faults.collector_offline_next > 0 {
            faults.collector_offline_next -= 1;
            return true;
        }
        false
    }

    fn take_chat_abort(&self) -> bool {
        let mut faults = self.faults();
        if faults.abort_always {
            return true;
        }
        if faults.abort_next > 0 {
            faults.abort_next -= 1;
            return true;
        }
        false
    }

    async fn wait_for_shutdown(&self, at_most: Duration) {
        let mut stopped = self.shutdown.subscribe();
        let _ = tokio::time::timeout(at_most, stopped.wait_for(|stop| *stop)).await;
    }
}

struct InFlight {
    shared: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
