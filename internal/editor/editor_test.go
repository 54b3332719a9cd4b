package editor_test

import (
	"context"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

var update = flag.Bool("update", false, "rewrite the golden prompts in testdata")

const file = "def greet():\n    print(\"hello\")\n\ndef bye():\n    print(\"bye\")\n"

func block(search, replace string) string {
	return "app.py\n```python\n<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE\n```\n"
}

type bundle struct {
	srv *llmtest.Server
	ed  *editor.Editor
}

func setup(t *testing.T, script ...llmtest.Response) bundle {
	t.Helper()
	srv := llmtest.New(t, script...)
	client := llm.New(llm.Config{BaseURL: srv.URL, APIKey: "sk-op", Model: "test/model", Timeout: 5 * time.Second,
		Prices:    map[string]config.ModelPrice{"test/model": {InputPerMillion: 1, OutputPerMillion: 2}},
		BaseDelay: time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }})
	return bundle{srv: srv, ed: editor.New(editor.Config{Model: client, MaxReflections: 3})}
}

func TestDirectEditNeedsNoModel(t *testing.T) {
	t.Parallel()
	ed := editor.New(editor.Config{})
	out, err := ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file),
		Instruction: "<<<<<<< SEARCH\n    print(\"bye\")\n=======\n    print(\"goodbye\")\n>>>>>>> REPLACE\n"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Mode != editor.ModeDirect || out.Attempts != 0 || !strings.Contains(string(out.Result.Content), "goodbye") ||
		!strings.Contains(out.Result.Diff, "+    print(\"goodbye\")") {
		t.Errorf("outcome %+v", out)
	}
	_, err = ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file),
		Instruction: "<<<<<<< SEARCH\nnope\n=======\nx\n>>>>>>> REPLACE\n"})
	if !errors.Is(err, editor.ErrNoValidEdit) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "the SEARCH text is not in app.py") {
		t.Errorf("err %v", err)
	}
	_, err = ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "make it nicer"})
	if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "no model is configured") {
		t.Errorf("without a model: %v", err)
	}
}

func TestModelEditSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "Changing it.\n\n" + block("    print(\"hello\")\n", "    print(\"hi\")\n"), PromptTokens: 1000, CompletionTokens: 100})
	out, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "say hi"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Mode != editor.ModeLLM || out.Attempts != 1 || out.PromptTokens != 1000 || out.CompletionTokens != 100 ||
		out.Model != "test/model" || math.Abs(out.CostUSD-(1000.0/1e6+200.0/1e6)) > 1e-12 {
		t.Errorf("outcome %+v", out)
	}
	if want := strings.Replace(file, "hello", "hi", 1); string(out.Result.Content) != want {
		t.Errorf("content %q", out.Result.Content)
	}
	req := b.srv.Requests()[0]
	if req.Messages[0].Role != "system" || !strings.Contains(req.Messages[1].Text(), "app.py\n```\n"+file+"```") ||
		!strings.Contains(req.Messages[1].Text(), "say hi") {
		t.Errorf("prompt: %+v", req.Messages)
	}
}

func TestMalformedEditCorrectedOnReflection(t *testing.T) {
	t.Parallel()
	b := setup(t,
		llmtest.Response{Text: block("    print(\"helo\")\n", "    print(\"hi\")\n")},
		llmtest.Response{Text: block("    print(\"hello\")\n", "    print(\"hi\")\n")})
	out, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "say hi"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attempts != 2 || out.PromptTokens != 200 || !strings.Contains(string(out.Result.Content), "print(\"hi\")") {
		t.Errorf("outcome %+v", out)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 2 || len(reqs[1].Messages) != 4 || reqs[1].Messages[2].Role != "assistant" {
		t.Fatalf("second request: %+v", reqs)
	}
	fb := reqs[1].Messages[3].Text()
	for _, want := range []string{"the SEARCH text is not in app.py", "Did you mean", "print(\"hello\")", "Reply with corrected"} {
		if !strings.Contains(fb, want) {
			t.Errorf("reflection lacks %q:\n%s", want, fb)
		}
	}
}

func TestReflectionKeepsBlocksThatApplied(t *testing.T) {
	t.Parallel()
	b := setup(t,
		llmtest.Response{Text: block("    print(\"hello\")\n", "    print(\"hi\")\n") + block("    print(\"by\")\n", "    print(\"ciao\")\n")},
		llmtest.Response{Text: block("    print(\"bye\")\n", "    print(\"ciao\")\n")})
	out, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := "def greet():\n    print(\"hi\")\n\ndef bye():\n    print(\"ciao\")\n"
	if string(out.Result.Content) != want || !strings.Contains(out.Result.Diff, "-    print(\"hello\")") {
		t.Errorf("content %q diff\n%s", out.Result.Content, out.Result.Diff)
	}
	if fb := b.srv.Requests()[1].Messages[3].Text(); !strings.Contains(fb, "do not send them again") {
		t.Errorf("reflection: %s", fb)
	}
}

func TestGivesUpAfterReflections(t *testing.T) {
	t.Parallel()
	bad := llmtest.Response{Text: "I think it is fine as is."}
	b := setup(t, bad, bad, bad, bad, llmtest.Response{Text: "unused"})
	out, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "x"})
	if !errors.Is(err, editor.ErrNoValidEdit) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "No SEARCH/REPLACE block was found") {
		t.Fatalf("err %v", err)
	}
	if out.Attempts != 4 || out.PromptTokens != 400 || len(b.srv.Requests()) != 4 {
		t.Errorf("attempts %d tokens %d requests %d", out.Attempts, out.PromptTokens, len(b.srv.Requests()))
	}
	if editblock.AsError(err) == nil {
		t.Error("the last report is not in the chain")
	}
}

func TestRejectedKeyIsPermanentAndPlain(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 401}, llmtest.Response{Text: "unused"})
	_, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "x", APIKey: "sk-user-secret"})
	if !errors.Is(err, fault.ErrUnauthorized) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "rejected the API key") ||
		strings.Contains(err.Error(), "sk-user-secret") {
		t.Fatalf("err %v", err)
	}
	if got := b.srv.Requests()[0].Auth; got != "Bearer sk-user-secret" {
		t.Errorf("auth %q", got)
	}
}

func TestRateLimitThenSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 429, Headers: map[string]string{"Retry-After": "1"}},
		llmtest.Response{Text: block("    print(\"bye\")\n", "")})
	out, err := b.ed.Edit(context.Background(), editor.Request{Path: "app.py", Content: []byte(file), Instruction: "x"})
	if err != nil || strings.Contains(string(out.Result.Content), "bye\")") {
		t.Fatalf("out %+v err %v", out, err)
	}
}

func TestPromptGolden(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "docs/README.md\n````\n<<<<<<< SEARCH\n# Title\n=======\n# New title\n>>>>>>> REPLACE\n````\n"})
	content := "# Title\n\n```go\nfmt.Println(1)\n```\n"
	if _, err := b.ed.Edit(context.Background(), editor.Request{Path: "docs/README.md", Content: []byte(content), Instruction: "  rename the title  "}); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, m := range b.srv.Requests()[0].Messages {
		got.WriteString("==> " + m.Role + "\n" + m.Text() + "\n")
	}
	golden := filepath.Join("testdata", "prompt.golden")
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
		t.Errorf("the prompt changed; review it and run go test ./internal/editor -run PromptGolden -update\n got:\n%s", got.String())
	}
	if !strings.Contains(got.String(), "docs/README.md\n````\n") {
		t.Error("the file's fence collides with its content")
	}
}
