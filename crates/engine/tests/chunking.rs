mod common;

use common::{all_documents, chars_at};
use quire_engine::{ChunkConfig, chunk_document};

#[test]
fn every_chunk_is_exactly_the_page_text_at_its_offsets() {
    let mixed = "Привет, мир! Договор 🙂 подписан.\n\n本合同受中华人民共和国法律管辖。".repeat(40);
    let mut documents = all_documents();
    documents.push(common::Document {
        id: "mixed",
        doc_type: "pdf",
        pages: vec![(1, mixed)],
    });
    for config in [
        ChunkConfig::default(),
        ChunkConfig::new(200, 40).unwrap(),
        ChunkConfig::new(37, 11).unwrap(),
    ] {
        for document in &documents {
            let chunks = chunk_document(
                document.id,
                document.doc_type,
                document.pages.iter().map(|(n, t)| (*n, t.as_str())),
                &config,
            );
            assert!(!chunks.is_empty());
            for chunk in &chunks {
                assert_eq!(
                    chars_at(document.page(chunk.page), chunk.start, chunk.end),
                    chunk.text,
                    "chunk {} with {config:?}",
                    chunk.id
                );
                assert_eq!(
                    chunk.text.trim(),
                    chunk.text,
                    "chunk {} is trimmed",
                    chunk.id
                );
            }
        }
    }
}

#[test]
fn chunks_stay_within_the_size_and_cover_the_whole_page() {
    let config = ChunkConfig::new(300, 60).unwrap();
    for document in all_documents() {
        for (number, text) in &document.pages {
            let chunks = chunk_document(document.id, document.doc_type, [(*number, text)], &config);
            let mut covered = vec![false; text.chars().count()];
            for chunk in &chunks {
                assert!(chunk.text.chars().count() <= config.size());
                covered[chunk.start..chunk.end]
                    .iter_mut()
                    .for_each(|c| *c = true);
            }
            for (i, c) in text.chars().enumerate() {
                assert!(
                    covered[i] || c.is_whitespace(),
                    "character {i} of page {number} of {} is in no chunk",
                    document.id
                );
            }
        }
    }
}

#[test]
fn consecutive_chunks_overlap_by_about_the_configured_overlap() {
    let config = ChunkConfig::new(400, 100).unwrap();
    let document = common::services_agreement();
    let chunks = document.chunks_with(&config);
    let mut overlapping = 0;
    for pair in chunks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.page != b.page {
            continue;
        }
        assert!(b.start > a.start, "{} starts after {}", b.id, a.id);
        assert!(
            b.start + 100 >= a.end,
            "{} overlaps {} by at most the overlap",
            b.id,
            a.id
        );
        if b.start < a.end {
            overlapping += 1;
        }
    }
    assert!(overlapping > 0, "some chunks overlap");
}

#[test]
fn chunks_end_at_sentence_or_paragraph_ends_when_the_text_has_them() {
    let config = ChunkConfig::new(300, 60).unwrap();
    let chunks = common::supply_contract().chunks_with(&config);
    let at_boundary = chunks
        .iter()
        .filter(|c| c.text.ends_with(['.', ')']) || c.text.ends_with(char::is_alphanumeric))
        .count();
    let at_sentence = chunks.iter().filter(|c| c.text.ends_with('.')).count();
    assert_eq!(at_boundary, chunks.len());
    assert!(
        at_sentence * 10 >= chunks.len() * 8,
        "{at_sentence} of {} chunks end a sentence",
        chunks.len()
    );
}

#[test]
fn rechunking_a_document_gives_the_same_ids_and_texts() {
    let document = common::nda();
    assert_eq!(document.chunks(), document.chunks());
    let ids: Vec<String> = document.chunks().into_iter().map(|c| c.id).collect();
    assert!(ids.iter().all(|id| id.starts_with("nda-globex-2023:")));
    assert!(ids.contains(&"nda-globex-2023:2:0".to_owned()));
}

#[test]
fn empty_and_blank_pages_give_no_chunks() {
    let chunks = chunk_document(
        "d",
        "pdf",
        [(1, ""), (2, "  \n\t "), (3, "x")],
        &ChunkConfig::default(),
    );
    assert_eq!(chunks.len(), 1);
    assert_eq!((chunks[0].page, chunks[0].id.as_str()), (3, "d:3:0"));
}
