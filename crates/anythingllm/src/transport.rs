//! One HTTP exchange, the rules every answer goes through, retries, the
//! breaker and metrics. The operations in `client.rs` only say what to send and
//! how to read the answer.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use quire_resilience::{CircuitBreaker, RetryPolicy};

use crate::error::{Error, Idempotency, Result, excerpt};

/// Names used as the `operation` label of the metrics and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Ping,
    Auth,
    CreateWorkspace,
    ListWorkspaces,
    GetWorkspace,
    UpdateWorkspace,
    DeleteWorkspace,
    UploadFile,
    UploadRawText,
    UpdateEmbeddings,
    CreateThread,
    DeleteThread,
    Chat,
    ThreadChat,
    CreateFolder,
    MoveFiles,
    RemoveDocuments,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Ping => "ping",
            Operation::Auth => "auth",
            Operation::CreateWorkspace => "create_workspace",
            Operation::ListWorkspaces => "list_workspaces",
            Operation::GetWorkspace => "get_workspace",
            Operation::UpdateWorkspace => "update_workspace",
            Operation::DeleteWorkspace => "delete_workspace",
            Operation::UploadFile => "upload_file",
            Operation::UploadRawText => "upload_raw_text",
            Operation::UpdateEmbeddings => "update_embeddings",
            Operation::CreateThread => "create_thread",
            Operation::DeleteThread => "delete_thread",
            Operation::Chat => "chat",
            Operation::ThreadChat => "thread_chat",
            Operation::CreateFolder => "create_folder",
            Operation::MoveFiles => "move_files",
            Operation::RemoveDocuments => "remove_documents",
        }
    }
}

/// A multipart body kept as bytes so that every attempt can rebuild the form:
/// reqwest consumes a `Form` when it sends it.
#[derive(Debug, Clone)]
pub(crate) struct MultipartBody {
    pub file_name: String,
    pub mime: String,
    pub content: Bytes,
    pub fields: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Empty,
    Json(Bytes),
    Multipart(MultipartBody),
}

impl Payload {
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<Self> {
        serde_json::to_vec(value)
            .map(|v| Payload::Json(Bytes::from(v)))
            .map_err(|e| Error::Decode(format!("could not encode the request body: {e}")))
    }
}

#[derive(Debug)]
pub(crate) struct Call {
    pub op: Operation,
    pub method: Method,
    pub url: Url,
    pub payload: Payload,
    pub timeout: Duration,
    pub idempotency: Idempotency,
}

/// An HTTP answer, read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl Answer {
    pub(crate) fn is_json(&self) -> bool {
        self.content_type.contains("json")
    }

    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Decode(format!(
                "{} answer is not the documented JSON ({e}): {}",
                self.status.as_u16(),
                excerpt(&self.body)
            ))
        })
    }

    /// The JSON body, if it is one.
    pub(crate) fn json_value(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The human-readable reason in a JSON error body (`error` or `message`),
    /// or the body itself.
    pub(crate) fn reason(&self) -> String {
        if let Some(value) = self.json_value() {
            for key in ["error", "message"] {
                if let Some(text) = value.get(key).and_then(serde_json::Value::as_str) {
                    return text.to_owned();
                }
            }
        }
        let text = excerpt(&self.body);
        if text.is_empty() {
            self.status.canonical_reason().unwrap_or("").to_owned()
        } else {
            text
        }
    }

    /// The plain-text body that Express `sendStatus` produces.
    pub(crate) fn is_plain_status_text(&self) -> bool {
        !self.is_json()
    }

    /// Rules that hold for every endpoint and that no operation overrides.
    fn common_error(&self) -> Option<Error> {
        let status = self.status;
        let html = self.content_type.contains("text/html");
        if status.is_redirection() {
            let to = self.location.as_deref().unwrap_or("somewhere");
            return Some(Error::WrongPath(format!(
                "redirected ({}) to {to}",
                status.as_u16()
            )));
        }
        if html && (status.is_success() || status == StatusCode::NOT_FOUND) {
            return Some(Error::WrongPath(format!(
                "got an HTML page with status {}",
                status.as_u16()
            )));
        }
        if status == StatusCode::FORBIDDEN {
            let reason = self.reason();
            // The key check answers exactly this; anything else (deletion
            // protection, a proxy) is a refusal the key cannot fix.
            if reason.to_ascii_lowercase().contains("api key") || reason == "Forbidden" {
                return Some(Error::Unauthorized);
            }
            return Some(Error::Forbidden(reason));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Some(Error::Unauthorized);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Some(Error::RateLimited {
                retry_after: self.retry_after,
            });
        }
        None
    }

    /// What an answer means when the operation has no special reading of it.
    pub(crate) fn error(&self) -> Error {
        if let Some(error) = self.common_error() {
            return error;
        }
        let status = self.status;
        let reason = self.reason();
        if status.is_server_error() {
            if reason.starts_with("Document processing API is not online") {
                return Error::CollectorOffline;
            }
            return Error::Server {
                status: status.as_u16(),
                body: excerpt(&self.body),
            };
        }
        match status {
            StatusCode::NOT_FOUND if self.is_json() => Error::NotFound(reason),
            // Development servers answer unknown routes with a text 404.
            StatusCode::NOT_FOUND => Error::WrongPath("404 Not Found".to_owned()),
            StatusCode::BAD_REQUEST if self.content_type.contains("text/html") => {
                Error::BadRequest("the server could not parse the request body".to_owned())
            }
            s if s.is_client_error() => Error::BadRequest(reason),
            s => Error::Decode(format!(
                "unexpected status {}: {}",
                s.as_u16(),
                excerpt(&self.body)
            )),
        }
    }
}

/// Why an attempt produced no answer, and whether the request may have reached
/// the server.
struct TransportFailure {
    error: Error,
    maybe_sent: bool,
}

pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    pub breaker: std::sync::Arc<CircuitBreaker>,
    pub max_response_bytes: usize,
}

impl Transport {
    /// Sends `call`, retrying as the policy and the error allow, and reads the
    /// answer with `decode` after the rules common to every endpoint.
    pub(crate) async fn execute<T>(
        &self,
        call: &Call,
        decode: impl Fn(&Answer) -> Result<T>,
    ) -> Result<T> {
        let op = call.op.name();
        let mut attempt: u32 = 0;
        let mut last_error: Option<Error> = None;
        loop {
            attempt += 1;
            let Some(permit) = self.breaker.try_acquire() else {
                record(op, "circuit_open", None);
                // Once retries have started, the real failure says more than
                // the breaker opening on top of it.
                return Err(last_error.unwrap_or(Error::CircuitOpen));
            };
            let started = Instant::now();
            let sent = self.send_once(call).await;
            let elapsed = started.elapsed();
            let (result, retryable) = match sent {
                Ok(answer) => {
                    record(op, answer.status.as_str(), Some(elapsed));
                    let result = match answer.common_error() {
                        Some(error) => Err(error),
                        None => decode(&answer),
                    };
                    let retryable =
                        matches!(&result, Err(e) if e.answer_is_retryable(call.idempotency));
                    (result, retryable)
                }
                Err(failure) => {
                    record(op, failure.error.kind(), Some(elapsed));
                    let retryable = !failure.maybe_sent || call.idempotency == Idempotency::Safe;
                    (Err(failure.error), retryable)
                }
            };
            permit.report(matches!(&result, Err(e) if e.counts_against_breaker()));
            let error = match result {
                Ok(value) => {
                    tracing::debug!(
                        operation = op,
                        attempt,
                        elapsed_ms = elapsed.as_millis() as u64,
                        "AnythingLLM call succeeded"
                    );
                    return Ok(value);
                }
                Err(error) => error,
            };
            if !retryable || !self.retry.allows_another(attempt) {
                if error.is_noteworthy() {
                    tracing::warn!(operation = op, attempt, error = %error, "AnythingLLM call failed");
                } else {
                    // Unknown names and invalid input are answers the caller
                    // handles, not incidents.
                    tracing::debug!(operation = op, attempt, error = %error, "AnythingLLM call failed");
                }
                return Err(error);
            }
            let retry_after = match &error {
                Error::RateLimited { retry_after } => *retry_after,
                _ => None,
            };
            let delay = self.retry.delay(attempt - 1, retry_after);
            tracing::warn!(
                operation = op,
                attempt,
                error = %error,
                delay_ms = delay.as_millis() as u64,
                "AnythingLLM call failed; retrying"
            );
            last_error = Some(error);
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Answer, TransportFailure> {
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .timeout(call.timeout);
        request = match &call.payload {
            Payload::Empty => request,
            Payload::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Payload::Multipart(body) => request.multipart(build_form(body)),
        };
        let mut response = request.send().await.map_err(transport_failure)?;
        let status = response.status();
        let headers = response.headers();
        let content_type = header_text(headers, CONTENT_TYPE).to_ascii_lowercase();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = quire_resilience::parse_retry_after(
            &header_text(headers, RETRY_AFTER),
            std::time::SystemTime::now(),
        );
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(TransportFailure {
                    error: Error::Decode(format!(
                        "answer larger than {} bytes",
                        self.max_response_bytes
                    )),
                    maybe_sent: true,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            content_type,
            location,
            retry_after,
            body: body.freeze(),
        })
    }
}

fn header_text(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn build_form(body: &MultipartBody) -> reqwest::multipart::Form {
    let length = body.content.len() as u64;
    let file = reqwest::multipart::Part::stream_with_length(body.content.clone(), length)
        .file_name(body.file_name.clone());
    // An unparsable MIME string falls back to the octet-stream reqwest picks,
    // and the collector decides by extension anyway.
    let file = match file.mime_str(&body.mime) {
        Ok(part) => part,
        Err(_) => reqwest::multipart::Part::stream_with_length(body.content.clone(), length)
            .file_name(body.file_name.clone()),
    };
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in &body.fields {
        form = form.text(*name, value.clone());
    }
    form.part("file", file)
}

fn transport_failure(error: reqwest::Error) -> TransportFailure {
    // A failed connect means no byte of the request left this process.
    let maybe_sent = !error.is_connect();
    let error = if error.is_timeout() {
        Error::Timeout
    } else {
        Error::Connect(describe(&error.without_url()))
    };
    TransportFailure { error, maybe_sent }
}

fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn record(operation: &'static str, status: &str, elapsed: Option<Duration>) {
    metrics::counter!(
        "anythingllm_requests_total",
        "operation" => operation,
        "status" => status.to_owned()
    )
    .increment(1);
    if let Some(elapsed) = elapsed {
        metrics::histogram!("anythingllm_response_duration_seconds", "operation" => operation)
            .record(elapsed.as_secs_f64());
    }
}

/// Decodes a 2xx JSON answer, or reports the answer's error.
pub(crate) fn ok_json<T: DeserializeOwned>(answer: &Answer) -> Result<T> {
    if answer.status.is_success() {
        answer.json()
    } else {
        Err(answer.error())
    }
}
