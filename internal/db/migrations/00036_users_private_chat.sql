-- A user's chat_id is their private chat with the bot, where payment,
-- refund and job notices go. Before the bot stopped taking a group's chat
-- as the user's, a message in a group rebound it. Telegram gives every
-- private chat the user's own id, and group and channel ids are negative,
-- so a rebound row is repaired by pointing it back at the private chat.

-- +goose Up
UPDATE users SET chat_id = telegram_id, updated_at = now() WHERE chat_id < 0 AND telegram_id > 0;

-- +goose Down
-- Nothing to undo: the group ids were wrong.
SELECT 1;
