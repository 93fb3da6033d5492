//! Tenant isolation, table-driven: for every route that reads or writes one tenant row,
//! a principal of another organisation gets `404` (never `403`: no existence oracle) and
//! the row is unchanged afterwards; lists never show another organisation's rows.
//!
//! To cover a new capability: add a [`Fixture`] variant (how to create one row as its
//! owner, and how to read it back), then its routes to [`ROUTES`] and its list to
//! [`LISTS`].

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestOrg, assert_error_envelope, unique_email};
use crate::on_both_databases;

on_both_databases!(
    another_organisations_principal_gets_404_on_every_tenant_route_and_nothing_changes,
    runs_cannot_use_or_compare_with_another_organisations_workspaces_sets_or_runs,
    lists_never_show_another_organisations_rows,
    organisation_routes_only_see_and_change_the_callers_organisation,
);

/// A kind of tenant row.
#[derive(Clone, Copy, Debug)]
enum Fixture {
    User,
    ApiKey,
    QuestionSet,
    /// A finished question run (its id is the job's).
    QuestionRun,
    Workspace,
    /// A document created through the API into a workspace of its own.
    Document,
    /// An organisation's own prompt template.
    Template,
    /// A finished (extractive) summary of a document of its own.
    Summary,
    /// A finished extraction of a scan (no text: a `needs_ocr` page, no statements).
    Extraction,
    /// A statement of an extraction of the corpus's 10-K (needs `pdftotext`).
    Statement,
}

impl Fixture {
    /// Creates one row in `owner`'s organisation; returns its id.
    async fn create(self, app: &TestApp, owner: &TestOrg) -> String {
        let (path, body) = match self {
            Fixture::Summary => {
                let doc = crate::summaries::create_document(
                    app,
                    owner,
                    "summarised",
                    "The owner's contract. It says what the owner agreed to pay.",
                )
                .await;
                let id =
                    crate::summaries::start_summary(app, &owner.admin_key, &doc, json!({})).await;
                crate::summaries::finished_summary(app, &owner.admin_key, &id).await;
                return id;
            }
            Fixture::Template => (
                "/api/v1/templates",
                json!({ "name": "tenant template", "prompt_template": "{{ document.content }}" }),
            ),
            Fixture::Extraction => {
                let accepted = crate::statements::extract_upload(
                    app,
                    &owner.admin_key,
                    "scan.pdf",
                    quire_ingest::fixtures::scanned_pdf(),
                )
                .await;
                let id = accepted["extraction_id"].as_str().unwrap().to_owned();
                crate::statements::finished_extraction(app, &owner.admin_key, &id).await;
                return id;
            }
            Fixture::Statement => {
                let accepted = crate::statements::extract_upload(
                    app,
                    &owner.admin_key,
                    "acme-10k.pdf",
                    crate::statements::ten_k_pdf(),
                )
                .await;
                let id = accepted["extraction_id"].as_str().unwrap().to_owned();
                let extraction =
                    crate::statements::finished_extraction(app, &owner.admin_key, &id).await;
                return extraction["statement_ids"][0]
                    .as_str()
                    .unwrap_or_else(|| panic!("a statement (pdftotext installed): {extraction}"))
                    .to_owned();
            }
            Fixture::QuestionRun => {
                let ws = crate::documents::create_workspace(
                    app,
                    owner,
                    &format!("runs {}", uuid::Uuid::now_v7()),
                )
                .await;
                let id = crate::questions::execute(
                    app,
                    &owner.admin_key,
                    json!({ "workspace_id": ws, "questions": [{"text": "Why?"}] }),
                )
                .await;
                crate::questions::finished_run(app, &owner.admin_key, &id).await;
                return id;
            }
            Fixture::Document => {
                let ws = crate::documents::create_workspace(
                    app,
                    owner,
                    &format!("documents {}", uuid::Uuid::now_v7()),
                )
                .await;
                (
                    "/api/v1/documents",
                    json!({ "title": "tenant document", "content": "The owner's text.",
                            "workspace_ids": [ws] }),
                )
            }
            Fixture::Workspace => {
                return crate::documents::create_workspace(
                    app,
                    owner,
                    &format!("tenant {}", uuid::Uuid::now_v7()),
                )
                .await;
            }
            Fixture::QuestionSet => (
                "/api/v1/question-sets",
                json!({ "name": "tenant set", "questions": [{"text": "Why?"}] }),
            ),
            Fixture::User => (
                "/api/v1/users",
                json!({ "email": unique_email("tenant"), "role": "member" }),
            ),
            Fixture::ApiKey => ("/api/v1/api-keys", json!({ "name": "tenant key" })),
        };
        let response = app
            .authed(Method::POST, path, &owner.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{self:?} fixture");
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// The row as its owner sees it.
    async fn snapshot(self, app: &TestApp, owner: &TestOrg, id: &str) -> Value {
        let get = |path: String| async move {
            app.authed(Method::GET, &path, &owner.admin_key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        match self {
            Fixture::Extraction => get(format!("/api/v1/extractions/{id}")).await,
            Fixture::Statement => get(format!("/api/v1/statements/{id}")).await,
            Fixture::QuestionSet => get(format!("/api/v1/question-sets/{id}")).await,
            Fixture::Template => get(format!("/api/v1/templates/{id}")).await,
            Fixture::Summary => get(format!("/api/v1/summaries/{id}")).await,
            Fixture::QuestionRun => {
                let mut run = get(format!("/api/v1/questions/jobs/{id}")).await;
                // Changes by itself as time passes.
                run["estimated_completion"] = Value::Null;
                let results = get(format!("/api/v1/questions/jobs/{id}/results")).await;
                json!({ "run": run, "results": results })
            }
            Fixture::Workspace => {
                let mut ws = get(format!("/api/v1/workspaces/{id}")).await;
                ws["updated_at"] = Value::Null;
                ws
            }
            Fixture::Document => {
                let mut document = get(format!("/api/v1/documents/{id}")).await;
                // The embed job moves it on by itself.
                document["status"] = Value::Null;
                let text = get(format!("/api/v1/documents/{id}/text")).await;
                json!({ "document": document, "text": text })
            }
            Fixture::User => {
                app.get_json(&format!("/api/v1/users/{id}"), &owner.admin_key)
                    .await
            }
            Fixture::ApiKey => {
                let list: Value = app
                    .get_json("/api/v1/api-keys?limit=200", &owner.admin_key)
                    .await;
                list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["id"] == id)
                    .cloned()
                    .expect("the key is listed for its owner")
            }
        }
    }
}

/// One route that addresses a single tenant row by `{id}` (and, for a document, the
/// owner's workspace it is in by `{workspace}`).
struct TenantRoute {
    method: &'static str,
    path: &'static str,
    /// JSON body sent, if any: a valid one, so only tenancy can refuse it.
    body: Option<&'static str>,
    fixture: Fixture,
}

const ROUTES: &[TenantRoute] = &[
    TenantRoute {
        method: "GET",
        path: "/api/v1/users/{id}",
        body: None,
        fixture: Fixture::User,
    },
    TenantRoute {
        method: "PATCH",
        path: "/api/v1/users/{id}",
        body: Some(r#"{"role": "admin", "display_name": "taken over", "is_active": false}"#),
        fixture: Fixture::User,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/users/{id}",
        body: None,
        fixture: Fixture::User,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/api-keys/{id}",
        body: None,
        fixture: Fixture::ApiKey,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/question-sets/{id}",
        body: None,
        fixture: Fixture::QuestionSet,
    },
    TenantRoute {
        method: "PUT",
        path: "/api/v1/question-sets/{id}",
        body: Some(r#"{"name": "taken over", "questions": [{"text": "Mine?"}]}"#),
        fixture: Fixture::QuestionSet,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/question-sets/{id}",
        body: None,
        fixture: Fixture::QuestionSet,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/questions/jobs/{id}",
        body: None,
        fixture: Fixture::QuestionRun,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/questions/jobs/{id}/results",
        body: None,
        fixture: Fixture::QuestionRun,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/questions/jobs/{id}/results?format=csv",
        body: None,
        fixture: Fixture::QuestionRun,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/questions/jobs/{id}/compare/{id}",
        body: None,
        fixture: Fixture::QuestionRun,
    },
    TenantRoute {
        method: "POST",
        path: "/api/v1/jobs/{id}/cancel",
        body: None,
        fixture: Fixture::QuestionRun,
    },
    TenantRoute {
        method: "POST",
        path: "/api/v1/workspaces/{id}/baseline",
        body: Some(r#"{"run_id": "any"}"#),
        fixture: Fixture::Workspace,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/documents/{id}",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/documents/{id}/text",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/documents/{id}/download",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/documents/{id}/url",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "PUT",
        path: "/api/v1/documents/{id}",
        body: Some(r#"{"title": "taken over", "content": "The intruder's text."}"#),
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/documents/{id}",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "POST",
        path: "/api/v1/workspaces/{workspace}/documents/{id}",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/workspaces/{workspace}/documents/{id}",
        body: None,
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "POST",
        path: "/api/v1/documents/{id}/summaries",
        body: Some(r#"{}"#),
        fixture: Fixture::Document,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/templates/{id}",
        body: None,
        fixture: Fixture::Template,
    },
    TenantRoute {
        method: "PUT",
        path: "/api/v1/templates/{id}",
        body: Some(r#"{"name": "taken over", "prompt_template": "{{ document.title }}"}"#),
        fixture: Fixture::Template,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/templates/{id}",
        body: None,
        fixture: Fixture::Template,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/summaries/{id}",
        body: None,
        fixture: Fixture::Summary,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/summaries/{id}",
        body: None,
        fixture: Fixture::Summary,
    },
    TenantRoute {
        method: "POST",
        path: "/api/v1/summaries/{id}/regenerate",
        body: None,
        fixture: Fixture::Summary,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/extractions/{id}",
        body: None,
        fixture: Fixture::Extraction,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/extractions/{id}",
        body: None,
        fixture: Fixture::Extraction,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/statements/{id}",
        body: None,
        fixture: Fixture::Statement,
    },
    TenantRoute {
        method: "GET",
        path: "/api/v1/statements/{id}?format=csv",
        body: None,
        fixture: Fixture::Statement,
    },
    TenantRoute {
        method: "PATCH",
        path: "/api/v1/statements/{id}/line-items/0",
        body: Some(r#"{"label": "taken over"}"#),
        fixture: Fixture::Statement,
    },
    TenantRoute {
        method: "DELETE",
        path: "/api/v1/statements/{id}",
        body: None,
        fixture: Fixture::Statement,
    },
];

/// Collection routes and the fixture whose rows they list.
const LISTS: &[(&str, Fixture)] = &[
    ("/api/v1/users?limit=200", Fixture::User),
    ("/api/v1/api-keys?limit=200", Fixture::ApiKey),
    ("/api/v1/question-sets?limit=200", Fixture::QuestionSet),
    ("/api/v1/documents?limit=200", Fixture::Document),
    ("/api/v1/templates?limit=200", Fixture::Template),
    ("/api/v1/summaries?limit=200", Fixture::Summary),
    ("/api/v1/extractions?limit=200", Fixture::Extraction),
    ("/api/v1/statements?limit=200", Fixture::Statement),
];

async fn another_organisations_principal_gets_404_on_every_tenant_route_and_nothing_changes(
    app: TestApp,
) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    for route in ROUTES {
        let id = route.fixture.create(&app, &owner).await;
        let before = route.fixture.snapshot(&app, &owner, &id).await;
        let path = route.path.replace("{id}", &id).replace(
            "{workspace}",
            before["document"]["workspace_id"]
                .as_str()
                .unwrap_or("none"),
        );
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let mut request = app.authed(method, &path, &intruder.admin_key);
        if let Some(body) = route.body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            404,
            "{} {} by another organisation",
            route.method,
            route.path
        );
        assert_error_envelope(response, 404, "not_found").await;
        let after = route.fixture.snapshot(&app, &owner, &id).await;
        assert_eq!(
            before, after,
            "{} {} changed the row",
            route.method, route.path
        );
    }
}

async fn lists_never_show_another_organisations_rows(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    for (path, fixture) in LISTS {
        let id = fixture.create(&app, &owner).await;
        // The intruder has rows of its own, so an empty list proves nothing.
        fixture.create(&app, &intruder).await;
        let list: Value = app.get_json(path, &intruder.admin_key).await;
        let items = list["items"].as_array().expect("a page");
        assert!(!items.is_empty(), "{path}: the intruder sees its own rows");
        assert!(
            items.iter().all(|item| item["id"] != id.as_str()),
            "{path} shows another organisation's row"
        );
    }
}

async fn organisation_routes_only_see_and_change_the_callers_organisation(app: TestApp) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    let seen: Value = app
        .get_json("/api/v1/orgs/current", &intruder.admin_key)
        .await;
    assert_eq!(seen["id"], intruder.org_id.as_str());
    let renamed = app
        .authed(Method::PATCH, "/api/v1/orgs/current", &intruder.admin_key)
        .json(&json!({ "name": "Renamed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let owner_org: Value = app.get_json("/api/v1/orgs/current", &owner.admin_key).await;
    assert_eq!(owner_org["name"], "Owner");
    let empty = app
        .authed(Method::PATCH, "/api/v1/orgs/current", &owner.admin_key)
        .json(&json!({ "name": "  " }))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(empty, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "name");
}

async fn runs_cannot_use_or_compare_with_another_organisations_workspaces_sets_or_runs(
    app: TestApp,
) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    let owner_ws = Fixture::Workspace.create(&app, &owner).await;
    let owner_set = Fixture::QuestionSet.create(&app, &owner).await;
    let owner_run = Fixture::QuestionRun.create(&app, &owner).await;
    let intruder_ws = Fixture::Workspace.create(&app, &intruder).await;
    let intruder_run = Fixture::QuestionRun.create(&app, &intruder).await;
    let key = &intruder.admin_key;
    for body in [
        json!({ "workspace_id": owner_ws, "questions": [{"text": "Why?"}] }),
        json!({ "workspace_id": intruder_ws, "question_set_id": owner_set }),
    ] {
        let response = app
            .authed(Method::POST, "/api/v1/questions/execute", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error_envelope(response, 404, "not_found").await;
    }
    for path in [
        format!("/api/v1/questions/jobs/{intruder_run}/compare/{owner_run}"),
        format!("/api/v1/questions/jobs/{owner_run}/compare/{intruder_run}"),
    ] {
        let response = app.authed(Method::GET, &path, key).send().await.unwrap();
        assert_error_envelope(response, 404, "not_found").await;
    }
    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/workspaces/{intruder_ws}/baseline"),
            key,
        )
        .json(&json!({ "run_id": owner_run }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
}
