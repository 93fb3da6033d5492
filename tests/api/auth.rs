//! Sign-up, login, tokens and their rejection, `/auth/me`, and the first start's setup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, assert_error_envelope, unique_email};
use crate::on_both_databases;

const PASSWORD: &str = "correct-horse-battery-staple";

on_both_databases!(
    register_login_me_refresh_and_logout_work_in_sequence,
    a_reused_refresh_token_is_refused_and_revokes_its_whole_family,
    of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds,
    each_rejected_access_token_kind_gets_a_401_envelope,
    login_answers_the_same_401_for_an_unknown_email_and_a_wrong_password,
    a_user_without_a_password_cannot_log_in,
    emails_are_unique_regardless_of_case,
    passwords_shorter_than_the_minimum_or_longer_than_1024_bytes_are_refused,
    a_malformed_register_body_is_a_400_whose_correlation_id_is_the_request_id,
    a_mistyped_register_field_is_a_422_naming_the_field,
    me_describes_an_api_key_principal_too,
    an_api_key_is_accepted_in_the_x_api_key_header,
    concurrent_first_starts_create_exactly_one_organisation_and_admin,
    a_first_start_on_a_database_with_organisations_creates_nothing,
    the_openapi_document_lists_every_account_route,
);
on_both_databases!(flags = ["--allow-registration=false"]; registration_can_be_switched_off);
on_both_databases!(flags = ["--api-key-header=X-Quire-Key"]; the_api_key_header_is_configurable);

async fn register_login_me_refresh_and_logout_work_in_sequence(app: TestApp) {
    let email = unique_email("Ada");
    let registered = app.register("Analytical Engines", &email, PASSWORD).await;
    assert_eq!(registered["organisation"]["name"], "Analytical Engines");
    assert_eq!(registered["user"]["role"], "admin");
    assert_eq!(registered["user"]["email"], email.as_str());
    assert!(registered["user"].get("password_hash").is_none());
    assert_eq!(registered["tokens"]["token_type"], "bearer");

    // Email match is case-insensitive.
    let tokens = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let me = app
        .authed(Method::GET, "/api/v1/auth/me", access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], email.as_str());
    assert_eq!(me["organisation"]["id"], registered["organisation"]["id"]);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["credential"], "access_token");

    let rotated = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let new_access = rotated["access_token"].as_str().unwrap();
    let new_refresh = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    assert_eq!(app.status_with("/api/v1/auth/me", new_access).await, 200);

    let logout = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({ "refresh_token": new_refresh }),
        )
        .await;
    assert_eq!(logout.status(), 204);
    // The session is over: its refresh token and its access tokens stop working.
    let again = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": new_refresh }),
        )
        .await;
    assert_error_envelope(again, 401, "unauthorized").await;
    assert_eq!(app.status_with("/api/v1/auth/me", new_access).await, 401);
    assert_eq!(app.status_with("/api/v1/auth/me", access).await, 401);
    // Another session of the same user is unaffected.
    let other = app.login(&email, PASSWORD).await;
    assert_eq!(
        app.status_with("/api/v1/auth/me", other["access_token"].as_str().unwrap())
            .await,
        200
    );
}

async fn a_reused_refresh_token_is_refused_and_revokes_its_whole_family(app: TestApp) {
    let email = unique_email("reuse");
    app.register("Reuse Ltd", &email, PASSWORD).await;
    let first = app.login(&email, PASSWORD).await;
    let stolen = first["refresh_token"].as_str().unwrap().to_owned();

    let legit = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": stolen }))
        .await;
    assert_eq!(legit.status(), 200);
    let legit: Value = legit.json().await.unwrap();
    let legit_refresh = legit["refresh_token"].as_str().unwrap();
    let legit_access = legit["access_token"].as_str().unwrap();

    // The old token again: refused, and the whole family dies with it.
    let replay = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": stolen }))
        .await;
    assert_error_envelope(replay, 401, "unauthorized").await;
    let next = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": legit_refresh }),
        )
        .await;
    assert_error_envelope(next, 401, "unauthorized").await;
    assert_eq!(app.status_with("/api/v1/auth/me", legit_access).await, 401);
    let (revoked,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        revoked, 1,
        "only the registration session's token stays live"
    );
}

async fn of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(app: TestApp) {
    let email = unique_email("race");
    app.register("Race", &email, PASSWORD).await;
    let tokens = app.login(&email, PASSWORD).await;
    let body = json!({ "refresh_token": tokens["refresh_token"] });
    let (a, b) = tokio::join!(
        app.post_json("/api/v1/auth/refresh", &body),
        app.post_json("/api/v1/auth/refresh", &body)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
    // The loser's attempt is a reuse: the session is revoked, the winner's tokens too.
    let winner: Value = if a.status() == 200 { a } else { b }.json().await.unwrap();
    assert_eq!(
        app.status_with("/api/v1/auth/me", winner["access_token"].as_str().unwrap())
            .await,
        401
    );
}

/// The claims of a token, decoded without checking it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn each_rejected_access_token_kind_gets_a_401_envelope(app: TestApp) {
    let email = unique_email("tokens");
    let registered = app.register("Tokens Inc", &email, PASSWORD).await;
    let tokens = app.login(&email, PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(access);

    // A token re-signed by us with the right key and algorithm is accepted, so each
    // refusal below is down to the one thing changed.
    let resigned = sign(&claims, Algorithm::HS256, TEST_SECRET);
    assert_eq!(app.status_with("/api/v1/auth/me", &resigned).await, 200);
    let mut within_leeway = claims.clone();
    within_leeway["exp"] = json!(now_secs() - 10);
    assert_eq!(
        app.status_with(
            "/api/v1/auth/me",
            &sign(&within_leeway, Algorithm::HS256, TEST_SECRET)
        )
        .await,
        200,
        "expiry within the 30 s leeway is accepted"
    );

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut expired = claims.clone();
    expired["exp"] = json!(now_secs() - 60);
    expired["iat"] = json!(now_secs() - 3700);
    expired["nbf"] = json!(now_secs() - 3700);

    let deactivated_email = unique_email("leaver");
    let created = app
        .authed(
            Method::POST,
            "/api/v1/users",
            registered["tokens"]["access_token"].as_str().unwrap(),
        )
        .json(&json!({ "email": deactivated_email, "password": PASSWORD, "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let leaver: Value = created.json().await.unwrap();
    let leaver_access = app.login(&deactivated_email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.status_with("/api/v1/auth/me", &leaver_access).await,
        200
    );
    let deactivate = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/users/{}", leaver["id"].as_str().unwrap()),
            access,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deactivate.status(), 204);

    let cases = [
        ("alg none", alg_none),
        (
            "another algorithm (HS512)",
            sign(&claims, Algorithm::HS512, TEST_SECRET),
        ),
        (
            "a bad signature",
            sign(
                &claims,
                Algorithm::HS256,
                "another-secret-that-is-long-enough-0123456789",
            ),
        ),
        (
            "expired beyond the leeway",
            sign(&expired, Algorithm::HS256, TEST_SECRET),
        ),
        (
            "a refresh token used as an access token",
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("a deactivated user's token", leaver_access),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{what} must be refused");
        assert_error_envelope(response, 401, "unauthorized").await;
    }
    let missing = app.get("/api/v1/auth/me").await;
    assert_error_envelope(missing, 401, "unauthorized").await;
}

async fn login_answers_the_same_401_for_an_unknown_email_and_a_wrong_password(app: TestApp) {
    let email = unique_email("known");
    app.register("Known Co", &email, PASSWORD).await;
    let wrong_password = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": "not-the-password" }),
        )
        .await;
    let wrong_password = assert_error_envelope(wrong_password, 401, "unauthorized").await;
    let unknown = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "email": unique_email("nobody"), "password": PASSWORD }),
        )
        .await;
    let unknown = assert_error_envelope(unknown, 401, "unauthorized").await;
    assert_eq!(wrong_password["message"], unknown["message"]);
    assert_eq!(wrong_password["details"], unknown["details"]);
}

async fn a_user_without_a_password_cannot_log_in(app: TestApp) {
    let org = app.create_org("Keys Only").await;
    let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(&org.admin_user_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let response = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": "" }),
        )
        .await;
    assert_error_envelope(response, 401, "unauthorized").await;
}

async fn emails_are_unique_regardless_of_case(app: TestApp) {
    let email = unique_email("dup");
    app.register("First", &email, PASSWORD).await;
    let again = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "organisation_name": "Second", "email": email.to_uppercase(), "password": PASSWORD }),
        )
        .await;
    assert_error_envelope(again, 409, "conflict").await;
    let (orgs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organisations")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(
        orgs, 1,
        "the failed registration left no organisation behind"
    );
}

async fn passwords_shorter_than_the_minimum_or_longer_than_1024_bytes_are_refused(app: TestApp) {
    for password in ["short".to_owned(), "x".repeat(1025)] {
        let response = app
            .post_json(
                "/api/v1/auth/register",
                &json!({ "organisation_name": "P", "email": unique_email("pw"), "password": password }),
            )
            .await;
        let body = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], "password");
    }
    let exactly_1024 = "x".repeat(1024);
    app.register("P", &unique_email("pw"), &exactly_1024).await;
}

async fn a_malformed_register_body_is_a_400_whose_correlation_id_is_the_request_id(app: TestApp) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"organisation_name": "Acme", "email": "#)
        .send()
        .await
        .unwrap();
    // assert_error_envelope checks correlation_id == X-Request-ID.
    assert_error_envelope(response, 400, "bad_request").await;
}

async fn a_mistyped_register_field_is_a_422_naming_the_field(app: TestApp) {
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "organisation_name": "Acme", "email": 42, "password": PASSWORD }),
        )
        .await;
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "email");
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "organisation_name": "Acme", "email": "not-an-email", "password": PASSWORD }),
        )
        .await;
    let body = assert_error_envelope(response, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "email");
}

async fn registration_can_be_switched_off(app: TestApp) {
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "organisation_name": "Nope", "email": unique_email("no"), "password": PASSWORD }),
        )
        .await;
    assert_error_envelope(response, 403, "forbidden").await;
}

async fn me_describes_an_api_key_principal_too(app: TestApp) {
    let org = app.create_org("Keyed").await;
    let viewer_key = app.create_key(&org, quire::auth::Role::Viewer).await;
    let me: Value = app
        .authed(Method::GET, "/api/v1/auth/me", &viewer_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["credential"], "api_key");
    assert_eq!(me["role"], "viewer", "the key's role, not its creator's");
    assert_eq!(me["organisation"]["id"], org.org_id.as_str());
    assert_eq!(me["user"]["id"], org.admin_user_id.as_str());
    assert!(me["api_key_id"].is_string());
}

async fn an_api_key_is_accepted_in_the_x_api_key_header(app: TestApp) {
    let org = app.create_org("Header").await;
    let response = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("X-API-Key", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn the_api_key_header_is_configurable(app: TestApp) {
    let org = app.create_org("Custom Header").await;
    let with = |name: &'static str| {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header(name, &org.admin_key)
            .send()
    };
    assert_eq!(with("X-Quire-Key").await.unwrap().status(), 200);
    assert_eq!(with("X-API-Key").await.unwrap().status(), 401);
}

async fn concurrent_first_starts_create_exactly_one_organisation_and_admin(app: TestApp) {
    let db = app.state.db.clone();
    let attempts = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { quire::auth::bootstrap::create_first_admin(&db).await })
    });
    let results = futures::future::join_all(attempts).await;
    let created: Vec<_> = results
        .into_iter()
        .filter_map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(created.len(), 1, "exactly one instance sets up");
    let (orgs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organisations")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
    assert_eq!(
        app.status_with("/api/v1/auth/me", &created[0].api_key)
            .await,
        200
    );
    // A later start does nothing.
    assert!(
        quire::auth::bootstrap::create_first_admin(&db)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_first_start_on_a_database_with_organisations_creates_nothing(app: TestApp) {
    app.register("Existing", &unique_email("existing"), PASSWORD)
        .await;
    let created = quire::auth::bootstrap::create_first_admin(&app.state.db)
        .await
        .unwrap();
    assert!(created.is_none());
    let (orgs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organisations")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
}

async fn the_openapi_document_lists_every_account_route(app: TestApp) {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, methods) in [
        ("/api/v1/auth/register", &["post"][..]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/me", &["get"]),
        ("/api/v1/users", &["get", "post"]),
        ("/api/v1/users/{id}", &["get", "patch", "delete"]),
        ("/api/v1/api-keys", &["get", "post"]),
        ("/api/v1/api-keys/{id}", &["delete"]),
        ("/api/v1/orgs/current", &["get", "patch"]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
}
