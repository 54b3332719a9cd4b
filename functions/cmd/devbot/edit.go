package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/logging"
	"github.com/devbot-hq/devbot/internal/textfile"
)

func init() {
	register("edit", command{
		summary: "apply a model's SEARCH/REPLACE reply (or ask the model) to a file or a directory tree",
		usage: `devbot edit --file PATH --response FILE [--diff] [--name NAME]
devbot edit --file PATH --instruction "..." [--diff] [--name NAME]
devbot edit --dir DIR --response FILE [--diff]

--dir applies a reply whose blocks may edit, create, delete and rename several
files of the tree at DIR (paths relative to DIR; see the DELETE and RENAME lines
of the change-set prompt). Every block must apply and every file be written, or
nothing under DIR changes: a refusal prints its report on standard error and
exits with status 1. The changes are listed on standard output; with --diff, a
git-style diff of all of them is printed instead and nothing is written.

--response FILE applies a reply in Aider's SEARCH/REPLACE format (or a unified
diff); FILE "-" is standard input. It needs no configuration.
--instruction asks the configured model (LLM_BASE_URL, LLM_API_KEY, LLM_MODEL),
unless the instruction itself carries SEARCH/REPLACE blocks or a unified diff.
The new content goes to standard output (--diff: the unified diff instead); the
file itself is not written. A refused edit prints its report on standard error
and exits with status 1. --name is the path the file is known by in the reply;
a block naming another file is refused. Without --name the file is known by PATH
as given, or, when the reply names exactly one file and that is not PATH (the
original was saved under a temporary name), by the reply's name; a reply that
creates that file (empty SEARCH) is still refused unless PATH is empty. A PATH
that does not exist is an empty file; a file that is not text (UTF-8, no NUL
bytes) is refused, as the bot refuses it.`,
		run: edit,
	})
}

func edit(ctx context.Context, e env, args []string) error {
	fset := flag.NewFlagSet("edit", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	file := fset.String("file", "", "the file to edit")
	dir := fset.String("dir", "", "the directory tree to edit (a multi-file reply)")
	response := fset.String("response", "", "a file holding the model's reply (- for standard input)")
	instruction := fset.String("instruction", "", "what to change (asks the model)")
	name := fset.String("name", "", "the path the file is known by (default: --file)")
	diff := fset.Bool("diff", false, "print the unified diff instead of the new content")
	if err := fset.Parse(args); err != nil {
		return usageError(err.Error())
	}
	switch {
	case *dir != "" && (*file != "" || *name != "" || *instruction != ""):
		return usageError("--dir takes --response (and --diff) only")
	case *dir != "" && *response == "":
		return usageError("--dir needs --response")
	case *dir != "" && fset.NArg() == 0:
		return editDir(e, *dir, *response, *diff)
	case *file == "" && *dir == "":
		return usageError("--file or --dir is required")
	case (*response == "") == (*instruction == ""):
		return usageError("give exactly one of --response and --instruction")
	case fset.NArg() > 0:
		return usageError("unexpected arguments: " + strings.Join(fset.Args(), " "))
	}
	named := *name != ""
	if !named {
		*name = *file
	}
	content, err := os.ReadFile(*file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !textfile.Is(content) {
		// The bot keeps no other kind of file, and an edit of one would
		// corrupt it.
		return fmt.Errorf("%s is not a text file (%s): devbot edits text files only", *file, textfile.Rule)
	}

	var res editblock.Result
	if *response != "" {
		reply, err := readResponse(e, *response)
		if err != nil {
			return err
		}
		if !editblock.HasBlocks(reply) && editblock.IsDirect(reply) {
			res, err = editblock.ApplyDirect(*name, content, reply)
			if alt := soleDiffName(err, named, reply); alt != "" {
				fmt.Fprintf(e.stderr, "devbot edit: the diff names only %s; editing %s as %s (give --name to refuse other names)\n", alt, *file, alt)
				res, err = editblock.ApplyDirect(alt, content, reply)
			}
		} else {
			res, err = editblock.Apply(*name, content, reply)
			if alt := soleOtherName(err, named, content, reply); alt != "" {
				fmt.Fprintf(e.stderr, "devbot edit: the reply names only %s; editing %s as %s (give --name to refuse other names)\n", alt, *file, alt)
				res, err = editblock.Apply(alt, content, reply)
			}
		}
		if err != nil {
			return refused(e, err)
		}
	} else {
		cfg, err := config.Load(e.lookup, config.LLM)
		if err != nil {
			return err
		}
		logger := logging.New(e.stderr, cfg.LogFormat, "warn", cfg.Secrets()...)
		out, err := functions.NewEditor(cfg, logger).Edit(ctx, editor.Request{Path: *name, Content: content, Instruction: *instruction})
		if errors.Is(err, llm.ErrNoKey) {
			// Nothing was sent: say what to configure (a chat user would
			// /setkey; here it is the environment).
			return fmt.Errorf("--instruction needs a model key: set LLM_API_KEY (or OPENROUTER_API_KEY, GOOGLE_API_KEY) for %s, "+
				"or give the edit itself with --response", cfg.LLMBaseURL)
		}
		if out.Attempts > 0 && out.Model != "" {
			// Only calls the endpoint answered have a model and a cost.
			fmt.Fprintf(e.stderr, "devbot edit: %s, %d call(s), %d prompt + %d completion tokens, $%.6f\n",
				out.Model, out.Attempts, out.PromptTokens, out.CompletionTokens, out.CostUSD)
		}
		if err != nil {
			return refused(e, err)
		}
		res = out.Result
	}
	if *diff {
		_, err = io.WriteString(e.stdout, res.Diff)
	} else {
		_, err = e.stdout.Write(res.Content)
	}
	return err
}

// soleOtherName returns the name to edit the file by when a reply was
// refused because its blocks name another file, no --name was given, and
// the reply names exactly one file in all: the original was written under
// a name of its own (a temporary file), and the reply's name is the one the
// model was told. Like Aider, which applies a block whose file does not
// exist to the file in the chat, but only for one named file, and never
// for a block that creates a file (empty SEARCH) when the file has content:
// that is a new file, not this one.
func soleOtherName(err error, named bool, content []byte, reply string) string {
	be := editblock.AsError(err)
	if named || be == nil {
		return ""
	}
	other := false
	for _, f := range be.Failures {
		other = other || f.OtherFile != ""
	}
	if !other && !strings.Contains(be.Malformed, "no file name") {
		return ""
	}
	names, creates := editblock.Named(reply)
	if len(names) != 1 || (creates && len(content) > 0) {
		return ""
	}
	return names[0]
}

// soleDiffName is soleOtherName for a unified diff: the one file its
// ---/+++ lines name, when that is not the file's own name.
func soleDiffName(err error, named bool, diff string) string {
	be := editblock.AsError(err)
	if named || be == nil || !strings.Contains(be.Malformed, "this diff edits") {
		return ""
	}
	names := map[string]bool{}
	for _, l := range strings.Split(diff, "\n") {
		if !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "+++ ") {
			continue
		}
		if f := strings.Fields(l[4:]); len(f) > 0 && f[0] != "/dev/null" {
			n := strings.TrimSuffix(f[0], "\r")
			if strings.HasPrefix(n, "a/") || strings.HasPrefix(n, "b/") {
				n = n[2:]
			}
			names[n] = true
		}
	}
	for n := range names {
		if len(names) == 1 {
			return n
		}
	}
	return ""
}

func readResponse(e env, path string) (string, error) {
	if path == "-" {
		b, err := io.ReadAll(e.stdin)
		return string(b), err
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

// refused prints an edit's refusal report as is, for a person or a model
// to read, and returns a short error (exit status 1).
func refused(e env, err error) error {
	if be := editblock.AsError(err); be != nil {
		if !errors.Is(err, editor.ErrNoValidEdit) {
			fmt.Fprintln(e.stderr, be.Error())
			return errors.New("the edit was refused; nothing was changed")
		}
	}
	return err
}
