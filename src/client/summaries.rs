//! `quire summarize DOC` and `quire templates list|show|create FILE`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::output::{shorten, table};
use crate::client::{ClientError, ClientResult, Context, SummarizeArgs, TemplatesCommand};

const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A document id, or a title (or part of one) that names exactly one document.
async fn resolve_document(ctx: &Context, wanted: &str) -> ClientResult<(String, String)> {
    let by_id = ctx
        .api
        .get::<Value>(&format!("/api/v1/documents/{wanted}"), &[])
        .await;
    match by_id {
        Ok(doc) => {
            let title = doc["title"].as_str().unwrap_or(wanted).to_owned();
            return Ok((wanted.to_owned(), title));
        }
        Err(ClientError::Server { status: 404, .. }) => {}
        Err(e) => return Err(e),
    }
    let page: Value = ctx
        .api
        .get(
            "/api/v1/documents",
            &[("q", wanted.to_owned()), ("limit", "20".to_owned())],
        )
        .await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let exact: Vec<&Value> = items
        .iter()
        .filter(|d| d["title"].as_str() == Some(wanted) || d["name"].as_str() == Some(wanted))
        .collect();
    let chosen: Vec<&Value> = if exact.is_empty() {
        items.iter().collect()
    } else {
        exact
    };
    match chosen.as_slice() {
        [one] => Ok((
            one["id"].as_str().unwrap_or_default().to_owned(),
            one["title"].as_str().unwrap_or(wanted).to_owned(),
        )),
        [] => Err(ClientError::Usage(format!(
            "no document has the id or a title like {wanted:?}"
        ))),
        many => Err(ClientError::Usage(format!(
            "{} documents have a title like {wanted:?}; give the id of one: {}",
            many.len(),
            many.iter()
                .filter_map(|d| d["id"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub async fn summarize(ctx: &Context, args: &SummarizeArgs) -> ClientResult<i32> {
    let (document_id, title) = resolve_document(ctx, &args.document).await?;
    let mut body = json!({ "format": args.format.as_str() });
    if let Some(template) = &args.template {
        body["template_name"] = json!(template);
    }
    if let Some(language) = &args.language {
        body["language"] = json!(language);
    }
    let (_, accepted): (_, Value) = ctx
        .api
        .post(&format!("/api/v1/documents/{document_id}/summaries"), &body)
        .await?;
    let id = accepted["summary"]["id"]
        .as_str()
        .ok_or_else(|| ClientError::Other("the server's answer has no summary id".into()))?
        .to_owned();
    eprintln!("summary {id} of \"{title}\"");
    let summary = loop {
        let summary: Value = ctx.api.get(&format!("/api/v1/summaries/{id}"), &[]).await?;
        if summary["status"] != "pending" {
            break summary;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    if summary["status"] != "complete" {
        eprintln!(
            "error: summary {id} failed: {}",
            summary["error"].as_str().unwrap_or("no reason given")
        );
        return Ok(1);
    }
    println!("{}", summary["summary_text"].as_str().unwrap_or_default());
    let tokens = &summary["tokens_used"];
    let tokens = if tokens.is_null() {
        String::new()
    } else {
        format!(", {} tokens", tokens["total"])
    };
    eprintln!(
        "model: {}{tokens}, {} ms",
        summary["model_used"].as_str().unwrap_or("?"),
        summary["processing_time_ms"]
    );
    Ok(0)
}

pub async fn templates(ctx: &Context, command: &TemplatesCommand) -> ClientResult<i32> {
    match command {
        TemplatesCommand::List => {
            let page: Value = ctx
                .api
                .get("/api/v1/templates", &[("limit", "200".to_owned())])
                .await?;
            let rows: Vec<Vec<String>> = page["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    vec![
                        t["id"].as_str().unwrap_or_default().to_owned(),
                        t["name"].as_str().unwrap_or_default().to_owned(),
                        t["template_type"].as_str().unwrap_or_default().to_owned(),
                        if t["is_global"] == true {
                            "global"
                        } else {
                            "own"
                        }
                        .to_owned(),
                        if t["is_default"] == true { "yes" } else { "" }.to_owned(),
                        shorten(t["description"].as_str().unwrap_or_default(), 50),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["ID", "NAME", "TYPE", "SCOPE", "DEFAULT", "DESCRIPTION"],
                    &rows
                )
            );
            Ok(0)
        }
        TemplatesCommand::Show { template } => {
            let t = find_template(ctx, template).await?;
            println!(
                "{} ({})",
                t["name"].as_str().unwrap_or_default(),
                t["id"].as_str().unwrap_or_default()
            );
            if let Some(d) = t["description"].as_str() {
                println!("{d}");
            }
            println!();
            println!("{}", t["prompt_template"].as_str().unwrap_or_default());
            Ok(0)
        }
        TemplatesCommand::Create {
            file,
            name,
            description,
            default,
        } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let name = name.clone().unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "template".into())
            });
            let mut body = json!({"name": name, "prompt_template": text, "is_default": default});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let (_, created): (_, Value) = ctx.api.post("/api/v1/templates", &body).await?;
            println!(
                "created template \"{}\" ({})",
                created["name"].as_str().unwrap_or_default(),
                created["id"].as_str().unwrap_or_default()
            );
            Ok(0)
        }
    }
}

/// By id, else by name (case-insensitive) among the listed templates.
async fn find_template(ctx: &Context, wanted: &str) -> ClientResult<Value> {
    match ctx
        .api
        .get::<Value>(&format!("/api/v1/templates/{wanted}"), &[])
        .await
    {
        Ok(t) => return Ok(t),
        Err(ClientError::Server { status: 404, .. }) => {}
        Err(e) => return Err(e),
    }
    let page: Value = ctx
        .api
        .get("/api/v1/templates", &[("limit", "200".to_owned())])
        .await?;
    page["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|t| {
                    t["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                })
                .cloned()
        })
        .ok_or_else(|| ClientError::Usage(format!("no template has the id or name {wanted:?}")))
}
