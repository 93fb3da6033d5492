//! The answer cache of question runs (issue 19): a run started with `cache: true`
//! answers a question asked before on the same documents and settings from the cache,
//! without calling the backend (counted at the AnythingLLM double); a run without it
//! asks every question; a document added to the workspace makes the cached answers
//! unreachable. In memory and in Redis, on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use anythingllm::testing::{TestDouble, endpoint};
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::wait_until_embedded;
use crate::helpers::{Backend, TestApp, assert_error_envelope};
use crate::questions::{contract_workspace, execute, finished_run, results};

/// Which cache the app uses.
#[derive(Clone, Copy, Debug)]
pub enum CacheKind {
    Memory,
    Redis,
}

macro_rules! on_both_databases_and_caches {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;
                use super::CacheKind;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    super::$name(Backend::Sqlite, CacheKind::Memory).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_redis() {
                    super::$name(Backend::Sqlite, CacheKind::Redis).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_memory() {
                    if crate::helpers::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres, CacheKind::Memory).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if crate::helpers::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres, CacheKind::Redis).await;
                    }
                }
            }
        )*
    };
}

on_both_databases_and_caches!(
    a_cached_run_asks_the_backend_nothing_and_a_new_document_makes_it_ask_again,
);

/// The double and an app pointed at it, with the cache asked for (`None`: Redis is
/// needed and not configured outside CI).
async fn app_with_double(backend: Backend, cache: CacheKind) -> Option<(TestDouble, TestApp)> {
    let mut flags = vec!["--rate-limit-enabled=false".to_owned()];
    if let CacheKind::Redis = cache {
        flags.push(format!("--redis-url={}", crate::helpers::redis_test_url()?));
    }
    let double = TestDouble::start().await.unwrap();
    flags.push(format!("--anythingllm-url=http://{}", double.addr()));
    flags.push(format!("--anythingllm-api-key={}", double.api_key()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = TestApp::spawn_with(backend, &flags).await?;
    Some((double, app))
}

/// `answer_cache_lookups_total{outcome}` as `/metrics` shows it (0 before the first).
async fn cache_lookups(app: &TestApp, key: &str, outcome: &str) -> f64 {
    let text = app
        .authed(Method::GET, "/api/v1/metrics", key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("answer_cache_lookups_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap().clone()
}

fn all_requests(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

async fn a_cached_run_asks_the_backend_nothing_and_a_new_document_makes_it_ask_again(
    backend: Backend,
    cache: CacheKind,
) {
    let Some((double, app)) = app_with_double(backend, cache).await else {
        return;
    };
    let handle = double.handle();
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let ws = contract_workspace(&app, &org, "anythingllm").await;
    let questions = json!([
        {"id": "gov-law", "text": "Which laws govern this Agreement?",
         "expected_fragments": ["England and Wales"]},
        {"id": "cap", "text": "What is the liability cap?"},
        {"id": "chair", "text": "What does an office chair cost?", "doc_types": ["csv"]}
    ]);
    let cached_run = json!({ "workspace_id": ws, "questions": questions, "cache": true });

    // The first cached run finds nothing and asks every question.
    let misses = cache_lookups(&app, key, "miss").await;
    let first = execute(&app, key, cached_run.clone()).await;
    assert_eq!(finished_run(&app, key, &first).await["status"], "succeeded");
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 3);
    let first_page = results(&app, key, &first, "").await;
    assert!(
        items(&first_page).iter().all(|r| r["cached"] == false),
        "{first_page}"
    );
    assert!(cache_lookups(&app, key, "miss").await >= misses + 3.0);

    // The same run again: every answer from the cache, not one call to the backend.
    let before = handle.request_counts();
    let hits = cache_lookups(&app, key, "hit").await;
    let second = execute(&app, key, cached_run.clone()).await;
    let run = finished_run(&app, key, &second).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["answered"], 3);
    assert_eq!(run["settings"]["cache"], true);
    let after = handle.request_counts();
    assert_eq!(
        all_requests(&after),
        all_requests(&before),
        "a cached run called the backend: {before:?} → {after:?}"
    );
    let second_page = results(&app, key, &second, "").await;
    for (cached, asked) in items(&second_page).iter().zip(items(&first_page).iter()) {
        assert_eq!(cached["cached"], true, "{cached}");
        assert_eq!(cached["details"]["attempts"], 0, "{cached}");
        assert_eq!(cached["question_id"], asked["question_id"]);
        assert_eq!(cached["response"], asked["response"]);
        assert_eq!(cached["success"], asked["success"]);
        assert_eq!(cached["sources"], asked["sources"]);
    }
    assert_eq!(second_page["items"][0]["success"], true, "{second_page}");
    assert!(cache_lookups(&app, key, "hit").await >= hits + 3.0);
    // The export says so too.
    let csv = app
        .authed(
            Method::GET,
            &format!("/api/v1/questions/jobs/{second}/results?format=csv"),
            key,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = crate::questions::csv_rows(&csv);
    let column = rows[0]
        .iter()
        .position(|c| c == "cached")
        .expect("a cached column");
    assert_eq!(rows.len(), 4, "{csv}");
    for row in &rows[1..] {
        assert_eq!(row[column], "true", "{row:?}");
    }

    // Without the cache (the default) every question is asked.
    let uncached = execute(
        &app,
        key,
        json!({ "workspace_id": ws, "questions": questions }),
    )
    .await;
    assert_eq!(
        finished_run(&app, key, &uncached).await["status"],
        "succeeded"
    );
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 6);
    let page = results(&app, key, &uncached, "").await;
    assert!(items(&page).iter().all(|r| r["cached"] == false), "{page}");

    // A document added to the workspace: a new generation, so every question is asked
    // again (and answered from the cache once more after that).
    let response = app
        .authed(Method::POST, "/api/v1/documents", key)
        .json(&json!({ "title": "Addendum", "content": "The liability cap is raised to 2,000,000 GBP.",
                       "workspace_ids": [ws] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    app.run_pending_jobs().await;
    let docs = wait_until_embedded(&app, key, &ws).await;
    assert!(docs.iter().all(|d| d["status"] == "embedded"), "{docs:?}");
    let third = execute(&app, key, cached_run.clone()).await;
    assert_eq!(finished_run(&app, key, &third).await["status"], "succeeded");
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 9);
    let page = results(&app, key, &third, "").await;
    assert!(items(&page).iter().all(|r| r["cached"] == false), "{page}");
    let fourth = execute(&app, key, cached_run).await;
    assert_eq!(
        finished_run(&app, key, &fourth).await["status"],
        "succeeded"
    );
    assert_eq!(handle.requests(endpoint::THREAD_CHAT), 9);
    let page = results(&app, key, &fourth, "").await;
    assert!(items(&page).iter().all(|r| r["cached"] == true), "{page}");

    // A shared thread cannot be cached: refused, naming the field.
    let refused = app
        .authed(Method::POST, "/api/v1/questions/execute", key)
        .json(
            &json!({ "workspace_id": ws, "questions": questions, "cache": true,
                       "thread_strategy": "shared" }),
        )
        .send()
        .await
        .unwrap();
    let error = assert_error_envelope(refused, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "cache", "{error}");
}

/// The cache interface itself on the real Redis: the operations the memory cache's unit
/// tests check, with entries shared by two caches on one Redis (two instances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_cache_sets_gets_expires_deletes_and_gets_many_across_instances() {
    use std::time::Duration;

    use quire::cache::Cache;

    let Some(url) = crate::helpers::redis_test_url() else {
        return;
    };
    let one = Cache::new(Some(&url)).unwrap();
    let other = Cache::new(Some(&url)).unwrap();
    assert_eq!(one.kind(), "redis");
    let prefix = format!("test:{}", uuid::Uuid::now_v7());
    let a = format!("{prefix}:a");
    let b = format!("{prefix}:b");
    one.set(&a, b"alpha", Duration::from_secs(60))
        .await
        .unwrap();
    one.set(&b, b"beta", Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(other.get(&a).await.unwrap().as_deref(), Some(&b"alpha"[..]));
    assert!(other.exists(&b).await.unwrap());
    let many = other
        .get_many(&[a.clone(), format!("{prefix}:none"), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        many,
        vec![Some(b"alpha".to_vec()), None, Some(b"beta".to_vec())]
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!one.exists(&b).await.unwrap(), "expired after its TTL");
    assert!(other.delete(&a).await.unwrap());
    assert!(!one.delete(&a).await.unwrap());
    assert_eq!(one.get(&a).await.unwrap(), None);
}
