//! A small typed client of Quire's REST API, for the `quire` command line.

use std::path::Path;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Secret;

/// Why a command could not do its work. Every variant ends the process with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the URL (connection refused, unknown host).
    #[error("cannot reach Quire at {url} — is `quire serve` running?")]
    Unreachable { url: String },
    /// The server answered with its error envelope (or another non-2xx answer).
    #[error("{}", server_line(*.status, .message, .correlation_id.as_deref()))]
    Server {
        status: u16,
        message: String,
        correlation_id: Option<String>,
    },
    /// The command line or a local file is not usable.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

fn server_line(status: u16, message: &str, correlation_id: Option<&str>) -> String {
    match correlation_id {
        Some(id) => format!("error: {message} (HTTP {status}, correlation_id {id})"),
        None => format!("error: {message} (HTTP {status})"),
    }
}

impl ClientError {
    fn from_reqwest(e: reqwest::Error, base_url: &str) -> Self {
        if e.is_connect() {
            Self::Unreachable {
                url: base_url.to_owned(),
            }
        } else if e.is_timeout() {
            Self::Other(format!("Quire at {base_url} did not answer in time"))
        } else if e.is_decode() {
            Self::Other(format!("unexpected answer from Quire at {base_url}: {e}"))
        } else {
            // Without the URL: reqwest's message may carry query strings.
            Self::Other(format!(
                "request to Quire at {base_url} failed: {}",
                e.without_url()
            ))
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// Quire's REST API at one base URL, with one API key.
pub struct ApiClient {
    base_url: String,
    api_key: Option<Secret>,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base_url: &str, api_key: Option<Secret>) -> ClientResult<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "QUIRE_URL: '{base_url}' is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("quire-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Other(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            base_url,
            api_key,
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.api_key {
            Some(key) => builder.bearer_auth(key.expose()),
            None => builder,
        }
    }

    async fn send(&self, builder: RequestBuilder) -> ClientResult<Response> {
        let response = builder
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(e, &self.base_url))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.error_from(response).await)
        }
    }

    async fn error_from(&self, response: Response) -> ClientError {
        let status = response.status();
        let header_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let envelope: Option<Value> = serde_json::from_str(&body).ok();
        let message = envelope
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = body.trim();
                if text.is_empty() || text.len() > 300 {
                    status
                        .canonical_reason()
                        .unwrap_or("request failed")
                        .to_owned()
                } else {
                    text.to_owned()
                }
            });
        let correlation_id = envelope
            .as_ref()
            .and_then(|v| v.get("correlation_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(header_id);
        ClientError::Server {
            status: status.as_u16(),
            message,
            correlation_id,
        }
    }

    async fn json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> ClientResult<T> {
        let response = self.send(builder).await?;
        response
            .json()
            .await
            .map_err(|e| ClientError::from_reqwest(e, &self.base_url))
    }

    /// `GET path` with query parameters, decoded as JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> ClientResult<T> {
        self.json(self.request(Method::GET, path).query(query))
            .await
    }

    /// `GET path`, the body as bytes (file downloads).
    pub async fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> ClientResult<Vec<u8>> {
        let response = self
            .send(self.request(Method::GET, path).query(query))
            .await?;
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ClientError::from_reqwest(e, &self.base_url))
    }

    /// `POST path` with a JSON body; the status and the decoded answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> ClientResult<(StatusCode, T)> {
        let response = self
            .send(self.request(Method::POST, path).json(body))
            .await?;
        let status = response.status();
        let value = response
            .json()
            .await
            .map_err(|e| ClientError::from_reqwest(e, &self.base_url))?;
        Ok((status, value))
    }

    /// Streams a file as the `file` field of a multipart upload, with other text fields.
    /// `on_sent` is called with the bytes sent so far.
    pub async fn upload_file<T: DeserializeOwned>(
        &self,
        path: &str,
        file: &Path,
        fields: &[(&str, String)],
        on_sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> ClientResult<T> {
        use futures::StreamExt;

        let handle = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
        let length = handle
            .metadata()
            .await
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?
            .len();
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::new(handle).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                sent += bytes.len() as u64;
                on_sent(sent);
            }
            chunk
        });
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle.zip".to_owned());
        let mime = match file.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("zip") => "application/zip",
            Some(e) if e.eq_ignore_ascii_case("pdf") => "application/pdf",
            Some(e) if e.eq_ignore_ascii_case("json") => "application/json",
            Some(e) if e.eq_ignore_ascii_case("csv") => "text/csv",
            _ => "application/octet-stream",
        };
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap_stream(stream),
            length,
        )
        .file_name(name)
        .mime_str(mime)
        .map_err(|e| ClientError::Other(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new();
        for (key, value) in fields {
            form = form.text(key.to_string(), value.clone());
        }
        // The file goes last: the server reads `workspace_id` before the bytes.
        let form = form.part("file", part);
        self.json(self.request(Method::POST, path).multipart(form))
            .await
    }
}
