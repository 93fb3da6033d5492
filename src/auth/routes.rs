//! `/auth`: sign up, log in, rotate and end sessions, and who am I.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::model::Credential;
use crate::auth::repo::find_organisation_and_user;
use crate::auth::service::{self, Registration, TokenPair};
use crate::auth::tokens::sha256_hex;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ErrorBody};
use crate::http::ApiJson;
use crate::orgs::OrganisationResponse;
use crate::ratelimit::ClientIp;
use crate::state::AppState;
use crate::users::UserResponse;
use crate::users::repo::normalise_email;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

// Request types hold passwords and tokens: they deliberately do not derive `Debug`, so
// no log call can print them.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(value_type = crate::text::ShortName)]
    organisation_name: String,
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    password: String,
    /// Defaults to the part of the email before `@`.
    #[schema(value_type = Option<crate::text::ShortName>)]
    display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = Password)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single use: trade it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "bearer".to_owned(),
            expires_in: p.expires_in,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    pub organisation: OrganisationResponse,
    pub user: UserResponse,
    pub tokens: TokenResponse,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    /// The user acting: the token's user, or the API key's creator (`null` for a key the
    /// system created).
    pub user: Option<UserResponse>,
    pub organisation: OrganisationResponse,
    /// The role in effect: the user's, or the API key's.
    pub role: Role,
    pub is_superuser: bool,
    /// `access_token` or `api_key`.
    pub credential: String,
    /// The id of the API key used, when it was one.
    pub api_key_id: Option<String>,
}

/// Creates an organisation and its first user, an admin, and logs them in.
/// `403` when the server has `ALLOW_REGISTRATION=false`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "email taken", body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let (org, user, tokens) = service::register(
        &state,
        Registration {
            organisation_name: body.organisation_name,
            email: body.email,
            password: body.password,
            display_name: body.display_name,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            organisation: org.into(),
            user: user.into(),
            tokens: tokens.into(),
        }),
    ))
}

/// Trades an email and password for an access and a refresh token. The same `401` for
/// an unknown email and a wrong password; at most `RATE_LIMIT_LOGIN_REQUESTS` attempts
/// per email and IP in a window.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if state.settings.rate_limit_enabled {
        // Hashed so that neither Redis nor memory holds emails in clear.
        let key = format!(
            "login:{}",
            sha256_hex(format!("{}|{ip}", normalise_email(&body.email)).as_bytes())
        );
        let decision = state
            .rate_limiter
            .check(&key, state.settings.rate_limit_login_requests)
            .await;
        if !decision.allowed {
            return Ok(decision.rejection());
        }
    }
    let tokens = service::login(&state, &body.email, body.password).await?;
    Ok(Json(TokenResponse::from(tokens)).into_response())
}

/// Trades a refresh token for a new pair. Each refresh token works once: presenting it
/// again revokes its whole session (every refresh and access token issued from it).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let tokens = service::refresh(&state, &body.refresh_token).await?;
    Ok(Json(tokens.into()))
}

/// Ends the session the refresh token belongs to: its refresh and access tokens stop
/// working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "logged out"), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    service::logout(&state, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller: user, organisation and role, for a token or an API key alike.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<MeResponse>, ApiError> {
    let user_id = principal.user_id.as_deref();
    let profile = match state.principals.profile(&principal.org_id, user_id) {
        Some(profile) => profile,
        None => {
            let ticket = state.principals.ticket();
            let profile = find_organisation_and_user(&state.db.pool, &principal.org_id, user_id)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized("the organisation no longer exists".into())
                })?;
            let profile = Arc::new(profile);
            state
                .principals
                .keep_profile(ticket, &principal.org_id, user_id, Arc::clone(&profile));
            profile
        }
    };
    let (org, user) = (profile.0.clone(), profile.1.clone());
    let (credential, api_key_id) = match principal.credential {
        Credential::AccessToken { .. } => ("access_token", None),
        Credential::ApiKey { key_id } => ("api_key", Some(key_id)),
    };
    Ok(Json(MeResponse {
        user: user.map(UserResponse::from),
        organisation: org.into(),
        role: principal.role,
        is_superuser: principal.is_superuser,
        credential: credential.to_owned(),
        api_key_id,
    }))
}
