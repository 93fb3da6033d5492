//! Faults switched on in the double, and how retries and the circuit breaker
//! answer them. Delays are a few milliseconds and the breaker's clock is moved
//! by hand, so nothing here sleeps for real.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anythingllm::testing::{StatusCode, endpoint};
use anythingllm::{
    BreakerState, ChatMode, ChatRequest, EmbeddingChanges, Error, FileUpload, ManualClock,
    RawTextUpload, WorkspaceSettings,
};
use common::{setup, setup_with, setup_with_clock};

async fn workspace(s: &common::Setup, name: &str) -> String {
    s.client
        .create_workspace(name, &WorkspaceSettings::default())
        .await
        .expect("created")
        .slug
}

#[tokio::test]
async fn a_burst_of_server_errors_is_retried_until_the_call_succeeds() {
    let s = setup().await;
    let slug = workspace(&s, "Retry").await;
    s.handle.fail_next(2);
    let found = s
        .client
        .get_workspace(&slug)
        .await
        .expect("third attempt works");
    assert!(found.is_some());
    assert_eq!(s.handle.requests(endpoint::GET_WORKSPACE), 3);
}

#[tokio::test]
async fn server_errors_beyond_the_attempt_budget_surface_as_a_server_error() {
    let s = setup().await;
    s.handle.fail_next(10);
    let error = s
        .client
        .check_auth()
        .await
        .expect_err("every attempt fails");
    assert!(
        matches!(error, Error::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(
        s.handle.requests(endpoint::AUTH),
        4,
        "the default budget is 4 attempts"
    );
}

#[tokio::test]
async fn rate_limiting_is_retried() {
    let s = setup().await;
    s.handle
        .fail_next_with(1, StatusCode::TOO_MANY_REQUESTS, Some(endpoint::AUTH));
    s.client.check_auth().await.expect("second attempt works");
    assert_eq!(s.handle.requests(endpoint::AUTH), 2);
}

#[tokio::test]
async fn collector_offline_is_retried_and_then_the_upload_succeeds() {
    let s = setup().await;
    s.handle.collector_offline_next(2);
    let document = s
        .client
        .upload_file(&FileUpload::new("a.txt", b"Hello there.".to_vec()))
        .await
        .expect("third attempt works");
    assert!(document.location.starts_with("custom-documents/"));
    assert_eq!(s.handle.requests(endpoint::UPLOAD), 3);
    assert_eq!(s.handle.document_locations().len(), 1);
}

#[tokio::test]
async fn collector_offline_for_good_surfaces_as_collector_offline() {
    let s = setup().await;
    s.handle.set_collector_offline(true);
    let error = s
        .client
        .upload_raw_text(&RawTextUpload::new("t", "text"))
        .await
        .expect_err("offline");
    assert!(matches!(error, Error::CollectorOffline), "{error:?}");
    assert_eq!(s.handle.requests(endpoint::RAW_TEXT), 4);
}

#[tokio::test]
async fn a_request_hanging_past_the_timeout_is_retried_for_a_safe_operation() {
    let s = setup_with(|config| config.call_timeout = Duration::from_millis(200)).await;
    let slug = workspace(&s, "Slow").await;
    s.handle.hang_next(1, Some(endpoint::GET_WORKSPACE));
    let found = s
        .client
        .get_workspace(&slug)
        .await
        .expect("the retry answers");
    assert!(found.is_some());
    assert_eq!(s.handle.requests(endpoint::GET_WORKSPACE), 2);
}

#[tokio::test]
async fn a_chat_that_times_out_is_not_retried_because_it_could_run_twice() {
    let s = setup_with(|config| config.chat_timeout = Duration::from_millis(200)).await;
    let slug = workspace(&s, "Chatty").await;
    s.handle.hang_next(1, Some(endpoint::CHAT));
    let error = s
        .client
        .chat(&slug, &ChatRequest::new("hello", ChatMode::Chat))
        .await
        .expect_err("timed out");
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert_eq!(s.handle.requests(endpoint::CHAT), 1);
}

#[tokio::test]
async fn a_server_error_while_adding_embeddings_is_not_retried_to_avoid_duplicates() {
    let s = setup().await;
    let slug = workspace(&s, "Embed").await;
    s.handle.fail_next_with(
        1,
        StatusCode::INTERNAL_SERVER_ERROR,
        Some(endpoint::UPDATE_EMBEDDINGS),
    );
    let changes = EmbeddingChanges {
        adds: vec!["custom-documents/x.json".into()],
        deletes: Vec::new(),
    };
    let error = s
        .client
        .update_embeddings(&slug, &changes)
        .await
        .expect_err("failed");
    assert!(
        matches!(error, Error::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::UPDATE_EMBEDDINGS), 1);
}

#[tokio::test]
async fn a_gateway_error_is_retried_even_for_an_unsafe_operation() {
    let s = setup().await;
    s.handle.fail_next_with(
        1,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(endpoint::NEW_WORKSPACE),
    );
    let created = s
        .client
        .create_workspace("Once", &WorkspaceSettings::default())
        .await
        .expect("second attempt works");
    assert_eq!(created.slug, "once");
    assert_eq!(s.handle.requests(endpoint::NEW_WORKSPACE), 2);
    assert_eq!(s.client.list_workspaces().await.expect("listed").len(), 1);
}

#[tokio::test]
async fn latency_below_the_timeout_only_slows_calls_down() {
    let s = setup().await;
    s.handle.set_latency(Duration::from_millis(30));
    let started = Instant::now();
    s.client.check_auth().await.expect("slow but fine");
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(s.handle.requests(endpoint::AUTH), 1);
}

#[tokio::test]
async fn chat_reply_of_type_abort_is_an_error_and_is_not_retried() {
    let s = setup().await;
    let slug = workspace(&s, "Aborts").await;
    s.handle.abort_next_chats(1);
    let error = s
        .client
        .chat(&slug, &ChatRequest::new("anything", ChatMode::Chat))
        .await
        .expect_err("aborted");
    assert!(
        matches!(error, Error::Aborted(ref m) if m.contains("No text completion")),
        "{error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::CHAT), 1);
    assert_eq!(s.client.breaker_state(), BreakerState::Closed);
    s.client
        .chat(&slug, &ChatRequest::new("anything", ChatMode::Chat))
        .await
        .expect("the next chat works");
}

#[tokio::test]
async fn thread_chat_abort_is_an_error_too() {
    let s = setup().await;
    let slug = workspace(&s, "Aborts").await;
    let thread = s
        .client
        .create_thread(&slug, &anythingllm::NewThread::default())
        .await
        .expect("thread");
    s.handle.set_chat_abort(true);
    let error = s
        .client
        .thread_chat(&slug, &thread.slug, &ChatRequest::new("x", ChatMode::Query))
        .await
        .expect_err("aborted");
    assert!(matches!(error, Error::Aborted(_)), "{error:?}");
    assert_eq!(s.handle.requests(endpoint::THREAD_CHAT), 1);
}

#[tokio::test]
async fn embedding_that_attaches_nothing_is_detected_as_missing_locations() {
    let s = setup().await;
    let slug = workspace(&s, "Lossy").await;
    let doc = s
        .client
        .upload_raw_text(&RawTextUpload::new("Doc", "Some content."))
        .await
        .expect("uploaded");
    s.handle.set_embeddings_attach(false);
    let locations = vec![doc.location.clone()];
    let outcome = s
        .client
        .attach_documents(&slug, &locations)
        .await
        .expect("the server says 200");
    assert!(!outcome.is_complete());
    assert_eq!(outcome.missing, locations);
    assert_eq!(
        s.client
            .missing_documents(&slug, &locations)
            .await
            .expect("checked"),
        locations
    );
    s.handle.set_embeddings_attach(true);
    let outcome = s
        .client
        .attach_documents(&slug, &locations)
        .await
        .expect("again");
    assert!(outcome.is_complete(), "attaching again fills the gap");
}

#[tokio::test]
async fn breaker_opens_after_five_consecutive_failures_and_then_fails_fast() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with_clock(Arc::clone(&clock)).await;
    s.handle.fail_next(100);
    for _ in 0..5 {
        let error = s.client.check_auth().await.expect_err("failing");
        assert!(matches!(error, Error::Server { .. }), "{error:?}");
    }
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
    let error = s.client.check_auth().await.expect_err("open");
    assert!(matches!(error, Error::CircuitOpen), "{error:?}");
    assert_eq!(
        s.handle.requests(endpoint::AUTH),
        5,
        "no request while open"
    );
}

#[tokio::test]
async fn breaker_half_opens_after_the_injected_clock_advances_and_a_good_trial_closes_it() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with_clock(Arc::clone(&clock)).await;
    s.handle.fail_next(5);
    for _ in 0..5 {
        let _ = s.client.check_auth().await;
    }
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
    clock.advance(Duration::from_secs(59));
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
    clock.advance(Duration::from_secs(1));
    assert_eq!(s.client.breaker_state(), BreakerState::HalfOpen);
    s.client
        .check_auth()
        .await
        .expect("the trial call succeeds");
    assert_eq!(s.client.breaker_state(), BreakerState::Closed);
    assert_eq!(s.handle.requests(endpoint::AUTH), 6);
}

#[tokio::test]
async fn a_failed_trial_call_opens_the_breaker_again() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with_clock(Arc::clone(&clock)).await;
    s.handle.fail_next(6);
    for _ in 0..5 {
        let _ = s.client.check_auth().await;
    }
    clock.advance(Duration::from_secs(60));
    let error = s.client.check_auth().await.expect_err("trial fails");
    assert!(matches!(error, Error::Server { .. }), "{error:?}");
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
    assert!(matches!(
        s.client.check_auth().await,
        Err(Error::CircuitOpen)
    ));
}

#[tokio::test]
async fn client_errors_do_not_count_against_the_breaker() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with_clock(clock).await;
    for _ in 0..8 {
        let error = s
            .client
            .update_workspace(
                "ghost",
                &WorkspaceSettings {
                    top_n: Some(2),
                    ..WorkspaceSettings::default()
                },
            )
            .await
            .expect_err("unknown");
        assert!(matches!(error, Error::NotFound(_)));
    }
    assert_eq!(s.client.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn retries_count_toward_the_breaker_and_stop_once_it_opens() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with(|config| {
        config.retry.max_attempts = 10;
        config.breaker.clock = clock;
    })
    .await;
    s.handle.fail_next(100);
    let error = s.client.check_auth().await.expect_err("failing");
    assert!(
        matches!(error, Error::Server { .. }),
        "the real failure is reported, not the breaker: {error:?}"
    );
    assert_eq!(s.handle.requests(endpoint::AUTH), 5);
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
}

#[tokio::test]
async fn clones_of_a_client_share_one_breaker() {
    let clock = Arc::new(ManualClock::new());
    let s = setup_with_clock(clock).await;
    let other = s.client.clone();
    s.handle.fail_next(5);
    for _ in 0..5 {
        let _ = other.check_auth().await;
    }
    assert_eq!(s.client.breaker_state(), BreakerState::Open);
}
