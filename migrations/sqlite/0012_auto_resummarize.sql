-- Issue 13, build 8: an organisation's `auto_resummarize` setting (0/1). When on, a
-- document whose content changes gets fresh summaries, made like its summaries that the
-- change marked stale.
ALTER TABLE organisations ADD COLUMN auto_resummarize BIGINT NOT NULL DEFAULT 0;
