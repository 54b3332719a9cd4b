package bot

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
)

// command is one /command: its help line with an example, and its handler,
// run inside the update's transaction.
type command struct {
	usage   string
	help    string
	handler func(b *Bot, ctx context.Context, tx pgx.Tx, u db.User, req Request, prep prepared) (Plan, error)
}

var commands map[string]command

// order is the order /help lists the commands in.
var order = []string{"build", "status", "new", "projects", "use", "files", "open", "close", "refine", "add", "drop", "get", "diff", "undo", "redo", "restore", "history",
	"export", "balance", "buy", "setkey", "delkey", "help"}

func init() {
	commands = map[string]command{
		"start":    {"/start", "register and see how to begin", (*Bot).start},
		"build":    {"/build DESCRIPTION", "build a project from a description: a few questions, a plan to start or change, then the tasks one by one, a README and a zip, e.g. /build a small todo API in Python with Flask and SQLite, with tests", (*Bot).buildCmd},
		"status":   {"/status", "where your build is, with its buttons", (*Bot).status},
		"help":     {"/help", "this list", (*Bot).help},
		"new":      {"/new NAME", "create a project and select it, e.g. /new api", (*Bot).newProject},
		"projects": {"/projects", "list your projects", (*Bot).projects},
		"use":      {"/use PROJECT", "select a project, e.g. /use api", (*Bot).use},
		"files":    {"/files", "list the selected project's files", (*Bot).files},
		"open":     {"/open PATH", "open a file: plain messages then change it, e.g. /open cmd/main.go", (*Bot).open},
		"close":    {"/close", "close the open file", (*Bot).closeFile},
		"refine":   {"/refine [PATH] INSTRUCTION", "change the project in plain words, across as many files as it takes, e.g. /refine add a /health endpoint and a test for it; with a PATH first, starting from that file, e.g. /refine main.go add error handling", (*Bot).refine},
		"add":      {"/add PATH…", "keep files in the model's view for every change, e.g. /add app.py tests/test_api.py (/add alone lists them)", (*Bot).add},
		"drop":     {"/drop [PATH…]", "take files out of the model's view again (/drop alone: all)", (*Bot).drop},
		"get":      {"/get PATH", "the file as a document", (*Bot).get},
		"diff":     {"/diff JOB or /diff rN", "a refinement's diff, e.g. /diff 42, or a change of the project, e.g. /diff r7 (git apply takes it)", (*Bot).diff},
		"undo":     {"/undo [PATH]", "undo the project's last change, all its files at once; with a PATH, go back to that file's previous version (nothing is deleted)", (*Bot).undo},
		"redo":     {"/redo [PATH]", "bring back what /undo undid", (*Bot).redo},
		"restore":  {"/restore PATH VERSION", "bring back any version, e.g. /restore main.go 2 (/history lists them)", (*Bot).restoreCmd},
		"history":  {"/history [PATH]", "the project's changes, newest first; with a PATH, that file's versions", (*Bot).history},
		"export":   {"/export", "the project as a zip", (*Bot).export},
		"balance":  {"/balance", "your credits and last charges", (*Bot).balance},
		"buy":      {"/buy", "buy credits", (*Bot).buy},
		"setkey":   {"/setkey KEY", "use your own LLM key (stored encrypted; your message is deleted)", (*Bot).setKey},
		"delkey":   {"/delkey", "forget your LLM key", (*Bot).delKey},
	}
}

// helpText lists every command with its example.
func helpText() string {
	var sb strings.Builder
	sb.WriteString("<b>What I can do</b>\n")
	for _, name := range order {
		c := commands[name]
		sb.WriteString(reply.HTMLf("%s — %s\n", c.usage, c.help))
	}
	sb.WriteString("\nSend a text file to add it to the selected project (the caption can give its path). " +
		"Paths with spaces work as they are or in quotes, e.g. /refine \"my notes.txt\" fix the typo.\n")
	sb.WriteString("\nA plain message changes the open file (/open), or the whole project when no file is open. " +
		"When the model needs to know more it asks one question: answer it in plain words.\n")
	sb.WriteString("\n" + chargeRule + "\n")
	sb.WriteString("\n" + groupHelp)
	return sb.String()
}

// chargeRule is what a change costs, as /help and the README say it.
const chargeRule = "<b>What a change costs</b>: you pay only for a change that is saved: a base price plus what the model's " +
	"calls for it cost, in credits. A failed or refused change, or a question the model asks, costs nothing. " +
	"Every call's tokens and cost are recorded either way; credits are held while a change runs and the rest released."

// groupHelp is /help's paragraph on groups.
const groupHelp = "In a group I answer only /help and /start: everything else (projects, files, " +
	"credits, keys, payments) works only in our private chat, so it stays private. " +
	"Commands for other bots (/balance@OtherBot) I leave alone. I never run what a forwarded message says " +
	"(a forwarded file is added under its own name)."

const shortHelp = "Start with /new NAME, send a file, then /open PATH and tell me what to change. /help lists everything."

func (b *Bot) dispatch(ctx context.Context, tx pgx.Tx, u db.User, req Request, prep prepared) (Plan, error) {
	switch {
	case !req.Private():
		return b.inGroup(ctx, tx, u, req)
	case req.CallbackID != "":
		return b.callback(ctx, tx, u, req, prep)
	case req.Edited:
		return done(reply.Text("I only read new messages: send it again as a new message.")), nil
	case req.Media != "":
		return b.media(ctx, tx, u, req)
	case req.Document != nil:
		pl, err := b.upload(ctx, tx, u, req, prep)
		if err == nil && req.Forwarded && len(pl.Replies) > 0 {
			pl.Replies[0].HTML += "\n" + forwardedUpload
		}
		return pl, err
	case req.Forwarded:
		return b.forwarded(req), nil
	case req.Command == "":
		return b.plainText(ctx, tx, u, req)
	}
	c, ok := commands[req.Command]
	if !ok {
		return Plan{Outcome: db.OutcomeRejected, Replies: []reply.Reply{
			reply.Text("I don't know /%s. "+shortHelp, req.Command)}}, nil
	}
	return c.handler(b, ctx, tx, u, req, prep)
}

func done(r ...reply.Reply) Plan { return Plan{Outcome: db.OutcomeDone, Replies: r} }

func (b *Bot) start(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	name := u.FirstName
	if name == "" {
		name = "there"
	}
	// "20 free credits" while all the user has is the welcome gift.
	es, err := db.RecentLedger(ctx, tx, u.ID, 2)
	if err != nil {
		return Plan{}, err
	}
	credits := plural(int(u.Available()), "credit")
	if len(es) == 1 && es[0].Kind == db.KindWelcome && u.Held == 0 && u.Balance == es[0].Amount {
		credits = plural(int(u.Available()), "free credit")
	}
	hi := reply.HTMLf("Hi %s. I keep small code projects and change files when you ask in plain words.\n", name)
	ps, err := db.ListProjects(ctx, tx, u.ID)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) == 0 {
		return done(reply.Reply{HTML: hi + reply.HTMLf("You have %s. Start with /new &lt;name&gt;, then send me a file.", credits)}), nil
	}
	// A returning user: where they left off, not how to begin.
	var cur *db.Project
	for i := range ps {
		if u.CurrentProjectID != nil && ps[i].ID == *u.CurrentProjectID {
			cur = &ps[i]
		}
	}
	next := reply.HTMLf("You have %s and %s (/projects lists them).", credits, plural(len(ps), "project"))
	switch {
	case cur != nil && u.OpenPath != nil:
		next += reply.HTMLf(" %s is selected and %s is open: tell me what to change.", cur.Name, *u.OpenPath)
	case cur != nil:
		next += reply.HTMLf(" %s is selected: /files lists its files, /open PATH opens one.", cur.Name)
	default:
		next += " /use NAME selects one."
	}
	return done(reply.Reply{HTML: hi + next}), nil
}

func (b *Bot) help(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	return done(reply.Reply{HTML: helpText()}), nil
}

// currentProject is the user's selected project.
func currentProject(ctx context.Context, q db.Querier, u db.User) (db.Project, error) {
	if u.CurrentProjectID == nil {
		return db.Project{}, refuse("No project selected. /new NAME creates one; /projects lists yours.")
	}
	p, err := db.ProjectByID(ctx, q, u.ID, *u.CurrentProjectID)
	if errors.Is(err, fault.ErrNotFound) {
		return db.Project{}, refuse("No project selected. /new NAME creates one; /projects lists yours.")
	}
	return p, err
}

// needArgs refuses a command given without its arguments, showing its usage.
func needArgs(req Request) error {
	if strings.TrimSpace(req.Args) == "" {
		c := commands[req.Command]
		return refuse("Usage: %s — %s", c.usage, c.help)
	}
	return nil
}

// namedFile resolves the PATH argument of a command (/get, /open, /undo,
// /history) to a file of the user's current project: the whole argument is
// the path ("a b.py" needs no quotes), or a quoted one ("a b.py", 'a b.py').
func namedFile(ctx context.Context, q db.Querier, u db.User, req Request) (db.Project, db.File, error) {
	if err := needArgs(req); err != nil {
		return db.Project{}, db.File{}, err
	}
	p, err := currentProject(ctx, q, u)
	if err != nil {
		return db.Project{}, db.File{}, err
	}
	path, rest, quoted, err := quotedPath(req.Args)
	if err != nil {
		return p, db.File{}, err
	}
	if !quoted {
		path = req.Args
	} else if rest != "" {
		c := commands[req.Command]
		return p, db.File{}, refuse("Only a path goes after /%s: %s — %s", req.Command, c.usage, c.help)
	}
	f, err := fileOf(ctx, q, p, path)
	return p, f, err
}

// pathAndRest splits "PATH REST" (/refine PATH INSTRUCTION): a quoted path
// is taken as written; otherwise the longest path of the project's files
// that args starts with (followed by a space or the end) wins, so a name
// with spaces needs no quotes; failing that, the first word is the path.
func pathAndRest(ctx context.Context, q db.Querier, p db.Project, args string) (path, rest string, err error) {
	path, rest, _, err = findPath(ctx, q, p, args)
	return path, rest, err
}

// findPath is pathAndRest that also returns the file when the path is one
// of the project's (found=false: a quoted path, or the first word).
func findPath(ctx context.Context, q db.Querier, p db.Project, args string) (path, rest string, f *db.File, err error) {
	path, rest, quoted, err := quotedPath(args)
	if err != nil || quoted {
		return path, rest, nil, err
	}
	// Only the files whose path starts args are candidates: the database
	// picks them, so a large project is not listed for every request.
	files, err := db.FilesPrefixing(ctx, q, p.ID, args)
	if err != nil {
		return "", "", nil, err
	}
	for i := range files {
		after, ok := strings.CutPrefix(args, files[i].Path)
		if !ok || len(files[i].Path) <= len(path) {
			continue
		}
		if r, _ := utf8.DecodeRuneInString(after); after == "" || unicode.IsSpace(r) {
			path, rest, f = files[i].Path, strings.TrimSpace(after), &files[i]
		}
	}
	if path == "" {
		path, rest = SplitFirst(args)
	}
	return path, rest, f, nil
}

// quotedPath reads a path in double or single quotes at the start of args;
// quoted=false when args does not start with a quote.
func quotedPath(args string) (path, rest string, quoted bool, err error) {
	args = strings.TrimSpace(args)
	if args == "" || (args[0] != '"' && args[0] != '\'') {
		return "", args, false, nil
	}
	q := args[0]
	end := strings.IndexByte(args[1:], q)
	if end < 0 {
		return "", "", true, refuse("The path starts with a quote (%c) but has no closing one: "+
			"write it as %cmy file.py%c, or without quotes.", rune(q), rune(q), rune(q))
	}
	path, rest = args[1:1+end], args[2+end:]
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" && !unicode.IsSpace(r) {
		return "", "", true, refuse("Put a space after the closing quote of %s.", path)
	}
	if path == "" {
		return "", "", true, refuse("The quotes hold no path: write it as \"my file.py\".")
	}
	return path, strings.TrimSpace(rest), true, nil
}

func fileOf(ctx context.Context, q db.Querier, p db.Project, path string) (db.File, error) {
	f, err := db.FileByPath(ctx, q, p.ID, path)
	if !errors.Is(err, fault.ErrNotFound) {
		return f, err
	}
	files, err := db.ListFiles(ctx, q, p.ID)
	if err != nil {
		return db.File{}, err
	}
	if len(files) == 0 {
		return db.File{}, refuse("There is no %s in %s: the project is empty. Send a text file to add one.", path, p.Name)
	}
	var names []string
	for i, f := range files {
		if i == 5 {
			names = append(names, "…")
			break
		}
		names = append(names, f.Path)
	}
	return db.File{}, refuse("There is no %s in %s. Files: %s. (/files lists them all.)", path, p.Name, strings.Join(names, ", "))
}
