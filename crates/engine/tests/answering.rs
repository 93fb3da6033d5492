mod common;

use common::{
    CHINESE_GOVERNING_LAW, NDA, RUSSIAN_GOVERNING_LAW, SERVICES, SERVICES_GOVERNING_LAW, SUPPLY,
    all_documents, chars_at, contracts, indexed,
};
use quire_engine::{Answer, AnswerKind, answer_extractive};

fn ask(documents: &[common::Document], question: &str, only: Option<&[&str]>) -> Answer {
    let index = indexed(documents);
    let passages = index.search(question, 5, None, only).unwrap();
    answer_extractive(question, &passages)
}

/// Every source's snippet must be the page text at the source's offsets.
fn assert_sources_point_into_their_pages(documents: &[common::Document], answer: &Answer) {
    assert!(!answer.sources.is_empty());
    for source in &answer.sources {
        let document = documents
            .iter()
            .find(|d| d.id == source.document_id)
            .unwrap();
        let page = document.page(source.page);
        assert_eq!(chars_at(page, source.start, source.end), source.snippet);
        assert!(answer.text.contains(&source.snippet));
    }
}

#[test]
fn the_governing_law_of_the_services_agreement_is_answered_from_its_page() {
    let documents = contracts();
    let answer = ask(&documents, "What is the governing law?", Some(&[SERVICES]));

    assert_eq!(answer.kind, AnswerKind::Extractive);
    assert_eq!(answer.text, SERVICES_GOVERNING_LAW);
    assert_eq!(answer.sources[0].document_id, SERVICES);
    assert_eq!(answer.sources[0].page, 4);
    assert_eq!(answer.sources[0].snippet, SERVICES_GOVERNING_LAW);
    assert_sources_point_into_their_pages(&documents, &answer);
}

#[test]
fn the_governing_law_across_all_contracts_quotes_a_governing_law_clause_at_its_true_page() {
    let documents = all_documents();
    let answer = ask(&documents, "What is the governing law?", None);

    let expected = [(SERVICES, 4), (NDA, 2), (SUPPLY, 6)];
    let first = &answer.sources[0];
    assert!(
        expected.contains(&(first.document_id.as_str(), first.page)),
        "answered from {} page {}: {}",
        first.document_id,
        first.page,
        answer.text
    );
    assert!(answer.text.contains("governed by"), "{}", answer.text);
    assert_sources_point_into_their_pages(&documents, &answer);
}

#[test]
fn each_contract_clause_is_answered_from_the_right_document_and_page() {
    let documents = contracts();
    let cases: &[(&str, &str, &str, u32)] = &[
        (
            "What is the governing law?",
            NDA,
            "laws of the State of New York",
            2,
        ),
        (
            "Which law governs the contract?",
            SUPPLY,
            "Federal Republic of Germany",
            6,
        ),
        (
            "When must invoices be paid?",
            SERVICES,
            "within thirty (30) days of the invoice date",
            3,
        ),
        (
            "When does the buyer have to pay?",
            SUPPLY,
            "within sixty (60) days",
            3,
        ),
        (
            "What is the liability cap?",
            SUPPLY,
            "capped at EUR 2,000,000",
            4,
        ),
        (
            "Is liability limited?",
            SERVICES,
            "shall not exceed the fees paid",
            5,
        ),
        (
            "How can the agreement be terminated?",
            SERVICES,
            "ninety (90) days' written notice",
            6,
        ),
        (
            "How long is the term of the contract?",
            SUPPLY,
            "fixed term of five (5) years",
            2,
        ),
        (
            "How long do the confidentiality obligations last?",
            NDA,
            "three (3) years",
            1,
        ),
    ];
    for &(question, document, fragment, page) in cases {
        let answer = ask(&documents, question, Some(&[document]));
        assert!(
            answer.text.contains(fragment),
            "{question} → {:?}",
            answer.text
        );
        let source = answer
            .sources
            .iter()
            .find(|s| s.snippet.contains(fragment))
            .unwrap();
        assert_eq!(
            (source.document_id.as_str(), source.page),
            (document, page),
            "{question}"
        );
        assert_sources_point_into_their_pages(&documents, &answer);
    }
}

#[test]
fn a_russian_question_is_answered_from_the_russian_contract() {
    let documents = all_documents();
    let answer = ask(
        &documents,
        "Каким законодательством регулируется договор?",
        None,
    );
    assert_eq!(answer.text, RUSSIAN_GOVERNING_LAW);
    assert_eq!(answer.sources[0].page, 2);
    assert_sources_point_into_their_pages(&documents, &answer);
}

#[test]
fn a_chinese_question_is_answered_from_the_chinese_contract() {
    let documents = all_documents();
    let answer = ask(&documents, "本合同适用什么法律？", None);
    assert_eq!(answer.sources[0].document_id, "hetong-2024");
    assert!(
        answer.text.contains(CHINESE_GOVERNING_LAW),
        "{}",
        answer.text
    );
    assert_sources_point_into_their_pages(&documents, &answer);
}

#[test]
fn a_question_nothing_matches_gets_an_empty_answer() {
    let answer = ask(&contracts(), "photosynthesis chlorophyll", None);
    assert!(answer.is_empty());
    assert!(answer.sources.is_empty());
}
