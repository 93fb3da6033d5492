use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use quire_evals::{EXPORT_COLUMNS, FragmentMatch, MatchHow, ResultRow, to_csv, to_xlsx};

const HYPERLINK: &str = r#"=HYPERLINK("http://x","y")"#;

fn row(question: &str, response: &str) -> ResultRow {
    ResultRow {
        question_id: "q1".into(),
        question: question.into(),
        response: response.into(),
        confidence: 2.0 / 3.0,
        success: false,
        fragments_found: vec![FragmentMatch {
            fragment: "Delaware".into(),
            how: MatchHow::Normalised,
            matched_text: "DELAWARE".into(),
            alternative: None,
        }],
        fragments_missing: vec!["arbitration".into(), "New York".into()],
        processing_time_ms: 1234,
        sources: vec!["contract.pdf".into()],
        error: None,
        cached: false,
    }
}

/// Parses our CSV back with a real CSV reader, as a spreadsheet would.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| match r {
            Ok(r) => r.iter().map(str::to_owned).collect(),
            Err(e) => panic!("our CSV does not parse: {e}"),
        })
        .collect()
}

fn read_xlsx(bytes: Vec<u8>) -> (calamine::Range<Data>, calamine::Range<String>) {
    let mut book: Xlsx<_> = match open_workbook_from_rs(Cursor::new(bytes)) {
        Ok(b) => b,
        Err(e) => panic!("our XLSX does not open: {e}"),
    };
    let values = match book.worksheet_range("Results") {
        Ok(r) => r,
        Err(e) => panic!("no Results sheet: {e}"),
    };
    let formulas = match book.worksheet_formula("Results") {
        Ok(r) => r,
        Err(e) => panic!("cannot read formulas: {e}"),
    };
    (values, formulas)
}

#[test]
fn a_csv_export_shows_a_hyperlink_formula_question_as_text() {
    let csv = to_csv(&[row(HYPERLINK, "ok")]);
    let rows = read_csv(&csv);
    assert_eq!(rows[1][1], format!("'{HYPERLINK}"));
}

#[test]
fn a_csv_export_neutralises_every_dangerous_leading_character() {
    for dangerous in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "＝1"] {
        let csv = to_csv(&[row("fine", dangerous)]);
        let rows = read_csv(&csv);
        assert_eq!(rows[1][2], format!("'{dangerous}"), "{dangerous:?}");
    }
    let csv = to_csv(&[row("What is 1+1?", "a = b")]);
    assert_eq!(read_csv(&csv)[1][1], "What is 1+1?");
}

#[test]
fn a_csv_export_has_the_documented_header_and_cells() {
    let mut r = row("Governing law?", "It is \"Delaware\",\nsee clause 14.");
    r.error = Some("backend timed out".into());
    let rows = read_csv(&to_csv(&[r]));
    assert_eq!(rows[0], EXPORT_COLUMNS);
    assert_eq!(rows[1][2], "It is \"Delaware\",\nsee clause 14.");
    assert_eq!(rows[1][3], "0.6667");
    assert_eq!(rows[1][4], "false");
    assert_eq!(rows[1][5], "Delaware (normalised)");
    assert_eq!(rows[1][6], "arbitration | New York");
    assert_eq!(rows[1][7], "1.234");
    assert_eq!(rows[1][8], "contract.pdf");
    assert_eq!(rows[1][9], "backend timed out");
}

#[test]
fn an_xlsx_export_stores_a_hyperlink_formula_question_as_a_string_not_a_formula() {
    let bytes = match to_xlsx(&[row(HYPERLINK, "=1+1")]) {
        Ok(b) => b,
        Err(e) => panic!("export failed: {e}"),
    };
    let (values, formulas) = read_xlsx(bytes);
    assert_eq!(
        values.get_value((1, 1)),
        Some(&Data::String(format!("'{HYPERLINK}")))
    );
    assert_eq!(
        values.get_value((1, 2)),
        Some(&Data::String("'=1+1".into()))
    );
    assert!(
        formulas.cells().all(|(_, _, f)| f.is_empty()),
        "the sheet holds a formula"
    );
}

#[test]
fn an_xlsx_export_keeps_numbers_and_booleans_typed() {
    let bytes = match to_xlsx(&[row("Q?", "A.")]) {
        Ok(b) => b,
        Err(e) => panic!("export failed: {e}"),
    };
    let (values, _) = read_xlsx(bytes);
    let header: Vec<String> = (0..EXPORT_COLUMNS.len() as u32)
        .map(|c| match values.get_value((0, c)) {
            Some(Data::String(s)) => s.clone(),
            other => panic!("header cell {c} is {other:?}"),
        })
        .collect();
    assert_eq!(header, EXPORT_COLUMNS);
    assert_eq!(values.get_value((1, 3)), Some(&Data::Float(2.0 / 3.0)));
    assert_eq!(values.get_value((1, 4)), Some(&Data::Bool(false)));
    assert_eq!(values.get_value((1, 7)), Some(&Data::Float(1.234)));
    assert_eq!(
        values.get_value((1, 6)),
        Some(&Data::String("arbitration | New York".into()))
    );
}

#[test]
fn an_xlsx_export_survives_control_characters_and_huge_answers() {
    let bytes = match to_xlsx(&[
        row("Q?", "bell \u{7} and _x0041_ literal"),
        row("Q2?", &"long ".repeat(10_000)),
    ]) {
        Ok(b) => b,
        Err(e) => panic!("export failed: {e}"),
    };
    let (values, _) = read_xlsx(bytes);
    match values.get_value((1, 2)) {
        Some(Data::String(s)) => assert!(s.contains("_x0041_ literal"), "{s:?}"),
        other => panic!("unexpected cell {other:?}"),
    }
    match values.get_value((2, 2)) {
        Some(Data::String(s)) => assert!(s.ends_with("[truncated]")),
        other => panic!("unexpected cell {other:?}"),
    }
}

#[test]
fn an_empty_export_is_just_the_header() {
    assert_eq!(to_csv(&[]), format!("{}\r\n", EXPORT_COLUMNS.join(",")));
    assert!(to_xlsx(&[]).is_ok());
}
