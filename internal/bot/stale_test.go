package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/sweep"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// refusingJobs is a publisher that refuses every job for good.
type refusingJobs struct{}

func (refusingJobs) Publish(ctx context.Context, m events.Outgoing) (string, error) {
	return "", fault.AsPermanent(errors.New("publish: topic not found"))
}

// failureTexts is what the chat was told of a failure, as sent and as
// edited.
func failureTexts(f *fixture, chat int64) []string {
	var out []string
	for _, c := range f.tg.Calls("sendMessage", "editMessageText") {
		if c.ChatID() != chat {
			continue
		}
		if t := c.Text(); strings.Contains(t, "went wrong") || strings.Contains(t, "❌") || strings.Contains(t, "could not") {
			out = append(out, t)
		}
	}
	return out
}

// A job whose publish is refused for good is told once: the bot's notice
// is its reply, so a later sweep finds nothing to tell.
func TestRefusedPublishToldOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 81
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	f.bot.Jobs = refusingJobs{}
	f.say(u, "/refine a.go add a comment")
	var state string
	var replied bool
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT state, reply_sent_at IS NOT NULL FROM refine_jobs`).Scan(&state, &replied); err != nil {
		t.Fatal(err)
	}
	if state != db.JobFailed || !replied {
		t.Errorf("after a refused publish: job %s, replied %v; want failed and replied", state, replied)
	}
	s := &sweep.Sweeper{Config: sweep.Config{Grace: time.Nanosecond, Lease: time.Minute}, DB: f.db, Jobs: f.jobs,
		Replies: f.runner(directEditor{}.Edit), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	time.Sleep(10 * time.Millisecond) // past the grace
	rep, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := failureTexts(f, u); len(got) != 1 || rep.Told != 0 {
		t.Errorf("told %d by the sweep; failure notices %q, want exactly one", rep.Told, got)
	}
	shown := f.tg.ShownTexts(u)
	if strings.Contains(strings.Join(shown, "\n"), "Working on") {
		t.Errorf("a Working message stays: the chat shows %q", shown)
	}
}

// raceTelegram runs the job to its end (as a runner would, given the
// Sweeper's copy of the job's message) just before the bot sends the
// "Working on" message, as far as the job lets it within a second.
type raceTelegram struct {
	*telegram.Client
	f   *fixture
	run *refine.Runner
	ran chan error
}

func (r *raceTelegram) SendMessage(ctx context.Context, m telegram.SendMessage) (telegram.Message, error) {
	if strings.HasPrefix(m.Text, "Working on") && r.ran == nil {
		var id int64
		if err := r.f.db.Pool.QueryRow(ctx, `SELECT id FROM refine_jobs ORDER BY id DESC LIMIT 1`).Scan(&id); err != nil {
			return telegram.Message{}, err
		}
		r.ran = make(chan error, 1)
		data, _ := json.Marshal(refine.Message{JobID: id})
		go func() { r.ran <- r.run.Handle(context.Background(), events.Message{ID: "swept", Data: data}) }()
		select {
		case err := <-r.ran:
			r.ran <- err
		case <-time.After(time.Second): // the runner waits for the bot: fine
		}
	}
	return r.Client.SendMessage(ctx, m)
}

// A job the Sweeper published before the bot's plan ran can finish first:
// the bot then sends no "Working on" message after the result (nothing
// would edit it), or, when the runner is still waiting, sends it and the
// runner edits it into the result.
func TestNoWorkingMessageAfterTheResult(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 82
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	rt := &raceTelegram{Client: telegram.New(f.tg.URL, f.tg.Token, f.tg.Client()), f: f, run: f.runner(modelEdit(renameA))}
	f.rebuild(func(_ *bot.Config, d *bot.Deps) { d.Telegram = rt })
	if err := f.deliver(f.message(u, "/refine a.go call the package b")); err != nil {
		t.Fatal(err)
	}
	if rt.ran == nil {
		t.Fatal("no Working message was attempted")
	}
	if err := <-rt.ran; err != nil {
		t.Fatal(err)
	}
	shown := f.tg.ShownTexts(u)
	last := shown[len(shown)-1]
	if !strings.HasPrefix(last, "✅ a.go changed (") || strings.Contains(strings.Join(shown, "\n"), "Working on") {
		t.Errorf("the chat shows %q", shown)
	}
}

// GiveUp on an update whose job was never queued turns the job's Working
// message into the apology, rather than leaving it and sending another.
func TestGiveUpEditsTheWorkingMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 83
	data := f.unpublished(u)
	before := len(f.tg.Sent(u))
	for range 2 {
		if err := f.bot.GiveUp(context.Background(), events.Message{ID: "m", Data: data}, errors.New("exhausted")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tg.Sent(u)) - before; n != 0 {
		t.Errorf("%d new messages from GiveUp, want the Working message edited instead", n)
	}
	shown := f.tg.ShownTexts(u)
	if last := shown[len(shown)-1]; !strings.HasPrefix(last, "Sorry, I could not") || strings.Contains(strings.Join(shown, "\n"), "Working on") {
		t.Errorf("the chat shows %q", shown)
	}
}

// When the Working message cannot be edited any more (the user deleted
// it), GiveUp's apology and the refused publish's notice come as new
// messages, once.
func TestNoticesFallBackToANewMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 84
	data := f.unpublished(u)
	f.tg.Fail("editMessageText", 400, "Bad Request: message to edit not found", 0)
	before := len(f.tg.Sent(u))
	if err := f.bot.GiveUp(context.Background(), events.Message{ID: "m", Data: data}, errors.New("exhausted")); err != nil {
		t.Fatal(err)
	}
	if sent := f.tg.Sent(u)[before:]; len(sent) != 1 || !strings.HasPrefix(sent[0].Text(), "Sorry, I could not") {
		t.Errorf("GiveUp sent %+v, want the apology as one new message", sent)
	}

	f.bot.Jobs = refusingJobs{}
	f.tg.Fail("editMessageText", 400, "Bad Request: message to edit not found", 0)
	got := f.say(u, "/refine a.go add a comment")
	if len(got) != 2 {
		t.Errorf("the refused publish sent %q, want the Working message and one notice", got)
	}
	expect(t, got, "Working on a.go…", "Something went wrong on my side while doing that (an internal error). Please try again in a while.")
}
