package changeset_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/projectmap"
)

// fifty is a project of 50 small files; f33.go alone mentions a zebra.
func fifty() map[string]string {
	files := map[string]string{}
	for i := range 50 {
		c := fmt.Sprintf("package p\n\n// File %02d.\nfunc F%02d() int { return %d }\n", i, i, i)
		if i == 33 {
			c += "\n// Zebra draws the stripes.\nfunc Zebra() {}\n"
		}
		files[fmt.Sprintf("f%02d.go", i)] = c
	}
	return files
}

// A snapshot reads only what a reply touches: editing one file of fifty
// reads that file's blob once, and storing and committing reads nothing
// more.
func TestSnapshotReadsLazily(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := fifty()
	e.upload(files)
	e.blobs.reset()
	s := e.load()
	if n, _ := e.blobs.reads(); n != 0 {
		t.Fatalf("Load read %d blobs", n)
	}
	if len(s.Paths()) != 50 || len(s.Infos()) != 50 || s.Infos()[7].Size != int64(len(files["f07.go"])) {
		t.Fatalf("paths %d, infos %+v", len(s.Paths()), s.Infos()[:1])
	}
	set, err := editblock.ApplySetFocus(s, "f07.go\n<<<<<<< SEARCH\nfunc F07() int { return 7 }\n=======\nfunc F07() int { return 70 }\n>>>>>>> REPLACE\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := e.blobs.reads(); n != 1 || e.blobs.read(keyOf(files["f07.go"])) != 1 {
		t.Errorf("applying an edit of f07.go read %d blobs (%d of f07.go), want only f07.go's", n, e.blobs.read(keyOf(files["f07.go"])))
	}
	if b, err := s.Read("f07.go"); err != nil || string(b) != files["f07.go"] {
		t.Errorf("Read(f07.go) = %q, %v", b, err)
	}
	st, err := s.Store(e.ctx, set, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Commit(e.ctx, e.d.Pool, st, db.ChangeRefine, nil, "", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.blobs.reads(); n != 1 {
		t.Errorf("%d blob reads after Read, Store and Commit, want the one (cached)", n)
	}
	if _, err := s.Read("nope.go"); err == nil || !strings.Contains(err.Error(), "nope.go is not in the project") {
		t.Errorf("Read of a missing file: %v", err)
	}
}

// Context indexes the files uploads left without a search document (each
// read once), so the search finds them; a pinned file is in full, the map
// lists every path. A commit indexes what it writes and removes a deleted
// file's document.
func TestContextRefreshesIndexAndCommitKeepsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := fifty()
	e.upload(files)
	if d := e.docs(); len(d) != 0 {
		t.Fatalf("uploads indexed %d files", len(d))
	}
	cs, _ := e.apply("f07.go\n<<<<<<< SEARCH\nfunc F07() int { return 7 }\n=======\nfunc F07() int { return 70 }\n>>>>>>> REPLACE\n")
	if d := e.docs(); len(d) != 1 || d["f07.go"] != 2 {
		t.Fatalf("after a commit of f07.go the index has %v", d)
	}
	e.blobs.reset()
	s := e.load()
	pc, err := s.Context(e.ctx, e.d.Pool, changeset.ContextRequest{Instruction: "make the zebra stripes wider",
		Pinned: []string{"f10.go"}})
	if err != nil {
		t.Fatal(err)
	}
	n, again := e.blobs.reads()
	if n != 49 || len(again) != 0 || e.blobs.read(keyOf(files["f07.go"])) != 0 {
		t.Errorf("Context read %d blobs (again: %v), want the 49 stale ones once each", n, again)
	}
	d := e.docs()
	if len(d) != 50 || d["f07.go"] != 2 || d["f10.go"] != 1 {
		t.Errorf("after Context the index has %d documents (%v)", len(d), d)
	}
	stale, err := db.StaleSearchDocs(e.ctx, e.d.Pool, e.pid)
	if err != nil || len(stale) != 0 {
		t.Errorf("stale after Context: %v, %v", stale, err)
	}
	reasons := map[string]projectmap.Reason{}
	for _, f := range pc.Files {
		reasons[f.Path] = f.Reason
		if f.Path == "f10.go" && string(f.Content) != files["f10.go"] {
			t.Errorf("pinned f10.go in the context as %q", f.Content)
		}
	}
	if reasons["f10.go"] != projectmap.ReasonPinned || reasons["f33.go"] != projectmap.ReasonRelevant {
		t.Errorf("files in full: %v, want f10.go pinned and f33.go relevant", reasons)
	}
	listed := map[string]bool{}
	for _, m := range pc.Map {
		listed[m.Path] = true
	}
	if len(listed) != 50 || pc.TotalFiles != 50 || pc.Left.Files != 0 {
		t.Errorf("the map lists %d paths of %d (left out %+v)", len(listed), pc.TotalFiles, pc.Left)
	}
	text := pc.Render()
	for _, w := range []string{"f00.go", "f49.go", files["f10.go"], "func Zebra() {}"} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered context lacks %q", w)
		}
	}

	// Deleting a file removes its document; a created one is indexed.
	del, _ := e.apply("<<<<<<< DELETE f20.go\n\nnew.go\n<<<<<<< SEARCH\n=======\npackage p\n\nfunc Okapi() {}\n>>>>>>> REPLACE\n")
	d = e.docs()
	if has(d, "f20.go") || d["new.go"] != 1 || len(d) != 50 {
		t.Errorf("after deleting f20.go and creating new.go the index has %d documents: f20.go %v, new.go %d", len(d), has(d, "f20.go"), d["new.go"])
	}
	hits, err := projectmap.Index{Q: e.d.Pool, ProjectID: e.pid}.Search(e.ctx, []string{"okapi"}, 5)
	if err != nil || len(hits) != 1 || hits[0].Path != "new.go" {
		t.Errorf("search for the new file: %v, %v", hits, err)
	}
	if del.ID <= cs.ID {
		t.Errorf("change set ids %d, %d", cs.ID, del.ID)
	}
}

func has(m map[string]int, k string) bool { _, found := m[k]; return found }
