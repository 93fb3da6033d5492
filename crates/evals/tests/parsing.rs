use quire_evals::{
    Assertion, ExpectedFragment, MAX_QUESTIONS, ParseError, Question, QuestionSet, SetFormat,
    parse, parse_csv, parse_json, parse_promptfoo_yaml,
};

const JSON: &str = include_str!("fixtures/procurement.json");
const CSV: &str = include_str!("fixtures/procurement.csv");
const YAML: &str = include_str!("fixtures/procurement.yaml");

fn ok(result: Result<QuestionSet, ParseError>) -> QuestionSet {
    match result {
        Ok(set) => set,
        Err(e) => panic!("expected the set to parse, got: {e}"),
    }
}

fn err(result: Result<QuestionSet, ParseError>) -> ParseError {
    match result {
        Ok(set) => panic!("expected an error, got {set:?}"),
        Err(e) => e,
    }
}

fn expected_set() -> QuestionSet {
    let mut gov = Question::new("gov-law", "What is the governing law of the contract?");
    gov.expected_fragments = vec![
        ExpectedFragment::new("State of Delaware")
            .with_weight(2.0)
            .with_alternatives(["Delaware law"]),
    ];
    gov.assertions = vec![
        Assertion::Icontains {
            value: "delaware".into(),
            weight: 1.0,
        },
        Assertion::NotContains {
            value: "I don't know".into(),
            weight: 1.0,
        },
        Assertion::Source {
            value: "contract.pdf".into(),
            weight: 1.0,
        },
    ];
    gov.doc_types = vec!["contract".into()];
    let mut cap = Question::new("q2", "What is the liability cap?");
    cap.expected_fragments = vec![
        ExpectedFragment::new("$1.5M"),
        ExpectedFragment::new("12 months"),
    ];
    cap.assertions = vec![
        Assertion::ContainsAny {
            value: vec!["cap".into(), "limit".into()],
            weight: 1.0,
        },
        Assertion::Regex {
            value: r"\d".into(),
            weight: 0.5,
        },
    ];
    let mut start = Question::new("start", "When does the contract start?");
    start.expected_fragments = vec![ExpectedFragment::new("May 8, 2014")];
    start.llm_config = Some(serde_json::json!({ "temperature": 0 }));
    QuestionSet {
        name: None,
        description: None,
        questions: vec![gov, cap, start],
    }
}

#[test]
fn the_same_set_in_json_csv_and_yaml_parses_to_equal_sets() {
    let json = ok(parse_json(JSON));
    let csv = ok(parse_csv(CSV));
    let yaml = ok(parse_promptfoo_yaml(YAML));
    assert_eq!(json, expected_set());
    assert_eq!(csv, json);
    assert_eq!(yaml, json);
}

#[test]
fn parse_picks_the_format_from_the_file_name() {
    let format = SetFormat::from_file_name("Procurement.YML");
    assert_eq!(format, Some(SetFormat::Yaml));
    assert_eq!(SetFormat::from_file_name("set.txt"), None);
    assert_eq!(ok(parse(SetFormat::Csv, CSV)), expected_set());
}

#[test]
fn a_set_serialised_to_json_parses_back_to_itself() {
    let set = expected_set();
    let json = serde_json::to_string_pretty(&set).unwrap_or_default();
    assert_eq!(ok(parse_json(&json)), set);
}

#[test]
fn a_bare_json_array_of_questions_is_a_set() {
    let set = ok(parse_json(
        r#"[{"text": "Who signs?"}, {"id": 7, "question": "When?", "expected_fragments": [2014]}]"#,
    ));
    assert_eq!(set.questions[0].id, "q1");
    assert_eq!(set.questions[1].id, "7");
    assert_eq!(set.questions[1].text, "When?");
    assert_eq!(set.questions[1].expected_fragments[0].text, "2014");
}

#[test]
fn a_byte_order_mark_does_not_break_any_format() {
    assert_eq!(ok(parse_json(&format!("\u{feff}{JSON}"))), expected_set());
    assert_eq!(ok(parse_csv(&format!("\u{feff}{CSV}"))), expected_set());
    assert_eq!(
        ok(parse_promptfoo_yaml(&format!("\u{feff}{YAML}"))),
        expected_set()
    );
}

#[test]
fn a_json_syntax_error_reports_its_line_and_column() {
    let e = err(parse_json(
        "{\n  \"questions\": [\n    {\"text\": \"a\",}\n  ]\n}",
    ));
    assert_eq!(e.format, SetFormat::Json);
    assert_eq!(e.line, Some(3));
    assert!(e.column.is_some());
    assert!(e.to_string().starts_with("JSON line 3, column"), "{e}");
}

#[test]
fn a_json_question_without_text_names_the_question() {
    let e = err(parse_json(
        "{\"questions\": [\n {\"text\": \"a\"},\n {\"id\": \"b\"}\n]}",
    ));
    assert_eq!(e.line, Some(3));
    assert_eq!(e.path.as_deref(), Some("questions[1]"));
    assert!(e.message.contains("missing field `text`"), "{e}");
}

#[test]
fn a_json_field_of_the_wrong_type_names_its_path() {
    let e = err(parse_json(
        r#"{"questions": [{"text": "a", "expected_fragments": [{"text": "x", "weight": "heavy"}]}]}"#,
    ));
    assert_eq!(
        e.path.as_deref(),
        Some("questions[0].expected_fragments[0].weight")
    );
}

#[test]
fn an_unknown_json_field_is_refused_by_name() {
    let e = err(parse_json(r#"[{"text": "a", "expected": ["x"]}]"#));
    assert!(e.message.contains("unknown field `expected`"), "{e}");
    assert_eq!(e.path.as_deref(), Some("[0].expected"));
}

#[test]
fn an_unknown_assertion_type_in_json_lists_the_supported_ones() {
    let e = err(parse_json(
        r#"[{"text": "a", "assertions": [{"type": "llm-rubric", "value": "x"}]}]"#,
    ));
    assert!(e.message.contains("llm-rubric"), "{e}");
    assert!(e.message.contains("contains-any"), "{e}");
    assert_eq!(e.path.as_deref(), Some("[0].assertions[0].type"));
}

#[test]
fn a_weight_of_zero_or_less_is_refused() {
    let e = err(parse_json(
        r#"{"questions": [{"text": "a", "expected_fragments": [{"text": "x", "weight": 0}]}]}"#,
    ));
    assert_eq!(
        e.path.as_deref(),
        Some("questions[0].expected_fragments[0].weight")
    );
    assert!(e.message.contains("above 0"), "{e}");
    let e = err(parse_json(
        r#"[{"text": "a", "assertions": [{"type": "contains", "value": "x", "weight": -1}]}]"#,
    ));
    assert_eq!(e.path.as_deref(), Some("[0].assertions[0].weight"));
}

#[test]
fn an_invalid_regex_is_refused_with_the_reason() {
    let e = err(parse_json(
        r#"[{"text": "a", "assertions": [{"type": "regex", "value": "(unclosed"}]}]"#,
    ));
    assert!(e.message.contains("invalid regex"), "{e}");
    assert_eq!(e.path.as_deref(), Some("[0].assertions[0].value"));
}

#[test]
fn empty_text_is_refused() {
    let e = err(parse_json(r#"[{"text": "   "}]"#));
    assert!(e.message.contains("question text is empty"), "{e}");
    let e = err(parse_json(r#"[{"text": "a", "expected_fragments": [""]}]"#));
    assert_eq!(e.path.as_deref(), Some("[0].expected_fragments[0].text"));
}

#[test]
fn duplicate_ids_are_refused_naming_both_questions() {
    let e = err(parse_json(
        r#"[{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}]"#,
    ));
    assert!(e.message.contains("duplicate id `a`"), "{e}");
    assert!(e.message.contains("question 1"), "{e}");
    assert_eq!(e.path.as_deref(), Some("[2].id"));
}

#[test]
fn generated_ids_follow_positions_and_avoid_taken_ones() {
    let set = ok(parse_json(
        r#"[{"id": "q2", "text": "x"}, {"text": "y"}, {"text": "z"}]"#,
    ));
    let ids: Vec<&str> = set.questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["q2", "q2-2", "q3"]);
}

#[test]
fn a_set_over_the_question_cap_is_refused() {
    let one = r#"{"text": "x"}"#;
    let json = format!("[{}]", vec![one; MAX_QUESTIONS + 1].join(","));
    let e = err(parse_json(&json));
    assert!(e.message.contains("at most 10000"), "{e}");
    let csv = format!("question\n{}", "x\n".repeat(MAX_QUESTIONS + 1));
    let e = err(parse_csv(&csv));
    assert_eq!(e.line, Some(MAX_QUESTIONS + 2));
}

#[test]
fn an_empty_set_is_refused() {
    assert!(err(parse_json("[]")).message.contains("no questions"));
    assert!(err(parse_json("")).message.contains("empty"));
    assert!(
        err(parse_csv("question\n"))
            .message
            .contains("no questions")
    );
}

#[test]
fn a_csv_row_with_a_bad_weight_reports_its_line_and_column() {
    let csv = "id,question,expected_fragments,weights\n\
               a,First?,x|y,1|2\n\
               b,Second?,x,heavy\n";
    let e = err(parse_csv(csv));
    assert_eq!(e.format, SetFormat::Csv);
    assert_eq!(e.line, Some(3));
    assert_eq!(e.path.as_deref(), Some("weights"));
    assert!(e.to_string().starts_with("CSV line 3 (weights):"), "{e}");
}

#[test]
fn a_csv_line_number_counts_quoted_line_breaks() {
    let csv = "question,expected_fragments\n\
               \"A question\nover two lines?\",x\n\
               Fine?,y\n\
               ,z\n";
    let e = err(parse_csv(csv));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("question text is empty"), "{e}");
}

#[test]
fn a_csv_row_with_too_many_fields_reports_its_line() {
    let e = err(parse_csv("question,expected_fragments\nA?,x\nB?,y,extra\n"));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("3 fields"), "{e}");
}

#[test]
fn an_unknown_csv_column_is_named() {
    let e = err(parse_csv("question,expectd\nA?,x\n"));
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("`expectd`"), "{e}");
    let e = err(parse_csv("id,expected_fragments\na,x\n"));
    assert!(e.message.contains("no `question` column"), "{e}");
}

#[test]
fn a_csv_weight_count_must_match_the_fragments() {
    let e = err(parse_csv("question,expected_fragments,weights\nA?,x|y,2\n"));
    assert_eq!(e.line, Some(2));
    assert!(
        e.message.contains("1 weights for 2 expected fragments"),
        "{e}"
    );
}

#[test]
fn a_csv_unsupported_assertion_type_names_the_line() {
    let e = err(parse_csv(
        "question,assertions\nA?,icontains:x\nB?,similar:y\n",
    ));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("`similar` is not supported"), "{e}");
}

#[test]
fn csv_list_cells_honour_escapes_and_list_assertions() {
    let set = ok(parse_csv(
        "question,expected_fragments,assertions\n\
         A?,a\\|b|c\\;d;e,contains-all:x;y|regex:^(yes\\|no)$\n",
    ));
    let q = &set.questions[0];
    assert_eq!(q.expected_fragments[0].text, "a|b");
    assert_eq!(q.expected_fragments[1].text, "c;d");
    assert_eq!(q.expected_fragments[1].alternatives, vec!["e"]);
    assert_eq!(
        q.assertions,
        vec![
            Assertion::ContainsAll {
                value: vec!["x".into(), "y".into()],
                weight: 1.0
            },
            Assertion::Regex {
                value: "^(yes|no)$".into(),
                weight: 1.0
            },
        ]
    );
}

#[test]
fn a_yaml_set_with_a_bad_indent_reports_its_line() {
    let yaml = "tests:\n  - vars:\n      question: What?\n     assert:\n      - type: contains\n        value: x\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.format, SetFormat::Yaml);
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.to_string().starts_with("YAML line 4"), "{e}");
}

#[test]
fn a_yaml_unsupported_assert_type_names_the_test_and_line() {
    let yaml = "tests:\n\
                \x20 - vars: {question: First?}\n\
                \x20 - vars: {question: Second?}\n\
                \x20   assert:\n\
                \x20     - type: contains\n\
                \x20       value: x\n\
                \x20     - type: llm-rubric\n\
                \x20       value: is polite\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(7));
    assert_eq!(e.path.as_deref(), Some("tests[1].assert[1].type"));
    assert!(e.message.contains("`llm-rubric` is not supported"), "{e}");
}

#[test]
fn a_yaml_test_with_two_vars_and_no_question_var_is_refused() {
    let yaml = "tests:\n  - vars:\n      topic: law\n      country: US\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(3));
    assert_eq!(e.path.as_deref(), Some("tests[0].vars"));
    assert!(e.message.contains("name it `question`"), "{e}");
}

#[test]
fn a_yaml_test_with_a_single_var_uses_it_as_the_question() {
    let set = ok(parse_promptfoo_yaml(
        "tests:\n  - vars:\n      query: Who signs?\n",
    ));
    assert_eq!(set.questions[0].text, "Who signs?");
}

#[test]
fn a_yaml_prompt_template_is_filled_from_vars() {
    let yaml = "description: Lawyer set\n\
                prompts: ['As a lawyer, answer about {{topic}}: {{question}}']\n\
                defaultTest:\n\
                \x20 vars: {topic: the contract}\n\
                \x20 assert:\n\
                \x20   - type: not-contains\n\
                \x20     value: As an AI\n\
                tests:\n\
                \x20 - vars: {question: Who signs?}\n\
                \x20   assert: [{type: icontains, value: ceo}]\n";
    let set = ok(parse_promptfoo_yaml(yaml));
    assert_eq!(set.description.as_deref(), Some("Lawyer set"));
    let q = &set.questions[0];
    assert_eq!(q.text, "As a lawyer, answer about the contract: Who signs?");
    assert_eq!(q.assertions.len(), 2);
    assert_eq!(q.assertions[1].kind(), "not-contains");
}

#[test]
fn a_yaml_prompt_with_an_unknown_placeholder_names_the_test() {
    let yaml = "prompts: ['{{question}} ({{lang}})']\ntests:\n  - vars: {question: a}\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("{{lang}}"), "{e}");
}

#[test]
fn a_yaml_list_var_is_refused_because_promptfoo_would_expand_it() {
    let yaml = "tests:\n  - vars:\n      question: [a, b]\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(3));
    assert_eq!(e.path.as_deref(), Some("tests[0].vars.question"));
}

#[test]
fn a_yaml_unknown_test_key_is_named_with_its_line() {
    let yaml = "tests:\n  - vars: {question: a}\n    asert: []\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("`asert`"), "{e}");
}

#[test]
fn a_yaml_bad_weight_and_bad_regex_name_their_lines() {
    let yaml = "tests:\n  - vars: {question: a}\n    assert:\n      - type: contains\n        value: x\n        weight: 0\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(6));
    let yaml =
        "tests:\n  - vars: {question: a}\n    assert:\n      - type: regex\n        value: '(x'\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("invalid regex"), "{e}");
}

#[test]
fn a_yaml_duplicate_id_names_the_line_of_the_second_test() {
    let yaml = "tests:\n  - id: a\n    vars: {question: x}\n  - id: a\n    vars: {question: y}\n";
    let e = err(parse_promptfoo_yaml(yaml));
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("duplicate id"), "{e}");
}

#[test]
fn yaml_keeps_scalars_as_written() {
    let yaml = "tests:\n  - vars: {question: 'Is it on?'}\n    assert:\n      - type: equals\n        value: no\n      - type: contains\n        value: 1.50\n";
    let set = ok(parse_promptfoo_yaml(yaml));
    assert_eq!(set.questions[0].assertions[0].values(), ["no"]);
    assert_eq!(set.questions[0].assertions[1].values(), ["1.50"]);
}

#[test]
fn yaml_contains_any_accepts_a_comma_separated_string() {
    let yaml = "tests:\n  - vars: {question: a}\n    assert:\n      - type: contains-any\n        value: 'cap, limit'\n";
    let set = ok(parse_promptfoo_yaml(yaml));
    assert_eq!(set.questions[0].assertions[0].values(), ["cap", "limit"]);
}

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let prev = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    yaml.push_str("tests: []\n");
    let e = err(parse_promptfoo_yaml(&yaml));
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn a_yaml_file_reference_for_tests_is_refused_clearly() {
    let e = err(parse_promptfoo_yaml("tests: file://tests.csv\n"));
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("inline list"), "{e}");
}
