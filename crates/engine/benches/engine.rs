//! Indexing throughput and question latency of the embedded engine.
//!
//! `cargo bench --bench engine` (or `QUIRE_BENCH_SIZES=1000,10000` for a
//! shorter run). Text is synthetic but shaped like documents: a vocabulary of
//! a few thousand words drawn with a Zipf distribution (common words very
//! common, most words rare), in sentences and paragraphs, chunked by the real
//! chunker. Questions draw their words from the same distribution. Everything
//! runs on one thread, and the index lives on disk as in production.

use std::time::{Duration, Instant};

use quire_engine::{
    Chunk, ChunkConfig, IndexOptions, WorkspaceIndex, answer_extractive, chunk_document,
};

/// SplitMix64: deterministic across runs and platforms, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words ranked by frequency: real function and contract words first (as in
/// real text), then generated words.
struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn new(size: usize, rng: &mut Rng) -> Self {
        const COMMON: &[&str] = &[
            "the",
            "of",
            "and",
            "to",
            "a",
            "in",
            "shall",
            "be",
            "or",
            "by",
            "this",
            "any",
            "for",
            "party",
            "agreement",
            "with",
            "such",
            "as",
            "on",
            "that",
            "is",
            "under",
            "other",
            "all",
            "not",
            "supplier",
            "customer",
            "services",
            "may",
            "its",
            "from",
            "at",
            "written",
            "notice",
            "days",
            "period",
            "terms",
            "payment",
            "law",
            "rights",
            "obligations",
            "including",
            "date",
            "contract",
            "goods",
            "price",
            "delivery",
            "liability",
            "termination",
            "confidential",
            "information",
            "within",
            "each",
        ];
        const ONSETS: &[&str] = &[
            "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "pr", "tr", "st",
            "cl", "gr", "br", "pl",
        ];
        const NUCLEI: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"];
        const CODAS: &[&str] = &["", "", "n", "r", "s", "t", "l", "nd", "nt", "ct", "st"];
        let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < size {
            let syllables = 1 + rng.below(3) + usize::from(rng.below(4) == 0);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push_str(ONSETS[rng.below(ONSETS.len())]);
                word.push_str(NUCLEI[rng.below(NUCLEI.len())]);
                word.push_str(CODAS[rng.below(CODAS.len())]);
            }
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        // Zipf with s = 1.07, the exponent measured for English text.
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(size);
        for rank in 1..=size {
            total += 1.0 / (rank as f64).powf(1.07);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { words, cdf }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.words.len() - 1);
        &self.words[i]
    }
}

fn page_text(vocabulary: &Vocabulary, rng: &mut Rng, chars: usize) -> String {
    let mut text = String::with_capacity(chars + 200);
    while text.len() < chars {
        for _ in 0..3 + rng.below(4) {
            let words = 8 + rng.below(18);
            for w in 0..words {
                let word = vocabulary.word(rng);
                if w == 0 {
                    let mut cs = word.chars();
                    if let Some(first) = cs.next() {
                        text.extend(first.to_uppercase());
                        text.push_str(cs.as_str());
                    }
                } else {
                    text.push(' ');
                    text.push_str(word);
                }
            }
            text.push_str(". ");
        }
        text.pop();
        text.push_str("\n\n");
    }
    text
}

/// `count` chunks of synthetic ten-page documents, chunked with the default
/// configuration; also returns the page text's size and the chunking time.
fn corpus(vocabulary: &Vocabulary, count: usize, rng: &mut Rng) -> (Vec<Chunk>, usize, Duration) {
    let mut chunks = Vec::with_capacity(count + 64);
    let mut bytes = 0;
    let mut chunking = Duration::ZERO;
    let config = ChunkConfig::default();
    let mut document = 0;
    while chunks.len() < count {
        let pages: Vec<(u32, String)> = (1..=10)
            .map(|n| {
                let chars = 2_500 + rng.below(2_000);
                (n, page_text(vocabulary, rng, chars))
            })
            .collect();
        bytes += pages.iter().map(|(_, t)| t.len()).sum::<usize>();
        let doc_type = ["pdf", "pdf", "pdf", "csv", "json"][document % 5];
        let started = Instant::now();
        chunks.extend(chunk_document(
            &format!("doc-{document:06}"),
            doc_type,
            pages.iter().map(|(n, t)| (*n, t.as_str())),
            &config,
        ));
        chunking += started.elapsed();
        document += 1;
    }
    chunks.truncate(count);
    (chunks, bytes, chunking)
}

fn questions(vocabulary: &Vocabulary, count: usize, rng: &mut Rng) -> Vec<String> {
    const OPENINGS: &[&str] = &[
        "What is the",
        "When does the",
        "Who is responsible for the",
        "How long is the",
        "Which",
        "What are the",
    ];
    (0..count)
        .map(|_| {
            let mut q = OPENINGS[rng.below(OPENINGS.len())].to_owned();
            for _ in 0..2 + rng.below(4) {
                q.push(' ');
                q.push_str(vocabulary.word(rng));
            }
            q.push('?');
            q
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1_000.0)
}

struct Row {
    chunks: usize,
    text_mb: f64,
    chunk_mb_s: f64,
    index_mb_s: f64,
    search_p50: Duration,
    p50: Duration,
    p99: Duration,
    qps: f64,
}

type Error = Box<dyn std::error::Error>;

fn run(size: usize, vocabulary: &Vocabulary, questions: &[String]) -> Result<Row, Error> {
    let mut rng = Rng(size as u64);
    let (chunks, page_bytes, chunking) = corpus(vocabulary, size, &mut rng);
    let chunk_bytes: usize = chunks.iter().map(|c| c.text.len()).sum();

    let dir = tempfile::tempdir()?;
    let index = WorkspaceIndex::open_or_create_with(dir.path(), IndexOptions::default())?;
    let started = Instant::now();
    index.rebuild_from(&chunks)?;
    let indexing = started.elapsed();
    assert_eq!(index.doc_count(), size as u64);

    for q in questions.iter().take(100) {
        let passages = index.search(q, 5, None, None)?;
        std::hint::black_box(answer_extractive(q, &passages));
    }

    let mut search_times = Vec::with_capacity(questions.len());
    let mut times = Vec::with_capacity(questions.len());
    let mut answered = 0usize;
    let all = Instant::now();
    for q in questions {
        let started = Instant::now();
        let passages = index.search(q, 5, None, None)?;
        let searched = started.elapsed();
        let answer = answer_extractive(q, &passages);
        let elapsed = started.elapsed();
        answered += usize::from(!answer.is_empty());
        search_times.push(searched);
        times.push(elapsed);
    }
    let total = all.elapsed();
    assert!(
        answered * 2 > questions.len(),
        "most questions get an answer"
    );
    times.sort();
    search_times.sort();

    Ok(Row {
        chunks: size,
        text_mb: chunk_bytes as f64 / 1e6,
        chunk_mb_s: page_bytes as f64 / 1e6 / chunking.as_secs_f64(),
        index_mb_s: chunk_bytes as f64 / 1e6 / indexing.as_secs_f64(),
        search_p50: percentile(&search_times, 0.5),
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        qps: questions.len() as f64 / total.as_secs_f64(),
    })
}

/// Documents added one commit each, as uploads arrive: commit and merge cost
/// per document dominate, not tokenising.
fn incremental(vocabulary: &Vocabulary, chunks: usize) -> Result<(usize, f64, f64), Error> {
    let mut rng = Rng(7);
    let (chunks, _, _) = corpus(vocabulary, chunks, &mut rng);
    let mut by_document: Vec<Vec<Chunk>> = Vec::new();
    for chunk in chunks {
        match by_document.last_mut() {
            Some(last) if last[0].document_id == chunk.document_id => last.push(chunk),
            _ => by_document.push(vec![chunk]),
        }
    }
    let bytes: usize = by_document.iter().flatten().map(|c| c.text.len()).sum();
    let dir = tempfile::tempdir()?;
    let index = WorkspaceIndex::open_or_create(dir.path())?;
    let started = Instant::now();
    for document in &by_document {
        index.add_chunks(document)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((
        by_document.len(),
        by_document.len() as f64 / elapsed,
        bytes as f64 / 1e6 / elapsed,
    ))
}

fn main() -> Result<(), Error> {
    let sizes: Vec<usize> = std::env::var("QUIRE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let mut rng = Rng(42);
    let vocabulary = Vocabulary::new(4_000, &mut rng);
    let questions = questions(&vocabulary, 2_000, &mut rng);

    println!(
        "quire-engine benchmark: one thread, on-disk index, top 5 passages + extractive answer"
    );
    println!();
    println!(
        "| chunks | chunk text MB | chunking MB/s | indexing MB/s | search p50 ms | question p50 ms | question p99 ms | questions/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in sizes {
        let row = run(size, &vocabulary, &questions)?;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.0} |",
            row.chunks,
            row.text_mb,
            row.chunk_mb_s,
            row.index_mb_s,
            ms(row.search_p50),
            ms(row.p50),
            ms(row.p99),
            row.qps
        );
    }
    let (documents, documents_per_s, mb_per_s) = incremental(&vocabulary, 5_000)?;
    println!();
    println!(
        "incremental: {documents} ten-page documents, one add_chunks commit each: \
         {documents_per_s:.0} documents/s, {mb_per_s:.1} MB/s"
    );
    Ok(())
}
