//! Resolves the caller of a request into a [`Principal`].
//!
//! Accepted: `Authorization: Bearer <JWT access token>`, `Authorization: Bearer <API key>`
//! and the API key in `API_KEY_HEADER` (default `X-API-Key`). Every failure is the same
//! `401`, so the answer does not tell which part was wrong.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::api_keys::repo::ApiKeyWithOwner;
use crate::auth::cache::{CachedApiKey, CachedSession};
use crate::auth::model::{Credential, Principal, Role};
use crate::auth::repo;
use crate::auth::tokens::{Claims, LEEWAY_SECONDS, TokenType, parse_api_key, secret_matches};
use crate::error::ApiError;
use crate::state::AppState;
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
    let cached = match state.principals.api_key(prefix) {
        Some(cached) => cached,
        None => {
            let ticket = state.principals.ticket();
            let row = crate::api_keys::repo::find_api_key_by_prefix(&state.db.pool, prefix)
                .await?
                .ok_or_else(unauthorized)?;
            let cached = Arc::new(CachedApiKey::new(row));
            // Only a key that works is kept; an unusable one is read again each time.
            if key_is_usable(&cached.row, secret, now_ms()) {
                state
                    .principals
                    .keep_api_key(ticket, prefix, Arc::clone(&cached));
            }
            cached
        }
    };
    let key = &cached.row;
    let now = now_ms();
    if !key_is_usable(key, secret, now) {
        return Err(unauthorized());
    }
    let mut role: Role = key.role.parse().map_err(|_| unauthorized())?;
    // A key never does more than its creator may do now: demoting a user caps their keys.
    if let Some(owner_role) = key.owner_role.as_deref() {
        role = role.min(owner_role.parse().map_err(|_| unauthorized())?);
    }
    let last_touch = cached.last_touch.load(Ordering::Relaxed);
    if now - last_touch > LAST_USED_RESOLUTION_MS
        && cached
            .last_touch
            .compare_exchange(last_touch, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let pool = state.db.pool.clone();
        let (org, id) = (key.org_id.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::api_keys::repo::touch_api_key(&pool, &org, &id).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Principal {
        org_id: key.org_id.clone(),
        user_id: key.created_by.clone(),
        role,
        is_superuser: key.owner_superuser == Some(1),
        credential: Credential::ApiKey {
            key_id: key.id.clone(),
        },
    })
}

/// The secret matches, the key is neither revoked nor expired, and its creator is active.
fn key_is_usable(key: &ApiKeyWithOwner, secret: &str, now: i64) -> bool {
    secret_matches(secret, &key.secret_hash)
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|exp| exp > now)
        // A key outlives neither its creator's deactivation nor the creator's deletion
        // of the account (the FK sets created_by to NULL; owner_active is then NULL too,
        // which only keys created by the system at first start may have).
        && (key.created_by.is_none() || key.owner_active == Some(1))
}

async fn principal_from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let session = match state.principals.session(token) {
        // Verified before; only its time limits can have changed since.
        Some(session) if within_time_limits(&session.claims) => session,
        Some(_) => return Err(unauthorized()),
        None => {
            let ticket = state.principals.ticket();
            let claims = state
                .jwt
                .verify(token, TokenType::Access)
                .ok_or_else(unauthorized)?;
            // The user row is the truth: a deactivated user's tokens stop working at
            // once, and a role change applies to tokens already issued. The token's login
            // session must also be alive, so logout and refresh-token reuse end it at once
            // too. (The cache holds only live sessions and is emptied by each of those.)
            let family = claims.fam.as_deref().ok_or_else(unauthorized)?;
            let user = repo::find_session_user(&state.db.pool, &claims.org, &claims.sub, family)
                .await?
                .ok_or_else(unauthorized)?;
            if user.is_active != 1 || user.live_tokens < 1 {
                return Err(unauthorized());
            }
            let session = Arc::new(CachedSession { claims, user });
            state
                .principals
                .keep_session(ticket, token, Arc::clone(&session));
            session
        }
    };
    let user = &session.user;
    let role: Role = user.role.parse().map_err(|_| unauthorized())?;
    Ok(Principal {
        org_id: user.org_id.clone(),
        user_id: Some(user.id.clone()),
        role,
        is_superuser: user.is_superuser == 1,
        credential: Credential::AccessToken {
            jti: session.claims.jti.clone(),
        },
    })
}

/// `exp` and `nbf` with the same leeway as [`crate::auth::tokens::JwtKeys::verify`].
fn within_time_limits(claims: &Claims) -> bool {
    let now = now_ms() / 1000;
    let leeway = LEEWAY_SECONDS as i64;
    claims.exp >= now - leeway && claims.nbf <= now + leeway
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tokens::TokenType;

    fn claims(nbf: i64, exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            org: "o".into(),
            role: "admin".into(),
            typ: TokenType::Access,
            iat: nbf,
            nbf,
            exp,
            jti: "j".into(),
            fam: Some("f".into()),
        }
    }

    #[test]
    fn a_cached_token_is_refused_once_expired_or_before_it_is_valid_beyond_the_leeway() {
        let now = now_ms() / 1000;
        let leeway = LEEWAY_SECONDS as i64;
        assert!(within_time_limits(&claims(now - 60, now + 60)));
        assert!(within_time_limits(&claims(now - 60, now - leeway + 1)));
        assert!(!within_time_limits(&claims(now - 600, now - leeway - 1)));
        assert!(!within_time_limits(&claims(now + leeway + 5, now + 600)));
    }
}
