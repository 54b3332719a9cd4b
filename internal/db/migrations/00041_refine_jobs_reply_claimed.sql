-- When a delivery began sending a job's reply: committed before the send,
-- so the reply's row lock is not held across the Telegram call and a
-- dropped database connection after the send cannot roll the intent back.
-- reply_sent_at is then recorded on a fresh connection. A claim without
-- reply_sent_at that is older than the reply's deadline means the sender
-- died (or the database stayed away) between the two: the reply is sent
-- again, the one duplicate Telegram's API (no idempotency key) leaves.

-- +goose Up
ALTER TABLE refine_jobs ADD COLUMN reply_claimed_at timestamptz;

-- +goose Down
ALTER TABLE refine_jobs DROP COLUMN reply_claimed_at;
