use quire_evals::{Change, RunResult, compare};

fn result(id: &str, success: bool, confidence: f64, response: &str) -> RunResult {
    RunResult {
        question_id: id.into(),
        success,
        confidence,
        response: response.into(),
    }
}

#[test]
fn compare_reports_each_kind_of_flip_by_question_id() {
    let before = vec![
        result("law", true, 1.0, "Delaware"),
        result("cap", true, 0.9, "$1.5M"),
        result("start", false, 0.2, "unknown"),
        result("term", false, 0.0, "no idea"),
        result("gone", true, 1.0, "x"),
    ];
    // A different order must not matter: questions are matched by id.
    let after = vec![
        result("term", false, 0.4, "no  idea\n"),
        result("start", true, 1.0, "May 8, 2014"),
        result("cap", false, 0.5, "I don't know"),
        result("law", true, 1.0, "Delaware"),
        result("new", true, 0.8, "y"),
    ];
    let c = compare(&before, &after);
    let changes: Vec<(&str, Change)> = c
        .per_question
        .iter()
        .map(|d| (d.question_id.as_str(), d.change))
        .collect();
    assert_eq!(
        changes,
        [
            ("law", Change::UnchangedPass),
            ("cap", Change::PassToFail),
            ("start", Change::FailToPass),
            ("term", Change::UnchangedFail),
            ("gone", Change::Removed),
            ("new", Change::Added),
        ]
    );
    let t = &c.totals;
    assert_eq!(
        (
            t.unchanged_pass,
            t.pass_to_fail,
            t.fail_to_pass,
            t.unchanged_fail,
            t.removed,
            t.added
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert!((t.pass_rate_before - 0.6).abs() < 1e-12);
    assert!((t.pass_rate_after - 0.6).abs() < 1e-12);
    let regressions: Vec<&str> = c.regressions().map(|d| d.question_id.as_str()).collect();
    assert_eq!(regressions, ["cap"]);
}

#[test]
fn compare_reports_confidence_deltas_and_answer_changes() {
    let before = [
        result("a", true, 0.9, "Delaware law applies."),
        result("b", false, 0.0, "no idea"),
    ];
    let after = [
        result("a", true, 0.8, "  Delaware law\napplies. "),
        result("b", false, 0.4, "perhaps"),
    ];
    let c = compare(&before, &after);
    let a = &c.per_question[0];
    assert!((a.confidence_delta.unwrap_or_default() + 0.1).abs() < 1e-12);
    assert!(!a.answer_changed, "whitespace alone is not a change");
    let b = &c.per_question[1];
    assert!(b.answer_changed);
    assert_eq!(b.before_success, Some(false));
    assert_eq!(b.after_success, Some(false));
    assert_eq!(c.totals.answers_changed, 1);
    assert!((c.totals.mean_confidence_before - 0.45).abs() < 1e-12);
    assert!((c.totals.mean_confidence_after - 0.6).abs() < 1e-12);
}

#[test]
fn added_and_removed_questions_have_no_delta() {
    let c = compare(
        &[result("old", true, 1.0, "x")],
        &[result("new", false, 0.0, "")],
    );
    for d in &c.per_question {
        assert_eq!(d.confidence_delta, None);
        assert!(!d.answer_changed);
    }
    assert_eq!(c.per_question[0].after_success, None);
    assert_eq!(c.per_question[1].before_success, None);
}

#[test]
fn a_duplicate_id_in_a_run_counts_once() {
    let before = [result("a", true, 1.0, "x"), result("a", false, 0.0, "y")];
    let after = [result("a", false, 0.0, "y")];
    let c = compare(&before, &after);
    assert_eq!(c.per_question.len(), 1);
    assert_eq!(c.per_question[0].change, Change::PassToFail);
    assert_eq!(c.totals.duplicates_ignored, 1);
    assert_eq!(c.totals.pass_rate_before, 1.0);
}

#[test]
fn comparing_empty_runs_gives_zero_rates() {
    let c = compare(&[], &[]);
    assert!(c.per_question.is_empty());
    assert_eq!(c.totals.pass_rate_before, 0.0);
    assert_eq!(c.totals.pass_rate_after, 0.0);
}

#[test]
fn a_comparison_serialises_changes_in_snake_case() {
    let c = compare(
        &[result("a", true, 1.0, "x")],
        &[result("a", false, 0.5, "y")],
    );
    let json = serde_json::to_value(&c).unwrap_or_default();
    assert_eq!(json["per_question"][0]["change"], "pass_to_fail");
    assert_eq!(json["totals"]["pass_to_fail"], 1);
}
