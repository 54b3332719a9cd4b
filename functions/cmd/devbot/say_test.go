package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// devbot say against a running stack whose model takes a while: --wait
// returns at the refinement's result, not at "Working on…", and --press
// taps the result's Undo button (a real callback_query with its
// callback_data), by label and by number.
func TestSayWaitsForTheResultAndPressesButtons(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	edit := "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tpanic(\"no config\")\n=======\n\treturn nil\n>>>>>>> REPLACE\n```\n"
	model := llmtest.New(t, llmtest.Response{Text: edit})
	target, _ := url.Parse(strings.TrimSuffix(model.URL, "/v1"))
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Second) // longer than say ever listened after a reply
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "LLM_BASE_URL": slow.URL + "/v1", "LLM_API_KEY": "sk-test-key", "LLM_MODEL": "m"}
	data := t.TempDir()
	var console bytes.Buffer
	s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: data, PubSub: "embedded",
		Lookup:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Console: &console, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, console.String())
	}
	defer s.Close()
	say := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runWith(t, nil, append([]string{"say", "--data", data}, args...)...)
		if code != 0 {
			t.Fatalf("say %q: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
		}
		return stdout
	}
	main := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(main, []byte("package main\n\nfunc run() error {\n\tpanic(\"no config\")\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	say("/start")
	say("/new api")
	say("--file", main, "--caption", "cmd/main.go")

	out := say("/refine cmd/main.go return nil instead of panicking")
	if !strings.Contains(out, "Working on cmd/main.go") || !strings.Contains(out, "✅ cmd/main.go changed (") {
		t.Fatalf("say returned before the final reply:\n%s", out)
	}
	out = say("--press", "undo")
	if !strings.Contains(out, "pressing [Undo] on: ✅ cmd/main.go changed") || !strings.Contains(out, "Undone: cmd/main.go is back as it was") {
		t.Fatalf("pressing Undo:\n%s", out)
	}
	// By number: the newest reply with buttons is now the undo's, whose
	// first button brings the change back.
	if out = say("--press", "1"); !strings.Contains(out, "pressing [Redo]") || !strings.Contains(out, "Redone: cmd/main.go is as the change left it") {
		t.Fatalf("pressing button 1:\n%s", out)
	}
	code, _, stderr := runWith(t, nil, "say", "--data", data, "--press", "Buy")
	if code != 1 || !strings.Contains(stderr, `has no button "Buy": its buttons are 1 [`) {
		t.Errorf("pressing a button that is not there: exit %d, %s", code, stderr)
	}
}
