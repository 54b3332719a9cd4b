package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
)

// A retry note is the word of the delivery that holds the job: it is
// written while that attempt's job is running (its lease released or not),
// and refused once another delivery claimed the job or the job finished,
// so that a stale delivery cannot tell the user "trying again" about a job
// that is someone else's or done.
func TestNoteJobRetryIsFencedByTheAttempt(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	ctx := context.Background()
	j, err := newJob(t, f, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	note := func() string {
		t.Helper()
		r, err := db.GetJobReply(ctx, f.db.Pool, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.RetryNote == nil {
			return "(none)"
		}
		return *r.RetryNote
	}
	if j, err = db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); err != nil || j.Attempts != 1 {
		t.Fatalf("claim: attempts %d, err %v", j.Attempts, err)
	}
	// The holder hands the job back: lease released first, then the note.
	if err := db.ReleaseJobLeaseOf(ctx, f.db.Pool, j.ID, 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.NoteJobRetry(ctx, f.db.Pool, j.ID, 1, "the file store did not answer"); err != nil || !ok {
		t.Fatalf("note of the holder: %v %v, want written", ok, err)
	}
	if n := note(); n != "the file store did not answer" {
		t.Fatalf("retry note %q", n)
	}
	// Another delivery took the job: attempt 1's note is refused.
	if _, err := db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.NoteJobRetry(ctx, f.db.Pool, j.ID, 1, "stale"); err != nil || ok {
		t.Errorf("note of a delivery whose lease was taken: %v %v, want refused", ok, err)
	}
	if n := note(); n != "the file store did not answer" {
		t.Errorf("retry note %q after a stale delivery's note, want the holder's", n)
	}
	// A finished job takes no note, not even from its last holder.
	if _, err := db.FailJob(ctx, f.db.Pool, j.ID, db.JobFailure{State: db.JobFailed, Kind: "error", Message: "no"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.NoteJobRetry(ctx, f.db.Pool, j.ID, 2, "late"); err != nil || ok {
		t.Errorf("note on a failed job: %v %v, want refused", ok, err)
	}
	if n := note(); n != "the file store did not answer" {
		t.Errorf("retry note %q after the job failed", n)
	}
}
