//! Archives built to exhaust memory, disk or CPU. Each test measures the
//! memory the judge allocates, so the limits are shown to hold, not assumed.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{RawEntry, RawZip, crc32, judge_bytes, raw_zip, small_limits, zeros_deflate_stream};
use quire_ingest::{Limits, RejectReason};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = CURRENT.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Tests in this file run one at a time so each sees only its own peak.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1024 * 1024;

/// Runs `f` and returns its result with the most memory it had allocated at once.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let result = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    (result, peak)
}

fn bomb_entry(name: &str, inflated: u64) -> RawEntry {
    RawEntry {
        data: zeros_deflate_stream(inflated),
        method: 8,
        crc: 0,
        uncompressed: inflated,
        ..RawEntry::stored(name, b"")
    }
}

#[test]
fn bomb_claiming_ten_gigabytes_is_rejected_after_inflating_only_the_limit() {
    let _serial = SERIAL.lock();
    let bytes = raw_zip(&[bomb_entry("prices.csv", 10 * 1024 * 1024 * 1024)]);
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        ..small_limits()
    };
    let (outcome, peak) = peak_during(|| judge_bytes(&bytes, "bomb.zip", &limits));
    outcome.assert_rejected("prices.csv", RejectReason::FileTooLarge);
    let inflated = outcome
        .entry("prices.csv")
        .inflated_size
        .unwrap_or_default();
    assert!(
        inflated <= limits.max_file_bytes + 64 * 1024,
        "inflated {inflated}"
    );
    assert!(peak < 32 * MIB, "peak allocation {} MiB", peak / MIB);
}

#[test]
fn bomb_under_default_limits_is_stopped_by_the_compression_ratio_early() {
    let _serial = SERIAL.lock();
    let bytes = raw_zip(&[bomb_entry("prices.csv", 10 * 1024 * 1024 * 1024)]);
    let limits = Limits::default();
    let (outcome, peak) = peak_during(|| judge_bytes(&bytes, "bomb.zip", &limits));
    outcome.assert_rejected("prices.csv", RejectReason::SuspiciousCompressionRatio);
    assert!(peak < 64 * MIB, "peak allocation {} MiB", peak / MIB);
}

#[test]
fn bomb_whose_header_understates_its_size_is_rejected_as_corrupt() {
    let _serial = SERIAL.lock();
    let mut entry = bomb_entry("prices.csv", 64 * MIB as u64);
    entry.uncompressed = 1024;
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        ..small_limits()
    };
    let (outcome, peak) = peak_during(|| judge_bytes(&raw_zip(&[entry]), "bomb.zip", &limits));
    outcome.assert_rejected("prices.csv", RejectReason::CorruptEntry);
    assert!(peak < 32 * MIB, "peak allocation {} MiB", peak / MIB);
}

#[test]
fn highly_compressible_file_past_the_ratio_limit_is_rejected_as_suspicious() {
    let _serial = SERIAL.lock();
    let entry = bomb_entry("zeros.csv", 3 * MIB as u64);
    let outcome = judge_bytes(&raw_zip(&[entry]), "bomb.zip", &small_limits());
    outcome.assert_rejected("zeros.csv", RejectReason::SuspiciousCompressionRatio);
}

#[test]
fn overlapping_entry_bomb_is_rejected_after_the_first_entry() {
    let _serial = SERIAL.lock();
    // One compressed kernel, referenced by fifty central-directory records:
    // fifty times the output for the price of one.
    let mut content = b"item,price\n".to_vec();
    for i in 0..60_000 {
        content.extend_from_slice(format!("Chair {},{}.00\n", i % 10, i % 7).as_bytes());
    }
    let kernel = RawEntry::deflated("kernel.csv", &content);
    let mut zip = RawZip::new();
    let offset = zip.add_local(&kernel);
    for i in 0..50 {
        let alias = RawEntry {
            name: format!("copy{i:02}.csv").into_bytes(),
            ..kernel.clone()
        };
        zip.add_central(&alias, offset);
    }
    let bytes = zip.finish();
    let limits = small_limits();
    let (outcome, peak) = peak_during(|| judge_bytes(&bytes, "bomb.zip", &limits));
    outcome.assert_accepted("copy00.csv");
    for i in 1..50 {
        outcome.assert_rejected(&format!("copy{i:02}.csv"), RejectReason::OverlappingEntries);
    }
    assert!(peak < 32 * MIB, "peak allocation {} MiB", peak / MIB);
}

#[test]
fn entries_past_the_total_size_limit_are_rejected_as_bundle_too_large() {
    let _serial = SERIAL.lock();
    let csv = |i: usize| {
        let mut content = b"n,text\n".to_vec();
        while content.len() < 3 * MIB {
            content.extend_from_slice(format!("{i},{}\n", "x".repeat(70)).as_bytes());
        }
        content
    };
    let entries: Vec<RawEntry> = (0..8)
        .map(|i| RawEntry::stored(&format!("part{i}.csv"), &csv(i)))
        .collect();
    let limits = Limits {
        max_file_bytes: 4 * MIB as u64,
        max_total_bytes: 10 * MIB as u64,
        ..Limits::default()
    };
    let outcome = judge_bytes(&raw_zip(&entries), "big.zip", &limits);
    for i in 0..3 {
        outcome.assert_accepted(&format!("part{i}.csv"));
    }
    for i in 3..8 {
        outcome.assert_rejected(&format!("part{i}.csv"), RejectReason::BundleTooLarge);
    }
}

#[test]
fn entries_past_the_entry_count_limit_are_rejected_as_too_many_entries() {
    let _serial = SERIAL.lock();
    let entries: Vec<RawEntry> = (0..12)
        .map(|i| RawEntry::stored(&format!("f{i:02}.csv"), b"a,b\n1,2\n"))
        .collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let outcome = judge_bytes(&raw_zip(&entries), "many.zip", &limits);
    assert_eq!(outcome.report.counts.accepted, 10);
    outcome.assert_rejected("f10.csv", RejectReason::TooManyEntries);
    outcome.assert_rejected("f11.csv", RejectReason::TooManyEntries);
}

#[test]
fn a_lying_crc_on_a_bomb_does_not_matter_because_reading_stops_at_the_limit() {
    let _serial = SERIAL.lock();
    let mut entry = bomb_entry("a.json", 100 * MIB as u64);
    entry.crc = crc32(b"whatever");
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        ..small_limits()
    };
    let outcome = judge_bytes(&raw_zip(&[entry]), "bomb.zip", &limits);
    outcome.assert_rejected("a.json", RejectReason::FileTooLarge);
}

#[test]
fn archive_declaring_far_more_entries_than_allowed_is_refused_before_reading_its_directory() {
    let _serial = SERIAL.lock();
    let entries: Vec<RawEntry> = (0..1_100)
        .map(|i| RawEntry::stored(&format!("f{i:04}.csv"), b"a\n1\n"))
        .collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    match common::try_judge_bytes(&raw_zip(&entries), "many.zip", &limits) {
        Ok(outcome) => panic!("judged {} entries", outcome.report.entries.len()),
        Err(error) => {
            assert_eq!(error.reason.code(), "too_many_entries");
            assert!(error.to_string().contains("1100"), "{error}");
        }
    }
}

#[test]
fn zip64_archive_is_read_and_its_declared_entry_count_is_checked() {
    let _serial = SERIAL.lock();
    let mut honest = RawZip::new();
    honest.add(&RawEntry::stored("a.csv", b"x,y\n1,2\n"));
    honest.add(&RawEntry::deflated("b.json", b"{\"k\": [1, 2]}"));
    let outcome = judge_bytes(&honest.finish_zip64(2), "z64.zip", &small_limits());
    outcome.assert_accepted("a.csv");
    outcome.assert_accepted("b.json");

    let mut lying = RawZip::new();
    lying.add(&RawEntry::stored("a.csv", b"x,y\n1,2\n"));
    match common::try_judge_bytes(&lying.finish_zip64(10_000_000), "z64.zip", &small_limits()) {
        Ok(outcome) => panic!("judged {:#?}", outcome.report),
        Err(error) => assert_eq!(error.reason.code(), "too_many_entries"),
    }
}
