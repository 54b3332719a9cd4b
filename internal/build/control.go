package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// What the user does to a build, from the chat (TelegramUpdates), in the
// update's transaction on the locked build row. Each returns the step to
// publish once the transaction commits (0: none); messages it decides go
// through the outbox like the runner's.

// Pending kinds of input (builds.pause_reason while the build waits for
// words): the spec's change, a task's change.
const (
	awaitChange     = "change"
	awaitTaskChange = "change_task"
)

// ErrNotNow is a control that the build's state does not allow; its text
// says why, for the user.
var ErrNotNow = errors.New("not now")

func notNow(format string, args ...any) error {
	return fault.AsPermanent(fmt.Errorf("%w: "+format, append([]any{ErrNotNow}, args...)...))
}

// Create records a new build of a description in a project.
func Create(ctx context.Context, q db.Querier, nb db.NewBuild) (db.Build, error) {
	return db.CreateBuild(ctx, q, nb)
}

// WantsWords reports whether the build takes the user's next plain message:
// answers to its questions, or a change of its spec or of a task.
func WantsWords(b db.Build) bool {
	if b.State == db.BuildClarifying {
		return true
	}
	return b.PauseReason != nil && (*b.PauseReason == awaitChange && b.State == db.BuildProposed ||
		*b.PauseReason == awaitTaskChange && b.State == db.BuildBlocked)
}

// Words takes the user's plain message as the build's pending input.
func Words(ctx context.Context, q db.Querier, b *db.Build, text string) (int64, error) {
	switch {
	case b.State == db.BuildClarifying:
		b.Thread = append(b.Thread, db.Turn{Role: "user", Text: text})
		b.State = db.BuildProposing
	case b.State == db.BuildProposed && b.PauseReason != nil && *b.PauseReason == awaitChange:
		b.Thread = append(b.Thread, db.Turn{Role: "user", Text: text})
		b.State, b.PauseReason = db.BuildRevising, nil
	case b.State == db.BuildBlocked && b.PauseReason != nil && *b.PauseReason == awaitTaskChange:
		t, err := currentTask(ctx, q, *b)
		if err != nil {
			return 0, err
		}
		fb := "The user changed this task: " + text
		t.Feedback, t.Round, t.State = &fb, 0, db.TaskPending
		var task Task
		if json.Unmarshal(t.Task, &task) == nil {
			task.Does += " (The user adds: " + text + ")"
			t.Task, _ = json.Marshal(task)
		}
		if err := db.SaveBuildTask(ctx, q, t); err != nil {
			return 0, err
		}
		b.State, b.PauseReason = db.BuildRunning, nil
	default:
		return 0, notNow("the build is not waiting for words")
	}
	seq, err := advance(ctx, q, b)
	if err != nil || b.State != db.BuildRunning {
		return seq, err
	}
	// The changed task runs again: the progress message says so, as after
	// Retry, instead of "did not pass" until its round ends.
	return seq, queueProgress(ctx, q, *b)
}

// advance saves b at its next step.
func advance(ctx context.Context, q db.Querier, b *db.Build) (int64, error) {
	b.StepSeq++
	if err := db.SaveBuild(ctx, q, *b); err != nil {
		return 0, err
	}
	return b.StepSeq, nil
}

func currentTask(ctx context.Context, q db.Querier, b db.Build) (db.BuildTask, error) {
	ts, err := db.BuildTasks(ctx, q, b.ID)
	if err != nil {
		return db.BuildTask{}, err
	}
	if b.CurrentTask >= len(ts) {
		return db.BuildTask{}, notNow("the build has no current task")
	}
	return ts[b.CurrentTask], nil
}

// Control applies a button (kind: start, change, cancel, pause, resume,
// retry, skip) to b. hold is what Start reserves.
func Control(ctx context.Context, q db.Querier, b *db.Build, kind string) (int64, error) {
	if b.Final() {
		return 0, notNow("this build has ended (%s)", b.State)
	}
	var seq int64
	var err error
	switch kind {
	case "start":
		if b.State != db.BuildProposed {
			return 0, notNow("it can be started only once, from its spec")
		}
		if err := db.HoldBuildCredits(ctx, q, b.ID, b.UserID, b.EstimateCredits); err != nil {
			if errors.Is(err, fault.ErrInsufficient) {
				return 0, notNow("it is estimated at %d credits and you have fewer available: /buy more, then tap Start again", b.EstimateCredits)
			}
			return 0, err
		}
		now := time.Now()
		b.State, b.PauseReason, b.StartedAt = db.BuildRunning, nil, &now
		seq, err = advance(ctx, q, b)
	case "change":
		switch b.State {
		case db.BuildProposed:
			r := awaitChange
			b.PauseReason = &r
		case db.BuildBlocked:
			r := awaitTaskChange
			b.PauseReason = &r
		default:
			return 0, notNow("the spec can be changed before the build starts, or a task after it failed")
		}
		err = db.SaveBuild(ctx, q, *b)
	case "pause":
		if b.State != db.BuildRunning {
			return 0, notNow("it is not running")
		}
		r := "user"
		b.State, b.PauseReason = db.BuildPaused, &r
		err = db.SaveBuild(ctx, q, *b) // the step in flight finishes, then waits
	case "resume":
		if b.State != db.BuildPaused {
			return 0, notNow("it is not paused")
		}
		b.State, b.PauseReason = db.BuildRunning, nil
		if b.ClaimedAt != nil {
			// The step the Pause let finish is still in flight (or its
			// instance died and a redelivery runs it again): it goes on
			// as if never paused. A new step would fence it out, its work
			// dropped and done again.
			err = db.SaveBuild(ctx, q, *b)
			break
		}
		seq, err = advance(ctx, q, b)
	case "retry", "skip":
		if b.State != db.BuildBlocked {
			return 0, notNow("no task is waiting for that")
		}
		t, terr := currentTask(ctx, q, *b)
		if terr != nil {
			return 0, terr
		}
		if kind == "retry" {
			t.State, t.Round, t.Feedback = db.TaskPending, 0, nil
		} else {
			t.State = db.TaskSkipped
			b.CurrentTask++
		}
		if err := db.SaveBuildTask(ctx, q, t); err != nil {
			return 0, err
		}
		b.State, b.PauseReason = db.BuildRunning, nil
		seq, err = advance(ctx, q, b)
	case "cancel":
		if _, err := db.ReleaseBuildHold(ctx, q, b.ID); err != nil {
			return 0, err
		}
		now := time.Now()
		b.State, b.PauseReason, b.FinishedAt = db.BuildCancelled, nil, &now
		b.StepSeq++ // a step in flight is fenced out: its work is dropped whole
		err = db.SaveBuild(ctx, q, *b)
	default:
		return 0, notNow("unknown control %q", kind)
	}
	if err != nil {
		return 0, err
	}
	if b.State != db.BuildProposed || kind != "change" {
		if err := queueProgress(ctx, q, *b); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// queueProgress refreshes the progress message after a control, when the
// build has a spec.
func queueProgress(ctx context.Context, q db.Querier, b db.Build) error {
	if len(b.Spec) == 0 || b.StartedAt == nil {
		return nil
	}
	var spec Spec
	if err := json.Unmarshal(b.Spec, &spec); err != nil {
		return nil
	}
	ts, err := db.BuildTasks(ctx, q, b.ID)
	if err != nil {
		return err
	}
	return QueueProgress(ctx, q, b, spec, ts)
}

// Status renders a build's progress as it stands (for /status).
func Status(ctx context.Context, q db.Querier, b db.Build) (string, error) {
	if len(b.Spec) == 0 {
		return fmt.Sprintf("The build of %q is being planned (%s).", b.Description, b.State), nil
	}
	var spec Spec
	if err := json.Unmarshal(b.Spec, &spec); err != nil {
		return "", err
	}
	ts, err := db.BuildTasks(ctx, q, b.ID)
	if err != nil {
		return "", err
	}
	if b.StartedAt == nil && !b.Final() {
		return spec.Render(), nil
	}
	html, _ := RenderProgress(b, spec, ts)
	return html, nil
}
