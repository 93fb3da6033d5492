//! A token estimate without a tokenizer: `ceil(chars / 4)`.
//!
//! Four characters per token is OpenAI's and Anthropic's published rule of thumb for
//! English text (BPE tokenizers of both average 3.5–4.5 characters per token on prose).
//! It is used only where the provider's own count (`usage`) is missing, and to decide
//! whether a prompt fits a context; summaries record which of the two they carry.

/// Estimated tokens of `text`: characters (not bytes) divided by four, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_characters_make_a_token_rounded_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1, "characters, not bytes");
    }
}
