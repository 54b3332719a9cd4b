package build_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
)

// The controls of a build (Control, Words) on a real database, each in a
// transaction on the locked row, as the bot runs them.

type ctlRig struct {
	t    *testing.T
	db   *db.DB
	user db.User
	id   int64
}

// newCtlRig is a user with balance credits and a build of progressSpec in
// state, estimated at estimate.
func newCtlRig(t *testing.T, balance, estimate int64, state string) *ctlRig {
	t.Helper()
	r := &ctlRig{t: t, db: dbtest.New(t)}
	u, _, err := db.EnsureUser(ctx, r.db.Pool, db.TelegramUser{TelegramID: 7, ChatID: 70, FirstName: "Ann"}, balance)
	if err != nil {
		t.Fatal(err)
	}
	r.user = u
	p, err := db.CreateProject(ctx, r.db.Pool, u.ID, "todo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := build.Create(ctx, r.db.Pool, db.NewBuild{UserID: u.ID, ProjectID: p.ID, ChatID: 70, Description: "a todo API"})
	if err != nil {
		t.Fatal(err)
	}
	r.id = b.ID
	spec, _ := json.Marshal(progressSpec)
	var tasks []json.RawMessage
	for _, task := range progressSpec.Tasks {
		tj, _ := json.Marshal(task)
		tasks = append(tasks, tj)
	}
	b.Spec, b.EstimateCredits, b.State = spec, estimate, state
	b.Thread = []db.Turn{{Role: "user", Text: "a todo API"}}
	if err := db.SaveBuild(ctx, r.db.Pool, b); err != nil {
		t.Fatal(err)
	}
	if err := db.ReplaceBuildTasks(ctx, r.db.Pool, b.ID, tasks); err != nil {
		t.Fatal(err)
	}
	return r
}

// do runs fn on the locked build in a transaction; the build is saved by
// fn (as Control and Words do); an error rolls it back.
func (r *ctlRig) do(fn func(tx pgx.Tx, b *db.Build) (int64, error)) (int64, error) {
	var seq int64
	err := r.db.InTx(ctx, func(tx pgx.Tx) error {
		b, err := db.LockBuild(ctx, tx, r.user.ID, r.id)
		if err != nil {
			return err
		}
		seq, err = fn(tx, &b)
		return err
	})
	return seq, err
}

func (r *ctlRig) control(kind string) (int64, error) {
	return r.do(func(tx pgx.Tx, b *db.Build) (int64, error) { return build.Control(ctx, tx, b, kind) })
}

func (r *ctlRig) words(text string) (int64, error) {
	return r.do(func(tx pgx.Tx, b *db.Build) (int64, error) { return build.Words(ctx, tx, b, text) })
}

func (r *ctlRig) build() db.Build {
	r.t.Helper()
	b, err := db.GetBuild(ctx, r.db.Pool, r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// set changes the build's row.
func (r *ctlRig) set(sql string) {
	r.t.Helper()
	if _, err := r.db.Pool.Exec(ctx, `UPDATE builds SET `+sql+` WHERE id = $1`, r.id); err != nil {
		r.t.Fatal(err)
	}
}

func (r *ctlRig) money() (balance, held int64) {
	r.t.Helper()
	if err := r.db.Pool.QueryRow(ctx, `SELECT balance, held FROM users WHERE id = $1`, r.user.ID).Scan(&balance, &held); err != nil {
		r.t.Fatal(err)
	}
	return balance, held
}

func (r *ctlRig) task(n int) db.BuildTask {
	r.t.Helper()
	ts, err := db.BuildTasks(ctx, r.db.Pool, r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	return ts[n-1]
}

// progress is the newest queued progress message.
func (r *ctlRig) progress() string {
	r.t.Helper()
	var html string
	err := r.db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT html FROM build_outbox WHERE build_id = $1 AND kind = 'progress'
		ORDER BY id DESC LIMIT 1), '')`, r.id).Scan(&html)
	if err != nil {
		r.t.Fatal(err)
	}
	return html
}

func refused(t *testing.T, err error, why string) {
	t.Helper()
	if !errors.Is(err, build.ErrNotNow) || !strings.Contains(err.Error(), why) {
		t.Errorf("error %v, want ErrNotNow saying %q", err, why)
	}
}

func TestControlStart(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	seq, err := r.control("start")
	if err != nil {
		t.Fatal(err)
	}
	b := r.build()
	if b.State != db.BuildRunning || b.StartedAt == nil || seq != 2 || b.StepSeq != 2 {
		t.Errorf("after Start: %s, started %v, seq %d, step %d; want running at step 2", b.State, b.StartedAt, seq, b.StepSeq)
	}
	if _, held := r.money(); held != 15 {
		t.Errorf("held %d, want 15", held)
	}
	if p := r.progress(); !strings.HasPrefix(p, "Building <b>Todo &amp; API</b>") || !strings.Contains(p, "⏳ 1 Skeleton") {
		t.Errorf("progress after Start: %q", p)
	}
	_, err = r.control("start")
	refused(t, err, "it can be started only once, from its spec")
	if _, held := r.money(); held != 15 {
		t.Errorf("held %d after a second Start, want 15", held)
	}
	if b := r.build(); b.StepSeq != 2 {
		t.Errorf("a refused Start moved the build to step %d", b.StepSeq)
	}
}

func TestControlStartWithoutCredits(t *testing.T) {
	r := newCtlRig(t, 20, 25, db.BuildProposed)
	_, err := r.control("start")
	refused(t, err, "it is estimated at 25 credits and you have fewer available")
	if b := r.build(); b.State != db.BuildProposed || b.StepSeq != 1 {
		t.Errorf("after a refused Start: %s at step %d", b.State, b.StepSeq)
	}
	if _, held := r.money(); held != 0 {
		t.Errorf("held %d, want 0", held)
	}
}

func TestControlPauseResume(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	_, err := r.control("pause")
	refused(t, err, "it is not running")
	_, err = r.control("resume")
	refused(t, err, "it is not paused")
	if _, err := r.control("start"); err != nil {
		t.Fatal(err)
	}
	_, err = r.control("resume")
	refused(t, err, "it is not paused")

	seq, err := r.control("pause")
	if err != nil {
		t.Fatal(err)
	}
	b := r.build()
	// The step in flight keeps its number: it finishes, then the build waits.
	if seq != 0 || b.State != db.BuildPaused || b.StepSeq != 2 || b.PauseReason == nil || *b.PauseReason != "user" {
		t.Errorf("after Pause: seq %d, %s at step %d (%v)", seq, b.State, b.StepSeq, b.PauseReason)
	}
	if p := r.progress(); !strings.HasPrefix(p, "Paused: ") {
		t.Errorf("progress after Pause: %q", p)
	}
	_, err = r.control("pause")
	refused(t, err, "it is not running")

	seq, err = r.control("resume")
	if err != nil {
		t.Fatal(err)
	}
	if b := r.build(); seq != 3 || b.State != db.BuildRunning || b.StepSeq != 3 || b.PauseReason != nil {
		t.Errorf("after Resume: seq %d, %s at step %d (%v)", seq, b.State, b.StepSeq, b.PauseReason)
	}
	if _, held := r.money(); held != 15 {
		t.Errorf("held %d through Pause and Resume, want 15", held)
	}

	// Pause and Resume while step 3 is claimed (in flight): it goes on at
	// its number, not fenced out by a new step.
	r.set(`claimed_at = now(), attempts = attempts + 1`)
	if _, err := r.control("pause"); err != nil {
		t.Fatal(err)
	}
	seq, err = r.control("resume")
	if err != nil {
		t.Fatal(err)
	}
	if b := r.build(); seq != 0 || b.State != db.BuildRunning || b.StepSeq != 3 {
		t.Errorf("Resume of a step in flight: seq %d, %s at step %d; want 0, running at 3", seq, b.State, b.StepSeq)
	}
}

func TestControlCancelReleasesTheHold(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	if _, err := r.control("start"); err != nil {
		t.Fatal(err)
	}
	// Task 1 was charged 4 of the hold.
	if _, _, err := db.ChargeBuild(ctx, r.db.Pool, r.id, r.user.ID, "build:1:task:1:1", 4, "task 1"); err != nil {
		t.Fatal(err)
	}
	if balance, held := r.money(); balance != 16 || held != 11 {
		t.Fatalf("after a charge: balance %d, held %d; want 16, 11", balance, held)
	}
	seq, err := r.control("cancel")
	if err != nil {
		t.Fatal(err)
	}
	b := r.build()
	// The step in flight is fenced out (its number is past).
	if seq != 0 || b.State != db.BuildCancelled || b.StepSeq != 3 || b.FinishedAt == nil {
		t.Errorf("after Cancel: seq %d, %s at step %d, finished %v", seq, b.State, b.StepSeq, b.FinishedAt)
	}
	if balance, held := r.money(); balance != 16 || held != 0 {
		t.Errorf("after Cancel: balance %d, held %d; want 16, 0", balance, held)
	}
	if left, err := db.BuildHeld(ctx, r.db.Pool, r.id); err != nil || left != 0 {
		t.Errorf("hold left %d (%v)", left, err)
	}
	if p := r.progress(); !strings.HasPrefix(p, "Cancelled: ") {
		t.Errorf("progress after Cancel: %q", p)
	}
	for _, kind := range []string{"start", "pause", "resume", "retry", "skip", "change", "cancel"} {
		_, err := r.control(kind)
		refused(t, err, "this build has ended (cancelled)")
	}
	if balance, held := r.money(); balance != 16 || held != 0 {
		t.Errorf("after controls of an ended build: balance %d, held %d", balance, held)
	}
}

func TestControlCancelBeforeStart(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	if _, err := r.control("cancel"); err != nil {
		t.Fatal(err)
	}
	if b := r.build(); b.State != db.BuildCancelled {
		t.Errorf("state %s", b.State)
	}
	if balance, held := r.money(); balance != 20 || held != 0 {
		t.Errorf("balance %d, held %d; want 20, 0", balance, held)
	}
	if p := r.progress(); p != "" {
		t.Errorf("a build never started queued progress %q", p)
	}
}

// blocked is a started build blocked at task 2, which failed 2 rounds.
func blocked(t *testing.T) *ctlRig {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	if _, err := r.control("start"); err != nil {
		t.Fatal(err)
	}
	r.set(`state = 'blocked', current_task = 1`)
	t2 := r.task(2)
	fb := "the review rejected it"
	t2.State, t2.Round, t2.Feedback, t2.Rounds = db.TaskFailed, 2, &fb, []db.TaskRound{{Round: 1}, {Round: 2}}
	if err := db.SaveBuildTask(ctx, r.db.Pool, t2); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestControlRetrySkip(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	for _, kind := range []string{"retry", "skip"} {
		_, err := r.control(kind)
		refused(t, err, "no task is waiting for that")
	}
	if _, err := r.control("start"); err != nil {
		t.Fatal(err)
	}
	_, err := r.control("skip")
	refused(t, err, "no task is waiting for that")

	r = blocked(t)
	seq, err := r.control("retry")
	if err != nil {
		t.Fatal(err)
	}
	b, t2 := r.build(), r.task(2)
	if seq != 3 || b.State != db.BuildRunning || b.CurrentTask != 1 {
		t.Errorf("after Retry: seq %d, %s at task %d", seq, b.State, b.CurrentTask)
	}
	if t2.State != db.TaskPending || t2.Round != 0 || t2.Feedback != nil || len(t2.Rounds) != 2 {
		t.Errorf("task 2 after Retry: %s, round %d, feedback %v, %d rounds kept", t2.State, t2.Round, t2.Feedback, len(t2.Rounds))
	}

	r = blocked(t)
	seq, err = r.control("skip")
	if err != nil {
		t.Fatal(err)
	}
	b, t2 = r.build(), r.task(2)
	if seq != 3 || b.State != db.BuildRunning || b.CurrentTask != 2 || t2.State != db.TaskSkipped {
		t.Errorf("after Skip: seq %d, %s at task %d, task 2 %s", seq, b.State, b.CurrentTask, t2.State)
	}
	if p := r.progress(); !strings.Contains(p, "⏭ 2 Endpoints &lt;v1&gt; — skipped") || !strings.Contains(p, "⏳ 3 Tests") {
		t.Errorf("progress after Skip: %q", p)
	}
}

func TestControlChange(t *testing.T) {
	r := newCtlRig(t, 20, 15, db.BuildProposed)
	if build.WantsWords(r.build()) {
		t.Error("a spec shown waits for words before Change")
	}
	if seq, err := r.control("change"); err != nil || seq != 0 {
		t.Fatalf("Change: %d, %v", seq, err)
	}
	if b := r.build(); !build.WantsWords(b) || b.State != db.BuildProposed {
		t.Errorf("after Change: %s, wants words %v", b.State, build.WantsWords(b))
	}
	if p := r.progress(); p != "" {
		t.Errorf("Change of a spec queued progress %q", p)
	}
	if _, err := r.control("start"); err != nil {
		t.Fatal(err)
	}
	_, err := r.control("change")
	refused(t, err, "the spec can be changed before the build starts, or a task after it failed")
	if b := r.build(); build.WantsWords(b) {
		t.Error("a running build waits for words")
	}
	_, err = r.control("rename")
	refused(t, err, `unknown control "rename"`)
}

func TestWords(t *testing.T) {
	t.Run("answers", func(t *testing.T) {
		r := newCtlRig(t, 20, 15, db.BuildClarifying)
		seq, err := r.words("SQLite, one list")
		if err != nil {
			t.Fatal(err)
		}
		b := r.build()
		if seq != 2 || b.State != db.BuildProposing || len(b.Thread) != 2 || b.Thread[1] != (db.Turn{Role: "user", Text: "SQLite, one list"}) {
			t.Errorf("after answers: seq %d, %s, thread %v", seq, b.State, b.Thread)
		}
		_, err = r.words("and again")
		refused(t, err, "the build is not waiting for words")
	})
	t.Run("a change of the spec", func(t *testing.T) {
		r := newCtlRig(t, 20, 15, db.BuildProposed)
		_, err := r.words("use Postgres")
		refused(t, err, "the build is not waiting for words")
		if _, err := r.control("change"); err != nil {
			t.Fatal(err)
		}
		seq, err := r.words("use Postgres")
		if err != nil {
			t.Fatal(err)
		}
		b := r.build()
		if seq != 2 || b.State != db.BuildRevising || b.PauseReason != nil || b.Thread[len(b.Thread)-1].Text != "use Postgres" {
			t.Errorf("after a change: seq %d, %s (%v), thread %v", seq, b.State, b.PauseReason, b.Thread)
		}
	})
	t.Run("a change of a task", func(t *testing.T) {
		r := blocked(t)
		_, err := r.words("split it in two")
		refused(t, err, "the build is not waiting for words")
		if _, err := r.control("change"); err != nil {
			t.Fatal(err)
		}
		if !build.WantsWords(r.build()) {
			t.Fatal("a blocked build after Change does not wait for words")
		}
		seq, err := r.words("split it in two")
		if err != nil {
			t.Fatal(err)
		}
		b, t2 := r.build(), r.task(2)
		if seq != 3 || b.State != db.BuildRunning || b.CurrentTask != 1 || b.PauseReason != nil {
			t.Errorf("after a task's change: seq %d, %s at task %d (%v)", seq, b.State, b.CurrentTask, b.PauseReason)
		}
		var task build.Task
		_ = json.Unmarshal(t2.Task, &task)
		if t2.State != db.TaskPending || t2.Round != 0 || t2.Feedback == nil || *t2.Feedback != "The user changed this task: split it in two" ||
			task.Does != "d (The user adds: split it in two)" {
			t.Errorf("task 2 after its change: %s, round %d, feedback %v, does %q", t2.State, t2.Round, t2.Feedback, task.Does)
		}
		// Like Retry, the progress message shows the task running again.
		if p := r.progress(); !strings.HasPrefix(p, "Building ") || !strings.Contains(p, "⏳ 2 Endpoints") {
			t.Errorf("progress after a task's change: %q", p)
		}
	})
	t.Run("a running build", func(t *testing.T) {
		r := newCtlRig(t, 20, 15, db.BuildRunning)
		_, err := r.words("faster please")
		refused(t, err, "the build is not waiting for words")
	})
}

func TestWantsWords(t *testing.T) {
	change, changeTask := "change", "change_task"
	for _, c := range []struct {
		state  string
		reason *string
		want   bool
	}{
		{db.BuildClarifying, nil, true},
		{db.BuildProposed, nil, false},
		{db.BuildProposed, &change, true},
		{db.BuildProposed, &changeTask, false},
		{db.BuildBlocked, nil, false},
		{db.BuildBlocked, &changeTask, true},
		{db.BuildBlocked, &change, false},
		{db.BuildRunning, &change, false},
		{db.BuildPaused, &changeTask, false},
		{db.BuildNew, nil, false},
		{db.BuildDone, nil, false},
	} {
		if got := build.WantsWords(db.Build{State: c.state, PauseReason: c.reason}); got != c.want {
			t.Errorf("WantsWords(%s, %v) = %v, want %v", c.state, c.reason, got, c.want)
		}
	}
}
