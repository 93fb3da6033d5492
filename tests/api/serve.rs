//! `quire serve` and `quire admin` as an operator runs them: the first start's admin
//! key, what reaches the logs, and a graceful stop.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::ServeProcess;

const PASSWORD: &str = "pass-phrase-that-must-never-be-logged";
const FAKE_BEARER: &str = "s3cr3t-value";

fn admin_key_from(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("qk_"))
        .unwrap_or_else(|| panic!("no key printed in:\n{output}"))
        .to_owned()
}

async fn me(client: &reqwest::Client, serve: &ServeProcess, credential: &str) -> reqwest::Response {
    client
        .get(serve.url("/api/v1/auth/me"))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap()
}

/// Started as services are (`quire serve > out.log 2>&1`): the key goes to the file only,
/// and the output says where it is.
#[tokio::test]
async fn off_a_terminal_the_first_start_keeps_the_admin_key_in_its_file_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let serve = ServeProcess::start(dir.path(), &[]);
    let path = dir.path().join("admin-api-key");
    let key = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(key.starts_with("qk_"), "{key}");
    assert!(
        serve.output().contains(&format!("cat {}", path.display())),
        "{}",
        serve.output()
    );
    let response = me(&client, &serve, &key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(body["credential"], "api_key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (status, output) = serve.stop();
    assert!(status.success());
    assert!(
        !output.contains(&key),
        "the key reached captured output:\n{output}"
    );
    assert!(!output.contains("qk_"), "{output}");

    // A second start on the same data creates nothing new; the key still works.
    let again = ServeProcess::start(dir.path(), &[]);
    assert!(!again.output().contains("qk_"), "{}", again.output());
    assert_eq!(me(&client, &again, &key).await.status(), 200);
    let (status, _) = again.stop();
    assert!(status.success());
}

/// Started by hand on a terminal: the banner shows the key once, and never through the
/// logger.
#[tokio::test]
async fn the_admin_key_printed_at_first_start_works_on_me_and_is_printed_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let serve = ServeProcess::start_on_terminal(dir.path(), &[]);
    let key = admin_key_from(&serve.output());
    let response = me(&client, &serve, &key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "admin");

    let path = dir.path().join("admin-api-key");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), key);
    let (status, output) = serve.stop();
    assert!(status.success());
    let key_lines: Vec<&str> = output.lines().filter(|l| l.contains(&key)).collect();
    assert_eq!(
        key_lines.len(),
        1,
        "printed once, never logged: {key_lines:?}"
    );
    assert!(!key_lines[0].trim_start().starts_with('{'));
}

#[tokio::test]
async fn logs_never_contain_a_password_token_or_key_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let serve = ServeProcess::start(dir.path(), &[("LOG_LEVEL", "trace")]);
    let admin_key = std::fs::read_to_string(dir.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let email = format!("logs-{}@example.test", uuid::Uuid::now_v7().simple());

    let registered: Value = client
        .post(serve.url("/api/v1/auth/register"))
        .json(&json!({ "organisation_name": "Logs", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens: Value = client
        .post(serve.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&client, &serve, &access).await.status(), 200);
    let rotated: Value = client
        .post(serve.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A replay, a wrong password, a bogus bearer, a bogus key, the admin key.
    let replay = client
        .post(serve.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let wrong = client
        .post(serve.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": "wrong-pass-phrase-also-secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(me(&client, &serve, FAKE_BEARER).await.status(), 401);
    let bogus_key = client
        .get(serve.url("/api/v1/auth/me"))
        .header("X-API-Key", "qk_0123456789ab_feedfacefeedface")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus_key.status(), 401);
    assert_eq!(me(&client, &serve, &admin_key).await.status(), 200);
    let created_key: Value = client
        .post(serve.url("/api/v1/api-keys"))
        .bearer_auth(&admin_key)
        .json(&json!({ "name": "logged?" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let (status, output) = serve.stop();
    assert!(status.success());
    assert!(
        output.contains("\"level\":\"TRACE\"") || output.contains("\"level\":\"DEBUG\""),
        "the log really ran at a verbose level"
    );
    let secrets = [
        PASSWORD.to_owned(),
        "wrong-pass-phrase-also-secret".to_owned(),
        FAKE_BEARER.to_owned(),
        "feedfacefeedface".to_owned(),
        access,
        refresh,
        registered["tokens"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        registered["tokens"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        rotated["access_token"].as_str().unwrap().to_owned(),
        rotated["refresh_token"].as_str().unwrap().to_owned(),
        created_key["key"].as_str().unwrap().to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "the output contains a secret ({}…)",
            &secret[..6]
        );
    }
    for line in output.lines().filter(|l| l.contains(&admin_key)) {
        assert!(
            !line.trim_start().starts_with('{'),
            "the admin key was logged"
        );
    }
}

#[tokio::test]
async fn sigterm_during_a_slow_request_lets_it_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = ServeProcess::start(dir.path(), &[]);
    let host = serve.base_url.trim_start_matches("http://").to_owned();
    let body = json!({ "email": "slow@example.test", "password": "a-slow-password" }).to_string();
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(body.len().div_ceil(10)).collect();

    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // `Expect: 100-continue` makes the server say when the handler starts reading the
    // body: from then on the request is in flight, which is when SIGTERM must arrive.
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    stream.write_all(chunks[0]).unwrap();
    stream.flush().unwrap();
    serve.terminate();
    // The rest of the body trickles in over about two seconds.
    for chunk in &chunks[1..] {
        std::thread::sleep(Duration::from_millis(200));
        stream.write_all(chunk).unwrap();
        stream.flush().unwrap();
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight login was answered: {response}"
    );
    let status = serve.wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

fn quire_admin(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("admin")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("QUIRE_DATA_DIR", dir)
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn admin_commands_create_a_user_who_can_log_in_and_a_key_that_works() {
    let dir = tempfile::tempdir().unwrap();
    // Before any organisation exists, the commands say what to do.
    let (ok, text) = quire_admin(
        dir.path(),
        &["create-api-key", "--name", "ci", "--role", "viewer"],
        None,
    );
    assert!(!ok && text.contains("no organisation"), "{text}");

    let first = ServeProcess::start(dir.path(), &[]);
    let (status, _) = first.stop();
    assert!(status.success());

    let (ok, text) = quire_admin(
        dir.path(),
        &[
            "create-user",
            "--email",
            "ops@example.test",
            "--role",
            "member",
            "--password-stdin",
        ],
        Some("operator-password-42\n"),
    );
    assert!(ok, "{text}");
    assert!(!text.contains("operator-password-42"));
    let (ok, text) = quire_admin(
        dir.path(),
        &["create-api-key", "--name", "ci", "--role", "viewer"],
        None,
    );
    assert!(ok, "{text}");
    let key = admin_key_from(&text);

    let serve = ServeProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let body: Value = me(&client, &serve, &key).await.json().await.unwrap();
    assert_eq!(body["role"], "viewer");
    let login = client
        .post(serve.url("/api/v1/auth/login"))
        .json(&json!({ "email": "ops@example.test", "password": "operator-password-42" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let (status, _) = serve.stop();
    assert!(status.success());
}

/// Issue 20, defect 15: the first-start admin has no password until an operator gives
/// it one with `quire admin set-password`; then it can log in.
#[tokio::test]
async fn the_first_start_admin_can_log_in_after_admin_set_password() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServeProcess::start(dir.path(), &[]);
    let (status, _) = first.stop();
    assert!(status.success());

    let (ok, text) = quire_admin(
        dir.path(),
        &["set-password", "--email", "admin@quire.local"],
        Some("short\n"),
    );
    assert!(!ok && text.contains("password"), "{text}");
    let (ok, text) = quire_admin(
        dir.path(),
        &["set-password", "--email", "nobody@quire.local"],
        Some("first-admin-password-7\n"),
    );
    assert!(!ok && text.contains("nobody@quire.local"), "{text}");
    let (ok, text) = quire_admin(
        dir.path(),
        &["set-password", "--email", "admin@quire.local"],
        Some("first-admin-password-7\n"),
    );
    assert!(ok, "{text}");
    assert!(!text.contains("first-admin-password-7"), "{text}");

    let serve = ServeProcess::start(dir.path(), &[]);
    let login = reqwest::Client::new()
        .post(serve.url("/api/v1/auth/login"))
        .json(&json!({ "email": "admin@quire.local", "password": "first-admin-password-7" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let (status, _) = serve.stop();
    assert!(status.success());
}

/// Issue 20, defect 16: a PostgreSQL instance that has served requests and jobs and
/// received another instance's notifications exits after SIGTERM within its grace
/// period (once it logged `stopped`, nothing it still holds may keep it alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_instance_that_served_requests_jobs_and_notifications_exits_after_sigterm() {
    let Some(admin_url) = crate::helpers::postgres_admin_url() else {
        return;
    };
    let database = crate::helpers::PostgresTestDatabase::create(&admin_url).await;
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        (
            "SECRET_KEY",
            "a-secret-key-long-enough-for-two-instances-0123",
        ),
        ("SHUTDOWN_TIMEOUT", "3"),
        ("RATE_LIMIT_ENABLED", "false"),
    ];
    let first_dir = tempfile::tempdir().unwrap();
    let second_dir = tempfile::tempdir().unwrap();
    let mut first = tokio::task::block_in_place(|| ServeProcess::start(first_dir.path(), &env));
    let second = tokio::task::block_in_place(|| ServeProcess::start(second_dir.path(), &env));
    let key = std::fs::read_to_string(first_dir.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let client = reqwest::Client::new();

    // Requests and a job: a document's embedding, run by either instance's workers.
    let ws: Value = client
        .post(first.url("/api/v1/workspaces"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Contracts" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = ws["id"].as_str().unwrap().to_owned();
    let created = client
        .post(first.url("/api/v1/documents"))
        .bearer_auth(&key)
        .json(&json!({ "title": "Terms", "content": "Delivery within 30 days.", "workspace_ids": [ws] }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let docs: Value = client
            .get(first.url(&format!("/api/v1/workspaces/{ws}/documents")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if docs["items"][0]["status"] == "embedded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not embedded: {docs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The second instance's notification: a key it revokes stops working on the first,
    // which had it cached.
    let made: Value = client
        .post(second.url("/api/v1/api-keys"))
        .bearer_auth(&key)
        .json(&json!({ "name": "short-lived", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let short = made["key"].as_str().unwrap().to_owned();
    let me = |base: &ServeProcess, credential: &str| {
        client
            .get(base.url("/api/v1/auth/me"))
            .bearer_auth(credential.to_owned())
            .send()
    };
    assert_eq!(me(&first, &short).await.unwrap().status(), 200);
    let revoked = client
        .delete(second.url(&format!(
            "/api/v1/api-keys/{}",
            made["id"].as_str().unwrap()
        )))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while me(&first, &short).await.unwrap().status() != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    first.terminate();
    // The grace period (3 s) and a little for the process to go.
    let status = tokio::task::block_in_place(|| first.wait_for_exit(Duration::from_secs(6)));
    assert!(status.success(), "exit status {status:?}");
    assert!(first.output().contains("stopped"), "{}", first.output());
    let (status, _) = tokio::task::block_in_place(|| second.stop());
    assert!(status.success());
    database.drop_database().await;
}
