//! Rules for text people type into names, shared by every capability: what a name may
//! hold is decided once, so a workspace, a question set and a user are refused alike.

use crate::error::ApiError;

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
    if name.chars().count() > max_chars {
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
