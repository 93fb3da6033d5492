//! The stack every answer passes through, around the routes: the rate limit, the body
//! limit, CORS and the edge. Hand-written tower services rather than route layers or
//! `from_fn` (see ARCHITECTURE.md, "The edge is one hand-written tower `Service`").

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::future::RouteFuture;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Settings;
use crate::http::{Edge, EdgeService, InFlight, RouteTemplates, Timeouts};
use crate::ratelimit::{is_limited, rate_limit_around};
use crate::state::AppState;

/// Wraps `routes` in what every answer passes through — including a 405 or a fallback
/// 404: the rate limit (when `rate_limit` is given), the body limit, CORS (only when
/// `ALLOWED_ORIGINS` is set) and the edge ([`crate::http::EdgeService`]: request id, span,
/// load shedding, timeout, panics, envelope, metrics labelled by `templates`, security
/// headers). The result is served as it is by `axum::serve`.
///
/// None of it is a route-level layer: `Router::layer` wraps every route in another boxed
/// route, cloned and boxed again on every request.
pub fn with_http_stack(
    routes: Router,
    settings: &Settings,
    templates: RouteTemplates,
    rate_limit: Option<AppState>,
) -> HttpService {
    let edge = Edge {
        in_flight: InFlight::new(settings.max_in_flight_requests as usize),
        timeouts: Timeouts {
            default: settings.request_timeout(),
            upload: Duration::from_secs(u64::from(settings.upload_timeout)),
        },
        routes: templates,
    };
    let routes = LimitedRoutes {
        routes: RateLimitedRoutes {
            router: routes,
            state: rate_limit,
            max_body: settings.max_request_body_size.0,
        },
        body_limit: DefaultBodyLimit::max(settings.max_request_body_size.0 as usize),
        cors: (!settings.allowed_origins.0.is_empty())
            .then(|| Arc::new(cors_layer(&settings.allowed_origins.0))),
    };
    EdgeService::new(routes, edge)
}

/// The router behind the rate limit, which resolves the principal itself (handlers then
/// reuse it from the request's extensions) and leaves health, metrics and docs alone.
/// Only requests it counts take the boxed path.
#[derive(Clone)]
pub struct RateLimitedRoutes {
    router: Router,
    state: Option<AppState>,
    /// `MAX_REQUEST_BODY_SIZE`, for refusing a declared length at once.
    max_body: u64,
}

/// Reads and drops a refused body for at most [`DISCARD_GRACE`] and [`DISCARD_BYTES`].
async fn discard_body(body: axum::body::Body) {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut read = 0u64;
    let _ = tokio::time::timeout(DISCARD_GRACE, async {
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len() as u64;
            if read > DISCARD_BYTES {
                break;
            }
        }
    })
    .await;
}

const DISCARD_GRACE: Duration = Duration::from_secs(5);
const DISCARD_BYTES: u64 = 64 << 20;

/// A body declared longer than the limit is refused before anything waits for it: the
/// body limit alone only notices once that many bytes have arrived, so a client that
/// declares `Content-Length: 99999999999` and sends nothing held a request slot until
/// the timeout. Uploads have their own, larger limit, checked by their handler.
fn declared_length_too_large(req: &axum::extract::Request, max_body: u64) -> bool {
    if req.uri().path().ends_with("/documents/upload") {
        return false;
    }
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|declared| declared > max_body)
}

type BoxedAnswer =
    futures::future::BoxFuture<'static, Result<axum::response::Response, Infallible>>;

impl Service<axum::extract::Request> for RateLimitedRoutes {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = futures::future::Either<RouteFuture<Infallible>, BoxedAnswer>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // A `Router` is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use futures::future::Either::{Left, Right};
        if declared_length_too_large(&req, self.max_body) {
            let limit = self.max_body;
            // Answer at once, but let a client that is really sending the body finish
            // sending it, discarded, for a little while: closing with its bytes unread
            // resets the connection, and a client still writing would see the reset
            // instead of the 413. One that sends nothing is dropped after the grace.
            tokio::spawn(discard_body(req.into_body()));
            return Right(Box::pin(async move {
                Ok(axum::response::IntoResponse::into_response(
                    crate::error::ApiError::PayloadTooLarge(format!(
                        "the request body is declared larger than the limit of {limit} bytes"
                    )),
                ))
            }));
        }
        let state = match &self.state {
            Some(state) if is_limited(state, &req) => state.clone(),
            _ => return Left(self.router.call(req)),
        };
        let mut router = self.router.clone();
        Right(Box::pin(async move {
            let response = rate_limit_around(&state, req, |req| async move {
                match router.call(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
            .await;
            Ok(response)
        }))
    }
}

/// The served service: the edge around the routes.
pub type HttpService = EdgeService<LimitedRoutes>;

/// The routes behind the body limit and, when `ALLOWED_ORIGINS` is set, CORS. A named
/// service (rather than a `ServiceBuilder` stack, whose body-limit type cannot be named)
/// so that `HttpService` needs no boxing.
#[derive(Clone)]
pub struct LimitedRoutes {
    routes: RateLimitedRoutes,
    body_limit: DefaultBodyLimit,
    cors: Option<Arc<CorsLayer>>,
}

impl Service<axum::extract::Request> for LimitedRoutes {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = futures::future::Either<
        tower_http::cors::ResponseFuture<
            <RateLimitedRoutes as Service<axum::extract::Request>>::Future,
        >,
        <RateLimitedRoutes as Service<axum::extract::Request>>::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.routes.poll_ready(cx)
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use futures::future::Either::{Left, Right};
        // The limit is a request extension that body extractors read; a request without a
        // body (most GETs) has nothing to limit, so it is spared the extension.
        let has_body = !axum::body::HttpBody::is_end_stream(req.body());
        let router = &mut self.routes;
        match (&self.cors, has_body) {
            (Some(cors), true) => Left(cors.layer(self.body_limit.layer(router)).call(req)),
            (Some(cors), false) => Left(cors.layer(router).call(req)),
            (None, true) => Right(self.body_limit.layer(router).call(req)),
            (None, false) => Right(router.call(req)),
        }
    }
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("x-request-id"),
            super::version::API_VERSION_HEADER,
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            super::version::API_VERSION_HEADER,
        ])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    base.allow_origin(AllowOrigin::list(list))
}
