//! How the client reads the server's refusals and misconfigurations: the 403
//! for a bad key, HTML for a wrong path, and that the key never leaks.

mod common;

use anythingllm::testing::{TestDouble, endpoint};
use anythingllm::{ApiKey, Client, ClientConfig, Error, WorkspaceSettings};
use common::{setup, setup_with};

#[tokio::test]
async fn wrong_api_key_is_unauthorized_from_the_403_and_is_not_retried() {
    let s = setup_with(|config| config.api_key = ApiKey::new("wrong-key")).await;
    let error = s.client.check_auth().await.expect_err("refused");
    assert!(matches!(error, Error::Unauthorized), "{error:?}");
    assert_eq!(s.handle.requests(endpoint::AUTH), 1);
}

#[tokio::test]
async fn empty_api_key_is_unauthorized_because_the_bearer_token_is_missing() {
    let s = setup_with(|config| config.api_key = ApiKey::new("")).await;
    let error = s
        .client
        .create_workspace("x", &WorkspaceSettings::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::Unauthorized), "{error:?}");
}

#[tokio::test]
async fn every_endpoint_refuses_a_bad_key_with_403_before_doing_anything() {
    let s = setup_with(|config| config.api_key = ApiKey::new("wrong")).await;
    let error = s.client.get_workspace("any").await.expect_err("refused");
    assert!(matches!(error, Error::Unauthorized));
    let error = s
        .client
        .upload_raw_text(&anythingllm::RawTextUpload::new("t", "x"))
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::Unauthorized));
    assert!(s.handle.document_locations().is_empty());
}

#[tokio::test]
async fn unauthorized_answers_do_not_trip_the_breaker() {
    let s = setup_with(|config| {
        config.api_key = ApiKey::new("wrong");
        config.retry = anythingllm::RetryPolicy::none();
    })
    .await;
    for _ in 0..8 {
        let _ = s.client.check_auth().await;
    }
    assert_eq!(s.client.breaker_state(), anythingllm::BreakerState::Closed);
}

#[tokio::test]
async fn base_url_without_the_api_prefix_is_detected_as_a_wrong_path_from_the_html_200() {
    let double = TestDouble::start().await.expect("double");
    let root = double.base_url().trim_end_matches("/api").to_owned();
    let mut config = double.client_config();
    config.base_url = root;
    let client = Client::new(config).expect("client");
    let error = client.check_auth().await.expect_err("wrong path");
    assert!(matches!(error, Error::WrongPath(_)), "{error:?}");
    assert_eq!(double.handle().requests("GET /v1/auth"), 1, "not retried");
}

#[tokio::test]
async fn unknown_path_in_development_mode_is_also_a_wrong_path() {
    let double = TestDouble::start().await.expect("double");
    double.handle().set_unknown_paths_html(false);
    let mut config = double.client_config();
    config.base_url = format!("{}/nested", double.base_url());
    let client = Client::new(config).expect("client");
    let error = client.get_workspace("x").await.expect_err("wrong path");
    assert!(matches!(error, Error::WrongPath(_)), "{error:?}");
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut config = ClientConfig::new(format!("http://{addr}/api"), "key");
    config.retry.base_delay = std::time::Duration::from_millis(1);
    config.retry.max_delay = std::time::Duration::from_millis(2);
    let client = Client::new(config).expect("client");
    let error = client.check_auth().await.expect_err("nobody listens");
    assert!(matches!(error, Error::Connect(_)), "{error:?}");
}

#[tokio::test]
async fn base_url_that_is_not_http_is_a_configuration_error() {
    let error = Client::new(ClientConfig::new("ftp://example/api", "k")).expect_err("refused");
    assert!(matches!(error, Error::InvalidConfig(_)));
    let error = Client::new(ClientConfig::new("not a url", "k")).expect_err("refused");
    assert!(matches!(error, Error::InvalidConfig(_)));
}

#[tokio::test]
async fn api_key_with_a_newline_is_a_configuration_error_that_does_not_quote_it() {
    let error = Client::new(ClientConfig::new("http://localhost:3001/api", "sec\nret"))
        .expect_err("refused");
    assert!(matches!(error, Error::InvalidConfig(_)));
    assert!(!error.to_string().contains("sec"));
}

#[tokio::test]
async fn api_key_never_appears_in_debug_output_or_error_messages() {
    let secret = "super-secret-key-value";
    let s = setup_with(|config| config.api_key = ApiKey::new(secret)).await;
    let config = ClientConfig::new(s.double.base_url(), secret);
    assert!(!format!("{config:?}").contains(secret));
    assert!(format!("{:?}", config.api_key).contains("[redacted]"));
    assert!(!format!("{:?}", s.client).contains(secret));
    let error = s.client.check_auth().await.expect_err("wrong key");
    assert!(!format!("{error} {error:?}").contains(secret));
}

#[tokio::test]
async fn breaker_state_names_match_the_health_report_vocabulary() {
    let s = setup().await;
    assert_eq!(s.client.breaker_state().as_str(), "closed");
    assert_eq!(anythingllm::BreakerState::HalfOpen.to_string(), "half_open");
    assert_eq!(
        serde_json::to_string(&anythingllm::BreakerState::Open).expect("json"),
        "\"open\""
    );
}
