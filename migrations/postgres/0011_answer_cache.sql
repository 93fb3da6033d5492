-- The answer cache (issue 19). A workspace's document-set generation: bumped in the
-- transaction of every change to which documents the workspace holds or what they say
-- (added, removed, new content, embedded), so a cached answer keyed by the generation
-- it was asked at is never served after the documents changed. A workspace without a
-- row is at generation 0.
CREATE TABLE workspace_document_generations (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL,
    generation   BIGINT NOT NULL
);

-- Whether a result's answer came from the answer cache (0/1) rather than the backend.
ALTER TABLE question_results ADD COLUMN cached BIGINT NOT NULL DEFAULT 0;
