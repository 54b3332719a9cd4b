-- When a delivery last claimed a running job: a lease. A second delivery of
-- the same job (Pub/Sub can push one message to two instances) does not run
-- the model again while the first one's lease is live; it is asked to come
-- back later, and by then finds the job finished. A delivery whose instance
-- died frees the job when its lease runs out.

-- +goose Up
ALTER TABLE refine_jobs ADD COLUMN claimed_at timestamptz;

-- +goose Down
ALTER TABLE refine_jobs DROP COLUMN claimed_at;
