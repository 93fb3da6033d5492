//! SQL for API keys. Every function takes the organisation, except the lookup by prefix
//! (which says why); `owner` narrows to the keys one user created (what a non-admin may
//! see).

use sqlx::{AnyPool, FromRow};

use crate::db::new_id;
use crate::http::Window;
use crate::time::now_ms;

const KEY_COLUMNS: &str = "id, org_id, created_by, name, prefix, secret_hash, role, expires_at, \
                           last_used_at, revoked_at, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub org_id: String,
    pub created_by: Option<String>,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub role: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub role: crate::auth::Role,
    pub created_by: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
}

pub async fn insert_api_key<'e, E>(
    exec: E,
    org_id: &str,
    key: NewApiKey<'_>,
) -> sqlx::Result<ApiKeyRow>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = ApiKeyRow {
        id: new_id(),
        org_id: org_id.to_owned(),
        created_by: key.created_by.map(str::to_owned),
        name: key.name.to_owned(),
        prefix: key.prefix.to_owned(),
        secret_hash: key.secret_hash.to_owned(),
        role: key.role.as_str().to_owned(),
        expires_at: key.expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, created_by, name, prefix, secret_hash, role, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.id)
    .bind(org_id)
    .bind(&row.created_by)
    .bind(&row.name)
    .bind(&row.prefix)
    .bind(&row.secret_hash)
    .bind(&row.role)
    .bind(row.expires_at)
    .bind(row.created_at)
    .execute(exec)
    .await?;
    Ok(row)
}

/// An API key and whether the user who created it is still active (keys of a
/// deactivated user stop working). Looked up by its public prefix, before the
/// organisation is known.
#[derive(Debug, FromRow)]
pub struct ApiKeyWithOwner {
    pub id: String,
    pub org_id: String,
    pub created_by: Option<String>,
    pub secret_hash: String,
    pub role: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub owner_active: Option<i64>,
    pub owner_superuser: Option<i64>,
    pub owner_role: Option<String>,
}

pub async fn find_api_key_by_prefix(
    pool: &AnyPool,
    prefix: &str,
) -> sqlx::Result<Option<ApiKeyWithOwner>> {
    sqlx::query_as(
        "SELECT k.id, k.org_id, k.created_by, k.secret_hash, k.role, k.expires_at, k.last_used_at, \
                k.revoked_at, u.is_active AS owner_active, u.is_superuser AS owner_superuser, \
                u.role AS owner_role \
         FROM api_keys k LEFT JOIN users u ON u.id = k.created_by WHERE k.prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(pool)
    .await
}

pub async fn touch_api_key(pool: &AnyPool, org_id: &str, key_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND org_id = $3")
        .bind(now_ms())
        .bind(key_id)
        .bind(org_id)
        .execute(pool)
        .await
        .map(|_| ())
}

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
