package editblock

import (
	"errors"
	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
)

// A corpus case is a txtar-like file: a comment, then sections
// "-- name --". Sections: path (default app.py), file, response, want (the
// expected content) or error (lines that the refusal must contain), and
// optionally strategies (one per block). A section name may carry flags:
// "(noeol)" drops its final newline, "(crlf)" turns "\n" into "\r\n".
type corpusCase struct {
	name       string
	path       string
	file       string
	response   string
	want       *string
	errs       []string
	strategies []string
	direct     bool
}

func parseCase(t *testing.T, name string, data string) corpusCase {
	t.Helper()
	c := corpusCase{name: name, path: "app.py"}
	sections, err := editblocktest.Sections([]byte(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if p, ok := sections["path"]; ok {
		c.path = strings.TrimSpace(p)
	}
	c.file, c.response = sections["file"], sections["response"]
	if w, ok := sections["want"]; ok {
		c.want = &w
	}
	if e, ok := sections["error"]; ok {
		for _, l := range strings.Split(strings.TrimSpace(e), "\n") {
			if l != "" {
				c.errs = append(c.errs, l)
			}
		}
	}
	if s, ok := sections["strategies"]; ok {
		c.strategies = strings.Fields(s)
	}
	_, c.direct = sections["direct"]
	if c.want == nil && c.errs == nil {
		t.Fatalf("%s: neither want nor error", name)
	}
	return c
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var cases []corpusCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, parseCase(t, strings.TrimSuffix(filepath.Base(f), ".txtar"), string(data)))
	}
	return cases
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			orig := []byte(c.file)
			var res Result
			var err error
			if c.direct {
				res, err = ApplyDirect(c.path, orig, c.response)
			} else {
				res, err = Apply(c.path, orig, c.response)
			}
			if string(orig) != c.file {
				t.Fatal("Apply modified its input")
			}
			if c.want != nil {
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				if got := string(res.Content); got != *c.want {
					t.Fatalf("content:\n got %q\nwant %q", got, *c.want)
				}
				if c.strategies != nil {
					var got []string
					for _, b := range res.Blocks {
						got = append(got, b.Strategy)
					}
					if strings.Join(got, " ") != strings.Join(c.strategies, " ") {
						t.Errorf("strategies %v, want %v", got, c.strategies)
					}
				}
				checkDiff(t, c.path, orig, res)
				return
			}
			if err == nil {
				t.Fatalf("applied, want a refusal; content:\n%s", res.Content)
			}
			if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrInvalid) || AsError(err) == nil {
				t.Errorf("refusal is not a permanent *Error: %#v", err)
			}
			for _, want := range c.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("report lacks %q:\n%s", want, err)
				}
			}
		})
	}
}

// checkDiff checks that the diff turns the original into the result, with
// our own strict applier (git apply and patch are tested elsewhere).
func checkDiff(t *testing.T, path string, orig []byte, res Result) {
	t.Helper()
	if string(orig) == string(res.Content) {
		if res.Diff != "" {
			t.Errorf("no change, but a diff:\n%s", res.Diff)
		}
		return
	}
	back, err := applyUnified(path, orig, res.Diff)
	if err != nil {
		t.Fatalf("own diff does not apply: %v\n%s", err, res.Diff)
	}
	if string(back.Content) != string(res.Content) {
		t.Fatalf("own diff gives %q, want %q\n%s", back.Content, res.Content, res.Diff)
	}
}
