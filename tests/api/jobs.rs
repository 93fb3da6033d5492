//! Background jobs through the API, with workers running in the test process: running,
//! retries, panics, cancel, delete, listing, roles, tenancy, events, metrics.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quire::auth::Role;
use quire::jobs::{JobContext, JobError, JobRegistry, NewJob, handler_fn};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error_envelope};
use crate::job_helpers::read_event_stream;

/// Job types of these tests, registered only here.
fn test_registry(probe: Probe) -> JobRegistry {
    let attempts = probe.clone();
    let cancelled = probe.clone();
    JobRegistry::new()
        .register(
            "t.echo",
            handler_fn(|ctx: JobContext| async move { Ok(json!({ "echo": ctx.payload() })) }),
        )
        .register(
            "t.flaky",
            handler_fn(move |ctx: JobContext| {
                let probe = attempts.clone();
                async move {
                    probe.attempt_times.lock().unwrap().push(Instant::now());
                    Err(JobError::Retryable(format!(
                        "backend unavailable (attempt {})",
                        ctx.attempt()
                    )))
                }
            }),
        )
        .register(
            "t.invalid",
            handler_fn(|_ctx: JobContext| async {
                Err(JobError::Permanent("the payload names no document".into()))
            }),
        )
        .register(
            "t.panic",
            handler_fn(|_ctx: JobContext| async { panic!("handler bug: index out of range") }),
        )
        .register(
            "t.until_cancelled",
            handler_fn(move |ctx: JobContext| {
                let probe = cancelled.clone();
                async move {
                    probe.started.fetch_add(1, Ordering::SeqCst);
                    let mut percent = 0.0;
                    while !ctx.is_cancelled() {
                        percent = (percent + 1.0f64).min(99.0);
                        ctx.report_progress(percent, "working").await?;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    probe.saw_cancel.store(true, Ordering::SeqCst);
                    Err(JobError::Cancelled)
                }
            }),
        )
        .register(
            "t.progress",
            handler_fn(|ctx: JobContext| async move {
                for step in 1..=8 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    ctx.report_progress(f64::from(step) * 12.5, format!("step {step} of 8"))
                        .await?;
                }
                Ok(json!({ "steps": 8 }))
            }),
        )
}

#[derive(Clone, Default)]
struct Probe {
    attempt_times: Arc<Mutex<Vec<Instant>>>,
    started: Arc<AtomicU32>,
    saw_cancel: Arc<AtomicBool>,
}

async fn spawn(backend: Backend, extra: &[&str]) -> Option<(TestApp, Probe)> {
    let probe = Probe::default();
    let mut flags = vec!["--job-poll-interval-ms=50"];
    flags.extend_from_slice(extra);
    let app = TestApp::spawn_with_jobs(backend, &flags, Some(test_registry(probe.clone()))).await?;
    Some((app, probe))
}

/// Runs each test on SQLite and PostgreSQL with the test job types registered.
macro_rules! job_tests {
    ($($name:ident $(with $flags:expr)?),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let flags: &[&str] = &[$($flags)?];
                    let (app, probe) = super::spawn(crate::helpers::Backend::Sqlite, flags).await.expect("sqlite app");
                    super::$name(app, probe).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let flags: &[&str] = &[$($flags)?];
                    if let Some((app, probe)) = super::spawn(crate::helpers::Backend::Postgres, flags).await {
                        super::$name(app, probe).await;
                    }
                }
            }
        )*
    };
}

job_tests!(
    a_job_runs_to_success_and_shows_its_result_and_links,
    a_failing_handler_is_retried_with_growing_delays_then_failed_with_its_error with "--job-retry-backoff-ms=150",
    a_permanent_error_fails_the_job_without_retrying,
    a_panicking_handler_fails_its_attempt_and_the_worker_keeps_running with "--max-concurrent-jobs=1",
    cancelling_a_queued_job_cancels_it_at_once,
    cancelling_a_running_job_stops_its_handler_and_ends_cancelled,
    deleting_a_running_job_is_a_conflict_and_deleting_a_finished_one_removes_it,
    another_organisations_job_is_not_found_on_every_jobs_route,
    jobs_are_listed_newest_first_and_filtered_by_type_status_workspace_and_creation_time,
    invalid_list_filters_are_rejected_naming_the_field,
    viewers_read_jobs_but_only_members_cancel_or_delete_them,
    cleanup_is_for_admins_and_removes_only_the_callers_old_finished_jobs,
    the_event_stream_shows_progress_and_ends_with_the_terminal_state,
    a_running_job_shows_an_estimated_completion_from_its_progress_rate,
    metrics_report_running_and_queued_jobs_and_processing_durations,
);

const WITHIN: Duration = Duration::from_secs(20);

async fn a_job_runs_to_success_and_shows_its_result_and_links(app: TestApp, _probe: Probe) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "t.echo", json!({ "n": 7 })).await;
    let job = app
        .wait_for_status(&org.admin_key, &id, "succeeded", WITHIN)
        .await;
    assert_eq!(job["type"], "t.echo");
    assert_eq!(job["result"], json!({ "echo": { "n": 7 } }));
    assert_eq!(job["payload"], json!({ "n": 7 }));
    assert_eq!(job["progress"], 100.0);
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["error"], Value::Null);
    assert!(job["completed_at"].is_string() && job["started_at"].is_string());
    assert_eq!(job["estimated_completion"], Value::Null);
    assert_eq!(job["links"]["self"], format!("/api/v1/jobs/{id}"));
    assert_eq!(job["links"]["cancel"], format!("/api/v1/jobs/{id}/cancel"));
    assert_eq!(job["links"]["events"], format!("/api/v1/jobs/{id}/events"));

    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/jobs/{id}/events",
        "/api/v1/jobs/cleanup",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
    assert!(spec["components"]["schemas"]["JobResponse"].is_object());
}

async fn a_failing_handler_is_retried_with_growing_delays_then_failed_with_its_error(
    app: TestApp,
    probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let mut job = NewJob::new(&org.org_id, "t.flaky", json!({}));
    job.max_attempts = Some(4);
    let id = app.enqueue_job(job).await;
    let job = app
        .wait_for_status(&org.admin_key, &id, "failed", WITHIN)
        .await;
    assert_eq!(job["attempts"], 4);
    assert_eq!(job["max_attempts"], 4);
    assert_eq!(job["error"], "backend unavailable (attempt 4)");
    assert!(job["completed_at"].is_string());

    let times = probe.attempt_times.lock().unwrap().clone();
    assert_eq!(times.len(), 4, "one run per attempt");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Base 150 ms, doubling: at least 150, 300, 600 ms.
    assert!(gaps[0] >= Duration::from_millis(150), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(300), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(600), "{gaps:?}");
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "delays must grow: {gaps:?}"
    );
}

async fn a_permanent_error_fails_the_job_without_retrying(app: TestApp, _probe: Probe) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "t.invalid", json!({})).await;
    let job = app
        .wait_for_status(&org.admin_key, &id, "failed", WITHIN)
        .await;
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["error"], "the payload names no document");
}

async fn a_panicking_handler_fails_its_attempt_and_the_worker_keeps_running(
    app: TestApp,
    _probe: Probe,
) {
    // One worker only: if the panic killed it, nothing would run the next job.
    let org = app.create_org("Acme").await;
    let mut job = NewJob::new(&org.org_id, "t.panic", json!({}));
    job.max_attempts = Some(2);
    let panicking = app.enqueue_job(job).await;
    let job = app
        .wait_for_status(&org.admin_key, &panicking, "failed", WITHIN)
        .await;
    assert_eq!(
        job["attempts"], 2,
        "a panic fails the attempt and is retried"
    );
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("panicked") && error.contains("index out of range"),
        "{error}"
    );

    let next = app
        .enqueue(&org, "t.echo", json!({ "after": "panic" }))
        .await;
    app.wait_for_status(&org.admin_key, &next, "succeeded", WITHIN)
        .await;
}

async fn cancelling_a_queued_job_cancels_it_at_once(app: TestApp, probe: Probe) {
    let org = app.create_org("Acme").await;
    let mut job = NewJob::new(&org.org_id, "t.until_cancelled", json!({}));
    job.run_at = Some(quire::time::now_ms() + 3_600_000);
    let id = app.enqueue_job(job).await;
    assert_eq!(app.job(&org.admin_key, &id).await["status"], "queued");

    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/jobs/{id}/cancel"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["cancel_requested"], true);
    assert!(body["completed_at"].is_string());
    assert_eq!(probe.started.load(Ordering::SeqCst), 0, "it never ran");

    // Cancelling again changes nothing.
    let again = app
        .authed(
            Method::POST,
            &format!("/api/v1/jobs/{id}/cancel"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

async fn cancelling_a_running_job_stops_its_handler_and_ends_cancelled(app: TestApp, probe: Probe) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "t.until_cancelled", json!({})).await;
    app.wait_for_job(&org.admin_key, &id, WITHIN, |j| {
        j["status"] == "running" && j["progress"].as_f64() > Some(0.0)
    })
    .await;

    let member = app.create_key(&org, Role::Member).await;
    let response = app
        .authed(Method::POST, &format!("/api/v1/jobs/{id}/cancel"), &member)
        .send()
        .await
        .unwrap();
    assert!(
        [200, 202].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cancel_requested"], true);

    let job = app
        .wait_for_status(&org.admin_key, &id, "cancelled", WITHIN)
        .await;
    assert!(
        probe.saw_cancel.load(Ordering::SeqCst),
        "the handler saw the cancellation"
    );
    assert_eq!(job["attempts"], 1, "a cancelled job is not retried");
    assert!(job["completed_at"].is_string());

    // A finished job cannot be cancelled again into something else.
    let done = app.enqueue(&org, "t.echo", json!({})).await;
    app.wait_for_status(&org.admin_key, &done, "succeeded", WITHIN)
        .await;
    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/jobs/{done}/cancel"),
            &member,
        )
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 409, "conflict").await;
}

async fn deleting_a_running_job_is_a_conflict_and_deleting_a_finished_one_removes_it(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let member = app.create_key(&org, Role::Member).await;
    let id = app.enqueue(&org, "t.until_cancelled", json!({})).await;
    app.wait_for_status(&org.admin_key, &id, "running", WITHIN)
        .await;

    let path = format!("/api/v1/jobs/{id}");
    let response = app
        .authed(Method::DELETE, &path, &member)
        .send()
        .await
        .unwrap();
    let body = assert_error_envelope(response, 409, "conflict").await;
    assert!(
        body["message"].as_str().unwrap().contains("running"),
        "{body}"
    );

    app.authed(Method::POST, &format!("{path}/cancel"), &member)
        .send()
        .await
        .unwrap();
    app.wait_for_status(&org.admin_key, &id, "cancelled", WITHIN)
        .await;
    let response = app
        .authed(Method::DELETE, &path, &member)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .authed(Method::GET, &path, &member)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 404, "not_found").await;
}

async fn another_organisations_job_is_not_found_on_every_jobs_route(app: TestApp, _probe: Probe) {
    let owner = app.create_org("Owner").await;
    let other = app.create_org("Other").await;
    let running = app.enqueue(&owner, "t.until_cancelled", json!({})).await;
    app.wait_for_status(&owner.admin_key, &running, "running", WITHIN)
        .await;
    let finished = app.enqueue(&owner, "t.echo", json!({})).await;
    app.wait_for_status(&owner.admin_key, &finished, "succeeded", WITHIN)
        .await;

    for id in [&running, &finished] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/jobs/{id}")),
            (Method::POST, format!("/api/v1/jobs/{id}/cancel")),
            (Method::DELETE, format!("/api/v1/jobs/{id}")),
            (Method::GET, format!("/api/v1/jobs/{id}/events")),
        ] {
            let response = app
                .authed(method.clone(), &path, &other.admin_key)
                .send()
                .await
                .unwrap();
            let body = assert_error_envelope(response, 404, "not_found").await;
            assert_eq!(body["message"], "job not found", "{method} {path}");
        }
    }
    let list: Value = app.get_json("/api/v1/jobs", &other.admin_key).await;
    assert_eq!(list["total"], 0);
    let cleanup: Value = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &other.admin_key)
        .json(&json!({ "older_than_days": 0 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        cleanup["deleted"], 0,
        "cleanup touches only the caller's jobs"
    );

    // The owner's jobs are untouched by all of that.
    let job = app.job(&owner.admin_key, &running).await;
    assert_eq!(job["status"], "running");
    assert_eq!(job["cancel_requested"], false);
    assert_eq!(
        app.job(&owner.admin_key, &finished).await["status"],
        "succeeded"
    );
    app.authed(
        Method::POST,
        &format!("/api/v1/jobs/{running}/cancel"),
        &owner.admin_key,
    )
    .send()
    .await
    .unwrap();
}

async fn jobs_are_listed_newest_first_and_filtered_by_type_status_workspace_and_creation_time(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let later = quire::time::now_ms() + 3_600_000;
    let mut ids = Vec::new();
    for (job_type, workspace) in [
        ("t.until_cancelled", Some("ws-a")),
        ("t.until_cancelled", Some("ws-b")),
        ("t.other", None),
    ] {
        let mut job = NewJob::new(&org.org_id, job_type, json!({}));
        job.workspace_id = workspace.map(str::to_owned);
        job.run_at = Some(later);
        ids.push(app.enqueue_job(job).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = app.enqueue(&org, "t.echo", json!({})).await;
    app.wait_for_status(&org.admin_key, &done, "succeeded", WITHIN)
        .await;
    let first_created = app.job(&org.admin_key, &ids[0]).await["created_at"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = |query: String| {
        let app = &app;
        let key = org.admin_key.clone();
        async move {
            let response = app
                .authed(Method::GET, &format!("/api/v1/jobs{query}"), &key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{query}");
            let body: Value = response.json().await.unwrap();
            let ids: Vec<String> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned())
                .collect();
            (body, ids)
        }
    };

    let (body, all) = list(String::new()).await;
    assert_eq!(body["total"], 4);
    assert_eq!(body["limit"], 50);
    assert_eq!(body["offset"], 0);
    assert_eq!(
        all,
        [done.clone(), ids[2].clone(), ids[1].clone(), ids[0].clone()],
        "newest first"
    );

    let (_, by_type) = list("?type=t.until_cancelled".into()).await;
    assert_eq!(by_type, [ids[1].clone(), ids[0].clone()]);
    let (_, by_status) = list("?status=succeeded".into()).await;
    assert_eq!(by_status, [done.as_str()]);
    let (_, by_workspace) = list("?workspace_id=ws-b".into()).await;
    assert_eq!(by_workspace, [ids[1].clone()]);
    let encoded = first_created.replace(':', "%3A");
    let (_, after) = list(format!("?created_after={encoded}")).await;
    assert_eq!(after, [done.clone(), ids[2].clone(), ids[1].clone()]);
    let (_, before) = list(format!("?created_before={encoded}")).await;
    assert!(before.is_empty());
    let (body, page) = list("?limit=2&offset=1".into()).await;
    assert_eq!(body["total"], 4);
    assert_eq!(page, [ids[2].clone(), ids[1].clone()]);
}

async fn invalid_list_filters_are_rejected_naming_the_field(app: TestApp, _probe: Probe) {
    let org = app.create_org("Acme").await;
    for (query, field) in [
        ("status=done", "status"),
        ("created_after=yesterday", "created_after"),
        ("limit=0", "limit"),
    ] {
        let response = app
            .authed(
                Method::GET,
                &format!("/api/v1/jobs?{query}"),
                &org.admin_key,
            )
            .send()
            .await
            .unwrap();
        let body = assert_error_envelope(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], field, "{query}");
    }
}

async fn viewers_read_jobs_but_only_members_cancel_or_delete_them(app: TestApp, _probe: Probe) {
    let org = app.create_org("Acme").await;
    let viewer = app.create_key(&org, Role::Viewer).await;
    let mut job = NewJob::new(&org.org_id, "t.echo", json!({}));
    job.run_at = Some(quire::time::now_ms() + 3_600_000);
    let id = app.enqueue_job(job).await;

    assert_eq!(app.job(&viewer, &id).await["status"], "queued");
    let response = app
        .authed(Method::GET, "/api/v1/jobs", &viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for (method, path) in [
        (Method::POST, format!("/api/v1/jobs/{id}/cancel")),
        (Method::DELETE, format!("/api/v1/jobs/{id}")),
        (Method::POST, "/api/v1/jobs/cleanup".to_owned()),
    ] {
        let response = app.authed(method, &path, &viewer).send().await.unwrap();
        assert_error_envelope(response, 403, "forbidden").await;
    }
    let member = app.create_key(&org, Role::Member).await;
    let response = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &member)
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 403, "forbidden").await;
    let response = app
        .client
        .get(app.url("/api/v1/jobs"))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 401, "unauthorized").await;
}

async fn cleanup_is_for_admins_and_removes_only_the_callers_old_finished_jobs(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let other = app.create_org("Other").await;
    let finished = app.enqueue(&org, "t.echo", json!({})).await;
    let others_finished = app.enqueue(&other, "t.echo", json!({})).await;
    app.wait_for_status(&org.admin_key, &finished, "succeeded", WITHIN)
        .await;
    app.wait_for_status(&other.admin_key, &others_finished, "succeeded", WITHIN)
        .await;
    let mut queued = NewJob::new(&org.org_id, "t.echo", json!({}));
    queued.run_at = Some(quire::time::now_ms() + 3_600_000);
    let queued = app.enqueue_job(queued).await;

    // Default: older than JOB_CLEANUP_DAYS (7): nothing yet.
    let response = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &org.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "deleted": 0, "older_than_days": 7 }));

    let body: Value = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &org.admin_key)
        .json(&json!({ "older_than_days": 0 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["deleted"], 1);
    let gone = app
        .authed(
            Method::GET,
            &format!("/api/v1/jobs/{finished}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(app.job(&org.admin_key, &queued).await["status"], "queued");
    assert_eq!(
        app.job(&other.admin_key, &others_finished).await["status"],
        "succeeded"
    );

    let response = app
        .authed(Method::POST, "/api/v1/jobs/cleanup", &org.admin_key)
        .json(&json!({ "older_than_days": "soon" }))
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 422, "validation_error").await;
}

async fn the_event_stream_shows_progress_and_ends_with_the_terminal_state(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let viewer = app.create_key(&org, Role::Viewer).await;
    let id = app.enqueue(&org, "t.progress", json!({})).await;
    let events =
        read_event_stream(&app, &viewer, &format!("/api/v1/jobs/{id}/events"), WITHIN).await;

    assert_eq!(events.first().map(|e| e.event.as_str()), Some("state"));
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| e.event == "progress")
        .map(|e| e.data["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.len() >= 3, "several progress events: {events:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let last = events.last().unwrap();
    assert_eq!(last.event, "state");
    assert_eq!(last.data["status"], "succeeded");
    assert_eq!(last.data["result"], json!({ "steps": 8 }));

    // A finished job's stream is its final state, then the end.
    let again =
        read_event_stream(&app, &viewer, &format!("/api/v1/jobs/{id}/events"), WITHIN).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].data["status"], "succeeded");
}

async fn a_running_job_shows_an_estimated_completion_from_its_progress_rate(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let id = app.enqueue(&org, "t.progress", json!({})).await;
    let job = app
        .wait_for_job(&org.admin_key, &id, WITHIN, |j| {
            j["status"] == "running" && j["progress"].as_f64() >= Some(25.0)
        })
        .await;
    let eta = job["estimated_completion"]
        .as_str()
        .unwrap_or_else(|| panic!("an estimate once progress is made: {job}"));
    let eta = chrono::DateTime::parse_from_rfc3339(eta).unwrap();
    let started =
        chrono::DateTime::parse_from_rfc3339(job["started_at"].as_str().unwrap()).unwrap();
    // 8 steps of 100 ms: the whole job takes about 0.8 s.
    let predicted = (eta - started).num_milliseconds();
    assert!(
        (400..4000).contains(&predicted),
        "predicted duration {predicted} ms"
    );
    let done = app
        .wait_for_status(&org.admin_key, &id, "succeeded", WITHIN)
        .await;
    assert_eq!(done["estimated_completion"], Value::Null);
}

async fn metrics_report_running_and_queued_jobs_and_processing_durations(
    app: TestApp,
    _probe: Probe,
) {
    let org = app.create_org("Acme").await;
    let done = app.enqueue(&org, "t.echo", json!({})).await;
    app.wait_for_status(&org.admin_key, &done, "succeeded", WITHIN)
        .await;
    let running = app.enqueue(&org, "t.until_cancelled", json!({})).await;
    app.wait_for_status(&org.admin_key, &running, "running", WITHIN)
        .await;
    let mut later = NewJob::new(&org.org_id, "t.invalid", json!({}));
    later.run_at = Some(quire::time::now_ms() + 3_600_000);
    app.enqueue_job(later).await;

    let text = app.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"active_jobs_total{job_type="t.until_cancelled"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"job_queue_depth{job_type="t.invalid"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"job_processing_duration_seconds_count{job_type="t.echo",status="succeeded"}"#
        ) || text.contains(
            r#"job_processing_duration_seconds_bucket{job_type="t.echo",status="succeeded""#
        ),
        "{text}"
    );
    app.authed(
        Method::POST,
        &format!("/api/v1/jobs/{running}/cancel"),
        &org.admin_key,
    )
    .send()
    .await
    .unwrap();
    app.wait_for_status(&org.admin_key, &running, "cancelled", WITHIN)
        .await;
    let text = app.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"active_jobs_total{job_type="t.until_cancelled"} 0"#),
        "{text}"
    );
}
