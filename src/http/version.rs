//! API version negotiation: a request may name the version it speaks in `API-Version`
//! (`v1`, `1` or `1.0`); any other value is a `400` whose `details.supported` lists the
//! versions this server speaks, before the request reaches a route. Every answer, errors
//! included, carries `API-Version: v1` (added by the edge). The path keeps its `/api/v1`
//! prefix: the header lets a client state what it expects without changing URLs.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

pub const API_VERSION_HEADER: HeaderName = HeaderName::from_static("api-version");
/// The version this server speaks, as it names it in answers.
pub const CURRENT: &str = "v1";
/// Every version a request may ask for.
pub const SUPPORTED: &[&str] = &[CURRENT];

/// Does a request's `API-Version` value name a version we speak? `v1`, `V1`, `1`, `1.0`.
pub fn accepts(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let text = text.trim();
    let number = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    matches!(number, "1" | "1.0")
}

/// The value of a request's `API-Version` when it names a version we do not speak.
pub fn refused(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(API_VERSION_HEADER)?;
    (!accepts(value)).then(|| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The `400` for such a request (built inside the request's scope, for its correlation id).
pub fn unsupported(asked: &str) -> Response {
    crate::error::envelope_response(
        StatusCode::BAD_REQUEST,
        "unsupported_api_version",
        format!(
            "API-Version {asked:?} is not supported; supported: {}",
            SUPPORTED.join(", ")
        ),
        Some(json!({ "header": "API-Version", "requested": asked, "supported": SUPPORTED })),
    )
}

pub fn add_version_header(headers: &mut HeaderMap) {
    headers.insert(API_VERSION_HEADER, HeaderValue::from_static(CURRENT));
}

/// Declares the header in the OpenAPI document: an optional request parameter of every
/// operation and a response header of every answer.
pub fn declare(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Required};

    let request_schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["v1", "1", "1.0"]))
        .default(Some(json!(CURRENT)))
        .build();
    let parameter = ParameterBuilder::new()
        .name("API-Version")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The API version the client speaks (v1, 1 or 1.0; default v1). Any other value is answered 400 with details.supported.",
        ))
        .schema(Some(request_schema))
        .build();
    let header = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([CURRENT]))
                .build(),
        ))
        .description(Some("The API version of this answer."))
        .build();
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(parameter.clone()));
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response
                        .headers
                        .insert("API-Version".to_owned(), RefOr::T(header.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_one_and_one_point_zero_are_accepted_and_nothing_else() {
        for ok in ["v1", "V1", "1", "1.0", " v1 "] {
            assert!(accepts(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["v2", "v9", "2", "1.1", "", "v", "v1.0.0", "latest"] {
            assert!(!accepts(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
