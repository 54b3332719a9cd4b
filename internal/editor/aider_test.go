package editor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/fault"
)

// fakeAider is a shell script standing in for aider: it records its
// arguments and environment, edits the file named last, and prints
// aider's usage line.
const fakeAider = `#!/bin/sh
dir=$(dirname "$0")
printf '%s\n' "$@" > "$dir/args"
echo "$OPENAI_API_KEY $OPENAI_API_BASE" > "$dir/env"
pwd > "$dir/pwd"
for last; do :; done
case "$*" in
  *sleep*) sleep 5 ;;
  *nochange*) ;;
  *fail*) echo "boom" >&2; exit 3 ;;
  *) sed -i 's/hello/hi/' "$last" ;;
esac
echo "Tokens: 1.5k sent, 200 received. Cost: \$0.0025 message, \$0.0025 session."
`

// Not parallel: it puts the fake on PATH.
func TestAiderBackend(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "aider"), []byte(fakeAider), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ed := editor.New(editor.Config{Backend: "aider", Aider: editor.AiderConfig{
		Timeout: time.Second, BaseURL: "http://llm.test/v1", APIKey: "sk-op", Model: "gpt-x"}})
	ctx := context.Background()
	content := []byte("print('hello')\n")

	out, err := ed.Edit(ctx, editor.Request{Path: "src/app.py", Content: content, Instruction: "say hi"})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Result.Content) != "print('hi')\n" || out.Mode != editor.ModeAider || out.PromptTokens != 1500 ||
		out.CompletionTokens != 200 || out.CostUSD != 0.0025 || !strings.Contains(out.Result.Diff, "+++ b/src/app.py") {
		t.Errorf("outcome %+v", out)
	}
	args, _ := os.ReadFile(filepath.Join(bin, "args"))
	for _, want := range []string{"--yes-always", "--no-git", "--message\nsay hi", "--model\nopenai/gpt-x", "app.py\n"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if env, _ := os.ReadFile(filepath.Join(bin, "env")); string(env) != "sk-op http://llm.test/v1\n" {
		t.Errorf("env %q", env)
	}
	pwd, _ := os.ReadFile(filepath.Join(bin, "pwd"))
	if _, err := os.Stat(strings.TrimSpace(string(pwd))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory %s left behind", pwd)
	}

	if _, err := ed.Edit(ctx, editor.Request{Path: "a.py", Content: content, Instruction: "nochange"}); !errors.Is(err, editor.ErrNoValidEdit) {
		t.Errorf("no change: %v", err)
	}
	if _, err := ed.Edit(ctx, editor.Request{Path: "a.py", Content: content, Instruction: "fail"}); !fault.IsRetryable(err) || strings.Contains(err.Error(), "hello") {
		t.Errorf("failure: %v", err)
	}
	start := time.Now()
	if _, err := ed.Edit(ctx, editor.Request{Path: "a.py", Content: content, Instruction: "sleep"}); !fault.IsPermanent(err) || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("timeout: %v", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("the timeout did not stop aider")
	}
	// A direct edit never runs aider.
	out, err = ed.Edit(ctx, editor.Request{Path: "a.py", Content: content, Instruction: "<<<<<<< SEARCH\nprint('hello')\n=======\nprint(1)\n>>>>>>> REPLACE\n"})
	if err != nil || out.Mode != editor.ModeDirect {
		t.Errorf("direct: %+v %v", out, err)
	}
}
