package langcheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// corpus returns the files under testdata/dir, by path relative to it. A
// name ending in ".src" stands for the name without it (broken Go files are
// kept as x.go.src so that gofmt and go vet do not read them).
func corpus(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	root := filepath.Join("testdata", dir)
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[strings.TrimSuffix(filepath.ToSlash(rel), ".src")] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var allLanguages = []string{"go", "python", "javascript", "typescript", "json", "yaml", "toml", "html", "css", "markdown"}

// language groups jsonc with json for counting.
func language(p string) string {
	if l := Language(p); l != "jsonc" {
		return l
	}
	return "json"
}

// Every valid file of every language parses.
func TestValidCorpus(t *testing.T) {
	files := corpus(t, "valid")
	count := map[string]int{}
	for p, b := range files {
		lang := language(p)
		if lang == "" {
			t.Errorf("%s: no checker for this file", p)
			continue
		}
		count[lang]++
		if ps := Check(p, b); len(ps) != 0 {
			t.Errorf("%s: valid %s reported as invalid: %v", p, lang, ps)
		}
	}
	for _, l := range allLanguages {
		if count[l] < 3 {
			t.Errorf("%s: %d valid files, want at least 3", l, count[l])
		}
	}
}

var expectedLineRe = regexp.MustCompile(`\.L(\d+)\.`)

// Every invalid file is reported, first at the line in its name.
func TestInvalidCorpus(t *testing.T) {
	files := corpus(t, "invalid")
	count := map[string]int{}
	for p, b := range files {
		lang := language(p)
		m := expectedLineRe.FindStringSubmatch(p)
		if lang == "" || m == nil {
			t.Errorf("%s: no checker, or no .L<line>. in the name", p)
			continue
		}
		count[lang]++
		want, _ := strconv.Atoi(m[1])
		ps := Check(p, b)
		if len(ps) == 0 {
			t.Errorf("%s: invalid %s not reported", p, lang)
			continue
		}
		if ps[0].Line != want {
			t.Errorf("%s: first problem at line %d, want %d: %v", p, ps[0].Line, want, ps)
		}
		for _, pr := range ps {
			if pr.Path != p || pr.Message == "" || strings.ContainsAny(pr.Message, "\n\r") || len(pr.Message) > maxMessage+3 {
				t.Errorf("%s: malformed problem %#v", p, pr)
			}
		}
		if testing.Verbose() {
			t.Logf("%v", ps[0])
		}
	}
	for _, l := range allLanguages {
		if count[l] < 3 {
			t.Errorf("%s: %d invalid files, want at least 3", l, count[l])
		}
	}
}

func TestLanguage(t *testing.T) {
	for p, want := range map[string]string{
		"main.go": "go", "a/b/app.py": "python", "stubs.pyi": "python", "w.pyw": "python",
		"x.js": "javascript", "x.mjs": "javascript", "x.cjs": "javascript", "X.JSX": "javascript",
		"x.ts": "typescript", "x.mts": "typescript", "x.cts": "typescript", "x.tsx": "typescript", "x.d.ts": "typescript",
		"package.json": "json", "site.webmanifest": "json", "x.jsonc": "jsonc",
		"tsconfig.json": "jsonc", "tsconfig.node.json": "jsonc", "jsconfig.json": "jsonc", ".vscode/settings.json": "jsonc",
		"settings.json": "json", "turbo.json": "jsonc", "app/.babelrc": "",
		"a.yaml": "yaml", "a.yml": "yaml", "a.toml": "toml", "Cargo.lock": "toml", "Pipfile": "toml",
		"index.html": "html", "old.HTM": "html", "s.css": "css", "README.md": "markdown", "x.markdown": "markdown",
		`C:\src\app.py`: "python",
		"Makefile":      "", "x.scss": "", "x.txt": "", "Dockerfile": "", "x.json5": "", "x": "", "": "", "x.mdx": "",
	} {
		if got := Language(p); got != want {
			t.Errorf("Language(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"app.py", 12, 5, "expected ':'"}, "app.py:12:5: expected ':'"},
		{Problem{"a.json", 3, 0, "bad"}, "a.json:3: bad"},
		{Problem{"a.md", 0, 0, "bad"}, "a.md: bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestCheckAll(t *testing.T) {
	ps := CheckAll(map[string][]byte{
		"z.py":      []byte("x = (\n"),
		"a.json":    []byte("{\n\"a\": 1,\n}"),
		"ok.go":     []byte("package ok\n"),
		"b.yaml":    []byte("a: 1\na: 2\nb: 1\nb: 2\n"),
		"notes.txt": []byte("{{{ not checked"),
	})
	var got []string
	for _, p := range ps {
		got = append(got, p.Path+":"+strconv.Itoa(p.Line))
	}
	want := "a.json:3 b.yaml:2 b.yaml:4 z.py:1"
	if strings.Join(got, " ") != want {
		t.Errorf("CheckAll order = %v, want %s (%v)", got, want, ps)
	}
	if CheckAll(nil) != nil {
		t.Error("CheckAll(nil) != nil")
	}
}

func TestNotCheckedAndEmpty(t *testing.T) {
	for _, p := range []string{"a.go", "a.py", "a.js", "a.ts", "a.css", "a.yaml", "a.toml", "a.html", "a.md"} {
		if ps := Check(p, nil); ps != nil && !(p == "a.go") {
			t.Errorf("%s: empty file reported: %v", p, ps)
		}
	}
	if ps := Check("a.go", nil); len(ps) == 0 {
		t.Error("empty Go file (no package clause) not reported")
	}
	if ps := Check("a.json", []byte(" \n")); len(ps) != 1 || ps[0].Line != 2 {
		t.Errorf("blank JSON: %v", ps)
	}
	if ps := Check("big.js", []byte(strings.Repeat("x", MaxSize+1)+"(")); ps != nil {
		t.Errorf("file over MaxSize checked: %v", ps)
	}
	if ps := Check("x.txt", []byte("\xff")); ps != nil {
		t.Errorf("unchecked language reported: %v", ps)
	}
}

func TestInvalidUTF8(t *testing.T) {
	for _, p := range []string{"a.go", "a.py", "a.js", "a.json", "a.yaml", "a.toml", "a.html", "a.css", "a.md"} {
		ps := Check(p, []byte("ok\nab\xffcd\n"))
		if len(ps) != 1 || ps[0].Line != 2 || ps[0].Column != 3 || !strings.Contains(ps[0].Message, "UTF-8") {
			t.Errorf("%s: invalid UTF-8: %v", p, ps)
		}
	}
	// A PEP 263 declaration allows another encoding in Python.
	latin := []byte("# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n# \xe9\n")
	if ps := Check("a.py", latin); ps != nil {
		t.Errorf("latin-1 Python with a coding line: %v", ps)
	}
	// A byte order mark is fine except in plain JSON.
	for p, src := range map[string]string{"a.py": "x = 1\n", "a.yaml": "a: 1\n", "a.toml": "a = 1\n", "a.js": "let a\n",
		"a.go": "package a\n", "tsconfig.json": "{}", "a.css": "a{}", "a.html": "<p>x", "a.md": "# x"} {
		if ps := Check(p, []byte("\ufeff"+src)); ps != nil {
			t.Errorf("%s with a byte order mark: %v", p, ps)
		}
	}
	if ps := Check("a.json", []byte("\ufeff{}")); len(ps) != 1 {
		t.Errorf("JSON with a byte order mark: %v", ps)
	}
}

func TestMessagesAreShort(t *testing.T) {
	long := "x = '" + strings.Repeat("é", 400) + "\n"
	ps := Check("a.py", []byte(long))
	if len(ps) != 1 {
		t.Fatalf("%v", ps)
	}
	if got := oneLine(strings.Repeat("é", 400)); len(got) > maxMessage+3 || !strings.HasSuffix(got, "…") {
		t.Errorf("oneLine kept %d bytes", len(got))
	}
	many := strings.Repeat("x = )\n", 50)
	if ps := Check("a.py", []byte(many)); len(ps) != maxProblems {
		t.Errorf("%d problems, want at most %d", len(ps), maxProblems)
	}
}

// snippet is a case of a table test: src checked as one file.
type snippet struct {
	Name string
	Src  string
	Line int    // 0: valid
	Msg  string // a part of the first problem's message
}

func runSnippets(t *testing.T, path string, cases []snippet) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ps := Check(path, []byte(tc.Src))
			if tc.Line == 0 {
				if len(ps) != 0 {
					t.Fatalf("valid %s reported: %v", path, ps)
				}
				return
			}
			if len(ps) == 0 {
				t.Fatalf("invalid %s not reported", path)
			}
			if ps[0].Line != tc.Line || !strings.Contains(ps[0].Message, tc.Msg) {
				t.Fatalf("got %v, want line %d with %q", ps, tc.Line, tc.Msg)
			}
		})
	}
}
