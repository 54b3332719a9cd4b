package bot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/db"
)

// current is the plain copy of path in project name, which follows the
// file's current version.
func (f *fixture) current(name, path string) string {
	f.t.Helper()
	return f.files.get(mustProject(f.t, f, name).ID + "/" + path)
}

// Undo goes back to the version the current one was made from: after
// undo, a new edit and another undo, the change undone first stays undone.
func TestUndoEditUndoKeepsTheUndoneChangeUndone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 51
	f.say(u, "/new web")
	f.do(u, f.document(u, "a.txt", "", []byte("one\n")))
	f.do(u, f.document(u, "a.txt", "", []byte("two\n")))
	f.say(u, "/undo a.txt")
	if got := f.current("web", "a.txt"); got != "one\n" {
		t.Fatalf("after the first undo: %q, want one", got)
	}
	f.do(u, f.document(u, "a.txt", "", []byte("three\n")))
	got := f.say(u, "/undo a.txt")
	if c := f.current("web", "a.txt"); c != "one\n" {
		t.Fatalf("undo after undo and a new edit restored %q, want %q (replies %q)", c, "one\n", got)
	}
}

// /history counts the versions there are, not the current version's number.
func TestHistoryCountsVersionsAfterUndo(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 52
	f.say(u, "/new web")
	f.do(u, f.document(u, "a.txt", "", []byte("one\n")))
	f.do(u, f.document(u, "a.txt", "", []byte("two\n")))
	f.say(u, "/undo a.txt")
	got := f.say(u, "/history a.txt")
	if strings.Contains(strings.Join(got, "\n"), "Only one version") {
		t.Fatalf("history with several versions says %q", got)
	}
	expect(t, got, "v1 · upload", "v2 · upload")
}

// Redo brings back what the last undo undid, as long as nothing changed
// since; each undo, redo and restore is a new version.
func TestRedoAndRestore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 53
	f.say(u, "/new web")
	for _, c := range []string{"one\n", "two\n", "three\n"} {
		f.do(u, f.document(u, "a.txt", "", []byte(c)))
	}
	expect(t, f.say(u, "/redo a.txt"), "nothing to redo in a.txt")
	expect(t, f.say(u, "/undo a.txt"), "Undone: a.txt restored to version 2 (saved as version 4). /redo a.txt brings the change back.")
	expect(t, f.say(u, "/undo a.txt"), "Undone: a.txt restored to version 1 (saved as version 5).")
	expect(t, f.say(u, "/undo a.txt"), "nothing to undo in a.txt")
	if c := f.current("web", "a.txt"); c != "one\n" {
		t.Fatalf("after two undos: %q", c)
	}
	expect(t, f.say(u, "/redo a.txt"), "Redone: a.txt restored to version 4 (saved as version 6).")
	if c := f.current("web", "a.txt"); c != "two\n" {
		t.Fatalf("after a redo: %q", c)
	}
	expect(t, f.say(u, "/redo a.txt"), "Redone: a.txt restored to version 3 (saved as version 7).")
	if c := f.current("web", "a.txt"); c != "three\n" {
		t.Fatalf("after the second redo: %q", c)
	}
	expect(t, f.say(u, "/redo a.txt"), "nothing to redo")
	// An undo, then a new edit: the redo chain ends there.
	f.say(u, "/undo a.txt")
	f.do(u, f.document(u, "a.txt", "", []byte("four\n")))
	expect(t, f.say(u, "/redo a.txt"), "nothing to redo")

	expect(t, f.say(u, "/restore a.txt 1"), "a.txt restored to version 1 (saved as version 10). /undo a.txt goes back to version 9.")
	if c := f.current("web", "a.txt"); c != "one\n" {
		t.Fatalf("after /restore 1: %q", c)
	}
	expect(t, f.say(u, "/undo a.txt"), "restored to version 9")
	if c := f.current("web", "a.txt"); c != "four\n" {
		t.Fatalf("undo of a restore: %q", c)
	}
	expect(t, f.say(u, "/restore a.txt 99"), "a.txt has no version 99")
	expect(t, f.say(u, "/restore a.txt"), "Usage: /restore PATH VERSION")
	expect(t, f.say(u, "/restore a.txt 11"), "a.txt is at version 11 already")

	// Nothing was deleted: eleven versions.
	vs, err := db.ListFileVersions(context.Background(), f.db.Pool, mustProject(t, f, "web").ID, "a.txt")
	if err != nil || len(vs) != 11 {
		t.Fatalf("%d versions (%v), want 11", len(vs), err)
	}
}

// The buttons of /history restore a version; a tap on the Redo button of an
// undo works only while the file is still where the undo left it.
func TestHistoryButtons(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 54
	f.say(u, "/new web")
	f.do(u, f.document(u, "a.txt", "", []byte("one\n")))
	f.do(u, f.document(u, "a.txt", "", []byte("two\n")))
	f.say(u, "/history a.txt")
	calls := f.tg.Calls("sendMessage")
	markup := calls[len(calls)-1].Params["reply_markup"]
	if !strings.Contains(markup, `"text":"Restore v1"`) {
		t.Fatalf("history buttons = %s", markup)
	}
	data := callbackData(t, markup, "Restore v1")
	expect(t, f.do(u, f.tap(u, data)), "a.txt restored to version 1 (saved as version 3)")
	if c := f.current("web", "a.txt"); c != "one\n" {
		t.Fatalf("after the Restore button: %q", c)
	}

	f.say(u, "/undo a.txt")
	calls = f.tg.Calls("sendMessage")
	redo := callbackData(t, calls[len(calls)-1].Params["reply_markup"], "Redo")
	f.do(u, f.document(u, "a.txt", "", []byte("five\n")))
	expect(t, f.do(u, f.tap(u, redo)), "a.txt changed since that undo")
	if c := f.current("web", "a.txt"); c != "five\n" {
		t.Fatalf("a stale Redo changed the file: %q", c)
	}
	// Another user's button data finds nothing.
	expect(t, f.do(u+1, f.tap(u+1, data)), "That button is no longer valid")
}

func callbackData(t *testing.T, markup, text string) string {
	t.Helper()
	i := strings.Index(markup, `"text":"`+text+`"`)
	if i < 0 {
		t.Fatalf("no %q button in %s", text, markup)
	}
	rest := markup[i:]
	j := strings.Index(rest, `"callback_data":"`)
	if j < 0 {
		t.Fatalf("button %q without data in %s", text, markup)
	}
	rest = rest[j+len(`"callback_data":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestGoldenVersions renders the replies of a file's history, undo, redo
// and restore, and compares them with testdata/versions.golden (go test
// -run Golden -update rewrites it).
func TestGoldenVersions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 55
	script := []string{"/new api", "DOC one", "/undo main.go", "/redo main.go", "DOC two", "DOC three", "/history main.go",
		"/undo main.go", "/undo main.go", "/redo main.go", "/restore main.go 1", "/history main.go", "/restore main.go 9",
		"/restore main.go", "/undo nope.go"}
	var sb strings.Builder
	for _, line := range script {
		var got []string
		if content, ok := strings.CutPrefix(line, "DOC "); ok {
			got = f.do(u, f.document(u, "main.go", "", []byte(content+"\n")))
		} else {
			got = f.say(u, line)
		}
		sb.WriteString("user: " + line + "\n")
		for _, g := range got {
			sb.WriteString("bot:  " + strings.ReplaceAll(g, "\n", "\n      ") + "\n")
		}
		calls := f.tg.Calls("sendMessage")
		if kb := calls[len(calls)-1].Params["reply_markup"]; kb != "" {
			sb.WriteString("      buttons " + kb + "\n")
		}
		sb.WriteString("\n")
	}
	compareGolden(t, "versions.golden", sb.String())
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("replies differ from %s (go test -run Golden -update, then review the diff):\n%s", path, got)
	}
}
