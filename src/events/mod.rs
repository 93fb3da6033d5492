//! Live events (issue 16): one resumable stream of everything long-running in Quire,
//! shared by every instance.
//!
//! - **Publishing** ([`EventBus::publish`], [`EventBus::publish_one`]): capabilities and
//!   the job queue (through the [`quire_jobs::observer`] hook on [`crate::db::Db`]) hand
//!   events to this instance's one publisher task, which appends them to the `events`
//!   table in the order received (batched, one transaction per batch) and then wakes the
//!   readers: Redis `PUBLISH` when `REDIS_URL` is set, else PostgreSQL `NOTIFY` (sent in
//!   the appending transaction), and always this instance's own reader.
//! - **Reading**: each instance has one reader task that reads the rows after the last
//!   id it delivered, in id order, and fans them out through a bounded
//!   `tokio::sync::broadcast` to its sockets. Writers hold the log's lock until commit on
//!   PostgreSQL (SQLite has one writer), so ids become visible in increasing order and
//!   "after the last id" misses nothing. The reader also polls once a second, so a lost
//!   wake-up delays an event, never loses it.
//! - **Resume**: a socket subscribes to the broadcast first, then reads its
//!   organisation's rows after the client's `last_event_id` from the table; events of the
//!   broadcast at or below the last id sent are skipped: no gap, no duplicate. An id older
//!   than the log (`EVENT_RETENTION_SECONDS`) gets `resync`.
//! - **Backpressure**: the broadcast is the bound: a socket that falls more than its
//!   capacity behind gets `lagged` and is closed (1013); memory does not grow with it.
//!
//! Events are published after the change they describe is committed: a crash between
//! the two loses the event (the state is in the database; a client that resyncs reads it).

pub mod repo;
pub mod routes;
mod socket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::db::{Db, DbKind};
use crate::time::now_ms;
use quire_jobs::observer::{JobChange, JobChangeKind, JobObserver, Observer};

/// How many events a socket may fall behind before it is closed with `lagged`.
pub const BROADCAST_CAPACITY: usize = 4096;
/// Rows read per query by the reader and by a resuming socket.
const READ_BATCH: i64 = 500;
/// Events appended per transaction at most.
const WRITE_BATCH: usize = 500;
/// The reader's poll when no wake-up comes.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The Redis channel of the wake-ups.
const REDIS_CHANNEL: &str = "quire:events";

/// The topics (families) events are filed under; a client may also subscribe to
/// `job:{id}` and `workspace:{id}`.
pub mod topic {
    pub const JOBS: &str = "jobs";
    pub const DOCUMENTS: &str = "documents";
    pub const SUMMARIES: &str = "summaries";
    pub const RUNS: &str = "runs";
    pub const STATEMENTS: &str = "statements";
    pub const ALL: [&str; 5] = [JOBS, DOCUMENTS, SUMMARIES, RUNS, STATEMENTS];
}

/// An event as a client receives it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventMessage {
    /// Increases with every event (per organisation and overall); resume with it.
    pub id: i64,
    /// `job.queued`, `job.started`, `job.progress`, `job.succeeded`, `job.failed`,
    /// `job.cancelled`, `upload.entry`, `run.result`, `document.created`,
    /// `document.updated`, `document.deleted`, `summary.complete`, `summary.failed`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub org_id: String,
    /// `jobs`, `documents`, `summaries`, `runs` or `statements`.
    pub topic: String,
    /// When it was published (RFC 3339).
    pub at: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// An event as the bus carries it: the message, what subscriptions match on, and its
/// JSON text made once for every socket.
#[derive(Debug)]
pub struct Delivered {
    pub id: i64,
    pub org_id: String,
    pub topic: String,
    pub job_id: Option<String>,
    pub workspace_id: Option<String>,
    pub text: Utf8Bytes,
}

impl Delivered {
    fn from_row(row: repo::EventRow) -> Self {
        let data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
        let field = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_owned);
        let (job_id, workspace_id) = (field("job_id"), field("workspace_id"));
        let message = EventMessage {
            id: row.id,
            event_type: row.event_type,
            org_id: row.org_id,
            topic: row.topic,
            at: crate::time::ms_to_rfc3339(row.at),
            data,
        };
        let text = serde_json::to_string(&message).unwrap_or_default();
        Self {
            id: message.id,
            org_id: message.org_id,
            topic: message.topic,
            job_id,
            workspace_id,
            text: text.into(),
        }
    }
}

/// An event to publish.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub org_id: String,
    pub topic: &'static str,
    pub event_type: String,
    pub data: Value,
}

impl NewEvent {
    pub fn new(
        org_id: impl Into<String>,
        topic: &'static str,
        event_type: impl Into<String>,
        data: Value,
    ) -> Self {
        Self {
            org_id: org_id.into(),
            topic,
            event_type: event_type.into(),
            data,
        }
    }
}

struct Batch {
    events: Vec<NewEvent>,
    done: Option<oneshot::Sender<()>>,
}

/// This instance's side of the live events (see the module documentation).
pub struct EventBus {
    db: Db,
    retention_ms: i64,
    redis: Option<redis::Client>,
    publish_tx: mpsc::UnboundedSender<Batch>,
    publish_rx: Mutex<Option<mpsc::UnboundedReceiver<Batch>>>,
    fanout: broadcast::Sender<Arc<Delivered>>,
    wake: Arc<Notify>,
    /// The last id the reader delivered.
    delivered: AtomicI64,
    /// Open sockets per organisation on this instance.
    connections: Mutex<HashMap<String, u32>>,
    pub max_connections_per_org: u32,
}

impl EventBus {
    /// A bus on `db` (which must not carry this bus's own observer). Tasks start with
    /// [`EventBus::start`].
    pub fn new(
        db: Db,
        retention_seconds: u64,
        redis_url: Option<&str>,
        max_connections_per_org: u32,
    ) -> anyhow::Result<Arc<Self>> {
        let redis = redis_url
            .map(redis::Client::open)
            .transpose()
            .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?;
        let (publish_tx, publish_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            db,
            retention_ms: i64::try_from(retention_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            redis,
            publish_tx,
            publish_rx: Mutex::new(Some(publish_rx)),
            fanout: broadcast::channel(BROADCAST_CAPACITY).0,
            wake: Arc::new(Notify::new()),
            delivered: AtomicI64::new(0),
            connections: Mutex::new(HashMap::new()),
            max_connections_per_org,
        }))
    }

    /// The observer to put on the service's [`Db`]: job changes become `job.*` events.
    pub fn job_observer(&self) -> Observer {
        Observer::new(Arc::new(JobEvents(self.publish_tx.clone())))
    }

    /// Publishes events (in order, after everything this instance published before) and
    /// returns once they are in the log. A failure is logged, not returned: the change
    /// the events describe is already committed.
    pub async fn publish(&self, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        let (done, wait) = oneshot::channel();
        if self
            .publish_tx
            .send(Batch {
                events,
                done: Some(done),
            })
            .is_ok()
        {
            let _ = wait.await;
        }
    }

    /// [`EventBus::publish`] of one event.
    pub async fn publish_one(
        &self,
        org_id: &str,
        topic: &'static str,
        event_type: &str,
        data: Value,
    ) {
        self.publish(vec![NewEvent::new(org_id, topic, event_type, data)])
            .await
    }

    /// The live feed of this instance (subscribe before reading the log).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.fanout.subscribe()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The last id this instance's reader delivered.
    pub fn delivered_id(&self) -> i64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Counts a socket of `org_id`; `None` when the organisation has its maximum open.
    pub fn open_connection(self: &Arc<Self>, org_id: &str) -> Option<ConnectionSlot> {
        let mut map = self.connections.lock().ok()?;
        let count = map.entry(org_id.to_owned()).or_insert(0);
        if *count >= self.max_connections_per_org {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            bus: Arc::clone(self),
            org_id: org_id.to_owned(),
        })
    }

    /// Starts the publisher, the reader and (PostgreSQL without Redis, or Redis) the
    /// listener of other instances' wake-ups. They stop with `stop`.
    pub async fn start(self: &Arc<Self>, database_url: String, stop: CancellationToken) {
        let Some(rx) = self.publish_rx.lock().ok().and_then(|mut rx| rx.take()) else {
            return; // already started
        };
        match repo::id_range(&self.db.pool).await {
            Ok((_, hi)) => self.delivered.store(hi.unwrap_or(0), Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "cannot read the event log's position"),
        }
        tokio::spawn(Arc::clone(self).publisher(rx));
        tokio::spawn(Arc::clone(self).reader(stop.clone()));
        if let Some(client) = self.redis.clone() {
            tokio::spawn(listen_redis(client, Arc::clone(&self.wake), stop));
        } else if self.db.kind == DbKind::Postgres {
            tokio::spawn(listen_postgres(database_url, Arc::clone(&self.wake), stop));
        }
    }

    async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Batch>) {
        let mut redis_conn: Option<redis::aio::MultiplexedConnection> = None;
        while let Some(first) = rx.recv().await {
            let mut batches = vec![first];
            let mut count = batches[0].events.len();
            while count < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(batch) => {
                        count += batch.events.len();
                        batches.push(batch);
                    }
                    Err(_) => break,
                }
            }
            let at = now_ms();
            let texts: Vec<(String, &NewEvent)> = batches
                .iter()
                .flat_map(|b| b.events.iter())
                .map(|e| (e.data.to_string(), e))
                .collect();
            let rows: Vec<repo::InsertEvent<'_>> = texts
                .iter()
                .map(|(data, e)| repo::InsertEvent {
                    org_id: &e.org_id,
                    topic: e.topic,
                    event_type: &e.event_type,
                    data,
                    at,
                })
                .collect();
            let notify = self.redis.is_none();
            if let Err(e) = repo::append(&self.db.pool, self.db.kind, &rows, notify).await {
                tracing::warn!(error = %e, events = rows.len(), "could not publish events");
            }
            drop(rows);
            drop(texts);
            self.wake.notify_one();
            if let Some(client) = &self.redis {
                if redis_conn.is_none() {
                    redis_conn = client.get_multiplexed_async_connection().await.ok();
                }
                if let Some(conn) = redis_conn.as_mut() {
                    let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(REDIS_CHANNEL)
                        .arg("")
                        .query_async(conn)
                        .await;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "could not announce events through Redis");
                        redis_conn = None;
                    }
                }
            }
            for batch in batches {
                if let Some(done) = batch.done {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn reader(self: Arc<Self>, stop: CancellationToken) {
        let mut last_prune = 0i64;
        loop {
            let wake = self.wake.notified();
            let after = self.delivered.load(Ordering::Acquire);
            let mut full = false;
            match repo::read_after(&self.db.pool, after, READ_BATCH).await {
                Ok(rows) => {
                    full = rows.len() as i64 == READ_BATCH;
                    for row in rows {
                        self.delivered.store(row.id, Ordering::Release);
                        // No socket listening is fine.
                        let _ = self.fanout.send(Arc::new(Delivered::from_row(row)));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the event log"),
            }
            let now = now_ms();
            if now - last_prune > 30_000 {
                last_prune = now;
                if let Err(e) =
                    repo::prune(&self.db.pool, now.saturating_sub(self.retention_ms), now).await
                {
                    tracing::warn!(error = %e, "cannot prune the event log");
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake => {}
                _ = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }
}

/// A socket's place in its organisation's count; freed when dropped.
pub struct ConnectionSlot {
    bus: Arc<EventBus>,
    org_id: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.bus.connections.lock()
            && let Some(count) = map.get_mut(&self.org_id)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.org_id);
            }
        }
    }
}

/// Job changes → `job.*` events (without waiting: the queue must not block on them).
struct JobEvents(mpsc::UnboundedSender<Batch>);

impl JobObserver for JobEvents {
    fn observe(&self, change: JobChange) {
        let (event_type, extra) = match &change.kind {
            JobChangeKind::Queued => ("job.queued", serde_json::json!({})),
            JobChangeKind::Started { attempt } => {
                ("job.started", serde_json::json!({ "attempt": attempt }))
            }
            JobChangeKind::Progress { percent, message } => (
                "job.progress",
                serde_json::json!({ "progress": percent, "progress_message": message }),
            ),
            JobChangeKind::Ended { status, error } => {
                let name = match status {
                    quire_jobs::JobStatus::Succeeded => "job.succeeded",
                    quire_jobs::JobStatus::Failed => "job.failed",
                    quire_jobs::JobStatus::Cancelled => "job.cancelled",
                    // A retry: back in the queue.
                    _ => "job.queued",
                };
                (name, serde_json::json!({ "error": error }))
            }
        };
        let mut data = serde_json::json!({
            "job_id": change.job_id,
            "job_type": change.job_type,
            "workspace_id": change.workspace_id,
        });
        if let (Some(target), Value::Object(extra)) = (data.as_object_mut(), extra) {
            target.extend(extra);
        }
        let _ = self.0.send(Batch {
            events: vec![NewEvent {
                org_id: change.org_id,
                topic: topic::JOBS,
                event_type: event_type.to_owned(),
                data,
            }],
            done: None,
        });
    }
}

async fn listen_postgres(url: String, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(repo::NOTIFY_CHANNEL).await {
                Ok(()) => {
                    wake.notify_one();
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            received = listener.recv() => match received {
                                Ok(_) => wake.notify_one(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "event notifications interrupted");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for events"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to listen for events"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn listen_redis(client: redis::Client, wake: Arc<Notify>, stop: CancellationToken) {
    use futures::StreamExt;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(REDIS_CHANNEL).await {
                Ok(()) => {
                    wake.notify_one();
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            message = messages.next() => match message {
                                Some(_) => wake.notify_one(),
                                None => {
                                    tracing::warn!("Redis event subscription ended");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis events"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to Redis for events"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
