-- Durable background jobs (issue 4). Portable types only: TEXT ids, BIGINT epoch
-- milliseconds, BIGINT 0/1 booleans, TEXT JSON, DOUBLE PRECISION progress.
--
-- Two claim keys keep every claim an index probe (see src/jobs/repo.rs):
-- `available_at` is set while the job is queued and runnable now (when it became so);
-- the fair lane `jobs_lane` orders those rows by `org_seq`, the job's place in its
-- organisation's backlog when enqueued, so organisations are served round-robin.
-- `wake_at` is set while the job waits for a time: `run_at` of a delayed or retried job,
-- `lease_until` of a running one (an expired lease makes it claimable again).
-- Terminal rows have neither. `max_attempts` NULL means the workers' JOB_MAX_ATTEMPTS.
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
    wake_at             BIGINT,
    org_seq             BIGINT NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         BIGINT,
    cancel_requested    BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    started_at          BIGINT,
    completed_at        BIGINT,
    updated_at          BIGINT NOT NULL
);
-- The claim: the fair lane of runnable jobs, and the jobs waiting for a time.
CREATE INDEX jobs_lane ON jobs (org_seq, available_at, id) WHERE available_at IS NOT NULL;
CREATE INDEX jobs_timed ON jobs (wake_at, id) WHERE wake_at IS NOT NULL;
-- An organisation's unfinished backlog, read when enqueuing; also the gauges.
CREATE INDEX jobs_unfinished ON jobs (org_id, org_seq) WHERE completed_at IS NULL;
-- Listings, newest first, and the cleanup of old terminal jobs.
CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
CREATE INDEX jobs_by_completion ON jobs (completed_at) WHERE completed_at IS NOT NULL;
-- A queue table churns: vacuum and analyse it far more often than the defaults (20% /
-- 10% of the rows changed), so dead row versions do not pile up in the claim indexes and
-- the planner keeps reading the claim off them.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01);
