-- Live events (issue 16): the shared, bounded log behind GET /api/v1/ws.
--
-- Every instance appends here and reads what it has not yet delivered, in id order, so a
-- client that resumes with its last id gets "rows after it, then live" without gap or
-- duplicate. Writers take the log's lock (PostgreSQL: an advisory transaction lock) so
-- ids become visible in increasing order. Rows older than EVENT_RETENTION_SECONDS are
-- pruned. `data` is JSON text.
CREATE TABLE events (
    id     BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    topic  TEXT NOT NULL,
    type   TEXT NOT NULL,
    data   TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX events_by_org ON events (org_id, id);
CREATE INDEX events_by_time ON events (at);

-- One-time WebSocket tickets (POST /api/v1/ws/tickets): stored as a SHA-256 hash, valid
-- 30 s, used at most once (the redeeming UPDATE sets used_at), on any instance.
CREATE TABLE ws_tickets (
    ticket_hash TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    user_id     TEXT,
    role        TEXT NOT NULL,
    is_superuser BIGINT NOT NULL DEFAULT 0,
    credential_kind TEXT NOT NULL,
    credential_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX ws_tickets_by_expiry ON ws_tickets (expires_at);
