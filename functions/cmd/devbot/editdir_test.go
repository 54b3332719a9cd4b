package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
)

// multiCases reads internal/editblock/testdata/multi (see set_test.go
// there for the format).
func multiCases(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "internal", "editblock", "testdata", "multi", "*.txtar"))
	if err != nil || len(files) < 30 {
		t.Fatalf("multi-file corpus: %d files, %v", len(files), err)
	}
	out := map[string]map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := editblocktest.Sections(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".txtar")] = sec
	}
	return out
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		writeTemp(t, dir, p, c)
	}
}

// readTree returns every file under dir (temporary files included, so a
// leftover shows).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	var ps []string
	for p := range got {
		ps = append(ps, p)
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			ps = append(ps, p)
		}
	}
	sort.Strings(ps)
	for _, p := range ps {
		g, gok := got[p]
		w, wok := want[p]
		if g != w || gok != wok {
			t.Errorf("%s: got %q (present %v), want %q (present %v)", p, g, gok, w, wok)
		}
	}
}

// TestEditDirPassesMultiFileCorpus: devbot edit --dir on every multi-file
// case: the tree becomes the case's out/ tree (exit 0), or stays as it was
// (exit 1, the report on stderr); --diff writes nothing and prints a diff
// that git apply turns into the out/ tree.
func TestEditDirPassesMultiFileCorpus(t *testing.T) {
	t.Parallel()
	for name, sec := range multiCases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, want := editblocktest.Tree(sec, "in/"), editblocktest.Tree(sec, "out/")
			base := t.TempDir()
			dir := filepath.Join(base, "project")
			writeTree(t, dir, in)
			reply := writeTemp(t, base, "reply.md", sec["response"])

			code, stdout, stderr := runWith(t, nil, "edit", "--dir", dir, "--response", reply, "--diff")
			if errs, refused := sec["error"]; refused {
				if code != 1 || stdout != "" {
					t.Fatalf("--diff: exit %d, stdout %q: want a refusal", code, stdout)
				}
				code, stdout, stderr = runWith(t, nil, "edit", "--dir", dir, "--response", reply)
				if code != 1 || stdout != "" {
					t.Fatalf("exit %d, stdout %q: want a refusal", code, stdout)
				}
				for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
					if !strings.Contains(stderr, l) {
						t.Errorf("stderr lacks %q:\n%s", l, stderr)
					}
				}
				sameTree(t, readTree(t, dir), in)
				return
			}
			if code != 0 {
				t.Fatalf("--diff: exit %d\n%s", code, stderr)
			}
			sameTree(t, readTree(t, dir), in)
			if stdout != "" {
				gitApply(t, in, stdout, want)
			}
			code, stdout, stderr = runWith(t, nil, "edit", "--dir", dir, "--response", reply)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			sameTree(t, readTree(t, dir), want)
			if c, ok := sec["changes"]; ok && strings.TrimSpace(stdout) != strings.TrimSpace(c) {
				t.Errorf("stdout:\n%s\nwant the changes:\n%s", stdout, c)
			}
		})
	}
}

func gitApply(t *testing.T, in map[string]string, diff string, want map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "g")
	writeTree(t, dir, in)
	p := writeTemp(t, t.TempDir(), "p.diff", diff)
	for _, args := range [][]string{{"apply", "--check", p}, {"apply", p}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s\n%s", args, err, out, diff)
		}
	}
	sameTree(t, readTree(t, dir), want)
}

const twoFileReply = "a.py\n```\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n```\n" +
	"<<<<<<< DELETE b.py\n" +
	"new/c.py\n```\n<<<<<<< SEARCH\n=======\nc = 3\n>>>>>>> REPLACE\n```\n"

// A write that fails half-way leaves the tree as it was: the files already
// renamed into place are put back, the temporary files and new folders go.
func TestEditDirWriteFailureUndoes(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "p")
	in := map[string]string{"a.py": "a = 1\n", "b.py": "b = 1\n"}
	writeTree(t, dir, in)
	reply := writeTemp(t, base, "r", twoFileReply)
	for _, seam := range []string{"rename", "remove"} {
		calls := 0
		fail := errors.New("disk full")
		switch seam {
		case "rename":
			renameFile = func(a, b string) error {
				if calls++; calls == 2 {
					return fail
				}
				return os.Rename(a, b)
			}
		case "remove":
			removeFile = func(string) error { return fail }
		}
		code, _, stderr := runWith(t, nil, "edit", "--dir", dir, "--response", reply)
		renameFile, removeFile = os.Rename, os.Remove
		if code != 1 || !strings.Contains(stderr, "disk full") || !strings.Contains(stderr, "undone") {
			t.Fatalf("%s: exit %d, stderr %s", seam, code, stderr)
		}
		sameTree(t, readTree(t, dir), in)
		if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the new folder was left: %v", seam, err)
		}
	}
}

// A link in the tree cannot carry a write outside it.
func TestEditDirLinkOutsideRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir, outside := filepath.Join(base, "p"), filepath.Join(base, "outside")
	writeTree(t, dir, map[string]string{"a.py": "a = 1\n"})
	writeTree(t, outside, map[string]string{"keep": "k\n"})
	if err := os.Symlink(outside, filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	reply := writeTemp(t, base, "r", twoFileReply)
	writeTemp(t, dir, "b.py", "b = 1\n")
	code, _, stderr := runWith(t, nil, "edit", "--dir", dir, "--response", reply)
	if code != 1 || !strings.Contains(stderr, "is not a folder") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	sameTree(t, readTree(t, outside), map[string]string{"keep": "k\n"})
	sameTree(t, readTree(t, dir), map[string]string{"a.py": "a = 1\n", "b.py": "b = 1\n"})
}

func TestEditDirUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{{"edit", "--dir", dir}, {"edit", "--dir", dir, "--file", "x", "--response", "r"},
		{"edit", "--dir", dir, "--instruction", "x"}, {"edit", "--dir", dir, "--response", "r", "extra"}} {
		if code, _, _ := runWith(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
