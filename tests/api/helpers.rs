//! The test harness: the real application on a random port with a fresh database.
//!
//! Every data-layer and endpoint test runs twice, on a temporary SQLite file and on a
//! freshly created PostgreSQL database (when `QUIRE_TEST_POSTGRES_URL` is set; in CI a
//! missing URL fails the PostgreSQL variants instead of skipping them).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use quire::app::Application;
use quire::cli::Cli;
use quire::config::Settings;
use quire::state::AppState;
use serde_json::Value;
use sqlx::Executor;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(app: TestApp)` on both databases, as
/// `name::sqlite` and `name::postgres`.
///
/// `on_both_databases!(flags = ["--rate-limit-requests=5"]; name, ...)` starts the app
/// with those extra `quire serve` flags.
#[macro_export]
macro_rules! on_both_databases {
    (flags = $flags:tt; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Sqlite, &$flags).await;
                    super::$name(app.expect("sqlite test app")).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Postgres, &$flags).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                    super::$name(app.expect("sqlite test app")).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

pub struct TestApp {
    pub address: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// What this instance's workers run.
    pub job_registry: std::sync::Arc<quire::jobs::JobRegistry>,
    /// Kept for the test's duration (the SQLite file and storage live in it).
    #[allow(dead_code)]
    pub data_dir: TempDir,
    pub backend: Backend,
    stop: CancellationToken,
    postgres: Option<PostgresTestDatabase>,
}

/// The key every test app signs tokens with, so tests can forge tokens on purpose.
pub const TEST_SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

/// Settings as `quire serve` would parse them, with these extra flags.
pub fn settings_from(args: &[String]) -> Settings {
    let mut argv = vec!["quire".to_owned(), "serve".to_owned()];
    argv.extend(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).expect("test settings parse");
    cli.settings.validate().expect("test settings are valid");
    cli.settings
}

/// The Redis server for tests of shared state, or `None` to skip (a panic in CI).
pub fn redis_test_url() -> Option<String> {
    match std::env::var("QUIRE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("QUIRE_TEST_REDIS_URL is not set: CI must run the Redis tests")
        }
        _ => {
            eprintln!("skipped: QUIRE_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// The PostgreSQL server tests create their databases on, or `None` to skip.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("QUIRE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("QUIRE_TEST_POSTGRES_URL is not set: CI must run the PostgreSQL variants")
        }
        _ => {
            eprintln!("skipped: QUIRE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the app with extra `quire serve` flags (e.g. `--rate-limit-requests=5`).
    pub async fn spawn_with(backend: Backend, extra: &[&str]) -> Option<TestApp> {
        Self::spawn_with_jobs(backend, extra, None).await
    }

    /// Starts the app with extra flags and, when given, these job handlers instead of the
    /// service's own (tests register their job types this way).
    pub async fn spawn_with_jobs(
        backend: Backend,
        extra: &[&str],
        registry: Option<quire::jobs::JobRegistry>,
    ) -> Option<TestApp> {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("quire.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let db = PostgresTestDatabase::create(&admin).await;
                (db.url.clone(), Some(db))
            }
        };
        Some(Self::launch(backend, data_dir, database_url, postgres, extra, registry).await)
    }

    /// A second instance on the same database and the same originals (as a second
    /// `quire serve` would be), with its own data directory and these extra flags.
    pub async fn spawn_alongside(&self, extra: &[&str]) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let url = self.state.settings.database_url().as_str().to_owned();
        // Instances of one deployment share their originals (a volume or S3): a job
        // enqueued by this instance may be claimed by the other, which must find the
        // upload this one stored.
        let storage = format!(
            "--storage-path={}",
            self.state.settings.storage_path().display()
        );
        let mut args: Vec<&str> = vec![&storage];
        args.extend_from_slice(extra);
        Self::launch(self.backend, data_dir, url, None, &args, None).await
    }

    async fn launch(
        backend: Backend,
        data_dir: TempDir,
        database_url: String,
        postgres: Option<PostgresTestDatabase>,
        extra: &[&str],
        registry: Option<quire::jobs::JobRegistry>,
    ) -> TestApp {
        let mut args = vec![
            "--port=0".to_owned(),
            format!("--data-dir={}", data_dir.path().display()),
            format!("--database-url={database_url}"),
            format!("--secret-key={TEST_SECRET}"),
            // The app runs inside the test binary; PDF text comes from the real one.
            format!("--pdf-extractor={}", env!("CARGO_BIN_EXE_quire")),
        ];
        if !extra.iter().any(|a| a.starts_with("--max-concurrent-jobs")) {
            args.push("--max-concurrent-jobs=2".to_owned());
        }
        // Tests that poll (jobs, embedding) would spend the default hourly budget under
        // load; the rate-limit tests set their own.
        if !extra.iter().any(|a| a.starts_with("--rate-limit")) {
            args.push("--rate-limit-requests=1000000".to_owned());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let settings = settings_from(&args);
        let app = match registry {
            Some(registry) => Application::build_with(settings, registry).await,
            None => Application::build(settings).await,
        }
        .expect("app builds");
        let address = app.local_addr().expect("local addr");
        let state = app.state.clone();
        let job_registry = app.job_registry.clone();
        let stop = CancellationToken::new();
        let run_stop = stop.clone();
        tokio::spawn(async move {
            let _ = app.run(run_stop).await;
        });
        TestApp {
            base_url: format!("http://{address}"),
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            state,
            job_registry,
            data_dir,
            backend,
            stop,
            postgres,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Stops this instance's HTTP server and job workers, keeping its database and data
    /// directory (tests that hand the data to `quire` child processes).
    pub async fn stop_serving(&self) {
        self.stop.cancel();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self
            .client
            .get(self.url("/api/v1/health"))
            .send()
            .await
            .is_ok()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the test app did not stop"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    #[allow(dead_code)]
    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        self.state.shutdown.cancel();
        if let Some(pg) = self.postgres.take() {
            let pool = self.state.db.pool.clone();
            // Dropping a database needs async work; do it on a thread of its own so it
            // runs even while the test's runtime is shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    pool.close().await;
                    pg.drop_database().await;
                });
            })
            .join();
        }
    }
}

/// A database created for one test and dropped after it.
pub struct PostgresTestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresTestDatabase {
    pub async fn create(admin_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = format!("quire_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::AnyPool::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at QUIRE_TEST_POSTGRES_URL: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        admin.close().await;
        let url = replace_database_name(admin_url, &name);
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        }
    }

    pub async fn drop_database(&self) {
        if let Ok(admin) = sqlx::AnyPool::connect(&self.admin_url).await {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                )))
                .await;
            admin.close().await;
        }
    }
}

fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Asserts the standard error envelope and returns it.
pub async fn assert_error_envelope(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("every response carries X-Request-ID");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert!(body.get("details").is_some(), "details key in {body}");
    assert_eq!(body["correlation_id"], request_id.as_str());
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "timestamp {ts}"
    );
    body
}

/// An organisation made directly through the data layer, with an admin user and an
/// admin API key, for tests that are not about signing up.
pub struct TestOrg {
    pub org_id: String,
    pub admin_user_id: String,
    pub admin_key: String,
}

impl TestApp {
    pub async fn create_org(&self, name: &str) -> TestOrg {
        use quire::api_keys::repo::{NewApiKey, insert_api_key};
        use quire::auth::{Role, tokens};
        use quire::orgs::repo::insert_organisation;
        use quire::users::repo::{NewUser, insert_user};
        let pool = &self.state.db.pool;
        let org = insert_organisation(pool, name).await.expect("insert org");
        let email = format!(
            "admin-{}@{}.test",
            uuid::Uuid::now_v7().simple(),
            name.to_lowercase().replace(' ', "-")
        );
        let user = insert_user(
            pool,
            &org.id,
            NewUser {
                email: &email,
                display_name: "Admin",
                password_hash: None,
                role: Role::Admin,
            },
        )
        .await
        .expect("insert user");
        let key = tokens::generate_api_key();
        insert_api_key(
            pool,
            &org.id,
            NewApiKey {
                name: "test admin key",
                role: Role::Admin,
                created_by: Some(&user.id),
                expires_at: None,
                prefix: &key.prefix,
                secret_hash: &key.secret_hash,
            },
        )
        .await
        .expect("insert key");
        TestOrg {
            org_id: org.id,
            admin_user_id: user.id,
            admin_key: key.plaintext,
        }
    }

    /// Another API key in `org` with `role`, created by the org's admin.
    pub async fn create_key(&self, org: &TestOrg, role: quire::auth::Role) -> String {
        use quire::api_keys::repo::{NewApiKey, insert_api_key};
        use quire::auth::tokens;
        let key = tokens::generate_api_key();
        insert_api_key(
            &self.state.db.pool,
            &org.org_id,
            NewApiKey {
                name: "test key",
                role,
                created_by: Some(&org.admin_user_id),
                expires_at: None,
                prefix: &key.prefix,
                secret_hash: &key.secret_hash,
            },
        )
        .await
        .expect("insert key");
        key.plaintext
    }

    /// `GET path` with `key` as bearer credential, answered JSON.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.authed(reqwest::Method::GET, path, key)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    /// A request to `path` carrying `key` as a bearer credential.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }
}

/// Flags that point an app at a fresh bucket on the S3 protocol server named by
/// `QUIRE_TEST_S3_ENDPOINT` (moto in CI), or `None` to skip locally.
pub async fn s3_storage_args() -> Option<Vec<String>> {
    let endpoint = match std::env::var("QUIRE_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ if std::env::var_os("CI").is_some() => {
            panic!("QUIRE_TEST_S3_ENDPOINT is not set: CI must run the S3 variants")
        }
        _ => {
            eprintln!("skipped: QUIRE_TEST_S3_ENDPOINT is not set");
            return None;
        }
    };
    let bucket = format!("quire-test-{}", uuid::Uuid::now_v7().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("S3 endpoint answers");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    Some(vec![
        "--storage-type=s3".into(),
        format!("--s3-bucket={bucket}"),
        format!("--s3-endpoint={endpoint}"),
        "--s3-access-key-id=testing".into(),
        "--s3-secret-access-key=testing".into(),
    ])
}

impl TestApp {
    /// Registers an organisation through the API; returns the `RegisterResponse` body.
    pub async fn register(&self, org_name: &str, email: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &serde_json::json!({
                    "organisation_name": org_name,
                    "email": email,
                    "password": password,
                }),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.expect("register body")
    }

    /// Logs in and returns the token response, asserting success.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/api/v1/auth/login",
                &serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.expect("login body")
    }

    /// `GET` with a bearer credential; returns the status.
    pub async fn status_with(&self, path: &str, credential: &str) -> u16 {
        self.authed(reqwest::Method::GET, path, credential)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }
}

/// A unique email for one test.
pub fn unique_email(label: &str) -> String {
    format!("{label}-{}@example.test", uuid::Uuid::now_v7().simple())
}
