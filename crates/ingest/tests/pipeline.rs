//! PDFs are extracted concurrently while the archive is read on; the caller
//! must still see every entry once, in archive order, and a stop must hold.
//! A stand-in extraction child (a shell script speaking the child protocol)
//! makes each PDF as slow, crashing or hanging as the test needs.

mod common;

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{small_limits, zip_of};
use quire_ingest::{
    BundleReport, EntryFlag, Limits, PdfChildCommand, PdfExtractor, RejectReason, Verdict,
    judge_upload,
};

/// Answers for the "PDF" on stdin by its markers: `ID<n>` becomes the page
/// text, `SLOW` waits 0.4 s first, `CRASH` dies of SIGSEGV, `HANG` sleeps.
const STAND_IN: &str = r#"input=$(cat)
case "$input" in *CRASH*) kill -SEGV $$ ;; esac
case "$input" in *HANG*) sleep 30 ;; esac
case "$input" in *SLOW*) sleep 0.4 ;; esac
id=$(printf %s "$input" | grep -o 'ID[0-9]*' | head -n 1)
printf '{"status":"text","page_count":1,"pages":[{"number":1,"text":"%s"}],"failed_pages":[],"pages_truncated":false,"text_truncated":false}' "$id"
"#;

fn stand_in() -> PdfExtractor {
    PdfExtractor::Child(PdfChildCommand::new("sh").arg("-c").arg(STAND_IN))
}

fn fake_pdf(id: usize, marker: &str) -> Vec<u8> {
    format!("%PDF-1.4 ID{id} {marker}").into_bytes()
}

fn limits(workers: usize) -> Limits {
    Limits {
        pdf_workers: workers,
        pdf_timeout: Duration::from_millis(1500),
        ..small_limits()
    }
}

struct Run {
    report: BundleReport,
    /// (path, page text) in the order the callback saw them.
    seen: Vec<(String, Option<String>)>,
    elapsed: Duration,
}

fn judge(
    files: &[(String, Vec<u8>)],
    limits: &Limits,
    stop_after: Option<usize>,
) -> Result<Run, Box<quire_ingest::BundleError>> {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let named: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let path = dir.path().join("bundle.zip");
    assert!(std::fs::write(&path, zip_of(&named)).is_ok());
    run(&path, limits, stop_after)
}

fn run(
    path: &Path,
    limits: &Limits,
    stop_after: Option<usize>,
) -> Result<Run, Box<quire_ingest::BundleError>> {
    let mut seen = Vec::new();
    let started = Instant::now();
    let result = judge_upload(path, "bundle.zip", limits, &stand_in(), |judged| {
        let text = judged
            .content
            .map(|content| content.pages.into_iter().map(|p| p.text).collect());
        seen.push((judged.report.path.clone(), text));
        if stop_after.is_some_and(|n| seen.len() >= n) {
            return Ok(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    });
    let elapsed = started.elapsed();
    result
        .map(|report| Run {
            report,
            seen,
            elapsed,
        })
        .map_err(Box::new)
}

#[test]
fn concurrent_extraction_delivers_entries_in_archive_order() {
    // Slow PDFs first, fast ones and non-PDFs after: extraction finishes in
    // another order than the archive's.
    let mut files = Vec::new();
    for i in 0..12 {
        let (name, bytes) = match i % 4 {
            0 => (format!("{i:02}-slow.pdf"), fake_pdf(i, "SLOW")),
            1 => (format!("{i:02}-fast.pdf"), fake_pdf(i, "")),
            2 => (format!("{i:02}.csv"), b"a,b\n1,2\n".to_vec()),
            _ => (format!("{i:02}.exe"), b"MZ".to_vec()),
        };
        files.push((name, bytes));
    }
    let Ok(run) = judge(&files, &limits(4), None) else {
        panic!("judging failed")
    };
    let order: Vec<&str> = run.seen.iter().map(|(path, _)| path.as_str()).collect();
    let expected: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(order, expected);
    let reported: Vec<&str> = run.report.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(reported, expected);
    // Each PDF got its own text, not a neighbour's.
    for (i, (path, text)) in run.seen.iter().enumerate() {
        if path.ends_with(".pdf") {
            assert_eq!(text.as_deref(), Some(format!("ID{i}").as_str()), "{path}");
        }
    }
    assert_eq!(run.report.counts.accepted, 9);
    assert_eq!(run.report.counts.rejected, 3);
    // Three slow PDFs of 0.4 s each, extracted side by side.
    assert!(
        run.elapsed < Duration::from_millis(1100),
        "{:?}: the slow PDFs were not extracted concurrently",
        run.elapsed
    );
}

#[test]
fn a_stop_between_entries_hands_over_nothing_read_ahead() {
    let files: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| {
            // Everything after the third entry would hang until the timeout.
            let marker = if i < 3 { "" } else { "HANG" };
            (format!("{i:02}.pdf"), fake_pdf(i, marker))
        })
        .collect();
    let limits = Limits {
        pdf_timeout: Duration::from_secs(20),
        ..limits(2)
    };
    let Ok(run) = judge(&files, &limits, Some(3)) else {
        panic!("judging failed")
    };
    assert!(run.report.stopped_early);
    assert_eq!(run.seen.len(), 3);
    assert_eq!(run.report.entries.len(), 3);
    for (i, (path, text)) in run.seen.iter().enumerate() {
        assert_eq!(path, &format!("{i:02}.pdf"));
        assert_eq!(text.as_deref(), Some(format!("ID{i}").as_str()));
    }
    // The extractions read ahead were killed, not waited for.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn a_crashing_or_hanging_extraction_does_not_touch_its_neighbours() {
    let markers = ["", "CRASH", "", "HANG", "", "SLOW", "CRASH", ""];
    let files: Vec<(String, Vec<u8>)> = markers
        .iter()
        .enumerate()
        .map(|(i, marker)| (format!("{i:02}.pdf"), fake_pdf(i, marker)))
        .collect();
    let Ok(run) = judge(&files, &limits(2), None) else {
        panic!("judging failed")
    };
    assert_eq!(run.report.entries.len(), markers.len());
    for (i, marker) in markers.iter().enumerate() {
        let entry = &run.report.entries[i];
        assert_eq!(entry.path, format!("{i:02}.pdf"));
        match *marker {
            "CRASH" => assert_eq!(
                entry.reason,
                Some(RejectReason::UnreadablePdf),
                "{entry:#?}"
            ),
            "HANG" => assert_eq!(entry.reason, Some(RejectReason::PdfTimeout), "{entry:#?}"),
            _ => {
                assert_eq!(entry.verdict, Verdict::Accepted, "{entry:#?}");
                assert!(!entry.flags.contains(&EntryFlag::NoText));
                assert_eq!(
                    run.seen[i].1.as_deref(),
                    Some(format!("ID{i}").as_str()),
                    "{entry:#?}"
                );
            }
        }
    }
}

#[test]
fn one_worker_still_judges_every_entry_in_order() {
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("{i}.pdf"), fake_pdf(i, "")))
        .collect();
    let Ok(run) = judge(&files, &limits(1), None) else {
        panic!("judging failed")
    };
    let order: Vec<&str> = run.seen.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(order, ["0.pdf", "1.pdf", "2.pdf", "3.pdf", "4.pdf"]);
}

#[test]
fn a_failing_callback_stops_judging_with_only_earlier_entries_delivered() {
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("{i}.pdf"), fake_pdf(i, "")))
        .collect();
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let named: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let path = dir.path().join("bundle.zip");
    assert!(std::fs::write(&path, zip_of(&named)).is_ok());
    let mut seen = Vec::new();
    let result = judge_upload(&path, "bundle.zip", &limits(2), &stand_in(), |judged| {
        seen.push(judged.report.path.clone());
        if seen.len() == 2 {
            return Err("storage is down".into());
        }
        Ok(ControlFlow::Continue(()))
    });
    match result {
        Ok(report) => panic!("judging went on: {report:#?}"),
        Err(error) => {
            assert_eq!(error.reason.code(), "callback_failed");
            assert_eq!(error.judged_so_far.entries.len(), 2);
        }
    }
    assert_eq!(seen, ["0.pdf", "1.pdf"]);
}
