//! The prompt for a generated answer, and the answer made of a model's text.
//!
//! Pure functions: the engine has no HTTP client. The caller (Quire's embedded
//! backend) sends the prompt through `quire-llm` and hands the text back to
//! [`generated_answer`], which attaches the passages as sources.

use crate::answer::{Answer, AnswerKind, passage_source};
use crate::index::Passage;
use crate::text::distinct_terms;
use crate::thread::Turn;

/// Used when the workspace has no system prompt of its own.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You answer questions about the user's documents. \
Answer only from the numbered passages you are given, cite them by number like [1], \
and say so plainly when they do not contain the answer. Be concise.";

/// Earlier turns beyond these are left out: the passages matter more than a
/// long-ago exchange, and local models have small context windows.
pub const MAX_HISTORY_TURNS: usize = 12;

/// The user message: numbered passages, then the question.
pub fn build_prompt(question: &str, passages: &[Passage]) -> String {
    let mut prompt = String::from(
        "Answer the question using only the passages below. Cite the passages you use by \
         their number in square brackets, like [1]. If the passages do not contain the \
         answer, say that the documents do not say.\n\nPassages:\n",
    );
    if passages.is_empty() {
        prompt.push_str("(no passages matched the question)\n");
    }
    for (i, p) in passages.iter().enumerate() {
        prompt.push_str(&format!(
            "\n[{}] document {} ({}), page {}\n{}\n",
            i + 1,
            p.document_id,
            p.document_type,
            p.page,
            p.text.trim()
        ));
    }
    prompt.push_str("\nQuestion: ");
    prompt.push_str(question.trim());
    prompt
}

/// What to send a model so that it answers `question` from `passages`: the
/// system prompt (the workspace's, or [`DEFAULT_SYSTEM_PROMPT`]) and the last
/// [`MAX_HISTORY_TURNS`] turns of `history` followed by [`build_prompt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmPrompt {
    pub system: String,
    pub turns: Vec<Turn>,
}

pub fn llm_prompt(
    question: &str,
    passages: &[Passage],
    system_prompt: Option<&str>,
    history: &[Turn],
) -> LlmPrompt {
    let recent = &history[history.len().saturating_sub(MAX_HISTORY_TURNS)..];
    let mut turns = recent.to_vec();
    turns.push(Turn::user(build_prompt(question, passages)));
    let system = system_prompt
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SYSTEM_PROMPT);
    LlmPrompt {
        system: system.to_owned(),
        turns,
    }
}

/// The [`Answer`] for a model's `text`: the sources are the passages in rank
/// order, each with its sentence that best matches the question.
pub fn generated_answer(question: &str, passages: &[Passage], text: &str) -> Answer {
    let terms = distinct_terms(question);
    Answer {
        text: text.trim().to_owned(),
        sources: passages.iter().map(|p| passage_source(&terms, p)).collect(),
        kind: AnswerKind::Generated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage() -> Passage {
        Passage {
            chunk_id: "c1".into(),
            document_id: "doc-1".into(),
            document_type: "pdf".into(),
            page: 4,
            start: 0,
            end: 44,
            text: "Governed by the laws of England and Wales.".into(),
            score: 1.0,
        }
    }

    #[test]
    fn the_prompt_numbers_passages_and_keeps_the_recent_history() {
        let history: Vec<Turn> = (0..20).map(|i| Turn::user(format!("q{i}"))).collect();
        let prompt = llm_prompt("Governing law?", &[passage()], Some("  "), &history);
        assert_eq!(prompt.system, DEFAULT_SYSTEM_PROMPT);
        assert_eq!(prompt.turns.len(), MAX_HISTORY_TURNS + 1);
        assert_eq!(prompt.turns[0].text, "q8");
        let last = &prompt.turns[MAX_HISTORY_TURNS].text;
        assert!(last.contains("[1] document doc-1 (pdf), page 4"), "{last}");
        assert!(last.ends_with("Question: Governing law?"));
    }
}
