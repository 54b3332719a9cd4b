package db_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

const (
	legacyP1 = "00000000-0000-0000-0000-0000000000a1"
	legacyP2 = "00000000-0000-0000-0000-0000000000a2"
	legacyP3 = "00000000-0000-0000-0000-0000000000a3"
)

// Migration 00057 turns the old rows into change sets: a job's versions
// are one, every other version one of its own, numbered per project in the
// order they were written; versions and succeeded jobs point at theirs,
// and each project's revision is its number of change sets.
func TestChangeSetBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyDatabase(t)
	if err := db.MigrateBelow(ctx, url, 57); err != nil {
		t.Fatal(err)
	}
	conn := dbtest.Connect(t, url)
	// P1: c uploaded first (its row inserted last), a uploaded, job 1
	// writes b then a, a per-file undo of a, and a refinement whose job was
	// deleted. Job 2 failed without writing. P2: two uploads of x, the
	// first at the same time as P1's a. P3: nothing.
	_, err := conn.Exec(ctx, `
		INSERT INTO users (telegram_id, chat_id) VALUES (1, 1);
		INSERT INTO projects (id, user_id, name) VALUES ('`+legacyP1+`', 1, 'p1'), ('`+legacyP2+`', 1, 'p2'), ('`+legacyP3+`', 1, 'p3');
		INSERT INTO refine_jobs (user_id, project_id, path, instruction, mode, chat_id, state, base_version, result_version,
			before_sha256, after_sha256, finished_at) VALUES
			(1, '`+legacyP1+`', 'a', 'x', 'llm', 1, 'succeeded', 1, 2, '`+sum("a1")+`', '`+sum("a2")+`', '2024-01-01 00:00:03+00');
		INSERT INTO refine_jobs (user_id, project_id, path, instruction, mode, chat_id, state, error, finished_at) VALUES
			(1, '`+legacyP1+`', 'b', 'y', 'llm', 1, 'failed', 'no', '2024-01-01 00:00:03+00');
		BEGIN;
		INSERT INTO project_files (project_id, path, version, latest_version, sha256, size) VALUES
			('`+legacyP1+`', 'a', 4, 4, '`+sum("a4")+`', 2),
			('`+legacyP1+`', 'b', 1, 1, '`+sum("b1")+`', 2),
			('`+legacyP1+`', 'c', 1, 1, '`+sum("c1")+`', 2),
			('`+legacyP2+`', 'x', 2, 2, '`+sum("x2")+`', 2);
		INSERT INTO file_versions (project_id, path, version, sha256, size, blob_key, source, job_id,
			parent_version, redo_version, copy_of, created_at) VALUES
			('`+legacyP1+`', 'a', 1, '`+sum("a1")+`', 2, 'k', 'upload', NULL, NULL, NULL, NULL, '2024-01-01 00:00:01+00'),
			('`+legacyP2+`', 'x', 1, '`+sum("x1")+`', 2, 'k', 'upload', NULL, NULL, NULL, NULL, '2024-01-01 00:00:01+00'),
			('`+legacyP1+`', 'b', 1, '`+sum("b1")+`', 2, 'k', 'refine', 1, NULL, NULL, NULL, '2024-01-01 00:00:02+00'),
			('`+legacyP1+`', 'a', 2, '`+sum("a2")+`', 2, 'k', 'refine', 1, 1, NULL, NULL, '2024-01-01 00:00:03+00'),
			('`+legacyP1+`', 'a', 3, '`+sum("a1")+`', 2, 'k', 'undo', NULL, NULL, 2, 1, '2024-01-01 00:00:04+00'),
			('`+legacyP1+`', 'a', 4, '`+sum("a4")+`', 2, 'k', 'refine', NULL, 3, NULL, NULL, '2024-01-01 00:00:05+00'),
			('`+legacyP2+`', 'x', 2, '`+sum("x2")+`', 2, 'k', 'upload', NULL, 1, NULL, NULL, '2024-01-01 00:00:06+00'),
			('`+legacyP1+`', 'c', 1, '`+sum("c1")+`', 2, 'k', 'upload', NULL, NULL, NULL, NULL, '2024-01-01 00:00:00+00');
		COMMIT;`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, url, quiet); err != nil {
		t.Fatal(err)
	}

	// Each change set as "rev kind job [files]", per project in order.
	rows, err := conn.Query(ctx, `SELECT c.project_id::text, c.result_revision, c.base_revision, c.kind,
			coalesce(c.job_id::text, '-'), string_agg(v.path || v.version, ',' ORDER BY v.path, v.version),
			c.created_at = min(v.created_at)
		FROM change_sets c LEFT JOIN file_versions v ON v.change_set_id = c.id
		GROUP BY c.id ORDER BY c.project_id, c.result_revision`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for rows.Next() {
		var project, kind, job, fs string
		var rev, base int64
		var at bool
		if err := rows.Scan(&project, &rev, &base, &kind, &job, &fs, &at); err != nil {
			t.Fatal(err)
		}
		if base != rev-1 || !at {
			t.Errorf("%s r%d: base %d, created_at of its first version %v", project, rev, base, at)
		}
		got[project] = append(got[project], strings.Join([]string{strconv.FormatInt(rev, 10), kind, job, fs}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		legacyP1: {"1 upload - c1", "2 upload - a1", "3 refine 1 a2,b1", "4 revert - a3", "5 refine - a4"},
		legacyP2: {"1 upload - x1", "2 upload - x2"},
	}
	for _, p := range []string{legacyP1, legacyP2, legacyP3} {
		if strings.Join(got[p], "; ") != strings.Join(want[p], "; ") {
			t.Errorf("project %s: change sets\n\t%s\nwant\n\t%s", p[len(p)-2:], strings.Join(got[p], "; "), strings.Join(want[p], "; "))
		}
	}
	var unlinked int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM file_versions WHERE change_set_id IS NULL`).Scan(&unlinked); err != nil || unlinked != 0 {
		t.Errorf("%d versions without a change set (%v)", unlinked, err)
	}
	jobs, err := conn.Query(ctx, `SELECT j.id, coalesce(c.result_revision, 0), j.scope FROM refine_jobs j
		LEFT JOIN change_sets c ON c.id = j.change_set_id ORDER BY j.id`)
	if err != nil {
		t.Fatal(err)
	}
	for jobs.Next() {
		var id, rev int64
		var scope string
		if err := jobs.Scan(&id, &rev, &scope); err != nil {
			t.Fatal(err)
		}
		if want := map[int64]int64{1: 3, 2: 0}[id]; rev != want || scope != db.ScopeFile {
			t.Errorf("job %d: change set at r%d, scope %s; want r%d, file", id, rev, scope, want)
		}
	}
	revs := map[string]int64{}
	for _, p := range []string{legacyP1, legacyP2, legacyP3} {
		r, err := db.ProjectRevision(ctx, conn, p)
		if err != nil {
			t.Fatal(err)
		}
		revs[p[len(p)-2:]] = r
	}
	if revs["a1"] != 5 || revs["a2"] != 2 || revs["a3"] != 0 {
		t.Errorf("revisions %v, want a1:5 a2:2 a3:0", revs)
	}

	// The migrated project goes on from there: /undo finds the last change
	// set, the next one is revision 6.
	u, err := db.UndoTarget(ctx, conn, legacyP1)
	if err != nil || u.ResultRevision != 5 {
		t.Errorf("UndoTarget: %+v, %v", u, err)
	}
	cs, _, err := db.CommitChangeSet(ctx, conn, db.NewChangeSet{ProjectID: legacyP1, Kind: db.ChangeRefine,
		Files: files(edit("a", "a5", 4), remove("c", 1))})
	if err != nil || cs.ResultRevision != 6 {
		t.Errorf("a change set after the migration: %+v, %v", cs, err)
	}
	if j, err := db.JobOfChangeSet(ctx, conn, mustChangeSetAt(t, conn, legacyP1, 3)); err != nil || j.ID != 1 {
		t.Errorf("JobOfChangeSet(r3) = %d, %v; want job 1", j.ID, err)
	}
}

func mustChangeSetAt(t *testing.T, q db.Querier, projectID string, rev int64) int64 {
	t.Helper()
	cs, err := db.ChangeSetAt(context.Background(), q, projectID, rev)
	if err != nil {
		t.Fatal(err)
	}
	return cs.ID
}

// migrateDown rolls the newest migration back, with goose, from the
// migrations on disk (the embedded ones are these files).
func migrateDown(ctx context.Context, url string) error {
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS("migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	// Down to 56: the migrations after 57 go first.
	rs, err := p.DownTo(ctx, 56)
	if err != nil {
		return err
	}
	if len(rs) == 0 || rs[len(rs)-1].Source.Version != 57 {
		return errors.New("did not roll back 00057")
	}
	return nil
}

// migratedProject migrates a fresh database up, and makes a user and a
// project on it.
func migratedProject(t *testing.T) (ctx context.Context, url string, conn *pgx.Conn, u db.User, p db.Project) {
	t.Helper()
	ctx = context.Background()
	url = dbtest.EmptyDatabase(t)
	if _, err := db.Migrate(ctx, url, quiet); err != nil {
		t.Fatal(err)
	}
	conn = dbtest.Connect(t, url)
	u, _, err := db.EnsureUser(ctx, conn, db.TelegramUser{TelegramID: 9, ChatID: 9}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = db.CreateProject(ctx, conn, u.ID, "p"); err != nil {
		t.Fatal(err)
	}
	return ctx, url, conn, u, p
}

func commitOn(t *testing.T, q db.Querier, projectID string, nvs ...any) db.ChangeSet {
	t.Helper()
	cs, _, err := db.CommitChangeSet(context.Background(), q, db.NewChangeSet{ProjectID: projectID, Kind: db.ChangeRefine, Files: files(nvs...)})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Migration 00057 rolls back with deleted files in the database: they go,
// with their history; the live files stay, and it migrates up again.
func TestChangeSetMigrationDownWithDeletedFiles(t *testing.T) {
	t.Parallel()
	ctx, url, conn, _, p := migratedProject(t)
	commitOn(t, conn, p.ID, content("a", "a1"), content("b", "b1"), content("c", "c1"))
	commitOn(t, conn, p.ID, remove("b", 1), remove("c", 1))
	commitOn(t, conn, p.ID, create("c", "c2"))
	if err := db.PinFiles(ctx, conn, p.ID, []string{"a"}); err != nil {
		t.Fatal(err)
	}

	if err := migrateDown(ctx, url); err != nil {
		t.Fatalf("migrating 00057 down: %v", err)
	}
	var paths string
	if err := conn.QueryRow(ctx, `SELECT string_agg(path || version, ',' ORDER BY path) FROM project_files`).Scan(&paths); err != nil ||
		paths != "a1,c3" {
		t.Errorf("files after the down migration: %s, %v; want a1,c3 (b was deleted)", paths, err)
	}
	var bVersions int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM file_versions WHERE path = 'b'`).Scan(&bVersions); err != nil || bVersions != 0 {
		t.Errorf("b keeps %d versions, %v", bVersions, err)
	}
	if _, err := db.Migrate(ctx, url, quiet); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	if _, err := db.FileByPath(ctx, conn, p.ID, "b"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("b after the round trip: %v", err)
	}
	if r, err := db.ProjectRevision(ctx, conn, p.ID); err != nil || r != 4 {
		t.Errorf("revision after the round trip: %d, %v; want 4 (a1, c1, the tombstone of c, c2)", r, err)
	}
}

// Migration 00057 rolls back with a project job that succeeded with a
// change set (its row breaks the old check, which the down migration adds
// NOT VALID), and migrates up again: the backfill links the job to the
// change set its versions make.
func TestChangeSetMigrationRoundTripWithProjectJob(t *testing.T) {
	t.Parallel()
	ctx, url, conn, u, p := migratedProject(t)
	commitOn(t, conn, p.ID, content("a", "a1"))
	j, err := db.CreateJob(ctx, conn, db.NewJob{UserID: u.ID, ProjectID: p.ID, Instruction: "x", Mode: db.ModeLLM,
		ChatID: u.ChatID, Scope: db.ScopeProject})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimJob(ctx, conn, j.ID, 0); err != nil {
		t.Fatal(err)
	}
	cs, _, err := db.CommitChangeSet(ctx, conn, db.NewChangeSet{ProjectID: p.ID, Kind: db.ChangeRefine, JobID: &j.ID,
		Files: files(edit("a", "a2", 1), create("b", "b1"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SucceedProjectJob(ctx, conn, j.ID, db.ProjectSuccess{ChangeSetID: cs.ID}); err != nil {
		t.Fatal(err)
	}

	if err := migrateDown(ctx, url); err != nil {
		t.Fatalf("migrating 00057 down: %v", err)
	}
	if _, err := db.Migrate(ctx, url, quiet); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	got, err := db.GetJob(ctx, conn, j.ID)
	if err != nil || got.State != db.JobSucceeded || got.ChangeSetID == nil {
		t.Fatalf("the job after the round trip: %+v, %v", got, err)
	}
	if vs := mustFilesOn(t, conn, *got.ChangeSetID); len(vs) != 2 {
		t.Errorf("the job's change set has %d files, want 2", len(vs))
	}
}

func mustFilesOn(t *testing.T, q db.Querier, csID int64) []db.FileVersion {
	t.Helper()
	vs, err := db.ChangeSetFiles(context.Background(), q, csID)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// A project goes with its change sets, undos and jobs: the schema's links
// between them (undoes, undone_by, a job's change set) do not hold it back.
func TestDeletingAProjectTakesItsChangeSets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 38)
	j, err := db.CreateJob(ctx, p.d.Pool, db.NewJob{UserID: p.user.ID, ProjectID: p.id, Instruction: "x", Mode: db.ModeLLM,
		ChatID: p.user.ChatID, Scope: db.ScopeProject})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimJob(ctx, p.d.Pool, j.ID, 0); err != nil {
		t.Fatal(err)
	}
	cs, _, err := db.CommitChangeSet(ctx, p.d.Pool, db.NewChangeSet{ProjectID: p.id, Kind: db.ChangeRefine, JobID: &j.ID,
		Files: files(content("a", "a1"), content("b", "b1"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SucceedProjectJob(ctx, p.d.Pool, j.ID, db.ProjectSuccess{ChangeSetID: cs.ID}); err != nil {
		t.Fatal(err)
	}
	p.revert(p.revert(cs.ID, db.ChangeUndo).ID, db.ChangeRedo)
	if err := db.PinFiles(ctx, p.d.Pool, p.id, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.d.Pool.Exec(ctx, `DELETE FROM projects WHERE id = $1`, p.id); err != nil {
		t.Fatalf("deleting the project: %v", err)
	}
	var left int
	err = p.d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM change_sets) + (SELECT count(*) FROM file_versions)
		+ (SELECT count(*) FROM refine_jobs) + (SELECT count(*) FROM pinned_files)`).Scan(&left)
	if err != nil || left != 0 {
		t.Errorf("%d rows left, %v", left, err)
	}
}
