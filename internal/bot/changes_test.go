package bot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/refine"
)

// lastQueued is the job of the last published refine message.
func (f *fixture) lastQueued() db.Job {
	f.t.Helper()
	f.jobs.mu.Lock()
	data := f.jobs.sent[len(f.jobs.sent)-1].Data
	f.jobs.mu.Unlock()
	id, err := refine.ParseMessage(data)
	if err != nil {
		f.t.Fatal(err)
	}
	j, err := db.GetJob(context.Background(), f.db.Pool, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) pinned(project string) string {
	f.t.Helper()
	ps, err := db.PinnedFiles(context.Background(), f.db.Pool, mustProject(f.t, f, project).ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Join(ps, " ")
}

// /add pins files of the project (a missing one is refused, naming the
// files there are, and nothing is pinned); /add alone lists them; /drop
// unpins one, /drop alone all; a file not pinned is refused.
func TestAddAndDropPins(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 301
	f.say(u, "/new api")
	expect(t, f.say(u, "/add"), "No files are pinned in api.")
	expect(t, f.say(u, "/add a.go"), "There is no a.go in api: the project is empty.")
	for _, p := range []string{"a.go", "b.go", "c.go"} {
		f.do(u, f.document(u, p, "", []byte("package a\n")))
	}
	expect(t, f.say(u, "/add nope.go"), "There is no nope.go in api. Files: a.go, b.go, c.go.")
	expect(t, f.say(u, "/add c.go nope.go"), "There is no nope.go in api.")
	if p := f.pinned("api"); p != "" {
		t.Errorf("a refused /add pinned %q", p)
	}
	expect(t, f.say(u, "/add a.go b.go"), "Pinned a.go, b.go: the model sees them in full for every change of api. /drop PATH unpins.")
	expect(t, f.say(u, "/add"), "Pinned in api: a.go, b.go. /drop PATH unpins one; /drop alone unpins all.")
	expect(t, f.say(u, "/add a.go"), "Pinned a.go: the model sees it in full")
	if p := f.pinned("api"); p != "a.go b.go" {
		t.Errorf("pinned %q, want a.go b.go", p)
	}
	expect(t, f.say(u, "/drop b.go"), "Unpinned b.go.")
	expect(t, f.say(u, "/add"), "Pinned in api: a.go.")
	expect(t, f.say(u, "/drop b.go"), "b.go is not pinned. /add lists what is.")
	expect(t, f.say(u, "/drop b.go c.go"), "b.go, c.go are not pinned.")
	f.say(u, "/add b.go c.go")
	expect(t, f.say(u, "/drop"), "Unpinned a.go, b.go, c.go.")
	if p := f.pinned("api"); p != "" {
		t.Errorf("after /drop pinned %q", p)
	}
	expect(t, f.say(u, "/drop"), "Nothing was pinned in api.")
	// Pins are the project's: another project has none.
	f.say(u, "/add a.go")
	f.say(u, "/new web")
	expect(t, f.say(u, "/add"), "No files are pinned in web.")
}

// Every /refine is a project job: focused on a.go when the instruction
// starts with it, on nothing when its first word is not a file; a first
// word that looks like a missing file is refused. A plain message is a
// project job with no file open, a one-file job with one open.
func TestRefineScopes(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.WelcomeCredits = 200; c.RefineRateLimit = 50 })
	const u = 302
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	f.do(u, f.document(u, "main.go", "cmd/main.go", []byte("package main\n")))
	for _, tt := range []struct{ say, reply, focus, instr, scope string }{
		{"/refine add logging everywhere", "Working on api…", "", "add logging everywhere", db.ScopeProject},
		{"/refine README gets a usage section", "Working on api…", "", "README gets a usage section", db.ScopeProject},
		{"/refine a.go add x", "Working on a.go…", "a.go", "add x", db.ScopeProject},
		{"/refine cmd/main.go log the start", "Working on cmd/main.go…", "cmd/main.go", "log the start", db.ScopeProject},
		{"add a health check", "Working on api…", "", "add a health check", db.ScopeProject},
	} {
		before := f.jobs.count()
		expect(t, f.say(u, tt.say), tt.reply)
		if f.jobs.count() != before+1 {
			t.Fatalf("%q queued %d jobs", tt.say, f.jobs.count()-before)
		}
		j := f.lastQueued()
		if j.Path != tt.focus || j.Instruction != tt.instr || j.Scope != tt.scope || j.Follows != nil || len(j.Thread) != 0 {
			t.Errorf("%q queued path %q, instruction %q, scope %q, follows %v", tt.say, j.Path, j.Instruction, j.Scope, j.Follows)
		}
	}
	before := f.jobs.count()
	expect(t, f.say(u, "/refine cmd/nope.go add logging"), "There is no cmd/nope.go in api. Files: a.go, cmd/main.go.")
	expect(t, f.say(u, "/refine a.go"), "Say what to change after the path, e.g. /refine a.go add error handling.")
	if f.jobs.count() != before {
		t.Errorf("refusals queued %d jobs", f.jobs.count()-before)
	}
	expect(t, f.say(u, "/open a.go"), "a.go is open")
	expect(t, f.say(u, "add a comment"), "Working on a.go…")
	if j := f.lastQueued(); j.Scope != db.ScopeFile || j.Path != "a.go" || j.Instruction != "add a comment" {
		t.Errorf("a plain message with a.go open queued %+v", j)
	}
	f.say(u, "/close")
	expect(t, f.say(u, "add a comment"), "Working on api…")
	if j := f.lastQueued(); j.Scope != db.ScopeProject || j.Path != "" {
		t.Errorf("a plain message after /close queued scope %q path %q", j.Scope, j.Path)
	}
}

// /undo, /redo, /history and /diff rN of the project: what they say when
// there is nothing, and the upload that made r1.
func TestProjectUndoRedoHistoryDiff(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 303
	f.say(u, "/new api")
	expect(t, f.say(u, "/undo"), "There is nothing to undo in api. /history lists its changes.")
	expect(t, f.say(u, "/redo"), "There is nothing to redo in api: /redo brings back what /undo undid, until the project changes again.")
	expect(t, f.say(u, "/history"), "api has no changes yet. Send a file, or tell me what to build.")
	expect(t, f.say(u, "/diff r99"), "api has no revision r99. /history lists its changes.")
	expect(t, f.say(u, "/diff r1"), "api has no revision r1.")

	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	expect(t, f.say(u, "/diff r1"), "r1 of api · upload · a.go (created)", "new file mode 100644", "+++ b/a.go", "+package a")
	expect(t, f.say(u, "/diff r2"), "api has no revision r2.")
	expect(t, f.say(u, "/history"), "Changes of api (1 change, newest first):", "r1 · upload · a.go (created)", "/diff r1")
	expect(t, f.say(u, "/redo"), "There is nothing to redo in api")

	expect(t, f.say(u, "/undo"), "Undone: a.go is back as it was (r2). /redo brings the change back.")
	if fs, _ := db.ListFiles(context.Background(), f.db.Pool, mustProject(t, f, "api").ID); len(fs) != 0 {
		t.Errorf("after undoing the upload: files %+v", fs)
	}
	expect(t, f.say(u, "/diff r2"), "r2 of api · undo · a.go (deleted)", "deleted file mode", "-package a")
	expect(t, f.say(u, "/undo"), "There is nothing to undo in api.")
	expect(t, f.say(u, "/redo"), "Redone: a.go is as the change left it (r3). /undo undoes it again.")
	if got := f.current("api", "a.go"); got != "package a\n" {
		t.Errorf("plain copy after the redo: %q", got)
	}
	expect(t, f.say(u, "/redo"), "There is nothing to redo in api")
	expect(t, f.say(u, "/history"), "(3 changes, newest first)", "r3 · redo · a.go (created)", "r2 · undo · a.go (deleted)", "r1 · upload")
}

// The Redo button of a project-wide undo redoes it once; a second tap is
// refused; another user's tap, or a change set that is no undo, is an
// invalid button.
func TestRedoSetButton(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u, other = 304, 305
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	f.do(u, f.document(u, "a.go", "", []byte("package b\n")))
	expect(t, f.say(u, "/undo"), "Undone: a.go is back as it was (r3).")
	calls := f.tg.Calls("sendMessage")
	redo := callbackData(t, calls[len(calls)-1].Params["reply_markup"], "Redo")
	p := mustProject(t, f, "api")
	undo, err := db.ChangeSetAt(context.Background(), f.db.Pool, p.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if redo != fmt.Sprintf("redoset:%d", undo.ID) {
		t.Fatalf("the Redo button carries %q, want redoset:%d", redo, undo.ID)
	}
	if got := f.current("api", "a.go"); got != "package a\n" {
		t.Fatalf("after /undo: %q", got)
	}
	expect(t, f.do(other, f.tap(other, redo)), "That button is no longer valid.")
	if got := f.current("api", "a.go"); got != "package a\n" {
		t.Fatalf("another user's tap changed the file: %q", got)
	}
	upload, _ := db.ChangeSetAt(context.Background(), f.db.Pool, p.ID, 2)
	expect(t, f.do(u, f.tap(u, fmt.Sprintf("redoset:%d", upload.ID))), "That button is no longer valid.")

	expect(t, f.do(u, f.tap(u, redo)), "Redone: a.go is as the change left it (r4). /undo undoes it again.")
	if got := f.current("api", "a.go"); got != "package b\n" {
		t.Errorf("after the Redo button: %q", got)
	}
	expect(t, f.do(u, f.tap(u, redo)), "That undo was redone already. /history lists the changes of api.")
	if rev, _ := db.ProjectRevision(context.Background(), f.db.Pool, p.ID); rev != 4 {
		t.Errorf("revision %d after one redo and refused taps, want 4", rev)
	}
	if cb := f.tg.Calls("answerCallbackQuery"); len(cb) != 4 {
		t.Errorf("%d callback answers to 4 taps", len(cb))
	}
}
