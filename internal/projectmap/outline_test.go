package projectmap_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/projectmap"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// formatSymbols is the golden form: line, kind, name and text, indented by
// depth, so a test shows every field the recognizers set.
func formatSymbols(syms []projectmap.Symbol) string {
	var b strings.Builder
	for _, s := range syms {
		fmt.Fprintf(&b, "%s%d %s %s | %s\n", strings.Repeat("  ", s.Depth), s.Line, s.Kind, s.Name, s.Text)
	}
	return b.String()
}

// TestOutlineGolden checks the outline of each fixture in testdata/outline
// against its .golden file (go test -run TestOutlineGolden -update rewrites
// them; review the diff).
func TestOutlineGolden(t *testing.T) {
	fixtures, err := filepath.Glob("testdata/outline/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fx := range fixtures {
		if strings.HasSuffix(fx, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(fx), func(t *testing.T) {
			src, err := os.ReadFile(fx)
			if err != nil {
				t.Fatal(err)
			}
			got := formatSymbols(projectmap.Outline(filepath.Base(fx), src))
			if got == "" {
				t.Fatalf("no symbols recognized in %s", fx)
			}
			golden := fx + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("outline of %s:\n--- got\n%s--- want\n%s", fx, got, want)
			}
		})
	}
	if n < 12 {
		t.Errorf("only %d fixtures", n)
	}
}

func TestOutlineOfUnknownAndBinaryFiles(t *testing.T) {
	if got := projectmap.Outline("data.bin", []byte("def x():\n")); got != nil {
		t.Errorf("unknown extension: %v", got)
	}
	if got := projectmap.Outline("x.py", []byte("def x():\n\x00\x01")); got != nil {
		t.Errorf("binary content: %v", got)
	}
	// A Go file that does not parse still yields what the parser recovered.
	got := projectmap.Outline("broken.go", []byte("package x\n\nfunc Good() {}\n\nfunc Bad( {\n"))
	if len(got) == 0 || got[0].Name != "Good" {
		t.Errorf("broken Go file: %v", got)
	}
}

func TestRenderOutlineBoundsLongOutlines(t *testing.T) {
	var src strings.Builder
	for i := range projectmap.MaxSymbols + 5 {
		fmt.Fprintf(&src, "def f%d():\n    pass\n", i)
	}
	out := projectmap.RenderOutline(projectmap.Outline("gen.py", []byte(src.String())))
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != projectmap.MaxSymbols+1 || lines[len(lines)-1] != "… 5 more" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}
