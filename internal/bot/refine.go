package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// MaxInstruction bounds an instruction's length (the schema allows 64 KiB;
// a direct edit with blocks fits easily).
const MaxInstruction = 32000

// refine is /refine [PATH] INSTRUCTION: a change of the project, focused
// on PATH when the instruction starts with a file of the project (blocks
// that name no file then edit it).
func (b *Bot) refine(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if err := needArgs(req); err != nil {
		return Plan{}, err
	}
	proj, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	p, instr, known, err := findPath(ctx, tx, proj, req.Args)
	if err != nil {
		return Plan{}, err
	}
	ferr := error(nil)
	if known == nil {
		_, ferr = db.FileByPath(ctx, tx, proj.ID, p)
	}
	quoted := strings.HasPrefix(strings.TrimSpace(req.Args), `"`) || strings.HasPrefix(strings.TrimSpace(req.Args), "'")
	switch {
	case ferr == nil || quoted:
		// A file of the project (or a quoted path) comes first.
	case !errors.Is(ferr, fault.ErrNotFound):
		return Plan{}, ferr
	case looksLikePath(p) && !b.IsDirect(req.Args):
		// "/refine cmd/nope.go add logging": a path that is not there.
		if _, err := fileOf(ctx, tx, proj, p); err != nil {
			return Plan{}, err
		}
	default:
		// The whole instruction is for the project.
		return b.startProjectJob(ctx, tx, u, req, proj, "", strings.TrimSpace(req.Args), nil)
	}
	if instr == "" {
		return Plan{}, refuse("Say what to change after the path, e.g. /refine %s add error handling.", p)
	}
	if known == nil {
		if _, err := fileOf(ctx, tx, proj, p); err != nil {
			return Plan{}, err
		}
	}
	if b.IsDirect(req.Args) && !b.IsDirect(instr) {
		// The path was the first block's file name: keep it with its block.
		instr = strings.TrimSpace(req.Args)
	}
	return b.startProjectJob(ctx, tx, u, req, proj, p, instr, nil)
}

// plainText is an instruction for the open file, or a nudge to the help.
func (b *Bot) plainText(ctx context.Context, tx pgx.Tx, u db.User, req Request) (Plan, error) {
	if req.Args == "" {
		return Plan{Outcome: db.OutcomeRejected, Replies: []reply.Reply{reply.Text(shortHelp)}}, nil
	}
	if u.AwaitingJob != nil {
		pl, ok, err := b.answer(ctx, tx, u, req)
		if ok || err != nil {
			return pl, err
		}
	}
	if pl, ok, err := b.buildWords(ctx, tx, u, req.Args); ok || err != nil {
		return pl, err
	}
	if u.CurrentProjectID == nil {
		return Plan{Outcome: db.OutcomeRejected, Replies: []reply.Reply{reply.Text(
			"No project is selected. /new NAME creates one (or /use NAME selects one); then tell me what to build or change. /help lists everything.")}}, nil
	}
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	if u.OpenPath == nil {
		if b.describesAnApp(ctx, tx, p, req.Args) {
			// A long first message in an empty project describes what to
			// build: it starts a build, as /build does.
			return b.buildCmd(ctx, tx, u, req, prepared{})
		}
		return b.startProjectJob(ctx, tx, u, req, p, "", req.Args, nil)
	}
	return b.startJob(ctx, tx, u, req, p, *u.OpenPath, req.Args)
}

// startJob validates a refinement, applies the rate limit, reserves the
// credits of its worst case and queues the job; the plan publishes it.
func (b *Bot) startJob(ctx context.Context, tx pgx.Tx, u db.User, req Request, p db.Project, path, instr string) (Plan, error) {
	if err := b.ValidatePath(path); err != nil {
		return Plan{}, refuse("%s is not a valid path: %s.", path, err.Error())
	}
	if len(instr) > MaxInstruction {
		return Plan{}, refuse("That instruction is too long (%d characters; at most %d).", len(instr), MaxInstruction)
	}
	f, err := fileOf(ctx, tx, p, path)
	if err != nil {
		return Plan{}, err
	}
	mode, hold := b.cfg.EditBackend, b.cfg.MaxRefineCredits
	if b.IsDirect(instr) {
		mode, hold = db.ModeDirect, b.cfg.BaseRefineCredits
	} else if b.cfg.NoModel && b.cfg.EditBackend == db.ModeLLM && u.LLMKeyEncrypted == nil {
		// Said now, not after "Working on…": no job, nothing held.
		return Plan{}, refuse("No model is set up for this bot, so I can only apply edits you write yourself: "+
			"SEARCH/REPLACE blocks or a unified diff for %s. /setkey YOUR_KEY lets me use your own model key.", path)
	}
	// The user row's lock serializes this user's job creation across
	// instances, so the count below cannot race.
	u, err = db.LockUser(ctx, tx, u.ID)
	if err != nil {
		return Plan{}, err
	}
	if err := b.rateLimit(ctx, tx, u); err != nil {
		return Plan{}, err
	}
	if u.Available() < hold {
		return Plan{}, b.insufficient(u, hold)
	}
	updateID := req.UpdateID
	if u.AwaitingJob != nil {
		if err := db.SetAwaitingJob(ctx, tx, u.ID, nil); err != nil {
			return Plan{}, err
		}
	}
	j, err := db.CreateJob(ctx, tx, db.NewJob{UserID: u.ID, ProjectID: p.ID, Path: f.Path, Instruction: instr,
		Mode: mode, ChatID: req.ChatID, SourceUpdateID: &updateID, HoldCredits: hold})
	if errors.Is(err, fault.ErrInsufficient) {
		return Plan{}, b.insufficient(u, hold)
	}
	if err != nil {
		return Plan{}, err
	}
	pl := done()
	pl.Job, pl.job = j.ID, &j
	if mode != db.ModeDirect {
		pl.Progress = reply.HTMLf("Working on %s…", f.Path) // see startProjectJob
	}
	return pl, nil
}

// rateLimit refuses a refinement beyond RefineRateLimit per
// RefineRateWindow. A job that failed or was refused without a charge (the
// model gave up, the file changed meanwhile, an outage) counts half: a user
// whose edits keep failing through no fault of their own gets twice as many
// tries, yet a flood of failing requests, which still costs model calls, is
// stopped at twice the limit. Refusals that never became a job (a bad path,
// too few credits) do not count: they cost nothing.
func (b *Bot) rateLimit(ctx context.Context, tx pgx.Tx, u db.User) error {
	limit := b.cfg.RefineRateLimit
	if limit <= 0 {
		return nil
	}
	r, err := db.CountRecentJobOutcomes(ctx, tx, u.ID, b.cfg.RefineRateWindow)
	if err != nil {
		return err
	}
	if RateWeight(r) < 2*limit {
		return nil
	}
	why := ""
	if r.Uncharged > 0 {
		why = fmt.Sprintf(" (%d of them failed and count half)", r.Uncharged)
	}
	return refuse("You started %d refinements in the last %s%s, the most allowed. Try again in a moment.",
		r.Started, window(b.cfg.RefineRateWindow), why)
}

// RateWeight is recent jobs in half units: a charged or pending job weighs 2,
// one that ended without a charge 1.
func RateWeight(r db.RecentJobs) int {
	return 2*(r.Started-r.Uncharged) + r.Uncharged
}

// window names a duration the way a person would: "minute", "10 minutes".
func window(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d == time.Minute:
		return "minute"
	case d > time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d > time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d seconds", d/time.Second)
	}
	return d.String()
}

func (b *Bot) insufficient(u db.User, hold int64) error {
	return refuse("A refinement needs up to %d credits and you have %d available. /buy for more, or /setkey to use your own LLM key.",
		hold, u.Available())
}

func (b *Bot) diff(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if err := needArgs(req); err != nil {
		return Plan{}, err
	}
	if rev, ok := revisionArg(req.Args); ok {
		return b.diffRevision(ctx, tx, u, rev)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(req.Args, "#"), 10, 64)
	if err != nil || id <= 0 {
		return Plan{}, refuse("/diff takes a job number, e.g. /diff 42, or a revision of the project, e.g. /diff r7 (/history shows them).")
	}
	r, err := b.jobDiff(ctx, tx, u, id)
	if err != nil {
		return Plan{}, err
	}
	return done(r), nil
}

// jobDiff renders a job's diff; another user's job is answered as a
// missing one.
func (b *Bot) jobDiff(ctx context.Context, q db.Querier, u db.User, id int64) (reply.Reply, error) {
	j, err := db.UserJob(ctx, q, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) {
		return reply.Reply{}, refuse("There is no job %d. /history PATH lists a file's jobs.", id)
	}
	if err != nil {
		return reply.Reply{}, err
	}
	switch j.State {
	case db.JobQueued, db.JobRunning:
		return reply.Text("Job %d on %s is still running.", j.ID, j.Path), nil
	case db.JobFailed, db.JobRejected:
		msg := ""
		if j.Error != nil {
			msg = *j.Error
		}
		return reply.Text("Job %d on %s failed: %s", j.ID, j.Path, msg), nil
	}
	if j.Scope == db.ScopeProject {
		if j.Question != nil {
			return reply.Text("Job %d asked a question instead of changing anything: %s", j.ID, *j.Question), nil
		}
		if j.Diff == nil || *j.Diff == "" {
			return reply.Text("Job %d changed no line.", j.ID), nil
		}
		return reply.WithDiff(reply.HTMLf("Job %d: %s", j.ID, j.Instruction), *j.Diff, fmt.Sprintf("change-%d.diff", j.ID)), nil
	}
	if j.Diff == nil || *j.Diff == "" {
		return reply.Text("Job %d changed nothing in %s.", j.ID, j.Path), nil
	}
	head := reply.HTMLf("Job %d: %s, version %d → %d", j.ID, j.Path, deref(j.BaseVersion), deref(j.ResultVersion))
	return reply.WithDiff(head, *j.Diff, fmt.Sprintf("job-%d.diff", j.ID)), nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// callback handles an inline button: "undo:<job>", "diff:<job>",
// "retry:<job>", "buy:<pack>", as ParseCallback read them (ParseRequest
// leaves Callback empty for data it refused).
func (b *Bot) callback(ctx context.Context, tx pgx.Tx, u db.User, req Request, prep prepared) (Plan, error) {
	var pl Plan
	var err error
	switch c := req.Callback; c.Kind {
	case CallbackRetry:
		pl, err = b.retryJob(ctx, tx, u, req, c.N)
	case CallbackDiff:
		var r reply.Reply
		if r, err = b.jobDiff(ctx, tx, u, c.N); err == nil {
			pl = done(r)
		}
	case CallbackUndo:
		pl, err = b.undoJob(ctx, tx, u, c.N)
	case CallbackRestore, CallbackRedo:
		pl, err = b.versionButton(ctx, tx, u, c.Kind, c.N)
	case CallbackRedoSet:
		pl, err = b.redoButton(ctx, tx, u, c.N)
	case CallbackBuildStart, CallbackBuildChange, CallbackBuildCancel, CallbackBuildPause, CallbackBuildResume,
		CallbackBuildRetry, CallbackBuildSkip:
		pl, err = b.buildButton(ctx, tx, u, c.Kind, c.N)
	case CallbackBuy:
		pl, err = b.buy(ctx, tx, u, req, prep)
	default:
		return Plan{}, refuse("That button is no longer valid.")
	}
	if err != nil {
		return Plan{}, err
	}
	pl.Callback = req.CallbackID
	return pl, nil
}

// undoJob restores the version a job started from, if the file is still at
// the job's result.
func (b *Bot) undoJob(ctx context.Context, tx pgx.Tx, u db.User, id int64) (Plan, error) {
	j, err := db.UserJob(ctx, tx, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("There is no job %d. /history PATH lists a file's jobs.", id)
	}
	if err != nil {
		return Plan{}, err
	}
	if j.Scope == db.ScopeProject {
		return b.undoChangeSet(ctx, tx, u, j)
	}
	if j.State != db.JobSucceeded || j.ResultVersion == nil || j.BaseVersion == nil {
		return Plan{}, refuse("Job %d changed nothing, so there is nothing to undo.", id)
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, j.ProjectID)
	if err != nil {
		return Plan{}, err
	}
	f, err := db.FileByPath(ctx, tx, p.ID, j.Path)
	if err != nil {
		return Plan{}, err
	}
	if f.Version != *j.ResultVersion {
		return Plan{}, refuse("%s changed since that edit (it is at version %d now); /history %s shows its versions, /undo %s steps back.",
			f.Path, f.Version, f.Path, f.Path)
	}
	return b.changeVersion(ctx, tx, p, f, db.SourceUndo, 0)
}

// retryJob queues a failed job's instruction again, on the file's current
// version (the Retry button of a job whose file changed meanwhile).
func (b *Bot) retryJob(ctx context.Context, tx pgx.Tx, u db.User, req Request, id int64) (Plan, error) {
	j, err := db.UserJob(ctx, tx, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("There is no job %d. /history PATH lists a file's jobs.", id)
	}
	if err != nil {
		return Plan{}, err
	}
	if j.State != db.JobFailed && j.State != db.JobRejected {
		return Plan{}, refuse("Job %d did not fail, so there is nothing to retry. /history %s shows where the file is.", id, j.Path)
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, j.ProjectID)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("The project of job %d no longer exists.", id)
	}
	if err != nil {
		return Plan{}, err
	}
	if j.Scope == db.ScopeProject {
		return b.startProjectJob(ctx, tx, u, req, p, j.Path, j.Instruction, nil)
	}
	return b.startJob(ctx, tx, u, req, p, j.Path, j.Instruction)
}
