package changeset_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/storage"
)

// countingBlobs is the real local store, counting the blobs read.
type countingBlobs struct {
	changeset.Blobs
	mu   sync.Mutex
	gets map[string]int // blob key -> reads
}

func (c *countingBlobs) GetBlob(ctx context.Context, bucket, key string) ([]byte, error) {
	c.mu.Lock()
	c.gets[key]++
	c.mu.Unlock()
	return c.Blobs.GetBlob(ctx, bucket, key)
}

// reads is how many blobs were read, and the keys read more than once.
func (c *countingBlobs) reads() (n int, again []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, m := range c.gets {
		n += m
		if m > 1 {
			again = append(again, k)
		}
	}
	return n, again
}

func (c *countingBlobs) read(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[key]
}

func (c *countingBlobs) reset() {
	c.mu.Lock()
	c.gets = map[string]int{}
	c.mu.Unlock()
}

// keyOf is the blob key of content.
func keyOf(content string) string {
	sum := sha256.Sum256([]byte(content))
	return storage.BlobKey(hex.EncodeToString(sum[:]))
}

const goType = "text/x-go; charset=utf-8"

// env is a project of its own on a fresh database and local storage.
type env struct {
	t     *testing.T
	ctx   context.Context
	d     *db.DB
	blobs *countingBlobs
	pid   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	d := dbtest.New(t)
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := storage.NewFiles(local, 1<<20)
	u, _, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: 77, ChatID: 77}, 100)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := files.EnsureBucket(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, d: d, blobs: &countingBlobs{Blobs: files, gets: map[string]int{}}, pid: p.ID}
}

// upload writes files as one upload change set, as the bot's uploads do:
// stored, committed, not indexed.
func (e *env) upload(files map[string]string) db.ChangeSet {
	e.t.Helper()
	var nvs []db.NewVersion
	for _, p := range sortedKeys(files) {
		key, sum, err := e.blobs.PutBlob(e.ctx, e.pid, []byte(files[p]), goType)
		if err != nil {
			e.t.Fatal(err)
		}
		nvs = append(nvs, db.NewVersion{Path: p, SHA256: sum, Size: int64(len(files[p])), BlobKey: key, ContentType: goType})
	}
	cs, _, err := db.CommitChangeSet(e.ctx, e.d.Pool, db.NewChangeSet{ProjectID: e.pid, Kind: db.ChangeUpload, Files: nvs})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func (e *env) load() *changeset.Snapshot {
	e.t.Helper()
	s, err := changeset.Load(e.ctx, e.d.Pool, e.blobs, e.pid)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// apply applies reply to a new snapshot, stores and commits it.
func (e *env) apply(reply string) (db.ChangeSet, []db.FileVersion) {
	e.t.Helper()
	s := e.load()
	set, err := editblock.ApplySetFocus(s, reply, "")
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	st, err := s.Store(e.ctx, set, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	cs, vs, err := s.Commit(e.ctx, e.d.Pool, st, db.ChangeRefine, nil, "test", db.ProjectLimits{})
	if err != nil {
		e.t.Fatalf("commit: %v", err)
	}
	return cs, vs
}

// state reads every current file back from storage.
func (e *env) state() map[string]string {
	e.t.Helper()
	s := e.load()
	out := map[string]string{}
	for _, p := range s.Paths() {
		b, err := s.Read(p)
		if err != nil {
			e.t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

// docs lists the project's search documents as path -> version.
func (e *env) docs() map[string]int {
	e.t.Helper()
	rows, err := e.d.Pool.Query(e.ctx, `SELECT path, version FROM file_search_docs WHERE project_id = $1`, e.pid)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var v int
		if err := rows.Scan(&p, &v); err != nil {
			e.t.Fatal(err)
		}
		out[p] = v
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// counts reads the project's revision, change sets and file versions.
func (e *env) counts() string {
	e.t.Helper()
	var rev, sets, versions int
	err := e.d.Pool.QueryRow(e.ctx, `SELECT (SELECT revision FROM projects WHERE id = $1),
		(SELECT count(*) FROM change_sets WHERE project_id = $1),
		(SELECT count(*) FROM file_versions WHERE project_id = $1)`, e.pid).Scan(&rev, &sets, &versions)
	if err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("r%d, %d change sets, %d versions", rev, sets, versions)
}

// ops lists a change set's versions as "path:op@version".
func (e *env) ops(csID int64) string {
	e.t.Helper()
	vs, err := db.ChangeSetFiles(e.ctx, e.d.Pool, csID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		s := fmt.Sprintf("%s:%s@%d", v.Path, v.Op(), v.Version)
		if v.RenamedFrom != "" {
			s += "<" + v.RenamedFrom
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for _, p := range sortedKeys(want) {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing, want %q", what, p, want[p])
		} else if g != want[p] {
			t.Errorf("%s: %s = %q, want %q", what, p, g, want[p])
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s present (%q), want it gone", what, p, got[p])
		}
	}
}

// gitApply applies diff to a tree of files with the real git apply (first
// --check) and returns the tree it leaves.
func gitApply(t *testing.T, in map[string]string, diff string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "tree")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, c := range in {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "p.diff"), []byte(diff), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"apply", "--check", "../p.diff"}, {"apply", "../p.diff"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s\ndiff:\n%s", strings.Join(args, " "), err, out, diff)
		}
	}
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
