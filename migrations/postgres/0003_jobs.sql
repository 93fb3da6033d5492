-- Durable background jobs (issue 4). Portable types only: TEXT ids, BIGINT epoch
-- milliseconds, BIGINT 0/1 booleans, TEXT JSON, DOUBLE PRECISION progress.
--
-- `available_at` is the claim key: the time from which a worker may claim the row —
-- `run_at` while queued, `lease_until` while running (so an expired lease is claimable
-- again), NULL once terminal. `org_seq` is the job's place in its organisation's backlog
-- when it was enqueued; claiming in (org_seq, available_at) order serves organisations
-- round-robin (see src/jobs/repo.rs). `max_attempts` NULL means the workers' JOB_MAX_ATTEMPTS.
CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id        TEXT,
    job_type            TEXT NOT NULL,
    status              TEXT NOT NULL,
    payload             TEXT NOT NULL,
    result              TEXT,
    checkpoint          TEXT,
    error               TEXT,
    progress            DOUBLE PRECISION NOT NULL DEFAULT 0,
    progress_message    TEXT,
    progress_at_start   DOUBLE PRECISION NOT NULL DEFAULT 0,
    progress_updated_at BIGINT,
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT,
    run_at              BIGINT NOT NULL,
    available_at        BIGINT,
    org_seq             BIGINT NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         BIGINT,
    cancel_requested    BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    started_at          BIGINT,
    completed_at        BIGINT,
    updated_at          BIGINT NOT NULL
);
-- The claim: walk non-terminal jobs in fair order, skip those not yet available.
CREATE INDEX jobs_claim ON jobs (org_seq, available_at, id) WHERE available_at IS NOT NULL;
-- An organisation's backlog tail, read when enqueuing.
CREATE INDEX jobs_org_backlog ON jobs (org_id, org_seq) WHERE available_at IS NOT NULL;
-- Listings, newest first, and the cleanup of old terminal jobs.
CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
CREATE INDEX jobs_by_status ON jobs (status, completed_at);
