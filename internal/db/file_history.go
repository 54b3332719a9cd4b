package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Undo, redo and restore write new versions: a file's history only grows.
// Each reads the current version, and commits only if the file is still
// there (optimistic concurrency, as a refinement does).

// ErrNothingToUndo: the current version was not made from another one.
var ErrNothingToUndo = errors.New("nothing to undo")

// ErrNothingToRedo: the current version is not an undo (or a redo) whose
// undone version can come back; any other write ends the redo chain.
var ErrNothingToRedo = errors.New("nothing to redo")

// ErrAlreadyCurrent: the version to restore is the current one.
var ErrAlreadyCurrent = errors.New("that version is the current one")

// VersionChange is a version written by Undo, Redo or Restore.
type VersionChange struct {
	From FileVersion // the version that was current
	Like FileVersion // the version whose content the new one has
	To   int         // the new version
}

// Undo makes the parent of the current version's content current again, as
// a new version. Undoing again steps further back; a Redo brings the undone
// version back.
func Undo(ctx context.Context, q Querier, projectID, path string, l ProjectLimits) (VersionChange, error) {
	cur, err := currentVersion(ctx, q, projectID, path)
	if err != nil {
		return VersionChange{}, err
	}
	if cur.Parent == nil {
		return VersionChange{From: cur}, fault.AsPermanent(fmt.Errorf("Undo(%s, %q): %w", projectID, path, ErrNothingToUndo))
	}
	like, err := GetFileVersion(ctx, q, projectID, path, *cur.Parent)
	if err != nil {
		return VersionChange{}, err
	}
	if like.Deleted {
		// Before this version the file did not exist: /undo of the project
		// deletes it again; a file's own undo has nothing to go back to.
		return VersionChange{From: cur}, fault.AsPermanent(fmt.Errorf("Undo(%s, %q): %w", projectID, path, ErrNothingToUndo))
	}
	from := cur.Version
	return copyVersion(ctx, q, cur, like, SourceUndo, Lineage{Parent: like.Parent, Redo: &from}, l)
}

// Redo brings back the version the last undo undid, if the file has not
// changed since (its current version is that undo, or a redo).
func Redo(ctx context.Context, q Querier, projectID, path string, l ProjectLimits) (VersionChange, error) {
	cur, err := currentVersion(ctx, q, projectID, path)
	if err != nil {
		return VersionChange{}, err
	}
	if cur.Redo == nil {
		return VersionChange{From: cur}, fault.AsPermanent(fmt.Errorf("Redo(%s, %q): %w", projectID, path, ErrNothingToRedo))
	}
	like, err := GetFileVersion(ctx, q, projectID, path, *cur.Redo)
	if err != nil {
		return VersionChange{}, err
	}
	// The new version stands for the one it brings back: undo from it goes
	// where undo from that one went, and redo continues its chain.
	return copyVersion(ctx, q, cur, like, SourceRedo, Lineage{Parent: like.Parent, Redo: like.Redo}, l)
}

// Restore makes version n's content current, as a new version whose parent
// is the version it replaces (so /undo takes the restore back).
func Restore(ctx context.Context, q Querier, projectID, path string, n int, l ProjectLimits) (VersionChange, error) {
	cur, err := currentVersion(ctx, q, projectID, path)
	if err != nil {
		return VersionChange{}, err
	}
	if n == cur.Version {
		return VersionChange{From: cur}, fault.AsPermanent(fmt.Errorf("Restore(%s, %q, %d): %w", projectID, path, n, ErrAlreadyCurrent))
	}
	like, err := GetFileVersion(ctx, q, projectID, path, n)
	if err != nil {
		return VersionChange{}, err
	}
	if like.Deleted {
		return VersionChange{From: cur}, fault.AsPermanent(fmt.Errorf("Restore(%s, %q, %d): %w: version %d is a deletion",
			projectID, path, n, fault.ErrNotFound, n))
	}
	from := cur.Version
	return copyVersion(ctx, q, cur, like, SourceRestore, Lineage{Parent: &from}, l)
}

func currentVersion(ctx context.Context, q Querier, projectID, path string) (FileVersion, error) {
	f, err := FileByPath(ctx, q, projectID, path)
	if err != nil {
		return FileVersion{}, err
	}
	return GetFileVersion(ctx, q, projectID, path, f.Version)
}

// copyVersion commits like's content (its blob) as the next version, if the
// file is still at cur.
func copyVersion(ctx context.Context, q Querier, cur, like FileVersion, source string, lin Lineage, l ProjectLimits) (VersionChange, error) {
	f, err := FileByPath(ctx, q, cur.ProjectID, cur.Path)
	if err != nil {
		return VersionChange{}, err
	}
	copyOf := like.Version
	lin.CopyOf = &copyOf
	to, err := CommitVersion(ctx, q, NewVersion{ProjectID: cur.ProjectID, Path: cur.Path, SHA256: like.SHA256, Size: like.Size,
		BlobKey: like.BlobKey, ContentType: f.ContentType, Source: source, BaseVersion: cur.Version, Lineage: &lin, Limits: l})
	if err != nil {
		return VersionChange{}, err
	}
	return VersionChange{From: cur, Like: like, To: to}, nil
}

// UserFileVersion reads a version by its id, only if its project belongs to
// the user (a button's data names a version by id).
func UserFileVersion(ctx context.Context, q Querier, userID, id int64) (FileVersion, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT v.id, v.project_id::text, v.path, v.version, v.sha256, v.size,
		v.blob_key, v.source, v.job_id, v.created_at, v.parent_version, v.redo_version, v.copy_of,
		v.change_set_id, v.deleted, coalesce(v.renamed_from, ''), v.replaces FROM file_versions v
		JOIN projects p ON p.id = v.project_id WHERE v.id = $1 AND p.user_id = $2`, id, userID))
	if err != nil {
		return FileVersion{}, fmt.Errorf("UserFileVersion(%d, %d): %w", userID, id, err)
	}
	return v, nil
}
