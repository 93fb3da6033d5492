//! A query-string extractor whose rejections are the standard envelope and name the
//! parameter: `offset=-1` and `limit=100000` are both a `422` with `details.field`, as
//! every value that parses but is not allowed (malformed JSON bodies are the `400`s).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::extract::Query`, but a bad parameter is a `422` naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let reason = err.into_inner().to_string();
        // serde_urlencoded names the parameter in the path only for typed fields; an
        // unparsable number reads "invalid digit found in string", so say what was
        // expected in the user's terms.
        let reason = if reason.contains("invalid digit") || reason.contains("number") {
            "must be a whole number in the allowed range".to_owned()
        } else {
            reason
        };
        let field = if field == "." {
            "query"
        } else {
            field.as_str()
        };
        ApiError::invalid_field(field, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Params {
        #[allow(dead_code)]
        limit: Option<u32>,
        #[allow(dead_code)]
        offset: Option<u64>,
    }

    #[test]
    fn a_negative_offset_names_the_field() {
        let err = parse_query::<Params>("limit=5&offset=-1").unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{err:?}").contains("offset"), "{err:?}");
    }

    #[test]
    fn good_parameters_parse() {
        assert!(parse_query::<Params>("limit=5&offset=10").is_ok());
        assert!(parse_query::<Params>("").is_ok());
    }
}
