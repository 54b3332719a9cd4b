package main

import (
	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// corpusSections reads a case of internal/editblock/testdata/corpus (see
// corpus_test.go there for the format).
func corpusSections(t *testing.T, name string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "internal", "editblock", "testdata", "corpus", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := editblocktest.Sections(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEditAppliesCorpusResponses(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"form-basic", "form-name-decorations", "fault01-divider-in-content", "fault04-empty-the-file",
		"fault05-append-no-final-newline", "fault06-crlf", "fault06-crlf-no-final-newline", "fault09-indented-fences",
		"fault11-sentence-names-file", "fault12-all-or-nothing", "fault13-near-miss", "fault14-ambiguous", "fault02-missing-replace"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := corpusSections(t, name)
			dir := t.TempDir()
			path := strings.TrimSpace(c["path"])
			if path == "" {
				path = "app.py"
			}
			file := writeTemp(t, dir, "work/file", c["file"])
			resp := writeTemp(t, dir, "reply.md", c["response"])
			code, stdout, stderr := runWith(t, nil, "edit", "--file", file, "--name", path, "--response", resp)
			if want, ok := c["want"]; ok {
				if code != 0 || stdout != want {
					t.Fatalf("exit %d\nstdout %q\nwant   %q\nstderr %s", code, stdout, want, stderr)
				}
			} else {
				if code != 1 || stdout != "" {
					t.Fatalf("exit %d, stdout %q: want a refusal", code, stdout)
				}
				for _, l := range strings.Split(strings.TrimSpace(c["error"]), "\n") {
					if !strings.Contains(stderr, l) {
						t.Errorf("stderr lacks %q:\n%s", l, stderr)
					}
				}
			}
			if got, _ := os.ReadFile(file); string(got) != c["file"] {
				t.Error("devbot edit wrote the file")
			}
		})
	}
}

func TestEditDiffAndDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeTemp(t, dir, "app.py", "a = 1\nb = 2\n")
	resp := writeTemp(t, dir, "r", "app.py\n<<<<<<< SEARCH\nb = 2\n=======\nb = 3\n>>>>>>> REPLACE\n")
	// Without --name the path is --file as given: app.py matches by base name.
	code, stdout, stderr := runWith(t, nil, "edit", "--file", file, "--response", resp, "--diff")
	want := "--- a/" + file + "\n+++ b/" + file + "\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n"
	if code != 0 || stdout != want {
		t.Fatalf("exit %d\n%s\nwant\n%s\nstderr %s", code, stdout, want, stderr)
	}
	for _, args := range [][]string{{"edit"}, {"edit", "--file", file}, {"edit", "--file", file, "--response", resp, "--instruction", "x"}} {
		if code, _, _ := runWith(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestEditInstructionAsksTheModel(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t,
		llmtest.Response{Text: "app.py\n```\n<<<<<<< SEARCH\nb = 9\n=======\nb = 3\n>>>>>>> REPLACE\n```\n"},
		llmtest.Response{Text: "Sorry.\napp.py\n```\n<<<<<<< SEARCH\nb = 2\n=======\nb = 3\n>>>>>>> REPLACE\n```\n"})
	dir := t.TempDir()
	file := writeTemp(t, dir, "app.py", "a = 1\nb = 2\n")
	envm := map[string]string{"LLM_BASE_URL": srv.URL, "LLM_API_KEY": "sk-test", "LLM_MODEL": "m1", "LLM_PRICES": "m1=1:1"}
	code, stdout, stderr := runWith(t, envm, "edit", "--file", file, "--name", "app.py", "--instruction", "set b to 3")
	if code != 0 || stdout != "a = 1\nb = 3\n" || !strings.Contains(stderr, "2 call(s)") {
		t.Fatalf("exit %d stdout %q stderr %s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "sk-test") {
		t.Error("the key was printed")
	}
	// A rejected key is a plain error.
	srv = llmtest.New(t, llmtest.Response{Status: 401})
	envm["LLM_BASE_URL"] = srv.URL
	code, _, stderr = runWith(t, envm, "edit", "--file", file, "--instruction", "set b to 3")
	if code != 1 || !strings.Contains(stderr, "rejected the API key") {
		t.Fatalf("exit %d stderr %s", code, stderr)
	}
	// A direct instruction needs no model and no configuration.
	code, stdout, _ = runWith(t, nil, "edit", "--file", file, "--instruction", "<<<<<<< SEARCH\na = 1\n=======\na = 0\n>>>>>>> REPLACE")
	if code != 0 || stdout != "a = 0\nb = 2\n" {
		t.Fatalf("direct: exit %d stdout %q", code, stdout)
	}
}

func TestEditResponseMayBeAUnifiedDiff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeTemp(t, dir, "app.py", "a = 1\nb = 2\n")
	resp := writeTemp(t, dir, "r", "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n")
	code, stdout, stderr := runWith(t, nil, "edit", "--file", file, "--name", "app.py", "--response", resp)
	if code != 0 || stdout != "a = 1\nb = 3\n" {
		t.Fatalf("exit %d stdout %q stderr %s", code, stdout, stderr)
	}
}

// A binary file is refused as the bot refuses one, and nothing is printed
// as its new content.
func TestEditRefusesBinaryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeTemp(t, dir, "logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	reply := writeTemp(t, dir, "reply.txt", "logo.png\n```\n<<<<<<< SEARCH\n=======\nappended\n>>>>>>> REPLACE\n```\n")
	code, stdout, stderr := runWith(t, nil, "edit", "--file", file, "--response", reply)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "is not a text file (UTF-8, no NUL bytes)") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the binary file refused", code, stdout, stderr)
	}
}

// Without a key, --instruction says what to configure, for the CLI: no
// empty model name, no usage line for a call never made, no chat command.
func TestEditInstructionWithoutAKey(t *testing.T) {
	t.Parallel()
	file := writeTemp(t, t.TempDir(), "app.py", "a = 1\n")
	code, stdout, stderr := runWith(t, map[string]string{"LLM_BASE_URL": "http://127.0.0.1:1/v1"}, "edit", "--file", file, "--instruction", "set a to 2")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, bad := range []string{"call(s)", "/setkey", "unauthorized:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr shows %q:\n%s", bad, stderr)
		}
	}
	if !strings.Contains(stderr, "devbot edit: --instruction needs a model key: set LLM_API_KEY (or OPENROUTER_API_KEY, GOOGLE_API_KEY) for http://127.0.0.1:1/v1, or give the edit itself with --response") {
		t.Errorf("stderr does not say what to set:\n%s", stderr)
	}
}
