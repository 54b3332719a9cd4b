package editor_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

func project() editblock.MapTree {
	return editblock.MapTree{
		"app/main.py": []byte("from app.lib import serve\n\nserve(port=80)\n"),
		"app/lib.py":  []byte("def serve(port):\n    print(port)\n"),
	}
}

func fileBlock(path, search, replace string) string {
	return path + "\n```python\n<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE\n```\n"
}

// changes lists a change set as "OP PATH", by path.
func changes(cs editblock.ChangeSet) string {
	var out []string
	for _, f := range cs.Files {
		out = append(out, f.Op+" "+f.Path)
	}
	return strings.Join(out, ", ")
}

func fileOf(t *testing.T, cs editblock.ChangeSet, path string) string {
	t.Helper()
	for _, f := range cs.Files {
		if f.Path == path {
			return string(f.New)
		}
	}
	t.Fatalf("%s is not in the change set (%s)", path, changes(cs))
	return ""
}

var thread = []llm.Message{{Role: "user", Content: "make the port configurable"}, {Role: "assistant", Content: "QUESTION: From an environment variable or a file?"}}

func TestEditSetTwoFilesWithNewFile(t *testing.T) {
	t.Parallel()
	reply := "Reading the port from config.\n\n" +
		fileBlock("app/main.py", "from app.lib import serve\n\nserve(port=80)\n", "from app.lib import serve\nfrom app.config import PORT\n\nserve(port=PORT)\n") +
		fileBlock("app/config.py", "", "import os\n\nPORT = int(os.environ.get(\"PORT\", \"80\"))\n")
	b := setup(t, llmtest.Response{Text: reply, PromptTokens: 1000, CompletionTokens: 100})
	out, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Focus: "app/main.py",
		Instruction: "  an environment variable  ", Context: "# Project map\n\napp/main.py (40 B)\n", Thread: thread})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(out.ChangeSet); got != "created app/config.py, modified app/main.py" {
		t.Fatalf("changes: %s", got)
	}
	if got := fileOf(t, out.ChangeSet, "app/main.py"); !strings.Contains(got, "serve(port=PORT)") {
		t.Errorf("main.py: %q", got)
	}
	if !strings.Contains(out.ChangeSet.Diff, "new file mode 100644") || !strings.Contains(out.ChangeSet.Diff, "+serve(port=PORT)") {
		t.Errorf("diff:\n%s", out.ChangeSet.Diff)
	}
	if out.Mode != editor.ModeLLM || out.Attempts != 1 || out.Question != "" || out.Reply != reply || out.Model != "test/model" ||
		out.PromptTokens != 1000 || out.CompletionTokens != 100 || math.Abs(out.CostUSD-(1000.0/1e6+200.0/1e6)) > 1e-12 {
		t.Errorf("outcome %+v", out)
	}
	msgs := b.srv.Requests()[0].Messages
	if len(msgs) != 4 || msgs[0].Role != "system" || !strings.HasPrefix(msgs[0].Text(), editblock.SetPrompt) ||
		msgs[1].Text() != thread[0].Content || msgs[2].Role != "assistant" || msgs[2].Text() != thread[1].Content || msgs[3].Role != "user" {
		t.Fatalf("messages: %+v", msgs)
	}
	for _, want := range []string{"# Project map", "The user is working on app/main.py.", "The change to make:\nan environment variable"} {
		if !strings.Contains(msgs[3].Text(), want) {
			t.Errorf("user turn lacks %q:\n%s", want, msgs[3].Text())
		}
	}
}

// A change set is whole: after a refusal the model resends every block,
// and the second reply applies to the project as it was.
func TestEditSetReflectionResendsAll(t *testing.T) {
	t.Parallel()
	good := fileBlock("app/lib.py", "    print(port)\n", "    print(\"serving on\", port)\n")
	first := good + fileBlock("app/main.py", "serve(port=8O)\n", "serve(port=8080)\n")
	second := good + fileBlock("app/main.py", "serve(port=80)\n", "serve(port=8080)\n")
	b := setup(t, llmtest.Response{Text: first, PromptTokens: 1000, CompletionTokens: 100},
		llmtest.Response{Text: second, PromptTokens: 1500, CompletionTokens: 50})
	out, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Instruction: "port 8080, and say so"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fileOf(t, out.ChangeSet, "app/main.py"); got != "from app.lib import serve\n\nserve(port=8080)\n" {
		t.Errorf("main.py: %q", got)
	}
	if got := fileOf(t, out.ChangeSet, "app/lib.py"); got != "def serve(port):\n    print(\"serving on\", port)\n" {
		t.Errorf("lib.py (applied once, on the original): %q", got)
	}
	if out.Attempts != 2 || out.PromptTokens != 2500 || out.CompletionTokens != 150 || out.Reply != second ||
		math.Abs(out.CostUSD-(2500.0/1e6+300.0/1e6)) > 1e-12 {
		t.Errorf("outcome %+v", out)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 2 || len(reqs[1].Messages) != 4 || reqs[1].Messages[2].Role != "assistant" || reqs[1].Messages[2].Text() != first {
		t.Fatalf("second request: %+v", reqs)
	}
	fb := reqs[1].Messages[3].Text()
	for _, want := range []string{"1 SEARCH/REPLACE block of 2 failed", "app/main.py", "the SEARCH text is not in", "No file was changed", "every block"} {
		if !strings.Contains(fb, want) {
			t.Errorf("reflection lacks %q:\n%s", want, fb)
		}
	}
	if strings.Contains(fb, "do not send them again") {
		t.Errorf("the reflection asks for the failed blocks only:\n%s", fb)
	}
}

func TestEditSetGivesUpWithUsage(t *testing.T) {
	t.Parallel()
	bad := llmtest.Response{Text: fileBlock("app/main.py", "nope\n", "x\n")}
	b := setup(t, bad, bad, bad, bad, llmtest.Response{Text: "unused"})
	out, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Instruction: "x"})
	if !errors.Is(err, editor.ErrNoValidEdit) || !fault.IsPermanent(err) || editblock.AsError(err) == nil {
		t.Fatalf("err %v", err)
	}
	if out.Attempts != 4 || out.PromptTokens != 400 || len(b.srv.Requests()) != 4 || len(out.ChangeSet.Files) != 0 {
		t.Errorf("outcome %+v, %d requests", out, len(b.srv.Requests()))
	}
}

// A question is an answer, not a failed edit: no error, no retry.
func TestEditSetQuestion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ reply, want string }{
		{"The request could mean either service.\nQUESTION: Which port?", "Which port?"},
		{"**Question:** Which port?\n", "Which port?"},
		{"Should the server listen on 8080 or 443?", "Should the server listen on 8080 or 443?"},
	} {
		b := setup(t, llmtest.Response{Text: tc.reply}, llmtest.Response{Text: fileBlock("app/main.py", "serve(port=80)\n", "serve(port=1)\n")})
		out, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Instruction: "change the port"})
		if err != nil {
			t.Fatalf("%q: %v", tc.reply, err)
		}
		if out.Question != tc.want || out.Reply != tc.reply || out.Attempts != 1 || out.PromptTokens != 100 ||
			len(out.ChangeSet.Files) != 0 || len(b.srv.Requests()) != 1 {
			t.Errorf("%q: outcome %+v, %d requests", tc.reply, out, len(b.srv.Requests()))
		}
	}
}

// A reply that edits is not a question, whatever it ends with.
func TestEditSetEditEndingInQuestionMarkApplies(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "<<<<<<< DELETE app/lib.py\nQUESTION: is that all?"})
	out, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Instruction: "drop lib"})
	if err != nil || out.Question != "" || changes(out.ChangeSet) != "deleted app/lib.py" {
		t.Fatalf("outcome %+v, err %v", out, err)
	}
}

func TestEditSetDirectMultiFileNeedsNoModel(t *testing.T) {
	t.Parallel()
	ed := editor.New(editor.Config{})
	instr := fileBlock("app/main.py", "serve(port=80)\n", "serve(port=8080)\n") + "<<<<<<< RENAME app/lib.py -> app/server.py\n" +
		fileBlock("app/main.py", "from app.lib import serve\n", "from app.server import serve\n")
	out, err := ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Instruction: instr})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(out.ChangeSet); got != "modified app/main.py, renamed app/server.py" {
		t.Fatalf("changes: %s", got)
	}
	if got := fileOf(t, out.ChangeSet, "app/main.py"); got != "from app.server import serve\n\nserve(port=8080)\n" {
		t.Errorf("main.py: %q", got)
	}
	if out.Mode != editor.ModeDirect || out.Attempts != 0 || out.Reply != "" || out.PromptTokens != 0 || len(out.ChangeSet.Blocks) != 3 {
		t.Errorf("outcome %+v", out)
	}
}

// The user's blocks without a file name edit the focus; a unified diff
// applies to it alone, as a change set of that file.
func TestEditSetDirectUsesFocus(t *testing.T) {
	t.Parallel()
	ed := editor.New(editor.Config{})
	out, err := ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Focus: "app/lib.py",
		Instruction: "<<<<<<< SEARCH\n    print(port)\n=======\n    return port\n>>>>>>> REPLACE\n"})
	if err != nil {
		t.Fatal(err)
	}
	if changes(out.ChangeSet) != "modified app/lib.py" || fileOf(t, out.ChangeSet, "app/lib.py") != "def serve(port):\n    return port\n" {
		t.Errorf("change set %s: %+v", changes(out.ChangeSet), out.ChangeSet.Files)
	}

	udiff := "@@ -1,2 +1,2 @@\n def serve(port):\n-    print(port)\n+    print(\"port\", port)\n"
	out, err = ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Focus: "app/lib.py", Instruction: udiff})
	if err != nil {
		t.Fatal(err)
	}
	cs := out.ChangeSet
	if changes(cs) != "modified app/lib.py" || fileOf(t, cs, "app/lib.py") != "def serve(port):\n    print(\"port\", port)\n" ||
		string(cs.Files[0].Old) != string(project()["app/lib.py"]) || cs.Files[0].OldPath != "app/lib.py" {
		t.Fatalf("change set %s: %+v", changes(cs), cs.Files)
	}
	stored := cs.Files[0]
	stored.Diff = ""
	if !strings.HasPrefix(cs.Diff, "diff --git a/app/lib.py b/app/lib.py\n--- a/app/lib.py\n+++ b/app/lib.py\n@@") ||
		cs.Diff != cs.Files[0].Diff || cs.Diff != editblock.GitDiff([]editblock.FileChange{stored}) {
		t.Errorf("diff:\n%s", cs.Diff)
	}
}

func TestEditSetRefusals(t *testing.T) {
	t.Parallel()
	ed := editor.New(editor.Config{})
	ctx := context.Background()
	for name, tc := range map[string]struct {
		req  editor.SetRequest
		want string
	}{
		"search not found": {editor.SetRequest{Instruction: fileBlock("app/main.py", "nope\n", "x\n")}, "the SEARCH text is not in app/main.py"},
		"no name, no focus": {editor.SetRequest{Instruction: "<<<<<<< SEARCH\nserve(port=80)\n=======\nx\n>>>>>>> REPLACE\n"},
			"this block names no file"},
	} {
		tc.req.Tree = project()
		out, err := ed.EditSet(ctx, tc.req)
		if !errors.Is(err, editor.ErrNoValidEdit) || !fault.IsPermanent(err) || editblock.AsError(err) == nil ||
			!strings.Contains(err.Error(), tc.want) || out.Mode != editor.ModeDirect || len(out.ChangeSet.Files) != 0 {
			t.Errorf("%s: out %+v err %v", name, out, err)
		}
	}
	_, err := ed.EditSet(ctx, editor.SetRequest{Tree: project(), Instruction: "@@ -1 +1 @@\n-a\n+b\n"})
	if !errors.Is(err, editor.ErrNoValidEdit) || !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "applies to one file") {
		t.Errorf("a unified diff without a focus: %v", err)
	}
	_, err = ed.EditSet(ctx, editor.SetRequest{Tree: project(), Instruction: "make it nicer"})
	if errors.Is(err, editor.ErrNoValidEdit) || !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "no model is configured") {
		t.Errorf("without a model: %v", err)
	}
	aider := editor.New(editor.Config{Backend: editor.ModeAider})
	_, err = aider.EditSet(ctx, editor.SetRequest{Tree: project(), Instruction: "make it nicer"})
	if !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "aider backend") {
		t.Errorf("aider: %v", err)
	}
	if _, err := aider.EditSet(ctx, editor.SetRequest{Tree: project(), Instruction: fileBlock("app/main.py", "serve(port=80)\n", "serve(port=1)\n")}); err != nil {
		t.Errorf("a direct edit needs no backend: %v", err)
	}
}

// failingTree is storage that is down.
type failingTree struct{ editblock.MapTree }

func (failingTree) Read(string) ([]byte, error) { return nil, fault.Retryablef("storage unavailable") }

// The tree's errors are not refusals: a retryable one stays retryable.
func TestEditSetTreeErrorIsNotARefusal(t *testing.T) {
	t.Parallel()
	_, err := editor.New(editor.Config{}).EditSet(context.Background(), editor.SetRequest{Tree: failingTree{project()},
		Instruction: fileBlock("app/main.py", "serve(port=80)\n", "serve(port=1)\n")})
	if err == nil || errors.Is(err, editor.ErrNoValidEdit) || !fault.IsRetryable(err) || !strings.Contains(err.Error(), "storage unavailable") {
		t.Fatalf("err %v", err)
	}
}

// TestSetPromptGolden keeps the whole first request of a change set in a
// file, so a change to the prompt shows in review.
func TestSetPromptGolden(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "QUESTION: Which port?"})
	_, err := b.ed.EditSet(context.Background(), editor.SetRequest{Tree: project(), Focus: "app/main.py", Thread: thread,
		Instruction: "an environment variable", Context: "# Project map\n\nThe project has 2 files (79 B).\n\napp/lib.py (39 B)\napp/main.py (40 B)\n"})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, m := range b.srv.Requests()[0].Messages {
		got.WriteString("==> " + m.Role + "\n" + m.Text() + "\n")
	}
	golden := filepath.Join("testdata", "set_prompt.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("the prompt changed; review it and run go test ./internal/editor -run SetPromptGolden -update\n got:\n%s", got.String())
	}
}
