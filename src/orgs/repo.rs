//! SQL for organisations.

use sqlx::FromRow;

use crate::db::new_id;
use crate::time::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct OrganisationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
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

/// Renames an organisation; `false` when it does not exist.
pub async fn update_organisation_name<'e, E>(
    exec: E,
    org_id: &str,
    name: &str,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE organisations SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now_ms())
        .bind(org_id)
        .execute(exec)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// The organisation's `auto_resummarize` setting (`false` when it does not exist).
pub async fn auto_resummarize<'e, E>(exec: E, org_id: &str) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT auto_resummarize FROM organisations WHERE id = $1")
            .bind(org_id)
            .fetch_optional(exec)
            .await?;
    Ok(row.is_some_and(|(on,)| on == 1))
}

/// Sets `auto_resummarize`; `false` when the organisation does not exist.
pub async fn set_auto_resummarize<'e, E>(exec: E, org_id: &str, on: bool) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE organisations SET auto_resummarize = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(on))
        .bind(now_ms())
        .bind(org_id)
        .execute(exec)
        .await
        .map(|r| r.rows_affected() == 1)
}
