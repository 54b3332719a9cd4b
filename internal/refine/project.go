package refine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
	"github.com/devbot-hq/devbot/internal/reply"
)

// A project job makes one change set of the project: the model (or the
// user's own blocks) may edit, create, delete and rename files, with the
// project as context (a map, the named, pinned and relevant files). The
// change applies completely or not at all; when a file it touches changed
// meanwhile, the same reply is applied again to the new state (the blocks
// usually still match), and only if that fails too is it reported as a
// conflict with a Retry button.

// SetEditRequest is one change of a project to compute.
type SetEditRequest struct {
	Tree        editblock.Tree
	Focus       string
	Instruction string
	Context     string
	Thread      []db.Turn
	APIKey      string
}

// SetEditOutcome is a computed change set, or the model's question.
type SetEditOutcome struct {
	ChangeSet        editblock.ChangeSet
	Question         string
	Reply            string // the model's last reply ("" for a direct edit)
	Direct           bool
	Model            string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	Attempts         int
}

// SetEditor computes project changes; its errors are classified like
// Editor's.
type SetEditor interface {
	EditSet(ctx context.Context, r SetEditRequest) (SetEditOutcome, error)
}

// conflictRetries bounds how often a change is applied again to a project
// that moved while it was computed.
const conflictRetries = 2

func (r *Runner) runProject(ctx context.Context, j db.Job, state *db.ProjectState) (*told, error) {
	start := time.Now()
	if r.SetEditor == nil {
		return nil, fault.Permanentf("refine: job %d changes a project, and no project editor is configured", j.ID)
	}
	var snap *changeset.Snapshot
	var err error
	if state != nil {
		snap = changeset.FromState(ctx, r.DB.Pool, r.Files, state)
	} else if snap, err = changeset.Load(ctx, r.DB.Pool, r.Files, j.ProjectID); err != nil {
		return nil, err
	}
	if j.Path != "" {
		if _, ok := snap.Files[j.Path]; !ok {
			return nil, r.fail(ctx, j.ID, j.Attempts, db.JobRejected, "gone", fmt.Sprintf("%s no longer exists. Nothing was charged.", j.Path), EditOutcome{}, 0)
		}
	}
	apiKey := ""
	if j.Mode != db.ModeDirect {
		u, err := db.UserByID(ctx, r.DB.Pool, j.UserID)
		if err != nil {
			return nil, err
		}
		if u.LLMKeyEncrypted != nil && r.Keys != nil {
			k, err := r.Keys.Open(u.ID, u.LLMKeyEncrypted)
			if err != nil {
				return nil, r.fail(ctx, j.ID, j.Attempts, db.JobFailed, "key", "Your stored LLM key cannot be read any more: /setkey it again, or /delkey. Nothing was charged.", EditOutcome{}, time.Since(start))
			}
			apiKey = string(k)
			ctx = logging.WithSecret(ctx, apiKey)
		}
	}
	req := SetEditRequest{Tree: snap, Focus: j.Path, Instruction: j.Instruction, Thread: j.Thread, APIKey: apiKey}
	if j.Mode != db.ModeDirect {
		pinned, err := db.PinnedFiles(ctx, r.DB.Pool, j.ProjectID)
		if err != nil {
			return nil, err
		}
		pc, err := snap.Context(ctx, r.DB.Pool, changeset.ContextRequest{Instruction: threadText(j), Focus: j.Path,
			Pinned: pinned, TokenBudget: r.Config.ContextTokens})
		if err != nil {
			return nil, storageOr(err)
		}
		req.Context = pc.Render()
	}
	out, err := r.SetEditor.EditSet(ctx, req)
	usage := EditOutcome{Model: out.Model, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens,
		CostUSD: out.CostUSD, Attempts: out.Attempts}
	if err != nil {
		if ierr := interruption(ctx); ierr != nil {
			return nil, fault.AsRetryable(fmt.Errorf("refine: the edit was stopped: %w", ierr))
		}
		if fault.IsRetryable(err) {
			return nil, inService(ServiceModel, storageOr(err))
		}
		state, kind, msg := explain(projectView(j), err, apiKey != "", out.Attempts)
		r.Logger.InfoContext(ctx, "change set failed", "kind", kind, "error", loggable(err))
		return nil, r.failReport(ctx, projectView(j), err, state, kind, msg, usage, time.Since(start))
	}
	if out.Question != "" {
		return nil, r.ask(ctx, j, out, time.Since(start))
	}
	jobID := j.ID
	for try := 0; ; try++ {
		st, err := snap.Store(ctx, out.ChangeSet, r.Config.MaxFileBytes)
		var tl *changeset.TooLargeError
		if errors.As(err, &tl) {
			return nil, r.fail(ctx, j.ID, j.Attempts, db.JobFailed, "too_large", fmt.Sprintf("The change would make %s %s, over the %s a file may hold. Nothing was charged.",
				tl.Path, reply.Size(tl.Size), reply.Size(tl.Max)), usage, time.Since(start))
		}
		if err != nil {
			return nil, storageOr(err)
		}
		charge := r.Config.Charge(j.Mode, out.CostUSD)
		var t *told
		err = r.DB.InTx(ctx, func(tx pgx.Tx) error {
			if err := db.HoldJobLease(ctx, tx, j.ID, j.Attempts); err != nil {
				return err
			}
			// Any error rolls the whole transaction back: no savepoint.
			cs, _, err := snap.CommitWhole(ctx, tx, st, db.ChangeRefine, &jobID, changeSummary(j, out), r.Config.Limits)
			if err != nil {
				return err
			}
			if err := db.ChargeHold(ctx, tx, j.ID, charge, "change "+changedFiles(out.ChangeSet)); err != nil && !errors.Is(err, db.ErrHoldSettled) {
				return err
			}
			// The reply's claim is taken with the outcome: this delivery
			// tells it next, from what it has in hand (tell).
			done, extra, err := db.SucceedProjectJobReplying(ctx, tx, j.ID, db.ProjectSuccess{ChangeSetID: cs.ID, ModelReply: out.Reply,
				Diff: out.ChangeSet.Diff, Model: out.Model, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens,
				CostUSD: out.CostUSD, EditAttempts: out.Attempts, EditBlocks: len(out.ChangeSet.Blocks), Duration: time.Since(start)})
			t = &told{job: done, extra: extra, stored: st}
			return err
		})
		switch {
		case err == nil:
			return t, nil
		case errors.Is(err, db.ErrJobFinal):
			return nil, nil // another delivery finished it meanwhile
		case db.AsProjectFull(err) != nil:
			e := db.AsProjectFull(err)
			return nil, r.fail(ctx, j.ID, j.Attempts, db.JobFailed, "project_full", fmt.Sprintf(
				"The change would take the project to %s in %s, over its limits (%s, %s), so nothing was saved or charged. "+
					"Ask for a smaller change, or delete files first.",
				reply.Size(e.After.Bytes), plural(e.After.Files, "file"), plural(e.Limits.MaxFiles, "file"), reply.Size(e.Limits.MaxBytes)),
				usage, time.Since(start))
		case !changeset.IsConflict(err):
			return nil, err
		}
		// A file it touches moved: apply the same reply to the new state.
		moved := conflictNames(err)
		if try == conflictRetries {
			return nil, r.fail(ctx, j.ID, j.Attempts, db.JobFailed, KindConflict, fmt.Sprintf(
				"%s kept changing while I worked, so I did not save the change. Nothing was charged. "+
					"Tap Retry to run the same instruction on the project as it is now.", moved), usage, time.Since(start))
		}
		if snap, err = changeset.Load(ctx, r.DB.Pool, r.Files, j.ProjectID); err != nil {
			return nil, err
		}
		text := out.Reply
		if out.Direct {
			text = j.Instruction
		}
		cs2, aerr := editblock.ApplySetFocus(snap, text, j.Path)
		if aerr != nil {
			if editblock.AsError(aerr) == nil {
				return nil, storageOr(aerr)
			}
			return nil, r.fail(ctx, j.ID, j.Attempts, db.JobFailed, KindConflict, fmt.Sprintf(
				"%s changed meanwhile, and the change no longer applies to it, so I did not save it. "+
					"Nothing was charged. Tap Retry to run the same instruction on the project as it is now.", moved), usage, time.Since(start))
		}
		r.Logger.InfoContext(ctx, "change set applied again after a concurrent change", "try", try+1)
		out.ChangeSet = cs2
	}
}

// ask records the model's question: the job succeeds with it, charging
// nothing (its tokens are recorded), and the user's next plain message
// answers it.
func (r *Runner) ask(ctx context.Context, j db.Job, out SetEditOutcome, d time.Duration) error {
	return r.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.HoldJobLease(ctx, tx, j.ID, j.Attempts); err != nil {
			return err
		}
		if _, err := db.ReleaseHold(ctx, tx, j.ID); err != nil {
			return err
		}
		if err := db.SucceedProjectJob(ctx, tx, j.ID, db.ProjectSuccess{Question: out.Question, ModelReply: out.Reply,
			Model: out.Model, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD,
			EditAttempts: out.Attempts, Duration: d}); err != nil {
			return err
		}
		id := j.ID
		return db.SetAwaitingJob(ctx, tx, j.UserID, &id)
	})
}

// threadText is what the project search reads: the whole conversation, so
// an answer ("use the sqlite one") still finds what the question was about.
func threadText(j db.Job) string {
	s := ""
	for _, t := range j.Thread {
		s += t.Text + "\n"
	}
	return s + j.Instruction
}

// projectView names a project job's file for the single-file wording
// (explain, failReport): its focus, or "the project".
func projectView(j db.Job) db.Job {
	if j.Path == "" {
		j.Path = "the project"
	}
	return j
}

// changeSummary is how /history names a change: the request's first line,
// or, for the user's own blocks, what they are.
func changeSummary(j db.Job, out SetEditOutcome) string {
	if out.Direct {
		return fmt.Sprintf("your edit (%s)", plural(len(out.ChangeSet.Blocks), "block"))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(j.Instruction), "\n")
	return line
}

// changedFiles names a change set's files for the ledger: "a.go, b.go +2".
func changedFiles(cs editblock.ChangeSet) string {
	var names []string
	for i, f := range cs.Files {
		if i == 2 {
			names = append(names, fmt.Sprintf("+%d", len(cs.Files)-2))
			break
		}
		names = append(names, f.Path)
	}
	return strings.Join(names, ", ")
}

// storageOr names the file store as the failing service of a storage
// error.
func storageOr(err error) error {
	var se *changeset.StorageError
	if errors.As(err, &se) {
		return inService(ServiceStorage, err)
	}
	return err
}

// conflictNames names the files a conflict is about.
func conflictNames(err error) string {
	var ce *db.ChangedFileError
	if errors.As(err, &ce) && len(ce.Paths) > 0 {
		return strings.Join(ce.Paths, ", ")
	}
	return "A file of the project"
}

// projectReply is a project job's result: the model's question, or the
// files the change set touched with the change's diff (as a document when
// long), and Undo and diff buttons.
func (r *Runner) projectReply(j db.Job) reply.Reply {
	if j.Question != nil {
		return reply.Reply{HTML: "❓ " + reply.HTMLf("%s", *j.Question) +
			"\n\n<i>Answer in plain words and I go on from there; /refine starts something else.</i>"}
	}
	stats := changeset.Stats(deref(j.Diff))
	head := ProjectSummary(j, stats)
	rep := reply.WithDiff(head, deref(j.Diff), fmt.Sprintf("change-%d.diff", j.ID))
	rep.Buttons = [][]reply.Button{{{Text: "Undo", Data: fmt.Sprintf("undo:%d", j.ID)}, {Text: "Show full diff", Data: fmt.Sprintf("diff:%d", j.ID)}}}
	return rep
}

// ProjectSummary is a change set's headline (HTML): "✅ 2 files changed
// (3 credits, 5.1 s): app.py (+8), tests/test_api.py (new, +12)".
func ProjectSummary(j db.Job, stats []changeset.FileStat) string {
	what := plural(len(stats), "file") + " changed"
	if len(stats) == 1 {
		what = stats[0].Path + " changed"
		switch stats[0].Op {
		case editblock.Created:
			what = stats[0].Path + " created"
		case editblock.Deleted:
			what = stats[0].Path + " deleted"
		case editblock.Renamed:
			what = stats[0].OldPath + " renamed to " + stats[0].Path
		}
	}
	cost := plural(int(j.ChargedCredits), "credit")
	if j.DurationMS != nil {
		cost += fmt.Sprintf(", %.1f s", float64(*j.DurationMS)/1000)
	}
	return reply.HTMLf("✅ %s (%s): %s", what, cost, changeset.Summary(stats))
}

// publishChangeSet refreshes the plain copies of the files the change set
// wrote, as publishCurrent does for one file (best effort).
func (r *Runner) publishChangeSet(ctx context.Context, q db.Querier, j db.Job) {
	if j.ChangeSetID == nil {
		return
	}
	vs, err := db.ChangeSetFiles(ctx, q, *j.ChangeSetID)
	if err != nil {
		r.Logger.WarnContext(ctx, "plain copies not refreshed", "error", err.Error())
		return
	}
	for _, v := range vs {
		if v.Deleted {
			continue
		}
		f, err := db.FileByPath(ctx, q, j.ProjectID, v.Path)
		if err != nil || f.Version != v.Version {
			continue
		}
		data, err := r.Files.GetBlob(ctx, j.ProjectID, v.BlobKey)
		if err == nil {
			err = r.Files.PublishCurrent(ctx, j.ProjectID, v.Path, data, f.ContentType)
		}
		if err != nil {
			r.Logger.WarnContext(ctx, "plain copy not refreshed", "error", err.Error())
		}
	}
}
