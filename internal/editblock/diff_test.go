package editblock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var diffCases = []struct{ name, old, new string }{
	{"change", "a\nb\nc\n", "a\nB\nc\n"},
	{"far-apart", strings.Repeat("x\n", 3) + "a\n" + strings.Repeat("y\n", 20) + "b\n" + strings.Repeat("z\n", 3),
		strings.Repeat("x\n", 3) + "A\n" + strings.Repeat("y\n", 20) + "B\n" + strings.Repeat("z\n", 3)},
	{"no-final-newline", "a\nb", "a\nc"},
	{"add-final-newline", "a\nb", "a\nb\n"},
	{"drop-final-newline", "a\nb\n", "a\nb"},
	{"append-no-final-newline", "a", "a\nb"},
	{"crlf", "a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n"},
	{"crlf-no-final-newline", "a\r\nb", "a\r\nc"},
	{"fill-empty", "", "a\nb\n"},
	{"empty-out", "a\nb\n", ""},
	{"insert-top", "a\n", "z\na\n"},
}

// TestDiffAppliesWithGitAndPatch checks that git apply and patch -p1 accept
// our diffs and produce the new content byte for byte.
func TestDiffAppliesWithGitAndPatch(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"git", "patch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed", tool)
		}
	}
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := Diff("dir/f.txt", []byte(c.old), []byte(c.new))
			for _, tool := range [][]string{{"git", "apply", "--check", "p"}, {"git", "apply", "p"}, {"patch", "-p1", "-s", "-i", "p"}} {
				dir := t.TempDir()
				if err := os.MkdirAll(filepath.Join(dir, "dir"), 0o755); err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(dir, "dir", "f.txt")
				if err := os.WriteFile(f, []byte(c.old), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "p"), []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(tool[0], tool[1:]...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s\ndiff:\n%s", tool, err, out, d)
				}
				if tool[2] == "--check" {
					continue
				}
				got, err := os.ReadFile(f)
				if err != nil {
					t.Fatalf("%v: %v", tool, err)
				}
				if string(got) != c.new {
					t.Errorf("%v gives %q, want %q\n%s", tool, got, c.new, d)
				}
			}
		})
	}
}

func TestDiffFormat(t *testing.T) {
	t.Parallel()
	got := Diff("a.py", []byte("x\ny"), []byte("x\nz"))
	want := "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if Diff("a", []byte("same\n"), []byte("same\n")) != "" {
		t.Error("a diff of equal contents")
	}
	// Two changes 20 lines apart make two hunks.
	if n := strings.Count(Diff("f", []byte(diffCases[1].old), []byte(diffCases[1].new)), "@@ -"); n != 2 {
		t.Errorf("%d hunks, want 2", n)
	}
}
