//! Helpers for the job tests: enqueueing, draining the queue in the test's task, waiting
//! for a state with a bounded poll (for tests of the background workers themselves),
//! reading an event stream, and `quire serve` / `quire worker` child processes on the
//! test's database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quire::jobs::{self, NewJob, Queue, WorkerConfig};
use serde_json::Value;

use crate::helpers::{TestApp, TestOrg};

/// The longest a test waits for the queue to drain.
const DRAIN_WITHIN: Duration = Duration::from_secs(120);

impl TestApp {
    /// The app's queue, on the system clock.
    pub fn queue(&self) -> Queue {
        Queue::from(&self.state.db)
    }

    /// Runs every queued job of the app's types in this task until none is left
    /// (waiting for those its background workers hold): the test's "jobs are done".
    pub async fn run_pending_jobs(&self) {
        let drained = tokio::time::timeout(
            DRAIN_WITHIN,
            quire_jobs::run_pending_jobs(
                &self.queue(),
                self.job_registry.clone(),
                WorkerConfig::from(&*self.state.settings),
            ),
        )
        .await;
        match drained {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("draining the queue failed: {e}"),
            Err(_) => panic!("the queue did not drain within {DRAIN_WITHIN:?}"),
        }
    }

    /// Enqueues a job of `org` through the public API of the queue.
    pub async fn enqueue(&self, org: &TestOrg, job_type: &str, payload: Value) -> String {
        self.enqueue_job(NewJob::new(&org.org_id, job_type, payload))
            .await
    }

    pub async fn enqueue_job(&self, job: NewJob) -> String {
        jobs::enqueue(&self.state.db, job)
            .await
            .expect("enqueue")
            .id
    }

    /// `GET /api/v1/jobs/{id}` as `key`, as JSON.
    pub async fn job(&self, key: &str, id: &str) -> Value {
        let response = self
            .authed(reqwest::Method::GET, &format!("/api/v1/jobs/{id}"), key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET job {id}");
        response.json().await.expect("job JSON")
    }

    /// Polls the job every 20 ms until `done` holds, for at most `within`.
    pub async fn wait_for_job(
        &self,
        key: &str,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(key, id).await;
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not reach the expected state within {within:?}; last seen: {job}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_for_status(
        &self,
        key: &str,
        id: &str,
        status: &str,
        within: Duration,
    ) -> Value {
        self.wait_for_job(key, id, within, |j| j["status"] == status)
            .await
    }

    /// Rows `test.*` handlers recorded for `job_id`: `(step, worker, attempt)`.
    pub async fn recorded_executions(&self, job_id: &str) -> Vec<(i64, String, i64)> {
        sqlx::query_as(
            "SELECT step, worker, attempt FROM job_test_executions WHERE job_id = $1 ORDER BY step",
        )
        .bind(job_id)
        .fetch_all(&self.state.db.pool)
        .await
        .expect("read job_test_executions")
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Reads `GET {path}` as an event stream until the server ends it (or `within` passes).
pub async fn read_event_stream(
    app: &TestApp,
    key: &str,
    path: &str,
    within: Duration,
) -> Vec<SseEvent> {
    use futures::StreamExt;
    let response = app
        .authed(reqwest::Method::GET, path, key)
        .send()
        .await
        .expect("events request");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.expect("event chunk")));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    events.push(SseEvent {
                        event,
                        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    });
                }
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the event stream should end at the terminal state");
    events
}

/// A `quire` child process on the test app's database, killed when dropped.
pub struct QuireProcess {
    child: Child,
    base_url: Option<String>,
}

impl QuireProcess {
    /// Starts `quire <command>` with the hidden test job types and `extra` flags, and waits
    /// (bounded) until it says it is running.
    pub fn start(app: &TestApp, command: &str, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quire"));
        for (var, _) in std::env::vars() {
            if var == "DATABASE_URL"
                || var == "PORT"
                || var.starts_with("JOB_")
                || var.starts_with("QUIRE_")
            {
                cmd.env_remove(var);
            }
        }
        cmd.arg(command)
            .arg("--port=0")
            .arg(format!("--data-dir={}", app.data_path().display()))
            .arg(format!(
                "--database-url={}",
                app.state.settings.database_url().as_str()
            ))
            .arg("--secret-key=test-secret-key-that-is-long-enough-0123456789")
            .arg("--enable-test-jobs")
            .arg("--log-level=warn")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start quire");
        let stdout = child.stdout.take().expect("child stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut sent = false;
            // Keep draining so the child never blocks on a full pipe.
            while let Some(Ok(line)) = lines.next() {
                if !sent && (line.contains("is listening on") || line.contains("worker is running"))
                {
                    let _ = ready_tx.send(line);
                    sent = true;
                }
            }
        });
        let Ok(banner) = ready_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("quire {command} did not start within 30 s");
        };
        let base_url = banner
            .split("is listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        Self { child, base_url }
    }

    /// `http://ADDR` of a `serve` child (from its banner); `None` for a worker.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// SIGTERM, then waits (bounded) for the process to exit.
    pub fn terminate_and_wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for quire") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "quire did not stop within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown handling, no lease release — a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for QuireProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
