//! Fuzz targets on the stable toolchain (issue 20, Build 2): a small mutation-based
//! driver (no coverage feedback, no nightly) over the parsers that take untrusted input.
//!
//! | target | what it feeds |
//! |---|---|
//! | `zip` | a ZIP bundle to `quire_ingest::judge_bundle` (PDFs in a confined child, as served) |
//! | `text` | a CSV or JSON file (first byte picks) to `quire_ingest::judge_file` |
//! | `questions` | a question set as JSON, CSV or promptfoo YAML (first byte picks) to `quire_evals::parse` |
//! | `scoring` | an answer (first line) and expected fragments (other lines) to `quire_evals::score` |
//! | `statements` | page text (pages split by form feeds) to `quire_statements::analyze` |
//! | `templates` | a prompt template to `PromptTemplate::parse`, then `render` |
//!
//! `cargo test --test fuzz` replays every seed in `tests/fuzz/corpus/<target>/` and every
//! input that once crashed, kept in `tests/fuzz/regressions/<target>/`: any panic fails.
//! With `QUIRE_FUZZ_SECONDS=N` it then mutates the seeds for N seconds per target (two
//! targets at a time), and fails on any panic, saving the input to
//! `target/fuzz-crashes/<target>/` (`scripts/fuzz.sh` runs it). `QUIRE_FUZZ_TARGETS=a,b`
//! chooses targets; `QUIRE_FUZZ_SEED` fixes the random seed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use quire::templates::model::{DocumentVars, PageVar, PromptTemplate, RenderContext};
use quire_evals::{ExpectedFragment, Question, SetFormat};
use quire_ingest::{Limits, PdfChildCommand, PdfExtractor};

type Target = fn(&[u8], &Scratch);

/// What a target may use between inputs: a directory of its own and the PDF extractor.
struct Scratch {
    dir: tempfile::TempDir,
    pdf: PdfExtractor,
}

const TARGETS: &[(&str, Target)] = &[
    ("zip", fuzz_zip),
    ("text", fuzz_text),
    ("questions", fuzz_questions),
    ("scoring", fuzz_scoring),
    ("statements", fuzz_statements),
    ("templates", fuzz_templates),
];

/// Byte strings the mutator splices in, per target: the tokens its parser cares about.
fn dictionary(target: &str) -> &'static [&'static [u8]] {
    match target {
        "zip" => &[
            b"PK\x03\x04",
            b"PK\x01\x02",
            b"PK\x05\x06",
            b"PK\x06\x06",
            b"\xff\xff\xff\xff",
            b"../",
            b"/",
            b"\x00",
            b"%PDF-1.4",
        ],
        "text" => &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b"\\u0000",
            b"\\ud800",
            b",",
            b"\n",
            b"\r\n",
            b";",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"=cmd|",
            b"1e999",
        ],
        "questions" => &[
            b"{",
            b"}",
            b"\"questions\"",
            b"\"expected_fragments\"",
            b"\"assertions\"",
            b"\"type\"",
            b"\"weight\"",
            b"tests:",
            b"  - vars:",
            b"assert:",
            b"- type: contains",
            b"value:",
            b"id,question,expected_fragments",
            b"|",
            b"&a",
            b"*a",
            b"!!binary",
        ],
        "scoring" => &[
            b"1,000.50",
            b"1.000,50",
            b"1 000",
            b"-0",
            b"(12)",
            b"1e308",
            b"9999999999999999999999",
            b"31/12/2024",
            b"2024-02-30",
            b"December 31, 2024",
            b"31. Dezember 2024",
            b"%",
            b"\xe2\x82\xac",
            b"$",
            b"\n",
            b"\xcc\x81",
            b"\xef\xac\x81",
        ],
        "statements" => &[
            b"\x0c",
            b"Total",
            b"Balance Sheet",
            b"Income Statement",
            b"Cash Flows",
            b"(1,234)",
            b"-",
            b"2024",
            b"in thousands",
            b"$",
            b"  ",
            b"\n",
            b"\xe2\x80\x94",
        ],
        "templates" => &[
            b"{{",
            b"}}",
            b"{%",
            b"%}",
            b"{#",
            b"#}",
            b"document.content",
            b"document.pages",
            b"variables.x",
            b"language",
            b"for p in document.pages",
            b"endfor",
            b"if ",
            b"endif",
            b"|",
            b"truncate(",
            b"loop.index",
            b"set ",
            b"macro ",
            b"endmacro",
            b"~",
        ],
        _ => &[],
    }
}

fn fuzz_zip(data: &[u8], scratch: &Scratch) {
    let path = scratch.dir.path().join("bundle.zip");
    std::fs::write(&path, data).expect("scratch file");
    let limits = small_limits();
    let _ = quire_ingest::judge_bundle(&path, &limits, &scratch.pdf, |judged| {
        let _ = judged.report.path.len();
        Ok(ControlFlow::Continue(()))
    });
}

fn fuzz_text(data: &[u8], scratch: &Scratch) {
    let (name, body) = match data.split_first() {
        Some((b, rest)) if b.is_multiple_of(2) => ("data.json", rest),
        Some((_, rest)) => ("data.csv", rest),
        None => ("data.csv", data),
    };
    let path = scratch.dir.path().join(name);
    std::fs::write(&path, body).expect("scratch file");
    let limits = small_limits();
    let _ = quire_ingest::judge_file(&path, name, &limits, &scratch.pdf, |judged| {
        if let Some(content) = judged.content {
            let _ = content.bytes.len();
        }
        Ok(ControlFlow::Continue(()))
    });
}

fn fuzz_questions(data: &[u8], _: &Scratch) {
    let (format, body) = match data.split_first() {
        Some((b, rest)) => (
            match b % 3 {
                0 => SetFormat::Json,
                1 => SetFormat::Csv,
                _ => SetFormat::Yaml,
            },
            rest,
        ),
        None => (SetFormat::Json, data),
    };
    let text = String::from_utf8_lossy(body);
    if let Ok(set) = quire_evals::parse(format, &text) {
        // What the service does next with a parsed set: score an answer against each.
        for question in set.questions.iter().take(20) {
            let _ = quire_evals::score(&question.text, &[], question, 0.8);
        }
    }
}

fn fuzz_scoring(data: &[u8], _: &Scratch) {
    // The last four bytes (when there are more than four) choose the threshold and
    // weights; the text before them is the answer (first line) and fragments.
    let split = data.len().saturating_sub(4);
    let (text, knobs) = if data.len() > 4 {
        (&data[..split], &data[split..])
    } else {
        (data, &[][..])
    };
    let mut u = Unstructured::new(knobs);
    let threshold = f64::from(u.int_in_range(0u8..=100).unwrap_or(80)) / 100.0;
    let weight = f64::from(u.int_in_range(1u8..=10).unwrap_or(1));
    let text = String::from_utf8_lossy(text);
    let mut lines = text.split('\n');
    let answer = lines.next().unwrap_or_default();
    let mut question = Question::new("q1", "What is the amount?");
    for line in lines.take(8) {
        let mut parts = line.split('|');
        let main = parts.next().unwrap_or_default();
        question.expected_fragments.push(
            ExpectedFragment::new(main)
                .with_weight(weight)
                .with_alternatives(parts.take(4)),
        );
    }
    let score = quire_evals::score(answer, &[], &question, threshold);
    assert!(
        score.confidence.is_finite() && (0.0..=1.0).contains(&score.confidence),
        "confidence out of range: {}",
        score.confidence
    );
}

fn fuzz_statements(data: &[u8], _: &Scratch) {
    let text = String::from_utf8_lossy(data);
    let pages = quire_statements::split_pages(&text);
    let analysis = quire_statements::analyze(&pages);
    let _ = serde_json::to_string(&analysis.statements);
}

fn fuzz_templates(data: &[u8], _: &Scratch) {
    let source = String::from_utf8_lossy(data);
    let Ok(template) = PromptTemplate::parse(&source) else {
        return;
    };
    let context = RenderContext {
        document: DocumentVars {
            id: "doc-1".into(),
            title: "Master services agreement".into(),
            content: "Payment within 30 days.\u{c}Liability capped at EUR 1,000,000.".into(),
            source_type: "pdf".into(),
            pages: vec![
                PageVar {
                    number: 1,
                    text: "Payment within 30 days.".into(),
                },
                PageVar {
                    number: 2,
                    text: "Liability capped at EUR 1,000,000.".into(),
                },
            ],
            page_count: 2,
        },
        language: Some("en".into()),
        variables: BTreeMap::from([("x".to_owned(), serde_json::json!("value"))]),
    };
    let _ = template.render(&context);
}

/// Limits small enough that an input cannot take long: a few entries, small files.
fn small_limits() -> Limits {
    Limits {
        max_entries: 64,
        max_file_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        pdf_timeout: Duration::from_secs(5),
        pdf_workers: 1,
        ..Limits::default()
    }
}

// ---------------------------------------------------------------- the driver

thread_local! {
    /// The message of the last panic on this thread, set by the hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A small, fast, seedable generator (xorshift64*): the same seed, the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(input: &mut Vec<u8>, rng: &mut Rng, pool: &[Vec<u8>], dict: &[&[u8]], max_len: usize) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                // Repeat a slice, as nesting or long runs do.
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let copy = input[i..i + n].to_vec();
                let times = 1 + rng.below(16);
                let at = rng.below(len + 1);
                input.splice(at..at, copy.repeat(times));
            }
            5 if !pool.is_empty() => {
                // Splice: our head, another seed's tail.
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 | 7 if !dict.is_empty() => {
                let token = dict[rng.below(dict.len())];
                let i = rng.below(len + 1);
                input.splice(i..i, token.iter().copied());
            }
            8 if len > 0 => {
                // Interesting integers at a random offset (lengths, counts, offsets).
                let i = rng.below(len);
                let value: u32 =
                    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, u32::MAX][rng.below(8)];
                let bytes = value.to_le_bytes();
                for (k, b) in bytes.iter().enumerate() {
                    if i + k < input.len() {
                        input[i + k] = *b;
                    }
                }
            }
            _ => {}
        }
    }
    input.truncate(max_len);
}

fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable seed");
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Runs one input; `Some(message)` when it panicked.
fn run_one(target: Target, data: &[u8], scratch: &Scratch) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| target(data, scratch))) {
        Ok(()) => None,
        Err(_) => Some(
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "a panic".into()),
        ),
    }
}

fn scratch() -> Scratch {
    let pdf = PdfExtractor::Child(PdfChildCommand::current_exe().expect("current exe"));
    Scratch {
        dir: tempfile::tempdir().expect("scratch dir"),
        pdf,
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// Replays the seeds and the past crashes of `name`; returns the failures.
fn replay(name: &str, target: Target) -> (usize, Vec<String>) {
    let scratch = scratch();
    let mut failures = Vec::new();
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for (path, bytes) in read_dir_files(&fuzz_dir().join(kind).join(name)) {
            count += 1;
            if let Some(message) = run_one(target, &bytes, &scratch) {
                failures.push(format!("{name}: {} panicked: {message}", path.display()));
            }
        }
    }
    (count, failures)
}

struct FuzzOutcome {
    executions: u64,
    crashes: Vec<String>,
}

fn fuzz(name: &str, target: Target, budget: Duration, seed: u64) -> FuzzOutcome {
    let scratch = scratch();
    let mut pool: Vec<Vec<u8>> = read_dir_files(&fuzz_dir().join("corpus").join(name))
        .into_iter()
        .chain(read_dir_files(&fuzz_dir().join("regressions").join(name)))
        .map(|(_, b)| b)
        .collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let seeds = pool.len();
    let max_len = pool.iter().map(Vec::len).max().unwrap_or(0).max(256) * 2;
    let dict = dictionary(name);
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut executions = 0u64;
    let mut crashes = Vec::new();
    let crash_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-crashes")
        .join(name);
    while started.elapsed() < budget && crashes.len() < 5 {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut input, &mut rng, &pool, dict, max_len);
        let one = Instant::now();
        let outcome = run_one(target, &input, &scratch);
        executions += 1;
        if let Some(message) = outcome {
            std::fs::create_dir_all(&crash_dir).expect("crash dir");
            let file = crash_dir.join(format!("crash-{:016x}", fnv(&input)));
            std::fs::write(&file, &input).expect("crash file");
            crashes.push(format!(
                "{name}: {message} (input saved to {})",
                file.display()
            ));
            continue;
        }
        let took = one.elapsed();
        if took > Duration::from_secs(3) {
            eprintln!("fuzz {name}: one input took {took:?}");
        }
        // Keep a few mutants as new starting points, so mutations can stack up.
        if pool.len() < seeds + 64 && rng.below(50) == 0 {
            pool.push(input);
        } else if pool.len() >= seeds + 64 && rng.below(50) == 0 {
            let i = seeds + rng.below(64);
            pool[i] = input;
        }
    }
    FuzzOutcome {
        executions,
        crashes,
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn main() {
    // The PDF extraction child is a copy of this binary, as it is of `quire`.
    if quire_ingest::is_pdf_extraction_child() {
        std::process::exit(quire_ingest::run_pdf_extraction_child());
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{payload}{location}")));
    }));
    // `cargo test` passes filters and flags (`--quiet`, a test name): none apply here.
    let chosen: Vec<String> = std::env::var("QUIRE_FUZZ_TARGETS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|| TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect());
    for name in &chosen {
        assert!(
            TARGETS.iter().any(|(n, _)| n == name),
            "unknown fuzz target {name}"
        );
    }
    let targets: Vec<(&str, Target)> = TARGETS
        .iter()
        .filter(|(n, _)| chosen.iter().any(|c| c == n))
        .copied()
        .collect();

    let mut failures = Vec::new();
    for (name, target) in &targets {
        let (count, failed) = replay(name, *target);
        println!("fuzz {name}: replayed {count} seeds and past crashes");
        failures.extend(failed);
    }

    let seconds: u64 = std::env::var("QUIRE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if seconds > 0 && failures.is_empty() {
        let seed: u64 = std::env::var("QUIRE_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        println!("fuzz: {seconds} s per target, seed {seed} (QUIRE_FUZZ_SEED to repeat)");
        let results = Mutex::new(Vec::new());
        // Two targets at a time: the machines have two cores.
        for pair in targets.chunks(2) {
            std::thread::scope(|scope| {
                for (i, (name, target)) in pair.iter().enumerate() {
                    let results = &results;
                    let seed = seed
                        .wrapping_add(fnv(name.as_bytes()))
                        .wrapping_add(i as u64);
                    scope.spawn(move || {
                        let outcome = fuzz(name, *target, Duration::from_secs(seconds), seed);
                        println!(
                            "fuzz {name}: {} inputs in {seconds} s, {} crashes",
                            outcome.executions,
                            outcome.crashes.len()
                        );
                        results.lock().unwrap().extend(outcome.crashes);
                    });
                }
            });
        }
        failures.extend(results.into_inner().unwrap());
    }

    if failures.is_empty() {
        println!("fuzz: no panics");
    } else {
        for f in &failures {
            eprintln!("FAILED {f}");
        }
        eprintln!(
            "fuzz: {} failure(s); copy each saved input to tests/fuzz/regressions/<target>/ \
             once fixed",
            failures.len()
        );
        std::process::exit(1);
    }
}
