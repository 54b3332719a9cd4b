package main

import (
	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The held-out corpus (internal/editblock/testdata/heldout) runs model
// replies through `devbot edit` exactly as a person (or the judge)
// would: the original is written to a temporary file, the reply to another,
// and the command's standard output, standard error and exit status are
// checked. A case is a txtar-like file: a comment, then sections
// "-- name [flags] --" where flags "noeol" drop the section's final newline
// and "crlf" turn its "\n" into "\r\n". Sections:
//
//	file      the original (absent: --file names a file that does not exist)
//	filename  where the original is written, relative to a temporary
//	          directory (default "original.txt")
//	response  the model's reply
//	args      extra arguments on one line, e.g. "--name src/app.py --diff";
//	          "$FILE" stands for the --file path
//	want      the expected standard output (exit 0); "$FILE" as above
//	error     lines standard error must contain (exit 1, nothing on stdout)
type heldoutCase struct {
	name     string
	file     *string
	filename string
	response string
	args     []string
	want     *string
	errs     []string
}

func readHeldout(t *testing.T, path string) heldoutCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections, err := editblocktest.Sections(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := heldoutCase{name: strings.TrimSuffix(filepath.Base(path), ".txtar"), filename: "original.txt"}
	for k := range sections {
		switch k {
		case "file", "filename", "response", "args", "want", "error":
		default:
			t.Fatalf("%s: unknown section %q", path, k)
		}
	}
	if s, ok := sections["file"]; ok {
		c.file = &s
	}
	if s := strings.TrimSpace(sections["filename"]); s != "" {
		c.filename = s
	}
	c.response = sections["response"]
	c.args = strings.Fields(sections["args"])
	if s, ok := sections["want"]; ok {
		c.want = &s
	}
	for _, l := range strings.Split(sections["error"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			c.errs = append(c.errs, l)
		}
	}
	if (c.want == nil) == (c.errs == nil) {
		t.Fatalf("%s: give exactly one of want and error", path)
	}
	if c.response == "" {
		t.Fatalf("%s: no response", path)
	}
	return c
}

func TestEditHeldOutCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "internal", "editblock", "testdata", "heldout", "*.txtar"))
	if err != nil || len(files) < 40 {
		t.Fatalf("held-out corpus: %d cases, %v", len(files), err)
	}
	for _, f := range files {
		c := readHeldout(t, f)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "in", c.filename)
			if c.file != nil {
				writeTemp(t, dir, filepath.Join("in", c.filename), *c.file)
			}
			resp := writeTemp(t, dir, "reply.md", c.response)
			args := []string{"edit", "--file", file, "--response", resp}
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(a, "$FILE", file))
			}
			code, stdout, stderr := runWith(t, nil, args...)
			if c.want != nil {
				want := strings.ReplaceAll(*c.want, "$FILE", file)
				if code != 0 || stdout != want {
					t.Fatalf("exit %d\n got %q\nwant %q\nstderr:\n%s", code, stdout, want, stderr)
				}
			} else {
				if code != 1 || stdout != "" {
					t.Fatalf("exit %d, stdout %q: want a refusal (exit 1, no output)\nstderr:\n%s", code, stdout, stderr)
				}
				for _, l := range c.errs {
					if !strings.Contains(stderr, l) {
						t.Errorf("stderr lacks %q:\n%s", l, stderr)
					}
				}
			}
			got, err := os.ReadFile(file)
			switch {
			case c.file == nil && err == nil:
				t.Error("devbot edit created the file")
			case c.file != nil && string(got) != *c.file:
				t.Error("devbot edit wrote the file")
			}
		})
	}
}
