mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, Uri};
use common::{SERVICES, chars_at, contracts, indexed};
use quire_engine::{
    AnswerKind, ApiKey, LlmClient, LlmConfig, LlmError, Passage, Provider, Turn, answer_with_llm,
};
use serde_json::{Value, json};

const KEY: &str = "sk-test-7f3a9c1e5b";

#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    headers: Vec<(&'static str, &'static str)>,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            headers: vec![("content-type", "application/json")],
            delay: Duration::ZERO,
        }
    }
}

struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct Fake {
    reply: Reply,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

async fn answer(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    fake.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    tokio::time::sleep(fake.reply.delay).await;
    let mut response = Response::builder().status(fake.reply.status);
    for (name, value) in &fake.reply.headers {
        response = response.header(*name, *value);
    }
    response.body(Body::from(fake.reply.body.clone())).unwrap()
}

/// A local HTTP server that answers every request with `reply` and records it.
async fn fake_server(reply: Reply) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(answer).with_state(Fake {
        reply,
        requests: requests.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, requests)
}

fn client(provider: Provider, base: &str, key: Option<&str>) -> LlmClient {
    let mut config = LlmConfig::new(provider, base, "test-model");
    config.api_key = key.map(ApiKey::new);
    config.temperature = 0.1;
    config.max_tokens = 300;
    config.timeout = Duration::from_secs(5);
    LlmClient::new(config).unwrap()
}

fn passages() -> Vec<Passage> {
    let index = indexed(&contracts());
    index
        .search("What is the governing law?", 3, None, Some(&[SERVICES]))
        .unwrap()
}

fn openai_completion(content: Value) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-9x2", "object": "chat.completion", "created": 1_700_000_000,
            "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 14, "total_tokens": 826}
        }),
    )
}

fn anthropic_message(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "test-model",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 812, "output_tokens": 14}
        }),
    )
}

#[tokio::test]
async fn an_openai_compatible_server_answers_from_the_first_choices_message() {
    let (base, requests) = fake_server(openai_completion(json!(
        "England and Wales law governs [1]."
    )))
    .await;
    let passages = passages();
    let history = [
        Turn::user("Who are the parties?"),
        Turn::assistant("Northwind and Contoso [1]."),
    ];

    let answer = answer_with_llm(
        &client(Provider::OpenAi, &base, Some(KEY)),
        "What is the governing law?",
        &passages,
        Some("You are a procurement analyst."),
        &history,
    )
    .await
    .unwrap();

    assert_eq!(answer.text, "England and Wales law governs [1].");
    assert_eq!(answer.kind, AnswerKind::Generated);
    assert_eq!(answer.sources.len(), passages.len());
    assert_eq!(answer.sources[0].document_id, SERVICES);
    assert_eq!(answer.sources[0].page, 4);
    let page = contracts()[0].page(4).to_owned();
    assert_eq!(
        chars_at(&page, answer.sources[0].start, answer.sources[0].end),
        answer.sources[0].snippet
    );

    let requests = requests.lock().unwrap();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    let body = &request.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["stream"], false);
    assert!((body["temperature"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You are a procurement analyst."})
    );
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[2]["role"], "assistant");
    let prompt = messages[3]["content"].as_str().unwrap();
    assert!(
        prompt.contains(&format!("[1] document {SERVICES} (pdf), page 4")),
        "{prompt}"
    );
    assert!(prompt.contains("governed by the laws of England and Wales"));
    assert!(prompt.ends_with("Question: What is the governing law?"));
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_header_and_a_v1_base_works() {
    let (base, requests) = fake_server(openai_completion(json!("Yes."))).await;
    let client = client(Provider::OpenAi, &format!("{base}/v1"), None);

    let text = client
        .complete("system", &[Turn::user("Ping?")])
        .await
        .unwrap();

    assert_eq!(text, "Yes.");
    let requests = requests.lock().unwrap();
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn an_anthropic_server_answers_from_its_text_content() {
    let (base, requests) = fake_server(anthropic_message("England and Wales [1].")).await;
    // A thread may open with an assistant greeting; the Messages API must start with the user.
    let history = [
        Turn::assistant("How can I help?"),
        Turn::user("Hi"),
        Turn::assistant("Hello."),
    ];

    let answer = answer_with_llm(
        &client(Provider::Anthropic, &base, Some(KEY)),
        "What is the governing law?",
        &passages(),
        None,
        &history,
    )
    .await
    .unwrap();

    assert_eq!(answer.text, "England and Wales [1].");
    let requests = requests.lock().unwrap();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert!(!request.headers.contains_key("authorization"));
    let body = &request.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["system"], quire_engine::DEFAULT_SYSTEM_PROMPT);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], json!({"role": "user", "content": "Hi"}));
    assert_eq!(messages[2]["role"], "user");
}

#[tokio::test]
async fn a_rejected_key_is_an_unauthorized_error_that_never_shows_the_key() {
    let (base, _) = fake_server(Reply::json(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}. You can find your API key in your account settings."),
                         "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    ))
    .await;

    let err = client(Provider::OpenAi, &base, Some(KEY))
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();

    assert!(
        matches!(err, LlmError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY));
    assert!(err.to_string().contains("Incorrect API key provided"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_anthropic_authentication_error_is_unauthorized() {
    let (base, _) = fake_server(Reply::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    ))
    .await;
    let err = client(Provider::Anthropic, &base, Some(KEY))
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Unauthorized { message, .. } if message == "invalid x-api-key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn anthropic_overload_is_a_retryable_api_error_with_its_kind() {
    let (base, _) = fake_server(Reply::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))
    .await;

    let err = client(Provider::Anthropic, &base, Some(KEY))
        .complete("s", &[Turn::user("q")])
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
                (529, Some("overloaded_error"), "Overloaded")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_rate_limit_carries_the_retry_after_delay() {
    let mut reply = Reply::json(
        429,
        json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    );
    reply.headers.push(("retry-after", "7"));
    let (base, _) = fake_server(reply).await;

    let err = client(Provider::OpenAi, &base, Some(KEY))
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();

    assert!(
        matches!(err, LlmError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_ollama_style_error_string_keeps_its_message() {
    let (base, _) = fake_server(Reply::json(
        404,
        json!({"error": "model \"test-model\" not found, try pulling it first"}),
    ))
    .await;
    let err = client(Provider::OpenAi, &base, None)
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Api { status: 404, message, .. } if message.contains("not found")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_plain_text_gateway_error_is_a_retryable_api_error() {
    let (base, _) = fake_server(Reply {
        status: 502,
        body: "Bad Gateway".to_owned(),
        headers: vec![("content-type", "text/plain")],
        delay: Duration::ZERO,
    })
    .await;
    let err = client(Provider::OpenAi, &base, None)
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Api { status: 502, message, .. } if message == "Bad Gateway"),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_empty_completion_is_an_empty_answer_error() {
    let (base, _) = fake_server(openai_completion(Value::Null)).await;
    let err = client(Provider::OpenAi, &base, None)
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::EmptyAnswer), "{err:?}");
}

#[tokio::test]
async fn a_success_status_with_a_foreign_body_is_an_invalid_response_error() {
    let (base, _) = fake_server(Reply {
        status: 200,
        body: "<html>captive portal</html>".to_owned(),
        headers: vec![("content-type", "text/html")],
        delay: Duration::ZERO,
    })
    .await;
    let err = client(Provider::Anthropic, &base, None)
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_a_retryable_timeout() {
    let mut reply = openai_completion(json!("late"));
    reply.delay = Duration::from_secs(3);
    let (base, _) = fake_server(reply).await;
    let mut config = LlmConfig::new(Provider::OpenAi, &base, "test-model");
    config.timeout = Duration::from_millis(200);

    let err = LlmClient::new(config)
        .unwrap()
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();

    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let err = client(Provider::OpenAi, &base, Some(KEY))
        .complete("s", &[Turn::user("q")])
        .await
        .unwrap_err();

    assert!(matches!(err, LlmError::Connect(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(KEY));
}

#[test]
fn a_base_url_without_a_scheme_is_an_invalid_config() {
    let config = LlmConfig::new(Provider::OpenAi, "localhost:11434", "m");
    assert!(matches!(
        LlmClient::new(config),
        Err(LlmError::InvalidConfig(_))
    ));
}
