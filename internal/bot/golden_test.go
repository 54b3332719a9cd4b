package bot_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenConversation renders the main commands' replies, as UX.md's
// sample conversation goes, and compares them with testdata/conversation.golden
// (go test -run Golden -update rewrites it).
func TestGoldenConversation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	script := []string{"/start", "/help", "/new api", "DOC cmd/main.go", "/files", "/open cmd/main.go",
		"return an error instead of panicking when the config file is missing", "/refine cmd/nope.go add logging",
		"/history cmd/main.go", "/balance", "/projects", "/use nope", "/undo cmd/main.go", "hello", "/frobnicate", "/setkey x",
		"/refine cmd/main.go", "/new api", "/diff 999", "/delkey", "/buy", "/close", "hello again"}
	golden(t, f, "conversation.golden", script)
}

// TestGoldenChats renders what reaches the bot from outside a plain private
// conversation (groups, forwards, media, files Telegram will not hand over,
// names with spaces or accents) against testdata/chats.golden.
func TestGoldenChats(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.NoModel = true })
	withBilling(f)
	f.rebuild(func(_ *bot.Config, d *bot.Deps) { d.ValidatePath = storage.ValidatePath })
	at := "@" + telegramtest.Username
	script := []string{"/start", "PHOTO", "/new café", "DOC a b.py", "/refine a b.py add a docstring",
		`/open "a b.py"`, `/get "a b.py`, "PHOTO", "STICKER", "VOICE", "FWD /undo a b.py", "FWD make it shorter",
		"FWDDOC util.go", "DOC résumé.md", "DOCBIG big.log", "DOCGONE notes.txt", "/buy 7", "/buy 1e3", "TAP buy:1e3",
		"TAP undo:+5", "GROUP /balance@OtherBot", "GROUP /balance" + at, "GROUP /get" + at + " a b.py", "GROUP /help" + at,
		"GROUP /start" + at, "GROUP /setkey" + at + " sk-live-abcdefgh12345", "GROUP hello", "GROUP " + at + " hello", "GROUP hello@devbot_test_bot", "GROUPJOIN", "GROUPSTICKER",
		"/new données", "/start", "/delkey", "/setkey sk-abcdefgh12345", "/delkey", "/new a b"}
	golden(t, f, "chats.golden", script)
}

// golden plays script as one user and compares the replies with
// testdata/name. A line is a message, or a special step: DOC PATH (a
// file named PATH), FWDDOC NAME (a forwarded file with someone's caption),
// DOCBIG/DOCGONE NAME (a file Telegram will not hand over: too big, gone),
// FWD TEXT, GROUP TEXT (from a supergroup), GROUPJOIN (a member joined the
// supergroup), GROUPSTICKER, TAP DATA (a button), PHOTO, STICKER, VOICE.
func golden(t *testing.T, f *fixture, name string, script []string) {
	t.Helper()
	const ann = 77
	content := []byte("package main\n\nfunc main() {}\n")
	bob := map[string]any{"id": 999, "is_bot": false, "first_name": "Bob"}
	origin := map[string]any{"forward_origin": map[string]any{"type": "user", "sender_user": bob, "date": 1763990000},
		"forward_from": bob, "forward_date": 1763990000}
	media := func(kind string, v any) map[string]any {
		u := f.message(ann, "")
		m := u["message"].(map[string]any)
		delete(m, "text")
		m[kind] = v
		return u
	}
	var sb strings.Builder
	for _, line := range script {
		verb, arg, _ := strings.Cut(line, " ")
		var got []string
		who := "bot: "
		switch verb {
		case "DOC":
			if strings.Contains(arg, "/") { // a path: sent as main.go with the path as its caption
				got = f.do(ann, f.document(ann, "main.go", arg, content))
			} else {
				got = f.do(ann, f.document(ann, arg, "", content))
			}
		case "FWDDOC":
			d := f.document(ann, arg, "look, the fix we talked about", content)
			for k, v := range origin {
				d["message"].(map[string]any)[k] = v
			}
			got = f.do(ann, d)
		case "DOCBIG", "DOCGONE":
			f.tg.Fail("getFile", 400, map[string]string{"DOCBIG": "Bad Request: file is too big",
				"DOCGONE": "Bad Request: wrong file_id or the file is temporarily unavailable"}[verb], 0)
			d := f.document(ann, arg, "", content)
			delete(d["message"].(map[string]any)["document"].(map[string]any), "file_size")
			got = f.do(ann, d)
		case "FWD":
			got = f.do(ann, f.forwarded(ann, arg, origin))
		case "GROUP":
			got, who = f.doIn(groupID, f.inGroup(ann, arg)), "bot (in the group): "
		case "GROUPJOIN":
			got, who = f.doIn(groupID, f.joined(ann)), "bot (in the group): "
		case "GROUPSTICKER":
			u := f.inGroup(ann, "")
			m := u["message"].(map[string]any)
			delete(m, "text")
			m["sticker"] = map[string]any{"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512}
			got, who = f.doIn(groupID, u), "bot (in the group): "
		case "TAP":
			got = f.do(ann, f.tap(ann, arg))
		case "PHOTO":
			got = f.do(ann, media("photo", []map[string]any{{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 90}}))
		case "STICKER":
			got = f.do(ann, media("sticker", map[string]any{"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512}))
		case "VOICE":
			got = f.do(ann, media("voice", map[string]any{"file_id": "v", "file_unique_id": "u", "duration": 3}))
		default:
			got = f.say(ann, line)
		}
		sb.WriteString("user: " + line + "\n")
		if len(got) == 0 {
			sb.WriteString("(no answer)\n")
		}
		for _, g := range got {
			sb.WriteString(who + " " + strings.ReplaceAll(g, "\n", "\n      ") + "\n")
		}
		sb.WriteString("\n")
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if sb.String() != string(want) {
		t.Errorf("replies differ from %s (go test -run Golden -update, then review the diff):\n%s", path, sb.String())
	}
}
