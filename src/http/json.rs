//! A JSON body extractor whose rejections are the standard envelope and name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but a malformed body is a `400` and a mistyped or missing field a
/// `422`, each with `details.field` set to the path of the offending field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is larger than allowed".into())
            } else {
                ApiError::bad_request(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse_json_body(&bytes).map(ApiJson)
    }
}

/// The path (`a.b[2]`) of the first string in `value` holding a NUL, if any.
fn path_of_nul(value: &serde_json::Value, path: &mut String) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = path_of_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = path_of_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// NUL has no meaning in anything a person types, and PostgreSQL cannot store it in
/// text (SQLite can): refusing it here, for every JSON body, gives both databases one
/// rule and a `422` naming the field instead of a database error. JSON can only carry
/// NUL escaped, so bodies without `\u0000` skip the walk.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    let escaped = bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"));
    if !escaped {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        // Malformed: the typed parse reports it with its position.
        return Ok(());
    };
    let mut path = String::new();
    if path_of_nul(&value, &mut path) {
        return Err(ApiError::invalid_field(
            &path,
            "must not contain NUL (\\u0000) characters",
        ));
    }
    Ok(())
}

pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let position = serde_json::json!({ "line": inner.line(), "column": inner.column() });
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if field == "." { String::new() } else { field };
                let reason = in_user_terms(&inner.to_string());
                ApiError::Validation {
                    message: if field.is_empty() {
                        format!("invalid body: {reason}")
                    } else {
                        format!("{field}: {reason}")
                    },
                    details: Some(serde_json::json!({
                        "field": field,
                        "reason": reason,
                        "position": position,
                    })),
                }
            }
            _ => ApiError::BadRequest {
                message: format!("malformed JSON body: {inner}"),
                details: Some(
                    serde_json::json!({ "reason": inner.to_string(), "position": position }),
                ),
            },
        }
    })
}

/// serde names the Rust type it wanted (`expected struct CreateWorkspaceRequest`); a
/// client knows JSON, not our types: `expected a JSON object`.
fn in_user_terms(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(at) = rest.find("expected struct ") {
        out.push_str(&rest[..at]);
        out.push_str("expected a JSON object");
        let after = &rest[at + "expected struct ".len()..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out
}

/// For the optional fields of a PATCH body (`#[serde(default, deserialize_with =
/// "crate::http::present")]`): a field left out is `None`, and `null` is refused like any
/// other value of the wrong type, since the schema says a given field holds a value; so
/// `{"name": null}` is a `422`, not a silent "unchanged".
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct CreateThingRequest {
        name: String,
    }

    #[test]
    fn a_null_body_is_described_in_json_terms_not_by_the_rust_type() {
        let err = parse_json_body::<CreateThingRequest>(b"null").unwrap_err();
        let text = format!("{err:?}");
        assert!(!text.contains("CreateThingRequest"), "{text}");
        assert!(text.contains("expected a JSON object"), "{text}");
    }
}
