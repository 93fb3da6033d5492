//! The in-memory principal cache (`src/auth/cache.rs`): changes made through one instance
//! end cached principals on every instance at once, and `AUTH_CACHE_SECONDS` bounds what
//! a change made behind the service's back can outlive.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, unique_email};
use crate::on_both_databases;

const PASSWORD: &str = "correct-horse-battery-staple";

on_both_databases!(flags = ["--auth-cache-seconds=0"]; without_the_cache_a_key_revoked_in_the_database_is_refused_at_once);
on_both_databases!(flags = ["--auth-cache-seconds=1"]; a_change_made_behind_the_services_back_lasts_at_most_the_cache_lifetime);

async fn wait_until_listening(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.state.principals.hears_changes() {
        assert!(
            Instant::now() < deadline,
            "the instance never started listening for auth changes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `GET /auth/me` with `credential` on `app` until `done` holds, for at most two
/// seconds (entries live 30 s, so passing proves the change was announced).
async fn me_until(app: &TestApp, credential: &str, done: impl Fn(u16, &Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", credential)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if done(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the other instance still answers {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn prefix_of(key: &str) -> &str {
    quire::auth::tokens::parse_api_key(key).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_ends_cached_principals_on_another() {
    let Some(first) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let second = first.spawn_alongside(&[]).await;
    wait_until_listening(&first).await;
    wait_until_listening(&second).await;
    let org = first.create_org("Two instances").await;

    let email = unique_email("roamer");
    let created = first
        .authed(Method::POST, "/api/v1/users", &org.admin_key)
        .json(&json!({ "email": email, "password": PASSWORD, "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let user_id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = second.login(&email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key: Value = first
        .authed(Method::POST, "/api/v1/api-keys", &access)
        .json(&json!({ "name": "roaming script" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let key_prefix = prefix_of(&key).to_owned();

    // The second instance now serves both credentials from memory.
    for credential in [&access, &key] {
        assert_eq!(second.status_with("/api/v1/auth/me", credential).await, 200);
    }
    assert!(
        second.state.principals.api_key(&key_prefix).is_some(),
        "the key is cached on the second instance"
    );

    // A rename shows on the other instance's /me.
    let renamed = first
        .authed(Method::PATCH, "/api/v1/orgs/current", &org.admin_key)
        .json(&json!({ "name": "Renamed elsewhere" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200, "{:?}", renamed.text().await);
    me_until(&second, &access, |status, body| {
        status == 200 && body["organisation"]["name"] == "Renamed elsewhere"
    })
    .await;

    // A demotion applies there at once, to the session and (capped) to the key.
    let demoted = first
        .authed(
            Method::PATCH,
            &format!("/api/v1/users/{user_id}"),
            &org.admin_key,
        )
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);
    me_until(&second, &access, |status, body| {
        status == 200 && body["role"] == "viewer"
    })
    .await;
    me_until(&second, &key, |status, body| {
        status == 200 && body["role"] == "viewer"
    })
    .await;

    // Deactivation ends both there.
    let deactivated = first
        .authed(
            Method::DELETE,
            &format!("/api/v1/users/{user_id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 204);
    me_until(&second, &access, |status, _| status == 401).await;
    me_until(&second, &key, |status, _| status == 401).await;

    // And a revoked key of another user stops there too.
    let other: Value = first
        .authed(Method::POST, "/api/v1/api-keys", &org.admin_key)
        .json(&json!({ "name": "short-lived" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = other["key"].as_str().unwrap();
    assert_eq!(second.status_with("/api/v1/auth/me", other_key).await, 200);
    let revoked = first
        .authed(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", other["id"].as_str().unwrap()),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    me_until(&second, other_key, |status, _| status == 401).await;
}

/// Revokes a key with SQL, as an operator might, bypassing the service.
async fn revoke_behind_the_services_back(app: &TestApp, key: &str) {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2")
        .bind(1_i64)
        .bind(prefix_of(key))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

async fn without_the_cache_a_key_revoked_in_the_database_is_refused_at_once(app: TestApp) {
    let org = app.create_org("Uncached").await;
    let key = app.create_key(&org, quire::auth::Role::Member).await;
    assert_eq!(app.status_with("/api/v1/auth/me", &key).await, 200);
    revoke_behind_the_services_back(&app, &key).await;
    assert_eq!(app.status_with("/api/v1/auth/me", &key).await, 401);
}

async fn a_change_made_behind_the_services_back_lasts_at_most_the_cache_lifetime(app: TestApp) {
    wait_until_listening(&app).await;
    let org = app.create_org("Backstop").await;
    let key = app.create_key(&org, quire::auth::Role::Member).await;
    assert_eq!(app.status_with("/api/v1/auth/me", &key).await, 200);
    revoke_behind_the_services_back(&app, &key).await;
    let started = Instant::now();
    while app.status_with("/api/v1/auth/me", &key).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a 1-second cache entry outlived 3 seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
