//! Documents and bundles the tests upload: real-looking procurement files, generated.

use quire_ingest::fixtures::{scanned_pdf, text_pdf, zip_of};

pub const GOVERNING_LAW: &str =
    "This Agreement shall be governed by the laws of England and Wales.";

/// A two-page services contract; the governing-law clause is on page 2.
pub fn contract_pdf() -> Vec<u8> {
    text_pdf(&[
        "Master Services Agreement between Acme Procurement Ltd and Globex Supplies plc. Term: the Agreement runs for 24 months from 1 May 2026.",
        &format!(
            "Clause 14 Governing law. {GOVERNING_LAW} Clause 15 Liability cap: 1,500,000 GBP."
        ),
    ])
}

pub fn price_list_csv() -> Vec<u8> {
    b"item,unit,price_gbp\nOffice chair,each,129.00\nStanding desk,each,489.50\nMonitor arm,each,64.99\n".to_vec()
}

/// The same kind of list, as spreadsheet software on Windows saves it: UTF-16LE with BOM.
pub fn price_list_utf16_csv() -> Vec<u8> {
    let text = "item,unit,price_eur\nСтул,each,120.00\nМонитор,each,210.00\n";
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

pub fn tender_json() -> Vec<u8> {
    br#"{"tender":{"reference":"T-2026-017","buyer":"City of Exampleton","lots":[{"title":"Office chairs","quantity":400},{"title":"Standing desks","quantity":120}],"deadline":"2026-06-30"}}"#.to_vec()
}

pub struct Bundle {
    pub bytes: Vec<u8>,
}

/// A bundle mixing good files, a scan, a duplicate and hostile entries.
pub fn mixed_bundle() -> Bundle {
    let contract = contract_pdf();
    let nested = zip_of(&[("inner.csv", b"a,b\n1,2\n")]).expect("nested zip");
    let bytes = zip_of(&[
        ("contracts/msa.pdf", &contract),
        ("contracts/msa-copy.pdf", &contract),
        ("scans/signed-page.pdf", &scanned_pdf()),
        ("prices/price-list.csv", &price_list_csv()),
        ("prices/price-list-eu.csv", &price_list_utf16_csv()),
        ("tender.json", &tender_json()),
        ("../../etc/evil.csv", b"x,y\n1,2\n"),
        ("archive/nested.zip", &nested),
        ("notes.txt", b"just some notes"),
        ("fake.pdf", b"this is not a pdf at all"),
    ])
    .expect("bundle zip");
    Bundle { bytes }
}
