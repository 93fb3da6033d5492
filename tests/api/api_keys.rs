//! API keys: shown once, listed without the secret, bounded by the creator's role,
//! revoked at once, expiring.

use quire::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    a_new_key_is_shown_once_and_listed_without_its_secret,
    a_revoked_key_stops_working_at_once,
    a_key_cannot_outrank_its_creator,
    viewers_cannot_create_keys,
    an_expired_key_is_refused_and_a_past_expiry_is_a_422,
    members_see_and_revoke_only_their_own_keys,
);

async fn create_key(app: &TestApp, credential: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, "/api/v1/api-keys", credential)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn list_keys(app: &TestApp, credential: &str) -> Value {
    app.authed(Method::GET, "/api/v1/api-keys", credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn a_new_key_is_shown_once_and_listed_without_its_secret(app: TestApp) {
    let org = app.create_org("Keys").await;
    let created = create_key(
        &app,
        &org.admin_key,
        json!({ "name": "ci", "role": "member", "expires_at": "2999-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["key"].as_str().unwrap();
    assert!(secret.starts_with("qk_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["role"], "member");
    assert_eq!(created["expires_at"], "2999-01-01T00:00:00.000Z");

    let me: Value = app
        .authed(Method::GET, "/api/v1/auth/me", secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "member");

    let list = list_keys(&app, &org.admin_key).await;
    assert_eq!(list["total"], 2);
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .expect("the new key is listed");
    assert_eq!(listed["name"], "ci");
    assert!(listed.get("last_used_at").is_some());
    let text = list.to_string();
    let secret_part = secret.rsplit('_').next().unwrap();
    assert!(!text.contains(secret_part), "the secret is never listed");
    assert!(listed.get("key").is_none() && listed.get("secret_hash").is_none());
}

async fn a_revoked_key_stops_working_at_once(app: TestApp) {
    let org = app.create_org("Revoke").await;
    let created: Value = create_key(&app, &org.admin_key, json!({ "name": "temp" }))
        .await
        .json()
        .await
        .unwrap();
    let secret = created["key"].as_str().unwrap();
    assert_eq!(created["role"], "admin", "defaults to the creator's role");
    assert_eq!(app.status_with("/api/v1/auth/me", secret).await, 200);
    let path = format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap());
    let revoked = app
        .authed(Method::DELETE, &path, &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.status_with("/api/v1/auth/me", secret).await, 401);
    let list = list_keys(&app, &org.admin_key).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    assert!(listed["revoked_at"].is_string());
}

async fn a_key_cannot_outrank_its_creator(app: TestApp) {
    let org = app.create_org("Ranks").await;
    let member = app.create_key(&org, Role::Member).await;
    let response = create_key(
        &app,
        &member,
        json!({ "name": "escalate", "role": "admin" }),
    )
    .await;
    assert_error_envelope(response, 403, "forbidden").await;
    let ok = create_key(&app, &member, json!({ "name": "reader", "role": "viewer" })).await;
    assert_eq!(ok.status(), 201);
}

async fn viewers_cannot_create_keys(app: TestApp) {
    let org = app.create_org("Viewers").await;
    let viewer = app.create_key(&org, Role::Viewer).await;
    let response = create_key(&app, &viewer, json!({ "name": "x", "role": "viewer" })).await;
    assert_error_envelope(response, 403, "forbidden").await;
}

async fn an_expired_key_is_refused_and_a_past_expiry_is_a_422(app: TestApp) {
    let org = app.create_org("Expiry").await;
    let past = create_key(
        &app,
        &org.admin_key,
        json!({ "name": "old", "expires_at": "2001-01-01T00:00:00Z" }),
    )
    .await;
    let body = assert_error_envelope(past, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "expires_at");

    let key = quire::auth::tokens::generate_api_key();
    quire::api_keys::repo::insert_api_key(
        &app.state.db.pool,
        &org.org_id,
        quire::api_keys::repo::NewApiKey {
            name: "expired",
            role: Role::Admin,
            created_by: Some(&org.admin_user_id),
            expires_at: Some(quire::time::now_ms() - 1000),
            prefix: &key.prefix,
            secret_hash: &key.secret_hash,
        },
    )
    .await
    .unwrap();
    let response = app
        .authed(Method::GET, "/api/v1/auth/me", &key.plaintext)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 401, "unauthorized").await;
}

async fn members_see_and_revoke_only_their_own_keys(app: TestApp) {
    let org = app.create_org("Mine").await;
    // A member user with a key of their own.
    let email = crate::helpers::unique_email("member");
    let user = app
        .authed(Method::POST, "/api/v1/users", &org.admin_key)
        .json(&json!({ "email": email, "password": "member-password-1", "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let access = app.login(&email, "member-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let own: Value = create_key(&app, &access, json!({ "name": "own" }))
        .await
        .json()
        .await
        .unwrap();
    let list = list_keys(&app, &access).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], own["id"]);

    // The admin's key is invisible to the member: a 404, not a 403.
    let admin_keys = list_keys(&app, &org.admin_key).await;
    let admin_key_id = admin_keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] != own["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/api-keys/{admin_key_id}"),
            &access,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
    assert_eq!(
        app.status_with("/api/v1/auth/me", &org.admin_key).await,
        200
    );
    let own_path = format!("/api/v1/api-keys/{}", own["id"].as_str().unwrap());
    let response = app
        .authed(Method::DELETE, &own_path, &access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}
