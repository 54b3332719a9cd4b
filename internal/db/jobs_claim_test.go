package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
)

// The claim with the project's state: the job is claimed as ClaimJob
// claims it, the state is the project's current files with their blobs
// (not deleted ones, and an empty project still has its revision), and a
// job that cannot be claimed gets ClaimJob's answers with no state.
func TestClaimJobWithState(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	ctx := context.Background()
	sha := func(c byte) string { return strings.Repeat(string(c), 64) }

	j, err := newJob(t, f, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := db.ClaimJobWithState(ctx, f.db.Pool, j.ID, time.Hour)
	if err != nil || got.State != db.JobRunning || got.Attempts != 1 {
		t.Fatalf("claim of an empty project's job: %+v %v", got, err)
	}
	if st == nil || st.ProjectID != f.project.ID || len(st.Files) != 0 || st.Revision != 0 {
		t.Fatalf("state of an empty project = %+v", st)
	}

	commit := func(nvs ...db.NewVersion) {
		t.Helper()
		if _, _, err := db.CommitChangeSet(ctx, f.db.Pool, db.NewChangeSet{ProjectID: f.project.ID, Kind: db.ChangeUpload, Files: nvs}); err != nil {
			t.Fatal(err)
		}
	}
	commit(db.NewVersion{Path: "a.go", SHA256: sha('a'), Size: 3, BlobKey: "blobs/" + sha('a'), Create: true},
		db.NewVersion{Path: "b.go", SHA256: sha('b'), Size: 4, BlobKey: "blobs/" + sha('b'), Create: true})
	commit(db.NewVersion{Path: "a.go", SHA256: sha('c'), Size: 5, BlobKey: "blobs/" + sha('c'), BaseVersion: 1},
		db.NewVersion{Path: "b.go", Delete: true, BaseVersion: 1})

	j2, err := newJob(t, f, 5, 8)
	if err != nil {
		t.Fatal(err)
	}
	got, st, err = db.ClaimJobWithState(ctx, f.db.Pool, j2.ID, time.Hour)
	if err != nil || got.ID != j2.ID || got.Attempts != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if st.Revision != 2 || len(st.Files) != 1 || st.Files[0].Path != "a.go" || st.Files[0].Version != 2 ||
		st.Files[0].Size != 5 || st.BlobKeys["a.go"] != "blobs/"+sha('c') || len(st.BlobKeys) != 1 {
		t.Fatalf("state = %+v", st)
	}
	if f, key, ok := st.File("a.go"); !ok || f.Version != 2 || key != "blobs/"+sha('c') {
		t.Fatalf("File(a.go) = %+v %q %v", f, key, ok)
	}
	if _, _, ok := st.File("b.go"); ok {
		t.Fatal("File(b.go): a deleted file is in the state")
	}

	// Claimed and live: busy, no state; the claim was not counted again.
	if _, st, err := db.ClaimJobWithState(ctx, f.db.Pool, j2.ID, time.Hour); !errors.Is(err, db.ErrJobBusy) || st != nil {
		t.Fatalf("second claim: state %v, err %v; want ErrJobBusy", st, err)
	}
	// Finished: ErrJobFinal with the job.
	if err := f.db.InTx(ctx, func(tx pgx.Tx) error {
		return db.SucceedProjectJob(ctx, tx, j2.ID, db.ProjectSuccess{Question: "which one?"})
	}); err != nil {
		t.Fatal(err)
	}
	if got, st, err := db.ClaimJobWithState(ctx, f.db.Pool, j2.ID, time.Hour); !errors.Is(err, db.ErrJobFinal) || st != nil || got.ID != j2.ID {
		t.Fatalf("claim of a finished job: %+v %v %v", got, st, err)
	}
	var attempts int
	if err := f.db.Pool.QueryRow(ctx, `SELECT attempts FROM refine_jobs WHERE id = $1`, j2.ID).Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("attempts = %d, %v; want 1", attempts, err)
	}
}

// The success that takes the reply's claim: another delivery then finds
// the reply busy, as if it had been claimed by ClaimJobReply, and the
// finished job and its progress message come back with it.
func TestSucceedProjectJobReplyingClaimsTheReply(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	ctx := context.Background()
	j, err := newJob(t, f, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetJobProgressMessage(ctx, f.db.Pool, j.ID, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	var done db.Job
	var extra db.JobReply
	err = f.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		done, extra, err = db.SucceedProjectJobReplying(ctx, tx, j.ID, db.ProjectSuccess{Question: "which one?", Duration: 1500 * time.Millisecond})
		return err
	})
	if err != nil || done.State != db.JobSucceeded || done.DurationMS == nil || *done.DurationMS != 1500 ||
		extra.ProgressMessageID == nil || *extra.ProgressMessageID != 42 {
		t.Fatalf("succeeded: %+v %+v %v", done, extra, err)
	}
	if _, ok, err := db.ClaimJobReply(ctx, f.db.Pool, j.ID, time.Minute); ok || !errors.Is(err, db.ErrReplyBusy) {
		t.Fatalf("another delivery's reply claim: ok=%v err=%v; want ErrReplyBusy", ok, err)
	}
	// Released (the send failed): claimable again.
	if err := db.ReleaseJobReply(ctx, f.db.Pool, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.ClaimJobReply(ctx, f.db.Pool, j.ID, time.Minute); !ok || err != nil {
		t.Fatalf("claim after release: ok=%v err=%v", ok, err)
	}
}

// The files a request may start with: those whose path is a prefix of it,
// a deleted one excluded, and no file whose path merely contains it.
func TestFilesPrefixing(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	ctx := context.Background()
	sha := strings.Repeat("a", 64)
	var nvs []db.NewVersion
	for _, p := range []string{"my file.py", "my", "my file.py.bak", "cmd/main.go", "gone.go"} {
		nvs = append(nvs, db.NewVersion{Path: p, SHA256: sha, Size: 1, BlobKey: "blobs/" + sha, Create: true})
	}
	if _, _, err := db.CommitChangeSet(ctx, f.db.Pool, db.NewChangeSet{ProjectID: f.project.ID, Kind: db.ChangeUpload, Files: nvs}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CommitChangeSet(ctx, f.db.Pool, db.NewChangeSet{ProjectID: f.project.ID, Kind: db.ChangeUpload,
		Files: []db.NewVersion{{Path: "gone.go", Delete: true, BaseVersion: 1}}}); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"my file.py add a docstring": "my,my file.py",
		"cmd/main.go":                "cmd/main.go",
		"gone.go fix it":             "",
		"main.go fix it":             "",
	} {
		fs, err := db.FilesPrefixing(ctx, f.db.Pool, f.project.ID, args)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Path)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("FilesPrefixing(%q) = %q, want %q", args, got, want)
		}
	}
}
