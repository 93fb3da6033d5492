//! Scoring one answer against one question.

use serde::{Deserialize, Serialize};

use crate::fuzzy::find_fuzzy;
use crate::model::{Assertion, ExpectedFragment, Question, compile_regex};
use crate::semantic::{self, Kind, Token};
use crate::text::{self, Mapped};

/// A document the backend cited for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceRef {
    pub document_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}

impl SourceRef {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            document_name: name.into(),
            document_id: None,
        }
    }
}

/// How a fragment was found, from the most to the least certain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchHow {
    /// The fragment is a substring of the answer as written.
    Exact,
    /// Equal after NFKC, case folding, dropping diacritics and punctuation,
    /// and collapsing whitespace.
    Normalised,
    /// The same amounts (`$1.5M` = `1,500,000`), other words equal.
    Numeric,
    /// The same calendar date (`May 8, 2014` = `2014-05-08`).
    Date,
    /// Within a small edit distance of some words of the answer.
    Fuzzy,
}

impl MatchHow {
    /// The name used in JSON and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Normalised => "normalised",
            Self::Numeric => "numeric",
            Self::Date => "date",
            Self::Fuzzy => "fuzzy",
        }
    }
}

/// An expected fragment that the answer contains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FragmentMatch {
    /// The fragment's main text, as in the question set.
    pub fragment: String,
    pub how: MatchHow,
    /// The words of the answer that matched, as the model wrote them.
    pub matched_text: String,
    /// The alternative that matched, when it was not the main text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
}

/// One assertion and whether the answer passed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    #[serde(flatten)]
    pub assertion: Assertion,
    pub passed: bool,
    /// Why it failed, when that is not obvious (e.g. an invalid regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The score of one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Weighted share of fragments found and assertions passed, in 0..=1.
    pub confidence: f64,
    /// `confidence >= threshold`.
    pub success: bool,
    pub fragments_found: Vec<FragmentMatch>,
    /// Main texts of the fragments not found.
    pub fragments_missing: Vec<String>,
    pub assertions: Vec<AssertionOutcome>,
}

/// Precomputed views of an answer, shared by all its fragments.
struct Answer<'a> {
    original: &'a str,
    folded: Mapped,
    normalised: Mapped,
    words: Vec<(usize, usize)>,
    tokens: Vec<Token>,
}

impl<'a> Answer<'a> {
    fn new(original: &'a str) -> Self {
        let folded = text::fold(original);
        let normalised = text::normalise(&folded);
        let words = text::words(&normalised.text);
        let tokens = semantic::tokenize(&folded.text);
        Self {
            original,
            folded,
            normalised,
            words,
            tokens,
        }
    }

    fn slice(&self, (start, end): (usize, usize)) -> String {
        self.original.get(start..end).unwrap_or_default().to_owned()
    }
}

/// Scores `answer` (with the `sources` the backend cited) against
/// `question`. See the crate README for the matching ladder.
///
/// An answer that is empty or only whitespace scores 0 whatever the question
/// asks; a non-empty answer to a question with nothing to check scores 1.
pub fn score(answer: &str, sources: &[SourceRef], question: &Question, threshold: f64) -> Score {
    let empty = answer.trim().is_empty();
    let view = Answer::new(answer);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut met = 0.0;
    let mut total = 0.0;
    for fragment in &question.expected_fragments {
        total += fragment.weight;
        let matched = if empty {
            None
        } else {
            match_fragment(&view, fragment)
        };
        match matched {
            Some(m) => {
                met += fragment.weight;
                found.push(m);
            }
            None => missing.push(fragment.text.clone()),
        }
    }
    let mut outcomes = Vec::with_capacity(question.assertions.len());
    for assertion in &question.assertions {
        let (passed, detail) = check(answer, sources, assertion);
        let passed = passed && !empty;
        total += assertion.weight();
        if passed {
            met += assertion.weight();
        }
        outcomes.push(AssertionOutcome {
            assertion: assertion.clone(),
            passed,
            detail,
        });
    }
    let confidence = if empty {
        0.0
    } else if total > 0.0 {
        (met / total).clamp(0.0, 1.0)
    } else {
        1.0
    };
    Score {
        confidence,
        success: confidence >= threshold,
        fragments_found: found,
        fragments_missing: missing,
        assertions: outcomes,
    }
}

/// Tries each mode in order of certainty; within a mode the main text first,
/// then the alternatives. So an exact hit on an alternative beats a fuzzy hit
/// on the main text.
fn match_fragment(answer: &Answer, fragment: &ExpectedFragment) -> Option<FragmentMatch> {
    let candidates: Vec<&str> = std::iter::once(fragment.text.as_str())
        .chain(fragment.alternatives.iter().map(String::as_str))
        .filter(|c| !c.trim().is_empty())
        .collect();
    let prepared: Vec<Prepared> = candidates.iter().map(|c| Prepared::new(c)).collect();
    let modes = [
        MatchHow::Exact,
        MatchHow::Normalised,
        MatchHow::Numeric,
        MatchHow::Date,
        MatchHow::Fuzzy,
    ];
    for how in modes {
        for (i, candidate) in prepared.iter().enumerate() {
            if let Some(range) = candidate.find(answer, how) {
                return Some(FragmentMatch {
                    fragment: fragment.text.clone(),
                    how,
                    matched_text: answer.slice(range),
                    alternative: (i > 0).then(|| candidate.raw.to_owned()),
                });
            }
        }
    }
    None
}

struct Prepared<'a> {
    raw: &'a str,
    trimmed: &'a str,
    normalised: String,
    tokens: Vec<Token>,
    kind: Option<Kind>,
}

impl<'a> Prepared<'a> {
    fn new(raw: &'a str) -> Self {
        let folded = text::fold(raw);
        let normalised = text::normalise(&folded).text;
        let tokens = semantic::tokenize(&folded.text);
        let kind = semantic::kind_of(&tokens);
        Self {
            raw,
            trimmed: raw.trim(),
            normalised,
            tokens,
            kind,
        }
    }

    /// The original byte range of the answer that this candidate matches.
    ///
    /// A candidate with a number or a date in it skips the `normalised` and
    /// `fuzzy` modes: stripping punctuation would equate `(123)` with `123`
    /// and `5%` with `5`, and one edit turns `million` into `billion`. The
    /// `numeric` and `date` modes compare its words just as strictly and its
    /// values by value.
    fn find(&self, answer: &Answer, how: MatchHow) -> Option<(usize, usize)> {
        if self.kind.is_some() && matches!(how, MatchHow::Normalised | MatchHow::Fuzzy) {
            return None;
        }
        match how {
            MatchHow::Exact => text::find_bounded(answer.original, self.trimmed),
            MatchHow::Normalised => text::find_bounded(&answer.normalised.text, &self.normalised)
                .map(|(s, e)| answer.normalised.original(s, e)),
            MatchHow::Numeric | MatchHow::Date => {
                let wanted = if how == MatchHow::Date {
                    Kind::Date
                } else {
                    Kind::Numeric
                };
                if self.kind != Some(wanted) {
                    return None;
                }
                let (s, e) = semantic::find_tokens(&answer.tokens, &self.tokens)?;
                let start = answer.tokens.get(s)?.start;
                let end = answer.tokens.get(e - 1)?.end;
                Some(answer.folded.original(start, end))
            }
            MatchHow::Fuzzy => find_fuzzy(&answer.normalised.text, &answer.words, &self.normalised)
                .map(|(s, e)| answer.normalised.original(s, e)),
        }
    }
}

fn check(answer: &str, sources: &[SourceRef], assertion: &Assertion) -> (bool, Option<String>) {
    let lower = || answer.to_lowercase();
    match assertion {
        Assertion::Contains { value, .. } => (answer.contains(value.as_str()), None),
        Assertion::Icontains { value, .. } => (lower().contains(&value.to_lowercase()), None),
        Assertion::ContainsAny { value, .. } => {
            (value.iter().any(|v| answer.contains(v.as_str())), None)
        }
        Assertion::ContainsAll { value, .. } => {
            (value.iter().all(|v| answer.contains(v.as_str())), None)
        }
        Assertion::IcontainsAny { value, .. } => {
            let l = lower();
            (value.iter().any(|v| l.contains(&v.to_lowercase())), None)
        }
        Assertion::IcontainsAll { value, .. } => {
            let l = lower();
            (value.iter().all(|v| l.contains(&v.to_lowercase())), None)
        }
        Assertion::Regex { value, .. } => match compile_regex(value) {
            Ok(re) => (re.is_match(answer), None),
            Err(e) => (false, Some(e)),
        },
        Assertion::NotContains { value, .. } => (!answer.contains(value.as_str()), None),
        Assertion::Equals { value, .. } => (answer.trim() == value.trim(), None),
        Assertion::Source { value, .. } => (sources.iter().any(|s| source_matches(s, value)), None),
    }
}

/// A `source` value names a document by id (exactly), by name (ignoring case
/// and width), by the name's last path segment, or by that segment without
/// its extension — so `contract`, `Contract.pdf` and `bundle/contract.pdf`
/// all name `bundle/contract.pdf`.
fn source_matches(source: &SourceRef, wanted: &str) -> bool {
    let wanted = wanted.trim();
    if source.document_id.as_deref() == Some(wanted) {
        return true;
    }
    let norm = |s: &str| text::fold(s.trim()).text;
    let wanted = norm(wanted);
    let name = norm(&source.document_name);
    let base = name.rsplit(['/', '\\']).next().unwrap_or(&name);
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    !wanted.is_empty() && (name == wanted || base == wanted || stem == wanted)
}

/// Repeats of one question: `pass^N` (every run passed) and `pass@N` (at
/// least one did), with confidence statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatSummary {
    pub runs: usize,
    pub passes: usize,
    /// pass^N: all N runs succeeded (false for zero runs).
    pub pass_all: bool,
    /// pass@N: at least one run succeeded.
    pub pass_any: bool,
    pub mean_confidence: f64,
    pub min_confidence: f64,
}

impl RepeatSummary {
    /// From `(success, confidence)` pairs, for callers that stored results
    /// rather than [`Score`]s.
    pub fn from_outcomes(outcomes: impl IntoIterator<Item = (bool, f64)>) -> Self {
        let mut runs = 0;
        let mut passes = 0;
        let mut sum = 0.0;
        let mut min = f64::INFINITY;
        for (success, confidence) in outcomes {
            runs += 1;
            passes += usize::from(success);
            sum += confidence;
            min = min.min(confidence);
        }
        Self {
            runs,
            passes,
            pass_all: runs > 0 && passes == runs,
            pass_any: passes > 0,
            mean_confidence: if runs > 0 { sum / runs as f64 } else { 0.0 },
            min_confidence: if runs > 0 { min } else { 0.0 },
        }
    }
}

/// Summarises N scores of the same question: see [`RepeatSummary`].
pub fn pass_at_n(scores: &[Score]) -> RepeatSummary {
    RepeatSummary::from_outcomes(scores.iter().map(|s| (s.success, s.confidence)))
}
