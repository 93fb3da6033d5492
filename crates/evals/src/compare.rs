//! Comparing two runs of a question set, question by question.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::text::collapse_whitespace;

/// What [`compare`] needs of one question's result in a run. With repeats,
/// pass one row per question (e.g. success = pass^N, the mean confidence,
/// the last answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub question_id: String,
    pub success: bool,
    pub confidence: f64,
    pub response: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    PassToFail,
    FailToPass,
    UnchangedPass,
    UnchangedFail,
    /// Only in the second run.
    Added,
    /// Only in the first run.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionDelta {
    pub question_id: String,
    pub before_success: Option<bool>,
    pub after_success: Option<bool>,
    pub change: Change,
    pub before_confidence: Option<f64>,
    pub after_confidence: Option<f64>,
    /// after − before, when the question is in both runs.
    pub confidence_delta: Option<f64>,
    /// The answers differ other than in whitespace; `false` when the
    /// question is in only one run.
    pub answer_changed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareTotals {
    pub pass_to_fail: usize,
    pub fail_to_pass: usize,
    pub unchanged_pass: usize,
    pub unchanged_fail: usize,
    pub added: usize,
    pub removed: usize,
    pub answers_changed: usize,
    /// Share of the first run's questions that passed (0 for an empty run).
    pub pass_rate_before: f64,
    /// Share of the second run's questions that passed (0 for an empty run).
    pub pass_rate_after: f64,
    pub mean_confidence_before: f64,
    pub mean_confidence_after: f64,
    /// Rows skipped because their id already appeared in the same run.
    pub duplicates_ignored: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first run's questions in its order, then those only in the second.
    pub per_question: Vec<QuestionDelta>,
    pub totals: CompareTotals,
}

impl Comparison {
    /// Questions that passed before and fail now: what a CI gate looks at.
    pub fn regressions(&self) -> impl Iterator<Item = &QuestionDelta> {
        self.per_question
            .iter()
            .filter(|d| d.change == Change::PassToFail)
    }
}

/// First occurrence of each id, in order, and how many later ones were dropped.
fn dedupe(run: &[RunResult]) -> (Vec<&RunResult>, usize) {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(run.len());
    for r in run {
        if seen.insert(r.question_id.as_str()) {
            out.push(r);
        }
    }
    let dropped = run.len() - out.len();
    (out, dropped)
}

fn rates(run: &[&RunResult]) -> (f64, f64) {
    if run.is_empty() {
        return (0.0, 0.0);
    }
    let n = run.len() as f64;
    let passed = run.iter().filter(|r| r.success).count() as f64;
    let confidence: f64 = run.iter().map(|r| r.confidence).sum();
    (passed / n, confidence / n)
}

/// Compares run `before` with run `after`, matching questions by id. An id
/// that appears twice in one run counts once (its first row).
pub fn compare(before: &[RunResult], after: &[RunResult]) -> Comparison {
    let (a, dup_a) = dedupe(before);
    let (b, dup_b) = dedupe(after);
    let b_by_id: HashMap<&str, &RunResult> =
        b.iter().map(|r| (r.question_id.as_str(), *r)).collect();
    let mut totals = CompareTotals {
        duplicates_ignored: dup_a + dup_b,
        ..CompareTotals::default()
    };
    let mut per_question = Vec::with_capacity(a.len().max(b.len()));
    for old in &a {
        let delta = match b_by_id.get(old.question_id.as_str()) {
            Some(new) => {
                let change = match (old.success, new.success) {
                    (true, false) => Change::PassToFail,
                    (false, true) => Change::FailToPass,
                    (true, true) => Change::UnchangedPass,
                    (false, false) => Change::UnchangedFail,
                };
                let answer_changed =
                    collapse_whitespace(&old.response) != collapse_whitespace(&new.response);
                QuestionDelta {
                    question_id: old.question_id.clone(),
                    before_success: Some(old.success),
                    after_success: Some(new.success),
                    change,
                    before_confidence: Some(old.confidence),
                    after_confidence: Some(new.confidence),
                    confidence_delta: Some(new.confidence - old.confidence),
                    answer_changed,
                }
            }
            None => QuestionDelta {
                question_id: old.question_id.clone(),
                before_success: Some(old.success),
                after_success: None,
                change: Change::Removed,
                before_confidence: Some(old.confidence),
                after_confidence: None,
                confidence_delta: None,
                answer_changed: false,
            },
        };
        per_question.push(delta);
    }
    let a_ids: HashSet<&str> = a.iter().map(|r| r.question_id.as_str()).collect();
    for new in b.iter().filter(|r| !a_ids.contains(r.question_id.as_str())) {
        per_question.push(QuestionDelta {
            question_id: new.question_id.clone(),
            before_success: None,
            after_success: Some(new.success),
            change: Change::Added,
            before_confidence: None,
            after_confidence: Some(new.confidence),
            confidence_delta: None,
            answer_changed: false,
        });
    }
    for d in &per_question {
        match d.change {
            Change::PassToFail => totals.pass_to_fail += 1,
            Change::FailToPass => totals.fail_to_pass += 1,
            Change::UnchangedPass => totals.unchanged_pass += 1,
            Change::UnchangedFail => totals.unchanged_fail += 1,
            Change::Added => totals.added += 1,
            Change::Removed => totals.removed += 1,
        }
        totals.answers_changed += usize::from(d.answer_changed);
    }
    (totals.pass_rate_before, totals.mean_confidence_before) = rates(&a);
    (totals.pass_rate_after, totals.mean_confidence_after) = rates(&b);
    Comparison {
        per_question,
        totals,
    }
}
