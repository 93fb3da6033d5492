use quire_evals::{
    Assertion, ExpectedFragment, MatchHow, Question, RepeatSummary, Score, SourceRef, pass_at_n,
    score,
};

fn question(fragments: &[&str]) -> Question {
    let mut q = Question::new("q1", "Question?");
    q.expected_fragments = fragments
        .iter()
        .map(|f| ExpectedFragment::new(*f))
        .collect();
    q
}

fn with_assertions(assertions: Vec<Assertion>) -> Question {
    let mut q = Question::new("q1", "Question?");
    q.assertions = assertions;
    q
}

fn score_one(answer: &str, fragment: &str) -> Score {
    score(answer, &[], &question(&[fragment]), 0.5)
}

/// How the single fragment matched, or `None` if it was missing.
fn how(answer: &str, fragment: &str) -> Option<MatchHow> {
    score_one(answer, fragment)
        .fragments_found
        .first()
        .map(|m| m.how)
}

fn matched_text(answer: &str, fragment: &str) -> String {
    score_one(answer, fragment)
        .fragments_found
        .first()
        .map(|m| m.matched_text.clone())
        .unwrap_or_default()
}

fn contains(value: &str) -> Assertion {
    Assertion::Contains {
        value: value.into(),
        weight: 1.0,
    }
}

// ---- exact -----------------------------------------------------------------

#[test]
fn exact_matching_finds_a_verbatim_substring() {
    assert_eq!(
        how(
            "Governed by the State of Delaware law.",
            "State of Delaware"
        ),
        Some(MatchHow::Exact)
    );
    assert_eq!(
        matched_text(
            "Governed by the State of Delaware law.",
            "State of Delaware"
        ),
        "State of Delaware"
    );
}

#[test]
fn exact_matching_does_not_find_a_number_inside_a_longer_number() {
    assert_eq!(how("The fee is 150 euros, due 2015.", "15"), None);
    assert_eq!(how("The fee is 1.15 million.", "15"), None);
    assert_eq!(how("The fee is 15 euros.", "15"), Some(MatchHow::Exact));
}

// ---- normalised ------------------------------------------------------------

#[test]
fn normalised_matching_ignores_case_whitespace_and_punctuation() {
    let answer = "It is governed by the laws of the STATE   of\nDelaware.";
    assert_eq!(how(answer, "state of delaware"), Some(MatchHow::Normalised));
    assert_eq!(
        matched_text(answer, "state of delaware"),
        "STATE   of\nDelaware"
    );
    assert_eq!(
        how("non-exclusive licence", "Non Exclusive"),
        Some(MatchHow::Normalised)
    );
    assert_eq!(how("The U.S.A. office", "USA"), Some(MatchHow::Normalised));
}

#[test]
fn normalised_matching_applies_nfkc_and_drops_diacritics() {
    assert_eq!(
        how("ＡＣＭＥ　Ｃｏｒｐ", "acme corp"),
        Some(MatchHow::Normalised)
    );
    assert_eq!(
        how("Supplier: Societe Generale", "Société Générale"),
        Some(MatchHow::Normalised)
    );
    assert_eq!(
        how("HAUPTSTRASSE", "Hauptstraße"),
        Some(MatchHow::Normalised)
    );
}

#[test]
fn normalised_matching_still_requires_the_words() {
    assert_eq!(
        how("governed by the laws of New York", "State of Delaware"),
        None
    );
}

// ---- fuzzy -----------------------------------------------------------------

#[test]
fn fuzzy_matching_forgives_a_typo_in_a_long_fragment() {
    let s = score_one("The licence term is renewable annually.", "license term");
    assert_eq!(s.fragments_found[0].how, MatchHow::Fuzzy);
    assert_eq!(s.fragments_found[0].matched_text, "licence term");
}

#[test]
fn fuzzy_matching_lines_up_a_split_word() {
    assert_eq!(
        how("The deposit is non refundable.", "nonrefundable"),
        Some(MatchHow::Fuzzy)
    );
}

#[test]
fn fuzzy_matching_does_not_match_short_fragments() {
    assert_eq!(how("The liability cap is set.", "car"), None);
    assert_eq!(how("It was signed in Oslo.", "Olso"), None);
}

#[test]
fn fuzzy_matching_never_changes_a_digit() {
    assert_eq!(how("Signed in March 2015.", "March 2014"), None);
    assert_eq!(how("Section 12.4 applies.", "Section 12.5"), None);
}

#[test]
fn fuzzy_matching_gives_up_beyond_its_edit_budget() {
    // 14 characters allow one edit; "tremination" vs "termination" needs two.
    assert_eq!(
        how("Early tremination clause", "termination clause"),
        Some(MatchHow::Fuzzy)
    );
    assert_eq!(how("Early tremnation clouse", "termination clause"), None);
}

// ---- numeric ---------------------------------------------------------------

#[test]
fn numeric_matching_treats_one_point_five_million_and_1_500_000_as_equal() {
    assert_eq!(
        how("The cap is 1.5 million.", "1,500,000"),
        Some(MatchHow::Numeric)
    );
    assert_eq!(
        how("The cap is 1,500,000.", "1.5 million"),
        Some(MatchHow::Numeric)
    );
}

#[test]
fn numeric_matching_reads_currency_suffixes_and_plain_digits_alike() {
    assert_eq!(
        how("Liability is capped at $1.5M.", "$1.5M"),
        Some(MatchHow::Exact)
    );
    for answer in [
        "Liability is capped at 1.5M.",
        "Liability is capped at USD 1,500,000.",
        "Liability is capped at 1500000 dollars.",
        "Liability is capped at €1.5 million.",
    ] {
        assert_eq!(how(answer, "$1.5M"), Some(MatchHow::Numeric), "{answer}");
    }
    assert_eq!(
        how("A fee of 1.5k applies", "1,500"),
        Some(MatchHow::Numeric)
    );
    let s = score_one("Liability is capped at USD 1,500,000.", "$1.5M");
    assert_eq!(s.fragments_found[0].matched_text, "1,500,000");
}

#[test]
fn numeric_matching_reads_accounting_parentheses_as_negative() {
    assert_eq!(how("Net result: -123", "(123)"), Some(MatchHow::Numeric));
    assert_eq!(how("Net result: (123)", "-123"), Some(MatchHow::Numeric));
    assert_eq!(how("Net result: 123", "(123)"), None);
    assert_eq!(how("Net result: -123", "123"), None);
}

#[test]
fn numeric_matching_reads_a_parenthesised_number_in_an_answer_either_way() {
    assert_eq!(
        how("Notice period: thirty (30) days", "thirty 30 days"),
        Some(MatchHow::Numeric)
    );
    assert_eq!(how("Notice: (30) days", "30 days"), Some(MatchHow::Numeric));
}

#[test]
fn numeric_matching_treats_a_percent_sign_and_the_word_percent_alike() {
    assert_eq!(
        how("A discount of 5 percent", "5%"),
        Some(MatchHow::Numeric)
    );
    assert_eq!(
        how("A discount of 5 per cent", "5%"),
        Some(MatchHow::Numeric)
    );
    assert_eq!(
        how("A discount of 5%", "5 percent"),
        Some(MatchHow::Numeric)
    );
}

#[test]
fn numeric_matching_keeps_the_words_around_the_number() {
    assert_eq!(how("Payment within 30 days", "Net 30"), None);
    assert_eq!(
        how(
            "Liability capped at 1.5 million per year",
            "capped at $1,500,000"
        ),
        Some(MatchHow::Numeric)
    );
}

#[test]
fn numeric_matching_does_not_confuse_different_amounts() {
    assert_eq!(how("The cap is $15M.", "$1.5M"), None);
    assert_eq!(how("The cap is 1.5 billion.", "1.5 million"), None);
    assert_eq!(how("The cap is 1,500.", "1,500,000"), None);
    assert_eq!(how("A discount of 5 points", "5%"), None);
    assert_eq!(how("A 5.5% discount", "5%"), None);
}

// ---- date ------------------------------------------------------------------

#[test]
fn date_matching_treats_month_day_year_and_iso_as_equal() {
    assert_eq!(
        how("The contract starts on 2014-05-08.", "May 8, 2014"),
        Some(MatchHow::Date)
    );
    assert_eq!(
        how("The contract starts on May 8, 2014.", "2014-05-08"),
        Some(MatchHow::Date)
    );
    assert_eq!(
        how("It starts on the 8th of May, 2014.", "May 8, 2014"),
        Some(MatchHow::Date)
    );
    assert_eq!(
        how("Start: 8 May 2014", "May 8th, 2014"),
        Some(MatchHow::Date)
    );
    assert_eq!(how("Start: 08.05.2014", "8 May 2014"), Some(MatchHow::Date));
    assert_eq!(
        matched_text("The contract starts on 8 May 2014.", "2014-05-08"),
        "8 May 2014"
    );
}

#[test]
fn date_matching_refuses_other_days_and_ambiguous_slashes() {
    assert_eq!(how("Starts on May 9, 2014.", "2014-05-08"), None);
    assert_eq!(how("Starts on 2015-05-08.", "May 8, 2014"), None);
    // 08/05/2014 is 8 May in Europe and 5 August in the US: not guessed.
    assert_eq!(how("Starts on 08/05/2014.", "May 8, 2014"), None);
    assert_eq!(
        how("Starts on 05/13/2014.", "May 13, 2014"),
        Some(MatchHow::Date)
    );
    assert_eq!(
        how("Starts on 13/05/2014.", "May 13, 2014"),
        Some(MatchHow::Date)
    );
}

// ---- ladder and alternatives -----------------------------------------------

#[test]
fn the_strongest_mode_wins_and_alternatives_count() {
    let mut q = question(&[]);
    q.expected_fragments =
        vec![ExpectedFragment::new("thirty days").with_alternatives(["Net 30", "30 days"])];
    let s = score("Terms: net 30.", &[], &q, 0.5);
    let m = &s.fragments_found[0];
    assert_eq!(m.fragment, "thirty days");
    assert_eq!(m.alternative.as_deref(), Some("Net 30"));
    // Fragments with numbers are compared as numbers, words folded.
    assert_eq!(m.how, MatchHow::Numeric);

    // An exact alternative beats a fuzzy main text.
    let s = score("Terms: 30 days, thirty dayz.", &[], &q, 0.5);
    assert_eq!(s.fragments_found[0].how, MatchHow::Exact);
    assert_eq!(s.fragments_found[0].alternative.as_deref(), Some("30 days"));
}

// ---- confidence ------------------------------------------------------------

#[test]
fn confidence_is_the_weighted_share_of_fragments_and_assertions_met() {
    let mut q = question(&[]);
    q.expected_fragments = vec![
        ExpectedFragment::new("Delaware").with_weight(3.0),
        ExpectedFragment::new("arbitration"),
    ];
    q.assertions = vec![Assertion::NotContains {
        value: "I don't know".into(),
        weight: 1.0,
    }];
    let s = score("Delaware law applies.", &[], &q, 0.8);
    assert!((s.confidence - 0.8).abs() < 1e-12, "{}", s.confidence);
    assert!(s.success);
    assert_eq!(s.fragments_missing, vec!["arbitration"]);
    let s = score("Delaware law applies.", &[], &q, 0.81);
    assert!(!s.success);
}

#[test]
fn confidence_is_one_for_a_question_with_nothing_to_check() {
    let s = score("Anything at all.", &[], &question(&[]), 1.0);
    assert_eq!(s.confidence, 1.0);
    assert!(s.success);
}

#[test]
fn confidence_is_zero_for_an_empty_answer() {
    let q = with_assertions(vec![Assertion::NotContains {
        value: "sorry".into(),
        weight: 1.0,
    }]);
    for answer in ["", "  \n\t"] {
        let s = score(answer, &[], &q, 0.0);
        assert_eq!(s.confidence, 0.0);
        assert!(!s.assertions[0].passed);
        let s = score(answer, &[], &question(&[]), 0.5);
        assert_eq!(s.confidence, 0.0);
        assert!(!s.success);
    }
}

// ---- assertions ------------------------------------------------------------

#[test]
fn each_assertion_type_passes_and_fails_as_promptfoo_would() {
    let answer = "The Supplier is liable up to EUR 2 million.";
    let cases: Vec<(Assertion, bool)> = vec![
        (contains("Supplier"), true),
        (contains("supplier"), false),
        (
            Assertion::Icontains {
                value: "SUPPLIER".into(),
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::ContainsAny {
                value: vec!["Buyer".into(), "liable".into()],
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::ContainsAny {
                value: vec!["Buyer".into(), "Client".into()],
                weight: 1.0,
            },
            false,
        ),
        (
            Assertion::ContainsAll {
                value: vec!["Supplier".into(), "liable".into()],
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::ContainsAll {
                value: vec!["Supplier".into(), "Buyer".into()],
                weight: 1.0,
            },
            false,
        ),
        (
            Assertion::IcontainsAll {
                value: vec!["supplier".into(), "EUR".into()],
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::IcontainsAny {
                value: vec!["BUYER".into(), "eur".into()],
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::Regex {
                value: r"\d+ million".into(),
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::Regex {
                value: r"^\d".into(),
                weight: 1.0,
            },
            false,
        ),
        (
            Assertion::NotContains {
                value: "I don't know".into(),
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::NotContains {
                value: "liable".into(),
                weight: 1.0,
            },
            false,
        ),
        (
            Assertion::Equals {
                value: answer.into(),
                weight: 1.0,
            },
            true,
        ),
        (
            Assertion::Equals {
                value: "The Supplier".into(),
                weight: 1.0,
            },
            false,
        ),
    ];
    for (assertion, expected) in cases {
        let s = score(answer, &[], &with_assertions(vec![assertion.clone()]), 0.5);
        assert_eq!(s.assertions[0].passed, expected, "{assertion:?}");
    }
}

#[test]
fn a_source_assertion_checks_the_cited_documents() {
    let q = with_assertions(vec![Assertion::Source {
        value: "contract.pdf".into(),
        weight: 1.0,
    }]);
    let cited = [
        SourceRef::named("price-list.csv"),
        SourceRef::named("bundle/Contract.PDF"),
    ];
    assert!(score("Yes.", &cited, &q, 0.5).assertions[0].passed);
    assert!(!score("Yes.", &cited[..1], &q, 0.5).assertions[0].passed);

    let by_stem = with_assertions(vec![Assertion::Source {
        value: "contract".into(),
        weight: 1.0,
    }]);
    assert!(score("Yes.", &cited, &by_stem, 0.5).assertions[0].passed);

    let by_id = with_assertions(vec![Assertion::Source {
        value: "doc-42".into(),
        weight: 1.0,
    }]);
    let with_id = [SourceRef {
        document_name: "x.pdf".into(),
        document_id: Some("doc-42".into()),
    }];
    assert!(score("Yes.", &with_id, &by_id, 0.5).assertions[0].passed);
}

#[test]
fn assertion_weights_count_in_the_confidence() {
    let q = with_assertions(vec![
        Assertion::Contains {
            value: "yes".into(),
            weight: 3.0,
        },
        contains("no"),
    ]);
    let s = score("yes", &[], &q, 0.5);
    assert!((s.confidence - 0.75).abs() < 1e-12);
}

// ---- repeats ---------------------------------------------------------------

#[test]
fn pass_hat_n_needs_every_repeat_to_succeed() {
    let q = question(&["Delaware"]);
    let good = score("Delaware", &[], &q, 0.5);
    let bad = score("New York", &[], &q, 0.5);
    let all = pass_at_n(&[good.clone(), good.clone(), good.clone()]);
    assert!(all.pass_all && all.pass_any);
    assert_eq!(all.mean_confidence, 1.0);
    let mixed = pass_at_n(&[good.clone(), bad.clone(), good]);
    assert!(!mixed.pass_all);
    assert!(mixed.pass_any);
    assert_eq!(mixed.passes, 2);
    assert!((mixed.mean_confidence - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(mixed.min_confidence, 0.0);
    let none = pass_at_n(&[]);
    assert!(!none.pass_all && !none.pass_any);
    assert_eq!(
        RepeatSummary::from_outcomes([(true, 0.9), (true, 0.7)]).runs,
        2
    );
}

#[test]
fn scores_serialise_with_snake_case_modes_and_flat_assertions() {
    let mut q = question(&["state of delaware"]);
    q.assertions = vec![contains("Delaware")];
    let s = score("State of Delaware", &[], &q, 0.5);
    let json = serde_json::to_value(&s).unwrap_or_default();
    assert_eq!(json["fragments_found"][0]["how"], "normalised");
    assert_eq!(json["assertions"][0]["type"], "contains");
    assert_eq!(json["assertions"][0]["passed"], true);
}

#[test]
fn a_score_round_trips_through_json() {
    let mut q = question(&["Delaware", "arbitration"]);
    q.assertions = vec![
        contains("Delaware"),
        Assertion::Regex {
            value: "x".into(),
            weight: 2.0,
        },
    ];
    let s = score("Delaware law", &[], &q, 0.5);
    let json = serde_json::to_string(&s).unwrap_or_default();
    let back: Score = match serde_json::from_str(&json) {
        Ok(b) => b,
        Err(e) => panic!("{e}: {json}"),
    };
    assert_eq!(back, s);
}
