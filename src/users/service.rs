//! Creating and changing users, with the rule that an organisation always keeps at
//! least one active admin.

use crate::auth::model::{Role, parse_email, parse_name};
use crate::auth::password;
use crate::auth::repo as auth_repo;
use crate::auth::service::{default_display_name, email_taken_or_internal};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::repo;
use crate::users::repo::{NewUser, UserRow};

pub struct NewUserInput {
    pub email: String,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub role: Role,
}

/// Adds a user to `org_id`. Without a password the user cannot log in until an admin
/// sets one (API keys created for them still work).
pub async fn create_user(
    state: &AppState,
    org_id: &str,
    input: NewUserInput,
) -> Result<UserRow, ApiError> {
    let email = parse_email("email", &input.email)?;
    let display_name = match &input.display_name {
        Some(name) => parse_name("display_name", name)?,
        None => default_display_name(&email),
    };
    let hash = match input.password {
        Some(p) => {
            password::validate_new_password("password", &p, state.settings.password_min_length)?;
            Some(password::hash_password(p).await?)
        }
        None => None,
    };
    let user = crate::users::repo::insert_user(
        &state.db.pool,
        org_id,
        NewUser {
            email: &email,
            display_name: &display_name,
            password_hash: hash.as_deref(),
            role: input.role,
        },
    )
    .await
    .map_err(email_taken_or_internal)?;
    tracing::info!(org.id = %org_id, user.id = %user.id, role = %input.role, "user created");
    Ok(user)
}

#[derive(Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password: Option<String>,
}

/// Applies `changes` to a user of `org_id`. Demoting or deactivating the last active
/// admin is a `409`; deactivating ends all of the user's sessions (their API keys stop
/// working through the owner check on every request).
pub async fn update_user(
    state: &AppState,
    org_id: &str,
    user_id: &str,
    changes: UserChanges,
) -> Result<UserRow, ApiError> {
    let display_name = changes
        .display_name
        .as_deref()
        .map(|n| parse_name("display_name", n))
        .transpose()?;
    let password_hash = match changes.password {
        Some(p) => {
            password::validate_new_password("password", &p, state.settings.password_min_length)?;
            Some(password::hash_password(p).await?)
        }
        None => None,
    };

    let mut tx = state.db.pool.begin().await?;
    if !repo::lock_organisation(&mut *tx, org_id).await? {
        return Err(ApiError::NotFound("user"));
    }
    let current = crate::users::repo::find_user_by_id(&mut *tx, org_id, user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let mut updated = current.clone();
    if let Some(name) = display_name {
        updated.display_name = name;
    }
    if let Some(role) = changes.role {
        updated.role = role.as_str().to_owned();
    }
    if let Some(active) = changes.is_active {
        updated.is_active = i64::from(active);
    }
    if password_hash.is_some() {
        updated.password_hash = password_hash;
    }
    updated.updated_at = crate::time::now_ms();

    let was_active_admin = current.is_active == 1 && current.role == Role::Admin.as_str();
    let stays_active_admin = updated.is_active == 1 && updated.role == Role::Admin.as_str();
    if was_active_admin
        && !stays_active_admin
        && repo::count_active_admins(&mut *tx, org_id).await? <= 1
    {
        return Err(ApiError::Conflict(
            "an organisation keeps at least one active admin: promote another user first".into(),
        ));
    }
    repo::update_user(&mut *tx, org_id, &updated).await?;
    let deactivated = current.is_active == 1 && updated.is_active == 0;
    if deactivated {
        auth_repo::revoke_refresh_tokens_of_user(&mut *tx, org_id, user_id).await?;
    }
    tx.commit().await?;
    // Role, activity and name show in cached principals and profiles.
    state.principals.changed(&state.db).await;
    if deactivated {
        tracing::info!(org.id = %org_id, user.id = %user_id, "user deactivated; sessions revoked");
    }
    Ok(updated)
}
