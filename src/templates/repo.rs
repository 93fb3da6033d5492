//! SQL for an organisation's templates. Every function takes the organisation.

use sqlx::{AnyPool, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct TemplateRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: Option<String>,
    pub prompt_template: String,
    pub template_type: String,
    pub is_default: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, org_id, name, description, prompt_template, template_type, is_default, \
    created_by, created_at, updated_at";

/// Clears the organisation's default of `template_type` (before another becomes it).
async fn clear_default<'e, E>(exec: E, org_id: &str, template_type: &str) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE templates SET is_default = 0 WHERE org_id = $1 AND template_type = $2 AND is_default = 1",
    )
    .bind(org_id)
    .bind(template_type)
    .execute(exec)
    .await?;
    Ok(())
}

/// Inserts a template; when it is the default, the previous default of its type stops
/// being one in the same transaction.
pub async fn insert_template(pool: &AnyPool, row: &TemplateRow) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if row.is_default == 1 {
        clear_default(&mut *tx, &row.org_id, &row.template_type).await?;
    }
    sqlx::query(
        "INSERT INTO templates (id, org_id, name, description, prompt_template, template_type, \
         is_default, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.prompt_template)
    .bind(&row.template_type)
    .bind(row.is_default)
    .bind(&row.created_by)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Writes a changed template (same default rule); `false` when it is not the organisation's.
pub async fn update_template(pool: &AnyPool, row: &TemplateRow) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    if row.is_default == 1 {
        clear_default(&mut *tx, &row.org_id, &row.template_type).await?;
    }
    let done = sqlx::query(
        "UPDATE templates SET name = $3, description = $4, prompt_template = $5, template_type = $6, \
         is_default = $7, updated_at = $8 WHERE id = $1 AND org_id = $2",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.prompt_template)
    .bind(&row.template_type)
    .bind(row.is_default)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find_template(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM templates WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

/// The organisation's template named `name` (the newest, if several share it).
pub async fn find_template_by_name(
    pool: &AnyPool,
    org_id: &str,
    name: &str,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM templates WHERE org_id = $1 AND name = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(org_id)
    .bind(name)
    .fetch_optional(pool)
    .await
}

pub async fn find_default_template(
    pool: &AnyPool,
    org_id: &str,
    template_type: &str,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM templates WHERE org_id = $1 AND template_type = $2 AND is_default = 1"
    )))
    .bind(org_id)
    .bind(template_type)
    .fetch_optional(pool)
    .await
}

/// The organisation's templates (of one type, when given), by name.
pub async fn list_templates(
    pool: &AnyPool,
    org_id: &str,
    template_type: Option<&str>,
) -> sqlx::Result<Vec<TemplateRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM templates WHERE org_id = $1 AND ($2 IS NULL OR template_type = $2) \
         ORDER BY name, created_at, id"
    )))
    .bind(org_id)
    .bind(template_type)
    .fetch_all(pool)
    .await
}

pub async fn delete_template(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM templates WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
