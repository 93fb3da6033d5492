//! Users managed by their organisation's admins; roles; deactivation.

use quire::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error_envelope, unique_email};
use crate::on_both_databases;

const PASSWORD: &str = "correct-horse-battery-staple";

on_both_databases!(
    admins_create_list_read_and_update_users,
    a_viewer_or_member_managing_users_gets_403,
    deactivating_a_user_kills_their_tokens_and_keys,
    the_last_active_admin_can_be_neither_demoted_nor_deactivated,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    a_user_created_with_a_password_logs_in_with_their_role,
    a_duplicate_email_is_a_409,
    a_role_change_applies_to_tokens_already_issued,
    a_demoted_users_api_keys_are_capped_at_their_new_role,
);

async fn create_user(app: &TestApp, credential: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, "/api/v1/users", credential)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn admins_create_list_read_and_update_users(app: TestApp) {
    let org = app.create_org("People").await;
    let email = unique_email("member");
    let created = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email, "role": "member", "display_name": "Grace" }),
    )
    .await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["role"], "member");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["display_name"], "Grace");
    assert!(chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).is_ok());
    let id = user["id"].as_str().unwrap();

    let list: Value = app
        .get_json("/api/v1/users?limit=1&offset=1", &org.admin_key)
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["limit"], 1);
    assert_eq!(list["offset"], 1);
    assert_eq!(list["items"][0]["id"], id);

    let fetched: Value = app
        .get_json(&format!("/api/v1/users/{id}"), &org.admin_key)
        .await;
    assert_eq!(fetched["email"], email.as_str());

    let patched = app
        .authed(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &org.admin_key,
        )
        .json(&json!({ "role": "viewer", "display_name": "Grace H." }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["role"], "viewer");
    assert_eq!(patched["display_name"], "Grace H.");

    let bad_role = app
        .authed(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &org.admin_key,
        )
        .json(&json!({ "role": "root" }))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(bad_role, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "role");

    let missing = app
        .authed(Method::GET, "/api/v1/users/no-such-user", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_error_envelope(missing, 404, "not_found").await;
}

async fn a_viewer_or_member_managing_users_gets_403(app: TestApp) {
    let org = app.create_org("Roles").await;
    for role in [Role::Viewer, Role::Member] {
        let key = app.create_key(&org, role).await;
        let response = create_user(
            &app,
            &key,
            json!({ "email": unique_email("x"), "role": "viewer" }),
        )
        .await;
        assert_error_envelope(response, 403, "forbidden").await;
        let list = app
            .authed(Method::GET, "/api/v1/users", &key)
            .send()
            .await
            .unwrap();
        assert_error_envelope(list, 403, "forbidden").await;
        let rename = app
            .authed(Method::PATCH, "/api/v1/orgs/current", &key)
            .json(&json!({ "name": "Mine now" }))
            .send()
            .await
            .unwrap();
        assert_error_envelope(rename, 403, "forbidden").await;
    }
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE org_id = $1")
        .bind(&org.org_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(users, 1, "nothing was created");
}

async fn deactivating_a_user_kills_their_tokens_and_keys(app: TestApp) {
    let org = app.create_org("Leavers").await;
    let email = unique_email("leaver");
    let user: Value = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email, "password": PASSWORD, "role": "member" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = user["id"].as_str().unwrap();
    let tokens = app.login(&email, PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let key: Value = app
        .authed(Method::POST, "/api/v1/api-keys", access)
        .json(&json!({ "name": "leaver's script", "role": "member" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap();
    assert_eq!(app.status_with("/api/v1/auth/me", access).await, 200);
    assert_eq!(app.status_with("/api/v1/auth/me", key).await, 200);

    let deleted = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    assert_eq!(app.status_with("/api/v1/auth/me", access).await, 401);
    assert_eq!(app.status_with("/api/v1/auth/me", key).await, 401);
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .await;
    assert_error_envelope(refresh, 401, "unauthorized").await;
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_error_envelope(login, 401, "unauthorized").await;

    // The row stays, marked inactive; reactivating restores login but not old sessions.
    let fetched: Value = app
        .get_json(&format!("/api/v1/users/{id}"), &org.admin_key)
        .await;
    assert_eq!(fetched["is_active"], false);
    let restored = app
        .authed(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &org.admin_key,
        )
        .json(&json!({ "is_active": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), 200);
    assert_eq!(app.status_with("/api/v1/auth/me", access).await, 401);
    app.login(&email, PASSWORD).await;
}

async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(app: TestApp) {
    let org = app.create_org("Solo").await;
    let path = format!("/api/v1/users/{}", org.admin_user_id);
    let demote = app
        .authed(Method::PATCH, &path, &org.admin_key)
        .json(&json!({ "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(demote, 409, "conflict").await;
    let deactivate = app
        .authed(Method::DELETE, &path, &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_error_envelope(deactivate, 409, "conflict").await;
    assert_eq!(
        app.status_with("/api/v1/auth/me", &org.admin_key).await,
        200
    );

    // With a second admin, the first may step down.
    let second = create_user(
        &app,
        &org.admin_key,
        json!({ "email": unique_email("second"), "role": "admin" }),
    )
    .await;
    assert_eq!(second.status(), 201);
    let demote = app
        .authed(Method::PATCH, &path, &org.admin_key)
        .json(&json!({ "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(app: TestApp) {
    let org = app.create_org("Coup").await;
    let second: Value = create_user(
        &app,
        &org.admin_key,
        json!({ "email": unique_email("second"), "role": "admin" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let second_password = "second-admin-password";
    app.authed(
        Method::PATCH,
        &format!("/api/v1/users/{}", second["id"].as_str().unwrap()),
        &org.admin_key,
    )
    .json(&json!({ "password": second_password }))
    .send()
    .await
    .unwrap();
    let second_token = app
        .login(second["email"].as_str().unwrap(), second_password)
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let demote = |user_id: String, key: String| {
        let request = app
            .authed(Method::PATCH, &format!("/api/v1/users/{user_id}"), &key)
            .json(&json!({ "role": "member" }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let (a, b) = tokio::join!(
        demote(
            second["id"].as_str().unwrap().to_owned(),
            org.admin_key.clone()
        ),
        demote(org.admin_user_id.clone(), second_token)
    );
    // One wins. The other is refused: by the last-admin rule (409), or, when the
    // winner committed before it was authenticated, because its caller is no longer
    // an admin (403).
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!([403, 409].contains(&statuses[1]), "{statuses:?}");
    let (admins,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = 'admin' AND is_active = 1",
    )
    .bind(&org.org_id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(admins, 1);
}

async fn a_user_created_with_a_password_logs_in_with_their_role(app: TestApp) {
    let org = app.create_org("Logins").await;
    let email = unique_email("viewer");
    let created = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email, "password": PASSWORD, "role": "viewer" }),
    )
    .await;
    assert_eq!(created.status(), 201);
    let tokens = app.login(&email, PASSWORD).await;
    let me: Value = app
        .authed(
            Method::GET,
            "/api/v1/auth/me",
            tokens["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["organisation"]["id"], org.org_id.as_str());
}

async fn a_duplicate_email_is_a_409(app: TestApp) {
    let org = app.create_org("Dups").await;
    let email = unique_email("dup");
    let body = json!({ "email": email, "role": "member" });
    assert_eq!(
        create_user(&app, &org.admin_key, body.clone())
            .await
            .status(),
        201
    );
    let again = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email.to_uppercase(), "role": "member" }),
    )
    .await;
    assert_error_envelope(again, 409, "conflict").await;
}

async fn a_role_change_applies_to_tokens_already_issued(app: TestApp) {
    let org = app.create_org("Demotions").await;
    let email = unique_email("demoted");
    let user: Value = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email, "password": PASSWORD, "role": "admin" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let access = app.login(&email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.status_with("/api/v1/users", &access).await, 200);
    app.authed(
        Method::PATCH,
        &format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
        &org.admin_key,
    )
    .json(&json!({ "role": "viewer" }))
    .send()
    .await
    .unwrap();
    assert_eq!(app.status_with("/api/v1/users", &access).await, 403);
}

async fn a_demoted_users_api_keys_are_capped_at_their_new_role(app: TestApp) {
    let org = app.create_org("Caps").await;
    let email = unique_email("capped");
    let user: Value = create_user(
        &app,
        &org.admin_key,
        json!({ "email": email, "password": PASSWORD, "role": "admin" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let access = app.login(&email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key: Value = app
        .authed(Method::POST, "/api/v1/api-keys", &access)
        .json(&json!({ "name": "admin script", "role": "admin" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap();
    assert_eq!(app.status_with("/api/v1/users", key).await, 200);
    app.authed(
        Method::PATCH,
        &format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
        &org.admin_key,
    )
    .json(&json!({ "role": "viewer" }))
    .send()
    .await
    .unwrap();
    assert_eq!(app.status_with("/api/v1/users", key).await, 403);
    let me: Value = app.get_json("/api/v1/auth/me", key).await;
    assert_eq!(me["role"], "viewer");
}
