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

pub async fn find_user_by_id(
    pool: &AnyPool,
    org_id: &str,
    user_id: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND org_id = $2"
    )))
    .bind(user_id)
    .bind(org_id)
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
}

pub async fn find_api_key_by_prefix(
    pool: &AnyPool,
    prefix: &str,
) -> sqlx::Result<Option<ApiKeyWithOwner>> {
    sqlx::query_as(
        "SELECT k.id, k.org_id, k.created_by, k.secret_hash, k.role, k.expires_at, k.last_used_at, \
                k.revoked_at, u.is_active AS owner_active, u.is_superuser AS owner_superuser \
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
