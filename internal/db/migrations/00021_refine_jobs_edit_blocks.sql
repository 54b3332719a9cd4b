-- The number of edit blocks the editor applied in a refinement (its
-- SEARCH/REPLACE blocks or diff hunks as the editor counted them), shown as
-- "K edits" in the reply. NULL for jobs recorded before this column and for
-- jobs that did not succeed.

-- +goose Up
ALTER TABLE refine_jobs ADD COLUMN edit_blocks integer
    CONSTRAINT refine_jobs_edit_blocks_not_negative CHECK (edit_blocks >= 0);

-- +goose Down
ALTER TABLE refine_jobs DROP COLUMN edit_blocks;
