-- Financial statements (issue 14). An extraction is one PDF read for statements by a
-- `statements.extract` job: its status, the verdict on every page (JSON), the types
-- found and what went wrong. Each statement it found is a row: periods, line items and
-- checks as JSON TEXT, values as printed with the statement's scale beside them.
-- Times are epoch milliseconds; REAL is SQLite's 8-byte float.
CREATE TABLE extractions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    job_id          TEXT NOT NULL,
    document_id     TEXT,
    file_name       TEXT NOT NULL,
    storage_key     TEXT NOT NULL,
    owns_original   BIGINT NOT NULL,
    status          TEXT NOT NULL,
    company_name    TEXT,
    fiscal_year     BIGINT,
    pages_requested TEXT,
    statement_types TEXT NOT NULL,
    confidence      REAL,
    page_count      BIGINT,
    pages           TEXT NOT NULL,
    processing_ms   BIGINT,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX extractions_by_org ON extractions (org_id, created_at);

CREATE TABLE statements (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    extraction_id  TEXT NOT NULL REFERENCES extractions(id) ON DELETE CASCADE,
    position       BIGINT NOT NULL,
    statement_type TEXT NOT NULL,
    title          TEXT,
    company_name   TEXT,
    fiscal_year    BIGINT,
    pages          TEXT NOT NULL,
    periods        TEXT NOT NULL,
    scale          BIGINT NOT NULL,
    currency       TEXT,
    line_items     TEXT NOT NULL,
    checks         TEXT NOT NULL,
    checks_failed  BIGINT NOT NULL,
    confidence     REAL NOT NULL,
    method         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (extraction_id, position)
);
CREATE INDEX statements_by_org ON statements (org_id, created_at);
CREATE INDEX statements_by_extraction ON statements (extraction_id);
