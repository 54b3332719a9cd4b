package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ProjectLimits bound a project: how many files, how many bytes at their
// current versions. They keep /export's zip under Telegram's 50 MB upload
// limit and a project's cost bounded. Zero fields are no bound.
type ProjectLimits struct {
	MaxFiles int
	MaxBytes int64
}

func (l ProjectLimits) zero() bool { return l.MaxFiles <= 0 && l.MaxBytes <= 0 }

// ProjectUsage is what a project holds now: its files and the bytes of
// their current versions.
type ProjectUsage struct {
	Files int
	Bytes int64
}

// ProjectFullError refuses a write that would take a project over its
// limits. It wraps fault.ErrTooLarge and is permanent.
type ProjectFullError struct {
	Usage   ProjectUsage  // before the write
	After   ProjectUsage  // had the write been made
	Limits  ProjectLimits // the bounds it would cross
	NewFile bool          // the write adds a file
}

func (e *ProjectFullError) Error() string {
	return fmt.Sprintf("the project would hold %d files and %d bytes (limits %d files, %d bytes)",
		e.After.Files, e.After.Bytes, e.Limits.MaxFiles, e.Limits.MaxBytes)
}

// Is makes it fault.ErrTooLarge.
func (e *ProjectFullError) Is(target error) bool { return target == fault.ErrTooLarge }

// TooManyFiles reports whether the file count is what the write would cross.
func (e *ProjectFullError) TooManyFiles() bool {
	return e.Limits.MaxFiles > 0 && e.After.Files > e.Limits.MaxFiles
}

// AsProjectFull returns the *ProjectFullError in err's chain, or nil.
func AsProjectFull(err error) *ProjectFullError {
	var e *ProjectFullError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// GetProjectUsage sums a project's files at their current versions.
func GetProjectUsage(ctx context.Context, q Querier, projectID string) (ProjectUsage, error) {
	var u ProjectUsage
	err := q.QueryRow(ctx, `SELECT count(*), coalesce(sum(size), 0)::bigint FROM project_files WHERE project_id = $1 AND NOT deleted`,
		projectID).Scan(&u.Files, &u.Bytes)
	if err != nil {
		return ProjectUsage{}, fmt.Errorf("GetProjectUsage(%s): %w", projectID, translate(err))
	}
	return u, nil
}

// CheckProjectLimits says whether a project of usage u may take a write of
// size bytes to path (whose current size is oldSize, exists telling whether
// it is there at all), without locking: callers check early (before
// downloading an upload), CommitVersion checks again under the project's
// lock.
func CheckProjectLimits(u ProjectUsage, l ProjectLimits, exists bool, oldSize, size int64) error {
	after := u
	if exists {
		after.Bytes += size - oldSize
	} else {
		after.Files++
		after.Bytes += size
	}
	files := l.MaxFiles > 0 && !exists && after.Files > l.MaxFiles
	bytes := l.MaxBytes > 0 && after.Bytes > l.MaxBytes && after.Bytes > u.Bytes
	if !files && !bytes {
		return nil
	}
	return fault.AsPermanent(&ProjectFullError{Usage: u, After: after, Limits: l, NewFile: !exists})
}
