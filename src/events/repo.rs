//! The SQL of the live events: the shared log (`events`) and the one-time WebSocket
//! tickets (`ws_tickets`). Portable statements; the PostgreSQL-only ones (the log's lock
//! and `pg_notify`) are named as such.

use sqlx::{AnyConnection, AnyPool, Row};

use crate::db::DbKind;

/// The advisory lock every writer of the log holds until its commit on PostgreSQL, so ids
/// become visible in the order they were given (a reader that has seen id N never sees an
/// id below N appear later).
const LOG_LOCK: i64 = 0x5175_6972_6576;

/// The PostgreSQL channel on which writers wake the other instances' readers.
pub const NOTIFY_CHANNEL: &str = "quire_events";

/// A row of the log.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub org_id: String,
    pub topic: String,
    pub event_type: String,
    pub data: String,
    pub at: i64,
}

fn row_to_event(row: &sqlx::any::AnyRow) -> sqlx::Result<EventRow> {
    Ok(EventRow {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        topic: row.try_get("topic")?,
        event_type: row.try_get("type")?,
        data: row.try_get("data")?,
        at: row.try_get("at")?,
    })
}

/// One event to append.
pub struct InsertEvent<'a> {
    pub org_id: &'a str,
    pub topic: &'a str,
    pub event_type: &'a str,
    pub data: &'a str,
    pub at: i64,
}

/// Appends `events` in one transaction, in order; on PostgreSQL under the log's lock and
/// with a `pg_notify` (`notify`) that other instances receive at the commit.
pub async fn append(
    pool: &AnyPool,
    kind: DbKind,
    events: &[InsertEvent<'_>],
    notify: bool,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if kind == DbKind::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOG_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    for event in events {
        sqlx::query(
            "INSERT INTO events (org_id, topic, type, data, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(event.org_id)
        .bind(event.topic)
        .bind(event.event_type)
        .bind(event.data)
        .bind(event.at)
        .execute(&mut *tx)
        .await?;
    }
    if kind == DbKind::Postgres && notify {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Every organisation's events after `after`, oldest first (the instance's reader).
pub async fn read_after(pool: &AnyPool, after: i64, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, org_id, topic, type, data, at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_event).collect()
}

/// One organisation's events after `after`, oldest first (a resuming socket).
pub async fn read_org_after(
    pool: &AnyPool,
    org_id: &str,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, org_id, topic, type, data, at FROM events \
         WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(org_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_event).collect()
}

/// The oldest and newest ids still in the log (both `None` when it is empty).
pub async fn id_range(pool: &AnyPool) -> sqlx::Result<(Option<i64>, Option<i64>)> {
    let row = sqlx::query("SELECT MIN(id) AS lo, MAX(id) AS hi FROM events")
        .fetch_one(pool)
        .await?;
    Ok((row.try_get("lo")?, row.try_get("hi")?))
}

/// Drops events older than `before` (ms) and tickets that expired before it.
pub async fn prune(pool: &AnyPool, before: i64, now: i64) -> sqlx::Result<u64> {
    let gone = sqlx::query("DELETE FROM events WHERE at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM ws_tickets WHERE expires_at < $1")
        .bind(now - 60_000)
        .execute(pool)
        .await?;
    Ok(gone)
}

/// What a ticket stands for.
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub org_id: String,
    pub user_id: Option<String>,
    pub role: String,
    pub is_superuser: i64,
    pub credential_kind: String,
    pub credential_id: String,
}

pub async fn insert_ticket(
    pool: &AnyPool,
    ticket_hash: &str,
    ticket: &TicketRow,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ws_tickets (ticket_hash, org_id, user_id, role, is_superuser, \
         credential_kind, credential_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ticket_hash)
    .bind(&ticket.org_id)
    .bind(&ticket.user_id)
    .bind(&ticket.role)
    .bind(ticket.is_superuser)
    .bind(&ticket.credential_kind)
    .bind(&ticket.credential_id)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Uses the ticket: the one `UPDATE` that marks it used succeeds once, on any instance,
/// and only before it expires.
pub async fn redeem_ticket(
    conn: &mut AnyConnection,
    ticket_hash: &str,
    now: i64,
) -> sqlx::Result<Option<TicketRow>> {
    let used = sqlx::query(
        "UPDATE ws_tickets SET used_at = $2 WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(ticket_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if used != 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT org_id, user_id, role, is_superuser, credential_kind, credential_id \
         FROM ws_tickets WHERE ticket_hash = $1",
    )
    .bind(ticket_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(TicketRow {
            org_id: row.try_get("org_id")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("role")?,
            is_superuser: row.try_get("is_superuser")?,
            credential_kind: row.try_get("credential_kind")?,
            credential_id: row.try_get("credential_id")?,
        })
    })
    .transpose()
}

/// Whether a principal's credential still works: the API key is neither revoked nor
/// expired and its creator (if any) is active; the user of an access token is active.
pub async fn credential_is_live(
    pool: &AnyPool,
    org_id: &str,
    api_key_id: Option<&str>,
    user_id: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    if let Some(key_id) = api_key_id {
        let row = sqlx::query(
            "SELECT k.revoked_at, k.expires_at, k.created_by, u.is_active \
             FROM api_keys k LEFT JOIN users u ON u.id = k.created_by \
             WHERE k.org_id = $1 AND k.id = $2",
        )
        .bind(org_id)
        .bind(key_id)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        let expires: Option<i64> = row.try_get("expires_at")?;
        let created_by: Option<String> = row.try_get("created_by")?;
        let active: Option<i64> = row.try_get("is_active")?;
        return Ok(revoked.is_none()
            && expires.is_none_or(|e| e > now)
            && (created_by.is_none() || active == Some(1)));
    }
    match user_id {
        Some(user_id) => {
            let active: Option<i64> =
                sqlx::query_scalar("SELECT is_active FROM users WHERE org_id = $1 AND id = $2")
                    .bind(org_id)
                    .bind(user_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(active == Some(1))
        }
        None => Ok(false),
    }
}
