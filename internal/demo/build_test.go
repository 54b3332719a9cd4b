package demo

import (
	"slices"
	"strings"
	"testing"
)

func TestSpecFiles(t *testing.T) {
	t.Parallel()
	text := "todo-api — A small JSON API (in Go).\nStack: Go 1.22 (net/http, encoding/json), go test.\n" +
		"1. Server skeleton (go.mod, main.go)\n2. Store (store.go, store_test.go)\n3. Endpoints (handlers.go, main.go)\nEstimated 40 credits; you have 118."
	if got, want := specFiles(text), []string{"go.mod", "main.go", "store.go", "store_test.go", "handlers.go"}; !slices.Equal(got, want) {
		t.Errorf("specFiles = %v, want %v", got, want)
	}
}

func TestStaticProblems(t *testing.T) {
	t.Parallel()
	ok := map[string][]byte{"main.go": []byte("package main\n\nfunc main() {}\n"), "a.json": []byte(`{"a":1}`), "README.md": []byte("# x\n")}
	if ps := staticProblems(ok); len(ps) != 0 {
		t.Errorf("clean files: %v", ps)
	}
	bad := map[string][]byte{"main.go": []byte("package main\n\nfunc main() {\n"), "a.json": []byte(`{"a":`), "bin.md": {0, 1, 2}}
	ps := staticProblems(bad)
	all := strings.Join(ps, "\n")
	if !strings.HasPrefix(ps[0], "a.json:1:") || !strings.Contains(all, "\nmain.go:3:") || ps[len(ps)-1] != "bin.md: not a text file (UTF-8, no NUL bytes)" {
		t.Errorf("problems: %q", ps)
	}
	if got := checksSummary(map[string][]byte{"a.go": nil, "b.go": nil, "README.md": nil, "go.mod": nil}); got != "2 Go, 1 Markdown parse; go.mod, which no checker reads, is text" {
		t.Errorf("checksSummary = %q", got)
	}
}
