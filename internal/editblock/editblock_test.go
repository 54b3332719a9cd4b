package editblock

import (
	"errors"
	"strings"
	"testing"
)

func TestIsDirect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"make the greeting friendlier", false},
		{"<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE", true},
		{"  <<<<<<< SEARCH\n", true},
		{"<<<< SEARCH", false},
		{"@@ -1,2 +1,2 @@\n a\n-b\n+c", true},
		{"use @@ decorators", false},
	} {
		if got := IsDirect(tc.in); got != tc.want {
			t.Errorf("IsDirect(%q) = %v", tc.in, got)
		}
	}
}

func TestReportShowsBlocksInAFenceTheirContentCannotClose(t *testing.T) {
	t.Parallel()
	_, err := Apply("README.md", []byte("x\n"), "README.md\n<<<<<<< SEARCH\n```\nnope\n```\n=======\ny\n>>>>>>> REPLACE\n")
	if err == nil || !strings.Contains(err.Error(), "````\n<<<<<<< SEARCH\n```\nnope") {
		t.Fatalf("report:\n%v", err)
	}
}

func TestResumeContinuesFromTheBlocksThatApplied(t *testing.T) {
	t.Parallel()
	orig := []byte("a\nb\nc\n")
	_, err := Apply("f", orig, "f\n<<<<<<< SEARCH\na\n=======\nA\n>>>>>>> REPLACE\nf\n<<<<<<< SEARCH\nbb\n=======\nB\n>>>>>>> REPLACE\n")
	var e *Error
	if !errors.As(err, &e) || len(e.Applied) != 1 || len(e.Failures) != 1 || e.Failures[0].Block != 2 {
		t.Fatalf("err %#v", err)
	}
	res, err := Resume(e, "f\n<<<<<<< SEARCH\nb\n=======\nB\n>>>>>>> REPLACE\n")
	if err != nil || string(res.Content) != "A\nB\nc\n" || !strings.Contains(res.Diff, "-a\n-b\n+A\n+B\n") {
		t.Fatalf("res %q %v\n%s", res.Content, err, res.Diff)
	}
}
