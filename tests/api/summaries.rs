//! Templates and summaries (issue 13): templates with the global ones read-only and a
//! bad template a 400 naming line and column; extractive summaries without a model;
//! summaries through `quire-llm`'s in-process fakes of the OpenAI and Anthropic APIs
//! (model, tokens from `usage`, rendered prompt, settings, cache, JSON repair,
//! map-reduce, provider failures); stale marks on new content. SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use quire_llm::testing::{FakeLlm, Fault};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestOrg, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    global_templates_are_listed_read_only_and_can_be_copied,
    templates_are_created_changed_and_deleted_with_one_default_per_type,
    a_bad_template_is_a_400_naming_line_and_column,
    without_a_model_a_summary_is_extractive_with_sentences_from_the_document,
    a_json_summary_without_a_model_is_a_422_llm_required,
    summaries_are_listed_filtered_regenerated_and_deleted,
    a_template_summary_on_the_openai_fake_records_model_tokens_prompt_and_settings,
    a_summary_on_the_anthropic_fake_records_its_usage,
    the_cache_reuses_a_summary_and_cache_false_asks_again,
    invalid_json_gets_one_repair_and_twice_invalid_fails_with_the_outputs,
    a_300_page_document_is_summarised_map_reduce_with_the_formulas_number_of_calls,
    a_429_with_retry_after_is_waited_out_and_the_summary_completes,
    three_500s_fail_the_attempt_and_the_job_retries,
    new_content_marks_a_documents_summaries_stale,
    the_openapi_document_lists_the_template_and_summary_routes,
    a_bulk_run_summarises_each_document_once_with_progress_over_documents,
    with_auto_resummarize_new_content_enqueues_fresh_summaries_and_without_it_only_marks_stale,
    an_answer_breaking_the_json_schema_gets_a_repair_with_the_violations_then_fails_with_them,
    a_json_schema_the_server_cannot_apply_is_a_422_naming_its_place,
);

// Two failed calls open an endpoint's breaker for 3 s; job retries 200 ms apart, doubling.
on_both_databases!(
    flags = [
        "--llm-breaker-threshold=2",
        "--llm-breaker-cooldown=3",
        "--job-retry-backoff-ms=200",
        "--job-max-attempts=8",
    ];
    an_open_breaker_fails_attempts_fast_with_a_503_class_error_and_the_job_succeeds_after_recovery,
);

const CONTRACT: &str = "MASTER SERVICES AGREEMENT\n\n\
This agreement is made between Northwind Supplies Ltd and the City of Springfield. \
The supplier shall deliver office supplies to the city every month under this agreement. \
Payment of each invoice is due within 30 days of delivery of the supplies. \
The total contract value is EUR 240,000 over the two year term of the agreement. \
The weather on the day of signing was pleasant. \
Late delivery of supplies entitles the city to a discount of 5 percent on the invoice. \
This agreement is governed by the laws of Ireland.";

pub async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> reqwest::Response {
    app.authed(Method::POST, path, key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn create_document(app: &TestApp, org: &TestOrg, title: &str, content: &str) -> String {
    let response = post(
        app,
        &org.admin_key,
        "/api/v1/documents",
        json!({"title": title, "content": content}),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a summary (202) and returns its id.
pub async fn start_summary(app: &TestApp, key: &str, document: &str, body: Value) -> String {
    let response = post(
        app,
        key,
        &format!("/api/v1/documents/{document}/summaries"),
        body,
    )
    .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["summary"]["status"], "pending");
    assert_eq!(accepted["job"]["type"], "summaries.generate");
    assert_eq!(accepted["summary"]["job_id"], accepted["job"]["id"]);
    accepted["summary"]["id"].as_str().unwrap().to_owned()
}

/// The summary once its job has ended.
pub async fn finished_summary(app: &TestApp, key: &str, id: &str) -> Value {
    app.run_pending_jobs().await;
    app.get_json(&format!("/api/v1/summaries/{id}"), key).await
}

fn llm(fake: &FakeLlm, provider: &str) -> Value {
    json!({"provider": provider, "base_url": fake.base_url(), "model": "summary-model"})
}

async fn global_templates_are_listed_read_only_and_can_be_copied(app: TestApp) {
    let org = app.create_org("Globals").await;
    let page = app.get_json("/api/v1/templates", &org.admin_key).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["is_global"] == true)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "Executive summary",
        "Contract key terms",
        "Obligations and risks",
        "Financial highlights",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let id = "global-contract-key-terms";
    let global = app
        .get_json(&format!("/api/v1/templates/{id}"), &org.admin_key)
        .await;
    assert!(global["org_id"].is_null());
    assert!(
        global["prompt_template"]
            .as_str()
            .unwrap()
            .contains("governing law")
    );

    let change = app
        .authed(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .json(&json!({"name": "Mine now"}))
        .send()
        .await
        .unwrap();
    assert_error_envelope(change, 403, "forbidden").await;
    let delete = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(delete, 403, "forbidden").await;
    let again = app
        .get_json(&format!("/api/v1/templates/{id}"), &org.admin_key)
        .await;
    assert_eq!(again["name"], "Contract key terms");

    let copy = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"copy_from": id}),
    )
    .await;
    assert_eq!(copy.status(), 201);
    let copy: Value = copy.json().await.unwrap();
    assert_eq!(copy["name"], "Copy of Contract key terms");
    assert_eq!(copy["org_id"], org.org_id.as_str());
    assert_eq!(copy["is_global"], false);
    assert_eq!(copy["prompt_template"], global["prompt_template"]);
    let renamed = app
        .authed(
            Method::PUT,
            &format!("/api/v1/templates/{}", copy["id"].as_str().unwrap()),
            &org.admin_key,
        )
        .json(&json!({"name": "Our key terms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
}

async fn templates_are_created_changed_and_deleted_with_one_default_per_type(app: TestApp) {
    let org = app.create_org("Own templates").await;
    let create = |name: &'static str, default: bool| {
        let app = &app;
        let key = org.admin_key.clone();
        async move {
            let r = post(
                app,
                &key,
                "/api/v1/templates",
                json!({"name": name, "prompt_template": "Summarise {{ document.title }}: {{ document.content }}",
                       "is_default": default}),
            )
            .await;
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        }
    };
    let first = create("First", true).await;
    assert_eq!(first["template_type"], "summary");
    assert_eq!(first["is_default"], true);
    let second = create("Second", true).await;
    let first_now = app
        .get_json(
            &format!("/api/v1/templates/{}", first["id"].as_str().unwrap()),
            &org.admin_key,
        )
        .await;
    assert_eq!(first_now["is_default"], false, "one default per type");
    assert_eq!(second["is_default"], true);
    let own: Vec<Value> = app
        .get_json("/api/v1/templates?template_type=summary", &org.admin_key)
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["is_global"] == false)
        .cloned()
        .collect();
    assert_eq!(own.len(), 2);
    assert_eq!(own.iter().filter(|t| t["is_default"] == true).count(), 1);

    let id = first["id"].as_str().unwrap();
    let changed = app
        .authed(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .json(&json!({"template_type": "extraction", "description": "now extraction"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["template_type"], "extraction");
    let delete = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let gone = app
        .authed(
            Method::GET,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(gone, 404, "not_found").await;
    let nameless = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"prompt_template": "x"}),
    )
    .await;
    let body = assert_error_envelope(nameless, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "name");
}

async fn a_bad_template_is_a_400_naming_line_and_column(app: TestApp) {
    let org = app.create_org("Bad templates").await;
    let syntax = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"name": "Broken", "prompt_template": "Summarise this.\nTitle: {{ document.title }\n"}),
    )
    .await;
    let body = assert_error_envelope(syntax, 400, "bad_request").await;
    assert_eq!(body["details"]["line"], 2, "{body}");
    assert!(body["details"]["column"].as_u64().unwrap() >= 1, "{body}");

    let unknown = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"name": "Unknown", "prompt_template": "Summarise.\n\n  For {{ customer.name }}: {{ document.content }}"}),
    )
    .await;
    let body = assert_error_envelope(unknown, 400, "bad_request").await;
    assert_eq!(body["details"]["line"], 3, "{body}");
    assert_eq!(body["details"]["column"], 10, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("customer"),
        "{body}"
    );

    // The same checks on a change; the template keeps its text.
    let good = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"name": "Good", "prompt_template": "{{ document.content }}"}),
    )
    .await;
    let id = good.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad_change = app
        .authed(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            &org.admin_key,
        )
        .json(&json!({"prompt_template": "{% if %}"}))
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(bad_change, 400, "bad_request").await;
    assert_eq!(body["details"]["line"], 1);
    let kept = app
        .get_json(&format!("/api/v1/templates/{id}"), &org.admin_key)
        .await;
    assert_eq!(kept["prompt_template"], "{{ document.content }}");
}

/// Every line of an extractive summary's text is a sentence of the document and its page
/// (the text shows each sentence on one line, so whitespace is compared collapsed).
pub fn assert_extractive_lines_occur_in(text: &str, document: &str) {
    let collapse = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let document = collapse(document);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "an extractive summary has sentences");
    for line in lines {
        let sentence = line.strip_prefix("- ").unwrap_or(line);
        let (sentence, page) = sentence
            .rsplit_once(" (p. ")
            .unwrap_or_else(|| panic!("a page mark in {line:?}"));
        assert!(page.ends_with(')'), "{line:?}");
        assert!(
            document.contains(&collapse(sentence)),
            "{sentence:?} does not occur in the document"
        );
    }
}

async fn without_a_model_a_summary_is_extractive_with_sentences_from_the_document(app: TestApp) {
    let org = app.create_org("Extractive").await;
    let doc = create_document(&app, &org, "Supplies agreement", CONTRACT).await;
    let id = start_summary(&app, &org.admin_key, &doc, json!({})).await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["model_used"], "extractive");
    assert_eq!(summary["format"], "markdown");
    assert_eq!(summary["template_id"], "global-executive-summary");
    assert!(summary["tokens_used"].is_null());
    let sentences = summary["sentences"].as_array().unwrap();
    assert!(!sentences.is_empty());
    let mut total = 0;
    for s in sentences {
        let text = s["text"].as_str().unwrap();
        assert!(CONTRACT.contains(text), "{text:?}");
        assert_eq!(s["page"], 1);
        total += text.chars().count();
    }
    assert!(total <= 1200, "within the length budget");
    assert!(
        !sentences
            .iter()
            .any(|s| s["text"].as_str().unwrap().contains("weather")),
        "the off-topic sentence is not central: {sentences:?}"
    );
    // Document order.
    let positions: Vec<usize> = sentences
        .iter()
        .map(|s| CONTRACT.find(s["text"].as_str().unwrap()).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_extractive_lines_occur_in(summary["summary_text"].as_str().unwrap(), CONTRACT);
    assert!(summary["processing_time_ms"].as_i64().is_some());
    assert!(
        summary["content_hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
}

async fn a_json_summary_without_a_model_is_a_422_llm_required(app: TestApp) {
    let org = app.create_org("No model").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let response = post(
        &app,
        &org.admin_key,
        &format!("/api/v1/documents/{doc}/summaries"),
        json!({"format": "json"}),
    )
    .await;
    assert_error_envelope(response, 422, "llm_required").await;
    let bad_format = post(
        &app,
        &org.admin_key,
        &format!("/api/v1/documents/{doc}/summaries"),
        json!({"format": "yaml"}),
    )
    .await;
    let body = assert_error_envelope(bad_format, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "format");
    let bad_llm = post(
        &app,
        &org.admin_key,
        &format!("/api/v1/documents/{doc}/summaries"),
        json!({"llm": {"temperature": 7}}),
    )
    .await;
    let body = assert_error_envelope(bad_llm, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "llm.temperature");
}

async fn summaries_are_listed_filtered_regenerated_and_deleted(app: TestApp) {
    let org = app.create_org("Lists").await;
    let a = create_document(&app, &org, "A", CONTRACT).await;
    let b = create_document(&app, &org, "B", CONTRACT).await;
    let sa = start_summary(&app, &org.admin_key, &a, json!({})).await;
    let sb = start_summary(
        &app,
        &org.admin_key,
        &b,
        json!({"template_id": "global-financial-highlights", "format": "text"}),
    )
    .await;
    app.run_pending_jobs().await;
    let all = app.get_json("/api/v1/summaries", &org.admin_key).await;
    assert_eq!(all["total"], 2);
    let of_a = app
        .get_json(
            &format!("/api/v1/summaries?document_id={a}"),
            &org.admin_key,
        )
        .await;
    assert_eq!(of_a["total"], 1);
    assert_eq!(of_a["items"][0]["id"], sa.as_str());
    let by_template = app
        .get_json(
            "/api/v1/summaries?template_id=global-financial-highlights&status=complete",
            &org.admin_key,
        )
        .await;
    assert_eq!(by_template["total"], 1);
    assert_eq!(by_template["items"][0]["id"], sb.as_str());
    let paged = app
        .get_json("/api/v1/summaries?limit=1&offset=1", &org.admin_key)
        .await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    assert_eq!(paged["total"], 2);
    let bad = app
        .authed(Method::GET, "/api/v1/summaries?status=done", &org.admin_key)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(bad, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "status");

    let again = post(
        &app,
        &org.admin_key,
        &format!("/api/v1/summaries/{sb}/regenerate"),
        json!({}),
    )
    .await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    let new_id = again["summary"]["id"].as_str().unwrap();
    assert_ne!(new_id, sb);
    let regenerated = finished_summary(&app, &org.admin_key, new_id).await;
    assert_eq!(regenerated["template_id"], "global-financial-highlights");
    assert_eq!(regenerated["format"], "text");
    assert_eq!(regenerated["status"], "complete");

    let delete = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/summaries/{sa}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let gone = app
        .authed(
            Method::GET,
            &format!("/api/v1/summaries/{sa}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(gone, 404, "not_found").await;
}

async fn a_template_summary_on_the_openai_fake_records_model_tokens_prompt_and_settings(
    app: TestApp,
) {
    let fake = FakeLlm::start().await.unwrap();
    fake.set_reply(Some("The city buys office supplies for EUR 240,000."));
    let org = app.create_org("OpenAI").await;
    let template = post(
        &app,
        &org.admin_key,
        "/api/v1/templates",
        json!({"name": "For the board",
               "prompt_template": "Summarise \"{{ document.title }}\" for the {{ variables.audience }}{% if language %} in {{ language }}{% endif %}.\n\n{{ document.content }}"}),
    )
    .await;
    let template: Value = template.json().await.unwrap();
    let doc = create_document(&app, &org, "Supplies agreement", CONTRACT).await;
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"template_id": template["id"], "variables": {"audience": "board"},
               "language": "French", "llm": llm(&fake, "openai")}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(
        summary["summary_text"],
        "The city buys office supplies for EUR 240,000."
    );
    assert_eq!(summary["model_used"], "summary-model");
    assert_eq!(summary["llm_calls"], 1);
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    let usage_prompt = sent.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().split_whitespace().count())
        .sum::<usize>() as i64;
    assert_eq!(
        summary["tokens_used"]["prompt"], usage_prompt,
        "from the fake's usage"
    );
    assert_eq!(summary["tokens_used"]["completion"], 8);
    assert_eq!(summary["tokens_used"]["total"], usage_prompt + 8);
    assert_eq!(summary["tokens_used"]["estimated"], false);
    let rendered = summary["rendered_prompt"].as_str().unwrap();
    assert!(
        rendered.contains(CONTRACT),
        "the document text is in the prompt"
    );
    assert!(rendered.contains("for the board in French"), "{rendered}");
    let user = sent.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert_eq!(user["content"], rendered);
    assert_eq!(summary["template_text"], template["prompt_template"]);
    assert_eq!(summary["llm_settings"]["provider"], "openai");
    assert_eq!(summary["llm_settings"]["model"], "summary-model");
    assert_eq!(summary["llm_settings"]["context_tokens"], 8192);
    assert!(summary["llm_settings"].get("api_key").is_none());
    assert!(summary["processing_time_ms"].as_i64().is_some());
}

async fn a_summary_on_the_anthropic_fake_records_its_usage(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Anthropic").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"template_id": "global-contract-key-terms", "llm": llm(&fake, "anthropic")}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert!(sent.header("anthropic-version").is_some());
    let text = summary["summary_text"].as_str().unwrap();
    assert!(text.starts_with("Fake answer to:"), "{text}");
    assert_eq!(
        summary["tokens_used"]["completion"],
        text.split_whitespace().count() as i64
    );
    assert!(summary["tokens_used"]["prompt"].as_i64().unwrap() > 50);
    assert_eq!(summary["llm_settings"]["context_tokens"], 200000);
    assert!(
        sent.body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("governed by the laws of Ireland")
    );
}

async fn the_cache_reuses_a_summary_and_cache_false_asks_again(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Cache").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let body = json!({"llm": llm(&fake, "openai")});
    let first = start_summary(&app, &org.admin_key, &doc, body.clone()).await;
    let first = finished_summary(&app, &org.admin_key, &first).await;
    assert_eq!(fake.request_count(), 1);
    let second = start_summary(&app, &org.admin_key, &doc, body.clone()).await;
    let second = finished_summary(&app, &org.admin_key, &second).await;
    assert_eq!(fake.request_count(), 1, "served from the cache");
    assert_eq!(second["cached_from"], first["id"]);
    assert_eq!(second["summary_text"], first["summary_text"]);
    let metrics = app.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("summaries_cache_total{result=\"hit\"}")),
        "{metrics}"
    );
    let mut forced = body.clone();
    forced["cache"] = json!(false);
    let third = start_summary(&app, &org.admin_key, &doc, forced).await;
    let third = finished_summary(&app, &org.admin_key, &third).await;
    assert_eq!(fake.request_count(), 2, "cache: false asks the model");
    assert!(third["cached_from"].is_null());
    // Another template is another prompt: no reuse.
    let mut other = body;
    other["template_id"] = json!("global-financial-highlights");
    let fourth = start_summary(&app, &org.admin_key, &doc, other).await;
    finished_summary(&app, &org.admin_key, &fourth).await;
    assert_eq!(fake.request_count(), 3);
}

async fn invalid_json_gets_one_repair_and_twice_invalid_fails_with_the_outputs(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Json").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    fake.queue_replies(&[
        "Sure! Here it is: {parties: Northwind",
        "{\"parties\": [\"Northwind Supplies Ltd\", \"City of Springfield\"]}",
    ]);
    let body = json!({"format": "json", "json_schema": {"type": "object"},
                      "llm": llm(&fake, "openai"), "cache": false});
    let id = start_summary(&app, &org.admin_key, &doc, body.clone()).await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["llm_calls"], 2);
    let parsed: Value = serde_json::from_str(summary["summary_text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["parties"][1], "City of Springfield");
    let repair = &fake.requests()[1];
    let messages: Vec<&Value> = repair.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(
        messages[1]["content"],
        "Sure! Here it is: {parties: Northwind"
    );
    assert!(
        messages[2]["content"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let system = repair.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&repair.body["system"]))
        .any(|m| m.to_string().contains("JSON Schema"));
    assert!(system, "the schema is given to the model");

    fake.queue_replies(&["not json", "still not json"]);
    let id = start_summary(&app, &org.admin_key, &doc, body).await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(
        summary["error_details"]["model_output"],
        json!(["not json", "still not json"])
    );
    assert!(summary["error"].as_str().unwrap().contains("JSON"));
    assert_eq!(fake.request_count(), 4);
}

async fn a_300_page_document_is_summarised_map_reduce_with_the_formulas_number_of_calls(
    app: TestApp,
) {
    let fake = FakeLlm::start().await.unwrap();
    fake.set_reply(Some("Partial summary of this part."));
    let org = app.create_org("Long").await;
    // 300 pages of about 1,200 characters each, through the documents service as an
    // upload would make them.
    let pages: Vec<(i64, String)> = (1..=300)
        .map(|n| {
            let sentence = format!(
                "Clause {n}: the supplier delivers batch {n} of office supplies to the city and invoices it within thirty days. "
            );
            (n, sentence.repeat(1200 / sentence.len() + 1))
        })
        .collect();
    let id = uuid::Uuid::now_v7().to_string();
    let content: String = pages
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    quire::documents::service::create_document(
        &app.state,
        quire::documents::service::NewDocument {
            id: id.clone(),
            org_id: org.org_id.clone(),
            source: quire::documents::service::DocumentSource::External {
                source_type: quire::documents::model::SourceType::Api,
                source_url: None,
                external_id: None,
                external_last_updated: None,
            },
            name: "long.txt".into(),
            title: "Long framework agreement".into(),
            doc_type: quire_ingest::DocType::Text,
            original: content.clone().into_bytes().into(),
            pages: pages.clone(),
            page_count: Some(300),
            flags: Vec::new(),
            metadata: None,
            workspace_ids: Vec::new(),
        },
    )
    .await
    .unwrap();
    let template = "Summarise:\n{{ document.content }}";
    let summary_id = start_summary(
        &app,
        &org.admin_key,
        &id,
        json!({"prompt": template,
               "llm": {"provider": "openai", "base_url": fake.base_url(), "model": "small",
                       "context_tokens": 4000, "max_tokens": 500}}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &summary_id).await;
    assert_eq!(summary["status"], "complete", "{summary}");

    // The formula of README / crates/summarize/src/plan.rs, worked by hand: T = ceil(chars/4),
    // O = the longer of the template without the document (plus the system prompt) and the
    // reduce instruction (+64), B = C - M - O, n = ceil(T / B), g = floor(B / M), then
    // ceil(n / g) per reduce level down to 1.
    let t = (content.chars().count() as u64).div_ceil(4);
    let system = "You summarise documents for procurement and finance teams. Follow the \
                  instructions in the user's message and use only the document's content. \
                  Answer in Markdown.";
    let template_overhead = ("Summarise:\n".chars().count() as u64).div_ceil(4)
        + (system.chars().count() as u64).div_ceil(4);
    let reduce = "Below are summaries of consecutive parts of the document \"Long framework agreement\", in order. Combine them into one summary of the whole document. Keep every figure, date, party and obligation they mention, drop repetition, and add nothing they do not say.\n\n";
    let reduce_overhead = (reduce.chars().count() as u64).div_ceil(4) + 64;
    let o = template_overhead.max(reduce_overhead);
    let (c, m) = (4000u64, 500u64);
    let b = c - m - o;
    let n = t.div_ceil(b);
    let g = b / m;
    let mut calls = n;
    let mut left = n;
    while left > 1 {
        left = left.div_ceil(g);
        calls += left;
    }
    assert!(n >= 20, "the document does not fit: {n} chunks");
    assert_eq!(fake.request_count() as u64, calls, "n = {n}, g = {g}");
    assert_eq!(summary["llm_calls"], calls);
    assert_eq!(summary["summary_text"], "Partial summary of this part.");
    // Each map prompt holds a chunk of the document, never more than B tokens of it.
    let first = fake.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first.starts_with("Summarise:\nClause 1:"),
        "{}",
        &first[..80]
    );
    assert!(((first.chars().count() as u64).div_ceil(4)) <= b + 4);
}

async fn a_429_with_retry_after_is_waited_out_and_the_summary_completes(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Some("1".into()),
        },
    );
    let org = app.create_org("Rate limited").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let started = Instant::now();
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"llm": llm(&fake, "openai")}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(fake.request_count(), 2);
    let job = app
        .job(&org.admin_key, summary["job_id"].as_str().unwrap())
        .await;
    assert_eq!(job["attempts"], 1, "the client's retry, not the job's");
}

async fn three_500s_fail_the_attempt_and_the_job_retries(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    fake.fail_next(3, Fault::Status(500));
    let org = app.create_org("Server errors").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"llm": llm(&fake, "openai")}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    let job = app
        .job(&org.admin_key, summary["job_id"].as_str().unwrap())
        .await;
    // A 500 is not repeated by the client (it may not be transient); each one fails an
    // attempt of the job, which retries. The default three attempts all meet a 500.
    assert_eq!(fake.request_count(), 3);
    assert_eq!(job["attempts"], 3, "{job}");
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(summary["status"], "failed", "{summary}");
    assert!(
        summary["error"].as_str().unwrap().contains("500"),
        "{summary}"
    );
    // The next summary finds the model well again.
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"llm": llm(&fake, "openai")}),
    )
    .await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
}

async fn new_content_marks_a_documents_summaries_stale(app: TestApp) {
    let org = app.create_org("Stale").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let other = create_document(&app, &org, "Other", CONTRACT).await;
    let id = start_summary(&app, &org.admin_key, &doc, json!({})).await;
    let kept = start_summary(&app, &org.admin_key, &other, json!({})).await;
    let before = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(before["stale"], false);
    let put = app
        .authed(
            Method::PUT,
            &format!("/api/v1/documents/{doc}"),
            &org.admin_key,
        )
        .json(&json!({"content": "An entirely new text. It replaces the agreement."}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let after = app
        .get_json(&format!("/api/v1/summaries/{id}"), &org.admin_key)
        .await;
    assert_eq!(after["stale"], true);
    let untouched = app
        .get_json(&format!("/api/v1/summaries/{kept}"), &org.admin_key)
        .await;
    assert_eq!(untouched["stale"], false);
}

async fn the_openapi_document_lists_the_template_and_summary_routes(app: TestApp) {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, methods) in [
        ("/api/v1/templates", &["get", "post"][..]),
        ("/api/v1/templates/{id}", &["get", "put", "delete"]),
        ("/api/v1/documents/{id}/summaries", &["post"]),
        ("/api/v1/summaries", &["get"]),
        ("/api/v1/summaries/{id}", &["get", "delete"]),
        ("/api/v1/summaries/{id}/regenerate", &["post"]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    let create = &doc["paths"]["/api/v1/documents/{id}/summaries"]["post"]["responses"];
    for status in ["202", "400", "404", "422"] {
        assert!(create[status].is_object(), "{status} is declared");
    }
}

async fn a_bulk_run_summarises_each_document_once_with_progress_over_documents(app: TestApp) {
    let org = app.create_org("Bulk").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(create_document(&app, &org, &format!("Agreement {n}"), CONTRACT).await);
    }
    let response = post(
        &app,
        &org.admin_key,
        "/api/v1/summaries/bulk",
        json!({"document_ids": ids, "format": "text"}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["total_documents"], 5);
    assert_eq!(accepted["job"]["type"], "summaries.bulk");
    app.run_pending_jobs().await;
    let job = app
        .job(&org.admin_key, accepted["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100.0);
    assert_eq!(job["result"]["complete"], 5);
    let listed = app
        .get_json("/api/v1/summaries?status=complete", &org.admin_key)
        .await;
    assert_eq!(listed["total"], 5);
    let mut documents: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["document_id"].as_str().unwrap())
        .collect();
    documents.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(documents, expected, "one summary per document");

    // By source type: the same five documents.
    let by_source = post(
        &app,
        &org.admin_key,
        "/api/v1/summaries/bulk",
        json!({"source_type": "api"}),
    )
    .await;
    assert_eq!(by_source.status(), 202);
    assert_eq!(
        by_source.json::<Value>().await.unwrap()["total_documents"],
        5
    );

    let other = app.create_org("Other bulk").await;
    let foreign = post(
        &app,
        &other.admin_key,
        "/api/v1/summaries/bulk",
        json!({"document_ids": [ids[0]]}),
    )
    .await;
    assert_error_envelope(foreign, 404, "not_found").await;
    let nothing = post(&app, &other.admin_key, "/api/v1/summaries/bulk", json!({})).await;
    let body = assert_error_envelope(nothing, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "document_ids");
}

async fn an_open_breaker_fails_attempts_fast_with_a_503_class_error_and_the_job_succeeds_after_recovery(
    app: TestApp,
) {
    let fake = FakeLlm::start().await.unwrap();
    // The provider fails twice (a 500 is not repeated by the client: each fails one
    // attempt of the job), which opens the endpoint's breaker; then it is well again.
    fake.fail_next(2, Fault::Status(500));
    let org = app.create_org("Breaker").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let id = start_summary(
        &app,
        &org.admin_key,
        &doc,
        json!({"llm": llm(&fake, "openai")}),
    )
    .await;
    // The app's own workers run the job; watch the pending summary's attempt error.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fast_failed = loop {
        let summary = app
            .get_json(&format!("/api/v1/summaries/{id}"), &org.admin_key)
            .await;
        let error = summary["error"].as_str().unwrap_or_default().to_owned();
        if summary["status"] == "pending" && error.contains("circuit breaker open") {
            break summary;
        }
        assert_ne!(
            summary["status"], "complete",
            "the breaker never opened: {summary}"
        );
        assert!(Instant::now() < deadline, "{summary}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = fast_failed["error"].as_str().unwrap();
    assert!(error.starts_with("llm_unavailable (503)"), "{error}");
    assert_eq!(
        fake.request_count(),
        2,
        "the open breaker failed the attempt without calling the provider"
    );
    let job_id = fast_failed["job_id"].as_str().unwrap();
    let job = app.job(&org.admin_key, job_id).await;
    assert_ne!(job["status"], "failed", "the job retries later: {job}");

    // After the cool-down one trial call goes through, and the summary completes.
    let summary = loop {
        let summary = app
            .get_json(&format!("/api/v1/summaries/{id}"), &org.admin_key)
            .await;
        if summary["status"] != "pending" {
            break summary;
        }
        assert!(Instant::now() < deadline, "{summary}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["error"], Value::Null, "{summary}");
    assert_eq!(summary["llm_calls"], 1);
    assert_eq!(
        fake.request_count(),
        3,
        "two failures and the trial that succeeded"
    );
    let job = app
        .wait_for_status(&org.admin_key, job_id, "succeeded", Duration::from_secs(10))
        .await;
    let attempts = job["attempts"].as_u64().unwrap();
    assert!(
        attempts >= 4,
        "two failed calls, at least one attempt failed fast, then the trial: {job}"
    );
}

async fn with_auto_resummarize_new_content_enqueues_fresh_summaries_and_without_it_only_marks_stale(
    app: TestApp,
) {
    let org = app.create_org("Auto").await;
    let current = app.get_json("/api/v1/orgs/current", &org.admin_key).await;
    assert_eq!(current["auto_resummarize"], false, "off by default");
    let patch = |body: Value| {
        app.authed(Method::PATCH, "/api/v1/orgs/current", &org.admin_key)
            .json(&body)
            .send()
    };
    let on = patch(json!({"auto_resummarize": true})).await.unwrap();
    assert_eq!(on.status(), 200);
    let on: Value = on.json().await.unwrap();
    assert_eq!(on["auto_resummarize"], true);
    assert_eq!(on["name"], "Auto", "the name is kept");
    let nothing = patch(json!({})).await.unwrap();
    assert_error_envelope(nothing, 422, "validation_error").await;
    assert_eq!(
        app.get_json("/api/v1/orgs/current", &org.admin_key).await["auto_resummarize"],
        true
    );

    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let text = start_summary(&app, &org.admin_key, &doc, json!({"format": "text"})).await;
    let markdown = start_summary(&app, &org.admin_key, &doc, json!({})).await;
    // The same request twice: one fresh summary for both.
    let again = start_summary(&app, &org.admin_key, &doc, json!({})).await;
    for id in [&text, &markdown, &again] {
        assert_eq!(
            finished_summary(&app, &org.admin_key, id).await["status"],
            "complete"
        );
    }
    let new_content = "Amendment between Northwind Supplies Ltd and the City of Springfield. \
        The monthly delivery of office supplies moves to the first Monday of each month. \
        Every other term of the master services agreement stays in force without change.";
    let put = app
        .authed(
            Method::PUT,
            &format!("/api/v1/documents/{doc}"),
            &org.admin_key,
        )
        .json(&json!({"content": new_content}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let document: Value = put.json().await.unwrap();
    app.run_pending_jobs().await;

    let listed = app
        .get_json(
            &format!("/api/v1/summaries?document_id={doc}&limit=100"),
            &org.admin_key,
        )
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(listed["total"], 5, "three stale and two fresh: {listed}");
    let stale: Vec<&str> = items
        .iter()
        .filter(|s| s["stale"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut expected_stale = vec![text.as_str(), markdown.as_str(), again.as_str()];
    expected_stale.sort();
    let mut stale_sorted = stale.clone();
    stale_sorted.sort();
    assert_eq!(stale_sorted, expected_stale);
    let fresh: Vec<&Value> = items.iter().filter(|s| s["stale"] == false).collect();
    let mut formats: Vec<&str> = fresh
        .iter()
        .map(|s| s["format"].as_str().unwrap())
        .collect();
    formats.sort();
    assert_eq!(formats, ["markdown", "text"]);
    for summary in fresh {
        assert_eq!(summary["status"], "complete", "{summary}");
        assert_eq!(summary["model_used"], "extractive");
        assert_ne!(summary["content_hash"], Value::Null);
        if let Some(sha) = document["sha256"].as_str() {
            assert_eq!(summary["content_hash"], sha, "made from the new content");
        }
        for sentence in summary["sentences"].as_array().unwrap() {
            let sentence = sentence["text"].as_str().unwrap();
            assert!(
                new_content.contains(sentence),
                "{sentence:?} is from the new content"
            );
        }
    }

    // Off: the summaries are only marked stale.
    let off = app.create_org("Manual").await;
    let doc = create_document(&app, &off, "Agreement", CONTRACT).await;
    let id = start_summary(&app, &off.admin_key, &doc, json!({})).await;
    finished_summary(&app, &off.admin_key, &id).await;
    let put = app
        .authed(
            Method::PUT,
            &format!("/api/v1/documents/{doc}"),
            &off.admin_key,
        )
        .json(&json!({"content": new_content}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    app.run_pending_jobs().await;
    let listed = app
        .get_json(
            &format!("/api/v1/summaries?document_id={doc}"),
            &off.admin_key,
        )
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["stale"], true);
}

fn parties_schema() -> Value {
    json!({
        "type": "object",
        "required": ["parties", "governing_law"],
        "additionalProperties": false,
        "properties": {
            "parties": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "governing_law": {"type": "string"}
        }
    })
}

async fn an_answer_breaking_the_json_schema_gets_a_repair_with_the_violations_then_fails_with_them(
    app: TestApp,
) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Schema").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let body = json!({"format": "json", "json_schema": parties_schema(),
                      "llm": llm(&fake, "openai"), "cache": false});
    // Valid JSON, wrong shape; then right.
    fake.queue_replies(&[
        "{\"parties\": \"Northwind Supplies Ltd\", \"governing_law\": \"Ireland\"}",
        "{\"parties\": [\"Northwind Supplies Ltd\", \"City of Springfield\"], \"governing_law\": \"Ireland\"}",
    ]);
    let id = start_summary(&app, &org.admin_key, &doc, body.clone()).await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["llm_calls"], 2);
    let parsed: Value = serde_json::from_str(summary["summary_text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["parties"][1], "City of Springfield");
    let repair = &fake.requests()[1];
    let last = repair.body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.contains("did not follow the JSON Schema"), "{last}");
    assert!(
        last.contains("/parties: expected array, got string"),
        "{last}"
    );

    // Twice wrong: the summary fails with both outputs and both lists of violations.
    let first = "{\"parties\": [\"Northwind\"], \"governing_law\": \"Ireland\", \"value\": 1}";
    let second = "{\"parties\": [\"Northwind\", \"City\"]}";
    fake.queue_replies(&[first, second]);
    let id = start_summary(&app, &org.admin_key, &doc, body).await;
    let summary = finished_summary(&app, &org.admin_key, &id).await;
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["summary_text"], Value::Null);
    let details = &summary["error_details"];
    assert_eq!(details["model_output"], json!([first, second]));
    assert_eq!(
        details["validation_errors"],
        json!([
            [
                "/parties: fewer than 2 items",
                "/value: the property \"value\" is not allowed"
            ],
            ["/: the property \"governing_law\" is missing"]
        ]),
        "{details}"
    );
    let error = summary["error"].as_str().unwrap();
    assert!(error.contains("did not follow the JSON schema"), "{error}");
    assert!(error.contains("governing_law"), "{error}");
    assert_eq!(fake.request_count(), 4);
}

async fn a_json_schema_the_server_cannot_apply_is_a_422_naming_its_place(app: TestApp) {
    let fake = FakeLlm::start().await.unwrap();
    let org = app.create_org("Bad schema").await;
    let doc = create_document(&app, &org, "Agreement", CONTRACT).await;
    let mut schema = parties_schema();
    schema["properties"]["parties"]["type"] = json!("list");
    for (path, body) in [
        (
            format!("/api/v1/documents/{doc}/summaries"),
            json!({"format": "json", "json_schema": schema, "llm": llm(&fake, "openai")}),
        ),
        (
            "/api/v1/summaries/bulk".to_owned(),
            json!({"document_ids": [doc], "format": "json", "json_schema": schema,
                   "llm": llm(&fake, "openai")}),
        ),
    ] {
        let response = post(&app, &org.admin_key, &path, body).await;
        let error = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], "json_schema", "{error}");
        assert_eq!(
            error["details"]["path"], "/properties/parties/type",
            "{error}"
        );
        assert!(
            error["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("unknown type"),
            "{error}"
        );
    }
    let unsupported = post(
        &app,
        &org.admin_key,
        &format!("/api/v1/documents/{doc}/summaries"),
        json!({"format": "json", "json_schema": {"$ref": "#/$defs/terms"},
               "llm": llm(&fake, "openai")}),
    )
    .await;
    let error = assert_error_envelope(unsupported, 422, "validation_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("$ref"),
        "{error}"
    );
    let listed = app.get_json("/api/v1/summaries", &org.admin_key).await;
    assert_eq!(listed["total"], 0, "nothing was recorded");
    assert_eq!(fake.request_count(), 0);
}
