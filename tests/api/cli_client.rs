//! `quire` as a client: the built binary run as a child against the real app, the way a
//! user or a CI job runs it (not on a terminal, so no progress bars).
//!
//! The client does not care which database the server uses, so these run on SQLite only.
//! Tests of `ask`, `results` and `compare` need the question-run endpoints (issue 7,
//! branch `questions`) and are ignored until those land.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Backend, TestApp};

const SAMPLE_BUNDLE: &str = "examples/procurement/bundle.zip";
const SAMPLE_YAML: &str = "examples/procurement/questions.yaml";
const SAMPLE_JSON: &str = "examples/procurement/questions.json";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A server and a client pointed at it with an org admin key; the client's data directory
/// (where `quire results last` notes runs) is a temporary one.
struct Client {
    app: TestApp,
    key: String,
    data_dir: TempDir,
}

impl Client {
    async fn start() -> Client {
        let app = TestApp::spawn(Backend::Sqlite)
            .await
            .expect("sqlite test app");
        let org = app.create_org("Cli Client").await;
        Client {
            app,
            key: org.admin_key,
            data_dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    async fn quire(&self, args: &[&str]) -> Run {
        let url = self.app.base_url.clone();
        run_quire(
            args,
            &[("QUIRE_URL", &url), ("QUIRE_API_KEY", &self.key)],
            self.data_dir.path(),
        )
        .await
    }
}

async fn run_quire(args: &[&str], env: &[(&str, &str)], data_dir: &Path) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_quire"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("QUIRE_DATA_DIR", data_dir)
        .env_remove("QUIRE_URL")
        .env_remove("QUIRE_API_KEY")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("quire finished within 2 minutes")
        .expect("quire runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_plain_text(text: &str) {
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r'),
        "output off a terminal has no escape sequences or carriage returns: {text:?}"
    );
}

fn line_of<'a>(output: &'a str, start: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("a line starting with {start:?} in:\n{output}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_create_twice_reuses_the_workspace_and_list_shows_it() {
    let c = Client::start().await;
    let first = c
        .quire(&[
            "workspace",
            "create",
            "procurement",
            "--description",
            "tenders",
        ])
        .await;
    first.assert_code(0);
    assert!(
        first.stdout.contains("created workspace \"procurement\""),
        "{}",
        first.stdout
    );
    let second = c.quire(&["workspace", "create", "procurement"]).await;
    second.assert_code(0);
    assert!(
        second.stdout.contains("already exists"),
        "{}",
        second.stdout
    );
    let id = |s: &str| {
        s.split(['(', ')'])
            .nth(1)
            .map(str::to_owned)
            .expect("an id in parentheses")
    };
    assert_eq!(id(&first.stdout), id(&second.stdout), "the same workspace");

    let list = c.quire(&["workspace", "list"]).await;
    list.assert_code(0);
    let row = line_of(&list.stdout, &id(&first.stdout));
    assert!(
        row.contains("procurement") && row.contains("embedded") && row.contains("tenders"),
        "{row}"
    );
    assert!(list.stdout.contains("1 workspace(s)"), "{}", list.stdout);
    assert_plain_text(&list.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_of_the_sample_bundle_creates_the_workspace_and_accepts_every_entry() {
    let c = Client::start().await;
    let run = c
        .quire(&["upload", SAMPLE_BUNDLE, "--workspace", "procurement"])
        .await;
    run.assert_code(0);
    assert!(
        run.stdout.contains("created workspace \"procurement\""),
        "{}",
        run.stdout
    );
    for entry in [
        "contracts/services-agreement.pdf",
        "prices/price-list.csv",
        "tender/tender.json",
    ] {
        let row = line_of(&run.stdout, entry);
        assert!(row.contains("accepted"), "{row}");
    }
    assert!(line_of(&run.stdout, "contracts/services-agreement.pdf").contains("pdf"));
    assert!(
        run.stdout.contains("3 accepted, 0 duplicate, 0 rejected"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ready to be asked about"),
        "{}",
        run.stdout
    );
    assert_plain_text(&run.stdout);
    assert_plain_text(&run.stderr);

    // Again into the same workspace: reused, and every entry is a duplicate.
    let again = c
        .quire(&["upload", SAMPLE_BUNDLE, "--workspace", "procurement"])
        .await;
    again.assert_code(0);
    assert!(
        !again.stdout.contains("created workspace"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("0 accepted, 3 duplicate"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_questions_are_answered_by_the_embedded_engine_after_an_upload() {
    let c = Client::start().await;
    c.quire(&["upload", SAMPLE_BUNDLE, "--workspace", "procurement"])
        .await
        .assert_code(0);
    let page: Value = c
        .app
        .authed(Method::GET, "/api/v1/workspaces?q=procurement", &c.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workspace_id = page["items"][0]["id"]
        .as_str()
        .expect("workspace id")
        .to_owned();
    for file in [SAMPLE_YAML, SAMPLE_JSON] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .expect("sample set");
        let set = if file.ends_with(".yaml") {
            quire_evals::parse_promptfoo_yaml(&text)
        } else {
            quire_evals::parse_json(&text)
        }
        .expect("sample set parses");
        for question in &set.questions {
            let answer: Value = c
                .app
                .authed(
                    Method::POST,
                    &format!("/api/v1/workspaces/{workspace_id}/chat"),
                    &c.key,
                )
                .json(&json!({ "message": question.text, "doc_types": question.doc_types }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let text = answer["answer"].as_str().unwrap_or_default();
            let score = quire_evals::score(text, &[], question, 0.8);
            assert!(
                score.success && score.fragments_missing.is_empty(),
                "{file} {}: {text:?} scored {score:?}",
                question.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_api_key_prints_the_servers_message_and_correlation_id_and_exits_2() {
    let c = Client::start().await;
    let url = c.app.base_url.clone();
    let key = "qk_000000000000_not-a-real-key";
    let run = run_quire(
        &["workspace", "list"],
        &[("QUIRE_URL", &url), ("QUIRE_API_KEY", key)],
        c.data_dir.path(),
    )
    .await;
    run.assert_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", run.stderr);
    assert!(
        lines[0].contains("credentials"),
        "the server's message: {}",
        lines[0]
    );
    assert!(lines[0].contains("correlation_id 0"), "{}", lines[0]);
    assert!(
        !run.stderr.contains(key) && !run.stdout.contains(key),
        "the key is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_exits_2_with_a_friendly_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["workspace", "list"],
        vec!["upload", SAMPLE_BUNDLE, "--workspace", "procurement"],
        vec![
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            SAMPLE_YAML,
        ],
    ] {
        let run = run_quire(
            &args,
            &[("QUIRE_URL", &url), ("QUIRE_API_KEY", "qk_x")],
            dir.path(),
        )
        .await;
        run.assert_code(2);
        assert_eq!(
            run.stderr.trim(),
            format!("cannot reach Quire at {url} — is `quire serve` running?"),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_the_admin_key_file_of_the_data_directory_is_used() {
    let c = Client::start().await;
    std::fs::write(
        c.data_dir.path().join("admin-api-key"),
        format!("{}\n", c.key),
    )
    .unwrap();
    let url = c.app.base_url.clone();
    let run = run_quire(
        &["workspace", "list"],
        &[("QUIRE_URL", &url)],
        c.data_dir.path(),
    )
    .await;
    run.assert_code(0);
    assert!(run.stdout.contains("no workspaces yet"), "{}", run.stdout);

    let empty = tempfile::tempdir().unwrap();
    let run = run_quire(&["workspace", "list"], &[("QUIRE_URL", &url)], empty.path()).await;
    run.assert_code(2);
    assert!(run.stderr.contains("QUIRE_API_KEY"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_mistakes_exit_2_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("QUIRE_URL", "http://127.0.0.1:9"),
        ("QUIRE_API_KEY", "qk_x"),
    ];
    let xlsx = run_quire(
        &["results", "some-job", "--format", "xlsx"],
        &env,
        dir.path(),
    )
    .await;
    xlsx.assert_code(2);
    assert!(xlsx.stderr.contains("--output"), "{}", xlsx.stderr);
    let txt = run_quire(
        &["ask", "--workspace", "w", "--questions", "README.md"],
        &env,
        dir.path(),
    )
    .await;
    txt.assert_code(2);
    assert!(txt.stderr.contains(".yaml"), "{}", txt.stderr);
    let missing = run_quire(
        &["upload", "no-such.zip", "--workspace", "w"],
        &env,
        dir.path(),
    )
    .await;
    missing.assert_code(2);
    assert!(missing.stderr.contains("no-such.zip"), "{}", missing.stderr);
}

// ---- Question runs: need `/api/v1/questions/...` (issue 7, branch questions). ----

/// Uploads the sample and runs `ask` with these extra arguments.
async fn sample_run(c: &Client, questions: &str, extra: &[&str]) -> Run {
    c.quire(&["upload", SAMPLE_BUNDLE, "--workspace", "procurement"])
        .await
        .assert_code(0);
    let mut args = vec![
        "ask",
        "--workspace",
        "procurement",
        "--questions",
        questions,
    ];
    args.extend_from_slice(extra);
    c.quire(&args).await
}

fn job_id_of(ask_output: &str) -> String {
    line_of(ask_output, "run ")
        .trim_start_matches("run ")
        .split(':')
        .next()
        .expect("run <id>:")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_runs_the_sample_set_and_prints_a_scored_table_with_totals() {
    let c = Client::start().await;
    let run = sample_run(&c, SAMPLE_YAML, &[]).await;
    run.assert_code(0);
    for id in [
        "term",
        "governing-law",
        "payment",
        "liability-cap",
        "termination",
        "standing-desk-price",
        "tender-deadline",
    ] {
        let row = line_of(&run.stdout, id);
        assert!(row.contains("pass"), "{row}");
    }
    // The table shortens answers to 60 characters.
    assert!(line_of(&run.stdout, "governing-law").contains("governed by the laws"));
    assert!(
        run.stdout.contains("7 passed, 0 failed; pass rate 100.0%"),
        "{}",
        run.stdout
    );
    assert_plain_text(&run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yaml_and_json_sample_sets_give_the_same_run() {
    let c = Client::start().await;
    let yaml = sample_run(&c, SAMPLE_YAML, &[]).await;
    yaml.assert_code(0);
    let json = c
        .quire(&[
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            SAMPLE_JSON,
        ])
        .await;
    json.assert_code(0);
    let table = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.starts_with("question"))
            .take_while(|l| !l.contains(" passed, "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(table(&yaml.stdout), table(&json.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_exits_1_when_the_pass_rate_is_under_the_threshold() {
    let c = Client::start().await;
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("hard.yaml");
    std::fs::write(
        &set,
        "tests:\n  - vars:\n      question: What is the governing law of the Agreement?\n    metadata:\n      id: law\n      expected_fragments: [England and Wales]\n  - vars:\n      question: What is the term of the Agreement?\n    metadata:\n      id: wrong\n      expected_fragments: [99 fortnights]\n",
    )
    .unwrap();
    let set = set.display().to_string();
    let run = sample_run(&c, &set, &["--threshold", "0.8"]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("1 passed, 1 failed; pass rate 50.0%"),
        "{}",
        run.stdout
    );
    assert!(line_of(&run.stdout, "wrong").contains("FAIL"));
    assert!(run.stderr.contains("under the threshold"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_question_file_prints_the_servers_message_naming_the_line_and_exits_2() {
    let c = Client::start().await;
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("bad.yaml");
    std::fs::write(
        &set,
        "tests:\n  - vars:\n      question: Governing law?\n    assert:\n      - type: llm-rubric\n        value: nice\n",
    )
    .unwrap();
    let set = set.display().to_string();
    let run = sample_run(&c, &set, &[]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("line 5"), "{}", run.stderr);
    assert!(run.stderr.contains("correlation_id"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_prints_the_table_and_exports_csv_json_and_xlsx() {
    let c = Client::start().await;
    let run = sample_run(&c, SAMPLE_YAML, &[]).await;
    run.assert_code(0);
    let job = job_id_of(&run.stdout);

    let table = c.quire(&["results", "last"]).await;
    table.assert_code(0);
    assert!(
        table.stdout.contains(&job),
        "`last` is the run just made: {}",
        table.stdout
    );
    assert!(line_of(&table.stdout, "governing-law").contains("pass"));

    let csv = c.quire(&["results", &job, "--format", "csv"]).await;
    csv.assert_code(0);
    let first = csv
        .stdout
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or_default();
    assert!(first.contains("question_id"), "a CSV header: {first}");
    // Answers may span lines inside quoted cells: count records by their first cell.
    for id in [
        "term",
        "governing-law",
        "payment",
        "liability-cap",
        "termination",
        "standing-desk-price",
        "tender-deadline",
    ] {
        let records = csv
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{id},")))
            .count();
        assert_eq!(records, 1, "one record for {id}:\n{}", csv.stdout);
    }

    let json = c.quire(&["results", &job, "--format", "json"]).await;
    json.assert_code(0);
    let rows: Vec<Value> = serde_json::from_str(&json.stdout).expect("a JSON array");
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r["success"] == true));

    let out = c.data_dir.path().join("results.xlsx");
    let out_arg = out.display().to_string();
    let xlsx = c
        .quire(&["results", &job, "--format", "xlsx", "--output", &out_arg])
        .await;
    xlsx.assert_code(0);
    let bytes = std::fs::read(&out).expect("the xlsx was written");
    assert!(bytes.starts_with(b"PK"), "an xlsx is a ZIP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_of_two_passing_runs_shows_no_flips_and_exits_0() {
    let c = Client::start().await;
    let first = sample_run(&c, SAMPLE_YAML, &[]).await;
    first.assert_code(0);
    let second = c
        .quire(&[
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            SAMPLE_JSON,
        ])
        .await;
    second.assert_code(0);
    let run = c
        .quire(&[
            "compare",
            &job_id_of(&first.stdout),
            &job_id_of(&second.stdout),
        ])
        .await;
    run.assert_code(0);
    assert!(run.stdout.contains("no question changed"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("0 pass→fail, 0 fail→pass, 7 unchanged pass"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_exits_1_and_lists_a_question_that_went_from_pass_to_fail() {
    let c = Client::start().await;
    let first = sample_run(&c, SAMPLE_YAML, &[]).await;
    first.assert_code(0);
    // The same ids, with the term now expected to be something the contract does not say.
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("changed.json");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_JSON))
        .unwrap()
        .replace("\"24 months\"", "\"36 months\"");
    std::fs::write(&changed, text).unwrap();
    let changed = changed.display().to_string();
    let second = c
        .quire(&[
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            &changed,
            "--threshold",
            "0.5",
        ])
        .await;
    let run = c
        .quire(&[
            "compare",
            &job_id_of(&first.stdout),
            &job_id_of(&second.stdout),
        ])
        .await;
    run.assert_code(1);
    let row = line_of(&run.stdout, "term");
    assert!(row.contains("pass → fail"), "{row}");
    assert!(run.stdout.contains("1 pass→fail"), "{}", run.stdout);
}

/// A question added in the second run that fails is bad news even though nothing went
/// from pass to fail: the pass rate fell (100 % → 87.5 %). Added questions are reported
/// as added, with no answer to compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_exits_1_when_an_added_question_fails_and_reports_it_as_added() {
    let c = Client::start().await;
    let first = sample_run(&c, SAMPLE_YAML, &[]).await;
    first.assert_code(0);
    let dir = tempfile::tempdir().unwrap();
    let grown = dir.path().join("grown.json");
    let mut set: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_JSON)).unwrap(),
    )
    .unwrap();
    set["questions"].as_array_mut().unwrap().push(json!({
        "id": "penalty",
        "text": "What is the penalty for late delivery?",
        "expected_fragments": ["a fragment no document contains: zq-404"]
    }));
    std::fs::write(&grown, set.to_string()).unwrap();
    let grown = grown.display().to_string();
    let second = c
        .quire(&[
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            &grown,
            "--threshold",
            "0.5",
        ])
        .await;
    let run = c
        .quire(&[
            "compare",
            &job_id_of(&first.stdout),
            &job_id_of(&second.stdout),
        ])
        .await;
    run.assert_code(1);
    let row = line_of(&run.stdout, "penalty");
    assert!(row.contains("added"), "{row}");
    assert!(
        !row.contains(" no"),
        "an added question has no earlier answer: {row}"
    );
    assert!(run.stdout.contains("0 pass→fail"), "{}", run.stdout);
    assert!(run.stdout.contains("1 added"), "{}", run.stdout);
}

// ---- The client side of question runs, against a stand-in that speaks the contract. ----

/// A stand-in for the question-run endpoints as the contract of issue 7 describes them:
/// one workspace `procurement`, every run has the same two results (one pass, one fail),
/// and compare reports one pass → fail.
async fn contract_stand_in() -> (String, tokio::task::JoinHandle<()>) {
    use axum::Json;
    use axum::extract::{Path as UrlPath, Query};
    use axum::routing::{get, post};
    use std::collections::HashMap;

    let workspace = json!({ "id": "01a20000-0000-7000-8000-000000000001", "name": "procurement",
        "backend": "embedded", "status": "ready", "document_count": 3 });
    let ws_list = workspace.clone();
    let router = axum::Router::new()
        .route(
            "/api/v1/workspaces",
            get(move || {
                let w = ws_list.clone();
                async move { Json(json!({ "items": [w], "total": 1, "limit": 200, "offset": 0 })) }
            }),
        )
        .route(
            "/api/v1/questions/execute",
            post(|Json(body): Json<Value>| async move {
                assert_eq!(body["question_set"]["format"], "yaml");
                assert!(body["question_set"]["content"].as_str().is_some_and(|c| c.contains("tests:")));
                (
                    axum::http::StatusCode::ACCEPTED,
                    Json(json!({ "job_id": "run-1", "status": "queued", "total_questions": 2,
                        "links": { "status": "/api/v1/questions/jobs/run-1" } })),
                )
            }),
        )
        .route(
            "/api/v1/questions/jobs/{id}",
            get(|UrlPath(id): UrlPath<String>| async move {
                Json(json!({ "id": id, "status": "succeeded", "progress": 100.0, "total": 2,
                    "answered": 2, "passed": 1, "failed": 1, "pass_rate": 0.5, "threshold": 0.8 }))
            }),
        )
        .route(
            "/api/v1/questions/jobs/{id}/results",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                use axum::response::IntoResponse;
                if q.get("format").map(String::as_str) == Some("csv") {
                    return "question_id,question,response\r\nlaw,Governing law?,England and Wales\r\n"
                        .into_response();
                }
                Json(json!({ "items": [
                    { "question_id": "law", "question": "Governing law?", "response": "This Agreement shall be governed by the laws of England and Wales, and nothing else at all.",
                      "confidence_score": 1.0, "success": true, "fragments_found": [], "fragments_missing": [], "processing_time": 3, "sources": [], "error": null },
                    { "question_id": "term", "question": "Term?", "response": "Clause 1 Term.",
                      "confidence_score": 0.25, "success": false, "fragments_found": [], "fragments_missing": ["24 months"], "processing_time": 2, "sources": [], "error": null }
                ], "total": 2, "limit": 200, "offset": 0 }))
                .into_response()
            }),
        )
        .route(
            "/api/v1/questions/jobs/{a}/compare/{b}",
            get(|| async {
                Json(json!({
                    "per_question": [
                        { "question_id": "law", "change": "unchanged_pass", "confidence_delta": 0.0, "answer_changed": false },
                        { "question_id": "term", "change": "pass_to_fail", "before_confidence": 1.0, "after_confidence": 0.25, "confidence_delta": -0.75, "answer_changed": true }
                    ],
                    "totals": { "pass_to_fail": 1, "fail_to_pass": 0, "unchanged_pass": 1, "unchanged_fail": 0,
                                "added": 0, "removed": 0, "pass_rate_before": 1.0, "pass_rate_after": 0.5 }
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_prints_the_scored_table_and_exits_1_when_the_pass_rate_is_under_the_threshold() {
    let (url, server) = contract_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("QUIRE_URL", url.as_str()), ("QUIRE_API_KEY", "qk_x")];
    let run = run_quire(
        &[
            "ask",
            "--workspace",
            "procurement",
            "--questions",
            SAMPLE_YAML,
        ],
        &env,
        dir.path(),
    )
    .await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("run run-1: 2 question(s)"),
        "{}",
        run.stdout
    );
    let law = line_of(&run.stdout, "law");
    assert!(law.contains("pass") && law.contains("1.00"), "{law}");
    assert!(
        law.ends_with('…') && law.contains("This Agreement shall be governed"),
        "60 characters of the answer: {law}"
    );
    let term = line_of(&run.stdout, "term");
    assert!(term.contains("FAIL") && term.contains("0.25"), "{term}");
    assert!(
        run.stdout
            .contains("1 passed, 1 failed; pass rate 50.0% (threshold 80.0%)"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("under the threshold"), "{}", run.stderr);
    assert_plain_text(&run.stdout);

    // `last` is the run just made; csv is passed through as the server wrote it.
    let csv = run_quire(&["results", "last", "--format", "csv"], &env, dir.path()).await;
    csv.assert_code(0);
    assert!(
        csv.stdout.starts_with("question_id,question,response"),
        "{}",
        csv.stdout
    );
    let table = run_quire(&["results", "run-1"], &env, dir.path()).await;
    table.assert_code(0);
    assert!(
        table.stdout.starts_with("run run-1: succeeded"),
        "{}",
        table.stdout
    );

    let compare = run_quire(&["compare", "run-0", "last"], &env, dir.path()).await;
    compare.assert_code(1);
    let row = line_of(&compare.stdout, "term");
    assert!(
        row.contains("pass → fail") && row.contains("-0.75") && row.contains("yes"),
        "{row}"
    );
    assert!(
        !compare.stdout.lines().any(|l| l.starts_with("law")),
        "unchanged questions are not listed"
    );
    assert!(
        compare
            .stdout
            .contains("1 pass→fail, 0 fail→pass, 1 unchanged pass"),
        "{}",
        compare.stdout
    );
    assert!(
        compare.stdout.contains("pass rate 100.0% → 50.0%"),
        "{}",
        compare.stdout
    );
    server.abort();
}

/// Issue 13's first "done when": the quickstart's server with no model, the sample
/// bundle uploaded, and `quire summarize` on the contract prints an extractive summary
/// whose sentences all occur in the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_prints_an_extractive_summary_of_the_sample_contract_from_its_sentences() {
    let c = Client::start().await;
    c.quire(&["upload", SAMPLE_BUNDLE, "--workspace", "procurement"])
        .await
        .assert_code(0);
    let run = c.quire(&["summarize", "services-agreement.pdf"]).await;
    run.assert_code(0);
    assert_plain_text(&run.stdout);
    assert!(run.stderr.contains("model: extractive"), "{}", run.stderr);

    let library: Value = c
        .app
        .get_json("/api/v1/documents?q=services-agreement", &c.key)
        .await;
    let id = library["items"][0]["id"].as_str().unwrap();
    let text: Value = c
        .app
        .get_json(&format!("/api/v1/documents/{id}/text"), &c.key)
        .await;
    let document: String = text["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n\n");
    crate::summaries::assert_extractive_lines_occur_in(&run.stdout, &document);

    // The templates the command line sees, and one of them by name.
    let list = c.quire(&["templates", "list"]).await;
    list.assert_code(0);
    assert!(
        list.stdout.contains("Contract key terms"),
        "{}",
        list.stdout
    );
    let show = c.quire(&["templates", "show", "contract key terms"]).await;
    show.assert_code(0);
    assert!(
        show.stdout.contains("{{ document.content }}"),
        "{}",
        show.stdout
    );
    let file = c.data_dir.path().join("board.j2");
    std::fs::write(&file, "For the board: {{ document.content }}").unwrap();
    let created = c
        .quire(&[
            "templates",
            "create",
            file.to_str().unwrap(),
            "--name",
            "Board",
        ])
        .await;
    created.assert_code(0);
    assert!(
        created.stdout.contains("created template \"Board\""),
        "{}",
        created.stdout
    );
    let by_name = c
        .quire(&[
            "summarize",
            "services-agreement.pdf",
            "--template",
            "Board",
            "--format",
            "text",
        ])
        .await;
    by_name.assert_code(0);
    crate::summaries::assert_extractive_lines_occur_in(&by_name.stdout, &document);
    let bad = c.data_dir.path().join("bad.j2");
    std::fs::write(&bad, "{{ document.content }").unwrap();
    let refused = c
        .quire(&["templates", "create", bad.to_str().unwrap()])
        .await;
    refused.assert_code(2);
    assert!(refused.stderr.contains("line 1"), "{}", refused.stderr);
}
