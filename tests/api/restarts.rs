//! Issue 20, Build 4: PostgreSQL stopped for 10 s under load. The test makes its own
//! cluster (`initdb`/`pg_ctl`, on a free port, in a temporary directory) so it can stop
//! and start it without touching the database the rest of the suite uses, and runs
//! `quire serve` on it as a child process.
//!
//! Requests in flight or sent during the outage are answered `503` with the envelope
//! (never `500`, never a hang past the request timeout); once PostgreSQL is back, new
//! requests succeed and a job enqueued before the stop completes, with the same Quire
//! process. (Redis down: `rate_limits.rs` shows `/health/detailed` saying `degraded`.)

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use quire::jobs::NewJob;
use serde_json::{Value, json};

use crate::process::ServeProcess;

/// The directory holding `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/*/bin`,
/// else the `PATH`'s. Under `CI` their absence fails the test.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(bin) = candidates.pop() {
        return Some(bin);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    if std::env::var_os("CI").is_some() {
        panic!("initdb and pg_ctl are missing: CI must run the PostgreSQL stop/start test");
    }
    eprintln!("skipped: initdb/pg_ctl not found (install postgresql)");
    None
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A PostgreSQL cluster of the test's own: made with `initdb`, started and stopped with
/// `pg_ctl`, removed on drop. As root it runs as the `postgres` OS user (initdb refuses
/// root).
struct OwnCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl OwnCluster {
    fn create(bin: PathBuf) -> OwnCluster {
        let dir = tempfile::Builder::new()
            .prefix("quire-pg-")
            .tempdir()
            .expect("temp dir");
        let as_postgres = running_as_root();
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(chown.success(), "chown to postgres failed");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = OwnCluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.data_dir();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", describe(&out));
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&program);
            cmd
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("runs")
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            describe(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `pg_ctl stop -m fast`: open connections are ended (`57P01`), as when an operator
    /// stops or restarts the service.
    fn stop(&self) {
        let data = self.data_dir();
        let out = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            describe(&out)
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        if data.join("postmaster.pid").exists() {
            let _ = self.run(
                "pg_ctl",
                &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
            );
        }
    }
}

fn describe(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One request of the load: when it was sent, what it was, how it ended.
#[derive(Debug)]
struct Answer {
    started: Instant,
    route: &'static str,
    took: Duration,
    status: Option<u16>,
    body: Value,
}

async fn one_request(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    job_id: &str,
    n: u64,
) -> Answer {
    let started = Instant::now();
    let (route, request) = match n % 4 {
        0 => (
            "GET /api/v1/workspaces",
            client.get(format!("{base}/api/v1/workspaces")),
        ),
        1 => (
            "POST /api/v1/workspaces",
            client
                .post(format!("{base}/api/v1/workspaces"))
                .json(&json!({ "name": format!("Load {}", uuid::Uuid::now_v7().simple()) })),
        ),
        2 => (
            "GET /api/v1/jobs/{id}",
            client.get(format!("{base}/api/v1/jobs/{job_id}")),
        ),
        _ => (
            "GET /api/v1/documents",
            client.get(format!("{base}/api/v1/documents")),
        ),
    };
    let result = request.bearer_auth(key).send().await;
    let (status, body) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            (Some(status), body)
        }
        Err(e) => (None, json!({ "client_error": e.to_string() })),
    };
    Answer {
        started,
        route,
        took: started.elapsed(),
        status,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_for_10_s_under_load_answers_503_then_recovers_without_losing_a_job() {
    let Some(bin) = postgres_bin_dir() else {
        return;
    };
    let cluster = tokio::task::block_in_place(|| {
        let cluster = OwnCluster::create(bin);
        cluster.start();
        cluster
    });
    let url = cluster.url();
    let data_dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", url.as_str()),
        (
            "SECRET_KEY",
            "a-secret-key-long-enough-for-the-restart-test-0123",
        ),
        ("QUIRE_ENABLE_TEST_JOBS", "true"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("JOB_LEASE_SECONDS", "6"),
        ("REQUEST_TIMEOUT", "30"),
        ("SHUTDOWN_TIMEOUT", "3"),
    ];
    let mut serve = tokio::task::block_in_place(|| ServeProcess::start(data_dir.path(), &env));
    let pid = serve.pid();
    let key = std::fs::read_to_string(data_dir.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(45))
        .build()
        .unwrap();
    let me: Value = client
        .get(serve.url("/api/v1/auth/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = me["organisation"]["id"].as_str().unwrap().to_owned();

    // A job enqueued before the stop, long enough to be running when PostgreSQL goes.
    let db = quire::db::Db::connect(
        &url.parse().unwrap(),
        quire::db::PoolSize { max: 2, min: 0 },
    )
    .await
    .unwrap();
    let job = NewJob::new(&org_id, "test.sleep", json!({ "millis": 3000 }));
    let job_id = quire::jobs::enqueue(&db, job).await.unwrap().id;
    db.close().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job: Value = client
            .get(serve.url(&format!("/api/v1/jobs/{job_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the job never started: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Load: four clients in a loop until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for worker in 0..4u64 {
        let (client, base, key, job_id, stop) = (
            client.clone(),
            serve.base_url.clone(),
            key.clone(),
            job_id.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                answers.push(one_request(&client, &base, &key, &job_id, n).await);
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stopped_at = Instant::now();
    tokio::task::block_in_place(|| cluster.stop());
    tokio::time::sleep(Duration::from_secs(10)).await;
    tokio::task::block_in_place(|| cluster.start());
    let back_at = Instant::now();

    // New requests succeed once it is back (the pool reconnects by itself).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client
            .get(serve.url("/api/v1/workspaces"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no success 30 s after PostgreSQL came back: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_after = back_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }

    // Every answer is a success or a 503 with the envelope, within the request timeout.
    let output = serve.output();
    let mut unavailable = 0;
    for a in &answers {
        assert!(
            a.took < Duration::from_secs(31),
            "{} took {:?} (request timeout 30 s)",
            a.route,
            a.took
        );
        match a.status {
            Some(200 | 201) => {}
            Some(503) => {
                unavailable += 1;
                assert_eq!(a.body["error"], "service_unavailable", "{:?}", a);
                for field in ["message", "correlation_id", "timestamp"] {
                    assert!(
                        a.body[field].as_str().is_some_and(|s| !s.is_empty()),
                        "{field} missing: {a:?}"
                    );
                }
                assert!(a.body.get("details").is_some(), "{a:?}");
                // During the outage, or in flight when it began.
                assert!(
                    a.started + a.took >= stopped_at && a.started <= back_at + recovered_after,
                    "a 503 outside the outage: {a:?}"
                );
            }
            _ => {
                let id = a.body["correlation_id"].as_str().unwrap_or("-");
                let logged: Vec<&str> = output.lines().filter(|l| l.contains(id)).collect();
                panic!("neither a success nor a 503: {a:?}\nlogged: {logged:#?}")
            }
        }
    }
    assert!(
        unavailable > 0,
        "the load never saw the outage ({} answers)",
        answers.len()
    );
    let after: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started > back_at + recovered_after)
        .collect();
    assert!(!after.is_empty(), "no load after the recovery");
    assert!(
        after.iter().all(|a| matches!(a.status, Some(200 | 201))),
        "requests after the recovery failed: {after:?}"
    );
    for route in [
        "GET /api/v1/workspaces",
        "POST /api/v1/workspaces",
        "GET /api/v1/jobs/{id}",
        "GET /api/v1/documents",
    ] {
        assert!(
            after.iter().any(|a| a.route == route),
            "{route} not exercised after the recovery"
        );
    }

    // The job enqueued before the stop completes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job: Value = client
            .get(serve.url(&format!("/api/v1/jobs/{job_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "succeeded" {
            break job;
        }
        assert!(
            !matches!(job["status"].as_str(), Some("failed" | "cancelled")),
            "the job was lost: {job}"
        );
        assert!(Instant::now() < deadline, "the job never completed: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(job["result"]["slept_ms"].as_u64().is_some(), "{job}");

    // The same process all along: it never exited.
    assert_eq!(serve.pid(), pid);
    assert!(
        serve.is_running(),
        "quire serve exited:\n{}",
        serve.output()
    );
    let output = serve.output();
    assert!(
        !output.contains("\"status\":500"),
        "a 500 was logged:\n{output}"
    );
    let (status, _) = tokio::task::block_in_place(|| serve.stop());
    assert!(status.success(), "exit status {status:?}");
    drop(cluster);
}
