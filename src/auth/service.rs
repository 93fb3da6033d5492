//! Sign-up, login and the refresh-token rotation: the flows that span several queries.
//!
//! A login starts a *session*: a family of refresh tokens. Each refresh marks the
//! presented token used and issues the next one in the same family. A refresh token
//! presented a second time means it was copied: the whole family is revoked, which also
//! ends the access tokens of the session (they carry the family id, checked on every
//! request). Logout revokes the family the same way.

use crate::auth::model::{Role, parse_email, parse_name};
use crate::auth::password;
use crate::auth::repo::{self, NewRefreshToken};
use crate::auth::tokens::{Claims, TokenType, sha256_hex};
use crate::error::ApiError;
use crate::orgs::repo::OrganisationRow;
use crate::state::AppState;
use crate::time::now_ms;
use crate::users::repo::{NewUser, UserRow};

/// What login, register and refresh hand back.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

fn invalid_login() -> ApiError {
    ApiError::Unauthorized("invalid email or password".into())
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("invalid, expired or revoked refresh token".into())
}

pub struct Registration {
    pub organisation_name: String,
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

/// Creates an organisation and its first user, an admin, and logs that user in.
pub async fn register(
    state: &AppState,
    input: Registration,
) -> Result<(OrganisationRow, UserRow, TokenPair), ApiError> {
    if !state.settings.allow_registration {
        return Err(ApiError::Forbidden(
            "registration is switched off on this server (ALLOW_REGISTRATION=false)".into(),
        ));
    }
    let org_name = parse_name("organisation_name", &input.organisation_name)?;
    let email = parse_email("email", &input.email)?;
    let display_name = match &input.display_name {
        Some(name) => parse_name("display_name", name)?,
        None => default_display_name(&email),
    };
    password::validate_new_password(
        "password",
        &input.password,
        state.settings.password_min_length,
    )?;
    let hash = password::hash_password(input.password).await?;

    let mut tx = state.db.pool.begin().await?;
    let org = crate::orgs::repo::insert_organisation(&mut *tx, &org_name).await?;
    let user = crate::users::repo::insert_user(
        &mut *tx,
        &org.id,
        NewUser {
            email: &email,
            display_name: &display_name,
            password_hash: Some(&hash),
            role: Role::Admin,
        },
    )
    .await
    .map_err(email_taken_or_internal)?;
    tx.commit().await?;
    tracing::info!(org.id = %org.id, user.id = %user.id, "organisation registered");
    let tokens = start_session(state, &user).await?;
    Ok((org, user, tokens))
}

/// The part of an email before `@`, as a starting display name.
pub fn default_display_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_owned()
}

/// A unique violation on insert means the email is taken (emails are unique across the
/// installation, because login finds a user by email alone).
pub fn email_taken_or_internal(e: sqlx::Error) -> ApiError {
    if crate::db::is_unique_violation(&e) {
        ApiError::Conflict("a user with this email already exists".into())
    } else {
        e.into()
    }
}

/// Checks an email and password. Unknown email, wrong password, a user without a
/// password and a deactivated user all get the same `401`, after the same argon2 work.
pub async fn login(state: &AppState, email: &str, password: String) -> Result<TokenPair, ApiError> {
    if password.chars().count() > password::MAX_PASSWORD_CHARS {
        return Err(invalid_login());
    }
    let user = crate::users::repo::find_user_by_email(&state.db.pool, email).await?;
    let verified = match user.as_ref().and_then(|u| u.password_hash.clone()) {
        Some(hash) => password::verify_password(password, hash).await?,
        None => password::verify_against_dummy(password).await?,
    };
    let user = match user {
        Some(user) if verified && user.is_active == 1 => user,
        _ => return Err(invalid_login()),
    };
    tracing::info!(org.id = %user.org_id, user.id = %user.id, "user logged in");
    start_session(state, &user).await
}

/// Issues an access token and the first refresh token of a new family.
pub async fn start_session(state: &AppState, user: &UserRow) -> Result<TokenPair, ApiError> {
    let family = crate::db::new_id();
    let (pair, refresh_id, refresh_hash, refresh_exp) = sign_pair(state, user, &family)?;
    repo::insert_refresh_token(
        &state.db.pool,
        &user.org_id,
        NewRefreshToken {
            id: &refresh_id,
            family_id: &family,
            user_id: &user.id,
            token_hash: &refresh_hash,
            expires_at: refresh_exp,
        },
    )
    .await?;
    Ok(pair)
}

/// Signs an access and a refresh token for `user` in session `family`. Returns the pair
/// and the refresh token's id, hash and expiry (ms) for storage.
fn sign_pair(
    state: &AppState,
    user: &UserRow,
    family: &str,
) -> Result<(TokenPair, String, String, i64), ApiError> {
    let now = now_ms() / 1000;
    let access_ttl = i64::from(state.settings.jwt_expire_minutes) * 60;
    let refresh_ttl = i64::from(state.settings.jwt_refresh_expire_days) * 86_400;
    let access = Claims {
        sub: user.id.clone(),
        org: user.org_id.clone(),
        role: user.role.clone(),
        typ: TokenType::Access,
        iat: now,
        nbf: now,
        exp: now + access_ttl,
        jti: crate::db::new_id(),
        fam: Some(family.to_owned()),
    };
    let refresh_id = crate::db::new_id();
    let refresh = Claims {
        typ: TokenType::Refresh,
        exp: now + refresh_ttl,
        jti: refresh_id.clone(),
        ..access.clone()
    };
    let sign = |c: &Claims| {
        state
            .jwt
            .sign(c)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("could not sign a token: {e}")))
    };
    let access_token = sign(&access)?;
    let refresh_token = sign(&refresh)?;
    let refresh_hash = sha256_hex(refresh_token.as_bytes());
    Ok((
        TokenPair {
            access_token,
            refresh_token,
            expires_in: access_ttl as u64,
        },
        refresh_id,
        refresh_hash,
        (now + refresh_ttl) * 1000,
    ))
}

/// Rotates a refresh token: the presented one is used up and the next one of its family
/// issued. A token presented again (used, or revoked) revokes its whole family.
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, ApiError> {
    let claims = state
        .jwt
        .verify(presented, TokenType::Refresh)
        .ok_or_else(invalid_refresh)?;
    let family = claims.fam.clone().ok_or_else(invalid_refresh)?;
    let presented_hash = sha256_hex(presented.as_bytes());

    // Write first: on SQLite the transaction then holds the write lock from its first
    // statement, and on PostgreSQL the row lock orders concurrent refreshes.
    let mut tx = state.db.pool.begin().await?;
    let claimed =
        repo::claim_refresh_token(&mut *tx, &claims.org, &claims.jti, &presented_hash).await?;
    if !claimed {
        if repo::refresh_token_exists(&mut *tx, &claims.org, &claims.jti, &presented_hash).await? {
            let revoked = repo::revoke_refresh_family(&mut *tx, &claims.org, &family).await?;
            tx.commit().await?;
            if revoked > 0 {
                state.principals.changed(&state.db).await;
                tracing::warn!(
                    org.id = %claims.org,
                    user.id = %claims.sub,
                    session.id = %family,
                    "a refresh token was presented twice; its session is revoked"
                );
            }
        }
        return Err(invalid_refresh());
    }
    let user = crate::users::repo::find_user_by_id(&mut *tx, &claims.org, &claims.sub)
        .await?
        .filter(|u| u.is_active == 1)
        .ok_or_else(invalid_refresh)?;
    let (pair, refresh_id, refresh_hash, refresh_exp) = sign_pair(state, &user, &family)?;
    repo::insert_refresh_token(
        &mut *tx,
        &user.org_id,
        NewRefreshToken {
            id: &refresh_id,
            family_id: &family,
            user_id: &user.id,
            token_hash: &refresh_hash,
            expires_at: refresh_exp,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(pair)
}

/// Ends the session a refresh token belongs to: every refresh token of its family and
/// every access token issued with them stop working.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), ApiError> {
    let claims = state
        .jwt
        .verify(presented, TokenType::Refresh)
        .ok_or_else(invalid_refresh)?;
    let family = claims.fam.as_deref().ok_or_else(invalid_refresh)?;
    repo::revoke_refresh_family(&state.db.pool, &claims.org, family).await?;
    state.principals.changed(&state.db).await;
    tracing::info!(org.id = %claims.org, user.id = %claims.sub, session.id = %family, "logged out");
    Ok(())
}
