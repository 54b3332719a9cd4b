package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// The chat side of builds (internal/build does the work, in BuildSteps):
// /build DESCRIPTION starts one, answers and changes come as plain
// messages, the buttons start, pause, resume, cancel, retry and skip, and
// /status shows where it is. Every control publishes a step message of the
// build (its current step when the control starts none), so that the
// runner sends what the control queued in the build's outbox.

// BuildRef is a build step to publish after the update's transaction.
type BuildRef struct {
	ID  int64 `json:"i"`
	Seq int64 `json:"s"`
}

// MaxDescription bounds a build's description.
const MaxDescription = 4000

// buildCmd is /build DESCRIPTION: a new build, in the selected project
// when it is empty, else in a new project named after the description.
func (b *Bot) buildCmd(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	desc := strings.TrimSpace(req.Args)
	if desc == "" {
		return Plan{}, refuse("Say what to build, e.g. /build a small todo API in Python with Flask and SQLite, with tests.")
	}
	if len(desc) > MaxDescription {
		return Plan{}, refuse("That description is too long (%d characters; at most %d): say it in a few sentences.", len(desc), MaxDescription)
	}
	if b.Builds == nil {
		return Plan{}, refuse("Builds are not set up on this bot. /refine changes a project in plain words.")
	}
	if b.cfg.NoModel && u.LLMKeyEncrypted == nil {
		return Plan{}, refuse("No model is set up for this bot, so I cannot build from a description. /setkey YOUR_KEY lets me use your own model key.")
	}
	if cur, err := db.LatestBuild(ctx, tx, u.ID); err == nil && !cur.Final() {
		return Plan{}, refuse("A build is going on already (/status shows it). Cancel it first, or wait until it ends.")
	} else if err != nil && !errors.Is(err, fault.ErrNotFound) {
		return Plan{}, err
	}
	p, created, err := b.buildProject(ctx, tx, u, desc)
	if err != nil {
		return Plan{}, err
	}
	updateID := req.UpdateID
	bl, err := build.Create(ctx, tx, db.NewBuild{UserID: u.ID, ProjectID: p.ID, ChatID: req.ChatID, SourceUpdateID: &updateID, Description: desc})
	if err != nil {
		return Plan{}, err
	}
	where := reply.HTMLf("in %s", p.Name)
	if created {
		where = reply.HTMLf("in a new project, %s (selected)", p.Name)
	}
	pl := done(reply.Reply{HTML: "Let me think about it " + where + ". I may ask a few questions first."})
	if created {
		pl.Bucket = p.ID
	}
	pl.BuildStep = &BuildRef{ID: bl.ID, Seq: bl.StepSeq}
	return pl, nil
}

// describeWords is how many words a first message in an empty project
// needs to be taken as the description of a build.
const describeWords = 8

// describesAnApp reports whether a plain message starts a build: builds
// are set up, the project has no files yet, and the message is long enough
// to describe an app (not edit blocks).
func (b *Bot) describesAnApp(ctx context.Context, q db.Querier, p db.Project, text string) bool {
	if b.Builds == nil || b.IsDirect(text) || len(strings.Fields(text)) < describeWords {
		return false
	}
	fs, err := db.ListFiles(ctx, q, p.ID)
	return err == nil && len(fs) == 0
}

var nameWord = regexp.MustCompile(`[\p{L}\p{N}]+`)

// buildProject is the project a build goes into: the selected one when it
// has no files, else a new one named after the description's first words.
func (b *Bot) buildProject(ctx context.Context, tx pgx.Tx, u db.User, desc string) (db.Project, bool, error) {
	if u.CurrentProjectID != nil {
		p, err := db.ProjectByID(ctx, tx, u.ID, *u.CurrentProjectID)
		if err != nil {
			return db.Project{}, false, err
		}
		fs, err := db.ListFiles(ctx, tx, p.ID)
		if err != nil {
			return db.Project{}, false, err
		}
		if len(fs) == 0 {
			return p, false, nil
		}
	}
	words := nameWord.FindAllString(strings.ToLower(desc), 4)
	base := strings.Join(words, "-")
	if len(base) > 40 || base == "" {
		base = "app"
	}
	for i := 1; i < 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := db.ProjectByName(ctx, tx, u.ID, name); errors.Is(err, fault.ErrNotFound) {
			p, err := db.CreateProject(ctx, tx, u.ID, name)
			if err != nil {
				return db.Project{}, false, err
			}
			if err := db.SelectProject(ctx, tx, u.ID, p.ID); err != nil {
				return db.Project{}, false, err
			}
			return p, true, nil
		} else if err != nil {
			return db.Project{}, false, err
		}
	}
	return db.Project{}, false, refuse("I could not find a free project name for this build: /new NAME, then /build again.")
}

// status is /status: where the user's build is.
func (b *Bot) status(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	bl, err := db.LatestBuild(ctx, tx, u.ID)
	if errors.Is(err, fault.ErrNotFound) {
		return done(reply.Text("No build yet. /build DESCRIPTION starts one, e.g. /build a small todo API in Python with tests.")), nil
	}
	if err != nil {
		return Plan{}, err
	}
	html, err := build.Status(ctx, tx, bl)
	if err != nil {
		return Plan{}, err
	}
	r := reply.Reply{HTML: html}
	r.Buttons = build.Buttons(bl)
	return done(r), nil
}

// buildWords takes a plain message as the build's pending input, when a
// build waits for one. ok=false when none does.
func (b *Bot) buildWords(ctx context.Context, tx pgx.Tx, u db.User, text string) (Plan, bool, error) {
	bl, err := db.LatestBuild(ctx, tx, u.ID)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, false, nil
	}
	if err != nil || !build.WantsWords(bl) {
		return Plan{}, false, err
	}
	bl, err = db.LockBuild(ctx, tx, u.ID, bl.ID)
	if err != nil {
		return Plan{}, false, err
	}
	state := bl.State
	seq, err := build.Words(ctx, tx, &bl, text)
	if err != nil {
		return Plan{}, true, buildRefusal(err)
	}
	what := "Thanks, planning it now…"
	switch state {
	case db.BuildProposed:
		what = "Revising the spec…"
	case db.BuildBlocked:
		what = "Changed the task; running it again."
	}
	pl := done(reply.Text("%s", what))
	pl.BuildStep = &BuildRef{ID: bl.ID, Seq: seq}
	return pl, true, nil
}

// buildButton handles a build's button.
func (b *Bot) buildButton(ctx context.Context, tx pgx.Tx, u db.User, kind string, id int64) (Plan, error) {
	bl, err := db.LockBuild(ctx, tx, u.ID, id)
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, refuse("That button is no longer valid.")
	}
	if err != nil {
		return Plan{}, err
	}
	control := strings.TrimPrefix(kind, "b")
	seq, err := build.Control(ctx, tx, &bl, control)
	if err != nil {
		return Plan{}, buildRefusal(err)
	}
	var r reply.Reply
	switch control {
	case "start":
		r = reply.Text("Started: %d credits held. The progress message below is kept up to date.", bl.EstimateCredits)
	case "change":
		r = reply.Text("Say in plain words what to change, e.g. \"use SQLite instead of Postgres\" or \"drop task 4\".")
		if bl.State == db.BuildBlocked {
			r = reply.Text("Say in plain words how the task should change; I run it again with that.")
		}
	case "pause":
		r = reply.Text("Pausing: the step in progress finishes, then the build waits. Resume goes on from there.")
	case "resume":
		r = reply.Text("Resumed.")
	case "retry":
		r = reply.Text("Running the task again.")
	case "skip":
		r = reply.Text("Skipped the task; going on with the next.")
	case "cancel":
		r = reply.Text("Cancelled. What was built stays in the project; credits not spent are released.")
	}
	pl := done(r)
	if seq == 0 {
		seq = bl.StepSeq // no new step: the runner only sends what the control queued
	}
	pl.BuildStep = &BuildRef{ID: bl.ID, Seq: seq}
	return pl, nil
}

// buildRefusal turns a control the build's state does not allow into the
// user's words.
func buildRefusal(err error) error {
	if errors.Is(err, build.ErrNotNow) {
		msg := strings.TrimPrefix(err.Error(), build.ErrNotNow.Error()+": ")
		if i := strings.LastIndex(msg, build.ErrNotNow.Error()+": "); i >= 0 {
			msg = msg[i+len(build.ErrNotNow.Error())+2:]
		}
		return refuse("Not now: %s.", msg)
	}
	return err
}
