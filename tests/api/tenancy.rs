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
    lists_never_show_another_organisations_rows,
    organisation_routes_only_see_and_change_the_callers_organisation,
);

/// A kind of tenant row.
#[derive(Clone, Copy, Debug)]
enum Fixture {
    User,
    ApiKey,
}

impl Fixture {
    /// Creates one row in `owner`'s organisation; returns its id.
    async fn create(self, app: &TestApp, owner: &TestOrg) -> String {
        let (path, body) = match self {
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
        match self {
            Fixture::User => app
                .authed(
                    Method::GET,
                    &format!("/api/v1/users/{id}"),
                    &owner.admin_key,
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
            Fixture::ApiKey => {
                let list: Value = app
                    .authed(Method::GET, "/api/v1/api-keys?limit=200", &owner.admin_key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
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

/// One route that addresses a single tenant row by `{id}`.
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
];

/// Collection routes and the fixture whose rows they list.
const LISTS: &[(&str, Fixture)] = &[
    ("/api/v1/users?limit=200", Fixture::User),
    ("/api/v1/api-keys?limit=200", Fixture::ApiKey),
];

async fn another_organisations_principal_gets_404_on_every_tenant_route_and_nothing_changes(
    app: TestApp,
) {
    let owner = app.create_org("Owner").await;
    let intruder = app.create_org("Intruder").await;
    for route in ROUTES {
        let id = route.fixture.create(&app, &owner).await;
        let before = route.fixture.snapshot(&app, &owner, &id).await;
        let path = route.path.replace("{id}", &id);
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
        let list: Value = app
            .authed(Method::GET, path, &intruder.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
        .authed(Method::GET, "/api/v1/orgs/current", &intruder.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["id"], intruder.org_id.as_str());
    let renamed = app
        .authed(Method::PATCH, "/api/v1/orgs/current", &intruder.admin_key)
        .json(&json!({ "name": "Renamed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let owner_org: Value = app
        .authed(Method::GET, "/api/v1/orgs/current", &owner.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
