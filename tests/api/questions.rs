//! Scored runs end to end: a set asked of a workspace as a job, every answer scored and
//! written as it completes; results, exports, comparisons, baselines; the AnythingLLM
//! double with faults; resume after a crash.

use std::time::{Duration, Instant};

use anythingllm::testing::{TestDouble, endpoint};
use quire_ingest::fixtures::zip_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{finished_upload, upload, wait_until_embedded};
use crate::fixtures::{contract_pdf, price_list_csv, tender_json};
use crate::helpers::{Backend, TestApp, TestOrg, assert_error_envelope};
use crate::on_both_databases;
use crate::question_sets::{SET_CSV, SET_JSON, SET_YAML, create_set_from_file};

// Tests poll runs; the default rate limit (1,000 requests an hour) is not what they test.
on_both_databases!(flags = ["--rate-limit-enabled=false"];
    json_csv_and_promptfoo_yaml_versions_of_one_set_give_the_same_run,
    the_embedded_backend_answers_the_governing_law_of_the_contract_with_full_confidence,
    a_question_about_csv_documents_is_answered_only_from_csv_documents,
    results_page_in_question_order_and_filter_by_success,
    a_csv_export_shows_a_formula_question_as_text_and_the_xlsx_export_has_no_formula,
    the_csv_export_names_its_columns_and_values_as_the_json_results_do,
    comparing_two_runs_reports_their_flips_and_a_new_run_reports_flips_against_the_baseline,
    a_run_needs_exactly_one_source_of_questions_and_bounded_settings,
    a_resumed_run_asks_only_the_questions_without_a_result,
);

/// A workspace holding the contract PDF, the price list CSV and the tender JSON.
pub async fn contract_workspace(app: &TestApp, org: &TestOrg, backend: &str) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", &org.admin_key)
        .json(&json!({ "name": format!("Contracts {backend}"), "backend": backend }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let ws = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = zip_of(&[
        ("contracts/msa.pdf", &contract_pdf()),
        ("prices/price-list.csv", &price_list_csv()),
        ("tender.json", &tender_json()),
    ])
    .unwrap();
    let response = upload(app, &org.admin_key, &ws, "bundle.zip", bundle).await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished_upload(app, &org.admin_key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let docs = wait_until_embedded(app, &org.admin_key, &ws).await;
    assert!(docs.iter().all(|d| d["status"] == "embedded"), "{docs:?}");
    ws
}

pub async fn execute(app: &TestApp, key: &str, body: Value) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/questions/execute", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "execute");
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        accepted["links"]["status"],
        format!("/api/v1/questions/jobs/{id}")
    );
    assert_eq!(
        accepted["links"]["results"],
        format!("/api/v1/questions/jobs/{id}/results")
    );
    assert_eq!(
        accepted["links"]["cancel"],
        format!("/api/v1/jobs/{id}/cancel")
    );
    assert_eq!(
        accepted["links"]["events"],
        format!("/api/v1/jobs/{id}/events")
    );
    id
}

pub async fn get_run(app: &TestApp, key: &str, id: &str) -> Value {
    app.get_json(&format!("/api/v1/questions/jobs/{id}"), key)
        .await
}

/// Runs the queue dry, then reads the run, whose job must have ended.
pub async fn finished_run(app: &TestApp, key: &str, id: &str) -> Value {
    app.run_pending_jobs().await;
    let run = get_run(app, key, id).await;
    assert!(
        ["succeeded", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or("")),
        "run {id} did not finish: {run}"
    );
    run
}

pub async fn results(app: &TestApp, key: &str, id: &str, query: &str) -> Value {
    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/questions/jobs/{id}/results{query}"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// What must be equal between two runs of the same set.
fn outcome(results: &Value) -> Vec<(Value, Value, Value, Value)> {
    results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["question_id"].clone(),
                r["success"].clone(),
                r["confidence_score"].clone(),
                r["response"].clone(),
            )
        })
        .collect()
}

async fn json_csv_and_promptfoo_yaml_versions_of_one_set_give_the_same_run(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "embedded").await;
    let mut outcomes = Vec::new();
    for (format, content) in [("json", SET_JSON), ("csv", SET_CSV), ("yaml", SET_YAML)] {
        let set = create_set_from_file(&app, key, format, content).await;
        let id = execute(
            &app,
            key,
            json!({ "workspace_id": ws, "question_set_id": set["id"] }),
        )
        .await;
        let run = finished_run(&app, key, &id).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["question_set_id"], set["id"]);
        assert_eq!(run["answered"], 3);
        outcomes.push((
            run["passed"].clone(),
            outcome(&results(&app, key, &id, "").await),
        ));
    }
    // The inline file form of `execute` gives the same again.
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "question_set": { "format": "yaml", "content": SET_YAML } }),
    )
    .await;
    let run = finished_run(&app, key, &id).await;
    outcomes.push((
        run["passed"].clone(),
        outcome(&results(&app, key, &id, "").await),
    ));
    assert_eq!(outcomes[0].1.len(), 3);
    for other in &outcomes[1..] {
        assert_eq!(&outcomes[0], other);
    }
}

async fn the_embedded_backend_answers_the_governing_law_of_the_contract_with_full_confidence(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "embedded").await;
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": [
            {"id": "gov-law", "text": "What is the governing law?",
             "expected_fragments": ["England and Wales"],
             "assertions": [{"type": "source", "value": "msa.pdf"}]}
        ] }),
    )
    .await;
    let run = finished_run(&app, key, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["type"], "questions.run");
    assert_eq!(run["progress"], 100.0);
    assert_eq!(run["workspace_id"], ws.as_str());
    assert_eq!(
        (
            run["total"].clone(),
            run["answered"].clone(),
            run["passed"].clone(),
            run["failed"].clone()
        ),
        (json!(1), json!(1), json!(1), json!(0))
    );
    assert_eq!(run["pass_rate"], 1.0);
    assert_eq!(run["threshold"], 0.8);
    assert_eq!(run["repeats"], 1);
    assert_eq!(run["settings"]["concurrency"], 4);
    assert_eq!(run["settings"]["thread_strategy"], "per_question");
    assert!(run["baseline"].is_null());

    let page = results(&app, key, &id, "").await;
    let r = &page["items"][0];
    assert_eq!(r["question_id"], "gov-law");
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["confidence_score"], 1.0, "{r}");
    assert_eq!(r["fragments_found"][0]["fragment"], "England and Wales");
    assert_eq!(r["fragments_found"][0]["how"], "exact");
    assert_eq!(r["fragments_missing"], json!([]));
    assert_eq!(r["assertions"][0]["passed"], true);
    assert_eq!(r["sources"][0]["document_name"], "msa.pdf");
    assert_eq!(r["sources"][0]["page"], 2);
    assert!(r["processing_time"].as_f64().unwrap() >= 0.0);
    assert!(r["error"].is_null());
    assert_eq!(r["repeat"], 1);
    assert_eq!(r["details"]["routing"], "all");
}

async fn a_question_about_csv_documents_is_answered_only_from_csv_documents(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "embedded").await;
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": [
            {"id": "any", "text": "What is the governing law?"},
            {"id": "csv-only", "text": "What is the governing law on an office chair?", "doc_types": ["csv"]},
            {"id": "tagged", "text": "What is the governing law?", "doc_types": ["contract"]}
        ] }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &id).await["status"], "succeeded");
    let page = results(&app, key, &id, "").await;
    let items = page["items"].as_array().unwrap();
    let by_id = |q: &str| {
        items
            .iter()
            .find(|r| r["question_id"] == q)
            .unwrap()
            .clone()
    };
    let any = by_id("any");
    assert!(
        any["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["document_name"] == "msa.pdf"),
        "{any}"
    );
    let csv_only = by_id("csv-only");
    assert_eq!(csv_only["details"]["routing"], "filtered");
    let sources = csv_only["sources"].as_array().unwrap();
    assert!(!sources.is_empty(), "{csv_only}");
    assert!(
        sources
            .iter()
            .all(|s| s["document_name"].as_str().unwrap().ends_with(".csv")),
        "{csv_only}"
    );
    assert!(
        !csv_only["response"]
            .as_str()
            .unwrap()
            .contains("England and Wales")
    );
    // A tag that is not a document type does not filter.
    assert_eq!(by_id("tagged")["details"]["routing"], "unfiltered");
}

async fn results_page_in_question_order_and_filter_by_success(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "embedded").await;
    let mut questions = Vec::new();
    for i in 0..7 {
        // Odd ones expect what the contract does not say.
        let expected = if i % 2 == 0 {
            "England and Wales"
        } else {
            "New York"
        };
        questions.push(
            json!({ "id": format!("q{i}"), "text": "What is the governing law?",
                               "expected_fragments": [expected] }),
        );
    }
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": questions, "concurrency": 3 }),
    )
    .await;
    let run = finished_run(&app, key, &id).await;
    assert_eq!(
        (run["answered"].clone(), run["passed"].clone()),
        (json!(7), json!(4))
    );
    let pass_rate = run["pass_rate"].as_f64().unwrap();
    assert!((pass_rate - 4.0 / 7.0).abs() < 1e-9);

    let first = results(&app, key, &id, "?limit=3").await;
    assert_eq!(first["total"], 7);
    let ids: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["question_id"].clone())
        .collect();
    assert_eq!(ids, [json!("q0"), json!("q1"), json!("q2")]);
    let last = results(&app, key, &id, "?limit=3&offset=6").await;
    assert_eq!(last["items"][0]["question_id"], "q6");
    assert_eq!(last["items"].as_array().unwrap().len(), 1);

    let failed = results(&app, key, &id, "?success=false").await;
    assert_eq!(failed["total"], 3);
    let failed_items = failed["items"].as_array().unwrap();
    assert!(failed_items.iter().all(|r| r["success"] == false));
    assert_eq!(failed_items[0]["fragments_missing"], json!(["New York"]));
    let passed = results(&app, key, &id, "?success=true&limit=2").await;
    assert_eq!(passed["total"], 4);
    assert_eq!(passed["items"].as_array().unwrap().len(), 2);
}

/// One set of names for JSON, CSV and XLSX: each export column is a field of the JSON
/// result with the same value (the JSON said `confidence_score`, the CSV `confidence`).
async fn the_csv_export_names_its_columns_and_values_as_the_json_results_do(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "Empty").await;
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": [ {"id": "q", "text": "Anything?", "expected_fragments": ["x"]} ] }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &id).await["status"], "succeeded");
    let json_results = results(&app, key, &id, "").await;
    let item = &json_results["items"][0];
    let text = app
        .authed(
            Method::GET,
            &format!("/api/v1/questions/jobs/{id}/results?format=csv"),
            key,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = csv_rows(&text);
    for (col, name) in rows[0].iter().enumerate() {
        assert!(
            item.get(name).is_some(),
            "CSV column {name:?} is not a field of the JSON result {item}"
        );
        let cell = &rows[1][col];
        match &item[name] {
            Value::Number(n) => {
                let csv_value: f64 = cell.parse().unwrap();
                assert!(
                    (csv_value - n.as_f64().unwrap()).abs() < 1e-3,
                    "{name}: {cell} vs {n}"
                );
            }
            Value::String(s) => assert_eq!(cell, s, "{name}"),
            Value::Bool(b) => assert_eq!(cell, &b.to_string(), "{name}"),
            _ => {}
        }
    }
}

const HYPERLINK: &str = r#"=HYPERLINK("http://x","y")"#;

async fn a_csv_export_shows_a_formula_question_as_text_and_the_xlsx_export_has_no_formula(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "Empty").await;
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": [ {"id": "f", "text": HYPERLINK}, {"id": "g", "text": "Plain?"} ] }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &id).await["status"], "succeeded");

    let csv = app
        .authed(
            Method::GET,
            &format!("/api/v1/questions/jobs/{id}/results?format=csv&limit=1"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv_rows(&text);
    let header = reader.remove(0);
    assert_eq!(header[0], "question_id");
    assert_eq!(reader.len(), 2, "every row, whatever the limit: {text}");
    let question_col = header.iter().position(|h| h == "question").unwrap();
    assert_eq!(reader[0][question_col], format!("'{HYPERLINK}"));

    let xlsx = app
        .authed(
            Method::GET,
            &format!("/api/v1/questions/jobs/{id}/results?format=xlsx"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    assert_eq!(
        xlsx.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = xlsx.bytes().await.unwrap().to_vec();
    assert_eq!(&bytes[..2], b"PK", "a zip container");
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let values = book.worksheet_range("Results").unwrap();
    let formulas = book.worksheet_formula("Results").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no formula in the sheet"
    );
    let cell = values.get((1, question_col)).unwrap();
    assert_eq!(cell, &Data::String(format!("'{HYPERLINK}")));
}

/// A minimal RFC 4180 reader for the test (quoted fields, doubled quotes, CRLF).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

async fn comparing_two_runs_reports_their_flips_and_a_new_run_reports_flips_against_the_baseline(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "embedded").await;
    let set = |law: &str, cap: &str| {
        json!([
            {"id": "gov-law", "text": "What is the governing law?", "expected_fragments": [law]},
            {"id": "cap", "text": "What is the liability cap?", "expected_fragments": [cap]}
        ])
    };
    // Before: both pass. After: the law question fails, the cap one still passes.
    let before = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": set("England and Wales", "1,500,000 GBP") }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &before).await["passed"], 2);
    let after = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": set("New York", "1,500,000 GBP") }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &after).await["passed"], 1);

    let comparison: Value = app
        .get_json(
            &format!("/api/v1/questions/jobs/{before}/compare/{after}"),
            key,
        )
        .await;
    assert_eq!(comparison["totals"]["pass_to_fail"], 1, "{comparison}");
    assert_eq!(comparison["totals"]["unchanged_pass"], 1);
    let law = &comparison["per_question"][0];
    assert_eq!(law["question_id"], "gov-law");
    assert_eq!(law["change"], "pass_to_fail");
    assert_eq!(law["confidence_delta"], -1.0);
    assert_eq!(law["answer_changed"], false);

    // The baseline: only a finished run of this workspace.
    let other_ws = crate::documents::create_workspace(&app, &org, "Other").await;
    let refused = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{other_ws}/baseline"),
            key,
        )
        .json(&json!({ "run_id": before }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(refused, 409, "conflict").await;
    let unknown = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/baseline"),
            key,
        )
        .json(&json!({ "run_id": "no-such-run" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(unknown, 404, "not_found").await;
    let set_baseline = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/baseline"),
            key,
        )
        .json(&json!({ "run_id": before }))
        .send()
        .await
        .unwrap();
    assert_eq!(set_baseline.status(), 200);
    let workspace: Value = set_baseline.json().await.unwrap();
    assert_eq!(workspace["baseline_run_id"], before.as_str());

    let next = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": set("New York", "1,500,000 GBP") }),
    )
    .await;
    let run = finished_run(&app, key, &next).await;
    assert_eq!(run["baseline"]["run_id"], before.as_str(), "{run}");
    assert_eq!(run["baseline"]["pass_to_fail"], 1);
    assert_eq!(run["baseline"]["fail_to_pass"], 0);
    assert_eq!(run["baseline"]["regressions"], json!(["gov-law"]));
}

async fn a_run_needs_exactly_one_source_of_questions_and_bounded_settings(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "W").await;
    let q = json!([{ "text": "Why?" }]);
    for (body, field) in [
        (json!({ "workspace_id": ws }), "question_set_id"),
        (
            json!({ "workspace_id": ws, "questions": q, "question_set_id": "x" }),
            "question_set_id",
        ),
        (
            json!({ "workspace_id": ws, "questions": q, "concurrency": 51 }),
            "concurrency",
        ),
        (
            json!({ "workspace_id": ws, "questions": q, "threshold": 2 }),
            "threshold",
        ),
        (
            json!({ "workspace_id": ws, "questions": q, "repeats": 0 }),
            "repeats",
        ),
        (json!({ "workspace_id": ws, "questions": [] }), "questions"),
    ] {
        let response = app
            .authed(Method::POST, "/api/v1/questions/execute", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{body}");
    }
    let response = app
        .authed(Method::POST, "/api/v1/questions/execute", key)
        .json(&json!({ "workspace_id": "nope", "questions": q }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
    let viewer = app.create_key(&org, quire::auth::Role::Viewer).await;
    let response = app
        .authed(Method::POST, "/api/v1/questions/execute", &viewer)
        .json(&json!({ "workspace_id": ws, "questions": q }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 403, "forbidden").await;
}

/// Resume without a crash: a run whose first question already has a result (as a
/// crashed attempt would have left it) writes only the others, and keeps that one.
async fn a_resumed_run_asks_only_the_questions_without_a_result(app: TestApp) {
    use quire::questions::repo::{self, ResultRow, RunRow};
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = crate::documents::create_workspace(&app, &org, "W").await;
    // A run recorded with its job held back (run_at in the future), a result for q1
    // already written, then the job released.
    let pool = &app.state.db.pool;
    let questions: Vec<quire_evals::Question> = (1..=3)
        .map(|i| quire_evals::Question::new(format!("q{i}"), format!("Question {i}?")))
        .collect();
    let mut job = quire::jobs::NewJob::new(&org.org_id, "questions.run", json!({}));
    job.workspace_id = Some(ws.clone());
    job.run_at = Some(quire::time::now_ms() + 3_600_000);
    let mut tx = pool.begin().await.unwrap();
    let job = quire::jobs::enqueue_in(&app.state.db, &mut tx, job)
        .await
        .unwrap();
    repo::insert_run(
        &mut *tx,
        &RunRow {
            id: job.id.clone(),
            org_id: org.org_id.clone(),
            workspace_id: ws.clone(),
            question_set_id: None,
            questions: serde_json::to_string(&questions).unwrap(),
            total: 3,
            threshold: 0.8,
            repeats: 1,
            settings:
                json!({ "concurrency": 2, "thread_strategy": "per_question", "threshold": 0.8,
                               "repeats": 1, "keep_threads": false, "llm_config": null })
                .to_string(),
            baseline_run_id: None,
            created_at: quire::time::now_ms(),
        },
    )
    .await
    .unwrap();
    let earlier = ResultRow {
        run_id: job.id.clone(),
        org_id: org.org_id.clone(),
        question_id: "q1".into(),
        repeat_no: 1,
        position: 0,
        question: "Question 1?".into(),
        response: "from the crashed attempt".into(),
        confidence: 1.0,
        success: 1,
        fragments_found: "[]".into(),
        fragments_missing: "[]".into(),
        assertions: "[]".into(),
        sources: "[]".into(),
        details: None,
        error: None,
        processing_time_ms: 5,
        created_at: quire::time::now_ms(),
        cached: 0,
    };
    assert!(repo::insert_result(&mut *tx, &earlier).await.unwrap());
    tx.commit().await.unwrap();
    assert!(
        !repo::insert_result(pool, &earlier).await.unwrap(),
        "a second insert of the same answer is a no-op"
    );
    sqlx::query("UPDATE jobs SET run_at = $1, available_at = $1, wake_at = NULL WHERE id = $2")
        .bind(quire::time::now_ms())
        .bind(&job.id)
        .execute(pool)
        .await
        .unwrap();
    quire::jobs::announce(&app.state.db).await;

    let run = finished_run(&app, key, &job.id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["answered"], 3);
    assert_eq!(run["result"]["resumed_from"], 1);
    assert_eq!(run["result"]["written"], 2, "only the two without a result");
    let page = results(&app, key, &job.id, "").await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["response"], "from the crashed attempt");
}

// --- Against the AnythingLLM test double -------------------------------------------

/// The double and an app pointed at it (with extra flags).
async fn app_with_double(backend: Backend, extra: &[&str]) -> Option<(TestDouble, TestApp)> {
    let double = TestDouble::start().await.unwrap();
    let url = format!("--anythingllm-url=http://{}", double.addr());
    let key = format!("--anythingllm-api-key={}", double.api_key());
    let mut flags = vec![url.as_str(), key.as_str(), "--rate-limit-enabled=false"];
    flags.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &flags).await?;
    Some((double, app))
}

macro_rules! with_the_double_on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if crate::helpers::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}

with_the_double_on_both_databases!(
    a_run_against_the_anythingllm_double_passes_and_closes_its_threads,
    with_the_doubles_faults_on_a_run_slows_down_and_retries_instead_of_failing,
    two_concurrent_runs_never_exceed_the_backend_limit_on_the_double,
);

async fn a_run_against_the_anythingllm_double_passes_and_closes_its_threads(backend: Backend) {
    let Some((double, app)) = app_with_double(backend, &[]).await else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "anythingllm").await;
    // The double quotes the sentences that share words with the question.
    let set = crate::question_sets::create_set(
        &app,
        key,
        json!({ "name": "double", "questions": [
            {"id": "gov-law", "text": "Which laws govern this Agreement?",
             "expected_fragments": ["England and Wales"],
             "assertions": [{"type": "source", "value": "msa.pdf"}]},
            {"id": "cap", "text": "What is the liability cap?"},
            {"id": "chair", "text": "What does an office chair cost?", "doc_types": ["csv"]}
        ] }),
    )
    .await;
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "question_set_id": set["id"] }),
    )
    .await;
    let run = finished_run(&app, key, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["answered"], 3);
    let page = results(&app, key, &id, "").await;
    let law = &page["items"][0];
    assert_eq!(law["question_id"], "gov-law");
    assert_eq!(law["success"], true, "{law}");
    // AnythingLLM cannot filter by document type: recorded, not hidden.
    assert_eq!(page["items"][2]["details"]["routing"], "unfiltered");
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 3);
    assert_eq!(
        handle.requests(endpoint::NEW_THREAD),
        3,
        "one thread per question"
    );
    assert_eq!(
        handle.requests(endpoint::DELETE_THREAD),
        3,
        "every thread closed"
    );

    // A shared thread kept open on request.
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "question_set_id": set["id"], "thread_strategy": "shared",
                "keep_threads": true }),
    )
    .await;
    assert_eq!(finished_run(&app, key, &id).await["status"], "succeeded");
    assert_eq!(handle.requests(endpoint::NEW_THREAD), 4);
    assert_eq!(handle.requests(endpoint::DELETE_THREAD), 3);
}

async fn with_the_doubles_faults_on_a_run_slows_down_and_retries_instead_of_failing(
    backend: Backend,
) {
    let Some((double, app)) = app_with_double(backend, &[]).await else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "anythingllm").await;
    let questions: Vec<Value> = (0..10)
        .map(|i| {
            json!({ "id": format!("q{i}"), "text": "Which laws govern this Agreement?",
                         "expected_fragments": ["England and Wales"] })
        })
        .collect();
    handle.set_latency(Duration::from_millis(20));
    // Fewer than the breaker's threshold in a row, so the run sees 500s, not an open breaker.
    handle.fail_next_with(
        4,
        anythingllm::testing::StatusCode::INTERNAL_SERVER_ERROR,
        Some(endpoint::THREAD_CHAT),
    );
    let id = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": questions, "thread_strategy": "shared" }),
    )
    .await;
    let run = finished_run(&app, key, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (run["answered"].clone(), run["passed"].clone()),
        (json!(10), json!(10))
    );
    let page = results(&app, key, &id, "").await;
    let items = page["items"].as_array().unwrap();
    assert!(items.iter().all(|r| r["error"].is_null()), "{page}");
    let retried: u64 = items
        .iter()
        .map(|r| r["details"]["attempts"].as_u64().unwrap() - 1)
        .sum();
    assert_eq!(retried, 4, "each 500 was retried once: {page}");
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 14);
    assert_eq!(handle.requests(endpoint::NEW_THREAD), 1);
}

async fn two_concurrent_runs_never_exceed_the_backend_limit_on_the_double(backend: Backend) {
    let Some((double, app)) = app_with_double(backend, &["--backend-max-concurrency=3"]).await
    else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "anythingllm").await;
    handle.set_latency(Duration::from_millis(30));
    let questions: Vec<Value> = (0..12)
        .map(|i| json!({ "id": format!("q{i}"), "text": "What is the liability cap?" }))
        .collect();
    let body = json!({ "workspace_id": ws, "questions": questions, "concurrency": 10 });
    let a = execute(&app, key, body.clone()).await;
    let b = execute(&app, key, body).await;
    let (ra, rb) = tokio::join!(finished_run(&app, key, &a), finished_run(&app, key, &b));
    assert_eq!(ra["status"], "succeeded", "{ra}");
    assert_eq!(rb["status"], "succeeded", "{rb}");
    assert_eq!(ra["answered"], 12);
    assert_eq!(rb["answered"], 12);
    let peak = handle.max_concurrent_requests();
    assert!(peak <= 3, "{peak} requests at once against a limit of 3");
    assert!(peak >= 2, "the runs did overlap ({peak})");
}

/// The crash test: `quire serve` killed (SIGKILL) in the middle of a run against the
/// double, then started again on the same data: the job is reclaimed after its lease
/// and finishes, with one result per question; the second attempt asks exactly the
/// questions that had no result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_run_and_starting_it_again_answers_each_question_once() {
    use crate::process::ServeProcess;
    let double = TestDouble::start().await.unwrap();
    let handle = double.handle();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", double.addr());
    let env = [
        ("ANYTHINGLLM_URL", url.as_str()),
        ("ANYTHINGLLM_API_KEY", double.api_key()),
        ("JOB_LEASE_SECONDS", "2"),
        ("JOB_POLL_INTERVAL_MS", "100"),
        ("LOG_LEVEL", "warn"),
    ];
    let first = tokio::task::block_in_place(|| ServeProcess::start(dir.path(), &env));
    let key = std::fs::read_to_string(dir.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let created: Value = client
        .post(first.url("/api/v1/workspaces"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Crash", "backend": "anythingllm" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = created["id"].as_str().unwrap().to_owned();
    handle.set_latency(Duration::from_millis(150));
    let questions: Vec<Value> = (0..12)
        .map(|i| json!({ "id": format!("q{i}"), "text": format!("Question number {i}?") }))
        .collect();
    let accepted: Value = client
        .post(first.url("/api/v1/questions/execute"))
        .bearer_auth(&key)
        .json(
            &json!({ "workspace_id": ws, "questions": questions, "concurrency": 2,
                       "thread_strategy": "shared" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    let run_url = |p: &ServeProcess| p.url(&format!("/api/v1/questions/jobs/{id}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run: Value = client
            .get(run_url(&first))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["answered"].as_i64().unwrap_or(0) >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not progress: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(first); // SIGKILL
    let asked_before_restart = handle.requests(endpoint::THREAD_CHAT);

    let second = tokio::task::block_in_place(|| ServeProcess::start(dir.path(), &env));
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run: Value = client
            .get(run_url(&second))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ["succeeded", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or("")) {
            break run;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 2, "the second process took the job over");
    assert_eq!(run["answered"], 12);
    let resumed_from = run["result"]["resumed_from"].as_u64().unwrap();
    assert!(resumed_from >= 4, "{run}");
    let page: Value = client
        .get(second.url(&format!("/api/v1/questions/jobs/{id}/results?limit=200")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: std::collections::BTreeSet<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["question_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(page["total"], 12);
    assert_eq!(ids.len(), 12, "one result per question");
    // Asked twice: only what the killed process had in flight or answered but not yet
    // committed (the writer commits continuously, so under load a few answers may wait).
    let asked = handle.requests(endpoint::THREAD_CHAT);
    eprintln!(
        "{asked} chats for 12 questions; {asked_before_restart} before the restart, {resumed_from} results kept"
    );
    assert_eq!(
        asked - asked_before_restart,
        12 - resumed_from,
        "the second attempt asked only the questions without a result"
    );
}
