package bot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/telegram"
)

type editorFunc func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error)

func (f editorFunc) Edit(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
	return f(ctx, r)
}

// runner is the RefineJobs consumer on the fixture's database, storage and
// fake Bot API, with edit as its editor.
func (f *fixture) runner(edit editorFunc) *refine.Runner {
	return &refine.Runner{Config: refine.Config{BaseRefineCredits: 1, CreditsPerUSD: 100, MaxFileBytes: 1 << 20, ModelHost: "llm.example"},
		DB: f.db, Files: f.files, Editor: edit, SetEditor: edit, Telegram: telegram.New(f.tg.URL, f.tg.Token, f.tg.Client()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// A refinement that takes a while shows "typing…" while it runs, and its
// result replaces the "Working on" message instead of arriving as a second
// message.
func TestWorkingMessageBecomesTheResult(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 71
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	run := f.runner(func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		time.Sleep(4300 * time.Millisecond) // a slow model: the typing status is renewed at 4 s
		return modelEdit(renameA)(ctx, r)
	})
	expect(t, f.say(u, "/refine a.go call the package b"), "Working on a.go…")
	sentBefore := len(f.tg.Sent(u))
	if err := run.Handle(context.Background(), events.Message{ID: "j", Data: f.jobs.sent[0].Data}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.tg.Sent(u)) - sentBefore; n != 0 {
		t.Errorf("the result came as %d new message(s), not as an edit of the Working message", n)
	}
	edits := f.tg.Calls("editMessageText")
	if len(edits) != 1 || !strings.Contains(edits[0].Text(), "✅ a.go changed (1 credit") ||
		!strings.Contains(edits[0].Params["reply_markup"], `"undo:`) {
		t.Fatalf("edits = %+v", edits)
	}
	typing := 0
	for _, c := range f.tg.Calls("sendChatAction") {
		if c.ChatID() == u && c.Params["action"] == "typing" {
			typing++
		}
	}
	if typing < 2 {
		t.Errorf("typing shown %d times during a 4.3 s job, want it renewed (≥ 2)", typing)
	}
	shown := f.tg.ShownTexts(u)
	if last := shown[len(shown)-1]; !strings.HasPrefix(last, "✅ a.go changed (") || strings.Contains(strings.Join(shown, "\n"), "Working on") {
		t.Errorf("the chat shows %q", shown)
	}
	// A redelivery of the finished job does not answer again.
	if err := run.Handle(context.Background(), events.Message{ID: "j", Data: f.jobs.sent[0].Data}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.tg.Calls("editMessageText", "sendMessage")) - len(edits) - len(f.tg.Calls("sendMessage")); n != 0 {
		t.Errorf("a redelivery answered again (%d calls)", n)
	}
}

// An unreachable model is named, with the file, first in the Working
// message while the job is retried, then in the final answer.
func TestUnreachableModelIsNamedWithTheFile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 72
	f.say(u, "/new api")
	f.do(u, f.document(u, "b.go", "", []byte("package b\n")))
	run := f.runner(func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{}, fault.AsRetryable(fmt.Errorf("%w: calling the model endpoint http://127.0.0.1:9: connection refused",
			fault.ErrUnavailable))
	})
	expect(t, f.say(u, "/refine b.go add logging"), "Working on b.go…")
	m := events.Message{ID: "j", Data: f.jobs.sent[0].Data}
	if err := run.Handle(context.Background(), m); err == nil || !fault.IsRetryable(err) {
		t.Fatalf("handle: %v", err)
	}
	if err := run.GiveUp(context.Background(), m, errors.New("gave up after 5 delivery attempts")); err != nil {
		t.Fatal(err)
	}
	edits := f.tg.Calls("editMessageText")
	if len(edits) != 2 {
		t.Fatalf("%d edits of the Working message, want 2 (retrying, then the answer): %+v", len(edits), edits)
	}
	expect(t, []string{edits[0].Text()}, "Working on b.go… the model service (llm.example) is not answering, so I am trying again in a moment.")
	expect(t, []string{edits[1].Text()}, "❌ I could not change b.go: the model service (llm.example) is not answering, and I gave up after several tries.")
}

// When the Working message is gone (deleted by the user), the answer comes
// as a new message.
func TestResultFallsBackToANewMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 73
	f.say(u, "/new api")
	f.do(u, f.document(u, "c.go", "", []byte("package c\n")))
	run := f.runner(func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		res, err := editblock.ApplyDirect(r.Path, r.Content, r.Instruction)
		return refine.EditOutcome{Content: res.Content, Diff: res.Diff, Edits: len(res.Blocks)}, err
	})
	f.say(u, "/refine c.go c.go\n<<<<<<< SEARCH\npackage c\n=======\npackage d\n>>>>>>> REPLACE")
	f.tg.Fail("editMessageText", 400, "Bad Request: message to edit not found", 0)
	before := len(f.tg.Sent(u))
	if err := run.Handle(context.Background(), events.Message{ID: "j", Data: f.jobs.sent[0].Data}); err != nil {
		t.Fatal(err)
	}
	sent := f.tg.Sent(u)[before:]
	if len(sent) != 1 || !strings.Contains(sent[0].Text(), "✅ c.go changed (") {
		t.Errorf("after a failed edit: %d messages %+v", len(sent), sent)
	}
}

// waitShown waits until the chat's last message (as edited) contains want,
// and returns it.
func waitShown(t *testing.T, tg interface{ ShownTexts(int64) []string }, chat int64, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		shown := tg.ShownTexts(chat)
		if len(shown) > 0 && strings.Contains(shown[len(shown)-1], want) {
			return shown[len(shown)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chat shows %q, none with %q", shown, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// EditSet runs f on the focus file of a project job, as a change set of
// that one file.
// renameA is what the stand-in model answers to any instruction about a.go.
const renameA = "a.go\n<<<<<<< SEARCH\npackage a\n=======\npackage b\n>>>>>>> REPLACE"

// modelEdit is a stand-in model that answers every instruction with blocks.
func modelEdit(blocks string) editorFunc {
	return func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		res, err := editblock.ApplyDirect(r.Path, r.Content, blocks)
		return refine.EditOutcome{Content: res.Content, Diff: res.Diff, Edits: len(res.Blocks), Model: "stand-in"}, err
	}
}

// The user's own blocks apply at once: no Working message and no typing
// status, only the result, as one new message with its buttons.
func TestDirectEditAnswersOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 73
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	before := len(f.tg.Calls())
	if got := f.say(u, "/refine a.go "+renameA); len(got) != 0 {
		t.Fatalf("the bot answered %q before the job ran; want nothing", got)
	}
	if err := f.runner(directEditor{}.Edit).Handle(context.Background(), events.Message{ID: "j", Data: f.jobs.sent[0].Data}); err != nil {
		t.Fatal(err)
	}
	calls := f.tg.Calls()[before:]
	if len(calls) != 1 || calls[0].Method != "sendMessage" || !strings.HasPrefix(calls[0].Text(), "✅ a.go changed (1 credit") ||
		!strings.Contains(calls[0].Params["reply_markup"], `"undo:`) {
		var seen []string
		for _, c := range calls {
			seen = append(seen, c.Method+": "+c.Text())
		}
		t.Fatalf("Bot API calls after the direct edit: %q; want one sendMessage with the result", seen)
	}
}

func (f editorFunc) EditSet(ctx context.Context, r refine.SetEditRequest) (refine.SetEditOutcome, error) {
	return oneFileSet(ctx, f, r)
}

// oneFileSet runs a one-file editor on a project job's focus file.
func oneFileSet(ctx context.Context, e refine.Editor, r refine.SetEditRequest) (refine.SetEditOutcome, error) {
	content, err := r.Tree.Read(r.Focus)
	if err != nil {
		return refine.SetEditOutcome{}, err
	}
	out, err := e.Edit(ctx, refine.EditRequest{Path: r.Focus, Content: content, Instruction: r.Instruction, APIKey: r.APIKey})
	o := refine.SetEditOutcome{Model: out.Model, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens,
		CostUSD: out.CostUSD, Attempts: out.Attempts}
	if err != nil {
		return o, err
	}
	fc := editblock.FileChange{Op: editblock.Modified, Path: r.Focus, OldPath: r.Focus, Old: content, New: out.Content}
	o.ChangeSet = editblock.ChangeSet{Files: []editblock.FileChange{fc}, Diff: editblock.GitDiff([]editblock.FileChange{fc})}
	return o, nil
}
