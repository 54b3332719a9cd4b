package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// File is a project file's metadata; storage holds the bytes.
type File struct {
	ProjectID     string
	Path          string
	Version       int // the current version
	LatestVersion int // the highest version ever written
	SHA256        string
	Size          int64
	ContentType   string
	UpdatedAt     time.Time
}

// FileVersion is one kept version of a file.
type FileVersion struct {
	ID        int64 // a short handle for buttons
	ProjectID string
	Path      string
	Version   int
	SHA256    string
	Size      int64
	BlobKey   string
	Source    string // upload, refine, undo, redo, restore
	JobID     *int64
	CreatedAt time.Time
	Lineage
	ChangeSetID *int64
	Deleted     bool   // a tombstone: the file was deleted here
	RenamedFrom string // the path a rename moved this content from
	// Replaces is the version that was current when this one was written;
	// nil when the file was not there (new, or deleted).
	Replaces *int
}

// Lineage places a version in its file's history (see migration 00045).
type Lineage struct {
	// Parent is the version /undo goes back to: the one this version was
	// made from. Nil for a file's first content.
	Parent *int
	// Redo is the version /redo brings back; set only on undo and redo
	// versions, so that any other write ends the redo chain.
	Redo *int
	// CopyOf is the version whose content an undo, redo or restore copies.
	CopyOf *int
}

// Version sources.
const (
	SourceUpload  = "upload"
	SourceRefine  = "refine"
	SourceUndo    = "undo"
	SourceRedo    = "redo"
	SourceRestore = "restore"
)

const fileColumns = `project_id::text, path, version, latest_version, sha256, size, content_type, updated_at`

func scanFile(row pgx.Row) (File, error) {
	var f File
	err := row.Scan(&f.ProjectID, &f.Path, &f.Version, &f.LatestVersion, &f.SHA256, &f.Size, &f.ContentType, &f.UpdatedAt)
	return f, translate(err)
}

const versionColumns = `id, project_id::text, path, version, sha256, size, blob_key, source, job_id, created_at,
	parent_version, redo_version, copy_of, change_set_id, deleted, coalesce(renamed_from, ''), replaces`

func scanVersion(row pgx.Row) (FileVersion, error) {
	var v FileVersion
	err := row.Scan(&v.ID, &v.ProjectID, &v.Path, &v.Version, &v.SHA256, &v.Size, &v.BlobKey, &v.Source, &v.JobID, &v.CreatedAt,
		&v.Parent, &v.Redo, &v.CopyOf, &v.ChangeSetID, &v.Deleted, &v.RenamedFrom, &v.Replaces)
	return v, translate(err)
}

// FileByPath reads a file's metadata.
func FileByPath(ctx context.Context, q Querier, projectID, path string) (File, error) {
	f, err := scanFile(q.QueryRow(ctx, `SELECT `+fileColumns+` FROM project_files WHERE project_id = $1 AND path = $2 AND NOT deleted`, projectID, path))
	if err != nil {
		return File{}, fmt.Errorf("FileByPath(%s, %q): %w", projectID, path, err)
	}
	return f, nil
}

// ListFiles lists a project's files by path.
func ListFiles(ctx context.Context, q Querier, projectID string) ([]File, error) {
	rows, err := q.Query(ctx, `SELECT `+fileColumns+` FROM project_files WHERE project_id = $1 AND NOT deleted ORDER BY path`, projectID)
	if err != nil {
		return nil, fmt.Errorf("ListFiles(%s): %w", projectID, translate(err))
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("ListFiles(%s): %w", projectID, err)
	}
	return fs, nil
}

// FilesPrefixing lists the project's files whose path is a prefix of s
// (the candidates for the path a request starts with).
func FilesPrefixing(ctx context.Context, q Querier, projectID, s string) ([]File, error) {
	rows, err := q.Query(ctx, `SELECT `+fileColumns+` FROM project_files
		WHERE project_id = $1 AND NOT deleted AND starts_with($2, path) ORDER BY path`, projectID, s)
	if err != nil {
		return nil, fmt.Errorf("FilesPrefixing(%s): %w", projectID, translate(err))
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("FilesPrefixing(%s): %w", projectID, err)
	}
	return fs, nil
}

// GetFileVersion reads one version of a file.
func GetFileVersion(ctx context.Context, q Querier, projectID, path string, version int) (FileVersion, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE project_id = $1 AND path = $2 AND version = $3`, projectID, path, version))
	if err != nil {
		return FileVersion{}, fmt.Errorf("GetFileVersion(%s, %q, %d): %w", projectID, path, version, err)
	}
	return v, nil
}

// ListFileVersions lists a file's versions, newest first.
func ListFileVersions(ctx context.Context, q Querier, projectID, path string) ([]FileVersion, error) {
	rows, err := q.Query(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE project_id = $1 AND path = $2 ORDER BY version DESC`, projectID, path)
	if err != nil {
		return nil, fmt.Errorf("ListFileVersions(%s, %q): %w", projectID, path, translate(err))
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FileVersion, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("ListFileVersions(%s, %q): %w", projectID, path, err)
	}
	return vs, nil
}

// NewVersion is content already stored under BlobKey that is to become a
// file's current version.
type NewVersion struct {
	ProjectID   string
	Path        string
	SHA256      string
	Size        int64
	BlobKey     string
	ContentType string
	Source      string
	JobID       *int64
	// BaseVersion is the version the writer read. 0 accepts any state (an
	// upload, which may create the file); otherwise the commit succeeds only
	// if the file is still at BaseVersion (no lost update).
	BaseVersion int
	// Lineage, when set, is recorded as is (undo, redo, restore); nil
	// records the version this one replaces as its parent, and no redo.
	Lineage *Lineage
	// Limits bound the project this write may grow (zero: no bound).
	Limits ProjectLimits

	// Set by change sets (CommitChangeSet):

	// Create: the file must not exist (or be deleted); BaseVersion is 0.
	Create bool
	// Delete writes a tombstone: the file is deleted, its history kept.
	Delete bool
	// RenamedFrom is the path whose content this version carries on.
	RenamedFrom string
	changeSetID int64
	replaces    *int
}

// ErrVersionMismatch is returned when a file moved past the version a writer
// read: the edit was computed from stale content.
var ErrVersionMismatch = errors.New("the file changed since it was read")

// CommitVersion records nv as the file's next version and makes it current,
// as a change set of that one file (kind by nv.Source). It returns the new
// version number. A BaseVersion that is no longer current is a permanent
// error wrapping ErrVersionMismatch and fault.ErrConflict.
func CommitVersion(ctx context.Context, q Querier, nv NewVersion) (version int, err error) {
	_, vs, err := CommitChangeSet(ctx, q, NewChangeSet{ProjectID: nv.ProjectID, Kind: kindOfSource(nv.Source),
		JobID: nv.JobID, Limits: nv.Limits, Files: []NewVersion{nv}})
	if err != nil {
		return 0, err
	}
	return vs[0].Version, nil
}

// emptySHA256 is the digest of no bytes: a tombstone's.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// commitFile writes one file of a change set whose project row the caller
// has locked.
func commitFile(ctx context.Context, q Querier, nv NewVersion) (v FileVersion, err error) {
	defer fault.Wrap(&err, "commit %q", nv.Path)
	if nv.ContentType == "" {
		nv.ContentType = "text/plain; charset=utf-8"
	}
	if nv.Delete {
		nv.SHA256, nv.Size, nv.BlobKey = emptySHA256, 0, ""
	}
	var cur, latest int
	var deleted bool
	for {
		err := q.QueryRow(ctx, `SELECT version, latest_version, deleted FROM project_files
			WHERE project_id = $1 AND path = $2 FOR UPDATE`, nv.ProjectID, nv.Path).Scan(&cur, &latest, &deleted)
		if err == nil {
			break
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return FileVersion{}, translate(err)
		}
		if nv.BaseVersion != 0 || nv.Delete {
			return FileVersion{}, fault.AsPermanent(fmt.Errorf("%w: %w (it no longer exists)", fault.ErrConflict, ErrVersionMismatch))
		}
		// A new file. The version row follows in this transaction (the
		// foreign key is deferred). A concurrent creator wins the race and
		// this loop then locks its row.
		tag, err := q.Exec(ctx, `INSERT INTO project_files (project_id, path, version, latest_version, sha256, size, content_type)
			VALUES ($1, $2, 1, 1, $3, $4, $5) ON CONFLICT DO NOTHING`,
			nv.ProjectID, nv.Path, nv.SHA256, nv.Size, nv.ContentType)
		if err != nil {
			return FileVersion{}, translate(err)
		}
		if tag.RowsAffected() == 1 {
			if nv.Lineage == nil {
				nv.Lineage = &Lineage{}
			}
			return insertVersion(ctx, q, nv, 1)
		}
	}
	switch {
	case nv.Create && !deleted:
		return FileVersion{}, fault.AsPermanent(fmt.Errorf("%w: %w (it was created meanwhile, at version %d)", fault.ErrConflict, ErrVersionMismatch, cur))
	case nv.Delete && deleted:
		return FileVersion{}, fault.AsPermanent(fmt.Errorf("%w: %w (it was deleted meanwhile)", fault.ErrConflict, ErrVersionMismatch))
	case nv.BaseVersion != 0 && deleted:
		return FileVersion{}, fault.AsPermanent(fmt.Errorf("%w: %w (it was deleted meanwhile)", fault.ErrConflict, ErrVersionMismatch))
	case nv.BaseVersion != 0 && cur != nv.BaseVersion:
		return FileVersion{}, fault.AsPermanent(fmt.Errorf("%w: %w (read version %d, now %d)",
			fault.ErrConflict, ErrVersionMismatch, nv.BaseVersion, cur))
	}
	next := latest + 1
	if !deleted {
		replaced := cur
		nv.replaces = &replaced
	}
	if nv.Lineage == nil {
		if deleted {
			// Content over a tombstone starts afresh: an undo of it
			// deletes the file again rather than "restoring" nothing.
			nv.Lineage = &Lineage{}
		} else {
			replaced := cur
			nv.Lineage = &Lineage{Parent: &replaced}
		}
	}
	if v, err = insertVersion(ctx, q, nv, next); err != nil {
		return FileVersion{}, err
	}
	_, err = q.Exec(ctx, `UPDATE project_files SET version = $3, latest_version = $3, sha256 = $4, size = $5,
		content_type = $6, deleted = $7, updated_at = now() WHERE project_id = $1 AND path = $2`,
		nv.ProjectID, nv.Path, next, nv.SHA256, nv.Size, nv.ContentType, nv.Delete)
	if err != nil {
		return FileVersion{}, translate(err)
	}
	return v, nil
}

func insertVersion(ctx context.Context, q Querier, nv NewVersion, version int) (FileVersion, error) {
	return scanVersion(q.QueryRow(ctx, `INSERT INTO file_versions (project_id, path, version, sha256, size, blob_key, source, job_id,
		parent_version, redo_version, copy_of, change_set_id, deleted, renamed_from, replaces)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nullif($14, ''), $15)
		RETURNING `+versionColumns,
		nv.ProjectID, nv.Path, version, nv.SHA256, nv.Size, nv.BlobKey, nv.Source, nv.JobID,
		nv.Lineage.Parent, nv.Lineage.Redo, nv.Lineage.CopyOf, nv.changeSetID, nv.Delete, nv.RenamedFrom, nv.replaces))
}

// PointToVersion makes an existing version current again, if the file is
// still at fromVersion, without writing a version. It was the old /undo,
// which lost track of what the current version was made from; Undo, Redo
// and Restore write new versions instead. No version is deleted: later
// versions stay in the history, and the next write gets latest_version + 1.
func PointToVersion(ctx context.Context, q Querier, projectID, path string, fromVersion, toVersion int) (FileVersion, error) {
	v, err := GetFileVersion(ctx, q, projectID, path, toVersion)
	if err != nil {
		return FileVersion{}, err
	}
	tag, err := q.Exec(ctx, `UPDATE project_files SET version = $4, sha256 = $5, size = $6, updated_at = now()
		WHERE project_id = $1 AND path = $2 AND version = $3 AND NOT deleted`,
		projectID, path, fromVersion, toVersion, v.SHA256, v.Size)
	if err != nil {
		return FileVersion{}, fmt.Errorf("PointToVersion(%s, %q): %w", projectID, path, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return FileVersion{}, fault.AsPermanent(fmt.Errorf("PointToVersion(%s, %q): %w: %w",
			projectID, path, fault.ErrConflict, ErrVersionMismatch))
	}
	return v, nil
}
