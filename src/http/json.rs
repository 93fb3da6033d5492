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

pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let position = serde_json::json!({ "line": inner.line(), "column": inner.column() });
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if field == "." { String::new() } else { field };
                ApiError::Validation {
                    message: if field.is_empty() {
                        format!("invalid body: {inner}")
                    } else {
                        format!("{field}: {inner}")
                    },
                    details: Some(serde_json::json!({
                        "field": field,
                        "reason": inner.to_string(),
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
