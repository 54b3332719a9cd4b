package db

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Pinned files are kept in the model's context for every change of their
// project (/add and /drop, as Aider's commands of those names).

// PinFiles pins paths in a project; pinning a pinned file again is a no-op.
func PinFiles(ctx context.Context, q Querier, projectID string, paths []string) error {
	if _, err := q.Exec(ctx, `INSERT INTO pinned_files (project_id, path) SELECT $1, unnest($2::text[])
		ON CONFLICT DO NOTHING`, projectID, paths); err != nil {
		return fmt.Errorf("PinFiles(%s): %w", projectID, translate(err))
	}
	return nil
}

// UnpinFiles unpins paths (all of the project's with none given) and
// returns those that were pinned.
func UnpinFiles(ctx context.Context, q Querier, projectID string, paths []string) ([]string, error) {
	rows, err := q.Query(ctx, `DELETE FROM pinned_files WHERE project_id = $1
		AND (coalesce(cardinality($2::text[]), 0) = 0 OR path = ANY($2)) RETURNING path`, projectID, paths)
	if err != nil {
		return nil, fmt.Errorf("UnpinFiles(%s): %w", projectID, translate(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("UnpinFiles(%s): %w", projectID, translate(err))
	}
	return out, nil
}

// PinnedFiles lists a project's pinned files that still exist, by path.
func PinnedFiles(ctx context.Context, q Querier, projectID string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT p.path FROM pinned_files p
		JOIN project_files f ON f.project_id = p.project_id AND f.path = p.path AND NOT f.deleted
		WHERE p.project_id = $1 ORDER BY p.path`, projectID)
	if err != nil {
		return nil, fmt.Errorf("PinnedFiles(%s): %w", projectID, translate(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("PinnedFiles(%s): %w", projectID, translate(err))
	}
	return out, nil
}

// SetAwaitingJob records the job whose question the user's next plain
// message answers (nil: none).
func SetAwaitingJob(ctx context.Context, q Querier, userID int64, jobID *int64) error {
	if _, err := q.Exec(ctx, `UPDATE users SET awaiting_job = $2 WHERE id = $1`, userID, jobID); err != nil {
		return fmt.Errorf("SetAwaitingJob(%d): %w", userID, translate(err))
	}
	return nil
}
