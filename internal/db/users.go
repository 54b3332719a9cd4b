package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// User is a Telegram user of the bot.
type User struct {
	ID               int64
	TelegramID       int64
	ChatID           int64
	FirstName        string
	Username         string
	Balance          int64 // credits, including held ones
	Held             int64 // credits reserved for queued or running jobs
	CurrentProjectID *string
	OpenPath         *string
	LLMKeyEncrypted  []byte
	CreatedAt        time.Time
	// AwaitingJob is the job whose question (the model asked instead of
	// editing) the user's next plain message answers.
	AwaitingJob *int64
}

// Available is what the user can still spend.
func (u User) Available() int64 { return u.Balance - u.Held }

const userColumns = `id, telegram_id, chat_id, first_name, username, balance, held,
	current_project_id::text, open_path, llm_key_encrypted, created_at, awaiting_job`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.TelegramID, &u.ChatID, &u.FirstName, &u.Username, &u.Balance, &u.Held,
		&u.CurrentProjectID, &u.OpenPath, &u.LLMKeyEncrypted, &u.CreatedAt, &u.AwaitingJob)
	return u, translate(err)
}

// TelegramUser is who sent an update.
type TelegramUser struct {
	TelegramID int64
	ChatID     int64
	FirstName  string
	Username   string
}

// EnsureUser registers a user on first contact, with welcome credits, and
// refreshes the chat and names on later contacts. created reports whether
// this call registered them.
//
// The user row and the welcome credit are one statement, so they commit
// together whatever q is (the pool, in autocommit, or a transaction): a
// failure between them would leave a user whose next contact finds them
// registered and never grants the credits. Concurrent first contacts
// serialize on the telegram_id key; one of them creates, and the welcome's
// cause ("welcome:<user>") makes a second grant impossible anyway.
func EnsureUser(ctx context.Context, q Querier, tu TelegramUser, welcomeCredits int64) (u User, created bool, err error) {
	// The ledger trigger moves users.balance at the end of the statement,
	// when the inserted row is visible to it.
	row := q.QueryRow(ctx, `
		WITH u AS (
			INSERT INTO users (telegram_id, chat_id, first_name, username) VALUES ($1, $2, $3, $4)
			ON CONFLICT (telegram_id) DO UPDATE
			   SET chat_id = EXCLUDED.chat_id, first_name = EXCLUDED.first_name,
			       username = EXCLUDED.username, updated_at = now()
			RETURNING id, (xmax = 0) AS created
		), welcome AS (
			INSERT INTO credit_ledger (user_id, amount, kind, cause, description)
			SELECT id, $5::bigint, '`+KindWelcome+`', 'welcome:' || id, 'welcome' FROM u WHERE created AND $5::bigint > 0
			ON CONFLICT (cause) DO NOTHING
		)
		SELECT created FROM u`, tu.TelegramID, tu.ChatID, tu.FirstName, tu.Username, welcomeCredits)
	if err := row.Scan(&created); err != nil {
		return User{}, false, fmt.Errorf("EnsureUser(%d): %w", tu.TelegramID, translate(err))
	}
	u, err = UserByTelegramID(ctx, q, tu.TelegramID)
	if err != nil {
		return User{}, false, err
	}
	return u, created, nil
}

// TouchUser is EnsureUser that writes only when something changed: a
// returning user whose chat and names are as stored costs one read, and
// takes no lock on the row (a command's transaction that starts with it
// does not serialize with a job's charge until it needs to).
func TouchUser(ctx context.Context, q Querier, tu TelegramUser, welcomeCredits int64) (u User, created bool, err error) {
	u, err = UserByTelegramID(ctx, q, tu.TelegramID)
	if err == nil && u.ChatID == tu.ChatID && u.FirstName == tu.FirstName && u.Username == tu.Username {
		return u, false, nil
	}
	if err != nil && !errors.Is(err, fault.ErrNotFound) {
		return User{}, false, err
	}
	return EnsureUser(ctx, q, tu, welcomeCredits)
}

// UserByTelegramID finds a user by their Telegram id.
func UserByTelegramID(ctx context.Context, q Querier, telegramID int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE telegram_id = $1`, telegramID))
	if err != nil {
		return User{}, fmt.Errorf("UserByTelegramID(%d): %w", telegramID, err)
	}
	return u, nil
}

// UserByID finds a user by our id.
func UserByID(ctx context.Context, q Querier, id int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("UserByID(%d): %w", id, err)
	}
	return u, nil
}

// LockUser reads a user and locks their row until the transaction ends, to
// serialize per-user decisions such as a rate limit.
func LockUser(ctx context.Context, q Querier, id int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return User{}, fmt.Errorf("LockUser(%d): %w", id, err)
	}
	return u, nil
}

// SelectProject makes projectID the user's current project and closes any
// open file. The foreign key refuses another user's project.
func SelectProject(ctx context.Context, q Querier, userID int64, projectID string) error {
	_, err := q.Exec(ctx, `UPDATE users SET current_project_id = $2, open_path = NULL, updated_at = now() WHERE id = $1`,
		userID, projectID)
	if err != nil {
		return fmt.Errorf("SelectProject(%d, %s): %w", userID, projectID, translate(err))
	}
	return nil
}

// SetOpenPath opens a file of the current project for plain-text
// instructions; nil closes it.
func SetOpenPath(ctx context.Context, q Querier, userID int64, path *string) error {
	_, err := q.Exec(ctx, `UPDATE users SET open_path = $2, updated_at = now() WHERE id = $1`, userID, path)
	if err != nil {
		return fmt.Errorf("SetOpenPath(%d): %w", userID, translate(err))
	}
	return nil
}

// SetLLMKey stores the user's encrypted model key; nil deletes it.
func SetLLMKey(ctx context.Context, q Querier, userID int64, encrypted []byte) error {
	_, err := q.Exec(ctx, `UPDATE users SET llm_key_encrypted = $2, updated_at = now() WHERE id = $1`, userID, encrypted)
	if err != nil {
		return fmt.Errorf("SetLLMKey(%d): %w", userID, translate(err))
	}
	return nil
}
