//! The sample of `examples/procurement/`: the committed files are what the generator
//! makes, the bundle holds the documents the questions are about, and the YAML and JSON
//! sets are the same set.

use std::io::Read;

#[allow(dead_code)]
#[path = "../../examples/generate_sample.rs"]
mod generate_sample;

use generate_sample::{sample_dir, sample_files};

#[test]
fn the_committed_sample_files_are_what_the_generator_makes() {
    let files = sample_files().expect("sample files");
    for (name, bytes) in files {
        let path = sample_dir().join(name);
        let committed =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()));
        assert!(
            committed == bytes,
            "{} differs from what examples/generate_sample.rs makes: run \
             `cargo run --example generate_sample` and commit the result",
            path.display()
        );
    }
}

#[test]
fn the_sample_bundle_holds_the_contract_the_price_list_and_the_tender() {
    let bytes = std::fs::read(sample_dir().join("bundle.zip")).expect("bundle.zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("entry name").into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contracts/services-agreement.pdf",
            "prices/price-list.csv",
            "tender/tender.json"
        ]
    );
    let mut pdf = Vec::new();
    archive
        .by_name("contracts/services-agreement.pdf")
        .expect("contract")
        .read_to_end(&mut pdf)
        .expect("read contract");
    let outcome = quire_ingest::extract_pdf_in_process(&pdf, &quire_ingest::Limits::default())
        .expect("the contract's text extracts");
    let quire_ingest::PdfOutcome::Text(outcome) = outcome else {
        panic!("the contract is a readable PDF: {outcome:?}");
    };
    let text: String = outcome
        .pages
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(outcome.pages.len() >= 3, "a multi-page contract");
    for clause in [
        "24 months from 1 May 2026",
        "This Agreement shall be governed by the laws of England and Wales.",
        "net 30 days",
        "1,500,000 GBP",
        "90 days' written notice",
    ] {
        assert!(
            text.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(clause),
            "the contract says {clause:?}; its text is {text:?}"
        );
    }
}

#[test]
fn the_yaml_and_json_sample_sets_are_the_same_set() {
    let dir = sample_dir();
    let yaml = std::fs::read_to_string(dir.join("questions.yaml")).expect("questions.yaml");
    let json = std::fs::read_to_string(dir.join("questions.json")).expect("questions.json");
    let from_yaml = quire_evals::parse_promptfoo_yaml(&yaml).expect("the YAML set parses");
    let from_json = quire_evals::parse_json(&json).expect("the JSON set parses");
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_yaml.questions.len(), 7);
    assert!(
        from_yaml
            .questions
            .iter()
            .all(|q| !q.expected_fragments.is_empty() && !q.assertions.is_empty()),
        "every question has expected fragments and an assertion"
    );
}
