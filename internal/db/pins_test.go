package db_test

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/devbot-hq/devbot/internal/db"
)

// Pins: pinning twice is a no-op, only live files are listed, and unpinning
// with no paths unpins them all and says which were pinned.
func TestPinnedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 41)
	other := newCSProjectOn(t, p, "q")
	p.commit(db.ChangeUpload, content("a", "a1"), content("b", "b1"), content("c", "c1"))
	pinned := func(pid string) []string {
		t.Helper()
		got, err := db.PinnedFiles(ctx, p.d.Pool, pid)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for range 2 {
		if err := db.PinFiles(ctx, p.d.Pool, p.id, []string{"c", "a", "missing"}); err != nil {
			t.Fatalf("PinFiles: %v", err)
		}
	}
	if err := db.PinFiles(ctx, p.d.Pool, p.id, []string{"a", "b"}); err != nil {
		t.Fatalf("PinFiles again: %v", err)
	}
	if err := db.PinFiles(ctx, p.d.Pool, other, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := pinned(p.id); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("pinned %v, want [a b c] (a missing file is not listed)", got)
	}
	// A deleted file is not listed; brought back, it is again.
	p.commit(db.ChangeRefine, remove("b", 1))
	if got := pinned(p.id); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("pinned after deleting b: %v, want [a c]", got)
	}
	p.commit(db.ChangeRefine, create("b", "b2"))
	if got := pinned(p.id); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("pinned after b came back: %v, want [a b c]", got)
	}

	if got, err := db.UnpinFiles(ctx, p.d.Pool, p.id, []string{"c", "zz"}); err != nil || !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("UnpinFiles(c, zz) = %v, %v; want [c]", got, err)
	}
	for _, none := range [][]string{nil, {}} {
		if err := db.PinFiles(ctx, p.d.Pool, p.id, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		got, err := db.UnpinFiles(ctx, p.d.Pool, p.id, none)
		sort.Strings(got)
		if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "missing"}) {
			t.Errorf("UnpinFiles(%#v) = %v, %v; want every pin: [a b missing]", none, got, err)
		}
		if got := pinned(p.id); len(got) != 0 {
			t.Errorf("after UnpinFiles(%#v): pinned %v", none, got)
		}
		if err := db.PinFiles(ctx, p.d.Pool, p.id, []string{"missing"}); err != nil {
			t.Fatal(err)
		}
	}
	// Unpinning all of one project's leaves the other's.
	var n int
	if err := p.d.Pool.QueryRow(ctx, `SELECT count(*) FROM pinned_files WHERE project_id = $1`, other).Scan(&n); err != nil || n != 1 {
		t.Errorf("the other project keeps %d pins, %v; want 1", n, err)
	}
}

// newCSProjectOn makes another project of p's user, named name.
func newCSProjectOn(t *testing.T, p *csProject, name string) string {
	t.Helper()
	q, err := db.CreateProject(context.Background(), p.d.Pool, p.user.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return q.ID
}
