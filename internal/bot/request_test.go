package bot_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/telegram"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, cmd, args string }{
		{"/start", "start", ""},
		{"/refine@devbot main.go add x", "refine", "main.go add x"},
		{"/REFINE a.go\n<<<<<<< SEARCH\nx", "refine", "a.go\n<<<<<<< SEARCH\nx"},
		{"hello there", "", "hello there"},
		{"/", "", "/"},
		{"/ü x", "", "/ü x"},
		{"  /help  ", "help", ""},
	}
	for _, tt := range tests {
		cmd, args := bot.ParseCommand(tt.in)
		if cmd != tt.cmd || args != tt.args {
			t.Errorf("ParseCommand(%q) = %q, %q; want %q, %q", tt.in, cmd, args, tt.cmd, tt.args)
		}
	}
}

func FuzzParseUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id":700000001,"message":{"message_id":42,"from":{"id":111111111,"is_bot":false,"first_name":"Ann"},"chat":{"id":111111111,"type":"private"},"date":1764000000,"text":"/refine main.go add error handling","entities":[{"offset":0,"length":7,"type":"bot_command"}]}}`))
	f.Add([]byte(`{"update_id":3,"callback_query":{"id":"q","from":{"id":5,"first_name":"B"},"data":"undo:7","message":{"message_id":1,"chat":{"id":5}}}}`))
	f.Add([]byte(`{"update_id":4,"message":{"message_id":1,"from":{"id":5},"chat":{"id":5},"document":{"file_id":"f","file_name":"a.go","file_size":10},"caption":"src/a.go"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := telegram.ParseUpdate(data)
		if err != nil {
			return
		}
		r, ok := bot.ParseRequest(u)
		if !ok {
			return
		}
		if r.ChatID == 0 || r.From.ID == 0 {
			t.Fatalf("request without chat or sender: %+v", r)
		}
		if r.Command != "" && (strings.ContainsAny(r.Command, " /@\n") || strings.ToLower(r.Command) != r.Command) {
			t.Fatalf("bad command %q", r.Command)
		}
		if utf8.ValidString(r.Args) && r.Args != strings.TrimSpace(r.Args) {
			t.Fatalf("args not trimmed: %q", r.Args)
		}
		first, rest := bot.SplitFirst(r.Args)
		if strings.ContainsFunc(first, func(r rune) bool { return r == ' ' || r == '\n' }) || rest != strings.TrimSpace(rest) {
			t.Fatalf("SplitFirst(%q) = %q, %q", r.Args, first, rest)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	data := []byte(`{"update_id":700000001,"message":{"message_id":42,"from":{"id":111111111,"is_bot":false,"first_name":"Ann"},"chat":{"id":111111111,"type":"private"},"date":1764000000,"text":"/refine main.go add error handling"}}`)
	for b.Loop() {
		u, err := telegram.ParseUpdate(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := bot.ParseRequest(u); !ok {
			b.Fatal("no request")
		}
	}
}
