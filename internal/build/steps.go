package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// step runs the build's current step.
func (r *Runner) step(ctx context.Context, b db.Build) error {
	ctx, key, err := r.apiKey(ctx, b.UserID)
	if err != nil {
		return err
	}
	switch b.State {
	case db.BuildNew:
		return r.clarify(ctx, b, key)
	case db.BuildProposing:
		return r.propose(ctx, b, key)
	case db.BuildRevising:
		return r.revise(ctx, b, key)
	case db.BuildRunning:
		tasks, err := db.BuildTasks(ctx, r.DB.Pool, b.ID)
		if err != nil {
			return err
		}
		switch {
		case b.CurrentTask < len(tasks):
			return r.round(ctx, b, tasks, key)
		case b.CurrentTask == len(tasks):
			return r.readme(ctx, b, tasks, key)
		}
		return r.deliver(ctx, b, tasks)
	}
	return nil
}

// addUsage records model calls on the build.
func addUsage(b *db.Build, u Usage) {
	b.PromptTokens += int64(u.PromptTokens)
	b.CompletionTokens += int64(u.CompletionTokens)
	b.CostUSD += u.CostUSD
}

// clarify asks the architect whether the description needs questions.
func (r *Runner) clarify(ctx context.Context, b db.Build, key string) error {
	qs, u, err := r.Planner.Clarify(ctx, b.Description, key)
	if err != nil {
		return r.modelTrouble(ctx, b, u, err)
	}
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		addUsage(cur, u)
		cur.Thread = append(cur.Thread, db.Turn{Role: "user", Text: b.Description})
		if len(qs) == 0 || cur.State != db.BuildNew {
			cur.State = db.BuildProposing
			cur.StepSeq++
			return r.progress(ctx, tx, *cur, "Planning…")
		}
		cur.State = db.BuildClarifying
		var sb strings.Builder
		for i, q := range qs {
			fmt.Fprintf(&sb, "%d. %s\n", i+1, q)
		}
		cur.Thread = append(cur.Thread, db.Turn{Role: "assistant", Text: sb.String()})
		return r.notify(ctx, tx, *cur, reply.Reply{HTML: reply.HTMLf("Before I plan it, %s:\n%s", questionsWord(len(qs)), sb.String()) +
			"\n<i>Answer in plain words, or say \"go ahead\".</i>"})
	})
}

func questionsWord(n int) string {
	switch n {
	case 1:
		return "one question"
	case 2:
		return "two questions"
	}
	return fmt.Sprintf("%d questions", n)
}

// propose asks for the spec and shows it with Start, Change and Cancel.
func (r *Runner) propose(ctx context.Context, b db.Build, key string) error {
	spec, u, err := r.Planner.Propose(ctx, turns(b.Thread), key)
	if err != nil {
		return r.modelTrouble(ctx, b, u, err)
	}
	return r.proposed(ctx, b, spec, u)
}

// revise applies the user's change to the spec.
func (r *Runner) revise(ctx context.Context, b db.Build, key string) error {
	var cur Spec
	if err := json.Unmarshal(b.Spec, &cur); err != nil {
		return fault.Permanentf("build %d: stored spec: %v", b.ID, err)
	}
	change := ""
	if n := len(b.Thread); n > 0 && b.Thread[n-1].Role == "user" {
		change = b.Thread[n-1].Text
	}
	spec, u, err := r.Planner.Revise(ctx, cur, turns(b.Thread), change, key)
	if err != nil {
		return r.modelTrouble(ctx, b, u, err)
	}
	return r.proposed(ctx, b, spec, u)
}

// proposed records a (revised) spec and shows it.
func (r *Runner) proposed(ctx context.Context, b db.Build, spec Spec, u Usage) error {
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	var tasks []json.RawMessage
	for _, t := range spec.Tasks {
		tj, _ := json.Marshal(t)
		tasks = append(tasks, tj)
	}
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		addUsage(cur, u)
		cur.Spec = raw
		cur.EstimateCredits = r.estimate(spec)
		cur.State = db.BuildProposed
		cur.Thread = append(cur.Thread, db.Turn{Role: "assistant", Text: "Spec: " + string(raw)})
		if err := db.ReplaceBuildTasks(ctx, tx, b.ID, tasks); err != nil {
			return err
		}
		u, err := db.UserByID(ctx, tx, b.UserID)
		if err != nil {
			return err
		}
		html := spec.Render() + reply.HTMLf("\nEstimated %d credits; you have %d.", cur.EstimateCredits, u.Available())
		return r.notify(ctx, tx, *cur, reply.Reply{HTML: html, Buttons: controlButtons(b.ID, db.BuildProposed)})
	})
}

// estimate is what Start holds: a task's estimate per task, and one for
// the README.
func (r *Runner) estimate(s Spec) int64 {
	return r.Config.TaskEstimate * int64(len(s.Tasks)+1)
}

// modelTrouble hands a retryable model error back (the step runs again)
// and pauses the build on a permanent one, saying why.
func (r *Runner) modelTrouble(ctx context.Context, b db.Build, u Usage, err error) error {
	if fault.IsRetryable(err) {
		return err
	}
	why := "the model could not give a usable answer"
	switch {
	case errors.Is(err, fault.ErrUnauthorized):
		why = "the model service refused the key"
	case errors.Is(err, ErrInvalidSpec):
		why = "the architect model's plan did not validate after several tries"
	}
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		addUsage(cur, u)
		reason := "trouble"
		switch cur.State {
		case db.BuildRunning:
			cur.State, cur.PauseReason = db.BuildPaused, &reason
			if err := queueProgress(ctx, tx, *cur); err != nil {
				return err
			}
		case db.BuildRevising:
			cur.State = db.BuildProposed // the spec stands as it was
		default:
			now := time.Now()
			cur.State, cur.FinishedAt = db.BuildFailed, &now
			msg := "I could not plan this build: " + why + ". Nothing was charged; try /build again with more detail."
			cur.Error = &msg
			return r.notify(ctx, tx, *cur, reply.Text("❌ %s", msg))
		}
		cur.StepSeq++
		if cur.State == db.BuildProposed {
			return r.notify(ctx, tx, *cur, reply.Reply{HTML: reply.HTMLf("I could not change the spec: %s. "+
				"The spec stands as it was; Start it, or try Change again.", why), Buttons: controlButtons(b.ID, cur.State)})
		}
		return r.notify(ctx, tx, *cur, reply.Reply{HTML: reply.HTMLf("⏸ The build paused: %s. Tap Resume to try again.", why),
			Buttons: controlButtons(b.ID, cur.State)})
	})
}

// round runs one round of the current task: the editor's change set, the
// static checks, the architect's review.
func (r *Runner) round(ctx context.Context, b db.Build, tasks []db.BuildTask, key string) error {
	t := tasks[b.CurrentTask]
	var spec Spec
	if err := json.Unmarshal(b.Spec, &spec); err != nil {
		return fault.Permanentf("build %d: stored spec: %v", b.ID, err)
	}
	var task Task
	if err := json.Unmarshal(t.Task, &task); err != nil {
		return fault.Permanentf("build %d task %d: %v", b.ID, t.N, err)
	}
	if ok, err := r.covered(ctx, b); err != nil || !ok {
		if err != nil {
			return err
		}
		return r.outOfCredits(ctx, b)
	}
	snap, err := changeset.Load(ctx, r.DB.Pool, r.Files, b.ProjectID)
	if err != nil {
		return err
	}
	instr := taskInstruction(spec, t.N, task, t.Feedback)
	pc, err := snap.Context(ctx, r.DB.Pool, changeset.ContextRequest{Instruction: instr, Pinned: task.Files, TokenBudget: r.Config.ContextTokens})
	if err != nil {
		return err
	}
	rd := db.TaskRound{Round: t.Round + 1}
	out, err := r.Editor.EditSet(ctx, EditRequest{Tree: snap, Instruction: instr, Context: planText(spec) + "\n\n" + pc.Render(), APIKey: key})
	use := out.Usage
	var st changeset.Stored
	var checks []string
	switch {
	case err != nil && fault.IsRetryable(err):
		return err
	case err != nil:
		rd.Error = "the change did not apply: " + firstLine(err.Error())
	case out.Question != "":
		rd.Error = "the editor asked a question instead of changing files; make reasonable assumptions and make the change"
	case len(out.ChangeSet.Files) == 0:
		rd.Error = "the change changed no file"
	default:
		st, err = snap.Store(ctx, out.ChangeSet, r.Config.MaxFileBytes)
		if err != nil {
			var tl *changeset.TooLargeError
			if !errors.As(err, &tl) {
				return err
			}
			rd.Error = tl.Error()
			break
		}
		changed := map[string][]byte{}
		for _, fc := range out.ChangeSet.Files {
			if fc.New != nil {
				changed[fc.Path] = fc.New
			}
			rd.Files = append(rd.Files, fc.Path)
		}
		if r.Check != nil {
			checks = r.Check(changed)
		}
		rd.Checks = problemsText(checks)
		if len(checks) == 0 {
			// A Cancel while the editor worked fences the step out: its
			// change is dropped at commit, so it is not reviewed either.
			if err := r.fenced(ctx, b); err != nil {
				return err
			}
			v, ru, err := r.Planner.Review(ctx, spec, t.N-1, out.ChangeSet.Diff, "", key)
			use = use.plus(ru)
			if err != nil {
				if fault.IsRetryable(err) {
					return err
				}
				v = Verdict{Approve: true, Reasons: []string{"(the review could not be read; the checks passed)"}}
			}
			rd.Approved, rd.Reasons = v.Approve, v.Reasons
		}
	}
	rd.PromptTokens, rd.CompletionTokens, rd.CostUSD = use.PromptTokens, use.CompletionTokens, use.CostUSD
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		addUsage(cur, use)
		t.Round++
		t.State = db.TaskRunning
		t.PromptTokens += int64(use.PromptTokens)
		t.CompletionTokens += int64(use.CompletionTokens)
		t.CostUSD += use.CostUSD
		if len(st.Writes) > 0 {
			bid := b.ID
			cs, _, err := snap.Commit(ctx, tx, st, db.ChangeRefine, nil, fmt.Sprintf("build task %d: %s", t.N, task.Title), r.Config.Limits)
			if changeset.IsConflict(err) {
				// The user changed a file meanwhile: the round runs again
				// on the project as it is.
				return fault.AsRetryable(fmt.Errorf("build %d task %d: %w", b.ID, t.N, err))
			}
			if db.AsProjectFull(err) != nil {
				rd.Error, rd.Approved = "the change would take the project over its limits", false
			} else if err != nil {
				return err
			} else {
				rd.ChangeSetID = cs.ID
				if _, err := tx.Exec(ctx, `UPDATE change_sets SET build_id = $2 WHERE id = $1`, cs.ID, bid); err != nil {
					return err
				}
			}
		}
		t.Rounds = append(t.Rounds, rd)
		switch {
		case rd.Approved:
			t.State, t.Feedback = db.TaskApproved, nil
			if err := r.chargeTask(ctx, tx, cur, &t); err != nil {
				return err
			}
			cur.CurrentTask++
		case t.Round >= r.maxRounds():
			t.State = db.TaskFailed
			if err := r.chargeTask(ctx, tx, cur, &t); err != nil {
				return err
			}
			// A Pause tapped during the round gives way: the build waits
			// for the user's choice either way, and Resume would run the
			// failed task past its rounds.
			if cur.State == db.BuildRunning || cur.State == db.BuildPaused {
				cur.State, cur.PauseReason = db.BuildBlocked, nil
			}
		default:
			fb := feedback(rd)
			t.Feedback = &fb
		}
		if err := db.SaveBuildTask(ctx, tx, t); err != nil {
			return err
		}
		tasks[t.N-1] = t
		if cur.State == db.BuildRunning {
			cur.StepSeq++
		}
		if err := r.progressOf(ctx, tx, *cur, spec, tasks); err != nil {
			return err
		}
		if cur.State == db.BuildBlocked {
			return r.notify(ctx, tx, *cur, reply.Reply{HTML: reply.HTMLf("Task %d (%s) did not pass after %s: %s\nWhat now?",
				t.N, task.Title, count(t.Round, "round"), lastProblem(t)), Buttons: blockedButtons(b.ID)})
		}
		return nil
	})
}

func (r *Runner) maxRounds() int {
	if r.Config.MaxRounds <= 0 {
		return 3
	}
	return r.Config.MaxRounds
}

// chargeTask charges a finished task what it cost: the base price plus its
// model calls in credits, less what it was charged before (a task retried
// after it failed is settled again, for its new rounds only). Each
// settlement has its own cause (the rounds so far), so a step committed
// twice cannot charge twice.
func (r *Runner) chargeTask(ctx context.Context, tx pgx.Tx, b *db.Build, t *db.BuildTask) error {
	amount := r.Config.BaseTaskCredits + int64(math.Ceil(t.CostUSD*r.Config.CreditsPerUSD-1e-9)) - t.ChargedCredits
	if amount <= 0 {
		return nil
	}
	cause := fmt.Sprintf("build:%d:task:%d:%d", b.ID, t.N, len(t.Rounds))
	charged, _, err := db.ChargeBuild(ctx, tx, b.ID, b.UserID, cause, amount, fmt.Sprintf("build task %d", t.N))
	if err != nil {
		return err
	}
	t.ChargedCredits += charged
	b.ChargedCredits += charged
	return nil
}

// covered reports whether the hold and the free balance cover a round's
// worst case.
func (r *Runner) covered(ctx context.Context, b db.Build) (bool, error) {
	held, err := db.BuildHeld(ctx, r.DB.Pool, b.ID)
	if err != nil {
		return false, err
	}
	u, err := db.UserByID(ctx, r.DB.Pool, b.UserID)
	if err != nil {
		return false, err
	}
	return held+u.Available() >= r.Config.RoundCredits, nil
}

// outOfCredits pauses the build until the user buys credits.
func (r *Runner) outOfCredits(ctx context.Context, b db.Build) error {
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		reason := "credits"
		cur.State, cur.PauseReason = db.BuildPaused, &reason
		cur.StepSeq++
		if err := queueProgress(ctx, tx, *cur); err != nil {
			return err
		}
		rep := reply.Reply{HTML: reply.HTMLf("⏸ The build paused: the next task may need up to %d credits and you have fewer left. "+
			"Buy more, then tap Resume: it goes on where it stopped.", r.Config.RoundCredits)}
		rep.Buttons = [][]reply.Button{{{Text: "Buy credits", Data: "buy:0"}, {Text: "Resume", Data: fmt.Sprintf("bresume:%d", b.ID)}},
			{{Text: "Cancel", Data: fmt.Sprintf("bcancel:%d", b.ID)}}}
		return r.notify(ctx, tx, *cur, rep)
	})
}
