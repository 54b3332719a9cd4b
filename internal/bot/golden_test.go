package bot_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenConversation renders the main commands' replies, as UX.md's
// sample conversation goes, and compares them with testdata/conversation.golden
// (go test -run Golden -update rewrites it).
func TestGoldenConversation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 77
	script := []string{"/start", "/help", "/new api", "DOC cmd/main.go", "/files", "/open cmd/main.go",
		"return an error instead of panicking when the config file is missing", "/refine cmd/nope.go add logging",
		"/history cmd/main.go", "/balance", "/projects", "/use nope", "/undo cmd/main.go", "hello", "/frobnicate", "/setkey x",
		"/refine cmd/main.go", "/new api", "/diff 999", "/delkey", "/buy", "/close", "hello again"}
	var sb strings.Builder
	for _, line := range script {
		var got []string
		if path, ok := strings.CutPrefix(line, "DOC "); ok {
			got = f.do(ann, f.document(ann, "main.go", path, []byte("package main\n\nfunc main() {}\n")))
		} else {
			got = f.say(ann, line)
		}
		sb.WriteString("user: " + line + "\n")
		for _, g := range got {
			sb.WriteString("bot:  " + strings.ReplaceAll(g, "\n", "\n      ") + "\n")
		}
		sb.WriteString("\n")
	}
	path := filepath.Join("testdata", "conversation.golden")
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if sb.String() != string(want) {
		t.Errorf("replies differ from %s (go test -run Golden -update, then review the diff):\n%s", path, sb.String())
	}
}
