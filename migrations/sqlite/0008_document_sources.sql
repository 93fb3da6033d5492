-- Documents from any source. A document belongs to its organisation's library and may be
-- in any number of workspaces: what was per workspace on the document row (embedding
-- status, backend location, error) moves to `workspace_documents`, and the fields of an
-- upload (job, archive path, workspace it came into) become optional, so a document can
-- be born from the API or an integration. `lifecycle_status` is the document's own state
-- (`active`, `updating`, `error`); `embed_status` is the embedding pipeline's per workspace.
--
-- SQLite cannot drop NOT NULL, so `documents` is rebuilt. With foreign keys on (they are,
-- on every connection) dropping `documents` deletes its pages and chunks by cascade, so
-- they are copied aside first and put back after the new table takes the name.
CREATE TABLE documents_next (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id          TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    upload_job_id         TEXT,
    archive_path          TEXT,
    name                  TEXT NOT NULL,
    title                 TEXT NOT NULL,
    source_type           TEXT NOT NULL,
    source_url            TEXT,
    external_id           TEXT,
    external_last_updated BIGINT,
    lifecycle_status      TEXT NOT NULL,
    doc_type              TEXT NOT NULL,
    size_bytes            BIGINT NOT NULL,
    sha256                TEXT NOT NULL,
    storage_key           TEXT NOT NULL,
    page_count            BIGINT NOT NULL,
    text_length           BIGINT NOT NULL,
    flags                 TEXT NOT NULL DEFAULT '[]',
    metadata              TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (upload_job_id, archive_path)
);
INSERT INTO documents_next (id, org_id, workspace_id, upload_job_id, archive_path, name, title,
    source_type, lifecycle_status, doc_type, size_bytes, sha256, storage_key, page_count,
    text_length, flags, metadata, created_at, updated_at)
SELECT id, org_id, workspace_id, upload_job_id, archive_path, name, name, 'upload', 'active',
    doc_type, size_bytes, sha256, storage_key, page_count, text_length, flags, metadata,
    created_at, updated_at
FROM documents;
CREATE TABLE migrating_memberships AS
SELECT org_id, workspace_id, id AS document_id, status AS embed_status, backend_location, error,
    created_at AS added_at, updated_at
FROM documents;
CREATE TABLE migrating_pages AS SELECT * FROM document_pages;
CREATE TABLE migrating_chunks AS SELECT * FROM chunks;
DROP TABLE documents;
ALTER TABLE documents_next RENAME TO documents;
INSERT INTO document_pages SELECT * FROM migrating_pages;
INSERT INTO chunks SELECT * FROM migrating_chunks;
DROP TABLE migrating_pages;
DROP TABLE migrating_chunks;

-- An upload still stores the same content once per workspace it came into.
CREATE UNIQUE INDEX documents_unique_content ON documents (workspace_id, sha256);
CREATE INDEX documents_by_org ON documents (org_id, created_at);
CREATE INDEX documents_by_external_id ON documents (org_id, source_type, external_id);

CREATE TABLE workspace_documents (
    org_id           TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    document_id      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    embed_status     TEXT NOT NULL,
    backend_location TEXT,
    error            TEXT,
    added_at         BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, document_id)
);
CREATE INDEX workspace_documents_by_workspace ON workspace_documents (org_id, workspace_id, embed_status, added_at);
CREATE INDEX workspace_documents_by_document ON workspace_documents (document_id);
INSERT INTO workspace_documents (org_id, workspace_id, document_id, embed_status, backend_location, error, added_at, updated_at)
SELECT org_id, workspace_id, document_id, embed_status, backend_location, error, added_at, updated_at
FROM migrating_memberships;
DROP TABLE migrating_memberships;
