//! SQL for listing and revoking API keys. Every function takes the organisation;
//! `owner` narrows to the keys one user created (what a non-admin may see).

use crate::auth::repo::ApiKeyRow;
use crate::http::Window;
use crate::time::now_ms;

const KEY_COLUMNS: &str = "id, org_id, created_by, name, prefix, secret_hash, role, expires_at, \
                           last_used_at, revoked_at, created_at";

/// Who may see which keys: an admin sees all of the organisation's, anyone else only
/// the keys they created.
#[derive(Clone, Copy, Debug)]
pub enum Visibility<'a> {
    All,
    CreatedBy(Option<&'a str>),
}

impl Visibility<'_> {
    /// The owner bound as `$n` (NULL matches nothing, so a key created by the system is
    /// visible to admins only).
    fn owner(&self) -> Option<&str> {
        match self {
            Self::All => None,
            Self::CreatedBy(owner) => *owner,
        }
    }

    fn all(&self) -> i64 {
        i64::from(matches!(self, Self::All))
    }
}

pub async fn list_api_keys(
    pool: &sqlx::AnyPool,
    org_id: &str,
    visibility: Visibility<'_>,
    window: Window,
) -> sqlx::Result<(Vec<ApiKeyRow>, u64)> {
    let rows: Vec<ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND ($2 = 1 OR created_by = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(org_id)
    .bind(visibility.all())
    .bind(visibility.owner())
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND ($2 = 1 OR created_by = $3)",
    )
    .bind(org_id)
    .bind(visibility.all())
    .bind(visibility.owner())
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

pub async fn find_api_key(
    pool: &sqlx::AnyPool,
    org_id: &str,
    visibility: Visibility<'_>,
    key_id: &str,
) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND org_id = $2 \
         AND ($3 = 1 OR created_by = $4)"
    )))
    .bind(key_id)
    .bind(org_id)
    .bind(visibility.all())
    .bind(visibility.owner())
    .fetch_optional(pool)
    .await
}

/// Revokes a key at once (the next request with it is a 401). Revoking twice is a no-op.
pub async fn revoke_api_key(pool: &sqlx::AnyPool, org_id: &str, key_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(org_id)
    .execute(pool)
    .await
    .map(|_| ())
}
