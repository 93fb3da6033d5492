//! The per-workspace full-text index: a BM25 cache of the service's chunks.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::directory::error::LockError;
use tantivy::directory::{Directory, INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    TantivyError, Term,
};

use crate::chunk::Chunk;
use crate::text::{QuireTokenizer, TOKENIZER_NAME, distinct_terms};

/// Bumped whenever the schema or the analyzer changes what is indexed. An
/// index of another format is discarded on open, its fingerprint then reads
/// [`Fingerprint::EMPTY`], and the service rebuilds it.
pub const INDEX_FORMAT: u32 = 1;

/// What the index holds, cheap to compare with what the database holds.
///
/// `digest` is a wrapping sum of [`Chunk::digest`] over all chunks, so it is
/// independent of order and can be kept up to date one chunk at a time on
/// both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub chunks: u64,
    pub digest: u64,
}

impl Fingerprint {
    pub const EMPTY: Fingerprint = Fingerprint {
        chunks: 0,
        digest: 0,
    };

    pub fn of_chunks<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Self {
        Self::from_digests(chunks.into_iter().map(Chunk::digest))
    }

    /// For a service that stores [`Chunk::digest`] in a column and need not
    /// read chunk texts to check its cache.
    pub fn from_digests(digests: impl IntoIterator<Item = u64>) -> Self {
        let mut fingerprint = Self::EMPTY;
        for digest in digests {
            fingerprint.insert(digest);
        }
        fingerprint
    }

    pub fn insert(&mut self, chunk_digest: u64) {
        self.chunks += 1;
        self.digest = self.digest.wrapping_add(chunk_digest);
    }

    pub fn remove(&mut self, chunk_digest: u64) {
        self.chunks = self.chunks.saturating_sub(1);
        self.digest = self.digest.wrapping_sub(chunk_digest);
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:016x}", self.chunks, self.digest)
    }
}

/// How the index writes. Reading needs no options.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Indexing threads per write. One keeps questions responsive on small
    /// machines while documents are being added.
    pub writer_threads: usize,
    /// Memory for buffering new chunks before a segment is flushed, shared by
    /// the writer threads (tantivy wants at least 15 MB per thread).
    pub writer_memory_bytes: usize,
    /// How long a write waits for another process's writer to finish.
    pub lock_timeout: Duration,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            writer_threads: 1,
            writer_memory_bytes: 64 << 20,
            lock_timeout: Duration::from_secs(30),
        }
    }
}

/// One ranked chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub chunk_id: String,
    pub document_id: String,
    pub document_type: String,
    pub page: u32,
    /// Character offsets of `text` within its page.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// BM25 score: comparable within one result list, not across workspaces.
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index directory {path} is held by another writer; gave up after {waited:?}")]
    Busy { path: PathBuf, waited: Duration },
    #[error("index directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index operation failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<TantivyError> for IndexError {
    fn from(err: TantivyError) -> Self {
        IndexError::Backend(Box::new(err))
    }
}

/// The commit payload tantivy stores in `meta.json` atomically with each
/// commit, so the fingerprint can never disagree with the data it describes.
#[derive(Debug, Serialize, Deserialize)]
struct CommitPayload {
    format: u32,
    chunks: u64,
    digest: String,
}

impl CommitPayload {
    fn new(fingerprint: Fingerprint) -> Self {
        Self {
            format: INDEX_FORMAT,
            chunks: fingerprint.chunks,
            digest: format!("{:016x}", fingerprint.digest),
        }
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        Some(Fingerprint {
            chunks: self.chunks,
            digest: u64::from_str_radix(&self.digest, 16).ok()?,
        })
    }
}

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    document_id: Field,
    document_type: Field,
    page: Field,
    start: Field,
    end: Field,
    digest: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Frequencies without positions: ranking is bag-of-words BM25 and there are
    // no phrase queries, so positions would only make the index bigger.
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let fields = Fields {
        chunk_id: builder.add_text_field("chunk_id", STRING | STORED),
        document_id: builder.add_text_field("document_id", STRING | STORED),
        document_type: builder.add_text_field("document_type", STRING | STORED),
        page: builder.add_u64_field("page", STORED),
        start: builder.add_u64_field("start", STORED),
        end: builder.add_u64_field("end", STORED),
        digest: builder.add_u64_field("digest", STORED),
        text: builder.add_text_field("text", text_options),
    };
    (builder.build(), fields)
}

struct Shared {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// `None` for an index in RAM.
    path: Option<PathBuf>,
    options: IndexOptions,
    /// Serialises writers within this process; tantivy's lock file does the
    /// same across processes, but fails instead of waiting.
    write_lock: Mutex<()>,
}

/// Every on-disk index open in this process, by canonical path, so two opens
/// of one directory share one writer lock instead of fighting over tantivy's.
static OPEN_INDEXES: LazyLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A poisoned lock only means another thread panicked while holding it; the
/// guarded data is a map or `()` that a panic cannot leave half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A workspace's full-text index of chunks.
///
/// Cheap to clone; clones and other opens of the same directory in this
/// process share state. Every method blocks (disk, CPU, waiting for another
/// process's writer): call it from `spawn_blocking` in async code.
#[derive(Clone)]
pub struct WorkspaceIndex {
    shared: Arc<Shared>,
}

impl fmt::Debug for WorkspaceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkspaceIndex")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl WorkspaceIndex {
    /// Opens the index in `dir`, creating the directory and an empty index
    /// as needed. An index of another format or schema is discarded (it is a
    /// cache): check [`fingerprint`](Self::fingerprint) afterwards.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        Self::open_or_create_with(dir, IndexOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create). If the directory is
    /// already open in this process, the existing index and its options are
    /// shared and `options` is ignored.
    pub fn open_or_create_with(
        dir: impl AsRef<Path>,
        options: IndexOptions,
    ) -> Result<Self, IndexError> {
        let dir = dir.as_ref();
        let io = |source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.canonicalize().map_err(io)?;

        let mut open = lock(&OPEN_INDEXES);
        open.retain(|_, shared| shared.strong_count() > 0);
        if let Some(shared) = open.get(&path).and_then(Weak::upgrade) {
            return Ok(Self { shared });
        }
        let shared = Arc::new(Shared::open_dir(&path, options)?);
        open.insert(path, Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// An index that lives in memory only, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, IndexError> {
        Self::in_memory_with(IndexOptions::default())
    }

    pub fn in_memory_with(options: IndexOptions) -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizer(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            shared: Arc::new(Shared {
                index,
                reader,
                fields,
                path: None,
                options,
                write_lock: Mutex::new(()),
            }),
        })
    }

    /// Adds chunks, replacing any chunk with the same id, in one commit.
    pub fn add_chunks(&self, chunks: &[Chunk]) -> Result<Fingerprint, IndexError> {
        self.write(|txn| {
            let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
            let mut committed = txn.committed_digests(txn.fields.chunk_id, &ids)?;
            let mut pending: HashMap<&str, u64> = HashMap::new();
            for chunk in chunks {
                let digest = chunk.digest();
                let replaced = pending
                    .insert(&chunk.id, digest)
                    .or_else(|| committed.remove(chunk.id.as_str()));
                if let Some(old) = replaced {
                    txn.fingerprint.remove(old);
                }
                txn.writer
                    .delete_term(Term::from_field_text(txn.fields.chunk_id, &chunk.id));
                txn.add(chunk, digest)?;
            }
            Ok(())
        })
    }

    /// Removes every chunk of a document; returns how many there were.
    pub fn remove_document(&self, document_id: &str) -> Result<u64, IndexError> {
        let mut removed = 0;
        self.write(|txn| {
            let committed = txn.committed_digests(txn.fields.document_id, &[document_id])?;
            for digest in committed.values() {
                txn.fingerprint.remove(*digest);
            }
            removed = committed.len() as u64;
            txn.writer
                .delete_term(Term::from_field_text(txn.fields.document_id, document_id));
            Ok(())
        })?;
        Ok(removed)
    }

    /// Removes every chunk.
    pub fn clear(&self) -> Result<(), IndexError> {
        self.write(|txn| {
            txn.writer.delete_all_documents()?;
            *txn.fingerprint = Fingerprint::EMPTY;
            Ok(())
        })
        .map(|_| ())
    }

    /// Replaces the whole index with `chunks` in one commit: readers see the
    /// old index until the new one is complete. Later chunks with an id seen
    /// earlier replace the earlier ones.
    pub fn rebuild_from<I>(&self, chunks: I) -> Result<Fingerprint, IndexError>
    where
        I: IntoIterator,
        I::Item: std::borrow::Borrow<Chunk>,
    {
        use std::borrow::Borrow;
        self.write(|txn| {
            txn.writer.delete_all_documents()?;
            *txn.fingerprint = Fingerprint::EMPTY;
            let mut seen: HashMap<String, u64> = HashMap::new();
            for chunk in chunks {
                let chunk: &Chunk = chunk.borrow();
                let digest = chunk.digest();
                if let Some(old) = seen.insert(chunk.id.clone(), digest) {
                    txn.fingerprint.remove(old);
                    txn.writer
                        .delete_term(Term::from_field_text(txn.fields.chunk_id, &chunk.id));
                }
                txn.add(chunk, digest)?;
            }
            Ok(())
        })
    }

    /// The fingerprint of the last commit, by this process or another.
    /// Compare it with [`Fingerprint::of_chunks`] over the database's chunks;
    /// if they differ, call [`rebuild_from`](Self::rebuild_from).
    pub fn fingerprint(&self) -> Result<Fingerprint, IndexError> {
        Ok(committed_fingerprint(&self.shared.index)?.unwrap_or(Fingerprint::EMPTY))
    }

    /// Number of chunks (index documents) visible to searches.
    pub fn doc_count(&self) -> u64 {
        self.shared.reader.searcher().num_docs()
    }

    /// Makes writes by other processes visible now rather than after the
    /// file watcher notices them (about a second).
    pub fn reload(&self) -> Result<(), IndexError> {
        self.shared.reader.reload()?;
        Ok(())
    }

    /// The `top_n` chunks that best match `question` by BM25, optionally only
    /// of the given document types and/or documents. An empty filter list
    /// matches nothing; a question made only of stop words finds nothing.
    pub fn search(
        &self,
        question: &str,
        top_n: usize,
        document_types: Option<&[&str]>,
        document_ids: Option<&[&str]>,
    ) -> Result<Vec<Passage>, IndexError> {
        let fields = self.shared.fields;
        let terms = distinct_terms(question);
        let empty_filter = |f: Option<&[&str]>| f.is_some_and(|f| f.is_empty());
        if top_n == 0
            || terms.is_empty()
            || empty_filter(document_types)
            || empty_filter(document_ids)
        {
            return Ok(Vec::new());
        }

        let mut term_queries: Vec<Box<dyn Query>> = terms
            .iter()
            .map(|t| {
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.text, t),
                    IndexRecordOption::WithFreqs,
                )) as Box<dyn Query>
            })
            .collect();
        let text_query: Box<dyn Query> = if term_queries.len() == 1 {
            term_queries.remove(0)
        } else {
            Box::new(BooleanQuery::union(term_queries))
        };
        let filters: Vec<Box<dyn Query>> = [
            (fields.document_type, document_types),
            (fields.document_id, document_ids),
        ]
        .into_iter()
        .filter_map(|(field, values)| {
            let terms = values?
                .iter()
                .map(|v| Term::from_field_text(field, v))
                .collect::<Vec<_>>();
            // A filter must not change the ranking, only what is eligible.
            Some(Box::new(ConstScoreQuery::new(
                Box::new(TermSetQuery::new(terms)),
                0.0,
            )) as Box<dyn Query>)
        })
        .collect();
        let query: Box<dyn Query> = if filters.is_empty() {
            text_query
        } else {
            let mut clauses = vec![(Occur::Must, text_query)];
            clauses.extend(filters.into_iter().map(|f| (Occur::Must, f)));
            Box::new(BooleanQuery::new(clauses))
        };

        let searcher = self.shared.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(top_n).order_by_score())?;
        let mut passages = top
            .into_iter()
            .map(|(score, address)| self.passage(&searcher, address, score))
            .collect::<Result<Vec<_>, _>>()?;
        // Ties are broken by chunk id, not by where a chunk happens to sit in
        // the index, so a rebuilt index answers exactly as the old one did.
        passages.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.chunk_id.cmp(&b.chunk_id))
        });
        Ok(passages)
    }

    fn passage(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: f32,
    ) -> Result<Passage, IndexError> {
        let f = &self.shared.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let number = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        Ok(Passage {
            chunk_id: text(f.chunk_id),
            document_id: text(f.document_id),
            document_type: text(f.document_type),
            page: u32::try_from(number(f.page)).unwrap_or(u32::MAX),
            start: usize::try_from(number(f.start)).unwrap_or(usize::MAX),
            end: usize::try_from(number(f.end)).unwrap_or(usize::MAX),
            text: text(f.text),
            score,
        })
    }

    /// Runs `op` with a writer and commits its changes with the updated
    /// fingerprint; if `op` fails nothing is committed.
    fn write<F>(&self, op: F) -> Result<Fingerprint, IndexError>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<(), IndexError>,
    {
        let shared = &self.shared;
        let _in_process = lock(&shared.write_lock);
        let mut writer = shared.acquire_writer()?;
        // Another process may have committed since our reader last looked;
        // the fingerprint arithmetic below needs exactly the committed state.
        shared.reader.reload()?;
        let mut fingerprint = committed_fingerprint(&shared.index)?.unwrap_or(Fingerprint::EMPTY);
        {
            let searcher = shared.reader.searcher();
            let mut txn = Txn {
                writer: &writer,
                searcher: &searcher,
                fields: shared.fields,
                fingerprint: &mut fingerprint,
            };
            op(&mut txn)?;
        }
        let payload = serde_json::to_string(&CommitPayload::new(fingerprint))
            .map_err(|e| IndexError::Backend(Box::new(e)))?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        // Merges run in background threads that would otherwise outlive the
        // writer lock we are about to release.
        writer.wait_merging_threads()?;
        shared.reader.reload()?;
        Ok(fingerprint)
    }
}

struct Txn<'a> {
    writer: &'a IndexWriter,
    searcher: &'a Searcher,
    fields: Fields,
    fingerprint: &'a mut Fingerprint,
}

impl Txn<'_> {
    fn add(&mut self, chunk: &Chunk, digest: u64) -> Result<(), IndexError> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.chunk_id, &chunk.id);
        doc.add_text(f.document_id, &chunk.document_id);
        doc.add_text(f.document_type, &chunk.document_type);
        doc.add_u64(f.page, u64::from(chunk.page));
        doc.add_u64(f.start, chunk.start as u64);
        doc.add_u64(f.end, chunk.end as u64);
        doc.add_u64(f.digest, digest);
        doc.add_text(f.text, &chunk.text);
        self.writer.add_document(doc)?;
        self.fingerprint.insert(digest);
        Ok(())
    }

    /// Chunk id → digest of the committed chunks whose `field` is one of `values`.
    fn committed_digests(
        &self,
        field: Field,
        values: &[&str],
    ) -> Result<HashMap<String, u64>, IndexError> {
        if values.is_empty() || self.searcher.num_docs() == 0 {
            return Ok(HashMap::new());
        }
        let query = TermSetQuery::new(values.iter().map(|v| Term::from_field_text(field, v)));
        let addresses = self.searcher.search(&query, &DocSetCollector)?;
        let mut digests = HashMap::with_capacity(addresses.len());
        for address in addresses {
            let doc: TantivyDocument = self.searcher.doc(address)?;
            let id = doc
                .get_first(self.fields.chunk_id)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let digest = doc
                .get_first(self.fields.digest)
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            digests.insert(id, digest);
        }
        Ok(digests)
    }
}

impl Shared {
    fn open_dir(path: &Path, options: IndexOptions) -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        let index = match open_current(path, &schema)? {
            Some(index) => index,
            None => {
                // Only the holder of the writer lock may replace the files,
                // and another process may have done it while we waited.
                let _lock = acquire_with_backoff(path, options.lock_timeout, || {
                    let dir = MmapDirectory::open(path)?;
                    dir.acquire_lock(&INDEX_WRITER_LOCK)
                        .map_err(|e| TantivyError::LockFailure(e, None))
                })?;
                match open_current(path, &schema)? {
                    Some(index) => index,
                    None => {
                        tracing::info!(path = %path.display(), "discarding an index of another format; it will be rebuilt");
                        remove_index_files(path)?;
                        Index::create_in_dir(path, schema)?
                    }
                }
            }
        };
        register_tokenizer(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            fields,
            path: Some(path.to_path_buf()),
            options,
            write_lock: Mutex::new(()),
        })
    }

    fn acquire_writer(&self) -> Result<IndexWriter, IndexError> {
        let threads = self.options.writer_threads.max(1);
        let memory = self.options.writer_memory_bytes;
        let attempt = || self.index.writer_with_num_threads(threads, memory);
        match &self.path {
            Some(path) => acquire_with_backoff(path, self.options.lock_timeout, attempt),
            None => Ok(attempt()?),
        }
    }
}

/// Retries `attempt` while tantivy reports the writer lock busy (another
/// process is writing), with exponential backoff and jitter, up to `timeout`.
fn acquire_with_backoff<T>(
    path: &Path,
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<T, TantivyError>,
) -> Result<T, IndexError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(IndexError::Busy {
                        path: path.to_path_buf(),
                        waited,
                    });
                }
                tracing::debug!(path = %path.display(), ?waited, "index writer lock busy; waiting");
                let jitter = Duration::from_micros(u64::from(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos())
                        % 1_000,
                ));
                std::thread::sleep((delay + jitter).min(timeout.saturating_sub(waited)));
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The index in `path` if it exists, or was just created, with our schema and
/// format; `None` if what is there is of another format or unreadable.
fn open_current(path: &Path, schema: &Schema) -> Result<Option<Index>, IndexError> {
    let dir = MmapDirectory::open(path).map_err(|e| IndexError::Backend(Box::new(e)))?;
    match Index::open_or_create(dir, schema.clone()) {
        Ok(index) => {
            let current = match index.load_metas()?.payload {
                Some(payload) => serde_json::from_str::<CommitPayload>(&payload)
                    .is_ok_and(|p| p.format == INDEX_FORMAT),
                None => index.load_metas()?.segments.is_empty(),
            };
            Ok(current.then_some(index))
        }
        Err(
            TantivyError::SchemaError(_)
            | TantivyError::DataCorruption(_)
            | TantivyError::IncompatibleIndex(_)
            | TantivyError::InvalidArgument(_),
        ) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

fn committed_fingerprint(index: &Index) -> Result<Option<Fingerprint>, IndexError> {
    let payload = index.load_metas()?.payload;
    Ok(payload
        .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
        .filter(|p| p.format == INDEX_FORMAT)
        .and_then(|p| p.fingerprint()))
}

/// Removes the index files from `path`, keeping the lock files (another
/// process may hold them) and anything in subdirectories.
fn remove_index_files(path: &Path) -> Result<(), IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let keep = name == ".tantivy-writer.lock" || name == ".tantivy-meta.lock";
        if !keep && entry.file_type().map_err(io)?.is_file() {
            std::fs::remove_file(entry.path()).map_err(io)?;
        }
    }
    Ok(())
}

fn register_tokenizer(index: &Index) {
    index.tokenizers().register(
        TOKENIZER_NAME,
        TextAnalyzer::from(QuireTokenizer::default()),
    );
}
