//! SQL for organisations, users and API keys. Every function reading tenant data takes
//! the organisation; the few that cannot (login by email, key lookup by prefix) say why.

use sqlx::{AnyPool, FromRow};

use crate::time::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct OrganisationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub is_active: i64,
    pub is_superuser: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

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

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn insert_organisation<'e, E>(exec: E, name: &str) -> sqlx::Result<OrganisationRow>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let now = now_ms();
    let row = OrganisationRow {
        id: new_id(),
        name: name.to_owned(),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO organisations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(now)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(row)
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: crate::auth::Role,
}

pub async fn insert_user<'e, E>(exec: E, org_id: &str, user: NewUser<'_>) -> sqlx::Result<UserRow>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let now = now_ms();
    let row = UserRow {
        id: new_id(),
        org_id: org_id.to_owned(),
        email: user.email.trim().to_owned(),
        display_name: user.display_name.to_owned(),
        password_hash: user.password_hash.map(str::to_owned),
        role: user.role.as_str().to_owned(),
        is_active: 1,
        is_superuser: 0,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO users (id, org_id, email, email_normalised, display_name, password_hash, role, \
         is_active, is_superuser, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 0, $8, $8)",
    )
    .bind(&row.id)
    .bind(org_id)
    .bind(&row.email)
    .bind(normalise_email(user.email))
    .bind(&row.display_name)
    .bind(&row.password_hash)
    .bind(&row.role)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(row)
}

const USER_COLUMNS: &str = "id, org_id, email, display_name, password_hash, role, is_active, \
                            is_superuser, created_at, updated_at";

pub async fn find_user_by_id<'e, E>(
    exec: E,
    org_id: &str,
    user_id: &str,
) -> sqlx::Result<Option<UserRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND org_id = $2"
    )))
    .bind(user_id)
    .bind(org_id)
    .fetch_optional(exec)
    .await
}

/// A user and whether the login session (refresh family) an access token belongs to is
/// still alive: one indexed round trip per request authenticated with a JWT.
#[derive(Debug, FromRow)]
pub struct SessionUserRow {
    pub id: String,
    pub org_id: String,
    pub role: String,
    pub is_active: i64,
    pub is_superuser: i64,
    /// Unused, unrevoked refresh tokens of the family: 1 while the session lives, 0 once
    /// it was logged out, revoked on reuse, or the user deactivated.
    pub live_tokens: i64,
}

pub async fn find_session_user(
    pool: &AnyPool,
    org_id: &str,
    user_id: &str,
    family_id: &str,
) -> sqlx::Result<Option<SessionUserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.org_id, u.role, u.is_active, u.is_superuser, \
                (SELECT COUNT(*) FROM refresh_tokens r \
                  WHERE r.family_id = $3 AND r.user_id = u.id \
                    AND r.used_at IS NULL AND r.revoked_at IS NULL) AS live_tokens \
         FROM users u WHERE u.id = $1 AND u.org_id = $2",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(family_id)
    .fetch_optional(pool)
    .await
}

/// Login looks a user up by email before any organisation is known; emails are unique
/// across the whole installation for exactly this reason.
pub async fn find_user_by_email(pool: &AnyPool, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email_normalised = $1"
    )))
    .bind(normalise_email(email))
    .fetch_optional(pool)
    .await
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

pub async fn find_organisation<'e, E>(
    exec: E,
    org_id: &str,
) -> sqlx::Result<Option<OrganisationRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as("SELECT id, name, created_at, updated_at FROM organisations WHERE id = $1")
        .bind(org_id)
        .fetch_optional(exec)
        .await
}

/// One refresh token of a login session. Only a SHA-256 of the token is stored.
pub struct NewRefreshToken<'a> {
    pub id: &'a str,
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub expires_at: i64,
}

pub async fn insert_refresh_token<'e, E>(
    exec: E,
    org_id: &str,
    token: NewRefreshToken<'_>,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, org_id, token_hash, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.id)
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(org_id)
    .bind(token.token_hash)
    .bind(token.expires_at)
    .bind(now_ms())
    .execute(exec)
    .await
    .map(|_| ())
}

/// Marks a refresh token used if, and only if, it is still unused, unrevoked and
/// unexpired. `true` when this call won: the one statement is the rotation's lock, so
/// of two concurrent refreshes with one token exactly one succeeds.
pub async fn claim_refresh_token<'e, E>(
    exec: E,
    org_id: &str,
    token_id: &str,
    token_hash: &str,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 \
         WHERE id = $2 AND org_id = $3 AND token_hash = $4 \
           AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(token_id)
    .bind(org_id)
    .bind(token_hash)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a refresh token with this id and hash was ever issued in the organisation.
pub async fn refresh_token_exists<'e, E>(
    exec: E,
    org_id: &str,
    token_id: &str,
    token_hash: &str,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM refresh_tokens WHERE id = $1 AND org_id = $2 AND token_hash = $3",
    )
    .bind(token_id)
    .bind(org_id)
    .bind(token_hash)
    .fetch_optional(exec)
    .await?;
    Ok(row.is_some())
}

/// Revokes every token of a login session. Returns how many were still unrevoked.
pub async fn revoke_refresh_family<'e, E>(
    exec: E,
    org_id: &str,
    family_id: &str,
) -> sqlx::Result<u64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 \
         WHERE family_id = $2 AND org_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(family_id)
    .bind(org_id)
    .execute(exec)
    .await
    .map(|r| r.rows_affected())
}

/// Ends every login session of a user (deactivation).
pub async fn revoke_refresh_tokens_of_user<'e, E>(
    exec: E,
    org_id: &str,
    user_id: &str,
) -> sqlx::Result<u64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 \
         WHERE user_id = $2 AND org_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(user_id)
    .bind(org_id)
    .execute(exec)
    .await
    .map(|r| r.rows_affected())
}

/// `true` when a database error is a unique-constraint violation (duplicate email,
/// duplicate key prefix), on either database.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// An organisation and, optionally, one of its users, in one round trip (`/auth/me`).
#[derive(Debug, FromRow)]
struct OrgAndUserRow {
    org_id: String,
    org_name: String,
    org_created_at: i64,
    org_updated_at: i64,
    id: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    role: Option<String>,
    is_active: Option<i64>,
    is_superuser: Option<i64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

pub async fn find_organisation_and_user(
    pool: &AnyPool,
    org_id: &str,
    user_id: Option<&str>,
) -> sqlx::Result<Option<(OrganisationRow, Option<UserRow>)>> {
    let row: Option<OrgAndUserRow> = sqlx::query_as(
        "SELECT o.id AS org_id, o.name AS org_name, o.created_at AS org_created_at, \
                o.updated_at AS org_updated_at, u.id, u.email, u.display_name, u.role, \
                u.is_active, u.is_superuser, u.created_at, u.updated_at \
         FROM organisations o LEFT JOIN users u ON u.org_id = o.id AND u.id = $2 \
         WHERE o.id = $1",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let user = match (r.id, r.email, r.display_name, r.role) {
            (Some(id), Some(email), Some(display_name), Some(role)) => Some(UserRow {
                id,
                org_id: r.org_id.clone(),
                email,
                display_name,
                password_hash: None,
                role,
                is_active: r.is_active.unwrap_or(0),
                is_superuser: r.is_superuser.unwrap_or(0),
                created_at: r.created_at.unwrap_or(0),
                updated_at: r.updated_at.unwrap_or(0),
            }),
            _ => None,
        };
        let org = OrganisationRow {
            id: r.org_id,
            name: r.org_name,
            created_at: r.org_created_at,
            updated_at: r.org_updated_at,
        };
        (org, user)
    }))
}
