//! Real-looking procurement files: typed by content, text extracted.

mod common;

use std::ops::ControlFlow;

use common::{
    engines, judge_bytes, judge_bytes_with, judge_zip, judge_zip_with, scanned_pdf, small_limits,
    text_pdf, unicode_pdf, zip_of,
};
use quire_ingest::{DocType, EntryFlag, Limits, PdfExtractor, RejectReason, Verdict, judge_upload};

fn windows_1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

#[test]
fn two_page_tender_pdf_is_accepted_with_text_per_numbered_page() {
    for engine in engines() {
        let pdf = text_pdf(&[
            "Invitation to tender: office chairs",
            "Lot 2: standing desks, 40 units",
        ]);
        let outcome = judge_zip_with(&engine, &zip_of(&[("tender/notice.pdf", &pdf)]));
        let entry = outcome.assert_accepted("tender/notice.pdf");
        assert_eq!(entry.doc_type, Some(DocType::Pdf));
        assert_eq!(entry.page_count, Some(2));
        assert!(entry.flags.is_empty(), "{entry:#?}");
        let pages = &outcome.content("tender/notice.pdf").pages;
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].number, 1);
        assert_eq!(pages[1].number, 2);
        assert!(pages[0].text.contains("office chairs"), "{pages:#?}");
        assert!(pages[1].text.contains("standing desks"), "{pages:#?}");
        assert_eq!(outcome.content("tender/notice.pdf").bytes, pdf);
    }
}

#[test]
fn scanned_pdf_without_a_text_layer_is_accepted_and_flagged_no_text() {
    for engine in engines() {
        let outcome = judge_zip_with(&engine, &zip_of(&[("scan.pdf", &scanned_pdf())]));
        let entry = outcome.assert_accepted("scan.pdf");
        assert_eq!(entry.flags, vec![EntryFlag::NoText]);
        assert_eq!(entry.page_count, Some(1));
    }
}

#[test]
fn pdf_with_junk_before_its_header_is_still_a_pdf() {
    for engine in engines() {
        let mut pdf = b"Content-Type: application/pdf\r\n\r\n".to_vec();
        pdf.extend_from_slice(&text_pdf(&["Delivery schedule"]));
        let outcome = judge_zip_with(&engine, &zip_of(&[("schedule.pdf", &pdf)]));
        outcome.assert_accepted("schedule.pdf");
    }
}

#[test]
fn file_named_pdf_that_is_not_a_pdf_is_rejected_as_type_mismatch() {
    let outcome = judge_zip(&zip_of(&[
        ("invoice.pdf", b"item,price\nChair,120\n"),
        ("photo.pdf", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        ("prices.csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        ("data.json", &text_pdf(&["x"])),
    ]));
    outcome.assert_rejected("invoice.pdf", RejectReason::TypeMismatch);
    outcome.assert_rejected("photo.pdf", RejectReason::TypeMismatch);
    outcome.assert_rejected("prices.csv", RejectReason::TypeMismatch);
    outcome.assert_rejected("data.json", RejectReason::TypeMismatch);
    let message = outcome
        .entry("photo.pdf")
        .message
        .clone()
        .unwrap_or_default();
    assert!(message.contains("PNG"), "{message}");
}

#[test]
fn cyrillic_cjk_and_arabic_text_survives_pdf_extraction() {
    let arabic = "توريد كراسي";
    for engine in engines() {
        // Real PDF writers store right-to-left text in visual order, which
        // Poppler and (in this crate, line by line) the MuPDF engine turn back
        // into reading order; the built-in engine does no bidi reordering and
        // reads the content stream's order as it is.
        let stored = match engine {
            PdfExtractor::Pdftotext(_) | PdfExtractor::Mupdf(_) => arabic.chars().rev().collect(),
            _ => arabic.to_owned(),
        };
        let text = format!("Поставка стульев 办公椅采购 {stored}");
        let outcome = judge_zip_with(
            &engine,
            &zip_of(&[("multilingual.pdf", &unicode_pdf(&text))]),
        );
        outcome.assert_accepted("multilingual.pdf");
        let extracted = outcome.text("multilingual.pdf");
        for word in ["Поставка", "стульев", "办公椅采购", arabic] {
            assert!(
                extracted.contains(word),
                "[{}] {word} missing from {extracted:?}",
                engine.engine_name()
            );
        }
    }
}

#[test]
fn utf16_csv_with_a_bom_is_decoded_and_written_as_rows() {
    let csv = utf16le_with_bom("Позиция,Цена\r\nСтул офисный,120.00\r\n办公桌,340.50\r\n");
    let outcome = judge_zip(&zip_of(&[("prices.csv", &csv)]));
    let entry = outcome.assert_accepted("prices.csv");
    assert_eq!(entry.encoding.as_deref(), Some("UTF-16LE"));
    let text = outcome.text("prices.csv");
    assert!(
        text.contains("Row 2: Позиция=Стул офисный; Цена=120.00"),
        "{text}"
    );
    assert!(
        text.contains("Row 3: Позиция=办公桌; Цена=340.50"),
        "{text}"
    );
}

#[test]
fn windows_1252_csv_is_detected_and_decoded() {
    let csv = windows_1252(
        "Artikel;Beschreibung;Preis\n\
         Bürostuhl;Drehstuhl mit Armlehnen, grün;120,00 €\n\
         Schreibtisch;Höhenverstellbar, groß;340,50 €\n\
         Aktenschrank;Stahl, abschließbar;210,00 €\n\
         Garderobe;Ständer für Mäntel;45,90 €\n",
    );
    let outcome = judge_zip(&zip_of(&[("angebot.csv", &csv)]));
    let entry = outcome.assert_accepted("angebot.csv");
    assert_eq!(entry.encoding.as_deref(), Some("windows-1252"));
    let text = outcome.text("angebot.csv");
    assert!(
        text.contains(
            "Row 2: Artikel=Bürostuhl; Beschreibung=Drehstuhl mit Armlehnen, grün; Preis=120,00 €"
        ),
        "{text}"
    );
}

#[test]
fn windows_1251_cyrillic_csv_is_detected_and_decoded() {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(
        "Наименование;Количество;Цена\n\
         Стул офисный с подлокотниками;12;4500,00\n\
         Стол письменный угловой;4;12800,00\n\
         Шкаф для документов металлический;2;9900,00\n\
         Вешалка напольная для одежды;3;2100,00\n",
    );
    assert!(!unmappable);
    let outcome = judge_zip(&zip_of(&[("smeta.csv", &bytes)]));
    let entry = outcome.assert_accepted("smeta.csv");
    assert_eq!(entry.encoding.as_deref(), Some("windows-1251"));
    assert!(
        outcome
            .text("smeta.csv")
            .contains("Наименование=Стул офисный с подлокотниками")
    );
}

#[test]
fn csv_with_ragged_rows_is_rejected_as_inconsistent_columns() {
    let outcome = judge_zip(&zip_of(&[("prices.csv", b"item,price\nChair,120\nDesk\n")]));
    outcome.assert_rejected("prices.csv", RejectReason::InconsistentCsvColumns);
    let message = outcome
        .entry("prices.csv")
        .message
        .clone()
        .unwrap_or_default();
    assert!(message.contains("row 3"), "{message}");
}

#[test]
fn csv_holding_binary_data_is_rejected_as_not_text() {
    let outcome = judge_zip(&zip_of(&[("prices.csv", b"a,b\n\x00\x01\x02,\x03\n")]));
    outcome.assert_rejected("prices.csv", RejectReason::NotText);
}

#[test]
fn nested_json_becomes_readable_key_paths() {
    let json = r#"{
        "tender": {
            "id": "T-2024-117",
            "lots": [
                {"title": "Office chairs", "quantity": 40, "budget": 4800.5},
                {"title": "Standing desks", "quantity": 12, "budget": null}
            ],
            "buyer": {"name": "Городская больница №3", "country": "中国"},
            "open": true
        }
    }"#;
    let outcome = judge_zip(&zip_of(&[("tender.json", json.as_bytes())]));
    let entry = outcome.assert_accepted("tender.json");
    assert_eq!(entry.doc_type, Some(DocType::Json));
    assert_eq!(entry.page_count, Some(1));
    let text = outcome.text("tender.json");
    for line in [
        "tender.id: T-2024-117",
        "tender.lots[0].title: Office chairs",
        "tender.lots[0].quantity: 40",
        "tender.lots[0].budget: 4800.5",
        "tender.lots[1].budget: null",
        "tender.buyer.name: Городская больница №3",
        "tender.buyer.country: 中国",
        "tender.open: true",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }
    let first = text.find("tender.id").unwrap_or(usize::MAX);
    let later = text.find("tender.open").unwrap_or(0);
    assert!(first < later, "document order lost:\n{text}");
}

#[test]
fn broken_json_is_rejected_as_invalid_json_with_its_position() {
    let outcome = judge_zip(&zip_of(&[("tender.json", b"{\"a\": [1, 2,, 3]}")]));
    outcome.assert_rejected("tender.json", RejectReason::InvalidJson);
    let message = outcome
        .entry("tender.json")
        .message
        .clone()
        .unwrap_or_default();
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn json_nested_beyond_the_depth_limit_is_rejected_as_too_deep() {
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let outcome = judge_zip(&zip_of(&[("deep.json", deep.as_bytes())]));
    outcome.assert_rejected("deep.json", RejectReason::JsonTooDeep);
}

#[test]
fn json_over_the_json_size_limit_is_rejected_as_too_large() {
    let limits = Limits {
        json_max_bytes: 1024,
        ..small_limits()
    };
    let big = format!("[{}]", vec!["\"line item\""; 200].join(","));
    let outcome = judge_bytes(&zip_of(&[("big.json", big.as_bytes())]), "b.zip", &limits);
    outcome.assert_rejected("big.json", RejectReason::JsonTooLarge);
}

#[test]
fn files_without_an_extension_are_typed_by_content() {
    for engine in engines() {
        let outcome = judge_zip_with(
            &engine,
            &zip_of(&[
                ("NOTICE", &text_pdf(&["Notice of award"])),
                ("manifest", b"{\"files\": 2}"),
                ("README", b"just some text"),
            ]),
        );
        assert_eq!(
            outcome.assert_accepted("NOTICE").doc_type,
            Some(DocType::Pdf)
        );
        assert_eq!(
            outcome.assert_accepted("manifest").doc_type,
            Some(DocType::Json)
        );
        outcome.assert_rejected("README", RejectReason::UnknownType);
    }
}

#[test]
fn counts_are_given_by_type_and_by_verdict() {
    for engine in engines() {
        let outcome = judge_zip_with(
            &engine,
            &zip_of(&[
                ("a.pdf", &text_pdf(&["A"])),
                ("b.csv", b"x,y\n1,2\n"),
                ("c.csv", b"x,y\n3,4\n"),
                ("d.json", b"{}"),
                ("e.exe", b"MZ"),
                ("../f.csv", b"x\n"),
            ]),
        );
        let counts = &outcome.report.counts;
        assert_eq!(counts.accepted, 4);
        assert_eq!(counts.rejected, 2);
        assert_eq!(
            (counts.by_type.pdf, counts.by_type.csv, counts.by_type.json),
            (1, 2, 1)
        );
        assert_eq!(counts.by_reason.get(&RejectReason::UnknownType), Some(&1));
        assert_eq!(counts.by_reason.get(&RejectReason::PathTraversal), Some(&1));
    }
}

#[test]
fn report_serialises_with_stable_snake_case_codes() {
    for engine in engines() {
        let outcome = judge_zip_with(
            &engine,
            &zip_of(&[("../x.csv", b"a\n"), ("scan.pdf", &scanned_pdf())]),
        );
        let json = match serde_json::to_value(&outcome.report) {
            Ok(json) => json,
            Err(e) => panic!("report does not serialise: {e}"),
        };
        assert_eq!(json["entries"][0]["reason"], "path_traversal");
        assert_eq!(json["entries"][0]["verdict"], "rejected");
        assert_eq!(json["entries"][1]["verdict"], "accepted");
        assert_eq!(json["entries"][1]["doc_type"], "pdf");
        assert_eq!(json["entries"][1]["flags"][0], "no_text");
        assert_eq!(json["counts"]["by_reason"]["path_traversal"], 1);
        for reason in RejectReason::ALL {
            let code = serde_json::to_value(reason).unwrap_or_default();
            assert_eq!(code, reason.code());
            assert!(!reason.summary().is_empty());
        }
    }
}

#[test]
fn single_pdf_upload_is_judged_as_a_one_entry_bundle() {
    for engine in engines() {
        let pdf = text_pdf(&["Framework agreement"]);
        let outcome = judge_bytes_with(
            &engine,
            &pdf,
            "C:\\Users\\ana\\Agreement.PDF",
            &small_limits(),
        );
        assert_eq!(outcome.report.entries.len(), 1);
        let entry = outcome.assert_accepted("Agreement.PDF");
        assert_eq!(entry.original_name, "C:\\Users\\ana\\Agreement.PDF");
        assert!(
            outcome
                .text("Agreement.PDF")
                .contains("Framework agreement")
        );
    }
}

#[test]
fn single_csv_and_json_uploads_are_accepted() {
    let csv = judge_bytes(b"item,price\nChair,120.00\n", "prices.csv", &small_limits());
    assert!(
        csv.text("prices.csv")
            .contains("Row 2: item=Chair; price=120.00")
    );
    let json = judge_bytes(b"{\"a\":{\"b\":[\"c\"]}}", "x.json", &small_limits());
    assert_eq!(json.text("x.json"), "a.b[0]: c\n");
}

#[test]
fn single_upload_of_an_unaccepted_type_is_rejected() {
    let outcome = judge_bytes(b"hello", "notes.txt", &small_limits());
    outcome.assert_rejected("notes.txt", RejectReason::UnknownType);
    let fake_zip = judge_bytes(b"not an archive", "bundle.zip", &small_limits());
    fake_zip.assert_rejected("bundle.zip", RejectReason::TypeMismatch);
}

#[test]
fn single_upload_over_the_file_limit_is_rejected_without_reading_it() {
    let limits = Limits {
        max_file_bytes: 10,
        ..small_limits()
    };
    let outcome = judge_bytes(b"item,price\nChair,120.00\n", "prices.csv", &limits);
    outcome.assert_rejected("prices.csv", RejectReason::FileTooLarge);
}

#[test]
fn pdf_encrypted_with_an_empty_user_password_is_opened() {
    for engine in engines() {
        let pdf = common::encrypted_pdf(&text_pdf(&["Confidential price list"]), "");
        let outcome = judge_zip_with(&engine, &zip_of(&[("prices.pdf", &pdf)]));
        outcome.assert_accepted("prices.pdf");
        assert!(
            outcome
                .text("prices.pdf")
                .contains("Confidential price list")
        );
    }
}

#[test]
fn in_process_extraction_gives_the_same_text_as_the_child() {
    let pdf = text_pdf(&["Page one", "Page two"]);
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("upload");
    assert!(std::fs::write(&path, &pdf).is_ok());
    let mut pages = Vec::new();
    let result = judge_upload(
        &path,
        "doc.pdf",
        &small_limits(),
        &PdfExtractor::InProcess,
        |judged| {
            if let Some(content) = judged.content {
                pages = content.pages;
            }
            Ok(ControlFlow::Continue(()))
        },
    );
    let Ok(report) = result else {
        panic!("judging failed")
    };
    assert_eq!(report.entries[0].verdict, Verdict::Accepted);
    let child = judge_bytes(&pdf, "doc.pdf", &small_limits());
    assert_eq!(pages, child.content("doc.pdf").pages);
}

#[test]
fn pages_past_the_page_limit_are_counted_but_not_read() {
    let pdf = text_pdf(&["Page one", "Page two", "Page three"]);
    let limits = Limits {
        pdf_max_pages: 2,
        ..small_limits()
    };
    for engine in engines() {
        let outcome = judge_bytes_with(&engine, &pdf, "long.pdf", &limits);
        let entry = outcome.assert_accepted("long.pdf");
        assert_eq!(entry.page_count, Some(3), "{entry:#?}");
        assert_eq!(entry.flags, vec![EntryFlag::PagesTruncated], "{entry:#?}");
        let pages = &outcome.content("long.pdf").pages;
        assert_eq!(pages.len(), 2, "{pages:#?}");
        assert!(pages[1].text.contains("Page two"), "{pages:#?}");
    }
}
