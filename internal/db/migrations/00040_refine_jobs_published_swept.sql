-- What the sweeper needs to find stuck jobs. published_at: when a job's
-- message was last confirmed published (by the bot after its commit, or by
-- the sweeper); a queued job without it was never handed to RefineJobs.
-- sweeps and swept_at: how often and when the sweeper last republished the
-- job, so that a job that never finishes is failed after a bound and two
-- sweeps at once do not both republish it.

-- +goose Up
ALTER TABLE refine_jobs ADD COLUMN published_at timestamptz;
ALTER TABLE refine_jobs ADD COLUMN sweeps integer NOT NULL DEFAULT 0;
ALTER TABLE refine_jobs ADD COLUMN swept_at timestamptz;
CREATE INDEX refine_jobs_unfinished ON refine_jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX refine_jobs_unreplied ON refine_jobs (finished_at) WHERE reply_sent_at IS NULL AND state IN ('succeeded', 'failed', 'rejected');

-- +goose Down
DROP INDEX refine_jobs_unreplied;
DROP INDEX refine_jobs_unfinished;
ALTER TABLE refine_jobs DROP COLUMN swept_at;
ALTER TABLE refine_jobs DROP COLUMN sweeps;
ALTER TABLE refine_jobs DROP COLUMN published_at;
