//! Damaged, encrypted and nested archives: refused, never a panic.

mod common;

use std::ops::ControlFlow;

use common::{
    RawEntry, child_extractor, find, judge_bytes, judge_zip, raw_zip, small_limits,
    try_judge_bytes, zip_of,
};
use quire_ingest::{RejectReason, judge_bundle};

const CSV: &[u8] = b"item,price\nChair,120.00\nDesk,340.50\n";

#[test]
fn entry_with_the_zipcrypto_flag_set_is_rejected_as_encrypted() {
    let mut bytes = zip_of(&[("secret.csv", CSV), ("open.csv", CSV)]);
    // General-purpose bit 0 in the first local header and its central record.
    bytes[6] |= 1;
    let central = find(&bytes, b"PK\x01\x02");
    bytes[central + 8] |= 1;
    let outcome = judge_zip(&bytes);
    outcome.assert_rejected("secret.csv", RejectReason::Encrypted);
    outcome.assert_accepted("open.csv");
}

#[test]
fn stored_entry_whose_data_was_altered_is_rejected_as_corrupt_by_its_crc() {
    let mut bytes = raw_zip(&[RawEntry::stored("prices.csv", CSV)]);
    let at = find(&bytes, b"Chair");
    bytes[at] = b'H';
    let outcome = judge_zip(&bytes);
    outcome.assert_rejected("prices.csv", RejectReason::CorruptEntry);
    let message = outcome
        .entry("prices.csv")
        .message
        .clone()
        .unwrap_or_default();
    assert!(message.contains("CRC-32"), "{message}");
}

#[test]
fn deflated_entry_with_a_wrong_crc_is_rejected_as_corrupt() {
    let mut entry = RawEntry::deflated("prices.csv", CSV);
    entry.crc ^= 0xdead_beef;
    judge_zip(&raw_zip(&[entry])).assert_rejected("prices.csv", RejectReason::CorruptEntry);
}

#[test]
fn entry_with_truncated_deflate_data_is_rejected_as_corrupt() {
    let mut entry = RawEntry::deflated("prices.csv", &CSV.repeat(50));
    entry.data.truncate(entry.data.len() / 2);
    judge_zip(&raw_zip(&[entry])).assert_rejected("prices.csv", RejectReason::CorruptEntry);
}

#[test]
fn entry_whose_data_runs_past_the_end_of_the_archive_is_rejected_as_corrupt() {
    let mut bytes = raw_zip(&[
        RawEntry::stored("a.csv", CSV),
        RawEntry::stored("b.csv", CSV),
    ]);
    // Claim a compressed size far larger than the file in b.csv's central record.
    let second = find(&bytes, b"PK\x01\x02") + 46 + "a.csv".len();
    assert_eq!(&bytes[second..second + 4], b"PK\x01\x02");
    bytes[second + 20..second + 24].copy_from_slice(&1_000_000u32.to_le_bytes());
    let outcome = judge_zip(&bytes);
    outcome.assert_accepted("a.csv");
    outcome.assert_rejected("b.csv", RejectReason::CorruptEntry);
}

#[test]
fn entry_whose_local_header_is_garbage_is_rejected_as_corrupt() {
    let mut bytes = raw_zip(&[
        RawEntry::stored("a.csv", CSV),
        RawEntry::stored("b.csv", CSV),
    ]);
    let second_local = find(&bytes[4..], b"PK\x03\x04") + 4;
    bytes[second_local..second_local + 4].copy_from_slice(b"XXXX");
    let outcome = judge_zip(&bytes);
    outcome.assert_accepted("a.csv");
    outcome.assert_rejected("b.csv", RejectReason::CorruptEntry);
}

#[test]
fn truncated_archive_fails_as_a_whole_with_corrupt_archive() {
    let bytes = zip_of(&[("a.csv", CSV), ("b.csv", CSV)]);
    let cut = &bytes[..bytes.len() / 2];
    match try_judge_bytes(cut, "bundle.zip", &small_limits()) {
        Ok(outcome) => panic!("a truncated archive was judged: {:#?}", outcome.report),
        Err(error) => {
            assert_eq!(error.reason.code(), "corrupt_archive", "{error}");
            assert!(error.judged_so_far.entries.is_empty());
        }
    }
}

#[test]
fn archive_with_a_mangled_central_directory_fails_without_panicking() {
    let mut bytes = zip_of(&[("a.csv", CSV), ("b.csv", CSV)]);
    let central = find(&bytes, b"PK\x01\x02");
    for byte in &mut bytes[central + 10..central + 40] {
        *byte = 0xff;
    }
    match try_judge_bytes(&bytes, "bundle.zip", &small_limits()) {
        Ok(outcome) => {
            // The reader may still make sense of the directory; it must not
            // accept the mangled entry.
            assert_eq!(outcome.report.counts.accepted, 1, "{:#?}", outcome.report);
        }
        Err(error) => assert_eq!(error.reason.code(), "corrupt_archive", "{error}"),
    }
}

#[test]
fn random_bytes_after_a_zip_signature_fail_as_corrupt_archive() {
    let mut bytes = b"PK\x03\x04".to_vec();
    let mut state = 0x1234_5678u32;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.push(state as u8);
    }
    match try_judge_bytes(&bytes, "bundle.zip", &small_limits()) {
        Ok(outcome) => panic!("random bytes were judged: {:#?}", outcome.report),
        Err(error) => assert_eq!(error.reason.code(), "corrupt_archive"),
    }
}

#[test]
fn nested_zip_is_rejected_as_nested_archive_by_name_and_by_magic_bytes() {
    let inner = zip_of(&[("inner.csv", CSV)]);
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec();
    let outcome = judge_zip(&zip_of(&[
        ("inner.zip", &inner),
        ("disguised.pdf", &inner),
        ("disguised.csv", &gzip),
        ("data.tar.gz", &gzip),
    ]));
    outcome.assert_rejected("inner.zip", RejectReason::NestedArchive);
    outcome.assert_rejected("disguised.pdf", RejectReason::NestedArchive);
    outcome.assert_rejected("disguised.csv", RejectReason::NestedArchive);
    outcome.assert_rejected("data.tar.gz", RejectReason::NestedArchive);
}

#[test]
fn entry_compressed_with_an_unsupported_method_is_rejected() {
    let mut entry = RawEntry::stored("prices.csv", CSV);
    // 12 is bzip2, which this crate does not build in.
    entry.method = 12;
    judge_zip(&raw_zip(&[entry]))
        .assert_rejected("prices.csv", RejectReason::UnsupportedCompression);
}

#[test]
fn empty_archive_gives_an_empty_report() {
    let outcome = judge_zip(&zip_of(&[]));
    assert!(outcome.report.entries.is_empty());
    assert_eq!(outcome.report.counts.accepted, 0);
}

#[test]
fn empty_entry_is_rejected_as_empty_file() {
    judge_zip(&zip_of(&[("blank.csv", b"")])).assert_rejected("blank.csv", RejectReason::EmptyFile);
}

#[test]
fn a_failing_callback_stops_judging_and_keeps_the_entries_judged_so_far() {
    let bytes = zip_of(&[("a.csv", CSV), ("b.csv", CSV), ("c.csv", CSV)]);
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("no temp dir") };
    let path = dir.path().join("bundle.zip");
    assert!(std::fs::write(&path, &bytes).is_ok());
    let mut calls = 0;
    let result = judge_bundle(&path, &small_limits(), &child_extractor(), |_| {
        calls += 1;
        if calls == 2 {
            return Err("storage is full".into());
        }
        Ok(ControlFlow::Continue(()))
    });
    match result {
        Ok(report) => panic!("judging went on: {report:#?}"),
        Err(error) => {
            assert_eq!(error.reason.code(), "callback_failed");
            assert!(error.to_string().contains("storage is full"), "{error}");
            assert_eq!(error.judged_so_far.entries.len(), 2);
        }
    }
}

#[test]
fn breaking_from_the_callback_stops_between_entries() {
    let bytes = zip_of(&[("a.csv", CSV), ("b.csv", CSV), ("c.csv", CSV)]);
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("bundle.zip");
    assert!(std::fs::write(&path, &bytes).is_ok());
    let mut progress = Vec::new();
    let result = judge_bundle(&path, &small_limits(), &child_extractor(), |judged| {
        progress.push(judged.progress);
        Ok(if progress.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    });
    let Ok(report) = result else {
        panic!("judging failed")
    };
    assert!(report.stopped_early);
    assert_eq!(report.entries.len(), 2);
    assert_eq!(progress[0].entries_total, 3);
    assert_eq!(progress[0].entries_done, 1);
    assert_eq!(progress[1].entries_done, 2);
    assert!(progress[0].compressed_bytes_done <= progress[1].compressed_bytes_done);
    assert!(progress[1].compressed_bytes_done <= progress[1].compressed_bytes_total);
}

#[test]
fn progress_reaches_the_total_at_the_last_entry() {
    let bytes = zip_of(&[("a.csv", CSV), ("dir/", b""), ("b.json", b"{\"a\":1}")]);
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("bundle.zip");
    assert!(std::fs::write(&path, &bytes).is_ok());
    let mut last = None;
    let result = judge_bundle(&path, &small_limits(), &child_extractor(), |judged| {
        last = Some(judged.progress);
        Ok(ControlFlow::Continue(()))
    });
    assert!(result.is_ok());
    let Some(last) = last else {
        panic!("no callback")
    };
    assert_eq!(last.entries_done, last.entries_total);
    assert_eq!(last.compressed_bytes_done, last.compressed_bytes_total);
}

#[test]
fn archive_larger_than_the_archive_limit_is_refused_before_opening() {
    let bytes = zip_of(&[("a.csv", CSV)]);
    let limits = quire_ingest::Limits {
        max_archive_bytes: 10,
        ..small_limits()
    };
    match try_judge_bytes(&bytes, "bundle.zip", &limits) {
        Ok(_) => panic!("an oversized archive was opened"),
        Err(error) => assert_eq!(error.reason.code(), "archive_too_large"),
    }
    let _ = judge_bytes(&bytes, "bundle.zip", &small_limits());
}
