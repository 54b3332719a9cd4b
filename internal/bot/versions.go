package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// A file's history only grows: /undo, /redo and /restore (and the buttons
// of /history and of an undo) each write a new version with the content of
// an older one. Undo goes back to the version the current one was made
// from, redo brings back what the last undo undid while nothing else
// changed, restore brings back any version (see db.Undo, db.Redo,
// db.Restore).

// historyButtons is how many versions /history offers a Restore button for.
const historyButtons = 6

func (b *Bot) limits() db.ProjectLimits {
	return db.ProjectLimits{MaxFiles: b.cfg.MaxProjectFiles, MaxBytes: b.cfg.MaxProjectBytes}
}

func (b *Bot) history(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if strings.TrimSpace(req.Args) == "" {
		return b.historyProject(ctx, tx, u)
	}
	p, f, err := namedFile(ctx, tx, u, req)
	if err != nil {
		return Plan{}, err
	}
	vs, err := db.ListFileVersions(ctx, tx, p.ID, f.Path)
	if err != nil {
		return Plan{}, err
	}
	var sb strings.Builder
	sb.WriteString(reply.HTMLf("History of %s (%s):\n", f.Path, plural(len(vs), "version")))
	var cur *db.FileVersion
	var buttons []reply.Button
	for i, v := range vs {
		if v.Version == f.Version {
			cur = &vs[i]
		} else if len(buttons) < historyButtons {
			buttons = append(buttons, reply.Button{Text: fmt.Sprintf("Restore v%d", v.Version), Data: fmt.Sprintf("restore:%d", v.ID)})
		}
		if i == 20 {
			sb.WriteString(reply.HTMLf("… and %d older\n", len(vs)-i))
			continue
		}
		if i > 20 {
			continue
		}
		line := reply.HTMLf("v%d · %s · %s · %s", v.Version, source(v), reply.Size(v.Size), ago(v.CreatedAt))
		if v.JobID != nil {
			line += fmt.Sprintf(" · /diff %d", *v.JobID)
		}
		if v.Version == f.Version {
			line = "<b>" + line + "</b> ← current"
		}
		sb.WriteString(line + "\n")
	}
	if len(vs) == 1 {
		sb.WriteString(reply.HTMLf("Only one version so far: /open %s, then tell me what to change.", f.Path))
		return done(reply.Reply{HTML: sb.String()}), nil
	}
	var next []string
	if cur != nil && cur.Parent != nil {
		next = append(next, reply.HTMLf("/undo %s goes back to version %d", f.Path, *cur.Parent))
	}
	if cur != nil && cur.Redo != nil {
		next = append(next, reply.HTMLf("/redo %s brings back version %d", f.Path, *cur.Redo))
	}
	next = append(next, reply.HTMLf("/restore %s N brings back any version (or tap one below); nothing is deleted.", f.Path))
	sb.WriteString(strings.Join(next, "; "))
	r := reply.Reply{HTML: sb.String()}
	for i := 0; i < len(buttons); i += 3 {
		r.Buttons = append(r.Buttons, buttons[i:min(i+3, len(buttons))])
	}
	return done(r), nil
}

// source names where a version came from, for /history.
func source(v db.FileVersion) string {
	if v.CopyOf != nil {
		return fmt.Sprintf("%s (as v%d)", v.Source, *v.CopyOf)
	}
	return v.Source
}

func (b *Bot) undo(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if strings.TrimSpace(req.Args) == "" {
		return b.undoProject(ctx, tx, u)
	}
	p, f, err := namedFile(ctx, tx, u, req)
	if err != nil {
		return Plan{}, err
	}
	return b.changeVersion(ctx, tx, p, f, db.SourceUndo, 0)
}

func (b *Bot) redo(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if strings.TrimSpace(req.Args) == "" {
		return b.redoProject(ctx, tx, u)
	}
	p, f, err := namedFile(ctx, tx, u, req)
	if err != nil {
		return Plan{}, err
	}
	return b.changeVersion(ctx, tx, p, f, db.SourceRedo, 0)
}

// restoreCmd is /restore PATH N.
func (b *Bot) restoreCmd(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	args := strings.TrimSpace(req.Args)
	cut := strings.LastIndexFunc(args, unicode.IsSpace)
	n, err := strconv.Atoi(strings.TrimPrefix(args[cut+1:], "v"))
	if cut < 0 || err != nil || n < 1 {
		c := commands["restore"]
		return Plan{}, refuse("Usage: %s — %s", c.usage, c.help)
	}
	pathReq := req
	pathReq.Args = strings.TrimSpace(args[:cut])
	p, f, err := namedFile(ctx, tx, u, pathReq)
	if err != nil {
		return Plan{}, err
	}
	return b.changeVersion(ctx, tx, p, f, db.SourceRestore, n)
}

// versionButton handles "restore:<version id>" (a /history button) and
// "redo:<version id>" (the Redo button of an undo, valid while the file is
// still at that undo). Another user's id is an invalid button.
func (b *Bot) versionButton(ctx context.Context, tx pgx.Tx, u db.User, verb string, id int64) (Plan, error) {
	v, err := db.UserFileVersion(ctx, tx, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("That button is no longer valid.")
	}
	if err != nil {
		return Plan{}, err
	}
	p, err := db.ProjectByID(ctx, tx, u.ID, v.ProjectID)
	if err != nil {
		return Plan{}, err
	}
	f, err := db.FileByPath(ctx, tx, p.ID, v.Path)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("%s is no longer in %s.", v.Path, p.Name)
	}
	if err != nil {
		return Plan{}, err
	}
	if verb == CallbackRedo {
		if f.Version != v.Version {
			return Plan{}, refuse("%s changed since that undo (it is at version %d now), so there is nothing to redo. "+
				"/history %s lists its versions; /restore %s N brings one back.", f.Path, f.Version, f.Path, f.Path)
		}
		return b.changeVersion(ctx, tx, p, f, db.SourceRedo, 0)
	}
	return b.changeVersion(ctx, tx, p, f, db.SourceRestore, v.Version)
}

// changeVersion writes the undo, redo or restore (of version n) of f and
// says what happened; the plan refreshes the plain copy.
func (b *Bot) changeVersion(ctx context.Context, tx pgx.Tx, p db.Project, f db.File, source string, n int) (Plan, error) {
	var ch db.VersionChange
	var err error
	switch source {
	case db.SourceUndo:
		ch, err = db.Undo(ctx, tx, p.ID, f.Path, b.limits())
	case db.SourceRedo:
		ch, err = db.Redo(ctx, tx, p.ID, f.Path, b.limits())
	default:
		ch, err = db.Restore(ctx, tx, p.ID, f.Path, n, b.limits())
	}
	switch {
	case errors.Is(err, db.ErrNothingToUndo):
		first := f.Version
		if ch.From.CopyOf != nil {
			first = *ch.From.CopyOf
		}
		return Plan{}, refuse("There is nothing to undo in %s: it is as it first came (version %d). "+
			"/history %s lists its versions; /restore %s N brings one back.", f.Path, first, f.Path, f.Path)
	case errors.Is(err, db.ErrNothingToRedo):
		return Plan{}, refuse("There is nothing to redo in %s: /redo brings back what /undo undid, until the file changes again. "+
			"/history %s lists its versions; /restore %s N brings one back.", f.Path, f.Path, f.Path)
	case errors.Is(err, db.ErrAlreadyCurrent):
		return Plan{}, refuse("%s is at version %d already. /history %s lists the others.", f.Path, n, f.Path)
	case errors.Is(err, fault.ErrNotFound) && source == db.SourceRestore:
		return Plan{}, refuse("%s has no version %d. /history %s lists its versions.", f.Path, n, f.Path)
	case errors.Is(err, db.ErrVersionMismatch):
		return Plan{}, refuse("%s changed meanwhile, so I did not touch it. /history %s shows where it is; send the command again to retry.", f.Path, f.Path)
	case db.AsProjectFull(err) != nil:
		return Plan{}, projectFull(p, f.Path, db.AsProjectFull(err))
	case err != nil:
		return Plan{}, err
	}
	var r reply.Reply
	switch source {
	case db.SourceUndo:
		r = reply.Text("Undone: %s restored to version %d (saved as version %d). /redo %s brings the change back.",
			f.Path, ch.Like.Version, ch.To, f.Path)
		nv, err := db.GetFileVersion(ctx, tx, p.ID, f.Path, ch.To)
		if err != nil {
			return Plan{}, err
		}
		r.Buttons = [][]reply.Button{{{Text: "Redo", Data: fmt.Sprintf("redo:%d", nv.ID)}}}
	case db.SourceRedo:
		r = reply.Text("Redone: %s restored to version %d (saved as version %d). /undo %s undoes it again.",
			f.Path, ch.Like.Version, ch.To, f.Path)
	default:
		r = reply.Text("%s restored to version %d (saved as version %d). /undo %s goes back to version %d.",
			f.Path, ch.Like.Version, ch.To, f.Path, ch.From.Version)
	}
	pl := done(r)
	pl.Current = &FileRef{ProjectID: p.ID, Path: f.Path, Version: ch.To}
	return pl, nil
}

// projectFull refuses a write that would take p over its limits, saying
// what fills it and what to do.
func projectFull(p db.Project, path string, e *db.ProjectFullError) error {
	if e.TooManyFiles() {
		return refuse("%s holds %s, the most a project may have, so I did not add %s. "+
			"Send a new version of an existing file instead, or /new NAME starts another project.",
			p.Name, plural(e.Usage.Files, "file"), path)
	}
	return refuse("Saving %s would take %s to %s, over the %s a project may hold (its %s hold %s now), so I did not save it. "+
		"Send smaller files, or /new NAME starts another project.",
		path, p.Name, reply.Size(e.After.Bytes), reply.Size(e.Limits.MaxBytes), plural(e.Usage.Files, "file"), reply.Size(e.Usage.Bytes))
}
