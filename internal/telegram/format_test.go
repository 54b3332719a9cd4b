package telegram_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/telegram"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"lines", "aaaa\nbbbb\ncccc", 10, []string{"aaaa\nbbbb", "cccc"}},
		{"words", "aaa bbb ccc", 8, []string{"aaa bbb", "ccc"}},
		{"hard", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"emoji counts two", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"empty", "", 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := telegram.Split(tt.text, tt.limit)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("Split(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world\nsecond line", 5)
	f.Add("😀a😀b", 3)
	f.Add(strings.Repeat("x", 5000), 4096)
	f.Add("ab\xffcd\n\xc3 e", 3) // invalid UTF-8: one unit per bad byte
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 2 || limit > 10000 {
			return
		}
		parts := telegram.Split(text, limit)
		if telegram.UTF16Len(text) <= limit && strings.TrimSpace(text) != "" && len(parts) != 1 {
			t.Fatalf("a text that fits was cut in %d parts", len(parts))
		}
		for _, p := range parts {
			if telegram.UTF16Len(p) > limit {
				t.Fatalf("part of %d units > %d", telegram.UTF16Len(p), limit)
			}
		}
		// nothing but whitespace is lost
		joined := strings.Join(strings.Fields(strings.Join(parts, " ")), "")
		if want := strings.Join(strings.Fields(text), ""); joined != want {
			t.Fatalf("content lost: %q vs %q", joined, want)
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	text := strings.Repeat("a line of a diff, quite ordinary\n", 1000)
	for b.Loop() {
		telegram.Split(text, telegram.MaxMessageLength)
	}
}

// BenchmarkSplitLarge splits a 1 MB text, where recounting the remaining
// text on every cut would be quadratic.
func BenchmarkSplitLarge(b *testing.B) {
	text := strings.Repeat("a line of a diff, quite ordinary\n", 32000)
	for _, limit := range []int{telegram.MaxMessageLength, 100} {
		b.Run(strconv.Itoa(limit), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				telegram.Split(text, limit)
			}
		})
	}
}
