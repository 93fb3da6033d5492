//! Text quality, per engine: every engine `PDF_TEXT_ENGINE=auto` may pick
//! (MuPDF, pdftotext, the built-in one) must find every word, keep page numbers
//! and the page count, read a two-column page column by column, expand
//! ligatures and keep a hyphenated word findable, on generated PDFs and on a
//! real one whose text was checked by hand (tests/data/README.md). An engine
//! that fails here must not be picked by `auto` (see README, "PDF extraction").

mod common;

use common::{engines, judge_bytes_with, text_pdf, unicode_pdf};
use quire_ingest::fixtures::{lines_pdf, two_column_pdf};
use quire_ingest::{EntryFlag, Limits, PdfExtractor};

fn pages_of(engine: &PdfExtractor, pdf: &[u8]) -> Vec<(u32, String)> {
    let outcome = judge_bytes_with(engine, pdf, "doc.pdf", &Limits::default());
    outcome.assert_accepted("doc.pdf");
    outcome
        .content("doc.pdf")
        .pages
        .iter()
        .map(|page| (page.number, page.text.clone()))
        .collect()
}

fn text_of(engine: &PdfExtractor, pdf: &[u8]) -> String {
    pages_of(engine, pdf)
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Words as an index sees them: runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_engine_finds_every_word_of_a_text_pdf() {
    let paragraph = "The supplier shall deliver 240 ergonomic office chairs to the \
        municipal archive before 31 March, invoiced in euros net of value added tax, \
        with a warranty of five years on frames, mechanisms and upholstery; penalties \
        for late delivery accrue at half a percent per working day.";
    let pdf = text_pdf(&[paragraph]);
    for engine in engines() {
        let found = words(&text_of(&engine, &pdf));
        for word in words(paragraph) {
            assert!(
                found.contains(&word),
                "[{}] {word:?} missing from {found:?}",
                engine.engine_name()
            );
        }
        assert_eq!(
            found,
            words(paragraph),
            "[{}] words out of order or extra",
            engine.engine_name()
        );
    }
}

#[test]
fn every_engine_keeps_page_numbers_and_the_page_count() {
    let pdf = text_pdf(&[
        "first page alpha",
        "second page bravo",
        "third page charlie",
    ]);
    for engine in engines() {
        let outcome = judge_bytes_with(&engine, &pdf, "doc.pdf", &Limits::default());
        let entry = outcome.assert_accepted("doc.pdf");
        assert_eq!(entry.page_count, Some(3), "[{}]", engine.engine_name());
        let pages: Vec<(u32, String)> = outcome
            .content("doc.pdf")
            .pages
            .iter()
            .map(|p| (p.number, p.text.clone()))
            .collect();
        assert_eq!(
            pages,
            vec![
                (1, "first page alpha".to_owned()),
                (2, "second page bravo".to_owned()),
                (3, "third page charlie".to_owned()),
            ],
            "[{}]",
            engine.engine_name()
        );
    }
}

#[test]
fn every_engine_reads_a_two_column_page_column_by_column() {
    let left = [
        "Left one: the tender opens",
        "Left two: on the first of May",
        "Left three: and closes at noon",
        "Left four: on the thirtieth.",
    ];
    let right = [
        "Right one: bids arrive sealed",
        "Right two: in one envelope per lot",
        "Right three: signed by an officer",
        "Right four: of the bidding firm.",
    ];
    let pdf = two_column_pdf(&left, &right);
    for engine in engines() {
        let text = text_of(&engine, &pdf);
        let mut at = 0;
        for line in left.iter().chain(right.iter()) {
            let Some(found) = text[at..].find(line) else {
                panic!(
                    "[{}] {line:?} missing or out of column order in {text:?}",
                    engine.engine_name()
                );
            };
            at += found + line.len();
        }
    }
}

#[test]
fn every_engine_expands_ligatures() {
    // The ToUnicode map says U+FB01/U+FB02, as TeX and InDesign output does.
    let pdf = unicode_pdf("ﬁnancial ﬂows of the oﬃce");
    for engine in engines() {
        let text = text_of(&engine, &pdf);
        assert!(
            text.contains("financial flows of the office"),
            "[{}] {text:?}",
            engine.engine_name()
        );
    }
}

#[test]
fn every_engine_keeps_a_hyphenated_word_findable() {
    let pdf = lines_pdf(&[
        "The contract covers the mainte-",
        "nance of all heating systems.",
    ]);
    for engine in engines() {
        let text = text_of(&engine, &pdf);
        // Engines either keep the hyphen at the line end or join the word; a
        // search index must find "maintenance" either way, and nothing else
        // may be lost.
        let joined = text.replace("-\n", "");
        assert!(
            joined.contains("The contract covers the maintenance of all heating systems."),
            "[{}] {text:?}",
            engine.engine_name()
        );
    }
}

/// The Shared MIME-info Database specification 0.21 (freedesktop.org, from
/// Debian's shared-mime-info 2.2-1, GPL-2+; see tests/data/README.md): 17
/// pages typeset by pdfTeX, text checked by hand against the rendered pages.
#[test]
fn every_engine_reads_a_real_pdf_as_checked_by_hand() {
    let pdf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/shared-mime-info-spec.pdf"
    ));
    let Ok(pdf) = pdf else {
        panic!("tests/data/shared-mime-info-spec.pdf is missing")
    };
    let expected: [(u32, &str); 5] = [
        (1, "Shared MIME-info Database"),
        (
            1,
            "This is version 0.21 of the Shared MIME-info Database specification, last updated 2 October 2018.",
        ),
        (
            1,
            "Many programs and desktops use the MIME system[MIME] to represent the types of files.",
        ),
        (17, "BaseDir XDG Base Directory Specification"),
        (17, "http://www.ietf.org/rfc/rfc2119.txt?number=2119"),
    ];
    for engine in engines() {
        let outcome = judge_bytes_with(&engine, &pdf, "spec.pdf", &Limits::default());
        let entry = outcome.assert_accepted("spec.pdf");
        assert_eq!(entry.page_count, Some(17), "[{}]", engine.engine_name());
        assert!(
            !entry.flags.contains(&EntryFlag::PagesFailed),
            "[{}] {entry:?}",
            engine.engine_name()
        );
        let pages = &outcome.content("spec.pdf").pages;
        assert_eq!(pages.len(), 17, "[{}]", engine.engine_name());
        for (number, sentence) in expected {
            let Some(page) = pages.iter().find(|p| p.number == number) else {
                panic!("[{}] no page {number}", engine.engine_name())
            };
            // Line breaks and spacing differ between engines; words do not.
            let flat = page.text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(sentence),
                "[{}] page {number} lacks {sentence:?}: {flat:?}",
                engine.engine_name()
            );
        }
        // Every page has text, and the whole document reads about the same
        // amount whichever engine reads it (the engines agree within 1 %).
        let chars: usize = pages
            .iter()
            .map(|p| p.text.chars().filter(|c| !c.is_whitespace()).count())
            .sum();
        assert!(
            pages.iter().all(|p| !p.text.trim().is_empty()),
            "[{}] an empty page",
            engine.engine_name()
        );
        assert!(
            (28_200..=28_800).contains(&chars),
            "[{}] {chars} non-space characters",
            engine.engine_name()
        );
    }
}

#[test]
fn mupdf_and_pdftotext_read_visual_order_right_to_left_text_in_reading_order() {
    // As real PDF writers store it: glyphs left to right on the page, so the
    // Arabic line comes reversed.
    let logical = "توريد كرسي مكتب";
    let visual: String = logical.chars().rev().collect();
    let pdf = unicode_pdf(&visual);
    for engine in engines() {
        // The built-in engine does no bidi reordering (README, "PDF
        // extraction"): `auto` prefers either of the others when installed.
        if matches!(engine, PdfExtractor::Child(_)) {
            continue;
        }
        let text = text_of(&engine, &pdf);
        assert!(
            text.contains(logical),
            "[{}] {text:?}",
            engine.engine_name()
        );
    }
}
