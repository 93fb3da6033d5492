//! The double's HTTP surface: routes, the key check, fault injection and
//! request counting, answering with the real server's statuses and bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Multipart, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::Shared;
use super::world::{ChatReply, DEFAULT_FOLDER, StoredDoc, published_now, slugify, uuid};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/auth", get(auth))
        .route("/api/v1/workspace/new", post(create_workspace))
        .route("/api/v1/workspaces", get(list_workspaces))
        .route(
            "/api/v1/workspace/{slug}",
            get(get_workspace).delete(delete_workspace),
        )
        .route("/api/v1/workspace/{slug}/update", post(update_workspace))
        .route(
            "/api/v1/workspace/{slug}/update-embeddings",
            post(update_embeddings),
        )
        .route("/api/v1/workspace/{slug}/chat", post(workspace_chat))
        .route("/api/v1/workspace/{slug}/thread/new", post(create_thread))
        .route(
            "/api/v1/workspace/{slug}/thread/{thread_slug}",
            delete(delete_thread),
        )
        .route(
            "/api/v1/workspace/{slug}/thread/{thread_slug}/chat",
            post(thread_chat),
        )
        .route("/api/v1/document/upload", post(upload))
        .route("/api/v1/document/upload/{folder}", post(upload_to_folder))
        .route("/api/v1/document/raw-text", post(raw_text))
        .route("/api/v1/document/create-folder", post(create_folder))
        .route("/api/v1/document/move-files", post(move_files))
        .route("/api/v1/system/remove-documents", delete(remove_documents))
        // Route layers run only for matched routes, innermost first: the key
        // check sits behind the faults, which sit behind the counter, so a
        // faulted or refused request is still counted.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            check_key,
        ));
    Router::new()
        .route("/api/ping", get(ping))
        .merge(api)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            inject_faults,
        ))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            count_request,
        ))
        .fallback(unknown_path)
        // The real server takes JSON up to 3 GB; tests need more than axum's
        // 2 MB default for uploads, not gigabytes.
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(shared)
}

async fn count_request(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let path = path.strip_prefix("/api").unwrap_or(&path);
    s.count(format!("{} {path}", request.method()));
    let _in_flight = s.enter();
    next.run(request).await
}

async fn inject_faults(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let endpoint = endpoint_of(&request);
    let (latency, hang, failure) = s.take_faults(&endpoint);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if hang {
        s.wait_for_shutdown(Duration::from_secs(300)).await;
    }
    if let Some(status) = failure {
        return plain(status);
    }
    next.run(request).await
}

fn endpoint_of(request: &Request) -> String {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let path = path.strip_prefix("/api").unwrap_or(&path).to_owned();
    format!("{} {path}", request.method())
}

/// `validApiKey`: the second space-separated token of `Authorization`,
/// whatever the first one says.
async fn check_key(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').nth(1))
        .filter(|token| !token.is_empty());
    if presented != Some(s.api_key.as_str()) {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({ "error": "No valid api key found." }),
        );
    }
    next.run(request).await
}

/// Production AnythingLLM serves its web app for any path it does not know.
async fn unknown_path(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: axum::http::Uri,
) -> Response {
    let path = uri.path();
    s.count(format!(
        "{method} {}",
        path.strip_prefix("/api").unwrap_or(path)
    ));
    if s.faults().unknown_paths_html {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>AnythingLLM</title></head><body><div id=\"root\"></div></body></html>",
        )
            .into_response()
    } else {
        plain(StatusCode::NOT_FOUND)
    }
}

async fn ping() -> Response {
    json_response(StatusCode::OK, json!({ "online": true }))
}

async fn auth() -> Response {
    json_response(StatusCode::OK, json!({ "authenticated": true }))
}

async fn create_workspace(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    match s.world().create_workspace(&body) {
        Ok(workspace) => json_response(
            StatusCode::OK,
            json!({ "workspace": workspace, "message": null }),
        ),
        Err(message) => json_response(
            StatusCode::BAD_REQUEST,
            json!({ "workspace": null, "message": message }),
        ),
    }
}

async fn list_workspaces(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, s.world().list_workspaces())
}

async fn get_workspace(State(s): State<Arc<Shared>>, Path(slug): Path<String>) -> Response {
    let found: Vec<Value> = s
        .world()
        .workspace_with_documents(&slug, true)
        .into_iter()
        .collect();
    json_response(StatusCode::OK, json!({ "workspace": found }))
}

async fn update_workspace(
    State(s): State<Arc<Shared>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    match s.world().update_workspace(&slug, &body) {
        None => plain(StatusCode::BAD_REQUEST),
        Some(Ok(workspace)) => json_response(
            StatusCode::OK,
            json!({ "workspace": workspace, "message": null }),
        ),
        Some(Err(id)) => json_response(
            StatusCode::OK,
            json!({ "workspace": { "id": id }, "message": "No valid fields to update!" }),
        ),
    }
}

async fn delete_workspace(State(s): State<Arc<Shared>>, Path(slug): Path<String>) -> Response {
    if s.faults().deletion_protection {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({
                "success": false,
                "error": "Workspace deletion is blocked by the system administrator."
            }),
        );
    }
    if s.world().delete_workspace(&slug) {
        plain(StatusCode::OK)
    } else {
        plain(StatusCode::BAD_REQUEST)
    }
}

async fn update_embeddings(
    State(s): State<Arc<Shared>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let adds = string_list(body.get("adds"));
    let deletes = string_list(body.get("deletes"));
    let attach = s.faults().embeddings_attach;
    let mut world = s.world();
    if !world.update_embeddings(&slug, &adds, &deletes, attach) {
        return plain(StatusCode::BAD_REQUEST);
    }
    let workspace = world.workspace_with_documents(&slug, false);
    json_response(
        StatusCode::OK,
        json!({ "workspace": workspace, "message": null }),
    )
}

#[derive(Debug)]
struct ChatInput {
    message: String,
    mode: Option<String>,
    session_id: Option<String>,
    reset: bool,
}

impl ChatInput {
    fn from(body: &Value) -> Self {
        Self {
            message: body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            mode: body.get("mode").and_then(Value::as_str).map(str::to_owned),
            session_id: body
                .get("sessionId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reset: body.get("reset").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

async fn workspace_chat(
    State(s): State<Arc<Shared>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    if !s.world().has_workspace(&slug) {
        return abort(
            StatusCode::BAD_REQUEST,
            &format!("Workspace {slug} is not a valid workspace."),
        );
    }
    run_chat(&s, &slug, None, ChatInput::from(&body))
}

async fn thread_chat(
    State(s): State<Arc<Shared>>,
    Path((slug, thread)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    {
        let world = s.world();
        if !world.has_workspace(&slug) {
            return abort(
                StatusCode::NOT_FOUND,
                &format!("Workspace {slug} is not a valid workspace."),
            );
        }
        if !world.has_thread(&slug, &thread) {
            return abort(
                StatusCode::NOT_FOUND,
                &format!("Thread {thread} is not a valid thread."),
            );
        }
    }
    let mut input = ChatInput::from(&body);
    // Thread chats keep their own history; the session id is ignored.
    input.session_id = None;
    run_chat(&s, &slug, Some(&thread), input)
}

fn run_chat(s: &Shared, slug: &str, thread: Option<&str>, input: ChatInput) -> Response {
    let mut world = s.world();
    let mode = input
        .mode
        .clone()
        .or_else(|| world.workspace_chat_mode(slug))
        .unwrap_or_else(|| "automatic".to_owned());
    if input.reset {
        world.reset_history(slug, thread);
        return json_response(
            StatusCode::OK,
            json!({
                "id": uuid(),
                "type": "textResponse",
                "textResponse": "Chat history was reset!",
                "sources": [],
                "close": true,
                "error": null,
            }),
        );
    }
    if input.message.is_empty() {
        return abort(StatusCode::BAD_REQUEST, "Message is empty");
    }
    if !matches!(mode.as_str(), "automatic" | "chat" | "query") {
        return abort(
            StatusCode::BAD_REQUEST,
            &format!("{mode} is not a valid mode."),
        );
    }
    if s.take_chat_abort() {
        return abort(
            StatusCode::OK,
            "No text completion could be completed with this input.",
        );
    }
    match world.chat(
        slug,
        thread,
        input.session_id.as_deref(),
        &input.message,
        &mode,
    ) {
        None => abort(
            StatusCode::BAD_REQUEST,
            &format!("Workspace {slug} is not a valid workspace."),
        ),
        Some(ChatReply::ProviderError(message)) => {
            abort(StatusCode::INTERNAL_SERVER_ERROR, &message)
        }
        Some(ChatReply::Text {
            text,
            sources,
            chat_id,
        }) => {
            let mut body = json!({
                "id": uuid(),
                "type": "textResponse",
                "textResponse": text,
                "sources": sources,
                "close": true,
                "error": null,
                "metrics": {
                    "prompt_tokens": input.message.split_whitespace().count(),
                    "completion_tokens": text.split_whitespace().count(),
                    "total_tokens": input.message.split_whitespace().count() + text.split_whitespace().count(),
                    "outputTps": 100.0,
                    "duration": 0.01,
                },
            });
            if let (Some(id), Value::Object(map)) = (chat_id, &mut body) {
                map.insert("chatId".into(), json!(id));
            }
            json_response(StatusCode::OK, body)
        }
    }
}

async fn create_thread(
    State(s): State<Arc<Shared>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let name = body.get("name").and_then(Value::as_str);
    let thread_slug = body.get("slug").and_then(Value::as_str);
    match s.world().create_thread(&slug, name, thread_slug) {
        None => plain(StatusCode::BAD_REQUEST),
        Some(Ok(thread)) => {
            json_response(StatusCode::OK, json!({ "thread": thread, "message": null }))
        }
        Some(Err(message)) => json_response(
            StatusCode::OK,
            json!({ "thread": null, "message": message }),
        ),
    }
}

async fn delete_thread(
    State(s): State<Arc<Shared>>,
    Path((slug, thread)): Path<(String, String)>,
) -> Response {
    if s.world().delete_thread(&slug, &thread) {
        plain(StatusCode::OK)
    } else {
        plain(StatusCode::BAD_REQUEST)
    }
}

async fn upload(State(s): State<Arc<Shared>>, multipart: Multipart) -> Response {
    handle_upload(&s, DEFAULT_FOLDER, multipart).await
}

async fn upload_to_folder(
    State(s): State<Arc<Shared>>,
    Path(folder): Path<String>,
    multipart: Multipart,
) -> Response {
    let folder = folder.trim_matches('/').to_owned();
    if folder.is_empty() || folder.split('/').any(|part| part == "..") {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "success": false, "error": "Invalid folder name", "documents": [] }),
        );
    }
    handle_upload(&s, &folder, multipart).await
}

struct UploadedFile {
    name: String,
    bytes: Bytes,
}

async fn handle_upload(s: &Shared, folder: &str, mut multipart: Multipart) -> Response {
    let mut file: Option<UploadedFile> = None;
    let mut add_to: Option<String> = None;
    let mut metadata = Value::Null;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR),
        };
        let name = field.name().unwrap_or("").to_owned();
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            // multer `.single("file")`: any other file field, or a second
            // file, is an "Unexpected field".
            if name != "file" || file.is_some() {
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "success": false, "error": "Invalid file upload. Unexpected field" }),
                );
            }
            let Ok(bytes) = field.bytes().await else {
                return plain(StatusCode::INTERNAL_SERVER_ERROR);
            };
            file = Some(UploadedFile {
                name: file_name,
                bytes,
            });
            continue;
        }
        let Ok(text) = field.text().await else {
            return plain(StatusCode::INTERNAL_SERVER_ERROR);
        };
        match name.as_str() {
            "addToWorkspaces" => add_to = Some(text),
            "metadata" => metadata = serde_json::from_str(&text).unwrap_or(Value::Null),
            _ => {}
        }
    }
    let Some(file) = file else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if s.take_collector_offline() {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "success": false,
                "error": format!(
                    "Document processing API is not online. Document {} will not be processed automatically.",
                    file.name
                ),
            }),
        );
    }
    let text = match extract_text(&file.name, &file.bytes) {
        Ok(text) => text,
        Err(reason) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "success": false, "error": reason, "documents": [] }),
            );
        }
    };
    let meta = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
    let id = uuid();
    let doc = StoredDoc {
        location: format!("{}-{id}.json", slugify(&file.name)),
        id,
        url: format!("file:///app/collector/hotdir/{}", file.name),
        title: meta("title").unwrap_or_else(|| file.name.clone()),
        doc_author: meta("docAuthor").unwrap_or_else(|| "Unknown".into()),
        description: meta("description").unwrap_or_else(|| "Unknown".into()),
        doc_source: meta("docSource").unwrap_or_else(|| "a file uploaded by the user.".into()),
        chunk_source: meta("chunkSource").unwrap_or_else(|| file.name.clone()),
        published: meta("published").unwrap_or_else(published_now),
        page_content: text,
        direct_upload: false,
    };
    store_and_embed(s, folder, doc, add_to.as_deref())
}

async fn raw_text(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    // The handler asks the collector before it validates anything.
    if s.take_collector_offline() {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "success": false,
                "error": "Document processing API is not online. Request will not be processed.",
            }),
        );
    }
    let metadata = body.get("metadata").cloned().unwrap_or(Value::Null);
    let meta = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(title) = meta("title").filter(|t| !t.is_empty()) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "success": false,
                "error": "You are missing required metadata key:value pairs in your request. Required metadata key:values are 'title'",
            }),
        );
    };
    let text = body
        .get("textContent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if text.is_empty() {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "success": false, "error": "The 'textContent' key cannot have an empty value." }),
        );
    }
    let add_to = match body.get("addToWorkspaces") {
        None | Some(Value::Null) => None,
        Some(Value::String(list)) => Some(list.clone()),
        Some(_) => {
            return json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "success": false, "error": "addToWorkspaces must be a comma-separated string of workspace slugs." }),
            );
        }
    };
    let id = uuid();
    let doc = StoredDoc {
        location: format!("raw-{}-{id}.json", slugify(&title)),
        id,
        url: format!("file://{}.txt", slugify(&title)),
        title: title.clone(),
        doc_author: meta("docAuthor").unwrap_or_else(|| "no author found".into()),
        description: meta("description").unwrap_or_else(|| "No description found.".into()),
        doc_source: meta("docSource").unwrap_or_else(|| "no source found".into()),
        chunk_source: meta("chunkSource").unwrap_or_else(|| "no chunk source specified".into()),
        published: meta("published").unwrap_or_else(published_now),
        page_content: text,
        direct_upload: false,
    };
    store_and_embed(&s, DEFAULT_FOLDER, doc, add_to.as_deref())
}

fn store_and_embed(s: &Shared, folder: &str, doc: StoredDoc, add_to: Option<&str>) -> Response {
    let attach = s.faults().embeddings_attach;
    let mut world = s.world();
    let doc = world.store_document(folder, doc);
    // Embedding failures here are only logged by the server; the upload
    // still succeeds.
    for slug in add_to.unwrap_or("").split(',') {
        let slug = slug.trim().to_lowercase();
        if !slug.is_empty() {
            world.update_embeddings(&slug, std::slice::from_ref(&doc.location), &[], attach);
        }
    }
    json_response(
        StatusCode::OK,
        json!({ "success": true, "error": null, "documents": [doc.upload_json()] }),
    )
}

async fn create_folder(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    match s.world().create_folder(name) {
        Ok(()) => json_response(StatusCode::OK, json!({ "success": true, "message": null })),
        Err(message) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "success": false, "message": message }),
        ),
    }
}

async fn move_files(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let Some(files) = body.get("files").and_then(Value::as_array) else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "success": false, "message": "Failed to move files." }),
        );
    };
    let moves: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = |key: &str| f.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
            (text("from"), text("to"))
        })
        .collect();
    match s.world().move_files(&moves) {
        Ok(0) => json_response(StatusCode::OK, json!({ "success": true, "message": null })),
        Ok(unmoved) => json_response(
            StatusCode::OK,
            json!({
                "success": true,
                "message": format!(
                    "{unmoved}/{} files not moved. Unembed them from all workspaces.",
                    moves.len()
                ),
            }),
        ),
        Err(()) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "success": false, "message": "Failed to move some files." }),
        ),
    }
}

async fn remove_documents(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let names: Vec<String> = body
        .get("names")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    s.world().remove_documents(&names);
    json_response(
        StatusCode::OK,
        json!({ "success": true, "message": "Documents removed successfully" }),
    )
}

/// What the collector would extract, roughly: text files as they are, the
/// literal strings of uncompressed PDFs, and nothing from other binaries.
fn extract_text(file_name: &str, bytes: &[u8]) -> Result<String, String> {
    const TEXT_TYPES: &[&str] = &[
        "txt", "md", "markdown", "csv", "json", "html", "htm", "xml", "log", "yaml", "yml", "tsv",
        "rst", "org",
    ];
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let text = if extension == "pdf" {
        pdf_strings(bytes)
    } else if TEXT_TYPES.contains(&extension.as_str()) || std::str::from_utf8(bytes).is_ok() {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        return Err(format!(
            "File extension .{extension} not supported for parsing and cannot be assigned a fallback processor."
        ));
    };
    if text.trim().is_empty() {
        return Err(format!("No text content found in {file_name}."));
    }
    Ok(text)
}

/// The `( … )` string operands of an uncompressed PDF's text operators. Pieces
/// inside one `[ … ] TJ` array form one run; separate operators are separate
/// words.
fn pdf_strings(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut in_array = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => in_array = true,
            b']' => {
                in_array = false;
                out.push(' ');
            }
            b'(' => {
                let mut depth = 1;
                let mut piece = Vec::new();
                i += 1;
                while i < bytes.len() && depth > 0 {
                    match bytes[i] {
                        b'\\' if i + 1 < bytes.len() => {
                            i += 1;
                            piece.push(match bytes[i] {
                                b'n' => b'\n',
                                other => other,
                            });
                        }
                        b'(' => {
                            depth += 1;
                            piece.push(b'(');
                        }
                        b')' => {
                            depth -= 1;
                            if depth > 0 {
                                piece.push(b')');
                            }
                        }
                        other => piece.push(other),
                    }
                    i += 1;
                }
                out.push_str(&String::from_utf8_lossy(&piece));
                if !in_array {
                    out.push(' ');
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Express's body handling: JSON bodies are parsed, and a bad one gets
/// body-parser's HTML 400; `text/plain` goes through `JSON.parse` and a bad
/// one is a 500; anything else is an empty object.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.is_empty() {
        return Ok(json!({}));
    }
    if content_type.contains("application/json") {
        return serde_json::from_slice(body).map_err(|e| {
            Box::new(
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!(
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>SyntaxError: {e}</pre>\n</body>\n</html>\n"
                ),
            )
                .into_response(),
            )
        });
    }
    if content_type.starts_with("text/plain") {
        return serde_json::from_slice(body)
            .map_err(|_| Box::new(plain(StatusCode::INTERNAL_SERVER_ERROR)));
    }
    Ok(json!({}))
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Express `sendStatus`: the reason phrase as plain text.
fn plain(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        status.canonical_reason().unwrap_or("").to_owned(),
    )
        .into_response()
}

fn abort(status: StatusCode, error: &str) -> Response {
    json_response(
        status,
        json!({
            "id": uuid(),
            "type": "abort",
            "textResponse": null,
            "sources": [],
            "close": true,
            "error": error,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_strings_reads_literal_text_operators() {
        let pdf = b"%PDF-1.4\nBT /F1 12 Tf (Quarterly revenue) Tj [(gr) -20 (ew)] TJ ET";
        assert_eq!(pdf_strings(pdf), "Quarterly revenue grew");
    }

    #[test]
    fn unknown_binary_files_are_rejected_like_the_collector_does() {
        let result = extract_text("blob.bin", &[0xff, 0xfe, 0x00, 0x81]);
        assert!(matches!(result, Err(reason) if reason.contains("not supported")));
    }
}
