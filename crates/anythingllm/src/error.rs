use std::time::Duration;

/// Everything a call to AnythingLLM can end in.
///
/// No variant carries the API key: server bodies are quoted (cut short) but the
/// request headers never are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the API key. AnythingLLM answers 403 here, never 401.
    #[error("AnythingLLM rejected the API key (403 \"No valid api key found.\")")]
    Unauthorized,

    /// A 403 that is not about the key, such as workspace deletion protection.
    #[error("AnythingLLM refused the request: {0}")]
    Forbidden(String),

    /// The workspace, thread or document does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// The server rejected the request as invalid (400 or 422).
    #[error("bad request: {0}")]
    BadRequest(String),

    /// The collector could not turn the file into text (unsupported type, empty
    /// or broken file). Retrying sends the same bytes and gets the same answer.
    #[error("document rejected by the collector: {0}")]
    DocumentRejected(String),

    /// The separate document collector service is down.
    #[error("AnythingLLM's document collector is offline")]
    CollectorOffline,

    /// A chat came back with `type:"abort"` or a non-null `error`.
    #[error("chat aborted: {0}")]
    Aborted(String),

    /// The call did not finish within its timeout.
    #[error("request to AnythingLLM timed out")]
    Timeout,

    /// The connection failed or broke before an answer arrived.
    #[error("could not reach AnythingLLM: {0}")]
    Connect(String),

    /// A 5xx answer that none of the other variants explains.
    #[error("AnythingLLM answered {status}: {body}")]
    Server { status: u16, body: String },

    /// 429. AnythingLLM itself never limits; a proxy in front of it may.
    #[error("rate limited by AnythingLLM or a proxy in front of it")]
    RateLimited { retry_after: Option<Duration> },

    /// The answer was an HTML page or a redirect: the base URL does not point at
    /// AnythingLLM's `/api`, because production AnythingLLM serves its web app
    /// with 200 for any path it does not know.
    #[error("wrong path: {0} (the base URL should end in /api)")]
    WrongPath(String),

    /// The circuit breaker is open; no request was sent.
    #[error("circuit breaker open: AnythingLLM failed too often recently")]
    CircuitOpen,

    /// The answer did not have the documented shape.
    #[error("could not decode AnythingLLM's answer: {0}")]
    Decode(String),

    /// The client was configured with something unusable.
    #[error("invalid AnythingLLM client configuration: {0}")]
    InvalidConfig(String),
}

/// Whether repeating a request could apply it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Repeating is harmless (reads, settings updates, deletes, uploads that at
    /// worst leave an unembedded copy in storage).
    Safe,
    /// Repeating could duplicate work: a new workspace with a random slug suffix,
    /// a second embedding of the same document, a second chat turn.
    Unsafe,
}

impl Error {
    /// Whether an error that came with an HTTP answer may pass next time.
    /// Transport failures are judged where it is known whether the request left.
    pub(crate) fn answer_is_retryable(&self, idempotency: Idempotency) -> bool {
        match self {
            // Nothing was done: a limit, the collector check that every upload
            // handler runs before any work, or a gateway that never reached the app.
            Error::RateLimited { .. } | Error::CollectorOffline => true,
            Error::Server {
                status: 502..=504, ..
            } => true,
            // The handler may have acted before it failed.
            Error::Server { .. } => idempotency == Idempotency::Safe,
            _ => false,
        }
    }

    /// Failures that say the server is unhealthy, which the breaker counts. A 4xx,
    /// an aborted chat or a rejected document proves the server is answering.
    pub(crate) fn counts_against_breaker(&self) -> bool {
        matches!(
            self,
            Error::Connect(_)
                | Error::Timeout
                | Error::Server { .. }
                | Error::RateLimited { .. }
                | Error::CollectorOffline
        )
    }

    /// Failures an operator should hear about: the server or the
    /// configuration is at fault, not the caller's input.
    pub(crate) fn is_noteworthy(&self) -> bool {
        self.counts_against_breaker()
            || matches!(
                self,
                Error::Unauthorized
                    | Error::Forbidden(_)
                    | Error::WrongPath(_)
                    | Error::Aborted(_)
                    | Error::Decode(_)
                    | Error::CircuitOpen
            )
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::BadRequest(_) => "bad_request",
            Error::DocumentRejected(_) => "document_rejected",
            Error::CollectorOffline => "collector_offline",
            Error::Aborted(_) => "aborted",
            Error::Timeout => "timeout",
            Error::Connect(_) => "connect",
            Error::Server { .. } => "server",
            Error::RateLimited { .. } => "rate_limited",
            Error::WrongPath(_) => "wrong_path",
            Error::CircuitOpen => "circuit_open",
            Error::Decode(_) => "decode",
            Error::InvalidConfig(_) => "invalid_config",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Server bodies end up in errors and logs; keep them short.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}
