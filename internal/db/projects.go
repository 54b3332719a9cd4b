package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Project is a user's project; its files live in the storage bucket named
// by its id.
type Project struct {
	ID        string
	UserID    int64
	Name      string
	CreatedAt time.Time
}

const projectColumns = `id::text, user_id, name, created_at`

func scanProject(row pgx.Row) (Project, error) {
	var p Project
	err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.CreatedAt)
	return p, translate(err)
}

// CreateProject creates a project; a name the user already has is
// fault.ErrConflict, an invalid name fault.ErrInvalid.
func CreateProject(ctx context.Context, q Querier, userID int64, name string) (Project, error) {
	p, err := scanProject(q.QueryRow(ctx,
		`INSERT INTO projects (user_id, name) VALUES ($1, $2) RETURNING `+projectColumns, userID, name))
	if err != nil {
		return Project{}, fmt.Errorf("CreateProject(%d, %q): %w", userID, name, err)
	}
	return p, nil
}

// ProjectByName finds one of the user's projects by name (case-insensitive).
func ProjectByName(ctx context.Context, q Querier, userID int64, name string) (Project, error) {
	p, err := scanProject(q.QueryRow(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE user_id = $1 AND lower(name) = lower($2)
		 ORDER BY name = $2 DESC LIMIT 1`, userID, name))
	if err != nil {
		return Project{}, fmt.Errorf("ProjectByName(%d, %q): %w", userID, name, err)
	}
	return p, nil
}

// ProjectByID finds a project only if it belongs to the user: another user's
// project is not found, exactly as a missing one.
func ProjectByID(ctx context.Context, q Querier, userID int64, id string) (Project, error) {
	p, err := scanProject(q.QueryRow(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE user_id = $1 AND id::text = $2`, userID, id))
	if err != nil {
		return Project{}, fmt.Errorf("ProjectByID(%d, %s): %w", userID, id, err)
	}
	return p, nil
}

// ListProjects lists the user's projects by name.
func ListProjects(ctx context.Context, q Querier, userID int64) ([]Project, error) {
	rows, err := q.Query(ctx, `SELECT `+projectColumns+` FROM projects WHERE user_id = $1 ORDER BY name`, userID)
	if err != nil {
		return nil, fmt.Errorf("ListProjects(%d): %w", userID, translate(err))
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Project, error) { return scanProject(r) })
	if err != nil {
		return nil, fmt.Errorf("ListProjects(%d): %w", userID, err)
	}
	return ps, nil
}
