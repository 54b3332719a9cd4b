package editblock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
	"github.com/devbot-hq/devbot/internal/fault"
)

// A multi-file case (testdata/multi/*.txtar): "in/PATH" sections are the
// tree, "response" the reply, and either "out/PATH" sections the whole tree
// after (with an optional "changes" section, one "OP PATH" line per file,
// "renamed OLD -> NEW" for a rename) or an "error" section of lines the
// refusal must contain.
type multiCase struct {
	name     string
	in, out  map[string]string
	response string
	changes  []string
	errs     []string
}

func loadMulti(t *testing.T) []multiCase {
	t.Helper()
	files, err := filepath.Glob("testdata/multi/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no multi-file corpus: %v", err)
	}
	var cases []multiCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := editblocktest.Sections(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c := multiCase{name: strings.TrimSuffix(filepath.Base(f), ".txtar"), in: editblocktest.Tree(sec, "in/"),
			out: editblocktest.Tree(sec, "out/"), response: sec["response"]}
		c.changes = lines(sec["changes"])
		c.errs = lines(sec["error"])
		if len(c.out) == 0 && c.errs == nil && sec["out"] == "" {
			if _, empty := sec["empty"]; !empty {
				t.Fatalf("%s: neither out/ files nor error", c.name)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func treeOf(m map[string]string) MapTree {
	t := MapTree{}
	for p, c := range m {
		t[p] = []byte(c)
	}
	return t
}

// after returns the tree a change set leaves.
func after(in map[string]string, cs ChangeSet) map[string]string {
	out := map[string]string{}
	for p, c := range in {
		out[p] = c
	}
	for _, f := range cs.Files {
		if f.OldPath != "" {
			delete(out, f.OldPath)
		}
	}
	for _, f := range cs.Files {
		if f.Op != Deleted {
			out[f.Path] = string(f.New)
		}
	}
	return out
}

func describe(cs ChangeSet) []string {
	var out []string
	for _, f := range cs.Files {
		if f.Op == Renamed {
			out = append(out, "renamed "+f.OldPath+" -> "+f.Path)
		} else {
			out = append(out, f.Op+" "+f.Path)
		}
	}
	return out
}

func TestMultiCorpus(t *testing.T) {
	t.Parallel()
	for _, c := range loadMulti(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tree := treeOf(c.in)
			cs, err := ApplySet(tree, c.response)
			for p, content := range c.in {
				if string(tree[p]) != content {
					t.Fatalf("ApplySet modified its input %s", p)
				}
			}
			if c.errs != nil {
				if err == nil {
					t.Fatalf("applied, want a refusal; changes %v", describe(cs))
				}
				if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrInvalid) || AsError(err) == nil {
					t.Errorf("refusal is not a permanent *Error: %#v", err)
				}
				for _, want := range c.errs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("report lacks %q:\n%s", want, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("refused:\n%v", err)
			}
			got := after(c.in, cs)
			checkTrees(t, got, c.out)
			if c.changes != nil && strings.Join(describe(cs), "\n") != strings.Join(c.changes, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(describe(cs), "\n"), strings.Join(c.changes, "\n"))
			}
			checkGitApply(t, c.in, cs.Diff, c.out)
		})
	}
}

func checkTrees(t *testing.T, got, want map[string]string) {
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
		switch {
		case !gok:
			t.Errorf("%s: missing, want %q", p, w)
		case !wok:
			t.Errorf("%s: present (%q), want it gone", p, g)
		case g != w:
			t.Errorf("%s:\n got %q\nwant %q", p, g, w)
		}
	}
}

// checkGitApply applies diff to the tree in with the real git apply (first
// --check) and compares the result with want.
func checkGitApply(t *testing.T, in map[string]string, diff string, want map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for p, c := range in {
		f := filepath.Join(dir, "tree", p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if diff == "" {
		checkTrees(t, in, want)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "p.diff"), []byte(diff), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"apply", "--check", "../p.diff"}, {"apply", "../p.diff"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = filepath.Join(dir, "tree")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s\ndiff:\n%s", strings.Join(args, " "), err, out, diff)
		}
	}
	got := map[string]string{}
	root := filepath.Join(dir, "tree")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTrees(t, got, want)
}

// A change set's refusal is not resumed (a change set applies whole): Resume
// says so instead of failing on a missing state.
func TestResumeOfChangeSetRefusal(t *testing.T) {
	t.Parallel()
	_, err := ApplySet(MapTree{"a.py": []byte("a\n")}, "a.py\n<<<<<<< SEARCH\nb\n=======\nc\n>>>>>>> REPLACE\n")
	e := AsError(err)
	if e == nil {
		t.Fatalf("want a refusal, got %v", err)
	}
	if _, err := Resume(e, "a.py\n<<<<<<< SEARCH\na\n=======\nc\n>>>>>>> REPLACE\n"); err == nil || !strings.Contains(err.Error(), "cannot be resumed") {
		t.Fatalf("Resume: %v", err)
	}
}
