-- Documents from any source. A document belongs to its organisation's library and may be
-- in any number of workspaces: what was per workspace on the document row (embedding
-- status, backend location, error) moves to `workspace_documents`, and the fields of an
-- upload (job, archive path, workspace it came into) become optional, so a document can
-- be born from the API or an integration. `lifecycle_status` is the document's own state
-- (`active`, `updating`, `error`); `embed_status` is the embedding pipeline's per workspace.
--
-- PostgreSQL alters the table in place (SQLite rebuilds it, see its 0008).
ALTER TABLE documents ALTER COLUMN workspace_id DROP NOT NULL;
ALTER TABLE documents ALTER COLUMN upload_job_id DROP NOT NULL;
ALTER TABLE documents ALTER COLUMN archive_path DROP NOT NULL;
ALTER TABLE documents ADD COLUMN title TEXT;
ALTER TABLE documents ADD COLUMN source_type TEXT NOT NULL DEFAULT 'upload';
ALTER TABLE documents ADD COLUMN source_url TEXT;
ALTER TABLE documents ADD COLUMN external_id TEXT;
ALTER TABLE documents ADD COLUMN external_last_updated BIGINT;
ALTER TABLE documents ADD COLUMN lifecycle_status TEXT NOT NULL DEFAULT 'active';
UPDATE documents SET title = name;
ALTER TABLE documents ALTER COLUMN title SET NOT NULL;
ALTER TABLE documents ALTER COLUMN source_type DROP DEFAULT;
ALTER TABLE documents ALTER COLUMN lifecycle_status DROP DEFAULT;
DROP INDEX documents_by_workspace;

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
SELECT org_id, workspace_id, id, status, backend_location, error, created_at, updated_at
FROM documents;
ALTER TABLE documents DROP COLUMN status;
ALTER TABLE documents DROP COLUMN backend_location;
ALTER TABLE documents DROP COLUMN error;
