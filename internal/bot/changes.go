package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// The chat side of change sets: a request in plain words changes the
// project (internal/changeset does the work, in RefineJobs), /add and /drop
// keep files in the model's context, and /undo, /redo, /history and /diff
// without a path work on whole change sets.

// looksLikePath tells "/refine cmd/nope.go add logging" (a missing file:
// refused, naming the files there are) from "/refine add logging" or
// "/refine Node.js add a server" (the project): only a word with a folder
// in it is taken for a path that should exist. "/refine main.py add x" in a
// project without main.py is a request, which may create it.
func looksLikePath(w string) bool {
	return strings.Contains(w, "/") && !strings.HasPrefix(w, "/") && !strings.ContainsAny(w, " \t")
}

// startProjectJob queues a change of the project (focused on focus, when
// set), as startJob queues a one-file refinement. thread carries the
// conversation it continues (the model asked a question; instr answers it).
func (b *Bot) startProjectJob(ctx context.Context, tx pgx.Tx, u db.User, req Request, p db.Project, focus, instr string,
	follows *db.Job) (Plan, error) {
	if len(instr) > MaxInstruction {
		return Plan{}, refuse("That instruction is too long (%d characters; at most %d).", len(instr), MaxInstruction)
	}
	mode, hold := b.cfg.EditBackend, b.cfg.MaxRefineCredits
	if b.IsDirect(instr) {
		mode, hold = db.ModeDirect, b.cfg.BaseRefineCredits
	} else if b.cfg.NoModel && u.LLMKeyEncrypted == nil {
		return Plan{}, refuse("No model is set up for this bot, so I can only apply edits you write yourself: " +
			"SEARCH/REPLACE blocks naming each file, or a unified diff. /setkey YOUR_KEY lets me use your own model key.")
	}
	u, err := db.LockUser(ctx, tx, u.ID)
	if err != nil {
		return Plan{}, err
	}
	if err := b.rateLimit(ctx, tx, u); err != nil {
		return Plan{}, err
	}
	if u.Available() < hold {
		return Plan{}, b.insufficient(u, hold)
	}
	if u.AwaitingJob != nil {
		if err := db.SetAwaitingJob(ctx, tx, u.ID, nil); err != nil {
			return Plan{}, err
		}
	}
	nj := db.NewJob{UserID: u.ID, ProjectID: p.ID, Path: focus, Instruction: instr, Mode: mode, ChatID: req.ChatID,
		HoldCredits: hold, Scope: db.ScopeProject}
	updateID := req.UpdateID
	nj.SourceUpdateID = &updateID
	if follows != nil {
		nj.Follows = &follows.ID
		nj.Thread = append(append([]db.Turn{}, follows.Thread...), db.Turn{Role: "user", Text: follows.Instruction})
		if follows.ModelReply != nil {
			nj.Thread = append(nj.Thread, db.Turn{Role: "assistant", Text: *follows.ModelReply})
		} else if follows.Question != nil {
			nj.Thread = append(nj.Thread, db.Turn{Role: "assistant", Text: "QUESTION: " + *follows.Question})
		}
	}
	j, err := db.CreateJob(ctx, tx, nj)
	if errors.Is(err, fault.ErrInsufficient) {
		return Plan{}, b.insufficient(u, hold)
	}
	if err != nil {
		return Plan{}, err
	}
	pl := done()
	what := p.Name
	if focus != "" {
		what = focus
	}
	pl.Job, pl.job = j.ID, &j
	if mode != db.ModeDirect {
		// The user's own blocks apply in milliseconds: their result is
		// the only message (a Working message would be edited at once,
		// two Bot API calls against the chat's limit of about one a
		// second).
		pl.Progress = reply.HTMLf("Working on %s…", what)
	}
	return pl, nil
}

// answer takes a plain message as the answer to the model's pending
// question: the conversation goes on in a new job that carries its
// thread. ok=false when the question no longer stands (another project is
// selected, or it was answered).
func (b *Bot) answer(ctx context.Context, tx pgx.Tx, u db.User, req Request) (Plan, bool, error) {
	j, err := db.UserJob(ctx, tx, u.ID, *u.AwaitingJob)
	if err != nil && !errors.Is(err, fault.ErrNotFound) {
		return Plan{}, false, err
	}
	if err != nil || j.Question == nil || u.CurrentProjectID == nil || *u.CurrentProjectID != j.ProjectID {
		return Plan{}, false, db.SetAwaitingJob(ctx, tx, u.ID, nil)
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, j.ProjectID)
	if err != nil {
		return Plan{}, false, err
	}
	pl, err := b.startProjectJob(ctx, tx, u, req, p, j.Path, req.Args, &j)
	return pl, true, err
}

// pathArgs reads one or more paths: quoted ones as written, others split
// at spaces.
func pathArgs(args string) ([]string, error) {
	var out []string
	for args = strings.TrimSpace(args); args != ""; args = strings.TrimSpace(args) {
		p, rest, quoted, err := quotedPath(args)
		if err != nil {
			return nil, err
		}
		if !quoted {
			p, rest = SplitFirst(args)
		}
		out = append(out, p)
		args = rest
	}
	return out, nil
}

// add is /add PATH…: the files stay in the model's context for every
// change of the project; /add alone lists them.
func (b *Bot) add(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	paths, err := pathArgs(req.Args)
	if err != nil {
		return Plan{}, err
	}
	if len(paths) == 0 {
		pinned, err := db.PinnedFiles(ctx, tx, p.ID)
		if err != nil {
			return Plan{}, err
		}
		if len(pinned) == 0 {
			return done(reply.Text("No files are pinned in %s. /add PATH… keeps files in the model's view for every change, e.g. /add app.py tests/test_api.py.", p.Name)), nil
		}
		return done(reply.Text("Pinned in %s: %s. /drop PATH unpins one; /drop alone unpins all.", p.Name, strings.Join(pinned, ", "))), nil
	}
	for i, path := range paths {
		f, err := fileOf(ctx, tx, p, path)
		if err != nil {
			return Plan{}, err
		}
		paths[i] = f.Path
	}
	if err := db.PinFiles(ctx, tx, p.ID, paths); err != nil {
		return Plan{}, err
	}
	return done(reply.Text("Pinned %s: the model sees %s in full for every change of %s. /drop PATH unpins.",
		strings.Join(paths, ", "), them(len(paths)), p.Name)), nil
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// drop is /drop [PATH…]: unpin files (all of them with no path).
func (b *Bot) drop(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	paths, err := pathArgs(req.Args)
	if err != nil {
		return Plan{}, err
	}
	gone, err := db.UnpinFiles(ctx, tx, p.ID, paths)
	if err != nil {
		return Plan{}, err
	}
	switch {
	case len(gone) == 0 && len(paths) == 0:
		return done(reply.Text("Nothing was pinned in %s.", p.Name)), nil
	case len(gone) == 0:
		return Plan{}, refuse("%s %s not pinned. /add lists what is.", strings.Join(paths, ", "), isAre(len(paths)))
	}
	return done(reply.Text("Unpinned %s. The model still sees any file the request names or that seems relevant.", strings.Join(gone, ", "))), nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// undoProject is /undo without a path: the project's last change set is
// reverted as a whole.
func (b *Bot) undoProject(ctx context.Context, tx pgx.Tx, u db.User) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	rv, err := changeset.Undo(ctx, tx, p.ID, b.limits())
	return b.reverted(ctx, tx, p, rv, err)
}

// redoProject is /redo without a path.
func (b *Bot) redoProject(ctx context.Context, tx pgx.Tx, u db.User) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	rv, err := changeset.Redo(ctx, tx, p.ID, b.limits())
	return b.reverted(ctx, tx, p, rv, err)
}

// undoChangeSet is the Undo button of a project job: that change set,
// reverted as a whole, if none of its files changed since.
func (b *Bot) undoChangeSet(ctx context.Context, tx pgx.Tx, u db.User, j db.Job) (Plan, error) {
	if j.ChangeSetID == nil {
		return Plan{}, refuse("Job %d changed nothing, so there is nothing to undo.", j.ID)
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, j.ProjectID)
	if err != nil {
		return Plan{}, err
	}
	rv, err := changeset.UndoChangeSet(ctx, tx, p.ID, *j.ChangeSetID, b.limits())
	return b.reverted(ctx, tx, p, rv, err)
}

// redoButton is the Redo button of a project-wide undo: that undo is
// reverted, if nothing it touched changed since. Another user's id is an
// invalid button.
func (b *Bot) redoButton(ctx context.Context, tx pgx.Tx, u db.User, id int64) (Plan, error) {
	c, err := db.UserChangeSet(ctx, tx, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) || (err == nil && c.Kind != db.ChangeUndo) {
		return Plan{}, refuse("That button is no longer valid.")
	}
	if err != nil {
		return Plan{}, err
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, c.ProjectID)
	if err != nil {
		return Plan{}, err
	}
	rv, err := changeset.UndoChangeSet(ctx, tx, p.ID, c.ID, b.limits())
	if errors.Is(err, db.ErrAlreadyUndone) {
		return Plan{}, refuse("That undo was redone already. /history lists the changes of %s.", p.Name)
	}
	return b.reverted(ctx, tx, p, rv, err)
}

// reverted says what an undo or redo did, or why it did nothing.
func (b *Bot) reverted(ctx context.Context, tx pgx.Tx, p db.Project, rv changeset.Reverted, err error) (Plan, error) {
	var changed *db.ChangedFileError
	switch {
	case errors.Is(err, db.ErrNothingToUndoProject):
		return Plan{}, refuse("There is nothing to undo in %s. /history lists its changes.", p.Name)
	case errors.Is(err, db.ErrNothingToRedoProject):
		return Plan{}, refuse("There is nothing to redo in %s: /redo brings back what /undo undid, until the project changes again. /history lists its changes.", p.Name)
	case errors.Is(err, db.ErrAlreadyUndone):
		return Plan{}, refuse("That change was undone already. /history lists the changes of %s.", p.Name)
	case errors.As(err, &changed):
		return Plan{}, refuse("I did not undo it: %s changed since (/history shows how). Undo the later changes first, or /restore a file.",
			strings.Join(changed.Paths, ", "))
	case db.AsProjectFull(err) != nil:
		return Plan{}, projectFull(p, "the change", db.AsProjectFull(err))
	case err != nil:
		return Plan{}, err
	}
	var names []string
	var refs []FileRef
	for _, v := range rv.Files {
		names = append(names, v.Path)
		if !v.Deleted {
			refs = append(refs, FileRef{ProjectID: p.ID, Path: v.Path, Version: v.Version})
		}
	}
	list := joinAnd(names)
	var r reply.Reply
	if rv.ChangeSet.Kind == db.ChangeRedo {
		r = reply.Text("Redone: %s %s as the change left %s (r%d). /undo undoes it again.", list, isAre(len(names)), them(len(names)), rv.ChangeSet.ResultRevision)
	} else {
		was := "it was"
		if len(names) > 1 {
			was = "they were"
		}
		r = reply.Text("Undone: %s %s back as %s (r%d). /redo brings the change back.", list, isAre(len(names)), was, rv.ChangeSet.ResultRevision)
		r.Buttons = [][]reply.Button{{{Text: "Redo", Data: fmt.Sprintf("%s:%d", CallbackRedoSet, rv.ChangeSet.ID)}}}
	}
	pl := done(r)
	pl.Currents = refs
	return pl, nil
}

// joinAnd writes "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// historyProject is /history without a path: the project's change sets,
// newest first.
func (b *Bot) historyProject(ctx context.Context, tx pgx.Tx, u db.User) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	css, files, total, err := db.ListChangeSets(ctx, tx, p.ID, "", 15)
	if err != nil {
		return Plan{}, err
	}
	if total == 0 {
		return done(reply.Text("%s has no changes yet. Send a file, or tell me what to build.", p.Name)), nil
	}
	var sb strings.Builder
	sb.WriteString(reply.HTMLf("Changes of %s (%s, newest first):\n", p.Name, plural(total, "change")))
	for _, c := range css {
		sb.WriteString(reply.HTMLf("r%d · %s · %s · %s · /diff r%d\n", c.ResultRevision, changeWhat(c), fileList(files[c.ID]),
			ago(c.CreatedAt), c.ResultRevision))
	}
	if total > len(css) {
		sb.WriteString(reply.HTMLf("… and %d older.\n", total-len(css)))
	}
	sb.WriteString("/undo reverts the last change, /redo brings back what /undo undid; /history PATH lists one file's versions.")
	return done(reply.Reply{HTML: sb.String()}), nil
}

// changeWhat names a change set's kind, with its instruction when a
// refinement made it.
func changeWhat(c db.ChangeSet) string {
	switch c.Kind {
	case db.ChangeRefine:
		if c.Summary != "" {
			s := c.Summary
			if len([]rune(s)) > 48 {
				s = string([]rune(s)[:47]) + "…"
			}
			return "“" + s + "”"
		}
		return "refinement"
	case db.ChangeUndo:
		return "undo"
	case db.ChangeRedo:
		return "redo"
	case db.ChangeRevert:
		return "file undo/restore"
	}
	return c.Kind
}

// fileList names a change set's files, what happened to each.
func fileList(vs []db.FileVersion) string {
	renamed := map[string]bool{}
	for _, v := range vs {
		if v.RenamedFrom != "" {
			renamed[v.RenamedFrom] = true
		}
	}
	var parts []string
	for _, v := range vs {
		switch op := v.Op(); {
		case op == "deleted" && renamed[v.Path]:
		case op == "renamed":
			parts = append(parts, v.RenamedFrom+" → "+v.Path)
		case op == "modified":
			parts = append(parts, v.Path)
		default:
			parts = append(parts, v.Path+" ("+op+")")
		}
		if len(parts) == 4 && len(vs) > 4 {
			parts = append(parts, fmt.Sprintf("+%d more", len(vs)-4))
			break
		}
	}
	return strings.Join(parts, ", ")
}

// revisionArg reads "r12" (a revision of the selected project).
func revisionArg(arg string) (int64, bool) {
	s, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(arg)), "r")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// diffRevision is /diff rN: the change set that made revision N of the
// selected project, as a git-style diff (git apply takes it).
func (b *Bot) diffRevision(ctx context.Context, tx pgx.Tx, u db.User, rev int64) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	c, err := db.ChangeSetAt(ctx, tx, p.ID, rev)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("%s has no revision r%d. /history lists its changes.", p.Name, rev)
	}
	if err != nil {
		return Plan{}, err
	}
	diff, err := changeset.Diff(ctx, tx, b.Files, p.ID, c.ID)
	if err != nil {
		return Plan{}, err
	}
	if diff == "" {
		return done(reply.Text("r%d of %s changed no line.", rev, p.Name)), nil
	}
	head := reply.HTMLf("r%d of %s · %s · %s", rev, p.Name, changeWhat(c), fileList(mustFiles(ctx, tx, c.ID)))
	return done(reply.WithDiff(head, diff, fmt.Sprintf("%s-r%d.diff", p.Name, rev))), nil
}

func mustFiles(ctx context.Context, q db.Querier, id int64) []db.FileVersion {
	vs, _ := db.ChangeSetFiles(ctx, q, id)
	return vs
}
