-- Prompt templates and document summaries (issue 13).
--
-- An organisation's own templates; the global ones ship in the code
-- (src/templates/globals.rs), read-only, listed beside these. At most one default per
-- organisation and type (the partial unique index).
CREATE TABLE templates (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    prompt_template TEXT NOT NULL,
    template_type   TEXT NOT NULL,
    is_default      BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX templates_by_org ON templates (org_id, template_type, name);
CREATE UNIQUE INDEX templates_one_default ON templates (org_id, template_type) WHERE is_default = 1;

-- `template_id` names an organisation's template or a global one, so it has no foreign
-- key. A summary keeps what makes it reproducible: the template text it was rendered from,
-- the rendered prompt, the document's content hash, the LLM settings (never a key),
-- the tokens by kind, the calls it took and how long. `cache_key` is the hash of
-- content hash + rendered prompt + model settings + format; a completed summary with
-- the same key is reused. `stale` is set when the document's content changes.
CREATE TABLE summaries (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    document_id       TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    created_by        TEXT REFERENCES users(id) ON DELETE SET NULL,
    template_id       TEXT,
    job_id            TEXT,
    parent_job_id     TEXT,
    format            TEXT NOT NULL,
    status            TEXT NOT NULL,
    stale             BIGINT NOT NULL DEFAULT 0,
    summary_text      TEXT,
    sentences         TEXT,
    error             TEXT,
    error_details     TEXT,
    model_used        TEXT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    tokens_estimated  BIGINT NOT NULL DEFAULT 0,
    llm_calls         BIGINT NOT NULL DEFAULT 0,
    template_text     TEXT,
    rendered_prompt   TEXT,
    request           TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    llm_settings      TEXT,
    cache_key         TEXT,
    cached_from       TEXT,
    processing_ms     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    completed_at      BIGINT
);
CREATE INDEX summaries_by_org ON summaries (org_id, created_at);
CREATE INDEX summaries_by_document ON summaries (org_id, document_id);
CREATE INDEX summaries_by_cache_key ON summaries (org_id, cache_key, status);
CREATE UNIQUE INDEX summaries_one_per_bulk_document ON summaries (parent_job_id, document_id);
