package editblock

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSetPromptGolden keeps the change-set prompt in a file, so a change
// to it shows in review (go test -run TestSetPromptGolden -update).
func TestSetPromptGolden(t *testing.T) {
	const golden = "testdata/set_prompt.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(SetPrompt+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if SetPrompt+"\n" != string(want) {
		t.Fatalf("SetPrompt differs from %s (rerun with -update if intended)", golden)
	}
}

// TestSetPromptFormsApply: the forms the prompt shows are the forms
// ApplySet reads.
func TestSetPromptFormsApply(t *testing.T) {
	t.Parallel()
	var forms []string
	for _, l := range strings.Split(SetPrompt, "\n") {
		if strings.HasPrefix(l, "<<<<<<< DELETE") || strings.HasPrefix(l, "<<<<<<< RENAME") {
			forms = append(forms, l)
		}
	}
	if len(forms) != 2 {
		t.Fatalf("the prompt shows %d directive forms, want 2", len(forms))
	}
	tree := MapTree{"path/to/file.ext": []byte("x\n"), "old/path.ext": []byte("y\n")}
	cs, err := ApplySet(tree, strings.Join(forms, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(describe(cs), ", "); got != "renamed old/path.ext -> new/path.ext, deleted path/to/file.ext" {
		t.Fatalf("changes: %s", got)
	}
}
