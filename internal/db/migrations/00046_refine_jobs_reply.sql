-- What the job's reply needs beyond its outcome:
--   error_html           the failure as the user reads it, rendered for
--                        Telegram (a refused edit's blocks and the file's
--                        nearest lines in <pre>); error stays plain text.
--   progress_message_id  the "Working on …" message the bot sent when it
--                        queued the job: the runner edits it into the result
--                        instead of sending a second message.
--   retry_note           why the last delivery handed the job back, in the
--                        user's words ("the model service did not answer"),
--                        so that giving up can say which service failed.

-- +goose Up
ALTER TABLE refine_jobs
    ADD COLUMN error_html text,
    ADD COLUMN progress_message_id bigint,
    ADD COLUMN retry_note text;

-- +goose Down
ALTER TABLE refine_jobs DROP COLUMN retry_note, DROP COLUMN progress_message_id, DROP COLUMN error_html;
