// Package changeset makes and unmakes changes of a whole project: a
// model's (or a user's) reply applied to a snapshot of the project's files,
// its new contents stored as blobs, and its records committed as one
// change set (db.CommitChangeSet) with the project's search index kept
// current; and the project-wide /undo and /redo of such change sets, with
// their diffs read back from storage.
//
// A snapshot is read from Postgres (which version of each file is
// current) and storage (the bytes of those versions, read lazily: a reply
// that edits two files of a thousand reads two). The commit checks every
// file it writes against the version the snapshot saw, so a concurrent
// change to any of them is a conflict (db.ErrVersionMismatch) that the
// caller retries on a new snapshot or reports; it never loses an update.
package changeset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/projectmap"
)

// Blobs is what a change set needs of storage: content-addressed blobs in
// the project's bucket.
type Blobs interface {
	PutBlob(ctx context.Context, bucket string, data []byte, contentType string) (blobKey, sha256hex string, err error)
	GetBlob(ctx context.Context, bucket, blobKey string) ([]byte, error)
}

// Snapshot is a project's files as they were when it was read. It is an
// editblock.Tree and a projectmap.Reader.
type Snapshot struct {
	ProjectID string
	Revision  int64
	Files     map[string]db.File

	ctx   context.Context
	q     db.Querier
	blobs Blobs

	mu    sync.Mutex
	cache map[string][]byte
	keys  map[string]string // blob keys known from the read (FromState)
}

// Load reads the project's current files (not their bytes).
func Load(ctx context.Context, q db.Querier, blobs Blobs, projectID string) (*Snapshot, error) {
	rev, err := db.ProjectRevision(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	fs, err := db.ListFiles(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{ProjectID: projectID, Revision: rev, Files: make(map[string]db.File, len(fs)),
		ctx: ctx, q: q, blobs: blobs, cache: map[string][]byte{}}
	for _, f := range fs {
		s.Files[f.Path] = f
	}
	return s, nil
}

// FromState is the snapshot of a project state read already (with the
// job's claim, db.ClaimJobWithState); its blob keys spare a read per file
// that is opened.
func FromState(ctx context.Context, q db.Querier, blobs Blobs, st *db.ProjectState) *Snapshot {
	s := &Snapshot{ProjectID: st.ProjectID, Revision: st.Revision, Files: make(map[string]db.File, len(st.Files)),
		ctx: ctx, q: q, blobs: blobs, cache: map[string][]byte{}, keys: st.BlobKeys}
	for _, f := range st.Files {
		s.Files[f.Path] = f
	}
	return s
}

// Paths lists the snapshot's files, sorted.
func (s *Snapshot) Paths() []string {
	ps := make([]string, 0, len(s.Files))
	for p := range s.Files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Read returns a file's bytes at the snapshot's version.
func (s *Snapshot) Read(p string) ([]byte, error) {
	return s.ReadFile(s.ctx, p)
}

// ReadFile returns a file's bytes at the snapshot's version (cached).
func (s *Snapshot) ReadFile(ctx context.Context, p string) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.cache[p]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	f, ok := s.Files[p]
	if !ok {
		return nil, fault.Permanentf("%w: %s is not in the project", fault.ErrNotFound, p)
	}
	key, ok := s.keys[p]
	if !ok {
		v, err := db.GetFileVersion(ctx, s.q, s.ProjectID, p, f.Version)
		if err != nil {
			return nil, err
		}
		key = v.BlobKey
	}
	c, err := s.blobs.GetBlob(ctx, s.ProjectID, key)
	if err != nil {
		return nil, &StorageError{Err: fmt.Errorf("reading %s: %w", p, err)}
	}
	s.mu.Lock()
	s.cache[p] = c
	s.mu.Unlock()
	return c, nil
}

// StorageError marks a failure of the file store (the caller names the
// service when it hands a job back).
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// Infos lists the files as the project map takes them.
func (s *Snapshot) Infos() []projectmap.FileInfo {
	out := make([]projectmap.FileInfo, 0, len(s.Files))
	for _, p := range s.Paths() {
		out = append(out, projectmap.FileInfo{Path: p, Size: s.Files[p].Size})
	}
	return out
}

// ContextRequest is what the model's project context is built from.
type ContextRequest struct {
	Instruction string
	Focus       string
	Pinned      []string
	TokenBudget int
}

// Context builds the model's view of the project (projectmap): first it
// indexes the files whose search document is stale (uploads and undos
// write none), so the search sees the current text.
func (s *Snapshot) Context(ctx context.Context, q db.Querier, r ContextRequest) (*projectmap.Context, error) {
	if _, err := projectmap.Refresh(ctx, q, s.ProjectID, s); err != nil {
		return nil, err
	}
	ix := projectmap.Index{Q: q, ProjectID: s.ProjectID}
	outlines, err := ix.Outlines(ctx)
	if err != nil {
		return nil, err
	}
	b := projectmap.Builder{Reader: s, Search: ix, Options: projectmap.Options{TokenBudget: r.TokenBudget}}
	return b.Build(ctx, projectmap.Request{Files: s.Infos(), Instruction: r.Instruction, Focus: r.Focus,
		Pinned: r.Pinned, Outlines: outlines})
}

// Stored is a change set whose new contents are in storage, ready to
// commit.
type Stored struct {
	Writes  []db.NewVersion
	Indexed map[string][]byte // new content by path, for the search index
	Changes []editblock.FileChange
}

// Store puts the change set's new contents in storage and lists its
// writes, each checked against the snapshot's version of its file. It
// writes no record: blobs are content-addressed, so a change set that is
// never committed leaves only unreferenced bytes.
func (s *Snapshot) Store(ctx context.Context, cs editblock.ChangeSet, maxFileBytes int64) (Stored, error) {
	st := Stored{Indexed: map[string][]byte{}, Changes: cs.Files}
	put := func(fc editblock.FileChange) (db.NewVersion, error) {
		if maxFileBytes > 0 && int64(len(fc.New)) > maxFileBytes {
			return db.NewVersion{}, &TooLargeError{Path: fc.Path, Size: int64(len(fc.New)), Max: maxFileBytes}
		}
		ct := "text/plain; charset=utf-8"
		if f, ok := s.Files[fc.OldPath]; ok && fc.OldPath != "" {
			ct = f.ContentType
		}
		key, sum, err := s.blobs.PutBlob(ctx, s.ProjectID, fc.New, ct)
		if err != nil {
			return db.NewVersion{}, &StorageError{Err: fmt.Errorf("storing %s: %w", fc.Path, err)}
		}
		st.Indexed[fc.Path] = fc.New
		return db.NewVersion{Path: fc.Path, SHA256: sum, Size: int64(len(fc.New)), BlobKey: key, ContentType: ct}, nil
	}
	// Deletions first (a rename's old path too): a reply may move a file
	// away and create another at its path, which must be free by then.
	var files []editblock.FileChange
	for _, fc := range cs.Files {
		switch fc.Op {
		case editblock.Deleted:
			st.Writes = append(st.Writes, db.NewVersion{Path: fc.Path, Delete: true, BaseVersion: s.Files[fc.Path].Version})
		case editblock.Renamed:
			st.Writes = append(st.Writes, db.NewVersion{Path: fc.OldPath, Delete: true, BaseVersion: s.Files[fc.OldPath].Version})
			files = append(files, fc)
		default:
			files = append(files, fc)
		}
	}
	for _, fc := range files {
		switch fc.Op {
		case editblock.Modified:
			nv, err := put(fc)
			if err != nil {
				return Stored{}, err
			}
			nv.BaseVersion = s.Files[fc.Path].Version
			st.Writes = append(st.Writes, nv)
		case editblock.Created:
			nv, err := put(fc)
			if err != nil {
				return Stored{}, err
			}
			nv.Create = true
			st.Writes = append(st.Writes, nv)
		case editblock.Renamed:
			nv, err := put(fc)
			if err != nil {
				return Stored{}, err
			}
			nv.Create, nv.RenamedFrom = true, fc.OldPath
			st.Writes = append(st.Writes, nv)
		default:
			return Stored{}, fmt.Errorf("changeset: unknown change %q of %s", fc.Op, fc.Path)
		}
	}
	return st, nil
}

// TooLargeError is a file the change would make larger than a file may be.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s would be %d bytes, over the %d a file may hold", e.Path, e.Size, e.Max)
}

// Is makes it fault.ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == fault.ErrTooLarge }

// Commit records st as one change set of the snapshot's project, in the
// caller's transaction, and indexes the new contents for search. A file
// that moved since the snapshot is an error wrapping db.ErrVersionMismatch.
func (s *Snapshot) Commit(ctx context.Context, q db.Querier, st Stored, kind string, jobID *int64, summary string,
	limits db.ProjectLimits) (db.ChangeSet, []db.FileVersion, error) {
	return s.commit(ctx, q, db.NewChangeSet{ProjectID: s.ProjectID, Kind: kind, JobID: jobID,
		Summary: summary, Files: st.Writes, Limits: limits}, st)
}

// CommitWhole is Commit in a transaction that the caller rolls back on
// any error of the commit (db.NewChangeSet.Whole: no savepoint).
func (s *Snapshot) CommitWhole(ctx context.Context, q db.Querier, st Stored, kind string, jobID *int64, summary string,
	limits db.ProjectLimits) (db.ChangeSet, []db.FileVersion, error) {
	return s.commit(ctx, q, db.NewChangeSet{ProjectID: s.ProjectID, Kind: kind, JobID: jobID,
		Summary: summary, Files: st.Writes, Limits: limits, Whole: true}, st)
}

func (s *Snapshot) commit(ctx context.Context, q db.Querier, ncs db.NewChangeSet, st Stored) (db.ChangeSet, []db.FileVersion, error) {
	cs, vs, err := db.CommitChangeSet(ctx, q, ncs)
	if err != nil {
		return db.ChangeSet{}, nil, err
	}
	if err := index(ctx, q, s.ProjectID, vs, st.Indexed); err != nil {
		return db.ChangeSet{}, nil, err
	}
	return cs, vs, nil
}

// index brings the search documents of vs up to date: content it has is
// indexed now, a deleted file's document goes. A file whose content it
// lacks (an undo copies a blob) is left for projectmap.Refresh.
func index(ctx context.Context, q db.Querier, projectID string, vs []db.FileVersion, content map[string][]byte) error {
	for _, v := range vs {
		if v.Deleted {
			if err := projectmap.RemoveFile(ctx, q, projectID, v.Path); err != nil {
				return err
			}
			continue
		}
		if c, ok := content[v.Path]; ok {
			if err := projectmap.IndexFile(ctx, q, projectID, v.Path, v.Version, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsConflict reports whether err is a file that moved since it was read.
func IsConflict(err error) bool { return errors.Is(err, db.ErrVersionMismatch) }
