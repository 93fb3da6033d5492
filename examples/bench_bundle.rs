//! Writes a mixed bundle for the ingestion benchmark: mostly multi-page text PDFs, with
//! some CSV and JSON, deterministic for a given size.
//!
//! `cargo run --release --example bench_bundle -- OUT.zip [FILES] [PAGES_PER_PDF]`

use std::fmt::Write as _;

use quire_ingest::fixtures::text_pdf;

const WORDS: &[&str] = &[
    "agreement",
    "supplier",
    "buyer",
    "delivery",
    "invoice",
    "payment",
    "term",
    "termination",
    "liability",
    "warranty",
    "services",
    "goods",
    "price",
    "schedule",
    "notice",
    "clause",
    "confidential",
    "insurance",
    "indemnity",
    "force",
    "majeure",
    "governing",
    "law",
    "court",
    "England",
    "Wales",
    "days",
    "months",
    "written",
    "consent",
    "party",
    "parties",
    "order",
    "quantity",
    "unit",
    "tender",
    "lot",
    "award",
    "criteria",
    "evaluation",
    "deadline",
];

fn sentence(seed: &mut u64, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = WORDS[(*seed >> 33) as usize % WORDS.len()];
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.push('.');
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .ok_or("usage: bench_bundle OUT.zip [FILES] [PAGES_PER_PDF]")?;
    let files: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let pages: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let mut seed = 42u64;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(files);
    for i in 0..files {
        match i % 10 {
            8 => {
                let mut csv = String::from("item,quantity,unit_price\n");
                for row in 0..200 {
                    let _ = writeln!(
                        csv,
                        "item-{i}-{row},{},{}.{:02}",
                        row % 17 + 1,
                        row * 3 + 10,
                        row % 100
                    );
                }
                entries.push((format!("prices/list-{i:04}.csv"), csv.into_bytes()));
            }
            9 => {
                let lots: Vec<String> = (0..50)
                    .map(|l| {
                        format!(
                            r#"{{"lot":{l},"title":"{}","quantity":{}}}"#,
                            sentence(&mut seed, 4),
                            l * 7
                        )
                    })
                    .collect();
                let json = format!(
                    r#"{{"tender":{{"reference":"T-{i}","lots":[{}]}}}}"#,
                    lots.join(",")
                );
                entries.push((format!("tenders/tender-{i:04}.json"), json.into_bytes()));
            }
            _ => {
                let texts: Vec<String> = (0..pages)
                    .map(|p| {
                        format!(
                            "Page {} of contract {i}. {}",
                            p + 1,
                            sentence(&mut seed, 400)
                        )
                    })
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                entries.push((format!("contracts/contract-{i:04}.pdf"), text_pdf(&refs)));
            }
        }
    }
    let named: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let zip = quire_ingest::fixtures::zip_of(&named)?;
    std::fs::write(out, &zip)?;
    let inflated: usize = entries.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "{out}: {files} files, {:.1} MB inflated, {:.1} MB zipped",
        inflated as f64 / 1e6,
        zip.len() as f64 / 1e6
    );
    Ok(())
}
