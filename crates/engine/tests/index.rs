mod common;

use std::time::Duration;

use common::{NDA, PRICES, SERVICES, SUPPLY, all_documents, contracts, indexed};
use quire_engine::{Chunk, Fingerprint, IndexError, IndexOptions, Passage, WorkspaceIndex};

fn ids(passages: &[Passage]) -> Vec<&str> {
    passages.iter().map(|p| p.chunk_id.as_str()).collect()
}

fn all_chunks(documents: &[common::Document]) -> Vec<Chunk> {
    documents.iter().flat_map(|d| d.chunks()).collect()
}

const QUESTIONS: &[&str] = &[
    "What is the governing law?",
    "When must invoices be paid?",
    "What is the liability cap?",
    "How can the agreement be terminated?",
    "How long is the term?",
    "договор законодательство",
    "适用法律",
];

#[test]
fn adding_the_same_chunks_again_keeps_one_copy_of_each() {
    let documents = contracts();
    let index = indexed(&documents);
    let count = index.doc_count();
    let before = index.search("governing law", 10, None, None).unwrap();

    let again = index.add_chunks(&documents[0].chunks()).unwrap();

    assert_eq!(index.doc_count(), count);
    assert_eq!(again, Fingerprint::of_chunks(&all_chunks(&documents)));
    let after = index.search("governing law", 10, None, None).unwrap();
    assert_eq!(ids(&before), ids(&after));
}

#[test]
fn a_changed_chunk_replaces_the_old_text_under_the_same_id() {
    let index = indexed(&contracts());
    let mut chunk = common::services_agreement().chunks()[0].clone();
    chunk.text = "Zanzibar escrow clause.".to_owned();
    index.add_chunks(std::slice::from_ref(&chunk)).unwrap();

    let hits = index.search("zanzibar escrow", 5, None, None).unwrap();
    assert_eq!(ids(&hits), [chunk.id.as_str()]);
    let old_text = index.search("Northwind Contoso", 5, None, None).unwrap();
    assert!(old_text.iter().all(|p| p.chunk_id != chunk.id));
}

#[test]
fn removing_a_document_removes_all_its_chunks_and_only_them() {
    let documents = contracts();
    let index = indexed(&documents);
    let nda_chunks = documents[1].chunks().len() as u64;
    let count = index.doc_count();

    assert_eq!(index.remove_document(NDA).unwrap(), nda_chunks);

    assert_eq!(index.doc_count(), count - nda_chunks);
    let hits = index
        .search("governing law confidentiality", 50, None, None)
        .unwrap();
    assert!(hits.iter().all(|p| p.document_id != NDA));
    assert!(hits.iter().any(|p| p.document_id == SERVICES));
    let remaining: Vec<Chunk> = [&documents[0], &documents[2]]
        .iter()
        .flat_map(|d| d.chunks())
        .collect();
    assert_eq!(
        index.fingerprint().unwrap(),
        Fingerprint::of_chunks(&remaining)
    );
    assert_eq!(index.remove_document(NDA).unwrap(), 0);
}

#[test]
fn a_document_type_filter_returns_only_documents_of_those_types() {
    let index = indexed(&all_documents());
    let all = index
        .search("payment within 60 days", 20, None, None)
        .unwrap();
    assert!(all.iter().any(|p| p.document_type == "pdf"));
    assert!(all.iter().any(|p| p.document_type == "csv"));

    let csv = index
        .search("payment within 60 days", 20, Some(&["csv"]), None)
        .unwrap();
    assert!(!csv.is_empty());
    assert!(
        csv.iter()
            .all(|p| p.document_id == PRICES && p.document_type == "csv")
    );
    let pdf = index
        .search("payment within 60 days", 20, Some(&["pdf"]), None)
        .unwrap();
    assert!(pdf.iter().all(|p| p.document_type == "pdf"));
}

#[test]
fn a_filter_keeps_the_ranking_scores_of_the_unfiltered_search() {
    let index = indexed(&all_documents());
    let all = index.search("governing law", 50, None, None).unwrap();
    let only_supply = index
        .search("governing law", 50, None, Some(&[SUPPLY]))
        .unwrap();
    assert!(!only_supply.is_empty());
    for p in &only_supply {
        assert_eq!(p.document_id, SUPPLY);
        let same = all.iter().find(|q| q.chunk_id == p.chunk_id).unwrap();
        assert!((same.score - p.score).abs() < 1e-5);
    }
}

#[test]
fn an_empty_filter_list_matches_nothing() {
    let index = indexed(&contracts());
    assert!(
        index
            .search("governing law", 10, Some(&[]), None)
            .unwrap()
            .is_empty()
    );
    assert!(
        index
            .search("governing law", 10, None, Some(&[]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_question_of_only_stop_words_finds_nothing() {
    let index = indexed(&contracts());
    assert!(
        index
            .search("what is the", 10, None, None)
            .unwrap()
            .is_empty()
    );
    assert!(index.search("", 10, None, None).unwrap().is_empty());
}

#[test]
fn russian_text_is_searchable_in_other_word_forms() {
    let index = indexed(&all_documents());
    // "законодательство" is indexed as "законодательством"; stemming joins them.
    let hits = index
        .search(
            "Какое законодательство применяется к договору?",
            3,
            None,
            None,
        )
        .unwrap();
    assert_eq!(hits[0].document_id, "dogovor-postavki-2024");
    assert_eq!(hits[0].page, 2);
}

#[test]
fn chinese_text_is_searchable_without_spaces_between_words() {
    let index = indexed(&all_documents());
    let hits = index.search("适用法律是什么", 3, None, None).unwrap();
    assert_eq!(hits[0].document_id, "hetong-2024");
    assert_eq!(hits[0].page, 2);
    let payment = index.search("付款", 3, None, None).unwrap();
    assert_eq!(
        (payment[0].document_id.as_str(), payment[0].page),
        ("hetong-2024", 1)
    );
}

#[test]
fn a_rebuild_from_the_stored_chunks_answers_exactly_as_the_incremental_index() {
    let documents = all_documents();
    let incremental = indexed(&documents);
    let dir = tempfile::tempdir().unwrap();
    let rebuilt = WorkspaceIndex::open_or_create(dir.path()).unwrap();
    rebuilt.add_chunks(&documents[0].chunks()).unwrap();

    let chunks = all_chunks(&documents);
    let fingerprint = rebuilt.rebuild_from(&chunks).unwrap();

    assert_eq!(fingerprint, Fingerprint::of_chunks(&chunks));
    assert_eq!(
        rebuilt.fingerprint().unwrap(),
        incremental.fingerprint().unwrap()
    );
    assert_eq!(rebuilt.doc_count(), incremental.doc_count());
    for question in QUESTIONS {
        let a = incremental.search(question, 8, None, None).unwrap();
        let b = rebuilt.search(question, 8, None, None).unwrap();
        assert!(!a.is_empty(), "{question}");
        assert_eq!(a, b, "{question}");
    }
}

#[test]
fn the_fingerprint_follows_adds_replacements_removals_and_clears() {
    let documents = contracts();
    let index = WorkspaceIndex::in_memory().unwrap();
    assert_eq!(index.fingerprint().unwrap(), Fingerprint::EMPTY);

    index.add_chunks(&documents[0].chunks()).unwrap();
    index.add_chunks(&documents[1].chunks()).unwrap();
    index.add_chunks(&documents[1].chunks()).unwrap();
    let both: Vec<Chunk> = documents[..2].iter().flat_map(|d| d.chunks()).collect();
    assert_eq!(index.fingerprint().unwrap(), Fingerprint::of_chunks(&both));
    assert_eq!(index.fingerprint().unwrap().chunks, index.doc_count());

    let digests = both.iter().map(Chunk::digest);
    assert_eq!(
        Fingerprint::from_digests(digests),
        Fingerprint::of_chunks(&both)
    );

    index.remove_document(SERVICES).unwrap();
    assert_eq!(
        index.fingerprint().unwrap(),
        Fingerprint::of_chunks(&documents[1].chunks())
    );

    index.clear().unwrap();
    assert_eq!(index.fingerprint().unwrap(), Fingerprint::EMPTY);
    assert_eq!(index.doc_count(), 0);
}

#[test]
fn an_index_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let chunks = all_chunks(&contracts());
    {
        let index = WorkspaceIndex::open_or_create(dir.path()).unwrap();
        index.add_chunks(&chunks).unwrap();
    }
    let index = WorkspaceIndex::open_or_create(dir.path()).unwrap();
    assert_eq!(index.doc_count(), chunks.len() as u64);
    assert_eq!(
        index.fingerprint().unwrap(),
        Fingerprint::of_chunks(&chunks)
    );
    assert!(
        !index
            .search("governing law", 3, None, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn two_opens_of_one_directory_share_the_writer_and_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let a = WorkspaceIndex::open_or_create(dir.path()).unwrap();
    let b = WorkspaceIndex::open_or_create(dir.path().join(".")).unwrap();
    let documents = contracts();

    std::thread::scope(|s| {
        for (index, document) in [
            (&a, &documents[0]),
            (&b, &documents[1]),
            (&a, &documents[2]),
        ] {
            s.spawn(move || index.add_chunks(&document.chunks()).unwrap());
        }
    });

    assert_eq!(a.doc_count(), all_chunks(&documents).len() as u64);
    assert_eq!(b.doc_count(), a.doc_count());
    assert_eq!(
        b.fingerprint().unwrap(),
        Fingerprint::of_chunks(&all_chunks(&documents))
    );
}

/// Holds the tantivy writer lock as another process's writer would: flock
/// locks conflict between open files, whichever process opened them.
fn hold_writer_lock(dir: &std::path::Path) -> tantivy::directory::DirectoryLock {
    use tantivy::Directory;
    let directory = tantivy::directory::MmapDirectory::open(dir).unwrap();
    directory
        .acquire_lock(&tantivy::directory::INDEX_WRITER_LOCK)
        .unwrap()
}

#[test]
fn a_write_gives_up_with_busy_while_another_writer_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let options = IndexOptions {
        lock_timeout: Duration::from_millis(200),
        ..IndexOptions::default()
    };
    let index = WorkspaceIndex::open_or_create_with(dir.path(), options).unwrap();
    let _other = hold_writer_lock(dir.path());

    let err = index.add_chunks(&common::nda().chunks()).unwrap_err();

    assert!(matches!(err, IndexError::Busy { .. }), "{err}");
    assert_eq!(index.doc_count(), 0);
}

#[test]
fn a_write_waits_for_another_writer_to_finish_and_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let index = WorkspaceIndex::open_or_create(dir.path()).unwrap();
    let other = hold_writer_lock(dir.path());
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(other);
    });

    index.add_chunks(&common::nda().chunks()).unwrap();

    release.join().unwrap();
    assert_eq!(index.doc_count(), common::nda().chunks().len() as u64);
}

#[test]
fn an_index_with_another_schema_is_discarded_and_reported_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut schema = tantivy::schema::Schema::builder();
        let title = schema.add_text_field("title", tantivy::schema::TEXT);
        let index = tantivy::Index::create_in_dir(dir.path(), schema.build()).unwrap();
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        writer.add_document(tantivy::doc!(title => "old")).unwrap();
        writer.commit().unwrap();
    }

    let index = WorkspaceIndex::open_or_create(dir.path()).unwrap();

    assert_eq!(index.fingerprint().unwrap(), Fingerprint::EMPTY);
    assert_eq!(index.doc_count(), 0);
    index.add_chunks(&common::nda().chunks()).unwrap();
    assert!(
        !index
            .search("governing law", 1, None, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_index_handle_can_be_shared_across_threads_and_tasks() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<WorkspaceIndex>();
}

const CHILD_DIR: &str = "QUIRE_ENGINE_TEST_CHILD_DIR";

#[test]
fn two_processes_writing_one_directory_both_land_and_agree_on_the_fingerprint() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        // The child's side: write while the parent writes.
        let index = WorkspaceIndex::open_or_create(&dir).unwrap();
        for document in [common::nda(), common::price_list()] {
            index.add_chunks(&document.chunks()).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let index = WorkspaceIndex::open_or_create(dir.path()).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "two_processes_writing_one_directory_both_land_and_agree_on_the_fingerprint",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    for document in [common::services_agreement(), common::supply_contract()] {
        index.add_chunks(&document.chunks()).unwrap();
    }
    assert!(
        child.wait().unwrap().success(),
        "the child process wrote its documents"
    );
    index.reload().unwrap();

    let all: Vec<Chunk> = [
        common::services_agreement(),
        common::nda(),
        common::supply_contract(),
        common::price_list(),
    ]
    .iter()
    .flat_map(|d| d.chunks())
    .collect();
    assert_eq!(index.fingerprint().unwrap(), Fingerprint::of_chunks(&all));
    assert_eq!(index.doc_count(), all.len() as u64);
    let hits = index
        .search("governing law", 10, None, Some(&[NDA]))
        .unwrap();
    assert!(!hits.is_empty(), "the parent finds what the child wrote");
}
