//! API documentation served by Quire itself: the OpenAPI document generated from the
//! handlers, Swagger UI and ReDoc from assets vendored from their npm packages
//! (`swagger-ui-dist`, `redoc`), so the docs work with no network.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

pub mod contract;

const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quire",
        description = "Self-hosted document intelligence: ingest document bundles, manage LLM workspaces, run scored question sets.",
        license(name = "MIT OR Apache-2.0")
    ),
    // The paths carry their full `/api/v1/...` (handlers are not nested), so the server is
    // the site root: clients append each path to it.
    servers((url = "/", description = "this server")),
    modifiers(&SecuritySchemes),
    components(schemas(
        crate::events::EventMessage,
        crate::events::routes::ClientMessage,
        crate::events::routes::ControlMessage
    )),
    tags(
        (name = "health", description = "Liveness, dependency health, metrics"),
        (name = "documents", description = "The organisation's document library: uploads of bundles (ZIP, PDF, JSON, CSV) as jobs, documents given as content, their text and originals, and which workspaces hold them"),
        (name = "workspaces", description = "LLM workspaces (the embedded engine or AnythingLLM): settings, embedding, chat"),
        (name = "auth", description = "Sign up, log in, refresh and end sessions, who am I"),
        (name = "users", description = "An organisation's users (admins)"),
        (name = "api-keys", description = "API keys for programs"),
        (name = "organisations", description = "The caller's organisation"),
        (name = "jobs", description = "Background jobs: state, progress, cancel, live events"),
        (name = "questions", description = "Question sets, scored runs, results and exports, comparisons, baselines"),
        (name = "templates", description = "Prompt templates: the organisation's and the global ones"),
        (name = "summaries", description = "Document summaries from templates, on any LLM or none"),
        (name = "statements", description = "Financial statements from PDFs: detection, extraction jobs, line items, checks"),
        (name = "events", description = "Live events over WebSocket (GET /api/v1/ws): job state and progress, upload verdicts, run results, documents, summaries; resumable by id, across instances"),
    )
)]
pub struct ApiDoc;

/// The served document: [`ApiDoc`] with every route's paths merged in, completed with the
/// standard answers ([`contract::StandardAnswers`]). Called once the routers are merged:
/// a modifier of [`ApiDoc`] would run before the paths are there.
pub fn finish(openapi: &mut utoipa::openapi::OpenApi) {
    utoipa::Modify::modify(&contract::StandardAnswers, openapi);
}

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

#[derive(Clone)]
struct Spec(Arc<String>);

/// The paths [`router`] serves, for labelling metrics (they are not in the OpenAPI
/// document). A route added to the router but not here would be counted as `unmatched`;
/// `docs_routes_are_all_listed` checks that each listed path is served.
pub const ROUTES: &[&str] = &[
    "/openapi.json",
    "/docs",
    "/docs/",
    "/docs/swagger-ui-bundle.js",
    "/docs/swagger-ui.css",
    "/redoc",
    "/redoc/",
    "/redoc/redoc.standalone.js",
];

pub fn router<S: Clone + Send + Sync + 'static>(spec: &utoipa::openapi::OpenApi) -> Router<S> {
    let json = spec.to_json().unwrap_or_else(|_| "{}".to_owned());
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .with_state(Spec(Arc::new(json)))
        .route("/docs", get(swagger_page))
        .route("/docs/", get(swagger_page))
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| asset(SWAGGER_JS, "text/javascript")),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| asset(SWAGGER_CSS, "text/css")),
        )
        .route("/redoc", get(redoc_page))
        .route("/redoc/", get(redoc_page))
        .route(
            "/redoc/redoc.standalone.js",
            get(|| asset(REDOC_JS, "text/javascript")),
        )
}

async fn openapi_json(State(spec): State<Spec>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spec.0.as_str().to_owned(),
    )
        .into_response()
}

async fn asset(bytes: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

async fn swagger_page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quire API — Swagger UI</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});</script>
</body></html>"##,
    )
}

async fn redoc_page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quire API — ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body></html>"##,
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn docs_routes_are_all_listed() {
        let spec = utoipa::openapi::OpenApiBuilder::new().build();
        for path in ROUTES {
            let request = Request::get(*path).body(Body::empty()).unwrap();
            let response = router::<()>(&spec).oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        // And a path it does not serve is not found, so the loop above can fail.
        let request = Request::get("/docs/nope.js").body(Body::empty()).unwrap();
        let response = router::<()>(&spec).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
