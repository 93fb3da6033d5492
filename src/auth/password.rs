//! Password rules and argon2id hashing, always off the async runtime.
//!
//! Hashing costs tens of milliseconds of CPU by design, so it runs in
//! `spawn_blocking`; a request thread never stalls on it.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// Longest password accepted, in characters (so at most 4 KiB of UTF-8), as the OpenAPI
/// document's `maxLength` counts them. Long enough for any passphrase, short enough that
/// nobody can make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Checks the length rules; `field` names the JSON field in the 422.
pub fn validate_new_password(field: &str, password: &str, min_chars: u32) -> Result<(), ApiError> {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password.chars().count() < min_chars as usize {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at least {min_chars} characters"),
        ));
    }
    Ok(())
}

/// Hashes `password` with argon2id (default parameters, random salt) into a PHC string.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("could not hash a password: {e}"))
    })
    .await?
}

/// `true` when `password` matches `stored` (a PHC string). A stored value that does not
/// parse simply does not match.
pub async fn verify_password(password: String, stored: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(Into::into)
}

static DUMMY_HASH: OnceCell<String> = OnceCell::const_new();

/// Verifies against a hash of a random password nobody knows. Login calls this when the
/// email is unknown (or the user has no password) so that the answer takes as long as
/// a wrong password does and timing does not tell which emails exist.
pub async fn verify_against_dummy(password: String) -> anyhow::Result<bool> {
    let dummy = DUMMY_HASH
        .get_or_try_init(|| async {
            let mut bytes = [0u8; 24];
            rand::fill(&mut bytes[..]);
            hash_password(hex::encode(bytes)).await
        })
        .await?
        .clone();
    verify_password(password, dummy).await.map(|_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse".into(), hash).await.unwrap());
        assert!(
            !verify_password("x".into(), "not a hash".into())
                .await
                .unwrap()
        );
        assert!(!verify_against_dummy("anything".into()).await.unwrap());
    }

    #[test]
    fn length_rules_count_characters_and_cap_bytes() {
        assert!(validate_new_password("password", "short", 8).is_err());
        assert!(validate_new_password("password", "long enough", 8).is_ok());
        assert!(validate_new_password("password", &"x".repeat(1025), 8).is_err());
        assert!(validate_new_password("password", "éééééééé", 8).is_ok());
    }
}
