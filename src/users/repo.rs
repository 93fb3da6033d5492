//! SQL for managing users. Every function takes the organisation.

use crate::auth::repo::UserRow;
use crate::http::Window;

const USER_COLUMNS: &str = "id, org_id, email, display_name, password_hash, role, is_active, \
                            is_superuser, created_at, updated_at";

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
