package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyDatabase(t)

	first, err := db.Migrate(ctx, url, quiet)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first) == 0 {
		t.Fatal("first migrate applied nothing on an empty database")
	}
	want, _ := db.SchemaVersion()
	if got := first[len(first)-1].Version; got != want {
		t.Errorf("migrated to version %d, want %d", got, want)
	}
	schema := dumpSchema(t, url)
	if !strings.Contains(schema, "credit_ledger") || !strings.Contains(schema, "refine_jobs") {
		t.Fatalf("schema lacks the tables:\n%s", schema)
	}

	second, err := db.Migrate(ctx, url, quiet)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second) != 0 {
		t.Errorf("second migrate applied %d migrations, want none", len(second))
	}
	if after := dumpSchema(t, url); after != schema {
		t.Errorf("second migrate changed the schema")
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	applied := make([]int, 3)
	for i := range errs {
		wg.Go(func() {
			r, err := db.Migrate(context.Background(), url, quiet)
			errs[i], applied[i] = err, len(r)
		})
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
		total += applied[i]
	}
	// Each part numbers its migrations in its own range, so the versions
	// have gaps: count the files, not the newest version.
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(files); total != want {
		t.Errorf("the concurrent runs applied %d migrations in all, want each of the %d exactly once", total, want)
	}
}

// dumpSchema lists columns and constraints, enough to see a change.
func dumpSchema(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	// In the tests' exec mode: through a transaction pooler pgx's default
	// (named prepared statements) fails.
	conn := dbtest.Connect(t, url)
	rows, err := conn.Query(ctx, `
		SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT conrelid::regclass::text || ' ' || conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

type fixture struct {
	db      *db.DB
	user    db.User
	project db.Project
}

func setup(t *testing.T, credits int64) fixture {
	t.Helper()
	d := dbtest.New(t)
	ctx := context.Background()
	u, created, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: 111, ChatID: 111, FirstName: "Ann"}, credits)
	if err != nil || !created {
		t.Fatalf("EnsureUser: created=%v err=%v", created, err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, "api")
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return fixture{db: d, user: u, project: p}
}

func balance(t *testing.T, d *db.DB, userID int64) (balance, held int64) {
	t.Helper()
	u, err := db.UserByID(context.Background(), d.Pool, userID)
	if err != nil {
		t.Fatal(err)
	}
	return u.Balance, u.Held
}

func TestEnsureUserGrantsWelcomeOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	ctx := context.Background()
	u, created, err := db.EnsureUser(ctx, f.db.Pool, db.TelegramUser{TelegramID: 111, ChatID: 222, FirstName: "Ann B"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second EnsureUser reported a new user")
	}
	if u.ChatID != 222 || u.FirstName != "Ann B" {
		t.Errorf("chat and name not refreshed: %+v", u)
	}
	if b, _ := balance(t, f.db, u.ID); b != 20 {
		t.Errorf("balance %d after two contacts, want 20 (welcome once)", b)
	}
}

func TestDatabaseRefusesNegativeBalance(t *testing.T) {
	t.Parallel()
	f := setup(t, 5)
	ctx := context.Background()
	_, err := db.AddLedgerEntry(ctx, f.db.Pool, db.LedgerEntry{UserID: f.user.ID, Amount: -6, Kind: db.KindRefund, Cause: "refund:r1"})
	if !errors.Is(err, fault.ErrInsufficient) || !fault.IsPermanent(err) {
		t.Fatalf("debit beyond the balance: err = %v, want a permanent ErrInsufficient", err)
	}
	// Even raw SQL that bypasses the store cannot do it.
	_, err = f.db.Pool.Exec(ctx, `UPDATE users SET balance = -1 WHERE id = $1`, f.user.ID)
	if err == nil || !strings.Contains(err.Error(), "users_balance_not_negative") {
		t.Fatalf("raw negative balance: err = %v, want the CHECK to refuse", err)
	}
	if b, _ := balance(t, f.db, f.user.ID); b != 5 {
		t.Errorf("balance %d, want 5 untouched", b)
	}
}

func TestDatabaseRefusesRacingDebits(t *testing.T) {
	t.Parallel()
	f := setup(t, 10)
	// Ten debits of 3 race for 10 credits: exactly three may pass.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, insufficient := 0, 0
	for i := range 10 {
		wg.Go(func() {
			err := f.db.InTx(context.Background(), func(tx pgx.Tx) error {
				_, err := db.AddLedgerEntry(context.Background(), tx, db.LedgerEntry{
					UserID: f.user.ID, Amount: -3, Kind: db.KindRefine, Cause: fmt.Sprintf("race:%d", i)})
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, fault.ErrInsufficient):
				insufficient++
			default:
				t.Errorf("debit %d: unexpected error %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || insufficient != 7 {
		t.Errorf("%d debits passed and %d were refused, want 3 and 7", ok, insufficient)
	}
	if b, _ := balance(t, f.db, f.user.ID); b != 1 {
		t.Errorf("balance %d, want 1", b)
	}
}

func TestLedgerCauseIsUnique(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	ctx := context.Background()
	e := db.LedgerEntry{UserID: f.user.ID, Amount: 100, Kind: db.KindPurchase, Cause: "payment:cs_1"}
	for i, want := range []bool{true, false, false} {
		inserted, err := db.AddLedgerEntry(ctx, f.db.Pool, e)
		if err != nil || inserted != want {
			t.Fatalf("credit %d: inserted=%v err=%v, want inserted=%v", i, inserted, err, want)
		}
	}
	if b, _ := balance(t, f.db, f.user.ID); b != 100 {
		t.Errorf("balance %d after three credits for one cause, want 100", b)
	}
	// The database itself refuses the second row, not only our ON CONFLICT.
	_, err := f.db.Pool.Exec(ctx, `INSERT INTO credit_ledger (user_id, amount, kind, cause) VALUES ($1, 100, 'purchase', 'payment:cs_1')`, f.user.ID)
	if err == nil || !strings.Contains(err.Error(), "credit_ledger_cause_key") {
		t.Errorf("raw duplicate cause: err = %v, want a unique violation", err)
	}
	// And the ledger cannot be rewritten.
	_, err = f.db.Pool.Exec(ctx, `UPDATE credit_ledger SET amount = 1000`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("rewriting the ledger: err = %v, want it refused", err)
	}
	// Signs are checked: a purchase cannot debit.
	_, err = db.AddLedgerEntry(ctx, f.db.Pool, db.LedgerEntry{UserID: f.user.ID, Amount: -1, Kind: db.KindPurchase, Cause: "x"})
	if !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("negative purchase: err = %v, want ErrInvalid", err)
	}
}

func newJob(t *testing.T, f fixture, hold int64, update int64) (db.Job, error) {
	t.Helper()
	var j db.Job
	err := f.db.InTx(context.Background(), func(tx pgx.Tx) error {
		var err error
		j, err = db.CreateJob(context.Background(), tx, db.NewJob{
			UserID: f.user.ID, ProjectID: f.project.ID, Path: "main.go", Instruction: "add logging",
			Mode: db.ModeLLM, ChatID: f.user.ChatID, SourceUpdateID: &update, HoldCredits: hold})
		return err
	})
	return j, err
}

func TestJobStateMachine(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	ctx := context.Background()
	j, err := newJob(t, f, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A state outside the machine and a jump from queued to succeeded are refused.
	_, err = f.db.Pool.Exec(ctx, `UPDATE refine_jobs SET state = 'done' WHERE id = $1`, j.ID)
	if err == nil || !strings.Contains(err.Error(), "SQLSTATE 23514") {
		t.Errorf("unknown state: err = %v, want a check violation", err)
	}
	_, err = f.db.Pool.Exec(ctx, `UPDATE refine_jobs SET state = 'succeeded', result_version = 2, after_sha256 = 'x', finished_at = now() WHERE id = $1`, j.ID)
	if err == nil || !strings.Contains(err.Error(), "invalid state transition queued -> succeeded") {
		t.Errorf("queued -> succeeded: err = %v", err)
	}
	// The legal path.
	if j, err = db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); err != nil || j.State != db.JobRunning || j.Attempts != 1 {
		t.Fatalf("claim: %+v %v", j, err)
	}
	// A second delivery while the first one's lease is live is told to come back later.
	if _, err := db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); !errors.Is(err, db.ErrJobBusy) || !fault.IsRetryable(err) ||
		fault.RetryAfterOf(err) < 59*time.Minute {
		t.Fatalf("claim under a live lease: err = %v (retry after %s), want a retryable ErrJobBusy after about an hour",
			err, fault.RetryAfterOf(err))
	}
	// Once the lease has run out (the instance died), the job is reclaimed.
	if j, err = db.ClaimJob(ctx, f.db.Pool, j.ID, 0); err != nil || j.Attempts != 2 {
		t.Fatalf("reclaim after a crash: attempts %d, err %v", j.Attempts, err)
	}
	// Success needs its outcome recorded.
	_, err = f.db.Pool.Exec(ctx, `UPDATE refine_jobs SET state = 'succeeded' WHERE id = $1`, j.ID)
	if err == nil || !strings.Contains(err.Error(), "refine_jobs_success_complete") {
		t.Errorf("success without outcome: err = %v", err)
	}
	err = f.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.SucceedJob(ctx, tx, j.ID, db.JobSuccess{BaseVersion: 1, ResultVersion: 2,
			BeforeSHA256: strings.Repeat("a", 64), AfterSHA256: strings.Repeat("b", 64)}); err != nil {
			return err
		}
		return db.ChargeHold(ctx, tx, j.ID, 3, "refine main.go")
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, h := balance(t, f.db, f.user.ID); b != 17 || h != 0 {
		t.Errorf("after charging 3 of a 5 hold: balance %d held %d, want 17 and 0", b, h)
	}
	// Final states are final.
	_, err = f.db.Pool.Exec(ctx, `UPDATE refine_jobs SET state = 'running' WHERE id = $1`, j.ID)
	if err == nil || !strings.Contains(err.Error(), "succeeded -> running") {
		t.Errorf("succeeded -> running: err = %v", err)
	}
	if _, err := db.ClaimJob(ctx, f.db.Pool, j.ID, time.Hour); !errors.Is(err, db.ErrJobFinal) {
		t.Errorf("claiming a finished job: err = %v, want ErrJobFinal", err)
	}
	if err := db.ChargeHold(ctx, f.db.Pool, j.ID, 3, "again"); !errors.Is(err, db.ErrHoldSettled) {
		t.Errorf("charging twice: err = %v, want ErrHoldSettled", err)
	}
	if b, _ := balance(t, f.db, f.user.ID); b != 17 {
		t.Errorf("balance %d after a second charge attempt, want 17", b)
	}
}

func TestHoldsCannotExceedBalance(t *testing.T) {
	t.Parallel()
	f := setup(t, 10)
	ctx := context.Background()
	// Racing jobs each hold 4 of 10 credits: two fit.
	var wg sync.WaitGroup
	results := make([]error, 5)
	for i := range results {
		wg.Go(func() { _, results[i] = newJob(t, f, 4, int64(100+i)) })
	}
	wg.Wait()
	held, refused, heldUpdate := 0, 0, int64(0)
	for i, err := range results {
		switch {
		case err == nil:
			held++
			heldUpdate = int64(100 + i)
		case errors.Is(err, fault.ErrInsufficient):
			refused++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if held != 2 || refused != 3 {
		t.Errorf("%d holds passed, %d refused; want 2 and 3", held, refused)
	}
	if b, h := balance(t, f.db, f.user.ID); b != 10 || h != 8 {
		t.Errorf("balance %d held %d, want 10 and 8", b, h)
	}
	// While held, the credits cannot be spent elsewhere either.
	_, err := db.AddLedgerEntry(ctx, f.db.Pool, db.LedgerEntry{UserID: f.user.ID, Amount: -3, Kind: db.KindRefund, Cause: "refund:x"})
	if !errors.Is(err, fault.ErrInsufficient) {
		t.Errorf("spending held credits: err = %v", err)
	}
	// One update, one job.
	if _, err := newJob(t, f, 1, heldUpdate); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("second job for one update: err = %v, want ErrConflict", err)
	}
}

func TestFailJobReleasesCreditsOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, 10)
	ctx := context.Background()
	j, err := newJob(t, f, 6, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		failed, err := db.FailJob(ctx, f.db.Pool, j.ID, db.JobFailure{State: db.JobFailed, Kind: "gave_up", Message: "gave up"})
		if err != nil || failed != want {
			t.Fatalf("fail %d: failed=%v err=%v, want %v", i, failed, err, want)
		}
	}
	if b, h := balance(t, f.db, f.user.ID); b != 10 || h != 0 {
		t.Errorf("balance %d held %d after failure, want 10 and 0", b, h)
	}
	got, _ := db.GetJob(ctx, f.db.Pool, j.ID)
	if got.State != db.JobFailed || got.Error == nil || *got.Error != "gave up" {
		t.Errorf("job after failure: %+v", got)
	}
}

func TestCommitVersionOptimistic(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	ctx := context.Background()
	sha := func(c byte) string { return strings.Repeat(string(c), 64) }
	commit := func(base int, c byte) (int, error) {
		var v int
		err := f.db.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			v, err = db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: f.project.ID, Path: "cmd/main.go",
				SHA256: sha(c), Size: 10, BlobKey: "blobs/" + sha(c), Source: db.SourceUpload, BaseVersion: base})
			return err
		})
		return v, err
	}
	if v, err := commit(0, 'a'); err != nil || v != 1 {
		t.Fatalf("create: v=%d err=%v", v, err)
	}
	if v, err := commit(1, 'b'); err != nil || v != 2 {
		t.Fatalf("update from 1: v=%d err=%v", v, err)
	}
	// A writer that read version 1 lost the race.
	if _, err := commit(1, 'c'); !errors.Is(err, db.ErrVersionMismatch) || !fault.IsPermanent(err) {
		t.Fatalf("stale update: err = %v, want a permanent ErrVersionMismatch", err)
	}
	// Undo points back to 1; the next write is 3, never reusing 2.
	if _, err := db.PointToVersion(ctx, f.db.Pool, f.project.ID, "cmd/main.go", 2, 1); err != nil {
		t.Fatal(err)
	}
	file, _ := db.FileByPath(ctx, f.db.Pool, f.project.ID, "cmd/main.go")
	if file.Version != 1 || file.SHA256 != sha('a') {
		t.Errorf("after undo: %+v", file)
	}
	if v, err := commit(1, 'd'); err != nil || v != 3 {
		t.Fatalf("write after undo: v=%d err=%v, want 3", v, err)
	}
	vs, _ := db.ListFileVersions(ctx, f.db.Pool, f.project.ID, "cmd/main.go")
	if len(vs) != 3 {
		t.Errorf("%d versions kept, want 3", len(vs))
	}
	// Concurrent creators of one new file: both succeed, as versions 1 and 2.
	var wg sync.WaitGroup
	vers := make([]int, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			errs[i] = f.db.InTx(ctx, func(tx pgx.Tx) error {
				var err error
				vers[i], err = db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: f.project.ID, Path: "new.txt",
					SHA256: sha('e'), Size: 1, BlobKey: "k", Source: db.SourceUpload})
				return err
			})
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || vers[0]+vers[1] != 3 {
		t.Errorf("concurrent creation: versions %v errors %v", vers, errs)
	}
}

func TestProjectsAreScopedToTheirUser(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	ctx := context.Background()
	other, _, err := db.EnsureUser(ctx, f.db.Pool, db.TelegramUser{TelegramID: 222, ChatID: 222}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ProjectByID(ctx, f.db.Pool, other.ID, f.project.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("another user's project: err = %v, want not found", err)
	}
	if err := db.SelectProject(ctx, f.db.Pool, other.ID, f.project.ID); err == nil {
		t.Error("selecting another user's project was allowed")
	}
	if _, err := db.CreateProject(ctx, f.db.Pool, f.user.ID, "api"); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("duplicate name: err = %v, want conflict", err)
	}
	if _, err := db.CreateProject(ctx, f.db.Pool, f.user.ID, "../etc"); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("invalid name: err = %v, want invalid", err)
	}
	if p, err := db.ProjectByName(ctx, f.db.Pool, f.user.ID, "API"); err != nil || p.ID != f.project.ID {
		t.Errorf("by name, other case: %v %v", p, err)
	}
}

func TestInbox(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		first, err := db.MarkProcessed(ctx, f.db.Pool, "TelegramUpdates", "700000001", db.OutcomeDone, "")
		if err != nil || first != want {
			t.Fatalf("mark %d: first=%v err=%v", i, first, err)
		}
	}
	p, found, err := db.LookupProcessed(ctx, f.db.Pool, "TelegramUpdates", "700000001")
	if err != nil || !found || p.Replied {
		t.Fatalf("lookup: %+v %v %v", p, found, err)
	}
	if ok, _ := db.MarkReplied(ctx, f.db.Pool, "TelegramUpdates", "700000001"); !ok {
		t.Error("first MarkReplied reported already replied")
	}
	if ok, _ := db.MarkReplied(ctx, f.db.Pool, "TelegramUpdates", "700000001"); ok {
		t.Error("second MarkReplied reported a first reply")
	}
}

func TestTranslateRetryable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=1", db.Options{})
	if err == nil || !fault.IsRetryable(err) {
		t.Errorf("unreachable server: err = %v, want retryable", err)
	}
	_, err = db.Open(context.Background(), "postgres://u:secret-password@[::1", db.Options{})
	if err == nil || strings.Contains(err.Error(), "secret-password") {
		t.Errorf("bad URL: err = %v, must not echo the password", err)
	}
}
