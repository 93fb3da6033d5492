use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// What a principal may do. Ordered: a higher role can do everything a lower one can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Also creates and runs.
    Member,
    /// Also manages users, keys and organisation settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            other => Err(format!("'{other}' is not a role (viewer, member, admin)")),
        }
    }
}

/// How the caller proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token of this user.
    AccessToken { jti: String },
    /// An API key with this id.
    ApiKey { key_id: String },
}

/// The authenticated caller: always exactly one organisation and one role.
/// Every query for tenant data takes `org_id` from here.
#[derive(Clone, Debug)]
pub struct Principal {
    pub org_id: String,
    /// The user acting, or the user who created the API key (if still present).
    pub user_id: Option<String>,
    pub role: Role,
    pub is_superuser: bool,
    pub credential: Credential,
}

impl Principal {
    /// `403` unless the principal has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this action needs the {role} role; you have {}",
                self.role
            )))
        }
    }

    /// A stable key for per-principal budgets such as rate limits.
    pub fn rate_limit_key(&self) -> String {
        match &self.credential {
            Credential::ApiKey { key_id } => format!("key:{key_id}"),
            Credential::AccessToken { .. } => {
                format!("user:{}", self.user_id.as_deref().unwrap_or("unknown"))
            }
        }
    }
}

/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
pub use crate::text::MAX_NAME_CHARS;

/// A plausible email address, trimmed: one `@` with text on both sides, no whitespace
/// or control characters. Delivery is not our concern; uniqueness and sanity are.
pub fn parse_email(field: &str, raw: &str) -> Result<String, ApiError> {
    let email = raw.trim();
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && is_host_name(domain));
    if valid {
        Ok(email.to_owned())
    } else {
        Err(ApiError::invalid_field(field, "must be an email address"))
    }
}

/// A domain as an email address may name it (what the OpenAPI `format: email` means):
/// dot-separated labels of letters, digits and inner hyphens (letters of any script,
/// for internationalised domains).
fn is_host_name(domain: &str) -> bool {
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// A trimmed, non-empty name of at most [`MAX_NAME_CHARS`] characters (the rules of
/// [`crate::text::parse_name`]).
pub fn parse_name(field: &str, raw: &str) -> Result<String, ApiError> {
    crate::text::parse_name(field, raw, MAX_NAME_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_sign_and_no_spaces() {
        assert_eq!(
            parse_email("email", "  Ada@Example.org ").ok().as_deref(),
            Some("Ada@Example.org")
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "a da@example.org",
            "a@b@c",
            "ada@example.org*",
            "ada@exa_mple.org",
            "ada@example..org",
            "ada@-example.org",
        ] {
            assert!(parse_email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("name", " Acme ").ok().as_deref(), Some("Acme"));
        assert!(parse_name("name", "   ").is_err());
        assert!(parse_name("name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn roles_are_ordered_viewer_member_admin() {
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Admin);
        assert_eq!("member".parse::<Role>(), Ok(Role::Member));
        assert!("root".parse::<Role>().is_err());
    }
}
