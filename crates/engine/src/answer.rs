//! Answers drawn from passages: extractive (the best-matching sentences) or,
//! in [`crate::llm`], generated.

use serde::{Deserialize, Serialize};

use crate::index::Passage;
use crate::text::{distinct_terms, sentence_spans};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// Sentences quoted from the passages.
    Extractive,
    /// Written by a language model from the passages.
    Generated,
}

/// Where part of an answer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub document_id: String,
    pub document_type: String,
    pub chunk_id: String,
    pub page: u32,
    /// The sentence(s) of the passage that back the answer.
    pub snippet: String,
    /// Character offsets of `snippet` within its page.
    pub start: usize,
    pub end: usize,
    /// The passage's BM25 score.
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub text: String,
    pub sources: Vec<Source>,
    pub kind: AnswerKind,
}

impl Answer {
    /// True when nothing in the passages answers the question.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }
}

/// Knobs of [`answer_extractive_with`].
#[derive(Debug, Clone)]
pub struct ExtractiveOptions {
    /// Only the best passages are read: lower-ranked ones mostly repeat the
    /// question's common words.
    pub passages: usize,
    pub max_sentences: usize,
    /// Sentences are added while the answer stays under this many characters
    /// (the first one always is).
    pub max_chars: usize,
    /// A further sentence must score at least this share of the best one.
    pub min_relative_score: f32,
}

impl Default for ExtractiveOptions {
    fn default() -> Self {
        Self {
            passages: 5,
            max_sentences: 3,
            max_chars: 800,
            min_relative_score: 0.6,
        }
    }
}

/// The sentences of the best passages that best match the question, with a
/// source for each.
pub fn answer_extractive(question: &str, passages: &[Passage]) -> Answer {
    answer_extractive_with(question, passages, &ExtractiveOptions::default())
}

pub fn answer_extractive_with(
    question: &str,
    passages: &[Passage],
    options: &ExtractiveOptions,
) -> Answer {
    let terms = distinct_terms(question);
    let passages = &passages[..passages.len().min(options.passages)];
    let mut candidates = score_sentences(&terms, passages);
    candidates.retain(|c| c.score > 0.0 && !c.heading);
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.passage.cmp(&b.passage))
            .then(a.span.start.cmp(&b.span.start))
    });

    let mut picked: Vec<&Candidate> = Vec::new();
    let mut chars = 0usize;
    let best = candidates.first().map_or(0.0, |c| c.score);
    for candidate in &candidates {
        if picked.len() >= options.max_sentences
            || candidate.score < best * options.min_relative_score
        {
            break;
        }
        let passage = &passages[candidate.passage];
        let sentence = &passage.text[candidate.span.clone()];
        // Overlapping chunks hold the same sentence twice.
        let duplicate = picked
            .iter()
            .any(|p| passages[p.passage].text[p.span.clone()] == *sentence);
        let len = sentence.chars().count();
        if duplicate || (!picked.is_empty() && chars + len > options.max_chars) {
            continue;
        }
        chars += len + 1;
        picked.push(candidate);
    }

    let sources: Vec<Source> = picked
        .iter()
        .map(|c| source(&passages[c.passage], c.span.clone()))
        .collect();
    let text = sources
        .iter()
        .map(|s| s.snippet.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Answer {
        text,
        sources,
        kind: AnswerKind::Extractive,
    }
}

/// A source for a whole passage, its snippet being the passage's sentence that
/// best matches the question (or its opening if none does).
pub(crate) fn passage_source(question_terms: &[String], passage: &Passage) -> Source {
    let best = score_sentences(question_terms, std::slice::from_ref(passage))
        .into_iter()
        .filter(|c| !c.heading)
        .max_by(|a, b| {
            a.score
                .total_cmp(&b.score)
                .then(b.span.start.cmp(&a.span.start))
        });
    let span = match best {
        Some(c) if c.score > 0.0 => c.span,
        _ => {
            let end = passage
                .text
                .char_indices()
                .nth(300)
                .map_or(passage.text.len(), |(i, _)| i);
            0..end
        }
    };
    source(passage, span)
}

fn source(passage: &Passage, span: std::ops::Range<usize>) -> Source {
    let start = passage.start + passage.text[..span.start].chars().count();
    let snippet = passage.text[span].to_owned();
    Source {
        document_id: passage.document_id.clone(),
        document_type: passage.document_type.clone(),
        chunk_id: passage.chunk_id.clone(),
        page: passage.page,
        end: start + snippet.chars().count(),
        start,
        snippet,
        score: passage.score,
    }
}

struct Candidate {
    passage: usize,
    span: std::ops::Range<usize>,
    score: f32,
    heading: bool,
}

/// Scores every sentence of `passages` by the share of the question's term
/// weight it contains, weights being BM25-style IDF over these sentences (a
/// term every sentence has tells nothing), scaled gently by the passage's
/// rank score so a sentence from the best passage wins a tie.
fn score_sentences(terms: &[String], passages: &[Passage]) -> Vec<Candidate> {
    // A question of more than 64 distinct terms is a paragraph; its first 64
    // terms are enough to find the matching sentence.
    let terms = &terms[..terms.len().min(64)];
    struct Sentence {
        passage: usize,
        span: std::ops::Range<usize>,
        mask: u64,
        heading: bool,
        words: usize,
    }
    let mut sentences = Vec::new();
    for (p, passage) in passages.iter().enumerate() {
        for span in sentence_spans(&passage.text) {
            let sentence = &passage.text[span.clone()];
            let mut mask = 0u64;
            let mut words = 0usize;
            crate::text::for_each_term(sentence, |t, _, _| {
                words += 1;
                if let Some(i) = terms.iter().position(|q| q == t) {
                    mask |= 1 << i;
                }
            });
            sentences.push(Sentence {
                passage: p,
                heading: is_heading(sentence),
                span,
                mask,
                words,
            });
        }
    }
    if terms.is_empty() || sentences.is_empty() {
        return Vec::new();
    }

    // Overlapping chunks repeat sentences; counted twice they would make a
    // term look commoner than it is.
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<u64> = sentences
        .iter()
        .filter(|s| seen.insert(&passages[s.passage].text[s.span.clone()]))
        .map(|s| s.mask)
        .collect();
    let n = distinct.len() as f32;
    let weights: Vec<f32> = (0..terms.len())
        .map(|i| {
            let df = distinct.iter().filter(|m| *m & (1 << i) != 0).count() as f32;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    let weight_of = |mask: u64| -> f32 {
        weights
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, w)| w)
            .sum()
    };
    let top_score = passages
        .iter()
        .map(|p| p.score)
        .fold(0.0f32, f32::max)
        .max(f32::MIN_POSITIVE);

    let mut candidates = Vec::with_capacity(sentences.len());
    for (i, s) in sentences.iter().enumerate() {
        let mut matched = weight_of(s.mask);
        // A heading ("3. Term") names what the sentence under it is about: that
        // sentence gets half credit for the heading's terms it lacks, and a
        // boost for being the clause the question names.
        let mut boost = 1.0;
        if let Some(prev) = i.checked_sub(1).map(|j| &sentences[j])
            && prev.heading
            && prev.passage == s.passage
            && prev.mask != 0
        {
            matched += 0.5 * weight_of(prev.mask & !s.mask);
            boost = 1.25;
        }
        let mut score = if total > 0.0 {
            boost * matched / total
        } else {
            0.0
        };
        if s.words > 80 {
            score *= 0.8;
        }
        let rank = passages[s.passage].score.max(0.0) / top_score;
        candidates.push(Candidate {
            passage: s.passage,
            span: s.span.clone(),
            score: score * (0.7 + 0.3 * rank),
            heading: s.heading,
        });
    }
    candidates
}

/// A short line without closing punctuation: a title or clause heading. Rows
/// of a table or CSV look alike but have separators, and are content.
fn is_heading(sentence: &str) -> bool {
    let words = sentence.split_whitespace().count();
    let ends_like_sentence = sentence
        .trim_end()
        .ends_with(['.', '!', '?', '…', '。', '！', '？', ':', ';', ')']);
    let has_separators = sentence.contains([',', '\t', '|', ';', '\n']);
    words <= 8 && !ends_like_sentence && !has_separators
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, page: u32, text: &str, score: f32) -> Passage {
        Passage {
            chunk_id: format!("{id}:{page}:0"),
            document_id: id.to_owned(),
            document_type: "pdf".to_owned(),
            page,
            start: 10,
            end: 10 + text.chars().count(),
            text: text.to_owned(),
            score,
        }
    }

    #[test]
    fn the_sentence_that_matches_all_question_terms_is_the_answer() {
        let p = passage(
            "msa",
            4,
            "12. Governing Law\nThis Agreement shall be governed by the laws of England and Wales. \
             Each party complies with applicable law.",
            3.0,
        );
        let answer = answer_extractive("What is the governing law?", &[p]);
        assert_eq!(
            answer.text,
            "This Agreement shall be governed by the laws of England and Wales."
        );
        assert_eq!(answer.sources.len(), 1);
        assert_eq!(answer.sources[0].page, 4);
        assert_eq!(
            answer.sources[0].start,
            10 + "12. Governing Law\n".chars().count()
        );
    }

    #[test]
    fn no_passages_give_an_empty_answer() {
        assert!(answer_extractive("What is the governing law?", &[]).is_empty());
    }
}
