-- Workspaces (a named collection of documents on one backend) and the documents that
-- entered through uploads, with their extracted text per page.
CREATE TABLE workspaces (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    slug                 TEXT NOT NULL,
    description          TEXT,
    backend              TEXT NOT NULL,
    backend_ref          TEXT,
    llm_config           TEXT,
    system_prompt        TEXT,
    prompt_preset        TEXT,
    top_n                BIGINT NOT NULL DEFAULT 4,
    similarity_threshold DOUBLE PRECISION NOT NULL DEFAULT 0.25,
    chat_mode            TEXT NOT NULL DEFAULT 'query',
    status               TEXT NOT NULL DEFAULT 'ready',
    baseline_run_id      TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX workspaces_by_org ON workspaces (org_id, created_at);

CREATE TABLE documents (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    upload_job_id    TEXT NOT NULL,
    archive_path     TEXT NOT NULL,
    name             TEXT NOT NULL,
    doc_type         TEXT NOT NULL,
    size_bytes       BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    storage_key      TEXT NOT NULL,
    page_count       BIGINT NOT NULL,
    text_length      BIGINT NOT NULL,
    status           TEXT NOT NULL,
    flags            TEXT NOT NULL DEFAULT '[]',
    metadata         TEXT,
    backend_location TEXT,
    error            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (upload_job_id, archive_path)
);
-- The same content is stored and embedded once per workspace.
CREATE UNIQUE INDEX documents_unique_content ON documents (workspace_id, sha256);
CREATE INDEX documents_by_workspace ON documents (org_id, workspace_id, created_at);

CREATE TABLE document_pages (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page_number BIGINT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (document_id, page_number)
);
