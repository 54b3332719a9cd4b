package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// groupID is a supergroup's chat id as Telegram sends it (-100…).
const groupID int64 = -1001987654321

// inGroup is a message from user in a supergroup, shaped as Telegram sends
// it (the chat has a title and no first_name; a command has its entity).
func (f *fixture) inGroup(user int64, text string) map[string]any {
	u := f.message(user, text)
	m := u["message"].(map[string]any)
	m["chat"] = map[string]any{"id": groupID, "title": "Team", "type": "supergroup"}
	m["from"] = map[string]any{"id": user, "is_bot": false, "first_name": "Ann", "username": "ann", "language_code": "en"}
	var entities []map[string]any
	if strings.HasPrefix(text, "/") {
		word, _, _ := strings.Cut(text, " ")
		entities = append(entities, map[string]any{"offset": 0, "length": len(word), "type": "bot_command"})
	}
	// An @name that starts a word is a mention, at UTF-16 offsets.
	at := 0
	for _, word := range strings.Split(text, " ") {
		if len(word) > 1 && word[0] == '@' {
			entities = append(entities, map[string]any{"offset": utf16Len(text[:at]), "length": utf16Len(word), "type": "mention"})
		}
		at += len(word) + 1
	}
	if entities != nil {
		m["entities"] = entities
	}
	return u
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// joined is a supergroup's service message: user joined, with no text.
func (f *fixture) joined(user int64) map[string]any {
	u := f.inGroup(user, "")
	m := u["message"].(map[string]any)
	delete(m, "text")
	member := map[string]any{"id": user, "is_bot": false, "first_name": "Ann", "username": "ann"}
	m["new_chat_participant"], m["new_chat_member"], m["new_chat_members"] = member, member, []any{member}
	return u
}

// doIn delivers update and returns what was sent to chat.
func (f *fixture) doIn(chat int64, update map[string]any) []string {
	f.t.Helper()
	before := len(f.tg.Sent(chat))
	if err := f.deliver(update); err != nil {
		f.t.Fatalf("update %v: %v", update, err)
	}
	var out []string
	for _, c := range f.tg.Sent(chat)[before:] {
		out = append(out, c.Text())
	}
	return out
}

func (f *fixture) tap(user int64, data string) map[string]any {
	id := f.nextID.Add(1)
	return map[string]any{"update_id": id, "callback_query": map[string]any{"id": fmt.Sprint("cb", id),
		"from": map[string]any{"id": user, "is_bot": false, "first_name": "Ann"}, "data": data, "chat_instance": "42",
		"message": map[string]any{"message_id": 3, "date": 1764000000, "chat": map[string]any{"id": user, "type": "private"}}}}
}

func (f *fixture) forwarded(user int64, text string, origin map[string]any) map[string]any {
	u := f.message(user, text)
	m := u["message"].(map[string]any)
	for k, v := range origin {
		m[k] = v
	}
	return u
}

func refuseNothingGeneric(t *testing.T, got []string) {
	t.Helper()
	for _, g := range got {
		if strings.Contains(g, "That did not work") {
			t.Errorf("generic refusal %q", g)
		}
	}
}

// fakeBilling offers two packs and records what was bought.
type fakeBilling struct {
	mu     sync.Mutex
	bought []int
}

func (fb *fakeBilling) BalanceText(ctx context.Context, q db.Querier, userID int64) (string, error) {
	return "17 credits. Last: −3 refine cmd/main.go · +20 welcome. /buy for more.", nil
}

func (fb *fakeBilling) Offer() (string, [][]reply.Button) {
	return "Pick a credit pack.", [][]reply.Button{{{Text: "100 credits · €5.00", Data: "buy:0"}}, {{Text: "500 credits · €20.00", Data: "buy:1"}}}
}

func (fb *fakeBilling) Buy(ctx context.Context, userID, chatID, updateID int64, pack int) (reply.Reply, error) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if pack < 0 || pack >= 2 {
		return reply.Reply{}, fault.AsPermanent(fmt.Errorf("%w: there is no credit pack %d", fault.ErrInvalid, pack))
	}
	fb.bought = append(fb.bought, pack)
	return reply.Text("Pack %d: pay on Stripe's page.", pack), nil
}

func (fb *fakeBilling) packs() []int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]int(nil), fb.bought...)
}

func withBilling(f *fixture) *fakeBilling {
	fb := &fakeBilling{}
	f.rebuild(func(_ *bot.Config, d *bot.Deps) { d.Billing = fb })
	return fb
}

// Callback data is read exactly: "buy:1e3" is not pack 1, "+5" is not 5.
func TestCallbackDataStrict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fb := withBilling(f)
	const u = 301
	for _, data := range []string{"buy:1e3", "buy:1 ", "buy: 1", "buy:01", "buy:1x", "buy:-0", "buy:99999999999999999999",
		"diff:+5", "diff:05", "diff:5:", "undo:0", "undo:-1", "retry:1_0", "undo:9223372036854775808", "diff:٣"} {
		got := f.do(u, f.tap(u, data))
		expect(t, got, "That button is no longer valid")
		if strings.Contains(strings.Join(got, " "), "There is no job") {
			t.Errorf("%q was read as a job number: %q", data, got)
		}
	}
	if b := fb.packs(); len(b) != 0 {
		t.Errorf("malformed buttons bought packs %v", b)
	}
	expect(t, f.do(u, f.tap(u, "buy:1")), "Pack 1: pay")
	expect(t, f.do(u, f.tap(u, "diff:5")), "There is no job 5.")
}

func TestParseCallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		kind string
		n    int64
	}{
		{"buy:0", "buy", 0}, {"buy:2", "buy", 2}, {"undo:42", "undo", 42}, {"diff:1", "diff", 1},
		{"retry:9223372036854775807", "retry", 9223372036854775807},
	} {
		c, err := bot.ParseCallback(tt.in)
		if err != nil || c.Kind != tt.kind || c.N != tt.n {
			t.Errorf("ParseCallback(%q) = %+v, %v; want %s %d", tt.in, c, err, tt.kind, tt.n)
		}
		if c.String() != tt.in {
			t.Errorf("%+v.String() = %q, want %q", c, c.String(), tt.in)
		}
	}
	for _, in := range []string{"", "buy", "buy:", ":1", "buy:1e3", "buy:+1", "buy:01", "buy:1 ", " buy:1", "BUY:1",
		"buy:100", "undo:0", "undo:007", "undo:9223372036854775808", "buy:99999999999999999999", "diff:1:2", "zap:1", "undo:١", "retry:0x10", "diff:1\n"} {
		if c, err := bot.ParseCallback(in); err == nil {
			t.Errorf("ParseCallback(%q) = %+v, want an error", in, c)
		}
	}
}

// A command for another bot is not ours: in a group it gets no answer at
// all, and a private chat's details never reach the group.
func TestGroupCommandForAnotherBotIgnored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	withBilling(f)
	const ann = 302
	f.say(ann, "/start")
	for _, text := range []string{"/balance@OtherBot", "/help@OtherBot", "/new@SomeOtherBot x"} {
		if got := f.doIn(groupID, f.inGroup(ann, text)); len(got) != 0 {
			t.Errorf("%s in a group answered %q", text, got)
		}
	}
	if got := f.say(ann, "/balance@OtherBot"); len(got) != 0 {
		t.Errorf("/balance@OtherBot in private answered %q", got)
	}
	expect(t, f.say(ann, "/projects@"+telegramtest.Username), "no projects yet")
	expect(t, f.say(ann, "/projects@"+strings.ToUpper(telegramtest.Username)), "no projects yet")
}

// Account matters are answered in the private chat only; the group gets a
// pointer to it.
func TestGroupAccountMattersStayPrivate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	withBilling(f)
	const ann = 303
	f.say(ann, "/new api")
	f.do(ann, f.document(ann, "main.go", "cmd/main.go", []byte("package main\n")))
	at := "@" + telegramtest.Username
	for _, text := range []string{"/balance" + at, "/balance", "/buy" + at, "/projects" + at, "/files" + at,
		"/get" + at + " cmd/main.go", "/history" + at + " cmd/main.go", "/open" + at + " cmd/main.go",
		"/refine" + at + " cmd/main.go add logging", "/export" + at, "/delkey" + at, "/frobnicate" + at} {
		got := f.doIn(groupID, f.inGroup(ann, text))
		all := strings.Join(got, "\n")
		if len(got) != 1 || !strings.Contains(all, "private chat") || !strings.Contains(all, "t.me/"+telegramtest.Username) {
			t.Errorf("%s in a group: %q, want one pointer to the private chat", text, got)
		}
		for _, secret := range []string{"17 credits", "cmd/main.go", "api", "Pick a credit pack", "package main"} {
			if strings.Contains(all, secret) {
				t.Errorf("%s in a group leaked %q: %q", text, secret, got)
			}
		}
	}
	if n := f.jobs.count(); n != 0 {
		t.Errorf("a group message queued %d jobs", n)
	}
	if docs := f.tg.Calls("sendDocument"); len(docs) != 0 {
		t.Errorf("documents sent: %d", len(docs))
	}
	// A key pasted into a group is deleted and never stored.
	got := f.doIn(groupID, f.inGroup(ann, "/setkey"+at+" sk-live-abcdefgh12345"))
	expect(t, got, "revoke")
	dels := f.tg.Calls("deleteMessage")
	if len(dels) != 1 || dels[0].ChatID() != groupID {
		t.Errorf("deleteMessage calls = %+v", dels)
	}
	u, err := db.UserByTelegramID(context.Background(), f.db.Pool, ann)
	if err != nil || u.LLMKeyEncrypted != nil {
		t.Errorf("key stored from a group: %v %v", u.LLMKeyEncrypted != nil, err)
	}
	// /help works in a group and says what works there.
	expect(t, f.doIn(groupID, f.inGroup(ann, "/help"+at)), "In a group", "/close")
	expect(t, f.doIn(groupID, f.inGroup(ann, "/start"+at)), "private chat", "t.me/"+telegramtest.Username)
	// A button tapped on a message in a group is answered with the pointer too.
	tap := f.tap(ann, "buy:0")
	tap["callback_query"].(map[string]any)["message"].(map[string]any)["chat"] = map[string]any{"id": groupID, "title": "Team", "type": "supergroup"}
	expect(t, f.doIn(groupID, tap), "private chat")
}

// A group message never rebinds the user's private chat: later notices
// (payments, refunds, finished jobs) must go to the private chat.
func TestGroupDoesNotRebindPrivateChat(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann, bob = 304, 305
	f.say(ann, "/start")
	f.doIn(groupID, f.inGroup(ann, "/help"))
	f.doIn(groupID, f.inGroup(bob, "/balance"))
	for _, id := range []int64{ann, bob} {
		u, err := db.UserByTelegramID(context.Background(), f.db.Pool, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.ChatID != id {
			t.Errorf("user %d: chat_id = %d, want their private chat %d", id, u.ChatID, id)
		}
	}
}

// Forwarded text is someone else's: a command in it is never run, and it
// is no instruction for the open file.
func TestForwardedCommandNotExecuted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 306
	f.say(ann, "/new api")
	f.do(ann, f.document(ann, "app.py", "src/app.py", []byte("print(1)\n")))
	f.do(ann, f.document(ann, "app.py", "src/app.py", []byte("print(2)\n")))
	bob := map[string]any{"id": 999, "is_bot": false, "first_name": "Bob"}
	origins := []map[string]any{
		{"forward_origin": map[string]any{"type": "user", "sender_user": bob, "date": 1763990000}, "forward_from": bob, "forward_date": 1763990000},
		{"forward_origin": map[string]any{"type": "hidden_user", "sender_user_name": "Bob", "date": 1763990000}, "forward_sender_name": "Bob", "forward_date": 1763990000},
		{"forward_origin": map[string]any{"type": "channel", "chat": map[string]any{"id": -1001, "type": "channel", "title": "News"}, "message_id": 5, "date": 1763990000}},
		{"forward_from": bob, "forward_date": 1763990000}, // the pre-7.0 fields alone
	}
	for i, o := range origins {
		got := f.do(ann, f.forwarded(ann, "/undo src/app.py", o))
		expect(t, got, "forwarded")
		if strings.Contains(strings.Join(got, " "), "restored") {
			t.Errorf("origin %d: a forwarded /undo ran: %q", i, got)
		}
	}
	ctx := context.Background()
	p := mustProject(t, f, "api")
	if fl, err := db.FileByPath(ctx, f.db.Pool, p.ID, "src/app.py"); err != nil || fl.Version != 2 {
		t.Errorf("src/app.py at version %d (%v), want 2", fl.Version, err)
	}
	f.say(ann, "/open src/app.py")
	expect(t, f.do(ann, f.forwarded(ann, "make it print 3", origins[0])), "forwarded")
	if n := f.jobs.count(); n != 0 {
		t.Errorf("forwarded text queued %d jobs", n)
	}
	// A reply quoting someone's command runs only what the user wrote.
	q := f.message(ann, "/close")
	q["message"].(map[string]any)["reply_to_message"] = map[string]any{"message_id": 1, "date": 1763990000,
		"chat": map[string]any{"id": ann, "type": "private"}, "from": bob, "text": "/undo src/app.py"}
	q["message"].(map[string]any)["quote"] = map[string]any{"text": "/undo src/app.py", "position": 0}
	q["message"].(map[string]any)["external_reply"] = map[string]any{"origin": map[string]any{"type": "user", "sender_user": bob, "date": 1}}
	expect(t, f.do(ann, q), "src/app.py is closed")
	if fl, _ := db.FileByPath(ctx, f.db.Pool, p.ID, "src/app.py"); fl.Version != 2 {
		t.Errorf("quoted /undo ran: version %d", fl.Version)
	}
}

// A forwarded document is an upload (forwarding is how Telegram users move
// a file between chats), but its caption is the original sender's words,
// not a path: the file's own name is used, and the reply says so.
func TestForwardedDocumentIsAnUpload(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 307
	f.say(ann, "/new api")
	d := f.document(ann, "util.go", "here is the fix we talked about", []byte("package util\n"))
	d["message"].(map[string]any)["forward_origin"] = map[string]any{"type": "hidden_user", "sender_user_name": "Bob", "date": 1763990000}
	got := f.do(ann, d)
	expect(t, got, "Added util.go", "forwarded", "caption")
}

// A path with a space: the longest existing path wins, and a quoted path
// is accepted, for every command taking PATH.
func TestPathWithSpaces(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.MaxRefineCredits = 1 })
	const ann = 308
	f.say(ann, "/new api")
	expect(t, f.do(ann, f.document(ann, "a b.py", "", []byte("x = 1\n"))), "Added a b.py")
	f.do(ann, f.document(ann, "a", "a", []byte("y\n")))
	expect(t, f.say(ann, "/refine a b.py add a comment"), "Working on a b.py…")
	expect(t, f.say(ann, `/refine "a b.py" add a comment`), "Working on a b.py…")
	expect(t, f.say(ann, "/refine a add a comment"), "Working on a…")
	expect(t, f.say(ann, `/open "a b.py"`), "a b.py is open.")
	expect(t, f.say(ann, `/history 'a b.py'`), "History of a b.py")
	f.say(ann, `/get 'a b.py'`)
	if docs := f.tg.Calls("sendDocument"); len(docs) != 1 || docs[0].DocumentName != "a b.py" {
		t.Errorf("documents = %+v", docs)
	}
	expect(t, f.say(ann, `/refine "a b.py add a comment`), "quote")
	expect(t, f.say(ann, `/refine "nope.py" add x`), "There is no nope.py in api")
}

// A photo, sticker, voice note, audio or video: say what the bot reads.
func TestMediaSaysWhatTheBotReads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 309
	media := map[string]any{
		"photo":      []map[string]any{{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90, "file_size": 1200}},
		"sticker":    map[string]any{"file_id": "s1", "file_unique_id": "u2", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false},
		"voice":      map[string]any{"file_id": "v1", "file_unique_id": "u3", "duration": 3, "mime_type": "audio/ogg"},
		"audio":      map[string]any{"file_id": "a1", "file_unique_id": "u4", "duration": 180, "title": "song"},
		"video":      map[string]any{"file_id": "v2", "file_unique_id": "u5", "width": 640, "height": 480, "duration": 5},
		"video_note": map[string]any{"file_id": "v3", "file_unique_id": "u6", "length": 240, "duration": 5},
		"animation":  map[string]any{"file_id": "g1", "file_unique_id": "u7", "width": 200, "height": 200, "duration": 2},
	}
	send := func(kind string) []string {
		u := f.message(ann, "")
		m := u["message"].(map[string]any)
		delete(m, "text")
		m[kind] = media[kind]
		return f.do(ann, u)
	}
	expect(t, send("photo"), "/new")
	f.say(ann, "/new api")
	for kind := range media {
		got := send(kind)
		expect(t, got, "text files", "as a file")
		if strings.Contains(strings.Join(got, " "), "Start with /new") {
			t.Errorf("%s: %q", kind, got)
		}
	}
}

// Refusals say what was wrong and what to do, never only "That did not
// work (invalid input)".
func TestSpecificRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fb := withBilling(f)
	const ann = 310
	f.say(ann, "/new api")
	var all []string
	got := f.say(ann, "/buy 7")
	expect(t, got, "There is no pack 7", "/buy")
	all = append(all, got...)
	got = f.say(ann, "/buy 1e3")
	expect(t, got, "/buy")
	all = append(all, got...)
	expect(t, f.say(ann, "/buy 1"), "Pack 1: pay") // the pack's index, as in the button's data
	if b := fb.packs(); len(b) != 1 || b[0] != 1 {
		t.Errorf("bought %v, want [1]", b)
	}
	// Telegram refuses to hand over a file above 20 MB (file_size may be absent).
	f.tg.Fail("getFile", 400, "Bad Request: file is too big", 0)
	d := f.document(ann, "big.log", "", []byte("x"))
	delete(d["message"].(map[string]any)["document"].(map[string]any), "file_size")
	got = f.do(ann, d)
	expect(t, got, "big.log", "20 MB")
	all = append(all, got...)
	f.tg.Fail("getFile", 400, "Bad Request: wrong file_id or the file is temporarily unavailable", 0)
	got = f.do(ann, f.document(ann, "gone.txt", "", []byte("x")))
	expect(t, got, "gone.txt", "send it again")
	all = append(all, got...)
	refuseNothingGeneric(t, all)
}

func TestRepliesFitTheSituation(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.NoModel = true })
	const ann = 311
	expect(t, f.say(ann, "/help"), "/close — ")
	first := f.say(ann, "/start")
	expect(t, first, "Start with /new")
	f.say(ann, "/new api")
	f.say(ann, "/new web")
	again := f.say(ann, "/start")
	expect(t, again, "web", "/projects")
	if strings.Contains(strings.Join(again, " "), "Start with /new") {
		t.Errorf("/start for a user with projects: %q", again)
	}
	got := f.say(ann, "/delkey")
	if strings.Contains(strings.Join(got, " "), "bot's model") {
		t.Errorf("/delkey without a bot model: %q", got)
	}
	f.say(ann, "/setkey sk-abcdefgh12345")
	got = f.say(ann, "/delkey")
	expect(t, got, "Your key is deleted")
	if strings.Contains(strings.Join(got, " "), "bot's model") {
		t.Errorf("/delkey without a bot model: %q", got)
	}
}

// Project names may use any letters and digits; file paths only what
// Supabase Storage accepts, and the refusal says so and why.
func TestUnicodeNames(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.rebuild(func(_ *bot.Config, d *bot.Deps) { d.ValidatePath = storage.ValidatePath })
	const ann = 312
	expect(t, f.say(ann, "/new café"), "Project café created")
	expect(t, f.say(ann, "/new données_2"), "Project données_2 created")
	expect(t, f.say(ann, "/new 数据"), "Project 数据 created")
	expect(t, f.say(ann, "/use café"), "Project café selected")
	expect(t, f.say(ann, "/new -x"), "is not a project name")
	expect(t, f.say(ann, "/new a b"), "is not a project name")
	got := f.do(ann, f.document(ann, "résumé.md", "", []byte("# hi\n")))
	expect(t, got, "résumé.md", "ASCII", "Supabase Storage", "resume.md would do")
	expect(t, f.do(ann, f.document(ann, "résumé.md", "resume.md", []byte("# hi\n"))), "Added resume.md")
}

// An update given up on (getMe or the database stayed down) that was a
// command for another bot gets no "could not handle" notice in the group.
func TestGiveUpIgnoresAnotherBotsCommand(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 313
	f.doIn(groupID, f.inGroup(ann, "/help")) // the bot has learnt its name
	data, _ := json.Marshal(f.inGroup(ann, "/balance@OtherBot"))
	if err := f.bot.GiveUp(context.Background(), events.Message{ID: "g", Data: data}, errors.New("getMe down")); err != nil {
		t.Fatal(err)
	}
	if got := f.tg.Sent(groupID); len(got) != 1 {
		t.Errorf("%d group messages, want the /help answer only", len(got))
	}
}
