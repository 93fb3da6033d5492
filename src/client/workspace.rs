//! `quire workspace create|list`, and finding a workspace by id or name.

use serde::Deserialize;
use serde_json::json;

use super::output::table;
use super::{BackendArg, ClientError, ClientResult, Context};

#[derive(Debug, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub document_count: i64,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

const PAGE: u64 = 200;

pub async fn create(
    ctx: &Context,
    name: &str,
    backend: Option<BackendArg>,
    description: Option<&str>,
) -> ClientResult<i32> {
    let (ws, created) = create_or_reuse(ctx, name, backend, description).await?;
    if created {
        println!(
            "created workspace \"{}\" ({}) on the {} backend",
            ws.name, ws.id, ws.backend
        );
    } else {
        println!(
            "workspace \"{}\" ({}) already exists on the {} backend: reusing it",
            ws.name, ws.id, ws.backend
        );
    }
    Ok(0)
}

pub async fn create_or_reuse(
    ctx: &Context,
    name: &str,
    backend: Option<BackendArg>,
    description: Option<&str>,
) -> ClientResult<(Workspace, bool)> {
    let mut body = json!({ "name": name, "reuse_existing": true });
    if let Some(b) = backend {
        body["backend"] = json!(b.as_str());
    }
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    let (status, ws): (_, Workspace) = ctx.api.post("/api/v1/workspaces", &body).await?;
    Ok((ws, status.as_u16() == 201))
}

pub async fn list(ctx: &Context) -> ClientResult<i32> {
    let all = all_workspaces(ctx, None).await?;
    if all.is_empty() {
        println!("no workspaces yet: `quire workspace create NAME` makes one");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|w| {
            vec![
                w.id.clone(),
                w.name.clone(),
                w.backend.clone(),
                w.document_count.to_string(),
                w.status.clone(),
                w.description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "id",
                "name",
                "backend",
                "documents",
                "status",
                "description"
            ],
            &rows
        )
    );
    println!("{} workspace(s)", all.len());
    Ok(0)
}

async fn all_workspaces(
    ctx: &Context,
    name_contains: Option<&str>,
) -> ClientResult<Vec<Workspace>> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut query = vec![("limit", PAGE.to_string()), ("offset", offset.to_string())];
        if let Some(q) = name_contains {
            query.push(("q", q.to_owned()));
        }
        let page: Page<Workspace> = ctx.api.get("/api/v1/workspaces", &query).await?;
        let n = page.items.len() as u64;
        out.extend(page.items);
        offset += n;
        if n == 0 || offset >= page.total {
            return Ok(out);
        }
    }
}

fn looks_like_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The workspace with this id, or else with exactly this name.
pub async fn find(ctx: &Context, wanted: &str) -> ClientResult<Option<Workspace>> {
    if looks_like_id(wanted) {
        let path = format!("/api/v1/workspaces/{wanted}");
        match ctx.api.get::<Workspace>(&path, &[]).await {
            Ok(ws) => return Ok(Some(ws)),
            Err(ClientError::Server { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let candidates = all_workspaces(ctx, Some(wanted)).await?;
    Ok(candidates.into_iter().find(|w| w.name == wanted))
}

/// Like [`find`], but a missing workspace is an error that says what to do.
pub async fn require(ctx: &Context, wanted: &str) -> ClientResult<Workspace> {
    find(ctx, wanted).await?.ok_or_else(|| {
        ClientError::Usage(format!(
            "no workspace has the id or name '{wanted}' (`quire workspace list` shows them; \
             `quire upload BUNDLE --workspace {wanted}` creates it)"
        ))
    })
}
