//! Entry names and kinds that must never be extracted.

mod common;

use common::{RawEntry, judge_zip, raw_zip, zip_of};
use quire_ingest::{RejectReason, Verdict};

const CSV: &[u8] = b"item,price\nChair,120.00\n";

#[test]
fn zip_slip_entry_with_forward_slashes_is_rejected_as_path_traversal() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored(
        "docs/../../etc/cron.d/x.csv",
        CSV,
    )]));
    outcome.assert_rejected("docs/../../etc/cron.d/x.csv", RejectReason::PathTraversal);
}

#[test]
fn zip_slip_entry_with_backslashes_is_rejected_as_path_traversal() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored("..\\..\\evil.csv", CSV)]));
    outcome.assert_rejected("../../evil.csv", RejectReason::PathTraversal);
    assert_eq!(outcome.report.entries[0].original_name, "..\\..\\evil.csv");
}

#[test]
fn absolute_path_is_rejected_as_absolute_path() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored("/etc/passwd.csv", CSV)]));
    outcome.assert_rejected("/etc/passwd.csv", RejectReason::AbsolutePath);
}

#[test]
fn double_slash_path_is_rejected_as_a_network_share() {
    let outcome = judge_zip(&raw_zip(&[
        RawEntry::stored("//server/share/a.csv", CSV),
        RawEntry::stored("\\\\server\\share\\b.csv", CSV),
    ]));
    outcome.assert_rejected("//server/share/a.csv", RejectReason::UncPath);
    outcome.assert_rejected("//server/share/b.csv", RejectReason::UncPath);
}

#[test]
fn drive_letter_path_is_rejected_as_drive_letter() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored("C:\\Windows\\x.csv", CSV)]));
    outcome.assert_rejected("C:/Windows/x.csv", RejectReason::DriveLetter);
}

#[test]
fn control_characters_in_a_name_are_rejected_as_invalid_path() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored("a\u{0}b.csv", CSV)]));
    assert_eq!(
        outcome.report.entries[0].reason,
        Some(RejectReason::InvalidPath)
    );
}

#[test]
fn symlink_entry_is_rejected_as_symlink() {
    let mut link = RawEntry::stored("passwd.csv", b"/etc/passwd");
    link.external = 0o120_777 << 16;
    let outcome = judge_zip(&raw_zip(&[link]));
    outcome.assert_rejected("passwd.csv", RejectReason::Symlink);
}

#[test]
fn symlink_written_by_the_zip_crate_is_rejected_as_symlink() {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let written = writer
        .add_symlink("notes.csv", "/etc/shadow", options)
        .and_then(|()| writer.finish());
    let bytes = match written {
        Ok(cursor) => cursor.into_inner(),
        Err(e) => panic!("cannot write symlink: {e}"),
    };
    judge_zip(&bytes).assert_rejected("notes.csv", RejectReason::Symlink);
}

#[test]
fn names_that_collide_after_normalisation_are_all_rejected_as_duplicates() {
    let outcome = judge_zip(&raw_zip(&[
        RawEntry::stored("docs/prices.csv", CSV),
        RawEntry::stored("docs\\prices.csv", CSV),
        RawEntry::stored("./docs//prices.csv", CSV),
        RawEntry::stored("other.csv", CSV),
    ]));
    let duplicates: Vec<_> = outcome
        .report
        .entries
        .iter()
        .filter(|e| e.path == "docs/prices.csv")
        .collect();
    assert_eq!(duplicates.len(), 3);
    for entry in duplicates {
        assert_eq!(
            entry.reason,
            Some(RejectReason::DuplicateName),
            "{entry:#?}"
        );
    }
    outcome.assert_accepted("other.csv");
}

#[test]
fn exact_duplicate_names_hidden_by_the_zip_reader_are_still_reported() {
    let outcome = judge_zip(&raw_zip(&[
        RawEntry::stored("prices.csv", CSV),
        RawEntry::stored("prices.csv", b"item,price\nEvil,0\n"),
    ]));
    assert_eq!(
        outcome.report.entries.len(),
        2,
        "{:#?}",
        outcome.report.entries
    );
    for entry in &outcome.report.entries {
        assert_eq!(
            entry.reason,
            Some(RejectReason::DuplicateName),
            "{entry:#?}"
        );
    }
    assert_eq!(outcome.report.counts.accepted, 0);
}

#[test]
fn unicode_names_in_composed_and_decomposed_form_are_duplicates() {
    let outcome = judge_zip(&raw_zip(&[
        RawEntry::stored("Caf\u{e9}.csv", CSV),
        RawEntry::stored("Cafe\u{301}.csv", CSV),
    ]));
    assert_eq!(
        outcome
            .report
            .counts
            .by_reason
            .get(&RejectReason::DuplicateName),
        Some(&2)
    );
}

#[test]
fn names_differing_only_in_case_are_both_accepted() {
    let outcome = judge_zip(&zip_of(&[("Prices.csv", CSV), ("prices.csv", CSV)]));
    outcome.assert_accepted("Prices.csv");
    outcome.assert_accepted("prices.csv");
}

#[test]
fn directories_and_os_metadata_are_skipped_without_a_report() {
    let outcome = judge_zip(&raw_zip(&[
        RawEntry::stored("docs/", b""),
        RawEntry::stored("docs/prices.csv", CSV),
        RawEntry::stored("__MACOSX/docs/._prices.csv", b"\0\x05\x16\x07junk"),
        RawEntry::stored("docs/.DS_Store", b"\0\0\0\x01Bud1"),
    ]));
    assert_eq!(
        outcome.report.entries.len(),
        1,
        "{:#?}",
        outcome.report.entries
    );
    assert_eq!(outcome.report.counts.skipped, 3);
    outcome.assert_accepted("docs/prices.csv");
}

#[test]
fn files_of_other_types_are_rejected_as_unknown_type_without_being_unpacked() {
    let outcome = judge_zip(&raw_zip(&[RawEntry::stored("setup.exe", b"MZ\x90\0")]));
    outcome.assert_rejected("setup.exe", RejectReason::UnknownType);
    assert_eq!(outcome.entry("setup.exe").inflated_size, None);
}

#[test]
fn accepted_entries_carry_their_original_bytes_and_hash() {
    let outcome = judge_zip(&zip_of(&[("a/prices.csv", CSV)]));
    let entry = outcome.assert_accepted("a/prices.csv");
    assert_eq!(entry.verdict, Verdict::Accepted);
    assert_eq!(entry.inflated_size, Some(CSV.len() as u64));
    assert_eq!(
        entry.sha256.as_deref(),
        Some("013a160a4a25106956c1fda1f1cdcf6379358c49742d880209208f841ef814d6")
    );
    assert_eq!(outcome.content("a/prices.csv").bytes, CSV);
}
