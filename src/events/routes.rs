//! `GET /api/v1/ws` (the live events over WebSocket) and `POST /api/v1/ws/tickets`.
//!
//! Authentication happens at the handshake: `Authorization: Bearer` (API key or JWT) or
//! the API key header for programs; `?ticket=` (one-time, 30 s, from
//! `POST /api/v1/ws/tickets`) for browsers. Credentials in the query string are refused
//! (they would reach access logs); so is everything else that does not authenticate,
//! with `401` and the error envelope, before any upgrade.

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::model::Credential;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::repo::{self, TicketRow};
use crate::events::socket::{self, Subscription};
use crate::state::AppState;
use crate::time::{ms_to_rfc3339, now_ms};

/// How long a ticket may wait before it is used.
pub const TICKET_TTL_MS: i64 = 30_000;
const TICKET_PREFIX: &str = "wst_";
/// Query parameters that would carry a credential: refused, never read.
const CREDENTIAL_PARAMS: [&str; 8] = [
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "jwt",
    "authorization",
    "bearer",
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_socket))
        .routes(routes!(create_ticket))
}

/// A one-time ticket for `GET /api/v1/ws?ticket=…`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketResponse {
    /// Pass as `?ticket=`; it works once, within 30 seconds.
    pub ticket: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// A message from the client: subscribe, unsubscribe or ping.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Adds topics; the first `subscribe` replaces the default (everything).
    Subscribe { topics: Vec<String> },
    /// Removes topics.
    Unsubscribe { topics: Vec<String> },
    /// Answered with `pong`.
    Ping,
}

/// A message from the server other than an event: `pong`, `subscribed` (the topics now
/// subscribed), `error` (a message it could not use; the socket stays open), `resync`
/// (the `last_event_id` is older than the log: re-read state), `lagged` (the client fell
/// behind; the socket is closed with 1013, resume with the last id received),
/// `revoked` (the credential no longer works; the socket is closed with 1008).
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlMessage {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<i64>,
}

/// Issues a one-time ticket for opening the event socket from a browser (valid 30 s).
#[utoipa::path(post, path = "/api/v1/ws/tickets", tag = "events",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = TicketResponse)))]
async fn create_ticket(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<(StatusCode, Json<TicketResponse>)> {
    principal.require(Role::Viewer)?;
    let ticket = format!("{TICKET_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let (credential_kind, credential_id) = match &principal.credential {
        Credential::ApiKey { key_id } => ("api_key", key_id.clone()),
        Credential::AccessToken { jti } => ("access_token", jti.clone()),
    };
    let expires_at = now_ms() + TICKET_TTL_MS;
    repo::insert_ticket(
        &state.db.pool,
        &crate::auth::tokens::sha256_hex(ticket.as_bytes()),
        &TicketRow {
            org_id: principal.org_id.clone(),
            user_id: principal.user_id.clone(),
            role: principal.role.as_str().to_owned(),
            is_superuser: i64::from(principal.is_superuser),
            credential_kind: credential_kind.to_owned(),
            credential_id,
        },
        expires_at,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TicketResponse {
            ticket,
            expires_at: ms_to_rfc3339(expires_at),
        }),
    ))
}

/// What the handshake's query says.
#[derive(Default)]
struct Handshake {
    ticket: Option<String>,
    last_event_id: Option<i64>,
    topics: Option<Vec<String>>,
}

fn parse_query(raw: Option<&str>) -> Result<Handshake, ApiError> {
    let mut out = Handshake::default();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let lower = name.to_ascii_lowercase();
        if CREDENTIAL_PARAMS.contains(&lower.as_str()) {
            return Err(ApiError::Unauthorized(
                "credentials are not accepted in the query string; send an Authorization header or use a ticket from POST /api/v1/ws/tickets".into(),
            ));
        }
        match lower.as_str() {
            "ticket" => out.ticket = Some(value.into_owned()),
            "last_event_id" => {
                let id = value
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id >= 0)
                    .ok_or_else(|| {
                        ApiError::invalid_field("last_event_id", "must be a non-negative integer")
                    })?;
                out.last_event_id = Some(id);
            }
            "topics" => {
                let topics: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect();
                for topic in &topics {
                    socket::check_topic(topic)
                        .map_err(|message| ApiError::invalid_field("topics", message))?;
                }
                out.topics = Some(topics);
            }
            _ => {}
        }
    }
    Ok(out)
}

async fn principal_from_ticket(state: &AppState, ticket: &str) -> Result<Principal, ApiError> {
    let refused = || ApiError::Unauthorized("the ticket is unknown, used or expired".into());
    if !ticket.starts_with(TICKET_PREFIX) {
        return Err(refused());
    }
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::from)?;
    let row = repo::redeem_ticket(
        &mut conn,
        &crate::auth::tokens::sha256_hex(ticket.as_bytes()),
        now_ms(),
    )
    .await?
    .ok_or_else(refused)?;
    let role: Role = row.role.parse().map_err(|_| refused())?;
    let credential = match row.credential_kind.as_str() {
        "api_key" => Credential::ApiKey {
            key_id: row.credential_id,
        },
        _ => Credential::AccessToken {
            jti: row.credential_id,
        },
    };
    let principal = Principal {
        org_id: row.org_id,
        user_id: row.user_id,
        role,
        is_superuser: row.is_superuser == 1,
        credential,
    };
    // The credential behind the ticket may have been revoked since.
    if !socket::principal_is_live(state, &principal).await? {
        return Err(refused());
    }
    Ok(principal)
}

/// Opens the live event stream (WebSocket; see the events section of the description).
///
/// Authenticate with the Authorization header (API key or JWT) or with a one-time ticket
/// (query parameter ticket, from POST /api/v1/ws/tickets); credentials in the query string
/// are refused. Resume with last_event_id (or the Last-Event-ID header).
#[utoipa::path(get, path = "/api/v1/ws", tag = "events",
    params(
        ("ticket" = Option<String>, Query, description = "One-time ticket from POST /api/v1/ws/tickets (for browsers)"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "Resume after this event id"),
        ("topics" = Option<String>, Query, description = "Comma-separated topics to start with (default: everything of the organisation): jobs, job:{id}, workspace:{id}, documents, summaries, runs, statements"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 101, description = "Switching to the WebSocket protocol; the server sends events (EventMessage) and control messages (ControlMessage), the client sends ClientMessage"),
              (status = 400, body = ErrorBody, description = "Not a WebSocket handshake")))]
async fn open_socket(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let handshake = parse_query(raw.as_deref())?;
    let principal = match handshake.ticket.as_deref() {
        Some(ticket) => principal_from_ticket(&state, ticket).await?,
        None => Principal::from_request_parts(&mut parts, &state).await?,
    };
    principal.require(Role::Viewer)?;
    let last_event_id = match handshake.last_event_id {
        Some(id) => Some(id),
        None => match parts.headers.get("last-event-id") {
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .filter(|id| *id >= 0)
                    .ok_or_else(|| {
                        ApiError::invalid_field("Last-Event-ID", "must be a non-negative integer")
                    })?,
            ),
            None => None,
        },
    };
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|e| ApiError::BadRequest {
            message: format!("not a WebSocket handshake: {e}"),
            details: None,
        })?;
    let slot = state
        .events
        .open_connection(&principal.org_id)
        .ok_or(ApiError::RateLimited {
            retry_after_secs: 5,
        })?;
    let subscription = match handshake.topics {
        Some(topics) => Subscription::Topics(topics.into_iter().collect()),
        None => Subscription::All,
    };
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |ws| {
            socket::run(
                state,
                ws,
                socket::Session {
                    principal,
                    last_event_id,
                    subscription,
                    _slot: slot,
                },
            )
        })
        .into_response())
}
