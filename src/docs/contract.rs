//! The answers every operation of a kind can give, added to the OpenAPI document from
//! the operation's shape, so a route declares only what is its own.
//!
//! The convention (ARCHITECTURE.md, "Adding a capability"): a protected route's
//! `#[utoipa::path]` carries the one line [`PROTECTED`] shows, its success answers and
//! the errors only it gives (a `409`, a `404` of a workspace named in the body, …).
//! [`StandardAnswers`] then adds, unless the route described them itself:
//!
//! - with `security`: `401` (no, invalid, expired or revoked credentials) and `403` (a
//!   role that does not allow it);
//! - with a request body: `400` (malformed), `413` (larger than allowed), `415` (wrong
//!   media type) and `422` (a value not allowed, `details.field` names it);
//! - with query parameters: `422` (a parameter not allowed, named in `details.field`);
//! - with path parameters: `404` (no such resource in the caller's organisation);
//! - on every operation: `503` (overloaded or a dependency down) and `504` (took longer
//!   than the server allows), which the edge answers on any route, and `429` (rate
//!   limited) on every route the rate limit counts.
//!
//! Every one of them carries the error envelope (`ErrorBody`).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};

/// The security line of every protected route, as written in its `#[utoipa::path]`
/// (attributes cannot take a constant): `security(("bearer" = []), ("api_key" = []))`
/// — a JWT access token or an API key as `Authorization: Bearer`, or the API key in
/// `X-API-Key`. Public routes (health, metrics, register, login, refresh, logout, the
/// docs) have none.
pub const PROTECTED: &str = r#"security(("bearer" = []), ("api_key" = []))"#;

/// The names of the security schemes a protected operation accepts (either one).
pub const SCHEMES: [&str; 2] = ["bearer", "api_key"];

/// The requirement [`PROTECTED`] writes, for code that builds operations by hand.
pub fn protected() -> Vec<SecurityRequirement> {
    SCHEMES
        .iter()
        .map(|scheme| SecurityRequirement::new(*scheme, Vec::<String>::new()))
        .collect()
}

/// Adds the standard answers (see the module documentation) to every operation, and
/// the server's rule for every string of a JSON body (no NUL) to the schemas.
pub struct StandardAnswers;

impl utoipa::Modify for StandardAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            // An error's message may quote the input it refuses.
            for (name, schema) in components.schemas.iter_mut() {
                if let (RefOr::T(schema), false) = (schema, name == "ErrorBody") {
                    refuse_nul(schema);
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let limited = !crate::ratelimit::is_exempt(path);
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation, limited);
            }
        }
    }
}

/// Swagger UI and ReDoc show an operation's summary as plain text (its title) and render
/// its description as CommonMark. utoipa makes a doc comment's first paragraph the
/// summary, so a summary of several lines or with Markdown moves whole to the
/// description, and the summary keeps its first sentence without backticks.
fn plain_summary(op: &mut Operation) {
    let Some(summary) = op.summary.take() else {
        return;
    };
    if !summary.contains(['\n', '`']) {
        op.summary = Some(summary);
        return;
    }
    op.description = Some(match op.description.take() {
        Some(rest) if !rest.trim().is_empty() => format!("{summary}\n\n{rest}"),
        _ => summary.clone(),
    });
    let flat = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = flat
        .split_inclusive(". ")
        .next()
        .unwrap_or(&flat)
        .trim_end();
    op.summary = Some(first.replace('`', ""));
}

fn complete(op: &mut Operation, rate_limited: bool) {
    plain_summary(op);
    let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let params = op.parameters.as_deref().unwrap_or_default();
    let located = |place: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (in_path, in_query) = (located(ParameterIn::Path), located(ParameterIn::Query));
    let multipart = match &op.request_body {
        Some(RefOr::T(body)) => Some(body.content.keys().any(|k| k.starts_with("multipart/"))),
        Some(RefOr::Ref(_)) => Some(false),
        None => None,
    };

    if protected {
        add(
            op,
            401,
            "No credentials, or credentials that are invalid, expired or revoked.",
        );
        add(op, 403, "The caller's role does not allow this.");
    }
    if let Some(multipart) = multipart {
        add(
            op,
            400,
            "The body is malformed (JSON that does not parse: details.position says where).",
        );
        add(op, 413, "The body is larger than this route allows.");
        add(
            op,
            415,
            if multipart {
                "The body is not multipart/form-data."
            } else {
                "The body is not application/json."
            },
        );
        add(
            op,
            422,
            "A value is not allowed: details.field names it, details.reason says why.",
        );
    }
    if in_query {
        add(
            op,
            422,
            "A parameter is not allowed: details.field names it, details.reason says why.",
        );
    }
    if in_path {
        add(op, 404, "No such resource in the caller's organisation.");
    }
    // Any request may carry an API-Version header (declared by `http::version`).
    add(
        op,
        400,
        "An unsupported API-Version header (details.supported lists the versions).",
    );
    if rate_limited {
        add(op, 429, "Rate limited: Retry-After says when to try again.");
    }
    add(
        op,
        503,
        "Overloaded (Retry-After: 1) or a service it needs is unavailable.",
    );
    add(op, 504, "The request took longer than the server allows.");
}

fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        });
}

/// A string schema that takes only `values` (the server's own list, so the two cannot
/// drift apart).
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(str::to_owned)))
        .into()
}

/// [`one_of`], or `null` (an optional field of a JSON body).
pub fn one_of_or_null<'a>(values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(one_of(values))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// A job status.
pub fn job_status_schema() -> RefOr<Schema> {
    one_of(quire_jobs::JobStatus::ALL.map(quire_jobs::JobStatus::as_str))
}

/// A document type.
pub fn doc_type_schema() -> RefOr<Schema> {
    one_of(quire_ingest::DocType::ALL.map(quire_ingest::DocType::as_str))
}

/// An array of document types.
pub fn doc_types_schema() -> RefOr<Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(doc_type_schema())
        .into()
}

/// `\u0000` in any string of a JSON body is a `422` (`http::json`): every string schema
/// without a pattern or a list of values of its own gets a pattern that says so (the
/// shared patterns exclude NUL already). Binary strings (file parts) are not JSON.
fn refuse_nul(schema: &mut Schema) {
    use utoipa::openapi::schema::{ArrayItems, KnownFormat, SchemaFormat, SchemaType};
    let each = |items: &mut Vec<RefOr<Schema>>| {
        for item in items.iter_mut() {
            if let RefOr::T(s) = item {
                refuse_nul(s);
            }
        }
    };
    match schema {
        Schema::Object(object) => {
            let is_string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            let binary = matches!(
                object.format,
                Some(SchemaFormat::KnownFormat(KnownFormat::Binary))
            );
            if is_string && !binary && object.pattern.is_none() && object.enum_values.is_none() {
                object.pattern = Some("^[^\\x00]*$".to_owned());
            }
            for property in object.properties.values_mut() {
                if let RefOr::T(s) = property {
                    refuse_nul(s);
                }
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items
                && let RefOr::T(s) = items.as_mut()
            {
                refuse_nul(s);
            }
        }
        Schema::OneOf(one) => each(&mut one.items),
        Schema::AllOf(all) => each(&mut all.items),
        Schema::AnyOf(any) => each(&mut any.items),
        _ => {}
    }
}
