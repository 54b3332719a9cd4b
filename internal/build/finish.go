package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// readme has the editor write README.md (what it is, how to run it, how it
// is laid out) as the build's last change set.
func (r *Runner) readme(ctx context.Context, b db.Build, tasks []db.BuildTask, key string) error {
	var spec Spec
	if err := json.Unmarshal(b.Spec, &spec); err != nil {
		return fault.Permanentf("build %d: stored spec: %v", b.ID, err)
	}
	snap, err := changeset.Load(ctx, r.DB.Pool, r.Files, b.ProjectID)
	if err != nil {
		return err
	}
	instr := "Write README.md for this project (create it, or replace what is there): what it is, how to install and run it, " +
		"how to run its tests, and how the files are laid out. Change no other file."
	pc, err := snap.Context(ctx, r.DB.Pool, changeset.ContextRequest{Instruction: instr + " " + spec.Summary, TokenBudget: r.Config.ContextTokens})
	if err != nil {
		return err
	}
	out, err := r.Editor.EditSet(ctx, EditRequest{Tree: snap, Instruction: instr, Context: planText(spec) + "\n\n" + pc.Render(), APIKey: key})
	if err != nil && fault.IsRetryable(err) {
		return err
	}
	var st changeset.Stored
	if err == nil && out.Question == "" && len(out.ChangeSet.Files) > 0 {
		if st, err = snap.Store(ctx, out.ChangeSet, r.Config.MaxFileBytes); err != nil {
			var tl *changeset.TooLargeError
			if !errors.As(err, &tl) {
				return err
			}
			st = changeset.Stored{}
		}
	}
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		addUsage(cur, out.Usage)
		if len(st.Writes) > 0 {
			cs, _, err := snap.Commit(ctx, tx, st, db.ChangeRefine, nil, "build: README", r.Config.Limits)
			if changeset.IsConflict(err) {
				return fault.AsRetryable(err)
			}
			if err == nil {
				if _, err := tx.Exec(ctx, `UPDATE change_sets SET build_id = $2 WHERE id = $1`, cs.ID, b.ID); err != nil {
					return err
				}
			} else if db.AsProjectFull(err) == nil {
				return err
			}
		}
		// The README is charged like a task.
		t := db.BuildTask{BuildID: b.ID, N: len(tasks) + 1, CostUSD: out.Usage.CostUSD, Rounds: []db.TaskRound{{}}}
		if err := r.chargeTask(ctx, tx, cur, &t); err != nil {
			return err
		}
		cur.CurrentTask++
		if cur.State == db.BuildRunning {
			cur.StepSeq++
		}
		return r.progressOf(ctx, tx, *cur, spec, tasks)
	})
}

// deliver ends the build: the zip, the closing message, the hold's rest
// released.
func (r *Runner) deliver(ctx context.Context, b db.Build, tasks []db.BuildTask) error {
	var spec Spec
	if err := json.Unmarshal(b.Spec, &spec); err != nil {
		return fault.Permanentf("build %d: stored spec: %v", b.ID, err)
	}
	files, err := db.ListFiles(ctx, r.DB.Pool, b.ProjectID)
	if err != nil {
		return err
	}
	return r.commit(ctx, b, func(tx pgx.Tx, cur *db.Build) error {
		if _, err := db.ReleaseBuildHold(ctx, tx, b.ID); err != nil {
			return err
		}
		now := time.Now()
		cur.State, cur.FinishedAt = db.BuildDone, &now
		if err := r.progressOf(ctx, tx, *cur, spec, tasks); err != nil {
			return err
		}
		done, skipped := 0, 0
		for _, t := range tasks {
			switch t.State {
			case db.TaskApproved:
				done++
			case db.TaskSkipped:
				skipped++
			}
		}
		took := now.Sub(b.CreatedAt)
		if b.StartedAt != nil {
			took = now.Sub(*b.StartedAt)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "✅ <b>%s</b> is built: %s, %s, %s, %s.", htmlEscape(spec.Title), count(len(files), "file"),
			count(done, "task"), count(int(cur.ChargedCredits), "credit"), duration(took))
		if skipped > 0 {
			fmt.Fprintf(&sb, " (%s skipped)", count(skipped, "task"))
		}
		sb.WriteString(" README.md says how to run it.\nKeep going in plain words, e.g. \"add a search endpoint\"; /undo, /history and /export work as on any project.")
		if err := db.AddOutbox(ctx, tx, b.ID, "zip", slug(spec.Title)+".zip", nil); err != nil {
			return err
		}
		return db.AddOutbox(ctx, tx, b.ID, "message", sb.String(), nil)
	})
}

// problemsText renders static check problems for the model and the record.
func problemsText(ps []string) string {
	var sb strings.Builder
	for i, p := range ps {
		if i == 20 {
			fmt.Fprintf(&sb, "… and %d more\n", len(ps)-i)
			break
		}
		sb.WriteString(p + "\n")
	}
	return sb.String()
}

// feedback is what the next round is told about this one.
func feedback(rd db.TaskRound) string {
	switch {
	case rd.Error != "":
		return "Your last attempt failed: " + rd.Error + "."
	case rd.Checks != "":
		return "Your last change was saved, but these files do not parse; fix them:\n" + rd.Checks
	case !rd.Approved:
		return "Your last change was saved, but the review rejected it:\n- " + strings.Join(rd.Reasons, "\n- ") + "\nFix what it asks."
	}
	return ""
}

// lastProblem says why a task's last round did not pass.
func lastProblem(t db.BuildTask) string {
	if len(t.Rounds) == 0 {
		return "no round ran"
	}
	rd := t.Rounds[len(t.Rounds)-1]
	switch {
	case rd.Error != "":
		return rd.Error
	case rd.Checks != "":
		return "files still do not parse (" + firstLine(rd.Checks) + ")"
	}
	return "the review still asks: " + strings.Join(rd.Reasons, "; ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(l) > 200 {
		l = l[:200] + "…"
	}
	return l
}

// taskInstruction is the editor's request for task n.
func taskInstruction(spec Spec, n int, t Task, fb *string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Implement task %d of %d of the plan: %s.\nWhat it does: %s\nFiles it is expected to touch: %s\nIt is done when: %s\n",
		n, len(spec.Tasks), t.Title, t.Does, strings.Join(t.Files, ", "), t.DoneWhen)
	sb.WriteString("Make the whole task in one reply; keep to the plan's stack; do not ask questions (make reasonable assumptions).")
	if fb != nil && *fb != "" {
		sb.WriteString("\n\n" + *fb)
	}
	return sb.String()
}

// planText is the spec as the editor's context.
func planText(s Spec) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "The plan: %s — %s\nStack: %s\nTasks:\n", s.Title, s.Summary, strings.Join(s.Stack, ", "))
	for i, t := range s.Tasks {
		fmt.Fprintf(&sb, "%d. %s (%s): %s Done when: %s\n", i+1, t.Title, strings.Join(t.Files, ", "), t.Does, t.DoneWhen)
	}
	return sb.String()
}

// turns converts the stored conversation for the architect.
func turns(ts []db.Turn) []Turn {
	out := make([]Turn, len(ts))
	for i, t := range ts {
		out[i] = Turn{Role: t.Role, Text: t.Text}
	}
	return out
}

func (u Usage) plus(v Usage) Usage {
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
	u.CostUSD += v.CostUSD
	u.Calls += v.Calls
	if v.Model != "" {
		u.Model = v.Model
	}
	return u
}
