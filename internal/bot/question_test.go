package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/refine"
)

// asker is a model that asks which port when told to make the port
// configurable without a conversation before, and otherwise edits a.go.
type asker struct {
	mu   sync.Mutex
	reqs []refine.SetEditRequest
}

const portEdit = "a.go\n<<<<<<< SEARCH\npackage a\n=======\npackage a\n\nconst Port = 8080\n>>>>>>> REPLACE\n"

func (a *asker) EditSet(ctx context.Context, r refine.SetEditRequest) (refine.SetEditOutcome, error) {
	a.mu.Lock()
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
	if len(r.Thread) == 0 && strings.Contains(r.Instruction, "port") {
		return refine.SetEditOutcome{Question: "Which port?", Reply: "QUESTION: Which port?", Model: "m", PromptTokens: 5}, nil
	}
	cs, err := editblock.ApplySetFocus(r.Tree, portEdit, r.Focus)
	return refine.SetEditOutcome{ChangeSet: cs, Reply: portEdit, Model: "m", PromptTokens: 5}, err
}

func (a *asker) last() refine.SetEditRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reqs[len(a.reqs)-1]
}

// runLast runs the last queued job through run.
func (f *fixture) runLast(run *refine.Runner) db.Job {
	f.t.Helper()
	j := f.lastQueued()
	f.jobs.mu.Lock()
	data := f.jobs.sent[len(f.jobs.sent)-1].Data
	f.jobs.mu.Unlock()
	if err := run.Handle(context.Background(), events.Message{ID: "j", Data: data}); err != nil {
		f.t.Fatal(err)
	}
	j, err := db.GetJob(context.Background(), f.db.Pool, j.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) awaiting(user int64) *int64 {
	f.t.Helper()
	usr, err := db.UserByTelegramID(context.Background(), f.db.Pool, user)
	if err != nil {
		f.t.Fatal(err)
	}
	return usr.AwaitingJob
}

func questionFixture(t *testing.T, u int64) (*fixture, *asker, *refine.Runner) {
	f := setup(t, func(c *bot.Config) { c.WelcomeCredits = 200; c.RefineRateLimit = 50 })
	a := &asker{}
	run := f.runner(nil)
	run.SetEditor = a
	f.say(u, "/new web")
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	return f, a, run
}

// ask has the model ask its question and checks the user is asked.
func (f *fixture) ask(u int64, run *refine.Runner) db.Job {
	f.t.Helper()
	expect(f.t, f.say(u, "make the port configurable"), "Working on api…")
	q := f.runLast(run)
	if q.State != db.JobSucceeded || q.Question == nil || *q.Question != "Which port?" || q.ChargedCredits != 0 || q.ChangeSetID != nil {
		f.t.Fatalf("the question's job: state %s, question %v, charged %d, change set %v", q.State, q.Question, q.ChargedCredits, q.ChangeSetID)
	}
	shown := f.tg.ShownTexts(u)
	if last := shown[len(shown)-1]; !strings.Contains(last, "❓ Which port?") {
		f.t.Errorf("the chat shows %q, not the question", last)
	}
	if w := f.awaiting(u); w == nil || *w != q.ID {
		f.t.Fatalf("awaiting %v, want job %d", w, q.ID)
	}
	return q
}

// The user's next plain message answers the model's question: a new job
// that follows the first, with the instruction and the question as its
// thread; the model gets them, and the change is made.
func TestQuestionIsAnswered(t *testing.T) {
	t.Parallel()
	const u = 311
	f, a, run := questionFixture(t, u)
	q := f.ask(u, run)

	expect(t, f.say(u, "8080"), "Working on api…")
	j := f.lastQueued()
	want := []db.Turn{{Role: "user", Text: "make the port configurable"}, {Role: "assistant", Text: "QUESTION: Which port?"}}
	if j.Follows == nil || *j.Follows != q.ID || j.Instruction != "8080" || j.Scope != db.ScopeProject || j.Path != "" ||
		len(j.Thread) != 2 || j.Thread[0] != want[0] || j.Thread[1] != want[1] {
		t.Fatalf("the answer's job: follows %v, instruction %q, scope %q, thread %+v", j.Follows, j.Instruction, j.Scope, j.Thread)
	}
	if w := f.awaiting(u); w != nil {
		t.Errorf("still awaiting job %d after the answer", *w)
	}
	done := f.runLast(run)
	r := a.last()
	if r.Instruction != "8080" || len(r.Thread) != 2 || r.Thread[1] != want[1] {
		t.Errorf("the model got instruction %q with thread %+v", r.Instruction, r.Thread)
	}
	if done.State != db.JobSucceeded || done.ChangeSetID == nil {
		t.Fatalf("the answer's job: %s, change set %v", done.State, done.ChangeSetID)
	}
	if got := f.current("api", "a.go"); !strings.Contains(got, "const Port = 8080") {
		t.Errorf("a.go after the answer: %q", got)
	}
	// The question is answered: the next message is a new request.
	expect(t, f.say(u, "also log it"), "Working on api…")
	if j := f.lastQueued(); j.Follows != nil || len(j.Thread) != 0 {
		t.Errorf("a message after the answer follows %v with thread %+v", j.Follows, j.Thread)
	}
}

// A /refine while the question stands starts something else: the plain
// message after it is a new request, not the answer.
func TestRefineCancelsTheQuestion(t *testing.T) {
	t.Parallel()
	const u = 312
	f, _, run := questionFixture(t, u)
	f.ask(u, run)
	expect(t, f.say(u, "/refine a.go add a comment"), "Working on a.go…")
	if w := f.awaiting(u); w != nil {
		t.Errorf("still awaiting job %d after /refine", *w)
	}
	expect(t, f.say(u, "8080"), "Working on api…")
	if j := f.lastQueued(); j.Follows != nil || len(j.Thread) != 0 || j.Instruction != "8080" {
		t.Errorf("the message after /refine follows %v with thread %+v", j.Follows, j.Thread)
	}
}

// A refused /refine starts nothing, so the question still stands.
func TestRefusedRefineKeepsTheQuestion(t *testing.T) {
	t.Parallel()
	const u = 313
	f, _, run := questionFixture(t, u)
	q := f.ask(u, run)
	expect(t, f.say(u, "/refine src/nope.go add a comment"), "There is no src/nope.go in api.")
	expect(t, f.say(u, "8080"), "Working on api…")
	if j := f.lastQueued(); j.Follows == nil || *j.Follows != q.ID {
		t.Errorf("the answer after a refused /refine follows %v, want %d", j.Follows, q.ID)
	}
}

// Once another project is selected, a plain message is a request there,
// not the answer, and the question is forgotten.
func TestQuestionIsNotAnsweredInAnotherProject(t *testing.T) {
	t.Parallel()
	const u = 314
	f, _, run := questionFixture(t, u)
	f.ask(u, run)
	f.say(u, "/use web")
	f.do(u, f.document(u, "w.go", "", []byte("package w\n")))
	expect(t, f.say(u, "8080"), "Working on web…")
	j := f.lastQueued()
	if j.Follows != nil || len(j.Thread) != 0 || j.ProjectID != mustProject(t, f, "web").ID {
		t.Errorf("a message in web follows %v with thread %+v in project %s", j.Follows, j.Thread, j.ProjectID)
	}
	if w := f.awaiting(u); w != nil {
		t.Errorf("still awaiting job %d", *w)
	}
	f.say(u, "/use api")
	expect(t, f.say(u, "8080"), "Working on api…")
	if j := f.lastQueued(); j.Follows != nil {
		t.Errorf("back in api, a message follows %d", *j.Follows)
	}
}
