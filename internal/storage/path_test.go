package storage_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
)

func TestValidatePath(t *testing.T) {
	t.Parallel()
	valid := []string{
		"main.go", "src/util/x.go", "README", "a b/c d.txt", "q?x=1.txt", "a+b=c@d;e:f,g&h$i!j*k'l(m).txt",
		".env", "dir/.hidden", "..foo", "foo..", "a.../b", "_devbot.txt", "x/_devbot/y", "UPPER/Case.TXT",
		strings.Repeat("a", storage.MaxNameLen), strings.Repeat("abcdefgh/", 113) + "abcdefg", // 1024
	}
	for _, p := range valid {
		if err := storage.ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%.40q) = %v, want nil", p, err)
		}
	}
	invalid := []struct{ path, msg string }{
		{"", "the path is empty"},
		{"/etc/passwd", "the path may not start with '/'"},
		{"dir/", "the path may not end with '/'"},
		{"a//b", "the path may not contain '//'"},
		{"../x", "the path may not contain '..' as a folder or file name"},
		{"a/../b", "the path may not contain '..' as a folder or file name"},
		{"./a", "the path may not contain '.' as a folder or file name"},
		{"a/.", "the path may not contain '.' as a folder or file name"},
		{"x#y", "the path may not contain '#'"},
		{"100%", "the path may not contain '%'"},
		{"a~b", "the path may not contain '~'"},
		{"[x]", "the path may not contain '['"},
		{"a|b", "the path may not contain '|'"},
		{"a\"b", `the path may not contain '"'`},
		{"a<b", "the path may not contain '<'"},
		{"a`b", "the path may not contain '`'"},
		{"a^b", "the path may not contain '^'"},
		{"a{b", "the path may not contain '{'"},
		{`a\b`, `the path may not contain '\' (use '/' between folders)`},
		{"tab\there", "the path may not contain a tab"},
		{"line\nbreak", "the path may not contain a line break"},
		{"nul\x00", "the path may not contain a control character (U+0000)"},
		{"café.txt", "the path may not contain 'é': file names may use only ASCII (letters A-Z and a-z, digits, spaces and _ - . / ! * ' ( ) & $ = @ ; : + , ?), because Supabase Storage, where files are kept, refuses other characters. cafe.txt would do"},
		{"数据/a.go", "the path may not contain '数': file names may use only ASCII (letters A-Z and a-z, digits, spaces and _ - . / ! * ' ( ) & $ = @ ; : + , ?), because Supabase Storage, where files are kept, refuses other characters. __/a.go would do"},
		{"bad\xffutf8", "the path is not valid UTF-8"},
		{" lead.txt", "the path may not start or end with a space"},
		{"trail.txt ", "the path may not start or end with a space"},
		{strings.Repeat("a", storage.MaxNameLen+1), "a folder or file name may be at most 255 characters"},
		{strings.Repeat("a/", 512) + "b", "the path is too long (1025 characters; at most 1024)"},
		{"_devbot/blobs/0123", "paths under '_devbot/' are reserved for devbot's version history"},
		{"_DevBot/x", "paths under '_devbot/' are reserved for devbot's version history"},
		{"_devbot", "paths under '_devbot/' are reserved for devbot's version history"},
	}
	for _, c := range invalid {
		err := storage.ValidatePath(c.path)
		var pe *storage.PathError
		if !errors.As(err, &pe) || pe.Error() != c.msg {
			t.Errorf("ValidatePath(%.40q) = %v, want %q", c.path, err, c.msg)
			continue
		}
		if !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) {
			t.Errorf("ValidatePath(%.40q): %v is not a permanent fault.ErrInvalid", c.path, err)
		}
	}
}

// supabaseAccepts is the server's key rule, written independently of the
// validator: the fuzz target checks the validator never lets through a key
// the server (or the database's CHECK) would refuse.
func supabaseAccepts(p string) bool {
	if p == "" || len(p) > storage.MaxPathLen || strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || seg == "" {
			return false
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_/!.*'() &$=@;:+,?-", c) >= 0) {
			return false
		}
	}
	return true
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"main.go", "a/b/c.txt", "../x", "a//b", "_devbot/blobs/x", "q?x=1", "é", "a\\b", " x", "dir/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := storage.ValidatePath(p)
		if err == nil {
			if !supabaseAccepts(p) {
				t.Fatalf("ValidatePath(%q) accepted a key the server refuses", p)
			}
			first, _, _ := strings.Cut(p, "/")
			if strings.EqualFold(first, "_devbot") {
				t.Fatalf("ValidatePath(%q) accepted a reserved path", p)
			}
			return
		}
		var pe *storage.PathError
		if !errors.As(err, &pe) || pe.Reason == "" || !utf8.ValidString(pe.Reason) {
			t.Fatalf("ValidatePath(%q) = %v: want a *PathError with a readable reason", p, err)
		}
		if !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) {
			t.Fatalf("ValidatePath(%q) = %v: not permanent invalid", p, err)
		}
	})
}

func BenchmarkValidatePath(b *testing.B) {
	paths := []string{"main.go", "src/internal/storage/supabase_test.go", strings.Repeat("abcdefgh/", 100) + "x.txt", "bad#path"}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			_ = storage.ValidatePath(p)
		}
	}
}

// SuggestPath turns a refused path into one Storage accepts, keeping what
// it can: accents are dropped, other refused characters become '_'.
func TestSuggestPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"résumé.md": "resume.md", "café/Über.txt": "cafe/Uber.txt", "数据.go": "__.go", "a#b.go": "a_b.go",
		"ok.go": "ok.go", "naïve\tname": "naive_name", "e\u0301.txt": "e.txt",
	} {
		got := storage.SuggestPath(in)
		if got != want {
			t.Errorf("SuggestPath(%q) = %q, want %q", in, got, want)
		}
		if storage.ValidatePath(got) != nil {
			t.Errorf("SuggestPath(%q) = %q is refused: %v", in, got, storage.ValidatePath(got))
		}
	}
}
