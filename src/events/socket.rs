//! One open event socket: catch-up from the log, then the live feed, filtered to the
//! principal's organisation and subscription; pings, client messages, revocation.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Principal;
use crate::auth::model::Credential;
use crate::error::ApiError;
use crate::events::routes::{ClientMessage, ControlMessage};
use crate::events::{ConnectionSlot, Delivered, repo, topic};
use crate::state::AppState;
use crate::time::now_ms;

/// A ping every this long; two unanswered ones close the socket.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A send that cannot complete in this time (the client reads nothing and its buffers
/// are full) ends the socket without `lagged`. Long, so that a client that stops
/// reading for a while is told `lagged` once it reads again rather than dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Close codes.
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
const CLOSE_POLICY: u16 = 1008;
/// Topics per socket at most.
const MAX_TOPICS: usize = 100;

pub struct Session {
    pub principal: Principal,
    pub last_event_id: Option<i64>,
    pub subscription: Subscription,
    pub _slot: ConnectionSlot,
}

/// What a socket receives of its organisation's events.
#[derive(Debug, Clone)]
pub enum Subscription {
    All,
    Topics(BTreeSet<String>),
}

impl Subscription {
    fn matches(&self, event: &Delivered) -> bool {
        match self {
            Self::All => true,
            Self::Topics(topics) => {
                topics.contains(&event.topic)
                    || event
                        .job_id
                        .as_ref()
                        .is_some_and(|id| topics.contains(&format!("job:{id}")))
                    || event
                        .workspace_id
                        .as_ref()
                        .is_some_and(|id| topics.contains(&format!("workspace:{id}")))
            }
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            Self::All => topic::ALL.iter().map(|t| (*t).to_owned()).collect(),
            Self::Topics(topics) => topics.iter().cloned().collect(),
        }
    }
}

/// `Ok` for a topic a client may name; else what is wrong with it.
pub fn check_topic(name: &str) -> Result<(), String> {
    if topic::ALL.contains(&name) {
        return Ok(());
    }
    for prefix in ["job:", "workspace:"] {
        if let Some(id) = name.strip_prefix(prefix) {
            if !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Ok(());
            }
            return Err(format!(
                "'{name}' does not name a {}",
                prefix.trim_end_matches(':')
            ));
        }
    }
    Err(format!(
        "unknown topic '{name}'; topics are jobs, job:{{id}}, workspace:{{id}}, documents, summaries, runs, statements"
    ))
}

/// Whether the principal's credential still works (checked when authentication changes).
pub async fn principal_is_live(state: &AppState, principal: &Principal) -> Result<bool, ApiError> {
    let key_id = match &principal.credential {
        Credential::ApiKey { key_id } => Some(key_id.as_str()),
        Credential::AccessToken { .. } => None,
    };
    Ok(repo::credential_is_live(
        &state.db.pool,
        &principal.org_id,
        key_id,
        principal.user_id.as_deref(),
        now_ms(),
    )
    .await?)
}

fn control(kind: &str) -> ControlMessage {
    ControlMessage {
        kind: kind.to_owned(),
        topics: None,
        error: None,
        message: None,
        last_event_id: None,
    }
}

fn text_of(message: &ControlMessage) -> Message {
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

/// Why the socket loop ended.
enum End {
    /// The client went away or cannot be written to.
    Gone,
    Close(u16, &'static str),
}

struct Conn {
    ws: WebSocket,
}

impl Conn {
    async fn send(&mut self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.send(Message::Text(text)).await
    }
}

pub async fn run(state: AppState, ws: WebSocket, mut session: Session) {
    let mut conn = Conn { ws };
    let end = serve(&state, &mut conn, &mut session).await;
    if let Err(End::Close(code, reason)) = end {
        let _ = conn
            .ws
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
}

async fn serve(state: &AppState, conn: &mut Conn, session: &mut Session) -> Result<(), End> {
    let org_id = session.principal.org_id.clone();
    // The live feed first, so nothing published during the catch-up is missed.
    let mut live = state.events.subscribe();
    let mut auth_changes = state.principals.watch_changes();
    let mut sent = 0i64;
    if let Some(last) = session.last_event_id {
        sent = catch_up(state, conn, session, last).await?;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut unanswered = 0u32;
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) => {
                    if event.id <= sent || event.org_id != org_id {
                        continue;
                    }
                    sent = event.id;
                    if session.subscription.matches(&event) {
                        conn.send_text(event.text.clone()).await?;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let mut lagged = control("lagged");
                    lagged.last_event_id = Some(sent);
                    lagged.message = Some(format!(
                        "the client fell {missed} events behind; reconnect with last_event_id"
                    ));
                    conn.send(text_of(&lagged)).await?;
                    return Err(End::Close(CLOSE_TRY_AGAIN_LATER, "lagged"));
                }
                Err(RecvError::Closed) => return Err(End::Close(1001, "shutting down")),
            },
            incoming = conn.ws.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Err(End::Gone),
                Some(Ok(Message::Pong(_))) => unanswered = 0,
                Some(Ok(Message::Ping(_))) | Some(Ok(Message::Binary(_))) => {}
                Some(Ok(Message::Text(text))) => {
                    let answer = handle_client_message(&mut session.subscription, text.as_str());
                    conn.send(text_of(&answer)).await?;
                }
            },
            changed = auth_changes.changed() => {
                if changed.is_err() {
                    continue;
                }
                match principal_is_live(state, &session.principal).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let mut revoked = control("revoked");
                        revoked.message = Some("the credential of this connection no longer works".into());
                        conn.send(text_of(&revoked)).await?;
                        return Err(End::Close(CLOSE_POLICY, "credential revoked"));
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot re-check a socket's credential"),
                }
            },
            _ = ping.tick() => {
                if unanswered >= 2 {
                    return Err(End::Close(CLOSE_POLICY, "no pong"));
                }
                unanswered += 1;
                conn.send(Message::Ping(Default::default())).await?;
            },
            _ = state.shutdown.cancelled() => return Err(End::Close(1001, "shutting down")),
        }
    }
}

/// Sends the organisation's events after `last` from the log; `resync` when the log no
/// longer holds them. Returns the last id sent (or skipped).
async fn catch_up(
    state: &AppState,
    conn: &mut Conn,
    session: &Session,
    last: i64,
) -> Result<i64, End> {
    let pool = &state.events.db().pool;
    let (oldest, newest) = match repo::id_range(pool).await {
        Ok(range) => range,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the event log");
            (None, None)
        }
    };
    let pruned = match oldest {
        Some(oldest) => oldest > last + 1,
        None => last < state.events.delivered_id(),
    };
    if pruned {
        let mut resync = control("resync");
        resync.last_event_id = Some(last);
        resync.message =
            Some("events after this id are no longer kept; re-read the state you follow".into());
        conn.send(text_of(&resync)).await?;
        return Ok(newest.unwrap_or(0).max(state.events.delivered_id()));
    }
    let mut sent = last;
    loop {
        let rows = match repo::read_org_after(pool, &session.principal.org_id, sent, 500).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event log");
                return Err(End::Close(1011, "event log unavailable"));
            }
        };
        let full = rows.len() == 500;
        for row in rows {
            let event = Arc::new(Delivered::from_row(row));
            sent = event.id;
            if session.subscription.matches(&event) {
                conn.send_text(event.text.clone()).await?;
            }
        }
        if !full {
            return Ok(sent);
        }
    }
}

fn handle_client_message(subscription: &mut Subscription, text: &str) -> ControlMessage {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => {
            let mut error = control("error");
            error.error = Some("bad_request".into());
            error.message = Some(format!(
                "not a message: {e}; send {{\"type\": \"subscribe\"|\"unsubscribe\", \"topics\": [...]}} or {{\"type\": \"ping\"}}"
            ));
            return error;
        }
    };
    let (topics, add) = match message {
        ClientMessage::Ping => return control("pong"),
        ClientMessage::Subscribe { topics } => (topics, true),
        ClientMessage::Unsubscribe { topics } => (topics, false),
    };
    if let Some(message) = topics.iter().find_map(|t| check_topic(t).err()) {
        let mut error = control("error");
        error.error = Some("validation_error".into());
        error.message = Some(message);
        return error;
    }
    let mut current = match std::mem::replace(subscription, Subscription::All) {
        // The first subscribe narrows "everything" to what it names.
        Subscription::All if add => BTreeSet::new(),
        Subscription::All => topic::ALL.iter().map(|t| (*t).to_owned()).collect(),
        Subscription::Topics(topics) => topics,
    };
    for name in topics {
        if add {
            current.insert(name);
        } else {
            current.remove(&name);
        }
    }
    if current.len() > MAX_TOPICS {
        *subscription = Subscription::Topics(current);
        let mut error = control("error");
        error.error = Some("validation_error".into());
        error.message = Some(format!("at most {MAX_TOPICS} topics per connection"));
        return error;
    }
    *subscription = Subscription::Topics(current);
    let mut ack = control("subscribed");
    ack.topics = Some(subscription.names());
    ack
}
