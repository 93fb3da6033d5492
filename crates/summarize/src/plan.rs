//! Map-reduce for documents whose prompt does not fit the model's context.
//!
//! With `C` the model's context (`context_tokens`), `M` the answer's budget
//! (`max_tokens`), `O` the prompt without the document (the template's own text, or
//! the reduce instruction, whichever is longer) and `T` the document's tokens, all by
//! [`crate::estimate_tokens`]:
//!
//! - the prompt fits when `O + T + M <= C`: **one call**;
//! - otherwise each chunk may hold `B = C - M - O` tokens, and the document becomes
//!   `n = ceil(T / B)` chunks, one *map* call each (the template rendered with the
//!   chunk as `document.content`);
//! - partial summaries are at most `M` tokens, so one *reduce* call combines
//!   `g = floor(B / M)` of them (at least 2); reducing `n` partials takes
//!   `ceil(n / g)` calls, whose answers are reduced the same way until one is left.
//!
//! **calls = n + r₁ + r₂ + … + 1**, with `r₁ = ceil(n / g)`, `rₖ₊₁ = ceil(rₖ / g)`,
//! down to 1. Example: `C = 4000`, `M = 1024`, `O = 100` gives `B = 2876`, `g = 2`;
//! a document of 60,000 tokens is `n = 21` chunks, then 11, 6, 3, 2, 1 reduce calls:
//! 44 calls. A plan whose `B` is below [`MIN_CHUNK_TOKENS`] or whose `g` is below 2 is
//! refused ([`PlanError`]): the context is too small for the answer asked for.

/// Chunks smaller than this say more about the prompt than about the document.
pub const MIN_CHUNK_TOKENS: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanError {
    /// `C - M - O` leaves less than [`MIN_CHUNK_TOKENS`] for the document, or not
    /// room for two partial summaries.
    ContextTooSmall {
        context_tokens: u64,
        max_output_tokens: u64,
        overhead_tokens: u64,
    },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::ContextTooSmall {
                context_tokens,
                max_output_tokens,
                overhead_tokens,
            } => write!(
                f,
                "a context of {context_tokens} tokens leaves too little room for the document \
                 after the prompt ({overhead_tokens} tokens) and the answer ({max_output_tokens} tokens)"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// How a summary is made: one call, or `chunks` map calls and reduce levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapReducePlan {
    /// Map calls (1 when the prompt fits: then there is no reduce).
    pub chunks: u64,
    /// Tokens of document per chunk (`B`); the whole document when it fits.
    pub chunk_tokens: u64,
    /// Partial summaries combined per reduce call (`g`).
    pub group: u64,
    /// Reduce calls per level, first level first.
    pub reduce_levels: Vec<u64>,
}

impl MapReducePlan {
    /// The plan for `content_tokens` of document under a prompt of `overhead_tokens`,
    /// a context of `context_tokens` and answers of at most `max_output_tokens`.
    pub fn new(
        content_tokens: u64,
        overhead_tokens: u64,
        context_tokens: u64,
        max_output_tokens: u64,
    ) -> Result<Self, PlanError> {
        if overhead_tokens + content_tokens + max_output_tokens <= context_tokens {
            return Ok(Self {
                chunks: 1,
                chunk_tokens: content_tokens,
                group: 1,
                reduce_levels: Vec::new(),
            });
        }
        let too_small = PlanError::ContextTooSmall {
            context_tokens,
            max_output_tokens,
            overhead_tokens,
        };
        let budget = context_tokens
            .checked_sub(max_output_tokens + overhead_tokens)
            .filter(|b| *b >= MIN_CHUNK_TOKENS)
            .ok_or(too_small)?;
        let group = budget / max_output_tokens.max(1);
        if group < 2 {
            return Err(too_small);
        }
        let chunks = content_tokens.div_ceil(budget).max(1);
        let mut reduce_levels = Vec::new();
        let mut left = chunks;
        while left > 1 {
            left = left.div_ceil(group);
            reduce_levels.push(left);
        }
        Ok(Self {
            chunks,
            chunk_tokens: budget,
            group,
            reduce_levels,
        })
    }

    /// Whether the document goes to the model in one prompt.
    pub fn is_single_call(&self) -> bool {
        self.chunks == 1 && self.reduce_levels.is_empty()
    }

    /// Every call the plan makes: map calls plus every reduce level's.
    pub fn calls(&self) -> u64 {
        self.chunks + self.reduce_levels.iter().sum::<u64>()
    }
}

/// Cuts `text` into the plan's chunks: pieces of `chunk_tokens × 4` characters (the
/// inverse of the estimate), so every piece fits `B` and their number is exactly
/// `ceil(estimate_tokens(text) / chunk_tokens)`, as the plan counted. A cut may fall
/// inside a word; the model sees both halves, in neighbouring chunks.
pub fn chunk_pages(text: &str, chunk_tokens: u64) -> Vec<&str> {
    let size = usize::try_from(chunk_tokens.saturating_mul(4))
        .unwrap_or(usize::MAX)
        .max(1);
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .char_indices()
            .nth(size)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        chunks.push(&rest[..end]);
        rest = &rest[end..];
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate_tokens;

    #[test]
    fn a_prompt_that_fits_is_one_call() {
        let plan = MapReducePlan::new(1000, 100, 4000, 1024).unwrap();
        assert!(plan.is_single_call());
        assert_eq!(plan.calls(), 1);
    }

    #[test]
    fn the_documented_example_takes_44_calls() {
        let plan = MapReducePlan::new(60_000, 100, 4000, 1024).unwrap();
        assert_eq!(plan.chunk_tokens, 2876);
        assert_eq!(plan.group, 2);
        assert_eq!(plan.chunks, 21);
        assert_eq!(plan.reduce_levels, vec![11, 6, 3, 2, 1]);
        assert_eq!(plan.calls(), 44);
    }

    #[test]
    fn a_context_too_small_for_the_answer_is_refused() {
        assert!(MapReducePlan::new(10_000, 100, 1200, 1024).is_err());
        assert!(
            MapReducePlan::new(10_000, 100, 3000, 1024).is_err(),
            "g would be 1"
        );
    }

    #[test]
    fn chunks_cover_the_text_in_order_and_number_as_the_plan_says() {
        let text: String = (0..5000).map(|i| format!("word{i} ")).collect();
        let chunk_tokens = 700;
        let chunks = chunk_pages(&text, chunk_tokens);
        assert_eq!(chunks.concat(), text);
        let expected = estimate_tokens(&text).div_ceil(chunk_tokens);
        assert_eq!(chunks.len() as u64, expected);
        assert!(chunks.iter().all(|c| estimate_tokens(c) <= chunk_tokens));
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let text = "é".repeat(1001);
        let chunks = chunk_pages(&text, 10);
        assert_eq!(chunks.len(), 26);
        assert_eq!(chunks.concat(), text);
    }
}
