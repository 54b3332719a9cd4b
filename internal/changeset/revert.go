package changeset

import (
	"context"
	"fmt"
	"strings"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
)

// Reverted is a project-wide undo or redo that was committed.
type Reverted struct {
	ChangeSet db.ChangeSet     // the undo or redo
	Target    db.ChangeSet     // the change set it reverted
	Files     []db.FileVersion // the versions it wrote
}

// Undo reverts the project's last change (db.UndoTarget) as a whole, in
// the caller's transaction.
func Undo(ctx context.Context, q db.Querier, projectID string, l db.ProjectLimits) (Reverted, error) {
	t, err := db.UndoTarget(ctx, q, projectID)
	if err != nil {
		return Reverted{}, err
	}
	return revert(ctx, q, t, db.ChangeUndo, l)
}

// UndoChangeSet reverts one given change set (an Undo button names it),
// if nothing it touched changed since.
func UndoChangeSet(ctx context.Context, q db.Querier, projectID string, id int64, l db.ProjectLimits) (Reverted, error) {
	t, err := db.GetChangeSet(ctx, q, projectID, id)
	if err != nil {
		return Reverted{}, err
	}
	kind := db.ChangeUndo
	if t.Kind == db.ChangeUndo {
		kind = db.ChangeRedo
	}
	return revert(ctx, q, t, kind, l)
}

// Redo brings back what the last undo undid (db.RedoTarget).
func Redo(ctx context.Context, q db.Querier, projectID string, l db.ProjectLimits) (Reverted, error) {
	t, err := db.RedoTarget(ctx, q, projectID)
	if err != nil {
		return Reverted{}, err
	}
	return revert(ctx, q, t, db.ChangeRedo, l)
}

func revert(ctx context.Context, q db.Querier, t db.ChangeSet, kind string, l db.ProjectLimits) (Reverted, error) {
	cs, vs, err := db.RevertChangeSet(ctx, q, t, kind, l)
	if err != nil {
		return Reverted{}, err
	}
	if err := index(ctx, q, t.ProjectID, vs, nil); err != nil {
		return Reverted{}, err
	}
	return Reverted{ChangeSet: cs, Target: t, Files: vs}, nil
}

// Changes reads back what a change set did to each file, with the bytes
// before and after, from storage; a rename is one change (its deletion
// of the old path is folded in).
func Changes(ctx context.Context, q db.Querier, blobs Blobs, projectID string, csID int64) ([]editblock.FileChange, error) {
	vs, err := db.ChangeSetFiles(ctx, q, csID)
	if err != nil {
		return nil, err
	}
	read := func(v db.FileVersion) ([]byte, error) {
		if v.Deleted {
			return nil, nil
		}
		b, err := blobs.GetBlob(ctx, projectID, v.BlobKey)
		if err != nil {
			return nil, &StorageError{Err: fmt.Errorf("reading %s version %d: %w", v.Path, v.Version, err)}
		}
		return b, nil
	}
	before := func(v db.FileVersion) ([]byte, error) {
		if v.Replaces == nil {
			return nil, nil
		}
		old, err := db.GetFileVersion(ctx, q, projectID, v.Path, *v.Replaces)
		if err != nil {
			return nil, err
		}
		return read(old)
	}
	renamedAway := map[string]bool{}
	for _, v := range vs {
		if v.RenamedFrom != "" {
			renamedAway[v.RenamedFrom] = true
		}
	}
	var out []editblock.FileChange
	for _, v := range vs {
		if v.Deleted && renamedAway[v.Path] {
			continue
		}
		fc := editblock.FileChange{Path: v.Path, OldPath: v.Path}
		switch {
		case v.Deleted:
			fc.Op = editblock.Deleted
		case v.RenamedFrom != "":
			fc.Op, fc.OldPath = editblock.Renamed, v.RenamedFrom
		case v.Replaces == nil:
			fc.Op, fc.OldPath = editblock.Created, ""
		default:
			fc.Op = editblock.Modified
		}
		if fc.Op == editblock.Renamed {
			// The old content is the version the rename's tombstone replaced.
			for _, d := range vs {
				if d.Path == v.RenamedFrom && d.Deleted {
					if fc.Old, err = before(d); err != nil {
						return nil, err
					}
				}
			}
		} else if fc.Old, err = before(v); err != nil {
			return nil, err
		}
		if fc.New, err = read(v); err != nil {
			return nil, err
		}
		out = append(out, fc)
	}
	return out, nil
}

// Diff is a change set's git-style diff (git apply takes it), read back
// from storage.
func Diff(ctx context.Context, q db.Querier, blobs Blobs, projectID string, csID int64) (string, error) {
	fcs, err := Changes(ctx, q, blobs, projectID, csID)
	if err != nil {
		return "", err
	}
	return editblock.GitDiff(fcs), nil
}

// FileStat is one file's line of a change set's summary.
type FileStat struct {
	Op             string // editblock's Modified, Created, Deleted, Renamed
	Path, OldPath  string
	Added, Removed int
}

// Stats counts each file's added and removed lines in a git-style diff.
// A file's ---/+++ header lines come before its first hunk; within the
// hunks every + or - line counts, "--- x" (a removed "-- x") too.
func Stats(diff string) []FileStat {
	var out []FileStat
	var cur *FileStat
	inHunk := false
	for line := range strings.SplitSeq(diff, "\n") {
		switch {
		case strings.HasPrefix(line, "diff --git "):
			out = append(out, FileStat{Op: editblock.Modified})
			cur, inHunk = &out[len(out)-1], false
			a, b, ok := strings.Cut(strings.TrimPrefix(line, "diff --git "), " b/")
			if ok {
				cur.OldPath, cur.Path = strings.TrimPrefix(a, "a/"), b
			}
		case cur == nil:
		case strings.HasPrefix(line, "@@"):
			inHunk = true
		case inHunk && strings.HasPrefix(line, "+"):
			cur.Added++
		case inHunk && strings.HasPrefix(line, "-"):
			cur.Removed++
		case inHunk:
		case strings.HasPrefix(line, "new file mode"):
			cur.Op, cur.OldPath = editblock.Created, ""
		case strings.HasPrefix(line, "deleted file mode"):
			cur.Op = editblock.Deleted
		case strings.HasPrefix(line, "rename from "):
			cur.Op, cur.OldPath = editblock.Renamed, strings.TrimPrefix(line, "rename from ")
		case strings.HasPrefix(line, "rename to "):
			cur.Path = strings.TrimPrefix(line, "rename to ")
		}
	}
	return out
}

// Summary says in a line what a change set did to each file:
// "app.py (+8 −1), tests/test_api.py (new, +12), old.txt (deleted)".
func Summary(stats []FileStat) string {
	parts := make([]string, 0, len(stats))
	for _, s := range stats {
		var what, counts []string
		switch s.Op {
		case editblock.Created:
			what = append(what, "new")
		case editblock.Deleted:
			parts = append(parts, s.Path+" (deleted)")
			continue
		case editblock.Renamed:
			what = append(what, "from "+s.OldPath)
		}
		if s.Added > 0 {
			counts = append(counts, fmt.Sprintf("+%d", s.Added))
		}
		if s.Removed > 0 {
			counts = append(counts, fmt.Sprintf("−%d", s.Removed))
		}
		if len(counts) > 0 {
			what = append(what, strings.Join(counts, " "))
		}
		if len(what) == 0 {
			parts = append(parts, s.Path)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", s.Path, strings.Join(what, ", ")))
	}
	return strings.Join(parts, ", ")
}
