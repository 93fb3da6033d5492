//! In-process fakes of the OpenAI chat-completions and Anthropic Messages APIs,
//! for tests of this crate and of its users (feature `testing`; never in a
//! release build's normal dependencies).
//!
//! [`FakeLlm::start`] binds a real HTTP server on `127.0.0.1:0` before it
//! returns, so tests never wait for it. It serves both
//! `POST /v1/chat/completions` and `POST /v1/messages`, records every request
//! (path, headers, JSON body), checks the key the way each provider does, and
//! answers with the providers' real shapes, `usage` included. Faults are queued
//! with [`FakeLlm::fail_next`]: a 429 with `Retry-After`, any status with the
//! provider's error body, a body that is not the documented JSON, or a slow
//! answer.
//!
//! The reply text is fixed ([`FakeLlm::set_reply`]) or, by default, derived
//! from the question: `Fake answer to: <last line of the last user message>`,
//! so a test can tell which question an answer belongs to.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, Uri};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::settings::{ApiKey, LlmSettings, Provider};

/// The model name the fake reports when a request names none.
pub const FAKE_MODEL: &str = "fake-model";

/// What the fake does with one request instead of answering it normally.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with the provider's rate-limit body and this `Retry-After` value
    /// (seconds or an HTTP-date), or none.
    RateLimited { retry_after: Option<String> },
    /// This status with the provider's error body (`api_error`/`server_error`).
    Status(u16),
    /// 200 with a body that is not the documented JSON.
    Malformed,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Exactly this answer, for shapes of other servers in front of the model
    /// (a gateway's plain-text 502, Ollama's `{"error": "..."}`, an HTML page).
    Raw {
        status: u16,
        content_type: &'static str,
        body: String,
    },
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub headers: HeaderMap,
    /// `Null` when the body was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Default)]
struct Shared {
    api_key: Option<String>,
    reply: Option<String>,
    /// Answers used once each, oldest first, before `reply`.
    queued_replies: VecDeque<String>,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
}

/// A running fake. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeLlm {
    base_url: String,
    shared: Arc<Mutex<Shared>>,
    _shutdown: watch::Sender<bool>,
}

impl FakeLlm {
    /// A fake that accepts any key, or none (a local server).
    pub async fn start() -> io::Result<Self> {
        Self::start_inner(None).await
    }

    /// A fake that answers 401 unless the request carries `key` (Bearer for
    /// OpenAI, `x-api-key` for Anthropic).
    pub async fn start_with_key(key: &str) -> io::Result<Self> {
        Self::start_inner(Some(key.to_owned())).await
    }

    async fn start_inner(api_key: Option<String>) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            api_key,
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/messages", post(messages))
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        let (shutdown, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "fake LLM server stopped with an error");
            }
        });
        Ok(Self {
            base_url: format!("http://{addr}"),
            shared,
            _shutdown: shutdown,
        })
    }

    /// `http://127.0.0.1:PORT` (clients add `/v1/...`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Settings for a client of this fake speaking `provider`, with the fake's
    /// key when it has one and a short timeout.
    pub fn settings(&self, provider: Provider) -> LlmSettings {
        let mut settings = LlmSettings::new(provider, self.base_url.clone(), FAKE_MODEL);
        settings.api_key = lock(&self.shared).api_key.clone().map(ApiKey::new);
        settings.timeout = Duration::from_secs(5);
        settings
    }

    /// Every answer's text from now on (`None`: derived from the question).
    pub fn set_reply(&self, text: Option<&str>) {
        lock(&self.shared).reply = text.map(str::to_owned);
    }

    /// The next answers' texts, one per answered request, before [`FakeLlm::set_reply`]'s
    /// (a model that first answers badly, then well).
    pub fn queue_replies(&self, texts: &[&str]) {
        let mut shared = lock(&self.shared);
        shared
            .queued_replies
            .extend(texts.iter().map(|t| (*t).to_owned()));
    }

    /// The next `n` requests meet `fault`, after any already queued.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut shared = lock(&self.shared);
        for _ in 0..n {
            shared.faults.push_back(fault.clone());
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared).requests.len()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn chat_completions(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    handle(Provider::OpenAi, shared, uri, headers, body).await
}

async fn messages(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    handle(Provider::Anthropic, shared, uri, headers, body).await
}

async fn not_found() -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        json!({"error": {"message": "Unknown request URL", "type": "invalid_request_error"}}),
    )
}

async fn handle(
    provider: Provider,
    shared: Arc<Mutex<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (fault, api_key) = {
        let mut s = lock(&shared);
        s.requests.push(RecordedRequest {
            path: uri.path().to_owned(),
            headers: headers.clone(),
            body: parsed.clone(),
        });
        (s.faults.pop_front(), s.api_key.clone())
    };
    match fault {
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Malformed) => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from("{\"choices\": [{\"message\": "))
                .unwrap_or_default();
        }
        Some(Fault::RateLimited { retry_after }) => {
            let mut response = error(provider, 429, "rate_limit_error", "Rate limit reached");
            if let Some(value) = retry_after
                && let Ok(value) = value.parse()
            {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        Some(Fault::Raw {
            status,
            content_type,
            body,
        }) => {
            return Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap_or_default();
        }
        Some(Fault::Status(status)) => {
            let kind = match (provider, status) {
                (Provider::Anthropic, 529) => "overloaded_error",
                (Provider::Anthropic, _) => "api_error",
                (Provider::OpenAi, _) => "server_error",
            };
            return error(provider, status, kind, "The server had an error");
        }
        None => {}
    }
    if let Some(rejected) = check_headers(provider, api_key.as_deref(), &headers) {
        return rejected;
    }
    let Some(messages) = parsed.get("messages").and_then(Value::as_array) else {
        return error(
            provider,
            400,
            "invalid_request_error",
            "messages: field required",
        );
    };
    // A queued reply is spent only by a request that is answered.
    let reply = {
        let mut s = lock(&shared);
        s.queued_replies.pop_front().or_else(|| s.reply.clone())
    };
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(FAKE_MODEL)
        .to_owned();
    let text = reply.unwrap_or_else(|| {
        let question = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content").and_then(Value::as_str))
            .and_then(|c| c.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .trim()
            .to_owned();
        format!("Fake answer to: {question}")
    });
    let input_tokens = words(&parsed);
    let output_tokens = text.split_whitespace().count();
    let body = match provider {
        Provider::OpenAi => json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens}
        }),
        Provider::Anthropic => json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
        }),
    };
    respond(StatusCode::OK, body)
}

/// The providers' own checks: OpenAI wants `Authorization: Bearer`, Anthropic
/// `x-api-key` and an `anthropic-version`.
fn check_headers(
    provider: Provider,
    api_key: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match provider {
        Provider::OpenAi => {
            let expected = api_key?;
            let sent = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
            (sent != Some(expected)).then(|| {
                error(
                    provider,
                    401,
                    "invalid_request_error",
                    &format!("Incorrect API key provided: {}.", sent.unwrap_or("(none)")),
                )
            })
        }
        Provider::Anthropic => {
            if header("anthropic-version").is_none() {
                return Some(error(
                    provider,
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                ));
            }
            let expected = api_key?;
            (header("x-api-key") != Some(expected))
                .then(|| error(provider, 401, "authentication_error", "invalid x-api-key"))
        }
    }
}

fn error(provider: Provider, status: u16, kind: &str, message: &str) -> Response<Body> {
    let body = match provider {
        Provider::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Provider::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    };
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

fn respond(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// A stand-in for a token count: words in every string of the request's
/// messages and system prompt.
fn words(request: &Value) -> usize {
    fn count(v: &Value) -> usize {
        match v {
            Value::String(s) => s.split_whitespace().count(),
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o
                .iter()
                .filter(|(k, _)| k.as_str() != "role")
                .map(|(_, v)| count(v))
                .sum(),
            _ => 0,
        }
    }
    count(request.get("messages").unwrap_or(&Value::Null))
        + count(request.get("system").unwrap_or(&Value::Null))
}
