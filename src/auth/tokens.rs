//! API keys (`qk_<prefix>_<secret>`, stored as a SHA-256 of the secret) and JWTs.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::JwtAlgorithm;

pub const API_KEY_PREFIX: &str = "qk_";

/// A freshly generated key: `plaintext` is shown to its owner once and never stored.
pub struct GeneratedApiKey {
    pub prefix: String,
    pub plaintext: String,
    pub secret_hash: String,
}

pub fn generate_api_key() -> GeneratedApiKey {
    let mut prefix = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::fill(&mut prefix[..]);
    rand::fill(&mut secret[..]);
    let prefix = hex::encode(prefix);
    let secret = hex::encode(secret);
    GeneratedApiKey {
        plaintext: format!("{API_KEY_PREFIX}{prefix}_{secret}"),
        secret_hash: sha256_hex(secret.as_bytes()),
        prefix,
    }
}

/// Splits `qk_<prefix>_<secret>`; `None` when the text is not shaped like a key.
pub fn parse_api_key(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(API_KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let hexish =
        |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(prefix) && hexish(secret)).then_some((prefix, secret))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compares a presented secret with a stored hash without leaking timing.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    // Hex into a stack buffer: this runs on every API-key request.
    let mut presented = [0u8; 64];
    if hex::encode_to_slice(Sha256::digest(secret.as_bytes()), &mut presented).is_err() {
        return false;
    }
    presented.ct_eq(stored_hash.as_bytes()).into()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub org: String,
    pub role: String,
    pub typ: TokenType,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Refresh tokens only: the rotation family, revoked whole on reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

/// Signs and checks tokens with the configured algorithm only.
#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

pub const LEEWAY_SECONDS: u64 = 30;

impl JwtKeys {
    pub fn new(secret: &str, algorithm: JwtAlgorithm) -> Self {
        let algorithm = match algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        };
        Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.encoding)
    }

    /// Verifies signature, algorithm (exactly the configured one: `none` and others are
    /// refused), `exp` and `nbf` with 30 s leeway, and the token type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Option<Claims> {
        let mut validation = Validation::new(self.algorithm);
        validation.algorithms = vec![self.algorithm];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.typ == expected).then_some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_hash() {
        let key = generate_api_key();
        let (prefix, secret) = parse_api_key(&key.plaintext).unwrap();
        assert_eq!(prefix, key.prefix);
        assert!(secret_matches(secret, &key.secret_hash));
        assert!(!secret_matches("00", &key.secret_hash));
    }

    #[test]
    fn text_not_shaped_like_a_key_is_not_parsed() {
        assert!(parse_api_key("Bearer x").is_none());
        assert!(parse_api_key("qk_zz_12").is_none());
        assert!(parse_api_key("qk_ab").is_none());
    }
}
