//! Documents from any source: created from JSON content, replaced, searched, added to
//! and removed from workspaces, answered from; and the migration that made documents
//! belong to the organisation's library. On SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{create_workspace, wait_until_embedded};
use crate::helpers::{
    Backend, PostgresTestDatabase, TestApp, TestOrg, assert_error_envelope, postgres_admin_url,
};
use crate::on_both_databases;

on_both_databases!(
    a_document_created_from_json_answers_in_its_workspace_and_new_content_changes_the_answer,
    bad_document_bodies_are_400_or_422_naming_the_field,
    a_document_in_two_workspaces_answers_in_both_and_once_removed_only_in_the_other,
    the_library_is_searched_by_title_and_filtered_by_source_and_workspace,
    another_organisations_document_or_workspace_is_404_on_the_new_routes,
);

const OLD_FACT: &str = "The delivery deadline is 14 March 2027.";
const NEW_FACT: &str = "The delivery deadline is 2 June 2028.";

async fn create_document(app: &TestApp, org: &TestOrg, body: Value) -> Value {
    let response = app
        .authed(Method::POST, "/api/v1/documents", &org.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn ask(app: &TestApp, org: &TestOrg, ws: &str, question: &str) -> Value {
    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/chat"),
            &org.admin_key,
        )
        .json(&json!({ "message": question }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Whether the workspace's answer to the deadline question quotes `fact`.
async fn answers_with(app: &TestApp, org: &TestOrg, ws: &str, fact: &str) -> bool {
    let answer = ask(app, org, ws, "What is the delivery deadline?").await;
    answer.to_string().contains(fact)
}

async fn a_document_created_from_json_answers_in_its_workspace_and_new_content_changes_the_answer(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Tenders").await;
    let created = create_document(
        &app,
        &org,
        json!({
            "title": "Tender terms",
            "content": format!("General terms of the tender. {OLD_FACT} Payment within 30 days."),
            "source_url": "https://wiki.example.com/tender",
            "external_id": "page-17",
            "external_last_updated": "2026-11-30T10:00:00Z",
            "metadata": { "owner": "procurement" },
            "workspace_ids": [ws],
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["title"], "Tender terms");
    assert_eq!(created["source_type"], "api");
    assert_eq!(created["doc_type"], "text");
    assert_eq!(created["lifecycle_status"], "active");
    assert_eq!(created["workspace_id"], ws.as_str());
    assert_eq!(created["external_id"], "page-17");
    assert_eq!(created["external_last_updated"], "2026-11-30T10:00:00.000Z");
    assert_eq!(created["upload_job_id"], Value::Null);

    let documents = wait_until_embedded(&app, &org.admin_key, &ws).await;
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["status"], "embedded", "{documents:?}");
    let answer = ask(&app, &org, &ws, "What is the delivery deadline?").await;
    assert!(answer.to_string().contains(OLD_FACT), "{answer}");
    assert_eq!(answer["sources"][0]["document_id"], id.as_str());

    // A document given as text downloads as that text.
    let download = app
        .authed(
            Method::GET,
            &format!("/api/v1/documents/{id}/download"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(download.text().await.unwrap().contains(OLD_FACT));

    let updated = app
        .authed(
            Method::PUT,
            &format!("/api/v1/documents/{id}"),
            &org.admin_key,
        )
        .json(&json!({ "content": format!("General terms of the tender. {NEW_FACT}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["title"], "Tender terms", "absent fields are kept");
    assert_eq!(updated["external_id"], "page-17");
    wait_until_embedded(&app, &org.admin_key, &ws).await;
    let answer = ask(&app, &org, &ws, "What is the delivery deadline?").await;
    assert!(answer.to_string().contains(NEW_FACT), "{answer}");
    assert!(!answer.to_string().contains(OLD_FACT), "{answer}");
    let text: Value = app
        .get_json(&format!("/api/v1/documents/{id}/text"), &org.admin_key)
        .await;
    assert!(
        text["pages"][0]["text"]
            .as_str()
            .unwrap()
            .contains(NEW_FACT)
    );

    // JSON content is a JSON document, downloaded as JSON.
    let json_doc = create_document(
        &app,
        &org,
        json!({ "title": "Lots", "content": { "lots": [{ "name": "Chairs", "budget": 1200 }] } }),
    )
    .await;
    assert_eq!(json_doc["doc_type"], "json");
    assert_eq!(json_doc["workspace_id"], Value::Null);
    assert_eq!(json_doc["status"], Value::Null);
    let download = app
        .authed(
            Method::GET,
            &format!(
                "/api/v1/documents/{}/download",
                json_doc["id"].as_str().unwrap()
            ),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.headers()["content-type"], "application/json");
    let body: Value = download.json().await.unwrap();
    assert_eq!(body["lots"][0]["budget"], 1200);
}

async fn bad_document_bodies_are_400_or_422_naming_the_field(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Tenders").await;
    let malformed = app
        .authed(Method::POST, "/api/v1/documents", &org.admin_key)
        .header("content-type", "application/json")
        .body(r#"{"title": "x", "content": "#)
        .send()
        .await
        .unwrap();
    assert_error_envelope(malformed, 400, "bad_request").await;

    let cases = [
        (json!({ "title": "  ", "content": "text" }), "title"),
        (json!({ "title": "a\u{7}b", "content": "text" }), "title"),
        (
            json!({ "title": "x".repeat(501), "content": "text" }),
            "title",
        ),
        (json!({ "title": "t", "content": "   " }), "content"),
        (json!({ "title": "t", "content": null }), "content"),
        (
            json!({ "title": "t", "content": "x", "source_type": "dropbox" }),
            "source_type",
        ),
        (
            json!({ "title": "t", "content": "x", "source_type": "upload" }),
            "source_type",
        ),
        (
            json!({ "title": "t", "content": "x", "source_url": "ftp://x" }),
            "source_url",
        ),
        (
            json!({ "title": "t", "content": "x", "external_last_updated": "yesterday" }),
            "external_last_updated",
        ),
        (
            json!({ "title": "t", "content": "x", "metadata": [1, 2] }),
            "metadata",
        ),
        (json!({ "title": 5, "content": "x" }), "title"),
    ];
    for (body, field) in cases {
        let response = app
            .authed(Method::POST, "/api/v1/documents", &org.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }

    // A workspace the organisation does not have is 404, as everywhere in the API.
    let response = app
        .authed(Method::POST, "/api/v1/documents", &org.admin_key)
        .json(&json!({ "title": "t", "content": "x", "workspace_ids": [ws, "no-such-workspace"] }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;

    // Content past the request body limit is refused before it is read.
    let response = app
        .authed(Method::POST, "/api/v1/documents", &org.admin_key)
        .json(&json!({ "title": "t", "content": "x".repeat(3 << 20) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Nothing of the refused requests was created.
    let library: Value = app.get_json("/api/v1/documents", &org.admin_key).await;
    assert_eq!(library["total"], 0, "{library}");

    let created = create_document(&app, &org, json!({ "title": "t", "content": "x" })).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .authed(
            Method::PUT,
            &format!("/api/v1/documents/{id}"),
            &org.admin_key,
        )
        .json(&json!({ "title": "", "content": "y" }))
        .send()
        .await
        .unwrap();
    let error = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "title");
    let response = app
        .authed(
            Method::PUT,
            "/api/v1/documents/no-such-document",
            &org.admin_key,
        )
        .json(&json!({ "content": "y" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
}

async fn a_document_in_two_workspaces_answers_in_both_and_once_removed_only_in_the_other(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let first = create_workspace(&app, &org, "First").await;
    let second = create_workspace(&app, &org, "Second").await;
    let created = create_document(
        &app,
        &org,
        json!({ "title": "Terms", "content": format!("Terms. {OLD_FACT}"), "workspace_ids": [first] }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let added = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{second}/documents/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["workspace_id"], second.as_str());
    wait_until_embedded(&app, &org.admin_key, &first).await;
    wait_until_embedded(&app, &org.admin_key, &second).await;
    assert!(answers_with(&app, &org, &first, OLD_FACT).await);
    assert!(answers_with(&app, &org, &second, OLD_FACT).await);
    let ws: Value = app
        .get_json(&format!("/api/v1/workspaces/{second}"), &org.admin_key)
        .await;
    assert_eq!(ws["document_count"], 1, "{ws}");

    let removed = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/workspaces/{first}/documents/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert!(!answers_with(&app, &org, &first, OLD_FACT).await);
    assert!(answers_with(&app, &org, &second, OLD_FACT).await);
    let listed: Value = app
        .get_json(
            &format!("/api/v1/workspaces/{first}/documents"),
            &org.admin_key,
        )
        .await;
    assert_eq!(listed["total"], 0, "{listed}");
    // The document itself stays in the library.
    let document: Value = app
        .get_json(&format!("/api/v1/documents/{id}"), &org.admin_key)
        .await;
    assert_eq!(document["workspace_id"], second.as_str());
    // Removing it again: it is not in that workspace.
    let again = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/workspaces/{first}/documents/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(again, 404, "not_found").await;
}

async fn the_library_is_searched_by_title_and_filtered_by_source_and_workspace(app: TestApp) {
    let org = app.create_org("Acme").await;
    let ws = create_workspace(&app, &org, "Tenders").await;
    for (title, source_type, in_ws) in [
        ("Framework agreement 2026", "api", true),
        ("Price list 100%_off", "notion", false),
        ("Onboarding guide", "guru", false),
    ] {
        let workspaces: Vec<&str> = if in_ws { vec![ws.as_str()] } else { vec![] };
        create_document(
            &app,
            &org,
            json!({ "title": title, "content": "text", "source_type": source_type,
                    "workspace_ids": workspaces }),
        )
        .await;
    }
    let titles = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = app.get_json("/api/v1/documents", &org.admin_key).await;
    assert_eq!(all["total"], 3);
    assert_eq!(
        titles(&all),
        [
            "Onboarding guide",
            "Price list 100%_off",
            "Framework agreement 2026"
        ]
    );
    let found: Value = app
        .get_json("/api/v1/documents?q=AGREEMENT", &org.admin_key)
        .await;
    assert_eq!(titles(&found), ["Framework agreement 2026"]);
    // `%` and `_` in the query are literal characters, not patterns.
    let literal: Value = app
        .get_json("/api/v1/documents?q=0%25_", &org.admin_key)
        .await;
    assert_eq!(titles(&literal), ["Price list 100%_off"]);
    let percent: Value = app
        .get_json("/api/v1/documents?q=%25", &org.admin_key)
        .await;
    assert_eq!(titles(&percent), ["Price list 100%_off"]);
    let notion: Value = app
        .get_json("/api/v1/documents?source_type=notion", &org.admin_key)
        .await;
    assert_eq!(titles(&notion), ["Price list 100%_off"]);
    let in_ws: Value = app
        .get_json(
            &format!("/api/v1/documents?workspace_id={ws}"),
            &org.admin_key,
        )
        .await;
    assert_eq!(titles(&in_ws), ["Framework agreement 2026"]);
    let paged: Value = app
        .get_json("/api/v1/documents?limit=1&offset=1", &org.admin_key)
        .await;
    assert_eq!(paged["total"], 3);
    assert_eq!(paged["limit"], 1);
    assert_eq!(paged["offset"], 1);
    assert_eq!(titles(&paged), ["Price list 100%_off"]);
    let bad = app
        .authed(
            Method::GET,
            "/api/v1/documents?source_type=dropbox",
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    let error = assert_error_envelope(bad, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "source_type");
}

async fn another_organisations_document_or_workspace_is_404_on_the_new_routes(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    let owner_ws = create_workspace(&app, &owner, "Owner's").await;
    let intruder_ws = create_workspace(&app, &intruder, "Intruder's").await;
    let owner_doc = create_document(
        &app,
        &owner,
        json!({ "title": "Secret", "content": "secret", "workspace_ids": [owner_ws] }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let intruder_doc = create_document(&app, &intruder, json!({ "title": "Mine", "content": "x" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/workspaces/{intruder_ws}/documents/{owner_doc}"),
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{owner_ws}/documents/{intruder_doc}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{owner_ws}/documents/{owner_doc}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{intruder_ws}/documents/{owner_doc}"),
        ),
    ] {
        let response = app
            .authed(method.clone(), &path, &intruder.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_error_envelope(response, 404, "not_found").await;
    }
    let response = app
        .authed(Method::POST, "/api/v1/documents", &intruder.admin_key)
        .json(&json!({ "title": "t", "content": "x", "workspace_ids": [owner_ws] }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
    // Filtering by another organisation's workspace shows nothing of it.
    let listed: Value = app
        .get_json(
            &format!("/api/v1/documents?workspace_id={owner_ws}"),
            &intruder.admin_key,
        )
        .await;
    assert_eq!(listed["total"], 0, "{listed}");
    // The owner's workspace still holds its document, and only it.
    let owner_list: Value = app
        .get_json(
            &format!("/api/v1/workspaces/{owner_ws}/documents"),
            &owner.admin_key,
        )
        .await;
    assert_eq!(owner_list["total"], 1);
    assert_eq!(owner_list["items"][0]["id"], owner_doc.as_str());
}

/// Documents, pages and chunks written before 0008 (born from an upload, per workspace)
/// are all there after it, and read through the new shape.
async fn upload_born_documents_survive_the_library_migration(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match postgres_admin_url() {
            Some(admin) => Some(PostgresTestDatabase::create(&admin).await),
            None => return,
        },
    };
    let url = match &postgres {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
    };
    let db = quire::db::Db::connect(
        &url.parse().unwrap(),
        quire::db::PoolSize { max: 2, min: 0 },
    )
    .await
    .unwrap();
    db.migrate_to(7).await.unwrap();
    let pool = &db.pool;
    for sql in [
        "INSERT INTO organisations (id, name, created_at, updated_at) VALUES ('o1', 'Org', 1, 1)",
        "INSERT INTO workspaces (id, org_id, name, slug, backend, created_at, updated_at) \
         VALUES ('w1', 'o1', 'WS', 'ws', 'embedded', 1, 1)",
        "INSERT INTO documents (id, org_id, workspace_id, upload_job_id, archive_path, name, \
         doc_type, size_bytes, sha256, storage_key, page_count, text_length, status, flags, \
         metadata, backend_location, error, created_at, updated_at) VALUES ('d1', 'o1', 'w1', \
         'j1', 'contracts/msa.pdf', 'msa.pdf', 'pdf', 10, 'abc', 'k1', 2, 20, 'embedded', '[]', \
         NULL, 'loc-1', NULL, 5, 6)",
        "INSERT INTO document_pages (document_id, page_number, text) VALUES ('d1', 1, 'page one'), \
         ('d1', 2, 'page two')",
        "INSERT INTO chunks (id, org_id, workspace_id, document_id, doc_type, page_number, \
         ordinal, start_offset, end_offset, text) VALUES ('c1', 'o1', 'w1', 'd1', 'pdf', 2, 0, 0, \
         8, 'page two')",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    db.migrate().await.unwrap();

    let org = quire::documents::repo::find_document(pool, "o1", "d1")
        .await
        .unwrap()
        .expect("the document is still there");
    assert_eq!(org.title, "msa.pdf");
    assert_eq!(org.source_type, "upload");
    assert_eq!(org.lifecycle_status, "active");
    assert_eq!(org.archive_path.as_deref(), Some("contracts/msa.pdf"));
    assert_eq!(org.workspace_id.as_deref(), Some("w1"));
    assert_eq!(org.status.as_deref(), Some("embedded"));
    assert_eq!(org.backend_location.as_deref(), Some("loc-1"));
    let pages = quire::documents::repo::document_pages(pool, &org)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    let (chunks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chunks WHERE document_id = 'd1'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(chunks, 1);
    assert_eq!(
        quire::documents::repo::count_documents(pool, "o1", "w1")
            .await
            .unwrap(),
        1
    );
    // The migrated document is still deleted with its pages and chunks.
    assert!(
        quire::documents::repo::delete_document(pool, "o1", "d1")
            .await
            .unwrap()
    );
    let (left,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM chunks) + (SELECT COUNT(*) FROM document_pages) \
         + (SELECT COUNT(*) FROM workspace_documents)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
    if let Some(pg) = postgres {
        pg.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_born_documents_survive_the_library_migration_on_sqlite() {
    upload_born_documents_survive_the_library_migration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_born_documents_survive_the_library_migration_on_postgres() {
    upload_born_documents_survive_the_library_migration(Backend::Postgres).await;
}
