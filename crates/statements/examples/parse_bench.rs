//! Times detection + parsing of a `pdftotext -layout` output (pages split on form
//! feeds): `cargo run --release -p quire-statements --example parse_bench -- FILE [RUNS]`.
//! Used by scripts/bench-statements.sh; prints one JSON line.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: parse_bench FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let pages = quire_statements::split_pages(&text);
    let mut best = f64::MAX;
    let mut statements = 0;
    let mut failed = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let analysis = quire_statements::analyze(&pages);
        best = best.min(started.elapsed().as_secs_f64());
        statements = analysis.statements.len();
        failed = analysis
            .statements
            .iter()
            .map(|s| s.failed_checks().count())
            .sum::<usize>();
    }
    println!(
        "{{\"pages\": {}, \"statements\": {statements}, \"failed_checks\": {failed}, \"best_seconds\": {best:.6}, \"pages_per_second\": {:.0}}}",
        pages.len(),
        pages.len() as f64 / best
    );
}
