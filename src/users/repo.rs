//! SQL for users. Every function takes the organisation, except the login lookup by
//! e-mail, which says why.

use sqlx::{AnyPool, FromRow};

use crate::db::new_id;
use crate::http::Window;
use crate::time::now_ms;

const USER_COLUMNS: &str = "id, org_id, email, display_name, password_hash, role, is_active, \
                            is_superuser, created_at, updated_at";

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

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
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

/// One page of the organisation's users, oldest first, and how many there are.
pub async fn list_users(
    pool: &sqlx::AnyPool,
    org_id: &str,
    window: Window,
) -> sqlx::Result<(Vec<UserRow>, u64)> {
    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 \
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    )))
    .bind(org_id)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total.max(0) as u64))
}

/// Serialises changes to an organisation's users: the first statement of the
/// transaction writes the organisation row, which takes SQLite's write lock and
/// PostgreSQL's row lock, so two admins demoting each other at once cannot both pass the
/// "at least one active admin" check. `false` when the organisation does not exist.
pub async fn lock_organisation<'e, E>(exec: E, org_id: &str) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE organisations SET updated_at = updated_at WHERE id = $1")
        .bind(org_id)
        .execute(exec)
        .await
        .map(|r| r.rows_affected() == 1)
}

pub async fn count_active_admins<'e, E>(exec: E, org_id: &str) -> sqlx::Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = 'admin' AND is_active = 1",
    )
    .bind(org_id)
    .fetch_one(exec)
    .await?;
    Ok(n)
}

/// Writes the changeable columns of a user.
pub async fn update_user<'e, E>(exec: E, org_id: &str, user: &UserRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE users SET display_name = $1, role = $2, is_active = $3, password_hash = $4, \
         updated_at = $5 WHERE id = $6 AND org_id = $7",
    )
    .bind(&user.display_name)
    .bind(&user.role)
    .bind(user.is_active)
    .bind(&user.password_hash)
    .bind(user.updated_at)
    .bind(&user.id)
    .bind(org_id)
    .execute(exec)
    .await
    .map(|_| ())
}
