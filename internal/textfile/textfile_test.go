package textfile_test

import (
	"testing"

	"github.com/devbot-hq/devbot/internal/textfile"
)

func TestIs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"": true, "package main\n": true, "café ☕\n": true,
		"a\x00b": false, "\x89PNG\r\n\x1a\n": false, "\xff\xfe": false,
	} {
		if got := textfile.Is([]byte(in)); got != want {
			t.Errorf("Is(%q) = %v, want %v", in, got, want)
		}
	}
}
