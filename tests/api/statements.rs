//! Financial statements over HTTP: synchronous detection, extraction of a rendered
//! 10-K-style PDF (the corpus's `ten_k.pdf`) by upload and by library document, the
//! statements with their checks as JSON and CSV, a scan read by OCR (and its
//! `needs_ocr` verdict with OCR off),
//! hostile PDFs ending as failed extractions, filters, deletion, refused input.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestOrg, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    detection_types_a_page_with_or_without_a_title,
    an_uploaded_10k_gives_its_statements_with_periods_scale_and_passing_checks,
    a_library_pdf_can_be_extracted_by_document_id,
    an_image_only_statement_page_gives_its_line_items_by_ocr,
    hostile_pdfs_end_as_failed_extractions_and_the_server_stays_healthy,
    statements_are_filtered_and_deleted,
    a_corrected_line_item_keeps_who_and_when_and_the_checks_run_again,
    extraction_refuses_what_is_not_a_pdf_or_not_valid,
);

on_both_databases!(
    flags = ["--statements-ocr=off"];
    an_image_only_statement_page_needs_ocr_when_ocr_is_off,
);

pub fn ten_k_pdf() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/statements/tests/corpus/pdf/ten_k.pdf"),
    )
    .expect("the rendered corpus PDF")
}

pub fn pdftotext_installed() -> bool {
    quire_ingest::PopplerTools::find_on_path().is_some()
}

/// `POST /api/v1/extraction/extract` with a PDF; returns the answer.
pub async fn extract_upload(app: &TestApp, key: &str, name: &str, bytes: Vec<u8>) -> Value {
    let form = Form::new()
        .text("company_name", "Acme Robotics")
        .text("fiscal_year", "2023")
        .part("file", Part::bytes(bytes).file_name(name.to_owned()));
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{name}: {body}");
    body
}

/// Runs the queue dry and reads the extraction.
pub async fn finished_extraction(app: &TestApp, key: &str, id: &str) -> Value {
    app.run_pending_jobs().await;
    app.get_json(&format!("/api/v1/extractions/{id}"), key)
        .await
}

async fn detection_types_a_page_with_or_without_a_title(app: TestApp) {
    let org = app.create_org("Detect").await;
    let titled = "ACME\nConsolidated Balance Shee t\n(In millions)\n\
                  Cash   $ 10   $ 8\nTotal current assets   20   18\nTotal assets   40   36\n";
    let untitled = "Net income   100   90\nDepreciation and amortization   10   9\n\
                    Net cash provided by operating activities   110   99\n\
                    Purchases of property and equipment   (20)   (15)\n\
                    Net cash used in investing activities   (20)   (15)\n";
    for (text, kind) in [(titled, "balance_sheet"), (untitled, "cash_flow")] {
        let response = app
            .authed(Method::POST, "/api/v1/detection/detect", &org.admin_key)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["statement_type"], kind, "{body}");
        assert!(body["confidence"].as_f64().unwrap() > 0.5);
        assert!(body["scores"][kind].as_f64().unwrap() > 0.5);
        assert!(!body["evidence"].as_array().unwrap().is_empty());
    }
    let response = app
        .authed(Method::POST, "/api/v1/detection/detect", &org.admin_key)
        .json(&json!({ "text": "  " }))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "text");
    let response = app
        .authed(Method::POST, "/api/v1/detection/detect", &org.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 400, "bad_request").await;
}

async fn an_uploaded_10k_gives_its_statements_with_periods_scale_and_passing_checks(app: TestApp) {
    if !pdftotext_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs poppler-utils"
        );
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed");
        return;
    }
    let org = app.create_org("Extract").await;
    let key = &org.admin_key;
    let accepted = extract_upload(&app, key, "acme-10k.pdf", ten_k_pdf()).await;
    let id = accepted["extraction_id"].as_str().unwrap();
    assert_eq!(
        accepted["links"]["extraction"],
        format!("/api/v1/extractions/{id}")
    );
    let extraction = finished_extraction(&app, key, id).await;
    assert_eq!(extraction["status"], "succeeded", "{extraction}");
    assert_eq!(extraction["company_name"], "Acme Robotics");
    assert_eq!(extraction["fiscal_year"], 2023);
    let pages: Vec<&str> = extraction["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["statement_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        pages,
        [
            "other",
            "other",
            "income_statement",
            "comprehensive_income",
            "balance_sheet",
            "cash_flow",
            "cash_flow",
            "equity",
            "other"
        ]
    );
    let ids = extraction["statement_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 5);
    let list: Value = app
        .get_json(&format!("/api/v1/statements?extraction_id={id}"), key)
        .await;
    assert_eq!(list["total"], 5);
    for summary in list["items"].as_array().unwrap() {
        assert!(summary.get("line_items").is_none(), "lists are summaries");
        let statement: Value = app
            .get_json(
                &format!("/api/v1/statements/{}", summary["id"].as_str().unwrap()),
                key,
            )
            .await;
        assert_eq!(statement["scale"], 1_000_000);
        assert_eq!(statement["currency"], "USD");
        assert_eq!(statement["checks_failed"], 0, "{}", statement["checks"]);
        assert!(!statement["line_items"].as_array().unwrap().is_empty());
        match statement["statement_type"].as_str().unwrap() {
            "income_statement" => {
                let ends: Vec<&str> = statement["periods"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["end_date"].as_str().unwrap())
                    .collect();
                assert_eq!(ends, ["2023-12-31", "2022-12-31", "2021-12-31"]);
                let items = statement["line_items"].as_array().unwrap();
                let interest = items
                    .iter()
                    .find(|i| i["label"] == "Interest expense")
                    .unwrap();
                assert_eq!(interest["values"], json!([-512.0, -498.0, -455.0]));
                let basic = items
                    .iter()
                    .find(|i| i["canonical"] == "EarningsPerShareBasic")
                    .unwrap();
                assert_eq!(basic["kind"], "per_share");
                assert!(!statement["checks"].as_array().unwrap().is_empty());
            }
            "cash_flow" => assert_eq!(statement["pages"], json!([6, 7])),
            "balance_sheet" => assert_eq!(statement["periods"][0]["months"], Value::Null),
            _ => {}
        }
    }
    let csv_id = ids[0].as_str().unwrap();
    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/statements/{csv_id}?format=csv"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with("label,level,is_total,kind,canonical,page,"));
    assert!(csv.contains("Total revenues,"), "{csv}");
}

async fn a_library_pdf_can_be_extracted_by_document_id(app: TestApp) {
    if !pdftotext_installed() {
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed");
        return;
    }
    let org = app.create_org("Library").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "filings").await;
    let upload = crate::documents::upload(&app, key, &ws, "acme-10k.pdf", ten_k_pdf()).await;
    assert_eq!(upload.status(), 202);
    let job: Value = upload.json().await.unwrap();
    crate::documents::finished_upload(&app, key, job["job_id"].as_str().unwrap()).await;
    let documents: Value = app.get_json("/api/v1/documents", key).await;
    let document = documents["items"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .json(&json!({ "document_id": document, "pages": [3, 5] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let extraction =
        finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
    assert_eq!(extraction["status"], "succeeded", "{extraction}");
    assert_eq!(extraction["document_id"], document.as_str());
    assert_eq!(
        extraction["statement_types"],
        json!(["income_statement", "balance_sheet"])
    );
    let pages: Vec<u64> = extraction["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["page"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [3, 5]);
    // Deleting the extraction leaves the library's document alone.
    let deleted = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/extractions/{}", extraction["id"].as_str().unwrap()),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let download = app
        .authed(
            Method::GET,
            &format!("/api/v1/documents/{document}/download"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
}

fn corpus_file(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/statements/tests/corpus")
            .join(path),
    )
    .expect("a corpus file")
}

/// Page 1 of the corpus's `quarterly.pdf` as a scan with no text layer, and its truth.
fn statement_scan() -> (Vec<u8>, Value) {
    let truth = corpus_file("scanned/quarterly_income_scan.json");
    (
        corpus_file("scanned/quarterly_income_scan.pdf"),
        serde_json::from_slice(&truth).expect("the scan's truth"),
    )
}

/// Tesseract (with English) and pdftoppm, as `STATEMENTS_OCR=auto` looks for them.
pub fn ocr_installed() -> bool {
    quire_ingest::OcrTools::find_on_path().is_some()
        && std::process::Command::new("tesseract")
            .arg("--list-langs")
            .output()
            .is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l == "eng")
            })
}

async fn an_image_only_statement_page_needs_ocr_when_ocr_is_off(app: TestApp) {
    let org = app.create_org("Scans").await;
    let key = &org.admin_key;
    for (name, pdf) in [
        ("statement-scan.pdf", statement_scan().0),
        ("tiny-scan.pdf", quire_ingest::fixtures::scanned_pdf()),
    ] {
        let accepted = extract_upload(&app, key, name, pdf).await;
        let extraction =
            finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
        assert_eq!(extraction["status"], "succeeded", "{name}: {extraction}");
        assert_eq!(
            extraction["pages"],
            json!([{"page": 1, "statement_type": "other", "confidence": 0.0, "needs_ocr": true, "ocr": false}]),
            "{name}"
        );
        assert_eq!(extraction["statement_ids"], json!([]), "{name}");
    }
}

fn same_label(a: &str, b: &str) -> bool {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    squash(a) == squash(b)
}

async fn an_image_only_statement_page_gives_its_line_items_by_ocr(app: TestApp) {
    if !ocr_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs tesseract-ocr, tesseract-ocr-eng and poppler-utils"
        );
        eprintln!(
            "SKIPPED: OCR needs tesseract (tesseract-ocr, tesseract-ocr-eng) and pdftoppm (poppler-utils)"
        );
        return;
    }
    let org = app.create_org("Scans").await;
    let key = &org.admin_key;
    let (pdf, truth) = statement_scan();
    let accepted = extract_upload(&app, key, "statement-scan.pdf", pdf).await;
    let extraction =
        finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
    assert_eq!(extraction["status"], "succeeded", "{extraction}");
    let page = &extraction["pages"][0];
    assert_eq!(page["needs_ocr"], false, "{extraction}");
    assert_eq!(page["ocr"], true, "{extraction}");
    assert_eq!(page["statement_type"], "income_statement", "{extraction}");
    let ids = extraction["statement_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{extraction}");
    let statement: Value = app
        .get_json(
            &format!("/api/v1/statements/{}", ids[0].as_str().unwrap()),
            key,
        )
        .await;
    let expected = &truth["statements"][0];
    assert_eq!(statement["statement_type"], expected["statement_type"]);
    assert_eq!(statement["scale"], expected["scale"], "{statement}");
    assert_eq!(statement["currency"], expected["currency"], "{statement}");
    assert_eq!(statement["pages"], expected["pages"], "{statement}");
    let periods: Vec<(Value, Value)> = statement["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["end_date"].clone(), p["months"].clone()))
        .collect();
    let truth_periods: Vec<(Value, Value)> = expected["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["end_date"].clone(), p["months"].clone()))
        .collect();
    assert_eq!(periods, truth_periods, "{statement}");
    let items = statement["line_items"].as_array().unwrap();
    let truth_items = expected["items"].as_array().unwrap();
    assert!(truth_items.len() >= 10);
    for want in truth_items {
        let label = want["label"].as_str().unwrap();
        let found = items
            .iter()
            .find(|i| same_label(i["label"].as_str().unwrap_or(""), label))
            .unwrap_or_else(|| panic!("{label} not found by OCR: {statement}"));
        let values: Vec<f64> = found["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        let want_values: Vec<f64> = want["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values, want_values, "{label}");
        assert_eq!(found["page"], 1, "{label}");
        let kind = want["kind"].as_str().unwrap_or("amount");
        assert_eq!(found["kind"], kind, "{label}");
        if let Some(canonical) = want.get("canonical") {
            assert_eq!(&found["canonical"], canonical, "{label}");
        }
    }
    assert_eq!(statement["checks_failed"], 0, "{}", statement["checks"]);
    assert_eq!(statement["method"], "parser");
    // A scan of nothing is read by OCR too, and is simply not a statement.
    let accepted = extract_upload(
        &app,
        key,
        "tiny-scan.pdf",
        quire_ingest::fixtures::scanned_pdf(),
    )
    .await;
    let extraction =
        finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
    assert_eq!(extraction["status"], "succeeded", "{extraction}");
    assert_eq!(extraction["pages"][0]["ocr"], true, "{extraction}");
    assert_eq!(extraction["pages"][0]["needs_ocr"], false, "{extraction}");
    assert_eq!(extraction["pages"][0]["statement_type"], "other");
}

/// The ingest crate's hostile PDF set (`quire_ingest::fixtures::hostile_pdfs`) and two
/// broken files: none takes the server down. What no reader can open ends as a failed
/// extraction (and a failed job) with the reason; what Poppler repairs (a broken xref
/// table, loops in the page tree) is read, finds no statement, and says so page by page;
/// the decompression bomb (4 MB) is refused at the door by the request body limit.
async fn hostile_pdfs_end_as_failed_extractions_and_the_server_stays_healthy(app: TestApp) {
    let org = app.create_org("Hostile").await;
    let key = &org.admin_key;
    let mut truncated = ten_k_pdf();
    truncated.truncate(600);
    let mut set = quire_ingest::fixtures::hostile_pdfs();
    set.push((
        "garbage.pdf",
        b"%PDF-1.7\n\x00\x01 not a pdf body at all".to_vec(),
    ));
    set.push(("truncated.pdf", truncated));
    let mut failed = Vec::new();
    for (name, pdf) in set {
        if name == "decompression-bomb.pdf" {
            let form = Form::new().part("file", Part::bytes(pdf).file_name(name));
            let response = app
                .authed(Method::POST, "/api/v1/extraction/extract", key)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_error_envelope(response, 413, "payload_too_large").await;
            continue;
        }
        let accepted = extract_upload(&app, key, name, pdf).await;
        let extraction =
            finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
        let job = app.job(key, accepted["job_id"].as_str().unwrap()).await;
        assert_eq!(extraction["statement_ids"], json!([]), "{name}");
        match extraction["status"].as_str() {
            Some("failed") => {
                let reason = extraction["error"].as_str().unwrap_or("");
                assert!(!reason.is_empty(), "{name}: {extraction}");
                assert_eq!(job["status"], "failed", "{name}: {job}");
                failed.push(name);
            }
            Some("succeeded") => {
                for page in extraction["pages"].as_array().unwrap() {
                    assert_eq!(page["statement_type"], "other", "{name}: {extraction}");
                    assert_eq!(page["needs_ocr"], false, "{name}: {extraction}");
                }
            }
            _ => panic!("{name}: {extraction}"),
        }
        let health = app.get("/api/v1/health").await;
        assert_eq!(health.status(), 200, "{name}");
    }
    for name in ["two-billion-pages.pdf", "garbage.pdf"] {
        assert!(failed.contains(&name), "{name} should fail: {failed:?}");
    }
}

async fn a_corrected_line_item_keeps_who_and_when_and_the_checks_run_again(app: TestApp) {
    if !pdftotext_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs poppler-utils"
        );
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed");
        return;
    }
    let org = app.create_org("Corrections").await;
    let key = &org.admin_key;
    let accepted = extract_upload(&app, key, "acme-10k.pdf", ten_k_pdf()).await;
    let id = accepted["extraction_id"].as_str().unwrap();
    finished_extraction(&app, key, id).await;
    let list: Value = app
        .get_json(
            &format!("/api/v1/statements?extraction_id={id}&statement_type=balance_sheet"),
            key,
        )
        .await;
    let statement_id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/statements/{statement_id}");
    let before: Value = app.get_json(&path, key).await;
    assert_eq!(before["checks_failed"], 0, "{}", before["checks"]);
    let items = before["line_items"].as_array().unwrap();
    let index = items
        .iter()
        .position(|i| i["canonical"] == "Assets")
        .expect("total assets");
    let printed = items[index]["values"].clone();
    let first = printed[0].as_f64().unwrap();
    let periods = printed.as_array().unwrap().len();
    let mut wrong: Vec<Value> = printed.as_array().unwrap().clone();
    wrong[0] = json!(first + 1000.0);
    let patch = |body: Value, item: String| {
        app.authed(Method::PATCH, &format!("{path}/line-items/{item}"), key)
            .json(&body)
            .send()
    };
    let response = patch(
        json!({ "values": wrong, "label": "Total assets (restated)" }),
        index.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let corrected: Value = response.json().await.unwrap();
    let item = &corrected["line_items"][index];
    assert_eq!(item["label"], "Total assets (restated)");
    assert_eq!(item["values"][0], json!(first + 1000.0));
    let correction = &item["corrections"][0];
    assert_eq!(correction["previous_label"], items[index]["label"]);
    assert_eq!(correction["previous_values"], printed);
    assert!(correction["api_key_id"].is_string(), "{correction}");
    assert!(
        correction["at"].as_str().unwrap().contains('T'),
        "{correction}"
    );
    assert!(
        corrected["checks_failed"].as_i64().unwrap() >= 1,
        "{}",
        corrected["checks"]
    );
    let balance = corrected["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["passed"] == false && c["actual"].as_f64() == Some(first + 1000.0))
        .unwrap_or_else(|| panic!("a failed check with the new total: {}", corrected["checks"]));
    assert_eq!(balance["expected"].as_f64(), Some(first), "{balance}");
    assert!(corrected["confidence"].as_f64() < before["confidence"].as_f64());
    // What the server keeps is what the next reader gets.
    let read: Value = app.get_json(&path, key).await;
    assert_eq!(read["line_items"][index], corrected["line_items"][index]);
    assert_eq!(read["checks_failed"], corrected["checks_failed"]);
    // Put back by hand: the checks pass again and both corrections are kept.
    let response = patch(json!({ "values": printed }), index.to_string())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let restored: Value = response.json().await.unwrap();
    assert_eq!(restored["checks_failed"], 0, "{}", restored["checks"]);
    // Confidence is kept to three decimals, so undoing may differ in the last one.
    let drift = restored["confidence"].as_f64().unwrap() - before["confidence"].as_f64().unwrap();
    assert!(drift.abs() <= 0.0015, "{restored}");
    assert_eq!(
        restored["line_items"][index]["corrections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Refused: values not one per period, nothing to change, a bad label, no such item.
    let short = vec![json!(1.0); periods - 1];
    for (body, field) in [
        (json!({ "values": short }), "values"),
        (json!({}), "label"),
        (json!({ "label": "   " }), "label"),
        (json!({ "label": "line\nbreak" }), "label"),
    ] {
        let response = patch(body, index.to_string()).await.unwrap();
        let error = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{error}");
    }
    for item in ["9999", "x"] {
        let response = patch(json!({ "label": "Nope" }), item.to_owned())
            .await
            .unwrap();
        assert_error_envelope(response, 404, "not_found").await;
    }
    let unchanged: Value = app.get_json(&path, key).await;
    assert_eq!(unchanged["line_items"], restored["line_items"]);
}

async fn statements_are_filtered_and_deleted(app: TestApp) {
    if !pdftotext_installed() {
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed");
        return;
    }
    let org = app.create_org("Filters").await;
    let key = &org.admin_key;
    let accepted = extract_upload(&app, key, "acme-10k.pdf", ten_k_pdf()).await;
    finished_extraction(&app, key, accepted["extraction_id"].as_str().unwrap()).await;
    let count = |query: &'static str| {
        let app = &app;
        async move {
            app.get_json(&format!("/api/v1/statements?{query}"), key)
                .await["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("statement_type=balance_sheet").await, 1);
    assert_eq!(
        count("company_name=Acme%20Robotics&fiscal_year=2023").await,
        5
    );
    assert_eq!(count("fiscal_year=2019").await, 0);
    assert_eq!(count("limit=2").await, 5);
    let page: Value = app.get_json("/api/v1/statements?limit=2", key).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let response = app
        .authed(Method::GET, "/api/v1/statements?statement_type=notes", key)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "statement_type");
    let balance: Value = app
        .get_json("/api/v1/statements?statement_type=balance_sheet", key)
        .await;
    let id = balance["items"][0]["id"].as_str().unwrap();
    let deleted = app
        .authed(Method::DELETE, &format!("/api/v1/statements/{id}"), key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(count("statement_type=balance_sheet").await, 0);
    let gone = app
        .authed(Method::GET, &format!("/api/v1/statements/{id}"), key)
        .send()
        .await
        .unwrap();
    assert_error_envelope(gone, 404, "not_found").await;
}

async fn extraction_refuses_what_is_not_a_pdf_or_not_valid(app: TestApp) {
    let org: TestOrg = app.create_org("Refusals").await;
    let key = &org.admin_key;
    let form = Form::new().part(
        "file",
        Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("x.csv"),
    );
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 415, "unsupported_media_type").await;
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 415, "unsupported_media_type").await;
    let form = Form::new()
        .text("fiscal_year", "last year")
        .part("file", Part::bytes(ten_k_pdf()).file_name("x.pdf"));
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "fiscal_year");
    let form = Form::new().text("company_name", "Acme");
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "file");
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .json(&json!({ "document_id": "no-such-document" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
    // A library document that is not a PDF.
    let ws = crate::documents::create_workspace(&app, &org, "notes").await;
    let created = app
        .authed(Method::POST, "/api/v1/documents", key)
        .json(&json!({ "title": "notes", "content": "Just text.", "workspace_ids": [ws] }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let document: Value = created.json().await.unwrap();
    let response = app
        .authed(Method::POST, "/api/v1/extraction/extract", key)
        .json(&json!({ "document_id": document["id"] }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 415, "unsupported_media_type").await;
}

#[test]
fn quire_extract_prints_the_statements_of_a_10k_with_their_checks() {
    if !pdftotext_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs poppler-utils"
        );
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed");
        return;
    }
    let pdf = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/statements/tests/corpus/pdf/ten_k.pdf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("extract")
        .arg(&pdf)
        .output()
        .expect("quire runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "== income_statement",
        "== balance_sheet",
        "== cash_flow (page 6, 7)",
        "== equity",
        "== comprehensive_income",
    ] {
        assert!(text.contains(kind), "{kind} missing:\n{text}");
    }
    assert!(text.contains("scale 1000000, currency USD"), "{text}");
    assert!(text.contains("2021-12-31"), "{text}");
    assert!(text.contains("PASS balance:"), "{text}");
    assert!(!text.contains("FAIL "), "{text}");
    assert!(text.contains("5 statements, 0 checks failed"), "{text}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
        .args(["extract", "/nonexistent/file.pdf"])
        .output()
        .expect("quire runs");
    assert_eq!(missing.status.code(), Some(2));
}
