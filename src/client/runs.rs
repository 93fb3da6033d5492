//! Question runs: `quire ask`, `quire results`, `quire compare`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use super::output::{Progress, percent, shorten, table};
use super::upload::{POLL_INTERVAL, is_finished};
use super::workspace::{self, Page};
use super::{AskArgs, ClientError, ClientResult, Context, ResultsArgs, ResultsFormat};

/// Pass threshold when neither the command line nor the server names one.
const DEFAULT_THRESHOLD: f64 = 0.8;
/// Characters of each answer shown in the summary table.
const ANSWER_CHARS: usize = 60;
/// Where the id of the last run started from this data directory is kept.
const LAST_RUN_FILE: &str = "cli-last-run.json";

#[derive(Debug, Deserialize)]
struct Started {
    job_id: String,
    #[serde(default)]
    total_questions: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct RunStatus {
    #[serde(default)]
    id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    answered: Option<u64>,
    #[serde(default)]
    passed: Option<u64>,
    #[serde(default)]
    failed: Option<u64>,
    #[serde(default)]
    pass_rate: Option<f64>,
    #[serde(default)]
    threshold: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ResultRow {
    question_id: String,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    confidence_score: Option<f64>,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    error: Option<String>,
}

fn set_format(path: &Path) -> ClientResult<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => Ok("json"),
        Some("csv") => Ok("csv"),
        Some("yaml" | "yml") => Ok("yaml"),
        _ => Err(ClientError::Usage(format!(
            "{}: the question set must be a .json, .csv, .yaml or .yml file",
            path.display()
        ))),
    }
}

pub async fn ask(ctx: &Context, args: &AskArgs) -> ClientResult<i32> {
    let format = set_format(&args.questions)?;
    let content = std::fs::read_to_string(&args.questions).map_err(|e| {
        ClientError::Usage(format!("cannot read {}: {e}", args.questions.display()))
    })?;
    let ws = workspace::require(ctx, &args.workspace).await?;
    let mut body = json!({
        "workspace_id": ws.id,
        "question_set": { "format": format, "content": content },
    });
    if let Some(t) = args.threshold {
        body["threshold"] = json!(t);
    }
    if let Some(c) = args.concurrency {
        body["concurrency"] = json!(c);
    }
    let (_, started): (_, Started) = ctx
        .api
        .post("/api/v1/questions/execute", &body)
        .await
        .map_err(|e| match e {
            ClientError::Server {
                status: 404,
                ref message,
                ..
            } if message == "route not found" => ClientError::Usage(format!(
                "the server at {} does not run question sets (it is older than this quire)",
                ctx.api.base_url()
            )),
            other => other,
        })?;
    remember_last_run(ctx, &started.job_id);
    println!(
        "run {}: {} question(s) from {} on workspace \"{}\"",
        started.job_id,
        started
            .total_questions
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into()),
        args.questions.display(),
        ws.name
    );

    let status_path = format!("/api/v1/questions/jobs/{}", started.job_id);
    let total = started.total_questions.unwrap_or(0);
    let mut progress = Progress::new("ask", total, "answered");
    let status = loop {
        let status: RunStatus = ctx.api.get(&status_path, &[]).await?;
        let total = status.total.unwrap_or(total);
        let message = format!(
            "{} passed, {} failed",
            status.passed.unwrap_or(0),
            status.failed.unwrap_or(0)
        );
        progress.update(status.answered.unwrap_or(0), total, &message);
        if is_finished(&status.status) {
            break status;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    progress.finish(&status.status);
    if status.status != "succeeded" {
        eprintln!(
            "error: run {} ended {}: {}",
            started.job_id,
            status.status,
            status.error.as_deref().unwrap_or("no reason given")
        );
        return Ok(2);
    }
    let rows = all_results(ctx, &started.job_id).await?;
    print_results(&rows);
    let threshold = args
        .threshold
        .or(status.threshold)
        .unwrap_or(DEFAULT_THRESHOLD);
    let rate = print_totals(&status, &rows, threshold);
    println!(
        "export: quire results {} --format csv (or json, xlsx --output FILE)",
        started.job_id
    );
    if rate < threshold {
        eprintln!(
            "the pass rate {} is under the threshold {}",
            percent(rate),
            percent(threshold)
        );
        return Ok(1);
    }
    Ok(0)
}

async fn all_results(ctx: &Context, job_id: &str) -> ClientResult<Vec<ResultRow>> {
    let path = format!("/api/v1/questions/jobs/{job_id}/results");
    let mut out = Vec::new();
    let mut offset = 0u64;
    loop {
        let query = [
            ("limit", "200".to_owned()),
            ("offset", offset.to_string()),
            ("format", "json".to_owned()),
        ];
        let page: Page<ResultRow> = ctx.api.get(&path, &query).await?;
        let n = page.items.len() as u64;
        out.extend(page.items);
        offset += n;
        if n == 0 || offset >= page.total {
            return Ok(out);
        }
    }
}

fn print_results(rows: &[ResultRow]) {
    print!("{}", results_table(rows));
}

/// Prints `N passed, M failed` and the pass rate; returns the pass rate.
fn print_totals(status: &RunStatus, rows: &[ResultRow], threshold: f64) -> f64 {
    let passed = rows.iter().filter(|r| r.success).count() as u64;
    let failed = rows.len() as u64 - passed;
    let passed = status.passed.unwrap_or(passed);
    let failed = status.failed.unwrap_or(failed);
    let rate = status.pass_rate.unwrap_or_else(|| {
        if passed + failed == 0 {
            0.0
        } else {
            passed as f64 / (passed + failed) as f64
        }
    });
    println!(
        "{passed} passed, {failed} failed; pass rate {} (threshold {})",
        percent(rate),
        percent(threshold)
    );
    rate
}

fn last_run_path(ctx: &Context) -> PathBuf {
    ctx.data_dir.join(LAST_RUN_FILE)
}

/// Notes the run for `quire results last`; a failure to write is not worth stopping for.
fn remember_last_run(ctx: &Context, job_id: &str) {
    let record = json!({ "url": ctx.api.base_url(), "job_id": job_id });
    let _ = std::fs::create_dir_all(&ctx.data_dir)
        .and_then(|()| std::fs::write(last_run_path(ctx), record.to_string()));
}

/// A job argument: an id as given, or `last`/`latest` for the last run started from here
/// against this server (else the newest question run the server has).
async fn resolve_job(ctx: &Context, wanted: &str) -> ClientResult<String> {
    if !matches!(wanted, "last" | "latest") {
        return Ok(wanted.to_owned());
    }
    if let Ok(text) = std::fs::read_to_string(last_run_path(ctx))
        && let Ok(record) = serde_json::from_str::<Value>(&text)
        && record["url"].as_str() == Some(ctx.api.base_url())
        && let Some(id) = record["job_id"].as_str()
    {
        return Ok(id.to_owned());
    }
    #[derive(Deserialize)]
    struct Job {
        id: String,
        #[serde(rename = "type")]
        job_type: String,
    }
    let page: Page<Job> = ctx
        .api
        .get("/api/v1/jobs", &[("limit", "100".to_owned())])
        .await?;
    page.items
        .into_iter()
        .find(|j| j.job_type.starts_with("question"))
        .map(|j| j.id)
        .ok_or_else(|| {
            ClientError::Usage("there is no question run yet: start one with `quire ask`".into())
        })
}

pub async fn results(ctx: &Context, args: &ResultsArgs) -> ClientResult<i32> {
    let job_id = resolve_job(ctx, &args.job).await?;
    let path = format!("/api/v1/questions/jobs/{job_id}/results");
    match args.format {
        ResultsFormat::Table => {
            let status: RunStatus = ctx
                .api
                .get(&format!("/api/v1/questions/jobs/{job_id}"), &[])
                .await?;
            let rows = all_results(ctx, &job_id).await?;
            let id = if status.id.is_empty() {
                &job_id
            } else {
                &status.id
            };
            let mut text = format!("run {id}: {}\n", status.status);
            text.push_str(&results_table(&rows));
            write_out(args.output.as_deref(), text.as_bytes())?;
            print_totals(
                &status,
                &rows,
                status.threshold.unwrap_or(DEFAULT_THRESHOLD),
            );
        }
        ResultsFormat::Json => {
            let rows: Vec<Value> = all_json_results(ctx, &job_id).await?;
            let mut text = serde_json::to_string_pretty(&rows)
                .map_err(|e| ClientError::Other(e.to_string()))?;
            text.push('\n');
            write_out(args.output.as_deref(), text.as_bytes())?;
        }
        ResultsFormat::Csv => {
            let bytes = ctx
                .api
                .get_bytes(&path, &[("format", "csv".to_owned())])
                .await?;
            write_out(args.output.as_deref(), &bytes)?;
        }
        ResultsFormat::Xlsx => {
            let Some(output) = &args.output else {
                return Err(ClientError::Usage(
                    "--format xlsx needs --output FILE (a spreadsheet is not for a terminal)"
                        .into(),
                ));
            };
            let bytes = ctx
                .api
                .get_bytes(&path, &[("format", "xlsx".to_owned())])
                .await?;
            write_out(Some(output), &bytes)?;
        }
    }
    if let Some(output) = &args.output {
        eprintln!("wrote {}", output.display());
    }
    Ok(0)
}

fn results_table(rows: &[ResultRow]) -> String {
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let answer = match (&r.error, &r.response) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(a)) => a.clone(),
                (None, None) => String::new(),
            };
            vec![
                r.question_id.clone(),
                if r.success { "pass" } else { "FAIL" }.to_owned(),
                r.confidence_score
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default(),
                shorten(&answer, ANSWER_CHARS),
            ]
        })
        .collect();
    table(&["question", "result", "confidence", "answer"], &table_rows)
}

async fn all_json_results(ctx: &Context, job_id: &str) -> ClientResult<Vec<Value>> {
    let path = format!("/api/v1/questions/jobs/{job_id}/results");
    let mut out = Vec::new();
    let mut offset = 0u64;
    loop {
        let query = [("limit", "200".to_owned()), ("offset", offset.to_string())];
        let page: Page<Value> = ctx.api.get(&path, &query).await?;
        let n = page.items.len() as u64;
        out.extend(page.items);
        offset += n;
        if n == 0 || offset >= page.total {
            return Ok(out);
        }
    }
}

fn write_out(output: Option<&Path>, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write;
    match output {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| ClientError::Usage(format!("cannot write {}: {e}", path.display()))),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| ClientError::Other(format!("cannot write the output: {e}")))
        }
    }
}

#[derive(Debug, Deserialize)]
struct Comparison {
    per_question: Vec<Delta>,
    totals: Value,
}

#[derive(Debug, Deserialize)]
struct Delta {
    question_id: String,
    change: String,
    #[serde(default)]
    before_confidence: Option<f64>,
    #[serde(default)]
    after_confidence: Option<f64>,
    #[serde(default)]
    confidence_delta: Option<f64>,
    #[serde(default)]
    answer_changed: bool,
    /// Whether it passed in the second run (`None` when it is not in it).
    #[serde(default)]
    after_success: Option<bool>,
}

impl Delta {
    /// In both runs, so there are two answers to compare.
    fn in_both_runs(&self) -> bool {
        self.change != "added" && self.change != "removed"
    }
}

pub async fn compare(ctx: &Context, before: &str, after: &str) -> ClientResult<i32> {
    let before = resolve_job(ctx, before).await?;
    let after = resolve_job(ctx, after).await?;
    let comparison: Comparison = ctx
        .api
        .get(
            &format!("/api/v1/questions/jobs/{before}/compare/{after}"),
            &[],
        )
        .await?;
    let confidence = |c: Option<f64>| c.map(|c| format!("{c:.2}")).unwrap_or("-".into());
    let flips: Vec<Vec<String>> = comparison
        .per_question
        .iter()
        .filter(|d| !d.change.starts_with("unchanged"))
        .map(|d| {
            vec![
                d.question_id.clone(),
                d.change.replace("_to_", " → ").replace('_', " "),
                confidence(d.before_confidence),
                confidence(d.after_confidence),
                d.confidence_delta
                    .map(|c| format!("{c:+.2}"))
                    .unwrap_or_default(),
                match (d.in_both_runs(), d.answer_changed) {
                    (false, _) => "-",
                    (true, true) => "yes",
                    (true, false) => "no",
                }
                .to_owned(),
            ]
        })
        .collect();
    println!("compare {before} → {after}");
    if flips.is_empty() {
        println!("no question changed between pass and fail");
    } else {
        print!(
            "{}",
            table(
                &[
                    "question",
                    "change",
                    "before",
                    "after",
                    "Δ confidence",
                    "answer changed"
                ],
                &flips
            )
        );
    }
    let t = &comparison.totals;
    let count = |k: &str| t[k].as_u64().unwrap_or(0);
    let rate = |k: &str| t[k].as_f64().map(percent).unwrap_or_else(|| "-".into());
    println!(
        "{} pass→fail, {} fail→pass, {} unchanged pass, {} unchanged fail, {} added, {} removed; \
         pass rate {} → {}",
        count("pass_to_fail"),
        count("fail_to_pass"),
        count("unchanged_pass"),
        count("unchanged_fail"),
        count("added"),
        count("removed"),
        rate("pass_rate_before"),
        rate("pass_rate_after"),
    );
    // Bad news is what a CI gate should stop on: a question that went from pass to fail,
    // a question added in the second run that fails, or a lower pass rate.
    let regressions = comparison
        .per_question
        .iter()
        .filter(|d| d.change == "pass_to_fail")
        .count() as u64;
    let new_failures = comparison
        .per_question
        .iter()
        .filter(|d| d.change == "added" && d.after_success == Some(false))
        .count();
    let rate_fell = match (
        t["pass_rate_before"].as_f64(),
        t["pass_rate_after"].as_f64(),
    ) {
        (Some(before), Some(after)) => after < before,
        _ => false,
    };
    Ok(
        if regressions.max(count("pass_to_fail")) > 0 || new_failures > 0 || rate_fell {
            1
        } else {
            0
        },
    )
}
