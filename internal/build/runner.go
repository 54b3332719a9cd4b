package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// Planner is the architect: questions, the spec, its revisions, reviews.
// *Architect is one.
type Planner interface {
	Clarify(ctx context.Context, description, apiKey string) ([]string, Usage, error)
	Propose(ctx context.Context, thread []Turn, apiKey string) (Spec, Usage, error)
	Revise(ctx context.Context, current Spec, thread []Turn, change, apiKey string) (Spec, Usage, error)
	Review(ctx context.Context, spec Spec, taskIndex int, diff, checks, apiKey string) (Verdict, Usage, error)
}

// EditRequest is one change of the project the editor model is to make.
type EditRequest struct {
	Tree        editblock.Tree
	Instruction string
	Context     string
	APIKey      string
}

// EditOutcome is the editor's change set, or its question, and its usage.
type EditOutcome struct {
	ChangeSet editblock.ChangeSet
	Question  string
	Usage     Usage
}

// Editor makes a task's change set (the editor model).
type Editor interface {
	EditSet(ctx context.Context, r EditRequest) (EditOutcome, error)
}

// Sender is what the build needs of the Bot API.
type Sender interface {
	reply.Sender
	reply.Editor
}

// Publisher publishes step messages (events.Publisher).
type Publisher interface {
	Publish(ctx context.Context, m events.Outgoing) (string, error)
}

// Config prices and bounds builds.
type Config struct {
	// BaseTaskCredits is charged per task on top of its model cost.
	BaseTaskCredits int64
	CreditsPerUSD   float64
	// TaskEstimate is the credits a task is estimated at (the spec's
	// estimate is that times the tasks, plus one for the README).
	TaskEstimate int64
	// RoundCredits is a round's worst case: a round starts only when the
	// hold and the free balance cover it.
	RoundCredits int64
	// MaxRounds bounds a task's rounds of checks and review.
	MaxRounds int
	// Lease is how long a step's claim lasts without renewal (0: none).
	Lease         time.Duration
	ContextTokens int
	MaxFileBytes  int64
	Limits        db.ProjectLimits
}

// Runner runs build steps (the BuildSteps consumer).
type Runner struct {
	Config    Config
	DB        *db.DB
	Files     changeset.Blobs
	Planner   Planner
	Editor    Editor
	Telegram  Sender
	Publisher Publisher
	Keys      *secretbox.Box
	Logger    *slog.Logger
	// Check finds the syntax errors of changed files, one line each
	// ("app.py:12:5: expected ':'"): langcheck.CheckAll. Nil: no checks.
	Check func(files map[string][]byte) []string
}

// stepMessage is a build-steps message.
type stepMessage struct {
	Build int64 `json:"build"`
	Seq   int64 `json:"seq"`
}

// StepData encodes the message of build id's step seq.
func StepData(id, seq int64) []byte {
	b, _ := json.Marshal(stepMessage{Build: id, Seq: seq})
	return b
}

func parseStep(data []byte) (stepMessage, error) {
	var m stepMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Build <= 0 || m.Seq <= 0 {
		return stepMessage{}, fault.Permanentf("%w: a build step message is {\"build\":N,\"seq\":N}, got %.80q", fault.ErrInvalid, data)
	}
	return m, nil
}

// Publish publishes build id's step seq and records it (the ordering key
// is the build, so its steps arrive in order).
func Publish(ctx context.Context, q db.Querier, p Publisher, id, seq int64) error {
	if _, err := p.Publish(ctx, events.Outgoing{Data: StepData(id, seq), OrderingKey: fmt.Sprintf("build/%d", id)}); err != nil {
		return err
	}
	return db.MarkBuildPublished(ctx, q, id, seq)
}

// Handle runs one delivery of a step message.
func (r *Runner) Handle(ctx context.Context, m events.Message) error {
	sm, err := parseStep(m.Data)
	if err != nil {
		return err
	}
	ctx = logging.With(ctx, slog.Int64("build_id", sm.Build), slog.Int64("step", sm.Seq))
	b, err := db.ClaimBuild(ctx, r.DB.Pool, sm.Build, sm.Seq, r.Config.Lease)
	if errors.Is(err, db.ErrBuildStale) || errors.Is(err, fault.ErrNotFound) {
		if b.ID != 0 {
			// A duplicate, or a step another delivery finished: make sure
			// what that one left to do is done.
			return r.followUp(ctx, b.ID)
		}
		return nil
	}
	if err != nil {
		return err
	}
	// What the last control queued (Start's first progress message) shows
	// before this step's model calls, not after them.
	if err := r.flush(ctx, b.ID); err != nil {
		r.Logger.WarnContext(ctx, "build messages not sent before the step", "error", err.Error())
	}
	wctx, stop := r.heartbeat(ctx, b)
	err = r.step(wctx, b)
	if err != nil && errors.Is(context.Cause(wctx), db.ErrLeaseLost) {
		// The step was fenced out while it ran (cancelled, or its lease
		// taken): what it did is dropped, and so is the error it ended on.
		err = fault.AsPermanent(fmt.Errorf("build %d step %d: %w (%v)", b.ID, b.StepSeq, db.ErrLeaseLost, err))
	}
	stop()
	if err != nil {
		if lerr := db.ReleaseBuildLease(context.WithoutCancel(ctx), r.DB.Pool, b.ID, b.Attempts); lerr != nil {
			r.Logger.WarnContext(ctx, "build lease not released", "error", lerr.Error())
		}
		if fault.IsPermanent(err) && !errors.Is(err, db.ErrLeaseLost) {
			r.Logger.ErrorContext(ctx, "build step failed permanently", "error", err.Error())
			return r.failBuild(ctx, b.ID, "Something went wrong on my side and the build stopped. What was built is kept; "+
				"/status shows it, and the credits not spent are released.")
		}
		return err
	}
	return r.followUp(ctx, b.ID)
}

// GiveUp is called on a step message's last delivery: a running build
// pauses (not fails: what it built is kept, and Resume tries again); a
// revision gives way to the spec as it was; a build still being planned,
// which has nothing to resume, fails without a charge.
func (r *Runner) GiveUp(ctx context.Context, m events.Message, cause error) error {
	sm, err := parseStep(m.Data)
	if err != nil {
		return nil
	}
	if errors.Is(cause, db.ErrBuildBusy) {
		return nil // another delivery runs it
	}
	err = r.DB.InTx(ctx, func(tx pgx.Tx) error {
		b, err := db.LockBuild(ctx, tx, 0, sm.Build)
		if err != nil || b.StepSeq != sm.Seq || !b.Stepping() {
			return err
		}
		b.StepSeq++
		switch b.State {
		case db.BuildRunning:
			reason := "trouble"
			b.State, b.PauseReason = db.BuildPaused, &reason
			if err := db.SaveBuild(ctx, tx, b); err != nil {
				return err
			}
			if err := queueProgress(ctx, tx, b); err != nil {
				return err
			}
			return r.notify(ctx, tx, b, reply.Reply{HTML: "⏸ The build paused: a service it depends on kept failing. " +
				"Nothing is lost; tap Resume to go on, or Cancel.", Buttons: controlButtons(b.ID, db.BuildPaused)})
		case db.BuildRevising:
			b.State = db.BuildProposed
			if err := db.SaveBuild(ctx, tx, b); err != nil {
				return err
			}
			return r.notify(ctx, tx, b, reply.Reply{HTML: "I could not change the spec: a service it depends on kept failing. " +
				"The spec stands as it was; Start it, or try Change again in a while.", Buttons: controlButtons(b.ID, db.BuildProposed)})
		}
		now := time.Now()
		msg := "I could not plan this build: a service it depends on kept failing. Nothing was charged; try /build again in a while."
		b.State, b.Error, b.FinishedAt = db.BuildFailed, &msg, &now
		if err := db.SaveBuild(ctx, tx, b); err != nil {
			return err
		}
		return r.notify(ctx, tx, b, reply.Text("❌ %s", msg))
	})
	if err != nil {
		return err
	}
	return r.flush(ctx, sm.Build)
}

// followUp sends the build's unsent messages and publishes its current
// step if that is not done yet.
func (r *Runner) followUp(ctx context.Context, id int64) error {
	if err := r.flush(ctx, id); err != nil {
		return err
	}
	b, err := db.GetBuild(ctx, r.DB.Pool, id)
	if err != nil {
		return err
	}
	if b.Stepping() && b.PublishedSeq < b.StepSeq {
		return Publish(ctx, r.DB.Pool, r.Publisher, b.ID, b.StepSeq)
	}
	return nil
}

// heartbeat renews the lease while a step runs; a lost lease, or a build
// that moved past the step (a Cancel), cancels the step's context with
// db.ErrLeaseLost.
func (r *Runner) heartbeat(ctx context.Context, b db.Build) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if r.Config.Lease <= 0 {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.Config.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				ok, err := db.RenewBuildLease(ctx, r.DB.Pool, b.ID, b.Attempts)
				if err == nil && ok {
					ok = !errors.Is(r.fenced(ctx, b), db.ErrLeaseLost)
				}
				if err == nil && !ok {
					cancel(db.ErrLeaseLost)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// fenced returns a permanent db.ErrLeaseLost when the build moved past b's
// step or another delivery took its lease (a control cancelled the build,
// or the lease ran out): the step's commit would be refused, so it makes no
// more model calls.
func (r *Runner) fenced(ctx context.Context, b db.Build) error {
	cur, err := db.GetBuild(ctx, r.DB.Pool, b.ID)
	if err != nil {
		return err
	}
	if cur.StepSeq != b.StepSeq || cur.Attempts != b.Attempts || cur.ClaimedAt == nil {
		return fault.AsPermanent(fmt.Errorf("build %d step %d: %w", b.ID, b.StepSeq, db.ErrLeaseLost))
	}
	return nil
}

// commit runs fn on the build locked at b's step, fenced by b's lease, and
// saves what fn left in the build, releasing the lease. The build's state
// may have moved meanwhile (the user paused or cancelled): fn sees the
// fresh row.
func (r *Runner) commit(ctx context.Context, b db.Build, fn func(tx pgx.Tx, cur *db.Build) error) error {
	return r.DB.InTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.HoldBuildLease(ctx, tx, b.ID, b.StepSeq, b.Attempts)
		if err != nil {
			return err
		}
		if err := fn(tx, &cur); err != nil {
			return err
		}
		if err := db.SaveBuild(ctx, tx, cur); err != nil {
			return err
		}
		return db.ReleaseBuildLease(ctx, tx, b.ID, b.Attempts)
	})
}

// failBuild ends a build that cannot go on: the hold is released and the
// user told.
func (r *Runner) failBuild(ctx context.Context, id int64, msg string) error {
	err := r.DB.InTx(ctx, func(tx pgx.Tx) error {
		b, err := db.LockBuild(ctx, tx, 0, id)
		if err != nil || b.Final() {
			return err
		}
		now := time.Now()
		b.State, b.Error, b.FinishedAt = db.BuildFailed, &msg, &now
		if _, err := db.ReleaseBuildHold(ctx, tx, id); err != nil {
			return err
		}
		if err := db.SaveBuild(ctx, tx, b); err != nil {
			return err
		}
		return r.notify(ctx, tx, b, reply.Reply{HTML: "❌ " + telegram.Escape(msg)})
	})
	if err != nil {
		return err
	}
	return r.flush(ctx, id)
}

// apiKey is the user's own model key, if they set one.
func (r *Runner) apiKey(ctx context.Context, userID int64) (context.Context, string, error) {
	u, err := db.UserByID(ctx, r.DB.Pool, userID)
	if err != nil {
		return ctx, "", err
	}
	if u.LLMKeyEncrypted == nil || r.Keys == nil {
		return ctx, "", nil
	}
	k, err := r.Keys.Open(u.ID, u.LLMKeyEncrypted)
	if err != nil {
		return ctx, "", nil // unreadable: the bot's own model is used
	}
	return logging.WithSecret(ctx, string(k)), string(k), nil
}
