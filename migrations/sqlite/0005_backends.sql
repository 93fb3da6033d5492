-- Backend state kept by Quire itself. For the embedded engine, chunks are the source
-- of truth (any on-disk index is a cache rebuilt from them); threads keep history for
-- both backends.
CREATE TABLE chunks (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    doc_type     TEXT NOT NULL,
    page_number  BIGINT NOT NULL,
    ordinal      BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    end_offset   BIGINT NOT NULL,
    text         TEXT NOT NULL
);
CREATE INDEX chunks_by_workspace ON chunks (workspace_id, document_id);

-- Bumped whenever a workspace's chunks change, so every instance can tell whether
-- its local index cache is stale.
CREATE TABLE workspace_index_generations (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    generation   BIGINT NOT NULL
);

CREATE TABLE threads (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    backend_ref  TEXT,
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT
);
CREATE INDEX threads_by_workspace ON threads (org_id, workspace_id);

CREATE TABLE thread_messages (
    id         TEXT PRIMARY KEY,
    thread_id  TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX thread_messages_by_thread ON thread_messages (thread_id, created_at);
