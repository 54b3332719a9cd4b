package scriptedmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"go/format"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/langcheck"
	"github.com/devbot-hq/devbot/internal/llm"
)

// client is the real llm client on the handler, at …/v1 as devbot dev
// mounts it.
func client(t *testing.T) *llm.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/_dev/model/", http.StripPrefix("/_dev/model", Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return llm.New(llm.Config{BaseURL: srv.URL + "/_dev/model/v1", APIKey: "scripted", Model: "whatever-was-configured",
		Timeout: 5 * time.Second, MaxRetries: -1})
}

var ctx = context.Background()

func TestQuestions(t *testing.T) {
	t.Parallel()
	a := &build.Architect{Model: client(t), MaxRepairs: -1}
	qs, u, err := a.Clarify(ctx, "a small todo app", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0] != Question {
		t.Errorf("questions %q", qs)
	}
	if u.Model != ModelName || u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.Calls != 1 {
		t.Errorf("usage %+v: want the scripted model's name and token counts", u)
	}
}

func TestSpec(t *testing.T) {
	t.Parallel()
	a := &build.Architect{Model: client(t), MaxRepairs: -1}
	thread := []build.Turn{{Role: "user", Text: "a small todo app"}, {Role: "assistant", Text: "1. " + Question}, {Role: "user", Text: "keep them in memory"}}
	s, _, err := a.Propose(ctx, thread, "")
	if err != nil {
		t.Fatal(err) // ParseSpec validated it against the schema and the rules
	}
	if s.Title != Title || len(s.Tasks) != 3 {
		t.Fatalf("spec %+v", s)
	}
	for i, task := range s.Tasks {
		if len(task.Files) == 0 {
			t.Errorf("task %d lists no file", i+1)
		}
	}
	var files []string
	for _, task := range s.Tasks {
		for _, f := range task.Files {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if !slices.Equal(files, SpecFiles()) {
		t.Errorf("SpecFiles() = %v, the spec lists %v", SpecFiles(), files)
	}
	// A revision answers the same spec.
	r, _, err := a.Revise(ctx, s, thread, "use SQLite", "")
	if err != nil || r.Title != s.Title || len(r.Tasks) != 3 {
		t.Errorf("revised: %+v, %v", r, err)
	}
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	a := &build.Architect{Model: client(t), MaxRepairs: -1}
	s := specOf(t)
	for _, c := range []struct {
		task    int
		diff    string
		approve bool
	}{
		{0, "+package main\n", true},
		{1, "+func (s *Store) Add(title string) Todo {\n+\tt := Todo{ID: s.nextID, Title: title}\n", false},
		{1, "+\ts.mu.Lock()\n+\tdefer s.mu.Unlock()\n", true},
		{2, "+func listTodos(s *Store) http.HandlerFunc {\n", true},
	} {
		v, _, err := a.Review(ctx, s, c.task, c.diff, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Approve != c.approve {
			t.Errorf("task %d, diff %q: approve %v, want %v (%q)", c.task+1, c.diff, v.Approve, c.approve, v.Reasons)
		}
		if !v.Approve && (len(v.Reasons) != 1 || v.Reasons[0] != RejectReason) {
			t.Errorf("task %d rejected with %q, want the one reason", c.task+1, v.Reasons)
		}
	}
}

func specOf(t *testing.T) build.Spec {
	t.Helper()
	s, ps := build.ParseSpec(marshal(spec))
	if len(ps) > 0 {
		t.Fatalf("the scripted spec is invalid: %v", ps)
	}
	return s
}

// A plain /refine, one file or the project: a question that says what the
// model is, so the bot shows it and charges nothing.
func TestPlainRefine(t *testing.T) {
	t.Parallel()
	e := editor.New(editor.Config{Model: client(t), MaxReflections: 1})
	out, err := e.EditSet(ctx, editor.SetRequest{Tree: editblock.MapTree{"app.py": []byte("print(1)\n")},
		Instruction: "add a --verbose flag", Context: "# Project map\n\napp.py (9 B, in full below)\n"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Question, "scripted model") || !strings.Contains(out.Question, "no network") {
		t.Errorf("question %q, want one that says it is the scripted model", out.Question)
	}
	// The one-file editor takes no question: it fails, and says why.
	_, err = e.Edit(ctx, editor.Request{Path: "app.py", Content: []byte("print(1)\n"), Instruction: "add a --verbose flag"})
	if err == nil {
		t.Error("a one-file edit of the scripted model succeeded")
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	post := func(body string) (int, string) {
		res, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := post(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Write README.md for this project"}]}]}`)
	var got struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if got.Model != ModelName || len(got.Choices) != 1 || !strings.Contains(got.Choices[0].Message.Content, "# todo-api") ||
		got.Choices[0].FinishReason != "stop" || got.Usage.PromptTokens == 0 || got.Usage.CompletionTokens == 0 {
		t.Errorf("answer %+v", got)
	}
	// Deterministic: the same request, the same answer.
	if _, again := post(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Write README.md for this project"}]}]}`); !strings.Contains(again, got.Choices[0].Message.Content[:40]) {
		t.Errorf("a second answer differs: %s", again)
	}
	if code, body := post(`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"poem","schema":{}}}}`); code != 400 || !strings.Contains(body, `poem`) {
		t.Errorf("an unknown format: %d %s", code, body)
	}
	if code, _ := post(`not json`); code != 400 {
		t.Errorf("not JSON: %d", code)
	}
	res, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), ModelName) {
		t.Errorf("models: %s", b)
	}
}

// projectMap is the start of the context the build gives the editor
// (projectmap's format): a line per file.
func projectMap(tree editblock.MapTree) string {
	paths := tree.Paths()
	sort.Strings(paths)
	var b strings.Builder
	fmt.Fprintf(&b, "# Project map\n\nThe project has %d files.\n\n", len(paths))
	for _, p := range paths {
		fmt.Fprintf(&b, "%s (%d B, in full below)\n", p, len(tree[p]))
	}
	return b.String()
}

// The whole script, played as the build plays it, through the real
// architect and editor on the real client: the editor's change of each
// task applied to the project, reviewed, task 2 rejected once and fixed,
// then the README. The project is the spec's files and README.md, every
// file passes the static checks (langcheck), the Go files are gofmt'ed, and
// (with a go command) the app vets and passes its own tests.
func TestWholeScript(t *testing.T) {
	t.Parallel()
	c := client(t)
	arch := &build.Architect{Model: c, MaxRepairs: -1}
	ed := editor.New(editor.Config{Model: c, MaxReflections: 0})
	s := specOf(t)
	tree := editblock.MapTree{}
	apply := func(cs editblock.ChangeSet) {
		for _, fc := range cs.Files {
			if fc.New == nil {
				delete(tree, fc.Path)
			} else {
				tree[fc.Path] = fc.New
			}
		}
	}
	rounds := map[int]int{}
	for i, task := range s.Tasks {
		n := i + 1
		feedback := ""
		for {
			rounds[n]++
			if rounds[n] > 3 {
				t.Fatalf("task %d did not pass in 3 rounds", n)
			}
			// As build's taskInstruction and feedback write them.
			instr := fmt.Sprintf("Implement task %d of %d of the plan: %s.\nWhat it does: %s\nFiles it is expected to touch: %s\nIt is done when: %s\n"+
				"Make the whole task in one reply; keep to the plan's stack; do not ask questions (make reasonable assumptions).",
				n, len(s.Tasks), task.Title, task.Does, strings.Join(task.Files, ", "), task.DoneWhen)
			if feedback != "" {
				instr += "\n\n" + feedback
			}
			out, err := ed.EditSet(ctx, editor.SetRequest{Tree: tree, Instruction: instr, Context: projectMap(tree)})
			if err != nil || out.Question != "" || len(out.ChangeSet.Files) == 0 {
				t.Fatalf("task %d round %d: %v %q", n, rounds[n], err, out.Question)
			}
			for _, fc := range out.ChangeSet.Files {
				if !slices.Contains(task.Files, fc.Path) {
					t.Errorf("task %d changed %s, which it does not list", n, fc.Path)
				}
			}
			apply(out.ChangeSet)
			v, _, err := arch.Review(ctx, s, i, out.ChangeSet.Diff, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if v.Approve {
				break
			}
			feedback = "Your last change was saved, but the review rejected it:\n- " + strings.Join(v.Reasons, "\n- ") + "\nFix what it asks."
		}
	}
	if want := map[int]int{1: 1, 2: 2, 3: 1}; fmt.Sprint(rounds) != fmt.Sprint(want) {
		t.Errorf("rounds %v, want %v (task 2 rejected once)", rounds, want)
	}
	readme := "Write README.md for this project (create it, or replace what is there): what it is, how to install and run it, " +
		"how to run its tests, and how the files are laid out. Change no other file."
	for i := range 2 { // the second time, a README.md is there: it is replaced
		if i == 1 {
			tree["README.md"] = []byte("# an older README\n")
		}
		out, err := ed.EditSet(ctx, editor.SetRequest{Tree: tree, Instruction: readme, Context: projectMap(tree)})
		if err != nil || len(out.ChangeSet.Files) != 1 {
			t.Fatalf("README: %v %+v", err, out.ChangeSet.Files)
		}
		apply(out.ChangeSet)
	}
	if strings.Count(string(tree["README.md"]), "# todo-api") != 1 {
		t.Errorf("README.md:\n%s", tree["README.md"])
	}

	paths := tree.Paths()
	sort.Strings(paths)
	want := append(SpecFiles(), "README.md")
	sort.Strings(want)
	if !slices.Equal(paths, want) {
		t.Errorf("the project holds %v, want the spec's files and README.md: %v", paths, want)
	}
	// The build's static checks: every file parses for its language.
	if ps := langcheck.CheckAll(tree); len(ps) > 0 {
		t.Errorf("the static checks report %v", ps)
	}
	for _, p := range paths {
		if langcheck.Language(p) == "" && p != "go.mod" {
			t.Errorf("%s is a file no static check reads", p)
		}
		if !strings.HasSuffix(p, ".go") {
			continue
		}
		if f, err := format.Source(tree[p]); err != nil || string(f) != string(tree[p]) {
			t.Errorf("%s is not gofmt'ed:\n%s", p, tree[p])
		}
	}
	if !strings.Contains(string(tree["store.go"]), "s.mu.Lock()") {
		t.Errorf("the fix is not in store.go:\n%s", tree["store.go"])
	}

	goCmd, err := exec.LookPath("go")
	if err != nil || testing.Short() {
		t.Log("not building the app: no go command, or -short")
		return
	}
	dir := t.TempDir()
	for p, b := range tree {
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.Command(goCmd, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s in the built app: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// A task the plan does not have, and an answer to a task's question: never
// a crash, a question that says why.
func TestUnknownTask(t *testing.T) {
	t.Parallel()
	got, err := answer(request{Messages: []Message{{Role: "user", Content: "Implement task 9 of 9 of the plan: something."}}})
	if err != nil || !strings.HasPrefix(got, "QUESTION: ") || !strings.Contains(got, "task 9") {
		t.Errorf("%q, %v", got, err)
	}
}
