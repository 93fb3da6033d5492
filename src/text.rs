//! Rules for text people type into names, shared by every capability: what a name may
//! hold is decided once, so a workspace, a question set and a user are refused alike.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::error::ApiError;

/// [`parse_name`]'s rule as a JSON Schema pattern (ECMA-262, as OpenAPI reads it): no
/// control character (`Cc`) or direction control anywhere, and at least one character
/// that is not white space (what `str::trim` removes), so the trimmed name is not empty.
pub const NAME_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*\
[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202a-\\u202f\\u205f\\u2066-\\u2069\\u3000]\
[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*$";

/// The OpenAPI schema of a name of at most `max_chars` characters ([`parse_name`]).
pub fn name_schema(max_chars: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(NAME_PATTERN))
        .description(Some(format!(
            "1 to {max_chars} characters after trimming white space; no control characters \
             (line breaks, tabs, NUL) or direction overrides."
        )))
        .into()
}

/// A schema type for a name field: `#[schema(value_type = crate::text::Name<…>)]`.
macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $max:expr) => {
        $(#[$doc])*
        pub struct $ty;
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                name_schema($max)
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

/// Longest display name, organisation name or API key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest document title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;

name_type!(
    /// A name of a workspace or a question set (255 characters).
    Name,
    255
);
name_type!(
    /// A person's or an organisation's name, or an API key's (200 characters).
    ShortName,
    MAX_NAME_CHARS
);
name_type!(
    /// A document's title (500 characters).
    Title,
    MAX_TITLE_CHARS
);

/// Characters that change how the text around them is displayed without being seen:
/// the bidirectional embeddings, overrides and isolates (a right-to-left override makes
/// `evil<U+202E>fdp.exe` read as `evilexe.pdf`).
fn is_invisible_direction_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A trimmed, non-empty name of at most `max_chars` characters, without control
/// characters (NUL, line breaks, tabs, ...) or direction overrides: a `422` naming
/// `field` otherwise.
pub fn parse_name(field: &str, raw: &str, max_chars: usize) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    // Counted before trimming too: the document's maxLength counts what was sent.
    if raw.chars().count() > max_chars {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_invisible_direction_control(c))
    {
        return Err(ApiError::invalid_field(
            field,
            "must not contain control characters (line breaks, tabs, NUL) or direction overrides",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_keep_any_script() {
        assert_eq!(
            parse_name("name", "  Vertrag ünï 合同 🚀 ", 50).unwrap(),
            "Vertrag ünï 合同 🚀"
        );
    }

    #[test]
    fn control_characters_and_direction_overrides_are_refused() {
        for bad in [
            "a\u{0}b",
            "a\nb",
            "tab\there",
            "evil\u{202E}fdp.exe",
            "\u{2067}x",
        ] {
            assert!(parse_name("name", bad, 50).is_err(), "{bad:?}");
        }
        assert!(parse_name("name", "   ", 50).is_err());
        assert!(parse_name("name", &"x".repeat(51), 50).is_err());
    }
}
