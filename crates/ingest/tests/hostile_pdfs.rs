//! PDFs built to crash, hang or exhaust the reader. Extraction runs in the
//! `quire-pdf-extract` child, so none of them may take the test process down.

mod common;

use std::time::{Duration, Instant};

use common::{
    PdfBuilder, child_extractor, encrypted_pdf, engines, judge_bytes_with, judge_zip_with,
    small_limits, text_pdf, zip_of,
};
use quire_ingest::{
    Limits, MupdfTool, PdfChildCommand, PdfError, PdfExtractor, PdfOutcome, PopplerTools,
    RejectReason, Verdict, extract_pdf_in_child, judge_upload,
};

fn child() -> PdfChildCommand {
    match child_extractor() {
        PdfExtractor::Child(command) => command,
        PdfExtractor::InProcess | PdfExtractor::Pdftotext(_) | PdfExtractor::Mupdf(_) => {
            unreachable!("the test extractor is a child")
        }
    }
}

fn quick_limits() -> Limits {
    Limits {
        pdf_timeout: Duration::from_secs(10),
        pdf_memory_bytes: 512 * 1024 * 1024,
        ..Limits::default()
    }
}

/// With every engine, a verdict came back (accepted or rejected): nothing
/// crashed or hung.
fn assert_judged_without_harm(pdf: &[u8]) -> Vec<quire_ingest::EntryReport> {
    let mut entries = Vec::new();
    for engine in engines() {
        let started = Instant::now();
        let outcome = judge_bytes_with(&engine, pdf, "hostile.pdf", &quick_limits());
        assert!(started.elapsed() < Duration::from_secs(15));
        let entry = outcome.entry("hostile.pdf").clone();
        if entry.verdict == Verdict::Rejected {
            assert!(
                matches!(
                    entry.reason,
                    Some(RejectReason::UnreadablePdf | RejectReason::PdfTimeout)
                ),
                "[{}] {entry:#?}",
                engine.engine_name()
            );
        }
        entries.push(entry);
    }
    entries
}

#[test]
fn pdf_encrypted_with_a_user_password_is_rejected_as_encrypted() {
    let pdf = encrypted_pdf(&text_pdf(&["Sealed bid"]), "s3cret");
    for engine in engines() {
        let outcome = judge_zip_with(&engine, &zip_of(&[("bid.pdf", &pdf)]));
        outcome.assert_rejected("bid.pdf", RejectReason::Encrypted);
    }
}

#[test]
fn pdf_with_a_broken_xref_table_is_judged_without_harm() {
    assert_judged_without_harm(&quire_ingest::fixtures::broken_xref_pdf());
    assert_judged_without_harm(&quire_ingest::fixtures::no_startxref_pdf());
}

#[test]
fn pdf_whose_page_tree_contains_itself_is_judged_without_harm() {
    assert_judged_without_harm(&quire_ingest::fixtures::page_tree_containing_itself_pdf());
}

#[test]
fn pdf_whose_page_inherits_from_a_parent_loop_is_judged_without_harm() {
    // No MediaBox anywhere and /Parent pointing in a circle: a reader that
    // walks up for inherited attributes never stops.
    assert_judged_without_harm(&quire_ingest::fixtures::parent_loop_pdf());
}

#[test]
fn pdf_whose_objects_reference_each_other_endlessly_is_judged_without_harm() {
    assert_judged_without_harm(&quire_ingest::fixtures::reference_loop_pdf());
}

#[test]
fn pdf_with_a_form_that_draws_itself_is_judged_without_harm() {
    assert_judged_without_harm(&quire_ingest::fixtures::self_drawing_form_pdf());
}

#[test]
fn pdf_claiming_two_billion_pages_reports_the_pages_it_really_has() {
    // The xref offsets after the edit are now off by a few bytes, as in many
    // real damaged files; the reader must cope or refuse, not crash.
    for entry in assert_judged_without_harm(&quire_ingest::fixtures::two_billion_pages_pdf()) {
        if entry.verdict == Verdict::Accepted {
            assert_eq!(entry.page_count, Some(1));
        }
    }
}

#[test]
fn pdf_with_a_decompression_bomb_stream_is_stopped_by_the_memory_or_time_limit() {
    let limits = Limits {
        max_file_bytes: 64 * 1024 * 1024,
        max_compression_ratio: u64::MAX,
        ..quick_limits()
    };
    let bomb = quire_ingest::fixtures::decompression_bomb_pdf();
    for engine in engines() {
        let started = Instant::now();
        let outcome = judge_bytes_with(&engine, &bomb, "bomb.pdf", &limits);
        assert!(started.elapsed() < Duration::from_secs(15));
        // lopdf inflates the whole stream and hits RLIMIT_AS; Poppler and
        // MuPDF read it as they go, holding little, so the wall-clock limit
        // stops them.
        let reason = match engine {
            PdfExtractor::Pdftotext(_) | PdfExtractor::Mupdf(_) => RejectReason::PdfTimeout,
            _ => RejectReason::UnreadablePdf,
        };
        outcome.assert_rejected("bomb.pdf", reason);
    }
}

/// Deterministic pseudo-random numbers (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut pdf = original.to_vec();
    for _ in 0..1 + rng.below(8) {
        match rng.below(5) {
            0 => {
                let at = rng.below(pdf.len());
                pdf[at] = rng.next() as u8;
            }
            1 => {
                let at = rng.below(pdf.len());
                pdf.truncate(at.max(8));
            }
            2 => {
                let at = rng.below(pdf.len());
                let len = rng.below(64);
                let end = (at + len).min(pdf.len());
                pdf.drain(at..end);
            }
            3 => {
                let at = rng.below(pdf.len());
                let junk: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                pdf.splice(at..at, junk);
            }
            _ => {
                let at = rng.below(pdf.len());
                let len = rng.below(128);
                let end = (at + len).min(pdf.len());
                let copy = pdf[at..end].to_vec();
                let to = rng.below(pdf.len());
                pdf.splice(to..to, copy);
            }
        }
    }
    pdf
}

#[test]
fn fifty_fuzzed_variants_of_a_valid_pdf_neither_crash_nor_hang_the_caller() {
    let original = text_pdf(&["Tender documents, volume 1", "Technical specification"]);
    let limits = quick_limits();
    for engine in engines() {
        let name = engine.engine_name();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut outcomes = [0usize; 4];
        for case in 0..50 {
            let pdf = mutate(&original, &mut rng);
            let started = Instant::now();
            let result = engine.extract(&pdf, &limits);
            assert!(
                started.elapsed() < limits.pdf_timeout + Duration::from_secs(5),
                "[{name}] case {case} overran"
            );
            match result {
                Ok(PdfOutcome::Text(_)) => outcomes[0] += 1,
                Ok(PdfOutcome::Encrypted | PdfOutcome::Unreadable { .. }) => outcomes[1] += 1,
                Err(PdfError::Crashed { .. } | PdfError::Timeout(_)) => outcomes[2] += 1,
                Err(e) => panic!("[{name}] case {case}: the engine could not be run properly: {e}"),
            }
            outcomes[3] += 1;
        }
        assert_eq!(outcomes[3], 50, "[{name}] {outcomes:?}");
    }
}

#[cfg(unix)]
#[test]
fn extraction_child_that_outlives_the_time_limit_is_killed() {
    let sleeper = PdfChildCommand::new("sh")
        .arg("-c")
        .arg("sleep 30; echo late");
    let limits = Limits {
        pdf_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = extract_pdf_in_child(&sleeper, b"%PDF-1.4", &limits);
    assert!(matches!(result, Err(PdfError::Timeout(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[cfg(unix)]
#[test]
fn extraction_child_timeout_becomes_a_pdf_timeout_rejection() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("upload");
    assert!(std::fs::write(&path, text_pdf(&["slow"])).is_ok());
    let sleeper = PdfExtractor::Child(PdfChildCommand::new("sh").arg("-c").arg("sleep 30"));
    let limits = Limits {
        pdf_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let result = judge_upload(&path, "slow.pdf", &limits, &sleeper, |_| {
        Ok(std::ops::ControlFlow::Continue(()))
    });
    let Ok(report) = result else {
        panic!("judging failed")
    };
    assert_eq!(report.entries[0].reason, Some(RejectReason::PdfTimeout));
}

#[cfg(unix)]
#[test]
fn extraction_child_runs_under_the_address_space_limit() {
    let probe = PdfChildCommand::new("sh")
        .arg("-c")
        .arg("ulimit -v >&2; exit 3");
    let limits = Limits {
        pdf_memory_bytes: 256 * 1024 * 1024,
        ..Limits::default()
    };
    match extract_pdf_in_child(&probe, b"%PDF-1.4", &limits) {
        Err(PdfError::Crashed { status, stderr }) => {
            assert_eq!(status, "exit code 3");
            assert_eq!(stderr.trim(), "262144");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn extraction_child_that_floods_its_output_is_stopped() {
    let flood = PdfChildCommand::new("sh").arg("-c").arg("yes");
    let limits = Limits {
        max_text_bytes: 1024,
        ..Limits::default()
    };
    let result = extract_pdf_in_child(&flood, b"%PDF-1.4", &limits);
    assert!(
        matches!(result, Err(PdfError::OutputTooLarge { .. })),
        "{result:?}"
    );
}

#[cfg(unix)]
#[test]
fn extraction_child_answering_garbage_is_a_bad_output_error() {
    let liar = PdfChildCommand::new("sh")
        .arg("-c")
        .arg("cat >/dev/null; echo not-json");
    let result = extract_pdf_in_child(&liar, &text_pdf(&["x"]), &Limits::default());
    assert!(matches!(result, Err(PdfError::BadOutput(_))), "{result:?}");
}

#[test]
fn missing_extraction_binary_stops_judging_as_extractor_unavailable() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("bundle.zip");
    let bytes = zip_of(&[("a.csv", b"x,y\n1,2\n"), ("b.pdf", &text_pdf(&["x"]))]);
    assert!(std::fs::write(&path, bytes).is_ok());
    let missing = PdfExtractor::Child(PdfChildCommand::new(dir.path().join("no-such-binary")));
    let result = judge_upload(&path, "bundle.zip", &small_limits(), &missing, |_| {
        Ok(std::ops::ControlFlow::Continue(()))
    });
    match result {
        Ok(report) => panic!("judging went on: {report:#?}"),
        Err(error) => {
            assert_eq!(error.reason.code(), "extractor_unavailable");
            assert_eq!(error.judged_so_far.entries.len(), 1);
        }
    }
}

#[test]
fn in_process_extraction_survives_a_pdf_that_makes_the_reader_panic() {
    // A Type0 font without descendant fonts makes pdf-extract panic.
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let font = pdf.add("<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H >>");
    let contents = pdf.stream("", b"BT /F1 12 Tf 72 700 Td <0001> Tj ET");
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 {font} 0 R >> >> /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    let bytes = pdf.build(catalog);
    let outcome = quire_ingest::extract_pdf_in_process(&bytes, &quick_limits());
    assert!(
        matches!(outcome, Ok(PdfOutcome::Unreadable { .. })),
        "{outcome:?}"
    );
    let child_outcome = extract_pdf_in_child(&child(), &bytes, &quick_limits());
    assert_eq!(child_outcome.ok(), outcome.ok());
}

#[cfg(unix)]
#[test]
fn extraction_child_leaving_a_process_behind_on_its_pipes_does_not_hang_the_caller() {
    let script = "cat >/dev/null; sleep 30 & echo '{\"status\":\"encrypted\"}'";
    let leaver = PdfChildCommand::new("sh").arg("-c").arg(script);
    let limits = Limits {
        pdf_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = extract_pdf_in_child(&leaver, b"%PDF-1.4", &limits);
    assert!(matches!(result, Ok(PdfOutcome::Encrypted)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A stand-in `pdftotext` (a shell script) in a temporary directory, to show
/// the pdftotext engine runs under the same confinement as the built-in one.
#[cfg(unix)]
fn fake_pdftotext(script: &str) -> (tempfile::TempDir, PdfExtractor) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("pdftotext");
    assert!(std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).is_ok());
    assert!(std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).is_ok());
    (dir, PdfExtractor::Pdftotext(PopplerTools::new(path)))
}

#[cfg(unix)]
#[test]
fn pdftotext_engine_runs_under_the_address_space_limit() {
    let (_dir, engine) = fake_pdftotext("cat >/dev/null; ulimit -v; printf '\\f'");
    let limits = Limits {
        pdf_memory_bytes: 256 * 1024 * 1024,
        ..Limits::default()
    };
    match engine.extract(b"%PDF-1.4", &limits) {
        Ok(PdfOutcome::Text(text)) => {
            assert_eq!(text.page_count, 1);
            assert_eq!(text.pages[0].text, "262144");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn pdftotext_engine_that_outlives_the_time_limit_is_killed() {
    let (_dir, engine) = fake_pdftotext("sleep 30; printf 'late\\f'");
    let limits = Limits {
        pdf_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = engine.extract(b"%PDF-1.4", &limits);
    assert!(matches!(result, Err(PdfError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let outcome = judge_bytes_with(&engine, &text_pdf(&["slow"]), "slow.pdf", &limits);
    outcome.assert_rejected("slow.pdf", RejectReason::PdfTimeout);
}

#[cfg(unix)]
#[test]
fn pdftotext_engine_flooding_its_output_is_cut_at_the_text_limit() {
    let (_dir, engine) = fake_pdftotext("yes");
    let limits = Limits {
        max_text_bytes: 1024,
        ..Limits::default()
    };
    let started = Instant::now();
    match engine.extract(b"%PDF-1.4", &limits) {
        Ok(PdfOutcome::Text(text)) => {
            assert!(text.text_truncated);
            let total: usize = text.pages.iter().map(|p| p.text.len()).sum();
            assert!(total <= 1024, "{total}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[cfg(unix)]
#[test]
fn pdftotext_engine_leaving_a_process_behind_on_its_pipes_does_not_hang_the_caller() {
    let (_dir, engine) = fake_pdftotext("cat >/dev/null; sleep 30 & printf 'done\\f'");
    let limits = Limits {
        pdf_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = engine.extract(b"%PDF-1.4", &limits);
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Ok(PdfOutcome::Text(text)) => assert_eq!(text.pages[0].text, "done"),
        other => panic!("unexpected {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn pdftotext_exit_codes_map_to_reasons() {
    let password = "cat >/dev/null; echo 'Command Line Error: Incorrect password' >&2; exit 1";
    let (_dir, engine) = fake_pdftotext(password);
    let result = engine.extract(b"%PDF-1.4", &Limits::default());
    assert!(matches!(result, Ok(PdfOutcome::Encrypted)), "{result:?}");

    let (_dir, engine) = fake_pdftotext("cat >/dev/null; exit 3");
    let result = engine.extract(b"%PDF-1.4", &Limits::default());
    assert!(matches!(result, Ok(PdfOutcome::Encrypted)), "{result:?}");

    let broken = "cat >/dev/null; echo \"Syntax Error: Couldn't read xref table\" >&2; exit 1";
    let (_dir, engine) = fake_pdftotext(broken);
    match engine.extract(b"%PDF-1.4", &Limits::default()) {
        Ok(PdfOutcome::Unreadable { detail }) => assert!(detail.contains("xref"), "{detail}"),
        other => panic!("unexpected {other:?}"),
    }

    let (_dir, engine) = fake_pdftotext("cat >/dev/null; kill -SEGV $$");
    let result = engine.extract(b"%PDF-1.4", &Limits::default());
    assert!(
        matches!(result, Err(PdfError::Crashed { .. })),
        "{result:?}"
    );
}

/// A stand-in `mutool` (a shell script) in a temporary directory, to show the
/// MuPDF engine runs under the same confinement as the others. `$1` is the
/// subcommand (`draw` for the text, `info` for the page count); the PDF is
/// readable at `/dev/stdin`.
#[cfg(unix)]
fn fake_mutool(script: &str) -> (tempfile::TempDir, PdfExtractor) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("mutool");
    assert!(std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).is_ok());
    assert!(std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).is_ok());
    (dir, PdfExtractor::Mupdf(MupdfTool::new(path)))
}

#[cfg(unix)]
#[test]
fn mupdf_engine_runs_under_the_address_space_limit_and_reads_the_pdf_from_a_seekable_stdin() {
    // `tail -c` seeks on a seekable input; the PDF's last bytes come back.
    let (_dir, engine) = fake_mutool("ulimit -v; tail -c 5 /dev/stdin; printf '\\f'");
    let limits = Limits {
        pdf_memory_bytes: 256 * 1024 * 1024,
        ..Limits::default()
    };
    match engine.extract(b"%PDF-1.4 hello", &limits) {
        Ok(PdfOutcome::Text(text)) => {
            assert_eq!(text.page_count, 1);
            assert_eq!(text.pages[0].text, "262144\nhello");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn mupdf_engine_that_outlives_the_time_limit_is_killed() {
    let (_dir, engine) = fake_mutool("sleep 30; printf 'late\\f'");
    let limits = Limits {
        pdf_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = engine.extract(b"%PDF-1.4", &limits);
    assert!(matches!(result, Err(PdfError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let outcome = judge_bytes_with(&engine, &text_pdf(&["slow"]), "slow.pdf", &limits);
    outcome.assert_rejected("slow.pdf", RejectReason::PdfTimeout);
}

#[cfg(unix)]
#[test]
fn mupdf_engine_flooding_its_output_is_cut_at_the_text_limit() {
    let (_dir, engine) = fake_mutool("yes");
    let limits = Limits {
        max_text_bytes: 1024,
        ..Limits::default()
    };
    let started = Instant::now();
    match engine.extract(b"%PDF-1.4", &limits) {
        Ok(PdfOutcome::Text(text)) => {
            assert!(text.text_truncated);
            let total: usize = text.pages.iter().map(|p| p.text.len()).sum();
            assert!(total <= 1024, "{total}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[cfg(unix)]
#[test]
fn mupdf_engine_leaving_a_process_behind_on_its_pipes_does_not_hang_the_caller() {
    let (_dir, engine) = fake_mutool("sleep 30 & printf 'done\\f'");
    let limits = Limits {
        pdf_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = engine.extract(b"%PDF-1.4", &limits);
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Ok(PdfOutcome::Text(text)) => assert_eq!(text.pages[0].text, "done"),
        other => panic!("unexpected {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn mupdf_exit_codes_map_to_reasons() {
    let password = "echo 'error: cannot authenticate password: /dev/stdin' >&2; exit 1";
    let (_dir, engine) = fake_mutool(password);
    let result = engine.extract(b"%PDF-1.4", &Limits::default());
    assert!(matches!(result, Ok(PdfOutcome::Encrypted)), "{result:?}");

    let broken = "echo 'error: cannot find startxref' >&2; exit 1";
    let (_dir, engine) = fake_mutool(broken);
    match engine.extract(b"%PDF-1.4", &Limits::default()) {
        Ok(PdfOutcome::Unreadable { detail }) => {
            assert!(detail.contains("cannot find startxref"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }

    let (_dir, engine) = fake_mutool("kill -SEGV $$");
    let result = engine.extract(b"%PDF-1.4", &Limits::default());
    assert!(
        matches!(result, Err(PdfError::Crashed { .. })),
        "{result:?}"
    );
}

#[cfg(unix)]
#[test]
fn mupdf_page_count_past_the_page_limit_comes_from_mutool_info() {
    // Two pages read (the limit), and `info` knows there are five.
    let script = r#"case "$1" in
  draw) printf 'one\f two\f' ;;
  info) printf '/dev/stdin:\n\nPDF-1.7\nPages: 5\n' ;;
esac"#;
    let (_dir, engine) = fake_mutool(script);
    let limits = Limits {
        pdf_max_pages: 2,
        ..Limits::default()
    };
    match engine.extract(b"%PDF-1.4", &limits) {
        Ok(PdfOutcome::Text(text)) => {
            assert_eq!(text.page_count, 5);
            assert_eq!(text.pages.len(), 2);
            assert!(text.pages_truncated);
        }
        other => panic!("unexpected {other:?}"),
    }
}
