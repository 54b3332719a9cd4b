package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// A change set is every write to a project, whatever made it (an upload, a
// refinement of one or many files, an undo, a redo, a per-file revert): one
// row, one file version per file it touched, one transaction, and the
// project's next revision (see migration 00057). Its commit takes the
// project row's lock first, so the change sets of a project are totally
// ordered, and then checks every file against the version its writer read:
// a concurrent change to any of them is a conflict, never a lost update.

// Change set kinds.
const (
	ChangeUpload = "upload"
	ChangeRefine = "refine"
	ChangeUndo   = "undo"
	ChangeRedo   = "redo"
	ChangeRevert = "revert" // a per-file /undo PATH, /redo PATH or /restore
)

func kindOfSource(source string) string {
	switch source {
	case SourceUpload:
		return ChangeUpload
	case SourceRefine:
		return ChangeRefine
	}
	return ChangeRevert
}

// ChangeSet is a committed change set.
type ChangeSet struct {
	ID             int64
	ProjectID      string
	Kind           string
	JobID          *int64
	BaseRevision   int64
	ResultRevision int64
	Undoes         *int64 // an undo's target, a redo's undo
	UndoneBy       *int64
	Summary        string
	CreatedAt      time.Time
}

const changeSetColumns = `id, project_id::text, kind, job_id, base_revision, result_revision, undoes, undone_by, summary, created_at`

func scanChangeSet(row pgx.Row) (ChangeSet, error) {
	var c ChangeSet
	err := row.Scan(&c.ID, &c.ProjectID, &c.Kind, &c.JobID, &c.BaseRevision, &c.ResultRevision, &c.Undoes, &c.UndoneBy,
		&c.Summary, &c.CreatedAt)
	return c, translate(err)
}

// NewChangeSet is a change set to commit: its files' contents are stored
// already (NewVersion.BlobKey).
type NewChangeSet struct {
	ProjectID string
	Kind      string
	JobID     *int64
	Undoes    *int64
	Summary   string
	// Files are written in order; each NewVersion's Source is its
	// file_versions.source (Kind's by default).
	Files []NewVersion
	// Limits bound what the change set may grow the project to: checked
	// once, on the project as the whole change set leaves it, so a change
	// that moves bytes between files is judged by its net effect.
	Limits ProjectLimits
	// Whole says the caller's transaction is rolled back on any error of
	// the commit, so it needs no savepoint of its own (two round trips).
	Whole bool
}

// CommitChangeSet commits ncs in the caller's transaction: the project's
// next revision, the change set row, a version per file. A file that moved
// past the version its writer read is a permanent error wrapping
// ErrVersionMismatch and fault.ErrConflict (naming the file); a project
// taken over its limits a *ProjectFullError.
func CommitChangeSet(ctx context.Context, q Querier, ncs NewChangeSet) (cs ChangeSet, vs []FileVersion, err error) {
	defer fault.Wrap(&err, "CommitChangeSet(%s)", ncs.ProjectID)
	if ncs.Whole {
		cs, vs, err = commitChangeSet(ctx, q, ncs)
		return cs, vs, err
	}
	err = atomically(ctx, q, func(q Querier) (err error) {
		cs, vs, err = commitChangeSet(ctx, q, ncs)
		return err
	})
	return cs, vs, err
}

// beginner is a Querier that can start a (nested) transaction: the pool,
// a connection, or a transaction (a savepoint).
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// atomically runs fn in a transaction of its own, nested in q's when q is
// one (a savepoint), so that a change set is all or nothing whatever it is
// given, and a refused one leaves the caller's transaction usable.
func atomically(ctx context.Context, q Querier, fn func(Querier) error) error {
	b, ok := q.(beginner)
	if !ok {
		return fn(q)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	if err := fn(tx); err != nil {
		return err
	}
	return translate(tx.Commit(ctx))
}

func commitChangeSet(ctx context.Context, q Querier, ncs NewChangeSet) (cs ChangeSet, vs []FileVersion, err error) {
	if len(ncs.Files) == 0 {
		return ChangeSet{}, nil, fault.Permanentf("%w: a change set changes at least one file", fault.ErrInvalid)
	}
	var rev int64
	var before ProjectUsage
	// The usage before the change comes with the revision (the subqueries
	// see the project as the statement found it).
	err = q.QueryRow(ctx, `UPDATE projects SET revision = revision + 1 WHERE id = $1 RETURNING revision,
		(SELECT count(*) FROM project_files WHERE project_id = $1 AND NOT deleted),
		(SELECT coalesce(sum(size), 0)::bigint FROM project_files WHERE project_id = $1 AND NOT deleted)`,
		ncs.ProjectID).Scan(&rev, &before.Files, &before.Bytes)
	if err != nil {
		return ChangeSet{}, nil, translate(err)
	}
	cs, err = scanChangeSet(q.QueryRow(ctx, `INSERT INTO change_sets (project_id, kind, job_id, base_revision, result_revision, undoes, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+changeSetColumns,
		ncs.ProjectID, ncs.Kind, ncs.JobID, rev-1, rev, ncs.Undoes, ncs.Summary))
	if err != nil {
		return ChangeSet{}, nil, err
	}
	for _, nv := range ncs.Files {
		nv.ProjectID, nv.changeSetID = ncs.ProjectID, cs.ID
		if nv.Source == "" {
			nv.Source = sourceOfKind(ncs.Kind)
		}
		if nv.JobID == nil {
			nv.JobID = ncs.JobID
		}
		fv, err := commitFile(ctx, q, nv)
		if errors.Is(err, ErrVersionMismatch) {
			return ChangeSet{}, nil, fault.AsPermanent(fmt.Errorf("%w: %w", &ChangedFileError{Paths: []string{nv.Path}}, err))
		}
		if err != nil {
			return ChangeSet{}, nil, err
		}
		vs = append(vs, fv)
	}
	if !ncs.Limits.zero() {
		after, err := GetProjectUsage(ctx, q, ncs.ProjectID)
		if err != nil {
			return ChangeSet{}, nil, err
		}
		l := ncs.Limits
		files := l.MaxFiles > 0 && after.Files > l.MaxFiles && after.Files > before.Files
		bytes := l.MaxBytes > 0 && after.Bytes > l.MaxBytes && after.Bytes > before.Bytes
		if files || bytes {
			return ChangeSet{}, nil, fault.AsPermanent(&ProjectFullError{Usage: before, After: after, Limits: l,
				NewFile: after.Files > before.Files})
		}
	}
	return cs, vs, nil
}

func sourceOfKind(kind string) string {
	switch kind {
	case ChangeUpload:
		return SourceUpload
	case ChangeUndo:
		return SourceUndo
	case ChangeRedo:
		return SourceRedo
	case ChangeRevert:
		return SourceRestore
	}
	return SourceRefine
}

// GetChangeSet reads a change set of a project.
func GetChangeSet(ctx context.Context, q Querier, projectID string, id int64) (ChangeSet, error) {
	c, err := scanChangeSet(q.QueryRow(ctx, `SELECT `+changeSetColumns+` FROM change_sets WHERE id = $1 AND project_id = $2`, id, projectID))
	if err != nil {
		return ChangeSet{}, fmt.Errorf("GetChangeSet(%s, %d): %w", projectID, id, err)
	}
	return c, nil
}

// UserChangeSet reads a change set only if its project is the user's (a
// button names it by id).
func UserChangeSet(ctx context.Context, q Querier, userID, id int64) (ChangeSet, error) {
	c, err := scanChangeSet(q.QueryRow(ctx, `SELECT c.id, c.project_id::text, c.kind, c.job_id, c.base_revision,
		c.result_revision, c.undoes, c.undone_by, c.summary, c.created_at
		FROM change_sets c JOIN projects p ON p.id = c.project_id WHERE c.id = $1 AND p.user_id = $2`, id, userID))
	if err != nil {
		return ChangeSet{}, fmt.Errorf("UserChangeSet(%d, %d): %w", userID, id, err)
	}
	return c, nil
}

// ChangeSetAt reads the change set that made a project's revision rev.
func ChangeSetAt(ctx context.Context, q Querier, projectID string, rev int64) (ChangeSet, error) {
	c, err := scanChangeSet(q.QueryRow(ctx, `SELECT `+changeSetColumns+` FROM change_sets
		WHERE project_id = $1 AND result_revision = $2`, projectID, rev))
	if err != nil {
		return ChangeSet{}, fmt.Errorf("ChangeSetAt(%s, r%d): %w", projectID, rev, err)
	}
	return c, nil
}

// ChangeSetFiles lists the versions a change set wrote, by path.
func ChangeSetFiles(ctx context.Context, q Querier, id int64) ([]FileVersion, error) {
	rows, err := q.Query(ctx, `SELECT `+versionColumns+` FROM file_versions WHERE change_set_id = $1 ORDER BY path, version`, id)
	if err != nil {
		return nil, fmt.Errorf("ChangeSetFiles(%d): %w", id, translate(err))
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FileVersion, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("ChangeSetFiles(%d): %w", id, err)
	}
	return vs, nil
}

// ListChangeSets lists a project's newest change sets, newest first, with
// the versions each wrote; path, when set, keeps those that touched it.
func ListChangeSets(ctx context.Context, q Querier, projectID, path string, limit int) ([]ChangeSet, map[int64][]FileVersion, int, error) {
	var total int
	err := q.QueryRow(ctx, `SELECT count(*) FROM change_sets c WHERE c.project_id = $1
		AND ($2 = '' OR EXISTS (SELECT 1 FROM file_versions v WHERE v.change_set_id = c.id AND (v.path = $2 OR v.renamed_from = $2)))`,
		projectID, path).Scan(&total)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ListChangeSets(%s): %w", projectID, translate(err))
	}
	rows, err := q.Query(ctx, `SELECT `+changeSetColumns+` FROM change_sets c WHERE c.project_id = $1
		AND ($2 = '' OR EXISTS (SELECT 1 FROM file_versions v WHERE v.change_set_id = c.id AND (v.path = $2 OR v.renamed_from = $2)))
		ORDER BY result_revision DESC LIMIT $3`, projectID, path, limit)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ListChangeSets(%s): %w", projectID, translate(err))
	}
	css, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ChangeSet, error) { return scanChangeSet(r) })
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ListChangeSets(%s): %w", projectID, err)
	}
	files := map[int64][]FileVersion{}
	if len(css) == 0 {
		return css, files, total, nil
	}
	ids := make([]int64, len(css))
	for i, c := range css {
		ids[i] = c.ID
	}
	rows, err = q.Query(ctx, `SELECT `+versionColumns+` FROM file_versions WHERE change_set_id = ANY($1) ORDER BY path`, ids)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ListChangeSets(%s): %w", projectID, translate(err))
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FileVersion, error) { return scanVersion(r) })
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ListChangeSets(%s): %w", projectID, err)
	}
	for _, v := range vs {
		files[*v.ChangeSetID] = append(files[*v.ChangeSetID], v)
	}
	return css, files, total, nil
}

// Op says what a change set's version did to its file.
func (v FileVersion) Op() string {
	switch {
	case v.Deleted:
		return "deleted"
	case v.RenamedFrom != "":
		return "renamed"
	case v.Replaces == nil:
		return "created"
	}
	return "modified"
}

// ErrNothingToUndoProject: no change set of the project is left to undo.
var ErrNothingToUndoProject = errors.New("no change to undo")

// ErrNothingToRedoProject: no undo is left to redo, or a change came after it.
var ErrNothingToRedoProject = errors.New("no undone change to redo")

// ErrAlreadyUndone: the change set was undone already.
var ErrAlreadyUndone = errors.New("that change was undone already")

// UndoTarget is the change set /undo reverts: the newest one not undone
// that is not itself an undo (undoing an undo is /redo).
func UndoTarget(ctx context.Context, q Querier, projectID string) (ChangeSet, error) {
	c, err := scanChangeSet(q.QueryRow(ctx, `SELECT `+changeSetColumns+` FROM change_sets
		WHERE project_id = $1 AND kind <> 'undo' AND undone_by IS NULL ORDER BY result_revision DESC LIMIT 1`, projectID))
	if errors.Is(err, fault.ErrNotFound) {
		return ChangeSet{}, fault.AsPermanent(fmt.Errorf("UndoTarget(%s): %w", projectID, ErrNothingToUndoProject))
	}
	return c, err
}

// RedoTarget is the undo /redo reverts: the newest undo not redone, as long
// as no other change came after it (a new change ends the redo chain).
func RedoTarget(ctx context.Context, q Querier, projectID string) (ChangeSet, error) {
	c, err := scanChangeSet(q.QueryRow(ctx, `SELECT `+changeSetColumns+` FROM change_sets u
		WHERE project_id = $1 AND kind = 'undo' AND undone_by IS NULL AND undoes IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM change_sets n WHERE n.project_id = u.project_id
		                  AND n.result_revision > u.result_revision AND n.kind NOT IN ('undo', 'redo'))
		ORDER BY result_revision DESC LIMIT 1`, projectID))
	if errors.Is(err, fault.ErrNotFound) {
		return ChangeSet{}, fault.AsPermanent(fmt.Errorf("RedoTarget(%s): %w", projectID, ErrNothingToRedoProject))
	}
	return c, err
}

// ChangedFileError names the files that moved since a change set, so that
// it cannot be reverted as a whole.
type ChangedFileError struct {
	Paths []string
}

func (e *ChangedFileError) Error() string {
	return fmt.Sprintf("%v changed since", e.Paths)
}

// Is makes it a version mismatch.
func (e *ChangedFileError) Is(target error) bool {
	return target == ErrVersionMismatch || target == fault.ErrConflict
}

// RevertChangeSet commits a change set that puts every file target touched
// back as it was before target: modified files get their old content,
// created ones are deleted, deleted ones come back, a rename is undone.
// kind is ChangeUndo (target is a change) or ChangeRedo (target is an
// undo). Every file must still be as target left it (by content: an undo
// of a later change that put it back counts as unchanged); otherwise a
// *ChangedFileError names those that are not, and nothing is written.
func RevertChangeSet(ctx context.Context, q Querier, target ChangeSet, kind string, l ProjectLimits) (cs ChangeSet, vs []FileVersion, err error) {
	err = atomically(ctx, q, func(q Querier) (err error) {
		cs, vs, err = revertChangeSet(ctx, q, target, kind, l)
		return err
	})
	return cs, vs, err
}

func revertChangeSet(ctx context.Context, q Querier, target ChangeSet, kind string, l ProjectLimits) (ChangeSet, []FileVersion, error) {
	if target.UndoneBy != nil {
		return ChangeSet{}, nil, fault.AsPermanent(fmt.Errorf("RevertChangeSet(%d): %w", target.ID, ErrAlreadyUndone))
	}
	// Lock the project first, as every commit does, so that what is read
	// below stays true until this one commits.
	if _, err := q.Exec(ctx, `SELECT 1 FROM projects WHERE id = $1 FOR UPDATE`, target.ProjectID); err != nil {
		return ChangeSet{}, nil, translate(err)
	}
	vs, err := ChangeSetFiles(ctx, q, target.ID)
	if err != nil {
		return ChangeSet{}, nil, err
	}
	// A path may have two versions in one change set (moved away, then
	// created anew): what counts is the state before its first and after
	// its last.
	type span struct{ first, last FileVersion }
	var order []string
	spans := map[string]*span{}
	for _, v := range vs {
		sp, ok := spans[v.Path]
		if !ok {
			spans[v.Path] = &span{first: v, last: v}
			order = append(order, v.Path)
			continue
		}
		if v.Version < sp.first.Version {
			sp.first = v
		}
		if v.Version > sp.last.Version {
			sp.last = v
		}
	}
	var changed []string
	var writes []NewVersion
	for _, path := range order {
		v, first := spans[path].last, spans[path].first
		var curVersion int
		var curSHA string
		var curDeleted bool
		err := q.QueryRow(ctx, `SELECT version, sha256, deleted FROM project_files WHERE project_id = $1 AND path = $2`,
			target.ProjectID, v.Path).Scan(&curVersion, &curSHA, &curDeleted)
		if err != nil {
			return ChangeSet{}, nil, fmt.Errorf("RevertChangeSet(%d): %q: %w", target.ID, v.Path, translate(err))
		}
		if curDeleted != v.Deleted || (!v.Deleted && curSHA != v.SHA256) {
			changed = append(changed, v.Path)
			continue
		}
		from := v.Version
		nv := NewVersion{Path: v.Path, BaseVersion: curVersion, Lineage: &Lineage{Parent: &from, Redo: &from}}
		if curDeleted {
			nv.BaseVersion, nv.Create = 0, true // brought back from its tombstone
		}
		var prev *FileVersion
		if first.Replaces != nil {
			p, err := GetFileVersion(ctx, q, target.ProjectID, v.Path, *first.Replaces)
			if err != nil {
				return ChangeSet{}, nil, err
			}
			prev = &p
		}
		switch {
		case (prev == nil || prev.Deleted) && curDeleted:
			continue // it did not exist before, and does not now
		case prev == nil || prev.Deleted:
			nv.Delete = true
		default:
			nv.SHA256, nv.Size, nv.BlobKey = prev.SHA256, prev.Size, prev.BlobKey
			copyOf := prev.Version
			nv.Lineage = &Lineage{Parent: prev.Parent, Redo: &from, CopyOf: &copyOf}
		}
		writes = append(writes, nv)
	}
	if len(changed) > 0 {
		return ChangeSet{}, nil, fault.AsPermanent(fmt.Errorf("RevertChangeSet(%d): %w", target.ID, &ChangedFileError{Paths: changed}))
	}
	id := target.ID
	cs, out, err := commitChangeSet(ctx, q, NewChangeSet{ProjectID: target.ProjectID, Kind: kind, Undoes: &id, Files: writes, Limits: l})
	if err != nil {
		return ChangeSet{}, nil, err
	}
	tag, err := q.Exec(ctx, `UPDATE change_sets SET undone_by = $2 WHERE id = $1 AND undone_by IS NULL`, target.ID, cs.ID)
	if err != nil {
		return ChangeSet{}, nil, translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ChangeSet{}, nil, fault.AsPermanent(fmt.Errorf("RevertChangeSet(%d): %w", target.ID, ErrAlreadyUndone))
	}
	return cs, out, nil
}

// SetChangeSetJob links a change set to the job that made it.
func SetChangeSetJob(ctx context.Context, q Querier, csID, jobID int64) error {
	if _, err := q.Exec(ctx, `UPDATE change_sets SET job_id = $2 WHERE id = $1`, csID, jobID); err != nil {
		return fmt.Errorf("SetChangeSetJob(%d): %w", csID, translate(err))
	}
	return nil
}

// ProjectRevision reads a project's current revision.
func ProjectRevision(ctx context.Context, q Querier, projectID string) (int64, error) {
	var rev int64
	if err := q.QueryRow(ctx, `SELECT revision FROM projects WHERE id = $1`, projectID).Scan(&rev); err != nil {
		return 0, fmt.Errorf("ProjectRevision(%s): %w", projectID, translate(err))
	}
	return rev, nil
}
