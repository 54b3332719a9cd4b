package projectmap_test

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/projectmap"
)

// bigProject is a synthetic project of n files in n/20 directories: Go and
// Python sources with a few definitions each, Markdown and JSON.
func bigProject(n int) (projectmap.MapReader, []projectmap.FileInfo) {
	r := projectmap.MapReader{}
	for i := range n {
		dir := fmt.Sprintf("pkg/mod%03d", i/20)
		var p, body string
		switch i % 4 {
		case 0:
			p = fmt.Sprintf("%s/file%04d.go", dir, i)
			body = fmt.Sprintf("package mod\n\n// Thing%[1]d does work.\ntype Thing%[1]d struct{ n int }\n\nfunc NewThing%[1]d() *Thing%[1]d { return &Thing%[1]d{} }\n\nfunc (t *Thing%[1]d) Run(ctx context.Context) error {\n\treturn nil\n}\n%[2]s", i, strings.Repeat("// filler line of commentary\n", 20))
		case 1:
			p = fmt.Sprintf("%s/file%04d.py", dir, i)
			body = fmt.Sprintf("class Model%[1]d:\n    def save(self):\n        pass\n\n\ndef helper_%[1]d(x):\n    return x\n%[2]s", i, strings.Repeat("# filler\n", 20))
		case 2:
			p = fmt.Sprintf("%s/notes%04d.md", dir, i)
			body = fmt.Sprintf("# Notes %d\n\n%s", i, strings.Repeat("Some prose about the module.\n", 15))
		default:
			p = fmt.Sprintf("%s/data%04d.json", dir, i)
			body = fmt.Sprintf("{\"id\": %d, \"values\": [1, 2, 3]}\n", i)
		}
		r[p] = []byte(body)
	}
	return r, infos(r)
}

func infos(r projectmap.MapReader) []projectmap.FileInfo {
	var fs []projectmap.FileInfo
	for p, b := range r {
		fs = append(fs, projectmap.FileInfo{Path: p, Size: int64(len(b))})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	return fs
}

// fixedSearch returns the same hits for any query.
type fixedSearch []projectmap.Hit

func (f fixedSearch) Search(_ context.Context, terms []string, limit int) ([]projectmap.Hit, error) {
	if len(terms) == 0 {
		return nil, fmt.Errorf("no terms")
	}
	if len(f) > limit {
		return f[:limit], nil
	}
	return f, nil
}

// countingReader records which files were read.
type countingReader struct {
	projectmap.MapReader
	mu   sync.Mutex
	read map[string]int
}

func (c *countingReader) ReadFile(ctx context.Context, p string) ([]byte, error) {
	c.mu.Lock()
	if c.read == nil {
		c.read = map[string]int{}
	}
	c.read[p]++
	c.mu.Unlock()
	return c.MapReader.ReadFile(ctx, p)
}

var summaryRe = regexp.MustCompile(`(?m)^… and ([\d,]+) more files? in ([\d,]+) director(?:y|ies), (.+)$`)

func TestBuildTwoThousandFilesStaysWithinBudget(t *testing.T) {
	ctx := context.Background()
	files, list := bigProject(2000)
	outlines, err := projectmap.ComputeOutlines(ctx, files, list, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 8000
	b := &projectmap.Builder{
		Reader:  files,
		Search:  fixedSearch{{Path: "pkg/mod050/file1001.py", Rank: 2}, {Path: "pkg/mod099/file1980.go", Rank: 1}},
		Options: projectmap.Options{TokenBudget: budget},
	}
	c, err := b.Build(ctx, projectmap.Request{
		Files:       list,
		Instruction: "make file0400.go use helper_1001 from pkg/mod007/file0141.py",
		Pinned:      []string{"pkg/mod001/notes0022.md"},
		Outlines:    outlines,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := c.Render()
	if got := projectmap.EstimateString(out); got > budget || c.Tokens != got {
		t.Errorf("rendered %d tokens (Context.Tokens %d), budget %d", got, c.Tokens, budget)
	}
	if c.Tokens < budget*9/10 {
		t.Errorf("used only %d of %d tokens on a project that does not fit", c.Tokens, budget)
	}
	var got []string
	for _, f := range c.Files {
		got = append(got, string(f.Reason)+":"+f.Path)
	}
	want := "named:pkg/mod020/file0400.go,named:pkg/mod007/file0141.py,pinned:pkg/mod001/notes0022.md," +
		"relevant:pkg/mod050/file1001.py,relevant:pkg/mod099/file1980.go"
	if strings.Join(got, ",") != want {
		t.Errorf("files in full:\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
	for _, f := range c.Files {
		if !strings.Contains(out, f.Path+"\n```\n"+string(f.Content)+"```\n") {
			t.Errorf("%s is not rendered whole with its path on the line before the fence", f.Path)
		}
	}

	// The map lists some files and says exactly what it left out.
	if len(c.Map)+c.Left.Files != 2000 || c.Left.Files == 0 {
		t.Fatalf("map lists %d, leaves out %d, of 2000", len(c.Map), c.Left.Files)
	}
	listed := map[string]bool{}
	for _, e := range c.Map {
		listed[e.Path] = true
	}
	var bytes int64
	dirs := map[string]bool{}
	for _, f := range list {
		if !listed[f.Path] {
			bytes += f.Size
			dirs[path.Dir(f.Path)] = true
		}
	}
	if c.Left.Bytes != bytes || c.Left.Dirs != len(dirs) {
		t.Errorf("left out %d bytes in %d dirs, counted %d in %d", c.Left.Bytes, c.Left.Dirs, bytes, len(dirs))
	}
	m := summaryRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in the map:\n%s", tail(out))
	}
	if m[1] != formatCount(c.Left.Files) || m[2] != formatCount(c.Left.Dirs) {
		t.Errorf("summary %q, want %d files in %d directories", m[0], c.Left.Files, c.Left.Dirs)
	}
	// Files in full and search hits are listed first; some outlines made it.
	for _, p := range []string{"pkg/mod020/file0400.go", "pkg/mod050/file1001.py", "pkg/mod099/file1980.go"} {
		if !listed[p] {
			t.Errorf("%s is not in the map", p)
		}
	}
	if !strings.Contains(out, "│type Thing") {
		t.Errorf("no outline in the map")
	}
}

func formatCount(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

func TestBuildNeverSplitsAFileAndSaysWhatItOmitted(t *testing.T) {
	ctx := context.Background()
	files := &countingReader{MapReader: projectmap.MapReader{
		"big/huge.sql":    []byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 4000)), // ~26 KB
		"src/medium.py":   []byte(strings.Repeat("x = 1\n", 600)),                      // ~3.6 KB, ~900 tokens
		"src/small.py":    []byte("def small():\n    pass\n"),
		"assets/logo.png": []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
	}}
	b := &projectmap.Builder{Reader: files, Search: fixedSearch{{Path: "src/deleted.py", Rank: 2}, {Path: "src/medium.py", Rank: 1}},
		Options: projectmap.Options{TokenBudget: 600}}
	c, err := b.Build(ctx, projectmap.Request{
		Files:       infos(files.MapReader),
		Instruction: "trim huge.sql and resize logo.png",
		Pinned:      []string{"src/small.py", "src/gone.py"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := c.Render()
	if c.Tokens > 600 {
		t.Errorf("%d tokens over 600", c.Tokens)
	}
	if len(c.Files) != 1 || c.Files[0].Path != "src/small.py" {
		t.Errorf("files in full %v, want only src/small.py", c.Files)
	}
	want := map[string]string{
		"big/huge.sql":    "named:too large for the context",
		"assets/logo.png": "named:binary",
		"src/gone.py":     "pinned:not in the project",
		"src/medium.py":   "relevant:too large for the context",
	}
	for _, o := range c.Omitted {
		if want[o.Path] != string(o.Reason)+":"+o.Why {
			t.Errorf("omitted %s as %s:%s, want %s", o.Path, o.Reason, o.Why, want[o.Path])
		}
		delete(want, o.Path)
	}
	if len(want) != 0 {
		t.Errorf("not listed as omitted: %v", want)
	}
	if !strings.Contains(out, "- big/huge.sql (102 KB), named: too large for the context\n") {
		t.Errorf("the omitted line lacks the size:\n%s", out)
	}
	if strings.Contains(out, "INSERT INTO") || strings.Contains(out, "x = 1") {
		t.Errorf("part of an omitted file's text is in the context")
	}
	// A file that cannot fit by its size is not even read.
	if files.read["big/huge.sql"] != 0 || files.read["src/medium.py"] != 0 {
		t.Errorf("files too large by size were read: %v", files.read)
	}
}

func TestBuildPriorityNamedPinnedRelevant(t *testing.T) {
	ctx := context.Background()
	text := strings.Repeat("line of text\n", 100) // 1,300 bytes, 325 tokens
	files := projectmap.MapReader{"a/named.go": []byte(text), "b/pinned.go": []byte(text), "c/relevant.go": []byte(text)}
	// Room for two of the three.
	for _, tc := range []struct {
		budget int
		want   string
	}{
		{budget: 800, want: "a/named.go,b/pinned.go"},
		{budget: 500, want: "a/named.go"},
		{budget: 2000, want: "a/named.go,b/pinned.go,c/relevant.go"},
	} {
		b := &projectmap.Builder{Reader: files, Search: fixedSearch{{Path: "c/relevant.go"}, {Path: "a/named.go"}},
			Options: projectmap.Options{TokenBudget: tc.budget}}
		c, err := b.Build(ctx, projectmap.Request{Files: infos(files), Instruction: "change named.go", Pinned: []string{"b/pinned.go"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range c.Files {
			got = append(got, f.Path)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("budget %d: in full %v, want %s", tc.budget, got, tc.want)
		}
		if c.Tokens > tc.budget {
			t.Errorf("budget %d: used %d", tc.budget, c.Tokens)
		}
	}
}

func TestBuildFocusAndFences(t *testing.T) {
	readme := "# Readme\n\n```go\nfmt.Println()\n```\n"
	files := projectmap.MapReader{"README.md": []byte(readme), "main.go": []byte("package main")}
	b := &projectmap.Builder{Reader: files}
	c, err := b.Build(context.Background(), projectmap.Request{Files: infos(files), Focus: "README.md", Instruction: "also see main.go"})
	if err != nil {
		t.Fatal(err)
	}
	out := c.Render()
	if !strings.Contains(out, "README.md\n````\n"+readme+"````\n") {
		t.Errorf("a file with its own fences is not wrapped in a longer fence:\n%s", out)
	}
	// A file without a final newline still closes its fence on a line of its own.
	if !strings.Contains(out, "main.go\n```\npackage main\n```\n") {
		t.Errorf("main.go not rendered as expected:\n%s", out)
	}
	if c.Files[0].Path != "README.md" {
		t.Errorf("the focus is not first: %v", c.Files[0].Path)
	}
	if !strings.Contains(out, "README.md (34 B, in full below)\n") {
		t.Errorf("the map does not mark files in full:\n%s", out)
	}
}

func TestMentioned(t *testing.T) {
	files := []projectmap.FileInfo{
		{Path: "internal/server/routes.go"}, {Path: "cmd/run"}, {Path: "a/utils.py"}, {Path: "b/utils.py"},
		{Path: "web/app.js"}, {Path: "Makefile"}, {Path: "docs/read_me.txt"},
	}
	got := projectmap.Mentioned("In `internal/server/routes.go`, call app.js's init (see \"read_me.txt\"); fix utils.py, run Makefile.", files)
	want := "internal/server/routes.go,docs/read_me.txt,Makefile"
	if strings.Join(got, ",") != want {
		t.Errorf("mentioned %v, want %s (app.js's is not app.js; utils.py is ambiguous; run is a word, Makefile a whole path)", got, want)
	}
	if got := projectmap.Mentioned("edit ./web/app.js: and a\\utils.py", files); strings.Join(got, ",") != "web/app.js,a/utils.py" {
		t.Errorf("normalized paths: %v", got)
	}
}

func TestTermsSplitIdentifiers(t *testing.T) {
	cases := map[string]string{
		"HealthHandler":                 "healthhandler health handler",
		"health_handler":                "healthhandler health handler",
		"parseHTTPRequest":              "parsehttprequest parse http request",
		"utf8Decode v2":                 "utf8decode utf8 decode v2",
		"__init__":                      "init",
		"/health endpoint!":             "health endpoint",
		"Größe_Wert":                    "größewert größe wert",
		strings.Repeat("a", 60) + " ok": "ok",
	}
	for in, want := range cases {
		if got := strings.Join(projectmap.Terms(in), " "); got != want {
			t.Errorf("Terms(%q) = %q, want %q", in, got, want)
		}
	}
	if got := projectmap.QueryTerms("add add Add a health"); strings.Join(got, " ") != "add a health" {
		t.Errorf("QueryTerms dedup: %v", got)
	}
}

func TestEstimateTokens(t *testing.T) {
	cases := map[string]int{
		"":               0,
		"abcd":           1,
		"abcde":          2,
		"привет":         6, // one per non-ASCII character
		"日本語":            3,
		"func main() {}": 4,
	}
	for in, want := range cases {
		if got := projectmap.EstimateTokens([]byte(in)); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", in, got, want)
		}
		if projectmap.EstimateString(in) != projectmap.EstimateTokens([]byte(in)) {
			t.Errorf("EstimateString and EstimateTokens differ on %q", in)
		}
	}
	// Additive: a concatenation never costs more than its parts.
	parts := []string{"abc", "de", "привет", "x", "", "long enough text"}
	for _, a := range parts {
		for _, b := range parts {
			if projectmap.EstimateString(a+b) > projectmap.EstimateString(a)+projectmap.EstimateString(b) {
				t.Errorf("estimate of %q+%q exceeds the parts'", a, b)
			}
		}
	}
}

func TestBuildTinyBudgetIsRaisedToTheMinimum(t *testing.T) {
	files, list := bigProject(300)
	for _, budget := range []int{1, 100, projectmap.MinTokenBudget} {
		b := &projectmap.Builder{Reader: files, Options: projectmap.Options{TokenBudget: budget}}
		c, err := b.Build(context.Background(), projectmap.Request{Files: list, Instruction: "edit file0000.go"})
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if c.Budget != projectmap.MinTokenBudget || c.Tokens > projectmap.MinTokenBudget {
			t.Errorf("budget %d: context budget %d, used %d", budget, c.Budget, c.Tokens)
		}
		if !summaryRe.MatchString(c.Render()) {
			t.Errorf("budget %d: no summary of what was left out", budget)
		}
	}
}

// TestBuildWithinEveryBudget sweeps budgets from the minimum to more than
// the project needs: the context never exceeds its budget, and a budget
// large enough for everything leaves nothing out.
func TestBuildWithinEveryBudget(t *testing.T) {
	ctx := context.Background()
	files, list := bigProject(400)
	outlines, err := projectmap.ComputeOutlines(ctx, files, list, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	req := projectmap.Request{Files: list, Instruction: "fix file0040.go and notes0002.md", Pinned: []string{"pkg/mod003/file0061.py"}, Outlines: outlines}
	hits := fixedSearch{{Path: "pkg/mod010/file0201.py", Rank: 3}, {Path: "pkg/mod019/data0399.json", Rank: 1}}
	for budget := projectmap.MinTokenBudget; budget <= 60000; budget = budget*5/4 + 7 {
		b := &projectmap.Builder{Reader: files, Search: hits, Options: projectmap.Options{TokenBudget: budget}}
		c, err := b.Build(ctx, req)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if got := projectmap.EstimateString(c.Render()); got > budget {
			t.Errorf("budget %d: rendered %d tokens", budget, got)
		}
		if budget > 59000 && (c.Left.Files != 0 || c.Left.Outlines != 0 || len(c.Files) != 5 || len(c.Omitted) != 0) {
			t.Errorf("budget %d: left out %+v, %d in full, %d omitted", budget, c.Left, len(c.Files), len(c.Omitted))
		}
	}
}
