//! Ingestion end to end: upload a bundle, judge every entry, keep originals and text,
//! embed into the workspace, answer from it. On SQLite and PostgreSQL, local and S3.

use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::fixtures::{GOVERNING_LAW, contract_pdf, mixed_bundle};
use crate::helpers::{Backend, TestApp, TestOrg, assert_error_envelope, s3_storage_args};
use crate::on_both_databases;

on_both_databases!(
    a_mixed_bundle_is_judged_entry_by_entry_and_its_documents_answer_questions,
    a_single_pdf_is_accepted_as_a_one_entry_bundle,
    a_file_that_is_not_a_bundle_is_refused_with_415_and_nothing_is_stored,
    uploads_to_another_organisations_workspace_are_404,
    another_organisation_cannot_see_or_touch_documents_or_upload_jobs,
);

pub async fn create_workspace(app: &TestApp, org: &TestOrg, name: &str) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", &org.admin_key)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn upload(
    app: &TestApp,
    key: &str,
    workspace_id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = Form::new()
        .text("workspace_id", workspace_id.to_owned())
        .text("metadata", r#"{"source":"test"}"#)
        .part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.authed(Method::POST, "/api/v1/documents/upload", key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Runs the queue dry, then reads the upload job, which must have ended.
pub async fn finished_upload(app: &TestApp, key: &str, job_id: &str) -> Value {
    app.run_pending_jobs().await;
    let job: Value = app
        .get_json(&format!("/api/v1/documents/jobs/{job_id}"), key)
        .await;
    assert!(
        ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or("")),
        "upload job {job_id} did not finish: {job}"
    );
    job
}

/// Runs the queue dry (the upload's embed job included), then reads the workspace's
/// documents, none of which may still be `extracted`.
pub async fn wait_until_embedded(app: &TestApp, key: &str, workspace_id: &str) -> Vec<Value> {
    app.run_pending_jobs().await;
    let page: Value = app
        .get_json(
            &format!("/api/v1/workspaces/{workspace_id}/documents?limit=200"),
            key,
        )
        .await;
    let items = page["items"].as_array().unwrap().clone();
    if !items.is_empty() && items.iter().all(|d| d["status"] != "extracted") {
        return items;
    }
    // What the jobs say is what tells a lost embedding from a failed one.
    let jobs: Value = app.get_json("/api/v1/jobs?limit=50", key).await;
    panic!("documents were not embedded: documents {items:?}, jobs {jobs}");
}

fn entry<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no entry {path} in {report}"))
}

async fn a_mixed_bundle_is_judged_entry_by_entry_and_its_documents_answer_questions(app: TestApp) {
    run_mixed_bundle(&app).await;
}

async fn run_mixed_bundle(app: &TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(app, &org, "Contracts").await;
    let bundle = mixed_bundle();
    let response = upload(app, &org.admin_key, &ws, "bundle.zip", bundle.bytes).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    let job_id = accepted["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        accepted["links"]["status"],
        format!("/api/v1/documents/jobs/{job_id}")
    );

    let job = finished_upload(app, &org.admin_key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100.0);
    let report = &job["report"];
    assert_eq!(entry(report, "contracts/msa.pdf")["verdict"], "accepted");
    assert_eq!(entry(report, "contracts/msa.pdf")["pages"], 2);
    assert_eq!(
        entry(report, "contracts/msa-copy.pdf")["verdict"],
        "duplicate"
    );
    assert_eq!(
        entry(report, "contracts/msa-copy.pdf")["document_id"],
        entry(report, "contracts/msa.pdf")["document_id"]
    );
    let scan = entry(report, "scans/signed-page.pdf");
    assert_eq!(scan["verdict"], "accepted");
    assert!(
        scan["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("no_text")),
        "{scan}"
    );
    assert_eq!(
        entry(report, "prices/price-list.csv")["verdict"],
        "accepted"
    );
    assert_eq!(
        entry(report, "prices/price-list-eu.csv")["verdict"],
        "accepted"
    );
    assert_eq!(entry(report, "tender.json")["verdict"], "accepted");
    for (path, reason) in [
        ("archive/nested.zip", "nested_archive"),
        ("notes.txt", "unknown_type"),
        ("fake.pdf", "type_mismatch"),
    ] {
        let e = entry(report, path);
        assert_eq!(e["verdict"], "rejected", "{e}");
        assert_eq!(e["reason"], reason, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let traversal = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().contains("evil"))
        .expect("the traversal entry is reported");
    assert_eq!(traversal["verdict"], "rejected");
    assert_eq!(traversal["reason"], "path_traversal");
    assert_eq!(report["by_verdict"]["accepted"], 5);
    assert_eq!(report["by_verdict"]["duplicate"], 1);
    assert_eq!(report["by_type"]["pdf"], 2);
    assert_eq!(report["by_type"]["csv"], 2);

    // Text per page, originals byte-identical.
    let contract_id = entry(report, "contracts/msa.pdf")["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text: Value = app
        .get_json(
            &format!("/api/v1/documents/{contract_id}/text"),
            &org.admin_key,
        )
        .await;
    assert_eq!(text["pages"][1]["page"], 2);
    assert!(
        text["pages"][1]["text"]
            .as_str()
            .unwrap()
            .contains("governed by the laws of England")
    );
    let download = app
        .authed(
            Method::GET,
            &format!("/api/v1/documents/{contract_id}/download"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert_eq!(download.bytes().await.unwrap().to_vec(), contract_pdf());
    let eu_id = entry(report, "prices/price-list-eu.csv")["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let eu: Value = app
        .get_json(&format!("/api/v1/documents/{eu_id}/text"), &org.admin_key)
        .await;
    assert!(
        eu["pages"][0]["text"].as_str().unwrap().contains("Монитор"),
        "{eu}"
    );

    // The upload hands its documents to the workspace's backend by itself.
    let documents = wait_until_embedded(app, &org.admin_key, &ws).await;
    assert_eq!(documents.len(), 5);
    assert!(
        documents.iter().all(|d| d["status"] == "embedded"),
        "{documents:?}"
    );

    let answer: Value = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/chat"),
            &org.admin_key,
        )
        .json(&json!({ "message": "What is the governing law?" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["answer"].as_str().unwrap().contains(GOVERNING_LAW),
        "{answer}"
    );
    let source = &answer["sources"][0];
    assert_eq!(source["document_id"], contract_id.as_str());
    assert_eq!(source["page"], 2);
    assert_eq!(source["document_name"], "msa.pdf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_bundle_ingests_the_same_on_s3_storage() {
    let Some(args) = s3_storage_args().await else {
        return;
    };
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &refs).await.unwrap();
    run_mixed_bundle(&app).await;
}

async fn a_single_pdf_is_accepted_as_a_one_entry_bundle(app: TestApp) {
    let org = app.create_org("Solo").await;
    let ws = create_workspace(&app, &org, "One file").await;
    let response = upload(&app, &org.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished_upload(&app, &org.admin_key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["report"]["entries"][0]["verdict"], "accepted", "{job}");
    assert_eq!(job["report"]["entries"][0]["doc_type"], "pdf");
}

async fn a_file_that_is_not_a_bundle_is_refused_with_415_and_nothing_is_stored(app: TestApp) {
    let org = app.create_org("Refused").await;
    let ws = create_workspace(&app, &org, "W").await;
    let response = upload(
        &app,
        &org.admin_key,
        &ws,
        "bundle.zip",
        b"\x7fELF\x02\x01\x01binary".to_vec(),
    )
    .await;
    assert_error_envelope(response, 415, "unsupported_media_type").await;
    let stored = app
        .state
        .storage
        .list(&format!("orgs/{}", org.org_id))
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

async fn uploads_to_another_organisations_workspace_are_404(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let other = app.create_org("Other").await;
    let ws = create_workspace(&app, &owner, "Private").await;
    let response = upload(&app, &other.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    assert_error_envelope(response, 404, "not_found").await;
    let stored = app
        .state
        .storage
        .list(&format!("orgs/{}", other.org_id))
        .await
        .unwrap();
    assert!(
        stored.is_empty(),
        "the refused upload must not stay in storage: {stored:?}"
    );
}

async fn another_organisation_cannot_see_or_touch_documents_or_upload_jobs(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let other = app.create_org("Other").await;
    let ws = create_workspace(&app, &owner, "Private").await;
    let response = upload(&app, &owner.admin_key, &ws, "msa.pdf", contract_pdf()).await;
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished_upload(&app, &owner.admin_key, &job_id).await;
    let doc = job["report"]["entries"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::GET, format!("/api/v1/documents/{doc}")),
        (Method::GET, format!("/api/v1/documents/{doc}/text")),
        (Method::GET, format!("/api/v1/documents/{doc}/download")),
        (Method::DELETE, format!("/api/v1/documents/{doc}")),
        (Method::GET, format!("/api/v1/workspaces/{ws}/documents")),
        (Method::GET, format!("/api/v1/documents/jobs/{job_id}")),
        (Method::DELETE, format!("/api/v1/documents/jobs/{job_id}")),
    ] {
        let response = app
            .authed(method.clone(), &path, &other.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let listed: Value = app
        .get_json("/api/v1/documents/jobs", &other.admin_key)
        .await;
    assert_eq!(listed["total"], 0);
    // The owner still has everything.
    let still = app
        .authed(
            Method::GET,
            &format!("/api/v1/documents/{doc}/download"),
            &owner.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_max_file_size_is_413_and_leaves_nothing_in_storage() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--max-file-size=64KB"])
        .await
        .unwrap();
    let org = app.create_org("Big").await;
    let ws = create_workspace(&app, &org, "W").await;
    // Past the limit only while streaming: no Content-Length shortcut.
    let mut big = b"PK\x03\x04".to_vec();
    big.extend(std::iter::repeat_n(7u8, 300 * 1024));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let part = Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .file_name("big.zip");
    let form = Form::new()
        .text("workspace_id", ws.clone())
        .part("file", part);
    let response = app
        .authed(Method::POST, "/api/v1/documents/upload", &org.admin_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 413, "payload_too_large").await;
    let stored = app
        .state
        .storage
        .list(&format!("orgs/{}", org.org_id))
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_upload_stops_between_entries_and_keeps_what_was_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let org = app.create_org("Cancel").await;
    let ws = create_workspace(&app, &org, "W").await;
    let pdfs: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| {
            let text = format!(
                "Contract number {i}. {}",
                "The supplier shall deliver the goods. ".repeat(40)
            );
            (
                format!("c/{i:03}.pdf"),
                quire_ingest::fixtures::text_pdf(&[&text, &text, &text]),
            )
        })
        .collect();
    let named: Vec<(&str, &[u8])> = pdfs
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let bundle = quire_ingest::fixtures::zip_of(&named).unwrap();
    let response = upload(&app, &org.admin_key, &ws, "many.zip", bundle).await;
    let job_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Cancel once it is under way.
    for _ in 0..500 {
        let job: Value = app
            .get_json(&format!("/api/v1/documents/jobs/{job_id}"), &org.admin_key)
            .await;
        if job["progress"].as_f64().unwrap_or(0.0) > 0.0 || job["status"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancel = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/documents/jobs/{job_id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert!(
        [200, 202].contains(&cancel.status().as_u16()),
        "{}",
        cancel.status()
    );
    let job = finished_upload(&app, &org.admin_key, &job_id).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let report = &job["report"];
    assert_eq!(report["cancelled"], true, "{report}");
    let accepted = report["by_verdict"]["accepted"].as_u64().unwrap_or(0);
    assert!(
        accepted < 150,
        "the job stopped early ({accepted} accepted)"
    );
    // Everything listed is whole: a row, its pages, and its original.
    let page: Value = app
        .get_json(
            &format!("/api/v1/workspaces/{ws}/documents?limit=200"),
            &org.admin_key,
        )
        .await;
    assert_eq!(page["total"].as_u64().unwrap(), accepted);
    for doc in page["items"].as_array().unwrap() {
        let id = doc["id"].as_str().unwrap();
        let text: Value = app
            .get_json(&format!("/api/v1/documents/{id}/text"), &org.admin_key)
            .await;
        assert_eq!(text["pages"].as_array().unwrap().len(), 3);
        let original = app
            .authed(
                Method::GET,
                &format!("/api/v1/documents/{id}/download"),
                &org.admin_key,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(original.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_bundle_ingests_the_same_with_the_builtin_pdf_engine() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--pdf-text-engine=builtin"])
        .await
        .unwrap();
    run_mixed_bundle(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_bundle_ingests_the_same_with_the_pdftotext_engine() {
    if quire_ingest::PopplerTools::find_on_path().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but pdftotext is not on PATH: install poppler-utils"
        );
        eprintln!("pdftotext is not on PATH: the pdftotext engine is not tested");
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, &["--pdf-text-engine=pdftotext"])
        .await
        .unwrap();
    run_mixed_bundle(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_bundle_ingests_the_same_with_the_mupdf_engine() {
    if quire_ingest::MupdfTool::find_on_path().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but mutool is not on PATH: install mupdf-tools"
        );
        eprintln!("mutool is not on PATH: the mupdf engine is not tested");
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, &["--pdf-text-engine=mupdf"])
        .await
        .unwrap();
    run_mixed_bundle(&app).await;
}
