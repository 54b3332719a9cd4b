package projectmap_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/projectmap"
)

// newProject creates a user's project in a fresh database.
func newProject(t *testing.T, d *db.DB, telegramID int64, name string) string {
	t.Helper()
	ctx := context.Background()
	u, _, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: telegramID, ChatID: telegramID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// write commits a version of each file and indexes it in the same
// transaction, as the write path must.
func write(t *testing.T, d *db.DB, projectID string, files map[string]string) {
	t.Helper()
	err := d.InTx(context.Background(), func(tx pgx.Tx) error {
		for p, content := range files {
			sum := sha256.Sum256([]byte(content))
			hexsum := hex.EncodeToString(sum[:])
			v, err := db.CommitVersion(context.Background(), tx, db.NewVersion{
				ProjectID: projectID, Path: p, SHA256: hexsum, Size: int64(len(content)),
				BlobKey: "blobs/" + hexsum, Source: db.SourceUpload,
			})
			if err != nil {
				return err
			}
			if err := projectmap.IndexFile(context.Background(), tx, projectID, p, v, []byte(content)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
}

func search(t *testing.T, d *db.DB, projectID, instruction string, limit int) []projectmap.Hit {
	t.Helper()
	hits, err := projectmap.Index{Q: d.Pool, ProjectID: projectID}.Search(context.Background(), projectmap.QueryTerms(instruction), limit)
	if err != nil {
		t.Fatalf("search %q: %v", instruction, err)
	}
	return hits
}

func paths(hits []projectmap.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Path
	}
	return out
}

func indexOf(hits []projectmap.Hit, p string) int {
	for i, h := range hits {
		if h.Path == p {
			return i
		}
	}
	return -1
}

// serviceProject is a 200-file Go service: handlers, stores and tests for
// many resources, each mentioning the common words ("add", "test",
// "endpoint", "handler") that an instruction also uses, plus the router
// where endpoints are registered and a health probe.
func serviceProject() map[string]string {
	resources := []string{"user", "order", "invoice", "payment", "product", "cart", "review", "coupon", "shipment", "refund",
		"address", "session", "token", "webhook", "report", "category", "inventory", "supplier", "warehouse", "discount",
		"subscription", "plan", "team", "invite", "comment", "tag", "upload", "export", "audit", "notification",
		"message", "ticket", "agent", "queue", "schedule", "booking", "room", "guest", "menu", "recipe",
		"driver", "vehicle", "route", "zone", "tariff", "meter", "reading", "alert", "device", "firmware"}
	files := make(map[string]string)
	for _, r := range resources {
		title := strings.ToUpper(r[:1]) + r[1:]
		files["internal/"+r+"/handler.go"] = fmt.Sprintf(`package %[1]s

import "net/http"

// %[2]sHandler serves the %[1]s endpoint: list, add and remove.
type %[2]sHandler struct{ store *%[2]sStore }

// Add%[2]s handles POST: add a %[1]s.
func (h *%[2]sHandler) Add%[2]s(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusCreated)
}
`, r, title)
		files["internal/"+r+"/store.go"] = fmt.Sprintf(`package %[1]s

// %[2]sStore keeps %[1]s rows; add and delete are transactional.
type %[2]sStore struct{}

func (s *%[2]sStore) Add(name string) error { return nil }
`, r, title)
		files["internal/"+r+"/handler_test.go"] = fmt.Sprintf(`package %[1]s

import "testing"

// TestAdd%[2]s adds a %[1]s through the endpoint and checks the response.
func TestAdd%[2]s(t *testing.T) {}
`, r, title)
		files["docs/"+r+".md"] = fmt.Sprintf("# %[2]s\n\nHow to add a %[1]s with the API.\n", r, title)
	}
	files["internal/server/routes.go"] = `package server

import "net/http"

// RegisterEndpoints registers every endpoint of the API on mux.
func RegisterEndpoints(mux *http.ServeMux) {
	mux.HandleFunc("POST /users", nil)
	mux.HandleFunc("POST /orders", nil)
}
`
	files["internal/monitor/probe.go"] = `package monitor

// HealthStatus is what a liveness probe reports: healthy or not.
type HealthStatus struct{ OK bool }

func CheckHealth() HealthStatus { return HealthStatus{OK: true} }
`
	return files
}

func TestSearchFindsTheRelevantFileAmong200(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	pid := newProject(t, d, 1, "service")
	files := serviceProject()
	if len(files) != 202 {
		t.Fatalf("the fixture has %d files, want 202", len(files))
	}
	write(t, d, pid, files)

	hits := search(t, d, pid, "add a /health endpoint", 10)
	if len(hits) == 0 {
		t.Fatal("no hits")
	}
	if hits[0].Path != "internal/monitor/probe.go" {
		t.Errorf("top hit %q, want internal/monitor/probe.go; hits %v", hits[0].Path, paths(hits))
	}
	// 101 files say "endpoint" in their text; the router names it in a
	// symbol (RegisterEndpoints), which weighs more.
	if i := indexOf(hits, "internal/server/routes.go"); i != 1 {
		t.Errorf("routes.go (where endpoints are registered) at %d, want second; hits %v", i, paths(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Rank > hits[i-1].Rank {
			t.Errorf("hits not ordered by rank: %v", hits)
		}
	}
}

func TestSearchRanking(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	pid := newProject(t, d, 1, "rank")
	write(t, d, pid, map[string]string{
		// the path and a symbol name say "health"
		"internal/health/health.go": "package health\n\n// add\nfunc Health() {}\n",
		// the text says it five times
		"notes/five.txt": "add health health health health health\n",
		// the text says it once
		"notes/once.txt": "add the health of the system\n",
		// a word of the query that every file has, fifty times
		"notes/repeated.txt": strings.Repeat("add ", 50) + "\n",
		"notes/other.txt":    "add unrelated words\n",
		"notes/more.txt":     "add more unrelated words\n",
	})
	hits := search(t, d, pid, "add health", 10)
	want := []string{"internal/health/health.go", "notes/five.txt", "notes/once.txt"}
	got := paths(hits)
	if len(got) < 3 || strings.Join(got[:3], ",") != strings.Join(want, ",") {
		t.Errorf("ranking %v, want %v first", got, want)
	}
	// A word in every file says nothing about any of them.
	if i := indexOf(hits, "notes/repeated.txt"); i >= 0 && i < 3 {
		t.Errorf("fifty repetitions of a word every file has outrank the word that singles files out: %v", got)
	}
}

func TestSearchSplitsIdentifiersOnBothSides(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	pid := newProject(t, d, 1, "idents")
	write(t, d, pid, map[string]string{
		"a/camel.go":              "package a\n\nfunc parseConfigFile() {}\n",
		"b/snake.py":              "def load_user_settings():\n    pass\n",
		"c/ShoutyHTTPServer.java": "class ShoutyHTTPServer {}\n",
		"d/unrelated.txt":         "nothing to see\n",
	})
	cases := []struct{ instruction, want string }{
		{"fix the config file parser", "a/camel.go"},   // words find camelCase
		{"rename parse_config_file", "a/camel.go"},     // snake_case finds camelCase
		{"where is loadUserSettings", "b/snake.py"},    // camelCase finds snake_case
		{"the user settings loader", "b/snake.py"},     // words find snake_case
		{"the http server", "c/ShoutyHTTPServer.java"}, // an acronym's parts
		{"ShoutyHttpServer is slow", "c/ShoutyHTTPServer.java"},
	}
	for _, c := range cases {
		hits := search(t, d, pid, c.instruction, 5)
		if len(hits) == 0 || hits[0].Path != c.want {
			t.Errorf("%q: hits %v, want %s first", c.instruction, paths(hits), c.want)
		}
	}
}

func TestSearchForgetsADeletedFileAndNeverCrossesProjects(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	mine := newProject(t, d, 1, "mine")
	theirs := newProject(t, d, 2, "theirs")
	write(t, d, mine, map[string]string{
		"billing/invoice.go": "package billing\n\nfunc RenderInvoice() {}\n",
		"billing/tax.go":     "package billing\n\n// the invoice tax\nfunc Tax() {}\n",
	})
	write(t, d, theirs, map[string]string{
		"invoice/invoice.go": "package invoice\n\nfunc Invoice() {}\n",
	})

	if got := paths(search(t, d, mine, "invoice", 10)); strings.Join(got, ",") != "billing/invoice.go,billing/tax.go" {
		t.Fatalf("before deletion: %v", got)
	}
	if err := projectmap.RemoveFile(ctx, d.Pool, mine, "billing/invoice.go"); err != nil {
		t.Fatal(err)
	}
	if got := paths(search(t, d, mine, "invoice", 10)); strings.Join(got, ",") != "billing/tax.go" {
		t.Errorf("after RemoveFile: %v, want only billing/tax.go", got)
	}
	// Deleting the file row takes its document with it.
	if _, err := d.Pool.Exec(ctx, `DELETE FROM project_files WHERE project_id = $1 AND path = 'billing/tax.go'`, mine); err != nil {
		t.Fatal(err)
	}
	if got := search(t, d, mine, "invoice", 10); len(got) != 0 {
		t.Errorf("after deleting the file row: %v, want none", paths(got))
	}
	if got := paths(search(t, d, theirs, "invoice", 10)); strings.Join(got, ",") != "invoice/invoice.go" {
		t.Errorf("the other project: %v", got)
	}
}

func TestSearchReindexesANewVersionAndKeepsOutlines(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	pid := newProject(t, d, 1, "versions")
	write(t, d, pid, map[string]string{"app.py": "def old_name():\n    pass\n"})
	write(t, d, pid, map[string]string{"app.py": "def brand_new():\n    pass\n"})
	if got := search(t, d, pid, "old name", 5); len(got) != 0 {
		t.Errorf("the replaced version is still found: %v", paths(got))
	}
	if got := paths(search(t, d, pid, "brand new", 5)); strings.Join(got, ",") != "app.py" {
		t.Errorf("the new version is not found: %v", got)
	}
	outlines, err := projectmap.Index{Q: d.Pool, ProjectID: pid}.Outlines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if outlines["app.py"] != "def brand_new()\n" {
		t.Errorf("stored outline %q", outlines["app.py"])
	}
	// Stop words only: no usable term, no hits, no error.
	if got := search(t, d, pid, "the and of", 5); len(got) != 0 {
		t.Errorf("stop words found %v", paths(got))
	}
}

func TestRefreshIndexesMissingAndStaleDocuments(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	pid := newProject(t, d, 1, "refresh")
	// Versions 1 and 2 of a file written without indexing (as before this
	// index existed).
	contents := map[int]string{1: "def first_version():\n    pass\n", 2: "def second_version():\n    pass\n"}
	for v := 1; v <= 2; v++ {
		sum := sha256.Sum256([]byte(contents[v]))
		hexsum := hex.EncodeToString(sum[:])
		err := d.InTx(ctx, func(tx pgx.Tx) error {
			_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: pid, Path: "app.py", SHA256: hexsum,
				Size: int64(len(contents[v])), BlobKey: "blobs/" + hexsum, Source: db.SourceUpload})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	current := projectmap.MapReader{"app.py": []byte(contents[2])}
	n, err := projectmap.Refresh(ctx, d.Pool, pid, current)
	if err != nil || n != 1 {
		t.Fatalf("first refresh indexed %d, err %v; want 1", n, err)
	}
	if got := paths(search(t, d, pid, "second version", 5)); strings.Join(got, ",") != "app.py" {
		t.Errorf("after refresh: %v", got)
	}
	if n, err := projectmap.Refresh(ctx, d.Pool, pid, current); err != nil || n != 0 {
		t.Errorf("second refresh indexed %d, err %v; want 0", n, err)
	}
	// An undo moves the current version back without writing content.
	if _, err := db.PointToVersion(ctx, d.Pool, pid, "app.py", 2, 1); err != nil {
		t.Fatal(err)
	}
	current["app.py"] = []byte(contents[1])
	if n, err := projectmap.Refresh(ctx, d.Pool, pid, current); err != nil || n != 1 {
		t.Fatalf("refresh after undo indexed %d, err %v; want 1", n, err)
	}
	if got := search(t, d, pid, "second", 5); len(got) != 0 {
		t.Errorf("the undone version is still found: %v", paths(got))
	}
	if got := paths(search(t, d, pid, "first", 5)); strings.Join(got, ",") != "app.py" {
		t.Errorf("the restored version is not found: %v", got)
	}
}

func TestIndexFileAcceptsInvalidUTF8AndLateNULBytes(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	pid := newProject(t, d, 1, "bytes")
	// Invalid UTF-8 in a definition line, and a NUL byte past the first
	// 8 KiB (where the text check does not look): PostgreSQL's text type
	// takes neither.
	content := "def caf\xe9_menu():\n    pass\n" + strings.Repeat("# pad\n", 2000) + "def late\x00_name():\n    pass\n"
	write(t, d, pid, map[string]string{"menu.py": content})
	if got := paths(search(t, d, pid, "menu", 5)); strings.Join(got, ",") != "menu.py" {
		t.Errorf("hits %v", got)
	}
}
