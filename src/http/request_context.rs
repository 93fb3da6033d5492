//! Request id, correlation and the error envelope for framework-made errors.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::serve::IncomingStream;
use futures::FutureExt;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::metrics::{RouteTemplates, record_request};
use super::security::{Timeouts, add_security_headers, is_docs_path};
use crate::error::{EnvelopeWritten, code_for_status, envelope_response};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request this task is serving, if any. Lets an error built deep in a
/// handler carry the correlation id without threading it through every call.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// An incoming id is kept only when it is short and plain, so a client cannot inject
/// log lines or huge values through it.
fn sane_incoming_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// What the edge needs: the in-flight budget, the time limits and the route templates
/// that label its metrics.
pub struct Edge {
    pub in_flight: InFlight,
    pub timeouts: Timeouts,
    pub routes: RouteTemplates,
}

/// The requests being served, against `MAX_IN_FLIGHT_REQUESTS`. A bare counter rather
/// than a semaphore: nothing waits for a slot (a request past the limit is shed), so
/// entering and leaving are one atomic add each.
pub struct InFlight {
    count: AtomicUsize,
    limit: usize,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            limit,
        }
    }

    /// A slot for one request, or `None` when all are taken.
    fn try_enter(&self) -> Option<InFlightSlot<'_>> {
        let slot = InFlightSlot(self);
        // Counted first and given back on drop, so concurrent entries never overshoot.
        (self.count.fetch_add(1, Ordering::AcqRel) < self.limit).then_some(slot)
    }
}

struct InFlightSlot<'a>(&'a InFlight);

impl Drop for InFlightSlot<'_> {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The whole HTTP service as served: [`edge_around`] around the routes (`S`), per connection.
///
/// Written as a plain tower `Service` rather than an axum `from_fn` layer inside an outer
/// `Router`: each of those boxes and clones per request, and on a health check that
/// bookkeeping cost more than the work. It is also its own make-service for
/// [`axum::serve`], recording each connection's peer address as `ConnectInfo`.
#[derive(Clone)]
pub struct EdgeService<S> {
    inner: S,
    edge: Arc<Edge>,
    peer: Option<SocketAddr>,
}

impl<S> EdgeService<S> {
    pub fn new(inner: S, edge: Edge) -> Self {
        Self {
            inner,
            edge: Arc::new(edge),
            peer: None,
        }
    }
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The routes are always ready; readiness is checked again by `oneshot` below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        let inner = self.inner.clone();
        let edge = Arc::clone(&self.edge);
        Box::pin(async move {
            Ok(edge_around(&edge, req, |req| async move {
                match inner.oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
            .await)
        })
    }
}

impl<S: Clone> Service<IncomingStream<'_, TcpListener>> for EdgeService<S> {
    type Response = Self;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, TcpListener>) -> Self::Future {
        let mut connection = self.clone();
        connection.peer = Some(*stream.remote_addr());
        std::future::ready(Ok(connection))
    }
}

/// Everything a request passes on its way in and out: request id and correlation span,
/// load shedding, the time limit, panic catching, the error envelope for framework-made
/// errors, metrics (so a shed request, a timeout and an unknown route are counted too)
/// and security headers.
async fn edge_around<F, Fut>(edge: &Edge, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(sane_incoming_id)
        .unwrap_or_else(|| {
            // Encoded into a stack buffer: `to_string` goes through the formatter.
            let mut buf = uuid::Uuid::encode_buffer();
            (*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf)).to_owned()
        });
    let path = req.uri().path();
    let is_docs = is_docs_path(path);
    let method = req.method().clone();
    let endpoint = edge.routes.label(path);
    let limit = if path.ends_with("/documents/upload") {
        edge.timeouts.upload
    } else {
        edge.timeouts.default
    };

    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        http.method = %req.method(),
        http.path = %req.uri().path(),
        http.status = tracing::field::Empty,
    );
    let started = Instant::now();
    // `None` only for a limit past the clock's range: then there is no limit.
    let deadline = started.checked_add(limit);
    let admitted = edge.in_flight.try_enter();
    // An API-Version the server does not speak is answered before any route runs.
    let wrong_version = super::version::refused(req.headers());
    let mut response = CURRENT_REQUEST_ID
        .scope(id.clone(), async move {
            let response = match (wrong_version, admitted) {
                (Some(asked), _) => super::version::unsupported(&asked),
                // Past MAX_IN_FLIGHT_REQUESTS: answer at once instead of queueing.
                (None, None) => shed(),
                (None, Some(_slot)) => {
                    // Boxed once here, so the wrappers below move a pointer rather than the
                    // whole (large) future of the routes.
                    let run = AssertUnwindSafe(Box::pin(inner(req))).catch_unwind();
                    match WithDeadline::new(run, deadline).await {
                        Ok(Ok(response)) => response,
                        Ok(Err(_panic)) => {
                            tracing::error!("a request handler panicked");
                            envelope_response(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "internal_error",
                                INTERNAL_MESSAGE.into(),
                                None,
                            )
                        }
                        Err(_) => envelope_response(
                            StatusCode::GATEWAY_TIMEOUT,
                            "timeout",
                            "the request took longer than allowed".into(),
                            None,
                        ),
                    }
                }
            };
            if needs_envelope(&response) {
                // Boxed: error answers are the exception, and their rewrite would
                // otherwise grow every request's future.
                Box::pin(into_envelope(response)).await
            } else {
                response
            }
        })
        .instrument(span.clone())
        .await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    record_request(&method, endpoint, status, elapsed);
    span.record("http.status", status);
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        // A timeout or a server error is something an operator should see at WARN
        // (a 500's cause is logged where it happened; this line ties it to the request).
        if status >= 500 {
            tracing::warn!(latency_ms, status, "request finished");
        } else {
            tracing::info!(latency_ms, status, "request finished");
        }
    });
    add_security_headers(response.headers_mut(), is_docs);
    super::version::add_version_header(response.headers_mut());
    // The id's own buffer becomes the header: no copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(id)) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

const INTERNAL_MESSAGE: &str =
    "an internal error occurred; quote the correlation_id when reporting it";

fn shed() -> Response {
    let mut response = envelope_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        "the server is at capacity; retry shortly".into(),
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Is this an error that did not come from [`crate::error::ApiError`] (unknown route,
/// wrong method, body limit, timeout, panic, extractor rejection)?
fn needs_envelope(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<EnvelopeWritten>().is_none()
}

/// Rewrites such an error into the envelope.
async fn into_envelope(response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let message = if status.is_client_error() {
        // Extractor rejections explain themselves in plain text; keep that explanation.
        let is_text = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"));
        let text = if is_text {
            to_bytes(body, 4096)
                .await
                .ok()
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .filter(|s| !s.is_empty())
        } else {
            None
        };
        text.unwrap_or_else(|| default_message(status))
    } else {
        drop(body);
        default_message(status)
    };
    let mut rewritten = envelope_response(status, code_for_status(status), message, None);
    // Keep what the inner layers set (security headers, Allow, Retry-After, CORS); only
    // the body and its framing change.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "no such resource or route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this route".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than allowed".to_owned(),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            "the request took longer than allowed".to_owned()
        }
        s if s.is_server_error() => INTERNAL_MESSAGE.to_owned(),
        s => s
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}

/// `inner`, or `Err(Elapsed)` once `deadline` passes. Unlike `tokio::time::timeout` the
/// timer is only set up when `inner` is not ready at its first poll, so the many answers
/// that need no waiting (health checks, cached lookups) never touch the timer wheel.
struct WithDeadline<F> {
    inner: F,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

struct Elapsed;

impl<F> WithDeadline<F> {
    fn new(inner: F, deadline: Option<Instant>) -> Self {
        Self {
            inner,
            deadline,
            timer: None,
        }
    }
}

impl<F: Future + Unpin> Future for WithDeadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = Pin::new(&mut self.inner).poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some(deadline) = self.deadline.map(tokio::time::Instant::from_std) else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
