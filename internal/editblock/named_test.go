package editblock

import (
	"strings"
	"testing"
)

func TestNamed(t *testing.T) {
	t.Parallel()
	block := "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
	create := "<<<<<<< SEARCH\n=======\nb\n>>>>>>> REPLACE\n"
	for _, tc := range []struct {
		reply   string
		names   string
		creates bool
	}{
		{"app.py\n```python\n" + block + "```\n", "app.py", false},
		{"app.py\n" + block + "\n" + block, "app.py", false},          // the second reuses the name
		{"```python:src/x.py\n" + block + "```\n", "src/x.py", false}, // in the fence
		{"Here is the updated `lib/y.go`:\n```go\n" + block, "lib/y.go", false},
		{"Use `os.path.join` here:\n```python\n" + block, "", false}, // an API, not a file
		{"a.py\n" + block + "b.py\n" + create, "a.py b.py", true},
		{block, "", false},
		{"no blocks at all", "", false},
	} {
		names, creates := Named(tc.reply)
		if strings.Join(names, " ") != tc.names || creates != tc.creates {
			t.Errorf("Named(%q) = %q, %v; want %q, %v", tc.reply, names, creates, tc.names, tc.creates)
		}
	}
}

func TestNameMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"app.py", "app.py", matchStrict},
		{"app.py", "src/app.py", matchStrict},          // Aider's base-name rule
		{"./src/app.py", "src/app.py", matchStrict},    //
		{"proj/src/app.py", "src/app.py", matchStrict}, // a longer path ending in the target
		{"src/app.py", "/tmp/x/app.py", matchBase},     // same base name, other directory
		{`src\app.py`, "src/app.py", matchStrict},      // Windows separators
		{"handler.py", "handlers.py", matchClose},      // a close spelling
		{"path/to/file2.txt", "path/to/file1.txt", matchClose},
		{"utils.py", "app.py", matchNone},
		{"the app.py file", "app.py", matchNone},
		{"", "app.py", matchNone},
	} {
		if got := nameMatch(tc.name, tc.target); got != tc.want {
			t.Errorf("nameMatch(%q, %q) = %d, want %d", tc.name, tc.target, got, tc.want)
		}
	}
}

// A block that creates a file never matches by close spelling, and no block
// does when another block names the file exactly.
func TestLooseNamesAreLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ reply, want string }{
		{"file2.txt\n<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE\n", "this block edits file2.txt"},
		{"file1.txt\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\nfile2.txt\n<<<<<<< SEARCH\nb\n=======\nc\n>>>>>>> REPLACE\n", "this block edits file2.txt"},
	} {
		_, err := Apply("file1.txt", []byte("a\n"), tc.reply)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a refusal with %q", tc.reply, err, tc.want)
		}
	}
	// Alone, a close spelling with a SEARCH designates the file.
	res, err := Apply("file1.txt", []byte("a\n"), "file2.txt\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n")
	if err != nil || string(res.Content) != "b\n" {
		t.Errorf("close spelling: %q, %v", res.Content, err)
	}
}

func FuzzNamed(f *testing.F) {
	f.Add("app.py\n```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n")
	f.Add("Here is `x.go`:\n<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE")
	f.Fuzz(func(t *testing.T, reply string) {
		names, _ := Named(reply)
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || seen[n] {
				t.Fatalf("names %q: empty or repeated", names)
			}
			seen[n] = true
		}
	})
}
