-- Facts about this installation that every instance must agree on.
CREATE TABLE IF NOT EXISTS service_metadata (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
