//! The real clients over HTTP against the in-process fakes: request shapes,
//! answers with usage, and every fault the fakes can play.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quire_llm::testing::{FAKE_MODEL, FakeLlm, Fault};
use quire_llm::{
    BreakerConfig, BreakerState, ClientOptions, LlmClient, LlmClients, LlmError, LlmRequest,
    LlmSettings, ManualClock, Message, Provider, RetryPolicy, SettingsError, Usage,
};
use serde_json::json;

const KEY: &str = "sk-test-7f3a9c1e5b";

/// Retries a few milliseconds apart, so tests stay fast.
fn fast_options() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        ..ClientOptions::default()
    }
}

fn no_retry() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    }
}

fn client(fake: &FakeLlm, provider: Provider, options: &ClientOptions) -> LlmClient {
    let mut settings = fake.settings(provider);
    settings.temperature = 0.1;
    settings.max_tokens = 300;
    LlmClient::with_options(settings, options).unwrap()
}

fn ask(text: &str) -> LlmRequest {
    LlmRequest::new(Some("system".into()), vec![Message::user(text)])
}

#[tokio::test]
async fn an_openai_compatible_answer_carries_text_model_and_usage() {
    let fake = FakeLlm::start_with_key(KEY).await.unwrap();
    let client = client(&fake, Provider::OpenAi, &no_retry());

    let answer = client
        .complete(&LlmRequest::new(
            Some("You are a procurement analyst.".into()),
            vec![
                Message::user("Who are the parties?"),
                Message::assistant("Northwind and Contoso."),
                Message::user("Passages...\nQuestion: What is the governing law?"),
            ],
        ))
        .await
        .unwrap();

    assert_eq!(
        answer.text,
        "Fake answer to: Question: What is the governing law?"
    );
    assert_eq!(answer.model, FAKE_MODEL);
    let usage = answer.usage.expect("usage");
    assert!(usage.input_tokens > 5, "{usage:?}");
    assert_eq!(usage.output_tokens, 9);

    let requests = fake.requests();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = &request.body;
    assert_eq!(body["model"], FAKE_MODEL);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["stream"], false);
    assert!((body["temperature"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You are a procurement analyst."})
    );
    assert_eq!(messages[2]["role"], "assistant");
}

#[tokio::test]
async fn an_anthropic_answer_reads_input_and_output_tokens() {
    let fake = FakeLlm::start_with_key(KEY).await.unwrap();
    fake.set_reply(Some("England and Wales [1]."));
    let client = client(&fake, Provider::Anthropic, &no_retry());

    let answer = client
        .complete(&LlmRequest {
            system: Some("Be brief.".into()),
            // The Messages API must open with the user.
            messages: vec![
                Message::assistant("How can I help?"),
                Message::user("Hi"),
                Message::assistant("Hello."),
                Message::user("Governing law?"),
            ],
            temperature: Some(0.0),
            max_tokens: Some(50),
        })
        .await
        .unwrap();

    assert_eq!(answer.text, "England and Wales [1].");
    assert_eq!(
        answer.usage,
        Some(Usage {
            input_tokens: 6,
            output_tokens: 4
        })
    );
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("authorization"), None);
    let body = &request.body;
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["temperature"], 0.0);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], json!({"role": "user", "content": "Hi"}));
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_header_and_a_v1_base_works() {
    let fake = FakeLlm::start().await.unwrap();
    let mut settings = fake.settings(Provider::OpenAi);
    settings.base_url = format!("{}/v1", fake.base_url());
    let client = LlmClient::with_options(settings, &no_retry()).unwrap();

    let answer = client.complete(&ask("Ping?")).await.unwrap();

    assert_eq!(answer.text, "Fake answer to: Ping?");
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_rejected_key_is_an_unauthorized_error_that_never_shows_the_key() {
    let fake = FakeLlm::start_with_key("sk-the-right-one").await.unwrap();
    let mut settings = fake.settings(Provider::OpenAi);
    settings.api_key = Some(quire_llm::ApiKey::new(KEY));
    let client = LlmClient::with_options(settings, &fast_options()).unwrap();

    let err = client.complete(&ask("q")).await.unwrap_err();

    assert!(
        matches!(err, LlmError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY));
    assert!(err.to_string().contains("Incorrect API key provided"));
    assert!(!err.is_retryable());
    assert_eq!(fake.request_count(), 1, "a refused key is not retried");
}

#[tokio::test]
async fn an_anthropic_authentication_error_is_unauthorized() {
    let fake = FakeLlm::start_with_key(KEY).await.unwrap();
    let mut settings = fake.settings(Provider::Anthropic);
    settings.api_key = Some(quire_llm::ApiKey::new("sk-wrong"));
    let err = LlmClient::with_options(settings, &no_retry())
        .unwrap()
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Unauthorized { message, .. } if message == "invalid x-api-key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_waits_for_retry_after_then_succeeds() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Some("1".into()),
        },
    );
    let options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        },
        ..ClientOptions::default()
    };
    let client = client(&fake, Provider::OpenAi, &options);

    let started = Instant::now();
    let answer = client.complete(&ask("q")).await.unwrap();

    assert_eq!(answer.text, "Fake answer to: q");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}, less than Retry-After",
        started.elapsed()
    );
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_rate_limit_with_an_http_date_is_read_and_reported_when_retries_run_out() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Some("7".into()),
        },
    );
    let err = client(&fake, Provider::OpenAi, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert!(err.is_retryable());

    // An HTTP-date in the past means "now".
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        },
    );
    let err = client(&fake, Provider::Anthropic, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::RateLimited { retry_after: Some(d), .. } if d == Duration::ZERO),
        "{err:?}"
    );
}

#[tokio::test]
async fn gateway_errors_and_overload_are_retried_until_an_answer() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(1, Fault::Status(503));
    fake.fail_next(1, Fault::Status(529));
    let answer = client(&fake, Provider::Anthropic, &fast_options())
        .complete(&ask("q"))
        .await
        .unwrap();
    assert_eq!(answer.text, "Fake answer to: q");
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn anthropic_overload_is_a_retryable_api_error_with_its_kind() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(1, Fault::Status(529));
    let err = client(&fake, Provider::Anthropic, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    match &err {
        LlmError::Api {
            status,
            kind,
            message,
        } => {
            assert_eq!(
                (*status, kind.as_deref(), message.as_str()),
                (529, Some("overloaded_error"), "The server had an error")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_internal_server_error_is_not_repeated_by_the_client_but_is_retryable_for_callers() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(1, Fault::Status(500));
    let err = client(&fake, Provider::OpenAi, &fast_options())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(matches!(&err, LlmError::Api { status: 500, .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_malformed_body_is_an_invalid_response_error_and_not_retried() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(1, Fault::Malformed);
    let err = client(&fake, Provider::OpenAi, &fast_options())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidResponse(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn an_ollama_style_error_string_keeps_its_message() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::Raw {
            status: 404,
            content_type: "application/json",
            body: json!({"error": "model \"test-model\" not found, try pulling it first"})
                .to_string(),
        },
    );
    let err = client(&fake, Provider::OpenAi, &fast_options())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Api { status: 404, message, .. } if message.contains("not found")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_plain_text_gateway_error_is_a_retryable_api_error() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::Raw {
            status: 502,
            content_type: "text/plain",
            body: "Bad Gateway".into(),
        },
    );
    let err = client(&fake, Provider::OpenAi, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Api { status: 502, message, .. } if message == "Bad Gateway"),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_success_status_with_a_foreign_body_is_an_invalid_response_error() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::Raw {
            status: 200,
            content_type: "text/html",
            body: "<html>captive portal</html>".into(),
        },
    );
    let err = client(&fake, Provider::Anthropic, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn an_empty_completion_is_an_empty_answer_error() {
    let fake = FakeLlm::start().await.unwrap();
    fake.set_reply(Some("  "));
    let err = client(&fake, Provider::OpenAi, &no_retry())
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::EmptyAnswer), "{err:?}");
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_a_retryable_timeout() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(5, Fault::Slow(Duration::from_secs(3)));
    let mut settings = fake.settings(Provider::OpenAi);
    settings.timeout = Duration::from_millis(200);
    let started = Instant::now();

    let err = LlmClient::with_options(settings, &fast_options())
        .unwrap()
        .complete(&ask("q"))
        .await
        .unwrap_err();

    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.request_count(), 3, "timeouts are retried");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_arrives() {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(1, Fault::Slow(Duration::from_millis(300)));
    let answer = client(&fake, Provider::Anthropic, &no_retry())
        .complete(&ask("late"))
        .await
        .unwrap();
    assert_eq!(answer.text, "Fake answer to: late");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut settings = LlmSettings::new(Provider::OpenAi, base, "m");
    settings.api_key = Some(quire_llm::ApiKey::new(KEY));

    let err = LlmClient::with_options(settings, &fast_options())
        .unwrap()
        .complete(&ask("q"))
        .await
        .unwrap_err();

    assert!(matches!(err, LlmError::Connect(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn the_breaker_of_a_failing_endpoint_opens_and_half_opens_on_the_clock() {
    let fake = FakeLlm::start().await.unwrap();
    let clock = Arc::new(ManualClock::new());
    let clients = LlmClients::new(ClientOptions {
        retry: RetryPolicy::none(),
        breaker: BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_secs(30),
            clock: clock.clone(),
        },
        ..ClientOptions::default()
    });
    let settings = fake.settings(Provider::OpenAi);
    fake.fail_next(2, Fault::Status(502));
    for _ in 0..2 {
        let client = clients.client(settings.clone()).unwrap();
        assert!(client.complete(&ask("q")).await.is_err());
    }
    assert_eq!(clients.breaker_state(&settings), BreakerState::Open);
    let err = clients
        .client(settings.clone())
        .unwrap()
        .complete(&ask("q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::CircuitOpen), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.request_count(), 2, "nothing sent while open");

    // Another endpoint (the same fake under Anthropic) is not affected.
    assert_eq!(
        clients.breaker_state(&fake.settings(Provider::Anthropic)),
        BreakerState::Closed
    );

    clock.advance(Duration::from_secs(30));
    assert_eq!(clients.breaker_state(&settings), BreakerState::HalfOpen);
    clients
        .client(settings.clone())
        .unwrap()
        .complete(&ask("q"))
        .await
        .unwrap();
    assert_eq!(clients.breaker_state(&settings), BreakerState::Closed);
}

#[test]
fn a_base_url_without_a_scheme_is_an_invalid_config_naming_the_field() {
    let settings = LlmSettings::new(Provider::OpenAi, "localhost:11434", "m");
    match LlmClient::new(settings) {
        Err(LlmError::InvalidConfig(e)) => assert_eq!(e.field(), "base_url"),
        other => panic!("{other:?}"),
    }
    let settings = LlmSettings::new(Provider::OpenAi, "http://localhost:11434", " ");
    assert!(matches!(
        LlmClient::new(settings),
        Err(LlmError::InvalidConfig(SettingsError::Invalid { .. }))
    ));
}
