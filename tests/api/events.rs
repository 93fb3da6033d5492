//! Live events over WebSocket (`GET /api/v1/ws`, issue 16): handshake authentication and
//! tickets, tenancy, resume by id, revocation, backpressure, and events crossing
//! instances through PostgreSQL `LISTEN/NOTIFY` and through Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use quire::jobs::NewJob;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::documents::{finished_upload, upload};
use crate::helpers::{Backend, TestApp, redis_test_url};
use crate::job_helpers::QuireProcess;
use crate::on_both_databases;

on_both_databases!(
    a_ticket_works_once_within_its_time_and_credentials_in_the_query_are_refused,
    an_organisation_receives_none_of_another_organisations_events,
    a_client_that_reconnects_with_its_last_id_gets_every_run_result_exactly_once,
    a_revoked_keys_socket_is_closed_within_two_seconds,
    a_client_that_reads_nothing_is_told_it_lagged_and_closed,
    subscriptions_narrow_what_a_socket_receives,
);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://{}/api/v1/ws{query}", app.address)
}

async fn try_connect(
    app: &TestApp,
    key: Option<&str>,
    query: &str,
) -> Result<Socket, tungstenite::Error> {
    let mut request = ws_url(app, query).into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn connect(app: &TestApp, key: &str, query: &str) -> Socket {
    try_connect(app, Some(key), query)
        .await
        .expect("the socket opens")
}

/// The handshake is refused: its status and the envelope of its body.
async fn refused(app: &TestApp, key: Option<&str>, query: &str) -> (u16, Value) {
    match try_connect(app, key, query).await {
        Ok(_) => panic!("the handshake with {query} was accepted"),
        Err(tungstenite::Error::Http(response)) => {
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or(b"null"))
                .unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// What the server sends next, as JSON, skipping pings; `Err` with the close code (or 0)
/// when the socket closes, or `Ok(None)` when nothing comes within `within`.
async fn next(socket: &mut Socket, within: Duration) -> Result<Option<Value>, u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Ok(None),
            Ok(None) | Ok(Some(Err(_))) => return Err(0),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(Some(
                    serde_json::from_str(text.as_str()).expect("JSON message"),
                ));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(frame.map(|f| u16::from(f.code)).unwrap_or(0));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Events received until `done` holds for the list (panics after `within`).
async fn collect_until(
    socket: &mut Socket,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    let mut got = Vec::new();
    while !done(&got) {
        let left = within.saturating_sub(started.elapsed());
        match next(socket, left).await {
            Ok(Some(message)) => got.push(message),
            Ok(None) => panic!("timed out; received so far: {got:#?}"),
            Err(code) => panic!("socket closed ({code}); received so far: {got:#?}"),
        }
    }
    got
}

async fn create_ticket(app: &TestApp, key: &str) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/ws/tickets", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_owned()
}

/// Sends `ping` and waits for `pong`: the socket is open and served.
async fn assert_open(socket: &mut Socket) {
    socket
        .send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    let answer = next(socket, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(answer["type"], "pong", "{answer}");
}

async fn a_ticket_works_once_within_its_time_and_credentials_in_the_query_are_refused(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;

    let (status, body) = refused(&app, None, "").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized", "{body}");
    assert!(body["correlation_id"].is_string() && body["timestamp"].is_string());

    for name in ["api_key", "token", "access_token"] {
        let (status, body) = refused(&app, None, &format!("?{name}={key}")).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(body["error"], "unauthorized");
        assert!(
            !body.to_string().contains(key.as_str()),
            "the key is echoed: {body}"
        );
    }
    // Nor as a ticket, nor beside a good header.
    assert_eq!(refused(&app, None, &format!("?ticket={key}")).await.0, 401);
    assert_eq!(
        refused(&app, Some(key), &format!("?api_key={key}")).await.0,
        401
    );

    let ticket = create_ticket(&app, key).await;
    let mut socket = try_connect(&app, None, &format!("?ticket={ticket}"))
        .await
        .expect("a fresh ticket opens the socket");
    assert_open(&mut socket).await;
    let (status, body) = refused(&app, None, &format!("?ticket={ticket}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );

    // An expired ticket (its time moved into the past).
    let old = create_ticket(&app, key).await;
    sqlx::query("UPDATE ws_tickets SET expires_at = $1 WHERE ticket_hash = $2")
        .bind(quire::time::now_ms() - 1)
        .bind(quire::auth::tokens::sha256_hex(old.as_bytes()))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(refused(&app, None, &format!("?ticket={old}")).await.0, 401);

    // A ticket is the organisation's: its socket carries that organisation's events.
    let other = app.create_org("Other").await;
    app.state
        .events
        .publish_one(&other.org_id, "documents", "document.created", json!({}))
        .await;
    app.state
        .events
        .publish_one(
            &org.org_id,
            "documents",
            "document.created",
            json!({"n": 1}),
        )
        .await;
    let event = next(&mut socket, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (event["org_id"].as_str(), &event["data"]),
        (Some(org.org_id.as_str()), &json!({"n": 1}))
    );

    // A header credential still works; a malformed resume id is a 422.
    let mut by_header = connect(&app, key, "").await;
    assert_open(&mut by_header).await;
    assert_eq!(refused(&app, Some(key), "?last_event_id=abc").await.0, 422);
}

const EVERY_TYPE: [(&str, &str); 13] = [
    ("jobs", "job.queued"),
    ("jobs", "job.started"),
    ("jobs", "job.progress"),
    ("jobs", "job.succeeded"),
    ("jobs", "job.failed"),
    ("jobs", "job.cancelled"),
    ("jobs", "upload.entry"),
    ("runs", "run.result"),
    ("documents", "document.created"),
    ("documents", "document.updated"),
    ("documents", "document.deleted"),
    ("summaries", "summary.complete"),
    ("summaries", "summary.failed"),
];

async fn an_organisation_receives_none_of_another_organisations_events(app: TestApp) {
    let a = app.create_org("Acme").await;
    let b = app.create_org("Beta").await;
    let mut socket_a = connect(&app, &a.admin_key, "").await;
    let mut socket_b = connect(&app, &b.admin_key, "").await;
    assert_open(&mut socket_a).await;
    assert_open(&mut socket_b).await;

    // Real work of A: a document given as content, changed and deleted.
    let response = app
        .authed(Method::POST, "/api/v1/documents", &a.admin_key)
        .json(&json!({"title": "Note", "content": "Payment within 30 days."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let doc: Value = response.json().await.unwrap();
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let response = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/documents/{doc_id}"),
            &a.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // ... and every other event type, published for A.
    app.state
        .events
        .publish(
            EVERY_TYPE
                .iter()
                .map(|(topic, kind)| {
                    quire::events::NewEvent::new(
                        &a.org_id,
                        topic_static(topic),
                        *kind,
                        json!({"secret": "of A"}),
                    )
                })
                .collect(),
        )
        .await;
    app.state
        .events
        .publish_one(
            &b.org_id,
            "documents",
            "document.created",
            json!({"marker": "B"}),
        )
        .await;

    let got_a = collect_until(&mut socket_a, Duration::from_secs(10), |got| {
        got.iter().filter(|e| e["data"]["secret"] == "of A").count() == EVERY_TYPE.len()
    })
    .await;
    let types: Vec<&str> = got_a.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        types.contains(&"document.created") && types.contains(&"document.deleted"),
        "{types:?}"
    );
    assert!(
        got_a.iter().all(|e| e["org_id"] == a.org_id.as_str()),
        "{got_a:#?}"
    );
    let ids: Vec<i64> = got_a.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // B's first event is its own marker, published after all of A's: nothing of A came.
    let first_b = next(&mut socket_b, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_b["data"], json!({"marker": "B"}), "{first_b}");
    assert_eq!(first_b["org_id"], b.org_id.as_str());
    assert!(
        next(&mut socket_b, Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
    // Nor by resuming from the start of the log.
    let mut resumed_b = connect(&app, &b.admin_key, "?last_event_id=0").await;
    let replay = next(&mut resumed_b, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replay["data"], json!({"marker": "B"}), "{replay}");
    assert!(
        next(&mut resumed_b, Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
}

fn topic_static(topic: &str) -> &'static str {
    quire::events::topic::ALL
        .into_iter()
        .find(|t| *t == topic)
        .unwrap()
}

async fn subscriptions_narrow_what_a_socket_receives(app: TestApp) {
    let org = app.create_org("Acme").await;
    let mut socket = connect(&app, &org.admin_key, "?topics=runs").await;
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": ["job:j-2"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ack = next(&mut socket, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ack["type"], "subscribed");
    assert_eq!(ack["topics"], json!(["job:j-2", "runs"]));
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": ["nonsense"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let error = next(&mut socket, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"], "validation_error");
    app.state
        .events
        .publish(vec![
            quire::events::NewEvent::new(
                &org.org_id,
                "jobs",
                "job.started",
                json!({"job_id": "j-1"}),
            ),
            quire::events::NewEvent::new(&org.org_id, "documents", "document.created", json!({})),
            quire::events::NewEvent::new(
                &org.org_id,
                "jobs",
                "job.started",
                json!({"job_id": "j-2"}),
            ),
            quire::events::NewEvent::new(
                &org.org_id,
                "runs",
                "run.result",
                json!({"job_id": "j-3"}),
            ),
        ])
        .await;
    let got = collect_until(&mut socket, Duration::from_secs(5), |got| got.len() == 2).await;
    assert_eq!(got[0]["data"]["job_id"], "j-2");
    assert_eq!(got[1]["type"], "run.result");
    assert!(
        next(&mut socket, Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_client_that_reconnects_with_its_last_id_gets_every_run_result_exactly_once(
    app: TestApp,
) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", key)
        .json(&json!({ "name": "Contracts", "backend": "embedded" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let ws = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let questions: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("q{i}"), "text": format!("Question {i}?"), "expected_fragments": ["x"]}))
        .collect();
    let mut socket = connect(&app, key, "?topics=runs").await;
    assert_open(&mut socket).await;
    let response = app
        .authed(Method::POST, "/api/v1/questions/execute", key)
        .json(&json!({ "workspace_id": ws, "questions": questions, "concurrency": 4 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let run_id = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Some results, then the client goes away in the middle of the run.
    let first = collect_until(&mut socket, Duration::from_secs(60), |got| got.len() >= 20).await;
    drop(socket);
    let last_id = first.last().unwrap()["id"].as_i64().unwrap();

    // The run goes on without the client.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = app
            .get_json(&format!("/api/v1/questions/jobs/{run_id}"), key)
            .await;
        if run["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut again = connect(&app, key, &format!("?topics=runs&last_event_id={last_id}")).await;
    let rest = collect_until(&mut again, Duration::from_secs(30), |got| {
        first.len() + got.len() >= 200
    })
    .await;
    assert!(
        next(&mut again, Duration::from_millis(500))
            .await
            .unwrap()
            .is_none(),
        "nothing more"
    );
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in first.iter().chain(&rest) {
        assert_eq!(event["type"], "run.result", "{event}");
        assert_eq!(event["data"]["run_id"], run_id.as_str());
        *seen
            .entry(format!(
                "{}#{}",
                event["data"]["question_id"], event["data"]["repeat"]
            ))
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 200, "every question once");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");

    // An id older than the log is told to resync.
    sqlx::query("DELETE FROM events WHERE id <= $1")
        .bind(last_id + 5)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let mut stale = connect(&app, key, &format!("?last_event_id={last_id}")).await;
    let message = next(&mut stale, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message["type"], "resync", "{message}");
}

async fn a_revoked_keys_socket_is_closed_within_two_seconds(app: TestApp) {
    let org = app.create_org("Acme").await;
    let key = app.create_key(&org, quire::auth::Role::Member).await;
    let mut socket = connect(&app, &key, "").await;
    assert_open(&mut socket).await;
    let keep = app.create_key(&org, quire::auth::Role::Member).await;
    let mut bystander = connect(&app, &keep, "").await;

    let keys = app.get_json("/api/v1/api-keys", &org.admin_key).await;
    let prefix = quire::auth::tokens::parse_api_key(&key).unwrap().0;
    let id = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"].as_str().unwrap().contains(prefix))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let response = app
        .authed(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let message = next(&mut socket, Duration::from_secs(2))
        .await
        .unwrap()
        .expect("a message within 2 s");
    assert_eq!(message["type"], "revoked", "{message}");
    assert_eq!(next(&mut socket, Duration::from_secs(2)).await, Err(1008));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Another key's socket stays.
    assert_open(&mut bystander).await;
    // And the revoked key cannot open a new one.
    assert_eq!(refused(&app, Some(&key), "").await.0, 401);
}

async fn a_client_that_reads_nothing_is_told_it_lagged_and_closed(app: TestApp) {
    let org = app.create_org("Acme").await;
    let mut socket = connect(&app, &org.admin_key, "").await;
    assert_open(&mut socket).await;
    let total = quire::events::BROADCAST_CAPACITY * 3;
    for chunk in 0..(total / 500) {
        app.state
            .events
            .publish(
                (0..500)
                    .map(|i| {
                        quire::events::NewEvent::new(
                            &org.org_id,
                            "jobs",
                            "job.progress",
                            json!({"n": chunk * 500 + i, "pad": "x".repeat(2000)}),
                        )
                    })
                    .collect(),
            )
            .await;
    }
    // Now read: what was buffered, then `lagged` and the close 1013.
    let mut last_seen = 0;
    loop {
        match next(&mut socket, Duration::from_secs(30)).await {
            Ok(Some(message)) if message["type"] == "lagged" => {
                let close = next(&mut socket, Duration::from_secs(5)).await;
                assert_eq!(close, Err(1013));
                break;
            }
            Ok(Some(message)) => last_seen = message["data"]["n"].as_u64().unwrap_or(0),
            other => panic!("expected lagged, got {other:?} after n = {last_seen}"),
        }
    }
    assert!(last_seen < total as u64 - 1, "it could not have kept up");
}

// ---------------------------------------------------------------- across instances

/// A socket on this test's instance sees `upload.entry` and `job.succeeded` of an upload,
/// and the `job.*` events of a job only another process (a `quire serve` child) can run.
async fn across_instances(app: TestApp, child_flags: &[&str]) {
    let org = app.create_org("Acme").await;
    let key = &org.admin_key;
    let child = QuireProcess::start(&app, "serve", child_flags);
    let mut socket = connect(&app, key, "?topics=jobs").await;
    assert_open(&mut socket).await;

    // Only the child has test job types: every job.* event of this job crosses over.
    let mut job = NewJob::new(&org.org_id, "test.sleep", json!({ "millis": 600 }));
    job.max_attempts = Some(1);
    let job_id = app.enqueue_job(job).await;
    let got = collect_until(&mut socket, Duration::from_secs(30), |got| {
        got.iter()
            .any(|e| e["type"] == "job.succeeded" && e["data"]["job_id"] == job_id.as_str())
    })
    .await;
    let of_job: Vec<&str> = got
        .iter()
        .filter(|e| e["data"]["job_id"] == job_id.as_str())
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(of_job.contains(&"job.started"), "{of_job:?}");
    assert!(of_job.contains(&"job.progress"), "{of_job:?}");
    assert_eq!(of_job.last(), Some(&"job.succeeded"));
    assert!(!app.job_registry.contains("test.sleep"));

    // An upload: its entries' verdicts, then its success, in that order.
    let response = app
        .authed(Method::POST, "/api/v1/workspaces", key)
        .json(&json!({ "name": "Bundles", "backend": "embedded" }))
        .send()
        .await
        .unwrap();
    let ws = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = quire_ingest::fixtures::zip_of(&[
        ("a.json", br#"{"a": 1}"#.as_slice()),
        ("b.csv", b"x,y\n1,2\n".as_slice()),
        ("../evil.json", br#"{}"#.as_slice()),
    ])
    .unwrap();
    let response = upload(&app, key, &ws, "bundle.zip", bundle).await;
    assert_eq!(response.status(), 202);
    let upload_job = response.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = collect_until(&mut socket, Duration::from_secs(60), |got| {
        got.iter()
            .any(|e| e["type"] == "job.succeeded" && e["data"]["job_id"] == upload_job.as_str())
    })
    .await;
    let of_upload: Vec<&Value> = got
        .iter()
        .filter(|e| e["data"]["job_id"] == upload_job.as_str())
        .collect();
    let entries: Vec<&&Value> = of_upload
        .iter()
        .filter(|e| e["type"] == "upload.entry")
        .collect();
    assert_eq!(entries.len(), 3, "{of_upload:#?}");
    let last_entry = of_upload
        .iter()
        .rposition(|e| e["type"] == "upload.entry")
        .unwrap();
    let succeeded = of_upload
        .iter()
        .position(|e| e["type"] == "job.succeeded")
        .unwrap();
    assert!(last_entry < succeeded, "{of_upload:#?}");
    let job = finished_upload(&app, key, &upload_job).await;
    assert_eq!(job["status"], "succeeded");
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_instances_through_postgres_listen_notify() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    across_instances(app, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_instances_through_redis() {
    let Some(redis) = redis_test_url() else {
        return;
    };
    let flag = format!("--redis-url={redis}");
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &[&flag]).await else {
        return;
    };
    across_instances(app, &[&flag]).await;
}
