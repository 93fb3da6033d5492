//! Resolves the caller of a request into a [`Principal`].
//!
//! Accepted: `Authorization: Bearer <JWT access token>`, `Authorization: Bearer <API key>`
//! and the API key in `API_KEY_HEADER` (default `X-API-Key`). Every failure is the same
//! `401`, so the answer does not tell which part was wrong.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::auth::model::{Credential, Principal, Role};
use crate::auth::repo;
use crate::auth::tokens::{TokenType, parse_api_key, secret_matches};
use crate::error::ApiError;
use crate::time::now_ms;

/// `last_used_at` is written at most this often per key, so authentication stays a
/// read on the hot path.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("missing, invalid or expired credentials".into())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let presented =
            presented_credential(parts, &state.settings.api_key_header).ok_or_else(|| {
                ApiError::Unauthorized(
                    "authentication required: send a bearer token or an API key".into(),
                )
            })?;
        let principal = if presented.starts_with(crate::auth::tokens::API_KEY_PREFIX) {
            principal_from_api_key(state, &presented).await?
        } else {
            principal_from_access_token(state, &presented).await?
        };
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

fn presented_credential(parts: &Parts, api_key_header: &str) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, token) = text.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            return Some(token.trim().to_owned());
        }
        return None;
    }
    parts
        .headers
        .get(api_key_header)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

async fn principal_from_api_key(state: &AppState, presented: &str) -> Result<Principal, ApiError> {
    let (prefix, secret) = parse_api_key(presented).ok_or_else(unauthorized)?;
    let key = repo::find_api_key_by_prefix(&state.db.pool, prefix)
        .await?
        .ok_or_else(unauthorized)?;
    let now = now_ms();
    let usable = secret_matches(secret, &key.secret_hash)
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|exp| exp > now)
        // A key outlives neither its creator's deactivation nor the creator's deletion
        // of the account (the FK sets created_by to NULL; owner_active is then NULL too,
        // which only keys created by the system at first start may have).
        && (key.created_by.is_none() || key.owner_active == Some(1));
    if !usable {
        return Err(unauthorized());
    }
    let mut role: Role = key.role.parse().map_err(|_| unauthorized())?;
    // A key never does more than its creator may do now: demoting a user caps their keys.
    if let Some(owner_role) = key.owner_role.as_deref() {
        role = role.min(owner_role.parse().map_err(|_| unauthorized())?);
    }
    if key
        .last_used_at
        .is_none_or(|t| now - t > LAST_USED_RESOLUTION_MS)
    {
        let pool = state.db.pool.clone();
        let (org, id) = (key.org_id.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(e) = repo::touch_api_key(&pool, &org, &id).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Principal {
        org_id: key.org_id,
        user_id: key.created_by,
        role,
        is_superuser: key.owner_superuser == Some(1),
        credential: Credential::ApiKey { key_id: key.id },
    })
}

async fn principal_from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state
        .jwt
        .verify(token, TokenType::Access)
        .ok_or_else(unauthorized)?;
    // The user row is the truth: a deactivated user's tokens stop working at once, and
    // a role change applies to tokens already issued. The token's login session must
    // also be alive, so logout and refresh-token reuse end it at once too.
    let family = claims.fam.as_deref().ok_or_else(unauthorized)?;
    let user = repo::find_session_user(&state.db.pool, &claims.org, &claims.sub, family)
        .await?
        .ok_or_else(unauthorized)?;
    if user.is_active != 1 || user.live_tokens < 1 {
        return Err(unauthorized());
    }
    let role: Role = user.role.parse().map_err(|_| unauthorized())?;
    Ok(Principal {
        org_id: user.org_id,
        user_id: Some(user.id),
        role,
        is_superuser: user.is_superuser == 1,
        credential: Credential::AccessToken { jti: claims.jti },
    })
}
