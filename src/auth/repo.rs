//! SQL of login sessions: refresh tokens, the user behind an access token, and the
//! organisation-plus-user read of `/auth/me`. Users, organisations and API keys have
//! their own repositories (`crate::users::repo`, `crate::orgs::repo`, `crate::api_keys::repo`).

use sqlx::{AnyPool, FromRow};

use crate::orgs::repo::OrganisationRow;
use crate::time::now_ms;
use crate::users::repo::UserRow;

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
