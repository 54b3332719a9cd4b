package bot_test

import (
	"fmt"
	"regexp"
	"strconv"
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
	for _, tt := range []struct{ in, cmd, bot, args string }{
		{"/balance@OtherBot", "balance", "OtherBot", ""},
		{"/get@devbot_test_bot a b.py", "get", "devbot_test_bot", "a b.py"},
		{"/help", "help", "", ""},
		{"/help@", "", "", "/help@"},
		{"/help@bad-name x", "", "", "/help@bad-name x"},
	} {
		cmd, name, args := bot.ParseCommandTo(tt.in)
		if cmd != tt.cmd || name != tt.bot || args != tt.args {
			t.Errorf("ParseCommandTo(%q) = %q, %q, %q; want %q, %q, %q", tt.in, cmd, name, args, tt.cmd, tt.bot, tt.args)
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
		if r.Forwarded && r.Command != "" {
			t.Fatalf("forwarded text read as command %q", r.Command)
		}
		if r.CallbackData != "" && r.Callback.String() != r.CallbackData {
			t.Fatalf("callback data %q kept as %+v", r.CallbackData, r.Callback)
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

// callbackOracle is the callback grammar written independently of
// ParseCallback: the fuzz target checks both agree on every input.
var callbackOracle = regexp.MustCompile(`^(?:(?:undo|diff|retry|restore|redo|redoset|bstart|bchange|bcancel|bpause|bresume|bretry|bskip):[1-9][0-9]{0,18}|buy:(?:0|[1-9][0-9]?))$`)

func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"undo:42", "diff:1", "retry:7", "buy:0", "buy:1e3", "buy:01", "undo:+5", "undo:-1",
		"diff:9223372036854775808", "buy:100", "undo:٣", "undo:42\x00", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := bot.ParseCallback(data)
		want := callbackOracle.MatchString(data)
		if want {
			_, num, _ := strings.Cut(data, ":")
			if _, perr := strconv.ParseInt(num, 10, 64); perr != nil {
				want = false // beyond int64
			}
		}
		if (err == nil) != want {
			t.Fatalf("ParseCallback(%q) = %+v, %v; the grammar says ok=%v", data, c, err, want)
		}
		if err == nil && c.String() != data {
			t.Fatalf("ParseCallback(%q) = %+v, which reads back as %q", data, c, c.String())
		}
	})
}

// Mentions reads Telegram's mention entities, whose offsets count UTF-16
// units, and nothing else: text that merely contains @name is no mention.
func TestMentionsBot(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text     string
		entities string
		want     bool
	}{
		{"@devbot hi", `[{"type":"mention","offset":0,"length":7}]`, true},
		{"hi @DevBot", `[{"type":"mention","offset":3,"length":7}]`, true},
		{"😀 @devbot", `[{"type":"mention","offset":3,"length":7}]`, true}, // 😀 is 2 UTF-16 units
		{"@devbotx hi", `[{"type":"mention","offset":0,"length":8}]`, false},
		{"@devbot hi", `[]`, false}, // no entity: Telegram did not see a mention
		{"@devbot hi", `[{"type":"bold","offset":0,"length":7}]`, false},
		{"@devbot", `[{"type":"mention","offset":5,"length":7}]`, false}, // out of range
		{"@devbot", `[{"type":"mention","offset":-1,"length":7}]`, false},
	} {
		data := fmt.Sprintf(`{"update_id":1,"message":{"message_id":1,"from":{"id":5,"first_name":"A"},`+
			`"chat":{"id":-5,"type":"group"},"date":1,"text":%q,"entities":%s}}`, tt.text, tt.entities)
		u, err := telegram.ParseUpdate([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		r, ok := bot.ParseRequest(u)
		if !ok {
			t.Fatalf("%q: not a request", tt.text)
		}
		if got := r.Mentions("devbot"); got != tt.want {
			t.Errorf("%q %s: Mentions = %v, want %v", tt.text, tt.entities, got, tt.want)
		}
		if r.Mentions("") {
			t.Errorf("%q: mentions the empty name", tt.text)
		}
	}
}
