//! Every operation's happy path, and the answers the real server gives for
//! unknown names and invalid input, over HTTP against the test double.

mod common;

use anythingllm::testing::endpoint;
use anythingllm::{
    ChatMode, ChatRequest, DocumentMetadata, EmbeddingChanges, Error, FileMove, FileUpload,
    NewThread, RawTextUpload, WorkspaceSettings,
};
use common::setup;
use std::time::Duration;

fn text_file(name: &str, text: &str) -> FileUpload {
    FileUpload::new(name, text.as_bytes().to_vec())
}

#[tokio::test]
async fn auth_check_passes_with_the_right_key() {
    let s = setup().await;
    s.client.check_auth().await.expect("authenticated");
    assert_eq!(s.handle.requests(endpoint::AUTH), 1);
}

#[tokio::test]
async fn ping_reports_the_server_online() {
    let s = setup().await;
    s.client.ping().await.expect("online");
}

#[tokio::test]
async fn created_workspace_takes_its_slug_from_the_name_and_keeps_the_settings() {
    let s = setup().await;
    let settings = WorkspaceSettings {
        open_ai_temp: Some(0.2),
        similarity_threshold: Some(0.5),
        top_n: Some(6),
        chat_mode: Some(ChatMode::Query),
        open_ai_prompt: Some("Answer from the documents only.".into()),
        ..WorkspaceSettings::default()
    };
    let workspace = s
        .client
        .create_workspace("Quarterly Reports", &settings)
        .await
        .expect("created");
    assert_eq!(workspace.slug, "quarterly-reports");
    assert_eq!(workspace.name, "Quarterly Reports");
    assert_eq!(workspace.open_ai_temp, Some(0.2));
    assert_eq!(workspace.similarity_threshold, Some(0.5));
    assert_eq!(workspace.top_n, Some(6));
    assert_eq!(workspace.chat_mode.as_deref(), Some("query"));
    assert_eq!(
        workspace.open_ai_prompt.as_deref(),
        Some("Answer from the documents only.")
    );
    let sent = s
        .handle
        .last_settings("quarterly-reports")
        .expect("recorded");
    assert_eq!(sent["name"], "Quarterly Reports");
    assert_eq!(sent["topN"], 6);
}

#[tokio::test]
async fn a_second_workspace_with_the_same_name_gets_a_random_numeric_suffix() {
    let s = setup().await;
    let none = WorkspaceSettings::default();
    let first = s
        .client
        .create_workspace("Docs", &none)
        .await
        .expect("first");
    let second = s
        .client
        .create_workspace("Docs", &none)
        .await
        .expect("second");
    assert_eq!(first.slug, "docs");
    let suffix = second.slug.strip_prefix("docs-").expect("suffixed");
    assert_eq!(suffix.len(), 8);
    assert!(suffix.chars().all(|c| c.is_ascii_digit()));
}

#[tokio::test]
async fn creating_a_workspace_with_an_empty_name_is_a_bad_request() {
    let s = setup().await;
    let error = s
        .client
        .create_workspace("  ", &WorkspaceSettings::default())
        .await
        .expect_err("rejected");
    assert!(
        matches!(error, Error::BadRequest(ref m) if m == "name cannot be null"),
        "{error:?}"
    );
}

#[tokio::test]
async fn getting_a_workspace_reads_the_one_element_array_and_an_unknown_slug_is_none() {
    let s = setup().await;
    s.client
        .create_workspace("Alpha", &WorkspaceSettings::default())
        .await
        .expect("created");
    let found = s.client.get_workspace("alpha").await.expect("answered");
    assert_eq!(found.expect("present").slug, "alpha");
    assert!(
        s.client
            .get_workspace("nope")
            .await
            .expect("answered")
            .is_none()
    );
    // Lookups match exactly, case included.
    assert!(
        s.client
            .get_workspace("Alpha")
            .await
            .expect("answered")
            .is_none()
    );
}

#[tokio::test]
async fn workspaces_are_listed_with_their_threads() {
    let s = setup().await;
    s.client
        .create_workspace("One", &WorkspaceSettings::default())
        .await
        .expect("created");
    s.client
        .create_thread(
            "one",
            &NewThread {
                name: Some("Questions".into()),
                slug: None,
            },
        )
        .await
        .expect("thread");
    let list = s.client.list_workspaces().await.expect("listed");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].threads.len(), 1);
    assert_eq!(list[0].threads[0].name.as_deref(), Some("Questions"));
}

#[tokio::test]
async fn settings_update_reaches_the_server_and_comes_back_normalised() {
    let s = setup().await;
    s.client
        .create_workspace("Tuning", &WorkspaceSettings::default())
        .await
        .expect("created");
    let update = WorkspaceSettings {
        open_ai_temp: Some(-1.0),
        similarity_threshold: Some(1.5),
        top_n: Some(0),
        chat_mode: Some(ChatMode::Chat),
        chat_provider: Some("ollama".into()),
        chat_model: Some("llama3.2:3b".into()),
        ..WorkspaceSettings::default()
    };
    let workspace = s
        .client
        .update_workspace("tuning", &update)
        .await
        .expect("updated");
    assert_eq!(
        workspace.open_ai_temp, None,
        "a negative temperature means the provider default"
    );
    assert_eq!(workspace.similarity_threshold, Some(1.0));
    assert_eq!(workspace.top_n, Some(1));
    assert_eq!(workspace.chat_mode.as_deref(), Some("chat"));
    assert_eq!(workspace.chat_provider.as_deref(), Some("ollama"));
    assert_eq!(workspace.chat_model.as_deref(), Some("llama3.2:3b"));
    assert_eq!(workspace.name, "Tuning", "a name not sent is kept");
    let sent = s.handle.last_settings("tuning").expect("recorded");
    assert_eq!(sent["chatProvider"], "ollama");
    assert_eq!(sent["similarityThreshold"], 1.5);
    assert!(sent.get("name").is_none());
}

#[tokio::test]
async fn chat_provider_default_clears_provider_and_model() {
    let s = setup().await;
    s.client
        .create_workspace("Reset", &WorkspaceSettings::default())
        .await
        .expect("created");
    let set = WorkspaceSettings {
        chat_provider: Some("openai".into()),
        chat_model: Some("gpt-4o".into()),
        ..WorkspaceSettings::default()
    };
    s.client.update_workspace("reset", &set).await.expect("set");
    let clear = WorkspaceSettings {
        chat_provider: Some("default".into()),
        ..WorkspaceSettings::default()
    };
    let workspace = s
        .client
        .update_workspace("reset", &clear)
        .await
        .expect("cleared");
    assert_eq!(workspace.chat_provider, None);
    assert_eq!(workspace.chat_model, None);
}

#[tokio::test]
async fn update_without_a_writable_field_is_a_bad_request() {
    let s = setup().await;
    s.client
        .create_workspace("Empty", &WorkspaceSettings::default())
        .await
        .expect("created");
    let error = s
        .client
        .update_workspace("empty", &WorkspaceSettings::default())
        .await
        .expect_err("nothing to update");
    assert!(
        matches!(error, Error::BadRequest(ref m) if m == "No valid fields to update!"),
        "{error:?}"
    );
}

#[tokio::test]
async fn updating_an_unknown_workspace_is_not_found_from_its_plain_text_400() {
    let s = setup().await;
    let update = WorkspaceSettings {
        top_n: Some(3),
        ..WorkspaceSettings::default()
    };
    let error = s
        .client
        .update_workspace("ghost", &update)
        .await
        .expect_err("unknown");
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    assert_eq!(
        s.handle.requests(endpoint::UPDATE_WORKSPACE),
        1,
        "not retried"
    );
}

#[tokio::test]
async fn deleting_a_workspace_reports_whether_it_existed() {
    let s = setup().await;
    s.client
        .create_workspace("Gone", &WorkspaceSettings::default())
        .await
        .expect("created");
    assert!(s.client.delete_workspace("gone").await.expect("deleted"));
    assert!(!s.client.delete_workspace("gone").await.expect("answered"));
    assert!(
        s.client
            .get_workspace("gone")
            .await
            .expect("answered")
            .is_none()
    );
}

#[tokio::test]
async fn deletion_protection_is_forbidden_rather_than_unauthorized() {
    let s = setup().await;
    s.client
        .create_workspace("Kept", &WorkspaceSettings::default())
        .await
        .expect("created");
    s.handle.set_deletion_protection(true);
    let error = s
        .client
        .delete_workspace("kept")
        .await
        .expect_err("blocked");
    assert!(
        matches!(error, Error::Forbidden(ref m) if m.contains("blocked by the system administrator")),
        "{error:?}"
    );
}

#[tokio::test]
async fn uploaded_file_is_stored_under_custom_documents_with_its_full_text() {
    let s = setup().await;
    let document = s
        .client
        .upload_file(&text_file(
            "Annual Report.txt",
            "Revenue grew by nine percent.",
        ))
        .await
        .expect("uploaded");
    assert!(
        document
            .location
            .starts_with("custom-documents/annual-report.txt-")
    );
    assert!(document.location.ends_with(".json"));
    assert_eq!(document.title.as_deref(), Some("Annual Report.txt"));
    assert_eq!(
        document.page_content.as_deref(),
        Some("Revenue grew by nine percent.")
    );
    assert_eq!(s.handle.document_locations(), vec![document.location]);
}

#[tokio::test]
async fn upload_into_a_folder_puts_the_location_in_that_folder() {
    let s = setup().await;
    let metadata = DocumentMetadata {
        title: Some("Sales figures".into()),
        doc_author: Some("Finance".into()),
        ..DocumentMetadata::default()
    };
    let document = s
        .client
        .upload_file(
            &text_file("sales.csv", "region,total\nnorth,12\n")
                .in_folder("csv")
                .metadata(metadata),
        )
        .await
        .expect("uploaded");
    assert!(
        document.location.starts_with("csv/sales.csv-"),
        "{}",
        document.location
    );
    assert_eq!(document.title.as_deref(), Some("Sales figures"));
    assert_eq!(document.doc_author.as_deref(), Some("Finance"));
    assert!(s.handle.folders().contains(&"csv".to_owned()));
    assert_eq!(s.handle.requests(endpoint::UPLOAD_TO_FOLDER), 1);
}

#[tokio::test]
async fn text_is_read_from_an_uncompressed_pdf() {
    let s = setup().await;
    let pdf = b"%PDF-1.4\n1 0 obj << >> stream\nBT /F1 12 Tf (The warranty lasts two years.) Tj ET\nendstream\n%%EOF".to_vec();
    let document = s
        .client
        .upload_file(&FileUpload::new("terms.pdf", pdf).in_folder("pdf"))
        .await
        .expect("uploaded");
    assert_eq!(
        document.page_content.as_deref(),
        Some("The warranty lasts two years.")
    );
}

#[tokio::test]
async fn upload_with_add_to_workspaces_embeds_right_away() {
    let s = setup().await;
    s.client
        .create_workspace("Inbox", &WorkspaceSettings::default())
        .await
        .expect("created");
    let document = s
        .client
        .upload_file(&text_file("note.txt", "Remember the milk.").add_to_workspace("Inbox"))
        .await
        .expect("uploaded");
    let missing = s
        .client
        .missing_documents("inbox", &[document.location])
        .await
        .expect("checked");
    assert!(missing.is_empty(), "slugs are lower-cased by the server");
}

#[tokio::test]
async fn raw_text_upload_returns_a_raw_location_in_custom_documents() {
    let s = setup().await;
    let document = s
        .client
        .upload_raw_text(&RawTextUpload::new(
            "Meeting Notes",
            "We agreed on a budget.",
        ))
        .await
        .expect("uploaded");
    assert!(
        document
            .location
            .starts_with("custom-documents/raw-meeting-notes-"),
        "{}",
        document.location
    );
    assert_eq!(document.title.as_deref(), Some("Meeting Notes"));
}

#[tokio::test]
async fn raw_text_without_a_title_is_a_bad_request_from_the_422() {
    let s = setup().await;
    let mut upload = RawTextUpload::new("", "Some text.");
    upload.metadata.title = None;
    let error = s
        .client
        .upload_raw_text(&upload)
        .await
        .expect_err("rejected");
    assert!(
        matches!(error, Error::BadRequest(ref m) if m.contains("'title'")),
        "{error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::RAW_TEXT), 1, "not retried");
}

#[tokio::test]
async fn file_the_collector_cannot_parse_is_rejected_and_not_retried() {
    let s = setup().await;
    let error = s
        .client
        .upload_file(&FileUpload::new("image.bin", vec![0xff, 0xd8, 0x00, 0x81]))
        .await
        .expect_err("rejected");
    assert!(
        matches!(error, Error::DocumentRejected(ref m) if m.contains("not supported")),
        "{error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::UPLOAD), 1);
}

#[tokio::test]
async fn empty_file_is_rejected_for_having_no_text() {
    let s = setup().await;
    let error = s
        .client
        .upload_file(&text_file("blank.txt", "   "))
        .await
        .expect_err("rejected");
    assert!(
        matches!(error, Error::DocumentRejected(ref m) if m.contains("No text content")),
        "{error:?}"
    );
}

#[tokio::test]
async fn many_files_upload_within_the_concurrency_bound_and_keep_their_order() {
    let s = setup().await;
    s.handle.set_latency(Duration::from_millis(20));
    let uploads: Vec<FileUpload> = (0..6)
        .map(|i| text_file(&format!("file{i}.txt"), &format!("Body number {i}.")))
        .collect();
    let results = s.client.upload_files(&uploads, 2).await;
    assert_eq!(results.len(), 6);
    for (i, result) in results.iter().enumerate() {
        let document = result.as_ref().expect("uploaded");
        assert!(document.location.contains(&format!("file{i}.txt-")));
    }
    assert!(s.handle.max_concurrent_requests() <= 2);
    assert_eq!(s.handle.max_concurrent_requests(), 2, "the bound is used");
}

#[tokio::test]
async fn update_embeddings_attaches_documents_and_nothing_is_missing() {
    let s = setup().await;
    s.client
        .create_workspace("Kb", &WorkspaceSettings::default())
        .await
        .expect("created");
    let a = s
        .client
        .upload_file(&text_file("a.txt", "Alpha."))
        .await
        .expect("a");
    let b = s
        .client
        .upload_file(&text_file("b.txt", "Beta."))
        .await
        .expect("b");
    let changes = EmbeddingChanges {
        adds: vec![a.location.clone(), b.location.clone()],
        deletes: Vec::new(),
    };
    let outcome = s
        .client
        .update_embeddings("kb", &changes)
        .await
        .expect("embedded");
    assert!(outcome.is_complete(), "{outcome:?}");
    assert_eq!(outcome.workspace.documents.len(), 2);
    assert_eq!(outcome.workspace.documents[0].docpath, a.location);
}

#[tokio::test]
async fn an_add_that_does_not_exist_is_reported_missing_despite_the_200() {
    let s = setup().await;
    s.client
        .create_workspace("Kb", &WorkspaceSettings::default())
        .await
        .expect("created");
    let changes = EmbeddingChanges {
        adds: vec!["custom-documents/never-uploaded.json".into()],
        deletes: Vec::new(),
    };
    let outcome = s
        .client
        .update_embeddings("kb", &changes)
        .await
        .expect("200");
    assert_eq!(
        outcome.missing,
        vec!["custom-documents/never-uploaded.json".to_owned()]
    );
}

#[tokio::test]
async fn deleting_embeddings_removes_the_documents_from_the_workspace() {
    let s = setup().await;
    s.client
        .create_workspace("Kb", &WorkspaceSettings::default())
        .await
        .expect("created");
    let a = s
        .client
        .upload_file(&text_file("a.txt", "Alpha."))
        .await
        .expect("a");
    s.client
        .attach_documents("kb", std::slice::from_ref(&a.location))
        .await
        .expect("attached");
    let changes = EmbeddingChanges {
        adds: Vec::new(),
        deletes: vec![a.location.clone()],
    };
    let outcome = s
        .client
        .update_embeddings("kb", &changes)
        .await
        .expect("removed");
    assert!(outcome.is_complete());
    assert!(outcome.workspace.documents.is_empty());
}

#[tokio::test]
async fn attach_documents_skips_locations_already_embedded_so_no_duplicates_appear() {
    let s = setup().await;
    s.client
        .create_workspace("Kb", &WorkspaceSettings::default())
        .await
        .expect("created");
    let a = s
        .client
        .upload_file(&text_file("a.txt", "Alpha."))
        .await
        .expect("a");
    let locations = vec![a.location.clone()];
    s.client
        .attach_documents("kb", &locations)
        .await
        .expect("first");
    let again = s
        .client
        .attach_documents("kb", &locations)
        .await
        .expect("second");
    assert!(again.is_complete());
    assert_eq!(again.workspace.documents.len(), 1);
    assert_eq!(s.handle.requests(endpoint::UPDATE_EMBEDDINGS), 1);
}

#[tokio::test]
async fn embedding_into_an_unknown_workspace_is_not_found() {
    let s = setup().await;
    let changes = EmbeddingChanges {
        adds: vec!["custom-documents/x.json".into()],
        deletes: Vec::new(),
    };
    let error = s
        .client
        .update_embeddings("ghost", &changes)
        .await
        .expect_err("unknown");
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
}

#[tokio::test]
async fn threads_are_created_with_a_slug_and_deleted_even_twice() {
    let s = setup().await;
    s.client
        .create_workspace("Talk", &WorkspaceSettings::default())
        .await
        .expect("created");
    let thread = s
        .client
        .create_thread(
            "talk",
            &NewThread {
                name: Some("Support".into()),
                slug: Some("Support Desk".into()),
            },
        )
        .await
        .expect("thread");
    assert_eq!(thread.slug, "support-desk");
    assert_eq!(thread.name, "Support");
    let defaulted = s
        .client
        .create_thread("talk", &NewThread::default())
        .await
        .expect("thread");
    assert_eq!(defaulted.name, "Thread");
    assert_eq!(defaulted.slug.len(), 36, "a uuid");
    let workspace = s
        .client
        .get_workspace("talk")
        .await
        .expect("got")
        .expect("present");
    assert_eq!(workspace.threads.len(), 2);
    s.client
        .delete_thread("talk", "support-desk")
        .await
        .expect("deleted");
    s.client
        .delete_thread("talk", "support-desk")
        .await
        .expect("the server says OK for a missing thread");
}

#[tokio::test]
async fn duplicate_thread_slug_is_a_bad_request_from_the_200_with_null_thread() {
    let s = setup().await;
    s.client
        .create_workspace("Talk", &WorkspaceSettings::default())
        .await
        .expect("created");
    let thread = NewThread {
        name: None,
        slug: Some("same".into()),
    };
    s.client
        .create_thread("talk", &thread)
        .await
        .expect("first");
    let error = s
        .client
        .create_thread("talk", &thread)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(error, Error::BadRequest(ref m) if m.contains("Unique constraint")),
        "{error:?}"
    );
}

#[tokio::test]
async fn thread_operations_on_an_unknown_workspace_are_not_found() {
    let s = setup().await;
    let create = s
        .client
        .create_thread("ghost", &NewThread::default())
        .await
        .expect_err("unknown");
    assert!(matches!(create, Error::NotFound(_)), "{create:?}");
    let delete = s
        .client
        .delete_thread("ghost", "t")
        .await
        .expect_err("unknown");
    assert!(matches!(delete, Error::NotFound(_)), "{delete:?}");
}

async fn workspace_with_manual(s: &common::Setup) -> String {
    s.client
        .create_workspace("Manual", &WorkspaceSettings::default())
        .await
        .expect("created");
    let doc = s
        .client
        .upload_raw_text(&RawTextUpload::new(
            "Dishwasher manual",
            "The dishwasher filter should be cleaned every month. Use only dishwasher salt in the salt compartment.\nThe warranty covers the pump for five years.",
        ))
        .await
        .expect("uploaded");
    s.client
        .attach_documents("manual", std::slice::from_ref(&doc.location))
        .await
        .expect("attached");
    doc.location
}

#[tokio::test]
async fn chat_quotes_the_embedded_documents_and_lists_them_as_sources() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let reply = s
        .client
        .chat(
            "manual",
            &ChatRequest::new("How often should the filter be cleaned?", ChatMode::Chat),
        )
        .await
        .expect("answered");
    assert!(
        reply
            .text
            .contains("The dishwasher filter should be cleaned every month."),
        "{}",
        reply.text
    );
    assert_eq!(reply.sources[0].title.as_deref(), Some("Dishwasher manual"));
    assert!(reply.sources[0].score.expect("scored") > 0.0);
    assert!(reply.chat_id.is_some());
    assert_eq!(s.handle.chat_log("manual").len(), 1);
}

#[tokio::test]
async fn query_mode_without_a_matching_document_returns_the_refusal_without_sources() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let refusal = WorkspaceSettings {
        query_refusal_response: Some("Not in the manual.".into()),
        ..WorkspaceSettings::default()
    };
    s.client
        .update_workspace("manual", &refusal)
        .await
        .expect("set");
    let reply = s
        .client
        .chat(
            "manual",
            &ChatRequest::new("Who won the football cup?", ChatMode::Query),
        )
        .await
        .expect("answered");
    assert_eq!(reply.text, "Not in the manual.");
    assert!(reply.sources.is_empty());
    assert_eq!(reply.chat_id, None);
}

#[tokio::test]
async fn top_n_limits_the_number_of_sources() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let top = WorkspaceSettings {
        top_n: Some(1),
        ..WorkspaceSettings::default()
    };
    s.client
        .update_workspace("manual", &top)
        .await
        .expect("set");
    let reply = s
        .client
        .chat("manual", &ChatRequest::new("dishwasher", ChatMode::Query))
        .await
        .expect("answered");
    assert_eq!(reply.sources.len(), 1);
}

#[tokio::test]
async fn session_id_is_sent_with_workspace_chats() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let mut request = ChatRequest::new("warranty pump", ChatMode::Chat);
    request.session_id = Some("user-42".into());
    s.client.chat("manual", &request).await.expect("answered");
    assert_eq!(
        s.handle.chat_sessions("manual"),
        vec![Some("user-42".to_owned())]
    );
}

#[tokio::test]
async fn thread_chat_answers_in_the_thread() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let thread = s
        .client
        .create_thread("manual", &NewThread::default())
        .await
        .expect("thread");
    let reply = s
        .client
        .thread_chat(
            "manual",
            &thread.slug,
            &ChatRequest::new("How long is the pump warranty?", ChatMode::Query),
        )
        .await
        .expect("answered");
    assert!(reply.text.contains("five years"), "{}", reply.text);
    assert_eq!(
        s.handle.chat_sessions("manual"),
        vec![Some(format!("thread:{}", thread.slug))]
    );
}

#[tokio::test]
async fn thread_chat_in_an_unknown_thread_is_not_found_from_the_404_abort() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let error = s
        .client
        .thread_chat(
            "manual",
            "no-such-thread",
            &ChatRequest::new("hi", ChatMode::Chat),
        )
        .await
        .expect_err("unknown");
    assert!(
        matches!(error, Error::NotFound(ref m) if m.contains("no-such-thread")),
        "{error:?}"
    );
}

#[tokio::test]
async fn chat_in_an_unknown_workspace_is_not_found_from_the_400_abort() {
    let s = setup().await;
    let error = s
        .client
        .chat("ghost", &ChatRequest::new("hi", ChatMode::Chat))
        .await
        .expect_err("unknown");
    assert!(
        matches!(error, Error::NotFound(ref m) if m == "Workspace ghost is not a valid workspace."),
        "{error:?}"
    );
}

#[tokio::test]
async fn empty_chat_message_is_a_bad_request() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let error = s
        .client
        .chat("manual", &ChatRequest::new("", ChatMode::Chat))
        .await
        .expect_err("empty");
    assert!(
        matches!(error, Error::BadRequest(ref m) if m == "Message is empty"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unknown_chat_provider_fails_only_when_a_chat_runs_as_an_abort() {
    let s = setup().await;
    workspace_with_manual(&s).await;
    let provider = WorkspaceSettings {
        chat_provider: Some("not-a-provider".into()),
        ..WorkspaceSettings::default()
    };
    s.client
        .update_workspace("manual", &provider)
        .await
        .expect("stored without validation");
    let error = s
        .client
        .chat("manual", &ChatRequest::new("filter", ChatMode::Chat))
        .await
        .expect_err("the LLM cannot run");
    assert!(
        matches!(error, Error::Aborted(ref m) if m.contains("LLM_PROVIDER")),
        "{error:?}"
    );
    assert_eq!(
        s.handle.requests(endpoint::CHAT),
        1,
        "a 500 abort is not retried"
    );
}

#[tokio::test]
async fn folders_are_created_once_and_files_move_between_them() {
    let s = setup().await;
    assert!(s.client.create_folder("json").await.expect("created"));
    assert!(!s.client.create_folder("json").await.expect("already there"));
    let doc = s
        .client
        .upload_file(&text_file("data.json", "{\"k\": \"v\"}"))
        .await
        .expect("uploaded");
    let name = doc
        .location
        .rsplit_once('/')
        .expect("a folder")
        .1
        .to_owned();
    let outcome = s
        .client
        .move_files(&[FileMove {
            from: doc.location.clone(),
            to: format!("json/{name}"),
        }])
        .await
        .expect("moved");
    assert_eq!(outcome.not_moved, 0);
    assert_eq!(s.handle.document_locations(), vec![format!("json/{name}")]);
}

#[tokio::test]
async fn an_embedded_file_is_left_in_place_and_counted_as_not_moved() {
    let s = setup().await;
    let location = workspace_with_manual(&s).await;
    s.client.create_folder("manuals").await.expect("created");
    let name = location.rsplit_once('/').expect("a folder").1.to_owned();
    let outcome = s
        .client
        .move_files(&[FileMove {
            from: location.clone(),
            to: format!("manuals/{name}"),
        }])
        .await
        .expect("answered");
    assert_eq!(outcome.not_moved, 1);
    assert_eq!(s.handle.document_locations(), vec![location]);
}

#[tokio::test]
async fn moving_a_file_that_does_not_exist_is_a_server_error_and_not_retried() {
    let s = setup().await;
    let error = s
        .client
        .move_files(&[FileMove {
            from: "custom-documents/none.json".into(),
            to: "custom-documents/other.json".into(),
        }])
        .await
        .expect_err("failed");
    assert!(
        matches!(error, Error::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::MOVE_FILES), 1);
}

#[tokio::test]
async fn a_folder_name_escaping_storage_is_a_bad_request() {
    let s = setup().await;
    let error = s.client.create_folder("../etc").await.expect_err("refused");
    assert!(matches!(error, Error::BadRequest(_)), "{error:?}");
}

#[tokio::test]
async fn attach_documents_embeds_a_location_listed_twice_only_once() {
    let s = setup().await;
    s.client
        .create_workspace("Kb", &WorkspaceSettings::default())
        .await
        .expect("created");
    let a = s
        .client
        .upload_file(&text_file("a.txt", "Alpha."))
        .await
        .expect("a");
    let outcome = s
        .client
        .attach_documents("kb", &[a.location.clone(), a.location.clone()])
        .await
        .expect("attached");
    assert!(outcome.is_complete());
    assert_eq!(outcome.workspace.documents.len(), 1);
}
