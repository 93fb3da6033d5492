-- Job de-duplication and one naming scheme for job types (see crates/jobs).
--
-- `dedup_key` names the work a job does within its organisation and type. Two partial
-- unique indexes make the database enforce what `NewJob::dedup_key` promises:
-- `jobs_dedup_waiting`: at most one job of a key waits (queued, never started), and an
-- enqueue that meets it returns it (`INSERT ... ON CONFLICT ... DO NOTHING`);
-- `jobs_dedup_running`: at most one job of a key runs; the claim passes over a job whose
-- twin runs, and this index turns the race between two claimers into one claim.
ALTER TABLE jobs ADD COLUMN dedup_key TEXT;
CREATE UNIQUE INDEX jobs_dedup_waiting ON jobs (org_id, job_type, dedup_key)
    WHERE status = 'queued' AND started_at IS NULL AND dedup_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_dedup_running ON jobs (org_id, job_type, dedup_key)
    WHERE status = 'running' AND dedup_key IS NOT NULL;

-- Job types are `<capability>.<verb>` with the capability's folder name (plural): jobs
-- enqueued by an older version under the old names run under the new ones.
UPDATE jobs SET job_type = 'documents.upload' WHERE job_type = 'document.upload';
UPDATE jobs SET job_type = 'workspaces.embed' WHERE job_type = 'workspace.embed';
