//! SQL for organisation settings.

use crate::time::now_ms;

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
