package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ProjectState is a project's revision and current files, with the blob of
// each file's current version: what a change is computed against.
type ProjectState struct {
	ProjectID string
	Revision  int64
	Files     []File
	BlobKeys  map[string]string // path → blob key of its current version
}

// File is the state's current version of path and its blob key.
func (s *ProjectState) File(path string) (File, string, bool) {
	for _, f := range s.Files {
		if f.Path == path {
			return f, s.BlobKeys[path], true
		}
	}
	return File{}, "", false
}

// Batcher sends statements in one round trip; the pool and a transaction
// are both one.
type Batcher interface {
	Querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// ClaimJobWithState is ClaimJob, and on success the job's project state,
// read in the same round trip: the statements go as one batch, which
// PostgreSQL runs as one implicit transaction (one commit), so a claim and
// the reads a job starts with cost one transaction instead of three. The
// claim is the same statement as ClaimJob's, so nothing about leases and
// attempts changes. When the job cannot be claimed, ClaimJob's answer is
// returned (ErrJobBusy, ErrJobFinal) and the state is nil.
func ClaimJobWithState(ctx context.Context, q Batcher, id int64, lease time.Duration) (Job, *ProjectState, error) {
	b := &pgx.Batch{}
	b.Queue(claimJobSQL, id, lease)
	// A left join keeps the revision of a project without files; its row
	// has no path. The claim above has not committed yet, but this reads
	// only what it does not change.
	b.Queue(`SELECT p.id::text, p.revision, f.path, f.version, f.latest_version, f.sha256, f.size, f.content_type, f.updated_at, v.blob_key
		FROM refine_jobs j JOIN projects p ON p.id = j.project_id
		LEFT JOIN project_files f ON f.project_id = p.id AND NOT f.deleted
		LEFT JOIN file_versions v ON v.project_id = f.project_id AND v.path = f.path AND v.version = f.version
		WHERE j.id = $1 ORDER BY f.path`, id)
	br := q.SendBatch(ctx, b)
	j, err := scanJob(br.QueryRow())
	if errors.Is(err, fault.ErrNotFound) {
		if cerr := br.Close(); cerr != nil {
			return Job{}, nil, fmt.Errorf("ClaimJobWithState(%d): %w", id, translate(cerr))
		}
		// Not claimable: ClaimJob tells why (its UPDATE finds nothing
		// either, unless the lease ran out in between: then it claims).
		j, err := ClaimJob(ctx, q, id, lease)
		return j, nil, err
	}
	if err != nil {
		br.Close()
		return Job{}, nil, fmt.Errorf("ClaimJobWithState(%d): %w", id, err)
	}
	st, err := scanState(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = translate(cerr)
	}
	if err != nil {
		// The batch's transaction rolled back, the claim with it.
		return Job{}, nil, fmt.Errorf("ClaimJobWithState(%d): %w", id, err)
	}
	return j, st, nil
}

func scanState(br pgx.BatchResults) (*ProjectState, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	st := &ProjectState{BlobKeys: map[string]string{}}
	for rows.Next() {
		var path, sha, ct, key *string
		var version, latest *int
		var size *int64
		var updated *time.Time
		if err := rows.Scan(&st.ProjectID, &st.Revision, &path, &version, &latest, &sha, &size, &ct, &updated, &key); err != nil {
			return nil, translate(err)
		}
		if path == nil {
			continue
		}
		f := File{ProjectID: st.ProjectID, Path: *path, Version: deref(version), LatestVersion: deref(latest),
			SHA256: deref(sha), Size: deref(size), ContentType: deref(ct), UpdatedAt: deref(updated)}
		st.Files = append(st.Files, f)
		if key != nil {
			st.BlobKeys[f.Path] = *key
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	if st.ProjectID == "" {
		return nil, fault.Permanentf("%w: the job's project", fault.ErrNotFound)
	}
	return st, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
