-- Question sets and scored runs (issue 7). Portable types: TEXT ids, BIGINT epoch ms,
-- BIGINT 0/1 booleans, DOUBLE PRECISION scores, JSON as TEXT.

-- A stored question set: the validated questions as one JSON array (quire-evals
-- `Question`s), read and written whole.
CREATE TABLE question_sets (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    description    TEXT,
    questions      TEXT NOT NULL,
    question_count BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX question_sets_by_org ON question_sets (org_id, created_at);

-- One run of questions against a workspace. `id` is the id of its `questions.run` job.
-- `questions` is the snapshot taken when the run was created, so editing or deleting
-- the set later changes nothing about the run (nor about a resumed attempt).
CREATE TABLE question_runs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    question_set_id TEXT,
    questions       TEXT NOT NULL,
    total           BIGINT NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    repeats         BIGINT NOT NULL,
    settings        TEXT NOT NULL,
    baseline_run_id TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX question_runs_by_workspace ON question_runs (org_id, workspace_id, created_at);

-- One answer to one question (per repeat), written as it completes. The primary key is
-- the natural key of the work: a resumed run skips what is here, and a repeated insert
-- of the same answer is a no-op.
CREATE TABLE question_results (
    run_id             TEXT NOT NULL REFERENCES question_runs(id) ON DELETE CASCADE,
    org_id             TEXT NOT NULL,
    question_id        TEXT NOT NULL,
    repeat_no          BIGINT NOT NULL,
    position           BIGINT NOT NULL,
    question           TEXT NOT NULL,
    response           TEXT NOT NULL,
    confidence         DOUBLE PRECISION NOT NULL,
    success            BIGINT NOT NULL,
    fragments_found    TEXT NOT NULL,
    fragments_missing  TEXT NOT NULL,
    assertions         TEXT NOT NULL,
    sources            TEXT NOT NULL,
    details            TEXT,
    error              TEXT,
    processing_time_ms BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (run_id, question_id, repeat_no)
);
CREATE INDEX question_results_in_order ON question_results (run_id, position, repeat_no);
