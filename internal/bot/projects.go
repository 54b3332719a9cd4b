package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// projectName is what a project may be called: letters and digits of any
// script (café, 数据; combining accents after a letter), then also _ . -, up
// to 64 characters. A name never becomes a storage key (the bucket is the
// project's id), so Storage's ASCII rule does not apply. The schema's CHECK
// (migration 00035) keeps a locale-independent subset of this rule.
// Compiled on first use: its Unicode classes cost 2.5 MB and 5 ms at
// start, which every function's cold start would pay.
var projectName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{M}\p{N}_.-]{0,63}$`)
})

// normName is a project name as stored: NFC, so "café" typed with a
// combining accent finds the project typed with a precomposed é.
func normName(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (b *Bot) newProject(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if err := needArgs(req); err != nil {
		return Plan{}, err
	}
	name := normName(req.Args)
	if !projectName().MatchString(name) {
		return Plan{}, refuse("%s is not a project name: use letters (any alphabet), digits, _ . - (up to 64, starting with a letter or digit, no spaces), e.g. /new api.", name)
	}
	p, err := db.CreateProject(ctx, tx, u.ID, name)
	if errors.Is(err, fault.ErrConflict) {
		return Plan{}, refuse("You already have a project %s. /use %s selects it.", name, name)
	}
	if err != nil {
		return Plan{}, err
	}
	if err := db.SelectProject(ctx, tx, u.ID, p.ID); err != nil {
		return Plan{}, err
	}
	pl := done(reply.Text("Project %s created and selected. Send a text file to add it (the caption can give a path, e.g. src/main.go).", p.Name))
	pl.Bucket = p.ID
	return pl, nil
}

func (b *Bot) projects(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	ps, err := db.ListProjects(ctx, tx, u.ID)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) == 0 {
		return done(reply.Text("You have no projects yet. /new NAME creates one.")), nil
	}
	var sb strings.Builder
	sb.WriteString("Your projects:\n")
	for _, p := range ps {
		mark := ""
		if u.CurrentProjectID != nil && *u.CurrentProjectID == p.ID {
			mark = " ← selected"
		}
		sb.WriteString(reply.HTMLf("• %s%s\n", p.Name, mark))
	}
	sb.WriteString("/use NAME selects one.")
	return done(reply.Reply{HTML: sb.String()}), nil
}

// use selects a project by name or id. Another user's project is answered
// exactly as a missing one.
func (b *Bot) use(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if err := needArgs(req); err != nil {
		return Plan{}, err
	}
	var p db.Project
	var err error
	if uuidLike.MatchString(req.Args) {
		p, err = db.ProjectByID(ctx, tx, u.ID, strings.ToLower(req.Args))
	} else {
		p, err = db.ProjectByName(ctx, tx, u.ID, normName(req.Args))
	}
	if errors.Is(err, fault.ErrNotFound) {
		return Plan{}, b.noSuchProject(ctx, tx, u, normName(req.Args))
	}
	if err != nil {
		return Plan{}, err
	}
	if err := db.SelectProject(ctx, tx, u.ID, p.ID); err != nil {
		return Plan{}, err
	}
	return done(reply.Text("Project %s selected. /files lists its files.", p.Name)), nil
}

func (b *Bot) noSuchProject(ctx context.Context, tx pgx.Tx, u db.User, name string) error {
	ps, err := db.ListProjects(ctx, tx, u.ID)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return refuse("There is no project %s. /new NAME creates one.", name)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return refuse("There is no project %s. Your projects: %s. (/new %s creates it.)", name, strings.Join(names, ", "), name)
}

func (b *Bot) files(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	fs, err := db.ListFiles(ctx, tx, p.ID)
	if err != nil {
		return Plan{}, err
	}
	if len(fs) == 0 {
		return done(reply.Text("%s has no files yet. Send a text file to add one.", p.Name)), nil
	}
	var sb strings.Builder
	sb.WriteString(reply.HTMLf("Files in %s:\n", p.Name))
	for _, f := range fs {
		sb.WriteString(reply.HTMLf("• %s (%s, version %d)\n", f.Path, reply.Size(f.Size), f.Version))
	}
	sb.WriteString("/open PATH to work on one, /get PATH to download it.")
	return done(reply.Reply{HTML: sb.String()}), nil
}

func (b *Bot) open(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	_, f, err := namedFile(ctx, tx, u, req)
	if err != nil {
		return Plan{}, err
	}
	if err := db.SetOpenPath(ctx, tx, u.ID, &f.Path); err != nil {
		return Plan{}, err
	}
	return done(reply.Text("%s is open. Tell me what to change.", f.Path)), nil
}

func (b *Bot) closeFile(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if u.OpenPath == nil {
		return done(reply.Text("No file is open. /open PATH opens one.")), nil
	}
	if err := db.SetOpenPath(ctx, tx, u.ID, nil); err != nil {
		return Plan{}, err
	}
	return done(reply.Text("%s is closed: plain messages no longer change it. /open PATH opens a file.", *u.OpenPath)), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
